//! HTTPS with a real TLS client (rustls) on 127.0.0.1: TLS 1.2 and 1.3 work,
//! TLS 1.1 is refused; the self-signed certificate of a non-loopback
//! listener; configured PEM files reloaded on SIGHUP without dropping an
//! open connection; the plain-HTTP listener that only redirects.

use crate::cli::serve_args;
use crate::harness::TestApp;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme, SupportedProtocolVersion};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Accepts any certificate and remembers its fingerprint, which the test
/// then compares: certificate pinning, as an operator does with the
/// fingerprint the appliance prints.
#[derive(Debug, Default)]
struct Pin(Mutex<Option<String>>);

impl ServerCertVerifier for Pin {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.0.lock().unwrap() = Some(flexsecure::tls::fingerprint(end_entity));
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            m,
            c,
            d,
            &ring::default_provider().signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            m,
            c,
            d,
            &ring::default_provider().signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// An open TLS connection to the appliance.
struct Conn {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    fingerprint: String,
    version: String,
}

fn connect(
    addr: SocketAddr,
    versions: &[&'static SupportedProtocolVersion],
) -> Result<Conn, String> {
    let pin = Arc::new(Pin::default());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(pin.clone())
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn
            .complete_io(&mut tls.sock)
            .map_err(|e| e.to_string())?;
    }
    let version = format!("{:?}", tls.conn.protocol_version().unwrap());
    let fingerprint = pin.0.lock().unwrap().clone().unwrap();
    Ok(Conn {
        tls,
        fingerprint,
        version,
    })
}

impl Conn {
    /// One keep-alive request; the status code and body.
    fn get(&mut self, path: &str) -> (u16, String) {
        write!(self.tls, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
        self.tls.flush().unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        for _ in 0..1000 {
            let n = self.tls.read(&mut chunk).unwrap();
            assert!(n > 0, "connection closed");
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if body.len() >= len {
                    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
                    return (status, body[..len].to_string());
                }
            }
        }
        panic!("no complete response");
    }
}

/// A TLS 1.1 ClientHello, by hand (rustls cannot speak 1.1): the answer
/// must be an alert, not a ServerHello.
fn tls11_hello(addr: SocketAddr) -> Vec<u8> {
    let mut hello = vec![0x03, 0x02]; // client_version TLS 1.1
    hello.extend_from_slice(&[7u8; 32]); // random
    hello.push(0); // no session id
    hello.extend_from_slice(&[0x00, 0x04, 0xc0, 0x13, 0x00, 0x2f]); // ECDHE-RSA-AES128-SHA, AES128-SHA
    hello.extend_from_slice(&[0x01, 0x00]); // null compression
    let mut hs = vec![0x01, 0x00, 0x00, hello.len() as u8];
    hs.extend_from_slice(&hello);
    let mut record = vec![0x16, 0x03, 0x01, 0x00, hs.len() as u8];
    record.extend_from_slice(&hs);
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(&record).unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    answer
}

fn local(addr: SocketAddr) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], addr.port()))
}

fn file_fingerprint(pem: &Path) -> String {
    use rustls::pki_types::pem::PemObject;
    let der = CertificateDer::from_pem_file(pem).unwrap();
    flexsecure::tls::fingerprint(&der)
}

#[tokio::test]
async fn a_non_loopback_listener_serves_tls_12_and_13_with_a_self_signed_certificate() {
    let t = TestApp::spawn_with(|c| {
        c.server.listen = Some("0.0.0.0:0".into());
        c.server.http_redirect_listen = Some("127.0.0.1:0".into());
    })
    .await;
    assert!(t.public_url.starts_with("https://"), "{}", t.public_url);
    let expected = file_fingerprint(&t.data_dir.path().join("tls/cert.pem"));
    let addr = local(t.addr);
    let redirect = t.redirect_addr.unwrap();
    let public_url = t.public_url.clone();
    flexsecure::blocking::run(move || {
        for (versions, name) in [
            (&[&rustls::version::TLS13][..], "TLSv1_3"),
            (&[&rustls::version::TLS12][..], "TLSv1_2"),
        ] {
            let mut c = connect(addr, versions).unwrap();
            assert_eq!(c.version, name);
            assert_eq!(c.fingerprint, expected);
            let (status, body) = c.get("/v2/jwks.json");
            assert_eq!(status, 200, "{body}");
            assert!(body.contains("\"keys\""));
        }
        let answer = tls11_hello(addr);
        assert!(!answer.is_empty(), "the server answers before closing");
        assert_eq!(answer[0], 0x15, "an alert, not a handshake: {answer:?}");

        // The plain-HTTP listener only redirects, to the public URL.
        let mut tcp = TcpStream::connect(redirect).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            tcp,
            "GET /admin?x=1 HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        tcp.read_to_string(&mut text).unwrap();
        assert!(text.starts_with("HTTP/1.1 308"), "{text}");
        assert!(
            text.to_ascii_lowercase()
                .contains(&format!("location: {public_url}/admin?x=1")),
            "{text}"
        );
    })
    .await
    .unwrap();
}

