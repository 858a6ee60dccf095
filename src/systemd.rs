//! systemd's readiness protocol (`sd_notify(3)`) without libsystemd: one
//! datagram with `READY=1` or `STOPPING=1` to the socket named by
//! `$NOTIFY_SOCKET`. The unit (`systemd/flexsecure.service`) is
//! `Type=notify`, so systemd counts the service as started only once
//! `notify_ready` was called. Without the variable (not started by systemd,
//! or another `Type=`) both functions do nothing.

use std::ffi::OsStr;
use std::io;
use std::os::unix::net::UnixDatagram;

/// Tells systemd the service is up: call once the listener is bound and the
/// database is open.
pub fn notify_ready() {
    notify("READY=1");
}

/// Tells systemd the service is shutting down (draining requests), so
/// `systemctl status` shows "deactivating" instead of a hung service.
pub fn notify_stopping() {
    notify("STOPPING=1");
}

fn notify(state: &str) {
    let socket = std::env::var_os("NOTIFY_SOCKET");
    match send(socket.as_deref(), state) {
        Ok(_) => {}
        // systemd stops a `Type=notify` service that never reports ready;
        // the log line says why.
        Err(e) => tracing::warn!(error = %e, state, "cannot notify systemd"),
    }
}

/// Sends `state` to the notification socket `socket` (the value of
/// `$NOTIFY_SOCKET`): a file system path, or `@name` for a socket in the
/// abstract namespace. `Ok(false)` when there is no socket.
fn send(socket: Option<&OsStr>, state: &str) -> io::Result<bool> {
    let Some(socket) = socket.filter(|s| !s.is_empty()) else {
        return Ok(false);
    };
    let sock = UnixDatagram::unbound()?;
    let bytes = socket.as_encoded_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        send_abstract(&sock, name, state)?;
    } else if bytes.starts_with(b"/") {
        sock.send_to(state.as_bytes(), socket)?;
    } else {
        // systemd 254+ may also pass `vsock:CID:PORT` (inside VMs).
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("NOTIFY_SOCKET={socket:?} is neither a path nor @abstract"),
        ));
    }
    Ok(true)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn send_abstract(sock: &UnixDatagram, name: &[u8], state: &str) -> io::Result<()> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    sock.send_to_addr(state.as_bytes(), &addr).map(|_| ())
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn send_abstract(_: &UnixDatagram, _: &[u8], _: &str) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract sockets exist only on Linux",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn receive(sock: &UnixDatagram) -> String {
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 64];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn sends_ready_and_stopping_to_a_socket_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let systemd = UnixDatagram::bind(&path).unwrap();
        assert!(send(Some(path.as_os_str()), "READY=1").unwrap());
        assert_eq!(receive(&systemd), "READY=1");
        assert!(send(Some(path.as_os_str()), "STOPPING=1").unwrap());
        assert_eq!(receive(&systemd), "STOPPING=1");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sends_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!(
            "flexsecure-test-{}-{}",
            std::process::id(),
            crate::crypto::random_token::<8>()
        );
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let systemd = UnixDatagram::bind_addr(&addr).unwrap();
        let var = format!("@{name}");
        assert!(send(Some(OsStr::new(&var)), "READY=1").unwrap());
        assert_eq!(receive(&systemd), "READY=1");
    }

    #[test]
    fn does_nothing_without_a_socket() {
        assert!(!send(None, "READY=1").unwrap());
        assert!(!send(Some(OsStr::new("")), "READY=1").unwrap());
    }

    #[test]
    fn reports_a_socket_that_is_not_there_or_not_understood() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("gone");
        assert!(send(Some(missing.as_os_str()), "READY=1").is_err());
        assert!(send(Some(OsStr::new("vsock:2:1234")), "READY=1").is_err());
    }
}
