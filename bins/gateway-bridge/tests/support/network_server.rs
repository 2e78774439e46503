//! A network server's view of MQTT for the integration tests: a client of
//! the real Mosquitto on 127.0.0.1:1883 subscribed to the test's topics.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// Every wait is bounded by this.
pub const WAIT: Duration = Duration::from_secs(10);
/// The broker of `scripts/ensure-services`.
pub const BROKER: (&str, u16) = ("127.0.0.1", 1883);

/// A network server's view of MQTT: a client subscribed to every event and
/// state topic under the test's prefix.
pub struct NetworkServer {
    client: AsyncClient,
    messages: mpsc::UnboundedReceiver<rumqttc::Publish>,
    _task: JoinHandle<()>,
}

impl NetworkServer {
    pub async fn connect(filters: &[String]) -> Self {
        let id = format!("gwb-test-{:016x}", rand::random::<u64>());
        let mut options = MqttOptions::new(id, BROKER.0, BROKER.1);
        options.set_keep_alive(Duration::from_secs(10));
        let (client, mut eventloop) = AsyncClient::new(options, 100);
        let (tx, messages) = mpsc::unbounded_channel();
        let (subacks_tx, mut subacks) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let _ = tx.send(p);
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = subacks_tx.send(());
                    }
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("test MQTT client: {e}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
        for filter in filters {
            client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
        }
        for filter in filters {
            timeout(WAIT, subacks.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!("no SUBACK for {filter} within {WAIT:?}: is Mosquitto running on 127.0.0.1:1883?")
                })
                .unwrap();
        }
        Self {
            client,
            messages,
            _task: task,
        }
    }

    /// The next message, on any topic.
    pub async fn next(&mut self) -> rumqttc::Publish {
        timeout(WAIT, self.messages.recv())
            .await
            .unwrap_or_else(|_| panic!("no MQTT message within {WAIT:?}"))
            .expect("test MQTT client ended")
    }

    /// The next message, which must be on `topic`.
    pub async fn expect(&mut self, topic: &str) -> rumqttc::Publish {
        let p = timeout(WAIT, self.messages.recv())
            .await
            .unwrap_or_else(|_| panic!("no MQTT message on {topic} within {WAIT:?}"))
            .expect("test MQTT client ended");
        assert_eq!(p.topic, topic, "unexpected MQTT message: {p:?}");
        p
    }

    /// Nothing arrives for a short while.
    pub async fn expect_silence(&mut self) {
        if let Ok(Some(p)) = timeout(Duration::from_millis(300), self.messages.recv()).await {
            panic!("unexpected MQTT message on {}: {:?}", p.topic, p.payload);
        }
    }

    pub async fn publish(&self, topic: &str, payload: Vec<u8>, retain: bool) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload)
            .await
            .unwrap();
    }
}
