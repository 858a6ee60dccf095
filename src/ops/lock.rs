//! The data-directory lock: one running `flexsecure serve` (or restore) per
//! data directory. An exclusive advisory lock (`flock` on Unix, through std's
//! `File::try_lock`) on `<data_dir>/flexsecure.lock`, held as long as the
//! [`DataDirLock`] lives; the operating system releases it when the process
//! ends, however it ends, so a crash never leaves a stale lock behind. The
//! lock file itself stays (deleting it would race with a new holder); it
//! holds the holder's process id, for messages only.
//!
//! The lock belongs to an open file, not to a process: a second `acquire`
//! on the same directory fails even within the same process.

use super::OpsError;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Name of the lock file inside the data directory.
pub const LOCK_FILE: &str = "flexsecure.lock";

/// An exclusive lock on a data directory; dropping it releases the lock.
#[derive(Debug)]
pub struct DataDirLock {
    // Held for its lock; closing the file (on drop) releases it.
    _file: File,
    path: PathBuf,
}

impl DataDirLock {
    /// Takes the lock on `dir` (creating the directory with mode 0700 if it
    /// does not exist), or fails at once with [`OpsError::Locked`] naming
    /// the holder's pid when another process or handle holds it.
    /// Blocking file I/O: startup or a blocking thread only.
    pub fn acquire(dir: &Path) -> Result<Self, OpsError> {
        crate::blocking::check("data directory lock");
        super::create_private_dir(dir)?;
        let path = dir.join(LOCK_FILE);
        let mut opts = OpenOptions::new();
        opts.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut file = opts.open(&path).map_err(|e| OpsError::io(&path, e))?;
        match lock(&file) {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(OpsError::Locked(dir.to_path_buf(), holder_pid(&mut file)))
            }
            Err(TryLockError::Error(e)) => return Err(OpsError::io(&path, e)),
        }
        // Only the holder writes its pid, so readers see the holder's.
        let written = (|| {
            file.set_len(0)?;
            file.rewind()?;
            writeln!(file, "{}", std::process::id())
        })();
        written.map_err(|e| OpsError::io(&path, e))?;
        Ok(Self { _file: file, path })
    }

    /// Whether some process (this one included) holds the lock on `dir`.
    /// A directory without a lock file is not locked; a lock file that
    /// cannot be opened counts as held (the caller should not go ahead).
    pub fn is_held(dir: &Path) -> bool {
        !matches!(holder(dir), Ok(None))
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// `Ok(Some(pid))` when the lock on `dir` is held (`pid` as the holder
/// wrote it, or "unknown"), `Ok(None)` when it is free.
pub(crate) fn holder(dir: &Path) -> io::Result<Option<String>> {
    crate::blocking::check("data directory lock");
    let path = dir.join(LOCK_FILE);
    let mut file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    match lock(&file) {
        // Free: the probe's own lock is released when `file` closes.
        Ok(()) => Ok(None),
        Err(TryLockError::WouldBlock) => Ok(Some(holder_pid(&mut file))),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

fn lock(file: &File) -> Result<(), TryLockError> {
    file.try_lock()
}

fn holder_pid(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file
        .rewind()
        .and_then(|_| file.take(32).read_to_string(&mut text));
    let pid = text.trim();
    if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) {
        pid.to_string()
    } else {
        "unknown".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn a_second_acquire_fails_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        assert!(!DataDirLock::is_held(&data), "no directory: not held");
        let first = DataDirLock::acquire(&data).unwrap();
        assert!(DataDirLock::is_held(&data));
        // Same process, same file: still refused (the lock is per open file).
        match DataDirLock::acquire(&data) {
            Err(OpsError::Locked(d, pid)) => {
                assert_eq!(d, data);
                assert_eq!(pid, std::process::id().to_string());
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        // Probing does not take or break the lock.
        assert!(DataDirLock::is_held(&data));
        drop(first);
        assert!(!DataDirLock::is_held(&data));
        let again = DataDirLock::acquire(&data).unwrap();
        assert!(again.path().ends_with(LOCK_FILE));
    }

    #[cfg(unix)]
    #[test]
    fn directory_and_lock_file_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let lock = DataDirLock::acquire(&data).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(lock.path()), 0o600);
    }
}
