use super::keys::{self, StoredKey};
use super::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::Value;
use std::fs;

fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000 + secs, 0).unwrap()
}

fn claims() -> Assertion {
    Assertion {
        iss: "https://auth.example".into(),
        sub: "ada@example.com".into(),
        aud: "payroll".into(),
        amr: vec!["sms".into(), "otp".into()],
        acr: "pin".into(),
        auth_time: t(0).timestamp(),
        iat: t(0).timestamp(),
        exp: t(ASSERTION_TTL_SECONDS).timestamp(),
        jti: "req_0123456789abcdef".into(),
    }
}

fn b64json(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

/// Verifies a compact JWS against the JWKS like a relying party would.
fn verify(token: &str, jwks: &Value) -> Result<Assertion, String> {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let kid = b64json(parts[0])["kid"].as_str().unwrap().to_string();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .ok_or("kid not published")?;
    let x: [u8; 32] = URL_SAFE_NO_PAD
        .decode(jwk["x"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let key = VerifyingKey::from_bytes(&x).unwrap();
    let sig: [u8; 64] = URL_SAFE_NO_PAD
        .decode(parts[2])
        .unwrap()
        .try_into()
        .unwrap();
    let signed = format!("{}.{}", parts[0], parts[1]);
    key.verify_strict(signed.as_bytes(), &Signature::from_bytes(&sig))
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).map_err(|e| e.to_string())
}

fn key_files(data: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(data.join(KEYS_DIR))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn signer_is_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<Signer>();
    check::<Arc<Signer>>();
}

#[test]
fn sign_then_verify_with_the_published_key() {
    let data = tempfile::tempdir().unwrap();
    let signer = Signer::open(data.path(), t(0)).unwrap();
    let token = signer.sign(&claims()).unwrap();
    let jwks = signer.jwks(t(0));

    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let k = &keys[0];
    assert_eq!(k["kty"], "OKP");
    assert_eq!(k["crv"], "Ed25519");
    assert_eq!(k["alg"], "EdDSA");
    assert_eq!(k["use"], "sig");
    assert_eq!(k.as_object().unwrap().len(), 6, "public fields only: {k}");

    assert!(!token.contains('='), "base64url without padding");
    let parts: Vec<&str> = token.split('.').collect();
    let header = b64json(parts[0]);
    assert_eq!(
        header,
        serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": k["kid"]})
    );
    assert!(header["kid"].as_str().unwrap().starts_with("k_"));
    assert_eq!(header["kid"].as_str().unwrap().len(), 18);
    assert_eq!(verify(&token, &jwks).unwrap(), claims());

    // The claims appear in the documented order.
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let order = [
        "iss",
        "sub",
        "aud",
        "amr",
        "acr",
        "auth_time",
        "iat",
        "exp",
        "jti",
    ];
    let at: Vec<usize> = order
        .iter()
        .map(|f| payload.find(&format!("\"{f}\"")).unwrap())
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{payload}");
}

#[test]
fn a_tampered_token_fails_verification() {
    let data = tempfile::tempdir().unwrap();
    let signer = Signer::open(data.path(), t(0)).unwrap();
    let token = signer.sign(&claims()).unwrap();
    let jwks = signer.jwks(t(0));
    let parts: Vec<&str> = token.split('.').collect();

    let mut payload = URL_SAFE_NO_PAD.decode(parts[1]).unwrap();
    let i = payload.len() / 2;
    payload[i] ^= 0x01;
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(&payload),
        parts[2]
    );
    assert!(verify(&forged, &jwks).is_err());

    // Another key's signature over the same claims does not verify either.
    let other = tempfile::tempdir().unwrap();
    let other = Signer::open(other.path(), t(0))
        .unwrap()
        .sign(&claims())
        .unwrap();
    let other_sig = other.rsplit('.').next().unwrap();
    let swapped = format!("{}.{}.{}", parts[0], parts[1], other_sig);
    assert!(verify(&swapped, &jwks).is_err());
}

#[test]
fn rotation_keeps_the_old_key_published_for_ttl_plus_leeway() {
    let data = tempfile::tempdir().unwrap();
    let signer = Signer::open(data.path(), t(0)).unwrap();
    let old = signer.signing_kid();
    let old_token = signer.sign(&claims()).unwrap();

    let new = Signer::rotate(data.path(), t(1000)).unwrap();
    assert!(new.active);
    assert_eq!(new.created_at, t(1000));
    assert_eq!(new.published_until, None);
    assert!(signer.refresh().unwrap());
    assert_eq!(signer.signing_kid(), new.kid);

    // The newest key signs; the JWKS lists it first.
    let token = signer.sign(&claims()).unwrap();
    assert_eq!(
        b64json(token.split('.').next().unwrap())["kid"],
        new.kid.as_str()
    );
    assert_eq!(kids(&signer.jwks(t(1000))), [new.kid.clone(), old.clone()]);
    assert!(verify(&token, &signer.jwks(t(1000))).is_ok());
    assert!(verify(&old_token, &signer.jwks(t(1000 + 359))).is_ok());

    assert_eq!(kids(&signer.jwks(t(1000 + 359))).len(), 2);
    assert_eq!(
        kids(&signer.jwks(t(1000 + 360))),
        std::slice::from_ref(&new.kid)
    );
    assert!(verify(&old_token, &signer.jwks(t(1000 + 360))).is_err());
    // A clock behind the new key's creation still publishes the old key.
    assert_eq!(kids(&signer.jwks(t(500))).len(), 2);

    let list = Signer::list(data.path(), t(1000)).unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0], new);
    assert_eq!(list[1].kid, old);
    assert!(!list[1].active);
    assert_eq!(list[1].published_until, Some(t(1000 + 360)));
}

