//! The admin UI in real headless Chromium: first-run setup, login, a policy,
//! a system, a user and a grant through the forms, a real login through the
//! API found on the dashboard and in the audit log, a CSV import with one
//! bad row, the other pages, logout. Every page is screenshot and checked
//! for anything loaded from outside the appliance.

use super::Browser;
use crate::harness::{json, pin_of, TestApp};
use serde_json::json;

const PASSWORD: &str = "a long and unusual passphrase";

/// Takes a screenshot and checks nothing on the page comes from elsewhere.
async fn look(b: &Browser, t: &TestApp, name: &str) {
    b.screenshot(name).await;
    let external = b.external_requests(&t.base).await;
    assert!(external.is_empty(), "{name} loads {external:?}");
}

#[tokio::test]
async fn an_operator_sets_up_the_appliance_in_the_browser() {
    let t = TestApp::spawn_with(|c| c.sms.limits.per_number.max = 0).await;
    let b = Browser::start("admin_setup_to_logout").await;
    let acc = t.account.account_id.clone();
    let base = format!("{}/admin/a/{acc}", t.base);

    // First run: the printed link.
    b.goto(t.setup_link.as_deref().unwrap()).await;
    look(&b, &t, "setup").await;
    b.fill("input[name=username]", "root").await;
    b.fill("input[name=password]", PASSWORD).await;
    b.fill("input[name=password2]", PASSWORD).await;
    b.submit("form").await;
    assert!(b.text("main").await.contains("root can now log in"));
    look(&b, &t, "setup-done").await;

    b.goto(&format!("{}/admin/login", t.base)).await;
    look(&b, &t, "login").await;
    b.fill("input[name=username]", "root").await;
    b.fill("input[name=password]", PASSWORD).await;
    b.submit("form").await;
    assert!(b.current_url().await.ends_with("/admin/accounts"));
    let session = b
        .cookies()
        .await
        .into_iter()
        .find(|c| c.name == "fs_admin")
        .expect("the session cookie");
    assert_eq!(session.http_only, Some(true));
    assert_eq!(session.same_site.as_deref(), Some("Strict"));
    assert_eq!(session.path.as_deref(), Some("/"));
    look(&b, &t, "accounts").await;

    b.goto(&base).await;
    look(&b, &t, "dashboard-empty").await;

    // A policy with a context rule, a system, a user, a grant.
    b.goto(&format!("{base}/policies")).await;
    b.fill("#new-policy input[name=name]", "office").await;
    b.click("#new-policy select[name=steps] option[value=pin]")
        .await;
    b.fill(
        "#new-policy textarea[name=rules]",
        r#"[{"when": {"ip_in": ["10.0.0.0/8"]}, "require": ["passwordless"]}]"#,
    )
    .await;
    b.submit("#new-policy").await;
    assert!(b.text(".notice").await.contains("Policy office created"));
    assert!(b.text("#policies").await.contains("office"));
    look(&b, &t, "policies").await;

    b.goto(&format!("{base}/systems")).await;
    b.fill("#new-system input[name=name]", "CRM").await;
    b.click("#new-system select[name=policy] option[value=office]")
        .await;
    b.submit("#new-system").await;
    assert!(b.text("#systems").await.contains("CRM"));
    look(&b, &t, "systems").await;

    b.goto(&format!("{base}/users")).await;
    b.fill("#new-user input[name=email]", "ann@example.com")
        .await;
    b.fill("#new-user input[name=phone]", "+41 79 000 04 01")
        .await;
    b.fill("#new-user input[name=name]", "Ann Example").await;
    b.submit("#new-user").await;
    assert!(b.text("#users").await.contains("ann@example.com"));
    look(&b, &t, "users").await;

    b.goto(&format!("{base}/systems/CRM")).await;
    b.fill("#grant input[name=email]", "ann@example.com").await;
    b.submit("#grant").await;
    assert!(b.text("#grants").await.contains("ann@example.com"));
    look(&b, &t, "grants").await;

    // The dry-run from the policies page.
    b.goto(&format!("{base}/policies")).await;
    b.click("#dry-run select[name=policy] option[value=office]")
        .await;
    b.fill("#dry-run input[name=email]", "ann@example.com")
        .await;
    b.fill("#dry-run input[name=system]", "CRM").await;
    b.fill("#dry-run textarea[name=context]", r#"{"ip": "10.1.2.3"}"#)
        .await;
    b.submit("#dry-run").await;
    assert!(b.text("#dry-run-result").await.contains("passwordless"));
    look(&b, &t, "dry-run").await;

    // A real login through the API.
    let (s, start) = json(t.start("ann@example.com", "CRM").await).await;
    assert_eq!(s, 202, "{start}");
    let rid = start["request_id"].as_str().unwrap().to_string();
    let pin = pin_of(&t.wait_sms("+41790000401", 1).await);
    let (s, _) = json(
        t.complete(json!({"email": "ann@example.com", "system": "CRM", "pin": pin}))
            .await,
    )
    .await;
    assert_eq!(s, 200);

    b.goto(&base).await;
    assert!(b.text("#recent").await.contains(&rid));
    assert_eq!(b.text("#approved").await, "1");
    look(&b, &t, "dashboard").await;
    b.goto(&format!("{base}/audit")).await;
    let audit = b.text("#audit").await;
    assert!(audit.contains(&format!("request:{rid}")), "{audit}");
    assert!(audit.contains("login.complete") && audit.contains("approved"));
    assert!(audit.contains("policy.create") && audit.contains("operator:root"));
    look(&b, &t, "audit").await;

    // CSV import with one bad row: that row's error, nothing imported.
    b.goto(&format!("{base}/users")).await;
    b.fill(
        "#import textarea[name=csv]",
        "email,phone,name\nbob@example.com,+41790000402,Bob\nnot-an-email,+41790000403,Eve\n",
    )
    .await;
    b.submit("#import").await;
    let errors = b.text("#import-errors").await;
    assert!(errors.contains('3') && errors.contains("email"), "{errors}");
    assert!(!b.text("#users").await.contains("bob@example.com"));
    look(&b, &t, "import-errors").await;

    for (page, name) in [
        (format!("{base}/keys"), "keys"),
        (format!("{base}/outbox"), "outbox"),
        (format!("{}/admin/channels", t.base), "channels"),
    ] {
        b.goto(&page).await;
        look(&b, &t, name).await;
    }

    // Logout: back to the login page, and the pages are closed.
    b.submit("form.logout").await;
    assert!(b.current_url().await.ends_with("/admin/login"));
    look(&b, &t, "logged-out").await;
    b.goto(&base).await;
    assert!(b.current_url().await.ends_with("/admin/login"));
}
