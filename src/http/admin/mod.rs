//! The admin UI at `/admin`: server-rendered askama pages, no script at all,
//! static files embedded in the binary. It calls the same services as the
//! management API and the CLI and has no SQL of its own.
//!
//! Every page is sent with a CSP that allows only the appliance's own
//! stylesheet (no script, no frames, forms only to itself), `nosniff`,
//! `no-store` and `frame-ancestors 'none'`.

mod accounts;
mod audit;
mod auth_pages;
mod keys;
mod policies;
mod session;
mod sms;
mod systems;
mod users;

pub use session::{AdminSession, Nav, NavAccount};

use actix_web::http::{header, StatusCode};
use actix_web::web::ServiceConfig;
use actix_web::{get, web, HttpResponse, ResponseError};
use askama::Template;

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

#[derive(rust_embed::RustEmbed)]
#[folder = "web/static/"]
struct Assets;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(asset)
        .service(auth_pages::root)
        .service(auth_pages::setup_form)
        .service(auth_pages::setup_submit)
        .service(auth_pages::login_form)
        .service(auth_pages::login_submit)
        .service(auth_pages::logout)
        .service(accounts::list)
        .service(accounts::create)
        .service(accounts::dashboard)
        // `evaluate` before the `{name}` routes of the same prefix.
        .service(policies::evaluate)
        .service(policies::list)
        .service(policies::create)
        .service(policies::delete)
        .service(policies::show)
        .service(policies::replace)
        .service(systems::list)
        .service(systems::create)
        .service(systems::show)
        .service(systems::grant)
        .service(systems::revoke)
        // `import` before `{email}/{action}`.
        .service(users::import)
        .service(users::export)
        .service(users::list)
        .service(users::create)
        .service(users::show)
        .service(users::edit)
        .service(users::act)
        .service(audit::list)
        .service(audit::all)
        .service(keys::list)
        .service(keys::create)
        .service(keys::revoke)
        .service(sms::channels)
        .service(sms::test_sms)
        .service(sms::outbox);
}

/// An HTML response with the admin UI's security headers.
pub fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

/// Renders a page; a template error is a 500 page (and a log line).
pub fn render<T: Template>(status: StatusCode, page: &T) -> HttpResponse {
    match page.render() {
        Ok(body) => html(status, body),
        Err(e) => {
            tracing::error!(error = %e, "admin template failed");
            html(
                StatusCode::INTERNAL_SERVER_ERROR,
                "<!doctype html><title>Error</title><p>Internal error; the log has the details.</p>"
                    .into(),
            )
        }
    }
}

pub fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

#[derive(Template)]
#[template(path = "admin/message.html")]
pub struct MessagePage {
    pub nav: Option<Nav>,
    pub notice: Option<String>,
    pub error: Option<String>,
    pub title: String,
    pub message: String,
    pub link: Option<(String, String)>,
}

/// A page that only says something (errors, refusals).
pub fn message(status: StatusCode, nav: Option<Nav>, title: &str, message: &str) -> HttpResponse {
    render(
        status,
        &MessagePage {
            nav,
            notice: None,
            error: None,
            title: title.into(),
            message: message.into(),
            link: None,
        },
    )
}

/// Why an admin request stops before its page: no session (to the login
/// page), no CSRF token, no access to the account.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("log in first")]
    LoginRequired,
    #[error("the form is stale or was not sent by this site; reload the page and try again")]
    Csrf,
    #[error("you do not have access to this")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("internal error")]
    Internal,
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        match self {
            AdminError::LoginRequired => StatusCode::SEE_OTHER,
            AdminError::Csrf | AdminError::Forbidden => StatusCode::FORBIDDEN,
            AdminError::NotFound => StatusCode::NOT_FOUND,
            AdminError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            AdminError::LoginRequired => redirect("/admin/login"),
            e => message(e.status_code(), None, "Refused", &e.to_string()),
        }
    }
}

impl From<crate::service::Error> for AdminError {
    fn from(e: crate::service::Error) -> Self {
        tracing::error!(error = %e, "admin request failed");
        AdminError::Internal
    }
}

/// `/admin/static/*`: the embedded CSS (and any other static file).
#[get("/admin/static/{file}")]
async fn asset(file: web::Path<String>) -> HttpResponse {
    let Some(f) = Assets::get(&file) else {
        return HttpResponse::NotFound().finish();
    };
    let ctype = match file.rsplit('.').next() {
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    };
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, ctype))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(f.data.into_owned())
}
