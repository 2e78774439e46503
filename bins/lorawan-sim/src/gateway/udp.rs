//! A gateway speaking Semtech UDP (protocol version 2): PULL_DATA
//! keep-alives, each frame heard as a PUSH_DATA `rxpk` stamped with its
//! concentrator counter, PULL_RESP downlinks acknowledged with TX_ACK and
//! transmitted at their `tmst` (or at once, `imme`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lorawan::Eui64;
use packet_forwarder::semtech_udp::{
    Packet, ProtocolVersion, PullData, PushData, PushDataPayload, TxAck, TxAckError, TxAckPayload,
    TxpkAck,
};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Concentrator, GatewayCounters, Heard};
use crate::sim::SimError;

/// Opens the gateway's socket towards `server` and starts its task.
pub(crate) async fn start(
    gateway_id: Eui64,
    concentrator: Concentrator,
    heard: mpsc::UnboundedReceiver<Heard>,
    server: SocketAddr,
    keepalive: Duration,
    counters: Arc<GatewayCounters>,
) -> Result<JoinHandle<()>, SimError> {
    let failed = |source: std::io::Error| SimError::Connect {
        gateway_id,
        reason: format!("UDP socket to {server}: {source}"),
    };
    let bind = if server.is_ipv4() {
        "127.0.0.1:0"
    } else {
        "[::1]:0"
    };
    let socket = UdpSocket::bind(bind).await.map_err(failed)?;
    socket.connect(server).await.map_err(failed)?;
    let gateway = UdpGateway {
        gateway_id,
        socket,
        concentrator,
        token: 0,
        counters,
    };
    Ok(tokio::spawn(gateway.run(heard, keepalive)))
}

struct UdpGateway {
    gateway_id: Eui64,
    socket: UdpSocket,
    concentrator: Concentrator,
    token: u16,
    counters: Arc<GatewayCounters>,
}

impl UdpGateway {
    fn next_token(&mut self) -> u16 {
        self.token = self.token.wrapping_add(1);
        self.token
    }

    async fn run(mut self, mut heard: mpsc::UnboundedReceiver<Heard>, keepalive: Duration) {
        let mut keepalive = tokio::time::interval(keepalive.max(Duration::from_millis(10)));
        let mut buf = vec![0u8; 65_535];
        loop {
            tokio::select! {
                _ = keepalive.tick() => {
                    let pull = PullData {
                        version: ProtocolVersion::V2,
                        token: self.next_token(),
                        gateway_eui: self.gateway_id,
                    };
                    let _ = self.socket.send(&pull.to_vec()).await;
                }
                frame = heard.recv() => {
                    let Some(frame) = frame else { return };
                    self.push_data(&frame).await;
                }
                received = self.socket.recv(&mut buf) => match received {
                    Ok(n) => self.handle(&buf[..n]).await,
                    // The server is not there (yet): ICMP unreachable.
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        }
    }

    async fn push_data(&mut self, frame: &Heard) {
        let Some(rxpk) = frame.rxpk(self.concentrator.tmst(frame.at)) else {
            GatewayCounters::bump(&self.counters.forward_errors);
            return;
        };
        let push = PushData {
            version: ProtocolVersion::V2,
            token: self.next_token(),
            gateway_eui: self.gateway_id,
            payload: PushDataPayload {
                rxpk: vec![rxpk],
                stat: None,
            },
        };
        if self.socket.send(&push.to_vec()).await.is_err() {
            GatewayCounters::bump(&self.counters.forward_errors);
        }
    }

    async fn handle(&mut self, datagram: &[u8]) {
        let Ok(packet) = Packet::parse(datagram) else {
            return;
        };
        match packet {
            Packet::PushAck(_) => GatewayCounters::bump(&self.counters.push_acks),
            Packet::PullResp(resp) => {
                let error = match self.concentrator.transmit_txpk(&resp.payload.txpk) {
                    Ok(()) => TxAckError::None,
                    Err(error) => error,
                };
                let ack = TxAck {
                    version: ProtocolVersion::V2,
                    token: resp.token,
                    gateway_eui: self.gateway_id,
                    payload: Some(TxAckPayload {
                        txpk_ack: TxpkAck {
                            error: Some(error),
                            ..Default::default()
                        },
                    }),
                };
                let _ = self.socket.send(&ack.to_vec()).await;
            }
            _ => {}
        }
    }
}
