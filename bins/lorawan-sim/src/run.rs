//! `lorawan-sim run <scenario.toml>`: provisions the scenario through the
//! server's API (with `server.api_key`), runs it, and prints what became
//! of its uplinks.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
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
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    let scenario = Scenario::load(&args.scenario)?;
    let devices = scenario.devices()?;
    let gateways = scenario.sim_gateways()?;
    let server = &scenario.server;
    if !args.no_provision && !server.api_key.is_empty() && !server.api_key.starts_with('$') {
        let client = ApiClient::connect(&server.api, &server.api_key)
            .await
            .with_context(|| format!("the API at {}", server.api))?;
        let done = provision::provision(&client, &scenario.plan()).await?;
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
