//! The integrations' publishers against real peers: the Mosquitto at
//! 127.0.0.1:1883 (started by `scripts/ensure-services`), under a topic
//! prefix of its own per test, and a local axum server on 127.0.0.1:0.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::post;
use ns_core::config::{HttpIntegration, MqttIntegration};
use ns_core::integration::publish::{
    HttpLimits, HttpPublisher, MqttPublisher, PublishError, PublisherCounters,
};
use ns_core::integration::{self, DeviceInfo, Encoding, Event, UplinkEvent};
use rumqttc::{AsyncClient, MqttOptions, Packet, QoS};
use tokio::sync::{Notify, mpsc};

const WAIT: Duration = Duration::from_secs(10);
const APPLICATION_ID: &str = "00000000-0000-0000-0000-0000000000a1";
const DEV_EUI: &str = "0102030405060708";

fn up(f_cnt: u32) -> UplinkEvent {
    UplinkEvent {
        device_info: Some(DeviceInfo {
            application_id: APPLICATION_ID.into(),
            dev_eui: DEV_EUI.into(),
            ..Default::default()
        }),
        f_cnt,
        f_port: 1,
        data: vec![0xaa, 0xbb],
        ..Default::default()
    }
}

/// Waits until `check` holds for the publisher's counters.
async fn counters_reach(
    counters: impl Fn() -> PublisherCounters,
    check: impl Fn(&PublisherCounters) -> bool,
) -> PublisherCounters {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = counters();
        if check(&now) {
            return now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "counters never got there: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Subscribes to `{prefix}/#` and forwards what arrives.
async fn subscriber(prefix: &str) -> mpsc::UnboundedReceiver<(String, Vec<u8>)> {
    let options = MqttOptions::new(
        format!("nsint-sub-{:016x}", rand::random::<u64>()),
        "127.0.0.1",
        1883,
    );
    let (client, mut eventloop) = AsyncClient::new(options, 100);
    client
        .subscribe(format!("{prefix}/#"), QoS::AtLeastOnce)
        .await
        .unwrap();
    let poll = async {
        loop {
            let event = eventloop
                .poll()
                .await
                .expect("is Mosquitto running on 127.0.0.1:1883?");
            if let rumqttc::Event::Incoming(Packet::SubAck(_)) = event {
                break;
            }
        }
    };
    tokio::time::timeout(WAIT, poll).await.expect("no SUBACK");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let _client = client;
        while let Ok(event) = eventloop.poll().await {
            if let rumqttc::Event::Incoming(Packet::Publish(p)) = event {
                let _ = tx.send((p.topic, p.payload.to_vec()));
            }
        }
    });
    rx
}

