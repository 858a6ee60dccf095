//! The admin UI over plain HTTP (a real client keeping cookies by hand):
//! setup links, login, sessions, CSRF, headers, roles. The browser tests
//! (`crate::browser`) drive the same pages in Chromium.

mod access;
mod pages;
mod scale;
mod sessions;

use crate::harness::TestApp;
use reqwest::header::{HeaderMap, COOKIE, SET_COOKIE};
use std::collections::HashMap;

/// A browser-like client: keeps cookies, does not follow redirects.
pub struct Admin<'a> {
    _t: &'a TestApp,
    client: reqwest::Client,
    base: String,
    pub cookies: HashMap<String, String>,
    /// Every Set-Cookie line seen, for attribute checks.
    pub set_cookie_lines: Vec<String>,
}

pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    /// The value of the first `<input name="NAME" ... value="...">`.
    pub fn input(&self, name: &str) -> Option<String> {
        let at = self.body.find(&format!("name=\"{name}\""))?;
        let rest = &self.body[at..];
        let v = rest.split("value=\"").nth(1)?;
        Some(v.split('"').next()?.to_string())
    }

    pub fn location(&self) -> Option<&str> {
        self.headers.get("location").and_then(|v| v.to_str().ok())
    }
}

impl<'a> Admin<'a> {
    pub fn new(t: &'a TestApp) -> Self {
        Self {
            _t: t,
            client: crate::harness::http_builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: t.base.clone(),
            cookies: HashMap::new(),
            set_cookie_lines: Vec::new(),
        }
    }

    /// Through another client (HTTPS) to another base URL.
    pub fn with_client(t: &'a TestApp, client: reqwest::Client, base: String) -> Self {
        Self {
            client,
            base,
            ..Self::new(t)
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    async fn finish(&mut self, r: reqwest::Response) -> Page {
        for v in r.headers().get_all(SET_COOKIE) {
            let line = v.to_str().unwrap().to_string();
            let (pair, _) = line.split_once(';').unwrap_or((&line, ""));
            let (k, val) = pair.split_once('=').unwrap();
            if val.is_empty() || line.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), val.to_string());
            }
            self.set_cookie_lines.push(line);
        }
        Page {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.text().await.unwrap(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let r = self
            .client
            .get(self.url(path))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.finish(r).await
    }

    /// POSTs a form; `fields` are sent as given (add `csrf` yourself).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let r = self
            .client
            .post(self.url(path))
            .header(COOKIE, self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        self.finish(r).await
    }

    /// Completes a setup link with this password (and username, for the first operator).
    pub async fn setup(&mut self, link: &str, username: Option<&str>, password: &str) -> Page {
        let form = self.get(link).await;
        assert_eq!(form.status, 200, "{}", form.body);
        let csrf = form.input("csrf").unwrap();
        let mut fields = vec![
            ("csrf", csrf.as_str()),
            ("password", password),
            ("password2", password),
        ];
        if let Some(u) = username {
            fields.push(("username", u));
        }
        self.post(link, &fields).await
    }

    /// Logs in; returns the answer to the POST.
    pub async fn login(&mut self, username: &str, password: &str) -> Page {
        let form = self.get("/admin/login").await;
        let csrf = form.input("csrf").unwrap();
        self.post(
            "/admin/login",
            &[
                ("csrf", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    /// The CSRF token of this session, read from a page's logout form.
    pub async fn csrf(&mut self, page: &str) -> String {
        let p = self.get(page).await;
        assert_eq!(p.status, 200, "{page}: {}", p.body);
        p.input("csrf").unwrap()
    }
}

pub const PASSWORD: &str = "correct horse battery staple";

/// A server whose first operator `root` exists and is logged in.
pub async fn logged_in(t: &TestApp) -> Admin<'_> {
    let mut a = Admin::new(t);
    let link = t.setup_link.clone().unwrap();
    let p = a.setup(&link, Some("root"), PASSWORD).await;
    assert_eq!(p.status, 200, "{}", p.body);
    let p = a.login("root", PASSWORD).await;
    assert_eq!(p.status, 303, "{}", p.body);
    a
}
