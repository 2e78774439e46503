//! Class C end to end: a device that listens continuously gets its queue
//! items from the pipeline's scheduler, at once, in RX2, through the gateway
//! that heard its last uplink — no uplink needed to carry them.
//!
//! The harness runs on simulated time, so the scheduler's 1 s interval and
//! the 5 s class A and class C locks are the defaults, and a test asserts
//! when (in simulated time) each frame goes out.

#[path = "support/device.rs"]
mod device;
#[path = "support/fixtures.rs"]
mod fixtures;
#[path = "support/harness.rs"]
mod harness;

use std::time::Duration;

use lorawan::{DevAddr, Eui64};
use ns_core::integration::{Event, EventKind};
use ns_core::model::{DeviceClass, DeviceSession, ExtraChannel, MacVersion};
use ns_core::pipeline::PipelineCounters;
use packet_forwarder::gw;

use device::{Device, Up, keys_10};
use fixtures::{GW1, GW2};
use harness::{Harness, Heard, heard};

/// EU868's RX2 frequency (the session's, as activation leaves it).
const RX2_FREQUENCY: u32 = 869_525_000;

/// The scheduler's default interval.
const INTERVAL: Duration = Duration::from_secs(1);
/// The default class A lock (after an uplink) and class C lock (between
/// class C frames).
const LOCK: Duration = Duration::from_secs(5);

/// The harness with the default scheduler settings.
async fn start() -> Harness {
    Harness::start().await
}

/// A class C ABP device (LoRaWAN 1.0.3, the network's eight channels, so
/// that no NewChannelReq is owed), stored with its session.
async fn class_c_device(h: &Harness, dev_eui: u64, dev_addr: u32) -> Device {
    let keys = keys_10([0x11; 16], [0x22; 16]);
    let dev_addr = DevAddr::from_u32(dev_addr);
    let mut dev = Device::abp(MacVersion::V1_0_3, Eui64::from_u64(dev_eui), dev_addr, keys);
    let mut session =
        DeviceSession::new(dev_addr, MacVersion::V1_0_3, keys, "eu868", device::eu868());
    for frequency in [
        867_100_000,
        867_300_000,
        867_500_000,
        867_700_000,
        867_900_000,
    ] {
        dev.channels.push(Some(device::Channel {
            frequency,
            min_dr: 0,
            max_dr: 5,
            enabled: true,
        }));
        session.extra_uplink_channels.push(ExtraChannel {
            frequency,
            min_dr: 0,
            max_dr: 5,
        });
    }
    session.enabled_uplink_channel_indices = (0..8).collect();
    let mut record = h.provision_abp(&dev, &session).await;
    record.enabled_class = DeviceClass::C;
    h.storage.update_device(&record).await.unwrap();
    dev
}

