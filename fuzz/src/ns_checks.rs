//! The properties the network server's fuzz targets check, on the paths where
//! `ns-core` reads what the network sends: gateway events, application
//! downlink commands, and uplinks from the de-duplicator to the MAC layer.
//! Shared, through `#[path]`, with ns-core's `fuzz_corpus` test, which
//! replays the checked-in corpus on stable in every `cargo test`.
//!
//! Kept apart from `checks.rs`, which the `lorawan` crate's tests compile
//! too and which therefore cannot name `ns-core`.

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use lorawan::crypto::{self, B1Fields, SessionKeys10, SessionKeys11};
use lorawan::keys::{AppKey, AppSKey, FNwkSIntKey, NwkKey, NwkSEncKey, NwkSKey, SNwkSIntKey};
use lorawan::mac::{self as wire, MacCommand};
use lorawan::phy::{DataFrameMut, JoinRequest};
use lorawan::region::{Network, Region, RegionConfig};
use lorawan::{DevAddr, Direction, Eui64, FCnt, NetId};
use ns_core::adr::AdrRegistry;
use ns_core::dedup::{DedupConfig, Deduplicator};
use ns_core::gateway_backend::{GatewayEvent, decode_event};
use ns_core::integration::{
    self, CommandTopic, DEFAULT_COMMAND_TOPIC, Event, parse_downlink_command,
};
use ns_core::join::{self, AcceptParams, JoinOptions};
use ns_core::mac::{self, DesiredSettings, MacConfig, UplinkInfo};
use ns_core::model::{
    Application, Device, DeviceKeys, DeviceProfile, DeviceSession, MacVersion, PendingMacCommand,
    Tenant,
};
use ns_core::uplink;
use packet_forwarder::gw::{self, Encoding, GwMessage};
use prost::Message;
use sqlx::types::chrono::{DateTime, Utc};

/// The time every check runs at: 2023-11-14T22:13:20Z.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// Splits at the first `\n`: a topic line, then the payload.
fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// A gateway message that was decoded: it is written back in protobuf to bytes
/// that read back to the same message, and in JSON without panicking — its
/// `rx_info` and `tx_info` go, as the gateway sent them, into the `up` events
/// of JSON integrations. Messages are compared as JSON values: maps
/// (`metadata`, per-frequency counts) are written in hash order, which differs
/// between two copies of one message, and a NaN is unequal to itself.
fn re_encodes<M: GwMessage>(message: &M) {
    let bytes = gw::encode(message, Encoding::Protobuf);
    let again: M = gw::decode(&bytes, Encoding::Protobuf).expect("emitted protobuf reads back");
    assert_eq!(
        gw::encode(&again, Encoding::Protobuf).len(),
        bytes.len(),
        "protobuf changed"
    );
    assert_eq!(json_value(&again), json_value(message), "protobuf changed");
    let json = gw::encode(message, Encoding::Json);
    // Non-finite floats are written as `null`, which does not read back.
    if let Ok(again) = gw::decode::<M>(&json, Encoding::Json) {
        assert_eq!(json_value(&again), json_value(message), "JSON changed");
    }
}

/// A message's JSON encoding as a value.
fn json_value<M: GwMessage>(message: &M) -> serde_json::Value {
    serde_json::from_slice(&gw::encode(message, Encoding::Json)).expect("emitted JSON parses")
}

/// The topic prefixes a gateway event is read under: the first byte chooses.
const PREFIXES: [&str; 4] = ["eu868", "", "eu868/", "region/eu868"];

