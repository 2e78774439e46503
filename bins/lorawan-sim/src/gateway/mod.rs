//! The simulated gateways. Each hears frames on the shared air and
//! forwards them to the server in its protocol, and puts the server's
//! downlinks on the air at their time:
//!
//! - [`GatewayKind::SemtechUdp`]: Semtech's UDP packet-forwarder protocol
//!   (version 2), to the all-in-one server or a gateway bridge;
//! - [`GatewayKind::Mqtt`]: ChirpStack's `gw` messages (protobuf) on the
//!   gateway MQTT topics, as ChirpStack's MQTT forwarder publishes them,
//!   straight to a network server's gateway backend;
//! - [`GatewayKind::BasicsStation`]: LoRa Basics Station's LNS protocol
//!   over a websocket, to a gateway bridge's (or ChirpStack's) Basics
//!   Station listener.
//!
//! All keep a concentrator counter of their own (microseconds since the
//! gateway started, from `0x4000_0000`), so that a server mixing up
//! absolute and relative times shows it.

pub(crate) mod mqtt;
pub(crate) mod station;
pub(crate) mod udp;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lorawan::Eui64;
use lorawan::modulation::LoraCodingRate;
use packet_forwarder::semtech_udp::{
    CodingRate, CrcStatus, DataRate, RxModulation, RxPk, TxAckError, TxPk,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::radio::WINDOW_TOLERANCE;
use crate::sim::{Air, Settings, SimError, SimGateway};

/// The concentrator counter of a gateway when it starts (not zero).
pub(crate) const TMST_START: u32 = 0x4000_0000;

/// How a simulated gateway talks to the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum GatewayKind {
    /// Semtech UDP (protocol version 2) to `Settings::udp_server`.
    #[default]
    SemtechUdp,
    /// `gw` messages over MQTT to `Settings::gateway_mqtt`.
    Mqtt,
    /// Basics Station over a websocket to `Settings::station_server`.
    BasicsStation,
}

impl GatewayKind {
    /// The kind by its scenario name: `udp`, `mqtt` or `basics-station`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "udp" | "semtech-udp" => Some(Self::SemtechUdp),
            "mqtt" => Some(Self::Mqtt),
            "basics-station" | "station" => Some(Self::BasicsStation),
            _ => None,
        }
    }
}

/// The gateway MQTT broker a network server's gateway backend reads.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GatewayMqtt {
    /// Its host.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// The region's topic prefix (`eu868`): topics are
    /// `{topic_prefix}/gateway/{gateway_id}/...`.
    pub topic_prefix: String,
    /// `TCP_NODELAY` on the gateways' connections ([`new`](Self::new):
    /// off; a scenario's `gateway_mqtt_tcp_nodelay`: on unless set).
    pub tcp_nodelay: bool,
}

impl GatewayMqtt {
    /// The broker at `host:port`, topics under `topic_prefix`.
    pub fn new(host: impl Into<String>, port: u16, topic_prefix: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port,
            topic_prefix: topic_prefix.into(),
            tcp_nodelay: false,
        }
    }
}

/// A frame a gateway heard.
#[derive(Debug, Clone)]
pub(crate) struct Heard {
    pub(crate) phy_payload: Vec<u8>,
    pub(crate) frequency: u32,
    pub(crate) spreading_factor: u8,
    pub(crate) bandwidth: u32,
    pub(crate) rssi: i16,
    pub(crate) snr: f32,
    pub(crate) at: Instant,
}

impl Heard {
    /// The frame as a Semtech `rxpk` received at concentrator time `tmst`.
    pub(crate) fn rxpk(&self, tmst: u32) -> Option<RxPk> {
        Some(RxPk {
            time: None,
            tmms: None,
            tmst,
            ftime: None,
            freq: f64::from(self.frequency) / 1e6,
            chan: Some(0),
            rfch: Some(0),
            mid: None,
            stat: CrcStatus::Ok,
            modu: RxModulation::Lora,
            datr: self.data_rate(),
            codr: Some(CodingRate::Lora(LoraCodingRate::Cr4_5)),
            hpw: None,
            rssi: Some(i32::from(self.rssi)),
            rssis: None,
            lsnr: Some(f64::from(self.snr)),
            foff: None,
            size: u16::try_from(self.phy_payload.len()).ok()?,
            data: self.phy_payload.clone(),
            brd: None,
            ant: None,
            aesk: None,
            jver: None,
            rsig: Vec::new(),
            meta: None,
        })
    }

    /// Its LoRa data rate.
    pub(crate) fn data_rate(&self) -> DataRate {
        DataRate::Lora {
            spreading_factor: self.spreading_factor,
            bandwidth: self.bandwidth,
        }
    }
}

/// A gateway's concentrator: its counter, and its antenna on the air.
#[derive(Clone)]
pub(crate) struct Concentrator {
    air: Arc<Air>,
    index: usize,
    started: Instant,
}

impl Concentrator {
    pub(crate) fn new(air: Arc<Air>, index: usize) -> Self {
        Self {
            air,
            index,
            started: Instant::now(),
        }
    }

