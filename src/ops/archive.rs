//! The backup archive, format version 1: one file, written and read as a
//! stream (a database of many gigabytes never has to fit in memory).
//!
//! ```text
//! header   "FSBACKUP" | version u16 = 1 | kind u8 (0 plain, 1 encrypted)
//!          encrypted only: kdf u8 = 1 (argon2id v0x13) | m_cost KiB u32 |
//!          t_cost u32 | p_cost u32 | salt [16] | key check [32] |
//!          nonce prefix [19] | chunk size u32
//! body     plain:     payload, then SHA-256 of header and payload [32]
//!          encrypted: payload cut into chunks of `chunk size` bytes (the
//!          last may be shorter, even empty), each sealed with
//!          XChaCha20-Poly1305 (16-byte tag) under nonce = prefix |
//!          chunk number u32 | 1 for the last chunk else 0, with the whole
//!          header as associated data (the STREAM construction: chunks
//!          cannot be reordered, dropped or cut off unnoticed)
//! payload  'M' u32 len, manifest JSON | ('F' u16 len, name, u64 size,
//!          bytes)* | 'E'
//! ```
//!
//! Integers are big-endian. argon2id turns the passphrase and the random
//! salt into 64 bytes: the first 32 are the encryption key, the last 32 are
//! stored as the key check, which tells a wrong passphrase from damage.

use super::OpsError;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use std::io::{self, BufRead, Read, Write};

const MAGIC: &[u8; 8] = b"FSBACKUP";
pub(crate) const VERSION: u16 = 1;
const KIND_PLAIN: u8 = 0;
const KIND_SEALED: u8 = 1;
const KDF_ARGON2ID: u8 = 1;
const TAG: usize = 16;
const PREFIX: usize = 19;
/// Chunk size of the archives this binary writes.
const CHUNK: u32 = 64 * 1024;
/// Largest chunk size read (a damaged header must not allocate wildly).
const MAX_CHUNK: u32 = 16 * 1024 * 1024;
/// Largest manifest and entry name read.
const MAX_MANIFEST: u32 = 1024 * 1024;

/// argon2id costs: memory in KiB, passes, lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KdfParams {
    pub m_kib: u32,
    pub t: u32,
    pub p: u32,
}

/// What this binary writes: 64 MiB, 3 passes, 1 lane (about a second of
/// one core; the passphrase guards the server key of the appliance).
pub(crate) const KDF_WRITE: KdfParams = KdfParams {
    m_kib: 64 * 1024,
    t: 3,
    p: 1,
};

/// Bounds on what is read, so that a damaged header cannot ask for
/// terabytes of memory or hours of work.
const KDF_MAX: KdfParams = KdfParams {
    m_kib: 1024 * 1024,
    t: 64,
    p: 16,
};

fn damaged(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// Turns a read error inside the body into the archive's error: damage
/// (failed authentication, bad structure, cut off) or plain I/O.
pub(crate) fn read_error(what: &str, e: io::Error) -> OpsError {
    match e.kind() {
        io::ErrorKind::InvalidData => OpsError::Damaged(e.to_string()),
        io::ErrorKind::UnexpectedEof => OpsError::Damaged("cut off".into()),
        _ => OpsError::Io(what.to_string(), e),
    }
}

/// A derived key: the cipher and the key check.
#[derive(Clone)]
pub(crate) struct Key {
    cipher: XChaCha20Poly1305,
    check: [u8; 32],
}

impl Key {
    fn derive(passphrase: &str, params: KdfParams, salt: &[u8; 16]) -> Result<Self, OpsError> {
        crate::blocking::check("argon2");
        let p = argon2::Params::new(params.m_kib, params.t, params.p, Some(64))
            .map_err(|e| OpsError::Damaged(format!("key derivation parameters: {e}")))?;
        let mut out = [0u8; 64];
        argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p)
            .hash_password_into(passphrase.as_bytes(), salt, &mut out)
            .map_err(|e| OpsError::Invalid(format!("key derivation: {e}")))?;
        let (enc, check) = out.split_at(32);
        let key = Self {
            cipher: XChaCha20Poly1305::new(enc.into()),
            check: check.try_into().unwrap_or_default(),
        };
        out.fill(0);
        Ok(key)
    }
}

fn nonce(prefix: &[u8; PREFIX], counter: u32, last: bool) -> XNonce {
    let mut n = [0u8; 24];
    n[..PREFIX].copy_from_slice(prefix);
    n[PREFIX..PREFIX + 4].copy_from_slice(&counter.to_be_bytes());
    n[23] = u8::from(last);
    n.into()
}

/// The parsed header of an archive being read.
pub(crate) struct Header {
    /// The header as stored (associated data, or the hash's start).
    pub bytes: Vec<u8>,
    sealed: Option<SealedHeader>,
}

