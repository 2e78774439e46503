//! Per-application HTTP integrations end to end: integrations stored in
//! SQLite (a temporary directory) as the management API stores them, events
//! published through [`ApplicationHttpSink`], POSTs received by a local axum
//! server on 127.0.0.1:0.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::post;
use ns_core::integration::publish::{
    ApplicationHttpCounters, ApplicationHttpSettings, ApplicationHttpSink, HttpLimits,
};
use ns_core::integration::{self, DeviceInfo, Encoding, Event, UplinkEvent};
use ns_core::model::{Application, Tenant};
use ns_core::pipeline::EventSink;
use ns_core::storage::Storage;
use ns_core::storage::integration::{
    ApplicationIntegration, HttpIntegrationConfig, IntegrationConfig, IntegrationKind,
};
use tokio::sync::mpsc;
use uuid::Uuid;

#[macro_use]
#[path = "support/db.rs"]
mod db;

use db::TestDb;

const WAIT: Duration = Duration::from_secs(10);
const DEV_EUI: &str = "0102030405060708";

/// One POST the test server received.
#[derive(Debug)]
struct Received {
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

async fn handle(
    State(received): State<mpsc::UnboundedSender<Received>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let _ = received.send(Received { uri, headers, body });
    StatusCode::OK
}

/// Serves on 127.0.0.1:0; returns the endpoint URL and the received POSTs.
async fn serve() -> (String, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new().route("/events", post(handle)).with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/events"), rx)
}

async fn next(received: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(WAIT, received.recv())
        .await
        .expect("no POST in time")
        .unwrap()
}

/// Nothing more arrives within a short while.
async fn nothing_more(received: &mut mpsc::UnboundedReceiver<Received>) {
    tokio::time::sleep(Duration::from_millis(200)).await;
    if let Ok(post) = received.try_recv() {
        panic!("unexpected POST {}", post.uri);
    }
}

/// Waits until `check` holds for the sink's counters.
async fn counters_reach(
    sink: &ApplicationHttpSink,
    check: impl Fn(&ApplicationHttpCounters) -> bool,
) -> ApplicationHttpCounters {
    let deadline = Instant::now() + WAIT;
    loop {
        let now = sink.counters();
        if check(&now) {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "counters never got there: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A tenant and an application in `storage`; the application's id.
async fn application(storage: &Storage, name: &str) -> Uuid {
    let tenant = Tenant::new(format!("tenant of {name}"));
    storage.create_tenant(&tenant).await.unwrap();
    let app = Application::new(tenant.id, name);
    storage.create_application(&app).await.unwrap();
    app.id
}

/// Gives `application_id` an HTTP integration POSTing to `url` with an
/// `Authorization` header.
async fn integrate(storage: &Storage, application_id: Uuid, url: &str, json: bool) {
    let mut config = HttpIntegrationConfig::new(url);
    config.json = json;
    config
        .headers
        .insert("Authorization".into(), "Bearer s3cret".into());
    let integration = ApplicationIntegration::new(application_id, IntegrationConfig::Http(config));
    storage
        .create_application_integration(&integration)
        .await
        .unwrap();
}

fn up(application_id: Uuid, f_cnt: u32) -> UplinkEvent {
    UplinkEvent {
        device_info: Some(DeviceInfo {
            application_id: application_id.to_string(),
            dev_eui: DEV_EUI.into(),
            ..Default::default()
        }),
        f_cnt,
        f_port: 1,
        data: vec![0xaa, 0xbb],
        ..Default::default()
    }
}

/// Quick retries, so the tests do not wait for the real backoff.
fn quick(ttl: Duration) -> ApplicationHttpSettings {
    let mut limits = HttpLimits::default();
    limits.min_backoff = Duration::from_millis(10);
    limits.max_backoff = Duration::from_millis(50);
    limits.queue_capacity = 1_000;
    ApplicationHttpSettings::default()
        .with_cache_ttl(ttl)
        .with_limits(limits)
}

async fn event_reaches_the_application_endpoint(json: bool) {
    let db = TestDb::sqlite().await;
    let app = application(&db.storage, "meters").await;
    let (endpoint, mut received) = serve().await;
    integrate(&db.storage, app, &endpoint, json).await;
    let sink = ApplicationHttpSink::start(db.storage.clone(), quick(Duration::from_secs(10)));

    // Through the pipeline's trait, as the server calls it.
    EventSink::publish(&sink, &Event::from(up(app, 7)));
    let post = next(&mut received).await;
    assert_eq!(post.uri.path(), "/events");
    assert_eq!(post.uri.query(), Some("event=up"));
    assert_eq!(post.headers["authorization"], "Bearer s3cret");
    let (encoding, content_type) = if json {
        (Encoding::Json, "application/json")
    } else {
        (Encoding::Protobuf, "application/octet-stream")
    };
    assert_eq!(post.headers["content-type"], content_type);
    let decoded: UplinkEvent = integration::decode(&post.body, encoding).unwrap();
    assert_eq!(decoded, up(app, 7));
    if json {
        let body: serde_json::Value = serde_json::from_slice(&post.body).unwrap();
        assert_eq!(body["deviceInfo"]["devEui"], DEV_EUI);
        assert_eq!(body["deviceInfo"]["applicationId"], app.to_string());
        assert_eq!(body["fCnt"], 7);
    }
    let counters = counters_reach(&sink, |c| c.delivered == 1).await;
    assert_eq!(counters.queued, 1);
    assert_eq!(
        (counters.dropped, counters.failed, counters.no_integration),
        (0, 0, 0)
    );
    drop(sink);
    db.finish().await;
}

#[tokio::test]
async fn json_event_is_posted_with_its_kind_and_the_configured_header() {
    event_reaches_the_application_endpoint(true).await;
}

#[tokio::test]
async fn protobuf_event_is_posted_when_the_integration_says_so() {
    event_reaches_the_application_endpoint(false).await;
}

#[tokio::test]
async fn event_goes_to_every_comma_separated_endpoint() {
    let db = TestDb::sqlite().await;
    let app = application(&db.storage, "meters").await;
    let (first, mut first_received) = serve().await;
    let (second, mut second_received) = serve().await;
    integrate(&db.storage, app, &format!("{first}, {second}"), true).await;
    let sink = ApplicationHttpSink::start(db.storage.clone(), quick(Duration::from_secs(10)));
    sink.publish(&Event::from(up(app, 1))).unwrap();
    assert_eq!(
        next(&mut first_received).await.uri.query(),
        Some("event=up")
    );
    assert_eq!(
        next(&mut second_received).await.uri.query(),
        Some("event=up")
    );
    counters_reach(&sink, |c| c.delivered == 2).await;
    drop(sink);
    db.finish().await;
}

#[tokio::test]
async fn application_without_integration_gets_nothing_and_is_counted() {
    let db = TestDb::sqlite().await;
    let with = application(&db.storage, "with").await;
    let without = application(&db.storage, "without").await;
    let (endpoint, mut received) = serve().await;
    integrate(&db.storage, with, &endpoint, true).await;
    let sink = ApplicationHttpSink::start(db.storage.clone(), quick(Duration::from_secs(10)));

    for f_cnt in 0..3 {
        sink.publish(&Event::from(up(without, f_cnt))).unwrap();
    }
    sink.publish(&Event::from(up(with, 9))).unwrap();
    // An event naming no application is counted the same way.
    sink.publish(&Event::from(UplinkEvent::default())).unwrap();

    let post = next(&mut received).await;
    let decoded: UplinkEvent = integration::decode(&post.body, Encoding::Json).unwrap();
    assert_eq!(decoded, up(with, 9));
    let counters = counters_reach(&sink, |c| c.no_integration == 4 && c.delivered == 1).await;
    assert_eq!((counters.queued, counters.dropped), (1, 0));
    nothing_more(&mut received).await;
    drop(sink);
    db.finish().await;
}

#[tokio::test]
async fn deleted_integration_stops_and_created_one_starts_after_the_cache_ttl() {
    let ttl = Duration::from_millis(300);
    let db = TestDb::sqlite().await;
    let app = application(&db.storage, "meters").await;
    let (endpoint, mut received) = serve().await;
    integrate(&db.storage, app, &endpoint, true).await;
    let sink = ApplicationHttpSink::start(db.storage.clone(), quick(ttl));

    sink.publish(&Event::from(up(app, 1))).unwrap();
    next(&mut received).await;

    db.storage
        .delete_application_integration(app, IntegrationKind::Http)
        .await
        .unwrap();
    tokio::time::sleep(ttl * 2).await;
    for f_cnt in 2..5 {
        sink.publish(&Event::from(up(app, f_cnt))).unwrap();
    }
    counters_reach(&sink, |c| c.no_integration == 3).await;
    nothing_more(&mut received).await;

    // Created again (elsewhere, as through the API): delivered once the
    // cached "none" has expired.
    integrate(&db.storage, app, &endpoint, true).await;
    tokio::time::sleep(ttl * 2).await;
    sink.publish(&Event::from(up(app, 5))).unwrap();
    let post = next(&mut received).await;
    let decoded: UplinkEvent = integration::decode(&post.body, Encoding::Json).unwrap();
    assert_eq!(decoded.f_cnt, 5);
    let counters = counters_reach(&sink, |c| c.delivered == 2).await;
    assert_eq!((counters.no_integration, counters.dropped), (3, 0));
    drop(sink);
    db.finish().await;
}

#[tokio::test]
async fn dead_endpoint_never_makes_publish_wait() {
    let db = TestDb::sqlite().await;
    let app = application(&db.storage, "meters").await;
    // Bind then close a port, so nothing listens there.
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    integrate(&db.storage, app, &format!("http://{address}/events"), true).await;
    let sink = ApplicationHttpSink::start(db.storage.clone(), quick(Duration::from_secs(10)));

    let events: Vec<Event> = (0..10_000).map(|i| Event::from(up(app, i))).collect();
    let start = Instant::now();
    let mut slowest = Duration::ZERO;
    for event in &events {
        let one = Instant::now();
        let _ = sink.publish(event);
        slowest = slowest.max(one.elapsed());
    }
    let elapsed = start.elapsed();
    assert!(
        elapsed < Duration::from_secs(2),
        "10 000 publishes took {elapsed:?}"
    );
    assert!(
        slowest < Duration::from_millis(100),
        "one publish took {slowest:?}"
    );

    // Every event is either queued for the (dead) endpoint or dropped and
    // counted; the application's queue holds 1 000.
    let counters = counters_reach(&sink, |c| c.queued + c.dropped == 10_000).await;
    assert!(counters.dropped >= 8_000, "{counters:?}");
    assert_eq!(counters.delivered, 0);
    counters_reach(&sink, |c| c.retried > 0).await;
    drop(sink);
    db.finish().await;
}

#[tokio::test]
async fn storage_error_drops_and_counts_the_event_without_panicking() {
    let db = TestDb::sqlite().await;
    let app = application(&db.storage, "meters").await;
    let storage = db.storage.clone();
    // Closing the pool (and removing the database) makes every read fail.
    db.finish().await;
    let sink = ApplicationHttpSink::start(storage, quick(Duration::from_secs(10)));
    sink.publish(&Event::from(up(app, 1))).unwrap();
    // Two failed reads: whether any application has an integration (at
    // start), then the event's application.
    let counters = counters_reach(&sink, |c| c.dropped == 1 && c.storage_errors == 2).await;
    assert_eq!((counters.queued, counters.no_integration), (0, 0));
    // The resolver is still there: the next event is handled (and, storage
    // still failing past the retry delay, dropped again).
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    sink.publish(&Event::from(up(app, 2))).unwrap();
    counters_reach(&sink, |c| c.dropped == 2 && c.storage_errors == 3).await;
}

#[tokio::test]
async fn without_any_integration_events_are_counted_not_queued() {
    let db = TestDb::sqlite().await;
    let app = application(&db.storage, "meters").await;
    // A queue of ten: copies of the events would fill it at once.
    let sink = ApplicationHttpSink::start(
        db.storage.clone(),
        quick(Duration::from_secs(10)).with_queue_capacity(10),
    );
    // Its first read, at once, finds no integration anywhere.
    let deadline = Instant::now() + WAIT;
    while sink.is_active() {
        assert!(
            Instant::now() < deadline,
            "the sink still looks for integrations"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let event = Event::from(up(app, 1));
    for _ in 0..20_000 {
        sink.publish(&event).unwrap();
    }
    let counters = sink.counters();
    assert_eq!(counters.no_integration, 20_000, "{counters:?}");
    assert_eq!((counters.dropped, counters.queued), (0, 0));
    drop(sink);
    db.finish().await;
}
