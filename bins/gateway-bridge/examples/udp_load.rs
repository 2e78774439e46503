//! Paced Semtech UDP load through the gateway bridge into Mosquitto.
//!
//! For each mode (1 and 8 `rxpk` per PUSH_DATA) and each rate of a ladder
//! (uplinks/s), the tool:
//! 1. starts a fresh bridge in-process on `127.0.0.1:0` with its own topic
//!    prefix (or uses `--bridge host:port` with `--prefix`),
//! 2. subscribes with rumqttc to `{prefix}/gateway/+/event/up` at QoS 0,
//! 3. acts as N fake gateways: PULL_DATA (waiting for PULL_ACK), one warm-up
//!    PUSH_DATA each (waiting until it arrives on MQTT, so the bridge's MQTT
//!    connection is up), then PUSH_DATA datagrams paced at the target rate for
//!    a fixed duration, round-robin over the gateways,
//! 4. waits a grace period and counts the `event/up` messages received,
//!
//! and reports sent, received, loss and CPU time per uplink, stopping a mode
//! at its first rate with loss.
//!
//! CPU is read from `/proc` (clock ticks, 10 ms resolution): the bridge's own
//! threads (its tokio runtime, named `bridge-rt`) separately from the load
//! generator thread and the MQTT counting client, which share the process;
//! Mosquitto's CPU is read from its `/proc/<pid>/stat` when it can be found.
//!
//! ```text
//! cargo run --release -p gateway-bridge --example udp_load -- \
//!     [--rates 10000,20000,40000,60000,80000,100000,120000,160000] [--modes 1,8] \
//!     [--duration 5] [--gateways 10] [--grace 3] [--block-on] [--no-stop] \
//!     [--bridge HOST:PORT --prefix PREFIX [--bridge-pid PID]]
//! ```

use std::fmt::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use gateway_bridge::Bridge;
use gateway_bridge::config::Config;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

const BROKER: (&str, u16) = ("127.0.0.1", 1883);
/// The thread name of the in-process bridge's runtime.
const BRIDGE_THREADS: &str = "bridge-rt";
/// The thread name of the counting MQTT client's runtime.
const SUB_THREADS: &str = "mqtt-count";
/// A LoRaWAN 1.0 data uplink (DevAddr 01020304, FCnt 1, "hello"), base64.
const PHY_PAYLOAD_B64: &str = "QAQDAgGAAQABppRkJhXWw7WC";

/// Paced Semtech UDP load through the gateway bridge into Mosquitto.
#[derive(Debug, Parser)]
struct Args {
    /// Target rates in uplinks/s, ascending.
    #[arg(long, value_delimiter = ',', default_values_t = [10_000u64, 20_000, 40_000, 60_000, 80_000, 100_000, 120_000, 160_000])]
    rates: Vec<u64>,
    /// `rxpk` per PUSH_DATA datagram, one ladder per value.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 8])]
    modes: Vec<usize>,
    /// Seconds of paced sending per rate.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Number of fake gateways.
    #[arg(long, default_value_t = 10)]
    gateways: u16,
    /// Longest wait, in seconds, for the last uplinks after sending stops.
    #[arg(long, default_value_t = 3.0)]
    grace: f64,
    /// Use this external bridge instead of an in-process one.
    #[arg(long, requires = "prefix")]
    bridge: Option<SocketAddr>,
    /// The external bridge's topic prefix (its event topic template must be
    /// `{prefix}/gateway/{{ .GatewayID }}/event/{{ .EventType }}`).
    #[arg(long)]
    prefix: Option<String>,
    /// The external bridge's process id, to read its CPU time.
    #[arg(long)]
    bridge_pid: Option<u32>,
    /// Drive the in-process bridge with `Runtime::block_on` on a thread of its
    /// own, as the `gateway-bridge` binary does, instead of spawning it onto
    /// the runtime's workers.
    #[arg(long)]
    block_on: bool,
    /// Run the in-process bridge on a single-threaded runtime (one thread
    /// for the bridge loop and its MQTT task).
    #[arg(long)]
    current_thread: bool,
    /// Do not stop a mode at its first rate with loss.
    #[arg(long)]
    no_stop: bool,
}

