//! `lorawan-sim`: virtual LoRaWAN devices and gateways.
//!
//! `lorawan-sim run <scenario.toml>` provisions a scenario's devices and
//! gateways through the server's management API and runs them: OTAA joins,
//! uplinks, downlinks in their receive windows, over Semtech UDP; it prints
//! what joined and what reached the application. See docs/lorawan-sim.md.
//!
//! `lorawan-sim load` is the network server's end-to-end benchmark: it
//! provisions ABP devices and gateways in the server's database, publishes
//! their uplinks as gateway events over MQTT at a rising rate, and counts
//! the application `up` events that come back, with their latency and the
//! server's CPU and memory. See docs/benchmarks.md.
#![forbid(unsafe_code)]

mod load;
mod run;

use clap::{Parser, Subcommand};

/// Virtual LoRaWAN devices and gateways.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A scenario file: devices and gateways against a server.
    Run(run::Args),
    /// Uplink load through a network server over MQTT.
    Load(load::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    match cli.command {
        Command::Run(args) => runtime.block_on(run::run(args)),
        Command::Load(args) => runtime.block_on(load::run(args)),
    }
}
