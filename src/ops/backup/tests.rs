use super::*;
use rusqlite::OpenFlags;

/// A data directory as a server leaves it: database with an account,
/// server key, one signing key.
fn source() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (_key, store) = crate::app::open_data_dir(dir.path()).unwrap();
    crate::service::create_account(&store, "Acme", &crate::domain::Actor::Cli, Utc::now()).unwrap();
    crate::signing::Signer::rotate(dir.path(), Utc::now()).unwrap();
    dir
}

/// Every table's rows in a fixed order, as text, with the schema.
pub(crate) fn dump(db: &Path) -> String {
    crate::ops::logical_dump(db).unwrap()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn plain_round_trip_gives_the_same_data_and_keys() {
    let src = source();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("b.fsb");
    let r = backup(src.path(), &out, None).unwrap();
    assert!(!r.encrypted);
    assert_eq!(r.files[0].name, DB_FILE);
    assert_eq!(r.files[1].name, SERVER_KEY_FILE);
    assert!(r.files.len() >= 3, "{:?}", r.files);
    assert_eq!(r.bytes, fs::metadata(&out).unwrap().len());
    // Only the archive is left in the output directory.
    assert_eq!(names(tmp.path()), ["b.fsb"]);

    let dst = tmp.path().join("restored");
    let rr = restore(&out, &dst, None, false).unwrap();
    assert!(!rr.replaced_existing);
    assert_eq!(rr.files, r.files);
    assert_eq!(rr.integrity_check, "ok");
    assert_eq!(
        dump(&src.path().join(DB_FILE)),
        dump(&dst.join(DB_FILE)),
        "the restored database equals the source"
    );
    for f in &r.files[1..] {
        assert_eq!(
            fs::read(src.path().join(&f.name)).unwrap(),
            fs::read(dst.join(&f.name)).unwrap(),
            "{}",
            f.name
        );
    }
    assert_eq!(
        names(&dst),
        [DB_FILE, super::super::LOCK_FILE, SERVER_KEY_FILE, KEYS_DIR],
        "no staging directory or journal left behind"
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&out), 0o600);
        assert_eq!(mode(&dst), 0o700);
        assert_eq!(mode(&dst.join(KEYS_DIR)), 0o700);
        for f in &r.files {
            assert_eq!(mode(&dst.join(&f.name)), 0o600, "{}", f.name);
        }
    }
    // The server opens it: same key, same signing keys.
    crate::app::open_data_dir(&dst).unwrap();
    let now = Utc::now();
    assert_eq!(
        crate::signing::Signer::list(src.path(), now).unwrap(),
        crate::signing::Signer::list(&dst, now).unwrap()
    );
}

#[test]
fn restore_refuses_a_locked_or_non_empty_dir_and_force_replaces() {
    let src = source();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("b.fsb");
    backup(src.path(), &out, None).unwrap();

    let other = source();
    let lock = DataDirLock::acquire(other.path()).unwrap();
    assert!(matches!(
        restore(&out, other.path(), None, true),
        Err(OpsError::Locked(..))
    ));
    drop(lock);
    let before = dump(&other.path().join(DB_FILE));
    assert!(matches!(
        restore(&out, other.path(), None, false),
        Err(OpsError::NotEmpty(_))
    ));
    assert_eq!(dump(&other.path().join(DB_FILE)), before);

    // A stale WAL and an extra key of the old directory must not survive.
    fs::write(other.path().join("flexsecure.db-wal"), b"stale").unwrap();
    let old_keys = names(&other.path().join(KEYS_DIR));
    let rr = restore(&out, other.path(), None, true).unwrap();
    assert!(rr.replaced_existing);
    assert!(!other.path().join("flexsecure.db-wal").exists());
    assert_eq!(
        dump(&src.path().join(DB_FILE)),
        dump(&other.path().join(DB_FILE))
    );
    assert_eq!(
        names(&other.path().join(KEYS_DIR)),
        names(&src.path().join(KEYS_DIR))
    );
    assert_ne!(old_keys, names(&src.path().join(KEYS_DIR)));
    assert_eq!(
        fs::read(other.path().join(SERVER_KEY_FILE)).unwrap(),
        fs::read(src.path().join(SERVER_KEY_FILE)).unwrap()
    );
}

