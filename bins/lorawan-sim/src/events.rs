//! The application's side: the `up` events of the MQTT integration
//! (ChirpStack's JSON), matched as they arrive against the uplinks a
//! simulation has in flight ([`Progress`]).
//!
//! An uplink is delivered when an `up` event names its device and frame
//! counter and carries its payload; its latency runs from its
//! transmission to the event's arrival.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use tokio::sync::oneshot;
use tokio::time::Instant;

use lorawan::Eui64;

use crate::sim::Progress;

/// An `up` event as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Up {
    dev_eui: Eui64,
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

/// A subscription to the `up` events, reporting them to a run's
/// [`Progress`] while it lives.
///
/// Its MQTT client runs on a thread of its own (`sim-events`), as an
/// application would in a process of its own: an event is timestamped
/// when it arrives, not when the simulator's runtime, busy sending the
/// devices' uplinks, gets round to it.
pub struct UpEvents {
    client: AsyncClient,
    /// Ends the thread when dropped.
    _stop: oneshot::Sender<()>,
}

impl std::fmt::Debug for UpEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpEvents").finish_non_exhaustive()
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
    /// `sent` uplinks of which those with `latencies` were delivered.
    pub fn of(sent: u64, mut latencies: Vec<Duration>) -> Self {
        latencies.sort_unstable();
        let at = |q: f64| {
            latencies
                .get(((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1))
                .copied()
                .unwrap_or_default()
        };
        Self {
            sent: usize::try_from(sent).unwrap_or(usize::MAX),
            delivered: latencies.len(),
            p50: at(0.5),
            p99: at(0.99),
        }
    }

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
    /// Subscribes to `filter` on the MQTT broker at `host:port`, waits for
    /// the broker's acknowledgement, and reports each `up` event to
    /// `progress`.
    ///
    /// # Errors
    /// The broker refuses or does not answer within ten seconds.
    pub async fn subscribe(
        host: &str,
        port: u16,
        filter: &str,
        progress: Arc<Progress>,
    ) -> Result<Self, EventsError> {
        progress.match_events();
        let failed = |reason: String| EventsError::Subscribe {
            filter: filter.to_owned(),
            reason,
        };
        let id = format!("lorawan-sim-{}", uuid::Uuid::new_v4().simple());
        let mut options = MqttOptions::new(id, host, port);
        options.set_max_packet_size(Some(1 << 20));
        let (client, mut events) = AsyncClient::new(options, 1_000);
        let (subscribed, mut ready) = tokio::sync::mpsc::channel(1);
        let (stop, mut stopped) = oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| failed(e.to_string()))?;
        let receive = async move {
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        let _ = subscribed.try_send(());
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if let Some(up) = parse_up(&p.payload) {
                            progress.up_event(up.dev_eui, up.f_cnt, &up.data, up.at);
                        }
                    }
                    Ok(_) => {}
                    // The client reconnects on the next poll.
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        };
        std::thread::Builder::new()
            .name("sim-events".into())
            .spawn(move || {
                runtime.block_on(async {
                    tokio::select! {
                        _ = &mut stopped => {}
                        () = receive => {}
                    }
                });
            })
            .map_err(|e| failed(e.to_string()))?;
        client
            .subscribe(filter, QoS::AtMostOnce)
            .await
            .map_err(|e| failed(e.to_string()))?;
        tokio::time::timeout(Duration::from_secs(10), ready.recv())
            .await
            .map_err(|_| failed("no SUBACK within 10 s".into()))?;
        Ok(Self {
            client,
            _stop: stop,
        })
    }

    /// Unsubscribes and disconnects.
    pub async fn close(self) {
        let _ = self.client.disconnect().await;
    }
}

/// The DevEUI, frame counter and payload of an `up` event (ChirpStack's
/// JSON); `None` for anything else.
fn parse_up(payload: &[u8]) -> Option<Up> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Event<'a> {
        device_info: DeviceInfo<'a>,
        #[serde(default)]
        f_cnt: u32,
        #[serde(default, borrow)]
        data: Option<std::borrow::Cow<'a, str>>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct DeviceInfo<'a> {
        #[serde(borrow)]
        dev_eui: std::borrow::Cow<'a, str>,
    }
    let at = Instant::now();
    let event: Event<'_> = serde_json::from_slice(payload).ok()?;
    let dev_eui = event.device_info.dev_eui.parse().ok()?;
    let data = match event.data {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .ok()?,
        None => Vec::new(),
    };
    Some(Up {
        dev_eui,
        f_cnt: event.f_cnt,
        data,
        at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_events_are_read_from_chirpstack_json() {
        let json = br#"{"deviceInfo":{"devEui":"0102030405060708"},"fCnt":7,"data":"AAAABw=="}"#;
        let up = parse_up(json).unwrap();
        assert_eq!(up.dev_eui, Eui64::from_u64(0x0102_0304_0506_0708));
        assert_eq!((up.f_cnt, &up.data[..]), (7, &[0, 0, 0, 7][..]));
        // fCnt 0 is omitted in proto3 JSON.
        let up = parse_up(br#"{"deviceInfo":{"devEui":"0000000000000001"}}"#).unwrap();
        assert_eq!(up.f_cnt, 0);
        assert!(up.data.is_empty());
        assert!(parse_up(b"not json").is_none());
        assert!(parse_up(br#"{"fCnt":1}"#).is_none());
        assert!(parse_up(br#"{"deviceInfo":{"devEui":"01"}}"#).is_none());
    }
}