/// CPU seconds read from `/proc`.
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    process: f64,
    bridge: f64,
    counter: f64,
    broker: Option<f64>,
    external_bridge: Option<f64>,
}

fn ticks_per_second() -> f64 {
    // USER_HZ is 100 on every Linux architecture we run on.
    100.0
}

/// utime + stime, in seconds, of a `/proc/.../stat` file.
fn stat_cpu(path: &str) -> Option<(String, f64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_owned();
    let fields: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // fields[0] is field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, (utime + stime) as f64 / ticks_per_second()))
}

/// The kernel's drop counter of the UDP socket bound to `port` (the last
/// column of `/proc/net/udp`): datagrams lost because its receive buffer was
/// full, i.e. the bridge did not read fast enough.
fn udp_socket_drops(port: u16) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/udp").ok()?;
    let suffix = format!(":{port:04X}");
    text.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields
            .get(1)
            .filter(|local| local.ends_with(&suffix))
            .and_then(|_| fields.last()?.parse().ok())
    })
}

fn find_broker_pid() -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            (comm.trim() == "mosquitto").then_some(pid)
        })
}

fn read_cpu(broker_pid: Option<u32>, bridge_pid: Option<u32>) -> Cpu {
    let mut cpu = Cpu {
        process: stat_cpu("/proc/self/stat").map_or(0.0, |(_, s)| s),
        broker: broker_pid.and_then(|p| stat_cpu(&format!("/proc/{p}/stat")).map(|(_, s)| s)),
        external_bridge: bridge_pid
            .and_then(|p| stat_cpu(&format!("/proc/{p}/stat")).map(|(_, s)| s)),
        ..Cpu::default()
    };
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let path = format!("{}/stat", task.path().display());
            if let Some((comm, secs)) = stat_cpu(&path) {
                if comm.starts_with(BRIDGE_THREADS) {
                    cpu.bridge += secs;
                } else if comm.starts_with(SUB_THREADS) {
                    cpu.counter += secs;
                }
            }
        }
    }
    cpu
}

/// The counting network-server side: a rumqttc client subscribed at QoS 0.
struct Counter {
    received: Arc<AtomicU64>,
    stopping: Arc<AtomicBool>,
    client: AsyncClient,
    task: tokio::task::JoinHandle<()>,
}

