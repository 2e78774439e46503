//! The server's counters, kept as plain integers so a metrics exporter can
//! read them without the server knowing about any metrics library.

use super::super::{Error, Identifier};
use super::{DatagramError, TxStatus};

/// One counter per GWMP packet type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PerIdentifier {
    /// PUSH_DATA.
    pub push_data: u64,
    /// PUSH_ACK.
    pub push_ack: u64,
    /// PULL_DATA.
    pub pull_data: u64,
    /// PULL_RESP.
    pub pull_resp: u64,
    /// PULL_ACK.
    pub pull_ack: u64,
    /// TX_ACK.
    pub tx_ack: u64,
}

impl PerIdentifier {
    /// The counter of one packet type.
    pub const fn get(&self, identifier: Identifier) -> u64 {
        match identifier {
            Identifier::PushData => self.push_data,
            Identifier::PushAck => self.push_ack,
            Identifier::PullData => self.pull_data,
            Identifier::PullResp => self.pull_resp,
            Identifier::PullAck => self.pull_ack,
            Identifier::TxAck => self.tx_ack,
        }
    }

    /// The sum over all packet types.
    pub const fn total(&self) -> u64 {
        self.push_data
            + self.push_ack
            + self.pull_data
            + self.pull_resp
            + self.pull_ack
            + self.tx_ack
    }

    pub(super) fn add(&mut self, identifier: Identifier) {
        let c = match identifier {
            Identifier::PushData => &mut self.push_data,
            Identifier::PushAck => &mut self.push_ack,
            Identifier::PullData => &mut self.pull_data,
            Identifier::PullResp => &mut self.pull_resp,
            Identifier::PullAck => &mut self.pull_ack,
            Identifier::TxAck => &mut self.tx_ack,
        };
        *c += 1;
    }
}

/// Rejected datagrams, by kind (the label [`DatagramError::kind`] gives).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ErrorCounters {
    /// Shorter than the header or the header and gateway EUI.
    pub truncated: u64,
    /// Version byte neither 1 nor 2.
    pub unknown_version: u64,
    /// Identifier byte names no packet type.
    pub unknown_identifier: u64,
    /// A fixed-size packet with bytes after it.
    pub trailing_bytes: u64,
    /// JSON body not valid for its packet type.
    pub json: u64,
    /// A codec error of a kind added after this struct was written.
    pub other: u64,
    /// A packet type a server never receives (PUSH_ACK, PULL_RESP, PULL_ACK).
    pub unexpected_identifier: u64,
    /// A TX_ACK that matches no pending downlink (unknown gateway or token).
    pub unmatched_tx_ack: u64,
    /// A datagram from a new gateway beyond `Config::max_gateways`.
    pub too_many_gateways: u64,
}

impl ErrorCounters {
    /// The sum over all kinds.
    pub const fn total(&self) -> u64 {
        self.truncated
            + self.unknown_version
            + self.unknown_identifier
            + self.trailing_bytes
            + self.json
            + self.other
            + self.unexpected_identifier
            + self.unmatched_tx_ack
            + self.too_many_gateways
    }

    pub(super) fn add(&mut self, error: &DatagramError) {
        let c = match error {
            DatagramError::Malformed(e) => match e {
                Error::Truncated { .. } => &mut self.truncated,
                Error::UnknownVersion(_) => &mut self.unknown_version,
                Error::UnknownIdentifier(_) => &mut self.unknown_identifier,
                Error::TrailingBytes { .. } => &mut self.trailing_bytes,
                Error::Json { .. } => &mut self.json,
                _ => &mut self.other,
            },
            DatagramError::UnexpectedIdentifier(_) => &mut self.unexpected_identifier,
            DatagramError::UnmatchedTxAck { .. } => &mut self.unmatched_tx_ack,
            DatagramError::TooManyGateways { .. } => &mut self.too_many_gateways,
        };
        *c += 1;
    }
}

/// Outcomes of downlink items, one count per [`TxStatus`] reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DownlinkCounters {
    /// `send_downlink` calls.
    pub requested: u64,
    /// Items accepted by the gateway without a warning.
    pub accepted: u64,
    /// Items accepted with a warning (`TX_POWER`).
    pub accepted_with_warning: u64,
    /// Items the gateway rejected in its TX_ACK.
    pub rejected: u64,
    /// Items with no TX_ACK in time.
    pub timeout: u64,
    /// Items sent to version-1 gateways, which never acknowledge.
    pub unacknowledged: u64,
    /// Downlinks for a gateway with no downlink path.
    pub gateway_not_connected: u64,
    /// Downlinks refused because another one with the same token is pending.
    pub token_in_use: u64,
    /// `DownlinkAck` events emitted (one per `send_downlink` call).
    pub acks: u64,
}

impl DownlinkCounters {
    pub(super) fn add(&mut self, status: TxStatus) {
        let c = match status {
            TxStatus::Accepted => &mut self.accepted,
            TxStatus::AcceptedWithWarning { .. } => &mut self.accepted_with_warning,
            TxStatus::Rejected(_) => &mut self.rejected,
            TxStatus::Timeout => &mut self.timeout,
            TxStatus::Unacknowledged => &mut self.unacknowledged,
            TxStatus::GatewayNotConnected => &mut self.gateway_not_connected,
            TxStatus::TokenInUse => &mut self.token_in_use,
        };
        *c += 1;
    }
}

/// Everything the [`Server`](super::Server) counts since it was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Datagrams received whose header could be read, by type.
    pub datagrams_in: PerIdentifier,
    /// Datagrams queued for sending, by type.
    pub datagrams_out: PerIdentifier,
    /// Datagrams rejected, by kind.
    pub errors: ErrorCounters,
    /// `rxpk` entries handed out in `Uplink` events.
    pub rxpk: u64,
    /// `stat` objects handed out in `Stats` events.
    pub stat: u64,
    /// `GatewayConnected` events.
    pub gateways_connected: u64,
    /// `GatewayDisconnected` events.
    pub gateways_disconnected: u64,
    /// Downlink outcomes.
    pub downlinks: DownlinkCounters,
}
