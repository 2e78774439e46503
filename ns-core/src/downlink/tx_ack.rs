//! The gateway's answer to a downlink (`gw.DownlinkTxAck`): what to advance,
//! delete, mark pending and publish, or what to log.

use std::time::{Duration, SystemTime};

use lorawan::Eui64;
use packet_forwarder::gw;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Window;
use crate::model::{DeviceSession, QueueItem};

/// The downlink frame counter a frame was sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FCntDownCounter {
    /// NFCntDown (`n_f_cnt_down`): every downlink of LoRaWAN 1.0, and the
    /// 1.1 downlinks without application data (FPort 0 or none).
    Network,
    /// AFCntDown (`a_f_cnt_down`): LoRaWAN 1.1 downlinks on FPort 1 and up.
    Application,
}

/// The queue item a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SentQueueItem {
    /// Its id.
    pub id: Uuid,
    /// Whether it is a confirmed downlink.
    pub confirmed: bool,
    /// Its FPort.
    pub f_port: u8,
}

/// One alternative of a planned downlink, as sent to the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedItem {
    /// The receive window it is for.
    pub window: Window,
    /// The counter its FCnt comes from.
    pub counter: FCntDownCounter,
    /// Its full FCntDown.
    pub f_cnt_down: u32,
    /// Its FPort: none (ACK, FOpts only), 0 (MAC commands in FRMPayload) or
    /// the queue item's.
    pub f_port: Option<u8>,
    /// The queue item it carries, if any.
    pub queue_item: Option<SentQueueItem>,
    /// How many bytes of the MAC commands it carries (in FOpts or on
    /// FPort 0): a window with a small payload limit may carry fewer.
    pub mac_commands_len: usize,
    /// FCtrl.FPending: more downlink data waits.
    pub f_pending: bool,
    /// The transmission parameters.
    pub tx_info: gw::DownlinkTxInfo,
}

/// What the gateway's TX ack of a downlink needs: the driver keeps it under
/// the downlink id until the ack arrives (ChirpStack's `frame:<id>` key),
/// serialized if need be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TxAckContext {
    /// The `downlink_id` of the frame.
    pub downlink_id: u32,
    /// The device.
    pub dev_eui: Eui64,
    /// The gateway the frame went to.
    pub gateway_id: String,
    /// How long a confirmed item waits for its ACK once sent; `None`: until
    /// the next uplink (class A and B).
    pub pending_timeout: Option<Duration>,
    /// The alternatives, in the frame's order.
    pub items: Vec<PlannedItem>,
}

/// Why a TX ack cannot be matched with its downlink: the gateway's fault or
/// a stale context; nothing is to be changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TxAckError {
    /// The ack names another downlink.
    #[error("TX ack for downlink {received}, expected {expected}")]
    DownlinkIdMismatch {
        /// The context's downlink id.
        expected: u32,
        /// The ack's.
        received: u32,
    },
    /// The ack has no item status.
    #[error("TX ack of downlink {0} has no items")]
    NoItems(u32),
    /// The ack has more statuses than the downlink had items.
    #[error("TX ack has {acked} items, the downlink had {sent}")]
    TooManyItems {
        /// Items sent.
        sent: usize,
        /// Statuses received.
        acked: usize,
    },
}

/// What a TX ack means.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TxAckOutcome {
    /// The gateway accepted one of the alternatives.
    Transmitted(Box<Transmitted>),
    /// The gateway sent none of them: a `log` event, nothing advanced.
    Failed(TxFailure),
}

/// An accepted downlink: the counter to advance, the queue change, the
/// `txack` event.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Transmitted {
    /// The index of the accepted alternative.
    pub item_index: usize,
    /// Its window.
    pub window: Window,
    /// The counter it used …
    pub counter: FCntDownCounter,
    /// … and its value: the session's counter becomes this + 1.
    pub f_cnt_down: u32,
    /// A confirmed item sent: the session's `conf_f_cnt` becomes its
    /// FCntDown, for the 1.1 MIC of the device's acknowledgement.
    pub conf_f_cnt: Option<u32>,
    /// What happens to the queue item it carried.
    pub queue: Option<QueueUpdate>,
    /// The `txack` event, when it carried a queue item (ChirpStack sends
    /// none for ACK-only and MAC-only downlinks).
    pub event: Option<TxAckEvent>,
}

impl Transmitted {
    /// Applies the counters to the session: the counter used moves past
    /// this frame (never backwards, should the session have moved on), and
    /// `conf_f_cnt` is set for a confirmed item.
    pub fn apply(&self, session: &mut DeviceSession) {
        let next = self.f_cnt_down.saturating_add(1);
        let counter = match self.counter {
            FCntDownCounter::Network => &mut session.n_f_cnt_down,
            FCntDownCounter::Application => &mut session.a_f_cnt_down,
        };
        *counter = (*counter).max(next);
        if let Some(conf_f_cnt) = self.conf_f_cnt {
            session.conf_f_cnt = conf_f_cnt;
        }
    }
}