    /// The counter (µs, wrapping every 71.6 minutes) at `at`.
    pub(crate) fn tmst(&self, at: Instant) -> u32 {
        let micros = at.saturating_duration_since(self.started).as_micros();
        TMST_START.wrapping_add(micros as u32)
    }

    /// When the counter reads `tmst`, relative to `now`: up to 35 minutes
    /// ahead or behind.
    pub(crate) fn instant(&self, tmst: u32, now: Instant) -> Instant {
        let ahead = tmst.wrapping_sub(self.tmst(now)).cast_signed();
        let offset = Duration::from_micros(u64::from(ahead.unsigned_abs()));
        if ahead >= 0 {
            now + offset
        } else {
            now.checked_sub(offset).unwrap_or(now)
        }
    }

    /// Puts `phy_payload` on the air at `at` (LoRa `lora` = spreading
    /// factor and bandwidth), unless `at` has passed.
    pub(crate) fn transmit(
        &self,
        phy_payload: Vec<u8>,
        frequency: u32,
        lora: (u8, u32),
        at: Instant,
    ) -> Result<(), TxAckError> {
        if at + WINDOW_TOLERANCE < Instant::now() {
            return Err(TxAckError::TooLate);
        }
        let air = Arc::clone(&self.air);
        let index = self.index;
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            air.downlink(index, &phy_payload, frequency, lora, at);
        });
        Ok(())
    }

    /// Transmits a Semtech `txpk` as a packet forwarder would: at once
    /// (`imme`) or at its `tmst`; LoRa only, and no GPS time.
    pub(crate) fn transmit_txpk(&self, txpk: &TxPk) -> Result<(), TxAckError> {
        let now = Instant::now();
        let at = match (txpk.imme, txpk.tmst) {
            (true, _) => now,
            (false, Some(tmst)) => self.instant(tmst, now),
            // GPS time: these gateways have no GPS.
            (false, None) => return Err(TxAckError::GpsUnlocked),
        };
        let DataRate::Lora {
            spreading_factor,
            bandwidth,
        } = txpk.datr
        else {
            return Err(TxAckError::TxFreq);
        };
        let frequency = (txpk.freq * 1e6).round() as u32;
        self.transmit(
            txpk.data.clone(),
            frequency,
            (spreading_factor, bandwidth),
            at,
        )
    }
}

/// What the gateways count, across kinds.
#[derive(Debug, Default)]
pub(crate) struct GatewayCounters {
    /// Acknowledgements of uplinks (Semtech PUSH_ACK).
    pub(crate) push_acks: AtomicU64,
    /// Uplinks a gateway could not forward (MQTT queue full, websocket
    /// closed).
    pub(crate) forward_errors: AtomicU64,
}

impl GatewayCounters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Starts gateway `g`'s task, connected to its server.
pub(crate) async fn start(
    g: &SimGateway,
    concentrator: Concentrator,
    heard: mpsc::UnboundedReceiver<Heard>,
    settings: &Settings,
    counters: Arc<GatewayCounters>,
) -> Result<JoinHandle<()>, SimError> {
    match g.kind {
        GatewayKind::SemtechUdp => {
            udp::start(
                g.gateway_id,
                concentrator,
                heard,
                settings.udp_server,
                settings.keepalive,
                counters,
            )
            .await
        }
        GatewayKind::Mqtt => {
            let broker = settings
                .gateway_mqtt
                .as_ref()
                .ok_or_else(|| no_server(g.gateway_id, "gateway_mqtt"))?;
            mqtt::start(
                g.gateway_id,
                concentrator,
                heard,
                broker,
                settings.keepalive,
                counters,
            )
            .await
        }
        GatewayKind::BasicsStation => {
            if settings.station_server.is_empty() {
                return Err(no_server(g.gateway_id, "station_server"));
            }
            station::start(
                g.gateway_id,
                concentrator,
                heard,
                &settings.station_server,
                counters,
            )
            .await
        }
    }
}

fn no_server(gateway_id: Eui64, setting: &str) -> SimError {
    SimError::Connect {
        gateway_id,
        reason: format!("no server for its kind: {setting} is not set"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heard_frame_is_the_rxpk_a_packet_forwarder_sends() {
        let heard = Heard {
            phy_payload: vec![0x40, 1, 2, 3],
            frequency: 868_300_000,
            spreading_factor: 9,
            bandwidth: 125_000,
            rssi: -97,
            snr: -2.5,
            at: Instant::now(),
        };
        let rxpk = heard.rxpk(0x4000_0010).unwrap();
        let json = serde_json::to_value(&rxpk).unwrap();
        assert_eq!(json["tmst"], 0x4000_0010);
        assert_eq!(json["freq"], 868.3);
        assert_eq!(json["datr"], "SF9BW125");
        assert_eq!(
            (&json["modu"], &json["codr"]),
            (&"LORA".into(), &"4/5".into())
        );
        assert_eq!(
            (&json["stat"], &json["rssi"], &json["lsnr"]),
            (&1.into(), &(-97).into(), &(-2.5).into())
        );
        assert_eq!(
            (&json["size"], &json["data"]),
            (&4.into(), &"QAECAw==".into())
        );
        let back: RxPk = serde_json::from_value(json).unwrap();
        assert_eq!(back, rxpk);
    }
}
