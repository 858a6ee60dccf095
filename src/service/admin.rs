//! Read models the admin UI shows and the management API has no call for
//! yet: accounts and the dashboard's figures.

use super::{Error, Services};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct AccountView {
    pub id: String,
    pub name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl Services {
    pub async fn account_view(&self, id: &str) -> Result<Option<AccountView>, Error> {
        let id = id.to_string();
        self.store
            .read(move |db| {
                Ok(db.account(&id)?.map(|a| AccountView {
                    id: a.id,
                    name: a.name,
                    created_at: a.created_at,
                }))
            })
            .await
    }

    pub async fn account_views(&self) -> Result<Vec<AccountView>, Error> {
        self.store
            .read(move |db| {
                Ok(db
                    .accounts()?
                    .into_iter()
                    .map(|a| AccountView {
                        id: a.id,
                        name: a.name,
                        created_at: a.created_at,
                    })
                    .collect())
            })
            .await
    }
}

/// Logins started in one hour, by outcome.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HourBar {
    pub hour: chrono::DateTime<chrono::Utc>,
    pub approved: u64,
    pub failed: u64,
    /// Pending or expired.
    pub other: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChannelCount {
    pub channel: String,
    pub sent: u64,
    pub failed: u64,
    pub other: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DashboardView {
    /// The last 24 hours, oldest first, one bar per hour.
    pub hours: Vec<HourBar>,
    pub approved: u64,
    pub failed: u64,
    pub expired: u64,
    pub pending: u64,
    /// Approved among finished logins, in percent (none without any).
    pub success_rate: Option<u8>,
    pub sms_by_channel: Vec<ChannelCount>,
    pub queue_depth: u64,
    pub recent: Vec<crate::store::RecentLogin>,
}

impl Services {
    /// The account's last 24 hours: logins per hour by outcome, SMS per
    /// channel, the queue, the newest logins.
    pub async fn dashboard(
        &self,
        account_id: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<DashboardView, Error> {
        use chrono::{Duration, DurationRound};
        let a = account_id.to_string();
        let top = now.duration_trunc(Duration::hours(1)).unwrap_or(now);
        let since = top - Duration::hours(23);
        let (per_hour, sms, queue_depth, recent) = self
            .store
            .read(move |db| {
                Ok::<_, Error>((
                    db.logins_per_hour(&a, since)?,
                    db.sms_counts(&a, since)?,
                    db.queue_depth(&a)?,
                    db.recent_logins(&a, 20)?,
                ))
            })
            .await?;
        let mut hours: Vec<HourBar> = (0..24)
            .map(|i| HourBar {
                hour: since + Duration::hours(i),
                ..Default::default()
            })
            .collect();
        let (mut approved, mut failed, mut expired, mut pending) = (0, 0, 0, 0);
        for c in per_hour {
            let i = (c.hour - since).num_hours();
            let bar = usize::try_from(i).ok().and_then(|i| hours.get_mut(i));
            match c.status.as_str() {
                "approved" => approved += c.count,
                "failed" => failed += c.count,
                "expired" => expired += c.count,
                _ => pending += c.count,
            }
            if let Some(b) = bar {
                match c.status.as_str() {
                    "approved" => b.approved += c.count,
                    "failed" => b.failed += c.count,
                    _ => b.other += c.count,
                }
            }
        }
        let finished = approved + failed + expired;
        let success_rate = (finished > 0).then(|| (approved * 100 / finished) as u8);
        let mut by_channel: Vec<ChannelCount> = Vec::new();
        for c in sms {
            let name = c.channel.unwrap_or_else(|| "(not yet sent)".into());
            let i = match by_channel.iter().position(|x| x.channel == name) {
                Some(i) => i,
                None => {
                    by_channel.push(ChannelCount {
                        channel: name,
                        sent: 0,
                        failed: 0,
                        other: 0,
                    });
                    by_channel.len() - 1
                }
            };
            let e = &mut by_channel[i];
            match c.status.as_str() {
                "sent" => e.sent += c.count,
                "failed" => e.failed += c.count,
                _ => e.other += c.count,
            }
        }
        Ok(DashboardView {
            hours,
            approved,
            failed,
            expired,
            pending,
            success_rate,
            sms_by_channel: by_channel,
            queue_depth,
            recent,
        })
    }
}

/// Statuses an outbox message can have.
pub const OUTBOX_STATUSES: [&str; 5] = ["queued", "sending", "sent", "failed", "expired"];

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OutboxPage {
    /// Newest first; no message text (it holds secrets).
    pub messages: Vec<crate::store::OutboxListRow>,
    /// Pass as `before` for the next (older) page.
    pub next_before: Option<i64>,
}

impl Services {
    /// An account's SMS, newest first: `status` one of [`OUTBOX_STATUSES`],
    /// `limit` 1–500 (default 100).
    pub async fn outbox(
        &self,
        account_id: &str,
        status: Option<String>,
        before: Option<i64>,
        limit: Option<u32>,
    ) -> Result<OutboxPage, Error> {
        use crate::domain::Invalid;
        let limit = limit.unwrap_or(100);
        if !(1..=500).contains(&limit) {
            return Err(Invalid::new("limit", "must be between 1 and 500").into());
        }
        if let Some(s) = &status {
            if !OUTBOX_STATUSES.contains(&s.as_str()) {
                return Err(Invalid::new(
                    "status",
                    "must be queued, sending, sent, failed or expired",
                )
                .into());
            }
        }
        let a = account_id.to_string();
        let mut messages = self
            .store
            .read(move |db| db.outbox_page(&a, status.as_deref(), before, limit + 1))
            .await?;
        let more = messages.len() > limit as usize;
        messages.truncate(limit as usize);
        Ok(OutboxPage {
            next_before: if more {
                messages.last().map(|m| m.id)
            } else {
                None
            },
            messages,
        })
    }
}

impl Services {
    /// Records a test SMS sent from the channels page (no number, no text).
    pub async fn record_test_sms(
        &self,
        actor: &crate::domain::Actor,
        sent: bool,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), Error> {
        let e = super::audit::entry(
            actor,
            None,
            "sms.test",
            None::<String>,
            if sent { "sent" } else { "not_sent" },
            now,
        );
        self.store.write(move |db| db.audit(&e)).await?;
        Ok(())
    }
}

impl Services {
    /// Every user of the account as CSV in the import's format
    /// (`email,phone,name,groups`, groups joined by `;`), so an export can
    /// be edited and imported again.
    pub async fn export_users_csv(&self, account_id: &str) -> Result<Vec<u8>, Error> {
        let a = account_id.to_string();
        self.store
            .read(move |db| {
                let mut w = csv::Writer::from_writer(Vec::new());
                let io = |e: csv::Error| Error::Internal(e.to_string());
                w.write_record(["email", "phone", "name", "groups"])
                    .map_err(io)?;
                let mut after: Option<String> = None;
                loop {
                    let page = db.users_page(&a, None, after.as_deref(), 500)?;
                    for u in &page.users {
                        w.write_record([&u.email, &u.phone, &u.name, &u.groups.join(";")])
                            .map_err(io)?;
                    }
                    match page.next_after {
                        Some(n) => after = Some(n),
                        None => break,
                    }
                }
                w.into_inner().map_err(|e| Error::Internal(e.to_string()))
            })
            .await
    }
}
