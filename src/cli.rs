//! The scriptable subcommands besides `serve`: each prints a human summary,
//! or JSON with `--json`.

use crate::app::open_data_dir;
use crate::config::Config;
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
    let a = service::create_account(&store(config)?, name, Utc::now())?;
    print(json, &a, |a| {
        format!(
            "account_id: {}\nauth_key:   {}   ({})\nmanage_key: {}   ({})\nThe keys are shown only now; store them safely.",
            a.account_id, a.auth_key, a.auth_key_id, a.manage_key, a.manage_key_id
        )
    })
}

pub fn apikey_create(
    config: &Config,
    account: &str,
    scope: Scope,
    json: bool,
) -> anyhow::Result<()> {
    let k = service::create_api_key(&store(config)?, account, scope, Utc::now())?;
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
    let k = service::revoke_api_key(&store(config)?, key_id, Utc::now())?;
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
