//! A private Mosquitto per test, on ports of its own, killed on drop.
//!
//! Tests run in parallel: each one makes its own [`TempDir`], its own
//! certificates (`pki.rs`) and its own [`Mosquitto`], so nothing is shared
//! but the binary.
//!
//! ```ignore
//! let dir = TempDir::new("tls");
//! let pki = Pki::generate(&dir, "pki");
//! let tls = TlsListener {
//!     cafile: pki.ca.clone(),
//!     certfile: pki.server_cert.clone(),
//!     keyfile: pki.server_key.clone(),
//!     require_certificate: true,
//! };
//! let broker = Mosquitto::start(&dir, Some(tls)).await;
//! // plain MQTT on broker.port, TLS with client certificates on broker.tls_port()
//! ```
//!
//! Needs `temp_dir.rs` beside it in the test crate.
// Each test file uses a part of it.
#![allow(dead_code, unreachable_pub)]

use std::fs::OpenOptions;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::net::TcpStream;

use crate::temp_dir::TempDir;

/// How long a broker may take to accept connections.
const STARTUP: Duration = Duration::from_secs(10);
/// Attempts at finding free ports (another test may take a port between
/// the probe and Mosquitto's bind).
const ATTEMPTS: usize = 5;

/// Mosquitto's TLS listener settings.
pub struct TlsListener {
    /// CAs that sign client certificates.
    pub cafile: PathBuf,
    /// The server's certificate.
    pub certfile: PathBuf,
    /// The server's private key.
    pub keyfile: PathBuf,
    /// Refuse clients without a certificate signed by `cafile`; a client's
    /// certificate Common Name is its username.
    pub require_certificate: bool,
}

/// A Mosquitto process of the test's own: a plain listener on
/// 127.0.0.1:`port` and, when asked for, a TLS one. Anonymous clients are
/// allowed; nothing is persisted, so a restart forgets retained messages
/// and sessions.
pub struct Mosquitto {
    /// The plain listener's port.
    pub port: u16,
    tls_port: Option<u16>,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Mosquitto {
    /// Starts a broker, its files in `dir`, once it accepts connections.
    pub async fn start(dir: &TempDir, tls: Option<TlsListener>) -> Self {
        let mut broker = Self {
            port: 0,
            tls_port: None,
            config: dir.join("mosquitto.conf"),
            log: dir.join("mosquitto.log"),
            child: None,
        };
        for _ in 0..ATTEMPTS {
            broker.port = free_port();
            broker.tls_port = tls.as_ref().map(|_| free_port());
            broker.write_config(tls.as_ref());
            if broker.spawn().await {
                return broker;
            }
        }
        panic!("Mosquitto did not start: {}", broker.log_text());
    }

    /// The TLS listener's port.
    pub fn tls_port(&self) -> u16 {
        self.tls_port.expect("the broker has no TLS listener")
    }

    /// Kills the broker (SIGKILL: clients see the connection drop, as in a
    /// crash).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same ports.
    pub async fn restart(&mut self) {
        self.kill();
        for _ in 0..ATTEMPTS {
            if self.spawn().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("Mosquitto did not restart: {}", self.log_text());
    }

    fn write_config(&self, tls: Option<&TlsListener>) {
        let mut config = format!(
            "allow_anonymous true\npersistence false\nlog_dest stderr\n\
             listener {} 127.0.0.1\n",
            self.port
        );
        if let (Some(tls), Some(port)) = (tls, self.tls_port) {
            let require = tls.require_certificate;
            config += &format!(
                "listener {port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n\
                 require_certificate {require}\nuse_identity_as_username {require}\n",
                tls.cafile.display(),
                tls.certfile.display(),
                tls.keyfile.display(),
            );
        }
        std::fs::write(&self.config, config).unwrap();
    }

    /// Runs Mosquitto and waits until every listener accepts connections;
    /// false when it exited first (a port taken).
    async fn spawn(&mut self) -> bool {
        let binary = if Path::new("/usr/sbin/mosquitto").exists() {
            "/usr/sbin/mosquitto"
        } else {
            "mosquitto"
        };
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(binary)
            .arg("-c")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {binary} ({e}): scripts/ensure-services installs it")
            });
        self.child = Some(child);
        let ports: Vec<u16> = std::iter::once(self.port).chain(self.tls_port).collect();
        let deadline = tokio::time::Instant::now() + STARTUP;
        for port in ports {
            while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
                if self.exited() || tokio::time::Instant::now() > deadline {
                    self.kill();
                    return false;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        // Another process may hold a port while this broker fails to bind it.
        tokio::time::sleep(Duration::from_millis(50)).await;
        if self.exited() {
            self.kill();
            return false;
        }
        true
    }

    fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|child| child.try_wait().unwrap().is_some())
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
