//! An MQTT 5 client (rumqttc) whose event loop runs on a task and hands
//! the test what it receives.

use std::time::Duration;

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::within;

/// A message received on a subscription.
#[derive(Debug, Clone)]
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
}

enum Seen {
    ConnAck,
    SubAck,
    Publish(Message),
    Error(String),
}

/// A connected, subscribed client.
pub struct MqttPeer {
    pub client: AsyncClient,
    seen: mpsc::UnboundedReceiver<Seen>,
    task: JoinHandle<()>,
}

impl Drop for MqttPeer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MqttPeer {
    /// Connects to `host:port` and subscribes to `filters`, waiting for the
    /// CONNACK and every SUBACK.
    pub async fn connect(host: &str, port: u16, filters: &[&str]) -> Self {
        let id = format!("test-{}", uuid::Uuid::new_v4().simple());
        let mut options = MqttOptions::new(id, host, port);
        options.set_keep_alive(Duration::from_secs(30));
        let (client, mut event_loop) = AsyncClient::new(options, 256);
        let (tx, seen) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let seen = match event_loop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => Seen::ConnAck,
                    Ok(Event::Incoming(Packet::SubAck(_))) => Seen::SubAck,
                    Ok(Event::Incoming(Packet::Publish(p))) => Seen::Publish(Message {
                        topic: String::from_utf8_lossy(&p.topic).into_owned(),
                        payload: p.payload.to_vec(),
                    }),
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
        let mut peer = Self { client, seen, task };
        match peer.next_seen("CONNACK").await {
            Seen::ConnAck => {}
            Seen::Error(e) => panic!("MQTT {host}:{port}: {e}"),
            _ => panic!("MQTT {host}:{port}: expected a CONNACK"),
        }
        for filter in filters {
            within(
                "SUBSCRIBE",
                peer.client.subscribe(*filter, QoS::AtLeastOnce),
            )
            .await
            .expect("subscribe");
            loop {
                match peer.next_seen("SUBACK").await {
                    Seen::SubAck => break,
                    Seen::Error(e) => panic!("MQTT subscribe {filter}: {e}"),
                    _ => {}
                }
            }
        }
        peer
    }

    async fn next_seen(&mut self, what: &str) -> Seen {
        within(what, self.seen.recv())
            .await
            .unwrap_or_else(|| panic!("MQTT event loop ended before {what}"))
    }

    /// The next message, or `None` when none comes within `wait`.
    pub async fn recv(&mut self, wait: Duration) -> Option<Message> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.seen.recv()).await {
                Ok(Some(Seen::Publish(m))) => return Some(m),
                Ok(Some(Seen::Error(e))) => panic!("MQTT connection lost: {e}"),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// Publishes with QoS 1.
    pub async fn publish(&self, topic: &str, payload: Vec<u8>) {
        within(
            "PUBLISH",
            self.client
                .publish(topic.to_owned(), QoS::AtLeastOnce, false, payload),
        )
        .await
        .expect("publish");
    }
}

/// An application's view of the integration events: JSON on
/// `…/event/{event}` topics.
pub struct Events {
    peer: MqttPeer,
    backlog: Vec<(String, serde_json::Value)>,
}

impl Events {
    /// Subscribes to `filter` (the event topic with `+` for every
    /// variable).
    pub async fn subscribe(host: &str, port: u16, filter: &str) -> Self {
        Self {
            peer: MqttPeer::connect(host, port, &[filter]).await,
            backlog: Vec::new(),
        }
    }

    /// The next event of type `kind` (the topic's last level), keeping the
    /// others for later calls; panics after [`super::WAIT`].
    pub async fn next(&mut self, kind: &str) -> serde_json::Value {
        if let Some(i) = self.backlog.iter().position(|(k, _)| k == kind) {
            return self.backlog.remove(i).1;
        }
        let deadline = tokio::time::Instant::now() + super::WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(m) = self.peer.recv(left).await else {
                panic!(
                    "no `{kind}` event within {:?}; other events: {:?}",
                    super::WAIT,
                    self.backlog
                );
            };
            let event = m.topic.rsplit('/').next().unwrap_or_default().to_owned();
            let json: serde_json::Value = serde_json::from_slice(&m.payload)
                .unwrap_or_else(|e| panic!("event on {} is not JSON: {e}", m.topic));
            if event == kind {
                return json;
            }
            self.backlog.push((event, json));
        }
    }

    /// Publishes on the same connection (an application's command).
    pub async fn publish(&self, topic: &str, payload: Vec<u8>) {
        self.peer.publish(topic, payload).await;
    }

    /// The events received and not asked for yet.
    pub fn backlog(&self) -> &[(String, serde_json::Value)] {
        &self.backlog
    }
}
