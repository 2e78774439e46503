//! Receiving a data uplink on a network server: parse the PHYPayload, check its
//! MIC and decrypt its FRMPayload, here against ChirpStack's `lrwn` 4.13 and
//! lora-rs `lorawan` 0.9 (`lorars`, LoRaWAN 1.0 only).
//!
//! Every implementation does the whole job on every iteration and hands its
//! results (MIC verdict and plaintext) to `black_box`. Before any timing, each is
//! run once through the very function that is timed and checked to accept the
//! MIC and to produce the right plaintext, so that none is measured doing nothing.
//!
//! The keys are kept the way each library allows: ours as [`Keyed`] (AES schedule
//! and CMAC subkeys computed once per session), `lrwn` and `lorars` as raw key
//! bytes, which their APIs expand on every call.
//!
//! Run with `cargo bench -p lorawan@0.1.0 --bench uplink`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use lorawan::crypto::{B1Fields, Keyed};
use lorawan::keys::{AppSKey, FNwkSIntKey, NwkSKey, SNwkSIntKey};
use lorawan::phy::{
    DataFrame, DataFrameMut, DataFrameRepr, FCtrl, Frame, MAX_PHY_PAYLOAD_LEN, MType,
};
use lorawan::{DevAddr, Mic};

/// The application payload: 20 bytes.
const PLAIN: &[u8; 20] = b"temp=21.5;hum=48;ok!";
/// MHDR 1 + FHDR 7 + FPort 1 + FRMPayload 20 + MIC 4.
const FRAME_LEN: usize = 33;
const DEV_ADDR: u32 = 0x2601_1bda;
/// The full frame counter; below 2^16 so that every library reads it from the
/// frame without being told the upper bits.
const FCNT: u32 = 0x1234;
const FPORT: u8 = 10;

const NWK_S_KEY: [u8; 16] = *b"\x2b\x7e\x15\x16\x28\xae\xd2\xa6\xab\xf7\x15\x88\x09\xcf\x4f\x3c";
const APP_S_KEY: [u8; 16] = *b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff";
const F_NWK_S_INT_KEY: [u8; 16] = [0x01; 16];
const S_NWK_S_INT_KEY: [u8; 16] =
    *b"\x10\x32\x54\x76\x98\xba\xdc\xfe\x01\x23\x45\x67\x89\xab\xcd\xef";

/// B1 of the LoRaWAN 1.1 uplink: it acknowledges the confirmed downlink 0x0777.
const B1: B1Fields = B1Fields {
    conf_f_cnt: 0x0777,
    tx_dr: 5,
    tx_ch: 2,
};

type Frame33 = [u8; FRAME_LEN];

