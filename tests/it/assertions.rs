//! Signed results: the assertion of an approved login verifies against the
//! published JWKS with an independent JWT library (jsonwebtoken, on ring),
//! and fails after tampering, after expiry and for another audience; a key
//! rotation keeps old assertions verifiable until they expire.

use crate::harness::{json, pin_of, TestApp};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};

async fn jwks(t: &TestApp) -> JwkSet {
    let r = t
        .client
        .get(format!("{}/v2/jwks.json", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Verifies as a relying application would: key by `kid`, EdDSA only, this
/// issuer and audience, no leeway on `exp`.
fn verify(token: &str, set: &JwkSet, iss: &str, aud: &str) -> Result<Value, String> {
    let header = decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = set
        .find(&kid)
        .ok_or_else(|| format!("kid {kid} not published"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut v = Validation::new(Algorithm::EdDSA);
    v.set_issuer(&[iss]);
    v.set_audience(&[aud]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.leeway = 0;
    decode::<Value>(token, &key, &v)
        .map(|d| d.claims)
        .map_err(|e| format!("{:?}", e.kind()))
}

/// A PIN login of ann to CRM; returns the completion's answer.
async fn pin_login(t: &TestApp, n: usize) -> Value {
    let (s, _) = json(t.start("ann@example.com", "CRM").await).await;
    assert_eq!(s, 202);
    let pin = pin_of(&t.wait_sms("+41790000201", n).await);
    let (s, done) = json(
        t.complete(json!({"email": "ann@example.com", "system": "CRM", "pin": pin}))
            .await,
    )
    .await;
    assert_eq!(s, 200, "{done}");
    done
}

async fn app() -> TestApp {
    let t = TestApp::spawn_with(|c| c.sms.limits.per_number.max = 0).await;
    t.system_with_user("CRM", "pin", "ann@example.com", "+41790000201")
        .await;
    t
}

#[tokio::test]
async fn an_assertion_verifies_against_the_jwks_and_not_when_altered() {
    let t = app().await;
    let done = pin_login(&t, 1).await;
    let token = done["assertion"].as_str().unwrap();
    let set = jwks(&t).await;
    assert_eq!(set.keys.len(), 1);

    let header = decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let claims = verify(token, &set, &t.public_url, "CRM").unwrap();
    assert_eq!(claims["sub"], "ann@example.com");
    assert_eq!(claims["aud"], "CRM");
    assert_eq!(claims["iss"], t.public_url.as_str());
    assert_eq!(claims["amr"], json!(["sms", "otp"]));
    assert_eq!(claims["acr"], "1");
    assert_eq!(claims["jti"], done["request_id"]);
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 300);
    assert_eq!(claims["auth_time"].as_i64(), Some(iat));

    // The status call hands out the same assertion while it is valid.
    let rid = done["request_id"].as_str().unwrap();
    let st = t.status(rid).await;
    assert_eq!(st["assertion"].as_str(), Some(token));

    // Another audience.
    assert!(verify(token, &set, &t.public_url, "Payroll").is_err());
    // A changed claim under the same signature.
    let parts: Vec<&str> = token.split('.').collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    payload["sub"] = json!("mallory@example.com");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap()),
        parts[2]
    );
    assert_eq!(
        verify(&forged, &set, &t.public_url, "CRM"),
        Err("InvalidSignature".into())
    );
    // A flipped bit in the signature.
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[10] ^= 1;
    let flipped = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(sig));
    assert!(verify(&flipped, &set, &t.public_url, "CRM").is_err());
    // `alg: none` with the signature dropped.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    assert!(verify(&none, &set, &t.public_url, "CRM").is_err());
}

#[tokio::test]
async fn an_expired_assertion_is_refused() {
    let t = app().await;
    // A login six minutes ago (server time): its assertion has expired now.
    t.set_time(chrono::Utc::now() - chrono::Duration::seconds(360));
    let done = pin_login(&t, 1).await;
    let token = done["assertion"].as_str().unwrap();
    let set = jwks(&t).await;
    assert_eq!(
        verify(token, &set, &t.public_url, "CRM"),
        Err("ExpiredSignature".into())
    );
    // Once expired on the server's clock too, the status call has none.
    t.advance(301);
    let rid = done["request_id"].as_str().unwrap();
    let st = t.status(rid).await;
    assert_eq!(st["status"], "approved");
    assert!(st.get("assertion").is_none(), "{st}");
}

#[tokio::test]
async fn rotation_keeps_old_assertions_verifiable_until_they_expire() {
    let t = app().await;
    let old = pin_login(&t, 1).await["assertion"]
        .as_str()
        .unwrap()
        .to_string();
    let old_kid = decode_header(&old).unwrap().kid.unwrap();

    // `flexsecure keys rotate` on the data dir while the server runs.
    let dir = t.data_dir.path().to_path_buf();
    flexsecure::blocking::run(move || {
        flexsecure::signing::Signer::rotate(&dir, chrono::Utc::now()).unwrap()
    })
    .await
    .unwrap();
    // The server picks it up within a few seconds (bounded wait).
    let mut set = jwks(&t).await;
    for _ in 0..100 {
        if set.keys.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        set = jwks(&t).await;
    }
    assert_eq!(set.keys.len(), 2, "the new key is published");

    t.advance(31);
    let new = pin_login(&t, 2).await["assertion"]
        .as_str()
        .unwrap()
        .to_string();
    let new_kid = decode_header(&new).unwrap().kid.unwrap();
    assert_ne!(new_kid, old_kid, "the new key signs");
    assert_eq!(set.keys[0].common.key_id.as_deref(), Some(new_kid.as_str()));
    assert!(verify(&old, &set, &t.public_url, "CRM").is_ok());
    assert!(verify(&new, &set, &t.public_url, "CRM").is_ok());

    // Four minutes on: the old assertion is still valid, its key still published.
    t.advance(4 * 60);
    let set = jwks(&t).await;
    assert!(verify(&old, &set, &t.public_url, "CRM").is_ok());
    // Past its expiry (and the leeway) the old key is gone.
    t.advance(3 * 60);
    let set = jwks(&t).await;
    assert_eq!(set.keys.len(), 1);
    assert!(verify(&old, &set, &t.public_url, "CRM")
        .unwrap_err()
        .contains("not published"));
}
