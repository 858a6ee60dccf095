//! Operators of the admin UI: first-run and per-operator setup links,
//! password login with throttling, sessions with idle and absolute
//! timeouts, CSRF tokens bound to the session.

use super::audit::entry;
use super::{Error, Services};
use crate::crypto::{self, ServerKey};
use crate::domain::{check_password, parse_username, Actor, Invalid, OperatorRole};
use crate::store::{OperatorRow, Store};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::OnceLock;

/// A session ends after this long without a request...
pub const SESSION_IDLE_SECONDS: i64 = 30 * 60;
/// ...and this long after the login, whatever happens.
pub const SESSION_ABSOLUTE_SECONDS: i64 = 12 * 3600;
/// A setup link works this long, once.
pub const SETUP_LINK_SECONDS: i64 = 24 * 3600;
/// `last_seen_at` is written at most this often (a page view is then no write).
const TOUCH_EVERY_SECONDS: i64 = 60;
/// Failed logins per username, and per client address, within the window
/// before further attempts wait.
pub const MAX_FAILURES_PER_NAME: usize = 5;
pub const MAX_FAILURES_PER_ADDRESS: usize = 20;
pub const THROTTLE_WINDOW_SECONDS: i64 = 15 * 60;

/// A logged-in operator, as the admin pages see it.
#[derive(Debug, Clone)]
pub struct OperatorSession {
    pub operator_id: i64,
    pub username: String,
    pub role: OperatorRole,
    /// The token every form of this session must carry.
    pub csrf: String,
}

impl OperatorSession {
    pub fn actor(&self) -> Actor {
        Actor::Operator(self.username.clone())
    }
}

/// A new session: the cookie value (shown once, kept only as a hash).
#[derive(Debug)]
pub struct NewSession {
    pub cookie: String,
}

/// What the setup page needs to show.
#[derive(Debug, Clone)]
pub struct SetupView {
    /// The first operator: the page also asks for the username.
    pub first_operator: bool,
    pub username: Option<String>,
}

/// Recent login failures per username and per address, in memory: a
/// restart forgets them, which only gives an attacker one fresh window.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    by_name: HashMap<String, Vec<DateTime<Utc>>>,
    by_address: HashMap<IpAddr, Vec<DateTime<Utc>>>,
}

impl LoginThrottle {
    /// Drops failures older than the window (later ones are kept: the
    /// clock may be stepped back).
    fn prune(list: &mut Vec<DateTime<Utc>>, now: DateTime<Utc>) {
        let start = now - Duration::seconds(THROTTLE_WINDOW_SECONDS);
        list.retain(|t| *t > start);
    }

    /// Seconds to wait before another attempt, if any.
    fn wait(&mut self, name: &str, ip: Option<IpAddr>, now: DateTime<Utc>) -> Option<u64> {
        let mut worst = None;
        let mut check = |list: &mut Vec<DateTime<Utc>>, max: usize| {
            Self::prune(list, now);
            if list.iter().filter(|t| **t <= now).count() >= max {
                let oldest = list.iter().min().copied().unwrap_or(now);
                let until = oldest + Duration::seconds(THROTTLE_WINDOW_SECONDS);
                let s = (until - now).num_seconds().max(1) as u64;
                worst = Some(worst.map_or(s, |w: u64| w.max(s)));
            }
        };
        if let Some(list) = self.by_name.get_mut(name) {
            check(list, MAX_FAILURES_PER_NAME);
        }
        if let Some(list) = ip.and_then(|ip| self.by_address.get_mut(&ip)) {
            check(list, MAX_FAILURES_PER_ADDRESS);
        }
        worst
    }

    fn fail(&mut self, name: &str, ip: Option<IpAddr>, now: DateTime<Utc>) {
        // Bounded memory: forget everything rather than grow without end.
        if self.by_name.len() > 100_000 || self.by_address.len() > 100_000 {
            self.by_name.clear();
            self.by_address.clear();
        }
        self.by_name.entry(name.to_string()).or_default().push(now);
        if let Some(ip) = ip {
            self.by_address.entry(ip).or_default().push(now);
        }
    }

    fn succeed(&mut self, name: &str) {
        self.by_name.remove(name);
    }
}

fn hash_of(token: &str) -> [u8; 32] {
    crypto::sha256(token.as_bytes())
}

fn csrf_of(key: &ServerKey, cookie: &str) -> String {
    hex::encode(key.mac(&[b"csrf", cookie.as_bytes()]))
}

fn setup_link(public_url: &str, token: &str) -> String {
    format!("{public_url}/admin/setup/{token}")
}

fn invalid_link() -> Error {
    Error::not_found(
        "setup_link_invalid",
        "this setup link is unknown, used or expired",
    )
}

fn bad_credentials() -> Error {
    Error::Forbidden {
        code: "invalid_credentials",
        message: "wrong username or password".into(),
    }
}

/// A hash to check unknown usernames against, so that they take as long as
/// known ones.
fn dummy_hash() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| crypto::hash_password(&crypto::random_token::<16>()).unwrap_or_default())
}

