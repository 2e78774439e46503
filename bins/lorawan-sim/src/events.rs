//! The application's side: the `up` events of the MQTT integration
//! (ChirpStack's JSON), matched against the uplinks a simulation sent.
//!
//! An uplink is delivered when an `up` event names its device and frame
//! counter and carries its payload; its latency runs from its
//! transmission to the event's arrival.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::sim::Report;

/// An `up` event as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Up {
    f_cnt: u32,
    data: Vec<u8>,
    at: Instant,
}

/// Why the events cannot be followed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventsError {
    /// The subscription failed or was not acknowledged in time.
    #[error("subscribing to {filter}: {reason}")]
    Subscribe {
        /// The topic filter.
        filter: String,
        /// What happened.
        reason: String,
    },
}

/// A subscription to the `up` events, collecting them while it lives.
pub struct UpEvents {
    client: AsyncClient,
    task: JoinHandle<()>,
    seen: Arc<Mutex<HashMap<String, Vec<Up>>>>,
}

impl std::fmt::Debug for UpEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpEvents").finish_non_exhaustive()
    }
}

impl Drop for UpEvents {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How many uplinks became events, and how fast.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delivery {
    /// Data uplinks sent.
    pub sent: usize,
    /// Of those, the ones an `up` event reported with their payload.
    pub delivered: usize,
    /// Median latency from transmission to event.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
}

impl Delivery {
    /// The delivered share, 0 to 1 (1 when nothing was sent).
    pub fn ratio(&self) -> f64 {
        if self.sent == 0 {
            1.0
        } else {
            self.delivered as f64 / self.sent as f64
        }
    }
}

impl UpEvents {
    /// Subscribes to `filter` on the MQTT broker at `host:port` and waits
    /// for the broker's acknowledgement.
    ///
    /// # Errors
    /// The broker refuses or does not answer within ten seconds.
    pub async fn subscribe(host: &str, port: u16, filter: &str) -> Result<Self, EventsError> {
        let failed = |reason: String| EventsError::Subscribe {
            filter: filter.to_owned(),
            reason,
        };
        let id = format!("lorawan-sim-{}", uuid::Uuid::new_v4().simple());
        let (client, mut events) = AsyncClient::new(MqttOptions::new(id, host, port), 1_000);
        let seen = Arc::new(Mutex::new(HashMap::<String, Vec<Up>>::new()));
        let (subscribed, mut ready) = tokio::sync::mpsc::channel(1);
        let store = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = subscribed.try_send(());
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if let Some((dev_eui, up)) = parse_up(&p.payload) {
                            let mut seen = store.lock().unwrap_or_else(|e| e.into_inner());
                            seen.entry(dev_eui).or_default().push(up);
                        }
                    }
                    Ok(_) => {}
                    // The client reconnects on the next poll.
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        });
        client
            .subscribe(filter, QoS::AtMostOnce)
            .await
            .map_err(|e| failed(e.to_string()))?;
        tokio::time::timeout(Duration::from_secs(10), ready.recv())
            .await
            .map_err(|_| failed("no SUBACK within 10 s".into()))?;
        Ok(Self { client, task, seen })
    }

    /// The uplinks of `report` matched against the events so far.
    pub fn delivery(&self, report: &Report) -> Delivery {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let mut latencies: Vec<Duration> = report
            .uplinks
            .iter()
            .filter_map(|u| {
                seen.get(&u.dev_eui.to_string())?
                    .iter()
                    .find(|e| e.f_cnt == u.f_cnt && e.data == u.payload)
                    .map(|e| e.at.saturating_duration_since(u.at))
            })
            .collect();
        latencies.sort_unstable();
        let at = |q: f64| {
            latencies
                .get(((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1))
                .copied()
                .unwrap_or_default()
        };
        Delivery {
            sent: report.uplinks.len(),
            delivered: latencies.len(),
            p50: at(0.5),
            p99: at(0.99),
        }
    }

    /// Unsubscribes and disconnects.
    pub async fn close(self) {
        let _ = self.client.disconnect().await;
    }
}

/// The DevEUI, frame counter and payload of an `up` event (ChirpStack's
/// JSON); `None` for anything else.
fn parse_up(payload: &[u8]) -> Option<(String, Up)> {
    let at = Instant::now();
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    let dev_eui = v["deviceInfo"]["devEui"].as_str()?.to_owned();
    let f_cnt = u32::try_from(v["fCnt"].as_u64().unwrap_or(0)).ok()?;
    let data = match v["data"].as_str() {
        Some(b64) => base64::engine::general_purpose::STANDARD.decode(b64).ok()?,
        None => Vec::new(),
    };
    Some((dev_eui, Up { f_cnt, data, at }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_events_are_read_from_chirpstack_json() {
        let json = br#"{"deviceInfo":{"devEui":"0102030405060708"},"fCnt":7,"data":"AAAABw=="}"#;
        let (eui, up) = parse_up(json).unwrap();
        assert_eq!(eui, "0102030405060708");
        assert_eq!((up.f_cnt, &up.data[..]), (7, &[0, 0, 0, 7][..]));
        // fCnt 0 is omitted in proto3 JSON.
        let (_, up) = parse_up(br#"{"deviceInfo":{"devEui":"01"}}"#).unwrap();
        assert_eq!(up.f_cnt, 0);
        assert!(up.data.is_empty());
        assert!(parse_up(b"not json").is_none());
        assert!(parse_up(br#"{"fCnt":1}"#).is_none());
    }
}
