//! Systems and who may log in to them (grants).

use super::{redirect, render, AdminError, AdminSession, Nav, NavAccount};
use crate::service::{Error, SystemInput, SystemView, UserView};
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;

#[derive(Template)]
#[template(path = "admin/systems.html")]
struct SystemsPage {
    nav: Option<Nav>,
    notice: Option<String>,
    error: Option<String>,
    csrf: String,
    base: String,
    systems: Vec<SystemView>,
    policy_names: Vec<String>,
}

async fn systems_page(
    s: &AdminSession,
    a: NavAccount,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Result<HttpResponse, AdminError> {
    let systems = s.state.services.list_systems(&a.id).await?;
    let policy_names = s
        .state
        .services
        .list_policies(&a.id)
        .await?
        .into_iter()
        .map(|p| p.name)
        .collect();
    Ok(render(
        status,
        &SystemsPage {
            base: format!("/admin/a/{}", a.id),
            nav: Some(s.nav(Some(a))),
            notice,
            error,
            csrf: s.session.csrf.clone(),
            systems,
            policy_names,
        },
    ))
}

#[get("/admin/a/{account}/systems")]
pub async fn list(s: AdminSession, account: web::Path<String>) -> Result<HttpResponse, AdminError> {
    let a = s.account(&account).await?;
    systems_page(&s, a, StatusCode::OK, None, None).await
}

#[post("/admin/a/{account}/systems")]
pub async fn create(
    s: AdminSession,
    account: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminError> {
    let (a, form) = s.posted(&account, &body).await?;
    let sensitivity = match form.get("sensitivity").map(str::parse::<u8>) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => Some(u8::MAX),
    };
    let input = SystemInput {
        name: form.get("name").unwrap_or_default().into(),
        policy: form.get("policy").map(str::to_string),
        link_url: form.get("link_url").map(str::to_string),
        sensitivity,
        ..Default::default()
    };
    let now = s.state.clock.now();
    match s
        .state
        .services
        .create_system(&s.caller(&a), input, now)
        .await
    {
        Ok(v) => {
            let notice = Some(format!("System {} created.", v.name));
            systems_page(&s, a, StatusCode::CREATED, notice, None).await
        }
        Err(e @ (Error::Invalid(_) | Error::Conflict { .. } | Error::NotFound { .. })) => {
            systems_page(
                &s,
                a,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(e.to_string()),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "admin/system.html")]
struct SystemPage {
    nav: Option<Nav>,
    notice: Option<String>,
    error: Option<String>,
    csrf: String,
    base: String,
    system: SystemView,
    users: Vec<UserView>,
}

async fn system_page(
    s: &AdminSession,
    a: NavAccount,
    name: &str,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Result<HttpResponse, AdminError> {
    let system = match s.state.services.get_system(&a.id, name).await {
        Ok(v) => v,
        Err(Error::NotFound { .. }) => return Err(AdminError::NotFound),
        Err(e) => return Err(e.into()),
    };
    let users = s.state.services.granted_users(&a.id, name).await?;
    Ok(render(
        status,
        &SystemPage {
            base: format!("/admin/a/{}", a.id),
            nav: Some(s.nav(Some(a))),
            notice,
            error,
            csrf: s.session.csrf.clone(),
            system,
            users,
        },
    ))
}

#[get("/admin/a/{account}/systems/{name}")]
pub async fn show(
    s: AdminSession,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AdminError> {
    let (account, name) = path.into_inner();
    let a = s.account(&account).await?;
    system_page(&s, a, &name, StatusCode::OK, None, None).await
}

#[post("/admin/a/{account}/systems/{name}/grant")]
pub async fn grant(
    s: AdminSession,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminError> {
    let (account, name) = path.into_inner();
    let (a, form) = s.posted(&account, &body).await?;
    let email = form.get("email").unwrap_or_default().to_string();
    let now = s.state.clock.now();
    match s
        .state
        .services
        .grant(&s.caller(&a), &name, &email, now)
        .await
    {
        Ok(_) => {
            let notice = Some(format!("{email} may now log in to {name}."));
            system_page(&s, a, &name, StatusCode::OK, notice, None).await
        }
        Err(e @ (Error::Invalid(_) | Error::NotFound { .. })) => {
            system_page(
                &s,
                a,
                &name,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(e.to_string()),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[post("/admin/a/{account}/systems/{name}/revoke")]
pub async fn revoke(
    s: AdminSession,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminError> {
    let (account, name) = path.into_inner();
    let (a, form) = s.posted(&account, &body).await?;
    let email = form.get("email").unwrap_or_default().to_string();
    let now = s.state.clock.now();
    match s
        .state
        .services
        .revoke_grant(&s.caller(&a), &name, &email, now)
        .await
    {
        Ok(()) | Err(Error::NotFound { .. }) => Ok(redirect(&format!(
            "/admin/a/{}/systems/{}",
            a.id,
            url::form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>()
        ))),
        Err(e) => Err(e.into()),
    }
}
