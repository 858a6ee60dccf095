//! The audit log of an account: every change and login decision.

use super::{render, AdminError, AdminSession, Nav};
use crate::service::{AuditQuery, AuditScope, AuditView, Error};
use actix_web::http::StatusCode;
use actix_web::{get, web, HttpResponse};
use askama::Template;
use serde::Deserialize;

pub struct Entry {
    pub at: chrono::DateTime<chrono::Utc>,
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
            actor: v.actor,
            action: v.action,
            target: v.target,
            outcome: v.outcome,
            detail_text: v.detail.map(|d| d.to_string()).unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    nav: Option<Nav>,
    notice: Option<String>,
    error: Option<String>,
    base: String,
    actor: String,
    action: String,
    entries: Vec<Entry>,
    next_before: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Filter {
    actor: Option<String>,
    action: Option<String>,
    before: Option<i64>,
}

#[get("/admin/a/{account}/audit")]
pub async fn list(
    s: AdminSession,
    account: web::Path<String>,
    filter: web::Query<Filter>,
) -> Result<HttpResponse, AdminError> {
    let a = s.account(&account).await?;
    let f = filter.into_inner();
    let q = AuditQuery {
        actor: f.actor.clone().filter(|v| !v.trim().is_empty()),
        action: f.action.clone().filter(|v| !v.trim().is_empty()),
        before: f.before,
        limit: Some(100),
        ..Default::default()
    };
    let (entries, next_before, error) = match s
        .state
        .services
        .audit_log(AuditScope::Account(a.id.clone()), q)
        .await
    {
        Ok(p) => (p.entries, p.next_before, None),
        Err(e @ Error::Invalid(_)) => (Vec::new(), None, Some(e.to_string())),
        Err(e) => return Err(e.into()),
    };
    Ok(render(
        StatusCode::OK,
        &AuditPage {
            base: format!("/admin/a/{}", a.id),
            nav: Some(s.nav(Some(a))),
            notice: None,
            error,
            actor: f.actor.unwrap_or_default(),
            action: f.action.unwrap_or_default(),
            entries: entries.into_iter().map(Entry::from).collect(),
            next_before,
        },
    ))
}
