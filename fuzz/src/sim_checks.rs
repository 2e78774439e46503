//! The checks of the `sim_device` fuzz target, shared with the replay test
//! of `bins/lorawan-sim` (included by path).
//!
//! Arbitrary bytes as a frame a simulated device receives — an ABP device
//! with a session, OTAA devices (LoRaWAN 1.0.3 and 1.1) waiting for their
//! join-accept — never panic; and the bytes as the FOpts and payload of a
//! correctly signed downlink make the device apply whatever MAC commands
//! they hold and still build its next uplink.

use lorawan::crypto::{SessionKeys10, SessionKeys11};
use lorawan::keys::{AppKey, AppSKey, NwkKey, NwkSKey};
use lorawan::phy::{DataFrameMut, DataFrameRepr, FCtrl, MType};
use lorawan::region::{Region, Revision};
use lorawan::{DevAddr, Eui64, Mic};
use lorawan_sim::device::{Device, DeviceConfig, DeviceError, LorawanVersion, Received};

const DEV_ADDR: u32 = 0x0400_0001;

fn keys() -> SessionKeys11 {
    SessionKeys10 {
        nwk_s_key: NwkSKey::from_be_bytes([1; 16]),
        app_s_key: AppSKey::from_be_bytes([2; 16]),
    }
    .into()
}

fn abp() -> Device {
    Device::new(DeviceConfig::abp(
        Eui64::from_u64(1),
        DevAddr::from_u32(DEV_ADDR),
        keys(),
        LorawanVersion::V1_0_3,
        Region::Eu868,
        Revision::Rp002_1_0_3,
    ))
}

/// A downlink signed and encrypted as the network would, carrying `fopts`
/// (at most 15 bytes) and `payload` on `f_port`.
fn downlink(
    f_cnt: u32,
    confirmed: bool,
    fopts: &[u8],
    f_port: Option<u8>,
    payload: &[u8],
) -> Option<Vec<u8>> {
    let k = keys();
    let repr = DataFrameRepr {
        mtype: if confirmed {
            MType::ConfirmedDataDown
        } else {
            MType::UnconfirmedDataDown
        },
        dev_addr: DevAddr::from_u32(DEV_ADDR),
        fctrl: FCtrl::default(),
        fcnt: f_cnt,
        fopts,
        fport: f_port,
        frm_payload: payload,
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    let n = repr.emit(Mic::default(), &mut buf).ok()?;
    buf.truncate(n);
    let mut frame = DataFrameMut::new_checked(&mut buf).ok()?;
    let nwk_s = NwkSKey::from_be_bytes(k.f_nwk_s_int_key.to_be_bytes()).keyed();
    match f_port {
        Some(0) => frame.crypt_frm_payload(&nwk_s, f_cnt).ok()?,
        Some(_) => frame.crypt_frm_payload(&k.app_s_key.keyed(), f_cnt).ok()?,
        None => {}
    }
    frame.set_downlink_mic_10(&nwk_s, f_cnt).ok()?;
    Some(buf)
}

pub fn sim_device(data: &[u8]) {
    // As received: whatever it is, no panic; a frame taken once is not
    // taken again.
    let mut device = abp();
    if let Ok(Received::Data(_)) = device.receive(data, 0) {
        assert!(device.receive(data, 0).is_err(), "a replay was taken");
    }
    for version in [LorawanVersion::V1_0_3, LorawanVersion::V1_1] {
        let mut otaa = Device::new(DeviceConfig::otaa(
            Eui64::from_u64(2),
            Eui64::from_u64(3),
            NwkKey::from_be_bytes([4; 16]),
            AppKey::from_be_bytes([5; 16]),
            version,
            Region::Eu868,
            Revision::Rp002_1_0_3,
        ));
        let _ = otaa.join_request();
        if let Ok(Received::Joined { .. }) = otaa.receive(data, 0) {
            assert!(otaa.is_joined());
        }
    }

    // As the MAC commands of an authentic downlink: applied, answered, and
    // the next uplink still built.
    let (head, rest) = data.split_at(data.len().min(15));
    let mut device = abp();
    for (i, (fopts, port, payload)) in [(head, Some(1), rest), (&[][..], Some(0), data)]
        .into_iter()
        .enumerate()
    {
        let Some(frame) = downlink(i as u32, i == 0, fopts, port, payload) else {
            continue;
        };
        match device.receive(&frame, 5) {
            Ok(Received::Data(d)) => assert_eq!(d.f_cnt, i as u32),
            Ok(other) => panic!("a data downlink read as {other:?}"),
            Err(e) => panic!("an authentic downlink refused: {e}"),
        }
        match device.uplink(1, b"x", false) {
            Ok(tx) => assert!(!tx.phy_payload.is_empty()),
            Err(DeviceError::PayloadTooLong { .. }) => {}
            Err(e) => panic!("no uplink after the downlink: {e}"),
        }
    }
}
