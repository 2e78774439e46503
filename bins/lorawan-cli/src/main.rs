//! `lorawan-cli`: decode, encode and check LoRaWAN 1.0.x and 1.1 frames, and
//! derive session keys — a tool for debugging a network.
//!
//! ```text
//! $ lorawan-cli decode 400403020180010001a694642615d6c3b582 \
//!       --nwk-s-key 02020202020202020202020202020202 --app-s-key 01010101010101010101010101010101
//! $ lorawan-cli encode --mtype unconfirmed-data-up --dev-addr 01020304 --fcnt 1 --fport 1 \
//!       --text hello --nwk-s-key 0202… --app-s-key 0101…
//! $ lorawan-cli keys --app-key … --join-nonce … --net-id … --dev-nonce …
//! $ lorawan-cli airtime --region EU868 --dr 5 --size 20
//! $ lorawan-cli region EU868
//! ```
//!
//! Frames are read as hex or base64; `--json` prints (for `decode`, `keys`,
//! `airtime`, `region`) or
//! reads (for `encode`) one JSON object. Errors are one line on stderr and a
//! non-zero exit status. See `docs/lorawan-cli.md`.
#![forbid(unsafe_code)]

mod airtime;
mod decode;
mod decode_join;
mod encode;
mod encode_spec;
mod input;
mod keyring;
mod keys;
mod mac_json;
mod output;
mod region;
mod report;

use std::io::Write;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{Parser, Subcommand};

/// Decode, encode and check LoRaWAN frames, derive session keys.
#[derive(Debug, Parser)]
#[command(name = "lorawan-cli", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print every field of a frame, check its MIC, decrypt its payload and MAC commands.
    Decode(decode::DecodeArgs),
    /// Build a frame from flags or a JSON file, encrypted and signed.
    Encode(Box<encode::EncodeArgs>),
    /// Derive session keys (and LoRaWAN 1.1 join-server keys).
    Keys(keys::KeysArgs),
    /// Time on air of a frame at a region's data rate or a LoRa rate, and the duty-cycle wait.
    Airtime(airtime::AirtimeArgs),
    /// The Regional Parameters of a region: data rates, payload sizes, channels, RX1/RX2, power.
    Region(region::RegionArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    let result = match &cli.command {
        Command::Decode(args) => decode::run(args),
        Command::Encode(args) => encode::run(args),
        Command::Keys(args) => keys::run(args),
        Command::Airtime(args) => airtime::run(args),
        Command::Region(args) => region::run(args),
    };
    match result {
        Ok(text) => print(&text),
        Err(e) => {
            let message = format!("{e:#}").replace('\n', " ");
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Prints to stdout; a closed pipe (`| head`) is not an error.
fn print(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write the output: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Help and version go out as clap writes them; a usage error becomes one line
/// (its message and any tip), without the usage text.
fn usage_error(e: &clap::Error) -> ExitCode {
    let code = ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return code;
    }
    let text = e.render().to_string();
    let line = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let line = if line.starts_with("error:") {
        line
    } else {
        format!("error: {line}")
    };
    eprintln!("{line}");
    code
}
