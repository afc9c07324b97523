//! `bluezone blid id` and `bluezone blid match`: the Bluezone 2020 scheme.

use std::io::Write;
use std::path::PathBuf;

use bluezone::blid::f1::{self, DailyExposure, F1Rule, RssiThresholds};
use bluezone::blid::matching::ContactIndex;
use bluezone::blid::{BaseKey, BluezoneId, F0List, SlotsPerDay, TimeUnit, parse_history};
use serde::Serialize;

use super::Outcome;
use crate::error::Context;
use crate::input::{Unit, plausible_time, read_text};
use crate::output::{Report, Status, date, emit};

/// Bluezone 2020 identifiers.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Print the identifier a Bluezone phone broadcast at an instant (upper-case hex).
    Id(IdArgs),
    /// Match an F0 list against a contact history (`data_trace.txt`) and decide F1.
    Match(MatchArgs),
}

/// `blid id`.
#[derive(clap::Args)]
pub struct IdArgs {
    /// The phone's base key, 64 hex digits.
    #[arg(long)]
    base_key: String,
    /// The base time the app stored with it (Unix seconds of its UTC midnight).
    #[arg(long)]
    base_time: u64,
    /// The instant, Unix milliseconds.
    #[arg(long)]
    at_ms: u64,
    /// Slots per day (96 in the shipped app, 144 in rc-v2.0.0).
    #[arg(long, default_value_t = 96)]
    slots: u32,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

/// `blid match`.
#[derive(clap::Args)]
pub struct MatchArgs {
    /// The F0 list: `{"data":[...]}`, or the push's DataContent holding it in "InfoF".
    #[arg(long)]
    f0: PathBuf,
    /// The contact history: OWN_ID, CONTACT_ID, RSSI, TIMESTAMP separated by tabs.
    #[arg(long)]
    history: PathBuf,
    /// The history's time unit: ms (Android) or s (iOS).
    #[arg(long, value_enum, default_value_t = Unit::Ms)]
    unit: Unit,
    /// "Now" for the 14-day look-back, Unix seconds (from 2020 to this machine's clock plus an
    /// hour); the newest sighting when omitted.
    #[arg(long)]
    now: Option<u64>,
    /// One RSSI threshold for closeness, dBm, instead of the app's four (the demo uses −70).
    #[arg(long, allow_negative_numbers = true)]
    close_rssi: Option<i8>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct IdReport {
    id: BluezoneId,
}

impl Report for IdReport {
    const COMMAND: &'static str = "blid id";

    fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "{}", self.id)
    }
}

/// One history line whose identifier an F0 entry derives.
#[derive(Serialize)]
struct Sighting {
    /// Index of the F0 entry.
    entry: usize,
    /// The slot of the entry's day the identifier belongs to.
    slot_index: u64,
    id: BluezoneId,
    /// Line of the history, from 1.
    line: usize,
    unix_ms: u64,
    /// dBm.
    rssi: i8,
}

#[derive(Serialize)]
struct MatchReport {
    f0_entries: usize,
    history_lines: usize,
    now_unix_seconds: u64,
    /// Whether the app's own check would have found a contact.
    contact: bool,
    matches: Vec<Sighting>,
    f1: F1,
}

/// The F1 verdict with the rule it applied and its evidence, shaped as `match` prints it.
#[derive(Serialize)]
struct F1 {
    f1: bool,
    threshold_dbm: i8,
    min_daily_seconds: u64,
    lookback_days: u64,
    days: Vec<DailyExposure>,
}

impl Report for MatchReport {
    const COMMAND: &'static str = "blid match";

    fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "{} F0 entries, {} history lines, {} matching sightings",
            self.f0_entries,
            self.history_lines,
            self.matches.len()
        )?;
        for m in &self.matches {
            writeln!(
                out,
                "match: entry {} slot {} id {} line {} time {} ms rssi {} dBm",
                m.entry, m.slot_index, m.id, m.line, m.unix_ms, m.rssi
            )?;
        }
        writeln!(
            out,
            "contact (the app's check): {}",
            if self.contact { "yes" } else { "no" }
        )?;
        let f1 = &self.f1;
        for day in &f1.days {
            writeln!(
                out,
                "day {}: entry {} close {} s ({} of {} sightings at or above {} dBm), strongest {} dBm",
                date(day.day),
                day.entry,
                day.close_seconds,
                day.close_sightings,
                day.sightings,
                f1.threshold_dbm,
                day.strongest_rssi
            )?;
        }
        writeln!(
            out,
            "F1 (within about 2 m for {} min in one day, last {} days): {}",
            f1.min_daily_seconds / 60,
            f1.lookback_days,
            if f1.f1 { "yes" } else { "no" }
        )
    }
}

/// Runs `blid …`.
pub fn run(command: &Command, out: &mut dyn Write) -> Outcome {
    match command {
        Command::Id(args) => id(args, out),
        Command::Match(args) => matches(args, out),
    }
}

fn id(args: &IdArgs, out: &mut dyn Write) -> Outcome {
    let bytes = bluezone::hex::decode_array(&args.base_key).in_option("--base-key")?;
    let slots = SlotsPerDay::new(args.slots).in_option("--slots")?;
    let key = BaseKey::from_base_time(bytes, args.base_time).in_option("--base-time")?;
    let id = key.identifier_at(args.at_ms, slots).in_option("--at-ms")?;
    emit(out, &IdReport { id }, args.json)?;
    Ok(Status::Success)
}

/// A contact history with no line.
#[derive(Debug, thiserror::Error)]
#[error("holds no contact: not a contact history")]
struct EmptyHistory;

fn matches(args: &MatchArgs, out: &mut dyn Write) -> Outcome {
    let unit = TimeUnit::from(args.unit);
    let f0 = F0List::from_json(&read_text(&args.f0)?).in_file(&args.f0)?;
    let history = parse_history(&read_text(&args.history)?)
        .collect::<Result<Vec<_>, _>>()
        .in_file(&args.history)?;
    // An empty history is not a log: a check against it could only say "not exposed".
    if history.is_empty() {
        return Err(EmptyHistory).in_file(&args.history);
    }
    // A history read in the wrong unit matches nothing: say so, with the line, rather than
    // report no contact.
    let now_clock = bluezone::time::wall_clock();
    for (line, row) in history.iter().enumerate() {
        plausible_time(line + 1, row.timestamp / unit.per_second(), now_clock)
            .in_file(&args.history)?;
    }
    let found = ContactIndex::new(&history).matches(&f0, unit);
    let now = match args.now {
        Some(now) => {
            bluezone::time::plausible_time(now, now_clock).in_option("--now")?;
            now
        }
        None => history
            .iter()
            .map(|l| l.timestamp / unit.per_second())
            .max()
            .unwrap_or(now_clock),
    };
    let mut rule = F1Rule::bluezone(unit);
    if let Some(dbm) = args.close_rssi {
        rule.thresholds = RssiThresholds::all(dbm);
    }
    let verdict = f1::decide(&found, unit, &rule, now);
    let report = MatchReport {
        f0_entries: f0.entries.len(),
        history_lines: history.len(),
        now_unix_seconds: now,
        contact: !found.is_empty(),
        matches: found
            .iter()
            .map(|m| Sighting {
                entry: m.entry,
                slot_index: m.slot_index,
                id: m.id,
                line: m.line + 1,
                unix_ms: m.timestamp.saturating_mul(1000 / unit.per_second()),
                rssi: m.rssi,
            })
            .collect(),
        f1: F1 {
            f1: verdict.f1,
            threshold_dbm: verdict.threshold_dbm,
            min_daily_seconds: rule.min_daily_exposure_s,
            lookback_days: rule.lookback_days,
            days: verdict.days,
        },
    };
    emit(out, &report, args.json)?;
    Ok(Status::Success)
}
