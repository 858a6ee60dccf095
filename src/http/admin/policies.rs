//! Policies: list, create (with context rules as JSON), delete, dry-run.

use super::{redirect, render, AdminError, AdminSession, Nav, NavAccount};
use crate::domain::{Factor, PolicySpecInput, RuleInput};
use crate::service::{Error, PolicyView, StartInput};
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;

pub struct PolicyRow {
    pub name: String,
    pub builtin: bool,
    pub default_text: String,
    pub rule_count: usize,
    pub rules_json: String,
    pub pin_length: u8,
}

impl From<PolicyView> for PolicyRow {
    fn from(p: PolicyView) -> Self {
        let default_text = match (&p.default.require, p.default.allow, p.default.deny) {
            (Some(steps), _, _) => steps
                .iter()
                .map(|f| match f {
                    Factor::Passwordless => "link",
                    Factor::Pin => "PIN",
                })
                .collect::<Vec<_>>()
                .join(", then "),
            (_, Some(true), _) => "allow".into(),
            _ => "deny".into(),
        };
        Self {
            rules_json: if p.rules.is_empty() {
                String::new()
            } else {
                serde_json::to_string_pretty(&p.rules).unwrap_or_default()
            },
            rule_count: p.rules.len(),
            name: p.name,
            builtin: p.builtin,
            default_text,
            pin_length: p.pin_length,
        }
    }
}

/// What the create form held, to show it again after an error.
#[derive(Default)]
pub struct PolicyForm {
    pub name: String,
    pub timezone: String,
    pub rules: String,
}

#[derive(Template)]
#[template(path = "admin/policies.html")]
struct PoliciesPage {
    nav: Option<Nav>,
    notice: Option<String>,
    error: Option<String>,
    csrf: String,
    base: String,
    policies: Vec<PolicyRow>,
    form: PolicyForm,
    result: Option<String>,
}

struct Shown {
    notice: Option<String>,
    error: Option<String>,
    form: PolicyForm,
    result: Option<String>,
}

async fn page(
    s: &AdminSession,
    a: NavAccount,
    status: StatusCode,
    shown: Shown,
) -> Result<HttpResponse, AdminError> {
    let policies = s.state.services.list_policies(&a.id).await?;
    Ok(render(
        status,
        &PoliciesPage {
            base: format!("/admin/a/{}", a.id),
            nav: Some(s.nav(Some(a))),
            notice: shown.notice,
            error: shown.error,
            csrf: s.session.csrf.clone(),
            policies: policies.into_iter().map(PolicyRow::from).collect(),
            form: shown.form,
            result: shown.result,
        },
    ))
}

fn plain() -> Shown {
    Shown {
        notice: None,
        error: None,
        form: PolicyForm::default(),
        result: None,
    }
}

#[get("/admin/a/{account}/policies")]
pub async fn list(s: AdminSession, account: web::Path<String>) -> Result<HttpResponse, AdminError> {
    let a = s.account(&account).await?;
    page(&s, a, StatusCode::OK, plain()).await
}

fn steps_of(v: &str) -> Vec<Factor> {
    v.split(',')
        .filter_map(|f| Factor::parse(f.trim()))
        .collect()
}

