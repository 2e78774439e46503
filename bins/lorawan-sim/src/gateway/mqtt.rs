//! A gateway publishing ChirpStack's `gw` messages (protobuf) on the
//! gateway MQTT topics, as ChirpStack's MQTT forwarder does in front of a
//! packet forwarder: `{prefix}/gateway/{id}/event/up` for each frame heard
//! (the context is the concentrator counter, 4 bytes big-endian, as the
//! forwarder's Semtech backend sets it), `event/stats` at each keep-alive,
//! and `command/down` downlinks tried item by item, answered on
//! `event/ack`.

use std::sync::Arc;
use std::time::Duration;

use lorawan::Eui64;
use packet_forwarder::gw::{self, Encoding};
use packet_forwarder::semtech_udp::mapping::{self, UplinkContext};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Concentrator, GatewayCounters, GatewayMqtt, Heard};
use crate::sim::SimError;

/// Requests queued in the client before publishes are dropped (counted).
const QUEUE: usize = 100_000;

/// Connects the gateway to `broker`, subscribes to its downlinks and
/// starts its task.
pub(crate) async fn start(
    gateway_id: Eui64,
    concentrator: Concentrator,
    heard: mpsc::UnboundedReceiver<Heard>,
    broker: &GatewayMqtt,
    keepalive: Duration,
    counters: Arc<GatewayCounters>,
) -> Result<JoinHandle<()>, SimError> {
    let failed = |reason: String| SimError::Connect {
        gateway_id,
        reason: format!("MQTT {}:{}: {reason}", broker.host, broker.port),
    };
    let client_id = format!("lorawan-sim-{gateway_id}-{}", uuid::Uuid::new_v4().simple());
    let mut options = MqttOptions::new(client_id, broker.host.clone(), broker.port);
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_max_packet_size(Some(1 << 20))
        .set_request_channel_capacity(QUEUE);
    let mut network = options.network_options();
    network.set_tcp_nodelay(broker.tcp_nodelay);
    options.set_network_options(network);
    let (client, mut events) = AsyncClient::new(options, QUEUE);
    let prefix = broker.topic_prefix.trim_end_matches('/');
    let topic = |suffix: &str| format!("{prefix}/gateway/{gateway_id}/{suffix}");
    client
        .subscribe(topic("command/down"), QoS::AtMostOnce)
        .await
        .map_err(|e| failed(e.to_string()))?;
    // Downlinks only reach a subscribed gateway: wait for the SUBACK.
    let subscribed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    })
    .await
    .map_err(|_| failed("no SUBACK within 10 s".into()))?;
    subscribed.map_err(failed)?;
    let gateway = MqttGateway {
        gateway_id,
        client,
        concentrator,
        counters,
        up_topic: topic("event/up"),
        stats_topic: topic("event/stats"),
        ack_topic: topic("event/ack"),
    };
    Ok(tokio::spawn(gateway.run(events, heard, keepalive)))
}

struct MqttGateway {
    gateway_id: Eui64,
    client: AsyncClient,
    concentrator: Concentrator,
    counters: Arc<GatewayCounters>,
    up_topic: String,
    stats_topic: String,
    ack_topic: String,
}

impl MqttGateway {
    async fn run(
        self,
        mut events: EventLoop,
        mut heard: mpsc::UnboundedReceiver<Heard>,
        keepalive: Duration,
    ) {
        let mut keepalive = tokio::time::interval(keepalive.max(Duration::from_millis(10)));
        loop {
            tokio::select! {
                _ = keepalive.tick() => self.stats(),
                frame = heard.recv() => {
                    let Some(frame) = frame else { return };
                    self.uplink(&frame);
                }
                event = events.poll() => match event {
                    Ok(Event::Incoming(Packet::Publish(p))) => self.downlink(&p.payload),
                    Ok(_) => {}
                    // rumqttc reconnects on the next poll; the subscription
                    // is not clean-session bound, so ask again.
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                },
            }
        }
    }

    /// Queues a publish without waiting (the event loop runs in this same
    /// task): a full queue drops it, counted.
    fn publish(&self, topic: &str, payload: Vec<u8>) {
        if self
            .client
            .try_publish(topic, QoS::AtMostOnce, false, payload)
            .is_err()
        {
            GatewayCounters::bump(&self.counters.forward_errors);
        }
    }

    fn uplink(&self, frame: &Heard) {
        let context = UplinkContext::new(self.gateway_id);
        let frames = frame
            .rxpk(self.concentrator.tmst(frame.at))
            .and_then(|rxpk| {
                mapping::uplink_frames(&context, &rxpk, || uuid::Uuid::new_v4().as_u128() as u32)
                    .ok()
            });
        let Some(frames) = frames else {
            GatewayCounters::bump(&self.counters.forward_errors);
            return;
        };
        for up in frames {
            self.publish(&self.up_topic, gw::encode(&up, Encoding::Protobuf));
        }
    }

    fn stats(&self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let stats = gw::GatewayStats {
            gateway_id: self.gateway_id.to_string(),
            time: Some(gw::Timestamp {
                seconds: now.as_secs() as i64,
                nanos: now.subsec_nanos() as i32,
            }),
            ..Default::default()
        };
        self.publish(&self.stats_topic, gw::encode(&stats, Encoding::Protobuf));
    }

    /// A `DownlinkFrame`: its items tried in order until one can be
    /// transmitted, then the `DownlinkTxAck`.
    fn downlink(&self, payload: &[u8]) {
        let Ok(frame) = gw::decode_detect::<gw::DownlinkFrame>(payload) else {
            return;
        };
        let mut statuses = Vec::new();
        for item in &frame.items {
            let status = match mapping::txpk(item) {
                Ok(txpk) => match self.concentrator.transmit_txpk(&txpk) {
                    Ok(()) => gw::TxAckStatus::Ok,
                    Err(error) => mapping::tx_ack_error_status(error),
                },
                Err(_) => gw::TxAckStatus::InternalError,
            };
            statuses.push(status);
            if status == gw::TxAckStatus::Ok {
                break;
            }
        }
        let ack = mapping::downlink_tx_ack(&frame, &statuses);
        self.publish(&self.ack_topic, gw::encode(&ack, Encoding::Protobuf));
    }
}
