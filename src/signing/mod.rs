//! Signed login results: an Ed25519-signed JWT ("assertion") that a system's
//! back end can verify offline against the appliance's published keys
//! (`/v2/jwks.json`), and rotation of those keys.
//!
//! Keys live in `<data_dir>/signing-keys/`, one `<kid>.json` file each (see
//! [`keys`]). The newest key (by `created_at`, ties by the larger kid) signs.
//! An older key stays published until its successor is
//! `ASSERTION_TTL_SECONDS + LEEWAY_SECONDS` old, so every assertion it signed
//! can be verified until it has expired. `flexsecure keys rotate` writes a new
//! key into the directory; a running server notices it through [`Signer::refresh`]
//! (called every 2 s by `jobs::keys`), so no restart is needed.
//!
//! [`Signer::sign`] and [`Signer::jwks`] touch no files and may run on async
//! workers; `open`, `rotate`, `list` and `refresh` do file I/O and must not.

mod jws;
mod keys;
#[cfg(test)]
mod tests;

pub use keys::KEYS_DIR;

use anyhow::Context;
use chrono::{DateTime, Utc};
use keys::{Fingerprint, StoredKey};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// Lifetime of an assertion (`exp - iat`).
pub const ASSERTION_TTL_SECONDS: i64 = 300;
/// Clock skew allowed to verifiers, added to the publication window.
pub const LEEWAY_SECONDS: i64 = 60;
/// How long an older key stays published after its successor's creation.
const PUBLISH_WINDOW_SECONDS: i64 = ASSERTION_TTL_SECONDS + LEEWAY_SECONDS;

/// The claims of a signed login result.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Assertion {
    /// The appliance's public URL.
    pub iss: String,
    /// The user's email.
    pub sub: String,
    /// The system's name.
    pub aud: String,
    /// Authentication methods (RFC 8176 values).
    pub amr: Vec<String>,
    pub acr: String,
    /// When the user completed authentication (Unix seconds).
    pub auth_time: i64,
    pub iat: i64,
    /// `iat + ASSERTION_TTL_SECONDS`.
    pub exp: i64,
    /// The authentication's request_id.
    pub jti: String,
}

/// One key as shown by `flexsecure keys list`.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct KeyInfo {
    pub kid: String,
    pub created_at: DateTime<Utc>,
    /// Whether this key signs new assertions.
    pub active: bool,
    /// For an older key, when it stops being published (its successor's
    /// `created_at` plus 360 s); `None` for the active key.
    pub published_until: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("cannot encode the assertion: {0}")]
    Encode(#[from] serde_json::Error),
}

/// A non-empty set of keys, newest (the signing key) first.
pub struct KeySet {
    keys: Vec<StoredKey>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // StoredKey's Debug shows kid and created_at only, never the seed.
        f.debug_list().entries(&self.keys).finish()
    }
}

impl KeySet {
    /// `keys` must be sorted newest first; `None` when empty.
    fn new(keys: Vec<StoredKey>) -> Option<Self> {
        (!keys.is_empty()).then_some(Self { keys })
    }

    fn signing(&self) -> &StoredKey {
        &self.keys[0]
    }

    /// The kid of the key that signs new assertions.
    pub fn signing_kid(&self) -> &str {
        &self.signing().kid
    }

    /// Each key with the end of its publication window (`None`: the signing key).
    fn windows(&self) -> impl Iterator<Item = (&StoredKey, Option<i64>)> {
        let succ = std::iter::once(None).chain(self.keys.iter().map(Some));
        self.keys.iter().zip(succ).map(|(k, s)| {
            let until = s.map(|s| s.created_at.timestamp() + PUBLISH_WINDOW_SECONDS);
            (k, until)
        })
    }

    /// Published keys at `now`: the signing key, and every older key whose
    /// successor was created less than 360 s before `now` (or after `now`,
    /// when the clock is behind the key's creation).
    fn published(&self, now: DateTime<Utc>) -> impl Iterator<Item = &StoredKey> {
        let now = now.timestamp();
        self.windows()
            .filter(move |(_, until)| until.is_none_or(|u| now < u))
            .map(|(k, _)| k)
    }

    fn infos(&self) -> Vec<KeyInfo> {
        self.windows()
            .map(|(k, until)| KeyInfo {
                kid: k.kid.clone(),
                created_at: k.created_at,
                active: until.is_none(),
                published_until: until.and_then(|u| DateTime::from_timestamp(u, 0)),
            })
            .collect()
    }

    fn ids(&self) -> Vec<(&str, DateTime<Utc>)> {
        self.keys
            .iter()
            .map(|k| (k.kid.as_str(), k.created_at))
            .collect()
    }
}

/// Signs assertions with the current key set; share it as `Arc<Signer>`.
pub struct Signer {
    dir: PathBuf,
    current: RwLock<Arc<KeySet>>,
    /// The directory as last read; the mutex also serialises refreshes.
    seen: Mutex<Fingerprint>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("dir", &self.dir)
            .field("keys", &self.keys())
            .finish()
    }
}

impl Signer {
    /// Reads the key directory of `data_dir`, creating it and a first key
    /// when there is no valid key. Blocking.
    pub fn open(data_dir: &Path, now: DateTime<Utc>) -> anyhow::Result<Signer> {
        let dir = keys::dir_of(data_dir);
        let (set, seen) = load_or_create(&dir, now)?;
        Ok(Signer {
            dir,
            current: RwLock::new(Arc::new(set)),
            seen: Mutex::new(seen),
        })
    }