/// One uplink heard by `heard`, and the class A answer if one comes (MAC
/// commands), read by the device and acknowledged by the gateway.
async fn uplink(h: &mut Harness, dev: &mut Device, heard: &[Heard<'_>]) {
    h.uplink(dev, &Up::data(2, b"up"), heard).await;
    if let Some(frame) = h.maybe_downlink().await {
        dev.receive(&frame)
            .expect("the device reads the class A answer");
        h.ack(&frame).await;
        h.session_where(dev.dev_eui, |s| s.n_f_cnt_down == 1).await;
    }
}

/// The next downlink and how long (in simulated time) it took to come.
async fn next_downlink(h: &mut Harness) -> (gw::DownlinkFrame, Duration) {
    let started = tokio::time::Instant::now();
    let frame = h.downlink().await;
    (frame, started.elapsed())
}

#[tokio::test]
async fn class_c_item_enqueued_after_an_uplink_goes_out_at_once_in_rx2() {
    let mut h = start().await;
    let mut dev = class_c_device(&h, 0x0c01, 0x2601_0c01).await;
    // Two gateways heard the uplink; only GW2 with a 10 dB margin (at
    // SF12 as at SF7).
    uplink(
        &mut h,
        &mut dev,
        &[
            Heard {
                gateway_id: GW1,
                snr: -15.0,
                rssi: -115,
            },
            heard(GW2),
        ],
    )
    .await;
    let n_f_cnt_down = h.session(dev.dev_eui).await.n_f_cnt_down;
    let events_before = h.quiet_events().await;
    assert!(
        events_before.iter().all(|e| e.kind() != EventKind::TxAck),
        "nothing of the queue went out yet"
    );

    // Once the class A lock after the uplink has passed, the item goes out
    // at the scheduler's next run.
    tokio::time::sleep(LOCK).await;
    let item = h.enqueue(dev.dev_eui, 5, false, b"lamp on").await;
    let (frame, took) = next_downlink(&mut h).await;
    assert!(took <= INTERVAL, "the class C downlink took {took:?}");
    assert_eq!(frame.gateway_id, GW2, "the gateway that heard it best");
    let tx = frame.items[0].tx_info.as_ref().unwrap();
    assert!(matches!(
        tx.timing.as_ref().and_then(|t| t.parameters),
        Some(gw::timing::Parameters::Immediately(_))
    ));
    assert_eq!(tx.frequency, RX2_FREQUENCY);
    let down = dev
        .receive_class_c(&frame)
        .unwrap_or_else(|e| panic!("the device reads the class C downlink: {e}"));
    assert_eq!(
        (down.f_port, down.data.as_slice()),
        (Some(5), &b"lamp on"[..])
    );
    assert_eq!(down.f_cnt, n_f_cnt_down);
    assert!(!down.ack && !down.f_pending);

    // Nothing advances before the gateway's TX ack.
    assert_eq!(h.session(dev.dev_eui).await.n_f_cnt_down, n_f_cnt_down);
    h.ack(&frame).await;
    let Event::TxAck(tx_ack) = h.event(EventKind::TxAck).await else {
        unreachable!()
    };
    assert_eq!(tx_ack.queue_item_id, item.id.to_string());
    assert_eq!(tx_ack.f_cnt_down, n_f_cnt_down);
    assert_eq!(tx_ack.gateway_id, GW2);
    h.session_where(dev.dev_eui, |s| s.n_f_cnt_down == n_f_cnt_down + 1)
        .await;
    assert!(
        h.storage
            .list_queue_items(dev.dev_eui)
            .await
            .unwrap()
            .is_empty()
    );
    let counters = h.handle.counters();
    assert_eq!(PipelineCounters::get(&counters.scheduler_downlinks_sent), 1);
    let metrics = counters.snapshot();
    assert!(
        metrics
            .iter()
            .any(|(name, _, n)| *name == "ns_scheduler_downlinks_sent_total" && *n == 1)
    );
    h.no_downlink().await;
}

#[tokio::test]
async fn several_items_go_one_per_class_c_lock_with_fpending() {
    let mut h = start().await;
    let mut dev = class_c_device(&h, 0x0c02, 0x2601_0c02).await;
    uplink(&mut h, &mut dev, &[heard(GW1)]).await;
    h.quiet_events().await;
    tokio::time::sleep(LOCK).await;
    let n_f_cnt_down = h.session(dev.dev_eui).await.n_f_cnt_down;
    let first = h.enqueue(dev.dev_eui, 5, false, b"one").await;
    let second = h.enqueue(dev.dev_eui, 5, false, b"two").await;

    let (frame, took) = next_downlink(&mut h).await;
    assert!(took <= INTERVAL, "the first item took {took:?}");
    let down = dev.receive_class_c(&frame).unwrap();
    assert_eq!(down.data, b"one");
    assert!(down.f_pending, "another item waits");
    h.ack(&frame).await;
    let Event::TxAck(ack) = h.event(EventKind::TxAck).await else {
        unreachable!()
    };
    assert_eq!(ack.queue_item_id, first.id.to_string());

    // The class C lock set when the first went out holds the second back.
    let (frame, took) = next_downlink(&mut h).await;
    assert!(
        (LOCK..=LOCK + INTERVAL).contains(&took),
        "the second item came {took:?} after the first"
    );
    let down = dev.receive_class_c(&frame).unwrap();
    assert_eq!(down.data, b"two");
    assert!(!down.f_pending);
    assert_eq!(
        down.f_cnt,
        n_f_cnt_down + 1,
        "the next FCntDown after the first's TX ack"
    );
    h.ack(&frame).await;
    let Event::TxAck(ack) = h.event(EventKind::TxAck).await else {
        unreachable!()
    };
    assert_eq!(ack.queue_item_id, second.id.to_string());
}

#[tokio::test]
async fn unacknowledged_confirmed_class_c_item_times_out_with_the_profile_timeout() {
    let mut h = start().await;
    let mut dev = class_c_device(&h, 0x0c03, 0x2601_0c03).await;
    let record = h.storage.get_device(dev.dev_eui).await.unwrap();
    let mut profile = h
        .storage
        .get_device_profile(record.device_profile_id)
        .await
        .unwrap();
    profile.class_c_timeout = Duration::from_secs(1);
    h.storage.update_device_profile(&profile).await.unwrap();
    uplink(&mut h, &mut dev, &[heard(GW1)]).await;
    h.quiet_events().await;

    tokio::time::sleep(LOCK).await;
    let item = h.enqueue(dev.dev_eui, 5, true, b"confirm me").await;
    let (frame, took) = next_downlink(&mut h).await;
    assert!(took <= INTERVAL, "the class C downlink took {took:?}");
    let down = dev.receive_class_c(&frame).unwrap();
    assert!(down.confirmed);
    h.ack(&frame).await;
    h.event(EventKind::TxAck).await;
    let pending = h.storage.get_queue_item(item.id).await.unwrap();
    assert!(pending.is_pending);
    assert!(pending.timeout_after.is_some());

    // The device never acknowledges: after class_c_timeout the scheduler
    // drops the item and tells the application.
    let Event::Ack(ack) = h.event(EventKind::Ack).await else {
        unreachable!()
    };
    assert!(!ack.acknowledged);
    assert_eq!(ack.queue_item_id, item.id.to_string());
    h.no_downlink().await;
}

#[tokio::test]
async fn class_c_device_that_never_sent_an_uplink_gets_nothing() {
    let mut h = start().await;
    let dev = class_c_device(&h, 0x0c04, 0x2601_0c04).await;
    h.enqueue(dev.dev_eui, 5, false, b"nowhere to go").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    h.no_downlink().await;
    assert!(PipelineCounters::get(&h.handle.counters().scheduler_errors) >= 1);
    assert_eq!(
        h.storage.list_queue_items(dev.dev_eui).await.unwrap().len(),
        1,
        "kept for when a gateway hears the device"
    );
}

#[tokio::test]
async fn class_a_devices_wait_for_their_uplink() {
    let mut h = start().await;
    let mut dev = class_c_device(&h, 0x0c05, 0x2601_0c05).await;
    let mut record = h.storage.get_device(dev.dev_eui).await.unwrap();
    record.enabled_class = DeviceClass::A;
    h.storage.update_device(&record).await.unwrap();
    uplink(&mut h, &mut dev, &[heard(GW1)]).await;
    // A class A device of a profile without class C: its uplinks store no
    // gateways and no lock (the bulk of uplinks write nothing more).
    assert_eq!(
        h.storage.device_gateway_rx_info(dev.dev_eui).await.unwrap(),
        None
    );
    assert_eq!(
        h.storage.scheduler_run_after(dev.dev_eui).await.unwrap(),
        None
    );
    h.enqueue(dev.dev_eui, 5, false, b"later").await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    h.no_downlink().await;
}

#[tokio::test]
async fn a_class_c_device_gets_its_downlinks_after_the_join_without_a_data_uplink() {
    let mut h = start().await;
    let mut dev = Device::otaa(
        MacVersion::V1_0_3,
        Eui64::from_u64(0x0c06),
        Eui64::from_u64(0x70b3_d57e_d000_0001),
        [0x2b; 16],
        [0x3c; 16],
    );
    let record = h.provision_otaa(&dev, [0x2b; 16], [0x3c; 16]).await;
    let mut profile = h
        .storage
        .get_device_profile(record.device_profile_id)
        .await
        .unwrap();
    profile.supports_class_c = true;
    h.storage.update_device_profile(&profile).await.unwrap();

    let joined_at = tokio::time::Instant::now();
    h.join(&mut dev, 0x0c06).await;
    assert_eq!(
        h.storage
            .get_device(dev.dev_eui)
            .await
            .unwrap()
            .enabled_class,
        DeviceClass::C,
        "a 1.0 device of a class C profile is class C from its join"
    );
    let rx_info = h.storage.device_gateway_rx_info(dev.dev_eui).await.unwrap();
    assert_eq!(
        rx_info.map(|r| r.items.len()),
        Some(1),
        "the gateway that heard the join-request"
    );

    h.enqueue(dev.dev_eui, 7, false, b"after join").await;
    let frame = h.downlink().await;
    // Held until the join-accept's RX2 window (6 s after the join-request,
    // which the window of 200 ms delayed) and the class A lock after it.
    let earliest = harness::DEDUPLICATION_DELAY + Duration::from_secs(6) + LOCK;
    let took = joined_at.elapsed();
    assert!(
        (earliest..=earliest + INTERVAL).contains(&took),
        "the first class C downlink went {took:?} after the join-request"
    );
    assert_eq!(frame.gateway_id, GW1);
    let down = dev
        .receive_class_c(&frame)
        .unwrap_or_else(|e| panic!("the device reads the class C downlink: {e}"));
    assert_eq!(
        (down.f_port, down.data.as_slice(), down.f_cnt),
        (Some(7), &b"after join"[..], 0)
    );
}