/// A gateway event: the first byte chooses the topic prefix, then the topic up
/// to `\n`, then the payload (protobuf, or JSON when it starts with `{`).
/// An event that decodes is filed under the topic's gateway and re-encodes.
pub fn gateway_event(data: &[u8]) {
    let Some((&select, rest)) = data.split_first() else {
        return;
    };
    let prefix = PREFIXES[usize::from(select) % PREFIXES.len()];
    let (topic, payload) = split_line(rest);
    // As the backend's driver reads the topic.
    let topic = String::from_utf8_lossy(topic);
    let Ok(event) = decode_event(prefix, &topic, payload) else {
        return;
    };
    let gateway = format!("gateway/{}/event/", event.gateway_id());
    assert!(
        topic.to_ascii_lowercase().contains(&gateway),
        "{topic} is not filed under {gateway}"
    );
    match &event {
        GatewayEvent::Up {
            frame, encoding, ..
        } => {
            assert_eq!(*encoding, Encoding::detect(payload));
            re_encodes(frame);
        }
        GatewayEvent::Stats { stats, .. } => {
            re_encodes(stats);
            stats_become_bounded_series(stats);
        }
        GatewayEvent::Ack { ack, .. } => re_encodes(ack),
        _ => {}
    }
}

/// What a gateway's stats add to its time series: bounded families, finite
/// values, and no panic on any modulation or duration.
fn stats_become_bounded_series(stats: &gw::GatewayStats) {
    use lorawan::region::{Region, Revision, params};
    use ns_core::metrics::{self, MAX_SERIES_PER_FAMILY};
    let eu = params(Region::Eu868, Revision::Rp002_1_0_4);
    let counts = metrics::gateway_samples(Some(eu), stats);
    // rx/tx_count, then at most one bound per family (6 families).
    assert!(
        counts.len() <= 2 + 6 * MAX_SERIES_PER_FAMILY,
        "{}",
        counts.len()
    );
    let load = metrics::duty_cycle_samples(stats);
    assert!(load.len() <= MAX_SERIES_PER_FAMILY + 1, "{}", load.len());
    for value in counts.values().chain(load.values()) {
        assert!(value.is_finite() && *value >= 0.0, "{value}");
    }
}

/// The command topic templates a command is read against: the first byte
/// chooses; 3 takes the template from the input's first line.
const TEMPLATES: [&str; 3] = [
    DEFAULT_COMMAND_TOPIC,
    "lora/{{ dev_eui }}/{{command}}/{{application_id}}",
    "{{application_id}}{{dev_eui}}{{command}}",
];

/// A topic to read a payload for when the fuzzed topic does not parse.
fn fallback_topic() -> &'static CommandTopic {
    static TOPIC: OnceLock<CommandTopic> = OnceLock::new();
    TOPIC.get_or_init(|| {
        CommandTopic::parse(
            DEFAULT_COMMAND_TOPIC,
            "application/00000000-0000-0000-0000-000000000001/device/0102030405060708/command/down",
        )
        .expect("the default topic parses")
    })
}

/// An application's downlink command: the first byte chooses the template
/// (and with bit 7 forces JSON, with bit 6 protobuf, else the encoding is
/// detected), then the topic up to `\n`, then the payload. A topic that parses
/// reads back the same from its default form; a command that parses is a
/// queue item of the topic's device, a valid FPort, and times the storage can
/// hold.
pub fn downlink_command(data: &[u8]) {
    let Some((&select, rest)) = data.split_first() else {
        return;
    };
    let (template, rest) = match usize::from(select & 3) {
        3 => {
            let (line, rest) = split_line(rest);
            // Templates are configuration, not input: short ones are enough.
            (String::from_utf8_lossy(&line[..line.len().min(64)]), rest)
        }
        i => (TEMPLATES[i].into(), rest),
    };
    let (topic, payload) = split_line(rest);
    let topic = String::from_utf8_lossy(topic);
    let parsed = CommandTopic::parse(&template, &topic);
    if let Ok(parsed) = &parsed {
        let again = CommandTopic::parse(DEFAULT_COMMAND_TOPIC, &parsed.to_string())
            .expect("a parsed topic in the default template parses");
        assert_eq!(&again, parsed, "topic changed");
    }
    let topic = parsed.as_ref().unwrap_or_else(|_| fallback_topic());
    let encoding = if select & 0x80 != 0 {
        Encoding::Json
    } else if select & 0x40 != 0 {
        Encoding::Protobuf
    } else {
        Encoding::detect(payload)
    };
    let Ok(item) = parse_downlink_command(topic, payload, encoding, now()) else {
        return;
    };
    assert_eq!(item.dev_eui, topic.dev_eui);
    assert!((1..=223).contains(&item.f_port), "FPort {}", item.f_port);
    assert_eq!(item.created_at, now());
    if let Some(expires_at) = item.expires_at {
        assert!(
            storable(expires_at),
            "expires_at {expires_at:?} is beyond what storage (chrono) holds: \
             storage::rows::db_time would panic"
        );
    }
}

