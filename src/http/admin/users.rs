//! Users: search and paging (server side), create, enable/disable, unlock,
//! CSV import with per-row errors.

use super::{redirect, render, AdminError, AdminSession, Nav, NavAccount};
use crate::service::{Error, ImportRowError, UserInput, UserPatch, UserView};
use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpResponse};
use askama::Template;
use serde::Deserialize;

const PAGE: u32 = 100;

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    nav: Option<Nav>,
    notice: Option<String>,
    error: Option<String>,
    csrf: String,
    base: String,
    q: String,
    users: Vec<UserView>,
    next: Option<String>,
    import_errors: Vec<ImportRowError>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    cursor: Option<String>,
}

#[derive(Default)]
struct Shown {
    notice: Option<String>,
    error: Option<String>,
    import_errors: Vec<ImportRowError>,
}

async fn page(
    s: &AdminSession,
    a: NavAccount,
    query: ListQuery,
    status: StatusCode,
    shown: Shown,
) -> Result<HttpResponse, AdminError> {
    let q = query.q.unwrap_or_default();
    let listed = s
        .state
        .services
        .list_users(
            &a.id,
            Some(q.clone()).filter(|q| !q.trim().is_empty()),
            query.cursor.filter(|c| !c.is_empty()),
            Some(PAGE),
        )
        .await;
    let (users, next, error) = match listed {
        Ok(p) => (p.users, p.next_cursor, shown.error),
        // A stale or edited cursor: the first page, with the reason.
        Err(e @ Error::Invalid(_)) => (Vec::new(), None, Some(e.to_string())),
        Err(e) => return Err(e.into()),
    };
    Ok(render(
        status,
        &UsersPage {
            base: format!("/admin/a/{}", a.id),
            nav: Some(s.nav(Some(a))),
            notice: shown.notice,
            error,
            csrf: s.session.csrf.clone(),
            q,
            users,
            next,
            import_errors: shown.import_errors,
        },
    ))
}

#[get("/admin/a/{account}/users")]
pub async fn list(
    s: AdminSession,
    account: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, AdminError> {
    let a = s.account(&account).await?;
    page(&s, a, query.into_inner(), StatusCode::OK, Shown::default()).await
}

fn groups_of(cell: Option<&str>) -> Option<Vec<String>> {
    cell.map(|c| c.split(';').map(|g| g.trim().to_string()).collect())
}

#[post("/admin/a/{account}/users")]
pub async fn create(
    s: AdminSession,
    account: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminError> {
    let (a, form) = s.posted(&account, &body).await?;
    let input = UserInput {
        email: form.get("email").unwrap_or_default().into(),
        phone: form.get("phone").unwrap_or_default().into(),
        name: form.get("name").map(str::to_string),
        enabled: None,
        groups: groups_of(form.get("groups")),
    };
    let now = s.state.clock.now();
    let (status, shown) = match s
        .state
        .services
        .create_user(&s.caller(&a), input, now)
        .await
    {
        Ok(u) => (
            StatusCode::CREATED,
            Shown {
                notice: Some(format!("User {} created.", u.email)),
                ..Default::default()
            },
        ),
        Err(e @ (Error::Invalid(_) | Error::Conflict { .. })) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Shown {
                error: Some(e.to_string()),
                ..Default::default()
            },
        ),
        Err(e) => return Err(e.into()),
    };
    page(&s, a, ListQuery::default(), status, shown).await
}

#[post("/admin/a/{account}/users/import")]
pub async fn import(
    s: AdminSession,
    account: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminError> {
    let (a, form) = s.posted(&account, &body).await?;
    let csv = form.raw("csv").replace("\r\n", "\n").into_bytes();
    let now = s.state.clock.now();
    let (status, shown) = match s.state.services.import_users(&s.caller(&a), csv, now).await {
        Ok(sum) => (
            StatusCode::OK,
            Shown {
                notice: Some(format!(
                    "Imported: {} created, {} updated.",
                    sum.created, sum.updated
                )),
                ..Default::default()
            },
        ),
        Err(Error::Import(rows)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Shown {
                error: Some("Nothing was imported: correct these rows and import again.".into()),
                import_errors: rows,
                ..Default::default()
            },
        ),
        Err(e @ Error::Invalid(_)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Shown {
                error: Some(e.to_string()),
                ..Default::default()
            },
        ),
        Err(e) => return Err(e.into()),
    };
    page(&s, a, ListQuery::default(), status, shown).await
}

/// `enable`, `disable`, `unlock` or `delete`.
#[post("/admin/a/{account}/users/{email}/{action}")]
pub async fn act(
    s: AdminSession,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminError> {
    let (account, email, action) = path.into_inner();
    let (a, _) = s.posted(&account, &body).await?;
    let (caller, now) = (s.caller(&a), s.state.clock.now());
    let services = &s.state.services;
    let done = match action.as_str() {
        "unlock" => services.unlock_user(&caller, &email, now).await.map(|_| ()),
        "delete" => services.delete_user(&caller, &email, now).await,
        "enable" | "disable" => {
            let patch = UserPatch {
                enabled: Some(action == "enable"),
                ..Default::default()
            };
            services
                .update_user(&caller, &email, patch, now)
                .await
                .map(|_| ())
        }
        _ => return Err(AdminError::NotFound),
    };
    match done {
        Ok(()) | Err(Error::NotFound { .. }) => Ok(redirect(&format!("/admin/a/{}/users", a.id))),
        Err(e) => Err(e.into()),
    }
}

/// Every user as CSV, the import's format.
#[get("/admin/a/{account}/users.csv")]
pub async fn export(
    s: AdminSession,
    account: web::Path<String>,
) -> Result<HttpResponse, AdminError> {
    let a = s.account(&account).await?;
    let csv = s.state.services.export_users_csv(&a.id).await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::CONTENT_TYPE,
            "text/csv; charset=utf-8",
        ))
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"users.csv\"",
        ))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(csv))
}