    /// Writes a new key, which becomes the signing key, then deletes the key
    /// files that are no longer published (never the newest two). On a data
    /// directory without keys it first creates the initial key, as `open`
    /// would, so the result is always a rotation. Safe to run while a server
    /// uses the same directory: it picks the new key up on its next refresh.
    /// Blocking.
    pub fn rotate(data_dir: &Path, now: DateTime<Utc>) -> anyhow::Result<KeyInfo> {
        let dir = keys::dir_of(data_dir);
        let (set, _) = load_or_create(&dir, now)?;
        // The new key must sort first even if the newest one is dated in the
        // future (clock set back) or in this very second.
        let newest = set.signing().created_at.timestamp();
        let created_at = now.timestamp().max(newest + 1);
        let created_at = DateTime::from_timestamp(created_at, 0).unwrap_or(now);
        let key = StoredKey::generate(created_at);
        keys::write_key(&dir, &key)
            .with_context(|| format!("writing a key in {}", dir.display()))?;
        let kid = key.kid.clone();
        let mut all = set.keys;
        all.push(key);
        keys::sort_newest_first(&mut all);
        let set = KeySet { keys: all };

        let published: Vec<&str> = set.published(now).map(|k| k.kid.as_str()).collect();
        let mut removed = false;
        for k in set.keys.iter().skip(2) {
            if published.contains(&k.kid.as_str()) {
                continue;
            }
            match keys::remove_key(&dir, &k.kid) {
                Ok(()) => {
                    removed = true;
                    tracing::info!(kid = %k.kid, "deleted a signing key no longer published");
                }
                Err(e) => {
                    tracing::warn!(kid = %k.kid, error = %e, "cannot delete an old signing key")
                }
            }
        }
        if removed {
            keys::sync_dir(&dir).with_context(|| format!("syncing {}", dir.display()))?;
        }
        set.infos()
            .into_iter()
            .find(|i| i.kid == kid)
            .context("the new key is missing from the key set")
    }

    /// The valid keys of `data_dir`, newest first; empty when there is none
    /// (listing never creates a key). `published_until` is absolute, so `now`
    /// does not change the result; a key whose `published_until` is before
    /// `now` is no longer in the JWKS and is deleted by the next rotation.
    /// Blocking.
    pub fn list(data_dir: &Path, _now: DateTime<Utc>) -> anyhow::Result<Vec<KeyInfo>> {
        let dir = keys::dir_of(data_dir);
        let all = keys::load(&dir).with_context(|| format!("reading keys in {}", dir.display()))?;
        Ok(KeySet::new(all).map(|s| s.infos()).unwrap_or_default())
    }

    /// Re-reads the key directory if it changed since the last read and
    /// returns whether the key set changed. When the directory has no valid
    /// key any more, the keys in memory stay in use and an error is returned
    /// (once per change of the directory). Blocking.
    pub fn refresh(&self) -> anyhow::Result<bool> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let now_seen = keys::fingerprint(&self.dir)
            .with_context(|| format!("reading {}", self.dir.display()))?;
        if *seen == now_seen {
            return Ok(false);
        }
        let loaded = keys::load(&self.dir)
            .with_context(|| format!("reading keys in {}", self.dir.display()))?;
        *seen = now_seen;
        let set = KeySet::new(loaded).with_context(|| {
            format!(
                "{} holds no valid signing key; still using the keys in memory",
                self.dir.display()
            )
        })?;
        let old = self.keys();
        if old.ids() == set.ids() {
            return Ok(false);
        }
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
        Ok(true)
    }

    /// The current key set (the lock is held only to clone the `Arc`).
    pub fn keys(&self) -> Arc<KeySet> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The kid of the key that signs new assertions.
    pub fn signing_kid(&self) -> String {
        self.keys().signing_kid().to_string()
    }

    /// A compact JWS (JWT) of `claims`, signed with the newest key. No I/O.
    pub fn sign(&self, claims: &Assertion) -> Result<String, SigningError> {
        let set = self.keys();
        let key = set.signing();
        Ok(jws::encode(&key.kid, &key.signing, claims)?)
    }

    /// The published public keys as a JWK Set, the signing key first. No I/O.
    pub fn jwks(&self, now: DateTime<Utc>) -> serde_json::Value {
        let set = self.keys();
        let keys: Vec<_> = set
            .published(now)
            .map(|k| jws::jwk(&k.kid, &k.signing.verifying_key()))
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

/// Reads the directory (creating it) and, when it holds no valid key, writes
/// a first one. Returns the key set and the fingerprint taken before reading.
fn load_or_create(dir: &Path, now: DateTime<Utc>) -> anyhow::Result<(KeySet, Fingerprint)> {
    keys::ensure_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    let seen = keys::fingerprint(dir).with_context(|| format!("reading {}", dir.display()))?;
    let loaded = keys::load(dir).with_context(|| format!("reading keys in {}", dir.display()))?;
    if let Some(set) = KeySet::new(loaded) {
        return Ok((set, seen));
    }
    let key = StoredKey::generate(now);
    keys::write_key(dir, &key).with_context(|| format!("writing a key in {}", dir.display()))?;
    tracing::info!(kid = %key.kid, "created the first signing key");
    let seen = keys::fingerprint(dir).with_context(|| format!("reading {}", dir.display()))?;
    Ok((KeySet { keys: vec![key] }, seen))
}
