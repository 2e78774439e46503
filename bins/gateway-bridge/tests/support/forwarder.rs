//! A fake Semtech UDP packet forwarder for the integration tests.
//!
//! Needs `bridge.rs` beside it in the test crate.
// Each test file uses a part of it.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

use serde_json::{Value, json};
use tokio::net::UdpSocket;
use tokio::time::timeout;

use crate::bridge::{GATEWAY_EUI, WAIT};

/// A Semtech UDP packet forwarder with the EUI [`GATEWAY_EUI`]: PUSH_DATA
/// from one socket, PULL_DATA (and so PULL_RESP and TX_ACK) on another, as
/// the reference forwarder does.
pub struct Forwarder {
    push: UdpSocket,
    pull: UdpSocket,
    bridge: SocketAddr,
}

impl Forwarder {
    /// Two sockets on loopback, talking to the bridge at `bridge`.
    pub async fn new(bridge: SocketAddr) -> Self {
        Self {
            push: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            pull: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            bridge,
        }
    }

    fn datagram(token: u16, identifier: u8, json: Option<&Value>) -> Vec<u8> {
        let mut d = vec![2];
        d.extend_from_slice(&token.to_be_bytes());
        d.push(identifier);
        d.extend_from_slice(&GATEWAY_EUI);
        if let Some(json) = json {
            d.extend_from_slice(json.to_string().as_bytes());
        }
        d
    }

    async fn recv(socket: &UdpSocket, what: &str) -> Vec<u8> {
        let mut buf = vec![0; 65_536];
        let (len, _) = timeout(WAIT, socket.recv_from(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no {what} within {WAIT:?}"))
            .unwrap();
        buf.truncate(len);
        buf
    }

    /// PULL_DATA, and its PULL_ACK.
    pub async fn pull_data(&self, token: u16) {
        self.pull_raw(&Self::datagram(token, 2, None)).await;
        let ack = Self::recv(&self.pull, "PULL_ACK").await;
        let [hi, lo] = token.to_be_bytes();
        assert_eq!(ack, [2, hi, lo, 4], "PULL_ACK");
    }

    /// PUSH_DATA with `json`, and its PUSH_ACK.
    pub async fn push_data(&self, token: u16, json: &Value) {
        self.push_raw(&Self::datagram(token, 0, Some(json))).await;
        let ack = Self::recv(&self.push, "PUSH_ACK").await;
        let [hi, lo] = token.to_be_bytes();
        assert_eq!(ack, [2, hi, lo, 1], "PUSH_ACK");
    }

    /// The next PULL_RESP on the pull socket: its token and `txpk`.
    pub async fn pull_resp(&self) -> (u16, Value) {
        let d = Self::recv(&self.pull, "PULL_RESP").await;
        assert!(
            d.len() > 4 && d[0] == 2 && d[3] == 3,
            "not a PULL_RESP: {d:?}"
        );
        let json: Value = serde_json::from_slice(&d[4..]).expect("PULL_RESP JSON");
        (u16::from_be_bytes([d[1], d[2]]), json["txpk"].clone())
    }

    /// TX_ACK for `token`, with `error` (`TOO_LATE`, say) or without; the
    /// bridge answers nothing.
    pub async fn tx_ack(&self, token: u16, error: Option<&str>) {
        let json = error.map(|e| json!({"txpk_ack": {"error": e}}));
        self.pull_raw(&Self::datagram(token, 5, json.as_ref()))
            .await;
    }

    /// `datagram` as it is, from the PUSH_DATA socket.
    pub async fn push_raw(&self, datagram: &[u8]) {
        self.push.send_to(datagram, self.bridge).await.unwrap();
    }

    /// `datagram` as it is, from the PULL_DATA socket.
    pub async fn pull_raw(&self, datagram: &[u8]) {
        self.pull.send_to(datagram, self.bridge).await.unwrap();
    }
}
