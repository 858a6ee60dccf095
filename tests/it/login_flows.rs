//! The seed's PIN and passwordless flows, end to end.

use crate::harness::{json, link_of, pin_of, token_of, TestApp};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn pin_flow() {
    let t = TestApp::spawn().await;
    t.system_with_user("CRM", "pin", "Ann@Example.com", "+41 79 000 00 01")
        .await;
    let (s, start) = json(t.start("ann@example.com", "CRM").await).await;
    assert_eq!(s, 202, "{start}");
    assert_eq!(start["status"], "pending");
    assert_eq!(start["steps"], json!(["pin"]));
    let pin = pin_of(&t.wait_sms("+41790000001", 1).await);
    assert_eq!(pin.len(), 6);

    let (s, done) = json(
        t.complete(json!({"email": "ANN@example.com", "system": "CRM", "pin": pin}))
            .await,
    )
    .await;
    assert_eq!(s, 200, "{done}");
    assert_eq!(done["authenticated"], true);
    assert_eq!(done["status"], "approved");
    assert_eq!(done["request_id"], start["request_id"]);
    assert_eq!(done["amr"], json!(["pin"]));

    // Single use: the same PIN again is refused.
    let (s, again) = json(t.complete(json!({"email": "ann@example.com", "system": "CRM", "pin": pin, "request_id": start["request_id"]})).await).await;
    assert_eq!(s, 409, "{again}");
    assert_eq!(again["error"]["code"], "already_completed");

    let rid = start["request_id"].as_str().unwrap();
    let (s, st) = json(
        t.auth(Method::GET, &format!("/v2/authentications/{rid}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(st["status"], "approved");
    assert_eq!(st["authenticated"], true);
}

#[tokio::test]
async fn passwordless_through_the_confirmation_page() {
    let t = TestApp::spawn().await;
    t.system_with_user("Wiki", "passwordless", "bob@example.com", "+41790000002")
        .await;
    let (s, start) = json(t.start("bob@example.com", "Wiki").await).await;
    assert_eq!(s, 202);
    let link = link_of(&t.wait_sms("+41790000002", 1).await);
    assert!(link.starts_with(&format!("{}/l/", t.public_url)), "{link}");
    let rid = start["request_id"].as_str().unwrap().to_string();

    // A GET, as a link preview or mail scanner does, approves nothing.
    let page = t.client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Wiki") && html.contains("<form method=\"post\">"),
        "{html}"
    );
    let st = t.status(&rid).await;
    assert_eq!(st["status"], "pending");
    assert_eq!(st["next_step"], "passwordless");

    // The page's POST approves once the number the app shows is picked;
    // without a pick it only asks again.
    let code = start["match_code"].as_str().unwrap().to_string();
    let no_pick = t.client.post(&link).send().await.unwrap();
    assert_eq!(no_pick.status(), 422);
    let confirmed = t.confirm_on_page(&link, &code).await;
    assert_eq!(confirmed.status(), 200);
    let st = t.status(&rid).await;
    assert_eq!(st["status"], "approved");
    assert_eq!(st["amr"], json!(["passwordless"]));

    // The link is single use.
    let again = t.confirm_on_page(&link, &code).await;
    assert_eq!(again.status(), 410);
    let again = t.client.get(&link).send().await.unwrap();
    assert_eq!(again.status(), 410);
}

#[tokio::test]
async fn passwordless_through_the_api_with_token_or_whole_link() {
    let t = TestApp::spawn().await;
    t.system_with_user("Wiki", "passwordless", "bob@example.com", "+41790000002")
        .await;
    t.start("bob@example.com", "Wiki").await;
    let link = link_of(&t.wait_sms("+41790000002", 1).await);
    let (s, done) = json(
        t.complete(json!({"email": "bob@example.com", "system": "Wiki", "passwordless": link}))
            .await,
    )
    .await;
    assert_eq!(s, 200, "{done}");
    assert_eq!(done["amr"], json!(["passwordless"]));

    t.advance(60);
    t.start("bob@example.com", "Wiki").await;
    let link = link_of(&t.wait_sms("+41790000002", 2).await);
    let (s, done) = json(
        t.complete(
            json!({"email": "bob@example.com", "system": "Wiki", "passwordless": token_of(&link)}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 200, "{done}");
}

#[tokio::test]
async fn passwordless_through_the_systems_link_url() {
    let t = TestApp::spawn().await;
    t.setup(
        Method::POST,
        "/v2/systems",
        json!({"name": "Portal", "policy": "passwordless", "link_url": "https://portal.example/login?token={token}&x=1"}),
    )
    .await;
    t.setup(
        Method::POST,
        "/v2/users",
        json!({"email": "c@example.com", "phone": "+41790000003"}),
    )
    .await;
    t.setup(
        Method::PUT,
        "/v2/systems/Portal/users/c@example.com",
        json!(null),
    )
    .await;

    t.start("c@example.com", "Portal").await;
    let link = link_of(&t.wait_sms("+41790000003", 1).await);
    assert!(
        link.starts_with("https://portal.example/login?token="),
        "{link}"
    );
    // The app's page received the link; it passes it on whole.
    let (s, done) = json(
        t.complete(json!({"email": "c@example.com", "system": "Portal", "passwordless": link}))
            .await,
    )
    .await;
    assert_eq!(s, 200, "{done}");

    t.advance(60);
    t.start("c@example.com", "Portal").await;
    let link = link_of(&t.wait_sms("+41790000003", 2).await);
    let token = url::Url::parse(&link)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "token")
        .unwrap()
        .1
        .to_string();
    let (s, done) = json(
        t.complete(json!({"email": "c@example.com", "system": "Portal", "passwordless": token}))
            .await,
    )
    .await;
    assert_eq!(s, 200, "{done}");
}

#[tokio::test]
async fn policy_with_link_then_pin() {
    let t = TestApp::spawn().await;
    t.setup(
        Method::POST,
        "/v2/policies",
        json!({"name": "strict", "steps": ["passwordless", "pin"], "pin_length": 8}),
    )
    .await;
    t.system_with_user("Vault", "strict", "d@example.com", "+41790000004")
        .await;
    let (_, start) = json(t.start("d@example.com", "Vault").await).await;
    assert_eq!(start["steps"], json!(["passwordless", "pin"]));
    let link = link_of(&t.wait_sms("+41790000004", 1).await);

    // The PIN step cannot be done first.
    let (s, e) = json(
        t.complete(json!({"email": "d@example.com", "system": "Vault", "pin": "12345678"}))
            .await,
    )
    .await;
    assert_eq!((s, e["error"]["code"].as_str()), (409, Some("wrong_step")));

    let (s, mid) = json(
        t.complete(json!({"email": "d@example.com", "system": "Vault", "passwordless": link}))
            .await,
    )
    .await;
    assert_eq!(s, 200, "{mid}");
    assert_eq!(mid["authenticated"], false);
    assert_eq!(mid["status"], "pending");
    assert_eq!(mid["next_step"], "pin");

    let pin = pin_of(&t.wait_sms("+41790000004", 2).await);
    assert_eq!(pin.len(), 8);
    let (s, done) = json(
        t.complete(json!({"email": "d@example.com", "system": "Vault", "pin": pin}))
            .await,
    )
    .await;
    assert_eq!(s, 200, "{done}");
    assert_eq!(done["amr"], json!(["passwordless", "pin"]));
}
