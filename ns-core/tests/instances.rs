//! Several server instances sharing one storage and one Redis
//! (`[redis]`): every uplink processed once with all its gateways, and any
//! instance taking any TX ack.
//!
//! Two pipelines ("instances") run over one database (an SQLite file, or a
//! PostgreSQL schema) and the Redis on 127.0.0.1:6379
//! (`NS_CORE_TEST_REDIS` overrides it), each test under a random
//! `key_prefix` so that tests run in parallel. The copies of one frame are
//! split between the instances, as MQTT shared subscriptions split them.

#[path = "support/db.rs"]
mod db;
#[path = "support/device.rs"]
mod device;
#[path = "support/fixtures.rs"]
mod fixtures;
#[path = "support/harness.rs"]
mod harness;

use std::time::Duration;

use lorawan::{DevAddr, Eui64};
use ns_core::config::Redis;
use ns_core::integration::{Event, EventKind};
use ns_core::model::{DeviceSession, MacVersion};
use ns_core::pipeline::PipelineCounters;
use ns_core::shared_state::{SharedState, encode_member};
use ns_core::storage::Storage;
use packet_forwarder::gw;
use uuid::Uuid;

use db::TestDb;
use device::{Device, Up, keys_10};
use fixtures::{GW1, GW2, GW3};
use harness::{Harness, config, heard};

const JOIN_EUI: u64 = 0x70b3_d57e_d000_0001;
const NWK_KEY: [u8; 16] = [0x2b; 16];
const APP_KEY: [u8; 16] = [0x3c; 16];

