use super::*;

/// Cheap argon2id for tests (the reader accepts any costs in bounds).
const KDF_TEST: KdfParams = KdfParams {
    m_kib: 64,
    t: 1,
    p: 1,
};

fn write(pass: Option<&str>, chunk: u32, files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mode = ArchiveWriter::with_chunk(&mut out, pass, KDF_TEST, chunk).unwrap();
    let mut w = ArchiveWriter { inner: out, mode };
    write_manifest(&mut w, b"{}").unwrap();
    for (name, data) in files {
        write_file(&mut w, name, data.len() as u64, &mut data.as_slice()).unwrap();
    }
    write_end(&mut w).unwrap();
    w.finish().unwrap()
}

fn read(bytes: &[u8], pass: Option<&str>) -> Result<Vec<(String, Vec<u8>)>, OpsError> {
    let mut r = io::BufReader::new(bytes);
    let header = Header::read(&mut r)
        .map_err(|e| read_error("t", e))?
        .ok_or(OpsError::Damaged("no header".into()))?;
    if header.version() != VERSION {
        return Err(OpsError::UnsupportedVersion(header.version()));
    }
    let key = header.key(pass)?;
    let mut a = ArchiveReader::new(r, &header, key)?;
    let first = read_item(&mut a).map_err(|e| read_error("t", e))?;
    if first != Item::Manifest(b"{}".to_vec()) {
        return Err(OpsError::Damaged("no manifest".into()));
    }
    let mut files = Vec::new();
    loop {
        match read_item(&mut a).map_err(|e| read_error("t", e))? {
            Item::File { name, size } => {
                let mut data = Vec::new();
                (&mut a)
                    .take(size)
                    .read_to_end(&mut data)
                    .map_err(|e| read_error("t", e))?;
                if data.len() as u64 != size {
                    return Err(OpsError::Damaged("cut off".into()));
                }
                files.push((name, data));
            }
            Item::End => break,
            Item::Manifest(_) => panic!("second manifest"),
        }
    }
    a.finish()?;
    Ok(files)
}

fn sample() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("flexsecure.db", (0..=255u8).cycle().take(1000).collect()),
        ("server.key", b"00ff".to_vec()),
        ("signing-keys/k_1.json", Vec::new()),
    ]
}

fn owned(files: &[(&str, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    files
        .iter()
        .map(|(n, d)| (n.to_string(), d.clone()))
        .collect()
}

#[test]
fn round_trips_plain_and_encrypted_at_every_chunk_boundary() {
    let files = sample();
    let plain = write(None, CHUNK, &files);
    assert_eq!(read(&plain, None).unwrap(), owned(&files));
    assert_eq!(read(&plain, Some("ignored")).unwrap(), owned(&files));
    // Payload sizes around multiples of small chunks, and an empty last chunk.
    for chunk in [1, 7, 64, 1041, 1042, 1043, 4096] {
        let sealed = write(Some("secret"), chunk, &files);
        assert!(
            !sealed.windows(4).any(|w| w == b"00ff"),
            "server key in clear"
        );
        assert_eq!(
            read(&sealed, Some("secret")).unwrap(),
            owned(&files),
            "chunk {chunk}"
        );
    }
}

#[test]
fn wrong_or_missing_passphrase_is_told_apart_from_damage() {
    let sealed = write(Some("secret"), 64, &sample());
    assert!(matches!(
        read(&sealed, Some("Secret")),
        Err(OpsError::WrongPassphrase)
    ));
    assert!(matches!(
        read(&sealed, None),
        Err(OpsError::PassphraseNeeded)
    ));
}

#[test]
fn every_flipped_byte_and_every_cut_is_detected() {
    let files = sample();
    for pass in [None, Some("secret")] {
        let good = write(pass, 100, &files);
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x20;
            assert!(read(&bad, pass).is_err(), "{pass:?}: flip at {i} unnoticed");
        }
        for len in 0..good.len() {
            assert!(
                read(&good[..len], pass).is_err(),
                "{pass:?}: cut at {len} unnoticed"
            );
        }
        let mut longer = good.clone();
        longer.push(0);
        assert!(
            read(&longer, pass).is_err(),
            "{pass:?}: trailing byte unnoticed"
        );
    }
}

#[test]
fn swapped_chunks_are_detected() {
    let files = vec![("a", vec![7u8; 300])];
    let good = write(Some("secret"), 64, &files);
    let header_len = 8 + 2 + 1 + 1 + 12 + 16 + 32 + PREFIX + 4;
    let c = 64 + TAG;
    let mut bad = good.clone();
    let (a, b) = (header_len, header_len + c);
    let first = good[a..a + c].to_vec();
    bad[a..a + c].copy_from_slice(&good[b..b + c]);
    bad[b..b + c].copy_from_slice(&first);
    assert!(matches!(
        read(&bad, Some("secret")),
        Err(OpsError::Damaged(_))
    ));
}