/// Creates an operator without a password and a one-time link to choose it
/// (`flexsecure operator create`). Blocking: for the CLI.
pub fn create_operator(
    store: &Store,
    public_url: &str,
    username: &str,
    role: OperatorRole,
    now: DateTime<Utc>,
) -> Result<String, Error> {
    let username = parse_username(username)?;
    let token = crypto::random_token::<32>();
    let t = token.clone();
    store.write_blocking(move |db| {
        let hash = hash_of(&t);
        if let OperatorRole::Account(a) = &role {
            if db.account(a)?.is_none() {
                return Err(Error::not_found(
                    "account_not_found",
                    format!("no account {a}"),
                ));
            }
        }
        if db.operator_by_name(&username)?.is_some() {
            return Err(Error::conflict(
                "operator_exists",
                format!("an operator named {username} exists"),
            ));
        }
        let id = db.insert_operator(&username, None, &role, now)?;
        db.insert_setup_token(
            &hash,
            Some(id),
            now,
            now + Duration::seconds(SETUP_LINK_SECONDS),
        )?;
        let account = match &role {
            OperatorRole::Account(a) => Some(a.as_str()),
            OperatorRole::Appliance => None,
        };
        db.audit(&entry(
            &Actor::Cli,
            account,
            "operator.create",
            Some(format!("operator:{username}")),
            "ok",
            now,
        ))?;
        Ok(())
    })?;
    Ok(setup_link(public_url, &token))
}

impl Services {
    /// When no operator exists yet: a fresh one-time link to create the
    /// first (appliance) operator, for `serve` to print. `None` otherwise.
    pub async fn first_run_setup_link(&self, now: DateTime<Utc>) -> Result<Option<String>, Error> {
        let token = crypto::random_token::<32>();
        let t = token.clone();
        let created = self
            .store
            .write(move |db| {
                if db.operator_count()? > 0 {
                    return Ok::<_, Error>(false);
                }
                db.insert_setup_token(
                    &hash_of(&t),
                    None,
                    now,
                    now + Duration::seconds(SETUP_LINK_SECONDS),
                )?;
                Ok(true)
            })
            .await?;
        Ok(created.then(|| setup_link(&self.public_url, &token)))
    }

    pub async fn setup_view(&self, token: &str, now: DateTime<Utc>) -> Result<SetupView, Error> {
        let token = token.to_string();
        self.store
            .read(move |db| {
                let t = db.setup_token(&hash_of(&token))?.ok_or_else(invalid_link)?;
                if t.used || now >= t.expires_at {
                    return Err(invalid_link());
                }
                let username = match t.operator_id {
                    Some(id) => Some(db.operator_by_id(id)?.ok_or_else(invalid_link)?.username),
                    None => None,
                };
                Ok(SetupView {
                    first_operator: t.operator_id.is_none(),
                    username,
                })
            })
            .await
    }

    /// Sets the password through a setup link (and, for the first operator,
    /// creates it with `username`). The link works once.
    pub async fn complete_setup(
        &self,
        token: &str,
        username: Option<&str>,
        password: &str,
        now: DateTime<Utc>,
    ) -> Result<String, Error> {
        let view = self.setup_view(token, now).await?;
        let username = match (&view.username, username) {
            (Some(u), _) => u.clone(),
            (None, Some(u)) => parse_username(u)?,
            (None, None) => return Err(Invalid::new("username", "is required").into()),
        };
        check_password(password, &username)?;
        let pw = password.to_string();
        // argon2 is slow on purpose: its own blocking thread, not the writer.
        let hash = crate::blocking::run(move || crypto::hash_password(&pw))
            .await
            .map_err(|e| Error::Internal(e.to_string()))?
            .map_err(|e| Error::Internal(e.to_string()))?;
        let token = token.to_string();
        let name = username.clone();
        self.store
            .write(move |db| {
                let th = hash_of(&token);
                let t = db.setup_token(&th)?.ok_or_else(invalid_link)?;
                if t.used || now >= t.expires_at || !db.use_setup_token(&th, now)? {
                    return Err(invalid_link());
                }
                let (id, role) = match t.operator_id {
                    Some(id) => {
                        let op = db.operator_by_id(id)?.ok_or_else(invalid_link)?;
                        db.set_operator_password(id, &hash, now)?;
                        (op.id, op.role)
                    }
                    None => {
                        // Two first-run links, two tabs: only one first operator.
                        if db.operator_count()? > 0 {
                            return Err(invalid_link());
                        }
                        let role = OperatorRole::Appliance;
                        (db.insert_operator(&name, Some(&hash), &role, now)?, role)
                    }
                };
                let account = match &role {
                    OperatorRole::Account(a) => Some(a.clone()),
                    OperatorRole::Appliance => None,
                };
                db.audit(&entry(
                    &Actor::Operator(name.clone()),
                    account.as_deref(),
                    "operator.setup",
                    Some(format!("operator:{name}")),
                    "ok",
                    now,
                ))?;
                let _ = id;
                Ok(())
            })
            .await?;
        Ok(username)
    }