/// The uplink as our builders write it, encrypted with the AppSKey and signed by
/// `sign`.
fn build(fctrl: FCtrl, sign: impl FnOnce(&mut DataFrameMut<'_>)) -> Frame33 {
    let repr = DataFrameRepr {
        mtype: MType::UnconfirmedDataUp,
        dev_addr: DevAddr::from_u32(DEV_ADDR),
        fctrl,
        fcnt: FCNT,
        fopts: &[],
        fport: Some(FPORT),
        frm_payload: PLAIN,
    };
    let mut buf = [0u8; FRAME_LEN];
    let n = repr.emit(Mic::default(), &mut buf).expect("emit");
    assert_eq!(n, FRAME_LEN);
    let mut frame = DataFrameMut::new_checked(&mut buf).expect("own frame");
    frame
        .crypt_frm_payload(&AppSKey::from_be_bytes(APP_S_KEY).keyed(), FCNT)
        .expect("encrypt");
    sign(&mut frame);
    buf
}

fn frame_10() -> Frame33 {
    build(FCtrl::default().with_adr(true), |f| {
        f.set_uplink_mic_10(&NwkSKey::from_be_bytes(NWK_S_KEY).keyed(), FCNT)
            .expect("sign 1.0");
    })
}

fn frame_11() -> Frame33 {
    build(FCtrl::default().with_adr(true).with_ack(true), |f| {
        f.set_uplink_mic_11(
            &FNwkSIntKey::from_be_bytes(F_NWK_S_INT_KEY).keyed(),
            &SNwkSIntKey::from_be_bytes(S_NWK_S_INT_KEY).keyed(),
            B1,
            FCNT,
        )
        .expect("sign 1.1");
    })
}

// ---------------------------------------------------------------- ours

/// Session keys of a LoRaWAN 1.0 device, expanded once.
struct Ours10 {
    nwk_s_key: Keyed<NwkSKey>,
    app_s_key: Keyed<AppSKey>,
}

/// Session keys of a LoRaWAN 1.1 device, expanded once.
struct Ours11 {
    f_nwk_s_int_key: Keyed<FNwkSIntKey>,
    s_nwk_s_int_key: Keyed<SNwkSIntKey>,
    app_s_key: Keyed<AppSKey>,
}

/// Parse, verify the 1.0 MIC, decrypt into a stack buffer; `sink` gets the MIC
/// verdict and the plaintext.
#[inline(always)]
fn ours_10<R>(frame: &[u8], keys: &Ours10, f_cnt: u32, sink: impl FnOnce(bool, &[u8]) -> R) -> R {
    let mut out = [0u8; MAX_PHY_PAYLOAD_LEN];
    let Ok(Frame::Data(up)) = Frame::parse(frame) else {
        return sink(false, &[]);
    };
    let mic_ok = up.verify_uplink_mic_10(&keys.nwk_s_key, f_cnt).is_ok();
    let plain = up
        .decrypt_frm_payload_into(&keys.app_s_key, f_cnt, &mut out)
        .unwrap_or_default();
    sink(mic_ok, plain)
}

/// Parse, verify the 1.1 MIC, decrypt into a stack buffer.
#[inline(always)]
fn ours_11<R>(
    frame: &[u8],
    keys: &Ours11,
    b1: B1Fields,
    f_cnt: u32,
    sink: impl FnOnce(bool, &[u8]) -> R,
) -> R {
    let mut out = [0u8; MAX_PHY_PAYLOAD_LEN];
    let Ok(Frame::Data(up)) = Frame::parse(frame) else {
        return sink(false, &[]);
    };
    let mic_ok = up
        .verify_uplink_mic_11(&keys.f_nwk_s_int_key, &keys.s_nwk_s_int_key, b1, f_cnt)
        .is_ok();
    let plain = up
        .decrypt_frm_payload_into(&keys.app_s_key, f_cnt, &mut out)
        .unwrap_or_default();
    sink(mic_ok, plain)
}

// ---------------------------------------------------------------- lrwn

struct Lrwn10 {
    nwk_s_key: lrwn::AES128Key,
    app_s_key: lrwn::AES128Key,
}

struct Lrwn11 {
    f_nwk_s_int_key: lrwn::AES128Key,
    s_nwk_s_int_key: lrwn::AES128Key,
    app_s_key: lrwn::AES128Key,
}

fn lrwn_plain(phy: &lrwn::PhyPayload) -> &[u8] {
    match &phy.payload {
        lrwn::Payload::MACPayload(pl) => match &pl.frm_payload {
            Some(lrwn::FRMPayload::Raw(v)) => v,
            _ => &[],
        },
        _ => &[],
    }
}

/// `PhyPayload::from_slice`, `validate_uplink_data_mic`, `decrypt_frm_payload`.
#[inline(always)]
fn lrwn_10<R>(frame: &[u8], keys: &Lrwn10, sink: impl FnOnce(bool, &[u8]) -> R) -> R {
    let Ok(mut phy) = lrwn::PhyPayload::from_slice(frame) else {
        return sink(false, &[]);
    };
    let mic_ok = phy
        .validate_uplink_data_mic(
            lrwn::MACVersion::LoRaWAN1_0,
            0,
            0,
            0,
            &keys.nwk_s_key,
            &keys.nwk_s_key,
        )
        .unwrap_or(false);
    if phy.decrypt_frm_payload(&keys.app_s_key).is_err() {
        return sink(mic_ok, &[]);
    }
    sink(mic_ok, lrwn_plain(&phy))
}

#[inline(always)]
fn lrwn_11<R>(frame: &[u8], keys: &Lrwn11, b1: B1Fields, sink: impl FnOnce(bool, &[u8]) -> R) -> R {
    let Ok(mut phy) = lrwn::PhyPayload::from_slice(frame) else {
        return sink(false, &[]);
    };
    let mic_ok = phy
        .validate_uplink_data_mic(
            lrwn::MACVersion::LoRaWAN1_1,
            b1.conf_f_cnt.into(),
            b1.tx_dr,
            b1.tx_ch,
            &keys.f_nwk_s_int_key,
            &keys.s_nwk_s_int_key,
        )
        .unwrap_or(false);
    if phy.decrypt_frm_payload(&keys.app_s_key).is_err() {
        return sink(mic_ok, &[]);
    }
    sink(mic_ok, lrwn_plain(&phy))
}

// ---------------------------------------------------------------- lora-rs

struct Lorars10 {
    nwk_s_key: lorars::keys::AES128,
    app_s_key: lorars::keys::AES128,
}

/// `parser::parse`, `validate_mic`, `decrypt`. lora-rs decrypts in place, so the
/// frame is first copied into a stack buffer, as a receiver would do.
#[inline(always)]
fn lorars_10<R>(
    frame: &Frame33,
    keys: &Lorars10,
    f_cnt: u32,
    sink: impl FnOnce(bool, &[u8]) -> R,
) -> R {
    use lorars::parser::{DataPayload, FRMPayload, PhyPayload, parse};
    let mut buf = *frame;
    let Ok(PhyPayload::Data(DataPayload::Encrypted(enc))) = parse(&mut buf[..]) else {
        return sink(false, &[]);
    };
    let mic_ok = enc.validate_mic(&keys.nwk_s_key, f_cnt);
    let Ok(dec) = enc.decrypt(None, Some(&keys.app_s_key), f_cnt) else {
        return sink(mic_ok, &[]);
    };
    match dec.frm_payload() {
        FRMPayload::Data(plain) => sink(mic_ok, plain),
        _ => sink(mic_ok, &[]),
    }
}

// ---------------------------------------------------------------- checks

/// The verdict and plaintext, owned, for the checks before timing.
fn owned(mic_ok: bool, plain: &[u8]) -> (bool, Vec<u8>) {
    (mic_ok, plain.to_vec())
}

fn consume(mic_ok: bool, plain: &[u8]) {
    black_box(mic_ok);
    black_box(plain);
}

fn check(name: &str, got: (bool, Vec<u8>)) {
    assert!(got.0, "{name}: MIC not verified");
    assert_eq!(got.1, PLAIN, "{name}: wrong plaintext");
}

// ---------------------------------------------------------------- benches

fn bench_10(c: &mut Criterion) {
    let frame = frame_10();
    let ours = Ours10 {
        nwk_s_key: NwkSKey::from_be_bytes(NWK_S_KEY).keyed(),
        app_s_key: AppSKey::from_be_bytes(APP_S_KEY).keyed(),
    };
    let lrwn_keys = Lrwn10 {
        nwk_s_key: lrwn::AES128Key::from_bytes(NWK_S_KEY),
        app_s_key: lrwn::AES128Key::from_bytes(APP_S_KEY),
    };
    let lorars_keys = Lorars10 {
        nwk_s_key: lorars::keys::AES128(NWK_S_KEY),
        app_s_key: lorars::keys::AES128(APP_S_KEY),
    };

    check("ours 1.0", ours_10(&frame, &ours, FCNT, owned));
    check("lrwn 1.0", lrwn_10(&frame, &lrwn_keys, owned));
    check("lorars 1.0", lorars_10(&frame, &lorars_keys, FCNT, owned));
    // And each really checks: one flipped bit fails the MIC everywhere.
    let mut bad = frame;
    bad[12] ^= 1;
    assert!(!ours_10(&bad, &ours, FCNT, owned).0);
    assert!(!lrwn_10(&bad, &lrwn_keys, owned).0);
    assert!(!lorars_10(&bad, &lorars_keys, FCNT, owned).0);

    let mut g = c.benchmark_group(
        "uplink decode + MIC verify + decrypt, 1.0 data uplink with 20-byte payload",
    );
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));
    g.bench_function("ours (cached Keyed)", |b| {
        b.iter(|| {
            ours_10(
                black_box(&frame),
                black_box(&ours),
                black_box(FCNT),
                consume,
            )
        });
    });
    g.bench_function("lrwn 4.13", |b| {
        b.iter(|| lrwn_10(black_box(&frame), black_box(&lrwn_keys), consume));
    });
    g.bench_function("lora-rs 0.9", |b| {
        b.iter(|| {
            lorars_10(
                black_box(&frame),
                black_box(&lorars_keys),
                black_box(FCNT),
                consume,
            )
        });
    });
    g.finish();
}

