//! `/v2/jwks.json`: the public keys that verify assertions. Public (no API
//! key): relying applications fetch it like any OpenID provider's JWKS.

use super::AppState;
use actix_web::http::header;
use actix_web::{get, web, HttpResponse};

/// The Ed25519 public keys (JWK, `kty` OKP) that verify the `assertion` of
/// approved logins; the signing key first, older keys while their
/// assertions may still be valid.
#[utoipa::path(tag = "login",
    responses((status = 200, description = "JWK set", content_type = "application/json", body = Object)))]
#[get("/v2/jwks.json")]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    let now = state.clock.now();
    HttpResponse::Ok()
        // Short: a rotated key signs at once; verifiers refetch on an unknown kid.
        .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
        .json(state.services.jwks(now))
}
