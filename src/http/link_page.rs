//! The page a passwordless link opens. Its GET only shows a button; only the
//! POST from that page approves, because link previews and mail scanners
//! fetch links and must never log anyone in.

use super::AppState;
use crate::service::{CompleteOutcome, Error};
use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpResponse};

const TEMPLATE: &str = include_str!("../../web/templates/link.html");
const FORM: &str = r#"<form method="post"><button type="submit">Confirm sign-in</button></form>"#;

fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            // So a name can never look like a placeholder of the template.
            '{' => o.push_str("&#123;"),
            _ => o.push(c),
        }
    }
    o
}

fn page(status: StatusCode, title: &str, message: &str, form: bool) -> HttpResponse {
    let html = TEMPLATE
        .replace("{{title}}", &escape(title))
        .replace("{{message}}", &escape(message))
        .replace("{{form}}", if form { FORM } else { "" });
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .body(html)
}

fn unusable() -> HttpResponse {
    page(
        StatusCode::GONE,
        "Link not valid",
        "This sign-in link has expired or was already used. Start the sign-in again.",
        false,
    )
}

/// Shows which system asks, with a confirm button. Changes nothing.
#[utoipa::path(
    tag = "login",
    params(("token" = String, Path, description = "the token from the SMS link")),
    responses((status = 200, description = "HTML page with a confirm button", content_type = "text/html"),
              (status = 410, description = "HTML page: link unknown, used or expired", content_type = "text/html"))
)]
#[get("/l/{token}")]
pub async fn show(state: web::Data<AppState>, token: web::Path<String>) -> HttpResponse {
    let now = state.clock.now();
    match state.services.link_view(&token, now).await {
        Ok(v) if v.usable => page(
            StatusCode::OK,
            "Confirm sign-in",
            &format!(
                "{} asks you to confirm that you are signing in now.",
                v.system_name
            ),
            true,
        ),
        Ok(_) => unusable(),
        Err(e) => {
            tracing::error!(error = %e, "link page failed");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error",
                "Something went wrong. Try again.",
                false,
            )
        }
    }
}

/// Approves the link step (the form on the page posts here).
#[utoipa::path(
    tag = "login",
    params(("token" = String, Path, description = "the token from the SMS link")),
    responses((status = 200, description = "HTML page: confirmed", content_type = "text/html"),
              (status = 410, description = "HTML page: link unknown, used or expired", content_type = "text/html"))
)]
#[post("/l/{token}")]
pub async fn confirm(state: web::Data<AppState>, token: web::Path<String>) -> HttpResponse {
    let now = state.clock.now();
    match state.services.confirm_link(&token, now).await {
        Ok(CompleteOutcome::Approved { .. }) => page(
            StatusCode::OK,
            "Signed in",
            "Your sign-in is confirmed. You can go back to the application.",
            false,
        ),
        Ok(CompleteOutcome::Pending { .. }) => page(
            StatusCode::OK,
            "Confirmed",
            "Link confirmed. Now enter the PIN we are sending you by SMS in the application.",
            false,
        ),
        Err(
            Error::NotFound { .. }
            | Error::Expired
            | Error::AttemptsExhausted
            | Error::Conflict { .. },
        ) => unusable(),
        Err(Error::UserLocked) => page(
            StatusCode::FORBIDDEN,
            "Locked",
            "This account is locked. Contact your administrator.",
            false,
        ),
        Err(e) => {
            tracing::error!(error = %e, "link confirmation failed");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error",
                "Something went wrong. Try again.",
                false,
            )
        }
    }
}