fn bench_11(c: &mut Criterion) {
    let frame = frame_11();
    let ours = Ours11 {
        f_nwk_s_int_key: FNwkSIntKey::from_be_bytes(F_NWK_S_INT_KEY).keyed(),
        s_nwk_s_int_key: SNwkSIntKey::from_be_bytes(S_NWK_S_INT_KEY).keyed(),
        app_s_key: AppSKey::from_be_bytes(APP_S_KEY).keyed(),
    };
    let lrwn_keys = Lrwn11 {
        f_nwk_s_int_key: lrwn::AES128Key::from_bytes(F_NWK_S_INT_KEY),
        s_nwk_s_int_key: lrwn::AES128Key::from_bytes(S_NWK_S_INT_KEY),
        app_s_key: lrwn::AES128Key::from_bytes(APP_S_KEY),
    };

    check("ours 1.1", ours_11(&frame, &ours, B1, FCNT, owned));
    check("lrwn 1.1", lrwn_11(&frame, &lrwn_keys, B1, owned));
    // ConfFCnt is in the MIC (the ACK bit is set): another one fails in both.
    let other = B1Fields {
        conf_f_cnt: B1.conf_f_cnt + 1,
        ..B1
    };
    assert!(!ours_11(&frame, &ours, other, FCNT, owned).0);
    assert!(!lrwn_11(&frame, &lrwn_keys, other, owned).0);

    let mut g = c.benchmark_group(
        "uplink decode + MIC verify + decrypt, 1.1 data uplink with 20-byte payload",
    );
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));
    g.bench_function("ours (cached Keyed)", |b| {
        b.iter(|| {
            ours_11(
                black_box(&frame),
                black_box(&ours),
                black_box(B1),
                black_box(FCNT),
                consume,
            )
        });
    });
    g.bench_function("lrwn 4.13", |b| {
        b.iter(|| {
            lrwn_11(
                black_box(&frame),
                black_box(&lrwn_keys),
                black_box(B1),
                consume,
            )
        });
    });
    g.finish();
}

