//! The `network-server` binary refusing to start: what it says, and that
//! it leaves nothing behind. Each test runs the binary as a process with a
//! configuration in a temporary directory of its own and waits (at most
//! [`WAIT`]) for it to end by itself.

#[path = "../../../tls-files/tests/support/pki.rs"]
mod pki;
#[path = "../../../tls-files/tests/support/temp_dir.rs"]
mod temp_dir;

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use temp_dir::TempDir;

/// The longest the binary may take to give up.
const WAIT: Duration = Duration::from_secs(10);

/// Listeners on ports the OS picks and no embedded broker, so that a
/// binary that starts after all disturbs nothing.
const QUIET: &str = r#"
[mqtt_broker]
bind = ""

[backend.semtech_udp]
bind = "127.0.0.1:0"

[monitoring]
bind = "127.0.0.1:0"

[api]
bind = "127.0.0.1:0"
"#;

/// Runs the binary with `--config config --data-dir data_dir` until it
/// ends; its exit status and standard error. Kills it and fails the test
/// if it is still running after [`WAIT`].
fn run_to_end(config: &Path, data_dir: &Path) -> (ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_network-server"))
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data_dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("network-server runs");
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for network-server") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("network-server still running after {WAIT:?}: it should have refused to start");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("network-server's stderr");
    (status, stderr)
}

#[test]
fn an_unreadable_tls_key_stops_the_start_before_the_data_directory_is_created() {
    let dir = TempDir::new("ns-start-tls");
    let pki = pki::Pki::generate(&dir, "pki");
    let (cert, _) = pki.client_files("network-server");
    let missing_key = dir.join("missing.key");
    let tls = format!(
        "server = \"ssl://127.0.0.1:8883\"\nca_cert = \"{}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
        pki.ca.display(),
        cert.display(),
        missing_key.display()
    );
    // The integration's files are read first; the region's after the
    // integration has started (on the Mosquitto at 127.0.0.1:1883).
    for (section, key) in [
        ("[integration.mqtt]", "integration.mqtt.tls_key"),
        (
            "[[regions]]\nid = \"eu868\"\n[regions.gateway.backend.mqtt]",
            "regions[eu868].gateway.backend.mqtt.tls_key",
        ),
    ] {
        let config = dir.join("network-server.toml");
        std::fs::write(&config, format!("{QUIET}\n{section}\n{tls}")).unwrap();
        let data_dir = dir.join("data");

        let (status, stderr) = run_to_end(&config, &data_dir);
        assert!(!status.success(), "{key}: started anyway: {stderr}");
        assert!(stderr.contains(key), "{key} not named: {stderr}");
        assert!(
            stderr.contains(&missing_key.display().to_string()),
            "{key}: the file is not named: {stderr}"
        );
        assert!(
            !data_dir.exists(),
            "{key}: the data directory was created before the TLS files were read"
        );
    }
}

#[test]
fn a_missing_config_file_is_reported_with_its_cause_once() {
    let dir = TempDir::new("ns-start-config");
    let missing = dir.join("missing.toml");
    let cause = std::fs::read_to_string(&missing).unwrap_err().to_string();

    let (status, stderr) = run_to_end(&missing, &dir.join("data"));
    assert!(!status.success());
    assert!(
        stderr.contains(&format!("cannot read config file {}", missing.display())),
        "{stderr}"
    );
    assert_eq!(stderr.matches(&cause).count(), 1, "{stderr}");
}
