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

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
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
/// How long a part of a concatenated message may wait for its access-log
/// line, and how long a text line waits for continuation lines.
const ACCESS_LOG_GRACE: Duration = Duration::from_secs(2);
const TEXT_SETTLE: Duration = Duration::from_millis(150);

/// The data coding Kannel used towards the SMS centre.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// GSM 7-bit alphabet (coding 0).
    Gsm,
    /// 8-bit data (coding 1); `text` is the bytes read as UTF-8, lossily.
    Binary,
    /// UCS-2 / UTF-16 (coding 2).
    Ucs2,
}

/// One complete message as fakesmsc received it, parts joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeSms {
    pub from: String,
    pub to: String,
    pub text: String,
    pub coding: Coding,
    /// How many SMS it took (1 unless Kannel concatenated it).
    pub parts: usize,
}

/// One line fakesmsc logged as received, and when.
struct Line {
    at: Instant,
    payload: Vec<u8>,
}

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

/// The line inside `... Got message <n>: <line>`.
fn got_message(log_line: &[u8]) -> Option<&[u8]> {
    const MARK: &[u8] = b"Got message ";
    let start = log_line.windows(MARK.len()).position(|w| w == MARK)? + MARK.len();
    let rest = &log_line[start..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let rest = rest[digits..].strip_prefix(b": <")?;
    rest.strip_suffix(b">")
}

/// One line from the fake SMSC, understood.
enum Parsed {
    Single {
        from: String,
        to: String,
        coding: Coding,
        bytes: Vec<u8>,
    },
    Udh {
        from: String,
        to: String,
        udh: Vec<u8>,
        bytes: Vec<u8>,
    },
}

fn parse_line(line: &[u8]) -> Option<Parsed> {
    let mut it = line.splitn(4, |&b| b == b' ');
    let from = String::from_utf8_lossy(it.next()?).into_owned();
    let to = String::from_utf8_lossy(it.next()?).into_owned();
    let kind = it.next()?;
    let rest = it.next()?;
    let single = |coding, bytes| Parsed::Single {
        from: from.clone(),
        to: to.clone(),
        coding,
        bytes,
    };
    Some(match kind {
        b"text" => single(Coding::Gsm, rest.to_vec()),
        b"data" => single(Coding::Binary, url_decode(rest)),
        b"ucs-2" | b"ucs2" => single(Coding::Ucs2, url_decode(rest)),
        b"udh" => {
            let mut it = rest.splitn(3, |&b| b == b' ');
            let udh = url_decode(it.next()?);
            let (a, b) = (it.next()?, it.next());
            // `udh <udh> data <msg>` (Kannel 1.4.5); older: `udh <udh> <msg>`.
            let data = match b {
                Some(b) if a == b"data" => b,
                Some(_) => return None,
                None => a,
            };
            Parsed::Udh {
                from: from.clone(),
                to: to.clone(),
                udh,
                bytes: url_decode(data),
            }
        }
        _ => return None,
    })
}

/// Kannel's URL encoding: `%XX` and `+` for space.
fn url_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len() => {
                match std::str::from_utf8(&s[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// The concatenation element of a UDH: (reference, total, sequence).
fn concat_info(udh: &[u8]) -> Option<(u16, u8, u8)> {
    let len = usize::from(*udh.first()?);
    let ies = udh.get(1..1 + len)?;
    let mut i = 0;
    while i + 1 < ies.len() {
        let (iei, l) = (ies[i], usize::from(ies[i + 1]));
        let v = ies.get(i + 2..i + 2 + l)?;
        match (iei, l) {
            (0x00, 3) => return Some((u16::from(v[0]), v[1], v[2])),
            (0x08, 4) => return Some((u16::from_be_bytes([v[0], v[1]]), v[2], v[3])),
            _ => {}
        }
        i += 2 + l;
    }
    None
}

fn text_of(coding: Coding, bytes: &[u8]) -> String {
    match coding {
        Coding::Ucs2 => {
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        Coding::Gsm | Coding::Binary => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// A whole message as bearerbox's access log has it.
struct Logged {
    to: String,
    coding: i64,
    msg: String,
}

fn access_log_entries(log: &str) -> Vec<Logged> {
    let field = |line: &str, name: &str| -> Option<String> {
        let start = line.find(name)? + name.len();
        let end = line[start..].find(']')? + start;
        Some(line[start..end].to_string())
    };
    log.lines()
        .filter(|l| l.contains(" Sent SMS "))
        .filter_map(|l| {
            let to = field(l, "[to:")?;
            let coding = field(l, "[flags:")?.split(':').nth(1)?.parse().ok()?;
            let rest = &l[l.find("[msg:")? + 5..];
            let (n, rest) = rest.split_once(':')?;
            let n: usize = n.parse().ok()?;
            let len = if matches!(coding, 1 | 2) { 2 * n } else { n };
            let msg = rest.get(..len)?.to_string();
            Some(Logged { to, coding, msg })
        })
        .collect()
}

/// The coding of a message sent in parts, from bearerbox's access log.
fn logged_coding(to: &str, bytes: &[u8], log: &[Logged]) -> Option<Coding> {
    let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
    let dotted: String = bytes
        .iter()
        .map(|&b| {
            if (0x20..=0x7e).contains(&b) {
                char::from(b)
            } else {
                '.'
            }
        })
        .collect();
    let mine = || log.iter().filter(|l| l.to == to);
    mine()
        .find_map(|l| match l.coding {
            2 if l.msg == hex => Some(Coding::Ucs2),
            1 if l.msg == hex => Some(Coding::Binary),
            _ => None,
        })
        .or_else(|| {
            mine()
                .any(|l| matches!(l.coding, 0 | -1) && l.msg == dotted)
                .then_some(Coding::Gsm)
        })
}

/// The guess when the access log does not tell: GSM text is UTF-8 here and
/// never holds NULs or control bytes other than line breaks.
fn guessed_coding(bytes: &[u8]) -> Coding {
    let odd = |b: &u8| *b < 0x20 && *b != b'\n' && *b != b'\r';
    if std::str::from_utf8(bytes).is_err() || bytes.iter().any(odd) {
        Coding::Ucs2
    } else {
        Coding::Gsm
    }
}

type PartsKey = (String, String, u16, u8);

/// The complete messages in fakesmsc's lines. Messages still settling (text
/// that may get continuation lines, parts whose coding is not logged yet)
/// are left out until they are complete.
fn decode(lines: &[Line], access_log: &str, now: Instant) -> Vec<FakeSms> {
    let logged = access_log_entries(access_log);
    let mut out: Vec<FakeSms> = Vec::new();
    // The GSM text the next unparsable line continues, and its last line.
    let mut open_text: Option<(usize, Instant)> = None;
    let mut parts: BTreeMap<PartsKey, BTreeMap<u8, Vec<u8>>> = BTreeMap::new();
    for line in lines {
        let Some(parsed) = parse_line(&line.payload) else {
            if let Some((i, at)) = open_text.as_mut() {
                out[*i].text.push('\n');
                out[*i]
                    .text
                    .push_str(&String::from_utf8_lossy(&line.payload));
                *at = line.at;
            }
            continue;
        };
        open_text = None;
        match parsed {
            Parsed::Single {
                from,
                to,
                coding,
                bytes,
            } => {
                if coding == Coding::Gsm {
                    open_text = Some((out.len(), line.at));
                }
                let text = text_of(coding, &bytes);
                out.push(FakeSms {
                    from,
                    to,
                    text,
                    coding,
                    parts: 1,
                });
            }
            Parsed::Udh {
                from,
                to,
                udh,
                bytes,
            } => {
                let (whole, count) = match concat_info(&udh) {
                    None => (bytes, 1),
                    Some((reference, total, seq)) => {
                        let key = (from.clone(), to.clone(), reference, total);
                        let got = parts.entry(key.clone()).or_default();
                        got.insert(seq, bytes);
                        if got.len() < usize::from(total) {
                            continue;
                        }
                        let got = parts.remove(&key).unwrap_or_default();
                        (got.into_values().flatten().collect(), usize::from(total))
                    }
                };
                let coding = match logged_coding(&to, &whole, &logged) {
                    Some(c) => c,
                    None if now.duration_since(line.at) >= ACCESS_LOG_GRACE => {
                        guessed_coding(&whole)
                    }
                    None => continue,
                };
                out.push(FakeSms {
                    from,
                    to,
                    text: text_of(coding, &whole),
                    coding,
                    parts: count,
                });
            }
        }
    }
    // The newest text may still get continuation lines.
    if let Some((i, at)) = open_text {
        if now.duration_since(at) < TEXT_SETTLE {
            out.remove(i);
        }
    }
    out
}

/// A tiny HTTP server on 127.0.0.1 that answers 200 to everything and
/// records each request's path and query (e.g. Kannel's dlr-url callbacks).
pub struct HttpRecorder {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpRecorder {
    pub fn start() -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if let Some(path) = answer_request(stream) {
                            r.lock().unwrap().push(path);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits (at most 10 s, bounded polls) until `n` requests arrived.
    pub fn wait_requests(&self, n: usize) -> Vec<String> {
        for _ in 0..400 {
            let got = self.requests();
            if got.len() >= n {
                return got;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("expected {n} requests, got {:?}", self.requests());
    }
}

impl Drop for HttpRecorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request head (bounded in size and time), answers 200 and
/// returns the request target.
fn answer_request(mut stream: TcpStream) -> Option<String> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream
        .set_write_timeout(Some(Duration::from_secs(2)))
        .ok()?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let _ =
        stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    let head = String::from_utf8_lossy(&head);
    head.lines()
        .next()?
        .split_whitespace()
        .nth(1)
        .map(str::to_string)
}

// ---------------------------------------------------------------------------
// Smoke tests: straight to Kannel's sendsms, not through the appliance.

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// GET sendsms with the credentials and `params`: status and body.
async fn sendsms(k: &Kannel, params: &[(&str, &str)]) -> (u16, String) {
    let mut query = vec![("username", k.username()), ("password", k.password())];
    query.extend_from_slice(params);
    let r = client()
        .get(k.sendsms_url())
        .query(&query)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

#[tokio::test]
async fn kannel_delivers_plain_ascii_to_fakesmsc() {
    let k = Kannel::start();
    let (status, body) = sendsms(
        &k,
        &[
            ("from", "FlexSecure"),
            ("to", "+41791234567"),
            ("text", "Your PIN is 482913"),
        ],
    )
    .await;
    assert_eq!((status, body.as_str()), (202, "0: Accepted for delivery"));
    // A line break ends fakesmsc's line; the rest comes as further lines.
    let (_, body) = sendsms(
        &k,
        &[
            ("from", "FlexSecure"),
            ("to", "+41791234568"),
            ("text", "Hello\nsecond line + 100% sure"),
        ],
    )
    .await;
    assert_eq!(body, "0: Accepted for delivery");
    let got = k.wait_received(2);
    assert_eq!(
        got,
        vec![
            FakeSms {
                from: "FlexSecure".into(),
                to: "+41791234567".into(),
                text: "Your PIN is 482913".into(),
                coding: Coding::Gsm,
                parts: 1,
            },
            FakeSms {
                from: "FlexSecure".into(),
                to: "+41791234568".into(),
                text: "Hello\nsecond line + 100% sure".into(),
                coding: Coding::Gsm,
                parts: 1,
            },
        ],
        "raw lines: {:?}",
        k.raw_lines()
    );
}

#[tokio::test]
async fn kannel_delivers_unicode_as_ucs2() {
    let k = Kannel::start();
    let short = "Grüezi 👋 登录";
    // Longer than 70 UCS-2 units: concatenated; the emoji may straddle parts.
    let long = "Grüezi 👋 登录 – Ihr Anmeldelink ist 10 Minuten gültig. ".repeat(3);
    // Only characters whose UTF-16 bytes are printable ASCII: the coding of
    // the parts can only come from the access log.
    let cjk = "登录".repeat(40);
    for text in [short, long.as_str(), cjk.as_str()] {
        let (status, body) = sendsms(
            &k,
            &[
                ("from", "FlexSecure"),
                ("to", "+41791234567"),
                ("coding", "2"),
                ("charset", "UTF-8"),
                ("text", text),
            ],
        )
        .await;
        assert_eq!((status, body.as_str()), (202, "0: Accepted for delivery"));
    }
    let got = k.wait_received_async(3).await;
    let summary: Vec<(&str, Coding, usize)> = got
        .iter()
        .map(|m| (m.text.as_str(), m.coding, m.parts))
        .collect();
    assert_eq!(
        summary,
        vec![
            (short, Coding::Ucs2, 1),
            (long.as_str(), Coding::Ucs2, 3),
            (cjk.as_str(), Coding::Ucs2, 2),
        ],
        "raw lines: {:?}",
        k.raw_lines()
    );
    assert!(got.iter().all(|m| m.to == "+41791234567"));
}

#[tokio::test]
async fn kannel_delivers_a_long_gsm_text_concatenated() {
    let k = Kannel::start();
    // 300 characters, numbered so a lost or reordered part shows; "ü" is in
    // the GSM alphabet but two bytes in UTF-8.
    let text: String = (0..60).map(|i| format!("{i:03}ü ")).collect();
    assert_eq!(text.chars().count(), 300);
    let (status, body) = sendsms(
        &k,
        &[
            ("from", "FlexSecure"),
            ("to", "+41791234567"),
            ("charset", "UTF-8"),
            ("text", &text),
        ],
    )
    .await;
    assert_eq!((status, body.as_str()), (202, "0: Accepted for delivery"));
    let got = k.wait_received(1);
    let raw = k.raw_lines();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].text, text, "raw lines: {raw:?}");
    assert_eq!((got[0].coding, got[0].parts), (Coding::Gsm, 2), "{raw:?}");
    // Two parts of 153 and 147 characters with an 8-bit-reference
    // concatenation UDH, e.g. `udh %05%00%03%01%02%01 data 000%C3%BC+...`.
    assert_eq!(raw.len(), 2, "{raw:?}");
    for (i, line) in raw.iter().enumerate() {
        let udh = "FlexSecure +41791234567 udh %05%00%03";
        assert!(line.starts_with(udh), "{line}");
        assert!(line.contains(&format!("%02%0{} data ", i + 1)), "{line}");
    }
}

#[tokio::test]
async fn kannel_sendsms_answers_accepted() {
    let k = Kannel::start();
    let (status, body) = sendsms(
        &k,
        &[("from", "123"), ("to", "456"), ("text", "status check")],
    )
    .await;
    // Kannel answers "0: Accepted for delivery" when the SMSC is connected
    // and "3: Queued for later delivery" when it is not (yet); no newline.
    assert!(
        body.starts_with("0:") || body.starts_with("3:"),
        "{status} {body:?}"
    );
    assert_eq!((status, body.as_str()), (202, "0: Accepted for delivery"));

    let wrong = client()
        .get(k.sendsms_url())
        .query(&[
            ("username", k.username()),
            ("password", "wrong"),
            ("to", "456"),
            ("text", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 403);
    assert_eq!(
        wrong.text().await.unwrap(),
        "Authorization failed for sendsms"
    );
    k.wait_received(1);
}

#[tokio::test]
async fn kannel_calls_the_dlr_url_back() {
    let k = Kannel::start();
    let dlr = HttpRecorder::start();
    let url = dlr.url("/dlr?status=%d&to=%p&answer=%A&id=abc");
    let (_, body) = sendsms(
        &k,
        &[
            ("from", "FlexSecure"),
            ("to", "+41791234567"),
            ("text", "with a report"),
            ("dlr-mask", "31"),
            ("dlr-url", &url),
        ],
    )
    .await;
    assert_eq!(body, "0: Accepted for delivery");
    k.wait_received(1);
    let mut got = dlr.wait_requests(2);
    got.sort();
    // 1 = delivered (made up by bearerbox's fake SMSC driver), 8 = accepted
    // by the SMSC (answer "ACK/"); in either order.
    assert_eq!(
        got,
        vec![
            "/dlr?status=1&to=%2B41791234567&answer=&id=abc".to_string(),
            "/dlr?status=8&to=%2B41791234567&answer=ACK%2F&id=abc".to_string(),
        ]
    );
    // No further reports come.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(dlr.requests().len(), 2, "{:?}", dlr.requests());
}

#[test]
fn fakesmsc_lines_decode() {
    let t0 = Instant::now();
    let later = t0 + Duration::from_secs(5);
    let line = |s: &str| Line {
        at: t0,
        payload: s.as_bytes().to_vec(),
    };
    let log = "2026-01-01 00:00:00 [1] [0] DEBUG: Got message 12: <1 2 text a > b>";
    assert_eq!(got_message(log.as_bytes()), Some(&b"1 2 text a > b"[..]));
    let lines = [
        line("1 2 text first"),
        line("continued"),
        line(""),
        line("1 2 data %00%FFx"),
        // 16-bit reference, parts out of order, unknown to the access log:
        // UCS-2 because of the NUL bytes.
        line("1 3 udh %06%08%04%01%02%02%02 data %00i"),
        line("1 3 udh %06%08%04%01%02%02%01 data %00h"),
        // A UCS-2 text that is printable ASCII, told by the access log.
        line("1 4 udh %05%00%03%07%02%01 data v%7B"),
        line("1 4 udh %05%00%03%07%02%02 data _U"),
        // Incomplete: left out.
        line("1 5 udh %05%00%03%08%02%01 data x"),
        line("1 2 text last"),
    ];
    let access_log = "2026-01-01 00:00:00 Sent SMS [SMSC:fake] [SVC:u] [ACT:] [BINF:] \
        [FID:] [META:] [from:1] [to:4] [flags:-1:2:-1:-1:-1] [msg:4:767B5F55] [udh:0:]";
    let got = decode(&lines, access_log, later);
    let brief: Vec<(&str, &str, Coding, usize)> = got
        .iter()
        .map(|m| (m.to.as_str(), m.text.as_str(), m.coding, m.parts))
        .collect();
    assert_eq!(
        brief,
        vec![
            ("2", "first\ncontinued\n", Coding::Gsm, 1),
            ("2", "\0\u{FFFD}x", Coding::Binary, 1),
            ("3", "hi", Coding::Ucs2, 2),
            ("4", "登录", Coding::Ucs2, 2),
            ("2", "last", Coding::Gsm, 1),
        ]
    );
    // Right after the lines: the last text may still continue, and the
    // parts of "hi" wait for the access log.
    let got = decode(&lines, access_log, t0);
    let texts: Vec<&str> = got.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, vec!["first\ncontinued\n", "\0\u{FFFD}x", "登录"]);
}
