//! Class A data downlinks and their TX acks, without I/O: frames built for
//! LoRaWAN 1.0.3 and 1.1 sessions are read back as the device would read
//! them, with the `lorawan` crate's parsers and keys.

use std::time::{Duration, SystemTime};

use lorawan::keys::{AppSKey, NwkSEncKey, NwkSKey, SNwkSIntKey};
use lorawan::mac::{self, MacCommand};
use lorawan::phy::{DataFrame, FCtrl, MType};
use lorawan::region::{Network, Region, Revision};
use lorawan::{Direction, Eui64};
use ns_core::downlink::{
    self, ClassARequest, ClassAResponse, DiscardReason, DownlinkError, DownlinkPlan,
    DownlinkSettings, FCntDownCounter, PlannedWindow, QueueUpdate, RxWindowSelection, TxAckContext,
    TxAckError, TxAckOutcome, UplinkContext, Window,
};
use ns_core::model::{DeviceClass, DeviceProfile, DeviceSession, MacVersion, QueueItem};
use packet_forwarder::gw;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

#[path = "support/fixtures.rs"]
mod fixtures;

use fixtures::{GW1, GW2, GW3, Keys, network, profile, t0};

// ---------------------------------------------------------------------------
// Fixtures

const DEV_EUI: Eui64 = Eui64::from_u64(0x70b3_d57e_d000_0001);

/// DevAddr 26011234; 1.0: NwkSKey `[1; 16]`, AppSKey `[2; 16]`.
const V1_0: Keys = Keys::v1_0(0x2601_1234, 1);
/// DevAddr 26011234; 1.1: the four keys `[3; 16]` to `[6; 16]`.
const V1_1: Keys = Keys::v1_1(0x2601_1234, 3);

/// A session at DR5 after uplink FCnt 100.
fn session(keys: Keys, n_f_cnt_down: u32, a_f_cnt_down: u32) -> DeviceSession {
    fixtures::keyed_session(
        &keys,
        serde_json::json!({
            "f_cnt_up": 101,
            "n_f_cnt_down": n_f_cnt_down,
            "a_f_cnt_down": a_f_cnt_down,
            "dr": 5,
        }),
    )
}

/// What a gateway reports, with board, antenna and context to hand back.
fn rx(gateway_id: &str, snr: f32, rssi: i32) -> gw::UplinkRxInfo {
    gw::UplinkRxInfo {
        board: 1,
        antenna: 2,
        context: gateway_id.as_bytes()[..4].to_vec(),
        ..fixtures::rx(gateway_id, snr, rssi)
    }
}

/// An uplink FCnt 100 at `dr` on `frequency`, heard by `rx_infos`.
fn uplink(
    dr: u8,
    frequency: u32,
    confirmed: bool,
    rx_infos: &[gw::UplinkRxInfo],
) -> UplinkContext<'_> {
    UplinkContext {
        dev_eui: DEV_EUI,
        device_class: DeviceClass::A,
        f_cnt: 100,
        dr,
        frequency,
        confirmed,
        adr_ack_req: false,
        rx_infos,
    }
}

fn item(f_port: u8, confirmed: bool, data: &[u8]) -> QueueItem {
    QueueItem::new(DEV_EUI, f_port, confirmed, data.to_vec())
}

/// Everything a test varies, with EU868 defaults: SF7 (DR5) on 868.1 MHz,
/// one gateway with a good margin, unconfirmed.
struct Case {
    keys: Keys,
    session: DeviceSession,
    profile: DeviceProfile,
    network: Network,
    settings: DownlinkSettings,
    rx_infos: Vec<gw::UplinkRxInfo>,
    dr: u8,
    frequency: u32,
    confirmed: bool,
    adr_ack_req: bool,
    device_class: DeviceClass,
    queue: Vec<QueueItem>,
    mac_commands: Vec<u8>,
    must_send: bool,
    now: SystemTime,
}

impl Case {
    fn new(keys: Keys) -> Self {
        Self {
            keys,
            session: session(keys, 7, 3),
            profile: profile(Region::Eu868, keys.version, Revision::Rp002_1_0_3),
            network: network(Region::Eu868, |_| {}),
            settings: DownlinkSettings::default(),
            rx_infos: vec![rx(GW1, 8.0, -70)],
            dr: 5,
            frequency: 868_100_000,
            confirmed: false,
            adr_ack_req: false,
            device_class: DeviceClass::A,
            queue: Vec::new(),
            mac_commands: Vec::new(),
            must_send: false,
            now: t0(),
        }
    }

    fn request(&self) -> ClassARequest<'_> {
        ClassARequest {
            uplink: UplinkContext {
                confirmed: self.confirmed,
                adr_ack_req: self.adr_ack_req,
                device_class: self.device_class,
                ..uplink(self.dr, self.frequency, self.confirmed, &self.rx_infos)
            },
            session: &self.session,
            profile: &self.profile,
            network: &self.network,
            settings: &self.settings,
            queue: &self.queue,
            mac_commands: self.mac_commands.clone(),
            must_send: self.must_send,
        }
    }

    fn respond(&self) -> Result<ClassAResponse, DownlinkError> {
        downlink::class_a_response(self.now, &self.request(), &mut StdRng::seed_from_u64(42))
    }

    /// The windows the case's uplink offers, with their payload limits.
    fn windows(&self) -> Vec<PlannedWindow> {
        downlink::plan_windows(
            &self.request().uplink,
            &self.session,
            &self.profile,
            &self.network,
            &self.settings,
        )
        .unwrap()
    }

    fn plan(&self) -> DownlinkPlan {
        let response = self.respond().expect("a response");
        response.plan.expect("something to send")
    }
}

/// A downlink as the device reads it: MIC verified, FOpts and FRMPayload
/// decrypted.
#[derive(Debug)]
struct Received {
    mtype: MType,
    fctrl: FCtrl,
    f_cnt: u16,
    fport: Option<u8>,
    fopts: Vec<u8>,
    payload: Vec<u8>,
}

impl Received {
    fn mac_commands(&self) -> Vec<MacCommand> {
        let bytes = if self.fport == Some(0) {
            &self.payload
        } else {
            &self.fopts
        };
        mac::parse(Direction::Downlink, bytes)
            .collect::<Result<_, _>>()
            .expect("downlink MAC commands parse")
    }
}

