//! The real parts work together: chromedriver, headless Chromium and the
//! appliance's passwordless link page, clicked as a person would.

use super::Browser;
use crate::harness::{json, link_of, TestApp};

#[tokio::test]
async fn passwordless_link_confirmed_in_chromium() {
    let t = TestApp::spawn().await;
    t.system_with_user("Wiki", "passwordless", "bob@example.com", "+41790000002")
        .await;
    let (s, start) = json(t.start("bob@example.com", "Wiki").await).await;
    assert_eq!(s, 202, "{start}");
    let rid = start["request_id"].as_str().unwrap().to_string();
    let code = start["match_code"].as_str().unwrap().to_string();
    let link = link_of(&t.wait_sms("+41790000002", 1).await);

    let b = Browser::start("passwordless_link_confirmed_in_chromium").await;
    b.goto(&link).await;
    b.screenshot("link-page").await;
    assert_eq!(b.text("h1").await, "Confirm sign-in");
    assert!(b.text("main p").await.contains("Wiki"));
    let mut shown = Vec::new();
    for button in b.find_all("button[name=pick]").await {
        shown.push(button.attr("value").await.unwrap().unwrap_or_default());
    }
    assert_eq!(shown.len(), 3, "{shown:?}");
    assert!(shown.contains(&code), "{code} not among {shown:?}");
    assert_eq!(b.external_requests(&t.base).await, Vec::<String>::new());
    // Showing the page approves nothing.
    assert_eq!(t.status(&rid).await["status"], "pending");

    b.click(&format!("button[name=pick][value='{code}']")).await;
    b.screenshot("confirmed").await;
    assert_eq!(b.text("h1").await, "Signed in");
    assert!(
        b.text("main p").await.contains("confirmed"),
        "{}",
        b.html().await
    );
    assert_eq!(b.current_url().await, link);
    assert_eq!(b.external_requests(&t.base).await, Vec::<String>::new());
    assert_eq!(t.status(&rid).await["status"], "approved");
}
