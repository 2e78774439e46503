//! `lorawan-sim load`: ABP devices heard by several gateways, uplinks at a
//! rising rate, application `up` events counted.
//!
//! Each uplink is an unconfirmed data frame on FPort 1 whose payload is its
//! sequence number (8 bytes, big-endian), so each `up` event names the
//! uplink it answers and its latency is measured from the publication of
//! the first gateway copy to the event's arrival.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use base64::Engine as _;
use lorawan::crypto::SessionKeys11;
use lorawan::keys::{AppSKey, FNwkSIntKey, NwkSEncKey, NwkSKey, SNwkSIntKey};
use lorawan::phy::{DataFrameMut, DataFrameRepr, FCtrl, MType};
use lorawan::region::{Region, Revision};
use lorawan::{DevAddr, Eui64, Mic};
use ns_core::model::{
    Application, Device, DeviceProfile, DeviceSession, ExtraChannel, Gateway, MacVersion, Tenant,
};
use ns_core::storage::Storage;
use packet_forwarder::gw;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};

/// What to load and how.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The MQTT broker the server's gateway backend and integration use
    /// (MQTT 5).
    #[arg(long, default_value = "127.0.0.1:1883")]
    mqtt: String,
    /// The region's gateway topic prefix.
    #[arg(long, default_value = "eu868")]
    topic_prefix: String,
    /// The subscription that receives the `up` events.
    #[arg(long, default_value = "application/+/device/+/event/up")]
    event_filter: String,
    /// The server's database, to provision devices and gateways in.
    #[arg(long)]
    database: String,
    /// How many ABP devices.
    #[arg(long, default_value_t = 1000)]
    devices: u32,
    /// How many gateways hear each uplink.
    #[arg(long, default_value_t = 3)]
    gateways: u32,
    /// The uplink rates to try, per second, in order; the run stops at the
    /// first one below 99 % delivery.
    #[arg(long, value_delimiter = ',', default_value = "500,1000,2000,3000")]
    rates: Vec<u32>,
    /// How long each rate is held.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// The server's process id, for its CPU time and memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Write the results as JSON here as well.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// A provisioned device.
struct SimDevice {
    dev_addr: DevAddr,
    nwk_s_key: NwkSKey,
    app_s_key: AppSKey,
    f_cnt: u32,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let storage = Storage::connect(&args.database)
        .await
        .context("connecting to the server's database")?;
    let (mut devices, gateways) = provision(&storage, &args).await?;
    storage.close().await;
    eprintln!(
        "provisioned {} ABP devices and {} gateways",
        devices.len(),
        gateways.len()
    );

    let (host, port) = split_host_port(&args.mqtt)?;
    let received: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let subscriber = subscribe(&host, port, &args.event_filter, Arc::clone(&received)).await?;
    let publisher = publisher(&host, port);

    let mut results = Vec::new();
    let mut seq: u64 = 0;
    for &rate in &args.rates {
        let step = run_step(
            &args,
            rate,
            &mut seq,
            &mut devices,
            &gateways,
            &publisher,
            &received,
        )
        .await?;
        println!(
            "rate {rate:>6}/s: sent {:>7}, up events {:>7} ({:>6.2} %), latency p50 {:>7.1} ms p99 {:>7.1} ms, server CPU {:>5.1} % ({:>6.1} µs/uplink), RSS {:>6.1} MiB",
            step["sent"],
            step["received"],
            step["delivered_percent"].as_f64().unwrap_or(0.0),
            step["p50_ms"].as_f64().unwrap_or(0.0),
            step["p99_ms"].as_f64().unwrap_or(0.0),
            step["cpu_percent"].as_f64().unwrap_or(0.0),
            step["cpu_us_per_uplink"].as_f64().unwrap_or(0.0),
            step["rss_mib"].as_f64().unwrap_or(0.0),
        );
        let ok = step["delivered_percent"].as_f64().unwrap_or(0.0) >= 99.0;
        results.push(step);
        if !ok {
            break;
        }
    }
    subscriber.abort();
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&results)?)?;
    }
    Ok(())
}

