//! `flexsecure backup FILE` and `flexsecure restore FILE`: the database (a
//! consistent snapshot taken with SQLite's online backup API while the server
//! runs), `server.key` and every file of `signing-keys/`, in one archive
//! (format in [`super::archive`]), encrypted when a passphrase is given.

use super::archive::{self, ArchiveReader, ArchiveWriter, Header, Item, Key, KDF_WRITE};
use super::check::{integrity_problems, open_existing, user_version};
use super::{create_private_dir, lock, restrict_dir, DataDirLock, OpsError};
use crate::crypto::SERVER_KEY_FILE;
use crate::signing::KEYS_DIR;
use crate::store::DB_FILE;
use chrono::{DateTime, Utc};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Largest server key or signing key file taken into (or out of) a backup.
const MAX_KEY_FILE: u64 = 64 * 1024;

/// One file in an archive, by its path inside the data directory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ArchivedFile {
    pub name: String,
    pub size: u64,
}

/// The archive's first entry.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    format: u16,
    created_at: DateTime<Utc>,
    flexsecure_version: String,
    schema_version: i64,
    files: Vec<ArchivedFile>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    pub archive: PathBuf,
    /// Size of the archive file.
    pub bytes: u64,
    /// Sealed with a passphrase; otherwise the archive holds the server key
    /// and the signing keys in clear.
    pub encrypted: bool,
    /// When the database snapshot was taken.
    pub created_at: DateTime<Utc>,
    pub schema_version: i64,
    pub files: Vec<ArchivedFile>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub data_dir: PathBuf,
    pub archive: PathBuf,
    pub encrypted: bool,
    /// When the backup was taken: every account, API key, operator and
    /// session is as it was then.
    pub backup_created_at: DateTime<Utc>,
    pub backup_flexsecure_version: String,
    pub schema_version: i64,
    pub files: Vec<ArchivedFile>,
    /// The data directory held files before (`--force`); its database and
    /// keys were replaced.
    pub replaced_existing: bool,
    /// `PRAGMA integrity_check` of the restored database: "ok".
    pub integrity_check: String,
}

/// Writes a backup of `data_dir` to `out` (replacing it atomically), sealed
/// with `passphrase` when given; mode 0600 either way. Safe beside a running
/// server: the database is copied from one read transaction (WAL readers
/// never block the writer) and checked (`quick_check`) before it is archived.
pub fn backup(
    data_dir: &Path,
    out: &Path,
    passphrase: Option<&str>,
) -> Result<BackupReport, OpsError> {
    crate::blocking::check("backup");
    if passphrase.is_some_and(str::is_empty) {
        return Err(OpsError::Invalid("the passphrase is empty".into()));
    }
    let db = data_dir.join(DB_FILE);
    if !db.is_file() {
        return Err(OpsError::NoData(data_dir.to_path_buf(), DB_FILE));
    }
    let key_path = data_dir.join(SERVER_KEY_FILE);
    let server_key = match read_small(&key_path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(OpsError::NoData(data_dir.to_path_buf(), SERVER_KEY_FILE))
        }
        other => other.map_err(|e| OpsError::io(&key_path, e))?,
    };
    let signing = read_signing_keys(&data_dir.join(KEYS_DIR))?;

    let name = out
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| OpsError::Invalid(format!("{} does not name a file", out.display())))?;
    let out_dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !out_dir.is_dir() {
        return Err(OpsError::Invalid(format!(
            "{} is not a directory",
            out_dir.display()
        )));
    }
    let tag = hex::encode(crate::crypto::random_bytes::<6>());
    let tmp_db = out_dir.join(format!(".{name}.{tag}.db"));
    let tmp_out = out_dir.join(format!(".{name}.{tag}.tmp"));
    let _cleanup = Cleanup(
        ["", "-journal", "-wal", "-shm"]
            .iter()
            .map(|s| PathBuf::from(format!("{}{s}", tmp_db.display())))
            .chain([tmp_out.clone()])
            .collect(),
    );

    let created_at = Utc::now();
    let schema_version = snapshot(&db, &tmp_db)?;
    let db_size = fs::metadata(&tmp_db)
        .map_err(|e| OpsError::io(&tmp_db, e))?
        .len();
    let mut files = vec![
        ArchivedFile {
            name: DB_FILE.into(),
            size: db_size,
        },
        ArchivedFile {
            name: SERVER_KEY_FILE.into(),
            size: server_key.len() as u64,
        },
    ];
    files.extend(signing.iter().map(|(n, d)| ArchivedFile {
        name: n.clone(),
        size: d.len() as u64,
    }));
    let manifest = Manifest {
        format: archive::VERSION,
        created_at,
        flexsecure_version: env!("CARGO_PKG_VERSION").into(),
        schema_version,
        files: files.clone(),
    };
    let json = serde_json::to_vec(&manifest).map_err(|e| OpsError::Invalid(e.to_string()))?;

    let file = create_private(&tmp_out)?;
    let written = (|| -> Result<File, OpsError> {
        let io_err = |e| OpsError::io(&tmp_out, e);
        let mut w = ArchiveWriter::new(BufWriter::new(file), passphrase, KDF_WRITE)?;
        archive::write_manifest(&mut w, &json).map_err(io_err)?;
        let mut snap = File::open(&tmp_db).map_err(|e| OpsError::io(&tmp_db, e))?;
        archive::write_file(&mut w, DB_FILE, db_size, &mut snap).map_err(io_err)?;
        archive::write_file(
            &mut w,
            SERVER_KEY_FILE,
            server_key.len() as u64,
            &mut server_key.as_slice(),
        )
        .map_err(io_err)?;
        for (n, d) in &signing {
            archive::write_file(&mut w, n, d.len() as u64, &mut d.as_slice()).map_err(io_err)?;
        }
        archive::write_end(&mut w).map_err(io_err)?;
        let file = w
            .finish()
            .map_err(io_err)?
            .into_inner()
            .map_err(|e| io_err(e.into_error()))?;
        file.sync_all().map_err(io_err)?;
        Ok(file)
    })()?;
    let bytes = written
        .metadata()
        .map_err(|e| OpsError::io(&tmp_out, e))?
        .len();
    fs::rename(&tmp_out, out).map_err(|e| OpsError::io(out, e))?;
    sync_dir(&out_dir)?;
    Ok(BackupReport {
        archive: out.to_path_buf(),
        bytes,
        encrypted: passphrase.is_some(),
        created_at,
        schema_version,
        files,
    })
}

