//! The audit log: admin changes and login decisions are recorded with their
//! actor, read back through `GET /v2/audit` (the key's account only) and the
//! `flexsecure audit` command, and never hold a secret.

use crate::harness::{json, link_of, pin_of, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_flexsecure");

/// `GET /v2/audit?{query}` with `key`: status and body.
async fn audit(t: &TestApp, key: &str, query: &str) -> (u16, Value) {
    json(
        t.req(Method::GET, &format!("/v2/audit?{query}"), key)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// Every entry the manage key sees, newest first.
async fn all_entries(t: &TestApp) -> Vec<Value> {
    let (s, v) = audit(t, &t.account.manage_key, "limit=500").await;
    assert_eq!(s, 200, "{v}");
    assert!(v["next_before"].is_null(), "{v}");
    v["entries"].as_array().unwrap().clone()
}

/// The one entry with this action, target ("" for none) and outcome.
fn find<'a>(entries: &'a [Value], action: &str, target: &str, outcome: &str) -> &'a Value {
    let found: Vec<&Value> = entries
        .iter()
        .filter(|e| {
            let t = e["target"].as_str().unwrap_or_default();
            e["action"] == action && t == target && e["outcome"] == outcome
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{action} {target} {outcome} in {}",
        serde_json::to_string_pretty(entries).unwrap()
    );
    found[0]
}

#[tokio::test]
async fn changes_and_login_decisions_are_recorded_with_their_actor() {
    let t = TestApp::spawn().await;
    let manage = format!("key:{}", t.account.manage_key_id);
    let auth = format!("key:{}", t.account.auth_key_id);

    // Changes through the manage key.
    t.setup(
        Method::POST,
        "/v2/policies",
        json!({"name": "office",
               "rules": [{"when": {"ip_in": ["192.0.2.0/24"]}, "deny": true}],
               "default": {"require": ["pin"]}}),
    )
    .await;
    t.setup(Method::POST, "/v2/systems", json!({"name": "CRM"}))
        .await;
    t.setup(
        Method::PATCH,
        "/v2/systems/CRM",
        json!({"policy": "office", "description": "Sales"}),
    )
    .await;
    let (s, v) = json(
        t.manage(Method::POST, "/v2/users/import")
            .header("content-type", "text/csv")
            .body("email,phone,name\nann@example.com,+41790000301,Ann\nbob@example.com,+41790000302,Bob\n")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    t.setup(
        Method::PUT,
        "/v2/systems/CRM/users/ann@example.com",
        Value::Null,
    )
    .await;

    // Login decisions through the auth key.
    let (s, start) = json(t.start("ann@example.com", "CRM").await).await;
    assert_eq!(s, 202, "{start}");
    let rid = start["request_id"].as_str().unwrap().to_string();
    let (s, denied) = json(
        t.auth(Method::POST, "/v2/user/authenticate")
            .json(&json!({"email": "ann@example.com", "system": "CRM",
                          "context": {"ip": "192.0.2.7"}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 403, "{denied}");
    let (s, decoy) = json(t.start("nobody@example.com", "CRM").await).await;
    assert_eq!(s, 202, "{decoy}");
    let pin = pin_of(&t.wait_sms("+41790000301", 1).await);
    let wrong = if pin == "000000" { "111111" } else { "000000" };
    let (s, v) = json(
        t.complete(json!({"email": "ann@example.com", "system": "CRM", "pin": wrong}))
            .await,
    )
    .await;
    assert_eq!(s, 401, "{v}");
    let (s, v) = json(
        t.complete(json!({"email": "ann@example.com", "system": "CRM", "pin": pin}))
            .await,
    )
    .await;
    assert_eq!(s, 200, "{v}");

    let entries = all_entries(&t).await;
    let account = t.account.account_id.as_str();
    assert!(
        entries.iter().all(|e| e["account_id"] == account),
        "{entries:?}"
    );
    let e = find(
        &entries,
        "account.create",
        &format!("account:{account}"),
        "ok",
    );
    assert_eq!(e["actor"], "cli");

    let e = find(&entries, "policy.create", "policy:office", "ok");
    assert_eq!(e["actor"], manage.as_str());
    assert_eq!(e["detail"], json!({"steps": ["pin"], "rules": 1}));
    let e = find(&entries, "system.update", "system:CRM", "ok");
    assert_eq!(e["actor"], manage.as_str());
    let mut fields: Vec<&str> = e["detail"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(fields, ["description", "policy"], "{e}");
    let e = find(&entries, "user.import", "", "ok");
    assert_eq!(e["actor"], manage.as_str());
    assert_eq!(e["detail"], json!({"created": 2, "updated": 0}));
    let e = find(&entries, "grant.add", "system:CRM", "ok");
    assert_eq!(e["actor"], manage.as_str());
    assert_eq!(e["detail"]["user"], "ann@example.com");

    let target = format!("request:{rid}");
    let e = find(&entries, "login.start", &target, "pending");
    assert_eq!(e["actor"], auth.as_str());
    assert_eq!(e["detail"]["email"], "ann@example.com");
    assert_eq!(e["detail"]["steps"], json!(["pin"]));
    assert_eq!(e["detail"]["matched_rule"], "default");
    assert!(e["detail"].get("decoy").is_none(), "{e}");
    let e = find(&entries, "login.start", "system:CRM", "denied");
    assert_eq!(e["actor"], auth.as_str());
    assert_eq!(e["detail"]["matched_rule"], 0);
    assert_eq!(e["detail"]["email"], "ann@example.com");
    // The caller is told nothing of a look-alike; the operator is.
    let decoy_target = format!("request:{}", decoy["request_id"].as_str().unwrap());
    let e = find(&entries, "login.start", &decoy_target, "pending");
    assert_eq!(e["detail"]["decoy"], "unknown_user");
    let e = find(&entries, "login.complete", &target, "wrong_pin");
    assert_eq!(e["actor"], auth.as_str());
    assert_eq!(e["detail"]["attempts_left"], 4);
    let e = find(&entries, "login.complete", &target, "approved");
    assert_eq!(e["actor"], auth.as_str());
    assert_eq!(e["detail"]["amr"], json!(["pin"]));
    assert!(entries
        .iter()
        .all(|e| e["id"].is_i64() && e["at"].is_string()));

    // Filters: an action prefix, an exact action, an actor, a time window.
    let logins = |v: &Value| -> Vec<Value> { v["entries"].as_array().unwrap().clone() };
    let (s, v) = audit(&t, &t.account.manage_key, "action=login.").await;
    assert_eq!(s, 200, "{v}");
    let l = logins(&v);
    assert_eq!(l.len(), 5, "{v}");
    assert!(l
        .iter()
        .all(|e| e["action"].as_str().unwrap().starts_with("login.")));
    let (_, v) = audit(&t, &t.account.manage_key, "action=login").await;
    assert!(logins(&v).is_empty(), "exact unless it ends with a dot");
    let (_, v) = audit(&t, &t.account.manage_key, "action=grant.add").await;
    assert_eq!(logins(&v).len(), 1);
    let (_, v) = audit(&t, &t.account.manage_key, &format!("actor={auth}")).await;
    assert_eq!(logins(&v).len(), 5);
    let (_, v) = audit(&t, &t.account.manage_key, &format!("actor={manage}")).await;
    let by_manage = logins(&v);
    assert_eq!(by_manage.len(), 5, "{v}");
    assert!(by_manage.iter().all(|e| e["actor"] == manage.as_str()));
    let (_, v) = audit(
        &t,
        &t.account.manage_key,
        "from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z",
    )
    .await;
    assert!(logins(&v).is_empty(), "{v}");
    let (_, v) = audit(&t, &t.account.manage_key, "from=2000-01-01T00:00:00Z").await;
    assert_eq!(logins(&v).len(), entries.len());

    // Paging with `before` returns the rest, in order.
    let mut paged = Vec::new();
    let mut query = "limit=3".to_string();
    for _ in 0..20 {
        let (s, v) = audit(&t, &t.account.manage_key, &query).await;
        assert_eq!(s, 200, "{v}");
        let page = logins(&v);
        assert!(page.len() <= 3);
        paged.extend(page);
        match v["next_before"].as_i64() {
            Some(b) => query = format!("limit=3&before={b}"),
            None => break,
        }
    }
    assert_eq!(paged, entries);

    // Bad queries; the auth key may not read the log.
    for q in [
        "limit=0",
        "limit=501",
        "from=yesterday",
        "to=2026-13-01T00:00:00Z",
        "before=x",
        "bogus=1",
    ] {
        let (s, v) = audit(&t, &t.account.manage_key, q).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (422, Some("invalid_query")),
            "{q}: {v}"
        );
    }
    let (s, v) = audit(&t, &t.account.auth_key, "").await;
    assert_eq!((s, v["error"]["code"].as_str()), (403, Some("wrong_scope")));

    // No secret in any entry: PIN, keys, phone numbers.
    let text = serde_json::to_string(&entries).unwrap();
    for secret in [
        pin.as_str(),
        &t.account.auth_key,
        &t.account.manage_key,
        "41790000301",
        "41790000302",
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

#[tokio::test]
async fn the_link_page_and_other_accounts() {
    let t = TestApp::spawn().await;
    t.system_with_user("Wiki", "passwordless", "bob@example.com", "+41790000311")
        .await;
    let (s, start) = json(t.start("bob@example.com", "Wiki").await).await;
    assert_eq!(s, 202, "{start}");
    let rid = start["request_id"].as_str().unwrap().to_string();
    let code: u8 = start["match_code"].as_str().unwrap().parse().unwrap();
    let link = link_of(&t.wait_sms("+41790000311", 1).await);
    // A resend too soon is refused, and recorded.
    assert_eq!(t.start("bob@example.com", "Wiki").await.status(), 429);
    let wrong = format!("{:02}", (code + 1) % 100);
    assert_eq!(t.confirm_on_page(&link, &wrong).await.status(), 403);
    // Another start (a resend of the same request), the right pick.
    t.advance(120);
    let (_, again) = json(t.start("bob@example.com", "Wiki").await).await;
    let rid2 = again["request_id"].as_str().unwrap().to_string();
    let link2 = link_of(&t.wait_sms("+41790000311", 2).await);
    let pick = again["match_code"].as_str().unwrap().to_string();
    assert_eq!(t.confirm_on_page(&link2, &pick).await.status(), 200);

    let entries = all_entries(&t).await;
    let e = find(
        &entries,
        "login.start",
        &format!("request:{rid}"),
        "refused",
    );
    assert_eq!(e["detail"]["reason"], "per_challenge");
    let e = find(
        &entries,
        "login.link_page",
        &format!("request:{rid}"),
        "wrong_pick",
    );
    assert_eq!(e["actor"], "system");
    assert_eq!(e["detail"]["email"], "bob@example.com");
    let e = find(
        &entries,
        "login.link_page",
        &format!("request:{rid2}"),
        "approved",
    );
    assert_eq!(e["actor"], "system");
    let text = serde_json::to_string(&entries).unwrap();
    for secret in [link.as_str(), &link2, "+41790000311"] {
        let token = secret.rsplit('/').next().unwrap();
        assert!(!text.contains(token), "{token} in {text}");
    }

    // Account B sees its own entries only; A's key sees none of B's.
    let b = t.new_account("Other").await;
    t.req(Method::POST, "/v2/policies", &b.manage_key)
        .json(&json!({"name": "b-policy", "steps": ["pin"]}))
        .send()
        .await
        .unwrap();
    let (s, v) = audit(&t, &b.manage_key, "limit=500").await;
    assert_eq!(s, 200, "{v}");
    let seen = v["entries"].as_array().unwrap();
    assert_eq!(seen.len(), 2, "account.create and policy.create: {v}");
    assert!(seen
        .iter()
        .all(|e| e["account_id"] == b.account_id.as_str()));
    let (_, v) = audit(&t, &b.manage_key, "action=login.&limit=500").await;
    assert!(v["entries"].as_array().unwrap().is_empty(), "{v}");
    assert!(all_entries(&t)
        .await
        .iter()
        .all(|e| e["account_id"] == t.account.account_id.as_str()));
    // A's cursor gives B nothing of A's either.
    let a_id = entries[0]["id"].as_i64().unwrap() + 1;
    let (_, v) = audit(&t, &b.manage_key, &format!("before={a_id}")).await;
    assert!(v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["account_id"] == b.account_id.as_str()));
}

#[tokio::test]
async fn the_cli_records_key_changes_and_prints_the_log() {
    let t = TestApp::spawn().await;
    let dir = t.data_dir.path().to_str().unwrap().to_string();
    let cli = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(["--data-dir", &dir, "--json"])
            .args(args)
            .env_remove("FLEXSECURE_CONFIG")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (serde_json::from_str::<Value>(&stdout).unwrap(), stdout)
    };
    let account = t.account.account_id.clone();
    let (key, _) = cli(&["apikey", "create", "--account", &account, "--scope", "auth"]);
    let key_id = key["key_id"].as_str().unwrap().to_string();
    cli(&["apikey", "revoke", &key_id]);
    let (page, text) = cli(&["audit", "--account", &account, "--action", "apikey."]);
    let entries = page["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["apikey.revoke", "apikey.create"], "{page}");
    assert!(entries
        .iter()
        .all(|e| e["actor"] == "cli" && e["target"] == format!("key:{key_id}").as_str()));
    assert_eq!(entries[1]["detail"]["scope"], "auth");
    assert!(!text.contains(key["key"].as_str().unwrap()));
}