/// Reads `phy` as the device with `keys` would, expecting FCntDown
/// `f_cnt_down` and, when the ACK bit is set, acknowledging uplink
/// `acked_f_cnt_up`.
fn receive(keys: Keys, phy: &[u8], f_cnt_down: u32, acked_f_cnt_up: u32) -> Received {
    let frame = DataFrame::new_checked(phy).expect("a valid data frame");
    assert_eq!(frame.direction(), Direction::Downlink);
    assert_eq!(frame.dev_addr().to_string(), "26011234");
    assert_eq!(
        frame.fcnt(),
        f_cnt_down as u16,
        "FCnt carries the low 16 bits"
    );
    let fctrl = frame.fctrl();
    let nwk_s_enc_key = NwkSEncKey::from_be_bytes(keys.nwk_s_enc_key).keyed();
    let mut fopts_buf = [0u8; 16];
    let fopts = if keys.version.is_1_1() {
        let conf = if fctrl.ack() {
            acked_f_cnt_up as u16
        } else {
            0
        };
        frame
            .verify_downlink_mic_11(
                &SNwkSIntKey::from_be_bytes(keys.s_nwk_s_int_key).keyed(),
                conf,
                f_cnt_down,
            )
            .expect("1.1 MIC");
        frame
            .decrypt_fopts_into(&nwk_s_enc_key, f_cnt_down, &mut fopts_buf)
            .unwrap()
            .to_vec()
    } else {
        frame
            .verify_downlink_mic_10(
                &NwkSKey::from_be_bytes(keys.s_nwk_s_int_key).keyed(),
                f_cnt_down,
            )
            .expect("1.0 MIC");
        frame.fopts().to_vec()
    };
    let mut buf = [0u8; 256];
    let payload = match frame.fport() {
        None => Vec::new(),
        Some(0) => frame
            .decrypt_frm_payload_into(&nwk_s_enc_key, f_cnt_down, &mut buf)
            .unwrap()
            .to_vec(),
        Some(_) => frame
            .decrypt_frm_payload_into(
                &AppSKey::from_be_bytes(keys.app_s_key).keyed(),
                f_cnt_down,
                &mut buf,
            )
            .unwrap()
            .to_vec(),
    };
    Received {
        mtype: frame.mhdr().mtype(),
        fctrl,
        f_cnt: frame.fcnt(),
        fport: frame.fport(),
        fopts,
        payload,
    }
}

/// Item `i` of the plan, read by the device.
fn received(case: &Case, plan: &DownlinkPlan, i: usize) -> Received {
    receive(
        case.keys,
        &plan.frame.items[i].phy_payload,
        plan.tx_ack.items[i].f_cnt_down,
        100,
    )
}

fn tx(plan: &DownlinkPlan, i: usize) -> &gw::DownlinkTxInfo {
    plan.frame.items[i].tx_info.as_ref().unwrap()
}

fn lora_of(tx: &gw::DownlinkTxInfo) -> gw::LoraModulationInfo {
    match tx.modulation.as_ref().and_then(|m| m.parameters.clone()) {
        Some(gw::modulation::Parameters::Lora(l)) => l,
        other => panic!("LoRa expected, got {other:?}"),
    }
}

fn delay_of(tx: &gw::DownlinkTxInfo) -> i64 {
    match tx.timing.as_ref().and_then(|t| t.parameters) {
        Some(gw::timing::Parameters::Delay(d)) => d.delay.unwrap().seconds,
        other => panic!("a delay expected, got {other:?}"),
    }
}

fn ack(plan: &DownlinkPlan, statuses: &[gw::TxAckStatus]) -> gw::DownlinkTxAck {
    gw::DownlinkTxAck {
        gateway_id: plan.frame.gateway_id.clone(),
        downlink_id: plan.frame.downlink_id,
        items: statuses
            .iter()
            .map(|s| gw::DownlinkTxAckItem {
                status: (*s).into(),
            })
            .collect(),
        ..Default::default()
    }
}

// DevStatusReq (1 byte) and LinkADRReq (5 bytes).
const DEV_STATUS_REQ: [u8; 1] = [0x06];
const LINK_ADR_REQ: [u8; 5] = [0x03, 0x51, 0x07, 0x00, 0x01];

// ---------------------------------------------------------------------------
// Frames as the device reads them

#[test]
fn lorawan_1_0_3_item_with_mac_commands_and_ack_reads_back() {
    let mut case = Case::new(V1_0);
    case.confirmed = true;
    case.queue = vec![item(10, false, b"hello device")];
    case.mac_commands = [DEV_STATUS_REQ.as_slice(), &LINK_ADR_REQ].concat();
    let plan = case.plan();
    assert_eq!(plan.frame.items.len(), 2);
    for i in 0..2 {
        let r = received(&case, &plan, i);
        assert_eq!(r.mtype, MType::UnconfirmedDataDown);
        assert_eq!(r.f_cnt, 7, "1.0: NFCntDown for everything");
        assert!(r.fctrl.ack(), "answers a confirmed uplink");
        assert!(r.fctrl.adr());
        assert!(!r.fctrl.f_pending());
        assert_eq!(r.fport, Some(10));
        assert_eq!(r.payload, b"hello device");
        assert_eq!(r.fopts, [0x06, 0x03, 0x51, 0x07, 0x00, 0x01]);
        assert_eq!(r.mac_commands().len(), 2);
        assert_eq!(plan.tx_ack.items[i].counter, FCntDownCounter::Network);
    }
    assert_eq!(plan.queue_item_id(), Some(case.queue[0].id));
}

#[test]
fn lorawan_1_1_item_uses_afcntdown_and_encrypted_fopts() {
    let mut case = Case::new(V1_1);
    case.confirmed = true;
    case.queue = vec![item(5, true, b"\x01\x02\x03")];
    case.mac_commands = DEV_STATUS_REQ.to_vec();
    let plan = case.plan();
    let raw = DataFrame::new_checked(&plan.frame.items[0].phy_payload).unwrap();
    assert_ne!(raw.fopts(), DEV_STATUS_REQ, "1.1 FOpts travel encrypted");
    let r = received(&case, &plan, 0);
    assert_eq!(r.mtype, MType::ConfirmedDataDown);
    assert_eq!(r.f_cnt, 3, "AFCntDown for application data");
    assert_eq!(plan.tx_ack.items[0].counter, FCntDownCounter::Application);
    assert!(r.fctrl.ack());
    assert_eq!((r.fport, r.payload.as_slice()), (Some(5), &[1, 2, 3][..]));
    assert_eq!(r.mac_commands(), [MacCommand::DevStatusReq]);
}

#[test]
fn lorawan_1_1_mac_only_downlink_uses_nfcntdown_and_no_conf_fcnt_without_ack() {
    let mut case = Case::new(V1_1);
    case.mac_commands = LINK_ADR_REQ.to_vec();
    let plan = case.plan();
    let r = received(&case, &plan, 0);
    assert_eq!(r.f_cnt, 7, "NFCntDown without application data");
    assert_eq!(plan.tx_ack.items[0].counter, FCntDownCounter::Network);
    assert!(!r.fctrl.ack());
    assert_eq!(r.fport, None);
    assert_eq!(r.fopts, LINK_ADR_REQ);
}

