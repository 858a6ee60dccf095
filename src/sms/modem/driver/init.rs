//! Bringing a freshly opened modem into service, and the health poll.

use super::*;

impl Driver {
    pub(super) fn open_and_init(&mut self) -> Result<(), InitError> {
        self.update(|st| st.state = ModemState::Initialising);
        self.open().map_err(InitError::Transient)?;
        self.init()?;
        self.update(|st| {
            st.state = ModemState::Ready;
            st.last_error = None;
        });
        self.next_health = Instant::now() + self.s.timeouts.health_interval;
        Ok(())
    }

    fn init(&mut self) -> Result<(), InitError> {
        let transient = |e: ExecError| InitError::Transient(format!("{e:?}"));
        // A prompt left open by an earlier run would swallow our commands.
        self.write(&[ESC, b'\r'])
            .map_err(|e| InitError::Transient(e.to_string()))?;
        self.drain(Duration::from_millis(100))
            .map_err(InitError::Transient)?;
        let mut alive = false;
        for _ in 0..3 {
            match self.exec("AT", self.s.timeouts.command.min(Duration::from_secs(2))) {
                Ok(r) if r.ok() => {
                    alive = true;
                    break;
                }
                Ok(_) | Err(ExecError::Timeout) => continue,
                Err(e) => return Err(transient(e)),
            }
        }
        if !alive {
            return Err(InitError::Transient("no answer to AT".into()));
        }
        self.cmd_ok("ATE0")?;
        // Verbose result codes: the parser reads words, not digits.
        self.cmd_ok("ATV1")?;
        self.cmd_ok("AT+CMEE=1")?;
        self.unlock_sim()?;
        self.cmd_ok("AT+CMGF=0")?;
        // Status reports straight as +CDS. Huawei firmware takes <ds>=1 only
        // with <mode>=1; the last resort stores them and announces +CDSI.
        for cnmi in [
            "AT+CNMI=2,1,0,1,0",
            "AT+CNMI=1,1,0,1,0",
            "AT+CNMI=2,1,0,2,0",
        ] {
            if self.cmd(cnmi)?.ok() {
                break;
            }
        }
        let maker = self.cmd("AT+CGMI")?;
        let model = self.cmd("AT+CGMM")?;
        let imei = self.cmd("AT+CGSN")?;
        let first = |r: &Reply| {
            r.lines.first().map(|l| {
                l.trim_start_matches("+CGMI: ")
                    .trim_start_matches("+CGMM: ")
                    .to_string()
            })
        };
        self.update(|st| {
            st.manufacturer = first(&maker);
            st.model = first(&model);
            st.imei = first(&imei);
        });
        self.poll_health();
        Ok(())
    }

    fn unlock_sim(&mut self) -> Result<(), InitError> {
        for _ in 0..10 {
            let r = self.cmd("AT+CPIN?")?;
            let state = r.first("+CPIN:").and_then(at::parse_cpin);
            self.update(|st| st.sim = state.as_ref().map(|s| format!("{s:?}")));
            match state {
                Some(SimState::Ready) => return Ok(()),
                Some(SimState::Puk) => {
                    return Err(InitError::Blocked("the SIM wants its PUK".into()))
                }
                Some(SimState::Pin) => {
                    let Some(pin) = self.s.sim_pin.clone() else {
                        return Err(InitError::Blocked(
                            "the SIM wants a PIN and none is configured".into(),
                        ));
                    };
                    if self.pin_tried {
                        return Err(InitError::Blocked(
                            "the SIM PIN was refused; not trying again".into(),
                        ));
                    }
                    self.pin_tried = true;
                    // Never logged: the command holds the PIN.
                    let r = self
                        .exec(&format!("AT+CPIN=\"{pin}\""), self.s.timeouts.command)
                        .map_err(|e| InitError::Transient(format!("{e:?}")))?;
                    if !r.ok() {
                        return Err(InitError::Blocked(
                            "the SIM refused the configured PIN; not trying again".into(),
                        ));
                    }
                }
                // Busy or still starting: ask again shortly.
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
        Err(InitError::Transient("the SIM did not become ready".into()))
    }

    fn cmd(&mut self, cmd: &str) -> Result<Reply, InitError> {
        self.exec(cmd, self.s.timeouts.command)
            .map_err(|e| InitError::Transient(format!("{cmd}: {e:?}")))
    }

    fn cmd_ok(&mut self, cmd: &str) -> Result<(), InitError> {
        let r = self.cmd(cmd)?;
        if r.ok() {
            Ok(())
        } else {
            Err(InitError::Transient(format!("{cmd}: {:?}", r.fin)))
        }
    }

    pub(super) fn poll_health(&mut self) {
        self.next_health = Instant::now() + self.s.timeouts.health_interval;
        let t = self.s.timeouts.command;
        let mut reg = None;
        // LTE-only modems may answer only +CEREG.
        for q in ["AT+CREG?", "AT+CEREG?"] {
            match self.exec(q, t) {
                Ok(r) => {
                    if let Some(stat) = r.lines.iter().find_map(|l| at::parse_creg_reply(l)) {
                        if reg.is_none() || at::is_registered(stat) {
                            reg = Some(stat);
                        }
                    }
                }
                Err(ExecError::Io(e)) => return self.lost(&e.to_string()),
                Err(ExecError::Timeout) => {}
            }
        }
        let signal = self
            .exec("AT+CSQ", t)
            .ok()
            .and_then(|r| r.lines.iter().find_map(|l| at::parse_csq(l)))
            .map(|(rssi, _)| rssi);
        let operator = self
            .exec("AT+COPS?", t)
            .ok()
            .and_then(|r| r.lines.iter().find_map(|l| at::parse_cops(l)));
        if self.port.is_none() {
            return;
        }
        self.update(|st| {
            st.registration = reg;
            st.signal = signal;
            if operator.is_some() {
                st.operator = operator;
            }
        });
    }
}
