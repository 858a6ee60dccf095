//! The page a passwordless link opens. Its GET only shows a button; only the
//! POST from that page approves, because link previews and mail scanners
//! fetch links and must never log anyone in.

use super::AppState;
use crate::domain::Actor;
use crate::service::{CompleteOutcome, Error};
use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpResponse};

const TEMPLATE: &str = include_str!("../../web/templates/link.html");
const FORM: &str = r#"<form method="post"><button type="submit">Confirm sign-in</button></form>"#;

/// Number matching: one button per number; only the one the application
/// shows approves.
fn pick_form(choices: [u8; 3]) -> String {
    let buttons: String = choices
        .iter()
        .map(|n| format!(r#"<button type="submit" name="pick" value="{n}">{n}</button> "#))
        .collect();
    format!(r#"<form method="post">{}</form>"#, buttons.trim_end())
}

fn ask(status: StatusCode, system_name: &str, choices: Option<[u8; 3]>) -> HttpResponse {
    match choices {
        Some(c) => page(
            status,
            "Confirm sign-in",
            &format!(
                "{system_name} asks you to confirm that you are signing in now. \
                 Pick the number shown next to the sign-in form. \
                 If you see no number, you are not signing in: close this page."
            ),
            Some(&pick_form(c)),
        ),
        None => page(
            status,
            "Confirm sign-in",
            &format!("{system_name} asks you to confirm that you are signing in now."),
            Some(FORM),
        ),
    }
}

/// `pick=NN` from the posted form; anything else is no pick.
fn parse_pick(body: &[u8]) -> Option<u8> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == "pick")
        .and_then(|(_, v)| v.trim().parse().ok())
}

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

fn page(status: StatusCode, title: &str, message: &str, form: Option<&str>) -> HttpResponse {
    let html = TEMPLATE
        .replace("{{title}}", &escape(title))
        .replace("{{message}}", &escape(message))
        .replace("{{form}}", form.unwrap_or_default());
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
        None,
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
        Ok(v) if v.usable => ask(StatusCode::OK, &v.system_name, v.choices),
        Ok(_) => unusable(),
        Err(e) => {
            tracing::error!(error = %e, "link page failed");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error",
                "Something went wrong. Try again.",
                None,
            )
        }
    }
}

/// Approves the link step (the form on the page posts here).
#[utoipa::path(
    tag = "login",
    params(("token" = String, Path, description = "the token from the SMS link")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`pick=NN`: the number the application shows (number matching)"),
    responses((status = 200, description = "HTML page: confirmed", content_type = "text/html"),
              (status = 403, description = "HTML page: wrong number picked; the link is void", content_type = "text/html"),
              (status = 422, description = "HTML page: pick a number", content_type = "text/html"),
              (status = 410, description = "HTML page: link unknown, used or expired", content_type = "text/html"))
)]
#[post("/l/{token}")]
pub async fn confirm(
    state: web::Data<AppState>,
    token: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let now = state.clock.now();
    let pick = parse_pick(&body);
    match state
        .services
        .confirm_link(&Actor::System, &token, pick, now)
        .await
    {
        Ok(CompleteOutcome::Approved { .. }) => page(
            StatusCode::OK,
            "Signed in",
            "Your sign-in is confirmed. You can go back to the application.",
            None,
        ),
        Ok(CompleteOutcome::Pending { .. }) => page(
            StatusCode::OK,
            "Confirmed",
            "Link confirmed. Now enter the PIN we are sending you by SMS in the application.",
            None,
        ),
        // No number picked: ask again, nothing counted.
        Err(Error::Invalid(_)) => match state.services.link_view(&token, now).await {
            Ok(v) if v.usable => ask(StatusCode::UNPROCESSABLE_ENTITY, &v.system_name, v.choices),
            _ => unusable(),
        },
        Err(Error::WrongSecret { .. }) => page(
            StatusCode::FORBIDDEN,
            "Wrong number",
            "That is not the number shown next to the sign-in form, so this link no longer \
             works. If you are signing in, start again in the application.",
            None,
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
            None,
        ),
        Err(e) => {
            tracing::error!(error = %e, "link confirmation failed");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error",
                "Something went wrong. Try again.",
                None,
            )
        }
    }
}
