//! `lorawan-sim`: virtual LoRaWAN devices and gateways.
//!
//! `lorawan-sim run <scenario.toml>` provisions a scenario's devices and
//! gateways through the server's management API and runs them: OTAA joins,
//! uplinks, downlinks in their receive windows, over Semtech UDP; it prints
//! what joined and what reached the application. A scenario with a
//! `[load]` section is a load run: a target uplink rate with a ramp-up, or a
//! sweep of rates, shown live and measured step by step — the network
//! server's end-to-end benchmark. See docs/lorawan-sim.md and
//! docs/benchmarks.md.
#![forbid(unsafe_code)]

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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    match cli.command {
        Command::Run(args) => runtime.block_on(run::run(args)),
    }
}