#[test]
fn mac_commands_over_15_bytes_go_on_fport_0_and_the_item_waits() {
    for keys in [V1_0, V1_1] {
        let mut case = Case::new(keys);
        case.queue = vec![item(1, false, b"data")];
        // Four LinkADRReq: 20 bytes.
        case.mac_commands = LINK_ADR_REQ.repeat(4);
        let plan = case.plan();
        for i in 0..2 {
            let r = received(&case, &plan, i);
            assert_eq!(r.fport, Some(0));
            assert!(r.fopts.is_empty());
            assert_eq!(r.payload, LINK_ADR_REQ.repeat(4));
            assert_eq!(r.mac_commands().len(), 4);
            assert_eq!(r.f_cnt, 7, "NFCntDown on FPort 0");
            assert!(r.fctrl.f_pending(), "the queue item waits");
            assert_eq!(plan.tx_ack.items[i].queue_item, None);
        }
        assert_eq!(plan.queue_item_id(), None);
    }
}

#[test]
fn mac_commands_a_window_cannot_carry_are_left_out_whole() {
    let mut case = Case::new(V1_0);
    case.dr = 0; // RX1 at DR0 as RX2: N = 51.
    case.mac_commands = LINK_ADR_REQ.repeat(11); // 55 bytes
    let plan = case.plan();
    for i in 0..2 {
        let r = received(&case, &plan, i);
        assert_eq!(r.fport, Some(0));
        assert_eq!(r.payload.len(), 50, "ten whole commands");
        assert_eq!(plan.tx_ack.items[i].mac_commands_len, 50);
    }
}

#[test]
fn confirmed_uplink_alone_gets_an_empty_ack() {
    let mut case = Case::new(V1_0);
    case.confirmed = true;
    let plan = case.plan();
    let r = received(&case, &plan, 0);
    assert!(r.fctrl.ack());
    assert_eq!((r.fport, r.fopts.len()), (None, 0));
    assert_eq!(plan.frame.items[0].phy_payload.len(), 12);
}

#[test]
fn adr_bit_follows_the_network_setting() {
    let mut case = Case::new(V1_0);
    case.must_send = true;
    case.settings.adr_disabled = true;
    let plan = case.plan();
    assert!(!received(&case, &plan, 0).fctrl.adr());
}

#[test]
fn fpending_when_more_items_wait() {
    let mut case = Case::new(V1_0);
    case.queue = vec![item(1, false, b"first"), item(1, false, b"second")];
    let plan = case.plan();
    let r = received(&case, &plan, 0);
    assert_eq!(r.payload, b"first");
    assert!(r.fctrl.f_pending());
}

// ---------------------------------------------------------------------------
// Nothing to send, and what requires a downlink

#[test]
fn nothing_to_send_gives_no_plan() {
    let case = Case::new(V1_0);
    let response = case.respond().unwrap();
    assert!(response.plan.is_none());
    assert!(response.discarded.is_empty());
    // No gateway is needed to send nothing.
    let mut case = Case::new(V1_0);
    case.rx_infos.clear();
    assert!(case.respond().unwrap().plan.is_none());
}

#[test]
fn adr_ack_req_and_must_send_require_an_empty_downlink() {
    let mut case = Case::new(V1_1);
    case.adr_ack_req = true;
    let r = received(&case, &case.plan(), 0);
    assert_eq!((r.fport, r.fopts.len(), r.fctrl.ack()), (None, 0, false));

    let mut case = Case::new(V1_1);
    case.must_send = true;
    assert_eq!(case.plan().frame.items.len(), 2);
}

#[test]
fn something_to_send_without_gateway_is_an_error() {
    let mut case = Case::new(V1_0);
    case.confirmed = true;
    case.rx_infos.clear();
    assert_eq!(case.respond().unwrap_err(), DownlinkError::NoGateway);
}

// ---------------------------------------------------------------------------
// Queue rules

#[test]
fn too_large_item_is_dropped_with_payload_size_and_the_next_one_is_sent() {
    let mut case = Case::new(V1_0);
    case.dr = 0; // EU868 DR0: N = 51.
    case.confirmed = true;
    case.mac_commands = DEV_STATUS_REQ.to_vec();
    case.queue = vec![item(1, false, &[0xaa; 60]), item(2, false, b"small")];
    let response = case.respond().unwrap();
    let [dropped] = &response.discarded[..] else {
        panic!("one item dropped: {:?}", response.discarded)
    };
    assert_eq!(dropped.id, case.queue[0].id);
    assert_eq!(
        dropped.reason,
        DiscardReason::PayloadSize {
            max_payload_size: 51,
            item_size: 60
        }
    );
    assert_eq!(dropped.reason.log_code(), Some("DOWNLINK_PAYLOAD_SIZE"));
    let plan = response.plan.unwrap();
    let r = received(&case, &plan, 0);
    assert_eq!((r.fport, r.payload.as_slice()), (Some(2), &b"small"[..]));
    assert!(r.fctrl.ack());
    assert_eq!(r.mac_commands(), [MacCommand::DevStatusReq]);
}

#[test]
fn too_large_only_item_still_lets_the_ack_and_mac_commands_go() {
    let mut case = Case::new(V1_1);
    case.dr = 0;
    case.confirmed = true;
    case.mac_commands = DEV_STATUS_REQ.to_vec();
    case.queue = vec![item(1, false, &[0; 52])];
    let response = case.respond().unwrap();
    assert_eq!(response.discarded.len(), 1);
    let plan = response.plan.unwrap();
    let r = received(&case, &plan, 0);
    assert!(r.fctrl.ack());
    assert!(!r.fctrl.f_pending());
    assert_eq!(r.fport, None);
    assert_eq!(r.mac_commands(), [MacCommand::DevStatusReq]);
}

#[test]
fn item_too_large_for_rx2_only_rides_in_rx1() {
    let mut case = Case::new(V1_1);
    case.queue = vec![item(3, false, &[7; 100])]; // RX1 DR5: 242; RX2 DR0: 51.
    let plan = case.plan();
    let rx1 = received(&case, &plan, 0);
    assert_eq!((rx1.fport, rx1.payload.len(), rx1.f_cnt), (Some(3), 100, 3));
    assert!(!rx1.fctrl.f_pending());
    let rx2 = received(&case, &plan, 1);
    assert_eq!((rx2.fport, rx2.f_cnt), (None, 7), "empty, on NFCntDown");
    assert!(
        rx2.fctrl.f_pending(),
        "the item waits for the next downlink"
    );
    assert_eq!(plan.tx_ack.items[1].counter, FCntDownCounter::Network);
}

