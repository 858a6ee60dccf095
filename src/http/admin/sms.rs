//! The SMS channels (appliance operators: they are shared by all accounts)
//! and an account's outbox.

use super::session::FormData;
use super::{render, AdminError, AdminSession, Nav};
use crate::domain::{Actor, PhoneNumber};
use crate::service::{Error, OUTBOX_STATUSES};
use crate::sms::router::Verdict;
use crate::sms::OutgoingSms;
use crate::store::OutboxListRow;
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;
use serde::Deserialize;

pub struct RouteRow {
    pub channel: String,
    pub available: bool,
    pub breaker: String,
    pub failures: u32,
}

pub struct ModemRow {
    pub name: String,
    pub state: String,
    pub signal: String,
    pub registration: String,
    pub operator: String,
    pub model: String,
    pub last_error: String,
}

#[derive(Template)]
#[template(path = "admin/channels.html")]
struct ChannelsPage {
    nav: Option<Nav>,
    notice: Option<String>,
    error: Option<String>,
    csrf: String,
    routes: Vec<RouteRow>,
    modems: Vec<ModemRow>,
    result: Option<String>,
    /// SHA-256 of the HTTPS certificate, when serving HTTPS.
    fingerprint: Option<String>,
}

fn text<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// Every modem's health as the pages show it.
pub fn modem_rows(state: &crate::http::AppState) -> Vec<ModemRow> {
    state
        .modems
        .iter()
        .map(|m| {
            let st = m.status();
            ModemRow {
                state: serde_json::to_value(st.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                signal: text(st.signal),
                registration: text(st.registration),
                operator: text(st.operator),
                model: text(st.model),
                last_error: text(st.last_error),
                name: st.name,
            }
        })
        .collect()
}

fn channels_page(
    s: &AdminSession,
    status: StatusCode,
    error: Option<String>,
    result: Option<String>,
) -> HttpResponse {
    let routes = s
        .state
        .router
        .status()
        .into_iter()
        .map(|r| RouteRow {
            channel: r.channel,
            available: r.available,
            breaker: serde_json::to_value(r.breaker)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            failures: r.consecutive_failures,
        })
        .collect();
    let modems = modem_rows(&s.state);
    render(
        status,
        &ChannelsPage {
            nav: Some(s.nav(None)),
            notice: None,
            error,
            csrf: s.session.csrf.clone(),
            routes,
            modems,
            result,
            fingerprint: s.state.services.tls_fingerprint(),
        },
    )
}

#[get("/admin/channels")]
pub async fn channels(s: AdminSession) -> Result<HttpResponse, AdminError> {
    s.require_appliance()?;
    Ok(channels_page(&s, StatusCode::OK, None, None))
}

/// Sends one SMS through the running dispatcher's channels, in order, now.
#[post("/admin/channels/test")]
pub async fn test_sms(s: AdminSession, body: web::Bytes) -> Result<HttpResponse, AdminError> {
    s.require_appliance()?;
    let form = FormData::parse(&body);
    s.check(&form)?;
    let to = match PhoneNumber::parse(form.get("to").unwrap_or_default()) {
        Ok(p) => p,
        Err(e) => {
            return Ok(channels_page(
                &s,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(e.to_string()),
                None,
            ))
        }
    };
    let text = form
        .get("text")
        .unwrap_or("FlexSecure test message")
        .chars()
        .take(160)
        .collect::<String>();
    let router = s.state.router.clone();
    let sms = OutgoingSms {
        id: 0,
        to: to.as_str().into(),
        text,
        deadline: None,
    };
    let d = crate::blocking::run(move || router.dispatch(&sms, || true))
        .await
        .map_err(|_| AdminError::Internal)?;
    let outcome = match &d.verdict {
        Verdict::Sent { channel, .. } => format!("sent via {channel}"),
        Verdict::Unknown { channel, error } => format!("outcome unknown on {channel}: {error}"),
        Verdict::Retry(e) | Verdict::Failed(e) => format!("not sent: {e}"),
        Verdict::Expired => "expired".into(),
    };
    let attempts: Vec<String> = d
        .attempts
        .iter()
        .map(|a| format!("{}: {:?}", a.channel, a.outcome))
        .collect();
    let actor = Actor::Operator(s.session.username.clone());
    let now = s.state.clock.now();
    let sent = matches!(d.verdict, Verdict::Sent { .. });
    s.state.services.record_test_sms(&actor, sent, now).await?;
    let result = format!("{outcome}\nattempts:\n  {}", attempts.join("\n  "));
    Ok(channels_page(&s, StatusCode::OK, None, Some(result)))
}

#[derive(Template)]
#[template(path = "admin/outbox.html")]
struct OutboxPage {
    nav: Option<Nav>,
    notice: Option<String>,
    error: Option<String>,
    base: String,
    statuses: Vec<&'static str>,
    status: String,
    messages: Vec<OutboxListRow>,
    next_before: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct OutboxQuery {
    status: Option<String>,
    before: Option<i64>,
}

#[get("/admin/a/{account}/outbox")]
pub async fn outbox(
    s: AdminSession,
    account: web::Path<String>,
    q: web::Query<OutboxQuery>,
) -> Result<HttpResponse, AdminError> {
    let a = s.account(&account).await?;
    let q = q.into_inner();
    let status = q.status.clone().filter(|v| !v.is_empty());
    let (messages, next_before, error) = match s
        .state
        .services
        .outbox(&a.id, status.clone(), q.before, Some(100))
        .await
    {
        Ok(p) => (p.messages, p.next_before, None),
        Err(e @ Error::Invalid(_)) => (Vec::new(), None, Some(e.to_string())),
        Err(e) => return Err(e.into()),
    };
    Ok(render(
        StatusCode::OK,
        &OutboxPage {
            base: format!("/admin/a/{}", a.id),
            nav: Some(s.nav(Some(a))),
            notice: None,
            error,
            statuses: OUTBOX_STATUSES.to_vec(),
            status: status.unwrap_or_default(),
            messages,
            next_before,
        },
    ))
}
