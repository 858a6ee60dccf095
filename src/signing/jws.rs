//! Compact JWS with EdDSA (RFC 7515, RFC 8037) and the JWK form of an
//! Ed25519 public key. Pure CPU work, no I/O.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::Serialize;

/// The protected header, fields in this order.
#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

/// `base64url(header) . base64url(payload) . base64url(signature)`, the
/// signature being Ed25519 over the first two parts joined by a dot.
pub(crate) fn encode<T: Serialize>(
    kid: &str,
    key: &SigningKey,
    claims: &T,
) -> Result<String, serde_json::Error> {
    let header = serde_json::to_vec(&Header {
        alg: "EdDSA",
        typ: "JWT",
        kid,
    })?;
    let payload = serde_json::to_vec(claims)?;
    let mut out = URL_SAFE_NO_PAD.encode(header);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut out);
    let signature = key.sign(out.as_bytes());
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut out);
    Ok(out)
}

/// The public JWK of a key (RFC 8037 section 2).
pub(crate) fn jwk(kid: &str, key: &VerifyingKey) -> serde_json::Value {
    serde_json::json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": URL_SAFE_NO_PAD.encode(key.as_bytes()),
        "kid": kid,
        "alg": "EdDSA",
        "use": "sig",
    })
}