/// The 1.0 MIC alone, over the frame parsed beforehand: what caching the key
/// schedule and CMAC subkeys in a `Keyed` saves, next to the other libraries'
/// MIC checks.
fn bench_mic(c: &mut Criterion) {
    let frame = frame_10();
    let up = DataFrame::new_checked(&frame).expect("own frame");
    let key = NwkSKey::from_be_bytes(NWK_S_KEY);
    let keyed = key.keyed();
    let lrwn_phy = lrwn::PhyPayload::from_slice(&frame).expect("lrwn parse");
    let lrwn_key = lrwn::AES128Key::from_bytes(NWK_S_KEY);
    let mut lorars_buf = frame;
    let Ok(lorars::parser::PhyPayload::Data(lorars::parser::DataPayload::Encrypted(lorars_enc))) =
        lorars::parser::parse(&mut lorars_buf[..])
    else {
        panic!("lorars parse")
    };
    let lorars_key = lorars::keys::AES128(NWK_S_KEY);

    let lrwn_mic = |phy: &lrwn::PhyPayload, key: &lrwn::AES128Key| {
        phy.validate_uplink_data_mic(lrwn::MACVersion::LoRaWAN1_0, 0, 0, 0, key, key)
            .unwrap_or(false)
    };
    assert!(up.verify_uplink_mic_10(&keyed, FCNT).is_ok());
    assert!(up.verify_uplink_mic_10(&key.keyed(), FCNT).is_ok());
    assert!(up.verify_uplink_mic_10(&keyed, FCNT + 1).is_err());
    assert!(lrwn_mic(&lrwn_phy, &lrwn_key));
    assert!(lorars_enc.validate_mic(&lorars_key, FCNT));
    assert!(!lorars_enc.validate_mic(&lorars_key, FCNT + 1));

    let mut g = c.benchmark_group("1.0 uplink MIC verify alone, frame already parsed");
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));
    g.bench_function("ours, cached Keyed", |b| {
        b.iter(|| black_box(&up).verify_uplink_mic_10(black_box(&keyed), black_box(FCNT)));
    });
    g.bench_function("ours, keyed per frame", |b| {
        b.iter(|| black_box(&up).verify_uplink_mic_10(&black_box(&key).keyed(), black_box(FCNT)));
    });
    g.bench_function("lrwn 4.13", |b| {
        b.iter(|| lrwn_mic(black_box(&lrwn_phy), black_box(&lrwn_key)));
    });
    g.bench_function("lora-rs 0.9", |b| {
        b.iter(|| black_box(&lorars_enc).validate_mic(black_box(&lorars_key), black_box(FCNT)));
    });
    g.finish();
}

criterion_group!(benches, bench_10, bench_11, bench_mic);
criterion_main!(benches);