struct SealedHeader {
    params: KdfParams,
    salt: [u8; 16],
    check: [u8; 32],
    prefix: [u8; PREFIX],
    chunk: u32,
}

impl Header {
    /// Reads the header; `None` when the file does not start like a backup.
    pub fn read(r: &mut impl Read) -> Result<Option<Self>, io::Error> {
        let mut fixed = [0u8; 11];
        if let Err(e) = r.read_exact(&mut fixed) {
            return match e.kind() {
                io::ErrorKind::UnexpectedEof => Ok(None),
                _ => Err(e),
            };
        }
        if &fixed[..8] != MAGIC {
            return Ok(None);
        }
        let mut bytes = fixed.to_vec();
        let version = u16::from_be_bytes([fixed[8], fixed[9]]);
        if version != VERSION {
            return Ok(Some(Self {
                bytes,
                sealed: None,
            }));
        }
        let sealed = match fixed[10] {
            KIND_PLAIN => None,
            KIND_SEALED => {
                let mut rest = [0u8; 1 + 12 + 16 + 32 + PREFIX + 4];
                r.read_exact(&mut rest)?;
                bytes.extend_from_slice(&rest);
                if rest[0] != KDF_ARGON2ID {
                    return Err(damaged("unknown key derivation"));
                }
                let u32_at =
                    |i: usize| u32::from_be_bytes([rest[i], rest[i + 1], rest[i + 2], rest[i + 3]]);
                let params = KdfParams {
                    m_kib: u32_at(1),
                    t: u32_at(5),
                    p: u32_at(9),
                };
                let chunk = u32_at(13 + 16 + 32 + PREFIX);
                if params.m_kib > KDF_MAX.m_kib
                    || params.t > KDF_MAX.t
                    || params.p > KDF_MAX.p
                    || !(1..=MAX_CHUNK).contains(&chunk)
                {
                    return Err(damaged("header parameters out of range"));
                }
                let mut s = SealedHeader {
                    params,
                    salt: [0; 16],
                    check: [0; 32],
                    prefix: [0; PREFIX],
                    chunk,
                };
                s.salt.copy_from_slice(&rest[13..29]);
                s.check.copy_from_slice(&rest[29..61]);
                s.prefix.copy_from_slice(&rest[61..61 + PREFIX]);
                Some(s)
            }
            _ => return Err(damaged("unknown archive kind")),
        };
        Ok(Some(Self { bytes, sealed }))
    }

    pub fn version(&self) -> u16 {
        u16::from_be_bytes([self.bytes[8], self.bytes[9]])
    }

    pub fn encrypted(&self) -> bool {
        self.sealed.is_some()
    }

    /// The key of an encrypted archive, checked against the stored key
    /// check (argon2id: slow on purpose). `None` for a plain archive.
    pub fn key(&self, passphrase: Option<&str>) -> Result<Option<Key>, OpsError> {
        let Some(s) = &self.sealed else {
            return Ok(None);
        };
        let pass = passphrase.ok_or(OpsError::PassphraseNeeded)?;
        let key = Key::derive(pass, s.params, &s.salt)?;
        if !crate::crypto::ct_eq(&key.check, &s.check) {
            return Err(OpsError::WrongPassphrase);
        }
        Ok(Some(key))
    }
}

/// Writes an archive: the header at once, then the payload through `Write`;
/// `finish` seals the last chunk (or appends the checksum).
pub(crate) struct ArchiveWriter<W: Write> {
    inner: W,
    mode: WriteMode,
}

enum WriteMode {
    Plain(Sha256),
    Sealed {
        cipher: XChaCha20Poly1305,
        prefix: [u8; PREFIX],
        aad: Vec<u8>,
        counter: u32,
        chunk: usize,
        buf: Vec<u8>,
    },
}

impl<W: Write> ArchiveWriter<W> {
    /// Encrypted with `passphrase` when given (argon2id with `params`).
    pub fn new(
        mut inner: W,
        passphrase: Option<&str>,
        params: KdfParams,
    ) -> Result<Self, OpsError> {
        Self::with_chunk(&mut inner, passphrase, params, CHUNK).map(|mode| Self { inner, mode })
    }

