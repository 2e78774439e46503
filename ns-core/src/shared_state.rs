//! State shared by several network-server instances through Redis
//! (`[redis]`): the cross-instance de-duplication of uplinks and the
//! downlinks' TX-ack contexts.
//!
//! With one instance none of this is needed: the pipeline de-duplicates
//! in-process ([`crate::dedup`]) and keeps TX-ack contexts in memory. With
//! several instances behind one MQTT broker (shared subscriptions spread the
//! copies of one frame over them), each copy goes through Redis as
//! ChirpStack's does:
//!
//! - one `MULTI`/`EXEC` per copy: `SADD` the reception to the frame's
//!   collect set and `PEXPIRE` it, `SET` the frame's lock key `NX PX`, both
//!   living `max(2 × deduplication_delay, 200 ms)`
//!   ([`DedupConfig::lock_ttl`](crate::dedup::DedupConfig::lock_ttl));
//! - the copy that took the lock waits the de-duplication delay, reads the
//!   collect set (`SMEMBERS`) and makes one
//!   [`UplinkFrameSet`](crate::dedup::UplinkFrameSet) holding every
//!   instance's receptions; the other copies stop there;
//! - a downlink's TX-ack context is kept under `frame:<downlink_id>` so the
//!   instance that receives the gateway's ack can settle it (taken with an
//!   atomic `GET`+`DEL`, so only one does).
//!
//! The key of a frame is its region configuration, its encoded `tx_info`
//! and its PHYPayload, in a `{…}` hash tag so that the collect set and the
//! lock of one frame fall in one Redis Cluster slot; `key_prefix` comes
//! first. Collect-set members carry a version byte before the protobuf
//! `gw.UplinkRxInfo`, so a member written by another version of the server
//! is skipped and counted rather than misread.
//!
//! This module is the thin driver ([`SharedState`]) plus the plain functions
//! it is made of (keys, member encoding, merging), which are tested without
//! Redis. The pipeline decides what to do when Redis fails (see
//! [`crate::pipeline`]).
//!
//! ```no_run
//! use ns_core::config::Redis;
//! use ns_core::shared_state::SharedState;
//!
//! # async fn run() -> Result<(), ns_core::shared_state::SharedStateError> {
//! let mut config = Redis::default();
//! config.servers = vec!["redis://127.0.0.1/".into()];
//! let state = SharedState::open(&config)?.expect("a server is configured");
//! state.ping().await?;
//! # Ok(()) }
//! ```

use std::time::Duration;

use lorawan::phy::MAX_PHY_PAYLOAD_LEN;
use packet_forwarder::gw;
use prost::Message as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ExistenceCheck, SetExpiry, SetOptions};

use crate::config::Redis;
use crate::dedup::DropReason;

/// The version byte of a collect-set member.
const MEMBER_VERSION: u8 = 1;
/// How long one Redis command may take before it counts as failed: well
/// under RX1 (1 s), so that a hanging Redis still leaves time to answer
/// through the in-process fallback.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(300);
/// How long a (re)connection may take.
const CONNECTION_TIMEOUT: Duration = Duration::from_millis(500);
/// Reconnection attempts per failed connection; few, so that a Redis that
/// is down makes commands fail fast instead of queueing behind retries.
const CONNECTION_RETRIES: usize = 1;

/// Why shared state could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SharedStateError {
    /// The `[redis]` configuration cannot be used (the operator's fault).
    #[error("redis configuration: {0}")]
    Config(String),
    /// Redis refused or failed the command, or could not be reached.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// The Redis connection and key prefix the instances share; cheap to clone
/// (one multiplexed connection, reconnected on failure).
#[derive(Clone)]
pub struct SharedState {
    connection: ConnectionManager,
    key_prefix: String,
    server: String,
}

impl std::fmt::Debug for SharedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedState")
            .field("server", &self.server)
            .field("key_prefix", &self.key_prefix)
            .finish_non_exhaustive()
    }
}

/// The two keys of one frame in Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameKeys {
    /// The set collecting every instance's receptions.
    pub collect: String,
    /// The lock taken by the copy that builds the frame set.
    pub lock: String,
}

