//! HTTPS with rustls: TLS 1.2 and 1.3 only, forward-secret suites only (the
//! ring provider's: ECDHE for 1.2, all of 1.3), a certificate from the
//! configured PEM files or one made on first start and kept in the data
//! directory, and a reload without dropping connections (new handshakes get
//! the new certificate, open connections keep theirs).

use crate::config::Config;
use anyhow::{bail, Context};
use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Where the self-signed certificate lives, inside the data directory.
pub const SELF_SIGNED_DIR: &str = "tls";

/// Whether and from where the server gets its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain HTTP: loopback only, or TLS switched off (behind a proxy).
    Off,
    /// The configured PEM files.
    Files { cert: PathBuf, key: PathBuf },
    /// Made on first start in `<data dir>/tls/`.
    SelfSigned { dir: PathBuf },
}

impl TlsMode {
    /// Certificate files win; without them a non-loopback listener gets a
    /// self-signed certificate rather than serving secrets in clear.
    pub fn of(config: &Config, listen: SocketAddr) -> anyhow::Result<Self> {
        let tls = &config.server.tls;
        if tls.enabled == Some(false) {
            return Ok(Self::Off);
        }
        match (&tls.cert, &tls.key) {
            (Some(cert), Some(key)) => Ok(Self::Files {
                cert: cert.clone(),
                key: key.clone(),
            }),
            (Some(_), None) | (None, Some(_)) => {
                bail!("server.tls needs both cert and key (PEM files)")
            }
            (None, None) if listen.ip().is_loopback() && tls.enabled != Some(true) => Ok(Self::Off),
            (None, None) => Ok(Self::SelfSigned {
                dir: config.data_dir().join(SELF_SIGNED_DIR),
            }),
        }
    }

    fn paths(&self) -> Option<(PathBuf, PathBuf)> {
        match self {
            TlsMode::Off => None,
            TlsMode::Files { cert, key } => Some((cert.clone(), key.clone())),
            TlsMode::SelfSigned { dir } => Some((dir.join("cert.pem"), dir.join("key.pem"))),
        }
    }
}

/// The certificate the server presents, swappable at run time.
#[derive(Debug)]
pub struct CertStore {
    current: RwLock<Arc<CertifiedKey>>,
    cert: PathBuf,
    key: PathBuf,
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

impl CertStore {
    /// Reads the PEM files again and presents them to new connections.
    /// Blocking (file I/O). A bad file leaves the old certificate in place.
    pub fn reload(&self) -> anyhow::Result<String> {
        let (ck, fingerprint) = load(&self.cert, &self.key)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(ck);
        Ok(fingerprint)
    }