    /// Checks the password and opens a session. Throttled per username and
    /// per client address; unknown names take as long as known ones.
    pub async fn operator_login(
        &self,
        username: &str,
        password: &str,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<NewSession, Error> {
        let name = username.trim().to_lowercase();
        if name.is_empty() || name.len() > 200 || password.len() > 1024 {
            return Err(bad_credentials());
        }
        let wait = self
            .throttle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .wait(&name, ip, now);
        if let Some(retry_after) = wait {
            return Err(Error::RateLimited { retry_after });
        }
        let n = name.clone();
        let op = self.store.read(move |db| db.operator_by_name(&n)).await?;
        let usable = op
            .as_ref()
            .filter(|o| !o.disabled && o.password_hash.is_some());
        let phc = usable.and_then(|o| o.password_hash.clone());
        let pw = password.to_string();
        let ok = crate::blocking::run(move || {
            let phc = phc.unwrap_or_else(|| dummy_hash().to_string());
            crypto::verify_password(&pw, &phc)
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
        let Some(op) = usable.filter(|_| ok).cloned() else {
            self.throttle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .fail(&name, ip, now);
            let n = name.clone();
            self.store
                .write(move |db| {
                    db.audit(&entry(
                        &Actor::Operator(n.clone()),
                        None,
                        "operator.login",
                        Some(format!("operator:{n}")),
                        "refused",
                        now,
                    ))
                })
                .await?;
            return Err(bad_credentials());
        };
        self.throttle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .succeed(&name);
        // A new id at every login: a session id planted before cannot be used.
        let cookie = crypto::random_token::<32>();
        let c = cookie.clone();
        self.store
            .write(move |db| {
                db.insert_session(&hash_of(&c), op.id, now)?;
                let account = match &op.role {
                    OperatorRole::Account(a) => Some(a.as_str()),
                    OperatorRole::Appliance => None,
                };
                db.audit(&entry(
                    &Actor::Operator(op.username.clone()),
                    account,
                    "operator.login",
                    Some(format!("operator:{}", op.username)),
                    "ok",
                    now,
                ))
            })
            .await?;
        Ok(NewSession { cookie })
    }

    /// The session a cookie stands for, if it is live: not revoked, used in
    /// the last 30 minutes, younger than 12 hours, its operator enabled.
    pub async fn operator_session(
        &self,
        cookie: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<OperatorSession>, Error> {
        if cookie.is_empty() || cookie.len() > 100 {
            return Ok(None);
        }
        let svc = self.clone();
        let c = cookie.to_string();
        let found = self
            .store
            .read(move |db| {
                let h = hash_of(&c);
                let Some(s) = db.session(&h)? else {
                    return Ok::<_, Error>(None);
                };
                let live = !s.revoked
                    && !s.operator.disabled
                    && s.operator.password_hash.is_some()
                    && now - s.last_seen_at < Duration::seconds(SESSION_IDLE_SECONDS)
                    && now - s.created_at < Duration::seconds(SESSION_ABSOLUTE_SECONDS)
                    && s.created_at <= now;
                Ok(live.then(|| (s, h, csrf_of(&svc.key, &c))))
            })
            .await?;
        let Some((s, h, csrf)) = found else {
            return Ok(None);
        };
        if now - s.last_seen_at >= Duration::seconds(TOUCH_EVERY_SECONDS) {
            self.store
                .write(move |db| db.touch_session(&h, now))
                .await?;
        }
        let OperatorRow {
            id, username, role, ..
        } = s.operator;
        Ok(Some(OperatorSession {
            operator_id: id,
            username,
            role,
            csrf,
        }))
    }

    /// Ends the session: its cookie no longer works, even if kept.
    pub async fn operator_logout(&self, cookie: &str, now: DateTime<Utc>) -> Result<(), Error> {
        let c = cookie.to_string();
        self.store
            .write(move |db| db.revoke_session(&hash_of(&c), now))
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn throttle_per_name_and_address() {
        let mut th = LoginThrottle::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for i in 0..MAX_FAILURES_PER_NAME as i64 {
            assert_eq!(th.wait("ann", Some(ip), t0()), None);
            th.fail("ann", Some(ip), t0() + Duration::seconds(i));
        }
        let w = th.wait("ann", None, t0() + Duration::seconds(10)).unwrap();
        assert_eq!(w, THROTTLE_WINDOW_SECONDS as u64 - 10);
        // Another name from the same address is still allowed...
        assert_eq!(th.wait("bob", Some(ip), t0()), None);
        // ...until the address has failed too often.
        for i in 0..MAX_FAILURES_PER_ADDRESS as i64 {
            th.fail(&format!("u{i}"), Some(ip), t0());
        }
        assert!(th.wait("bob", Some(ip), t0()).is_some());
        assert_eq!(th.wait("bob", None, t0()), None);
        // The window passes.
        let later = t0() + Duration::seconds(THROTTLE_WINDOW_SECONDS + 60);
        assert_eq!(th.wait("ann", Some(ip), later), None);
        // A success clears the name.
        th.fail("cid", None, t0());
        th.succeed("cid");
        assert!(!th.by_name.contains_key("cid"));
    }
}
