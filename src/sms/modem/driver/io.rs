//! The port itself: open, close, write, and read items one at a time. Items
//! the parser produced beyond the one asked for wait in a backlog, so a
//! status report that arrives in the same read as an `OK` is never lost.

use super::*;

impl Driver {
    pub(super) fn open(&mut self) -> Result<(), String> {
        let port = serialport::new(self.s.port.to_string_lossy(), self.s.baud)
            .timeout(READ_TICK)
            .open()
            .map_err(|e| format!("cannot open {}: {e}", self.s.port.display()))?;
        self.port = Some(port);
        self.parser.reset();
        self.backlog.clear();
        self.silent = 0;
        Ok(())
    }

    pub(super) fn close(&mut self, why: &str) {
        self.port = None;
        self.backlog.clear();
        self.update(|st| {
            st.state = ModemState::Closed;
            st.registration = None;
            st.last_error = Some(why.to_string());
        });
    }

    /// The device vanished or broke: close it; the run loop reopens it.
    pub(super) fn lost(&mut self, why: &str) {
        tracing::warn!(modem = %self.s.name, reason = why, "modem lost; will reopen");
        self.close(why);
    }

    pub(super) fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        // No flush: it is tcdrain, which has no timeout and can hang forever
        // on a wedged USB device; write_all already hands the bytes over.
        let port = self.port.as_mut().ok_or_else(not_open)?;
        port.write_all(bytes)
    }

    /// The next item: from the backlog, or from one read of at most a tick.
    /// `None` when nothing arrived within the tick.
    pub(super) fn next_item(&mut self) -> std::io::Result<Option<Item>> {
        if let Some(item) = self.backlog.pop_front() {
            return Ok(Some(item));
        }
        let port = self.port.as_mut().ok_or_else(not_open)?;
        let mut buf = [0u8; 512];
        match port.read(&mut buf) {
            Ok(0) => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "device closed",
            )),
            Ok(n) => {
                self.backlog.extend(self.parser.push(&buf[..n]));
                Ok(self.backlog.pop_front())
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Handles unsolicited lines for `d` (or, with zero, until a quiet tick).
    pub(super) fn drain(&mut self, d: Duration) -> Result<(), String> {
        // The deadline holds even if the modem never stops talking.
        let until = Instant::now() + d.max(READ_TICK);
        loop {
            match self.next_item().map_err(|e| e.to_string())? {
                Some(Item::Urc(u)) => self.on_urc(u),
                Some(_) => {}
                None => return Ok(()),
            }
            if Instant::now() >= until {
                return Ok(());
            }
        }
    }

    /// Writes `cmd` and collects lines until its final reply. The deadline is
    /// fixed when the command is written: stray lines never extend it. Two
    /// commands in a row without an answer mean a hung modem: it is closed.
    pub(super) fn exec(&mut self, cmd: &str, timeout: Duration) -> Result<Reply, ExecError> {
        self.parser.set_pending(Some(cmd));
        let result = self.exec_inner(cmd, timeout);
        self.parser.set_pending(None);
        match &result {
            Err(ExecError::Timeout) => {
                if self.note_silence() {
                    return Err(ExecError::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "modem hung",
                    )));
                }
            }
            Err(ExecError::Io(e)) => {
                let why = e.to_string();
                self.lost(&why);
            }
            Ok(_) => self.silent = 0,
        }
        result
    }

    fn exec_inner(&mut self, cmd: &str, timeout: Duration) -> Result<Reply, ExecError> {
        let deadline = Instant::now() + timeout;
        self.write(format!("{cmd}\r").as_bytes())
            .map_err(ExecError::Io)?;
        let mut lines = Vec::new();
        while Instant::now() < deadline {
            match self.next_item().map_err(ExecError::Io)? {
                Some(Item::Final(fin)) => return Ok(Reply { lines, fin }),
                Some(Item::Text(t)) => lines.push(t),
                Some(Item::Urc(u)) => self.on_urc(u),
                Some(Item::Echo(_) | Item::Prompt) | None => {}
            }
        }
        Err(ExecError::Timeout)
    }

    /// Counts a command left unanswered; returns true when that closed the port.
    pub(super) fn note_silence(&mut self) -> bool {
        self.silent += 1;
        if self.silent >= 2 {
            self.lost("the modem stopped answering");
            return true;
        }
        false
    }
}

fn not_open() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::NotConnected, "port closed")
}
