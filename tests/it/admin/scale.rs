//! The users page with 100,000 users: server-side paging, every user seen
//! once, in order (a correctness test, not a timed one).

use super::logged_in;
use crate::harness::TestApp;
use reqwest::Method;

const USERS: usize = 100_000;

#[tokio::test]
async fn the_users_page_pages_through_100000_users() {
    let t = TestApp::spawn().await;
    let csv: String = (0..USERS)
        .map(|i| format!("u{i:06}@example.com,+4179{i:07},User {i}\n"))
        .collect();
    let r = t
        .manage(Method::POST, "/v2/users/import")
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    let mut a = logged_in(&t).await;
    let mut path = format!("/admin/a/{}/users", t.account.account_id);
    let mut seen: Vec<String> = Vec::with_capacity(USERS);
    for _ in 0..=USERS / 100 + 1 {
        let p = a.get(&path).await;
        assert_eq!(p.status, 200);
        let table = p
            .body
            .split("<tbody>")
            .nth(1)
            .unwrap()
            .split("</tbody>")
            .next()
            .unwrap();
        let emails: Vec<String> = table
            .split("<tr>")
            .skip(1)
            .map(|row| {
                let cell = row.split("<td>").nth(1).unwrap();
                let text = cell.split_once("\">").map_or(cell, |(_, t)| t);
                text.split('<').next().unwrap().to_string()
            })
            .collect();
        assert!(emails.len() <= 100);
        seen.extend(emails);
        match p.body.split("id=\"next-page\" href=\"").nth(1) {
            Some(rest) => path = rest.split('"').next().unwrap().replace("&amp;", "&"),
            None => break,
        }
    }
    assert_eq!(seen.len(), USERS);
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "in order, no repeats");
    assert_eq!(seen[0], "u000000@example.com");
    assert_eq!(seen[USERS - 1], format!("u{:06}@example.com", USERS - 1));
    // Search narrows it server side.
    let p = a
        .get(&format!("/admin/a/{}/users?q=u09999", t.account.account_id))
        .await;
    assert_eq!(p.body.matches("@example.com</a></td>").count(), 10);
}
