//! A real Kannel for tests: `bearerbox` and `smsbox` from the Debian package
//! `kannel`, and the fake SMS centre `fakesmsc` from `kannel-extras`, all on
//! free ports of 127.0.0.1 with their configuration, logs and access logs in
//! a temp dir. `scripts/test` installs both packages; without them
//! `Kannel::start` panics, so the tests fail instead of silently skipping.
//!
//! How the pieces fit: bearerbox's `smsc = fake` connection *listens* on a
//! port, and `fakesmsc` connects to it as a client. Every message bearerbox
//! routes to that SMSC is written to fakesmsc as one line,
//! `<from> <to> <type> <payload>`, and fakesmsc logs each line it reads to
//! its stderr (not stdout) as `... DEBUG: Got message <n>: <line>`:
//!
//! - `text <raw text>`: GSM (coding 0) text, as Kannel holds it internally:
//!   UTF-8, not URL-encoded. A newline in the text ends the line, so the rest
//!   of the text arrives as further lines without the `from to type` prefix;
//!   they are joined back with `\n` (a `\r` before a `\n` is lost on the way).
//! - `data <url-encoded bytes>`: 8-bit data (coding 1).
//! - `ucs-2 <url-encoded UTF-16BE>`: Unicode (coding 2).
//! - `udh <url-encoded UDH> data <url-encoded bytes>`: one part of a
//!   concatenated message (bearerbox splits long messages itself, 153 GSM
//!   characters or 67 UCS-2 units a part, with an 8-bit-reference
//!   concatenation element in the UDH). These lines do not say which coding
//!   the bytes are in; the parts are joined as bytes (a part may end inside a
//!   character) and the coding is taken from bearerbox's access log, which
//!   logs the whole message once with its coding (`[flags:..:<coding>:..]`)
//!   and its bytes (hex for coding 1 and 2, printable ASCII with `.` for
//!   every other byte for coding 0). Only if the access log has no matching
//!   line two seconds after the last part, the bytes decide: UTF-16BE when
//!   they hold a NUL or a control byte or are not UTF-8, else UTF-8.
//!
//! fakesmsc never sends anything itself here (`-m 0`: no mobile-originated
//! messages) and it cannot produce delivery reports. Bearerbox's `fake` SMSC
//! driver makes them: an "SMSC accepted" report (status 8, `%A` = `ACK/`)
//! once the line is written to fakesmsc, and a "delivered" report (status 1)
//! right after; smsbox calls the message's `dlr-url` for each, in either
//! order, one pair per message even when it was sent in parts. A failed
//! delivery (status 2 or 16) cannot be produced with fakesmsc.

mod decode;
mod recorder;
mod smoke;

pub use decode::{Coding, FakeSms};
pub use recorder::HttpRecorder;

use decode::{decode, got_message, Line};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tempfile::TempDir;

pub const BEARERBOX: &str = "/usr/sbin/bearerbox";
pub const SMSBOX: &str = "/usr/sbin/smsbox";
pub const FAKESMSC: &str = "/usr/lib/kannel/test/fakesmsc";

const USERNAME: &str = "flexsecure";
const PASSWORD: &str = "kannel-test-secret";
const ADMIN_PASSWORD: &str = "kannel-admin-secret";

#[derive(Default)]
struct Output {
    /// The payloads of the `Got message` lines.
    lines: Vec<Line>,
    /// Everything fakesmsc wrote to stderr, for failure messages.
    log: Vec<String>,
}

struct Ports {
    admin: u16,
    smsbox: u16,
    fake: u16,
    sendsms: u16,
}

