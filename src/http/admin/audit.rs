//! The audit log: an account's (any operator of it), or every account's
//! and the appliance's own (appliance operators), filtered by account,
//! actor, action and time.

use super::{render, AdminError, AdminSession, Nav};
use crate::service::{AuditQuery, AuditScope, AuditView, Error};
use actix_web::http::StatusCode;
use actix_web::{get, web, HttpResponse};
use askama::Template;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;

pub struct Entry {
    pub at: DateTime<Utc>,
    pub account: Option<String>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    pub detail_text: String,
}

impl From<AuditView> for Entry {
    fn from(v: AuditView) -> Self {
        Self {
            at: v.at,
            account: v.account_id,
            actor: v.actor,
            action: v.action,
            target: v.target,
            outcome: v.outcome,
            detail_text: v.detail.map(|d| d.to_string()).unwrap_or_default(),
        }
    }
}

/// The filter as sent, shown again in the form and carried to older pages.
#[derive(Debug, Default, Deserialize)]
pub struct Filter {
    #[serde(default)]
    account: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    before: Option<i64>,
}

/// What the form shows, and the same filter as a query string.
pub struct Shown {
    pub account: String,
    pub actor: String,
    pub action: String,
    pub from: String,
    pub to: String,
    pub query: String,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    nav: Option<Nav>,
    notice: Option<String>,
    error: Option<String>,
    all_accounts: bool,
    action_url: String,
    f: Shown,
    entries: Vec<Entry>,
    next_before: Option<i64>,
}

/// `YYYY-MM-DDTHH:MM` (what a datetime-local field sends), in UTC.
fn time(field: &'static str, v: &str) -> Result<Option<DateTime<Utc>>, String> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S"))
        .map(|t| Some(t.and_utc()))
        .map_err(|_| format!("{field}: not a date and time (YYYY-MM-DDTHH:MM)"))
}

async fn page(
    s: &AdminSession,
    scope: AuditScope,
    nav: Nav,
    action_url: String,
    f: Filter,
) -> Result<HttpResponse, AdminError> {
    let all_accounts = matches!(scope, AuditScope::All);
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("account", &f.account),
            ("actor", &f.actor),
            ("action", &f.action),
            ("from", &f.from),
            ("to", &f.to),
        ])
        .finish();
    let nonempty = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
    let times = time("from", &f.from).and_then(|from| Ok((from, time("to", &f.to)?)));
    let (entries, next_before, error) = match times {
        Err(e) => (Vec::new(), None, Some(e)),
        Ok((from, to)) => {
            let q = AuditQuery {
                actor: nonempty(&f.actor),
                action: nonempty(&f.action),
                from,
                to,
                before: f.before,
                limit: Some(100),
            };
            match s.state.services.audit_log(scope, q).await {
                Ok(p) => (p.entries, p.next_before, None),
                Err(e @ Error::Invalid(_)) => (Vec::new(), None, Some(e.to_string())),
                Err(e) => return Err(e.into()),
            }
        }
    };
    Ok(render(
        StatusCode::OK,
        &AuditPage {
            nav: Some(nav),
            notice: None,
            error,
            all_accounts,
            action_url,
            f: Shown {
                account: f.account,
                actor: f.actor,
                action: f.action,
                from: f.from,
                to: f.to,
                query,
            },
            entries: entries.into_iter().map(Entry::from).collect(),
            next_before,
        },
    ))
}

#[get("/admin/a/{account}/audit")]
pub async fn list(
    s: AdminSession,
    account: web::Path<String>,
    filter: web::Query<Filter>,
) -> Result<HttpResponse, AdminError> {
    let a = s.account(&account).await?;
    let url = format!("/admin/a/{}/audit", a.id);
    let scope = AuditScope::Account(a.id.clone());
    page(&s, scope, s.nav(Some(a)), url, filter.into_inner()).await
}

/// Every account's records and the appliance's own (operator logins,
/// test SMS, accounts created): appliance operators only.
#[get("/admin/audit")]
pub async fn all(s: AdminSession, filter: web::Query<Filter>) -> Result<HttpResponse, AdminError> {
    s.require_appliance()?;
    let f = filter.into_inner();
    let scope = match f.account.trim() {
        "" => AuditScope::All,
        a => AuditScope::Account(a.to_string()),
    };
    page(&s, scope, s.nav(None), "/admin/audit".into(), f).await
}
