//! Unsolicited result codes and delivery reports.

use super::*;

impl Driver {
    pub(super) fn on_urc(&mut self, u: Urc) {
        match u {
            Urc::Cds { pdu } => self.on_status_report(&pdu),
            Urc::Cdsi { mem, index } => self.pending_reports.push((mem, index)),
            Urc::Creg { stat } | Urc::Cereg { stat } => {
                self.update(|st| st.registration = Some(stat))
            }
            other => tracing::debug!(modem = %self.s.name, urc = ?other, "unsolicited"),
        }
    }

    fn on_status_report(&mut self, hex: &str) {
        // Most modems put the SMSC field in front of a +CDS PDU; some do not.
        let report =
            pdu::decode_status_report(hex).or_else(|_| pdu::decode_status_report_tpdu(hex));
        match report {
            Ok(r) if r.is_final() => (self.reports)(DeliveryReport {
                channel: format!("modem:{}", self.s.name),
                provider_id: r.message_ref.to_string(),
                delivered: r.delivered(),
            }),
            Ok(_) => {}
            Err(e) => tracing::warn!(modem = %self.s.name, error = %e, "unreadable status report"),
        }
    }

    /// Reads and deletes a status report the modem stored (`+CDSI`). The
    /// storage it names is selected first; if that fails, nothing is read or
    /// deleted, so an unrelated stored SMS is never touched.
    pub(super) fn read_stored_report(&mut self, mem: &str, index: u32) {
        let t = self.s.timeouts.command;
        let mem = mem.trim_matches('"');
        match self.exec(&format!("AT+CPMS=\"{mem}\""), t) {
            Ok(r) if r.ok() => {}
            _ => {
                tracing::warn!(modem = %self.s.name, mem, index, "cannot select the report storage; report left unread");
                return;
            }
        }
        if let Ok(r) = self.exec(&format!("AT+CMGR={index}"), t) {
            // The PDU is the line after the +CMGR header.
            let pdu = r
                .lines
                .iter()
                .skip_while(|l| !l.starts_with("+CMGR:"))
                .nth(1)
                .cloned();
            if let Some(pdu) = pdu {
                self.on_status_report(&pdu);
                let _ = self.exec(&format!("AT+CMGD={index}"), t);
            }
        }
    }
}