#[test]
fn expired_item_is_dropped_with_expired_even_when_nothing_is_sent() {
    let mut case = Case::new(V1_0);
    let mut old = item(1, false, b"late");
    old.expires_at = Some(case.now - Duration::from_secs(1));
    let mut fresh = item(1, false, b"fresh");
    fresh.expires_at = Some(case.now + Duration::from_secs(60));
    case.queue = vec![old.clone()];
    let response = case.respond().unwrap();
    assert!(response.plan.is_none());
    assert_eq!(response.discarded.len(), 1);
    assert_eq!(response.discarded[0].reason.log_code(), Some("EXPIRED"));

    case.queue = vec![old, fresh];
    let response = case.respond().unwrap();
    assert_eq!(response.discarded.len(), 1);
    let plan = response.plan.unwrap();
    assert_eq!(received(&case, &plan, 0).payload, b"fresh");
}

#[test]
fn pending_confirmed_item_blocks_until_its_timeout_then_is_not_acknowledged() {
    let mut case = Case::new(V1_0);
    let mut pending = item(1, true, b"confirm me");
    pending.is_pending = true;
    pending.f_cnt_down = Some(6);
    pending.timeout_after = Some(case.now + Duration::from_secs(5));
    case.queue = vec![pending.clone(), item(1, false, b"next")];
    let response = case.respond().unwrap();
    assert!(response.plan.is_none(), "the queue waits for the ACK");
    assert!(response.discarded.is_empty());

    // Timed out (class C), or no timeout at all (class A: this uplink did
    // not acknowledge it).
    for timeout_after in [Some(case.now), None] {
        case.queue[0].timeout_after = timeout_after;
        let response = case.respond().unwrap();
        let [d] = &response.discarded[..] else {
            panic!()
        };
        assert_eq!(
            (d.id, d.f_cnt_down, d.reason),
            (pending.id, Some(6), DiscardReason::NotAcknowledged)
        );
        assert_eq!(d.reason.log_code(), None);
        let plan = response.plan.unwrap();
        assert_eq!(received(&case, &plan, 0).payload, b"next");
    }
}

#[test]
fn items_on_network_ports_are_dropped() {
    let mut case = Case::new(V1_0);
    case.queue = vec![item(0, false, b"x"), item(226, false, b"y")];
    let response = case.respond().unwrap();
    let reasons: Vec<_> = response.discarded.iter().map(|d| d.reason).collect();
    assert_eq!(
        reasons,
        [
            DiscardReason::InvalidFPort(0),
            DiscardReason::InvalidFPort(226)
        ]
    );
    assert!(response.plan.is_none());
}

// ---------------------------------------------------------------------------
// Receive windows

#[test]
fn eu868_rx1_and_rx2_parameters() {
    let mut case = Case::new(V1_0);
    case.must_send = true;
    case.dr = 3; // SF9
    case.frequency = 868_300_000;
    let plan = case.plan();
    assert_eq!(plan.frame.gateway_id, GW1);
    let (rx1, rx2) = (tx(&plan, 0), tx(&plan, 1));
    assert_eq!(
        (rx1.frequency, rx1.power, delay_of(rx1)),
        (868_300_000, 16, 1)
    );
    let l = lora_of(rx1);
    assert_eq!((l.spreading_factor, l.bandwidth), (9, 125_000));
    assert!(l.polarization_inversion);
    assert_eq!(
        (rx2.frequency, rx2.power, delay_of(rx2)),
        (869_525_000, 29, 2)
    );
    assert_eq!(lora_of(rx2).spreading_factor, 12);
    for t in [rx1, rx2] {
        assert_eq!((t.board, t.antenna), (1, 2));
        assert_eq!(t.context, GW1.as_bytes()[..4]);
    }
    assert_eq!(plan.tx_ack.items[0].window, Window::Rx1);
    assert_eq!(plan.tx_ack.items[1].window, Window::Rx2);

    // RX1DROffset 2 and RxDelay 3 from the session; a fixed power.
    case.session.rx1_dr_offset = 2;
    case.session.rx1_delay = 3;
    case.settings.downlink_tx_power = Some(14);
    let plan = case.plan();
    assert_eq!(lora_of(tx(&plan, 0)).spreading_factor, 11, "DR3 - 2 = DR1");
    assert_eq!((delay_of(tx(&plan, 0)), delay_of(tx(&plan, 1))), (3, 4));
    assert_eq!((tx(&plan, 0).power, tx(&plan, 1).power), (14, 14));
}

#[test]
fn us915_rx1_and_rx2_parameters() {
    let mut case = Case::new(V1_0);
    case.network = network(Region::Us915, |_| {});
    case.profile = profile(Region::Us915, MacVersion::V1_0_3, Revision::Rp002_1_0_3);
    case.session.rx2_dr = 8;
    case.session.rx2_frequency = 923_300_000;
    case.session.rx1_delay = 5;
    case.must_send = true;
    case.dr = 0; // SF10/125 on channel 9.
    case.frequency = 902_300_000 + 9 * 200_000;
    let plan = case.plan();
    let (rx1, rx2) = (tx(&plan, 0), tx(&plan, 1));
    assert_eq!(
        rx1.frequency,
        923_300_000 + 600_000,
        "downlink channel 9 % 8 = 1"
    );
    let l = lora_of(rx1);
    assert_eq!((l.spreading_factor, l.bandwidth), (10, 500_000), "DR10");
    assert_eq!((rx1.power, delay_of(rx1)), (21, 5));
    assert_eq!(rx2.frequency, 923_300_000);
    let l = lora_of(rx2);
    assert_eq!((l.spreading_factor, l.bandwidth), (12, 500_000), "DR8");
    assert_eq!(delay_of(rx2), 6);
    // The payload limits follow: DR10 N = 242, DR8 N = 53 (RP002-1.0.3).
    let windows = case.windows();
    let limits: Vec<usize> = windows.iter().map(|w| w.max_payload).collect();
    assert_eq!(limits, [242, 53]);
}

#[test]
fn rx_window_setting_offers_one_window() {
    let mut case = Case::new(V1_0);
    case.must_send = true;
    case.settings.rx_window = RxWindowSelection::Rx1;
    let plan = case.plan();
    assert_eq!(plan.frame.items.len(), 1);
    assert_eq!(tx(&plan, 0).frequency, 868_100_000);
    case.settings.rx_window = RxWindowSelection::Rx2;
    let plan = case.plan();
    assert_eq!(plan.frame.items.len(), 1);
    assert_eq!(tx(&plan, 0).frequency, 869_525_000);
    assert_eq!(plan.tx_ack.items[0].window, Window::Rx2);
}

