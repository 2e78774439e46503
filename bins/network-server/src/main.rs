//! The `network-server` command: a LoRaWAN network server, all-in-one by
//! default.
#![forbid(unsafe_code)]

use std::path::PathBuf;

/// mimalloc rather than the system allocator: the uplink path allocates
/// much (JSON, SQL rows, MQTT buffers), and glibc's malloc/free took about
/// a fifth of the server's CPU under load (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use ns_core::config::{Config, DEFAULT_CONFIG};
use tracing_subscriber::EnvFilter;

/// A LoRaWAN network server, a drop-in replacement for ChirpStack. With no
/// configuration it runs all-in-one: SQLite in the data directory, the
/// Semtech UDP gateway bridge on :1700 and an embedded MQTT broker.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Configuration file or directory of `*.toml` files; may be given
    /// several times, later files override earlier ones key by key.
    #[arg(short, long = "config", value_name = "FILE")]
    config: Vec<PathBuf>,
    /// Where the SQLite database is kept (`{data_dir}` in `[sqlite] path`).
    #[arg(long, value_name = "DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Runtime threads. 1 (the default) runs every task on one thread,
    /// which measured cheapest per uplink on small machines: handing a
    /// frame between tasks then costs no thread wake-up (docs/benchmarks.md).
    /// The database drivers keep threads of their own.
    #[arg(long, value_name = "N", default_value_t = 1)]
    worker_threads: usize,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the configuration file with every default, documented.
    Configfile,
    /// Create a global admin API key; prints its id and token (shown once).
    CreateApiKey {
        /// The key's name.
        #[arg(short, long)]
        name: String,
    },
    /// Set a user's password, read from standard input (one line) or a
    /// file; the user is created as a global admin if it does not exist.
    SetPassword {
        /// The user's email (login).
        #[arg(short, long)]
        email: String,
        /// Read the password from this file instead of standard input.
        #[arg(short = 'p', long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Configfile) = cli.command {
        print!("{DEFAULT_CONFIG}");
        return Ok(());
    }
    let config = Config::load(&cli.config)?;
    match cli.command {
        Some(Command::CreateApiKey { name }) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (id, token) = runtime.block_on(network_server::create_api_key(
                &config,
                &cli.data_dir,
                &name,
            ))?;
            println!("id: {id}\ntoken: {token}");
            return Ok(());
        }
        Some(Command::SetPassword {
            email,
            password_file,
        }) => {
            let text = match password_file {
                Some(path) => std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?,
                None => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line
                }
            };
            let password = text.trim_end_matches(['\r', '\n']);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let created = runtime.block_on(network_server::set_password(
                &config,
                &cli.data_dir,
                &email,
                password,
            ))?;
            if created {
                println!("created global admin {email}");
            } else {
                println!("password of {email} set");
            }
            return Ok(());
        }
        Some(Command::Configfile) | None => {}
    }
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(config.logging.level.to_ascii_lowercase()));
    #[cfg(feature = "embedded-broker")]
    let filter = match network_server::broker::DEFAULT_LOG_DIRECTIVE.parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let runtime = if cli.worker_threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.worker_threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(async {
        let server = network_server::Server::start(config, &cli.data_dir).await?;
        server.run(shutdown_signal()).await;
        Ok(())
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
}
