//! API keys of an account: a new key is shown once; revoke.

use super::{redirect, render, AdminError, AdminSession, Nav, NavAccount};
use crate::domain::Actor;
use crate::service::{ApiKeyInfo, Error};
use crate::store::Scope;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;

#[derive(Template)]
#[template(path = "admin/keys.html")]
struct KeysPage {
    nav: Option<Nav>,
    notice: Option<String>,
    error: Option<String>,
    csrf: String,
    base: String,
    keys: Vec<ApiKeyInfo>,
    /// The new key in clear and its scope, this once.
    new_key: Option<(String, &'static str)>,
}

async fn keys_of(s: &AdminSession, account: &str) -> Result<Vec<ApiKeyInfo>, AdminError> {
    let (store, a) = (s.state.services.store.clone(), account.to_string());
    Ok(
        crate::blocking::run(move || crate::service::list_api_keys(&store, &a))
            .await
            .map_err(|_| AdminError::Internal)??,
    )
}

async fn page(
    s: &AdminSession,
    a: NavAccount,
    status: StatusCode,
    new_key: Option<(String, &'static str)>,
) -> Result<HttpResponse, AdminError> {
    let keys = keys_of(s, &a.id).await?;
    Ok(render(
        status,
        &KeysPage {
            base: format!("/admin/a/{}", a.id),
            nav: Some(s.nav(Some(a))),
            notice: None,
            error: None,
            csrf: s.session.csrf.clone(),
            keys,
            new_key,
        },
    ))
}

#[get("/admin/a/{account}/keys")]
pub async fn list(s: AdminSession, account: web::Path<String>) -> Result<HttpResponse, AdminError> {
    let a = s.account(&account).await?;
    page(&s, a, StatusCode::OK, None).await
}

#[post("/admin/a/{account}/keys")]
pub async fn create(
    s: AdminSession,
    account: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminError> {
    let (a, form) = s.posted(&account, &body).await?;
    let scope = match form.get("scope") {
        Some("manage") => Scope::Manage,
        _ => Scope::Auth,
    };
    let (store, id, now) = (
        s.state.services.store.clone(),
        a.id.clone(),
        s.state.clock.now(),
    );
    let actor = Actor::Operator(s.session.username.clone());
    let k = crate::blocking::run(move || {
        crate::service::create_api_key(&store, &id, scope, &actor, now)
    })
    .await
    .map_err(|_| AdminError::Internal)??;
    page(&s, a, StatusCode::CREATED, Some((k.key, scope.as_str()))).await
}

#[post("/admin/a/{account}/keys/{key}/revoke")]
pub async fn revoke(
    s: AdminSession,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminError> {
    let (account, key) = path.into_inner();
    let (a, _) = s.posted(&account, &body).await?;
    // Only a key of this account: ids are looked up across accounts.
    if !keys_of(&s, &a.id).await?.iter().any(|k| k.key_id == key) {
        return Err(AdminError::NotFound);
    }
    let (store, now) = (s.state.services.store.clone(), s.state.clock.now());
    let actor = Actor::Operator(s.session.username.clone());
    match crate::blocking::run(move || crate::service::revoke_api_key(&store, &key, &actor, now))
        .await
        .map_err(|_| AdminError::Internal)?
    {
        Ok(_) | Err(Error::NotFound { .. }) => {
            // The revoked key stops working now, not when the cache expires.
            s.state.services.forget_keys();
            Ok(redirect(&format!("/admin/a/{}/keys", a.id)))
        }
        Err(e) => Err(e.into()),
    }
}