fn window_order(case: &Case) -> Vec<Window> {
    case.plan().tx_ack.items.iter().map(|i| i.window).collect()
}

#[test]
fn rx2_goes_first_below_rx2_prefer_on_rx1_dr_lt() {
    let mut case = Case::new(V1_0);
    case.must_send = true;
    case.dr = 2;
    case.settings.rx2_prefer_on_rx1_dr_lt = 3;
    assert_eq!(window_order(&case), [Window::Rx2, Window::Rx1]);
    case.dr = 3;
    assert_eq!(window_order(&case), [Window::Rx1, Window::Rx2]);
    // A device whose RX2 is not the network's yet keeps RX1 first.
    case.dr = 2;
    case.session.rx2_dr = 3;
    assert_eq!(window_order(&case), [Window::Rx1, Window::Rx2]);
    // Only with both windows offered.
    case.session.rx2_dr = 0;
    case.settings.rx_window = RxWindowSelection::Rx1;
    assert_eq!(window_order(&case), [Window::Rx1]);
}

#[test]
fn rx2_goes_first_on_a_better_link_budget() {
    let mut case = Case::new(V1_0);
    case.must_send = true;
    case.dr = 5;
    assert_eq!(window_order(&case), [Window::Rx1, Window::Rx2]);
    // SF12 at 29 dBm beats SF7 at 16 dBm.
    case.settings.rx2_prefer_on_link_budget = true;
    assert_eq!(window_order(&case), [Window::Rx2, Window::Rx1]);
    // At the same power and data rate the budgets are equal: RX1 stays.
    case.dr = 0;
    case.settings.downlink_tx_power = Some(14);
    assert_eq!(window_order(&case), [Window::Rx1, Window::Rx2]);
}

#[test]
fn rx2_first_limits_the_queue_item_to_rx2_size() {
    let mut case = Case::new(V1_0);
    case.settings.rx2_prefer_on_link_budget = true;
    case.queue = vec![item(1, false, &[1; 60])]; // fits RX1 (242), not RX2 (51)
    let response = case.respond().unwrap();
    assert_eq!(
        response.discarded[0].reason,
        DiscardReason::PayloadSize {
            max_payload_size: 51,
            item_size: 60
        },
        "the first window's limit decides, as in ChirpStack"
    );
}

#[test]
fn as923_dwell_time_limits_the_payload() {
    let mut case = Case::new(V1_0);
    case.network = network(Region::As923_1, |_| {});
    case.profile = profile(Region::As923_1, MacVersion::V1_0_3, Revision::Rp002_1_0_3);
    case.session.rx2_dr = 2;
    case.session.rx2_frequency = 923_200_000;
    case.session.downlink_dwell_time_400ms = true;
    case.frequency = 923_200_000;
    case.dr = 2;
    let windows = case.windows();
    // DR2 under the 400 ms dwell time: N = 11.
    assert_eq!(windows[0].max_payload, 11);
    case.queue = vec![item(1, false, &[0; 12])];
    assert_eq!(case.respond().unwrap().discarded.len(), 1);
}

// ---------------------------------------------------------------------------
// Gateway selection

#[test]
fn the_gateway_is_chosen_by_margin_weighted_by_receptions() {
    let mut case = Case::new(V1_0);
    case.must_send = true;
    case.dr = 0; // SF12 needs -20 dB.
    // GW1 -12 dB: 8 dB margin. GW2 and GW3 above 10 dB; GW3 heard twice.
    case.rx_infos = vec![
        rx(GW1, -12.0, -100),
        rx(GW2, -5.0, -110),
        rx(GW3, -8.0, -90),
        rx(GW3, -8.0, -92),
    ];
    let mut counts = std::collections::BTreeMap::new();
    let mut rng = StdRng::seed_from_u64(3);
    for _ in 0..3000 {
        let plan = downlink::class_a_response(case.now, &case.request(), &mut rng)
            .unwrap()
            .plan
            .unwrap();
        assert_eq!(tx(&plan, 0).context, plan.frame.gateway_id.as_bytes()[..4]);
        *counts.entry(plan.frame.gateway_id).or_insert(0u32) += 1;
    }
    assert!(!counts.contains_key(GW1), "below the margin: {counts:?}");
    let (gw2, gw3) = (counts[GW2], counts[GW3]);
    assert!((850..1150).contains(&gw2), "weight 1 of 3: {counts:?}");
    assert!((1850..2150).contains(&gw3), "weight 2 of 3: {counts:?}");

    // Nobody with 10 dB: the best margin, then the best RSSI.
    case.rx_infos = vec![
        rx(GW1, -15.0, -100),
        rx(GW2, -12.0, -115),
        rx(GW3, -12.0, -105),
    ];
    for seed in 0..20 {
        let plan =
            downlink::class_a_response(case.now, &case.request(), &mut StdRng::seed_from_u64(seed))
                .unwrap()
                .plan
                .unwrap();
        assert_eq!(plan.frame.gateway_id, GW3);
    }
}

// ---------------------------------------------------------------------------
// TX acks

#[test]
fn tx_ack_ok_advances_the_counter_used_and_deletes_an_unconfirmed_item() {
    for (keys, counter) in [
        (V1_0, FCntDownCounter::Network),
        (V1_1, FCntDownCounter::Application),
    ] {
        let mut case = Case::new(keys);
        case.queue = vec![item(9, false, b"x")];
        let plan = case.plan();
        let before = case.session.clone();
        let outcome =
            downlink::handle_tx_ack(case.now, &plan.tx_ack, &ack(&plan, &[gw::TxAckStatus::Ok]))
                .unwrap();
        let TxAckOutcome::Transmitted(sent) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(
            (sent.item_index, sent.window, sent.counter),
            (0, Window::Rx1, counter)
        );
        assert_eq!(
            sent.queue,
            Some(QueueUpdate::Delete {
                id: case.queue[0].id
            })
        );
        assert_eq!(sent.conf_f_cnt, None);
        let event = sent.event.clone().expect("a txack event for a queue item");
        assert_eq!(
            (
                event.queue_item_id,
                event.f_cnt_down,
                event.gateway_id.as_str()
            ),
            (case.queue[0].id, sent.f_cnt_down, GW1)
        );
        assert_eq!(&event.tx_info, tx(&plan, 0));
        sent.apply(&mut case.session);
        match counter {
            FCntDownCounter::Network => {
                assert_eq!(
                    (case.session.n_f_cnt_down, case.session.a_f_cnt_down),
                    (8, 3)
                );
            }
            FCntDownCounter::Application => {
                assert_eq!(
                    (case.session.n_f_cnt_down, case.session.a_f_cnt_down),
                    (7, 4)
                );
            }
        }
        // Applying twice, or to a session that moved on, never goes back.
        sent.apply(&mut case.session);
        let mut moved = before.clone();
        moved.n_f_cnt_down = 50;
        moved.a_f_cnt_down = 50;
        sent.apply(&mut moved);
        assert_eq!((moved.n_f_cnt_down, moved.a_f_cnt_down), (50, 50));
        let mut queue = case.queue.clone();
        sent.queue.unwrap().apply(&mut queue);
        assert!(queue.is_empty());
    }
}

