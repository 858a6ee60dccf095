//! Requests built from configurations, per preset, and refused configurations.

use super::*;
use crate::config::Config;

fn gateway(toml_text: &str) -> Result<Settings, String> {
    let c = Config::parse(toml_text)?;
    Settings::resolve(&c.sms.http[0], "https://fs.example/")
}

fn sms(text: &str) -> OutgoingSms {
    OutgoingSms {
        id: 42,
        to: "+41791234567".into(),
        text: text.into(),
        deadline: None,
    }
}

fn query_of(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn get<'a>(pairs: &'a [(String, String)], k: &str) -> Option<&'a str> {
    pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

const KANNEL: &str = r#"
    [[sms.http]]
    name = "kannel"
    preset = "kannel"
    url = "http://kannel.lan:13013/cgi-bin/sendsms?smsc=main"
    dlr_secret = "0123456789abcdef0123"
    auth = { type = "query", params = { username = "fs", password = "pw-secret" } }
    params = { from = "FlexSecure" }
"#;

#[test]
fn kannel_query_with_unicode_coding_and_dlr_url() {
    let s = gateway(KANNEL).unwrap();
    assert_eq!(s.channel, "http:kannel");
    let r = s.request(&sms("Grüezi, PIN 123456 €")).unwrap();
    assert_eq!(r.method, HttpMethod::Get);
    assert!(r.body.is_none());
    assert!(r
        .url
        .starts_with("http://kannel.lan:13013/cgi-bin/sendsms?smsc=main&"));
    // '+' must not turn into a space, nor ' ' split Kannel's receivers.
    assert!(r.url.contains("to=%2B41791234567"), "{}", r.url);
    let q = query_of(&r.url);
    assert_eq!(get(&q, "to"), Some("+41791234567"));
    assert_eq!(get(&q, "text"), Some("Grüezi, PIN 123456 €"));
    assert_eq!(get(&q, "charset"), Some("UTF-8"));
    assert_eq!(get(&q, "coding"), None, "GSM 7-bit text needs no coding");
    assert_eq!(get(&q, "from"), Some("FlexSecure"));
    assert_eq!(get(&q, "username"), Some("fs"));
    assert_eq!(get(&q, "password"), Some("pw-secret"));
    assert_eq!(get(&q, "smsc"), Some("main"));
    assert_eq!(get(&q, "dlr-mask"), Some("3"));
    assert_eq!(
        get(&q, "dlr-url"),
        Some("https://fs.example/v2/sms/dlr/kannel/42?secret=0123456789abcdef0123&status=%d")
    );

    let r = s.request(&sms("Привет 😀 123456")).unwrap();
    let q = query_of(&r.url);
    assert_eq!(get(&q, "coding"), Some("2"));
    assert_eq!(get(&q, "charset"), Some("UTF-8"));
    assert_eq!(get(&q, "text"), Some("Привет 😀 123456"));
    assert!(r.url.contains("text=%D0%9F%D1%80"), "{}", r.url);
}

#[test]
fn kannel_needs_a_dlr_secret_and_digits_drop_the_plus() {
    let e = gateway(&KANNEL.replace("dlr_secret = \"0123456789abcdef0123\"", "")).unwrap_err();
    assert!(e.contains("dlr_secret"), "{e}");
    let e = gateway(&KANNEL.replace("0123456789abcdef0123", "short")).unwrap_err();
    assert!(e.contains("dlr_secret"), "{e}");
    let e = gateway(&KANNEL.replace("0123456789abcdef0123", "0123456789abcdef01&3")).unwrap_err();
    assert!(e.contains("dlr_secret"), "{e}");
    let s = gateway(&format!("{KANNEL}\nnumber_format = \"digits\"")).unwrap();
    let q = query_of(&s.request(&sms("x")).unwrap().url);
    assert_eq!(get(&q, "to"), Some("41791234567"));
}

#[test]
fn twilio_form_post_with_basic_auth() {
    let t = r#"
        [[sms.http]]
        name = "twilio"
        preset = "twilio"
        url = "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json"
        auth = { type = "basic", username = "AC123", password = "tw-token" }
        params = { From = "+15005550006" }
    "#;
    let s = gateway(t).unwrap();
    let r = s.request(&sms("Code: 123 & more+")).unwrap();
    assert_eq!(r.method, HttpMethod::Post);
    assert_eq!(
        r.url,
        "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json"
    );
    let (ct, body) = r.body.unwrap();
    assert_eq!(ct, "application/x-www-form-urlencoded");
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(get(&form, "To"), Some("+41791234567"));
    assert_eq!(get(&form, "Body"), Some("Code: 123 & more+"));
    assert_eq!(get(&form, "From"), Some("+15005550006"));
    assert_eq!(get(&form, "StatusCallback"), None);
    let auth = r
        .headers
        .iter()
        .find(|(k, _)| k == "Authorization")
        .unwrap();
    assert_eq!(auth.1, "Basic QUMxMjM6dHctdG9rZW4=");

    assert!(gateway(&t.replace(
        "auth = { type = \"basic\", username = \"AC123\", password = \"tw-token\" }",
        ""
    ))
    .unwrap_err()
    .contains("basic"));
    assert!(
        gateway(&t.replace("params = { From = \"+15005550006\" }", ""))
            .unwrap_err()
            .contains("From")
    );
    let with_dlr = gateway(&format!("{t}\ndlr_secret = \"abcdefghijklmnop\"")).unwrap();
    let (_, body) = with_dlr.request(&sms("x")).unwrap().body.unwrap();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(
        get(&form, "StatusCallback"),
        Some("https://fs.example/v2/sms/dlr/twilio/42?secret=abcdefghijklmnop")
    );
}