    pub fn fingerprint(&self) -> String {
        let ck = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        ck.cert.first().map(|c| fingerprint(c)).unwrap_or_default()
    }
}

/// SHA-256 of the certificate, as `AB:CD:...` (what browsers show).
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(cert.as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn load(cert: &Path, key: &Path) -> anyhow::Result<(CertifiedKey, String)> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading the certificate {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing the certificate {}", cert.display()))?;
    if chain.is_empty() {
        bail!("{} holds no certificate", cert.display());
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading the private key {}", key.display()))?;
    let signing = ring::default_provider()
        .key_provider
        .load_private_key(key_der)
        .with_context(|| format!("using the private key {}", key.display()))?;
    let fp = fingerprint(&chain[0]);
    let ck = CertifiedKey::new(chain, signing);
    ck.keys_match()
        .with_context(|| format!("{} does not belong to {}", key.display(), cert.display()))?;
    Ok((ck, fp))
}

/// Makes the self-signed certificate if it is not there yet. Names: the
/// listen address (unless unspecified), the public URL's host, `localhost`,
/// `127.0.0.1`, `::1`.
fn ensure_self_signed(
    dir: &Path,
    listen: SocketAddr,
    public_url: Option<&str>,
) -> anyhow::Result<bool> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if cert.exists() && key.exists() {
        return Ok(false);
    }
    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    if !listen.ip().is_unspecified() {
        names.push(listen.ip().to_string());
    }
    if let Some(host) = public_url
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| u.host_str().map(str::to_string))
    {
        names.push(host.trim_matches(|c| c == '[' || c == ']').to_string());
    }
    names.dedup();
    let made =
        rcgen::generate_simple_self_signed(names).context("making a self-signed certificate")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    crate::crypto::write_private(&key, made.key_pair.serialize_pem().as_bytes())
        .with_context(|| format!("writing {}", key.display()))?;
    crate::crypto::write_private(&cert, made.cert.pem().as_bytes())
        .with_context(|| format!("writing {}", cert.display()))?;
    Ok(true)
}

/// The rustls server configuration and its swappable certificate.
pub struct Tls {
    pub config: rustls::ServerConfig,
    pub certs: Arc<CertStore>,
    /// The certificate was made by this start.
    pub created: bool,
}

/// Sets TLS up for `mode` (blocking: files). `None` for [`TlsMode::Off`].
pub fn setup(
    mode: &TlsMode,
    listen: SocketAddr,
    public_url: Option<&str>,
) -> anyhow::Result<Option<Tls>> {
    let created = match mode {
        TlsMode::Off => return Ok(None),
        TlsMode::SelfSigned { dir } => ensure_self_signed(dir, listen, public_url)?,
        TlsMode::Files { .. } => false,
    };
    let Some((cert, key)) = mode.paths() else {
        return Ok(None);
    };
    let (ck, _) = load(&cert, &key)?;
    let certs = Arc::new(CertStore {
        current: RwLock::new(Arc::new(ck)),
        cert,
        key,
    });
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS versions")?
        .with_no_client_auth()
        .with_cert_resolver(certs.clone());
    let mut config = config;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Tls {
        config,
        certs,
        created,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn mode_follows_files_and_the_listen_address() {
        let mut c = Config::default();
        assert_eq!(
            TlsMode::of(&c, addr("127.0.0.1:8080")).unwrap(),
            TlsMode::Off
        );
        assert!(matches!(
            TlsMode::of(&c, addr("0.0.0.0:443")).unwrap(),
            TlsMode::SelfSigned { .. }
        ));
        c.server.tls.enabled = Some(false);
        assert_eq!(TlsMode::of(&c, addr("0.0.0.0:443")).unwrap(), TlsMode::Off);
        c.server.tls.enabled = Some(true);
        assert!(matches!(
            TlsMode::of(&c, addr("127.0.0.1:8443")).unwrap(),
            TlsMode::SelfSigned { .. }
        ));
        c.server.tls.cert = Some("c.pem".into());
        assert!(
            TlsMode::of(&c, addr("0.0.0.0:443")).is_err(),
            "a cert without a key"
        );
        c.server.tls.key = Some("k.pem".into());
        assert!(matches!(
            TlsMode::of(&c, addr("127.0.0.1:8443")).unwrap(),
            TlsMode::Files { .. }
        ));
    }

    #[test]
    fn self_signed_is_made_once_kept_private_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let mode = TlsMode::SelfSigned {
            dir: dir.path().join("tls"),
        };
        let first = setup(&mode, addr("0.0.0.0:0"), Some("https://fs.example"))
            .unwrap()
            .unwrap();
        assert!(first.created);
        let fp = first.certs.fingerprint();
        assert_eq!(fp.len(), 32 * 3 - 1);
        let again = setup(&mode, addr("0.0.0.0:0"), None).unwrap().unwrap();
        assert!(!again.created);
        assert_eq!(again.certs.fingerprint(), fp, "kept, not made anew");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let m = std::fs::metadata(dir.path().join("tls/key.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(m & 0o777, 0o600);
        }
        // A broken key file: the reload fails, the old certificate stays.
        std::fs::write(dir.path().join("tls/key.pem"), "not a key").unwrap();
        assert!(again.certs.reload().is_err());
        assert_eq!(again.certs.fingerprint(), fp);
    }
}