/// Copies the live database into `tmp` with the online backup API and
/// checks the copy; returns its schema version.
fn snapshot(db: &Path, tmp: &Path) -> Result<i64, OpsError> {
    let src = open_existing(db)?;
    drop(create_private(tmp)?);
    let sq = |e| OpsError::sqlite(tmp, e);
    let mut dst = Connection::open(tmp).map_err(sq)?;
    {
        let b = Backup::new(&src, &mut dst).map_err(sq)?;
        // Every page in one step: one read transaction, so one consistent
        // snapshot, and never restarted by the server's commits (a step of
        // a few pages would start over after each one).
        let mut done = false;
        for _ in 0..200 {
            match b.step(-1).map_err(sq)? {
                StepResult::Done => {
                    done = true;
                    break;
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        if !done {
            return Err(OpsError::Invalid(
                "the database stayed busy for 10 s; no backup was written".into(),
            ));
        }
    }
    // A plain rollback-journal file: the copy stands alone, no -wal beside it.
    dst.pragma_update(None, "journal_mode", "DELETE")
        .map_err(sq)?;
    let problems = integrity_problems(&dst, "quick_check");
    if !problems.is_empty() {
        return Err(OpsError::SourceDamaged(problems));
    }
    let version = user_version(&dst).map_err(sq)?;
    dst.close().map_err(|(_, e)| sq(e))?;
    Ok(version)
}

/// Restores a backup into `data_dir`. Refused while a process holds the
/// data directory's lock, and into a directory with files in it unless
/// `force`. The whole archive is read and authenticated before anything is
/// written; then the files are written (0600, directories 0700) into a
/// staging directory, the database passes `PRAGMA integrity_check`, and only
/// then do they replace the directory's database (and its `-wal`/`-shm`),
/// `server.key` and `signing-keys/`. Other files are left alone.
pub fn restore(
    archive_path: &Path,
    data_dir: &Path,
    passphrase: Option<&str>,
    force: bool,
) -> Result<RestoreReport, OpsError> {
    crate::blocking::check("restore");
    refuse_if_locked(data_dir)?;
    let existing = existing_entries(data_dir)?;
    if !existing.is_empty() && !force {
        return Err(OpsError::NotEmpty(data_dir.to_path_buf()));
    }

    // Pass 1: authenticate and parse everything, write nothing.
    let (header, key, reader) = open_archive(archive_path, passphrase)?;
    let (manifest, files) = read_payload(reader, |name, data| {
        if name == SERVER_KEY_FILE {
            let mut text = Vec::new();
            let n = data.read_to_end(&mut text)?;
            if !valid_server_key(&text) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "server.key in the backup is not a server key",
                ));
            }
            return Ok(n as u64);
        }
        io::copy(data, &mut io::sink())
    })?;

    // Pass 2: the same bytes into a staging directory inside the data dir.
    create_private_dir(data_dir)?;
    restrict_dir(data_dir)?;
    let _lock = DataDirLock::acquire(data_dir)?;
    let staging = data_dir.join(format!(
        ".restore-{}",
        hex::encode(crate::crypto::random_bytes::<6>())
    ));
    let _cleanup = CleanupDir(staging.clone());
    make_private_dir(&staging)?;
    make_private_dir(&staging.join(KEYS_DIR))?;
    let (header2, _, reader) = open_archive_with(archive_path, key.clone(), passphrase)?;
    if header2.bytes != header.bytes {
        return Err(OpsError::Damaged(
            "the file changed during the restore".into(),
        ));
    }
    let (_, files2) = read_payload(reader, |name, data| {
        let path = staging.join(name);
        let mut f = io::BufWriter::new(create_private(&path).map_err(io::Error::other)?);
        let n = io::copy(data, &mut f)?;
        f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        Ok(n)
    })?;
    if files2 != files {
        return Err(OpsError::Damaged(
            "the file changed during the restore".into(),
        ));
    }
    sync_dir(&staging.join(KEYS_DIR))?;
    sync_dir(&staging)?;

    let staged_db = staging.join(DB_FILE);
    let (problems, schema_version) = {
        let conn = open_existing(&staged_db)?;
        let problems = integrity_problems(&conn, "integrity_check");
        (problems, user_version(&conn).unwrap_or(-1))
    };
    if !problems.is_empty() {
        return Err(OpsError::Integrity(problems));
    }

    // Into place. The old database's WAL must go first: replayed onto the
    // restored file it would corrupt it.
    for suffix in ["-wal", "-shm", "-journal"] {
        let p = data_dir.join(format!("{DB_FILE}{suffix}"));
        match fs::remove_file(&p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(OpsError::io(&p, e)),
            _ => {}
        }
    }
    let mv = |from: &Path, to: &Path| fs::rename(from, to).map_err(|e| OpsError::io(to, e));
    mv(&staged_db, &data_dir.join(DB_FILE))?;
    mv(
        &staging.join(SERVER_KEY_FILE),
        &data_dir.join(SERVER_KEY_FILE),
    )?;
    let keys = data_dir.join(KEYS_DIR);
    if keys.exists() {
        mv(&keys, &staging.join("old-signing-keys"))?;
    }
    mv(&staging.join(KEYS_DIR), &keys)?;
    sync_dir(data_dir)?;
    Ok(RestoreReport {
        data_dir: data_dir.to_path_buf(),
        archive: archive_path.to_path_buf(),
        encrypted: header.encrypted(),
        backup_created_at: manifest.created_at,
        backup_flexsecure_version: manifest.flexsecure_version,
        schema_version,
        files,
        replaced_existing: !existing.is_empty(),
        integrity_check: "ok".into(),
    })
}