impl Counter {
    fn start(rt: &Runtime, prefix: &str) -> anyhow::Result<Self> {
        let id = format!("udp-load-{:016x}", rand::random::<u64>());
        let mut options = MqttOptions::new(id, BROKER.0, BROKER.1);
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_max_packet_size(1 << 20, 1 << 20);
        let received = Arc::new(AtomicU64::new(0));
        let stopping_flag = Arc::new(AtomicBool::new(false));
        let (suback_tx, suback_rx) = oneshot::channel();
        let (client, task) = rt.block_on(async {
            let (client, mut eventloop) = AsyncClient::new(options, 1000);
            let count = Arc::clone(&received);
            let stopping = Arc::clone(&stopping_flag);
            let task = tokio::spawn(async move {
                let mut suback_tx = Some(suback_tx);
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Incoming(Packet::Publish(_))) => {
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(Event::Incoming(Packet::SubAck(_))) => {
                            if let Some(tx) = suback_tx.take() {
                                let _ = tx.send(());
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            if stopping.load(Ordering::Relaxed) {
                                break;
                            }
                            eprintln!("counting MQTT client: {e}");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                }
            });
            client
                .subscribe(format!("{prefix}/gateway/+/event/up"), QoS::AtMostOnce)
                .await?;
            tokio::time::timeout(Duration::from_secs(10), suback_rx)
                .await
                .context("no SUBACK within 10 s: is Mosquitto running on 127.0.0.1:1883?")??;
            anyhow::Ok((client, task))
        })?;
        Ok(Self {
            received,
            stopping: stopping_flag,
            client,
            task,
        })
    }

    fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    fn stop(self, rt: &Runtime) {
        self.stopping.store(true, Ordering::Relaxed);
        rt.block_on(async {
            let _ = self.client.disconnect().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        });
        self.task.abort();
    }
}

/// An in-process bridge on its own runtime.
struct InProcessBridge {
    rt: Arc<Runtime>,
    addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    task: BridgeTask,
}

/// Where `Bridge::run` runs.
enum BridgeTask {
    /// Spawned onto the runtime's workers.
    Spawned(tokio::task::JoinHandle<anyhow::Result<()>>),
    /// Driven by `block_on` on a thread of its own, as `src/main.rs` does.
    BlockOn(std::thread::JoinHandle<anyhow::Result<()>>),
}

impl InProcessBridge {
    fn start(prefix: &str, block_on: bool, current_thread: bool) -> anyhow::Result<Self> {
        let rt = if current_thread {
            tokio::runtime::Builder::new_current_thread()
        } else {
            tokio::runtime::Builder::new_multi_thread()
        }
        .thread_name(BRIDGE_THREADS)
        .enable_all()
        .build()?;
        let config = Config::from_toml_strs(&[&format!(
            r#"
            [backend.semtech_udp]
            udp_bind = "127.0.0.1:0"
            [integration.mqtt]
            event_topic_template = "{prefix}/gateway/{{{{ .GatewayID }}}}/event/{{{{ .EventType }}}}"
            state_topic_template = "{prefix}/gateway/{{{{ .GatewayID }}}}/state/{{{{ .StateType }}}}"
            command_topic_template = "{prefix}/gateway/{{{{ .GatewayID }}}}/command/#"
            state_retained = false
            [integration.mqtt.auth.generic]
            servers = ["tcp://{}:{}"]
            qos = 0
            "#,
            BROKER.0, BROKER.1
        )])?;
        let bridge = rt.block_on(Bridge::bind(config))?;
        let addr = bridge.local_addr();
        let (shutdown, rx) = oneshot::channel();
        let shutdown_signal = async {
            let _ = rx.await;
        };
        let rt = Arc::new(rt);
        let task = if block_on || current_thread {
            let thread_rt = Arc::clone(&rt);
            let name = if current_thread {
                BRIDGE_THREADS.to_owned()
            } else {
                format!("{BRIDGE_THREADS}-main")
            };
            BridgeTask::BlockOn(
                std::thread::Builder::new()
                    .name(name)
                    .spawn(move || thread_rt.block_on(bridge.run(shutdown_signal)))?,
            )
        } else {
            BridgeTask::Spawned(rt.spawn(bridge.run(shutdown_signal)))
        };
        Ok(Self {
            rt,
            addr,
            shutdown,
            task,
        })
    }

    fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(());
        let result = match self.task {
            BridgeTask::Spawned(task) => {
                match self
                    .rt
                    .block_on(async { tokio::time::timeout(Duration::from_secs(10), task).await })
                {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => Err(e.into()),
                    Err(_) => Err(anyhow::anyhow!("the bridge did not stop within 10 s")),
                }
            }
            BridgeTask::BlockOn(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("the bridge thread panicked"))),
        };
        if let Ok(rt) = Arc::try_unwrap(self.rt) {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
        result
    }
}

/// One fake gateway: PUSH_DATA from one socket, PULL_DATA from another, as
/// the reference packet forwarder does.
struct Gateway {
    push: UdpSocket,
    pull: UdpSocket,
    /// A ready PUSH_DATA; bytes 1..3 are the token.
    datagram: Vec<u8>,
}