#[test]
fn rotation_deletes_unpublished_keys_but_never_the_newest_two() {
    let data = tempfile::tempdir().unwrap();
    let first = Signer::open(data.path(), t(0)).unwrap().signing_kid();
    let k1 = Signer::rotate(data.path(), t(10)).unwrap().kid;
    let k2 = Signer::rotate(data.path(), t(20)).unwrap().kid;
    assert_eq!(Signer::list(data.path(), t(20)).unwrap().len(), 3);

    let k3 = Signer::rotate(data.path(), t(1000)).unwrap().kid;
    let list: Vec<String> = Signer::list(data.path(), t(1000))
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(list, [k3.clone(), k2.clone()]);
    let mut expected = vec![format!("{k2}.json"), format!("{k3}.json")];
    expected.sort();
    assert_eq!(key_files(data.path()), expected);
    assert!(!list.contains(&first) && !list.contains(&k1));

    // Rotating twice in the same second (or with the clock set back) still
    // makes the new key the signing key.
    let k4 = Signer::rotate(data.path(), t(1000)).unwrap();
    assert_eq!(k4.created_at, t(1001));
    let k5 = Signer::rotate(data.path(), t(0)).unwrap();
    let list = Signer::list(data.path(), t(0)).unwrap();
    assert_eq!(list[0], k5);
    assert_eq!(list.iter().filter(|k| k.active).count(), 1);
}

#[test]
fn equal_created_at_is_broken_by_the_larger_kid() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().join(KEYS_DIR);
    keys::ensure_dir(&dir).unwrap();
    for kid in ["k_aaaa", "k_bbbb"] {
        let mut k = StoredKey::generate(t(0));
        k.kid = kid.into();
        keys::write_key(&dir, &k).unwrap();
    }
    let signer = Signer::open(data.path(), t(0)).unwrap();
    assert_eq!(signer.signing_kid(), "k_bbbb");
    assert_eq!(kids(&signer.jwks(t(0))), ["k_bbbb", "k_aaaa"]);
}

#[test]
fn refresh_picks_up_a_rotation_by_another_process() {
    let data = tempfile::tempdir().unwrap();
    let server = Signer::open(data.path(), t(0)).unwrap();
    assert!(!server.refresh().unwrap(), "nothing changed");
    let before = server.signing_kid();

    // As the CLI does, on its own.
    let new = Signer::rotate(data.path(), t(60)).unwrap();
    assert_ne!(new.kid, before);
    assert!(server.refresh().unwrap());
    assert_eq!(server.signing_kid(), new.kid);
    assert!(!server.refresh().unwrap());
    assert!(!server.refresh().unwrap());

    // A file that is not a key changes the directory but not the key set.
    fs::write(data.path().join(KEYS_DIR).join("notes.txt"), "hello").unwrap();
    assert!(!server.refresh().unwrap());
}

#[test]
fn an_emptied_directory_keeps_the_keys_in_memory() {
    let data = tempfile::tempdir().unwrap();
    let signer = Signer::open(data.path(), t(0)).unwrap();
    let kid = signer.signing_kid();
    for f in key_files(data.path()) {
        fs::remove_file(data.path().join(KEYS_DIR).join(f)).unwrap();
    }
    assert!(signer.refresh().is_err());
    assert!(!signer.refresh().unwrap(), "reported once per change");
    assert_eq!(signer.signing_kid(), kid);
    assert!(signer.sign(&claims()).is_ok());
}

