//! Anti-pumping limits: before an SMS is queued, inside the same write
//! transaction, the account's sliding windows (per number, per prefix, per
//! hour, per day) and its country allowlist are checked. The writer runs one
//! job at a time, so concurrent starts cannot race past a limit.
//!
//! A look-alike start (unknown, disabled or locked user, no grant) sends no
//! SMS and so never counts; but it answers as a real user's start would: the
//! account windows apply to it, and its per-number window is kept per email
//! in a ledger of the SMS it would have sent.

use super::{Error, Services};
use crate::config::{country_code_problem, MAX_ALLOWED_COUNTRIES};
use crate::domain::{Caller, Invalid};
use crate::store::{Db, SmsRefusalRow, StoreError};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// The code of a send refused by the allowlist (403).
pub const COUNTRY_DENIED: &str = "sms_country_denied";
const MAX_REFUSALS_PAGE: u32 = 500;

/// Which limit refused a send; the `limit` field of a 429 `sms_limit` and
/// the `reason` of a refusal record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsLimitKind {
    PerNumber,
    PerPrefix,
    AccountHour,
    AccountDay,
    Country,
}

impl SmsLimitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PerNumber => "per_number",
            Self::PerPrefix => "per_prefix",
            Self::AccountHour => "account_hour",
            Self::AccountDay => "account_day",
            Self::Country => "country",
        }
    }
}

/// What a 429 `sms_limit` says, by its `limit`.
pub fn describe(limit: &str) -> &'static str {
    match limit {
        "per_number" => "too many SMS to this user's number",
        "per_prefix" => "too many SMS to numbers close to this user's",
        "account_hour" => "this account's SMS limit per hour is reached",
        "account_day" => "this account's SMS limit per day is reached",
        _ => "an SMS limit is reached",
    }
}

/// Whole seconds until the SMS sent at `nth_newest` leaves a window of
/// `window`, rounded up and at least 1. With `nth_newest` the `max`-th
/// newest SMS in the window, that is when the window admits one more.
pub fn seconds_until_out(nth_newest: DateTime<Utc>, window: Duration, now: DateTime<Utc>) -> u64 {
    let ms = (nth_newest + window - now).num_milliseconds().max(1);
    (ms as u64).div_ceil(1000)
}

/// The first `digits` digits of an E.164 number, with its `+`.
pub fn prefix_of(phone: &str, digits: u8) -> &str {
    let end = (usize::from(digits) + 1).min(phone.len());
    phone.get(..end).unwrap_or(phone)
}

/// A number for the log: its prefix, never its last four digits.
pub fn masked(phone: &str, digits: u8) -> String {
    let total = phone.len().saturating_sub(1);
    let keep = usize::from(digits).min(total.saturating_sub(4)).max(1);
    format!("{}…", prefix_of(phone, keep as u8))
}

/// Whether `phone` (E.164) is in one of `codes` (empty = all).
pub fn country_allowed(phone: &str, codes: &[String]) -> bool {
    let digits = phone.strip_prefix('+').unwrap_or(phone);
    codes.is_empty() || codes.iter().any(|c| digits.starts_with(c.as_str()))
}

/// Parses an allowlist: codes with or without `+`, sorted, without repeats.
pub fn parse_countries(raw: &[String]) -> Result<Vec<String>, Invalid> {
    if raw.len() > MAX_ALLOWED_COUNTRIES {
        return Err(Invalid::new(
            "allowed",
            format!("may hold at most {MAX_ALLOWED_COUNTRIES} country codes"),
        ));
    }
    let mut codes = Vec::with_capacity(raw.len());
    for c in raw {
        let code = c.trim();
        let code = code.strip_prefix('+').unwrap_or(code);
        if let Some(p) = country_code_problem(code) {
            return Err(Invalid::new("allowed", format!("{c:?}: {p}")));
        }
        codes.push(code.to_string());
    }
    codes.sort();
    codes.dedup();
    Ok(codes)
}

fn window(seconds: u32) -> Duration {
    Duration::seconds(i64::from(seconds))
}

/// One window's verdict: `None` when it admits one more SMS (or is off),
/// else the seconds until it does. `nth(since, max)` finds the `max`-th
/// newest SMS queued after `since`.
fn wait(
    kind: SmsLimitKind,
    max: u32,
    seconds: u32,
    now: DateTime<Utc>,
    nth: impl FnOnce(DateTime<Utc>, u32) -> Result<Option<DateTime<Utc>>, StoreError>,
) -> Result<Option<(SmsLimitKind, u64)>, Error> {
    if max == 0 {
        return Ok(None);
    }
    let w = window(seconds);
    Ok(nth(now - w, max)?.map(|t| (kind, seconds_until_out(t, w, now))))
}

