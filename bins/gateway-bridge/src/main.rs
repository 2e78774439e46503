//! The `gateway-bridge` command: Semtech UDP packet forwarders to MQTT.
#![forbid(unsafe_code)]

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use gateway_bridge::config::{Config, DEFAULT_CONFIG};
use tracing_subscriber::EnvFilter;

/// Semtech UDP packet forwarders to MQTT, a drop-in replacement for
/// ChirpStack Gateway Bridge.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file; may be given several times, later files override
    /// earlier ones key by key.
    #[arg(short, long = "config", value_name = "FILE")]
    config: Vec<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the configuration file with every default, documented.
    Configfile,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Configfile) = cli.command {
        print!("{DEFAULT_CONFIG}");
        return Ok(());
    }
    let config = Config::load(&cli.config)?;
    let level = match config.general.log_level {
        0..=2 => "error",
        3 => "warn",
        4 => "info",
        5 => "debug",
        _ => "trace",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level)),
        )
        .init();
    // One thread by default: the UDP loop and the MQTT client then hand
    // messages over without cross-thread wake-ups, the cheapest per uplink
    // (docs/benchmarks.md). With more threads the bridge loop is spawned
    // onto a worker: driven by block_on it would run outside the workers
    // and every MQTT publish would cross threads.
    let runtime = if config.general.worker_threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.general.worker_threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(async {
        tokio::spawn(gateway_bridge::run(config, shutdown_signal()))
            .await
            .map_err(|e| anyhow::anyhow!("bridge task failed: {e}"))?
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
