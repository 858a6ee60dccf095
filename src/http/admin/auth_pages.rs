//! Setup links, login and logout. Before login there is no session, so the
//! login and setup forms carry a token that must equal a `SameSite=Strict`
//! cookie set with the form (double submit): a form posted from another
//! site has neither.

use super::session::{cookie, csrf_cookie_name, secure, session_cookie_name, FormData};
use super::{message, redirect, render, AdminSession, Nav};
use crate::domain::OperatorRole;
use crate::http::AppState;
use crate::service::Error;
use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, FromRequest, HttpRequest, HttpResponse};
use askama::Template;

#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage {
    nav: Option<Nav>,
    notice: Option<String>,
    error: Option<String>,
    csrf: String,
    username: String,
}

#[derive(Template)]
#[template(path = "admin/setup.html")]
struct SetupPage {
    nav: Option<Nav>,
    notice: Option<String>,
    error: Option<String>,
    csrf: String,
    first_operator: bool,
    username: String,
}

/// A fresh pre-session token, set as a cookie on `resp`.
fn with_form_token(state: &AppState, mut resp: HttpResponse, token: &str) -> HttpResponse {
    let c = cookie(
        csrf_cookie_name(secure(state)),
        token.to_string(),
        secure(state),
    );
    if let Err(e) = resp.add_cookie(&c) {
        tracing::error!(error = %e, "cannot set the form cookie");
    }
    resp
}

/// A cookie that deletes `name`: the same attributes as when it was set
/// (a `__Host-` cookie without `Secure` and `Path=/` would be ignored).
fn removal(name: &'static str, secure: bool) -> Cookie<'static> {
    let mut c = cookie(name, String::new(), secure);
    c.make_removal();
    c
}

/// The form's token equals its cookie.
fn form_token_ok(req: &HttpRequest, state: &AppState, form: &FormData) -> bool {
    req.cookie(csrf_cookie_name(secure(state)))
        .is_some_and(|c| form.check_csrf(c.value()).is_ok())
}

/// `/admin`: to the login page, the accounts (appliance operator) or the
/// operator's account.
#[get("/admin")]
pub async fn root(req: HttpRequest) -> HttpResponse {
    let session = AdminSession::extract(&req).await;
    match session {
        Ok(s) => match &s.session.role {
            OperatorRole::Appliance => redirect("/admin/accounts"),
            OperatorRole::Account(a) => redirect(&format!("/admin/a/{a}")),
        },
        Err(_) => redirect("/admin/login"),
    }
}

fn login_page(
    state: &AppState,
    status: StatusCode,
    error: Option<String>,
    username: &str,
) -> HttpResponse {
    let token = crate::crypto::random_token::<24>();
    let page = LoginPage {
        nav: None,
        notice: None,
        error,
        csrf: token.clone(),
        username: username.into(),
    };
    with_form_token(state, render(status, &page), &token)
}

#[get("/admin/login")]
pub async fn login_form(state: web::Data<AppState>) -> HttpResponse {
    login_page(&state, StatusCode::OK, None, "")
}

#[post("/admin/login")]
pub async fn login_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    let form = FormData::parse(&body);
    if !form_token_ok(&req, &state, &form) {
        return login_page(
            &state,
            StatusCode::FORBIDDEN,
            Some("The form was stale; try again.".into()),
            form.get("username").unwrap_or_default(),
        );
    }
    let username = form.get("username").unwrap_or_default();
    let ip = req.peer_addr().map(|a| a.ip());
    let now = state.clock.now();
    match state
        .services
        .operator_login(username, form.raw("password"), ip, now)
        .await
    {
        Ok(s) => {
            let mut resp = redirect("/admin");
            let secure = secure(&state);
            let c = cookie(session_cookie_name(secure), s.cookie, secure);
            let gone = removal(csrf_cookie_name(secure), secure);
            if resp.add_cookie(&c).and(resp.add_cookie(&gone)).is_err() {
                tracing::error!("cannot set the session cookie");
            }
            resp
        }
        Err(Error::RateLimited { retry_after }) => login_page(
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            Some(format!(
                "Too many failed logins. Try again in {} minutes.",
                retry_after.div_ceil(60)
            )),
            username,
        ),
        Err(Error::Forbidden { .. }) => login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            Some("Wrong username or password.".into()),
            username,
        ),
        Err(e) => {
            tracing::error!(error = %e, "operator login failed");
            message(
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
                "Error",
                "Internal error.",
            )
        }
    }
}

#[post("/admin/logout")]
pub async fn logout(session: AdminSession, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let form = FormData::parse(&body);
    if let Err(e) = session.check(&form) {
        return actix_web::ResponseError::error_response(&e);
    }
    let state = &session.state;
    let secure = secure(state);
    if let Some(c) = req.cookie(session_cookie_name(secure)) {
        let now = state.clock.now();
        if let Err(e) = state.services.operator_logout(c.value(), now).await {
            tracing::error!(error = %e, "logout failed");
        }
    }
    let mut resp = redirect("/admin/login");
    let gone = removal(session_cookie_name(secure), secure);
    let _ = resp.add_cookie(&gone);
    resp
}

fn setup_page(
    state: &AppState,
    status: StatusCode,
    first_operator: bool,
    username: &str,
    error: Option<String>,
) -> HttpResponse {
    let token = crate::crypto::random_token::<24>();
    let page = SetupPage {
        nav: None,
        notice: None,
        error,
        csrf: token.clone(),
        first_operator,
        username: username.into(),
    };
    with_form_token(state, render(status, &page), &token)
}

fn link_gone() -> HttpResponse {
    message(
        StatusCode::GONE,
        None,
        "Link not valid",
        "This setup link is unknown, used or expired. Ask for a new one (flexsecure operator create).",
    )
}

#[get("/admin/setup/{token}")]
pub async fn setup_form(state: web::Data<AppState>, token: web::Path<String>) -> HttpResponse {
    match state.services.setup_view(&token, state.clock.now()).await {
        Ok(v) => setup_page(
            &state,
            StatusCode::OK,
            v.first_operator,
            v.username.as_deref().unwrap_or_default(),
            None,
        ),
        Err(_) => link_gone(),
    }
}

#[post("/admin/setup/{token}")]
pub async fn setup_submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let now = state.clock.now();
    let Ok(view) = state.services.setup_view(&token, now).await else {
        return link_gone();
    };
    let form = FormData::parse(&body);
    let shown_name = view
        .username
        .clone()
        .unwrap_or_else(|| form.get("username").unwrap_or_default().to_string());
    let again = |status, msg: String| {
        setup_page(&state, status, view.first_operator, &shown_name, Some(msg))
    };
    if !form_token_ok(&req, &state, &form) {
        return again(
            StatusCode::FORBIDDEN,
            "The form was stale; try again.".into(),
        );
    }
    if form.raw("password") != form.raw("password2") {
        return again(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The two passwords differ.".into(),
        );
    }
    match state
        .services
        .complete_setup(&token, form.get("username"), form.raw("password"), now)
        .await
    {
        Ok(name) => super::render(
            StatusCode::OK,
            &super::MessagePage {
                nav: None,
                notice: None,
                error: None,
                title: "Password saved".into(),
                message: format!("Operator {name} can now log in."),
                link: Some(("/admin/login".into(), "Log in".into())),
            },
        ),
        Err(Error::Invalid(i)) => again(StatusCode::UNPROCESSABLE_ENTITY, i.to_string()),
        Err(Error::NotFound { .. }) => link_gone(),
        Err(e) => {
            tracing::error!(error = %e, "setup failed");
            message(
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
                "Error",
                "Internal error.",
            )
        }
    }
}
