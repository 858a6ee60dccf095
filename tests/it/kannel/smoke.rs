//! Smoke tests: straight to Kannel's sendsms, not through the appliance.

use std::time::Duration;

use super::{Coding, FakeSms, HttpRecorder, Kannel};

fn client() -> reqwest::Client {
    crate::harness::http_builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// GET sendsms with the credentials and `params`: status and body.
async fn sendsms(k: &Kannel, params: &[(&str, &str)]) -> (u16, String) {
    let mut query = vec![("username", k.username()), ("password", k.password())];
    query.extend_from_slice(params);
    let r = client()
        .get(k.sendsms_url())
        .query(&query)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

#[tokio::test]
async fn kannel_delivers_plain_ascii_to_fakesmsc() {
    let k = Kannel::start();
    let (status, body) = sendsms(
        &k,
        &[
            ("from", "FlexSecure"),
            ("to", "+41791234567"),
            ("text", "Your PIN is 482913"),
        ],
    )
    .await;
    assert_eq!((status, body.as_str()), (202, "0: Accepted for delivery"));
    // A line break ends fakesmsc's line; the rest comes as further lines.
    let (_, body) = sendsms(
        &k,
        &[
            ("from", "FlexSecure"),
            ("to", "+41791234568"),
            ("text", "Hello\nsecond line + 100% sure"),
        ],
    )
    .await;
    assert_eq!(body, "0: Accepted for delivery");
    let got = k.wait_received(2);
    assert_eq!(
        got,
        vec![
            FakeSms {
                from: "FlexSecure".into(),
                to: "+41791234567".into(),
                text: "Your PIN is 482913".into(),
                coding: Coding::Gsm,
                parts: 1,
            },
            FakeSms {
                from: "FlexSecure".into(),
                to: "+41791234568".into(),
                text: "Hello\nsecond line + 100% sure".into(),
                coding: Coding::Gsm,
                parts: 1,
            },
        ],
        "raw lines: {:?}",
        k.raw_lines()
    );
}

#[tokio::test]
async fn kannel_delivers_unicode_as_ucs2() {
    let k = Kannel::start();
    let short = "Grüezi 👋 登录";
    // Longer than 70 UCS-2 units: concatenated; the emoji may straddle parts.
    let long = "Grüezi 👋 登录 – Ihr Anmeldelink ist 10 Minuten gültig. ".repeat(3);
    // Only characters whose UTF-16 bytes are printable ASCII: the coding of
    // the parts can only come from the access log.
    let cjk = "登录".repeat(40);
    for text in [short, long.as_str(), cjk.as_str()] {
        let (status, body) = sendsms(
            &k,
            &[
                ("from", "FlexSecure"),
                ("to", "+41791234567"),
                ("coding", "2"),
                ("charset", "UTF-8"),
                ("text", text),
            ],
        )
        .await;
        assert_eq!((status, body.as_str()), (202, "0: Accepted for delivery"));
    }
    let got = k.wait_received_async(3).await;
    let summary: Vec<(&str, Coding, usize)> = got
        .iter()
        .map(|m| (m.text.as_str(), m.coding, m.parts))
        .collect();
    assert_eq!(
        summary,
        vec![
            (short, Coding::Ucs2, 1),
            (long.as_str(), Coding::Ucs2, 3),
            (cjk.as_str(), Coding::Ucs2, 2),
        ],
        "raw lines: {:?}",
        k.raw_lines()
    );
    assert!(got.iter().all(|m| m.to == "+41791234567"));
}

#[tokio::test]
async fn kannel_delivers_a_long_gsm_text_concatenated() {
    let k = Kannel::start();
    // 300 characters, numbered so a lost or reordered part shows; "ü" is in
    // the GSM alphabet but two bytes in UTF-8.
    let text: String = (0..60).map(|i| format!("{i:03}ü ")).collect();
    assert_eq!(text.chars().count(), 300);
    let (status, body) = sendsms(
        &k,
        &[
            ("from", "FlexSecure"),
            ("to", "+41791234567"),
            ("charset", "UTF-8"),
            ("text", &text),
        ],
    )
    .await;
    assert_eq!((status, body.as_str()), (202, "0: Accepted for delivery"));
    let got = k.wait_received(1);
    let raw = k.raw_lines();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].text, text, "raw lines: {raw:?}");
    assert_eq!((got[0].coding, got[0].parts), (Coding::Gsm, 2), "{raw:?}");
    // Two parts of 153 and 147 characters with an 8-bit-reference
    // concatenation UDH, e.g. `udh %05%00%03%01%02%01 data 000%C3%BC+...`.
    assert_eq!(raw.len(), 2, "{raw:?}");
    for (i, line) in raw.iter().enumerate() {
        let udh = "FlexSecure +41791234567 udh %05%00%03";
        assert!(line.starts_with(udh), "{line}");
        assert!(line.contains(&format!("%02%0{} data ", i + 1)), "{line}");
    }
}

#[tokio::test]
async fn kannel_sendsms_answers_accepted() {
    let k = Kannel::start();
    let (status, body) = sendsms(
        &k,
        &[("from", "123"), ("to", "456"), ("text", "status check")],
    )
    .await;
    // Kannel answers "0: Accepted for delivery" when the SMSC is connected
    // and "3: Queued for later delivery" when it is not (yet); no newline.
    assert!(
        body.starts_with("0:") || body.starts_with("3:"),
        "{status} {body:?}"
    );
    assert_eq!((status, body.as_str()), (202, "0: Accepted for delivery"));

    let wrong = client()
        .get(k.sendsms_url())
        .query(&[
            ("username", k.username()),
            ("password", "wrong"),
            ("to", "456"),
            ("text", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 403);
    assert_eq!(
        wrong.text().await.unwrap(),
        "Authorization failed for sendsms"
    );
    k.wait_received(1);
}

#[tokio::test]
async fn kannel_calls_the_dlr_url_back() {
    let k = Kannel::start();
    let dlr = HttpRecorder::start();
    let url = dlr.url("/dlr?status=%d&to=%p&answer=%A&id=abc");
    let (_, body) = sendsms(
        &k,
        &[
            ("from", "FlexSecure"),
            ("to", "+41791234567"),
            ("text", "with a report"),
            ("dlr-mask", "31"),
            ("dlr-url", &url),
        ],
    )
    .await;
    assert_eq!(body, "0: Accepted for delivery");
    k.wait_received(1);
    let mut got = dlr.wait_requests(2);
    got.sort();
    // 1 = delivered (made up by bearerbox's fake SMSC driver), 8 = accepted
    // by the SMSC (answer "ACK/"); in either order.
    assert_eq!(
        got,
        vec![
            "/dlr?status=1&to=%2B41791234567&answer=&id=abc".to_string(),
            "/dlr?status=8&to=%2B41791234567&answer=ACK%2F&id=abc".to_string(),
        ]
    );
    // No further reports come.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(dlr.requests().len(), 2, "{:?}", dlr.requests());
}
