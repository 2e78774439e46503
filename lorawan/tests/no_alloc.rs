//! The hot paths of a network server and of a device never touch the heap:
//! parsing, MIC checking and decrypting an uplink (LoRaWAN 1.0 and 1.1), building
//! a signed and encrypted data frame, and the join-request / join-accept
//! exchange. A counting global allocator proves it: every allocation made by the
//! current thread is counted, and each scenario must leave the count unchanged.
//!
//! The count is kept per thread, so tests running in parallel, and the harness
//! itself, do not disturb one another.

// A `#[global_allocator]` has to be an `unsafe impl GlobalAlloc` that calls the
// system allocator's unsafe functions: nothing else in this crate, its library
// included (which keeps `#![forbid(unsafe_code)]`), uses `unsafe`. This is why the
// workspace lint is `deny` rather than `forbid`: a `forbid` could not be lifted
// here.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;

use lorawan::crypto::{self, B1Fields, Keyed};
use lorawan::keys::{
    AppKey, AppSKey, FNwkSIntKey, JSIntKey, NwkKey, NwkSEncKey, NwkSKey, SNwkSIntKey,
};
use lorawan::phy::{
    DataFrame, DataFrameMut, DataFrameRepr, DlSettings, EncryptedJoinAccept, FCtrl, Frame,
    FrameError, JoinAcceptRepr, JoinRequestRepr, JoinType, MAX_PHY_PAYLOAD_LEN, MType, RxDelay,
};
use lorawan::{DevAddr, DevNonce, Eui64, JoinNonce, Mic};

/// The system allocator, counting the allocations of each thread.
struct Counting;

thread_local! {
    // Const-initialised and without destructor: reading it never allocates, so it
    // is safe to use from inside the allocator.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: the slot may already be gone while a thread shuts down.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every call is passed unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the only addition is a thread-local counter update,
// which neither allocates nor unwinds.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller's guarantees for `layout` are passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: `ptr` was allocated by `System` through this allocator with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` through this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns how many heap allocations this thread made meanwhile.
fn allocations_in<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = black_box(f());
    let after = ALLOCATIONS.with(Cell::get);
    (after - before, out)
}

/// Asserts that `f` makes no heap allocation and returns its result.
#[track_caller]
fn no_alloc<R>(f: impl FnOnce() -> R) -> R {
    let (n, out) = allocations_in(f);
    assert_eq!(n, 0, "{n} heap allocation(s) where none were expected");
    out
}

/// Bytes from hex text (test vectors), without allocating.
fn h<const N: usize>(s: &str) -> [u8; N] {
    assert_eq!(s.len(), 2 * N, "hex length");
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex");
    }
    out
}

/// lora-rs's "hello" uplink: DevAddr 01020304, FCnt 1, FPort 1, NwkSKey 02×16,
/// AppSKey 01×16.
const HELLO_UPLINK: &str = "400403020180010001a694642615d6c3b582";

#[test]
fn the_counter_sees_heap_allocations() {
    // Without this, a broken counter would make every other test pass.
    let (n, v) = allocations_in(|| vec![1u8; 64]);
    assert!(n >= 1, "a Vec allocation was not counted");
    assert_eq!(v.len(), 64);
    let (n, _) = allocations_in(|| {
        let mut s = String::new();
        s.push_str("grows");
        s
    });
    assert!(n >= 1);
}

#[test]
fn uplink_1_0_parse_verify_decrypt() {
    let frame: [u8; 18] = h(HELLO_UPLINK);
    let (nwk, app) = no_alloc(|| {
        (
            NwkSKey::from_be_bytes([2; 16]).keyed(),
            AppSKey::from_be_bytes([1; 16]).keyed(),
        )
    });
    let mut out = [0u8; MAX_PHY_PAYLOAD_LEN];
    let len = no_alloc(|| {
        let Ok(Frame::Data(up)) = Frame::parse(&frame) else {
            return None;
        };
        up.verify_uplink_mic_10(&nwk, 1).ok()?;
        Some(up.decrypt_frm_payload_into(&app, 1, &mut out).ok()?.len())
    });
    assert_eq!(len, Some(5));
    assert_eq!(&out[..5], b"hello");

    // The refusals are allocation-free too: a wrong counter fails the MIC.
    let err = no_alloc(|| {
        DataFrame::new_checked(&frame)
            .and_then(|up| up.verify_uplink_mic_10(&nwk, 0x1_0001))
            .err()
    });
    assert!(matches!(err, Some(FrameError::MicMismatch { .. })));
    // And so is a truncated frame.
    let err = no_alloc(|| Frame::parse(&frame[..10]).err());
    assert!(matches!(err, Some(FrameError::Truncated { .. })));
}