#[test]
fn encrypted_round_trip_and_failures_that_write_nothing() {
    let src = source();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("b.fsb");
    let r = backup(src.path(), &out, Some("correct horse battery")).unwrap();
    assert!(r.encrypted);
    let bytes = fs::read(&out).unwrap();
    let key = fs::read(src.path().join(SERVER_KEY_FILE)).unwrap();
    assert!(!bytes.windows(key.len()).any(|w| w == key.as_slice()));
    assert!(!bytes.windows(15).any(|w| w == b"SQLite format 3"));

    let dst = tmp.path().join("restored");
    assert!(matches!(
        restore(&out, &dst, Some("correct horse battery!"), false),
        Err(OpsError::WrongPassphrase)
    ));
    assert!(matches!(
        restore(&out, &dst, None, false),
        Err(OpsError::PassphraseNeeded)
    ));
    let mut bad = bytes.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 1;
    let tampered = tmp.path().join("bad.fsb");
    fs::write(&tampered, &bad).unwrap();
    assert!(matches!(
        restore(&tampered, &dst, Some("correct horse battery"), false),
        Err(OpsError::Damaged(_))
    ));
    fs::write(&tampered, b"not a backup at all").unwrap();
    assert!(matches!(
        restore(&tampered, &dst, None, false),
        Err(OpsError::NotAnArchive(_))
    ));
    assert!(!dst.exists(), "nothing was written");

    restore(&out, &dst, Some("correct horse battery"), false).unwrap();
    assert_eq!(dump(&src.path().join(DB_FILE)), dump(&dst.join(DB_FILE)));
}

#[test]
fn backup_needs_a_data_dir_and_a_passphrase_that_is_not_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("b.fsb");
    assert!(matches!(
        backup(tmp.path(), &out, None),
        Err(OpsError::NoData(_, DB_FILE))
    ));
    let src = source();
    assert!(matches!(
        backup(src.path(), &out, Some("")),
        Err(OpsError::Invalid(_))
    ));
    assert!(!out.exists());
}

#[test]
fn a_damaged_database_in_an_intact_archive_is_not_restored() {
    let src = source();
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good.fsb");
    backup(src.path(), &good, None).unwrap();
    let plain = tmp.path().join("plain");
    restore(&good, &plain, None, false).unwrap();

    // The accounts table's root page overwritten past its header.
    let db = plain.join(DB_FILE);
    let (page_size, root): (i64, i64) = {
        let c = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        (
            c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap(),
            c.query_row(
                "SELECT rootpage FROM sqlite_schema WHERE name = 'accounts'",
                [],
                |r| r.get(0),
            )
            .unwrap(),
        )
    };
    let mut bytes = fs::read(&db).unwrap();
    let at = ((root - 1) * page_size + 8) as usize;
    bytes[at..at + 24].fill(0xff);
    let key = fs::read(plain.join(SERVER_KEY_FILE)).unwrap();

    // A well-formed, authentic archive around the damaged database.
    let files = vec![
        ArchivedFile {
            name: DB_FILE.into(),
            size: bytes.len() as u64,
        },
        ArchivedFile {
            name: SERVER_KEY_FILE.into(),
            size: key.len() as u64,
        },
    ];
    let manifest = Manifest {
        format: archive::VERSION,
        created_at: Utc::now(),
        flexsecure_version: "test".into(),
        schema_version: 6,
        files,
    };
    let bad = tmp.path().join("bad.fsb");
    let mut w = ArchiveWriter::new(
        File::create(&bad).unwrap(),
        Some("pass"),
        archive::KdfParams {
            m_kib: 64,
            t: 1,
            p: 1,
        },
    )
    .unwrap();
    archive::write_manifest(&mut w, &serde_json::to_vec(&manifest).unwrap()).unwrap();
    archive::write_file(&mut w, DB_FILE, bytes.len() as u64, &mut bytes.as_slice()).unwrap();
    archive::write_file(
        &mut w,
        SERVER_KEY_FILE,
        key.len() as u64,
        &mut key.as_slice(),
    )
    .unwrap();
    archive::write_end(&mut w).unwrap();
    w.finish().unwrap();

    let dst = tmp.path().join("restored");
    match restore(&bad, &dst, Some("pass"), false) {
        Err(OpsError::Integrity(problems)) => assert!(!problems.is_empty()),
        other => panic!("expected an integrity failure, got {other:?}"),
    }
    // Only the lock file: no database, no key, no staging directory.
    assert_eq!(names(&dst), [super::super::LOCK_FILE]);
}