#[cfg(unix)]
#[test]
fn files_are_private_and_written_whole() {
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::tempdir().unwrap();
    Signer::open(data.path(), t(0)).unwrap();
    Signer::rotate(data.path(), t(1)).unwrap();
    let dir = data.path().join(KEYS_DIR);
    assert_eq!(
        fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let files = key_files(data.path());
    assert_eq!(files.len(), 2, "no temp files left: {files:?}");
    for f in files {
        let path = dir.join(&f);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let v: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(format!("{}.json", v["kid"].as_str().unwrap()), f);
        assert_eq!(v["alg"], "EdDSA");
        assert!(v["created_at"].is_i64());
        let seed = URL_SAFE_NO_PAD.decode(v["seed"].as_str().unwrap()).unwrap();
        assert_eq!(seed.len(), 32);
    }

    // A directory left more open is restricted again.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    Signer::open(data.path(), t(2)).unwrap();
    assert_eq!(
        fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
}

#[test]
fn corrupt_and_unknown_files_are_skipped() {
    let data = tempfile::tempdir().unwrap();
    let good = Signer::open(data.path(), t(0)).unwrap().signing_kid();
    let dir = data.path().join(KEYS_DIR);
    fs::write(dir.join("k_garbage.json"), "{not json").unwrap();
    fs::write(dir.join("README"), "not a key").unwrap();
    fs::write(
        dir.join("k_short.json"),
        r#"{"kid":"k_short","alg":"EdDSA","created_at":9999999999,"seed":"AAAA"}"#,
    )
    .unwrap();
    fs::write(
        dir.join("k_other.json"),
        serde_json::json!({"kid": "k_renamed", "alg": "EdDSA", "created_at": 9_999_999_999i64,
            "seed": URL_SAFE_NO_PAD.encode([7u8; 32])})
        .to_string(),
    )
    .unwrap();
    fs::write(dir.join("k_huge.json"), vec![b' '; 100_000]).unwrap();
    fs::create_dir(dir.join("k_dir.json")).unwrap();
    let signer = Signer::open(data.path(), t(0)).unwrap();
    assert_eq!(signer.signing_kid(), good);
    assert_eq!(Signer::list(data.path(), t(0)).unwrap().len(), 1);

    // Only corrupt files: a fresh key is created rather than failing.
    let data2 = tempfile::tempdir().unwrap();
    let dir2 = data2.path().join(KEYS_DIR);
    fs::create_dir(&dir2).unwrap();
    fs::write(dir2.join("k_garbage.json"), "").unwrap();
    let signer = Signer::open(data2.path(), t(0)).unwrap();
    assert_ne!(signer.signing_kid(), "k_garbage");
    assert!(signer.sign(&claims()).is_ok());
}

#[cfg(unix)]
#[test]
fn a_key_file_with_open_permissions_is_still_read() {
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::tempdir().unwrap();
    let kid = Signer::open(data.path(), t(0)).unwrap().signing_kid();
    let path = data.path().join(KEYS_DIR).join(format!("{kid}.json"));
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let signer = Signer::open(data.path(), t(0)).unwrap();
    assert_eq!(signer.signing_kid(), kid);
}

#[test]
fn debug_never_shows_seeds() {
    let data = tempfile::tempdir().unwrap();
    let signer = Signer::open(data.path(), t(0)).unwrap();
    Signer::rotate(data.path(), t(1)).unwrap();
    signer.refresh().unwrap();
    let shown = format!("{signer:?} {:?} {:#?}", signer.keys(), signer);
    for f in key_files(data.path()) {
        let v: Value =
            serde_json::from_slice(&fs::read(data.path().join(KEYS_DIR).join(&f)).unwrap())
                .unwrap();
        let seed_b64 = v["seed"].as_str().unwrap();
        let seed = URL_SAFE_NO_PAD.decode(seed_b64).unwrap();
        assert!(shown.contains(v["kid"].as_str().unwrap()), "{shown}");
        assert!(!shown.contains(seed_b64), "{shown}");
        assert!(!shown.contains(&hex::encode(&seed)), "{shown}");
        assert!(!shown.contains(&format!("{:?}", seed)), "{shown}");
    }
}

#[test]
fn list_of_a_data_dir_without_keys_is_empty_and_creates_nothing() {
    let data = tempfile::tempdir().unwrap();
    assert!(Signer::list(data.path(), t(0)).unwrap().is_empty());
    assert!(!data.path().join(KEYS_DIR).exists());
}

#[test]
fn rotate_on_a_fresh_data_dir_leaves_two_keys() {
    let data = tempfile::tempdir().unwrap();
    let fresh = data.path().join("fresh");
    // Sub-second times are stored (and reported) as whole seconds.
    let now = t(0) + chrono::Duration::milliseconds(250);
    let new = Signer::rotate(&fresh, now).unwrap();
    let list = Signer::list(&fresh, now).unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0], new);
    assert_eq!(list[1].created_at, t(0));
    assert_eq!(new.created_at, t(1), "strictly newer than the first key");
    assert!(!list[1].active);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&fresh).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "a data dir created here is private");
    }
}

#[tokio::test]
async fn the_background_loop_picks_up_a_rotation_and_stops() {
    let data = tempfile::tempdir().unwrap();
    let path = data.path().to_path_buf();
    let signer = Arc::new(
        crate::blocking::run(move || Signer::open(&path, Utc::now()))
            .await
            .unwrap()
            .unwrap(),
    );
    let (tx, rx) = tokio::sync::watch::channel(false);
    let job = tokio::spawn(crate::jobs::keys::run(signer.clone(), rx));

    let path = data.path().to_path_buf();
    let new = crate::blocking::run(move || Signer::rotate(&path, Utc::now()))
        .await
        .unwrap()
        .unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while signer.signing_kid() != new.kid {
        assert!(
            tokio::time::Instant::now() < deadline,
            "rotation not picked up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    tx.send(true).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), job)
        .await
        .expect("the loop ends on shutdown")
        .unwrap();
}
