//! `docs/api.md` as a user follows it: its shell blocks run as written
//! (`bash`, `curl`, `jq`) against the binary with its embedded defaults.
//! Only what cannot be literal is replaced: `cargo run --release -p
//! network-server --` by the binary built for the test (with this server's
//! configuration and data directory), `localhost:8080` by the address the
//! server took, and the `grpcurl` login (grpcurl is not on the machine) by
//! the same call through tonic with the credentials the block gives. Every
//! `curl` fails on an HTTP error (`--fail-with-body`), and the script stops
//! at the first failing command.

mod support;

use std::net::SocketAddr;
use std::process::{Command, Output, Stdio};

use ns_core::api::proto::LoginRequest;
use ns_core::api::proto::internal_service_client::InternalServiceClient;
use serde_json::{Value, json};

use support::process::{EMBEDDED_BROKER, PORTS, ServerProcess, addr_field};

/// The bodies of the document's ```sh blocks, in order.
fn sh_blocks(doc: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// The one block containing `text`.
fn block_with<'a>(blocks: &'a [String], text: &str) -> &'a str {
    let found: Vec<_> = blocks.iter().filter(|b| b.contains(text)).collect();
    assert_eq!(
        found.len(),
        1,
        "one ```sh block with {text:?} in docs/api.md"
    );
    found[0]
}

/// Runs `script` with bash, stopping at the first failure, `curl` failing
/// on HTTP errors; `envs` set.
fn run(script: &str, envs: &[(&str, &str)]) -> Output {
    let prelude = "set -euo pipefail\ncurl() { command curl --fail-with-body \"$@\"; }\n";
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!("{prelude}{script}"))
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("bash runs");
    assert!(
        output.status.success(),
        "the script failed: {}\n---- script ----\n{script}\n---- stdout ----\n{}\n---- stderr ----\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    output
}

/// The JSON values `bytes` holds one after another (curl prints each
/// answer without a newline).
fn json_values(bytes: &[u8]) -> Vec<Value> {
    serde_json::Deserializer::from_slice(bytes)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// `InternalService/Login` with the request the `grpcurl` line sends.
async fn login(api: SocketAddr, block: &str) -> String {
    assert!(block.contains("api.InternalService/Login"), "{block}");
    let body = block
        .split_once("-d '")
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(json, _)| json)
        .unwrap_or_else(|| panic!("no -d '...' in {block}"));
    let body: Value = serde_json::from_str(body).expect("the login request is JSON");
    let channel = tonic::transport::Channel::from_shared(format!("http://{api}"))
        .expect("a URI")
        .connect()
        .await
        .expect("the API accepts gRPC");
    let mut client = InternalServiceClient::new(channel);
    let request = LoginRequest {
        email: body["email"].as_str().expect("email").to_owned(),
        password: body["password"].as_str().expect("password").to_owned(),
    };
    client.login(request).await.expect("Login").into_inner().jwt
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_first_steps_and_curl_walk_through_work() {
    for tool in ["bash", "curl", "jq"] {
        let found = Command::new(tool).arg("--version").output();
        assert!(
            found.is_ok_and(|o| o.status.success()),
            "{tool} is needed (scripts/ensure-services installs it)"
        );
    }
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md"))
        .expect("docs/api.md");
    let blocks = sh_blocks(&doc);

    let dir = std::env::temp_dir().join(format!("ns-docs-api-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let mut server = ServerProcess::start(&dir, &format!("{PORTS}{EMBEDDED_BROKER}"));
    let line = server.line_with("management API").await;
    let api = addr_field(&line, "addr");

    // "First steps": the first administrator's password, then a key.
    let ns = format!(
        "{} --config {} --data-dir {}",
        env!("CARGO_BIN_EXE_network-server"),
        dir.join("network-server.toml").display(),
        dir.display()
    );
    let as_built = |block: &str| block.replace("cargo run --release -p network-server --", &ns);
    run(&as_built(block_with(&blocks, "set-password")), &[]);
    let output = run(&as_built(block_with(&blocks, "create-api-key")), &[]);
    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    let key = stdout
        .lines()
        .find_map(|l| l.strip_prefix("token: "))
        .unwrap_or_else(|| panic!("no token in {stdout:?}"))
        .to_owned();

    // "REST with curl", with the administrator's login token, and then
    // again (another tenant, same names) with the key.
    let token = login(api, block_with(&blocks, "TOKEN=$(grpcurl")).await;
    let rest = block_with(&blocks, "localhost:8080/api/tenants")
        .replace("localhost:8080", &api.to_string());
    for (who, token) in [("login", &token), ("API key", &key)] {
        let output = run(&rest, &[("TOKEN", token)]);
        let answers = json_values(&output.stdout);
        // Device, keys, gateway, enqueue, queue, list.
        assert_eq!(answers.len(), 6, "{who}: {answers:?}");
        let enqueued = answers[3]["id"].as_str().expect("the queue item's id");
        let queue = &answers[4];
        assert_eq!(queue["totalCount"], 1, "{who}: {queue}");
        assert_eq!(queue["result"][0]["id"], enqueued, "{who}: {queue}");
        assert_eq!(queue["result"][0]["data"], "AQID", "{who}: {queue}");
        assert_eq!(queue["result"][0]["fPort"], 10, "{who}: {queue}");
        let list = &answers[5];
        assert_eq!(list["totalCount"], 1, "{who}: {list}");
        assert_eq!(
            list["result"][0]["devEui"], "0102030405060708",
            "{who}: {list}"
        );
        assert_eq!(list["result"][0]["name"], "d1", "{who}: {list}");
        if who == "login" {
            // The same DevEUI and gateway id cannot be created twice: the
            // second run needs them gone (the documented DELETE bindings).
            let cleanup = "H=\"Authorization: Bearer $TOKEN\"\n\
                 curl -s -X DELETE -H \"$H\" localhost:8080/api/devices/0102030405060708\n\
                 curl -s -X DELETE -H \"$H\" localhost:8080/api/gateways/0016c001ff10a235\n"
                .replace("localhost:8080", &api.to_string());
            let output = run(&cleanup, &[("TOKEN", token)]);
            assert_eq!(json_values(&output.stdout), [json!({}), json!({})]);
        }
    }
    drop(server);
}