/// Whether the storage's `DateTime<Utc>` (what `storage::rows::db_time`
/// converts every stored time to, with chrono's panicking `From`) holds `t`.
fn storable(t: SystemTime) -> bool {
    let (seconds, nanos) = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => (i64::try_from(after.as_secs()).ok(), after.subsec_nanos()),
        Err(e) => {
            let before = e.duration();
            let seconds = i64::try_from(before.as_secs()).ok().map(|s| -s);
            match before.subsec_nanos() {
                0 => (seconds, 0),
                n => (seconds.and_then(|s| s.checked_sub(1)), 1_000_000_000 - n),
            }
        }
    };
    seconds.is_some_and(|s| DateTime::<Utc>::from_timestamp(s, nanos).is_some())
}

/// The DevAddr, keys and EUIs of the one device the uplink checks know.
const DEV_ADDR: u32 = 0x0102_0304;
const DEV_EUI: u64 = 0x0102_0304_0506_0708;
const NWK_KEY: [u8; 16] = [0x11; 16];
const APP_KEY: [u8; 16] = [0x22; 16];
/// 1.0: the NwkSKey; 1.1: FNwkSIntKey, then SNwkSIntKey and NwkSEncKey.
const NWK_S_KEY: [u8; 16] = [0x01; 16];
const APP_S_KEY: [u8; 16] = [0x02; 16];

/// What every uplink check runs against: the EU868 network, the device's
/// owner, its keys, and a LoRaWAN 1.0.3 and a 1.1 profile and session.
struct Fixture {
    network: Network,
    tenant: Tenant,
    application: Application,
    keys: DeviceKeys,
    /// LoRaWAN 1.0.3, then 1.1.
    profiles: [DeviceProfile; 2],
    sessions: [DeviceSession; 2],
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let network = RegionConfig {
            id: "eu868".into(),
            common_name: Some(Region::Eu868),
            ..Default::default()
        }
        .resolve()
        .expect("the EU868 defaults resolve");
        let tenant = Tenant::new("fuzz");
        let application = Application::new(tenant.id, "fuzz");
        let profile = |version| {
            let mut p = DeviceProfile::new(
                tenant.id,
                "fuzz",
                Region::Eu868,
                version,
                lorawan::region::Revision::Rp002_1_0_3,
            );
            p.supports_otaa = true;
            p
        };
        let keys10: SessionKeys11 = SessionKeys10 {
            nwk_s_key: NwkSKey::from_be_bytes(NWK_S_KEY),
            app_s_key: AppSKey::from_be_bytes(APP_S_KEY),
        }
        .into();
        let keys11 = SessionKeys11 {
            f_nwk_s_int_key: FNwkSIntKey::from_be_bytes(NWK_S_KEY),
            s_nwk_s_int_key: SNwkSIntKey::from_be_bytes([0x03; 16]),
            nwk_s_enc_key: NwkSEncKey::from_be_bytes([0x04; 16]),
            app_s_key: AppSKey::from_be_bytes(APP_S_KEY),
        };
        let session = |version, keys| {
            let mut s = DeviceSession::new(
                DevAddr::from_u32(DEV_ADDR),
                version,
                keys,
                "eu868",
                network.params,
            );
            s.f_cnt_up = 100;
            s
        };
        Fixture {
            sessions: [
                session(MacVersion::V1_0_3, keys10),
                session(MacVersion::V1_1_0, keys11),
            ],
            profiles: [profile(MacVersion::V1_0_3), profile(MacVersion::V1_1_0)],
            keys: DeviceKeys::new(
                Eui64::from_u64(DEV_EUI),
                NwkKey::from_be_bytes(NWK_KEY),
                AppKey::from_be_bytes(APP_KEY),
            ),
            tenant,
            application,
            network,
        }
    })
}