    fn with_chunk(
        inner: &mut W,
        passphrase: Option<&str>,
        params: KdfParams,
        chunk: u32,
    ) -> Result<WriteMode, OpsError> {
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&VERSION.to_be_bytes());
        let mode = match passphrase {
            None => {
                header.push(KIND_PLAIN);
                let mut h = Sha256::new();
                h.update(&header);
                WriteMode::Plain(h)
            }
            Some(pass) => {
                let salt = crate::crypto::random_bytes::<16>();
                let prefix = crate::crypto::random_bytes::<PREFIX>();
                let key = Key::derive(pass, params, &salt)?;
                header.push(KIND_SEALED);
                header.push(KDF_ARGON2ID);
                for v in [params.m_kib, params.t, params.p] {
                    header.extend_from_slice(&v.to_be_bytes());
                }
                header.extend_from_slice(&salt);
                header.extend_from_slice(&key.check);
                header.extend_from_slice(&prefix);
                header.extend_from_slice(&chunk.to_be_bytes());
                WriteMode::Sealed {
                    cipher: key.cipher,
                    prefix,
                    aad: header.clone(),
                    counter: 0,
                    chunk: chunk as usize,
                    buf: Vec::with_capacity(chunk as usize),
                }
            }
        };
        inner
            .write_all(&header)
            .map_err(|e| OpsError::Io("writing the backup".into(), e))?;
        Ok(mode)
    }

    /// Ends the archive; returns the inner writer (flush and sync it).
    pub fn finish(mut self) -> io::Result<W> {
        match &mut self.mode {
            WriteMode::Plain(h) => {
                let sum = std::mem::take(h).finalize();
                self.inner.write_all(&sum)?;
            }
            WriteMode::Sealed { .. } => self.seal_chunk(true)?,
        }
        Ok(self.inner)
    }

    fn seal_chunk(&mut self, last: bool) -> io::Result<()> {
        let WriteMode::Sealed {
            cipher,
            prefix,
            aad,
            counter,
            buf,
            ..
        } = &mut self.mode
        else {
            return Ok(());
        };
        let ct = cipher
            .encrypt(&nonce(prefix, *counter, last), Payload { msg: buf, aad })
            .map_err(|_| io::Error::other("encryption failed"))?;
        *counter = counter
            .checked_add(1)
            .ok_or_else(|| io::Error::other("backup too large for one archive"))?;
        buf.clear();
        self.inner.write_all(&ct)
    }
}

