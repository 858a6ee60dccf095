//! A real headless Chromium for tests, driven over WebDriver: Debian's
//! `chromium` and `chromium-driver` (`/usr/bin/chromium`,
//! `/usr/bin/chromedriver`), which `scripts/test` installs. Without them
//! `Browser::start` panics, so the tests fail instead of silently skipping.
//!
//! Each `Browser` is one chromedriver on a free port of 127.0.0.1 (it picks
//! the port itself, `--port=0`, and says which on its stdout) with one
//! Chromium session in a fresh profile in a temp dir. Chromium runs with the
//! flags it needs here as root and on a closed network (no sandbox, no GPU,
//! no background networking, component updates or sync). Dropping the
//! `Browser` ends the session (Chromium quits), then kills chromedriver's
//! process group, so no process outlives the test.
//!
//! `click` and `submit` wait for the page load they start: chromedriver's
//! own wait misses a form POST that has not begun when the click returns,
//! and the next command (a screenshot) then meets the page swap and stalls
//! for chromedriver's 10 s renderer timeout, or reads the old page.
//!
//! The methods are thin wrappers over fantoccini that panic with a message
//! naming what failed; every wait is bounded in time. Screenshots go to
//! `<target dir>/screenshots/<test name>/NN-<name>.png`.

mod admin;
mod smoke;

use fantoccini::elements::Element;
use fantoccini::wd::{Capabilities, TimeoutConfiguration};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use std::fmt::Display;
use std::future::Future;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tempfile::TempDir;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// What Chromium needs here: as root it cannot sandbox, and on the closed
/// network every background connection (updates, sync, QUIC probes) is
/// refused, so none is tried.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
];

/// chromedriver up and ready (port announced, `/status` ready).
const DRIVER_START: Duration = Duration::from_secs(10);
/// Chromium started and the WebDriver session created.
const SESSION_START: Duration = Duration::from_secs(30);
/// A page load, also one that a click starts.
const PAGE_LOAD: Duration = Duration::from_secs(10);
/// How long `find` and friends wait for an element to appear.
const FIND_WAIT: Duration = Duration::from_secs(5);
/// Any one WebDriver command (a page load and chromedriver's 10 s renderer
/// timeout fit in it).
const COMMAND: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

/// A cookie as WebDriver reports it (`None`: WebDriver did not say).
/// Chromium reports `same_site: Some("Lax")` for a cookie set without a
/// SameSite attribute (its default), so whether the server sent one shows
/// only in the `Set-Cookie` header.
#[allow(dead_code)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserCookie {
    pub name: String,
    pub value: String,
    pub http_only: Option<bool>,
    pub secure: Option<bool>,
    /// `Strict`, `Lax` or `None`.
    pub same_site: Option<String>,
    pub path: Option<String>,
    pub domain: Option<String>,
}

