//! Accounts (appliance operators) and an account's dashboard.

use super::session::FormData;
use super::{render, AdminError, AdminSession, Nav};
use crate::domain::Actor;
use crate::service::{AccountView, DashboardView};
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;

pub struct NewKeys {
    pub name: String,
    pub auth_key: String,
    pub manage_key: String,
}

#[derive(Template)]
#[template(path = "admin/accounts.html")]
struct AccountsPage {
    nav: Option<Nav>,
    notice: Option<String>,
    error: Option<String>,
    csrf: String,
    accounts: Vec<AccountView>,
    new_keys: Option<NewKeys>,
}

async fn accounts_page(
    s: &AdminSession,
    status: StatusCode,
    error: Option<String>,
    new_keys: Option<NewKeys>,
) -> Result<HttpResponse, AdminError> {
    let accounts = s.state.services.account_views().await?;
    Ok(render(
        status,
        &AccountsPage {
            nav: Some(s.nav(None)),
            notice: None,
            error,
            csrf: s.session.csrf.clone(),
            accounts,
            new_keys,
        },
    ))
}

#[get("/admin/accounts")]
pub async fn list(s: AdminSession) -> Result<HttpResponse, AdminError> {
    s.require_appliance()?;
    accounts_page(&s, StatusCode::OK, None, None).await
}

#[post("/admin/accounts")]
pub async fn create(s: AdminSession, body: web::Bytes) -> Result<HttpResponse, AdminError> {
    s.require_appliance()?;
    let form = FormData::parse(&body);
    s.check(&form)?;
    let name = form.get("name").unwrap_or_default().to_string();
    let store = s.state.services.store.clone();
    let actor = Actor::Operator(s.session.username.clone());
    let now = s.state.clock.now();
    let made =
        crate::blocking::run(move || crate::service::create_account(&store, &name, &actor, now))
            .await
            .map_err(|_| AdminError::Internal)?;
    match made {
        Ok(a) => {
            let keys = NewKeys {
                name: a.name,
                auth_key: a.auth_key,
                manage_key: a.manage_key,
            };
            accounts_page(&s, StatusCode::CREATED, None, Some(keys)).await
        }
        Err(crate::service::Error::Invalid(i)) => {
            accounts_page(
                &s,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(i.to_string()),
                None,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// One bar segment of the per-hour chart.
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    pub class: &'static str,
    pub title: String,
}

pub struct Chart {
    pub width: u32,
    pub height: u32,
    pub max: u64,
    pub rects: Vec<Rect>,
}

/// Stacked bars, one per hour: approved at the bottom, then failed, then the rest.
fn chart(d: &DashboardView) -> Chart {
    let (width, height, slot) = (720u32, 160u32, 30u32);
    let max = d
        .hours
        .iter()
        .map(|h| h.approved + h.failed + h.other)
        .max()
        .unwrap_or(0);
    let scale = |n: u64| -> u32 {
        (n * u64::from(height - 10))
            .checked_div(max)
            .map_or(0, |v| v as u32)
    };
    let mut rects = Vec::new();
    for (i, h) in d.hours.iter().enumerate() {
        let x = i as u32 * slot + 3;
        let mut top = height;
        for (n, class, what) in [
            (h.approved, "approved", "approved"),
            (h.failed, "failed", "failed"),
            (h.other, "other", "pending or expired"),
        ] {
            let px = scale(n);
            if px == 0 {
                continue;
            }
            top -= px;
            rects.push(Rect {
                x,
                y: top,
                w: slot - 6,
                h: px,
                class,
                title: format!("{} {n} {what}", h.hour.format("%H:00")),
            });
        }
    }
    Chart {
        width,
        height,
        max,
        rects,
    }
}

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct DashboardPage {
    nav: Option<Nav>,
    notice: Option<String>,
    error: Option<String>,
    d: DashboardView,
    chart: Chart,
    modems: Vec<super::sms::ModemRow>,
}

#[get("/admin/a/{account}")]
pub async fn dashboard(
    s: AdminSession,
    account: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let a = s.account(&account).await?;
    let d = s
        .state
        .services
        .dashboard(&a.id, s.state.clock.now())
        .await?;
    let chart = chart(&d);
    Ok(render(
        StatusCode::OK,
        &DashboardPage {
            nav: Some(s.nav(Some(a))),
            notice: None,
            error: None,
            d,
            chart,
            modems: super::sms::modem_rows(&s.state),
        },
    ))
}