#[test]
fn generic_json_with_bearer_and_custom_rules() {
    let s = gateway(
        r#"
        [[sms.http]]
        name = "api"
        preset = "generic-json"
        url = "https://sms.example/v1/messages"
        auth = { type = "bearer", token = "tok-123" }
        params = { sender = "Acme", meta = { prio = 1 } }
        success = { status = [200, 201], json_pointer = "/accepted", json_value = true }
    "#,
    )
    .unwrap();
    let r = s.request(&sms("Ünïcödé \"quoted\"")).unwrap();
    let (ct, body) = r.body.unwrap();
    assert_eq!(ct, "application/json");
    let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        j,
        serde_json::json!({"to": "+41791234567", "text": "Ünïcödé \"quoted\"", "id": "42",
                           "sender": "Acme", "meta": {"prio": 1}})
    );
    assert!(r
        .headers
        .contains(&("Authorization".into(), "Bearer tok-123".into())));
    assert!(s.rules.success.status.contains(201) && !s.rules.success.status.contains(202));
    assert_eq!(
        s.rules.success.pointer,
        Some(("/accepted".into(), Some(serde_json::json!(true))))
    );
    assert!(matches!(s.rules.provider_id, ProviderId::JsonPointer(ref p) if p == "/id"));
}

#[test]
fn custom_gateway_with_header_auth_and_placeholders_in_the_path() {
    let s = gateway(
        r#"
        [[sms.http]]
        name = "custom"
        url = "https://gw.example/send/{to}?msg={text}"
        method = "GET"
        auth = { type = "header", name = "X-Api-Key", value = "k-abc" }
        headers = { X-Client = "flexsecure" }
        provider_id = { body_regex = "id=(\\w+)" }
        retry = { status = [503], body_regex = "busy", timeout = false }
    "#,
    )
    .unwrap();
    let r = s.request(&sms("a b&c/d")).unwrap();
    assert_eq!(
        r.url,
        "https://gw.example/send/%2B41791234567?msg=a%20b%26c%2Fd"
    );
    assert!(r.headers.contains(&("X-Api-Key".into(), "k-abc".into())));
    assert!(r
        .headers
        .contains(&("X-Client".into(), "flexsecure".into())));
    assert!(s.rules.retry.status.contains(503) && !s.rules.retry.status.contains(500));
    assert!(!s.rules.retry.timeout && s.rules.retry.connection);
}

#[test]
fn configuration_mistakes_are_refused() {
    let base = |extra: &str| {
        format!(
            "[[sms.http]]\nname = \"g\"\nurl = \"https://gw/send\"\nparams = {{ to = \"{{to}}\", text = \"{{text}}\" }}\n{extra}"
        )
    };
    assert!(gateway(&base("")).is_ok());
    for (extra, why) in [
        ("method = \"GET\"\nformat = \"json\"", "GET"),
        (
            "format = \"json\"\nsuccess = { json_value = 1 }",
            "json_pointer",
        ),
        ("success = { body_regex = \"(\" }", "regular expression"),
        ("success = { json_pointer = \"sid\" }", "JSON pointer"),
        ("success = { status = [\"6xx\"] }", "status"),
        ("retry = { status = [700] }", "status"),
        ("provider_id = { json_pointer = \"x\" }", "pointer"),
        ("timeout_ms = 0", "timeout_ms"),
        ("timeout_ms = 999999", "timeout_ms"),
        (
            "auth = { type = \"header\", name = \"bad name\", value = \"x\" }",
            "header",
        ),
        ("auth = { type = \"query\", params = {} }", "query"),
        ("headers = { \"X-A\" = \"a\\nb\" }", "header"),
        ("dlr_secret = \"0123456789abcdef\"\nproxy = \"::\"", "proxy"),
    ] {
        let e = gateway(&base(extra))
            .err()
            .unwrap_or_else(|| panic!("{extra} accepted"));
        assert!(e.contains(why), "{extra}: {e}");
    }
    let e = gateway(
        "[[sms.http]]\nname = \"g\"\nurl = \"https://gw/send\"\nparams = { to = \"{to}\" }",
    )
    .unwrap_err();
    assert!(e.contains("{text}"), "{e}");
    let e = gateway("[[sms.http]]\nname = \"g\"\nurl = \"ftp://gw/{to}/{text}\"").unwrap_err();
    assert!(e.contains("http"), "{e}");
    let e = gateway("[[sms.http]]\nname = \"g\"\nurl = \"https://gw/{to}/{text}/{dlr_url}\"")
        .unwrap_err();
    assert!(e.contains("dlr_secret"), "{e}");
    let e = gateway("[[sms.http]]\nname = \"g\"\nurl = \"https://gw/{to}/{txt}\"").unwrap_err();
    assert!(e.contains("{txt}"), "{e}");
}

#[test]
fn debug_output_holds_no_secret() {
    let s = gateway(KANNEL).unwrap();
    let shown = format!("{s:?}");
    assert!(shown.contains("http:kannel"), "{shown}");
    for secret in ["pw-secret", "0123456789abcdef0123"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}