/// Gives a fuzzed frame the MIC (and encryption) the device would have given
/// it, so that the checks reach what follows the MIC: the FRMPayload and the
/// LoRaWAN 1.1 FOpts of the input are plaintext, encrypted here.
fn sign(
    frame: &mut gw::UplinkFrame,
    session: &DeviceSession,
    keys: &DeviceKeys,
    network: &Network,
) {
    let tx = frame
        .tx_info
        .as_ref()
        .and_then(|tx| uplink::tx_params(network, tx).ok());
    let phy = frame.phy_payload.as_mut_slice();
    if let Ok(mut data) = DataFrameMut::new_checked(phy) {
        let view = data.view();
        if view.direction() != Direction::Uplink {
            return;
        }
        let f_cnt = FCnt::reconstruct(session.f_cnt_up, view.fcnt());
        let (ack, fport, has_fopts) = (view.fctrl().ack(), view.fport(), !view.fopts().is_empty());
        match fport {
            None => {}
            Some(0 | 226) => {
                let _ = data.crypt_frm_payload(&session.nwk_s_enc_key.keyed(), f_cnt);
            }
            Some(_) => {
                let _ = data.crypt_frm_payload(&session.app_s_key.keyed(), f_cnt);
            }
        }
        if session.mac_version.is_1_1() {
            if has_fopts {
                data.crypt_fopts(&session.nwk_s_enc_key.keyed(), f_cnt);
            }
            let b1 = B1Fields {
                conf_f_cnt: if ack { session.conf_f_cnt as u16 } else { 0 },
                tx_dr: tx.map_or(0, |t| t.dr),
                tx_ch: tx.map_or(0, |t| t.channel),
            };
            let _ = data.set_uplink_mic_11(
                &session.f_nwk_s_int_key.keyed(),
                &session.s_nwk_s_int_key.keyed(),
                b1,
                f_cnt,
            );
        } else {
            let key = NwkSKey::from_be_bytes(session.f_nwk_s_int_key.to_be_bytes());
            let _ = data.set_uplink_mic_10(&key.keyed(), f_cnt);
        }
    } else if let Ok(jr) = JoinRequest::new_checked(&frame.phy_payload) {
        let mic = crypto::join_request_mic(&keys.nwk_key.keyed(), jr.mic_input());
        let n = frame.phy_payload.len();
        frame.phy_payload[n - 4..].copy_from_slice(&mic.to_be_bytes());
    }
}

/// The copies of a frame, 100 ms apart: the second joins the first's set,
/// the third comes late.
const COPY_INTERVAL: Duration = Duration::from_millis(100);
/// The most frames read from one input.
const MAX_FRAMES: usize = 8;

