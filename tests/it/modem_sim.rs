//! A GSM modem simulator on a pseudo-terminal. The appliance's real driver
//! opens the pty's path through the `serialport` crate, exactly as it opens
//! `/dev/ttyUSB0`; this side answers AT commands like a modem would, with the
//! quirks that matter: echo on until `ATE0`, unsolicited lines in the middle
//! of replies, slow prompts, `+CMS` errors, a SIM PIN, silence, and a device
//! that vanishes and comes back (a symlink, like /dev/serial/by-id, that
//! points at a new pty after a replug).
//!
//! A mock of the modem is needed because no GSM modem is attached to this
//! machine; the serial I/O path itself is real.

use flexsecure::sms::modem::pdu;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::pty::openpty;
use nix::sys::termios;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct SimOptions {
    /// The SIM wants this PIN before anything else.
    pub sim_pin: Option<&'static str>,
    /// The SIM wants its PUK.
    pub puk: bool,
    /// Delay before the `> ` prompt.
    pub prompt_delay: Duration,
    /// Unsolicited lines between every echo and its reply.
    pub urc_noise: bool,
    /// Registered only on LTE: `+CREG` says not registered, `+CEREG` says home.
    pub lte_only: bool,
    /// Send a `+CDS` status report after each accepted message.
    pub status_reports: bool,
}

#[derive(Debug, Default)]
struct Shared {
    opts: SimOptions,
    echo: bool,
    pin_ok: bool,
    pin_attempts: u32,
    /// Reads everything, answers nothing.
    silent: bool,
    /// Answers up to the prompt, then nothing after the PDU.
    swallow_pdu: bool,
    /// Error codes for the next sends, one each.
    cms_next: Vec<u16>,
    parts: Vec<pdu::DecodedSubmit>,
    next_mr: u8,
    commands: Vec<String>,
}

pub struct SimModem {
    link: PathBuf,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SimModem {
    /// A plugged-in modem reachable at `dir/name`.
    pub fn start(dir: &Path, name: &str, opts: SimOptions) -> Self {
        let shared = Shared {
            echo: true,
            pin_ok: opts.sim_pin.is_none(),
            opts,
            next_mr: 1,
            ..Default::default()
        };
        let mut sim = Self {
            link: dir.join(name),
            shared: Arc::new(Mutex::new(shared)),
            stop: Arc::new(AtomicBool::new(false)),
            thread: None,
        };
        sim.replug();
        sim
    }

    pub fn path(&self) -> PathBuf {
        self.link.clone()
    }

    /// Plugs the modem in (again): a new pty behind the same path. Like a
    /// real modem after a power cycle, echo is on again and the SIM locked.
    pub fn replug(&mut self) {
        self.unplug();
        let pty = openpty(None, None).unwrap();
        // Raw mode from the start, so the line discipline never echoes.
        let mut t = termios::tcgetattr(&pty.slave).unwrap();
        termios::cfmakeraw(&mut t);
        termios::tcsetattr(&pty.slave, termios::SetArg::TCSANOW, &t).unwrap();
        let slave_path = nix::unistd::ttyname(&pty.slave).unwrap();
        let _ = std::fs::remove_file(&self.link);
        std::os::unix::fs::symlink(&slave_path, &self.link).unwrap();
        {
            let mut s = self.shared.lock().unwrap();
            s.echo = true;
            s.pin_ok = s.opts.sim_pin.is_none();
        }
        self.stop = Arc::new(AtomicBool::new(false));
        let (shared, stop) = (self.shared.clone(), self.stop.clone());
        let master = File::from(pty.master);
        // The slave end stays open here too, so reads on the master block
        // instead of failing before the driver opens the port.
        let slave = pty.slave;
        self.thread = Some(std::thread::spawn(move || {
            serve(master, &shared, &stop);
            drop(slave);
        }));
    }

    /// Pulls the modem out: the pty disappears and so does the path.
    pub fn unplug(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.link);
    }

