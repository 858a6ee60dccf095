//! Signing keys on disk: one JSON file per key in `<data_dir>/signing-keys/`
//! (directory 0700, files 0600, each written atomically), and the in-memory
//! key set built from them. Everything here does file I/O: callers run it on
//! blocking threads (or in the CLI), never on async workers.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Name of the key directory inside the data directory.
pub const KEYS_DIR: &str = "signing-keys";
/// A key file is a few hundred bytes; anything much larger is not one.
const MAX_FILE_BYTES: u64 = 16 * 1024;
/// Created-at values outside 1970..=9999 are treated as corrupt.
const MAX_CREATED_AT: i64 = 253_402_300_799;

/// The JSON form of a key file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    kid: String,
    alg: String,
    created_at: i64,
    seed: String,
}

/// One key read from (or about to be written to) the key directory.
pub(crate) struct StoredKey {
    pub kid: String,
    pub created_at: DateTime<Utc>,
    pub signing: SigningKey,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl StoredKey {
    /// A fresh key with a random seed and kid (`k_` + 16 hex characters),
    /// created at `created_at` truncated to whole seconds (as stored).
    pub fn generate(created_at: DateTime<Utc>) -> Self {
        let secs = created_at.timestamp();
        Self {
            kid: crate::crypto::random_id("k", 8),
            created_at: DateTime::from_timestamp(secs, 0).unwrap_or(created_at),
            signing: SigningKey::from_bytes(&crate::crypto::random_bytes::<32>()),
        }
    }

    fn to_json(&self) -> io::Result<Vec<u8>> {
        let file = KeyFile {
            kid: self.kid.clone(),
            alg: "EdDSA".into(),
            created_at: self.created_at.timestamp(),
            seed: URL_SAFE_NO_PAD.encode(self.signing.to_bytes()),
        };
        serde_json::to_vec_pretty(&file).map_err(io::Error::other)
    }

    /// Parses a key file; `stem` is its file name without `.json`.
    fn parse(stem: &str, text: &[u8]) -> Result<Self, String> {
        let f: KeyFile = serde_json::from_slice(text).map_err(|e| e.to_string())?;
        if f.alg != "EdDSA" {
            return Err(format!("unsupported alg {:?}", f.alg));
        }
        if f.kid != stem {
            return Err(format!("kid {:?} does not match the file name", f.kid));
        }
        if !valid_kid(&f.kid) {
            return Err("kid is not 1-64 characters of [A-Za-z0-9_-]".into());
        }
        let created_at = (0..=MAX_CREATED_AT)
            .contains(&f.created_at)
            .then(|| DateTime::from_timestamp(f.created_at, 0))
            .flatten()
            .ok_or("created_at out of range")?;
        let seed: [u8; 32] = URL_SAFE_NO_PAD
            .decode(f.seed.trim_end_matches('='))
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or("seed is not 32 bytes of base64url")?;
        Ok(Self {
            kid: f.kid,
            created_at,
            signing: SigningKey::from_bytes(&seed),
        })
    }
}

fn valid_kid(kid: &str) -> bool {
    (1..=64).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The key directory of a data directory.
pub(crate) fn dir_of(data_dir: &Path) -> PathBuf {
    data_dir.join(KEYS_DIR)
}

/// Creates the key directory (mode 0700) if needed and restricts an existing
/// one that is more open.
pub(crate) fn ensure_dir(dir: &Path) -> io::Result<()> {
    crate::blocking::check("signing key directory");
    let mut b = fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    // A data directory created here is private too, as the server makes it.
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.exists() {
            b.recursive(true).create(parent)?;
            b.recursive(false);
        }
    }
    match b.create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = fs::metadata(dir)?.permissions().mode() & 0o777;
                if mode != 0o700 {
                    tracing::warn!(dir = %dir.display(), mode = format!("{mode:o}"),
                        "signing key directory is not mode 0700; restricting it");
                    if let Err(e) = fs::set_permissions(dir, fs::Permissions::from_mode(0o700)) {
                        tracing::warn!(dir = %dir.display(), error = %e,
                            "cannot restrict the signing key directory");
                    }
                }
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Writes a key file atomically: a private temp file, fsync, rename, fsync
/// of the directory. A reader sees either no file or the whole file.
pub(crate) fn write_key(dir: &Path, key: &StoredKey) -> io::Result<()> {
    crate::blocking::check("signing key file");
    let tmp = dir.join(format!(".{}.json.tmp", key.kid));
    let path = dir.join(format!("{}.json", key.kid));
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let written = (|| {
        let mut f = opts.open(&tmp)?;
        f.write_all(&key.to_json()?)?;
        f.sync_all()?;
        fs::rename(&tmp, &path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    sync_dir(dir)
}

/// Removes a key file (the caller fsyncs the directory afterwards).
pub(crate) fn remove_key(dir: &Path, kid: &str) -> io::Result<()> {
    fs::remove_file(dir.join(format!("{kid}.json")))
}

pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Reads every valid key file of the directory, newest first (by created_at,
/// then kid). Unknown and corrupt files are logged and skipped; hidden files
/// (temp files of a write in progress) are skipped silently. A missing
/// directory holds no keys.
pub(crate) fn load(dir: &Path) -> io::Result<Vec<StoredKey>> {
    crate::blocking::check("signing key files");
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut keys = Vec::new();
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let Some(stem) = name.strip_suffix(".json") else {
            tracing::warn!(file = %path.display(), "unknown file in the signing key directory; skipped");
            continue;
        };
        match read_small(&path).and_then(|text| StoredKey::parse(stem, &text)) {
            Ok(key) => {
                warn_if_open(&path);
                keys.push(key);
            }
            Err(reason) => {
                tracing::warn!(file = %path.display(), %reason, "unreadable signing key file; skipped")
            }
        }
    }
    sort_newest_first(&mut keys);
    Ok(keys)
}

pub(crate) fn sort_newest_first(keys: &mut [StoredKey]) {
    keys.sort_by(|a, b| (b.created_at, &b.kid).cmp(&(a.created_at, &a.kid)));
}

fn read_small(path: &Path) -> Result<Vec<u8>, String> {
    let f = fs::File::open(path).map_err(|e| e.to_string())?;
    let mut text = Vec::new();
    f.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(|e| e.to_string())?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err("file too large for a key file".into());
    }
    Ok(text)
}

/// A key file readable by others is still used, with a warning.
fn warn_if_open(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = fs::metadata(path) {
            let mode = m.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(file = %path.display(), mode = format!("{mode:o}"),
                    "signing key file is readable by others (expected mode 0600)");
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// What `refresh` compares to decide whether to re-read the directory: its
/// mtime and every entry's name, size and mtime.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    dir_mtime: Option<SystemTime>,
    entries: Vec<(String, u64, Option<SystemTime>)>,
}

pub(crate) fn fingerprint(dir: &Path) -> io::Result<Fingerprint> {
    crate::blocking::check("signing key directory");
    let dir_mtime = fs::metadata(dir)?.modified().ok();
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // A file removed between read_dir and metadata shows as size 0.
        let (size, mtime) = entry
            .metadata()
            .map(|m| (m.len(), m.modified().ok()))
            .unwrap_or((0, None));
        entries.push((name, size, mtime));
    }
    entries.sort();
    Ok(Fingerprint { dir_mtime, entries })
}
