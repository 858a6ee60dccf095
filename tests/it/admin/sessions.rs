//! First run, login, cookies, CSRF, timeouts, throttling, headers.

use super::{logged_in, Admin, PASSWORD};
use crate::harness::TestApp;

#[tokio::test]
async fn first_run_link_creates_the_first_operator_once() {
    let t = TestApp::spawn().await;
    let link = t.setup_link.clone().expect("serve printed a setup link");
    assert!(link.starts_with(&format!("{}/admin/setup/", t.public_url)));
    let mut a = Admin::new(&t);

    // Without the form's token (a cross-site post): refused, nothing made.
    let p = a
        .post(
            &link,
            &[
                ("username", "root"),
                ("password", PASSWORD),
                ("password2", PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.status, 403);
    // A common or short password is refused with the reason.
    for (pw, why) in [("password123", "commonly used"), ("short", "at least 8")] {
        let p = a.setup(&link, Some("root"), pw).await;
        assert_eq!(p.status, 422, "{pw}");
        assert!(p.body.contains(why), "{}", p.body);
    }
    let p = a.setup(&link, Some("Root"), PASSWORD).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("root can now log in"));
    // Once only.
    assert_eq!(a.get(&link).await.status, 410);
    // No second first-run link once an operator exists: a restart prints none.
    let dir = t.data_dir.path().to_path_buf();
    let more = flexsecure::blocking::run(move || {
        let store = flexsecure::store::Store::open(&dir).unwrap();
        store.read_blocking(|db| db.operator_count()).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(more, 1);
}

#[tokio::test]
async fn login_sets_a_strict_http_only_cookie_and_logout_revokes_it() {
    let t = TestApp::spawn().await;
    let mut a = logged_in(&t).await;
    let line = a
        .set_cookie_lines
        .iter()
        .find(|l| l.starts_with("fs_admin="))
        .unwrap()
        .clone();
    assert!(line.contains("HttpOnly"), "{line}");
    assert!(line.contains("SameSite=Strict"), "{line}");
    assert!(line.contains("Path=/"), "{line}");
    // Plain HTTP here: no Secure (the browser would drop the cookie);
    // over HTTPS the name is __Host-fs_admin with Secure.
    assert!(!line.contains("Secure"), "{line}");
    let id = a.cookies["fs_admin"].clone();
    assert!(id.len() >= 43, "at least 256 bits, base64url: {id}");

    let home = a.get("/admin").await;
    assert_eq!(home.location(), Some("/admin/accounts"));
    let page = a.get("/admin/accounts").await;
    assert_eq!(page.status, 200);
    for (h, want) in [
        ("content-security-policy", "default-src 'none'"),
        ("content-security-policy", "frame-ancestors 'none'"),
        ("x-content-type-options", "nosniff"),
        ("cache-control", "no-store"),
    ] {
        let v = page.headers[h].to_str().unwrap();
        assert!(v.contains(want), "{h}: {v}");
    }
    assert!(!page.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("script-src"));

    // Logout needs the token too.
    let csrf = page.input("csrf").unwrap();
    assert_eq!(a.post("/admin/logout", &[]).await.status, 403);
    let out = a.post("/admin/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.location(), Some("/admin/login"));
    // The old cookie, replayed, no longer works.
    a.cookies.insert("fs_admin".into(), id);
    assert_eq!(
        a.get("/admin/accounts").await.location(),
        Some("/admin/login")
    );
}

#[tokio::test]
async fn a_new_session_id_at_every_login_and_posts_need_the_token() {
    let t = TestApp::spawn().await;
    let mut a = logged_in(&t).await;
    let first = a.cookies["fs_admin"].clone();
    let again = a.login("root", PASSWORD).await;
    assert_eq!(again.status, 303);
    assert_ne!(a.cookies["fs_admin"], first);

    let p = a.post("/admin/accounts", &[("name", "Evil")]).await;
    assert_eq!(p.status, 403);
    let p = a
        .post("/admin/accounts", &[("name", "Evil"), ("csrf", "0000")])
        .await;
    assert_eq!(p.status, 403);
    let csrf = a.csrf("/admin/accounts").await;
    let p = a
        .post("/admin/accounts", &[("name", "Globex"), ("csrf", &csrf)])
        .await;
    assert_eq!(p.status, 201, "{}", p.body);
    assert!(p.body.contains("fs_auth_") || p.body.contains("new-auth-key"));
    assert!(a.get("/admin/accounts").await.body.contains("Globex"));
}

#[tokio::test]
async fn sessions_end_after_30_idle_minutes_and_after_12_hours() {
    let t = TestApp::spawn().await;
    let mut a = logged_in(&t).await;
    t.advance(29 * 60);
    assert_eq!(a.get("/admin/accounts").await.status, 200);
    t.advance(29 * 60);
    assert_eq!(
        a.get("/admin/accounts").await.status,
        200,
        "activity renews"
    );
    t.advance(31 * 60);
    assert_eq!(
        a.get("/admin/accounts").await.location(),
        Some("/admin/login")
    );

    let p = a.login("root", PASSWORD).await;
    assert_eq!(p.status, 303);
    for _ in 0..(12 * 60 / 20) - 1 {
        t.advance(20 * 60);
        assert_eq!(a.get("/admin/accounts").await.status, 200);
    }
    t.advance(20 * 60);
    assert_eq!(
        a.get("/admin/accounts").await.location(),
        Some("/admin/login"),
        "12 hours after the login, however active"
    );
}

#[tokio::test]
async fn failed_logins_are_throttled_per_name() {
    let t = TestApp::spawn().await;
    let mut a = logged_in(&t).await;
    for _ in 0..5 {
        assert_eq!(a.login("root", "wrong password!").await.status, 401);
    }
    // Even the right password waits now.
    let p = a.login("root", PASSWORD).await;
    assert_eq!(p.status, 429);
    assert!(p.body.contains("Too many failed logins"));
    // Another name is not affected; the window passes.
    assert_eq!(a.login("nobody", "whatever else").await.status, 401);
    t.advance(15 * 60 + 1);
    assert_eq!(a.login("root", PASSWORD).await.status, 303);
}

#[tokio::test]
async fn behind_https_the_cookie_is_secure_with_the_host_prefix() {
    // The appliance reached over HTTPS (public URL); the test talks plain
    // HTTP to it and keeps cookies by hand, so it sees what a browser would get.
    let t = TestApp::spawn_with(|c| c.server.public_url = Some("https://fs.example".into())).await;
    let mut a = Admin::new(&t);
    let link = t
        .setup_link
        .clone()
        .unwrap()
        .replace("https://fs.example", &t.base);
    assert_eq!(a.setup(&link, Some("root"), PASSWORD).await.status, 200);
    let form = a.set_cookie_lines.last().unwrap().clone();
    assert!(
        form.starts_with("__Host-fs_csrf=") && form.contains("Secure"),
        "{form}"
    );
    assert_eq!(a.login("root", PASSWORD).await.status, 303);
    let line = a
        .set_cookie_lines
        .iter()
        .find(|l| l.starts_with("__Host-fs_admin="))
        .unwrap();
    for attr in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(line.contains(attr), "{line}");
    }
    assert!(
        !line.contains("Domain="),
        "__Host- cookies carry no Domain: {line}"
    );
    assert_eq!(a.get("/admin/accounts").await.status, 200);
}