    pub fn set_silent(&self, on: bool) {
        self.shared.lock().unwrap().silent = on;
    }

    pub fn set_swallow_pdu(&self, on: bool) {
        self.shared.lock().unwrap().swallow_pdu = on;
    }

    /// The next sends fail with these `+CMS ERROR` codes, one each.
    pub fn fail_next(&self, codes: &[u16]) {
        self.shared
            .lock()
            .unwrap()
            .cms_next
            .extend_from_slice(codes);
    }

    pub fn pin_attempts(&self) -> u32 {
        self.shared.lock().unwrap().pin_attempts
    }

    pub fn commands(&self) -> Vec<String> {
        self.shared.lock().unwrap().commands.clone()
    }

    /// Complete messages received so far, parts joined: (to, text).
    pub fn messages(&self) -> Vec<(String, String)> {
        let s = self.shared.lock().unwrap();
        let mut out = Vec::new();
        let mut multi: BTreeMap<(String, u8), BTreeMap<u8, String>> = BTreeMap::new();
        let mut totals = BTreeMap::new();
        for p in &s.parts {
            match p.concat {
                None => out.push((p.to.clone(), p.text.clone())),
                Some((r, total, seq)) => {
                    multi
                        .entry((p.to.clone(), r))
                        .or_default()
                        .insert(seq, p.text.clone());
                    totals.insert((p.to.clone(), r), total);
                }
            }
        }
        for (key, parts) in multi {
            if parts.len() == totals[&key] as usize {
                out.push((key.0, parts.into_values().collect()));
            }
        }
        out
    }