pub struct Kannel {
    dir: TempDir,
    ports: Ports,
    /// In start order: bearerbox, fakesmsc, smsbox.
    children: Vec<(&'static str, Child)>,
    output: Arc<Mutex<Output>>,
    reader: Option<JoinHandle<()>>,
}

impl Kannel {
    /// Starts bearerbox, fakesmsc and smsbox and waits (at most ~20 s per
    /// attempt, 3 attempts on fresh ports) until fakesmsc is online at
    /// bearerbox, smsbox is connected and sendsms answers. Panics if Kannel
    /// is not installed or does not come up.
    pub fn start() -> Kannel {
        for bin in [BEARERBOX, SMSBOX, FAKESMSC] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: install the Debian packages kannel and kannel-extras \
                 (scripts/test does: apt-get install kannel kannel-extras)"
            );
        }
        let mut errors = Vec::new();
        for _ in 0..3 {
            match Self::try_start() {
                Ok(k) => return k,
                Err(e) => errors.push(e),
            }
        }
        panic!("Kannel did not start:\n{}", errors.join("\n----\n"));
    }

    fn try_start() -> Result<Kannel, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let ports = free_ports()?;
        std::fs::write(dir.path().join("kannel.conf"), config(dir.path(), &ports))
            .map_err(|e| e.to_string())?;
        let mut k = Kannel {
            dir,
            ports,
            children: Vec::new(),
            output: Arc::default(),
            reader: None,
        };
        k.spawn_box("bearerbox", BEARERBOX)?;
        k.wait_for("the bearerbox admin port", |k| k.status().is_some())?;

        // fakesmsc gives up at once if it cannot connect: start it again if
        // it died before the fake SMSC listened.
        let online = format!("FAKE:{} (online", k.ports.fake);
        let mut connected = false;
        for _ in 0..3 {
            k.spawn_fakesmsc()?;
            if k.wait_for("fakesmsc to be online", |k| {
                k.status().is_some_and(|s| s.contains(&online))
            })
            .is_ok()
            {
                connected = true;
                break;
            }
            k.stop_child("fakesmsc");
        }
        if !connected {
            return Err(format!("fakesmsc never came online\n{}", k.diagnostics()));
        }

        k.spawn_box("smsbox", SMSBOX)?;
        k.wait_for("smsbox and sendsms", |k| {
            k.status().is_some_and(|s| s.contains("smsbox:"))
                && http_get(k.ports.sendsms, "/cgi-bin/sendsms").is_some()
        })?;
        Ok(k)
    }

    pub fn sendsms_url(&self) -> String {
        format!("http://127.0.0.1:{}/cgi-bin/sendsms", self.ports.sendsms)
    }

    pub fn username(&self) -> &str {
        USERNAME
    }

    pub fn password(&self) -> &str {
        PASSWORD
    }

    /// Every complete message fakesmsc received so far, in order.
    pub fn received(&self) -> Vec<FakeSms> {
        let access_log = std::fs::read(self.dir.path().join("access.log")).unwrap_or_default();
        let out = self.output.lock().unwrap();
        decode(
            &out.lines,
            &String::from_utf8_lossy(&access_log),
            Instant::now(),
        )
    }

    /// The raw lines fakesmsc received, as it logged them.
    pub fn raw_lines(&self) -> Vec<String> {
        let out = self.output.lock().unwrap();
        out.lines
            .iter()
            .map(|l| String::from_utf8_lossy(&l.payload).into_owned())
            .collect()
    }

    /// Waits (at most 10 s, bounded polls) until fakesmsc has received `n`
    /// complete messages; returns all of them. Blocks the thread: next to the
    /// appliance on the same runtime, use `wait_received_async`.
    pub fn wait_received(&self, n: usize) -> Vec<FakeSms> {
        for _ in 0..400 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        self.not_received(n)
    }

    /// `wait_received` without blocking the async runtime.
    pub async fn wait_received_async(&self, n: usize) -> Vec<FakeSms> {
        for _ in 0..400 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.not_received(n)
    }

    fn not_received(&self, n: usize) -> ! {
        panic!(
            "fakesmsc did not receive {n} messages; decoded {:?}\nraw lines {:?}\n{}",
            self.received(),
            self.raw_lines(),
            self.diagnostics()
        )
    }

    fn spawn_box(&mut self, name: &'static str, bin: &str) -> Result<(), String> {
        let dir = self.dir.path();
        let out =
            std::fs::File::create(dir.join(format!("{name}.stderr"))).map_err(|e| e.to_string())?;
        let child = Command::new(bin)
            // Warnings and worse on stderr; the log files get everything.
            .args(["-v", "2"])
            .arg(dir.join("kannel.conf"))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().map_err(|e| e.to_string())?)
            .stderr(out)
            .spawn()
            .map_err(|e| format!("cannot run {bin}: {e}"))?;
        self.children.push((name, child));
        Ok(())
    }

    fn spawn_fakesmsc(&mut self) -> Result<(), String> {
        let mut child = Command::new(FAKESMSC)
            .args(["-v", "0", "-H", "127.0.0.1", "-r"])
            .arg(self.ports.fake.to_string())
            // Never send a message of its own (max 0); it still needs one
            // argument, or it reads messages to send from stdin.
            .args(["-m", "0", "0 0 text unused"])
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {FAKESMSC}: {e}"))?;
        let stderr = child.stderr.take().ok_or("no fakesmsc stderr")?;
        self.children.push(("fakesmsc", child));
        let output = self.output.clone();
        let old = self.reader.replace(std::thread::spawn(move || {
            read_fakesmsc(stderr, &output);
        }));
        // A former fakesmsc is gone (stopped before a restart): its pipe is
        // closed, so its reader has ended or is about to.
        if let Some(t) = old {
            let _ = t.join();
        }
        Ok(())
    }

    fn stop_child(&mut self, name: &str) {
        if let Some(i) = self.children.iter().position(|(n, _)| *n == name) {
            let (_, mut child) = self.children.remove(i);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Polls `ready` for at most 10 s; fails early if a process exited.
    fn wait_for(&mut self, what: &str, ready: impl Fn(&Kannel) -> bool) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if ready(self) {
                return Ok(());
            }
            let exited = self
                .children
                .iter_mut()
                .find_map(|(name, child)| Some((*name, child.try_wait().ok()??)));
            if let Some((name, status)) = exited {
                return Err(format!(
                    "{name} exited ({status}) while waiting for {what}\n{}",
                    self.diagnostics()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "timed out waiting for {what}\n{}",
            self.diagnostics()
        ))
    }

    /// bearerbox's status page, if it answers.
    fn status(&self) -> Option<String> {
        let path = format!("/status.txt?password={ADMIN_PASSWORD}");
        http_get(self.ports.admin, &path)
            .filter(|(code, _)| *code == 200)
            .map(|(_, body)| body)
    }

    /// The ends of the logs, for failure messages.
    fn diagnostics(&self) -> String {
        let mut s = String::new();
        for name in [
            "bearerbox.stderr",
            "bearerbox.log",
            "smsbox.stderr",
            "smsbox.log",
        ] {
            let text = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
            s.push_str(&format!("== {name}\n{}\n", tail(&text, 15)));
        }
        let log = self.output.lock().unwrap().log.join("\n");
        s.push_str(&format!("== fakesmsc\n{}\n", tail(&log, 15)));
        s
    }
}

impl Drop for Kannel {
    fn drop(&mut self) {
        // smsbox first, so it does not log bearerbox going away; SIGKILL:
        // nothing here needs a graceful shutdown.
        for (_, child) in self.children.iter_mut().rev() {
            let _ = child.kill();
        }
        for (_, child) in &mut self.children {
            let _ = child.wait();
        }
        // fakesmsc is reaped, so its stderr is closed and the reader ends.
        if let Some(t) = self.reader.take() {
            let _ = t.join();
        }
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Four distinct free ports on 127.0.0.1, all held until all are chosen.
fn free_ports() -> Result<Ports, String> {
    let listeners: Vec<TcpListener> = (0..4)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let p: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    Ok(Ports {
        admin: p[0],
        smsbox: p[1],
        fake: p[2],
        sendsms: p[3],
    })
}

fn config(dir: &Path, p: &Ports) -> String {
    let f = |name: &str| -> PathBuf { dir.join(name) };
    format!(
        r#"# Written by tests/it/kannel.rs
group = core
admin-port = {admin}
admin-interface = 127.0.0.1
admin-password = {ADMIN_PASSWORD}
admin-allow-ip = "127.0.0.1"
smsbox-port = {smsbox}
smsbox-interface = 127.0.0.1
box-allow-ip = "127.0.0.1"
log-file = "{bb_log}"
log-level = 0
access-log = "{access_log}"
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = fake
port = {fake}
our-host = 127.0.0.1
connect-allow-ip = "127.0.0.1"

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {smsbox}
sendsms-port = {sendsms}
sendsms-interface = 127.0.0.1
log-file = "{sb_log}"
log-level = 0
access-log = "{sb_access_log}"

group = sendsms-user
username = {USERNAME}
password = {PASSWORD}
user-allow-ip = "127.0.0.1"
# Long texts go out as concatenated SMS (UDH), up to 10 parts, as on a
# production gateway; without these Kannel cuts them to one SMS.
concatenation = true
max-messages = 10

# Answers mobile-originated messages, which this setup never receives.
group = sms-service
keyword = default
text = "No service here"
"#,
        admin = p.admin,
        smsbox = p.smsbox,
        fake = p.fake,
        sendsms = p.sendsms,
        bb_log = f("bearerbox.log").display(),
        access_log = f("access.log").display(),
        sb_log = f("smsbox.log").display(),
        sb_access_log = f("smsbox-access.log").display(),
    )
}

/// A GET on 127.0.0.1 with HTTP/1.0 (the server closes when done), bounded
/// by timeouts: the status code and body, or None if nothing answered.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = Vec::new();
    let _ = s.take(1 << 20).read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Some((code, body.to_string()))
}

/// Reads fakesmsc's stderr until it closes.
fn read_fakesmsc(stderr: impl Read, output: &Mutex<Output>) {
    let mut r = BufReader::new(stderr);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
        }
        let mut out = output.lock().unwrap();
        if let Some(payload) = got_message(&buf) {
            out.lines.push(Line {
                at: Instant::now(),
                payload: payload.to_vec(),
            });
        }
        out.log.push(String::from_utf8_lossy(&buf).into_owned());
    }
}
