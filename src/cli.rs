//! The scriptable subcommands besides `serve`: each prints a human summary,
//! or JSON with `--json`.

use crate::app::open_data_dir;
use crate::config::Config;
use crate::domain::Actor;
use crate::service;
use crate::store::{Scope, Store};
use chrono::Utc;
use serde::Serialize;

fn store(config: &Config) -> anyhow::Result<Store> {
    Ok(open_data_dir(&config.data_dir())?.1)
}

fn print<T: Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce(&T) -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        println!("{}", human(value));
    }
    Ok(())
}

pub fn account_create(config: &Config, name: &str, json: bool) -> anyhow::Result<()> {
    let a = service::create_account(&store(config)?, name, &Actor::Cli, Utc::now())?;
    print(json, &a, |a| {
        format!(
            "account_id: {}\nauth_key:   {}   ({})\nmanage_key: {}   ({})\nThe keys are shown only now; store them safely.",
            a.account_id, a.auth_key, a.auth_key_id, a.manage_key, a.manage_key_id
        )
    })
}

/// `flexsecure operator create`: an operator without a password and the
/// one-time link where it chooses one.
pub fn operator_create(
    config: &Config,
    username: &str,
    account: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let role = match account {
        Some(a) => crate::domain::OperatorRole::Account(a),
        None => crate::domain::OperatorRole::Appliance,
    };
    let url = config.public_url(config.listen_addr()?);
    let link = service::create_operator(&store(config)?, &url, username, role, Utc::now())?;
    let v = serde_json::json!({ "username": username.trim().to_lowercase(), "setup_link": link });
    print(json, &v, |_| {
        format!("Operator created. Send this one-time link (valid 24 h) to choose a password:\n  {link}")
    })
}

pub fn apikey_create(
    config: &Config,
    account: &str,
    scope: Scope,
    json: bool,
) -> anyhow::Result<()> {
    let k = service::create_api_key(&store(config)?, account, scope, &Actor::Cli, Utc::now())?;
    print(json, &k, |k| {
        format!(
            "key_id: {}\nscope:  {}\nkey:    {}\nThe key is shown only now.",
            k.key_id,
            k.scope.as_str(),
            k.key
        )
    })
}

pub fn apikey_list(config: &Config, account: &str, json: bool) -> anyhow::Result<()> {
    let keys = service::list_api_keys(&store(config)?, account)?;
    print(json, &keys, |keys| {
        let mut out = format!(
            "{:<22} {:<7} {:<12} {:<25} revoked",
            "key_id", "scope", "prefix", "created"
        );
        for k in keys {
            out.push_str(&format!(
                "\n{:<22} {:<7} {:<12} {:<25} {}",
                k.key_id,
                k.scope.as_str(),
                k.prefix,
                k.created_at.to_rfc3339(),
                k.revoked_at
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_else(|| "-".into())
            ));
        }
        out
    })
}

pub fn apikey_revoke(config: &Config, key_id: &str, json: bool) -> anyhow::Result<()> {
    let k = service::revoke_api_key(&store(config)?, key_id, &Actor::Cli, Utc::now())?;
    print(json, &k, |k| format!("revoked {}", k.key_id))
}

/// `flexsecure serve`: builds the application and serves until stopped.
pub fn serve(config: Config) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let app =
            crate::app::Application::build(config, std::sync::Arc::new(crate::clock::SystemClock))
                .await?;
        tracing::info!(
            listen = %app.addr(),
            public_url = app.public_url(),
            data_dir = %app.data_dir().display(),
            "flexsecure serving"
        );
        app.run_until_stopped().await
    })
}

