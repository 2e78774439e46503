//! The storage side of data uplinks: reading the sessions of DevAddrs that
//! are not in the pipeline's hot copy (`Storage::devices_by_dev_addrs`, as
//! the pipeline batches them: the cold path), parsing one stored session,
//! and writing accepted uplinks' sessions back in batches
//! (`Storage::update_sessions_if_fcnt`, the conditional update every
//! uplink makes, with `last_seen_at`, for devices drawn at random).
//!
//! ```text
//! cargo bench -p ns-core --bench session_reads
//! cargo bench -p ns-core --bench session_reads -- --devices 50000 --reads 20000
//! ```
//!
//! Options: `--devices N` (devices with a session in a fresh SQLite file in
//! a temporary directory, default 50000), `--reads N` (devices read per
//! batch size, default 20000). Each session is what a settled device has:
//! 20 ADR history entries, 5 extra channels, 8 enabled channels (about
//! 2.5 kB of JSON). DevAddrs are drawn at random, so nearly every read
//! misses SQLite's own page cache and goes to the file (in the OS's).

use std::time::Instant;

use lorawan::crypto::SessionKeys11;
use lorawan::region::{Region, Revision};
use lorawan::{DevAddr, Eui64};
use ns_core::model::{
    AdrHistoryEntry, Application, Device, DeviceProfile, DeviceSession, ExtraChannel, MacVersion,
    Tenant,
};
use ns_core::storage::{SessionUpdate, Storage};

const FIRST_DEV_ADDR: u32 = 0x01b0_0000;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// The next of a fixed pseudo-random sequence (a linear congruential
/// generator), below `n`: the same devices in every run.
fn draw(x: &mut u32, n: u32) -> u32 {
    *x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
    (*x >> 8) % n
}

fn session(i: u32, params: &'static lorawan::region::RegionParams) -> DeviceSession {
    let keys = SessionKeys11 {
        f_nwk_s_int_key: [1; 16].into(),
        s_nwk_s_int_key: [2; 16].into(),
        nwk_s_enc_key: [3; 16].into(),
        app_s_key: [4; 16].into(),
    };
    let mut s = DeviceSession::new(
        DevAddr::from_u32(FIRST_DEV_ADDR + i),
        MacVersion::V1_0_3,
        keys,
        "eu868",
        params,
    );
    s.uplink_adr_history = (0..20)
        .map(|f_cnt| AdrHistoryEntry {
            f_cnt,
            max_snr: 7.5,
            max_rssi: -80,
            tx_power_index: 0,
            gateway_count: 3,
        })
        .collect();
    s.extra_uplink_channels = (0..5)
        .map(|k| ExtraChannel {
            frequency: 867_100_000 + k * 200_000,
            min_dr: 0,
            max_dr: 5,
        })
        .collect();
    s.enabled_uplink_channel_indices = (0..8).collect();
    s
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let devices: u32 = arg("--devices").map_or(50_000, |v| v.parse().expect("--devices N"));
    let reads: usize = arg("--reads").map_or(20_000, |v| v.parse().expect("--reads N"));
    let dir = std::env::temp_dir().join(format!("session-reads-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let url = format!("sqlite://{}/bench.sqlite?mode=rwc", dir.display());
    let storage = Storage::connect(&url).await.expect("database");
    let tenant = Tenant::new("bench");
    storage.create_tenant(&tenant).await.expect("tenant");
    let application = Application::new(tenant.id, "bench");
    storage
        .create_application(&application)
        .await
        .expect("application");
    let profile = DeviceProfile::new(
        tenant.id,
        "bench",
        Region::Eu868,
        MacVersion::V1_0_3,
        Revision::Rp002_1_0_3,
    );
    storage
        .create_device_profile(&profile)
        .await
        .expect("profile");
    let params = lorawan::region::params(Region::Eu868, Revision::Rp002_1_0_3);
    for i in 0..devices {
        let mut device = Device::new(
            Eui64::from_u64(0x0102_0000_0000_0000 + u64::from(i)),
            application.id,
            profile.id,
            format!("d{i}"),
        );
        device.session = Some(session(i, params));
        storage.create_device(&device).await.expect("device");
    }

    let json = serde_json::to_string(&session(0, params)).expect("JSON");
    let reps = 20_000;
    let started = Instant::now();
    for _ in 0..reps {
        let parsed: DeviceSession = serde_json::from_str(&json).expect("session");
        std::hint::black_box(parsed);
    }
    println!(
        "parse one session ({} bytes of JSON): {:.1} µs",
        json.len(),
        started.elapsed().as_secs_f64() * 1e6 / f64::from(reps)
    );

    let mut x: u32 = 12_345;
    for batch in [1usize, 16, 64] {
        let rounds = (reads / batch).max(1);
        let started = Instant::now();
        for _ in 0..rounds {
            let addrs: Vec<DevAddr> = (0..batch)
                .map(|_| DevAddr::from_u32(FIRST_DEV_ADDR + draw(&mut x, devices)))
                .collect();
            let found = storage.devices_by_dev_addrs(&addrs).await.expect("read");
            assert!(found.values().all(|candidates| candidates.len() == 1));
        }
        println!(
            "devices_by_dev_addrs, {batch} DevAddrs a call: {:.1} µs per device",
            started.elapsed().as_secs_f64() * 1e6 / (rounds * batch) as f64
        );
    }

    // Batched conditional writes of the sessions of `batch` devices drawn
    // at random (distinct within a batch), each advancing its FCntUp and
    // setting `last_seen_at`, as the uplink path writes the frames of
    // class A devices it accepted together.
    let mut sessions: Vec<DeviceSession> = (0..devices).map(|i| session(i, params)).collect();
    for batch in [1usize, 16, 64] {
        let rounds = (reads / batch).max(1);
        let started = Instant::now();
        for _ in 0..rounds {
            let mut chosen: Vec<usize> = Vec::with_capacity(batch);
            while chosen.len() < batch {
                let i = draw(&mut x, devices) as usize;
                if !chosen.contains(&i) {
                    chosen.push(i);
                }
            }
            let next: Vec<DeviceSession> = chosen
                .iter()
                .map(|&i| {
                    let mut s = sessions[i].clone();
                    s.f_cnt_up += 1;
                    s
                })
                .collect();
            let now = std::time::SystemTime::now();
            let updates: Vec<SessionUpdate<'_>> = chosen
                .iter()
                .zip(&next)
                .map(|(&i, s)| {
                    let dev_eui = Eui64::from_u64(0x0102_0000_0000_0000 + i as u64);
                    SessionUpdate {
                        seen_at: Some(now),
                        ..SessionUpdate::new(dev_eui, sessions[i].f_cnt_up, s)
                    }
                })
                .collect();
            let made = storage
                .update_sessions_if_fcnt(&updates)
                .await
                .expect("write");
            assert!(made.iter().all(|m| *m));
            for (i, s) in chosen.into_iter().zip(next) {
                sessions[i] = s;
            }
        }
        println!(
            "update_sessions_if_fcnt, {batch} random sessions a call: {:.1} µs per session",
            started.elapsed().as_secs_f64() * 1e6 / (rounds * batch) as f64
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