pub struct Browser {
    client: Client,
    driver: Child,
    port: u16,
    session_id: String,
    test_name: String,
    shots: AtomicU32,
    /// Chromium's profile and chromedriver's log; removed after the processes.
    _dir: TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session for `test_name`
    /// (which also names the screenshot folder).
    pub async fn start(test_name: &str) -> Browser {
        assert!(
            Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists(),
            "{CHROMIUM} or {CHROMEDRIVER} is missing: install the Debian packages \
             chromium and chromium-driver (scripts/test does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("chromedriver.log");
        let profile = dir.path().join("profile");
        let log = std::fs::File::create(&log_path).unwrap();
        let driver = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            // Its own process group, so Drop can end Chromium with it.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        // From here on a panic drops `Starting`, which kills the driver.
        let mut starting = Starting {
            driver: Some(driver),
            log_path,
        };
        let port = starting.wait_ready().await;
        let webdriver = format!("http://127.0.0.1:{port}");

        let mut caps = Capabilities::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": CHROMIUM_ARGS
                    .iter()
                    .map(|a| a.to_string())
                    .chain([format!("--user-data-dir={}", profile.display())])
                    .collect::<Vec<_>>(),
            }),
        );
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(caps);
        let connect = builder.connect(&webdriver);
        let client = match tokio::time::timeout(SESSION_START, connect).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => panic!(
                "chromedriver could not start Chromium: {e}\n{}",
                starting.log()
            ),
            Err(_) => panic!(
                "no Chromium session within {SESSION_START:?}\n{}",
                starting.log()
            ),
        };
        let session_id = within("session id", client.session_id())
            .await
            .unwrap_or_default();
        let timeouts = TimeoutConfiguration::new(
            Some(Duration::from_secs(5)),
            Some(PAGE_LOAD),
            Some(Duration::ZERO),
        );
        within("setting timeouts", client.update_timeouts(timeouts)).await;
        Browser {
            client,
            driver: starting.driver.take().unwrap(),
            port,
            session_id,
            test_name: sanitize(test_name),
            shots: AtomicU32::new(0),
            _dir: dir,
        }
    }

    /// Opens `url` and waits for it to load (at most 10 s).
    pub async fn goto(&self, url: &str) {
        within(format!("goto {url}"), self.client.goto(url)).await;
    }

    /// The first element matching `css`, waiting for it at most 5 s.
    pub async fn find(&self, css: &str) -> Element {
        let found = self
            .client
            .wait()
            .at_most(FIND_WAIT)
            .every(POLL)
            .for_element(Locator::Css(css))
            .await;
        match found {
            Ok(el) => el,
            Err(e) => panic!(
                "no element {css} within {FIND_WAIT:?} on {}: {e}",
                self.url_or_unknown().await
            ),
        }
    }

    /// Every element matching `css` now (possibly none; no wait).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        within(
            format!("find_all {css}"),
            self.client.find_all(Locator::Css(css)),
        )
        .await
    }

    /// Clicks the element matching `css`. A navigation the click starts (a
    /// form it submits, a link it follows) is waited for until the new page
    /// has loaded (at most 10 s): chromedriver's own wait can miss a form
    /// POST that has not started yet, and a screenshot sent into the page
    /// swap then stalls for 10 s.
    pub async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.click_and_settle(el, css).await;
    }

    /// Replaces the content of the field matching `css` with `text`.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        within(format!("clear {css}"), field.clear()).await;
        within(format!("type into {css}"), field.send_keys(text)).await;
    }

    /// Submits the form matching `css` with its first submit button, as a
    /// person would.
    pub async fn submit(&self, form_css: &str) {
        const SUBMITS: &str = "button:not([type]), button[type=submit], input[type=submit]";
        let form = self.find(form_css).await;
        let button = within(
            format!("no submit button in {form_css}"),
            form.find(Locator::Css(SUBMITS)),
        )
        .await;
        self.click_and_settle(button, &format!("{form_css}'s submit button"))
            .await;
    }

    /// Clicks `el`, then waits (bounded) for the navigation it starts, if
    /// any. The page notes a submit or link click that nothing cancelled;
    /// the new page lacks that note and says when it has loaded.
    async fn click_and_settle(&self, el: Element, what: &str) {
        const ARM: &str = r#"
            window.__browserNav = 'none';
            if (!window.__browserArmed) {
                window.__browserArmed = true;
                addEventListener('submit', e => {
                    if (!e.defaultPrevented) window.__browserNav = 'leaving';
                });
                addEventListener('click', e => {
                    const a = e.target.closest && e.target.closest('a[href]');
                    if (e.defaultPrevented || !a || a.hasAttribute('download')) return;
                    if (a.target && a.target !== '_self') return;
                    const u = new URL(a.href, document.baseURI);
                    const here = new URL(location.href);
                    if (u.hash && u.origin === here.origin && u.pathname === here.pathname
                        && u.search === here.search) return;
                    window.__browserNav = 'leaving';
                });
            }
        "#;
        const PROBE: &str = r#"
            if (window.__browserNav !== undefined) return window.__browserNav;
            return document.readyState === 'complete' ? 'loaded' : 'loading';
        "#;
        within(
            format!("before clicking {what}"),
            self.client.execute(ARM, Vec::new()),
        )
        .await;
        within(format!("click {what}"), el.click()).await;
        let deadline = Instant::now() + PAGE_LOAD;
        let mut state = String::new();
        for _ in 0..(PAGE_LOAD.as_millis() / POLL.as_millis()) {
            // A script that meets the page swap fails; that is "loading".
            let probe = self.client.execute(PROBE, Vec::new());
            state = match tokio::time::timeout(COMMAND, probe).await {
                Ok(Ok(Value::String(s))) => s,
                _ => "loading".into(),
            };
            if state == "none" || state == "loaded" || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        assert!(
            state == "none" || state == "loaded",
            "the page that clicking {what} opens did not load within {PAGE_LOAD:?} ({state})"
        );
    }

    /// The visible text of the element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        let el = self.find(css).await;
        within(format!("text of {css}"), el.text()).await
    }

    /// The current page's HTML (the DOM as it is now).
    pub async fn html(&self) -> String {
        within("page source", self.client.source()).await
    }

    pub async fn current_url(&self) -> String {
        within("current url", self.client.current_url())
            .await
            .to_string()
    }

    /// The cookies the browser holds for the current page.
    pub async fn cookies(&self) -> Vec<BrowserCookie> {
        within("cookies", self.client.get_all_cookies())
            .await
            .iter()
            .map(|c| BrowserCookie {
                name: c.name().to_string(),
                value: c.value().to_string(),
                http_only: c.http_only(),
                secure: c.secure(),
                same_site: c.same_site().map(|s| s.to_string()),
                path: c.path().map(str::to_string),
                domain: c.domain().map(str::to_string),
            })
            .collect()
    }

    /// Saves a PNG of the viewport as
    /// `<target>/screenshots/<test>/<NN>-<name>.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = within(format!("screenshot {name}"), self.client.screenshot()).await;
        let dir = screenshot_root().join(&self.test_name);
        let n = self.shots.fetch_add(1, Ordering::SeqCst) + 1;
        if n == 1 {
            // Shots of an earlier run would mix with this run's.
            let _ = std::fs::remove_dir_all(&dir);
            println!("screenshots of {}: {}", self.test_name, dir.display());
        }
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let path = dir.join(format!("{n:02}-{}.png", sanitize(name)));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// Every URL the current page loaded (Resource Timing) or refers to
    /// (`src` and `href` attributes, resolved against the page) that is not
    /// on `base`, the appliance's own origin (`http://host:port`). `data:`,
    /// `about:blank`, `blob:` of `base` and `#` anchors count as local.
    /// Sorted, without duplicates.
    pub async fn external_requests(&self, base: &str) -> Vec<String> {
        const SCRIPT: &str = r#"
            const urls = performance.getEntriesByType('resource').map(e => e.name);
            for (const el of document.querySelectorAll('[src],[href]')) {
                for (const attr of ['src', 'href']) {
                    const v = el.getAttribute(attr);
                    if (v === null) continue;
                    try { urls.push(new URL(v, document.baseURI).href); } catch (e) { urls.push(v); }
                }
            }
            return urls;
        "#;
        let found = within(
            "listing the page's URLs",
            self.client.execute(SCRIPT, Vec::new()),
        )
        .await;
        let Value::Array(found) = found else {
            panic!("listing the page's URLs gave {found}");
        };
        let mut external: Vec<String> = found
            .iter()
            .filter_map(|v| v.as_str())
            .filter(|u| !is_local(u, base))
            .map(str::to_string)
            .collect();
        external.sort();
        external.dedup();
        external
    }

    async fn url_or_unknown(&self) -> String {
        match tokio::time::timeout(COMMAND, self.client.current_url()).await {
            Ok(Ok(u)) => u.to_string(),
            _ => "an unknown page".into(),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session makes chromedriver quit Chromium and wait for it.
        if !self.session_id.is_empty() {
            request(
                self.port,
                "DELETE",
                &format!("/session/{}", self.session_id),
            );
        }
        kill_group(&mut self.driver);
        // `_dir` (profile, log) goes after this, with the processes gone.
    }
}