#[post("/admin/a/{account}/policies")]
pub async fn create(
    s: AdminSession,
    account: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminError> {
    let (a, form) = s.posted(&account, &body).await?;
    let shown_form = PolicyForm {
        name: form.get("name").unwrap_or_default().into(),
        timezone: form.get("timezone").unwrap_or_default().into(),
        rules: form.get("rules").unwrap_or_default().into(),
    };
    let rules: Option<Vec<RuleInput>> = match form.get("rules") {
        None => None,
        Some(text) => match serde_json::from_str(text) {
            Ok(r) => Some(r),
            Err(e) => {
                let shown = Shown {
                    error: Some(format!("rules: not a valid list of rules: {e}")),
                    form: shown_form,
                    ..plain()
                };
                return page(&s, a, StatusCode::UNPROCESSABLE_ENTITY, shown).await;
            }
        },
    };
    let input = PolicySpecInput {
        steps: Some(steps_of(form.get("steps").unwrap_or("passwordless"))),
        timezone: form.get("timezone").map(str::to_string),
        rules,
        ..Default::default()
    };
    let caller = s.caller(&a);
    let now = s.state.clock.now();
    match s
        .state
        .services
        .create_policy(&caller, &shown_form.name, input, now)
        .await
    {
        Ok(p) => {
            let shown = Shown {
                notice: Some(format!("Policy {} created.", p.name)),
                ..plain()
            };
            page(&s, a, StatusCode::CREATED, shown).await
        }
        Err(e @ (Error::Invalid(_) | Error::Conflict { .. })) => {
            let shown = Shown {
                error: Some(e.to_string()),
                form: shown_form,
                ..plain()
            };
            page(&s, a, StatusCode::UNPROCESSABLE_ENTITY, shown).await
        }
        Err(e) => Err(e.into()),
    }
}

#[post("/admin/a/{account}/policies/{name}/delete")]
pub async fn delete(
    s: AdminSession,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminError> {
    let (account, name) = path.into_inner();
    let (a, _) = s.posted(&account, &body).await?;
    let now = s.state.clock.now();
    match s
        .state
        .services
        .delete_policy(&s.caller(&a), &name, now)
        .await
    {
        Ok(()) => Ok(redirect(&format!("/admin/a/{}/policies", a.id))),
        Err(e @ (Error::Conflict { .. } | Error::NotFound { .. })) => {
            let shown = Shown {
                error: Some(e.to_string()),
                ..plain()
            };
            page(&s, a, StatusCode::CONFLICT, shown).await
        }
        Err(e) => Err(e.into()),
    }
}

#[post("/admin/a/{account}/policies/evaluate")]
pub async fn evaluate(
    s: AdminSession,
    account: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminError> {
    let (a, form) = s.posted(&account, &body).await?;
    let context = match form.get("context") {
        None => None,
        Some(t) => match serde_json::from_str(t) {
            Ok(v) => Some(v),
            Err(e) => {
                let shown = Shown {
                    error: Some(format!("context: not JSON: {e}")),
                    ..plain()
                };
                return page(&s, a, StatusCode::UNPROCESSABLE_ENTITY, shown).await;
            }
        },
    };
    let input = StartInput {
        email: form.get("email").unwrap_or_default().into(),
        system: form.get("system").unwrap_or_default().into(),
        context,
    };
    let policy = form.get("policy").unwrap_or_default().to_string();
    let now = s.state.clock.now();
    match s
        .state
        .services
        .evaluate_policy(&a.id, &policy, input, now)
        .await
    {
        Ok(v) => {
            let shown = Shown {
                result: Some(serde_json::to_string_pretty(&v).unwrap_or_default()),
                ..plain()
            };
            page(&s, a, StatusCode::OK, shown).await
        }
        Err(e @ (Error::Invalid(_) | Error::NotFound { .. })) => {
            let shown = Shown {
                error: Some(e.to_string()),
                ..plain()
            };
            page(&s, a, StatusCode::UNPROCESSABLE_ENTITY, shown).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "admin/policy.html")]
struct PolicyPage {
    nav: Option<Nav>,
    notice: Option<String>,
    error: Option<String>,
    csrf: String,
    base: String,
    name: String,
    builtin: bool,
    json: String,
}

/// The editable part of a policy, as the API takes it.
fn editable(p: &PolicyView) -> String {
    let mut v = serde_json::json!({
        "rules": p.rules,
        "default": p.default,
        "pin_length": p.pin_length,
        "pin_ttl_seconds": p.pin_ttl_seconds,
        "link_ttl_seconds": p.link_ttl_seconds,
        "max_attempts": p.max_attempts,
        "session_max_age_seconds": p.session_max_age_seconds,
    });
    if let Some(tz) = &p.timezone {
        v["timezone"] = serde_json::json!(tz);
    }
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

async fn policy_page(
    s: &AdminSession,
    a: NavAccount,
    name: &str,
    status: StatusCode,
    shown: Shown,
    text: Option<String>,
) -> Result<HttpResponse, AdminError> {
    let p = match s.state.services.get_policy(&a.id, name).await {
        Ok(p) => p,
        Err(Error::NotFound { .. }) => return Err(AdminError::NotFound),
        Err(e) => return Err(e.into()),
    };
    Ok(render(
        status,
        &PolicyPage {
            base: format!("/admin/a/{}", a.id),
            nav: Some(s.nav(Some(a))),
            notice: shown.notice,
            error: shown.error,
            csrf: s.session.csrf.clone(),
            name: p.name.clone(),
            builtin: p.builtin,
            json: text.unwrap_or_else(|| editable(&p)),
        },
    ))
}

#[get("/admin/a/{account}/policies/{name}")]
pub async fn show(
    s: AdminSession,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AdminError> {
    let (account, name) = path.into_inner();
    let a = s.account(&account).await?;
    policy_page(&s, a, &name, StatusCode::OK, plain(), None).await
}

#[post("/admin/a/{account}/policies/{name}")]
pub async fn replace(
    s: AdminSession,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminError> {
    let (account, name) = path.into_inner();
    let (a, form) = s.posted(&account, &body).await?;
    let text = form.raw("policy").to_string();
    let refused = |msg: String| Shown {
        error: Some(msg),
        ..plain()
    };
    let input: PolicySpecInput = match serde_json::from_str(&text) {
        Ok(i) => i,
        Err(e) => {
            let shown = refused(format!("not a valid policy: {e}"));
            return policy_page(
                &s,
                a,
                &name,
                StatusCode::UNPROCESSABLE_ENTITY,
                shown,
                Some(text),
            )
            .await;
        }
    };
    let now = s.state.clock.now();
    match s
        .state
        .services
        .replace_policy(&s.caller(&a), &name, input, now)
        .await
    {
        Ok(_) => {
            let shown = Shown {
                notice: Some("Saved.".into()),
                ..plain()
            };
            policy_page(&s, a, &name, StatusCode::OK, shown, None).await
        }
        Err(e @ (Error::Invalid(_) | Error::Conflict { .. })) => {
            let shown = refused(e.to_string());
            policy_page(
                &s,
                a,
                &name,
                StatusCode::UNPROCESSABLE_ENTITY,
                shown,
                Some(text),
            )
            .await
        }
        Err(Error::NotFound { .. }) => Err(AdminError::NotFound),
        Err(e) => Err(e.into()),
    }
}
