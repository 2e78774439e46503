//! The `network-server` binary as a child process: started with a
//! configuration in a temporary directory, its log read line by line (the
//! addresses it listens on are learnt from it), killed when dropped (its log
//! printed if the test is failing); and a plain HTTP/1.1 GET.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::{WAIT, within};

/// Every listener of the server on a port the OS picks (learnt from the
/// log): the Semtech UDP bridge, metrics, the management API.
pub const PORTS: &str = r#"
[backend.semtech_udp]
bind = "127.0.0.1:0"

[monitoring]
bind = "127.0.0.1:0"

[api]
bind = "127.0.0.1:0"
"#;

/// The all-in-one's embedded broker, on ports the OS picks (with SQLite in
/// the data directory, the server's defaults).
pub const EMBEDDED_BROKER: &str = r#"
[mqtt_broker]
bind = "127.0.0.1:0"
bind_v4 = "127.0.0.1:0"
"#;

/// The binary under test, with its log read line by line.
pub struct ServerProcess {
    pub child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    pub log: Arc<Mutex<Vec<String>>>,
    pub data_dir: PathBuf,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- network-server log ----");
            for line in self.log.lock().unwrap().iter() {
                eprintln!("{line}");
            }
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// `line` without ANSI escape sequences (in case colours are on).
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte (@ to ~).
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The value of field `key` in a tracing `fmt` line (`key=value`).
pub fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {key}="))? + key.len() + 2;
    let rest = &line[start..];
    Some(
        rest.split_whitespace()
            .next()
            .unwrap_or(rest)
            .trim_matches('"'),
    )
}

impl ServerProcess {
    /// Starts the binary with `config` (TOML) written to `dir`, which is
    /// also its data directory.
    pub fn start(dir: &Path, config: &str) -> Self {
        let config_file = dir.join("network-server.toml");
        std::fs::write(&config_file, config).expect("configuration file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_network-server"))
            .arg("--config")
            .arg(&config_file)
            .arg("--data-dir")
            .arg(dir)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("network-server starts");
        let (tx, lines) = mpsc::unbounded_channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let readers: [Box<dyn std::io::Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("stdout")),
            Box::new(child.stderr.take().expect("stderr")),
        ];
        for reader in readers {
            let (tx, log) = (tx.clone(), Arc::clone(&log));
            std::thread::spawn(move || {
                for line in BufReader::new(reader).lines() {
                    let Ok(line) = line else { return };
                    let line = strip_ansi(&line);
                    log.lock().unwrap().push(line.clone());
                    let _ = tx.send(line);
                }
            });
        }
        Self {
            child,
            lines,
            log,
            data_dir: dir.to_owned(),
        }
    }

    /// The binary with the server's configuration and data directory, to
    /// run a subcommand on its database.
    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_network-server"));
        command
            .arg("--config")
            .arg(self.data_dir.join("network-server.toml"))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .env("NO_COLOR", "1");
        command
    }

    /// The first log line (from now) containing `text`.
    pub async fn line_with(&mut self, text: &str) -> String {
        within(&format!("a log line with {text:?}"), async {
            loop {
                match self.lines.recv().await {
                    Some(line) if line.contains(text) => return line,
                    Some(_) => {}
                    None => {
                        let status = self.child.try_wait();
                        panic!("network-server ended ({status:?}) before logging {text:?}");
                    }
                }
            }
        })
        .await
    }
}

pub fn addr_field(line: &str, key: &str) -> SocketAddr {
    field(line, key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no address {key}= in {line:?}"))
}

/// A plain HTTP/1.1 GET; returns the status code and the body.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    http_get_with(addr, path, "").await
}

/// The same with extra header lines (`"Name: value\r\n"` each).
pub async fn http_get_with(addr: SocketAddr, path: &str, headers: &str) -> (u16, String) {
    let path = path.to_owned();
    let headers = headers.to_owned();
    let response = within(
        &format!("GET {path}"),
        tokio::task::spawn_blocking(move || -> std::io::Result<String> {
            let mut stream = TcpStream::connect_timeout(&addr, WAIT)?;
            stream.set_read_timeout(Some(WAIT))?;
            write!(
                stream,
                "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n"
            )?;
            let mut response = String::new();
            stream.read_to_string(&mut response)?;
            Ok(response)
        }),
    )
    .await
    .expect("the GET task")
    .expect("the GET");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}