/// The account's country allowlist as in force.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SmsCountriesView {
    /// Country calling codes SMS may go to, e.g. `["41", "49"]`; empty = all.
    pub allowed: Vec<String>,
    /// `account` when the account set its own list, `config` when the
    /// appliance's default (`[sms.limits] allowed_countries`) applies.
    pub source: String,
}

/// Refused sends of one email, for one reason, in one hour (UTC).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SmsRefusalView {
    pub email: String,
    /// The user's number; absent for a look-alike start (no such user, or
    /// one that may not log in), which has none.
    pub phone: Option<String>,
    /// `per_number`, `per_prefix`, `account_hour`, `account_day` or `country`.
    pub reason: String,
    /// Refusals in this hour.
    pub count: u64,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
}

impl From<SmsRefusalRow> for SmsRefusalView {
    fn from(r: SmsRefusalRow) -> Self {
        Self {
            email: r.email,
            phone: r.to_phone,
            reason: r.reason,
            count: r.count,
            first_at: r.first_at,
            last_at: r.last_at,
        }
    }
}

impl Services {
    /// Admits one SMS about to be queued for `email` (to `phone`; `None`
    /// for a look-alike start), or refuses it: then the refusal is recorded
    /// and returned, and the caller queues nothing and commits.
    pub(super) fn admit_sms(
        &self,
        db: &Db<'_>,
        account_id: &str,
        email: &str,
        phone: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<Error>, Error> {
        let l = &*self.limits;
        if let Some(phone) = phone {
            let codes = match db.sms_countries(account_id)? {
                Some(c) => c,
                None => l.allowed_countries.clone(),
            };
            if !country_allowed(phone, &codes) {
                db.record_sms_refusal(account_id, email, Some(phone), "country", now)?;
                tracing::warn!(
                    account_id,
                    to = %masked(phone, l.per_prefix.digits),
                    limit = SmsLimitKind::Country.as_str(),
                    "SMS refused by the anti-pumping limits: country not allowed"
                );
                return Ok(Some(Error::Forbidden {
                    code: COUNTRY_DENIED,
                    message: "SMS to this user's country are not enabled for this account".into(),
                }));
            }
        }

        let mut waits: Vec<(SmsLimitKind, u64)> = Vec::new();
        let n = l.per_number;
        waits.extend(wait(
            SmsLimitKind::PerNumber,
            n.max,
            n.window_seconds,
            now,
            |s, k| match phone {
                Some(p) => db.nth_newest_sms_to_number(account_id, p, s, k),
                None => db.nth_newest_lookalike_send(account_id, email, s, k),
            },
        )?);
        if let Some(p) = phone {
            let pl = l.per_prefix;
            let prefix = prefix_of(p, pl.digits);
            waits.extend(wait(
                SmsLimitKind::PerPrefix,
                pl.max,
                pl.window_seconds,
                now,
                |s, k| db.nth_newest_sms_to_prefix(account_id, prefix, s, k),
            )?);
        }
        waits.extend(wait(
            SmsLimitKind::AccountHour,
            l.per_account_hour,
            3_600,
            now,
            |s, k| db.nth_newest_sms_of_account(account_id, s, k),
        )?);
        waits.extend(wait(
            SmsLimitKind::AccountDay,
            l.per_account_day,
            86_400,
            now,
            |s, k| db.nth_newest_sms_of_account(account_id, s, k),
        )?);

        // The longest wait: only then does every window admit the SMS.
        if let Some(&(kind, retry_after)) = waits.iter().max_by_key(|(_, s)| *s) {
            db.record_sms_refusal(account_id, email, phone, kind.as_str(), now)?;
            tracing::warn!(
                account_id,
                to = %phone.map(|p| masked(p, l.per_prefix.digits)).unwrap_or_default(),
                look_alike = phone.is_none(),
                limit = kind.as_str(),
                retry_after,
                "SMS refused by the anti-pumping limits"
            );
            return Ok(Some(Error::SmsLimit {
                limit: kind.as_str(),
                retry_after,
            }));
        }
        if phone.is_none() && n.max > 0 {
            db.record_lookalike_send(account_id, email, now - window(n.window_seconds), now)?;
        }
        Ok(None)
    }

    /// The account's allowlist as in force.
    pub async fn sms_countries(&self, account_id: &str) -> Result<SmsCountriesView, Error> {
        let a = account_id.to_string();
        let own = self
            .store
            .read(move |db| db.sms_countries(&a).map_err(Error::from))
            .await?;
        Ok(self.countries_view(own))
    }

    /// Sets the account's own allowlist (empty = all countries).
    pub async fn set_sms_countries(
        &self,
        caller: &Caller,
        allowed: &[String],
        now: DateTime<Utc>,
    ) -> Result<SmsCountriesView, Error> {
        let codes = parse_countries(allowed)?;
        let (who, c) = (caller.clone(), codes.clone());
        self.store
            .write(move |db| {
                db.set_sms_countries(&who.account_id, Some(&c), now)?;
                db.audit(
                    &super::audit::change(&who, "sms_countries.set", None, now)
                        .with_detail(serde_json::json!({"allowed": c})),
                )?;
                Ok::<_, Error>(())
            })
            .await?;
        let account_id = caller.account_id.as_str();
        tracing::info!(account_id, allowed = ?codes, "SMS country allowlist set");
        Ok(self.countries_view(Some(codes)))
    }

    /// Drops the account's own allowlist: the configured default applies.
    pub async fn reset_sms_countries(
        &self,
        caller: &Caller,
        now: DateTime<Utc>,
    ) -> Result<SmsCountriesView, Error> {
        let who = caller.clone();
        self.store
            .write(move |db| {
                db.set_sms_countries(&who.account_id, None, now)?;
                db.audit(&super::audit::change(
                    &who,
                    "sms_countries.reset",
                    None,
                    now,
                ))?;
                Ok::<_, Error>(())
            })
            .await?;
        let account_id = caller.account_id.as_str();
        tracing::info!(account_id, "SMS country allowlist reset to the default");
        Ok(self.countries_view(None))
    }

    fn countries_view(&self, own: Option<Vec<String>>) -> SmsCountriesView {
        match own {
            Some(allowed) => SmsCountriesView {
                allowed,
                source: "account".into(),
            },
            None => SmsCountriesView {
                allowed: self.limits.allowed_countries.clone(),
                source: "config".into(),
            },
        }
    }

    /// The account's refusal records, most recent first (`limit` 1–500, default 50).
    pub async fn sms_refusals(
        &self,
        account_id: &str,
        limit: Option<u32>,
    ) -> Result<Vec<SmsRefusalView>, Error> {
        let limit = limit.unwrap_or(50);
        if !(1..=MAX_REFUSALS_PAGE).contains(&limit) {
            return Err(Invalid::new("limit", "must be 1 to 500").into());
        }
        let a = account_id.to_string();
        let rows = self
            .store
            .read(move |db| db.sms_refusals(&a, limit).map_err(Error::from))
            .await?;
        Ok(rows.into_iter().map(SmsRefusalView::from).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Overrides};

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    /// The reference: a send at `now` is admitted when fewer than `max` of
    /// the earlier sends are less than `window` old.
    fn admits(sent: &[DateTime<Utc>], max: usize, w: Duration, now: DateTime<Utc>) -> bool {
        sent.iter().filter(|s| now - **s < w).count() < max
    }

    /// What the store computes: the `max`-th newest send in the window.
    fn nth_newest(
        sent: &[DateTime<Utc>],
        max: usize,
        w: Duration,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let mut inside: Vec<_> = sent.iter().copied().filter(|s| *s > now - w).collect();
        inside.sort_by(|a, b| b.cmp(a));
        inside.get(max - 1).copied()
    }

    #[test]
    fn retry_after_is_when_the_oldest_counted_sms_leaves() {
        let w = Duration::seconds(900);
        assert_eq!(seconds_until_out(t(0), w, t(150)), 750);
        assert_eq!(seconds_until_out(t(0), w, t(899)), 1);
        // Rounded up: 0.5 s left is 1 s.
        let half = t(899) + Duration::milliseconds(500);
        assert_eq!(seconds_until_out(t(0), w, half), 1);
        let early = t(0) + Duration::milliseconds(1);
        assert_eq!(seconds_until_out(t(0), w, early), 900);
        // Never 0, even at the edge.
        assert_eq!(seconds_until_out(t(0), w, t(900)), 1);
    }

    #[test]
    fn the_sliding_window_matches_a_brute_force_count() {
        let w = Duration::seconds(60);
        // Sends admitted by the rule at irregular times, 5 per 60 s.
        let mut sent = Vec::new();
        let mut refused = 0;
        for i in 0..400i64 {
            let now = t(i * 7 % 13 + i * 3);
            if sent.last().is_some_and(|l| *l > now) {
                continue;
            }
            let nth = nth_newest(&sent, 5, w, now);
            assert_eq!(nth.is_none(), admits(&sent, 5, w, now), "at {now}");
            match nth {
                None => sent.push(now),
                Some(n) => {
                    refused += 1;
                    // Admitted exactly after the Retry-After, not a second before.
                    let after = seconds_until_out(n, w, now);
                    let then = now + Duration::seconds(after as i64);
                    assert!(admits(&sent, 5, w, then), "at {now} + {after}");
                    if after > 1 {
                        let before = then - Duration::seconds(1);
                        assert!(!admits(&sent, 5, w, before), "at {now} + {after} - 1");
                    }
                }
            }
            // Never more than 5 in any window.
            assert!(sent.iter().filter(|s| now - **s < w).count() <= 5);
        }
        assert!(refused > 50 && sent.len() > 50, "{refused} {}", sent.len());
    }

    #[test]
    fn prefixes_masks_and_countries() {
        assert_eq!(prefix_of("+41790000099", 8), "+41790000");
        assert_eq!(prefix_of("+4179", 8), "+4179");
        assert_eq!(masked("+41790000099", 8), "+4179000…");
        assert_eq!(masked("+14155550100", 4), "+1415…");
        assert!(!masked("+41790000099", 14).contains("0099"));

        let codes = vec!["41".to_string(), "1".to_string()];
        assert!(country_allowed("+41790000001", &codes));
        assert!(country_allowed("+14155550100", &codes));
        assert!(!country_allowed("+4915112345678", &codes));
        assert!(country_allowed("+4915112345678", &[]));

        let raw = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_countries(&raw(&["49", "+41", " 1 ", "41"])).unwrap(),
            vec!["1", "41", "49"]
        );
        for bad in ["", "0", "041", "1234", "4", "4a", "+"] {
            let e = parse_countries(&raw(&[bad])).unwrap_err();
            assert_eq!(e.field, "allowed", "{bad:?}");
        }
        assert!(parse_countries(&raw(&["7", "352"])).is_ok());
    }

    fn load(toml: &str) -> Result<Config, crate::config::ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, toml).unwrap();
        Config::load(Some(&f), Vec::new(), &Overrides::default())
    }

    #[test]
    fn config_defaults_and_validation() {
        let d = load("").unwrap().sms.limits;
        assert_eq!((d.per_number.max, d.per_number.window_seconds), (5, 900));
        assert_eq!(
            (
                d.per_prefix.digits,
                d.per_prefix.max,
                d.per_prefix.window_seconds
            ),
            (8, 100, 3600)
        );
        assert_eq!((d.per_account_hour, d.per_account_day), (1000, 10_000));
        assert!(d.allowed_countries.is_empty());

        let c = load(
            "[sms.limits]\nper_number = { max = 3 }\nper_prefix = { digits = 9, max = 0 }\n\
             per_account_hour = 50\nallowed_countries = [\"41\", \"1\"]\n",
        )
        .unwrap()
        .sms
        .limits;
        assert_eq!((c.per_number.max, c.per_number.window_seconds), (3, 900));
        assert_eq!((c.per_prefix.digits, c.per_prefix.max), (9, 0));
        assert_eq!((c.per_account_hour, c.per_account_day), (50, 10_000));

        for bad in [
            "[sms.limits]\nper_numbr = { max = 3 }",
            "[sms.limits]\nper_number = { max = 3, window = 60 }",
            "[sms.limits]\nper_number = { max = 3, window_seconds = 0 }",
            "[sms.limits]\nper_prefix = { digits = 1 }",
            "[sms.limits]\nper_prefix = { window_seconds = 999999999 }",
            "[sms.limits]\nallowed_countries = [\"0041\"]",
            "[sms.limits]\nallowed_countries = [\"4\"]",
            "[sms.limits]\nper_account_day = 99999999999",
        ] {
            assert!(load(bad).is_err(), "{bad}");
        }
        // A limit that is off needs no window.
        assert!(load("[sms.limits]\nper_number = { max = 0, window_seconds = 0 }").is_ok());
    }
}