impl SharedState {
    /// The shared state `config` asks for: `None` without a server. The
    /// connection is made on first use, so a Redis that is down at start
    /// does not stop the server (its commands fail and are counted).
    ///
    /// # Errors
    /// [`SharedStateError::Config`] for `cluster = true` or several
    /// servers (not supported yet), [`SharedStateError::Redis`] for a URL
    /// that does not parse.
    pub fn open(config: &Redis) -> Result<Option<Self>, SharedStateError> {
        let server = match config.servers.as_slice() {
            [] => return Ok(None),
            [server] => server,
            _ => {
                return Err(SharedStateError::Config(
                    "several servers (a Redis Cluster) are not supported yet: give one".into(),
                ));
            }
        };
        if config.cluster {
            return Err(SharedStateError::Config(
                "cluster = true is not supported yet".into(),
            ));
        }
        let client = redis::Client::open(server.as_str())?;
        let manager_config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_connection_timeout(Some(CONNECTION_TIMEOUT))
            .set_number_of_retries(CONNECTION_RETRIES);
        let connection = ConnectionManager::new_lazy_with_config(client, manager_config)?;
        Ok(Some(Self {
            connection,
            key_prefix: config.key_prefix.clone(),
            server: redact(server),
        }))
    }

    /// The server's URL, without a password.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The prefix of every key.
    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// Checks that Redis answers.
    ///
    /// # Errors
    /// Redis is unreachable or failed.
    pub async fn ping(&self) -> Result<(), SharedStateError> {
        let mut c = self.connection.clone();
        redis::cmd("PING").query_async::<()>(&mut c).await?;
        Ok(())
    }

    /// The keys of a frame (see [`frame_keys`]).
    pub fn frame_keys(&self, region_config_id: &str, tx_info: &[u8], phy: &[u8]) -> FrameKeys {
        frame_keys(&self.key_prefix, region_config_id, tx_info, phy)
    }

    /// Adds one encoded reception to the frame's collect set and tries to
    /// take its lock, in one `MULTI`/`EXEC`; both keys live `ttl`.
    /// `true`: this copy took the lock and is to build the frame set.
    ///
    /// # Errors
    /// Redis is unreachable or failed.
    pub async fn collect(
        &self,
        keys: &FrameKeys,
        member: &[u8],
        ttl: Duration,
    ) -> Result<bool, SharedStateError> {
        let ttl_ms = millis(ttl);
        let mut c = self.connection.clone();
        let (locked,): (Option<String>,) = redis::pipe()
            .atomic()
            .sadd(&keys.collect, member)
            .ignore()
            .pexpire(&keys.collect, ttl_ms)
            .ignore()
            .set_options(
                &keys.lock,
                "1",
                SetOptions::default()
                    .conditional_set(ExistenceCheck::NX)
                    .with_expiration(SetExpiry::PX(ttl_ms.unsigned_abs())),
            )
            .query_async(&mut c)
            .await?;
        Ok(locked.is_some())
    }

    /// Every member of a frame's collect set.
    ///
    /// # Errors
    /// Redis is unreachable or failed.
    pub async fn members(&self, keys: &FrameKeys) -> Result<Vec<Vec<u8>>, SharedStateError> {
        let mut c = self.connection.clone();
        let members: Vec<Vec<u8>> = redis::cmd("SMEMBERS")
            .arg(&keys.collect)
            .query_async(&mut c)
            .await?;
        Ok(members)
    }

    /// The key of a downlink's TX-ack context.
    pub fn tx_ack_key(&self, downlink_id: u32) -> String {
        format!("{}lora:ns:frame:{downlink_id}", self.key_prefix)
    }

    /// Stores `value` under `key` for `ttl`.
    ///
    /// # Errors
    /// Redis is unreachable or failed.
    pub async fn put(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), SharedStateError> {
        let mut c = self.connection.clone();
        redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("PX")
            .arg(millis(ttl))
            .query_async::<()>(&mut c)
            .await?;
        Ok(())
    }

    /// Takes the value under `key` away (`GET` and `DEL` in one
    /// `MULTI`/`EXEC`): of several takers, one gets it.
    ///
    /// # Errors
    /// Redis is unreachable or failed.
    pub async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, SharedStateError> {
        let mut c = self.connection.clone();
        let (value,): (Option<Vec<u8>>,) = redis::pipe()
            .atomic()
            .get(key)
            .del(key)
            .ignore()
            .query_async(&mut c)
            .await?;
        Ok(value)
    }
}

