//! `bluezone log import|export|check`: the encounter log folder.

use std::io::Write;
use std::path::PathBuf;

use bluezone::blid::HistoryLine;
use bluezone::encounter::Sighting;
use bluezone::encounter::csv::{CSV_HEADER, CsvLine};
use bluezone::encounter::frame::Damage;
use bluezone::encounter::log::{LogItem, LogSummary};
use serde::Serialize;

use super::Outcome;
use crate::error::Context;
use crate::input::{IMPORT_JOURNAL, Unit, open_existing_log, report_damage};
use crate::output::{Report, Status, emit, instant};

mod import;

use import::{import, read_journal};

/// The encounter log.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Append sightings to a log (created if missing). Every line is checked before anything
    /// is written; a bad line is an error naming its line and column. Records the log holds
    /// already are not added again, so an import can be repeated; the records are journaled
    /// first, so an import that was cut is finished by the next import into the log.
    Import(ImportArgs),
    /// Print a log's GAEN sightings as CSV (or its Bluezone sightings as history lines).
    Export(ExportArgs),
    /// Count a log's records, give its time range and list any damage (exit 1 if damaged).
    Check(CheckArgs),
}

/// `log import`.
#[derive(clap::Args)]
pub struct ImportArgs {
    /// GAEN sightings as CSV with the header `unix_seconds,rpi,aem,rssi`.
    #[arg(long, required_unless_present = "history")]
    csv: Option<PathBuf>,
    /// Bluezone sightings as a `data_trace.txt` contact history.
    #[arg(long)]
    history: Option<PathBuf>,
    /// The history's time unit: ms (Android) or s (iOS).
    #[arg(long, value_enum, default_value_t = Unit::Ms)]
    unit: Unit,
    /// The log folder.
    #[arg(long)]
    out: PathBuf,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

/// Which sightings `log export` prints.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// GAEN sightings, as CSV.
    Gaen,
    /// Bluezone 2020 sightings, as history lines in milliseconds.
    Bluezone,
}

/// `log export`.
#[derive(clap::Args)]
pub struct ExportArgs {
    /// The log folder.
    #[arg(long)]
    log: PathBuf,
    /// Which sightings: gaen (CSV) or bluezone (history lines, milliseconds).
    #[arg(long, value_enum, default_value_t = Kind::Gaen)]
    kind: Kind,
}

/// `log check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// The log folder.
    #[arg(long)]
    log: PathBuf,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

/// Runs `log …`.
pub fn run(command: &Command, out: &mut dyn Write) -> Outcome {
    match command {
        Command::Import(args) => import(args, out),
        Command::Export(args) => export(args, out),
        Command::Check(args) => check(args, out),
    }
}

fn export(args: &ExportArgs, out: &mut dyn Write) -> Outcome {
    let log = open_existing_log(&args.log)?;
    let gaen = args.kind == Kind::Gaen;
    if gaen {
        writeln!(out, "{CSV_HEADER}")?;
    }
    let (mut other, mut damaged) = (0u64, 0u64);
    for item in log.read().in_file(&args.log)? {
        match item.in_file(&args.log)? {
            LogItem::Record(Sighting::Gaen(s)) if gaen => writeln!(out, "{}", CsvLine(&s))?,
            LogItem::Record(Sighting::Bluezone(s)) if !gaen => {
                writeln!(out, "{}", HistoryLine::from(&s))?;
            }
            LogItem::Record(_) => other += 1,
            LogItem::Damage { segment, damage } => {
                damaged += 1;
                report_damage(&segment, &damage);
            }
        }
    }
    if other > 0 {
        let (these, flag) = if gaen {
            ("Bluezone", "bluezone")
        } else {
            ("GAEN", "gaen")
        };
        eprintln!("bluezone: {other} {these} sightings not exported (use --kind {flag})");
    }
    if damaged > 0 {
        eprintln!(
            "bluezone: {damaged} damaged stretches skipped; every intact record was exported"
        );
    }
    Ok(Status::Success)
}

#[derive(Serialize)]
struct DamageAt {
    segment: PathBuf,
    #[serde(flatten)]
    damage: Damage,
}

#[derive(Serialize)]
struct CheckReport {
    log: PathBuf,
    segments: usize,
    gaen_sightings: u64,
    bluezone_sightings: u64,
    first_unix_seconds: Option<u64>,
    last_unix_seconds: Option<u64>,
    damage: Vec<DamageAt>,
    /// Records of an import that was cut, journaled and not all in the log: the next import
    /// into the log adds them.
    #[serde(skip_serializing_if = "Option::is_none")]
    cut_import: Option<usize>,
}

impl Report for CheckReport {
    const COMMAND: &'static str = "log check";

    fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "segments: {}", self.segments)?;
        writeln!(out, "GAEN sightings: {}", self.gaen_sightings)?;
        writeln!(out, "Bluezone sightings: {}", self.bluezone_sightings)?;
        match (self.first_unix_seconds, self.last_unix_seconds) {
            (Some(first), Some(last)) => {
                writeln!(out, "time range: {} .. {}", instant(first), instant(last))?
            }
            _ => writeln!(out, "time range: (empty)")?,
        }
        writeln!(out, "damage: {}", self.damage.len())?;
        for d in &self.damage {
            writeln!(out, "  {}: {}", d.segment.display(), d.damage)?;
        }
        if let Some(records) = self.cut_import {
            writeln!(
                out,
                "an import was cut: its journal holds {records} records, not all in the log; run the import again, or any import into this log, to finish it"
            )?;
        }
        Ok(())
    }
}

fn check(args: &CheckArgs, out: &mut dyn Write) -> Outcome {
    let log = open_existing_log(&args.log)?;
    let summary = LogSummary::of(&log).in_file(&args.log)?;
    let journal = args.log.join(IMPORT_JOURNAL);
    let cut_import = if journal.exists() {
        Some(read_journal(&journal)?.map_or(0, |records| records.len()))
    } else {
        None
    };
    let report = CheckReport {
        log: args.log.clone(),
        segments: summary.segments,
        gaen_sightings: summary.gaen_records,
        bluezone_sightings: summary.bluezone_records,
        first_unix_seconds: summary.time_range.map(|r| r.0),
        last_unix_seconds: summary.time_range.map(|r| r.1),
        damage: summary
            .damage
            .into_iter()
            .map(|(segment, damage)| DamageAt { segment, damage })
            .collect(),
        cut_import,
    };
    emit(out, &report, args.json)?;
    Ok(Status::from_ok(
        report.damage.is_empty() && report.cut_import.is_none(),
    ))
}