#[test]
fn tx_ack_ok_marks_a_confirmed_item_pending_with_the_class_c_timeout() {
    let mut case = Case::new(V1_1);
    case.queue = vec![item(9, true, b"x")];
    case.device_class = DeviceClass::C;
    case.profile.class_c_timeout = Duration::from_secs(30);
    let plan = case.plan();
    assert_eq!(plan.tx_ack.pending_timeout, Some(Duration::from_secs(30)));
    let outcome =
        downlink::handle_tx_ack(case.now, &plan.tx_ack, &ack(&plan, &[gw::TxAckStatus::Ok]))
            .unwrap();
    let TxAckOutcome::Transmitted(sent) = outcome else {
        panic!()
    };
    let id = case.queue[0].id;
    assert_eq!(
        sent.queue,
        Some(QueueUpdate::SetPending {
            id,
            f_cnt_down: 3,
            timeout_after: Some(case.now + Duration::from_secs(30)),
        })
    );
    assert_eq!(sent.conf_f_cnt, Some(3));
    sent.apply(&mut case.session);
    assert_eq!((case.session.a_f_cnt_down, case.session.conf_f_cnt), (4, 3));
    let mut queue = case.queue.clone();
    sent.queue.unwrap().apply(&mut queue);
    assert!(queue[0].is_pending);
    assert_eq!(queue[0].f_cnt_down, Some(3));

    // Class A: pending until the next uplink.
    case.device_class = DeviceClass::A;
    let plan = case.plan();
    let TxAckOutcome::Transmitted(sent) =
        downlink::handle_tx_ack(case.now, &plan.tx_ack, &ack(&plan, &[gw::TxAckStatus::Ok]))
            .unwrap()
    else {
        panic!()
    };
    assert!(matches!(
        sent.queue,
        Some(QueueUpdate::SetPending {
            timeout_after: None,
            ..
        })
    ));
}

#[test]
fn tx_ack_errors_on_every_item_log_and_advance_nothing() {
    let mut case = Case::new(V1_1);
    case.queue = vec![item(9, true, b"x")];
    let plan = case.plan();
    let outcome = downlink::handle_tx_ack(
        case.now,
        &plan.tx_ack,
        &ack(
            &plan,
            &[gw::TxAckStatus::TooLate, gw::TxAckStatus::CollisionPacket],
        ),
    )
    .unwrap();
    let TxAckOutcome::Failed(failure) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(failure.status(), Some(gw::TxAckStatus::CollisionPacket));
    assert_eq!(failure.log_code(), "DOWNLINK_GATEWAY");
    assert_eq!(failure.description(), "COLLISION_PACKET");
    assert_eq!(failure.statuses.len(), 2);

    // A gateway that reports only the item it tried.
    let outcome = downlink::handle_tx_ack(
        case.now,
        &plan.tx_ack,
        &ack(&plan, &[gw::TxAckStatus::TooLate]),
    )
    .unwrap();
    assert!(matches!(outcome, TxAckOutcome::Failed(ref f) if f.description() == "TOO_LATE"));

    let mut unknown = ack(&plan, &[]);
    unknown.items.push(gw::DownlinkTxAckItem { status: 99 });
    let TxAckOutcome::Failed(f) =
        downlink::handle_tx_ack(case.now, &plan.tx_ack, &unknown).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (f.status(), f.description()),
        (None, "UNKNOWN_STATUS_99".into())
    );
}

#[test]
fn tx_ack_of_rx2_advances_what_rx2_used() {
    let mut case = Case::new(V1_1);
    case.queue = vec![item(3, false, &[7; 100])]; // only RX1 carries it
    let plan = case.plan();
    let outcome = downlink::handle_tx_ack(
        case.now,
        &plan.tx_ack,
        &ack(&plan, &[gw::TxAckStatus::TooLate, gw::TxAckStatus::Ok]),
    )
    .unwrap();
    let TxAckOutcome::Transmitted(sent) = outcome else {
        panic!()
    };
    assert_eq!((sent.item_index, sent.window), (1, Window::Rx2));
    assert_eq!(
        (sent.counter, sent.f_cnt_down),
        (FCntDownCounter::Network, 7)
    );
    assert_eq!(
        (sent.queue, sent.event.is_none()),
        (None, true),
        "the item is still queued"
    );
    sent.apply(&mut case.session);
    assert_eq!(
        (case.session.n_f_cnt_down, case.session.a_f_cnt_down),
        (8, 3)
    );
}

#[test]
fn tx_acks_that_do_not_fit_are_errors() {
    let mut case = Case::new(V1_0);
    case.must_send = true;
    let plan = case.plan();
    let mut other = ack(&plan, &[gw::TxAckStatus::Ok]);
    other.downlink_id ^= 1;
    assert!(matches!(
        downlink::handle_tx_ack(case.now, &plan.tx_ack, &other),
        Err(TxAckError::DownlinkIdMismatch { .. })
    ));
    assert_eq!(
        downlink::handle_tx_ack(case.now, &plan.tx_ack, &ack(&plan, &[])),
        Err(TxAckError::NoItems(plan.frame.downlink_id))
    );
    let three = ack(&plan, &[gw::TxAckStatus::Ok; 3]);
    assert_eq!(
        downlink::handle_tx_ack(case.now, &plan.tx_ack, &three),
        Err(TxAckError::TooManyItems { sent: 2, acked: 3 })
    );
}

#[test]
fn tx_ack_context_survives_serialization() {
    let mut case = Case::new(V1_1);
    case.queue = vec![item(9, true, b"x")];
    let plan = case.plan();
    assert_ne!(plan.frame.downlink_id, 0);
    assert_eq!(plan.tx_ack.downlink_id, plan.frame.downlink_id);
    let json = serde_json::to_string(&plan.tx_ack).unwrap();
    let back: TxAckContext = serde_json::from_str(&json).unwrap();
    assert_eq!(back, plan.tx_ack);
}

// ---------------------------------------------------------------------------
// Robustness

