//! Live logs for `InternalService.StreamDeviceEvents`: the running server's
//! device events, fanned out to whoever watches.
//!
//! [`LiveLog`] is a pipeline [`EventSink`]: each event becomes a `LogItem`
//! (its kind as description, its ChirpStack JSON as body) on a broadcast
//! channel. With no watcher, publishing costs one atomic load. A watcher
//! that falls behind skips what it missed rather than slowing the
//! pipeline.

use std::collections::BTreeMap;
use std::sync::Arc;

use lorawan::Eui64;
use tokio::sync::broadcast;

use super::proto as api;
use super::service::timestamp;
use crate::integration::{Encoding, Event};
use crate::pipeline::EventSink;

/// How many items a slow watcher may fall behind before it skips.
const CAPACITY: usize = 1024;

/// One live item, and the device it is about.
#[derive(Debug, Clone)]
pub struct LiveItem {
    /// The device.
    pub dev_eui: Eui64,
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
        let _ = self.tx.send(Arc::new(LiveItem { dev_eui, item }));
    }
}
