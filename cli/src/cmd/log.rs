//! `bluezone log import|export|check`: the encounter log folder.

use std::io::Write;
use std::path::PathBuf;

use bluezone::blid::{HistoryLine, TimeUnit};
use bluezone::encounter::Sighting;
use bluezone::encounter::csv::{CSV_HEADER, CsvLine};
use bluezone::encounter::frame::Damage;
use bluezone::encounter::log::{EncounterLog, LogItem, LogSummary};
use serde::Serialize;

use super::Outcome;
use crate::error::{CliError, Context};
use crate::input::{
    Unit, history_sightings, numbered_csv_sightings, open_existing_log, plausible_time,
    report_damage,
};
use crate::output::{Progress, Report, Status, emit, instant};

/// The encounter log.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Append sightings to a log (created if missing). Every line is checked before anything
    /// is written; a bad line is an error naming its line and column.
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

#[derive(Serialize)]
struct Repaired {
    segment: PathBuf,
    removed: Damage,
}

#[derive(Serialize)]
struct ImportReport {
    log: PathBuf,
    gaen_sightings: usize,
    bluezone_sightings: usize,
    /// Bytes after the last intact frame of a segment, removed before appending.
    repairs: Vec<Repaired>,
}

impl Report for ImportReport {
    const COMMAND: &'static str = "log import";

    fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for repair in &self.repairs {
            writeln!(
                out,
                "removed from {} before appending: {}",
                repair.segment.display(),
                repair.removed
            )?;
        }
        writeln!(
            out,
            "imported {} GAEN and {} Bluezone sightings into {}",
            self.gaen_sightings,
            self.bluezone_sightings,
            self.log.display()
        )
    }
}

/// A CSV file with no line at all, not even the header.
#[derive(Debug, thiserror::Error)]
#[error("empty, expected the header `{CSV_HEADER}`")]
struct EmptyCsv;

/// Every sighting of the inputs, in order: the CSV file's, then the history's.
///
/// Each sighting's time must lie between 2020 and `now` plus a day (spec §enc.3): a time
/// outside is refused with its line, since it is almost always milliseconds read as seconds.
fn sightings(
    args: &ImportArgs,
    unit: TimeUnit,
    now: u64,
) -> impl Iterator<Item = Result<Sighting, CliError>> + '_ {
    let csv = args.csv.iter().flat_map(move |path| {
        numbered_csv_sightings(path).map(move |item| {
            let (line, s) = item?;
            plausible_time(line, s.unix_seconds, now).in_file(path)?;
            Ok(Sighting::Gaen(s))
        })
    });
    let history = args.history.iter().flat_map(move |path| {
        history_sightings(path, unit).map(move |item| {
            let (line, s) = item?;
            plausible_time(line, s.unix_seconds(), now).in_file(path)?;
            Ok(s)
        })
    });
    csv.chain(history)
}

fn import(args: &ImportArgs, out: &mut dyn Write) -> Outcome {
    let unit = TimeUnit::from(args.unit);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let progress = Progress::new("log import");
    // First pass: check every line, so a bad file writes nothing.
    progress.phase("checking every line");
    if let Some(path) = &args.csv
        && std::fs::metadata(path).in_file(path)?.len() == 0
    {
        return Err(EmptyCsv).in_file(path);
    }
    let (mut gaen, mut bluezone) = (0usize, 0usize);
    for sighting in sightings(args, unit, now) {
        match sighting? {
            Sighting::Gaen(_) => gaen += 1,
            Sighting::Bluezone(_) => bluezone += 1,
        }
        progress.count((gaen + bluezone) as u64);
    }
    // Second pass: append in batches.
    progress.phase("appending");
    let mut log = EncounterLog::open(&args.out).in_file(&args.out)?;
    let mut batch = Vec::with_capacity(4096);
    let mut written = 0u64;
    let mut flush = |log: &mut EncounterLog, batch: &mut Vec<Sighting>| {
        log.append_all(batch.iter()).in_file(&args.out)?;
        written += batch.len() as u64;
        progress.count(written);
        batch.clear();
        Ok::<(), CliError>(())
    };
    for sighting in sightings(args, unit, now) {
        batch.push(sighting?);
        if batch.len() == batch.capacity() {
            flush(&mut log, &mut batch)?;
        }
    }
    flush(&mut log, &mut batch)?;
    log.sync().in_file(&args.out)?;
    let report = ImportReport {
        log: args.out.clone(),
        gaen_sightings: gaen,
        bluezone_sightings: bluezone,
        repairs: log
            .repairs()
            .iter()
            .map(|r| Repaired {
                segment: r.segment.clone(),
                removed: r.removed,
            })
            .collect(),
    };
    drop(progress);
    emit(out, &report, args.json)?;
    Ok(Status::Success)
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
        Ok(())
    }
}

fn check(args: &CheckArgs, out: &mut dyn Write) -> Outcome {
    let log = open_existing_log(&args.log)?;
    let summary = LogSummary::of(&log).in_file(&args.log)?;
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
    };
    emit(out, &report, args.json)?;
    Ok(Status::from_ok(report.damage.is_empty()))
}