#[test]
fn seeded_random_inputs_never_panic_and_frames_always_verify() {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let networks = [
        network(Region::Eu868, |_| {}),
        network(Region::Us915, |_| {}),
        network(Region::As923_1, |_| {}),
    ];
    let mut planned = 0;
    for round in 0..3000 {
        let keys = if rng.random_bool(0.5) { V1_0 } else { V1_1 };
        let mut case = Case::new(keys);
        case.network = networks[round % networks.len()].clone();
        case.profile = profile(
            case.network.params.region,
            keys.version,
            Revision::Rp002_1_0_3,
        );
        case.session = session(keys, rng.random(), rng.random());
        case.session.rx1_delay = rng.random_range(0..16);
        case.session.rx1_dr_offset = rng.random_range(0..8);
        case.session.rx2_dr = rng.random_range(0..16);
        case.session.rx2_frequency = rng.random_range(860_000_000..930_000_000);
        case.session.downlink_dwell_time_400ms = rng.random_bool(0.3);
        case.dr = rng.random_range(0..16);
        case.frequency = if rng.random_bool(0.5) {
            rng.random_range(860_000_000..930_000_000)
        } else {
            [868_100_000, 902_300_000, 923_200_000][rng.random_range(0..3usize)]
        };
        case.confirmed = rng.random_bool(0.5);
        case.adr_ack_req = rng.random_bool(0.1);
        case.must_send = rng.random_bool(0.1);
        case.device_class =
            [DeviceClass::A, DeviceClass::B, DeviceClass::C][rng.random_range(0..3usize)];
        case.settings.rx_window = [
            RxWindowSelection::Both,
            RxWindowSelection::Rx1,
            RxWindowSelection::Rx2,
        ][rng.random_range(0..3usize)];
        case.settings.rx2_prefer_on_rx1_dr_lt = rng.random_range(0..16);
        case.settings.rx2_prefer_on_link_budget = rng.random_bool(0.5);
        case.settings.gateway_prefer_min_margin = rng.random_range(-30.0..30.0);
        case.settings.downlink_tx_power = rng.random_bool(0.3).then(|| rng.random_range(-10..40));
        case.rx_infos = (0..rng.random_range(0..5usize))
            .map(|_| gw::UplinkRxInfo {
                gateway_id: format!("{:016x}", rng.random_range(0..4u64)),
                snr: match rng.random_range(0..10) {
                    0 => f32::NAN,
                    1 => f32::INFINITY,
                    _ => rng.random_range(-30.0..20.0),
                },
                rssi: rng.random(),
                context: vec![rng.random(); rng.random_range(0..8usize)],
                ..Default::default()
            })
            .collect();
        case.queue = (0..rng.random_range(0..4usize))
            .map(|_| {
                let mut q = item(
                    rng.random(),
                    rng.random_bool(0.3),
                    &vec![0x5a; rng.random_range(0..260usize)],
                );
                q.is_pending = rng.random_bool(0.2);
                q.timeout_after = rng.random_bool(0.5).then(|| {
                    case.now + Duration::from_secs(rng.random_range(0..10)) - Duration::from_secs(5)
                });
                q.expires_at = rng.random_bool(0.3).then(|| {
                    case.now + Duration::from_secs(rng.random_range(0..10)) - Duration::from_secs(5)
                });
                q
            })
            .collect();
        case.mac_commands = (0..rng.random_range(0..40usize))
            .map(|_| rng.random())
            .collect();

        let Ok(response) = downlink::class_a_response(case.now, &case.request(), &mut rng) else {
            continue;
        };
        let Some(plan) = response.plan else { continue };
        planned += 1;
        assert_eq!(plan.frame.items.len(), plan.tx_ack.items.len());
        for (i, info) in plan.tx_ack.items.iter().enumerate() {
            let r = received(&case, &plan, i);
            assert_eq!(r.fctrl.ack(), case.confirmed);
            assert_eq!(r.fport, info.f_port);
            if let Some(q) = info.queue_item {
                let sent = case.queue.iter().find(|x| x.id == q.id).unwrap();
                assert_eq!(r.payload, sent.data);
            }
        }
        let statuses = [
            gw::TxAckStatus::Ok,
            gw::TxAckStatus::TooLate,
            gw::TxAckStatus::Ignored,
        ];
        let n = rng.random_range(0..=plan.frame.items.len() + 1);
        let acked: Vec<_> = (0..n)
            .map(|_| statuses[rng.random_range(0..3usize)])
            .collect();
        let before = case.session.clone();
        match downlink::handle_tx_ack(case.now, &plan.tx_ack, &ack(&plan, &acked)) {
            Ok(TxAckOutcome::Transmitted(sent)) => {
                sent.apply(&mut case.session);
                assert!(case.session.n_f_cnt_down >= before.n_f_cnt_down);
                assert!(case.session.a_f_cnt_down >= before.a_f_cnt_down);
            }
            Ok(TxAckOutcome::Failed(f)) => assert!(!f.description().is_empty()),
            Ok(other) => panic!("{other:?}"),
            Err(e) => assert!(
                acked.is_empty() || acked.len() > plan.frame.items.len(),
                "{e}"
            ),
        }
    }
    assert!(
        planned > 500,
        "only {planned} plans: the generator is too harsh"
    );
}

// ---------------------------------------------------------------------------
// Class C: sent at once in RX2, through a gateway of the last uplink

/// A class C request of `case`'s session, profile and queue, the last
/// uplink (DR5) heard by `heard`.
fn class_c(
    case: &Case,
    heard: &[gw::UplinkRxInfo],
) -> Result<downlink::ClassCResponse, DownlinkError> {
    let gateways = ns_core::model::DeviceGatewayRxInfo::from_rx_infos("eu868", 5, heard);
    let request = downlink::ClassCRequest {
        dev_eui: DEV_EUI,
        session: &case.session,
        profile: &case.profile,
        network: &case.network,
        settings: &case.settings,
        gateways: &gateways,
        queue: &case.queue,
    };
    downlink::class_c_downlink(case.now, &request, &mut StdRng::seed_from_u64(7))
}