/// A LoRaWAN 1.1 uplink with encrypted FOpts, the ACK bit set and an
/// application payload, built and then received; every step is checked.
#[test]
fn uplink_1_1_build_parse_verify_decrypt() {
    let f_int = FNwkSIntKey::from_be_bytes([0x11; 16]).keyed();
    let s_int = SNwkSIntKey::from_be_bytes([0x22; 16]).keyed();
    let enc = NwkSEncKey::from_be_bytes([0x33; 16]).keyed();
    let app = AppSKey::from_be_bytes([0x44; 16]).keyed();
    let b1 = B1Fields {
        conf_f_cnt: 0x0777,
        tx_dr: 5,
        tx_ch: 2,
    };
    let f_cnt = 0x0002_0010;
    let fopts = [0x03, 0x07]; // LinkADRAns
    let payload = *b"twenty bytes payload";

    let mut buf = [0u8; MAX_PHY_PAYLOAD_LEN];
    let n = no_alloc(|| {
        let repr = DataFrameRepr {
            mtype: MType::ConfirmedDataUp,
            dev_addr: DevAddr::from_u32(0x2601_1bda),
            fctrl: FCtrl::default().with_adr(true).with_ack(true),
            fcnt: f_cnt,
            fopts: &fopts,
            fport: Some(42),
            frm_payload: &payload,
        };
        let n = repr.emit(Mic::default(), &mut buf).ok()?;
        let mut frame = DataFrameMut::new_checked(&mut buf[..n]).ok()?;
        frame.crypt_fopts(&enc, f_cnt);
        frame.crypt_frm_payload(&app, f_cnt).ok()?;
        frame.set_uplink_mic_11(&f_int, &s_int, b1, f_cnt).ok()?;
        Some(n)
    })
    .expect("build");
    let frame = &buf[..n];
    assert_ne!(&frame[8..10], &fopts, "FOpts were not encrypted");

    let mut fopts_out = [0u8; 16];
    let mut out = [0u8; MAX_PHY_PAYLOAD_LEN];
    let got = no_alloc(|| {
        let Ok(Frame::Data(up)) = Frame::parse(frame) else {
            return None;
        };
        up.verify_uplink_mic_11(&f_int, &s_int, b1, f_cnt).ok()?;
        up.verify_uplink_cmac_f(&f_int, f_cnt).ok()?;
        let fo = up
            .decrypt_fopts_into(&enc, f_cnt, &mut fopts_out)
            .ok()?
            .len();
        let pl = up
            .decrypt_frm_payload_into(&app, f_cnt, &mut out)
            .ok()?
            .len();
        Some((fo, pl))
    });
    assert_eq!(got, Some((2, 20)));
    assert_eq!(&fopts_out[..2], &fopts);
    assert_eq!(&out[..20], &payload);

    // ConfFCnt is part of the MIC: another one is refused, without allocating.
    let other = B1Fields {
        conf_f_cnt: 0x0778,
        ..b1
    };
    let refused = no_alloc(|| {
        DataFrame::new_checked(frame)
            .and_then(|up| up.verify_uplink_mic_11(&f_int, &s_int, other, f_cnt))
            .is_err()
    });
    assert!(refused);
}

#[test]
fn data_frame_build_matches_known_vector() {
    let nwk = NwkSKey::from_be_bytes([2; 16]).keyed();
    let app = AppSKey::from_be_bytes([1; 16]).keyed();
    let mut buf = [0u8; 64];
    let n = no_alloc(|| {
        let repr = DataFrameRepr {
            mtype: MType::UnconfirmedDataUp,
            dev_addr: DevAddr::from_u32(0x0102_0304),
            fctrl: FCtrl::default().with_adr(true),
            fcnt: 1,
            fopts: &[],
            fport: Some(1),
            frm_payload: b"hello",
        };
        let n = repr.emit(Mic::default(), &mut buf).ok()?;
        let mut frame = DataFrameMut::new_checked(&mut buf[..n]).ok()?;
        frame.crypt_frm_payload(&app, 1).ok()?;
        frame.set_uplink_mic_10(&nwk, 1).ok()?;
        Some(n)
    });
    assert_eq!(n, Some(18));
    assert_eq!(buf[..18], h::<18>(HELLO_UPLINK));

    // A downlink, 1.0 and 1.1 MICs.
    let s_int = SNwkSIntKey::from_be_bytes([5; 16]).keyed();
    let ok = no_alloc(|| {
        let repr = DataFrameRepr {
            mtype: MType::ConfirmedDataDown,
            dev_addr: DevAddr::from_u32(0x0102_0304),
            fctrl: FCtrl::default().with_ack(true),
            fcnt: 76543,
            fopts: &[],
            fport: Some(1),
            frm_payload: b"hello lora",
        };
        let n = repr.emit(Mic::default(), &mut buf).ok()?;
        let mut frame = DataFrameMut::new_checked(&mut buf[..n]).ok()?;
        frame.crypt_frm_payload(&app, 76543).ok()?;
        frame.set_downlink_mic_10(&nwk, 76543).ok()?;
        frame.view().verify_downlink_mic_10(&nwk, 76543).ok()?;
        frame.set_downlink_mic_11(&s_int, 7, 76543).ok()?;
        frame.view().verify_downlink_mic_11(&s_int, 7, 76543).ok()?;
        Some(n)
    });
    assert_eq!(ok, Some(23));
}