/// `flexsecure check-config`: the effective settings, or the first error.
pub fn check_config(config: &Config, json: bool) -> anyhow::Result<()> {
    let listen = config.listen_addr()?;
    let v = serde_json::json!({
        "ok": true,
        "listen": listen.to_string(),
        "public_url": config.public_url(listen),
        "data_dir": config.data_dir(),
        "sms_console_path": config.sms.console.path,
    });
    print(json, &v, |v| {
        format!(
            "configuration OK\nlisten:      {}\npublic_url:  {}\ndata_dir:    {}\nsms console: {}",
            v["listen"].as_str().unwrap_or_default(),
            v["public_url"].as_str().unwrap_or_default(),
            config.data_dir().display(),
            config
                .sms
                .console
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "standard output".into())
        )
    })
}

/// How long the CLI waits for a modem to come up.
const MODEM_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

fn wait_modem(h: &crate::sms::modem::driver::ModemHandle) {
    use crate::sms::modem::driver::ModemState;
    let until = std::time::Instant::now() + MODEM_WAIT;
    while std::time::Instant::now() < until {
        let st = h.status();
        let cannot_open = st.state == ModemState::Closed
            && st
                .last_error
                .as_deref()
                .is_some_and(|e| e.starts_with("cannot open"));
        if st.healthy() || st.state == ModemState::SimBlocked || cannot_open {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `flexsecure modem probe --port PATH`: opens and initialises one modem and
/// prints what it reports. The SIM PIN is taken from a configured modem on
/// the same port. The port must not be in use by a running server.
pub fn modem_probe(
    config: &Config,
    port: &std::path::Path,
    baud: Option<u32>,
    json: bool,
) -> anyhow::Result<()> {
    use crate::sms::modem::driver::{self, ModemSettings, Timeouts};
    if !port.exists() {
        anyhow::bail!("{} does not exist; the modem is not ready", port.display());
    }
    let configured = config.sms.modem.iter().find(|m| m.port == port);
    let settings = ModemSettings {
        name: configured
            .map(|m| m.name.clone())
            .unwrap_or_else(|| "probe".into()),
        port: port.to_path_buf(),
        baud: baud.or(configured.map(|m| m.baud)).unwrap_or(115_200),
        sim_pin: configured.and_then(|m| m.sim_pin.clone()),
        smsc: None,
        priority: 0,
        timeouts: Timeouts::default(),
    };
    let h = driver::spawn(settings, std::sync::Arc::new(|_| {}))?;
    wait_modem(&h);
    let st = h.status();
    h.stop();
    print(json, &st, |st| {
        let o = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        format!(
            "port:         {}\nstate:        {:?}\nmanufacturer: {}\nmodel:        {}\nIMEI:         {}\nSIM:          {}\nregistration: {}\nsignal:       {}\noperator:     {}\nlast error:   {}",
            st.port,
            st.state,
            o(&st.manufacturer),
            o(&st.model),
            o(&st.imei),
            o(&st.sim),
            st.registration.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
            st.signal.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
            o(&st.operator),
            o(&st.last_error),
        )
    })?;
    if st.healthy() {
        Ok(())
    } else {
        anyhow::bail!("the modem on {} is not ready", port.display())
    }
}

/// `flexsecure sms send --to NUMBER --text TEXT`: one SMS through the
/// configured channels (modems, else the console), bypassing the outbox.
pub fn sms_send(config: &Config, to: &str, text: &str, json: bool) -> anyhow::Result<()> {
    let to = crate::domain::PhoneNumber::parse(to)?;
    if text.is_empty() || text.chars().count() > 1600 {
        anyhow::bail!("text must be 1 to 1600 characters");
    }
    let clock: std::sync::Arc<dyn crate::clock::Clock> =
        std::sync::Arc::new(crate::clock::SystemClock);
    use crate::sms::router::{BreakerConfig, Router, Verdict};
    let crate::sms::Channels {
        routes: channels,
        modems,
    } = crate::sms::from_config(
        &config.sms,
        clock,
        std::sync::Arc::new(|_| {}),
        &config.public_url(config.listen_addr()?),
    )?;
    for m in &modems {
        wait_modem(m);
    }
    let router = Router::new(channels, BreakerConfig::default());
    let sms = crate::sms::OutgoingSms {
        id: 0,
        to: to.as_str().into(),
        text: text.into(),
        deadline: None,
    };
    let d = router.dispatch(&sms, || true);
    for m in &modems {
        m.stop();
    }
    let (outcome, channel, detail) = match &d.verdict {
        Verdict::Sent {
            channel,
            provider_id,
        } => ("sent", Some(channel.clone()), provider_id.clone()),
        Verdict::Unknown { channel, error } => {
            ("unknown", Some(channel.clone()), Some(error.clone()))
        }
        Verdict::Retry(e) => ("failed_retryable", None, Some(e.clone())),
        Verdict::Failed(e) => ("failed_permanent", None, Some(e.clone())),
        Verdict::Expired => ("expired", None, None),
    };
    let attempts: Vec<String> = d
        .attempts
        .iter()
        .map(|a| format!("{}: {:?}", a.channel, a.outcome))
        .collect();
    let v = serde_json::json!({
        "to": to.as_str(), "channel": channel, "outcome": outcome, "detail": detail, "attempts": attempts
    });
    print(json, &v, |_| {
        format!(
            "{outcome} via {} {}",
            channel.clone().unwrap_or_else(|| "-".into()),
            detail.clone().unwrap_or_default()
        )
    })?;
    match d.verdict {
        Verdict::Sent { .. } => Ok(()),
        _ => anyhow::bail!("the SMS was not confirmed as sent"),
    }
}

/// `flexsecure sms queue`: the outbox by status and channel, and the age of
/// the oldest message still waiting. Works beside a running server.
pub fn sms_queue(config: &Config, json: bool) -> anyhow::Result<()> {
    let summary = store(config)?.read_blocking(|db| db.queue_summary())?;
    let now = Utc::now();
    let age = summary
        .oldest_waiting
        .map(|t| (now - t).num_seconds().max(0));
    let v = serde_json::json!({
        "by_status_and_channel": summary.by_status_and_channel,
        "oldest_waiting_seconds": age,
        "possible_duplicates": summary.possible_duplicates,
    });
    print(json, &v, |_| {
        let mut out = format!("{:<10} {:<24} {:>8}", "status", "channel", "count");
        for c in &summary.by_status_and_channel {
            out.push_str(&format!(
                "\n{:<10} {:<24} {:>8}",
                c.status,
                c.channel.as_deref().unwrap_or("-"),
                c.count
            ));
        }
        out.push_str(&format!(
            "\noldest waiting: {}\npossible duplicates: {}",
            age.map(|s| format!("{s} s"))
                .unwrap_or_else(|| "none".into()),
            summary.possible_duplicates
        ));
        out
    })
}

/// `flexsecure keys rotate`: a new signing key for login assertions. Works
/// beside a running server, which picks the key up on its own.
pub fn keys_rotate(config: &Config, json: bool) -> anyhow::Result<()> {
    let k = crate::signing::Signer::rotate(&config.data_dir(), Utc::now())?;
    print(json, &k, |k| {
        let window = crate::signing::ASSERTION_TTL_SECONDS + crate::signing::LEEWAY_SECONDS;
        format!(
            "new signing key: {}\nA running server picks it up within a few seconds (no restart needed).\nThe previous key stays published until {} (the {} s assertion lifetime plus {} s leeway), so assertions it signed can be verified until they expire.",
            k.kid,
            (k.created_at + chrono::Duration::seconds(window)).to_rfc3339(),
            crate::signing::ASSERTION_TTL_SECONDS,
            crate::signing::LEEWAY_SECONDS,
        )
    })
}

/// `flexsecure keys list`: the signing keys, newest (active) first.
pub fn keys_list(config: &Config, json: bool) -> anyhow::Result<()> {
    let now = Utc::now();
    let keys = crate::signing::Signer::list(&config.data_dir(), now)?;
    print(json, &keys, |keys| {
        if keys.is_empty() {
            return "no signing keys yet (the server creates one on start)".into();
        }
        let mut out = format!("{:<20} {:<27} status", "kid", "created");
        for k in keys {
            let status = match k.published_until {
                None => "active (signs new assertions)".to_string(),
                Some(t) if t > now => format!("published until {}", t.to_rfc3339()),
                Some(t) => format!(
                    "unpublished since {} (deleted at the next rotation)",
                    t.to_rfc3339()
                ),
            };
            out.push_str(&format!(
                "\n{:<20} {:<27} {}",
                k.kid,
                k.created_at.to_rfc3339(),
                status
            ));
        }
        out
    })
}

/// `flexsecure audit`: the audit log, newest first (every account's unless
/// `--account`). Works beside a running server.
pub fn audit(
    config: &Config,
    account: Option<&str>,
    action: Option<&str>,
    limit: Option<u32>,
    json: bool,
) -> anyhow::Result<()> {
    let scope = match account {
        Some(a) => service::AuditScope::Account(a.to_string()),
        None => service::AuditScope::All,
    };
    let q = service::AuditQuery {
        action: action.map(str::to_string),
        limit,
        ..Default::default()
    };
    let page = service::read_audit_log(&store(config)?, scope, q)?;
    print(json, &page, |page| {
        let mut out = format!(
            "{:<6} {:<24} {:<22} {:<20} {:<21} {:<34} {:<12} detail",
            "id", "at", "actor", "action", "account", "target", "outcome"
        );
        for e in &page.entries {
            out.push_str(&format!(
                "\n{:<6} {:<24} {:<22} {:<20} {:<21} {:<34} {:<12} {}",
                e.id,
                e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                e.actor,
                e.action,
                e.account_id.as_deref().unwrap_or("-"),
                e.target.as_deref().unwrap_or("-"),
                e.outcome,
                e.detail.as_ref().map(|d| d.to_string()).unwrap_or_default()
            ));
        }
        if let Some(b) = page.next_before {
            out.push_str(&format!("\n(more: older entries before id {b})"));
        }
        out
    })
}

/// Environment variable that may hold the passphrase of a backup.
pub const BACKUP_PASSPHRASE_ENV: &str = "FLEXSECURE_BACKUP_PASSPHRASE";

/// The passphrase of a backup: the contents of `file` (one trailing line
/// break removed), else `env` (the value of FLEXSECURE_BACKUP_PASSPHRASE),
/// else none. Never from the command line, where `ps` would show it.
pub fn backup_passphrase(
    file: Option<&std::path::Path>,
    env: Option<String>,
) -> anyhow::Result<Option<String>> {
    use anyhow::Context;
    let (mut pass, from) = match (file, env) {
        (Some(f), _) => (
            std::fs::read_to_string(f)
                .with_context(|| format!("reading the passphrase file {}", f.display()))?,
            format!("the passphrase file {}", f.display()),
        ),
        (None, Some(v)) => (v, BACKUP_PASSPHRASE_ENV.to_string()),
        (None, None) => return Ok(None),
    };
    if pass.ends_with('\n') {
        pass.pop();
        if pass.ends_with('\r') {
            pass.pop();
        }
    }
    if pass.is_empty() {
        anyhow::bail!("{from} is empty");
    }
    Ok(Some(pass))
}

fn passphrase_from(file: Option<&std::path::Path>) -> anyhow::Result<Option<String>> {
    backup_passphrase(file, std::env::var(BACKUP_PASSPHRASE_ENV).ok())
}

/// `flexsecure backup FILE`: a backup of the data directory, taken beside a
/// running server.
pub fn backup(
    config: &Config,
    file: &std::path::Path,
    passphrase_file: Option<&std::path::Path>,
    json: bool,
) -> anyhow::Result<()> {
    let pass = passphrase_from(passphrase_file)?;
    let r = crate::ops::backup(&config.data_dir(), file, pass.as_deref())?;
    if !r.encrypted {
        eprintln!(
            "warning: {} is not encrypted: it holds the server key and the signing keys in clear. \
             Keep it as private as the data directory, or give a passphrase (--passphrase-file).",
            r.archive.display()
        );
    }
    print(json, &r, |r| {
        let names: Vec<&str> = r.files.iter().map(|f| f.name.as_str()).collect();
        format!(
            "backup written: {}\n{} bytes, {}; database as of {} (schema version {})\nfiles: {}",
            r.archive.display(),
            r.bytes,
            if r.encrypted {
                "encrypted"
            } else {
                "NOT encrypted"
            },
            r.created_at.to_rfc3339(),
            r.schema_version,
            names.join(", ")
        )
    })
}

/// `flexsecure restore FILE`: the backup's database and keys into the data
/// directory (the server stopped).
pub fn restore(
    config: &Config,
    file: &std::path::Path,
    passphrase_file: Option<&std::path::Path>,
    force: bool,
    json: bool,
) -> anyhow::Result<()> {
    let pass = passphrase_from(passphrase_file)?;
    let r = crate::ops::restore(file, &config.data_dir(), pass.as_deref(), force)?;
    print(json, &r, |r| {
        format!(
            "restored {} into {}\nbackup taken {} by flexsecure {} (schema version {}); integrity_check: {}\n\
             Everything is as it was at that time: accounts, API keys, operators, users, systems and policies. \
             Keys and operators revoked or deleted since are back; anything created since is gone.",
            r.archive.display(),
            r.data_dir.display(),
            r.backup_created_at.to_rfc3339(),
            r.backup_flexsecure_version,
            r.schema_version,
            r.integrity_check
        )
    })
}

/// `flexsecure db check`: fails (non-zero exit) when the check finds a problem.
pub fn db_check(config: &Config, json: bool) -> anyhow::Result<()> {
    let r = crate::ops::check(&config.data_dir())?;
    print(json, &r, |r| {
        let mut out = format!(
            "database:        {}\nschema version:  {} (this binary: {})\nintegrity_check: {}\nforeign_key_check: {} violation(s)",
            r.database.display(),
            r.schema_version,
            r.supported_schema_version,
            if r.integrity == ["ok"] { "ok".to_string() } else { format!("{} problem(s)", r.integrity.len()) },
            r.foreign_key_violations.len()
        );
        for line in r.integrity.iter().filter(|l| *l != "ok").take(20) {
            out.push_str(&format!("\n  {line}"));
        }
        for v in r.foreign_key_violations.iter().take(20) {
            out.push_str(&format!(
                "\n  {} rowid {} refers to a missing {}",
                v.table,
                v.rowid.map(|i| i.to_string()).unwrap_or_else(|| "-".into()),
                v.parent
            ));
        }
        out.push_str(if r.ok { "\nOK" } else { "\nPROBLEMS FOUND" });
        out
    })?;
    if r.ok {
        Ok(())
    } else {
        anyhow::bail!(
            "the database check found problems: {}",
            r.problems.join("; ")
        )
    }
}

#[cfg(test)]
mod backup_cli_tests {
    #[test]
    fn passphrase_comes_from_the_file_then_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pass");
        std::fs::write(&f, "two words \r\n").unwrap();
        let from_file = super::backup_passphrase(Some(&f), Some("env".into())).unwrap();
        assert_eq!(from_file.as_deref(), Some("two words "));
        let from_env = super::backup_passphrase(None, Some("env".into())).unwrap();
        assert_eq!(from_env.as_deref(), Some("env"));
        assert_eq!(super::backup_passphrase(None, None).unwrap(), None);
        std::fs::write(&f, "\n").unwrap();
        assert!(super::backup_passphrase(Some(&f), None).is_err());
        assert!(super::backup_passphrase(Some(&dir.path().join("none")), None).is_err());
    }
}
