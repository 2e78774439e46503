//! Live logs for `InternalService`'s streams: the running server's device
//! events (`StreamDeviceEvents`) and frames (`StreamDeviceFrames`,
//! `StreamGatewayFrames`), fanned out to whoever watches.
//!
//! [`LiveLog`] is a pipeline [`EventSink`]: each event becomes a `LogItem`
//! (its kind as description, its ChirpStack JSON as body), each frame one
//! (its message type as description, the frame with its radio metadata as
//! JSON body, DevAddr/FCnt/gateway as properties), on a broadcast channel.
//! With no watcher, publishing costs one atomic load. A watcher that falls
//! behind skips what it missed rather than slowing the pipeline.

use std::collections::BTreeMap;
use std::sync::Arc;

use lorawan::Eui64;
use tokio::sync::broadcast;

use super::proto as api;
use super::service::timestamp;
use crate::integration::{Encoding, Event};
use crate::pipeline::{EventSink, FrameLog};

/// How many items a slow watcher may fall behind before it skips.
const CAPACITY: usize = 1024;

/// Which stream an item belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// A device's events.
    DeviceEvents(Eui64),
    /// A device's frames.
    DeviceFrames(Eui64),
    /// A gateway's frames.
    GatewayFrames(Eui64),
}

/// One live item, and the stream it belongs to.
#[derive(Debug, Clone)]
pub struct LiveItem {
    /// The stream.
    pub stream: Stream,
    /// The log item.
    pub item: api::LogItem,
}

/// The live log: a sink for device events, a source for watchers.
#[derive(Debug, Clone)]
pub struct LiveLog {
    tx: broadcast::Sender<Arc<LiveItem>>,
}

impl Default for LiveLog {
    fn default() -> Self {
        Self::new()
    }
}

impl LiveLog {
    /// A live log with no watchers.
    pub fn new() -> Self {
        Self {
            tx: broadcast::channel(CAPACITY).0,
        }
    }

    /// Watches every item from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveItem>> {
        self.tx.subscribe()
    }
}

impl EventSink for LiveLog {
    fn publish(&self, event: &Event) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let Some(dev_eui) = event
            .device_info()
            .and_then(|d| d.dev_eui.parse::<Eui64>().ok())
        else {
            return;
        };
        let body = String::from_utf8(event.encode(Encoding::Json)).unwrap_or_default();
        let mut properties = BTreeMap::new();
        if let Some(info) = event.device_info() {
            properties.insert("DevEUI".to_string(), info.dev_eui.clone());
        }
        let item = api::LogItem {
            id: uuid::Uuid::new_v4().to_string(),
            time: Some(timestamp(std::time::SystemTime::now())),
            description: event.kind().as_str().to_string(),
            body,
            properties,
        };
        // No watcher left: nothing to do.
        let _ = self.tx.send(Arc::new(LiveItem {
            stream: Stream::DeviceEvents(dev_eui),
            item,
        }));
    }

    fn frame(&self, frame: FrameLog<'_>) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let (phy, body, dev_eui, gateways) = match frame {
            FrameLog::Uplink { set, dev_eui } => {
                let body = serde_json::json!({
                    "phyPayload": base64(&set.phy_payload),
                    "txInfo": serde_json::to_value(&set.tx_info).unwrap_or_default(),
                    "rxInfo": set
                        .rx_infos
                        .iter()
                        .map(|r| serde_json::to_value(r).unwrap_or_default())
                        .collect::<Vec<_>>(),
                });
                let gateways = set
                    .rx_infos
                    .iter()
                    .filter_map(|r| r.gateway_id.parse::<Eui64>().ok())
                    .collect::<Vec<_>>();
                (set.phy_payload.as_slice(), body, dev_eui, gateways)
            }
            FrameLog::Downlink { frame, dev_eui } => {
                let phy = frame
                    .items
                    .first()
                    .map_or(&[][..], |i| i.phy_payload.as_slice());
                let body = serde_json::to_value(frame).unwrap_or_default();
                let gateways = frame.gateway_id.parse::<Eui64>().ok().into_iter().collect();
                (phy, body, dev_eui, gateways)
            }
        };
        let mut properties = frame_properties(phy);
        if let Some(eui) = dev_eui {
            properties.insert("DevEUI".to_string(), eui.to_string());
        }
        let item = api::LogItem {
            id: uuid::Uuid::new_v4().to_string(),
            time: Some(timestamp(std::time::SystemTime::now())),
            description: mtype_name(phy).to_string(),
            body: body.to_string(),
            properties,
        };
        // A device's frame is logged once the device is known; a gateway's
        // when it arrives (uplinks) or is sent (downlinks).
        let streams: Vec<Stream> = match (frame, dev_eui) {
            (FrameLog::Uplink { .. }, Some(eui)) => vec![Stream::DeviceFrames(eui)],
            (FrameLog::Uplink { .. }, None) => {
                gateways.into_iter().map(Stream::GatewayFrames).collect()
            }
            (_, dev_eui) => gateways
                .into_iter()
                .map(Stream::GatewayFrames)
                .chain(dev_eui.map(Stream::DeviceFrames))
                .collect(),
        };
        for stream in streams {
            let _ = self.tx.send(Arc::new(LiveItem {
                stream,
                item: item.clone(),
            }));
        }
    }
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The message type a PHYPayload's MHDR names, as ChirpStack writes it.
fn mtype_name(phy: &[u8]) -> &'static str {
    match phy.first().map(|b| b >> 5) {
        Some(0) => "JoinRequest",
        Some(1) => "JoinAccept",
        Some(2) => "UnconfirmedDataUp",
        Some(3) => "UnconfirmedDataDown",
        Some(4) => "ConfirmedDataUp",
        Some(5) => "ConfirmedDataDown",
        Some(6) => "RejoinRequest",
        Some(_) => "Proprietary",
        None => "",
    }
}

/// DevAddr and FCnt of a data frame (read from the header, unchecked).
fn frame_properties(phy: &[u8]) -> BTreeMap<String, String> {
    let mut p = BTreeMap::new();
    if matches!(phy.first().map(|b| b >> 5), Some(2..=5)) && phy.len() >= 8 {
        let addr = u32::from_le_bytes([phy[1], phy[2], phy[3], phy[4]]);
        p.insert("DevAddr".to_string(), format!("{addr:08x}"));
        let f_cnt = u16::from_le_bytes([phy[6], phy[7]]);
        p.insert("FCnt".to_string(), f_cnt.to_string());
    }
    p
}