/// The keys of a frame: `{prefix}lora:ns:uplink:collect:{<region>:<tx_info
/// hex>:<PHYPayload hex>}` and the same with `:lock` after it. The part in
/// braces is the Redis Cluster hash tag, so both keys share a slot.
pub fn frame_keys(prefix: &str, region_config_id: &str, tx_info: &[u8], phy: &[u8]) -> FrameKeys {
    let collect = format!(
        "{prefix}lora:ns:uplink:collect:{{{region_config_id}:{}:{}}}",
        hex::encode(tx_info),
        hex::encode(phy)
    );
    let lock = format!("{collect}:lock");
    FrameKeys { collect, lock }
}

/// One gateway's copy of a frame, checked: what goes to Redis.
#[derive(Debug, Clone, PartialEq)]
pub struct Copy {
    /// The PHYPayload.
    pub phy_payload: Vec<u8>,
    /// The transmission parameters.
    pub tx_info: gw::UplinkTxInfo,
    /// The protobuf encoding of `tx_info` (part of the frame's key).
    pub tx_info_bytes: Vec<u8>,
    /// The gateway's reception.
    pub rx_info: gw::UplinkRxInfo,
}

/// Checks a gateway's frame as the in-process de-duplicator does: a
/// `tx_info`, an `rx_info`, a PHYPayload of 1 to 255 bytes.
///
/// # Errors
/// Why the frame cannot be de-duplicated (the gateway's fault).
pub fn check_copy(frame: gw::UplinkFrame) -> Result<Copy, DropReason> {
    let gw::UplinkFrame {
        phy_payload,
        tx_info,
        rx_info,
        ..
    } = frame;
    let tx_info = tx_info.ok_or(DropReason::MissingTxInfo)?;
    let rx_info = rx_info.ok_or(DropReason::MissingRxInfo)?;
    if phy_payload.is_empty() || phy_payload.len() > MAX_PHY_PAYLOAD_LEN {
        return Err(DropReason::PhyPayloadLength(phy_payload.len()));
    }
    let tx_info_bytes = gw::encode(&tx_info, gw::Encoding::Protobuf);
    Ok(Copy {
        phy_payload,
        tx_info,
        tx_info_bytes,
        rx_info,
    })
}

/// A reception as a collect-set member: the version byte, then the
/// protobuf `gw.UplinkRxInfo`.
pub fn encode_member(rx_info: &gw::UplinkRxInfo) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + rx_info.encoded_len());
    out.push(MEMBER_VERSION);
    rx_info.encode(&mut out).unwrap_or_default();
    out
}

/// A collect-set member back as a reception; `None` for another version or
/// bytes that do not decode.
pub fn decode_member(member: &[u8]) -> Option<gw::UplinkRxInfo> {
    match member.split_first() {
        Some((&MEMBER_VERSION, rest)) => gw::UplinkRxInfo::decode(rest).ok(),
        _ => None,
    }
}

/// The receptions of a frame from its collect set: one per gateway (the
/// best SNR when a gateway reported the frame twice), at most
/// `max_rx_infos` (the best SNRs kept), sorted by gateway id. Also how many
/// members could not be decoded.
pub fn merge_members(members: &[Vec<u8>], max_rx_infos: usize) -> (Vec<gw::UplinkRxInfo>, usize) {
    let mut undecodable = 0;
    let mut by_gateway: Vec<gw::UplinkRxInfo> = Vec::with_capacity(members.len());
    for member in members {
        let Some(rx) = decode_member(member) else {
            undecodable += 1;
            continue;
        };
        // Every gateway kept here; the best SNRs are chosen below.
        crate::dedup::merge(&mut by_gateway, rx, usize::MAX);
    }
    if by_gateway.len() > max_rx_infos {
        by_gateway.sort_by(|a, b| b.snr.total_cmp(&a.snr));
        by_gateway.truncate(max_rx_infos);
    }
    by_gateway.sort_by(|a, b| a.gateway_id.cmp(&b.gateway_id));
    (by_gateway, undecodable)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)
}