fn write_cert(dir: &Path, name: &str) -> String {
    let made = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    // Written next to the live files and renamed, as certbot and friends do.
    std::fs::write(dir.join("cert.new"), made.cert.pem()).unwrap();
    std::fs::write(dir.join("key.new"), made.key_pair.serialize_pem()).unwrap();
    std::fs::rename(dir.join("key.new"), &key).unwrap();
    std::fs::rename(dir.join("cert.new"), &cert).unwrap();
    flexsecure::tls::fingerprint(made.cert.der())
}

#[tokio::test]
async fn sighup_reloads_the_certificate_without_dropping_connections() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    let first = write_cert(&certs, "first.example");
    let config = dir.path().join("flexsecure.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[server.tls]\ncert = {:?}\nkey = {:?}\n",
            certs.join("cert.pem"),
            certs.join("key.pem")
        ),
    )
    .unwrap();
    let (server, addr) = serve_args(dir.path(), &["--config", config.to_str().unwrap()]);
    let addr: SocketAddr = addr.parse().unwrap();
    let pid = server.0.id() as i32;
    let certs2 = certs.clone();
    flexsecure::blocking::run(move || {
        let mut open = connect(addr, &[&rustls::version::TLS13]).unwrap();
        assert_eq!(open.fingerprint, first);
        assert_eq!(open.get("/v2/jwks.json").0, 200);

        let second = write_cert(&certs2, "second.example");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGHUP,
        )
        .unwrap();
        let mut seen = String::new();
        for _ in 0..100 {
            seen = connect(addr, &[&rustls::version::TLS12])
                .unwrap()
                .fingerprint;
            if seen == second {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(seen, second, "new connections get the new certificate");
        // The connection opened before the reload still works.
        assert_eq!(open.get("/v2/jwks.json").0, 200);

        // A broken file: the reload is refused, the certificate stays.
        std::fs::write(certs2.join("key.pem"), "garbage").unwrap();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGHUP,
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            connect(addr, &[&rustls::version::TLS13])
                .unwrap()
                .fingerprint,
            second
        );
    })
    .await
    .unwrap();
    drop(server);
}

#[tokio::test]
async fn the_admin_ui_shows_the_certificate_fingerprint_over_https() {
    let t = TestApp::spawn_with(|c| c.server.listen = Some("0.0.0.0:0".into())).await;
    let expected = file_fingerprint(&t.data_dir.path().join("tls/cert.pem"));
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pin::default()))
        .with_no_client_auth();
    let client = crate::harness::http_builder()
        .use_preconfigured_tls(config)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("https://127.0.0.1:{}", t.addr.port());
    let mut a = crate::admin::Admin::with_client(&t, client, base.clone());
    let link = t.setup_link.clone().unwrap();
    let link = format!("{base}{}", &link[link.find("/admin").unwrap()..]);
    assert_eq!(
        a.setup(&link, Some("root"), crate::admin::PASSWORD)
            .await
            .status,
        200
    );
    // Over HTTPS the cookies carry the __Host- prefix and Secure.
    assert!(a
        .set_cookie_lines
        .iter()
        .any(|l| l.starts_with("__Host-fs_csrf=") && l.contains("Secure")));
    assert_eq!(a.login("root", crate::admin::PASSWORD).await.status, 303);
    let page = a.get("/admin/channels").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains(&format!("id=\"tls-fingerprint\">{expected}<")),
        "{}",
        page.body
    );
}