/// The result of one WebDriver command, bounded in time; panics naming
/// `what` when it fails or chromedriver does not answer.
async fn within<T, E: Display>(
    what: impl Display,
    command: impl Future<Output = Result<T, E>>,
) -> T {
    match tokio::time::timeout(COMMAND, command).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => panic!("{what}: {e}"),
        Err(_) => panic!("{what}: no answer from chromedriver within {COMMAND:?}"),
    }
}

/// chromedriver while `Browser::start` waits for it; killed if the start
/// fails.
struct Starting {
    driver: Option<Child>,
    log_path: PathBuf,
}

impl Starting {
    fn log(&self) -> String {
        let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        format!("chromedriver's output:\n{log}")
    }

    /// The port chromedriver announces, once its `/status` says ready
    /// (bounded: 10 s in all).
    async fn wait_ready(&mut self) -> u16 {
        let deadline = Instant::now() + DRIVER_START;
        let http = crate::harness::http_builder()
            .timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        let mut port = None;
        for _ in 0..(DRIVER_START.as_millis() / POLL.as_millis()) {
            if Instant::now() > deadline {
                break;
            }
            if let Some(status) = self.driver.as_mut().unwrap().try_wait().unwrap() {
                panic!("chromedriver exited ({status})\n{}", self.log());
            }
            if port.is_none() {
                port = announced_port(&std::fs::read_to_string(&self.log_path).unwrap_or_default());
            }
            if let Some(p) = port {
                let ready = match http
                    .get(format!("http://127.0.0.1:{p}/status"))
                    .send()
                    .await
                {
                    Ok(r) => r.json::<Value>().await.ok(),
                    Err(_) => None,
                };
                if ready.is_some_and(|v| v["value"]["ready"] == true) {
                    return p;
                }
            }
            tokio::time::sleep(POLL).await;
        }
        panic!(
            "chromedriver not ready within {DRIVER_START:?} (port {port:?})\n{}",
            self.log()
        );
    }
}