fn redis_url() -> String {
    std::env::var("NS_CORE_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into())
}

/// A Redis configuration of its own for one test (a random prefix).
fn redis_config(url: &str) -> Redis {
    let mut config = Redis::default();
    config.servers = vec![url.to_owned()];
    config.key_prefix = format!("ns-core-test-{}:", Uuid::new_v4().simple());
    config
}

fn shared_state(config: &Redis) -> SharedState {
    SharedState::open(config)
        .expect("the Redis configuration is usable")
        .expect("a server is configured")
}

fn get(counter: &std::sync::atomic::AtomicU64) -> u64 {
    PipelineCounters::get(counter)
}

/// Two instances over one database and one Redis.
struct Pair {
    instances: [Harness; 2],
    db: TestDb,
}

impl Pair {
    async fn start(db: TestDb) -> Self {
        let redis = redis_config(&redis_url());
        Self::with_redis(db, &redis).await
    }

    async fn with_redis(db: TestDb, redis: &Redis) -> Self {
        let config = config("");
        let (tenant, application) = Harness::seed(&db.storage).await;
        let a = Harness::start_on(
            &config,
            db.storage.clone(),
            tenant.clone(),
            application.clone(),
            Some(shared_state(redis)),
        );
        // The second instance has a connection pool of its own, as another
        // process would.
        let storage = Storage::connect(&db.url).await.expect("a second pool");
        let b = Harness::start_on(
            &config,
            storage,
            tenant,
            application,
            Some(shared_state(redis)),
        );
        Self {
            instances: [a, b],
            db,
        }
    }

    fn a(&mut self) -> &mut Harness {
        &mut self.instances[0]
    }

    fn b(&mut self) -> &mut Harness {
        &mut self.instances[1]
    }

    /// The first event of `kind` from either instance, and which one.
    async fn either(&mut self, kind: EventKind) -> (usize, Event) {
        let [a, b] = &mut self.instances;
        tokio::select! {
            e = a.event(kind) => (0, e),
            e = b.event(kind) => (1, e),
        }
    }

    /// Every event either instance publishes within the quiet time.
    async fn quiet_events(&mut self) -> Vec<Event> {
        let [a, b] = &mut self.instances;
        let (mut x, y) = tokio::join!(a.quiet_events(), b.quiet_events());
        x.extend(y);
        x
    }

    fn sum(&self, counter: impl Fn(&PipelineCounters) -> &std::sync::atomic::AtomicU64) -> u64 {
        self.instances
            .iter()
            .map(|h| get(counter(h.handle.counters())))
            .sum()
    }

    async fn finish(self) {
        let Self { instances, db } = self;
        for h in instances {
            h.handle.shutdown(Duration::from_secs(1)).await;
        }
        db.finish().await;
    }
}

/// An ABP device (LoRaWAN 1.0.3) and its session, ADR off so that no MAC
/// request rides along.
fn abp_device(dev_eui: u64, dev_addr: u32) -> (Device, DeviceSession) {
    let keys = keys_10([0x11; 16], [0x22; 16]);
    let dev_addr = DevAddr::from_u32(dev_addr);
    let device = Device::abp(MacVersion::V1_0_3, Eui64::from_u64(dev_eui), dev_addr, keys);
    let session = DeviceSession::new(dev_addr, MacVersion::V1_0_3, keys, "eu868", device::eu868());
    (device, session)
}

// ---------------------------------------------------------------------------
// The driver alone

#[tokio::test]
async fn the_first_copy_takes_the_lock_and_every_copy_is_collected() {
    let state = shared_state(&redis_config(&redis_url()));
    let keys = state.frame_keys("eu868", &[1, 2], &[0x40, 1, 2, 3]);
    let ttl = Duration::from_millis(400);
    let rx = |id: &str| gw::UplinkRxInfo {
        gateway_id: id.into(),
        ..Default::default()
    };
    assert!(
        state
            .collect(&keys, &encode_member(&rx(GW1)), ttl)
            .await
            .unwrap()
    );
    assert!(
        !state
            .collect(&keys, &encode_member(&rx(GW2)), ttl)
            .await
            .unwrap()
    );
    assert!(
        !state
            .collect(&keys, &encode_member(&rx(GW2)), ttl)
            .await
            .unwrap()
    );
    let mut members = state.members(&keys).await.unwrap();
    members.sort();
    let mut expected = vec![encode_member(&rx(GW1)), encode_member(&rx(GW2))];
    expected.sort();
    assert_eq!(members, expected);

    // Both keys expire with the lock time: the frame can come again later.
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    assert!(state.members(&keys).await.unwrap().is_empty());
    assert!(
        state
            .collect(&keys, &encode_member(&rx(GW3)), ttl)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_stored_value_is_taken_once() {
    let state = shared_state(&redis_config(&redis_url()));
    let key = state.tx_ack_key(42);
    assert!(key.starts_with(state.key_prefix()));
    state
        .put(&key, b"context", Duration::from_secs(5))
        .await
        .unwrap();
    let (x, y) = tokio::join!(state.take(&key), state.take(&key));
    let mut got = [x.unwrap(), y.unwrap()];
    got.sort();
    assert_eq!(got, [None, Some(b"context".to_vec())]);
}

// ---------------------------------------------------------------------------
// Two instances

async fn data_uplink_split_over_two_instances(db: TestDb) {
    let mut pair = Pair::start(db).await;
    let (mut dev, session) = abp_device(0x0a0a, 0x2601_0a0a);
    pair.a().provision_abp(&dev, &session).await;

    let sent = dev.uplink(&Up::data(1, b"spread"));
    pair.a().send(&sent, &[heard(GW1)]).await;
    pair.b().send(&sent, &[heard(GW2)]).await;
    pair.a().send(&sent, &[heard(GW3)]).await;

    let (_, event) = pair.either(EventKind::Up).await;
    let Event::Up(up) = event else { unreachable!() };
    let mut gateways: Vec<&str> = up.rx_info.iter().map(|r| r.gateway_id.as_str()).collect();
    gateways.sort_unstable();
    assert_eq!(gateways, [GW1, GW2, GW3], "one up event with every gateway");

    tokio::time::sleep(harness::DEDUPLICATION_DELAY * 4).await;
    let others = pair.quiet_events().await;
    assert!(
        others
            .iter()
            .all(|e| !matches!(e.kind(), EventKind::Up | EventKind::Log)),
        "no second up event, no log: {others:?}"
    );
    assert_eq!(pair.sum(|c| &c.dedup_redis_no_lock), 1);
    assert_eq!(pair.sum(|c| &c.dedup_redis_locked), 2);
    assert_eq!(pair.sum(|c| &c.dedup_redis_fallback), 0);
    assert_eq!(pair.sum(|c| &c.redis_errors), 0);
    assert_eq!(pair.sum(|c| &c.sets), 1, "one frame set in all");
    assert_eq!(pair.sum(|c| &c.uplinks_accepted), 1);
    assert_eq!(pair.sum(|c| &c.uplinks_already_processed), 0);
    assert_eq!(pair.a().session(dev.dev_eui).await.f_cnt_up, 1);
    pair.finish().await;
}

#[tokio::test]
async fn a_data_uplink_split_over_two_instances_is_one_up_event_with_every_gateway_sqlite() {
    data_uplink_split_over_two_instances(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn a_data_uplink_split_over_two_instances_is_one_up_event_with_every_gateway_postgres() {
    data_uplink_split_over_two_instances(TestDb::postgres().await).await;
}

async fn join_request_split_over_two_instances(db: TestDb) {
    let mut pair = Pair::start(db).await;
    let mut dev = Device::otaa(
        MacVersion::V1_0_3,
        Eui64::from_u64(0x0b0b),
        Eui64::from_u64(JOIN_EUI),
        NWK_KEY,
        APP_KEY,
    );
    pair.a().provision_otaa(&dev, NWK_KEY, APP_KEY).await;

    let request = dev.join_request(7);
    pair.b().send(&request, &[heard(GW1)]).await;
    pair.a().send(&request, &[heard(GW2), heard(GW3)]).await;

    let (winner, _) = pair.either(EventKind::Join).await;
    let loser = 1 - winner;
    let accept = pair.instances[winner].downlink().await;
    dev.join_accept(&accept)
        .unwrap_or_else(|e| panic!("the device takes the join-accept: {e}"));
    pair.instances[loser].no_downlink().await;
    let others = pair.quiet_events().await;
    assert!(
        others
            .iter()
            .all(|e| !matches!(e.kind(), EventKind::Join | EventKind::Log)),
        "no second join, no DevNonce-reuse log: {others:?}"
    );
    for h in &pair.instances {
        let rejections = h.handle.counters().join_rejections();
        assert!(rejections.is_empty(), "{rejections:?}");
    }
    assert_eq!(pair.sum(|c| &c.joins_accepted), 1);
    assert_eq!(pair.sum(|c| &c.dedup_redis_no_lock), 1);
    assert_eq!(pair.sum(|c| &c.dedup_redis_locked), 2);

    // The join-accept's TX ack reaches the other instance, which settles it.
    pair.instances[loser].ack(&accept).await;
    let deadline = tokio::time::Instant::now() + harness::WAIT;
    while get(&pair.instances[loser].handle.counters().tx_acks_ok) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the ack is never settled"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(pair.sum(|c| &c.tx_acks_ok), 1);
    assert_eq!(pair.sum(|c| &c.tx_acks_unknown), 0);
    pair.finish().await;
}

#[tokio::test]
async fn a_join_request_split_over_two_instances_is_accepted_once_sqlite() {
    join_request_split_over_two_instances(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn a_join_request_split_over_two_instances_is_accepted_once_postgres() {
    join_request_split_over_two_instances(TestDb::postgres().await).await;
}

#[tokio::test]
async fn a_tx_ack_reaching_the_other_instance_advances_fcnt_down_once() {
    let mut pair = Pair::start(TestDb::sqlite().await).await;
    let (mut dev, session) = abp_device(0x0c0c, 0x2601_0c0c);
    pair.a().provision_abp(&dev, &session).await;
    let item = pair.a().enqueue(dev.dev_eui, 9, false, b"down").await;

    let sent = dev.uplink(&Up::data(1, b"up"));
    pair.a().send(&sent, &[heard(GW1)]).await;
    pair.b().send(&sent, &[heard(GW2)]).await;
    let (sender, _) = pair.either(EventKind::Up).await;
    let other = 1 - sender;
    let frame = pair.instances[sender].downlink().await;
    let down = dev.receive(&frame).expect("the device reads the downlink");
    assert_eq!(down.data, b"down");

    pair.instances[other].ack(&frame).await;
    let Event::TxAck(tx_ack) = pair.instances[other].event(EventKind::TxAck).await else {
        unreachable!()
    };
    assert_eq!(tx_ack.f_cnt_down, 0);
    assert_eq!(tx_ack.queue_item_id, item.id.to_string());
    let session = pair.instances[other]
        .session_where(dev.dev_eui, |s| s.n_f_cnt_down == 1)
        .await;
    assert_eq!(session.n_f_cnt_down, 1);
    assert!(
        pair.a()
            .storage
            .list_queue_items_of(&[dev.dev_eui])
            .await
            .expect("queue")
            .get(&dev.dev_eui)
            .is_none_or(Vec::is_empty),
        "the queue item is settled"
    );

    // The same ack again (a gateway repeating itself), at either instance:
    // nothing more.
    pair.instances[sender].ack(&frame).await;
    pair.instances[other].ack(&frame).await;
    let events = pair.quiet_events().await;
    assert!(
        events.iter().all(|e| e.kind() != EventKind::TxAck),
        "one txack event: {events:?}"
    );
    assert_eq!(pair.sum(|c| &c.tx_acks_ok), 1);
    assert_eq!(pair.sum(|c| &c.tx_acks_unknown), 2);
    assert_eq!(
        pair.a().session(dev.dev_eui).await.n_f_cnt_down,
        1,
        "FCntDown advanced once"
    );
    pair.finish().await;
}

// ---------------------------------------------------------------------------
// Redis down

#[tokio::test]
async fn with_redis_down_an_instance_de_duplicates_and_settles_acks_by_itself() {
    // Nothing listens on port 1: every command fails at once.
    let redis = redis_config("redis://127.0.0.1:1/");
    let db = TestDb::sqlite().await;
    let (tenant, application) = Harness::seed(&db.storage).await;
    let mut h = Harness::start_on(
        &config(""),
        db.storage.clone(),
        tenant,
        application,
        Some(shared_state(&redis)),
    );
    let (mut dev, session) = abp_device(0x0d0d, 0x2601_0d0d);
    h.provision_abp(&dev, &session).await;
    h.enqueue(dev.dev_eui, 9, false, b"down").await;

    let (_, up) = h
        .uplink(
            &mut dev,
            &Up::data(1, b"no redis"),
            &[heard(GW1), heard(GW2), heard(GW3)],
        )
        .await;
    assert_eq!(up.rx_info.len(), 3, "merged in-process");
    let counters = h.handle.counters();
    assert_eq!(get(&counters.dedup_redis_fallback), 3);
    assert!(get(&counters.redis_errors) >= 3);
    assert_eq!(get(&counters.dedup_redis_no_lock), 0);

    // The TX-ack context could not go to Redis: kept in memory, settled here.
    h.receive(&mut dev).await;
    h.event(EventKind::TxAck).await;
    assert_eq!(get(&h.handle.counters().tx_acks_ok), 1);
    assert_eq!(h.session(dev.dev_eui).await.n_f_cnt_down, 1);
    let events = h.quiet_events().await;
    assert!(
        events.iter().all(|e| e.kind() != EventKind::Up),
        "{events:?}"
    );
    h.handle.shutdown(Duration::from_secs(1)).await;
    db.finish().await;
}
