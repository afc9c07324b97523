//! `bluezone`: the command-line tool of the `bluezone` crate. `main` parses, dispatches and
//! turns the outcome into an exit status; each command lives in its own module under `cmd`.

mod cmd;
mod error;
mod files;
mod input;
mod output;
mod plot;

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::CliError;

#[derive(Parser)]
#[command(
    name = "bluezone",
    version,
    about = "Proximity-tracing protocols: GAEN v1.2 and Bluezone 2020",
    long_about = "Proximity-tracing protocols: GAEN v1.2 and Bluezone 2020.\n\nEvery command that \
                  reports prints text, or with --json one JSON document carrying \
                  \"schema_version\"."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate a town for two weeks end to end and compare the warnings with the truth.
    Demo(cmd::demo::Args),
    /// Test-vector files.
    #[command(subcommand)]
    Vectors(cmd::vectors::Command),
    /// Exposure Notification (GAEN v1.2) key schedule.
    #[command(subcommand)]
    Gaen(cmd::gaen::Command),
    /// Bluezone 2020 identifiers: derive, and match F0 lists against a contact history.
    #[command(subcommand)]
    Blid(cmd::blid::Command),
    /// The encounter log: a folder of daily, checksummed, append-only segment files.
    #[command(subcommand)]
    Log(cmd::log::Command),
    /// Key export files (export.zip, or a bare export.bin).
    #[command(subcommand)]
    Export(cmd::export::Command),
    /// Measurements.
    #[command(subcommand)]
    Bench(cmd::bench::Command),
    /// Match diagnosis keys from export files against an encounter log or CSV.
    Match(cmd::matching::Args),
    /// Match-state folders: what `match --state` remembers across days.
    #[command(subcommand)]
    State(cmd::state::Command),
    /// A phone's TX power and RSSI correction in Google's calibration tables of 2020.
    Calibration(cmd::calibration::Args),
    /// Deployments' risk models (Google, the Corona-Warn-App, the NHS app) on exposure
    /// windows.
    #[command(subcommand)]
    Risk(cmd::risk::Command),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = BufWriter::new(io::stdout().lock());
    let result = match &cli.command {
        Command::Demo(args) => cmd::demo::run(args, &mut out),
        Command::Vectors(command) => cmd::vectors::run(command, &mut out),
        Command::Gaen(command) => cmd::gaen::run(command, &mut out),
        Command::Blid(command) => cmd::blid::run(command, &mut out),
        Command::Log(command) => cmd::log::run(command, &mut out),
        Command::Export(command) => cmd::export::run(command, &mut out),
        Command::Bench(command) => cmd::bench::run(command, &mut out),
        Command::Match(args) => cmd::matching::run(args, &mut out),
        Command::State(command) => cmd::state::run(command, &mut out),
        Command::Calibration(args) => cmd::calibration::run(args, &mut out),
        Command::Risk(command) => cmd::risk::run(command, &mut out),
    }
    .and_then(|status| {
        out.flush().map_err(CliError::Output)?;
        Ok(status)
    });
    match result {
        Ok(status) => status.into(),
        // A reader that stopped early (`| head`) is not an error of ours.
        Err(CliError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bluezone: {error}");
            ExitCode::FAILURE
        }
    }
}