fn refuse_if_locked(data_dir: &Path) -> Result<(), OpsError> {
    match lock::holder(data_dir) {
        Ok(None) => Ok(()),
        Ok(Some(pid)) => Err(OpsError::Locked(data_dir.to_path_buf(), pid)),
        Err(e) => Err(OpsError::io(&data_dir.join(super::LOCK_FILE), e)),
    }
}

/// The names in `dir` other than the lock file; none when it is missing.
fn existing_entries(dir: &Path) -> Result<Vec<String>, OpsError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(OpsError::io(dir, e)),
    };
    let mut names = Vec::new();
    for e in entries {
        let name = e
            .map_err(|e| OpsError::io(dir, e))?
            .file_name()
            .to_string_lossy()
            .into_owned();
        if name != super::LOCK_FILE {
            names.push(name);
        }
    }
    Ok(names)
}

type Reader = ArchiveReader<BufReader<File>>;

fn open_archive(
    path: &Path,
    passphrase: Option<&str>,
) -> Result<(Header, Option<Key>, Reader), OpsError> {
    open_archive_with(path, None, passphrase)
}

/// Opens an archive and checks the passphrase (argon2id, unless `key` was
/// derived already from the same header).
fn open_archive_with(
    path: &Path,
    key: Option<Key>,
    passphrase: Option<&str>,
) -> Result<(Header, Option<Key>, Reader), OpsError> {
    let file = File::open(path).map_err(|e| OpsError::io(path, e))?;
    let mut r = BufReader::new(file);
    let header = Header::read(&mut r)
        .map_err(|e| archive::read_error(&path.display().to_string(), e))?
        .ok_or_else(|| OpsError::NotAnArchive(path.to_path_buf()))?;
    if header.version() != archive::VERSION {
        return Err(OpsError::UnsupportedVersion(header.version()));
    }
    let key = match key {
        Some(k) => Some(k),
        None => header.key(passphrase)?,
    };
    let reader = ArchiveReader::new(r, &header, key.clone())?;
    Ok((header, key, reader))
}

