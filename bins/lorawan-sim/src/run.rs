//! `lorawan-sim run <scenario>`: provisions the scenario through the
//! server's API (with `server.api_key`), runs it, and prints what became
//! of its uplinks. With a `[load]` section, the devices send at the plan's
//! pace, with a live display of each step and its figures at the end.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use lorawan_sim::device::DeviceState;
use lorawan_sim::downlinks;
use lorawan_sim::events::{Delivery, UpEvents};
use lorawan_sim::pace::{self, LoadEvent, Step};
use lorawan_sim::provision::{self, ApiClient};
use lorawan_sim::scenario::{self, Scenario};
use lorawan_sim::sim::{self, Progress};

/// What to run.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The scenario file (TOML; `$NAME` is replaced from the environment).
    scenario: PathBuf,
    /// Print the summary as JSON too (one line, last).
    #[arg(long)]
    json: bool,
    /// Skip provisioning even with an API key in the scenario.
    #[arg(long)]
    no_provision: bool,
    /// Keep each device's DevNonce counter, session and frame counters in
    /// this JSON file: read at start (if it exists), written at the end, so
    /// that a second run resumes the first instead of re-joining (a network
    /// refuses a DevNonce it has seen).
    #[arg(long)]
    state: Option<PathBuf>,
    /// The server's process id (Linux): each load step reports its CPU time
    /// per uplink and its resident memory.
    #[arg(long)]
    server_pid: Option<u32>,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let scenario = Scenario::load(&args.scenario)?;
    let mut devices = scenario.devices()?;
    if let Some(path) = args.state.as_ref().filter(|p| p.exists()) {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let saved: HashMap<String, DeviceState> = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a saved state", path.display()))?;
        let mut resumed = 0;
        for d in &mut devices {
            if let Some(state) = saved.get(&d.device.config().dev_eui.to_string()) {
                d.device.restore(state).with_context(|| {
                    format!("{}: {}", path.display(), d.device.config().dev_eui)
                })?;
                resumed += 1;
            }
        }
        println!("resumed {resumed} devices from {}", path.display());
    }
    let gateways = scenario.sim_gateways()?;
    let server = &scenario.server;
    let client = if !server.api_key.is_empty() && !server.api_key.starts_with('$') {
        Some(
            ApiClient::connect(&server.api, &server.api_key)
                .await
                .with_context(|| format!("the API at {}", server.api))?,
        )
    } else {
        None
    };
    match &client {
        Some(client) if !args.no_provision => {
            let done = provision::provision(client, &scenario.plan(&devices)).await?;
            println!(
                "provisioned: tenant {}, application {}, {} gateways and {} devices created",
                done.tenant_id, done.application_id, done.gateways_created, done.devices_created
            );
        }
        _ => println!("not provisioning: the devices must exist already"),
    }
    let dev_euis: Vec<_> = devices.iter().map(|d| d.device.config().dev_eui).collect();
    let progress = Arc::new(match scenario.load {
        Some(_) => Progress::paced(),
        None => Progress::new(),
    });
    let events = if server.mqtt.is_empty() {
        None
    } else {
        let (host, port) = scenario::host_port("server.mqtt", &server.mqtt)?;
        Some(UpEvents::subscribe(&host, port, &server.event_filter, Arc::clone(&progress)).await?)
    };
    match &scenario.load {
        None => println!(
            "running {} devices and {} gateways for {:?}",
            devices.len(),
            gateways.len(),
            scenario.simulation.duration
        ),
        Some(load) => println!(
            "load: {} devices and {} gateways, rates {:?}/s, ramp-up {:?}, hold {:?}",
            devices.len(),
            gateways.len(),
            load.rates,
            load.ramp_up,
            load.hold
        ),
    }
    let settings = scenario.settings();
    let application = match (&scenario.downlinks, client) {
        (Some(plan), Some(client)) => {
            let (plan, progress) = (plan.clone(), Arc::clone(&progress));
            let until = tokio::time::Instant::now() + settings.duration;
            Some(tokio::spawn(async move {
                downlinks::enqueue(&client, &dev_euis, &plan, &progress, until).await
            }))
        }
        (Some(_), None) => {
            anyhow::bail!("[downlinks] needs server.api_key: they are enqueued through the API")
        }
        (None, _) => None,
    };
    let simulation = {
        let progress = Arc::clone(&progress);
        tokio::spawn(async move { sim::run(devices, gateways, &settings, &progress).await })
    };
    let steps = match &scenario.load {
        Some(plan) => {
            let mut display = Display::new(args.server_pid);
            let steps = pace::drive(plan, &progress, |event| display.show(event)).await;
            display.bar.finish_and_clear();
            Some((steps, display.usage))
        }
        None => None,
    };
    let report = simulation.await??;
    println!("{}", report.summary());
    let enqueued = match application {
        Some(task) => {
            task.abort();
            let _ = task.await;
            Some(progress.downlinks())
        }
        None => None,
    };
    if let Some(path) = &args.state {
        let states: HashMap<String, &DeviceState> = report
            .states
            .iter()
            .map(|(eui, state)| (eui.to_string(), state))
            .collect();
        std::fs::write(path, serde_json::to_vec_pretty(&states)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let mut json = serde_json::json!({
        "devices": report.devices,
        "joined": report.joined,
        "join_requests": report.join_requests,
        "uplinks": report.data_uplinks,
        "confirmed": report.confirmed().0,
        "acknowledged": report.confirmed().1,
        "downlinks_received": report.downlinks_received,
    });
    if let Some(events) = events {
        if steps.is_none() {
            // The last events.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let d = progress.delivery();
            println!("application: {}", delivery_line(&d));
            json["delivered"] = d.delivered.into();
            json["latency_p50_ms"] = millis(d.p50).into();
            json["latency_p99_ms"] = millis(d.p99).into();
        }
        events.close().await;
    }
    if let Some(d) = enqueued {
        println!(
            "downlinks: {} enqueued, {} received by their devices ({:.2} %), latency p50 {:.1} ms, p99 {:.1} ms",
            d.sent,
            d.delivered,
            d.ratio() * 100.0,
            millis(d.p50),
            millis(d.p99)
        );
        json["downlinks_enqueued"] = d.sent.into();
        json["downlinks_delivered"] = d.delivered.into();
        json["downlink_latency_p50_ms"] = millis(d.p50).into();
        json["downlink_latency_p99_ms"] = millis(d.p99).into();
    }
    if let Some((steps, usage)) = steps {
        json["steps"] = steps
            .iter()
            .zip(usage.iter().chain(std::iter::repeat(&None)))
            .map(|(step, usage)| step_json(step, usage.as_ref()))
            .collect();
    }
    if args.json {
        println!("{json}");
    }
    Ok(())
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn delivery_line(d: &Delivery) -> String {
    format!(
        "{} of {} uplinks delivered ({:.2} %), latency p50 {:.1} ms, p99 {:.1} ms",
        d.delivered,
        d.sent,
        d.ratio() * 100.0,
        millis(d.p50),
        millis(d.p99)
    )
}

/// A server process's CPU time and memory over a step.
#[derive(Debug, Clone, Copy)]
struct Usage {
    cpu: Duration,
    rss_kib: u64,
}

fn step_json(step: &Step, usage: Option<&Usage>) -> serde_json::Value {
    let d = &step.delivery;
    let mut json = serde_json::json!({
        "rate": step.rate,
        "achieved_rate": step.achieved,
        "sent": d.sent,
        "delivered": d.delivered,
        "delivered_percent": d.ratio() * 100.0,
        "latency_p50_ms": millis(d.p50),
        "latency_p99_ms": millis(d.p99),
        "missed": step.missed,
        "warm_up": step.warm_up,
    });
    if let Some(u) = usage {
        json["server_cpu_percent"] =
            (u.cpu.as_secs_f64() * 100.0 / step.elapsed.as_secs_f64()).into();
        json["server_cpu_us_per_uplink"] =
            (u.cpu.as_secs_f64() * 1e6 / d.sent.max(1) as f64).into();
        json["server_rss_mib"] = (u.rss_kib as f64 / 1024.0).into();
    }
    json
}

/// The live display of a load run, and the server's usage per step.
struct Display {
    bar: ProgressBar,
    server_pid: Option<u32>,
    cpu_at_start: Option<Duration>,
    /// Per step, if the server's figures could be read.
    usage: Vec<Option<Usage>>,
}

impl Display {
    fn new(server_pid: Option<u32>) -> Self {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(250));
        Self {
            bar,
            server_pid,
            cpu_at_start: None,
            usage: Vec::new(),
        }
    }

    fn show(&mut self, event: LoadEvent) {
        match event {
            LoadEvent::Joining { joined, devices } => {
                self.bar.set_message(format!("joining: {joined} of {devices}"));
            }
            LoadEvent::StepStart { rate } => {
                self.cpu_at_start = self.server_pid.and_then(cpu_time);
                self.bar.set_message(format!("rate {rate}/s: starting"));
            }
            LoadEvent::Running {
                rate,
                current,
                delivery: d,
            } => self.bar.set_message(format!(
                "rate {rate}/s (now {current:.0}/s): sent {}, delivered {} ({:.2} %), p50 {:.0} ms, p99 {:.0} ms",
                d.sent,
                d.delivered,
                d.ratio() * 100.0,
                millis(d.p50),
                millis(d.p99)
            )),
            LoadEvent::Settling { in_flight } => self
                .bar
                .set_message(format!("waiting for the last {in_flight} events")),
            LoadEvent::StepEnd(step) => {
                let usage = match (self.cpu_at_start, self.server_pid) {
                    (Some(before), Some(pid)) => cpu_time(pid).zip(rss_kib(pid)).map(
                        |(after, rss_kib)| Usage {
                            cpu: after.saturating_sub(before),
                            rss_kib,
                        },
                    ),
                    _ => None,
                };
                let server = usage.map_or(String::new(), |u| {
                    format!(
                        "; server CPU {:.1} µs/uplink, RSS {:.1} MiB",
                        u.cpu.as_secs_f64() * 1e6 / step.delivery.sent.max(1) as f64,
                        u.rss_kib as f64 / 1024.0
                    )
                });
                self.usage.push(usage);
                let line = format!(
                    "{} {:>6}/s (held {:.0}/s): {}{server}",
                    if step.warm_up { "warm-up" } else { "rate" },
                    step.rate,
                    step.achieved,
                    delivery_line(&step.delivery)
                );
                // Not on a terminal the bar is hidden, and so is what it
                // prints: the step lines go to stdout either way.
                if self.bar.is_hidden() {
                    println!("{line}");
                } else {
                    self.bar.println(line);
                }
            }
            _ => {}
        }
    }
}

/// A process's CPU time (user + system), from `/proc/{pid}/stat`.
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command: utime and stime are fields 14 and 15 of the line,
    // in clock ticks of 1/100 s.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

/// A process's resident memory, KiB, from `/proc/{pid}/status`.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