fn rxpk_json(eui: u64, index: usize) -> String {
    format!(
        concat!(
            r#"{{"time":"2026-11-25T12:00:00.{:06}Z","tmst":{},"chan":{},"rfch":0,"#,
            r#""freq":868.{},"stat":1,"modu":"LORA","datr":"SF7BW125","codr":"4/5","#,
            r#""rssi":-{},"lsnr":7.5,"size":18,"data":"{}"}}"#
        ),
        index,
        3_512_348_611u64.wrapping_add(eui * 1000 + index as u64) % (1 << 32),
        index % 8,
        ["1", "3", "5", "7", "9", "1", "3", "5"][index % 8],
        40 + index,
        PHY_PAYLOAD_B64,
    )
}

impl Gateway {
    fn new(bridge: SocketAddr, eui: u64, rxpk: usize) -> anyhow::Result<Self> {
        let push = UdpSocket::bind("127.0.0.1:0")?;
        let pull = UdpSocket::bind("127.0.0.1:0")?;
        push.connect(bridge)?;
        pull.connect(bridge)?;
        pull.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut datagram = vec![2, 0, 0, 0];
        datagram.extend_from_slice(&eui.to_be_bytes());
        let mut json = String::from(r#"{"rxpk":["#);
        for i in 0..rxpk {
            if i > 0 {
                json.push(',');
            }
            json.push_str(&rxpk_json(eui, i));
        }
        json.push_str("]}");
        datagram.extend_from_slice(json.as_bytes());
        Ok(Self {
            push,
            pull,
            datagram,
        })
    }

    fn pull_data(&self, eui: u64) -> anyhow::Result<()> {
        let mut d = vec![2, 0x12, 0x34, 2];
        d.extend_from_slice(&eui.to_be_bytes());
        self.pull.send(&d)?;
        let mut buf = [0u8; 64];
        let len = self.pull.recv(&mut buf).context("no PULL_ACK within 5 s")?;
        if buf[..len] != [2, 0x12, 0x34, 4] {
            bail!("not a PULL_ACK: {:?}", &buf[..len]);
        }
        Ok(())
    }

    fn push_data(&mut self, token: u16) -> std::io::Result<usize> {
        self.datagram[1..3].copy_from_slice(&token.to_be_bytes());
        self.push.send(&self.datagram)
    }
}

/// A one-off warm-up PUSH_DATA with one rxpk.
fn warm_up_datagram(eui: u64) -> Vec<u8> {
    let mut d = vec![2, 0xff, 0xff, 0];
    d.extend_from_slice(&eui.to_be_bytes());
    d.extend_from_slice(format!(r#"{{"rxpk":[{}]}}"#, rxpk_json(eui, 0)).as_bytes());
    d
}

/// What the generator thread did.
struct Sent {
    datagrams: u64,
    send_errors: u64,
    elapsed: f64,
    cpu: f64,
}

/// Sends PUSH_DATA round-robin over the gateways at `rate / rxpk` datagrams
/// per second for `duration`, in 1 ms steps.
fn generate(mut gateways: Vec<Gateway>, rate: u64, rxpk: usize, duration: Duration) -> Sent {
    let cpu0 = stat_cpu("/proc/thread-self/stat").map_or(0.0, |(_, s)| s);
    let datagram_rate = rate as f64 / rxpk as f64;
    let total = (datagram_rate * duration.as_secs_f64()).round() as u64;
    let start = Instant::now();
    let mut sent = 0u64;
    let mut send_errors = 0u64;
    let mut next = 0usize;
    let count = gateways.len();
    while sent < total {
        let elapsed = start.elapsed().as_secs_f64();
        let due = ((elapsed * datagram_rate) as u64 + 1).min(total);
        while sent < due {
            let gw = &mut gateways[next];
            next = (next + 1) % count;
            if gw.push_data(sent as u16).is_err() {
                send_errors += 1;
            }
            sent += 1;
        }
        if sent < total {
            let next_due = Duration::from_secs_f64((sent as f64) / datagram_rate);
            let now = start.elapsed();
            if next_due > now {
                std::thread::sleep((next_due - now).min(Duration::from_millis(1)));
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = stat_cpu("/proc/thread-self/stat").map_or(0.0, |(_, s)| s) - cpu0;
    Sent {
        datagrams: sent,
        send_errors,
        elapsed,
        cpu,
    }
}

/// The result of one rate.
struct Rung {
    rxpk: usize,
    target: u64,
    sent: u64,
    received: u64,
    achieved: f64,
    send_errors: u64,
    socket_drops: Option<u64>,
    cpu_process: f64,
    cpu_bridge: Option<f64>,
    cpu_generator: f64,
    cpu_counter: f64,
    cpu_broker: Option<f64>,
}

impl Rung {
    fn loss(&self) -> f64 {
        if self.sent == 0 {
            return 0.0;
        }
        100.0 * (self.sent.saturating_sub(self.received)) as f64 / self.sent as f64
    }

    fn per_uplink(&self, secs: f64) -> f64 {
        secs * 1e6 / self.sent.max(1) as f64
    }

    fn row(&self) -> String {
        let us = |v: Option<f64>| {
            v.map_or_else(
                || "n/a".to_owned(),
                |s| format!("{:.2}", self.per_uplink(s)),
            )
        };
        format!(
            "| {} | {} | {:.0} | {} | {} | {:.3} % | {} | {} | {:.2} | {:.2} | {:.2} | {} |",
            self.rxpk,
            self.target,
            self.achieved,
            self.sent,
            self.received,
            self.loss(),
            self.socket_drops
                .map_or_else(|| "n/a".to_owned(), |d| d.to_string()),
            us(self.cpu_bridge),
            self.per_uplink(self.cpu_process),
            self.per_uplink(self.cpu_generator),
            self.per_uplink(self.cpu_counter),
            us(self.cpu_broker),
        )
    }
}

const HEADER: &str = "| rxpk/datagram | target uplinks/s | achieved uplinks/s | sent | received | loss | bridge UDP socket drops (datagrams) | bridge CPU µs/uplink | whole process CPU µs/uplink | generator µs/uplink | MQTT counter µs/uplink | Mosquitto µs/uplink |\n|---|---|---|---|---|---|---|---|---|---|---|---|";

fn run_rung(
    args: &Args,
    sub_rt: &Runtime,
    base_prefix: &str,
    rxpk: usize,
    rate: u64,
    broker_pid: Option<u32>,
) -> anyhow::Result<Rung> {
    let prefix = match &args.prefix {
        Some(p) => p.clone(),
        None => format!("{base_prefix}/r{rxpk}x{rate}"),
    };
    let counter = Counter::start(sub_rt, &prefix)?;
    let bridge = match args.bridge {
        Some(_) => None,
        None => Some(InProcessBridge::start(
            &prefix,
            args.block_on,
            args.current_thread,
        )?),
    };
    let addr = args
        .bridge
        .or(bridge.as_ref().map(|b| b.addr))
        .context("no bridge")?;
    let euis: Vec<u64> = (0..u64::from(args.gateways))
        .map(|i| 0x0016_c001_ff10_0000 + i)
        .collect();
    let gateways = euis
        .iter()
        .map(|&eui| Gateway::new(addr, eui, rxpk))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for (gw, &eui) in gateways.iter().zip(&euis) {
        gw.pull_data(eui)?;
    }
    // Warm-up: one uplink per gateway, all of which must arrive.
    for (gw, &eui) in gateways.iter().zip(&euis) {
        gw.push.send(&warm_up_datagram(eui))?;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while counter.received() < euis.len() as u64 {
        if Instant::now() > deadline {
            bail!(
                "warm-up: {} of {} uplinks arrived on MQTT within 10 s",
                counter.received(),
                euis.len()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    let warm = counter.received();

    let cpu0 = read_cpu(broker_pid, args.bridge_pid);
    let duration = Duration::from_secs_f64(args.duration);
    let generator = std::thread::Builder::new()
        .name("udp-load-gen".into())
        .spawn(move || generate(gateways, rate, rxpk, duration))?;
    let sent = generator
        .join()
        .map_err(|_| anyhow::anyhow!("generator panicked"))?;
    let uplinks = sent.datagrams * rxpk as u64;
    // Grace: until everything arrived, or nothing new for 1 s, or the limit.
    let limit = Instant::now() + Duration::from_secs_f64(args.grace);
    let mut last = counter.received();
    let mut last_change = Instant::now();
    while counter.received() - warm < uplinks && Instant::now() < limit {
        std::thread::sleep(Duration::from_millis(20));
        let now = counter.received();
        if now != last {
            last = now;
            last_change = Instant::now();
        } else if last_change.elapsed() > Duration::from_secs(1) {
            break;
        }
    }
    let cpu1 = read_cpu(broker_pid, args.bridge_pid);
    let socket_drops = udp_socket_drops(addr.port());
    let received = counter.received() - warm;
    counter.stop(sub_rt);
    if let Some(bridge) = bridge {
        bridge.stop()?;
    }
    Ok(Rung {
        rxpk,
        target: rate,
        sent: uplinks,
        received,
        achieved: uplinks as f64 / sent.elapsed,
        send_errors: sent.send_errors,
        socket_drops,
        cpu_process: cpu1.process - cpu0.process,
        cpu_bridge: if args.bridge.is_some() {
            cpu1.external_bridge
                .zip(cpu0.external_bridge)
                .map(|(a, b)| a - b)
        } else {
            Some(cpu1.bridge - cpu0.bridge)
        },
        cpu_generator: sent.cpu,
        cpu_counter: cpu1.counter - cpu0.counter,
        cpu_broker: cpu1.broker.zip(cpu0.broker).map(|(a, b)| a - b),
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sub_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(SUB_THREADS)
        .enable_all()
        .build()?;
    let broker_pid = find_broker_pid();
    let base_prefix = format!("udp-load-{:08x}", rand::random::<u32>());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "udp_load: {} gateways, {} s per rate, {} cores, bridge {}, Mosquitto pid {}",
        args.gateways,
        args.duration,
        cores,
        args.bridge
            .map_or_else(|| "in-process".to_owned(), |a| a.to_string()),
        broker_pid.map_or_else(|| "not found".to_owned(), |p| p.to_string()),
    );
    println!("{HEADER}");
    let mut best: Vec<(usize, Option<Rung>, Option<Rung>)> = Vec::new();
    for &rxpk in &args.modes {
        let mut highest_ok = None;
        let mut first_loss = None;
        for &rate in &args.rates {
            let rung = run_rung(&args, &sub_rt, &base_prefix, rxpk, rate, broker_pid)?;
            println!("{}", rung.row());
            if rung.send_errors > 0 {
                eprintln!("  {} sendto errors", rung.send_errors);
            }
            if rung.received > rung.sent {
                eprintln!(
                    "  more received than sent: {} duplicates?",
                    rung.received - rung.sent
                );
            }
            if rung.received < rung.sent {
                let stop = !args.no_stop;
                if first_loss.is_none() {
                    first_loss = Some(rung);
                }
                if stop {
                    break;
                }
            } else if first_loss.is_none() {
                highest_ok = Some(rung);
            }
        }
        best.push((rxpk, highest_ok, first_loss));
    }
    let mut summary = String::from(
        "\n| rxpk/datagram | highest loss-free rate (uplinks/s, achieved) | bridge CPU µs/uplink there | first rate with loss |\n|---|---|---|---|\n",
    );
    for (rxpk, ok, loss) in &best {
        let _ = writeln!(
            summary,
            "| {rxpk} | {} | {} | {} |",
            ok.as_ref().map_or_else(
                || "none".to_owned(),
                |r| format!("{} ({:.0})", r.target, r.achieved)
            ),
            ok.as_ref()
                .and_then(|r| r.cpu_bridge.map(|c| format!("{:.2}", r.per_uplink(c))))
                .unwrap_or_else(|| "n/a".to_owned()),
            loss.as_ref().map_or_else(
                || "none in the ladder".to_owned(),
                |r| format!("{} ({:.3} % lost)", r.target, r.loss())
            ),
        );
    }
    print!("{summary}");
    Ok(())
}