#[test]
fn join_request_parse_verify_and_build() {
    let key: AppKey = "0102030405060708090a0b0c0d0e0f10".parse().expect("key");
    let wire: [u8; 23] = h("0001010101010101010202020202020202030309b97b32");
    let mut again = [0u8; 23];
    let ok = no_alloc(|| {
        let keyed = key.keyed();
        let Ok(Frame::JoinRequest(jr)) = Frame::parse(&wire) else {
            return false;
        };
        jr.verify_mic(&keyed).is_ok()
            && jr.dev_nonce() == DevNonce(0x0303)
            && JoinRequestRepr {
                join_eui: jr.join_eui(),
                dev_eui: jr.dev_eui(),
                dev_nonce: jr.dev_nonce(),
            }
            .build(&keyed, &mut again)
                == Ok(23)
            && jr
                .verify_mic(&AppKey::from_be_bytes([9; 16]).keyed())
                .is_err()
    });
    assert!(ok);
    assert_eq!(again, wire);
}

#[test]
fn join_accept_1_0_parse_decrypt_verify_derive() {
    let key: AppKey = "00112233445566778899aabbccddeeff".parse().expect("key");
    let wire: [u8; 17] = h("20493eeb51fba2116f810edb3742975142");
    let keys = no_alloc(|| {
        let keyed = key.keyed();
        let Ok(Frame::JoinAccept(enc)) = Frame::parse(&wire) else {
            return None;
        };
        let ja = enc.decrypt(&keyed);
        ja.verify_mic_10(&keyed).ok()?;
        let plain: [u8; 17] = ja.as_bytes().try_into().ok()?;
        let keys = crypto::derive_session_keys_10(
            &keyed,
            ja.join_nonce(),
            ja.home_net_id(),
            DevNonce::from_le_bytes([0xcc, 0xdd]),
        );
        Some((plain, keys.nwk_s_key, keys.app_s_key))
    });
    let (plain, nwk_s_key, app_s_key) = keys.expect("join-accept");
    assert_eq!(plain, h::<17>("20c70b5701112280190302000043485bbc"));
    assert_eq!(
        nwk_s_key.to_be_bytes(),
        h("406b1337d80753820540e280f81299e9")
    );
    assert_eq!(
        app_s_key.to_be_bytes(),
        h("4f5c409751841b6dfecbd38402237942")
    );
}

#[test]
fn join_accept_1_1_build_parse_decrypt_verify() {
    let bytes: [u8; 16] = h("0102030405060708090a0b0c0d0e0f10");
    let join_eui: Eui64 = "0807060504030201".parse().expect("eui");
    let repr = JoinAcceptRepr {
        join_nonce: JoinNonce::from_u32(65793).expect("join nonce"),
        home_net_id: "020202".parse().expect("net id"),
        dev_addr: "01020304".parse().expect("dev addr"),
        dl_settings: DlSettings::new(true, 0, 0).expect("dl settings"),
        rx_delay: RxDelay(0),
        cf_list: None,
    };
    let mut buf = [0u8; 33];
    let verified = no_alloc(|| {
        let js_int: Keyed<JSIntKey> = JSIntKey::from_be_bytes(bytes).keyed();
        let nwk: Keyed<NwkKey> = NwkKey::from_be_bytes(bytes).keyed();
        let n = repr
            .build_11(
                &js_int,
                JoinType::JoinRequest,
                join_eui,
                DevNonce(258),
                &nwk,
                &mut buf,
            )
            .ok()?;
        let ja = EncryptedJoinAccept::new_checked(&buf[..n])
            .ok()?
            .decrypt(&nwk);
        ja.verify_mic_11(&js_int, JoinType::JoinRequest, join_eui, DevNonce(258))
            .ok()?;
        let wrong_type = ja
            .verify_mic_11(&js_int, JoinType::RejoinType0, join_eui, DevNonce(258))
            .is_err();
        Some((n, wrong_type, ja.repr() == repr))
    });
    assert_eq!(verified, Some((17, true, true)));
    assert_eq!(buf[..17], h::<17>("207abeea06b02920f11c02d0348fcf1815"));
}
