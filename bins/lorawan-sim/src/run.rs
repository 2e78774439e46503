//! `lorawan-sim run <scenario.toml>`: provisions the scenario through the
//! server's API (with `server.api_key`), runs it, and prints what became
//! of its uplinks.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use lorawan_sim::device::DeviceState;
use lorawan_sim::events::UpEvents;
use lorawan_sim::provision::{self, ApiClient};
use lorawan_sim::scenario::Scenario;
use lorawan_sim::sim;

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
    if !args.no_provision && !server.api_key.is_empty() && !server.api_key.starts_with('$') {
        let client = ApiClient::connect(&server.api, &server.api_key)
            .await
            .with_context(|| format!("the API at {}", server.api))?;
        let done = provision::provision(&client, &scenario.plan(&devices)).await?;
        println!(
            "provisioned: tenant {}, application {}, {} gateways and {} devices created",
            done.tenant_id, done.application_id, done.gateways_created, done.devices_created
        );
    } else {
        println!("not provisioning (no server.api_key): the devices must exist already");
    }
    let events = if server.mqtt.is_empty() {
        None
    } else {
        let (host, port) = server
            .mqtt
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?)))
            .with_context(|| format!("server.mqtt: {:?} is not host:port", server.mqtt))?;
        Some(UpEvents::subscribe(&host, port, &server.event_filter).await?)
    };
    println!(
        "running {} devices and {} gateways against {} for {:?}",
        devices.len(),
        gateways.len(),
        server.udp,
        scenario.simulation.duration
    );
    let report = sim::run(devices, gateways, &scenario.settings()).await?;
    println!("{}", report.summary());
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
        "uplinks": report.uplinks.len(),
        "confirmed": report.confirmed().0,
        "acknowledged": report.confirmed().1,
        "downlinks_received": report.downlinks_received,
    });
    if let Some(events) = events {
        // The last events.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let d = events.delivery(&report);
        println!(
            "application: {} of {} uplinks delivered ({:.2} %), latency p50 {:.1} ms, p99 {:.1} ms",
            d.delivered,
            d.sent,
            d.ratio() * 100.0,
            d.p50.as_secs_f64() * 1e3,
            d.p99.as_secs_f64() * 1e3
        );
        json["delivered"] = d.delivered.into();
        json["latency_p50_ms"] = (d.p50.as_secs_f64() * 1e3).into();
        json["latency_p99_ms"] = (d.p99.as_secs_f64() * 1e3).into();
        events.close().await;
    }
    if args.json {
        println!("{json}");
    }
    Ok(())
}