async fn provision(storage: &Storage, args: &Args) -> anyhow::Result<(Vec<SimDevice>, Vec<Eui64>)> {
    let tenant = Tenant::new(format!("load-{}", uuid::Uuid::new_v4().simple()));
    storage.create_tenant(&tenant).await?;
    let app = Application::new(tenant.id, "load");
    storage.create_application(&app).await?;
    let mut profile = DeviceProfile::new(
        tenant.id,
        "load-abp",
        Region::Eu868,
        MacVersion::V1_0_3,
        Revision::Rp002_1_0_3,
    );
    profile.supports_otaa = false;
    // These devices answer no MAC commands and the simulated gateways send no
    // TX acks: a DevStatusReq would only leave a downlink waiting 60 s for
    // its ack per device.
    profile.device_status_req_interval = 0;
    storage.create_device_profile(&profile).await?;
    let params = lorawan::region::params(Region::Eu868, Revision::Rp002_1_0_3);
    let network = ns_core::config::builtin_region("eu868")
        .context("no built-in eu868 region")?
        .network()?;

    // DevEUIs, DevAddrs and gateway ids unique to this run.
    let run: u32 = rand_u32();
    let mut gateways = Vec::new();
    for g in 0..args.gateways {
        let id = Eui64::from_u64((u64::from(run) << 32) | 0xffff_0000 | u64::from(g));
        storage
            .create_gateway(&Gateway::new(id, tenant.id, format!("load-gw-{g}")))
            .await?;
        gateways.push(id);
    }
    let addr_base = run & 0x01ff_0000;
    let mut devices = Vec::new();
    for i in 0..args.devices {
        let dev_eui = Eui64::from_u64((u64::from(run) << 32) | u64::from(i));
        let dev_addr = DevAddr::from_u32(addr_base.wrapping_add(i) & 0x01ff_ffff);
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&dev_eui.to_be_bytes());
        let nwk_s_key = NwkSKey::from_be_bytes(key);
        key[15] ^= 0xff;
        let app_s_key = AppSKey::from_be_bytes(key);
        let keys = SessionKeys11 {
            f_nwk_s_int_key: FNwkSIntKey::from_be_bytes(nwk_s_key.to_be_bytes()),
            s_nwk_s_int_key: SNwkSIntKey::from_be_bytes(nwk_s_key.to_be_bytes()),
            nwk_s_enc_key: NwkSEncKey::from_be_bytes(nwk_s_key.to_be_bytes()),
            app_s_key,
        };
        let mut session = DeviceSession::new(dev_addr, MacVersion::V1_0_3, keys, "eu868", params);
        session.dr = 5;
        // The device already has the network's channels (as after a join
        // with a CFList): these devices answer no NewChannelReq.
        session.extra_uplink_channels = network
            .extra_channels
            .iter()
            .map(|c| ExtraChannel {
                frequency: c.frequency,
                min_dr: c.min_dr,
                max_dr: c.max_dr,
            })
            .collect();
        session.enabled_uplink_channel_indices = (0..network.uplink_channels.len())
            .filter_map(|i| u8::try_from(i).ok())
            .collect();
        let mut device = Device::new(dev_eui, app.id, profile.id, format!("load-{i}"));
        device.session = Some(session);
        storage.create_device(&device).await?;
        devices.push(SimDevice {
            dev_addr,
            nwk_s_key,
            app_s_key,
            f_cnt: 0,
        });
    }
    Ok((devices, gateways))
}

fn rand_u32() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
        .unwrap_or(0);
    nanos.wrapping_mul(2_654_435_761) ^ std::process::id()
}

fn split_host_port(addr: &str) -> anyhow::Result<(String, u16)> {
    let addr = addr
        .trim_start_matches("tcp://")
        .trim_start_matches("mqtt://");
    let (host, port) = addr
        .rsplit_once(':')
        .context("--mqtt: expected host:port")?;
    Ok((host.to_owned(), port.parse().context("--mqtt: bad port")?))
}