async fn mqtt_up_arrives_on_its_topic(encoding: Encoding, tcp_nodelay: bool) {
    let prefix = format!("nsint-{:016x}", rand::random::<u64>());
    let mut received = subscriber(&prefix).await;
    let mut settings = MqttIntegration::default();
    settings.server = "tcp://127.0.0.1:1883".into();
    settings.event_topic = format!(
        "{prefix}/application/{{{{application_id}}}}/device/{{{{dev_eui}}}}/event/{{{{event}}}}"
    );
    settings.json = encoding == Encoding::Json;
    settings.clean_session = true;
    settings.tcp_nodelay = tcp_nodelay;
    let publisher = MqttPublisher::start(&settings).unwrap();
    publisher.publish(&Event::from(up(7))).unwrap();

    let (topic, payload) = tokio::time::timeout(WAIT, received.recv())
        .await
        .expect("no event in time")
        .unwrap();
    assert_eq!(
        topic,
        format!("{prefix}/application/{APPLICATION_ID}/device/{DEV_EUI}/event/up")
    );
    let decoded: UplinkEvent = integration::decode(&payload, encoding).unwrap();
    assert_eq!(decoded, up(7));
    if encoding == Encoding::Json {
        let json: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(json["deviceInfo"]["devEui"], DEV_EUI);
        assert_eq!(json["fCnt"], 7);
    }
    let counters = counters_reach(|| publisher.counters(), |c| c.connections == 1).await;
    assert_eq!(counters.published, 1);
    assert_eq!(counters.dropped_queue_full, 0);
    publisher.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn mqtt_up_event_arrives_on_the_templated_topic_in_json() {
    mqtt_up_arrives_on_its_topic(Encoding::Json, false).await;
}

#[tokio::test]
async fn mqtt_up_event_arrives_on_the_templated_topic_in_protobuf() {
    mqtt_up_arrives_on_its_topic(Encoding::Protobuf, false).await;
}

#[tokio::test]
async fn mqtt_up_event_arrives_with_tcp_nodelay() {
    mqtt_up_arrives_on_its_topic(Encoding::Json, true).await;
}

#[tokio::test]
async fn mqtt_event_without_device_is_refused_and_counted() {
    let mut settings = MqttIntegration::default();
    settings.server = "tcp://127.0.0.1:1883".into();
    let publisher = MqttPublisher::start(&settings).unwrap();
    let result = publisher.publish(&Event::from(UplinkEvent::default()));
    assert!(matches!(result, Err(PublishError::NoDevice(_))));
    assert_eq!(publisher.counters().failed, 1);
}

/// One POST the test server received.
#[derive(Debug)]
struct Received {
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

/// The test server's behaviour: answers given in order (200 once they run
/// out), and an optional gate every request waits on.
#[derive(Clone)]
struct Server {
    answers: Arc<Mutex<VecDeque<StatusCode>>>,
    gate: Option<Arc<Notify>>,
    received: mpsc::UnboundedSender<Received>,
}

async fn handle(
    State(server): State<Server>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    if let Some(gate) = &server.gate {
        gate.notified().await;
    }
    let _ = server.received.send(Received { uri, headers, body });
    server
        .answers
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(StatusCode::OK)
}

/// Serves on 127.0.0.1:0; returns the endpoint URL and the received POSTs.
async fn serve(
    answers: &[StatusCode],
    gate: Option<Arc<Notify>>,
) -> (String, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let server = Server {
        answers: Arc::new(Mutex::new(answers.iter().copied().collect())),
        gate,
        received: tx,
    };
    let app = Router::new()
        .route("/events", post(handle))
        .with_state(server);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/events"), rx)
}

fn http_settings(endpoint: &str, json: bool) -> HttpIntegration {
    let mut settings = HttpIntegration::default();
    settings.event_endpoint_url = endpoint.to_owned();
    settings.json = json;
    settings
        .headers
        .insert("Authorization".into(), "Bearer s3cret".into());
    settings
}

/// Quick retries, so the tests do not wait for the real backoff.
fn quick_limits() -> HttpLimits {
    let mut limits = HttpLimits::default();
    limits.min_backoff = Duration::from_millis(10);
    limits.max_backoff = Duration::from_millis(50);
    limits
}

async fn next(received: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(WAIT, received.recv())
        .await
        .expect("no POST in time")
        .unwrap()
}

#[tokio::test]
async fn http_post_carries_the_event_kind_content_type_and_headers() {
    for (json, content_type) in [
        (true, "application/json"),
        (false, "application/octet-stream"),
    ] {
        let (endpoint, mut received) = serve(&[], None).await;
        let publisher =
            HttpPublisher::start(&http_settings(&endpoint, json), quick_limits()).unwrap();
        publisher.publish(&Event::from(up(3))).unwrap();
        let post = next(&mut received).await;
        assert_eq!(post.uri.path(), "/events");
        assert_eq!(post.uri.query(), Some("event=up"));
        assert_eq!(post.headers["content-type"], content_type);
        assert_eq!(post.headers["authorization"], "Bearer s3cret");
        let encoding = if json {
            Encoding::Json
        } else {
            Encoding::Protobuf
        };
        let decoded: UplinkEvent = integration::decode(&post.body, encoding).unwrap();
        assert_eq!(decoded, up(3));
        let counters = counters_reach(|| publisher.counters(), |c| c.published == 1).await;
        assert_eq!((counters.failed, counters.retried), (0, 0));
    }
}

#[tokio::test]
async fn http_event_goes_to_every_endpoint() {
    let (first, mut first_received) = serve(&[], None).await;
    let (second, mut second_received) = serve(&[], None).await;
    let settings = http_settings(&format!("{first}, {second}"), true);
    let publisher = HttpPublisher::start(&settings, quick_limits()).unwrap();
    publisher.publish(&Event::from(up(1))).unwrap();
    assert_eq!(
        next(&mut first_received).await.uri.query(),
        Some("event=up")
    );
    assert_eq!(
        next(&mut second_received).await.uri.query(),
        Some("event=up")
    );
    counters_reach(|| publisher.counters(), |c| c.published == 2).await;
}

#[tokio::test]
async fn http_server_errors_are_retried_until_the_event_gets_through() {
    let errors = [StatusCode::INTERNAL_SERVER_ERROR; 2];
    let (endpoint, mut received) = serve(&errors, None).await;
    let publisher = HttpPublisher::start(&http_settings(&endpoint, true), quick_limits()).unwrap();
    publisher.publish(&Event::from(up(9))).unwrap();
    for _ in 0..3 {
        let post = next(&mut received).await;
        assert_eq!(post.uri.query(), Some("event=up"));
    }
    let counters = counters_reach(|| publisher.counters(), |c| c.published == 1).await;
    assert_eq!((counters.retried, counters.failed), (2, 0));
}

#[tokio::test]
async fn http_server_errors_past_the_retry_limit_drop_the_event() {
    let errors = [StatusCode::SERVICE_UNAVAILABLE; 10];
    let (endpoint, mut received) = serve(&errors, None).await;
    let mut limits = quick_limits();
    limits.max_retries = 2;
    let publisher = HttpPublisher::start(&http_settings(&endpoint, true), limits).unwrap();
    publisher.publish(&Event::from(up(9))).unwrap();
    let counters = counters_reach(|| publisher.counters(), |c| c.failed == 1).await;
    assert_eq!((counters.retried, counters.published), (2, 0));
    let mut posts = 0;
    while received.try_recv().is_ok() {
        posts += 1;
    }
    assert_eq!(posts, 3);
}

#[tokio::test]
async fn http_client_error_is_not_retried() {
    let (endpoint, mut received) = serve(&[StatusCode::BAD_REQUEST], None).await;
    let publisher = HttpPublisher::start(&http_settings(&endpoint, true), quick_limits()).unwrap();
    publisher.publish(&Event::from(up(4))).unwrap();
    next(&mut received).await;
    let counters = counters_reach(|| publisher.counters(), |c| c.failed == 1).await;
    assert_eq!((counters.retried, counters.published), (0, 0));
    // A second event goes through: the worker moved on.
    publisher.publish(&Event::from(up(5))).unwrap();
    next(&mut received).await;
    counters_reach(|| publisher.counters(), |c| c.published == 1).await;
    assert!(received.try_recv().is_err());
}

#[tokio::test]
async fn http_unreachable_endpoint_is_retried_then_dropped() {
    // Bind then close a port, so nothing listens there.
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut limits = quick_limits();
    limits.max_retries = 1;
    let settings = http_settings(&format!("http://{address}/events"), true);
    let publisher = HttpPublisher::start(&settings, limits).unwrap();
    publisher.publish(&Event::from(up(1))).unwrap();
    let counters = counters_reach(|| publisher.counters(), |c| c.failed == 1).await;
    assert_eq!(counters.retried, 1);
}

#[tokio::test]
async fn http_full_queue_drops_and_counts_without_waiting() {
    let gate = Arc::new(Notify::new());
    let (endpoint, mut received) = serve(&[], Some(Arc::clone(&gate))).await;
    let mut limits = quick_limits();
    limits.queue_capacity = 1;
    limits.timeout = WAIT;
    let publisher = HttpPublisher::start(&http_settings(&endpoint, true), limits).unwrap();
    // The worker holds at most one event (stuck at the gate) and the queue
    // one more: of five, at least three are dropped.
    let results: Vec<_> = (0..5)
        .map(|i| publisher.publish(&Event::from(up(i))))
        .collect();
    let dropped = results
        .iter()
        .filter(|r| **r == Err(PublishError::QueueFull))
        .count();
    assert!(dropped >= 3, "{results:?}");
    assert_eq!(publisher.counters().dropped_queue_full, dropped as u64);
    // Open the gate for every request; the accepted ones get through.
    let accepted = 5 - dropped;
    for _ in 0..accepted {
        // `notify_one` stores a permit if no request waits yet.
        gate.notify_one();
        next(&mut received).await;
    }
    counters_reach(|| publisher.counters(), |c| c.published == accepted as u64).await;
}

#[tokio::test]
async fn http_misconfiguration_is_refused_at_start() {
    let limits = HttpLimits::default();
    assert!(HttpPublisher::start(&http_settings("", true), limits).is_err());
    assert!(HttpPublisher::start(&http_settings("https://a.example/e", true), limits).is_err());
    let mut settings = http_settings("http://a.example/e", true);
    settings.headers.insert("bad header".into(), "x".into());
    assert!(HttpPublisher::start(&settings, limits).is_err());
}

#[tokio::test]
async fn http_shutdown_delivers_what_is_queued() {
    let (endpoint, mut received) = serve(&[], None).await;
    let publisher = HttpPublisher::start(&http_settings(&endpoint, true), quick_limits()).unwrap();
    for i in 0..3 {
        publisher.publish(&Event::from(up(i))).unwrap();
    }
    publisher.shutdown(WAIT).await;
    for _ in 0..3 {
        next(&mut received).await;
    }
}
