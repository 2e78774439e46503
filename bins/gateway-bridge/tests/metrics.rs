//! The Prometheus endpoint, scraped over a real TCP connection while a fake
//! packet forwarder talks to the bridge over UDP.
//!
//! The first test needs no broker (MQTT points at a closed port); the second
//! uses the Mosquitto on 127.0.0.1:1883 that `udp_mqtt.rs` needs too.

use std::net::SocketAddr;
use std::time::Duration;

use gateway_bridge::Bridge;
use gateway_bridge::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

#[path = "support/bridge.rs"]
mod bridge;
#[path = "support/forwarder.rs"]
mod forwarder;

use bridge::{RunningBridge, Topics, WAIT};
use forwarder::Forwarder;

struct Running {
    udp: SocketAddr,
    metrics: SocketAddr,
    bridge: RunningBridge,
}

async fn start(broker: &str) -> Running {
    let topics = Topics::new("gwb-metrics-test");
    let config = Config::from_toml_strs(&[
        &format!(
            r#"
            [backend.semtech_udp]
            udp_bind = "127.0.0.1:0"
            [integration.mqtt.auth.generic]
            servers = ["{broker}"]
            [metrics.prometheus]
            endpoint_enabled = true
            bind = "127.0.0.1:0"
            "#
        ),
        &topics.config(),
    ])
    .unwrap();
    let bridge = Bridge::bind(config).await.unwrap();
    let udp = bridge.local_addr();
    let metrics = bridge.metrics_addr().expect("metrics endpoint enabled");
    assert_ne!(metrics.port(), 0);
    Running {
        udp,
        metrics,
        bridge: RunningBridge::spawn(bridge),
    }
}

/// `GET path` over a fresh TCP connection: (status code, headers, body).
async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(
                format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    };
    let response = timeout(WAIT, exchange).await.expect("HTTP response");
    let (head, body) = response.split_once("\r\n\r\n").expect("HTTP head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    (status, head.to_owned(), body.to_owned())
}

/// The value of the sample line `name` (with its labels) in `text`.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_count_udp_traffic_and_errors() {
    // A port nobody listens on: MQTT stays disconnected.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let broker = format!("tcp://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut bridge = start(&broker).await;

    let (status, _, body) = get(bridge.metrics, "/health").await;
    assert_eq!(status, 200, "{body}");

    let gateway = Forwarder::new(bridge.udp).await;
    // Garbage first: the bridge reads datagrams in order, so the PULL_ACK
    // below proves both were handled.
    gateway.pull_raw(&[0xff]).await;
    gateway.pull_data(0x1234).await;

    let (status, head, text) = get(bridge.metrics, "/metrics").await;
    assert_eq!(status, 200, "{text}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    for line in [
        "# HELP gateway_bridge_udp_received_total Semtech UDP datagrams received whose header could be read, by packet type",
        "# TYPE gateway_bridge_udp_received_total counter",
        "# TYPE gateway_bridge_udp_sent_total counter",
        "# TYPE gateway_bridge_udp_errors_total counter",
        "# TYPE gateway_bridge_gateways_connected gauge",
        "# TYPE gateway_bridge_mqtt_connected gauge",
        "# TYPE gateway_bridge_mqtt_dropped_total counter",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} not in\n{text}");
    }
    for (name, value) in [
        (
            "gateway_bridge_udp_received_total{packet_type=\"PULL_DATA\"}",
            1.0,
        ),
        (
            "gateway_bridge_udp_received_total{packet_type=\"PUSH_DATA\"}",
            0.0,
        ),
        (
            "gateway_bridge_udp_sent_total{packet_type=\"PULL_ACK\"}",
            1.0,
        ),
        ("gateway_bridge_udp_errors_total{kind=\"truncated\"}", 1.0),
        ("gateway_bridge_udp_errors_total{kind=\"json\"}", 0.0),
        ("gateway_bridge_gateway_connects_total", 1.0),
        ("gateway_bridge_gateways_connected", 1.0),
        (
            "gateway_bridge_downlink_statuses_total{status=\"timeout\"}",
            0.0,
        ),
        ("gateway_bridge_mqtt_connected", 0.0),
    ] {
        assert_eq!(sample(&text, name), Some(value), "{name} in\n{text}");
    }
    // Every sample line is `name{labels} value` and every name is prefixed.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(line.starts_with("gateway_bridge_"), "{line}");
        let value = line.rsplit_once(' ').expect("sample value").1;
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }

    let (status, _, _) = get(bridge.metrics, "/nope").await;
    assert_eq!(status, 404);

    bridge.bridge.stop().await;
    // The endpoint goes away with the bridge.
    assert!(TcpStream::connect(bridge.metrics).await.is_err());
}

#[tokio::test]
async fn mqtt_connection_state_is_a_gauge() {
    let mut bridge = start("tcp://127.0.0.1:1883").await;
    let connected = async {
        loop {
            let (_, _, text) = get(bridge.metrics, "/metrics").await;
            if sample(&text, "gateway_bridge_mqtt_connected") == Some(1.0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    timeout(WAIT, connected)
        .await
        .expect("mqtt_connected 1: is Mosquitto running on 127.0.0.1:1883?");

    // A gateway coming online publishes its state: the publish latency
    // histogram sees that PUBLISH once the client has written it.
    let gateway = Forwarder::new(bridge.udp).await;
    gateway.pull_data(0x4321).await;
    let observed = async {
        loop {
            let (_, _, text) = get(bridge.metrics, "/metrics").await;
            let count = sample(&text, "gateway_bridge_mqtt_publish_latency_seconds_count");
            let all = sample(
                &text,
                "gateway_bridge_mqtt_publish_latency_seconds_bucket{le=\"+Inf\"}",
            );
            if count.is_some_and(|c| c >= 1.0) {
                assert_eq!(all, count, "{text}");
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    timeout(WAIT, observed)
        .await
        .expect("the state/conn PUBLISH is counted in the latency histogram");
    bridge.bridge.stop().await;
}