#[derive(Template)]
#[template(path = "admin/user.html")]
struct UserPageT {
    nav: Option<Nav>,
    notice: Option<String>,
    error: Option<String>,
    csrf: String,
    base: String,
    user: UserView,
    systems: Vec<String>,
}

async fn user_page(
    s: &AdminSession,
    a: NavAccount,
    email: &str,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Result<HttpResponse, AdminError> {
    let user = match s.state.services.get_user(&a.id, email).await {
        Ok(u) => u,
        Err(Error::NotFound { .. } | Error::Invalid(_)) => return Err(AdminError::NotFound),
        Err(e) => return Err(e.into()),
    };
    let systems = s.state.services.user_systems(&a.id, email).await?;
    Ok(render(
        status,
        &UserPageT {
            base: format!("/admin/a/{}", a.id),
            nav: Some(s.nav(Some(a))),
            notice,
            error,
            csrf: s.session.csrf.clone(),
            user,
            systems,
        },
    ))
}

#[get("/admin/a/{account}/users/{email}")]
pub async fn show(
    s: AdminSession,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AdminError> {
    let (account, email) = path.into_inner();
    let a = s.account(&account).await?;
    user_page(&s, a, &email, StatusCode::OK, None, None).await
}

#[post("/admin/a/{account}/users/{email}/edit")]
pub async fn edit(
    s: AdminSession,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminError> {
    let (account, email) = path.into_inner();
    let (a, form) = s.posted(&account, &body).await?;
    let patch = UserPatch {
        phone: form.get("phone").map(str::to_string),
        // An emptied field means "no name" / "no groups".
        name: Some(form.get("name").unwrap_or_default().to_string()),
        enabled: None,
        groups: Some(groups_of(form.get("groups")).unwrap_or_default()),
    };
    let now = s.state.clock.now();
    match s
        .state
        .services
        .update_user(&s.caller(&a), &email, patch, now)
        .await
    {
        Ok(_) => user_page(&s, a, &email, StatusCode::OK, Some("Saved.".into()), None).await,
        Err(e @ Error::Invalid(_)) => {
            user_page(
                &s,
                a,
                &email,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(e.to_string()),
            )
            .await
        }
        Err(Error::NotFound { .. }) => Err(AdminError::NotFound),
        Err(e) => Err(e.into()),
    }
}
