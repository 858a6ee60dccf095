//! Sending one SMS, part by part, in PDU mode.

use super::*;

impl Driver {
    /// Sends every part of a message. An error before the first part went
    /// out is retryable or permanent by its code; a failure after some part
    /// went out, or silence after a PDU was handed over, is `Unknown`.
    pub(super) fn send_sms(&mut self, to: &str, text: &str) -> SendOutcome {
        let opts = SubmitOptions {
            status_report: true,
            validity_minutes: None,
            smsc: self.s.smsc.clone(),
            concat_ref: self.next_concat_ref(),
        };
        let parts = match pdu::encode_submit(to, text, &opts) {
            Ok(p) => p,
            Err(e) => return SendOutcome::Permanent(format!("cannot encode: {e}")),
        };
        let total = parts.len();
        let mut last_mr = None;
        for (i, part) in parts.iter().enumerate() {
            match self.send_part(part) {
                PartOutcome::Sent(mr) => last_mr = Some(mr),
                PartOutcome::NotSent(outcome) if i == 0 => return outcome,
                PartOutcome::NotSent(o) => {
                    return SendOutcome::Unknown(format!(
                        "part {} of {total} failed after earlier parts went out: {o:?}",
                        i + 1
                    ))
                }
                PartOutcome::Unknown(why) => return SendOutcome::Unknown(why),
            }
        }
        SendOutcome::Sent {
            provider_id: last_mr.map(|mr| mr.to_string()),
        }
    }

    fn send_part(&mut self, part: &pdu::SubmitPdu) -> PartOutcome {
        let cmd = format!("AT+CMGS={}", part.tpdu_len);
        self.parser.set_pending(Some(&cmd));
        let result = self.send_part_inner(&cmd, part);
        self.parser.set_pending(None);
        result
    }

    fn send_part_inner(&mut self, cmd: &str, part: &pdu::SubmitPdu) -> PartOutcome {
        let t = self.s.timeouts.clone();
        let not_sent = |why: String| PartOutcome::NotSent(SendOutcome::Retryable(why));
        if let Err(e) = self.write(format!("{cmd}\r").as_bytes()) {
            self.lost(&e.to_string());
            return not_sent(format!("modem lost: {e}"));
        }
        // 1. The prompt.
        let deadline = Instant::now() + t.prompt;
        loop {
            if Instant::now() >= deadline {
                // Cancel a prompt that may still come, so the next command is not taken as text.
                let _ = self.write(&[ESC]);
                self.note_silence();
                return not_sent("no prompt from the modem".into());
            }
            match self.next_item() {
                Ok(Some(Item::Prompt)) => break,
                Ok(Some(Item::Final(f))) => return PartOutcome::NotSent(refused(&f)),
                Ok(Some(Item::Urc(u))) => self.on_urc(u),
                Ok(Some(Item::Echo(_) | Item::Text(_)) | None) => {}
                Err(e) => {
                    self.lost(&e.to_string());
                    return not_sent(format!("modem lost: {e}"));
                }
            }
        }
        // 2. The PDU; from here on the message may go out.
        let mut bytes = part.hex.clone().into_bytes();
        bytes.push(CTRL_Z);
        if let Err(e) = self.write(&bytes) {
            self.lost(&e.to_string());
            return PartOutcome::Unknown(format!("modem lost while handing over the message: {e}"));
        }
        let deadline = Instant::now() + t.submit;
        let mut mr = None;
        while Instant::now() < deadline {
            match self.next_item() {
                Ok(Some(Item::Text(l))) => {
                    if let Some(m) = at::parse_cmgs(&l) {
                        mr = Some(m);
                    }
                }
                Ok(Some(Item::Final(Final::Ok))) => {
                    self.silent = 0;
                    return match mr {
                        Some(m) => PartOutcome::Sent(m),
                        None => PartOutcome::Unknown("OK without a message reference".into()),
                    };
                }
                Ok(Some(Item::Final(f))) => {
                    self.silent = 0;
                    return PartOutcome::NotSent(refused(&f));
                }
                Ok(Some(Item::Urc(u))) => self.on_urc(u),
                Ok(Some(Item::Echo(_) | Item::Prompt) | None) => {}
                Err(e) => {
                    self.lost(&e.to_string());
                    return PartOutcome::Unknown(format!(
                        "modem lost after the message was handed over: {e}"
                    ));
                }
            }
        }
        self.note_silence();
        PartOutcome::Unknown("no answer after the message was handed over".into())
    }
}

enum PartOutcome {
    Sent(u8),
    /// Certainly not sent.
    NotSent(SendOutcome),
    Unknown(String),
}

/// A final reply that refused the message, as an outcome.
fn refused(f: &Final) -> SendOutcome {
    let why = match f {
        Final::CmsError(code) => format!("+CMS ERROR: {code}"),
        Final::CmeError(code) => format!("+CME ERROR: {code}"),
        other => format!("{other:?}"),
    };
    match f.classify() {
        Some(ErrorClass::Permanent) => SendOutcome::Permanent(why),
        _ => SendOutcome::Retryable(why),
    }
}