/// The URL without its password, for logs and `/health`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rx(gateway_id: &str, snr: f32) -> gw::UplinkRxInfo {
        gw::UplinkRxInfo {
            gateway_id: gateway_id.into(),
            snr,
            ..Default::default()
        }
    }

    #[test]
    fn frame_keys_share_one_hash_tag_after_the_prefix() {
        let keys = frame_keys("p:", "eu868", &[0x08, 0x01], &[0x40, 0xaa]);
        assert_eq!(keys.collect, "p:lora:ns:uplink:collect:{eu868:0801:40aa}");
        assert_eq!(keys.lock, "p:lora:ns:uplink:collect:{eu868:0801:40aa}:lock");
        let tag = |k: &str| k[k.find('{').unwrap()..=k.find('}').unwrap()].to_owned();
        assert_eq!(tag(&keys.collect), tag(&keys.lock));
    }

    #[test]
    fn the_same_frame_on_another_frequency_has_other_keys() {
        let a = frame_keys("", "eu868", &[1], &[0x40]);
        let b = frame_keys("", "eu868", &[2], &[0x40]);
        let c = frame_keys("", "eu868-2", &[1], &[0x40]);
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn members_round_trip_and_other_versions_are_refused() {
        let r = rx("0101010101010101", 7.5);
        let member = encode_member(&r);
        assert_eq!(member[0], MEMBER_VERSION);
        assert_eq!(decode_member(&member), Some(r));
        let mut other = member.clone();
        other[0] = 2;
        assert_eq!(decode_member(&other), None);
        assert_eq!(decode_member(&[]), None);
        assert_eq!(decode_member(&[MEMBER_VERSION, 0xff]), None);
    }

    #[test]
    fn merging_keeps_the_best_snr_per_gateway_and_skips_garbage() {
        let members = vec![
            encode_member(&rx("0202020202020202", -3.0)),
            encode_member(&rx("0101010101010101", 1.0)),
            encode_member(&rx("0101010101010101", 9.0)),
            encode_member(&rx("0101010101010101", f32::NAN)),
            vec![9, 9, 9],
        ];
        let (rx_infos, undecodable) = merge_members(&members, 128);
        assert_eq!(undecodable, 1);
        let got: Vec<_> = rx_infos
            .iter()
            .map(|r| (r.gateway_id.as_str(), r.snr))
            .collect();
        assert_eq!(got, [("0101010101010101", 9.0), ("0202020202020202", -3.0)]);
    }

    #[test]
    fn merging_caps_the_gateways_keeping_the_best() {
        let members: Vec<_> = (0..5)
            .map(|i| encode_member(&rx(&format!("{i:016x}"), i as f32)))
            .collect();
        let (rx_infos, _) = merge_members(&members, 2);
        let ids: Vec<_> = rx_infos.iter().map(|r| r.snr).collect();
        assert_eq!(ids, [3.0, 4.0]);
    }

    #[test]
    fn copies_are_checked_as_the_in_process_deduplicator_does() {
        let ok = gw::UplinkFrame {
            phy_payload: vec![0x40, 1],
            tx_info: Some(gw::UplinkTxInfo {
                frequency: 868_100_000,
                ..Default::default()
            }),
            rx_info: Some(rx("0101010101010101", 1.0)),
            ..Default::default()
        };
        let copy = check_copy(ok.clone()).unwrap();
        assert_eq!(
            copy.tx_info_bytes,
            gw::encode(&copy.tx_info, gw::Encoding::Protobuf)
        );
        let mut no_tx = ok.clone();
        no_tx.tx_info = None;
        assert_eq!(check_copy(no_tx), Err(DropReason::MissingTxInfo));
        let mut no_rx = ok.clone();
        no_rx.rx_info = None;
        assert_eq!(check_copy(no_rx), Err(DropReason::MissingRxInfo));
        let mut empty = ok;
        empty.phy_payload.clear();
        assert_eq!(check_copy(empty), Err(DropReason::PhyPayloadLength(0)));
    }

    #[test]
    fn passwords_are_left_out_of_the_url_shown() {
        assert_eq!(
            redact("redis://:secret@host:6379/0"),
            "redis://***@host:6379/0"
        );
        assert_eq!(redact("redis://127.0.0.1/"), "redis://127.0.0.1/");
    }

    #[test]
    fn cluster_and_several_servers_are_refused_and_no_server_is_none() {
        let mut config = Redis::default();
        assert!(SharedState::open(&config).unwrap().is_none());
        config.servers = vec!["redis://a/".into(), "redis://b/".into()];
        assert!(matches!(
            SharedState::open(&config),
            Err(SharedStateError::Config(_))
        ));
        config.servers.truncate(1);
        config.cluster = true;
        assert!(matches!(
            SharedState::open(&config),
            Err(SharedStateError::Config(_))
        ));
    }
}
