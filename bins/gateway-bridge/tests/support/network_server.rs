//! A network server's side of MQTT for the integration tests: a client of a
//! broker on 127.0.0.1, subscribed to the test's topics, and the downlinks
//! it schedules.
//!
//! Needs `bridge.rs` beside it in the test crate.
// Each test file uses a part of it.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use packet_forwarder::gw;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use crate::bridge::WAIT;

/// The port of the Mosquitto that `scripts/ensure-services` runs on
/// 127.0.0.1 for every test to share.
pub const SYSTEM_BROKER_PORT: u16 = 1883;

/// A network server's view of a broker: an MQTT 3.1.1 client subscribed to
/// some filters, whatever version the bridge speaks.
pub struct NetworkServer {
    client: AsyncClient,
    messages: mpsc::UnboundedReceiver<rumqttc::Publish>,
    task: JoinHandle<()>,
}

impl NetworkServer {
    /// Connects to 127.0.0.1:`port` and subscribes to `filters` (QoS 1),
    /// returning once the broker acknowledged them all.
    pub async fn connect(port: u16, filters: &[String]) -> Self {
        let id = format!("gwb-ns-{:016x}", rand::random::<u64>());
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_keep_alive(Duration::from_secs(10));
        let (client, mut eventloop) = AsyncClient::new(options, 100);
        let (tx, messages) = mpsc::unbounded_channel();
        let (subacks_tx, mut subacks) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => drop(tx.send(p)),
                    Ok(Event::Incoming(Packet::SubAck(_))) => drop(subacks_tx.send(())),
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("network server's MQTT client: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
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
                    panic!(
                        "no SUBACK for {filter} within {WAIT:?}: \
                         is Mosquitto running on 127.0.0.1:{port}?"
                    )
                })
                .unwrap();
        }
        Self {
            client,
            messages,
            task,
        }
    }

    /// Connects to the shared Mosquitto on 127.0.0.1:[`SYSTEM_BROKER_PORT`].
    pub async fn connect_to_system_broker(filters: &[String]) -> Self {
        Self::connect(SYSTEM_BROKER_PORT, filters).await
    }

    /// The next message, on any topic.
    pub async fn next(&mut self) -> rumqttc::Publish {
        timeout(WAIT, self.messages.recv())
            .await
            .unwrap_or_else(|_| panic!("no MQTT message within {WAIT:?}"))
            .expect("network server's MQTT client ended")
    }

    /// The next message, which must be on `topic`.
    pub async fn expect(&mut self, topic: &str) -> rumqttc::Publish {
        let p = timeout(WAIT, self.messages.recv())
            .await
            .unwrap_or_else(|_| panic!("no MQTT message on {topic} within {WAIT:?}"))
            .expect("network server's MQTT client ended");
        assert_eq!(p.topic, topic, "unexpected MQTT message: {p:?}");
        p
    }

    /// Nothing arrives for `quiet`.
    pub async fn expect_silence(&mut self, quiet: Duration) {
        if let Ok(Some(p)) = timeout(quiet, self.messages.recv()).await {
            panic!("unexpected MQTT message on {}: {:?}", p.topic, p.payload);
        }
    }

    /// Publishes with QoS 1.
    pub async fn publish(&self, topic: &str, payload: Vec<u8>, retain: bool) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload)
            .await
            .unwrap();
    }
}

impl Drop for NetworkServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A downlink as a network server schedules it: LoRa at 125 kHz, CR 4/5,
/// inverted polarity, 14 dBm, `delay_s` seconds after the uplink whose
/// `context` the gateway gave.
pub fn downlink_item(
    frequency: u32,
    spreading_factor: u32,
    delay_s: i64,
    context: &[u8],
    phy_payload: &[u8],
) -> gw::DownlinkFrameItem {
    gw::DownlinkFrameItem {
        phy_payload: phy_payload.to_vec(),
        tx_info: Some(gw::DownlinkTxInfo {
            frequency,
            power: 14,
            modulation: Some(gw::Modulation {
                parameters: Some(gw::modulation::Parameters::Lora(gw::LoraModulationInfo {
                    bandwidth: 125_000,
                    spreading_factor,
                    code_rate: gw::CodeRate::Cr45.into(),
                    polarization_inversion: true,
                    ..Default::default()
                })),
            }),
            timing: Some(gw::Timing {
                parameters: Some(gw::timing::Parameters::Delay(gw::DelayTimingInfo {
                    delay: Some(gw::Duration {
                        seconds: delay_s,
                        nanos: 0,
                    }),
                })),
            }),
            context: context.to_vec(),
            ..Default::default()
        }),
        ..Default::default()
    }
}