impl Drop for Starting {
    fn drop(&mut self) {
        if let Some(mut d) = self.driver.take() {
            kill_group(&mut d);
        }
    }
}

/// `... ChromeDriver was started successfully on port 40785.`
fn announced_port(log: &str) -> Option<u16> {
    log.lines()
        .find_map(|l| l.split("started successfully on port ").nth(1))
        .and_then(|rest| rest.trim().trim_end_matches('.').parse().ok())
}

/// One request to chromedriver over a plain socket: Drop cannot await, and
/// this must not depend on the test's runtime still running. Bounded:
/// about 7 s (connect 1 s, write 1 s, answer 5 s).
fn request(port: u16, method: &str, path: &str) {
    let Ok(mut s) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1))
    else {
        return;
    };
    let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if s.write_all(req.as_bytes()).is_err() {
        return;
    }
    // chromedriver answers a DELETE once Chromium has quit; it keeps the
    // connection open, so read only as far as the answer's Content-Length.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline && !answer_complete(&got) {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// A whole HTTP answer: its head and as many body bytes as its
/// Content-Length says (chromedriver writes `Content-Length:14`).
fn answer_complete(got: &[u8]) -> bool {
    let text = String::from_utf8_lossy(got);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    body.len() >= length
}

/// SIGKILL to chromedriver's whole process group (it and any Chromium
/// process left), then reaps chromedriver. The group is signalled before
/// the reap, so its id cannot have been reused. Chromium's crash handler
/// runs in a session of its own, outside the group; it exits with Chromium.
/// Chromium's children that chromedriver's death orphans are reaped by
/// PID 1 (here: within about two seconds).
fn kill_group(driver: &mut Child) {
    let pgid = driver.id();
    let swept = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !swept {
        let _ = driver.kill();
    }
    let _ = driver.wait();
}

/// Local to the appliance at `base` (`http://127.0.0.1:PORT`).
fn is_local(url: &str, base: &str) -> bool {
    if url.starts_with('#')
        || url.starts_with("data:")
        || url == "about:blank"
        || url == "about:srcdoc"
    {
        return true;
    }
    let base = base.trim_end_matches('/');
    let url = url.strip_prefix("blob:").unwrap_or(url);
    // Not just a prefix: `http://127.0.0.1:80` is no prefix of port 8080's URLs.
    url.strip_prefix(base)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?', '#']))
}

/// `$CARGO_TARGET_DIR/screenshots`, else `<repo>/target/screenshots`.
fn screenshot_root() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) if !t.is_empty() => repo.join(t),
        _ => repo.join("target"),
    };
    target.join("screenshots")
}

/// Safe as one path segment.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[test]
fn locality_of_urls() {
    let base = "http://127.0.0.1:8080";
    for local in [
        "http://127.0.0.1:8080",
        "http://127.0.0.1:8080/",
        "http://127.0.0.1:8080/static/app.css?v=1",
        "http://127.0.0.1:8080#top",
        "#top",
        "data:image/png;base64,AAAA",
        "blob:http://127.0.0.1:8080/3f1c",
        "about:blank",
    ] {
        assert!(is_local(local, base), "{local}");
    }
    for external in [
        "http://127.0.0.1:80801/x",
        "http://127.0.0.1:808/x",
        "https://127.0.0.1:8080/x",
        "https://cdn.example/htmx.js",
        "http://localhost:8080/x",
        "//cdn.example/x",
        "javascript:alert(1)",
    ] {
        assert!(!is_local(external, base), "{external}");
    }
    assert_eq!(
        announced_port("Only local connections are allowed.\nChromeDriver was started successfully on port 40785.\n"),
        Some(40785)
    );
    assert_eq!(sanitize("login page/1"), "login-page-1");
    assert!(!answer_complete(
        b"HTTP/1.1 200 OK\r\nContent-Length:14\r\n\r\n{\"value\""
    ));
    assert!(answer_complete(
        b"HTTP/1.1 200 OK\r\nContent-Length:14\r\n\r\n{\"value\":null}"
    ));
}
