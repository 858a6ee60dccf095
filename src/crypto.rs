//! Random secrets, keyed hashes, encryption of queued SMS bodies and
//! constant-time comparison. Everything here is CPU work: callers run it on
//! blocking threads, never on async workers.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
use std::path::Path;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

pub const SERVER_KEY_FILE: &str = "server.key";

/// Random bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    OsRng.fill_bytes(&mut b);
    b
}

/// A URL-safe random string carrying `N` bytes (8·N bits) of entropy.
pub fn random_token<const N: usize>() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<N>())
}

/// A random hex identifier with a prefix, e.g. `acc_3f9a...`.
pub fn random_id(prefix: &str, bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    OsRng.fill_bytes(&mut b);
    format!("{prefix}_{}", hex::encode(b))
}

/// A uniformly random numeric PIN of `len` digits (leading zeros allowed).
pub fn random_pin(len: u8) -> String {
    (0..len)
        .map(|_| char::from(b'0' + OsRng.gen_range(0..10u8)))
        .collect()
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    crate::blocking::check("sha256");
    Sha256::digest(data).into()
}

pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// The appliance's secret key, kept in a file outside the database so that a
/// copy of the database alone reveals no PIN, link or queued SMS.
#[derive(Clone)]
pub struct ServerKey {
    hmac_key: [u8; 32],
    enc_key: [u8; 32],
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey(..)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("server key file {0}: {1}")]
    Io(String, std::io::Error),
    #[error("server key file {0} is damaged (expected 64 hex characters)")]
    Damaged(String),
    #[error("cannot decrypt a stored message (wrong server key?)")]
    Decrypt,
}

impl ServerKey {
    /// Reads `data_dir/server.key`, creating it (mode 0600) on first start.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, KeyError> {
        let path = data_dir.join(SERVER_KEY_FILE);
        let shown = path.display().to_string();
        match fs::read_to_string(&path) {
            Ok(text) => {
                let raw = hex::decode(text.trim()).map_err(|_| KeyError::Damaged(shown.clone()))?;
                let master: [u8; 32] = raw.try_into().map_err(|_| KeyError::Damaged(shown))?;
                Ok(Self::from_master(&master))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let master = random_bytes::<32>();
                write_private(&path, hex::encode(master).as_bytes())
                    .map_err(|e| KeyError::Io(shown, e))?;
                Ok(Self::from_master(&master))
            }
            Err(e) => Err(KeyError::Io(shown, e)),
        }
    }

    fn from_master(master: &[u8; 32]) -> Self {
        let derive = |label: &[u8]| -> [u8; 32] {
            let mut m =
                <HmacSha256 as Mac>::new_from_slice(master).unwrap_or_else(|_| unreachable!());
            m.update(label);
            m.finalize().into_bytes().into()
        };
        Self {
            hmac_key: derive(b"flexsecure/v1/hmac"),
            enc_key: derive(b"flexsecure/v1/outbox-encryption"),
        }
    }

    /// HMAC-SHA-256 of the parts, each length-prefixed so that no two
    /// different part lists hash alike.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        crate::blocking::check("hmac");
        let mut m =
            <HmacSha256 as Mac>::new_from_slice(&self.hmac_key).unwrap_or_else(|_| unreachable!());
        for p in parts {
            m.update(&(p.len() as u64).to_be_bytes());
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    /// Encrypts an SMS body for the outbox (random 192-bit nonce, prepended).
    pub fn seal(&self, plaintext: &str) -> Vec<u8> {
        crate::blocking::check("encryption");
        let cipher = XChaCha20Poly1305::new((&self.enc_key).into());
        let nonce = random_bytes::<24>();
        let mut out = nonce.to_vec();
        // Encryption with a valid key and nonce cannot fail.
        let ct = cipher
            .encrypt(XNonce::from_slice(&nonce), plaintext.as_bytes())
            .unwrap_or_default();
        out.extend_from_slice(&ct);
        out
    }

    pub fn open(&self, sealed: &[u8]) -> Result<String, KeyError> {
        crate::blocking::check("decryption");
        if sealed.len() < 24 {
            return Err(KeyError::Decrypt);
        }
        let cipher = XChaCha20Poly1305::new((&self.enc_key).into());
        let (nonce, ct) = sealed.split_at(24);
        let pt = cipher
            .decrypt(XNonce::from_slice(nonce), ct)
            .map_err(|_| KeyError::Decrypt)?;
        String::from_utf8(pt).map_err(|_| KeyError::Decrypt)
    }
}

/// Writes a new file readable only by its owner.
pub fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

/// argon2id (the crate's defaults: 19 MiB, 2 passes, 1 lane, as OWASP
/// recommends) of an operator password, as a PHC string with its salt.
/// Slow on purpose: a blocking thread only.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    crate::blocking::check("argon2");
    let salt = SaltString::encode_b64(&random_bytes::<16>())?;
    Ok(argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Whether `password` matches a PHC string from [`hash_password`]; a
/// malformed stored hash never matches. A blocking thread only.
pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    crate::blocking::check("argon2");
    match PasswordHash::new(phc) {
        Ok(h) => argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_have_the_right_length_and_digits() {
        for len in 4..=10 {
            let p = random_pin(len);
            assert_eq!(p.len(), len as usize);
            assert!(p.chars().all(|c| c.is_ascii_digit()));
        }
    }

    #[test]
    fn key_file_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let a = ServerKey::load_or_create(dir.path()).unwrap();
        let b = ServerKey::load_or_create(dir.path()).unwrap();
        assert_eq!(a.mac(&[b"x"]), b.mac(&[b"x"]));
        assert_ne!(a.mac(&[b"ab", b"c"]), a.mac(&[b"a", b"bc"]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(SERVER_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let sealed = a.seal("PIN 123456");
        assert!(!String::from_utf8_lossy(&sealed).contains("123456"));
        assert_eq!(b.open(&sealed).unwrap(), "PIN 123456");
        assert!(b.open(&sealed[..10]).is_err());
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horsE", &h));
        assert!(!verify_password("correct horse", "not a hash"));
        // A fresh salt every time.
        assert_ne!(hash_password("correct horse").unwrap(), h);
    }
}
