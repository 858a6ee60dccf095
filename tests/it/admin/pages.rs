//! The account pages through their forms (plain HTTP): policy, system,
//! user, grant, a real login seen on the dashboard and in the audit log,
//! a CSV import with a bad row.

use super::logged_in;
use crate::harness::{json, pin_of, TestApp};
use serde_json::json;

#[tokio::test]
async fn forms_create_what_a_login_needs_and_the_login_shows_up() {
    let t = TestApp::spawn().await;
    let mut a = logged_in(&t).await;
    let base = format!("/admin/a/{}", t.account.account_id);
    let csrf = a.csrf(&base).await;

    let p = a
        .post(
            &format!("{base}/policies"),
            &[
                ("csrf", &csrf),
                ("name", "office"),
                ("steps", "pin"),
                (
                    "rules",
                    r#"[{"when": {"ip_in": ["10.0.0.0/8"]}, "require": ["pin"]}]"#,
                ),
            ],
        )
        .await;
    assert_eq!(p.status, 201, "{}", p.body);
    // A bad rule is shown with its path, nothing created.
    let p = a
        .post(
            &format!("{base}/policies"),
            &[
                ("csrf", &csrf),
                ("name", "bad"),
                ("steps", "pin"),
                ("rules", r#"[{"when": {"ip_in": ["x"]}, "allow": true}]"#),
            ],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("rules[0].when.ip_in"), "{}", p.body);

    let p = a
        .post(
            &format!("{base}/systems"),
            &[
                ("csrf", &csrf),
                ("name", "CRM"),
                ("policy", "office"),
                ("sensitivity", "2"),
            ],
        )
        .await;
    assert_eq!(p.status, 201, "{}", p.body);
    let p = a
        .post(
            &format!("{base}/users"),
            &[
                ("csrf", &csrf),
                ("email", "ann@example.com"),
                ("phone", "+41790000301"),
                ("name", "Ann"),
                ("groups", "staff;it"),
            ],
        )
        .await;
    assert_eq!(p.status, 201, "{}", p.body);
    let p = a
        .post(
            &format!("{base}/systems/CRM/grant"),
            &[("csrf", &csrf), ("email", "ann@example.com")],
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("ann@example.com"));

    // The dry-run form.
    let p = a
        .post(
            &format!("{base}/policies/evaluate"),
            &[
                ("csrf", &csrf),
                ("policy", "office"),
                ("email", "ann@example.com"),
                ("system", "CRM"),
                ("context", r#"{"ip": "10.1.1.1"}"#),
            ],
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("&#34;matched_rule&#34;: 0"), "{}", p.body);

    // A real login through the API.
    let (s, start) = json(t.start("ann@example.com", "CRM").await).await;
    assert_eq!(s, 202);
    let pin = pin_of(&t.wait_sms("+41790000301", 1).await);
    let (s, _) = json(
        t.complete(json!({"email": "ann@example.com", "system": "CRM", "pin": pin}))
            .await,
    )
    .await;
    assert_eq!(s, 200);
    let rid = start["request_id"].as_str().unwrap();

    let dash = a.get(&base).await;
    assert_eq!(dash.status, 200);
    assert!(dash.body.contains(rid), "the login is listed");
    assert!(
        dash.body
            .contains("<div class=\"n\" id=\"approved\">1</div>"),
        "{}",
        dash.body
    );
    let audit = a.get(&format!("{base}/audit?action=login.")).await;
    assert!(
        audit.body.contains(&format!("request:{rid}")),
        "{}",
        audit.body
    );
    let audit = a.get(&format!("{base}/audit")).await;
    for action in ["policy.create", "system.create", "user.create", "grant.add"] {
        assert!(audit.body.contains(action), "{action}");
    }
    assert!(audit.body.contains("operator:root"));
    assert!(!audit.body.contains(&pin), "no PIN in the audit log");

    // CSV import: one bad row, its error shown, nothing imported.
    let csv = "email,phone,name\nbob@example.com,+41790000302,Bob\nnot-an-email,+41790000303,X\n";
    let p = a
        .post(
            &format!("{base}/users/import"),
            &[("csrf", &csrf), ("csv", csv)],
        )
        .await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(p.body.contains("id=\"import-errors\""));
    assert!(p.body.contains("<td>3</td><td>email</td>"), "{}", p.body);
    let users = a.get(&format!("{base}/users")).await;
    assert!(!users.body.contains("bob@example.com"));
}

#[tokio::test]
async fn keys_channels_outbox_and_export() {
    let t = TestApp::spawn_with(|c| c.sms.limits.per_number.max = 0).await;
    let mut a = logged_in(&t).await;
    let base = format!("/admin/a/{}", t.account.account_id);
    let csrf = a.csrf(&base).await;

    // A new key is shown once, works, and can be revoked.
    let p = a
        .post(
            &format!("{base}/keys"),
            &[("csrf", &csrf), ("scope", "manage")],
        )
        .await;
    assert_eq!(p.status, 201, "{}", p.body);
    let key = p
        .body
        .split("id=\"new-key\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    let r = t
        .req(reqwest::Method::GET, "/v2/users", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let listed = a.get(&format!("{base}/keys")).await;
    assert!(!listed.body.contains(&key), "never shown again");
    let key_id = listed
        .body
        .split("/keys/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let p = a
        .post(&format!("{base}/keys/{key_id}/revoke"), &[("csrf", &csrf)])
        .await;
    assert_eq!(p.status, 303);
    // Revoked in the UI: refused at once (the server's key cache is cleared).
    let r = t
        .req(reqwest::Method::GET, "/v2/users", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // The channels page (the console channel here) sends a test SMS.
    let p = a.get("/admin/channels").await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("console"), "{}", p.body);
    let p = a
        .post(
            "/admin/channels/test",
            &[("csrf", &csrf), ("to", "+41790000309"), ("text", "hello")],
        )
        .await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("sent via console"), "{}", p.body);
    assert_eq!(t.wait_sms("+41790000309", 1).await, "hello");

    // A login's SMS in the outbox, without its text; the API says the same.
    t.system_with_user("CRM", "pin", "ann@example.com", "+41790000310")
        .await;
    let (_, start) = json(t.start("ann@example.com", "CRM").await).await;
    let pin = pin_of(&t.wait_sms("+41790000310", 1).await);
    let p = a.get(&format!("{base}/outbox?status=sent")).await;
    assert!(
        p.body.contains(start["request_id"].as_str().unwrap()),
        "{}",
        p.body
    );
    assert!(!p.body.contains(&pin));
    let (s, api) = json(
        t.manage(reqwest::Method::GET, "/v2/sms/outbox?status=sent")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(api["messages"][0]["request_id"], start["request_id"]);
    let (s, _) = json(
        t.manage(reqwest::Method::GET, "/v2/sms/outbox?status=bogus")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 422);

    // CSV export, in the import's format, from the page and the API.
    let p = a.get(&format!("{base}/users.csv")).await;
    assert_eq!(p.status, 200);
    assert!(p.body.starts_with("email,phone,name,groups\n"));
    assert!(p.body.contains("ann@example.com,+41790000310,"));
    let r = t
        .manage(reqwest::Method::GET, "/v2/users/export")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), p.body);
}

#[tokio::test]
async fn a_user_and_a_policy_are_edited_on_their_pages() {
    let t = TestApp::spawn().await;
    let mut a = logged_in(&t).await;
    let base = format!("/admin/a/{}", t.account.account_id);
    t.system_with_user("CRM", "pin", "ann@example.com", "+41790000320")
        .await;
    let csrf = a.csrf(&base).await;

    // The user's page: edit, the systems it may use (also through the API), delete.
    let p = a.get(&format!("{base}/users/ann@example.com")).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("id=\"user-systems\""));
    assert!(p.body.contains(">CRM</a>"));
    let p = a
        .post(
            &format!("{base}/users/ann@example.com/edit"),
            &[
                ("csrf", &csrf),
                ("phone", "+41 79 000 03 21"),
                ("name", "Ann B"),
                ("groups", "staff; it"),
            ],
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    let (_, u) = json(
        t.manage(reqwest::Method::GET, "/v2/users/ann@example.com")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (u["phone"].as_str(), u["name"].as_str()),
        (Some("+41790000321"), Some("Ann B"))
    );
    assert_eq!(u["groups"], json!(["staff", "it"]));
    let p = a
        .post(
            &format!("{base}/users/ann@example.com/edit"),
            &[("csrf", &csrf), ("phone", "12")],
        )
        .await;
    assert_eq!(p.status, 422);
    let (s, systems) = json(
        t.manage(reqwest::Method::GET, "/v2/users/ann@example.com/systems")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, systems), (200, json!(["CRM"])));
    let p = a
        .post(
            &format!("{base}/users/ann@example.com/delete"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(p.status, 303);
    assert_eq!(
        a.get(&format!("{base}/users/ann@example.com")).await.status,
        404
    );

    // A policy's page edits the whole policy as JSON; a bad one is refused
    // with the reason and the text kept.
    let p = a
        .post(
            &format!("{base}/policies"),
            &[("csrf", &csrf), ("name", "office"), ("steps", "pin")],
        )
        .await;
    assert_eq!(p.status, 201);
    let page = a.get(&format!("{base}/policies/office")).await;
    assert!(page.body.contains("&#34;default&#34;"), "{}", page.body);
    let new = r#"{"rules": [{"when": {"ip_in": ["10.0.0.0/8"]}, "allow": true}], "default": {"require": ["passwordless", "pin"]}}"#;
    let p = a
        .post(
            &format!("{base}/policies/office"),
            &[("csrf", &csrf), ("policy", new)],
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    let (_, v) = json(
        t.manage(reqwest::Method::GET, "/v2/policies/office")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["rules"][0]["allow"], true);
    assert_eq!(v["steps"], json!(["passwordless", "pin"]));
    let bad = r#"{"default": {"require": ["pin"]}, "timezone": "Mars/Olympus"}"#;
    let p = a
        .post(
            &format!("{base}/policies/office"),
            &[("csrf", &csrf), ("policy", bad)],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(
        p.body.contains("timezone") && p.body.contains("Mars/Olympus"),
        "{}",
        p.body
    );
    // Built-ins are shown, not editable.
    let p = a.get(&format!("{base}/policies/pin")).await;
    assert!(!p.body.contains("id=\"edit-policy\""));
}

#[tokio::test]
async fn the_audit_log_filters_by_account_actor_action_and_time() {
    let t = TestApp::spawn().await;
    let mut a = logged_in(&t).await;
    t.system_with_user("CRM", "pin", "ann@example.com", "+41790000330")
        .await;
    let base = format!("/admin/a/{}", t.account.account_id);

    // Every account's and the appliance's own records (operator logins).
    let p = a.get("/admin/audit").await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("operator.login") && p.body.contains("system.create"));
    let p = a
        .get(&format!("/admin/audit?account={}", t.account.account_id))
        .await;
    assert!(!p.body.contains("operator.login") && p.body.contains("system.create"));
    let p = a.get("/admin/audit?account=acc_other").await;
    assert!(!p.body.contains("system.create"));

    // Time: a window in the future has nothing; a malformed time says so.
    let later = (t.clock_now() + chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let p = a.get(&format!("{base}/audit?from={later}")).await;
    assert!(!p.body.contains("system.create"), "{}", p.body);
    let p = a
        .get(&format!(
            "{base}/audit?to={later}&actor=key:{}",
            t.account.manage_key_id
        ))
        .await;
    assert!(p.body.contains("system.create") && p.body.contains("grant.add"));
    let p = a.get(&format!("{base}/audit?from=yesterday")).await;
    assert!(p.body.contains("from: not a date and time"), "{}", p.body);
    let p = a.get(&format!("{base}/audit?action=user.")).await;
    assert!(p.body.contains("user.create") && !p.body.contains("system.create"));
}