/// Reads the manifest and every entry, handing each file's bytes to
/// `on_file` (which must consume them all), then checks the end. Entry
/// names must be ones a backup writes, once each, matching the manifest.
fn read_payload(
    mut r: Reader,
    mut on_file: impl FnMut(&str, &mut dyn Read) -> io::Result<u64>,
) -> Result<(Manifest, Vec<ArchivedFile>), OpsError> {
    let what = "reading the backup";
    let err = |e| archive::read_error(what, e);
    let manifest: Manifest = match archive::read_item(&mut r).map_err(err)? {
        Item::Manifest(json) => serde_json::from_slice(&json)
            .map_err(|e| OpsError::Damaged(format!("manifest: {e}")))?,
        _ => return Err(OpsError::Damaged("no manifest".into())),
    };
    let mut files: Vec<ArchivedFile> = Vec::new();
    loop {
        match archive::read_item(&mut r).map_err(err)? {
            Item::File { name, size } => {
                if !valid_entry_name(&name) {
                    return Err(OpsError::Damaged(format!("unexpected entry {name:?}")));
                }
                if files.iter().any(|f| f.name == name) {
                    return Err(OpsError::Damaged(format!("entry {name:?} twice")));
                }
                if name != DB_FILE && size > MAX_KEY_FILE {
                    return Err(OpsError::Damaged(format!("entry {name:?} too large")));
                }
                let mut part = (&mut r).take(size);
                let n = on_file(&name, &mut part).map_err(err)?;
                if n != size {
                    return Err(OpsError::Damaged("cut off".into()));
                }
                files.push(ArchivedFile { name, size });
            }
            Item::End => break,
            Item::Manifest(_) => return Err(OpsError::Damaged("a second manifest".into())),
        }
    }
    r.finish()?;
    for needed in [DB_FILE, SERVER_KEY_FILE] {
        if !files.iter().any(|f| f.name == needed) {
            return Err(OpsError::Damaged(format!("{needed} is missing")));
        }
    }
    if files != manifest.files {
        return Err(OpsError::Damaged(
            "the entries do not match the manifest".into(),
        ));
    }
    Ok((manifest, files))
}

/// `flexsecure.db`, `server.key` or `signing-keys/<name>` with a plain
/// file name (letters, digits, `.`, `_`, `-`; not hidden).
fn valid_entry_name(name: &str) -> bool {
    if name == DB_FILE || name == SERVER_KEY_FILE {
        return true;
    }
    name.strip_prefix(KEYS_DIR)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(valid_key_file_name)
}

fn valid_key_file_name(n: &str) -> bool {
    (1..=128).contains(&n.len())
        && !n.starts_with('.')
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// 64 hex characters (and surrounding whitespace), as `ServerKey` reads it.
fn valid_server_key(text: &[u8]) -> bool {
    let t = String::from_utf8_lossy(text);
    let t = t.trim();
    t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Every key file of `signing-keys/` (name in the archive, bytes), by name.
/// Hidden files (a rotation's temp file) are skipped, and so is anything
/// that is not a plain file with a plain name (logged).
fn read_signing_keys(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, OpsError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(OpsError::io(dir, e)),
    };
    let mut keys = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| OpsError::io(dir, e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        if !is_file || !valid_key_file_name(&name) {
            tracing::warn!(file = %path.display(), "not a key file; left out of the backup");
            continue;
        }
        match read_small(&path) {
            Ok(data) => keys.push((format!("{KEYS_DIR}/{name}"), data)),
            // Removed by a rotation since the listing.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(OpsError::io(&path, e)),
        }
    }
    keys.sort();
    Ok(keys)
}

fn read_small(path: &Path) -> io::Result<Vec<u8>> {
    let mut data = Vec::new();
    File::open(path)?
        .take(MAX_KEY_FILE + 1)
        .read_to_end(&mut data)?;
    if data.len() as u64 > MAX_KEY_FILE {
        return Err(io::Error::other("too large for a key file"));
    }
    Ok(data)
}

/// A new file readable by its owner only.
fn create_private(path: &Path) -> Result<File, OpsError> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map_err(|e| OpsError::io(path, e))
}

/// A new directory with mode 0700.
fn make_private_dir(path: &Path) -> Result<(), OpsError> {
    let mut b = fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(path).map_err(|e| OpsError::io(path, e))
}

fn sync_dir(dir: &Path) -> Result<(), OpsError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| OpsError::io(dir, e))
}

/// Removes temporary files on every way out.
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = fs::remove_file(p);
        }
    }
}

/// Removes the staging directory on every way out.
struct CleanupDir(PathBuf);

impl Drop for CleanupDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests;