impl<W: Write> Write for ArchiveWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match &mut self.mode {
            WriteMode::Plain(h) => {
                self.inner.write_all(data)?;
                h.update(data);
                Ok(data.len())
            }
            WriteMode::Sealed { chunk, buf, .. } => {
                let chunk = *chunk;
                // A full chunk is sealed only once more data follows, so
                // the last chunk is always the one `finish` seals.
                if buf.len() == chunk && !data.is_empty() {
                    self.seal_chunk(false)?;
                }
                let WriteMode::Sealed { buf, .. } = &mut self.mode else {
                    return Ok(0);
                };
                let n = data.len().min(chunk - buf.len());
                buf.extend_from_slice(&data[..n]);
                Ok(n)
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads an archive's payload after its header, checking as it goes:
/// every encrypted chunk is authenticated before a byte of it is returned;
/// a plain archive's checksum is checked by `finish`.
pub(crate) struct ArchiveReader<R: BufRead> {
    inner: R,
    mode: ReadMode,
}

enum ReadMode {
    Plain(Sha256),
    Sealed {
        cipher: XChaCha20Poly1305,
        prefix: [u8; PREFIX],
        aad: Vec<u8>,
        counter: u32,
        chunk: usize,
        buf: Vec<u8>,
        pos: usize,
        ended: bool,
    },
}

impl<R: BufRead> ArchiveReader<R> {
    /// `inner` is positioned right after `header`; `key` is `header.key(..)`.
    pub fn new(inner: R, header: &Header, key: Option<Key>) -> Result<Self, OpsError> {
        let mode = match (&header.sealed, key) {
            (None, _) => {
                let mut h = Sha256::new();
                h.update(&header.bytes);
                ReadMode::Plain(h)
            }
            (Some(s), Some(key)) => ReadMode::Sealed {
                cipher: key.cipher,
                prefix: s.prefix,
                aad: header.bytes.clone(),
                counter: 0,
                chunk: s.chunk as usize,
                buf: Vec::new(),
                pos: 0,
                ended: false,
            },
            (Some(_), None) => return Err(OpsError::PassphraseNeeded),
        };
        Ok(Self { inner, mode })
    }

    /// After the payload's end marker: the checksum matches (plain), or the
    /// last chunk was read (encrypted); nothing follows.
    pub fn finish(mut self) -> Result<(), OpsError> {
        let what = "reading the backup";
        match &mut self.mode {
            ReadMode::Plain(h) => {
                let expected = std::mem::take(h).finalize();
                let mut sum = [0u8; 32];
                self.inner
                    .read_exact(&mut sum)
                    .map_err(|e| read_error(what, e))?;
                if !crate::crypto::ct_eq(&sum, &expected) {
                    return Err(OpsError::Damaged("checksum mismatch".into()));
                }
            }
            ReadMode::Sealed { .. } => {
                let mut one = [0u8; 1];
                if self.read(&mut one).map_err(|e| read_error(what, e))? != 0 {
                    return Err(OpsError::Damaged("data after the end".into()));
                }
            }
        }
        if !self
            .inner
            .fill_buf()
            .map_err(|e| read_error(what, e))?
            .is_empty()
        {
            return Err(OpsError::Damaged("data after the end".into()));
        }
        Ok(())
    }

    /// Reads and opens the next chunk; false at the end.
    fn next_chunk(&mut self) -> io::Result<bool> {
        let ReadMode::Sealed {
            cipher,
            prefix,
            aad,
            counter,
            chunk,
            buf,
            pos,
            ended,
        } = &mut self.mode
        else {
            return Ok(false);
        };
        if *ended {
            return Ok(false);
        }
        let mut ct = vec![0u8; *chunk + TAG];
        let mut got = 0;
        while got < ct.len() {
            match self.inner.read(&mut ct[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if got < TAG {
            return Err(damaged("cut off"));
        }
        ct.truncate(got);
        let last = got < *chunk + TAG || self.inner.fill_buf()?.is_empty();
        let pt = cipher
            .decrypt(&nonce(prefix, *counter, last), Payload { msg: &ct, aad })
            .map_err(|_| damaged(format!("block {} fails authentication", *counter)))?;
        *counter = counter
            .checked_add(1)
            .ok_or_else(|| damaged("too many blocks"))?;
        *buf = pt;
        *pos = 0;
        *ended = last;
        Ok(true)
    }
}

impl<R: BufRead> Read for ArchiveReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            match &mut self.mode {
                ReadMode::Plain(h) => {
                    let n = self.inner.read(out)?;
                    h.update(&out[..n]);
                    return Ok(n);
                }
                ReadMode::Sealed { buf, pos, .. } => {
                    if *pos < buf.len() {
                        let n = out.len().min(buf.len() - *pos);
                        out[..n].copy_from_slice(&buf[*pos..*pos + n]);
                        *pos += n;
                        return Ok(n);
                    }
                }
            }
            if !self.next_chunk()? {
                return Ok(0);
            }
        }
    }
}

/// One item of the payload.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Item {
    Manifest(Vec<u8>),
    /// A file entry; its `size` bytes follow.
    File {
        name: String,
        size: u64,
    },
    End,
}

pub(crate) fn write_manifest(w: &mut impl Write, json: &[u8]) -> io::Result<()> {
    let len = u32::try_from(json.len()).map_err(|_| io::Error::other("manifest too large"))?;
    w.write_all(b"M")?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(json)
}

/// A file entry: its name and size, then exactly `size` bytes from `data`.
pub(crate) fn write_file(
    w: &mut impl Write,
    name: &str,
    size: u64,
    data: &mut impl Read,
) -> io::Result<()> {
    let len = u16::try_from(name.len()).map_err(|_| io::Error::other("name too long"))?;
    w.write_all(b"F")?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(name.as_bytes())?;
    w.write_all(&size.to_be_bytes())?;
    let copied = io::copy(&mut data.take(size), w)?;
    if copied != size {
        return Err(io::Error::other(format!(
            "{name} changed while it was read"
        )));
    }
    Ok(())
}

pub(crate) fn write_end(w: &mut impl Write) -> io::Result<()> {
    w.write_all(b"E")
}

/// The next item; a file's bytes are left for the caller to read.
pub(crate) fn read_item(r: &mut impl Read) -> io::Result<Item> {
    let mut tag = [0u8; 1];
    r.read_exact(&mut tag)?;
    match tag[0] {
        b'M' => {
            let mut len = [0u8; 4];
            r.read_exact(&mut len)?;
            let len = u32::from_be_bytes(len);
            if len > MAX_MANIFEST {
                return Err(damaged("manifest too large"));
            }
            let mut json = vec![0u8; len as usize];
            r.read_exact(&mut json)?;
            Ok(Item::Manifest(json))
        }
        b'F' => {
            let mut len = [0u8; 2];
            r.read_exact(&mut len)?;
            let mut name = vec![0u8; u16::from_be_bytes(len) as usize];
            r.read_exact(&mut name)?;
            let name = String::from_utf8(name).map_err(|_| damaged("entry name"))?;
            let mut size = [0u8; 8];
            r.read_exact(&mut size)?;
            Ok(Item::File {
                name,
                size: u64::from_be_bytes(size),
            })
        }
        b'E' => Ok(Item::End),
        _ => Err(damaged("unknown entry")),
    }
}

#[cfg(test)]
mod tests;
