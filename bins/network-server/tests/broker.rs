//! The embedded MQTT broker against real MQTT 5 and MQTT 3.1.1 clients (rumqttc).
//!
//! Every test starts its own broker on 127.0.0.1 with free ports; every await is
//! bounded by a timeout so a broken broker fails the test instead of hanging it.
//! `RUST_LOG=rumqttd=info` shows what the broker logs.
#![cfg(feature = "embedded-broker")]

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use network_server::broker::{BrokerConfig, BrokerError, EmbeddedBroker};
use rumqttc::v5::mqttbytes::QoS as QoS5;
use rumqttc::v5::mqttbytes::v5::{ConnAck as ConnAck5, Packet as Packet5};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::timeout;

const UPLINK_FILTER: &str = "application/+/device/+/event/up";
const UPLINK_TOPIC: &str = "application/1/device/0102030405060708/event/up";
/// Room for the 200 KiB payload test on the client side (rumqttc's default is 10 KiB).
const CLIENT_MAX_PACKET: usize = 300 * 1024;
/// The longest any single step may take.
const STEP: Duration = Duration::from_secs(10);

fn start_broker() -> EmbeddedBroker {
    // RUST_LOG shows the broker's own logs when a test needs looking into.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    EmbeddedBroker::start("127.0.0.1:0".parse().unwrap()).expect("the broker starts")
}

async fn within<F: Future>(what: &str, future: F) -> F::Output {
    timeout(STEP, future)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// What a client's event loop saw, in order.
#[derive(Debug)]
enum Seen {
    ConnAck(Option<ConnAck5>),
    SubAck,
    Publish { topic: Vec<u8>, payload: Vec<u8> },
    Error(String),
}

/// A connected client: its handle and the events of its event loop, polled on a task.
struct Peer<C> {
    client: C,
    seen: mpsc::UnboundedReceiver<Seen>,
    task: JoinHandle<()>,
}

impl<C> Drop for Peer<C> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<C> Peer<C> {
    async fn next(&mut self, what: &str) -> Seen {
        within(what, self.seen.recv())
            .await
            .unwrap_or_else(|| panic!("event loop ended before {what}"))
    }

    async fn connected(&mut self) -> Option<ConnAck5> {
        match self.next("CONNACK").await {
            Seen::ConnAck(connack) => connack,
            other => panic!("expected a CONNACK, saw {other:?}"),
        }
    }

    async fn subscribed(&mut self) {
        loop {
            match self.next("SUBACK").await {
                Seen::SubAck => return,
                Seen::ConnAck(_) => {}
                other => panic!("expected a SUBACK, saw {other:?}"),
            }
        }
    }

    async fn publish_received(&mut self) -> (Vec<u8>, Vec<u8>) {
        loop {
            match self.next("PUBLISH").await {
                Seen::Publish { topic, payload } => return (topic, payload),
                Seen::ConnAck(_) | Seen::SubAck => {}
                Seen::Error(error) => panic!("expected a PUBLISH, saw error {error}"),
            }
        }
    }
}

fn connect_v5(id: &str, addr: SocketAddr) -> Peer<rumqttc::v5::AsyncClient> {
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};

    let mut options = MqttOptions::new(id, addr.ip().to_string(), addr.port());
    options.set_max_packet_size(Some(CLIENT_MAX_PACKET as u32));
    let (client, mut event_loop) = AsyncClient::new(options, 1024);
    let (tx, seen) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        loop {
            let seen = match event_loop.poll().await {
                Ok(Event::Incoming(Packet5::ConnAck(connack))) => Seen::ConnAck(Some(connack)),
                Ok(Event::Incoming(Packet5::SubAck(_))) => Seen::SubAck,
                Ok(Event::Incoming(Packet5::Publish(publish))) => Seen::Publish {
                    topic: publish.topic.to_vec(),
                    payload: publish.payload.to_vec(),
                },
                Ok(_) => continue,
                Err(error) => {
                    let _ = tx.send(Seen::Error(error.to_string()));
                    return;
                }
            };
            if tx.send(seen).is_err() {
                return;
            }
        }
    });
    Peer { client, seen, task }
}

fn connect_v4(id: &str, addr: SocketAddr) -> Peer<rumqttc::AsyncClient> {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet};

    let mut options = MqttOptions::new(id, addr.ip().to_string(), addr.port());
    options.set_max_packet_size(CLIENT_MAX_PACKET, CLIENT_MAX_PACKET);
    let (client, mut event_loop) = AsyncClient::new(options, 1024);
    let (tx, seen) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        loop {
            let seen = match event_loop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => Seen::ConnAck(None),
                Ok(Event::Incoming(Packet::SubAck(_))) => Seen::SubAck,
                Ok(Event::Incoming(Packet::Publish(publish))) => Seen::Publish {
                    topic: publish.topic.into_bytes(),
                    payload: publish.payload.to_vec(),
                },
                Ok(_) => continue,
                Err(error) => {
                    let _ = tx.send(Seen::Error(error.to_string()));
                    return;
                }
            };
            if tx.send(seen).is_err() {
                return;
            }
        }
    });
    Peer { client, seen, task }
}

