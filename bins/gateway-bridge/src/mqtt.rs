//! The MQTT side: a rumqttc client whose event loop runs in its own task,
//! reconnecting with exponential backoff, and reports connections and
//! incoming messages over a channel.
//!
//! Requests use the client's non-blocking `try_*` calls so a broker outage
//! never stalls the UDP loop: when the client's queue is full the request is
//! dropped and counted by the caller.

use std::time::Duration;

use anyhow::{Context as _, bail};
use rumqttc::{AsyncClient, ClientError, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config;

/// Requests queued in the client while the broker is unreachable.
const REQUEST_QUEUE: usize = 100_000;
/// The first reconnect delay; it doubles up to `max_reconnect_interval`.
const MIN_BACKOFF: Duration = Duration::from_secs(1);

/// What the MQTT task tells the driver.
#[derive(Debug)]
pub(crate) enum MqttInput {
    /// A ConnAck: (re)subscribe.
    Connected,
    /// The connection was lost (reconnecting in the background).
    Disconnected,
    /// A message on a subscribed topic.
    Publish {
        /// Its topic.
        topic: String,
        /// Its payload.
        payload: Vec<u8>,
    },
}

/// The handle the driver publishes and subscribes with.
#[derive(Debug)]
pub(crate) struct Mqtt {
    client: AsyncClient,
    qos: QoS,
}

impl Mqtt {
    /// Starts the client task. Connecting happens in the background.
    pub(crate) fn start(
        config: &config::Mqtt,
    ) -> anyhow::Result<(Self, mpsc::Receiver<MqttInput>, JoinHandle<()>)> {
        let generic = &config.auth.generic;
        let url = generic
            .broker_url()
            .context("integration.mqtt.auth.generic.servers is empty")?;
        let (host, port) = parse_server(url)?;
        let client_id = if generic.client_id.is_empty() {
            format!("gateway-bridge-{:016x}", rand::random::<u64>())
        } else {
            generic.client_id.clone()
        };
        let mut options = MqttOptions::new(client_id, host, port);
        options
            .set_keep_alive(config.keep_alive.max(Duration::from_secs(1)))
            .set_clean_session(generic.clean_session)
            .set_request_channel_capacity(REQUEST_QUEUE)
            // Uplinks can carry large metadata; 1 MiB is far above any gw message.
            .set_max_packet_size(1 << 20, 1 << 20);
        if !generic.username.is_empty() {
            options.set_credentials(&generic.username, &generic.password);
        }
        let qos = match generic.qos {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            _ => QoS::ExactlyOnce,
        };
        let (client, eventloop) = AsyncClient::new(options, REQUEST_QUEUE);
        let (tx, rx) = mpsc::channel(1024);
        let max_backoff = config.max_reconnect_interval.max(MIN_BACKOFF);
        let task = tokio::spawn(event_loop(eventloop, tx, max_backoff, url.to_owned()));
        Ok((Self { client, qos }, rx, task))
    }

    pub(crate) fn publish(
        &self,
        topic: String,
        payload: Vec<u8>,
        retain: bool,
    ) -> Result<(), ClientError> {
        self.client.try_publish(topic, self.qos, retain, payload)
    }

    pub(crate) fn subscribe(&self, filter: String) -> Result<(), ClientError> {
        self.client.try_subscribe(filter, self.qos)
    }

    pub(crate) fn unsubscribe(&self, filter: String) -> Result<(), ClientError> {
        self.client.try_unsubscribe(filter)
    }

    /// Asks the event loop to send DISCONNECT after the queued requests and
    /// end.
    pub(crate) fn disconnect(&self) {
        if let Err(e) = self.client.try_disconnect() {
            warn!(error = %e, "cannot queue MQTT disconnect");
        }
    }
}

/// `tcp://host:port`, `mqtt://host:port` or `host:port` (port 1883 when
/// absent).
fn parse_server(url: &str) -> anyhow::Result<(String, u16)> {
    let rest = match url.split_once("://") {
        Some(("tcp" | "mqtt", rest)) => rest,
        Some((scheme @ ("ssl" | "tls" | "mqtts" | "ws" | "wss"), _)) => {
            bail!("MQTT server {url:?}: scheme {scheme}:// is not supported yet (only tcp://)")
        }
        Some((scheme, _)) => bail!("MQTT server {url:?}: unknown scheme {scheme}://"),
        None => url,
    };
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') => (
            host,
            port.parse()
                .with_context(|| format!("MQTT server {url:?}: bad port {port:?}"))?,
        ),
        _ => (rest, 1883),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        bail!("MQTT server {url:?} has no host");
    }
    Ok((host.to_owned(), port))
}

async fn event_loop(
    mut eventloop: EventLoop,
    tx: mpsc::Sender<MqttInput>,
    max_backoff: Duration,
    url: String,
) {
    let mut backoff = MIN_BACKOFF;
    let mut connected = false;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                info!(server = url, "MQTT connected");
                backoff = MIN_BACKOFF;
                connected = true;
                if tx.send(MqttInput::Connected).await.is_err() {
                    return;
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let input = MqttInput::Publish {
                    topic: p.topic,
                    payload: p.payload.to_vec(),
                };
                if tx.send(input).await.is_err() {
                    return;
                }
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                info!("MQTT disconnected");
                return;
            }
            Ok(_) => {}
            Err(rumqttc::ConnectionError::RequestsDone) => return,
            Err(e) => {
                if std::mem::take(&mut connected) && tx.send(MqttInput::Disconnected).await.is_err()
                {
                    return;
                }
                warn!(server = url, error = %e, retry_in = ?backoff, "MQTT connection error");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(max_backoff);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_parse() {
        for (url, host, port) in [
            ("tcp://127.0.0.1:1883", "127.0.0.1", 1883),
            ("mqtt://broker:1884/", "broker", 1884),
            ("broker", "broker", 1883),
            ("tcp://[::1]:1885", "::1", 1885),
        ] {
            assert_eq!(parse_server(url).unwrap(), (host.to_owned(), port), "{url}");
        }
        for bad in [
            "ssl://broker:8883",
            "ws://b",
            "foo://b",
            "tcp://:1883",
            "tcp://b:x",
        ] {
            assert!(parse_server(bad).is_err(), "{bad}");
        }
    }
}