/// Uplinks through the network server's pure functions. The first byte holds
/// flags: bit 0 signs (and encrypts) each frame as the device would, bit 1
/// makes the device LoRaWAN 1.1, bit 2 skips its FCnt check, bit 3 puts its
/// FCntUp just under a 16-bit rollover, bit 4 disables it. The rest is up to
/// eight length-delimited protobuf `gw.UplinkFrame`s, handed to the
/// de-duplicator 100 ms apart. Each set it closes goes through the data
/// uplink path (DevAddr, session and MIC, FCnt, decryption, then the MAC
/// commands and the `up` event in both encodings) and the join path
/// (join-request checks, then the join-accept). Whatever the frames, nothing
/// panics, and what is accepted is the device's.
pub fn ns_uplink(data: &[u8]) {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let v = usize::from(flags & 2 != 0);
    let profile = &f.profiles[v];
    let mut session = f.sessions[v].clone();
    if flags & 8 != 0 {
        session.f_cnt_up = 0x0001_fff0;
    }
    let mut device = Device::new(f.keys.dev_eui, f.application.id, profile.id, "fuzz");
    device.skip_fcnt_check = flags & 4 != 0;
    device.is_disabled = flags & 16 != 0;
    device.session = Some(session.clone());
    let candidates = [(device.clone(), profile.clone())];

    let mut dedup = Deduplicator::new(DedupConfig::default());
    let t0 = Instant::now();
    let mut at = t0;
    for _ in 0..MAX_FRAMES {
        if rest.is_empty() {
            break;
        }
        let Ok(mut frame) = gw::UplinkFrame::decode_length_delimited(&mut rest) else {
            break;
        };
        if flags & 1 != 0 {
            sign(&mut frame, &session, &f.keys, &f.network);
        }
        dedup.handle_frame(at, "eu868", frame);
        at += COPY_INTERVAL;
    }
    dedup.handle_timeout(at + Duration::from_secs(1));
    while let Some(set) = dedup.poll_set() {
        assert!(!set.rx_infos.is_empty(), "a set without a reception");
        let _ = uplink::tx_params(&f.network, &set.tx_info);
        let dev_addr = uplink::data_uplink_dev_addr(&set.phy_payload);
        match uplink::handle_data_uplink(&f.network, &set, &candidates) {
            Ok(mut up) => {
                assert_eq!(dev_addr, Ok(session.dev_addr));
                assert_eq!(up.device.dev_eui, device.dev_eui);
                assert_eq!(up.stored_f_cnt_up, session.f_cnt_up);
                let outcome = mac::handle_data_uplink(now(), &mut up, &MacConfig::default());
                let _ = mac::to_bytes(&outcome.answers);
                let info = integration::device_info(&f.tenant, &f.application, profile, &device);
                let event = Event::from(integration::uplink_event(
                    info,
                    integration::Uplink {
                        deduplication_id: up.deduplication_id,
                        time: now(),
                        dev_addr: up.dev_addr,
                        adr: up.adr,
                        dr: up.tx_params.dr,
                        f_cnt: up.f_cnt,
                        f_port: up.f_port.unwrap_or(0),
                        confirmed: up.confirmed,
                        data: up.data().to_vec(),
                        rx_info: up.rx_infos.clone(),
                        tx_info: up.tx_info.clone(),
                        region_config_id: up.region_config_id.clone(),
                    },
                ));
                let _ = event.encode(Encoding::Protobuf);
                let _ = event.encode(Encoding::Json);
            }
            Err(rejection) => {
                let _ = (rejection.reason.to_string(), rejection.reason.log_code());
            }
        }

        let parsed = join::parse_join_request(&set.phy_payload);
        let Ok(valid) = join::validate_join_request(&set.phy_payload, &device, profile, &f.keys)
        else {
            continue;
        };
        let repr = parsed.expect("a valid join-request parses");
        assert_eq!(
            (valid.dev_eui(), repr.dev_eui),
            (device.dev_eui, device.dev_eui)
        );
        let params = AcceptParams {
            join_nonce: f.keys.join_nonce + 1,
            dev_addr: DevAddr::from_u32(0x2601_1234),
            net_id: NetId::from_be_bytes([0, 0, 1]),
            network: &f.network,
            tx_info: &set.tx_info,
            rx_info: &set.rx_infos[0],
            options: JoinOptions::default(),
        };
        if let Ok(accepted) =
            join::accept(&valid, &device, profile, &f.keys, &params, &mut rand::rng())
        {
            assert_eq!(accepted.session.dev_addr, params.dev_addr);
        }
    }
}

