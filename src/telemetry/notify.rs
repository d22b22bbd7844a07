//! systemd's notification protocol (`sd_notify`), without libsystemd: a datagram with
//! newline-separated `KEY=VALUE` assignments sent to the unix socket named by `NOTIFY_SOCKET`
//! (a path, or an abstract socket when it starts with `@`).
//!
//! The daemon sends `READY=1` once its workers run (`Type=notify`), `WATCHDOG=1` every half
//! `WATCHDOG_USEC` while it runs (`WatchdogSec=`), `RELOADING=1`/`READY=1` around a reload, and
//! `STOPPING=1` when shutdown starts. While it waits for its chains at start-up it says why in
//! `STATUS=` and extends systemd's start timeout (`EXTEND_TIMEOUT_USEC=`) past its next retry,
//! so a node down at boot does not fail the unit. Without `NOTIFY_SOCKET` every call is a no-op.

use std::io;
use std::time::Duration;

/// Where notifications go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notifier {
    /// The socket as given: a path, or `@name` for an abstract socket.
    socket: String,
}

impl Notifier {
    /// A notifier for `$NOTIFY_SOCKET`, if it is set and not empty.
    pub(crate) fn from_env() -> Option<Self> {
        std::env::var("NOTIFY_SOCKET")
            .ok()
            .filter(|s| !s.is_empty())
            .map(Self::new)
    }

    /// A notifier for `socket` (a path, or `@name` for an abstract socket).
    pub fn new(socket: impl Into<String>) -> Self {
        Self {
            socket: socket.into(),
        }
    }

    /// Sends `state` (e.g. `READY=1`, several lines allowed) in one datagram.
    pub(crate) fn notify(&self, state: &str) -> io::Result<()> {
        send(&self.socket, state.as_bytes())
    }

    /// `READY=1` with a status line.
    pub(crate) fn ready(&self, status: &str) {
        self.log(&format!("READY=1\nSTATUS={status}"));
    }

    /// Not ready yet: `STATUS=` says why, and the start timeout is extended by `extend`.
    pub(crate) fn waiting(&self, why: &str, extend: Duration) {
        let why = why.replace('\n', " ");
        self.log(&format!(
            "STATUS={why}\nEXTEND_TIMEOUT_USEC={}",
            extend.as_micros()
        ));
    }

    /// `WATCHDOG=1`.
    pub(crate) fn watchdog(&self) {
        self.log("WATCHDOG=1");
    }

    /// `STOPPING=1`.
    pub(crate) fn stopping(&self) {
        self.log("STOPPING=1\nSTATUS=draining in-flight work");
    }

    /// `RELOADING=1` (followed by [`Notifier::ready`] when the reload is done).
    pub(crate) fn reloading(&self) {
        self.log("RELOADING=1");
    }

    fn log(&self, state: &str) {
        if let Err(e) = self.notify(state) {
            tracing::warn!(socket = %self.socket, error = %e, "cannot notify systemd");
        }
    }
}

/// Half of `$WATCHDOG_USEC` (the interval at which to send `WATCHDOG=1`), when the watchdog is
/// enabled for this process (`$WATCHDOG_PID` unset or ours).
pub(crate) fn watchdog_interval() -> Option<Duration> {
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
            return None;
        }
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2).max(Duration::from_millis(1)))
}

#[cfg(unix)]
fn send(socket: &str, payload: &[u8]) -> io::Result<()> {
    use std::os::unix::net::UnixDatagram;
    let sock = UnixDatagram::unbound()?;
    sock.set_nonblocking(true)?;
    if let Some(name) = socket.strip_prefix('@') {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            #[cfg(target_os = "android")]
            use std::os::android::net::SocketAddrExt;
            #[cfg(target_os = "linux")]
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            sock.send_to_addr(payload, &addr)?;
            return Ok(());
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            let _ = name;
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "abstract sockets exist only on Linux",
            ));
        }
    }
    sock.send_to(payload, socket)?;
    Ok(())
}

#[cfg(not(unix))]
fn send(_socket: &str, _payload: &[u8]) -> io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn sends_to_a_path_socket() {
        let dir = std::env::temp_dir().join(format!("arke-notify-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("notify.sock");
        let server = UnixDatagram::bind(&path).expect("bind");
        let n = Notifier::new(path.to_string_lossy().into_owned());
        n.waiting(
            "waiting for chains: chain a: refused",
            Duration::from_secs(61),
        );
        n.ready("relaying 1 channel");
        n.watchdog();
        n.stopping();
        let mut buf = [0u8; 256];
        let mut got = Vec::new();
        for _ in 0..4 {
            let len = server.recv(&mut buf).expect("datagram");
            got.push(String::from_utf8_lossy(&buf[..len]).into_owned());
        }
        assert_eq!(
            got.remove(0),
            "STATUS=waiting for chains: chain a: refused\nEXTEND_TIMEOUT_USEC=61000000"
        );
        assert_eq!(got[0], "READY=1\nSTATUS=relaying 1 channel");
        assert_eq!(got[1], "WATCHDOG=1");
        assert!(got[2].starts_with("STOPPING=1"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sends_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("arke-notify-test-{}", rand::random::<u64>());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
            .expect("abstract address");
        let server = UnixDatagram::bind_addr(&addr).expect("bind abstract");
        Notifier::new(format!("@{name}"))
            .notify("READY=1")
            .expect("sent");
        let mut buf = [0u8; 64];
        let len = server.recv(&mut buf).expect("datagram");
        assert_eq!(&buf[..len], b"READY=1");
    }

    #[test]
    fn missing_socket_is_an_error_not_a_panic() {
        assert!(Notifier::new("/nonexistent/arke/notify.sock")
            .notify("READY=1")
            .is_err());
    }
}