fn options(id: &str, host: &str, port: u16) -> MqttOptions {
    let mut options = MqttOptions::new(
        format!("lorawan-sim-{id}-{:08x}", rand_u32()),
        host.to_owned(),
        port,
    );
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_max_packet_size(Some(1 << 20))
        .set_request_channel_capacity(100_000);
    options
}

fn publisher(host: &str, port: u16) -> AsyncClient {
    let (client, mut eventloop) = AsyncClient::new(options("pub", host, port), 100_000);
    tokio::spawn(async move {
        loop {
            if let Err(error) = eventloop.poll().await {
                eprintln!("publisher: {error}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    });
    client
}

async fn subscribe(
    host: &str,
    port: u16,
    filter: &str,
    received: Arc<Mutex<HashMap<u64, Instant>>>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let (client, mut eventloop) = AsyncClient::new(options("sub", host, port), 1000);
    client.subscribe(filter, QoS::AtMostOnce).await?;
    // Wait for the SUBACK before loading.
    loop {
        match tokio::time::timeout(Duration::from_secs(10), eventloop.poll()).await {
            Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => break,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => anyhow::bail!("subscriber: {e}"),
            Err(_) => anyhow::bail!("subscriber: no SUBACK from the broker"),
        }
    }
    Ok(tokio::spawn(async move {
        let _client = client;
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let now = Instant::now();
                    if let Some(seq) = sequence(&p.payload)
                        && let Ok(mut r) = received.lock()
                    {
                        r.entry(seq).or_insert(now);
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    eprintln!("subscriber: {error}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }))
}

/// The sequence number an `up` event carries, JSON or protobuf.
fn sequence(payload: &[u8]) -> Option<u64> {
    let data = if payload.first() == Some(&b'{') {
        #[derive(serde::Deserialize)]
        struct Up {
            #[serde(default)]
            data: String,
        }
        let up: Up = serde_json::from_slice(payload).ok()?;
        base64::engine::general_purpose::STANDARD
            .decode(up.data)
            .ok()?
    } else {
        let up: ns_core::integration::UplinkEvent =
            ns_core::integration::decode(payload, gw::Encoding::Protobuf).ok()?;
        up.data
    };
    Some(u64::from_be_bytes(data.get(..8)?.try_into().ok()?))
}

/// An encrypted, signed unconfirmed uplink of `device` carrying `seq`.
fn frame(device: &mut SimDevice, seq: u64) -> Vec<u8> {
    let payload = seq.to_be_bytes();
    let f_cnt = device.f_cnt;
    device.f_cnt += 1;
    let repr = DataFrameRepr {
        mtype: MType::UnconfirmedDataUp,
        dev_addr: device.dev_addr,
        fctrl: FCtrl::default(),
        fcnt: f_cnt,
        fopts: &[],
        fport: Some(1),
        frm_payload: &payload,
    };
    let mut buf = vec![0; repr.buffer_len()];
    let Ok(n) = repr.emit(Mic::default(), &mut buf) else {
        return Vec::new();
    };
    buf.truncate(n);
    if let Ok(mut f) = DataFrameMut::new_checked(&mut buf) {
        let _ = f.crypt_frm_payload(&device.app_s_key.keyed(), f_cnt);
        let _ = f.set_uplink_mic_10(&device.nwk_s_key.keyed(), f_cnt);
    }
    buf
}

fn uplink_frame(phy_payload: Vec<u8>, gateway: Eui64, seq: u64) -> gw::UplinkFrame {
    gw::UplinkFrame {
        phy_payload,
        tx_info: Some(gw::UplinkTxInfo {
            frequency: 868_100_000,
            modulation: Some(gw::Modulation {
                parameters: Some(gw::modulation::Parameters::Lora(gw::LoraModulationInfo {
                    bandwidth: 125_000,
                    spreading_factor: 7,
                    code_rate: gw::CodeRate::Cr45.into(),
                    ..Default::default()
                })),
            }),
        }),
        rx_info: Some(gw::UplinkRxInfo {
            gateway_id: gateway.to_string(),
            uplink_id: (seq & 0xffff_ffff) as u32,
            rssi: -60,
            snr: 9.0,
            context: ((seq & 0xffff_ffff) as u32).to_be_bytes().to_vec(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Holds `rate` uplinks per second for `args.seconds`, waits for the
/// stragglers, and measures.
#[allow(clippy::too_many_arguments)]
async fn run_step(
    args: &Args,
    rate: u32,
    seq: &mut u64,
    devices: &mut [SimDevice],
    gateways: &[Eui64],
    publisher: &AsyncClient,
    received: &Mutex<HashMap<u64, Instant>>,
) -> anyhow::Result<serde_json::Value> {
    let first = *seq;
    let total = u64::from(rate) * args.seconds;
    let mut sent_at: Vec<Instant> = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    let cpu_before = args.server_pid.and_then(cpu_ticks);
    let start = Instant::now();
    let tick = Duration::from_millis(5);
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut done: u64 = 0;
    while done < total {
        interval.tick().await;
        // Catch up to where the rate says we should be.
        let due = ((start.elapsed().as_secs_f64() * f64::from(rate)) as u64 + 1).min(total);
        while done < due {
            let n = *seq;
            *seq += 1;
            done += 1;
            let index = usize::try_from(n % devices.len() as u64).unwrap_or(0);
            let phy = frame(&mut devices[index], n);
            sent_at.push(Instant::now());
            for &gateway in gateways {
                let payload = gw::encode(
                    &uplink_frame(phy.clone(), gateway, n),
                    gw::Encoding::Protobuf,
                );
                let topic = format!("{}/gateway/{gateway}/event/up", args.topic_prefix);
                publisher
                    .publish(topic, QoS::AtMostOnce, false, payload)
                    .await?;
            }
        }
    }
    let send_time = start.elapsed();
    // The dedup window, the pipeline and the broker: give them time.
    let settle = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let got = count_received(received, first, *seq);
        if got >= total || settle.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    let elapsed = start.elapsed();
    let cpu = match (cpu_before, args.server_pid.and_then(cpu_ticks)) {
        (Some(a), Some(b)) => Some(Duration::from_millis((b - a) * 10)),
        _ => None,
    };
    let rss = args.server_pid.and_then(rss_kib);

    let mut latencies: Vec<f64> = {
        let r = received.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        (first..*seq)
            .filter_map(|n| {
                let at = r.get(&n)?;
                let sent = sent_at.get(usize::try_from(n - first).ok()?)?;
                Some(at.duration_since(*sent).as_secs_f64() * 1000.0)
            })
            .collect()
    };
    latencies.sort_by(f64::total_cmp);
    let got = latencies.len() as u64;
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[i.min(latencies.len() - 1)]
    };
    let cpu_secs = cpu.map(|c| c.as_secs_f64());
    Ok(serde_json::json!({
        "rate": rate,
        "achieved_rate": total as f64 / send_time.as_secs_f64(),
        "sent": total,
        "received": got,
        "delivered_percent": got as f64 * 100.0 / total.max(1) as f64,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "cpu_percent": cpu_secs.map(|c| c * 100.0 / elapsed.as_secs_f64()),
        "cpu_us_per_uplink": cpu_secs.map(|c| c * 1e6 / total.max(1) as f64),
        "rss_mib": rss.map(|k| k as f64 / 1024.0),
    }))
}

fn count_received(received: &Mutex<HashMap<u64, Instant>>, from: u64, to: u64) -> u64 {
    received
        .lock()
        .map(|r| (from..to).filter(|n| r.contains_key(n)).count() as u64)
        .unwrap_or(0)
}

/// utime + stime of a process, in clock ticks (1/100 s on Linux).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 3, utime 14 and stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The resident set size of a process, KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