/// The MAC layer on any commands and any stored pending requests. Byte 0:
/// flags (bit 0 LoRaWAN 1.1, bit 1 ADR on, bit 2 the pending bytes stored as
/// they are, one block, as a damaged record would be); byte 1: the uplink's
/// data rate; byte 2: the session's data rate (low nibble) and TX power index
/// (high nibble); byte 3: how many bytes follow as the pending requests (read
/// as downlink commands, grouped by CID as the downlink path records them);
/// the rest: the uplink's MAC commands. `handle_uplink` must answer only with
/// downlink commands that encode, and the next downlink's requests must be
/// planned without panicking.
pub fn ns_mac(data: &[u8]) {
    let Some((&[flags, dr, settings, pending_len], rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let f = fixture();
    let v = usize::from(flags & 1 != 0);
    let profile = &f.profiles[v];
    let mut session = f.sessions[v].clone();
    session.adr = flags & 2 != 0;
    session.dr = settings & 0x0f;
    session.tx_power_index = settings >> 4;
    let (pending, commands) = rest.split_at(usize::from(pending_len).min(rest.len()));
    if flags & 4 != 0 {
        if let Some(&cid) = pending.first() {
            session
                .mac_command_pending
                .push(pending_block(cid, pending.to_vec()));
        }
    } else {
        let requests: Vec<MacCommand> = wire::parse(Direction::Downlink, pending)
            .map_while(Result::ok)
            .collect();
        let mut cids: Vec<u8> = requests.iter().map(MacCommand::cid).collect();
        cids.dedup();
        for cid in cids {
            let mut request = Vec::new();
            for c in requests.iter().filter(|c| c.cid() == cid) {
                let _ = c.emit_to_vec(&mut request);
            }
            if !session.mac_command_pending.iter().any(|p| p.cid == cid) {
                session
                    .mac_command_pending
                    .push(pending_block(cid, request));
            }
        }
    }
    let commands: Vec<MacCommand> = wire::parse(Direction::Uplink, commands)
        .map_while(Result::ok)
        .collect();
    let rx_infos = [gw::UplinkRxInfo {
        gateway_id: "0101010101010101".into(),
        snr: 5.5,
        rssi: -80,
        ..Default::default()
    }];
    let info = UplinkInfo {
        dr,
        rx_infos: &rx_infos,
    };
    let config = MacConfig::default();
    let outcome = mac::handle_uplink(now(), &mut session, profile, &info, &commands, &config);
    for answer in &outcome.answers {
        assert_eq!(answer.direction(), Direction::Downlink, "{answer:?}");
        let mut buf = Vec::new();
        answer.emit_to_vec(&mut buf).expect("an answer encodes");
    }
    let desired = DesiredSettings::from_network(&f.network);
    let adr = AdrRegistry::default();
    let planned = mac::requests(now(), &mut session, profile, &desired, &config, &adr, 15);
    assert!(mac::encoded_len(&planned) <= 15, "{planned:?}");
}

fn pending_block(cid: u8, request: Vec<u8>) -> PendingMacCommand {
    PendingMacCommand {
        cid,
        request,
        attempts: 1,
    }
}

/// Any text as an API token and as a stored password hash: no panic; a
/// token that verifies says what was signed; a hash made here verifies.
pub fn api_auth(data: &[u8]) {
    use ns_core::api::auth::{PasswordHasher, TokenKind, TokenSigner, verify_password};
    let (secret, rest) = data.split_at(data.len().min(8));
    let text = String::from_utf8_lossy(rest);
    let signer = TokenSigner::new(&String::from_utf8_lossy(secret));
    let _ = signer.verify(&text, 1_700_000_000);
    let _ = ns_core::api::auth::bearer_token(&text);
    let (password, stored) = text.split_at(text.find('$').unwrap_or(text.len()));
    let _ = verify_password(password, stored);
    let _ = verify_password(stored, password);

    // What is signed verifies, with the same claims.
    let mut id = [0u8; 16];
    for (i, b) in rest.iter().take(16).enumerate() {
        id[i] = *b;
    }
    let subject = uuid::Uuid::from_bytes(id);
    let claims = signer
        .verify(&signer.sign_api_key(subject), 1_700_000_000)
        .expect("a signed key token verifies");
    assert_eq!((claims.subject, claims.kind), (subject, TokenKind::Key));
    let user = signer.sign_user(subject, 1_700_000_000, Duration::from_secs(60));
    assert!(signer.verify(&user, 1_700_000_000).is_ok());
    assert!(signer.verify(&user, 1_700_000_061).is_err(), "expired");
    let hash = PasswordHasher::new(1).hash(password);
    assert_eq!(verify_password(password, &hash).ok(), Some(true));
}
