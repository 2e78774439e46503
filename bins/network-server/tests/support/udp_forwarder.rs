//! A Semtech UDP packet forwarder (protocol version 2): PULL_DATA
//! keep-alives, the device's frames as PUSH_DATA `rxpk`s stamped with the
//! concentrator counter (`tmst`, µs), PULL_RESP downlinks answered with
//! TX_ACK and put on air for the device's radio ([`super::radio`]) at
//! `txpk.tmst − rxpk.tmst` after the uplink.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use lorawan::Eui64;
use packet_forwarder::semtech_udp::{
    DataRate, Packet, ProtocolVersion, PullData, PushData, PushDataPayload, RxPk, TxAck,
    TxAckError, TxAckPayload, TxPk, TxpkAck,
};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::radio::{GatewaySide, OnAir, Transmission};

/// The concentrator counter's value when the forwarder starts (not zero,
/// so that a server mixing up absolute and relative times shows it).
const TMST_START: u32 = 0x4000_0000;
/// How often the forwarder sends PULL_DATA.
const KEEPALIVE: Duration = Duration::from_secs(1);

/// A PULL_RESP and the uplink it answers.
#[derive(Debug, Clone)]
pub struct PullRespSeen {
    /// The `tmst` of the last uplink before it.
    pub uplink_tmst: u32,
    pub txpk: TxPk,
}

/// What the forwarder saw, for the test to check.
#[derive(Debug, Default)]
pub struct UdpLog {
    pub push_acks: u32,
    pub pull_acks: u32,
    pub pull_resps: Vec<PullRespSeen>,
    pub problems: Vec<String>,
}

/// A running simulated forwarder.
pub struct UdpForwarder {
    pub gateway_eui: Eui64,
    pub log: Arc<Mutex<UdpLog>>,
    task: JoinHandle<()>,
}

impl Drop for UdpForwarder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl UdpForwarder {
    /// Starts forwarding between `side` and the server at `server`; returns
    /// once the server has acknowledged the first PULL_DATA (so it can
    /// reach the forwarder with downlinks).
    pub async fn start(server: SocketAddr, gateway_eui: Eui64, side: GatewaySide) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("UDP socket");
        socket.connect(server).await.expect("UDP connect");
        let log = Arc::new(Mutex::new(UdpLog::default()));
        let state = Forwarder {
            socket,
            gateway_eui,
            started: Instant::now(),
            token: 0,
            last_uplink: None,
            log: Arc::clone(&log),
        };
        let task = tokio::spawn(state.run(side));
        super::until("the PULL_ACK of the first PULL_DATA", || {
            let log = Arc::clone(&log);
            async move { log.lock().unwrap().pull_acks > 0 }
        })
        .await;
        Self {
            gateway_eui,
            log,
            task,
        }
    }
}

struct Forwarder {
    socket: UdpSocket,
    gateway_eui: Eui64,
    started: Instant,
    token: u16,
    /// The last uplink's `tmst` and when it ended.
    last_uplink: Option<(u32, Instant)>,
    log: Arc<Mutex<UdpLog>>,
}

impl Forwarder {
    fn tmst(&self, at: Instant) -> u32 {
        let micros = at.duration_since(self.started).as_micros();
        TMST_START.wrapping_add(micros as u32)
    }

    fn next_token(&mut self) -> u16 {
        self.token = self.token.wrapping_add(1);
        self.token
    }

    fn problem(&self, what: String) {
        self.log.lock().unwrap().problems.push(what);
    }

    async fn send(&self, datagram: &[u8]) {
        if let Err(e) = self.socket.send(datagram).await {
            self.problem(format!("UDP send: {e}"));
        }
    }