    /// Waits (bounded) until `n` complete messages arrived.
    pub fn wait_messages(&self, n: usize) -> Vec<(String, String)> {
        for _ in 0..400 {
            let m = self.messages();
            if m.len() >= n {
                return m;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("expected {n} messages, got {:?}", self.messages());
    }
}

impl Drop for SimModem {
    fn drop(&mut self) {
        self.unplug();
    }
}

enum Mode {
    Command,
    Pdu,
}

fn serve(mut port: File, shared: &Mutex<Shared>, stop: &AtomicBool) {
    let mut line = Vec::new();
    let mut mode = Mode::Command;
    let mut buf = [0u8; 1024];
    while !stop.load(Ordering::SeqCst) {
        let mut fds = [PollFd::new(port.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(20u8)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(_) => return,
        }
        let n = match port.read(&mut buf) {
            Ok(n) => n,
            // The driver closed its end (EIO until it reopens): wait.
            Err(_) => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        for &b in &buf[..n] {
            if shared.lock().unwrap().silent {
                line.clear();
                continue;
            }
            match mode {
                Mode::Command => match b {
                    b'\r' => {
                        let cmd = String::from_utf8_lossy(&line).trim().to_string();
                        line.clear();
                        if cmd.is_empty() {
                            continue;
                        }
                        let (reply, prompt) = answer(shared, &cmd);
                        let _ = port.write_all(&reply);
                        if prompt {
                            mode = Mode::Pdu;
                        }
                    }
                    b'\n' => {}
                    // ESC outside a prompt: ignored, as modems do.
                    0x1b => line.clear(),
                    _ => line.push(b),
                },
                Mode::Pdu => match b {
                    0x1a => {
                        let hex = String::from_utf8_lossy(&line).trim().to_string();
                        line.clear();
                        mode = Mode::Command;
                        let reply = accept_pdu(shared, &hex);
                        let _ = port.write_all(&reply);
                    }
                    0x1b => {
                        line.clear();
                        mode = Mode::Command;
                        let _ = port.write_all(b"\r\nOK\r\n");
                    }
                    b'\r' | b'\n' => {}
                    _ => line.push(b),
                },
            }
        }
    }
}

/// The reply to one command line, and whether a PDU prompt was given.
fn answer(shared: &Mutex<Shared>, cmd: &str) -> (Vec<u8>, bool) {
    let mut s = shared.lock().unwrap();
    s.commands.push(if cmd.starts_with("AT+CPIN=") {
        "AT+CPIN=<pin>".into()
    } else {
        cmd.to_string()
    });
    let mut out = Vec::new();
    if s.echo {
        out.extend_from_slice(cmd.as_bytes());
        out.push(b'\r');
    }
    if s.opts.urc_noise {
        out.extend_from_slice(b"\r\n^RSSI:18\r\n\r\nRING\r\n");
    }
    let upper = cmd.to_ascii_uppercase();
    let ok = "\r\nOK\r\n";
    let sim_ready = s.pin_ok && !s.opts.puk;
    let body: String = match upper.as_str() {
        "AT" => ok.into(),
        "ATE0" => {
            s.echo = false;
            ok.into()
        }
        "ATE1" => {
            s.echo = true;
            ok.into()
        }
        "AT+CMEE=1" | "ATV1" => ok.into(),
        "AT+CPIN?" => {
            let state = if s.opts.puk {
                "SIM PUK"
            } else if !s.pin_ok {
                "SIM PIN"
            } else {
                "READY"
            };
            format!("\r\n+CPIN: {state}\r\n{ok}")
        }
        c if c.starts_with("AT+CPIN=") => {
            s.pin_attempts += 1;
            let given = cmd["AT+CPIN=".len()..].trim_matches('"');
            if Some(given) == s.opts.sim_pin {
                s.pin_ok = true;
                ok.into()
            } else {
                "\r\n+CME ERROR: 16\r\n".into()
            }
        }
        _ if !sim_ready => "\r\n+CME ERROR: 11\r\n".into(),
        "AT+CREG?" => format!(
            "\r\n+CREG: 0,{}\r\n{ok}",
            if s.opts.lte_only { 0 } else { 1 }
        ),
        "AT+CEREG?" => format!("\r\n+CEREG: 0,1\r\n{ok}"),
        "AT+CMGF=0" => ok.into(),
        c if c.starts_with("AT+CNMI=") => ok.into(),
        "AT+CSQ" => format!("\r\n+CSQ: 21,99\r\n{ok}"),
        "AT+COPS?" => format!("\r\n+COPS: 0,0,\"SimNet\",7\r\n{ok}"),
        "AT+CGMI" => format!("\r\nSimModem Inc.\r\n{ok}"),
        "AT+CGMM" => format!("\r\nSIM7600-SIM\r\n{ok}"),
        "AT+CGSN" => format!("\r\n860000000000001\r\n{ok}"),
        c if c.starts_with("AT+CMGS=") => {
            let delay = s.opts.prompt_delay;
            drop(s);
            std::thread::sleep(delay);
            out.extend_from_slice(b"\r\n> ");
            return (out, true);
        }
        _ => "\r\nERROR\r\n".into(),
    };
    out.extend_from_slice(body.as_bytes());
    (out, false)
}

fn accept_pdu(shared: &Mutex<Shared>, hex: &str) -> Vec<u8> {
    let mut s = shared.lock().unwrap();
    if s.swallow_pdu {
        return Vec::new();
    }
    if !s.cms_next.is_empty() {
        let code = s.cms_next.remove(0);
        return format!("\r\n+CMS ERROR: {code}\r\n").into_bytes();
    }
    let part = match pdu::decode_submit(hex) {
        Ok(p) => p,
        Err(_) => return b"\r\n+CMS ERROR: 304\r\n".to_vec(),
    };
    let mr = s.next_mr;
    s.next_mr = s.next_mr.wrapping_add(1);
    let mut out = format!("\r\n+CMGS: {mr}\r\n\r\nOK\r\n").into_bytes();
    if s.opts.status_reports && part.status_report {
        let report = pdu::encode_status_report(None, mr, &part.to, 0);
        // The +CDS length counts the TPDU octets, without the 1-octet empty SMSC field.
        let len = report.len() / 2 - 1;
        out.extend_from_slice(format!("\r\n+CDS: {len}\r\n{report}\r\n").as_bytes());
    }
    s.parts.push(part);
    out
}
