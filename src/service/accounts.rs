//! Accounts and API keys (CLI only: a key is the root of an account's access).

use super::{audit, Error, Services};
use crate::crypto;
use crate::domain::{Actor, Factor, Name, NameKind, PolicySpec};
use crate::store::{ApiKeyRow, Db, Scope, Store};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Key material is shown once, at creation; only its SHA-256 is stored.
#[derive(Debug, Clone, Serialize)]
pub struct NewApiKey {
    pub key_id: String,
    pub scope: Scope,
    pub key: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct NewAccount {
    pub account_id: String,
    pub name: String,
    pub auth_key: String,
    pub auth_key_id: String,
    pub manage_key: String,
    pub manage_key_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApiKeyInfo {
    pub key_id: String,
    pub account_id: String,
    pub scope: Scope,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyRow> for ApiKeyInfo {
    fn from(r: ApiKeyRow) -> Self {
        Self {
            key_id: r.id,
            account_id: r.account_id,
            scope: r.scope,
            prefix: r.prefix,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
        }
    }
}

/// A caller authenticated by an API key.
#[derive(Debug, Clone)]
pub struct KeyIdentity {
    pub key_id: String,
    pub account_id: String,
    pub scope: Scope,
}

fn new_key(
    db: &Db<'_>,
    account_id: &str,
    scope: Scope,
    now: DateTime<Utc>,
) -> Result<NewApiKey, Error> {
    // 256 random bits; the prefix only helps people tell keys apart.
    let key = format!("fsk_{}", crypto::random_token::<32>());
    let key_id = crypto::random_id("key", 8);
    let prefix: String = key.chars().take(10).collect();
    db.insert_api_key(
        &key_id,
        account_id,
        scope,
        &crypto::sha256(key.as_bytes()),
        &prefix,
        now,
    )?;
    Ok(NewApiKey { key_id, scope, key })
}

/// Account and key administration, used by the CLI on its own store handle
/// (`actor` is then `Actor::Cli`). Each change is recorded in the audit log,
/// in its transaction; key ids are recorded, never keys.
pub fn create_account(
    store: &Store,
    name: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<NewAccount, Error> {
    let name = Name::parse(NameKind::Account, name)?;
    let actor = actor.clone();
    store.write_blocking(move |db| {
        let account_id = crypto::random_id("acc", 8);
        db.insert_account(&account_id, name.as_str(), now)?;
        for f in [Factor::Passwordless, Factor::Pin] {
            db.insert_policy(&account_id, f.as_str(), &PolicySpec::builtin(f), true, now)?;
        }
        let auth = new_key(db, &account_id, Scope::Auth, now)?;
        let manage = new_key(db, &account_id, Scope::Manage, now)?;
        db.audit(
            &audit::entry(
                &actor,
                Some(&account_id),
                "account.create",
                format!("account:{account_id}"),
                "ok",
                now,
            )
            .with_detail(serde_json::json!({
                "name": name.as_str(),
                "auth_key_id": auth.key_id,
                "manage_key_id": manage.key_id,
            })),
        )?;
        Ok(NewAccount {
            account_id,
            name: name.as_str().to_string(),
            auth_key: auth.key,
            auth_key_id: auth.key_id,
            manage_key: manage.key,
            manage_key_id: manage.key_id,
        })
    })
}

pub fn create_api_key(
    store: &Store,
    account_id: &str,
    scope: Scope,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<NewApiKey, Error> {
    let (account_id, actor) = (account_id.to_string(), actor.clone());
    store.write_blocking(move |db| {
        db.account(&account_id)?.ok_or_else(|| {
            Error::not_found("account_not_found", format!("no account {account_id}"))
        })?;
        let k = new_key(db, &account_id, scope, now)?;
        db.audit(
            &audit::entry(
                &actor,
                Some(&account_id),
                "apikey.create",
                format!("key:{}", k.key_id),
                "ok",
                now,
            )
            .with_detail(serde_json::json!({"scope": scope.as_str()})),
        )?;
        Ok(k)
    })
}

pub fn list_api_keys(store: &Store, account_id: &str) -> Result<Vec<ApiKeyInfo>, Error> {
    store.read_blocking(|db| {
        db.account(account_id)?.ok_or_else(|| {
            Error::not_found("account_not_found", format!("no account {account_id}"))
        })?;
        Ok(db
            .api_keys(account_id)?
            .into_iter()
            .map(ApiKeyInfo::from)
            .collect())
    })
}

pub fn revoke_api_key(
    store: &Store,
    key_id: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<ApiKeyInfo, Error> {
    let (key_id, actor) = (key_id.to_string(), actor.clone());
    store.write_blocking(move |db| {
        let k = db
            .revoke_api_key(&key_id, now)?
            .map(ApiKeyInfo::from)
            .ok_or_else(|| Error::not_found("api_key_not_found", format!("no API key {key_id}")))?;
        // Revoking a revoked key changes nothing.
        let revoked_now =
            k.revoked_at.map(|t| t.timestamp_millis()) == Some(now.timestamp_millis());
        db.audit(
            &audit::entry(
                &actor,
                Some(&k.account_id),
                "apikey.revoke",
                format!("key:{key_id}"),
                if revoked_now { "ok" } else { "unchanged" },
                now,
            )
            .with_detail(serde_json::json!({"scope": k.scope.as_str()})),
        )?;
        Ok(k)
    })
}

impl Services {
    /// Looks up a presented key by its SHA-256 (keys are high-entropy, so no
    /// slow hash is needed); None for unknown or revoked keys.
    pub async fn identify_key(&self, presented: &str) -> Result<Option<KeyIdentity>, Error> {
        if presented.len() > 128 {
            return Ok(None);
        }
        if let Some(hit) = self.keys.get(presented) {
            return Ok(Some(hit));
        }
        let p = presented.to_string();
        let found = self
            .store
            .read(move |db| {
                let hash = crypto::sha256(p.as_bytes());
                Ok::<_, Error>(db.api_key_by_hash(&hash)?.map(|r| KeyIdentity {
                    key_id: r.id,
                    account_id: r.account_id,
                    scope: r.scope,
                }))
            })
            .await?;
        if let Some(id) = &found {
            self.keys.put(presented, id.clone());
        }
        Ok(found)
    }

    /// Forgets every cached key, so a revocation made in this process
    /// counts at once (one made by another process counts within
    /// [`KEY_CACHE_SECONDS`]).
    pub fn forget_keys(&self) {
        self.keys.clear();
    }
}

/// How long a looked-up API key is trusted without asking the database
/// again: a key revoked by the CLI (another process) stops working within
/// this time; revoked in the admin UI, at once.
pub const KEY_CACHE_SECONDS: u64 = 2;
/// Keys remembered at most; the cache starts over when full.
const KEY_CACHE_MAX: usize = 10_000;

/// Known API keys, by the key as presented: a request needs no database
/// read and no blocking-thread hop to learn who calls. Unknown keys are not
/// remembered (so guessing cannot fill the cache).
#[derive(Debug, Default)]
pub struct KeyCache(
    std::sync::Mutex<std::collections::HashMap<String, (KeyIdentity, std::time::Instant)>>,
);

impl KeyCache {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        std::collections::HashMap<String, (KeyIdentity, std::time::Instant)>,
    > {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, presented: &str) -> Option<KeyIdentity> {
        let ttl = std::time::Duration::from_secs(KEY_CACHE_SECONDS);
        let map = self.lock();
        map.get(presented)
            .filter(|(_, at)| at.elapsed() < ttl)
            .map(|(id, _)| id.clone())
    }

    fn put(&self, presented: &str, id: KeyIdentity) {
        let mut map = self.lock();
        if map.len() >= KEY_CACHE_MAX {
            map.clear();
        }
        map.insert(presented.to_string(), (id, std::time::Instant::now()));
    }

    fn clear(&self) {
        self.lock().clear();
    }
}