    async fn run(mut self, mut side: GatewaySide) {
        let mut keepalive = tokio::time::interval(KEEPALIVE);
        let mut buf = vec![0u8; 65_535];
        loop {
            tokio::select! {
                _ = keepalive.tick() => {
                    let pull = PullData {
                        version: ProtocolVersion::V2,
                        token: self.next_token(),
                        gateway_eui: self.gateway_eui,
                    };
                    self.send(&pull.to_vec()).await;
                }
                sent = side.uplinks.recv() => {
                    let Some(sent) = sent else { return };
                    self.push_data(&sent).await;
                }
                received = self.socket.recv(&mut buf) => {
                    match received {
                        Ok(n) => self.handle(&buf[..n], &side).await,
                        Err(e) => {
                            // The server is not there (yet): ICMP unreachable.
                            self.problem(format!("UDP receive: {e}"));
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            }
        }
    }

    async fn push_data(&mut self, sent: &Transmission) {
        let now = Instant::now();
        let tmst = self.tmst(now);
        let rxpk = serde_json::json!({
            "tmst": tmst,
            "chan": 0,
            "rfch": 0,
            "freq": f64::from(sent.frequency) / 1e6,
            "stat": 1,
            "modu": "LORA",
            "datr": DataRate::Lora {
                spreading_factor: u8::try_from(sent.spreading_factor).unwrap_or(12),
                bandwidth: sent.bandwidth,
            }
            .to_string(),
            "codr": format!("4/{}", sent.code_rate_denominator),
            "rssi": -60,
            "lsnr": 10.0,
            "size": sent.phy_payload.len(),
            "data": base64::engine::general_purpose::STANDARD.encode(&sent.phy_payload),
        });
        let rxpk: RxPk = serde_json::from_value(rxpk).expect("a valid rxpk");
        let push = PushData {
            version: ProtocolVersion::V2,
            token: self.next_token(),
            gateway_eui: self.gateway_eui,
            payload: PushDataPayload {
                rxpk: vec![rxpk],
                stat: None,
            },
        };
        self.last_uplink = Some((tmst, now));
        self.send(&push.to_vec()).await;
    }

    async fn handle(&mut self, datagram: &[u8], side: &GatewaySide) {
        let packet = match Packet::parse(datagram) {
            Ok(p) => p,
            Err(e) => return self.problem(format!("unparsable datagram: {e}")),
        };
        match packet {
            Packet::PushAck(_) => self.log.lock().unwrap().push_acks += 1,
            Packet::PullAck(_) => self.log.lock().unwrap().pull_acks += 1,
            Packet::PullResp(resp) => {
                let txpk = resp.payload.txpk;
                let Some((uplink_tmst, uplink_at)) = self.last_uplink else {
                    return self.problem("PULL_RESP before any uplink".into());
                };
                self.log.lock().unwrap().pull_resps.push(PullRespSeen {
                    uplink_tmst,
                    txpk: txpk.clone(),
                });
                let mut error = TxAckError::None;
                match on_air(&txpk, uplink_tmst) {
                    Some(air) if uplink_at + air.delay > Instant::now() => {
                        let _ = side.downlinks.send(air);
                    }
                    Some(_) => error = TxAckError::TooLate,
                    None => {
                        self.problem(format!("PULL_RESP not sendable: {txpk:?}"));
                        error = TxAckError::TxFreq;
                    }
                }
                let ack = TxAck {
                    version: ProtocolVersion::V2,
                    token: resp.token,
                    gateway_eui: self.gateway_eui,
                    payload: Some(TxAckPayload {
                        txpk_ack: TxpkAck {
                            error: Some(error),
                            ..Default::default()
                        },
                    }),
                };
                self.send(&ack.to_vec()).await;
            }
            other => self.problem(format!("unexpected from the server: {other:?}")),
        }
    }
}

/// A class A `txpk` (by `tmst`) as it goes on air.
fn on_air(txpk: &TxPk, uplink_tmst: u32) -> Option<OnAir> {
    let DataRate::Lora {
        spreading_factor,
        bandwidth,
    } = txpk.datr
    else {
        return None;
    };
    let delay = txpk.tmst?.wrapping_sub(uplink_tmst);
    Some(OnAir {
        phy_payload: txpk.data.clone(),
        frequency: (txpk.freq * 1e6).round() as u32,
        spreading_factor: u32::from(spreading_factor),
        bandwidth,
        delay: Duration::from_micros(u64::from(delay)),
    })
}
