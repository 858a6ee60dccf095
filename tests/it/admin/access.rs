//! An account operator sees and changes only its own account.

use super::{logged_in, Admin, PASSWORD};
use crate::harness::TestApp;
use flexsecure::domain::OperatorRole;

/// An operator of the test's account, logged in.
async fn account_operator<'a>(t: &'a TestApp, name: &str) -> Admin<'a> {
    let (dir, mine) = (
        t.data_dir.path().to_path_buf(),
        t.account.account_id.clone(),
    );
    let (url, n) = (t.public_url.clone(), name.to_string());
    let link = flexsecure::blocking::run(move || {
        let store = flexsecure::store::Store::open(&dir).unwrap();
        let role = OperatorRole::Account(mine);
        flexsecure::service::create_operator(&store, &url, &n, role, chrono::Utc::now()).unwrap()
    })
    .await
    .unwrap();
    let mut a = Admin::new(t);
    assert_eq!(a.setup(&link, None, PASSWORD).await.status, 200);
    assert_eq!(a.login(name, PASSWORD).await.status, 303);
    a
}

#[tokio::test]
async fn an_account_operator_cannot_reach_another_account() {
    let t = TestApp::spawn().await;
    let _root = logged_in(&t).await;
    let other = t.new_account("Other").await;
    let mut a = account_operator(&t, "ops").await;

    let mine = format!("/admin/a/{}", t.account.account_id);
    assert_eq!(a.get("/admin").await.location(), Some(mine.as_str()));
    assert_eq!(a.get(&mine).await.status, 200);
    let theirs = format!("/admin/a/{}", other.account_id);
    assert_eq!(a.get(&theirs).await.status, 403);
    assert_eq!(a.get("/admin/a/acc_doesnotexist").await.status, 403);
    assert_eq!(a.get("/admin/accounts").await.status, 403);
    let csrf = a.csrf(&mine).await;
    let p = a
        .post("/admin/accounts", &[("name", "Mine now"), ("csrf", &csrf)])
        .await;
    assert_eq!(p.status, 403);
}

#[tokio::test]
async fn the_channels_are_for_appliance_operators_only() {
    let t = TestApp::spawn().await;
    let _root = logged_in(&t).await;
    let mut a = account_operator(&t, "ops2").await;
    assert_eq!(a.get("/admin/channels").await.status, 403);
    let csrf = a.csrf(&format!("/admin/a/{}", t.account.account_id)).await;
    let p = a
        .post(
            "/admin/channels/test",
            &[("csrf", &csrf), ("to", "+41790000399"), ("text", "x")],
        )
        .await;
    assert_eq!(p.status, 403);
}

#[tokio::test]
async fn the_appliance_wide_audit_log_is_for_appliance_operators_only() {
    let t = TestApp::spawn().await;
    let _root = logged_in(&t).await;
    let mut a = account_operator(&t, "ops3").await;
    assert_eq!(a.get("/admin/audit").await.status, 403);
    let own = a
        .get(&format!("/admin/a/{}/audit", t.account.account_id))
        .await;
    assert_eq!(own.status, 200);
    let table = own.body.split("id=\"audit\"").nth(1).unwrap();
    assert!(
        table.contains("operator.setup"),
        "its own operator's record"
    );
    assert!(
        !table.contains("operator:root"),
        "no appliance-wide records"
    );
}
