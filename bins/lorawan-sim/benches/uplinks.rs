//! How fast one core makes simulated uplinks: signed (MIC) and encrypted
//! data frames from many devices, and the same each wrapped as a Semtech
//! UDP PUSH_DATA (JSON `rxpk`, base64), which is what the simulator sends
//! per gateway that hears a frame.
//!
//! ```sh
//! cargo bench -p lorawan-sim --bench uplinks            # 3 s per case
//! cargo bench -p lorawan-sim --bench uplinks -- --secs 10
//! ```
//!
//! Without `--bench` (as `cargo test` runs benches) each case runs for a
//! moment, as a smoke test.

use std::hint::black_box;
use std::time::{Duration, Instant};

use lorawan::crypto::{SessionKeys10, SessionKeys11};
use lorawan::keys::{AppSKey, FNwkSIntKey, NwkSEncKey, NwkSKey, SNwkSIntKey};
use lorawan::region::{Region, Revision};
use lorawan::{DevAddr, Eui64};
use lorawan_sim::device::{Device, DeviceConfig, LorawanVersion};
use packet_forwarder::semtech_udp::{ProtocolVersion, PushData, PushDataPayload, RxPk};

const DEVICES: u64 = 10_000;

fn devices(version: LorawanVersion) -> Vec<Device> {
    (0..DEVICES)
        .map(|i| {
            let keys: SessionKeys11 = if version.is_1_1() {
                SessionKeys11 {
                    f_nwk_s_int_key: FNwkSIntKey::from_be_bytes([1; 16]),
                    s_nwk_s_int_key: SNwkSIntKey::from_be_bytes([2; 16]),
                    nwk_s_enc_key: NwkSEncKey::from_be_bytes([3; 16]),
                    app_s_key: AppSKey::from_be_bytes([4; 16]),
                }
            } else {
                SessionKeys10 {
                    nwk_s_key: NwkSKey::from_be_bytes([1; 16]),
                    app_s_key: AppSKey::from_be_bytes([4; 16]),
                }
                .into()
            };
            Device::new(DeviceConfig::abp(
                Eui64::from_u64(0x0100_0000_0000_0000 + i),
                DevAddr::from_u32(0x0400_0000 + i as u32),
                keys,
                version,
                Region::Eu868,
                Revision::Rp002_1_0_3,
            ))
        })
        .collect()
}

/// One uplink of every device in turn until `secs` have passed; frames
/// per second.
fn run(devices: &mut [Device], secs: Duration, push_data: bool) -> f64 {
    let payload = [0x42u8; 12];
    let start = Instant::now();
    let mut n: u64 = 0;
    let mut bytes = 0usize;
    while start.elapsed() < secs {
        for device in devices.iter_mut() {
            let tx = device.uplink(1, &payload, false).expect("an uplink");
            if push_data {
                let rxpk = serde_json::json!({
                    "tmst": n as u32,
                    "chan": 0,
                    "rfch": 0,
                    "freq": f64::from(tx.frequency) / 1e6,
                    "stat": 1,
                    "modu": "LORA",
                    "datr": "SF7BW125",
                    "codr": "4/5",
                    "rssi": -60,
                    "lsnr": 9.5,
                    "size": tx.phy_payload.len(),
                    "data": base64::Engine::encode(
                        &base64::engine::general_purpose::STANDARD,
                        &tx.phy_payload
                    ),
                });
                let rxpk: RxPk = serde_json::from_value(rxpk).expect("an rxpk");
                let push = PushData {
                    version: ProtocolVersion::V2,
                    token: n as u16,
                    gateway_eui: Eui64::from_u64(1),
                    payload: PushDataPayload {
                        rxpk: vec![rxpk],
                        stat: None,
                    },
                };
                bytes += black_box(push.to_vec()).len();
            } else {
                bytes += black_box(tx.phy_payload).len();
            }
            n += 1;
        }
    }
    black_box(bytes);
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench");
    let secs = args
        .iter()
        .position(|a| a == "--secs")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(3);
    let secs = if full {
        Duration::from_secs(secs)
    } else {
        Duration::from_millis(50)
    };
    println!("| frames | LoRaWAN | uplinks/s (one core) |");
    println!("|---|---|---:|");
    for (name, version) in [
        ("1.0.3", LorawanVersion::V1_0_3),
        ("1.1", LorawanVersion::V1_1),
    ] {
        for push_data in [false, true] {
            let mut devices = devices(version);
            let rate = run(&mut devices, secs, push_data);
            let what = if push_data {
                "signed, encrypted, as a PUSH_DATA"
            } else {
                "signed, encrypted"
            };
            println!("| {what} | {name} | {rate:.0} |");
        }
    }
}
