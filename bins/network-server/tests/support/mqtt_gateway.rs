//! A gateway as a ChirpStack MQTT gateway bridge presents it: uplinks as
//! protobuf `gw.UplinkFrame`s on `{prefix}/gateway/{id}/event/up`,
//! downlinks from `{prefix}/gateway/{id}/command/down`, answered with a
//! `gw.DownlinkTxAck` on `…/event/ack`.
//!
//! Like a real concentrator, it sends the first item of a `DownlinkFrame`
//! still in the future (RX1, else RX2) and tells the device's radio
//! ([`super::radio`]) what went on air and when.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use packet_forwarder::gw::{self, Encoding};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::mqtt::MqttPeer;
use super::radio::{GatewaySide, OnAir, Transmission};

/// What the gateway saw, for the test to check.
#[derive(Debug, Default)]
pub struct Log {
    /// Every `DownlinkFrame` received.
    pub downlinks: Vec<gw::DownlinkFrame>,
    /// Protocol faults: undecodable commands, a context that is not the
    /// uplink's.
    pub problems: Vec<String>,
}

/// A running simulated MQTT gateway.
pub struct MqttGateway {
    pub gateway_id: String,
    topic_prefix: String,
    stats_client: rumqttc::v5::AsyncClient,
    pub log: Arc<Mutex<Log>>,
    task: JoinHandle<()>,
}

impl Drop for MqttGateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lora(frequency: u32, spreading_factor: u32, bandwidth: u32, cr: u32) -> gw::UplinkTxInfo {
    let code_rate = match cr {
        6 => gw::CodeRate::Cr46,
        7 => gw::CodeRate::Cr47,
        8 => gw::CodeRate::Cr48,
        _ => gw::CodeRate::Cr45,
    };
    gw::UplinkTxInfo {
        frequency,
        modulation: Some(gw::Modulation {
            parameters: Some(gw::modulation::Parameters::Lora(gw::LoraModulationInfo {
                bandwidth,
                spreading_factor,
                code_rate: code_rate.into(),
                ..Default::default()
            })),
        }),
    }
}

/// The delay of a `Delay`-timed item (class A), if it is one.
pub fn item_delay(item: &gw::DownlinkFrameItem) -> Option<Duration> {
    let timing = item.tx_info.as_ref()?.timing.as_ref()?;
    match timing.parameters.as_ref()? {
        gw::timing::Parameters::Delay(d) => {
            let d = d.delay.as_ref()?;
            Some(Duration::new(
                u64::try_from(d.seconds).ok()?,
                u32::try_from(d.nanos).ok()?,
            ))
        }
        _ => None,
    }
}

fn on_air(item: &gw::DownlinkFrameItem, delay: Duration) -> Option<OnAir> {
    let tx = item.tx_info.as_ref()?;
    let gw::modulation::Parameters::Lora(lora) = tx.modulation.as_ref()?.parameters.as_ref()?
    else {
        return None;
    };
    Some(OnAir {
        phy_payload: item.phy_payload.clone(),
        frequency: tx.frequency,
        spreading_factor: lora.spreading_factor,
        bandwidth: lora.bandwidth,
        delay,
    })
}

impl MqttGateway {
    /// Connects as gateway `gateway_id` under `topic_prefix` to the broker
    /// at `host:port` and relays between it and `side`.
    pub async fn start(
        host: &str,
        port: u16,
        topic_prefix: &str,
        gateway_id: &str,
        side: GatewaySide,
    ) -> Self {
        let base = format!("{topic_prefix}/gateway/{gateway_id}");
        let peer = MqttPeer::connect(host, port, &[&format!("{base}/command/+")]).await;
        let client = peer.client.clone();
        let log = Arc::new(Mutex::new(Log::default()));
        let task = tokio::spawn(relay(
            peer,
            base,
            gateway_id.to_owned(),
            side,
            Arc::clone(&log),
        ));
        Self {
            gateway_id: gateway_id.to_owned(),
            topic_prefix: topic_prefix.to_owned(),
            stats_client: client,
            log,
            task,
        }
    }

