//! The operator's session cookie, the CSRF token of every form, the account
//! an operator may act on, and the navigation every page shows.

use super::AdminError;
use crate::domain::{Actor, Caller, OperatorRole};
use crate::http::AppState;
use crate::service::OperatorSession;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use std::future::Future;
use std::pin::Pin;

/// What the layout shows: who is logged in, where, and the logout form's token.
#[derive(Debug, Clone)]
pub struct Nav {
    pub username: String,
    pub appliance: bool,
    pub account: Option<NavAccount>,
    pub csrf: String,
}

#[derive(Debug, Clone)]
pub struct NavAccount {
    pub id: String,
    pub name: String,
}

/// Whether cookies get `Secure` and the `__Host-` prefix: when the
/// appliance is reached over HTTPS.
pub fn secure(state: &AppState) -> bool {
    state.services.public_url().starts_with("https://")
}

pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-fs_admin"
    } else {
        "fs_admin"
    }
}

pub fn csrf_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-fs_csrf"
    } else {
        "fs_csrf"
    }
}

/// A cookie for the whole admin UI: `HttpOnly`, `SameSite=Strict`,
/// `Path=/`, and `Secure` over HTTPS (required by the `__Host-` prefix).
pub fn cookie(name: &'static str, value: String, secure: bool) -> Cookie<'static> {
    Cookie::build(name, value)
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .secure(secure)
        .finish()
}

/// A logged-in operator (the extractor answers "log in first" otherwise).
pub struct AdminSession {
    pub session: OperatorSession,
    pub state: web::Data<AppState>,
}

impl FromRequest for AdminSession {
    type Error = AdminError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AdminError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let value = state
            .as_ref()
            .and_then(|s| req.cookie(session_cookie_name(secure(s))))
            .map(|c| c.value().to_string());
        Box::pin(async move {
            let state = state.ok_or(AdminError::Internal)?;
            let value = value.ok_or(AdminError::LoginRequired)?;
            let now = state.clock.now();
            let session = state
                .services
                .operator_session(&value, now)
                .await?
                .ok_or(AdminError::LoginRequired)?;
            Ok(AdminSession { session, state })
        })
    }
}

impl AdminSession {
    pub fn is_appliance(&self) -> bool {
        self.session.role == OperatorRole::Appliance
    }

    /// Only appliance operators pass.
    pub fn require_appliance(&self) -> Result<(), AdminError> {
        if self.is_appliance() {
            Ok(())
        } else {
            Err(AdminError::Forbidden)
        }
    }

    /// The navigation, optionally inside an account.
    pub fn nav(&self, account: Option<NavAccount>) -> Nav {
        Nav {
            username: self.session.username.clone(),
            appliance: self.is_appliance(),
            account,
            csrf: self.session.csrf.clone(),
        }
    }

    /// The account `id`, if this operator may act on it: checked before
    /// anything of the account is read, so another account's pages are
    /// refused whether or not it exists.
    pub async fn account(&self, id: &str) -> Result<NavAccount, AdminError> {
        if !self.session.role.may_access(id) {
            return Err(AdminError::Forbidden);
        }
        let a = self
            .state
            .services
            .account_view(id)
            .await?
            .ok_or(AdminError::NotFound)?;
        Ok(NavAccount {
            id: a.id,
            name: a.name,
        })
    }

    /// Who acts, on which account: what the use cases take.
    pub fn caller(&self, account: &NavAccount) -> Caller {
        Caller::new(
            account.id.clone(),
            Actor::Operator(self.session.username.clone()),
        )
    }

    /// A form posted to one of `account`'s pages: access to the account,
    /// then the form with this session's CSRF token.
    pub async fn posted(
        &self,
        account: &str,
        body: &[u8],
    ) -> Result<(NavAccount, FormData), AdminError> {
        let a = self.account(account).await?;
        let form = FormData::parse(body);
        self.check(&form)?;
        Ok((a, form))
    }

    /// Refuses a form without this session's CSRF token.
    pub fn check(&self, form: &FormData) -> Result<(), AdminError> {
        form.check_csrf(&self.session.csrf)
    }
}

/// A posted `application/x-www-form-urlencoded` body.
#[derive(Debug, Default)]
pub struct FormData(Vec<(String, String)>);

impl FormData {
    pub fn parse(body: &[u8]) -> Self {
        Self(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`, trimmed; empty counts as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The value as sent (passwords: not trimmed).
    pub fn raw(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    pub fn check_csrf(&self, expected: &str) -> Result<(), AdminError> {
        let sent = self.raw("csrf");
        if !expected.is_empty() && crate::crypto::ct_eq(sent.as_bytes(), expected.as_bytes()) {
            Ok(())
        } else {
            Err(AdminError::Csrf)
        }
    }
}