#[test]
fn class_c_item_goes_at_once_on_the_rx2_parameters_of_the_session() {
    let mut case = Case::new(V1_0);
    case.session.rx2_frequency = 869_525_000;
    case.session.rx2_dr = 3;
    case.queue = vec![item(10, false, b"switch on")];
    let plan = class_c(&case, &[rx(GW1, 8.0, -70)]).unwrap().plan.unwrap();
    assert_eq!(plan.frame.items.len(), 1, "one alternative: RX2");
    let tx = tx(&plan, 0);
    assert_eq!(tx.frequency, 869_525_000);
    let lora = lora_of(tx);
    assert_eq!((lora.spreading_factor, lora.bandwidth), (9, 125_000));
    assert!(lora.polarization_inversion);
    assert_eq!(tx.power, 29, "EU868 RX2 sub-band default EIRP");
    assert_eq!(
        tx.timing.as_ref().and_then(|t| t.parameters),
        Some(gw::timing::Parameters::Immediately(
            gw::ImmediatelyTimingInfo {}
        ))
    );
    assert_eq!(
        (tx.board, tx.antenna),
        (1, 2),
        "the gateway's board and antenna"
    );
    assert_eq!(tx.context, GW1.as_bytes()[..4], "the gateway's context");
    let r = received(&case, &plan, 0);
    assert_eq!(r.mtype, MType::UnconfirmedDataDown);
    assert_eq!(r.f_cnt, 7);
    assert!(!r.fctrl.ack(), "no uplink to acknowledge");
    assert!(!r.fctrl.f_pending());
    assert_eq!(
        (r.fport, r.payload.as_slice()),
        (Some(10), &b"switch on"[..])
    );
    assert!(r.fopts.is_empty(), "MAC commands ride on class A only");
    let planned = &plan.tx_ack.items[0];
    assert_eq!(planned.window, Window::Rx2);
    assert_eq!(planned.counter, FCntDownCounter::Network);
    assert_eq!(plan.queue_item_id(), Some(case.queue[0].id));
}

#[test]
fn class_c_lorawan_1_1_uses_afcntdown() {
    let mut case = Case::new(V1_1);
    case.queue = vec![item(10, true, b"x")];
    let plan = class_c(&case, &[rx(GW1, 8.0, -70)]).unwrap().plan.unwrap();
    let r = received(&case, &plan, 0);
    assert_eq!(r.mtype, MType::ConfirmedDataDown);
    assert_eq!(r.f_cnt, 3);
    assert_eq!(plan.tx_ack.items[0].counter, FCntDownCounter::Application);
}

#[test]
fn class_c_gateway_is_chosen_from_the_last_uplink_by_margin() {
    let mut case = Case::new(V1_0);
    case.queue = vec![item(10, false, b"x")];
    // DR5 needs -7.5 dB: only GW2 has the 10 dB margin.
    let heard = [rx(GW1, 1.0, -110), rx(GW2, 9.0, -80), rx(GW3, -5.0, -120)];
    for _ in 0..5 {
        let plan = class_c(&case, &heard).unwrap().plan.unwrap();
        assert_eq!(plan.frame.gateway_id, GW2);
        assert_eq!(plan.tx_ack.gateway_id, GW2);
        assert_eq!(tx(&plan, 0).context, GW2.as_bytes()[..4]);
    }
    assert_eq!(class_c(&case, &[]), Err(DownlinkError::NoGateway));
}

#[test]
fn class_c_too_large_item_is_dropped_and_the_next_one_sent_with_fpending() {
    let mut case = Case::new(V1_0);
    case.session.rx2_dr = 0; // EU868 DR0: 51 bytes
    case.queue = vec![
        item(10, false, &[0; 52]),
        item(11, false, b"fits"),
        item(12, false, b"waits"),
    ];
    let response = class_c(&case, &[rx(GW1, 8.0, -70)]).unwrap();
    assert_eq!(response.discarded.len(), 1);
    assert_eq!(response.discarded[0].id, case.queue[0].id);
    assert_eq!(
        response.discarded[0].reason,
        DiscardReason::PayloadSize {
            max_payload_size: 51,
            item_size: 52
        }
    );
    assert_eq!(
        response.discarded[0].reason.log_code(),
        Some("DOWNLINK_PAYLOAD_SIZE")
    );
    let plan = response.plan.unwrap();
    assert_eq!(plan.queue_item_id(), Some(case.queue[1].id));
    let r = received(&case, &plan, 0);
    assert!(r.fctrl.f_pending(), "an item waits after this one");
    assert!(plan.tx_ack.items[0].f_pending);
}

#[test]
fn class_c_only_too_large_item_gives_no_plan_but_is_dropped() {
    let mut case = Case::new(V1_0);
    case.session.rx2_dr = 0;
    case.queue = vec![item(10, false, &[0; 60])];
    let response = class_c(&case, &[]).unwrap();
    assert_eq!(
        response.plan, None,
        "nothing left to send: no gateway needed"
    );
    assert_eq!(response.discarded.len(), 1);
}

#[test]
fn class_c_pending_item_blocks_until_its_timeout_then_is_dropped() {
    let mut case = Case::new(V1_0);
    let mut pending = item(10, true, b"first");
    pending.is_pending = true;
    pending.f_cnt_down = Some(6);
    pending.timeout_after = Some(case.now + Duration::from_secs(1));
    case.queue = vec![pending, item(10, false, b"second")];
    let blocked = class_c(&case, &[rx(GW1, 8.0, -70)]).unwrap();
    assert_eq!((blocked.plan, blocked.discarded.len()), (None, 0));

    case.now += Duration::from_secs(2);
    let response = class_c(&case, &[rx(GW1, 8.0, -70)]).unwrap();
    assert_eq!(response.discarded[0].reason, DiscardReason::NotAcknowledged);
    assert_eq!(response.discarded[0].f_cnt_down, Some(6));
    assert_eq!(
        response.plan.unwrap().queue_item_id(),
        Some(case.queue[1].id)
    );
}

#[test]
fn class_c_confirmed_item_waits_for_the_profile_class_c_timeout_after_its_tx_ack() {
    let mut case = Case::new(V1_0);
    case.profile.class_c_timeout = Duration::from_secs(12);
    case.queue = vec![item(10, true, b"ack me")];
    let plan = class_c(&case, &[rx(GW1, 8.0, -70)]).unwrap().plan.unwrap();
    assert_eq!(plan.tx_ack.pending_timeout, Some(Duration::from_secs(12)));
    let TxAckOutcome::Transmitted(sent) =
        downlink::handle_tx_ack(case.now, &plan.tx_ack, &ack(&plan, &[gw::TxAckStatus::Ok]))
            .unwrap()
    else {
        panic!("transmitted")
    };
    assert_eq!(
        sent.queue,
        Some(QueueUpdate::SetPending {
            id: case.queue[0].id,
            f_cnt_down: 7,
            timeout_after: Some(case.now + Duration::from_secs(12)),
        })
    );
    let mut session = case.session.clone();
    sent.apply(&mut session);
    assert_eq!(session.n_f_cnt_down, 8);
    assert!(sent.event.is_some(), "a txack event");
}

#[test]
fn class_c_empty_queue_gives_no_plan() {
    let case = Case::new(V1_0);
    let response = class_c(&case, &[rx(GW1, 8.0, -70)]).unwrap();
    assert_eq!((response.plan, response.discarded.len()), (None, 0));
}