    /// Publishes a `gw.GatewayStats` (the network server notes the
    /// gateway's last-seen time).
    pub async fn publish_stats(&self) {
        let stats = gw::GatewayStats {
            gateway_id: self.gateway_id.clone(),
            ..Default::default()
        };
        let topic = format!(
            "{}/gateway/{}/event/stats",
            self.topic_prefix, self.gateway_id
        );
        super::within(
            "PUBLISH stats",
            self.stats_client.publish(
                topic,
                rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
                false,
                gw::encode(&stats, Encoding::Protobuf),
            ),
        )
        .await
        .expect("publish stats");
    }
}

async fn relay(
    mut peer: MqttPeer,
    base: String,
    gateway_id: String,
    mut side: GatewaySide,
    log: Arc<Mutex<Log>>,
) {
    let mut uplink_id = 0u32;
    // When the last uplink ended and the context it was reported with.
    let mut last_uplink: Option<(Instant, Vec<u8>)> = None;
    loop {
        tokio::select! {
            sent = side.uplinks.recv() => {
                let Some(Transmission { phy_payload, frequency, spreading_factor, bandwidth, code_rate_denominator }) = sent else {
                    return;
                };
                uplink_id = uplink_id.wrapping_add(1);
                let context = uplink_id.to_be_bytes().to_vec();
                let frame = gw::UplinkFrame {
                    phy_payload,
                    tx_info: Some(lora(frequency, spreading_factor, bandwidth, code_rate_denominator)),
                    rx_info: Some(gw::UplinkRxInfo {
                        gateway_id: gateway_id.clone(),
                        uplink_id,
                        rssi: -60,
                        snr: 10.0,
                        context: context.clone(),
                        crc_status: gw::CrcStatus::CrcOk.into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                last_uplink = Some((Instant::now(), context));
                peer.publish(&format!("{base}/event/up"), gw::encode(&frame, Encoding::Protobuf)).await;
            }
            message = peer.recv(Duration::from_secs(3600)) => {
                let Some(message) = message else { continue };
                if !message.topic.ends_with("/command/down") {
                    continue;
                }
                let frame: gw::DownlinkFrame = match gw::decode_detect(&message.payload) {
                    Ok(f) => f,
                    Err(e) => {
                        log.lock().unwrap().problems.push(format!("undecodable downlink: {e}"));
                        continue;
                    }
                };
                log.lock().unwrap().downlinks.push(frame.clone());
                let now = Instant::now();
                let mut statuses = Vec::with_capacity(frame.items.len());
                let mut sent = None;
                for item in &frame.items {
                    if sent.is_some() {
                        statuses.push(gw::TxAckStatus::Ignored);
                        continue;
                    }
                    let Some((at, context)) = &last_uplink else {
                        statuses.push(gw::TxAckStatus::TooLate);
                        continue;
                    };
                    let tx_context = item.tx_info.as_ref().map(|t| t.context.clone()).unwrap_or_default();
                    if &tx_context != context {
                        log.lock().unwrap().problems.push(format!(
                            "downlink {} has context {tx_context:02x?}, the last uplink's is {context:02x?}",
                            frame.downlink_id
                        ));
                    }
                    match item_delay(item).and_then(|d| on_air(item, d).map(|a| (d, a))) {
                        Some((delay, air)) if *at + delay > now => {
                            statuses.push(gw::TxAckStatus::Ok);
                            sent = Some(air);
                        }
                        _ => statuses.push(gw::TxAckStatus::TooLate),
                    }
                }
                let ack = gw::DownlinkTxAck {
                    gateway_id: gateway_id.clone(),
                    downlink_id: frame.downlink_id,
                    items: statuses
                        .into_iter()
                        .map(|s| gw::DownlinkTxAckItem { status: s.into() })
                        .collect(),
                    ..Default::default()
                };
                peer.publish(&format!("{base}/event/ack"), gw::encode(&ack, Encoding::Protobuf)).await;
                if let Some(air) = sent {
                    let _ = side.downlinks.send(air);
                }
            }
        }
    }
}
