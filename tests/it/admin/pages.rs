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