/// A change to the device queue after a transmission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueUpdate {
    /// An unconfirmed item was sent: delete it.
    Delete {
        /// The item.
        id: Uuid,
    },
    /// A confirmed item was sent: it waits for the device's ACK.
    SetPending {
        /// The item.
        id: Uuid,
        /// The FCntDown it was sent with.
        f_cnt_down: u32,
        /// When it stops waiting (class C); `None`: the next uplink
        /// decides (class A).
        timeout_after: Option<SystemTime>,
    },
}

impl QueueUpdate {
    /// Applies the change to a queue held in memory.
    pub fn apply(&self, queue: &mut Vec<QueueItem>) {
        match *self {
            Self::Delete { id } => queue.retain(|q| q.id != id),
            Self::SetPending {
                id,
                f_cnt_down,
                timeout_after,
            } => {
                for q in queue.iter_mut().filter(|q| q.id == id) {
                    q.is_pending = true;
                    q.f_cnt_down = Some(f_cnt_down);
                    q.timeout_after = timeout_after;
                }
            }
        }
    }
}

/// The data of the `txack` integration event.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TxAckEvent {
    /// The downlink id.
    pub downlink_id: u32,
    /// The device.
    pub dev_eui: Eui64,
    /// The queue item sent.
    pub queue_item_id: Uuid,
    /// Its FCntDown.
    pub f_cnt_down: u32,
    /// The gateway that sent it.
    pub gateway_id: String,
    /// How it was sent.
    pub tx_info: gw::DownlinkTxInfo,
}

/// A downlink no alternative of which was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TxFailure {
    /// The status reported: the last item's (a `gw.TxAckStatus` value).
    pub status: i32,
    /// Every item's status, in order.
    pub statuses: Vec<i32>,
}

impl TxFailure {
    /// The `LogCode` of the `log` event.
    pub const LOG_CODE: &'static str = "DOWNLINK_GATEWAY";

    /// The status, if it is one `gw.TxAckStatus` names.
    pub fn status(&self) -> Option<gw::TxAckStatus> {
        gw::TxAckStatus::try_from(self.status).ok()
    }

    /// The `LogCode` of the `log` event: `DOWNLINK_GATEWAY`.
    pub const fn log_code(&self) -> &'static str {
        Self::LOG_CODE
    }

    /// The event's description: the status name (`TOO_LATE`), as
    /// ChirpStack writes it.
    pub fn description(&self) -> String {
        match self.status() {
            Some(s) => s.as_str_name().to_string(),
            None => format!("UNKNOWN_STATUS_{}", self.status),
        }
    }
}

/// Interprets the gateway's TX ack of the downlink of `context`.
///
/// The first alternative with status `OK` was sent: its counter advances,
/// its queue item is deleted (unconfirmed) or marked pending with
/// `timeout_after` = `now` + the context's timeout (confirmed), and a
/// `txack` event is due. Without an `OK`, nothing was sent and nothing
/// advances: a `log` event with code `DOWNLINK_GATEWAY` and the last
/// status. Statuses may be fewer than items (a gateway that acks only what
/// it tried).
///
/// # Errors
///
/// [`TxAckError`] when the ack does not fit the context.
pub fn handle_tx_ack(
    now: SystemTime,
    context: &TxAckContext,
    ack: &gw::DownlinkTxAck,
) -> Result<TxAckOutcome, TxAckError> {
    if ack.downlink_id != context.downlink_id {
        return Err(TxAckError::DownlinkIdMismatch {
            expected: context.downlink_id,
            received: ack.downlink_id,
        });
    }
    if ack.items.len() > context.items.len() {
        return Err(TxAckError::TooManyItems {
            sent: context.items.len(),
            acked: ack.items.len(),
        });
    }
    let ok = gw::TxAckStatus::Ok as i32;
    let sent = ack
        .items
        .iter()
        .position(|i| i.status == ok)
        .and_then(|at| Some((at, context.items.get(at)?)));
    let Some((item_index, item)) = sent else {
        let statuses: Vec<i32> = ack.items.iter().map(|i| i.status).collect();
        let status = *statuses
            .last()
            .ok_or(TxAckError::NoItems(context.downlink_id))?;
        return Ok(TxAckOutcome::Failed(TxFailure { status, statuses }));
    };
    let f_cnt_down = item.f_cnt_down;
    let queue = item.queue_item.map(|q| {
        if q.confirmed {
            QueueUpdate::SetPending {
                id: q.id,
                f_cnt_down,
                timeout_after: context.pending_timeout.and_then(|t| now.checked_add(t)),
            }
        } else {
            QueueUpdate::Delete { id: q.id }
        }
    });
    Ok(TxAckOutcome::Transmitted(Box::new(Transmitted {
        item_index,
        window: item.window,
        counter: item.counter,
        f_cnt_down,
        conf_f_cnt: item.queue_item.filter(|q| q.confirmed).map(|_| f_cnt_down),
        queue,
        event: item.queue_item.map(|q| TxAckEvent {
            downlink_id: context.downlink_id,
            dev_eui: context.dev_eui,
            queue_item_id: q.id,
            f_cnt_down,
            gateway_id: context.gateway_id.clone(),
            tx_info: item.tx_info.clone(),
        }),
    })))
}