async fn subscribed_v5(id: &str, addr: SocketAddr, filter: &str) -> Peer<rumqttc::v5::AsyncClient> {
    let mut peer = connect_v5(id, addr);
    peer.connected().await;
    within("SUBSCRIBE", peer.client.subscribe(filter, QoS5::AtMostOnce))
        .await
        .unwrap();
    peer.subscribed().await;
    peer
}

async fn subscribed_v4(id: &str, addr: SocketAddr, filter: &str) -> Peer<rumqttc::AsyncClient> {
    let mut peer = connect_v4(id, addr);
    peer.connected().await;
    within(
        "SUBSCRIBE",
        peer.client.subscribe(filter, rumqttc::QoS::AtMostOnce),
    )
    .await
    .unwrap();
    peer.subscribed().await;
    peer
}

async fn publish_v5(peer: &Peer<rumqttc::v5::AsyncClient>, topic: &str, payload: Vec<u8>) {
    within(
        "PUBLISH",
        peer.client
            .publish(topic, QoS5::AtLeastOnce, false, payload),
    )
    .await
    .unwrap();
}

async fn publish_v4(peer: &Peer<rumqttc::AsyncClient>, topic: &str, payload: Vec<u8>) {
    within(
        "PUBLISH",
        peer.client
            .publish(topic, rumqttc::QoS::AtLeastOnce, false, payload),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn mqtt5_subscriber_receives_uplink_event_from_mqtt5_publisher() {
    let broker = start_broker();
    let mut subscriber = subscribed_v5("sub5", broker.addr(), UPLINK_FILTER).await;
    let mut publisher = connect_v5("pub5", broker.addr());
    publisher.connected().await;

    publish_v5(&publisher, UPLINK_TOPIC, b"{\"fPort\":1}".to_vec()).await;

    let (topic, payload) = subscriber.publish_received().await;
    assert_eq!(topic, UPLINK_TOPIC.as_bytes());
    assert_eq!(payload, b"{\"fPort\":1}");
}

#[tokio::test]
async fn mqtt311_subscriber_receives_uplink_event_from_mqtt311_publisher() {
    let broker = start_broker();
    let mut subscriber = subscribed_v4("sub4", broker.addr_v4(), UPLINK_FILTER).await;
    let mut publisher = connect_v4("pub4", broker.addr_v4());
    publisher.connected().await;

    publish_v4(&publisher, UPLINK_TOPIC, b"up".to_vec()).await;

    let (topic, payload) = subscriber.publish_received().await;
    assert_eq!(topic, UPLINK_TOPIC.as_bytes());
    assert_eq!(payload, b"up");
}

#[tokio::test]
async fn both_listeners_share_one_router() {
    let broker = start_broker();
    let mut subscriber5 = subscribed_v5("sub5", broker.addr(), UPLINK_FILTER).await;
    let mut subscriber4 = subscribed_v4("sub4", broker.addr_v4(), UPLINK_FILTER).await;
    let mut publisher4 = connect_v4("pub4", broker.addr_v4());
    publisher4.connected().await;
    let mut publisher5 = connect_v5("pub5", broker.addr());
    publisher5.connected().await;

    publish_v4(&publisher4, UPLINK_TOPIC, b"from 3.1.1".to_vec()).await;
    assert_eq!(subscriber5.publish_received().await.1, b"from 3.1.1");
    assert_eq!(subscriber4.publish_received().await.1, b"from 3.1.1");

    publish_v5(&publisher5, UPLINK_TOPIC, b"from 5".to_vec()).await;
    assert_eq!(subscriber4.publish_received().await.1, b"from 5");
    assert_eq!(subscriber5.publish_received().await.1, b"from 5");
}

#[tokio::test]
async fn each_listener_speaks_only_its_own_protocol_version() {
    let broker = start_broker();

    let mut v4_on_v5_port = connect_v4("wrong-port-4", broker.addr());
    match v4_on_v5_port.next("refusal").await {
        Seen::Error(_) => {}
        other => panic!("an MQTT 3.1.1 client on the MQTT 5 port got {other:?}"),
    }

    let mut v5_on_v4_port = connect_v5("wrong-port-5", broker.addr_v4());
    match v5_on_v4_port.next("refusal").await {
        Seen::Error(_) => {}
        other => panic!("an MQTT 5 client on the MQTT 3.1.1 port got {other:?}"),
    }
}

#[tokio::test]
async fn payload_of_200_kib_goes_through() {
    let broker = start_broker();
    let mut subscriber = subscribed_v5("sub5", broker.addr(), UPLINK_FILTER).await;
    let mut publisher = connect_v5("pub5", broker.addr());
    publisher.connected().await;
    let payload: Vec<u8> = (0..200 * 1024).map(|i| (i % 251) as u8).collect();

    publish_v5(&publisher, UPLINK_TOPIC, payload.clone()).await;

    let (_, received) = subscriber.publish_received().await;
    assert_eq!(received.len(), payload.len());
    assert!(received == payload, "the payload arrived changed");
}

#[tokio::test]
async fn burst_of_10000_qos0_messages_arrives() {
    const COUNT: usize = 10_000;
    let broker = start_broker();
    let mut subscriber = subscribed_v5("sub5", broker.addr(), UPLINK_FILTER).await;
    let mut publisher = connect_v5("pub5", broker.addr());
    publisher.connected().await;

    let client = publisher.client.clone();
    let publishing = tokio::spawn(async move {
        for i in 0..COUNT {
            let payload = format!("{{\"fCnt\":{i},\"data\":\"AQIDBAUGBwgJCgsMDQ4PEA==\"}}");
            client
                .publish(UPLINK_TOPIC, QoS5::AtMostOnce, false, payload.into_bytes())
                .await
                .unwrap();
        }
    });

    let mut received = 0;
    while received < COUNT {
        // A quiet second means the rest was dropped.
        match timeout(Duration::from_secs(1), subscriber.seen.recv()).await {
            Ok(Some(Seen::Publish { .. })) => received += 1,
            Ok(Some(Seen::Error(error))) => panic!("subscriber failed: {error}"),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    within("publishing", publishing).await.unwrap();

    assert!(
        received * 100 >= COUNT * 99,
        "only {received} of {COUNT} messages arrived"
    );
}

#[tokio::test]
async fn shared_subscription_delivers_each_message_to_one_member() {
    const COUNT: usize = 20;
    let broker = start_broker();
    let shared = format!("$share/g/{UPLINK_FILTER}");
    let mut member_a = connect_v5("member-a", broker.addr());
    let connack = member_a.connected().await.expect("an MQTT 5 CONNACK");
    // Absent means "available" (MQTT 5, 3.2.2.3.13).
    let available = connack
        .properties
        .and_then(|properties| properties.shared_subscription_available);
    assert!(matches!(available, None | Some(1)), "{available:?}");
    within(
        "SUBSCRIBE",
        member_a.client.subscribe(&shared, QoS5::AtMostOnce),
    )
    .await
    .unwrap();
    member_a.subscribed().await;
    let mut member_b = subscribed_v5("member-b", broker.addr(), &shared).await;
    let mut publisher = connect_v5("pub5", broker.addr());
    publisher.connected().await;

    for i in 0..COUNT {
        publish_v5(&publisher, UPLINK_TOPIC, i.to_string().into_bytes()).await;
    }

    let mut payloads = Vec::new();
    let (mut to_a, mut to_b) = (0, 0);
    while payloads.len() < COUNT {
        tokio::select! {
            (_, payload) = member_a.publish_received() => { to_a += 1; payloads.push(payload) }
            (_, payload) = member_b.publish_received() => { to_b += 1; payloads.push(payload) }
        }
    }
    // Nothing more: each message went to exactly one member.
    for member in [&mut member_a, &mut member_b] {
        if let Ok(Some(extra)) = timeout(Duration::from_millis(300), member.seen.recv()).await {
            panic!("a message was delivered twice: {extra:?}");
        }
    }
    payloads.sort();
    let mut expected: Vec<_> = (0..COUNT).map(|i| i.to_string().into_bytes()).collect();
    expected.sort();
    assert_eq!(payloads, expected);
    assert!(to_a > 0 && to_b > 0, "not shared: {to_a} / {to_b}");
}

#[test]
fn address_in_use_is_a_bind_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();

    let error = EmbeddedBroker::start(taken.local_addr().unwrap()).unwrap_err();

    assert!(matches!(error, BrokerError::Bind { .. }), "{error}");
}

#[test]
fn one_address_for_both_listeners_is_a_bind_error() {
    let free = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut config = BrokerConfig::with_bind(free);
    config.bind_v4 = free;

    let error = EmbeddedBroker::start_with(&config).unwrap_err();

    assert!(matches!(error, BrokerError::Bind { .. }), "{error}");
}
