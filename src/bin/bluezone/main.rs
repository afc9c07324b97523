//! `bluezone`: the command-line tool of the `bluezone` crate.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use bluezone::ble::gaen::DEFAULT_FLAGS;
use bluezone::blid::f1::{self, F1Rule};
use bluezone::blid::matching::ContactIndex;
use bluezone::blid::{
    BaseKey, F0List, HistoryError, HistoryLine, SlotsPerDay, TimeUnit, parse_history,
};
use bluezone::encounter::csv::{CSV_HEADER, CsvError, CsvLine, check_csv_header, parse_csv_line};
use bluezone::encounter::log::{EncounterLog, LogItem, LogSummary};
use bluezone::encounter::{BluezoneSighting, Sighting};
use bluezone::gaen::{Metadata, RollingProximityIdentifier, TemporaryExposureKey};
use bluezone::time::UtcDateTime;
use bluezone::{EnIntervalNumber, ExposureNotificationAdvertisement, RollingPeriod, RollingWindow};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "bluezone",
    version,
    about = "Proximity-tracing protocols: GAEN v1.2 and Bluezone 2020"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Test-vector files.
    #[command(subcommand)]
    Vectors(VectorsCommand),
    /// Exposure Notification (GAEN v1.2) key schedule.
    #[command(subcommand)]
    Gaen(GaenCommand),
    /// Bluezone 2020 identifiers: derive, and match F0 lists against a contact history.
    #[command(subcommand)]
    Blid(BlidCommand),
    /// The encounter log: a folder of daily, checksummed, append-only segment files.
    #[command(subcommand)]
    Log(LogCommand),
}

#[derive(Subcommand)]
enum LogCommand {
    /// Append sightings to a log (created if missing). Every line is checked before anything
    /// is written; a bad line is an error naming its line and column.
    Import {
        /// GAEN sightings as CSV with the header `unix_seconds,rpi,aem,rssi`.
        #[arg(long, required_unless_present = "history")]
        csv: Option<PathBuf>,
        /// Bluezone sightings as a `data_trace.txt` contact history.
        #[arg(long)]
        history: Option<PathBuf>,
        /// The history's time unit: ms (Android) or s (iOS).
        #[arg(long, default_value = "ms", value_parser = ["ms", "s"])]
        unit: String,
        /// The log folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print a log's GAEN sightings as CSV (or its Bluezone sightings as history lines).
    Export {
        /// The log folder.
        #[arg(long)]
        log: PathBuf,
        /// Which sightings: gaen (CSV) or bluezone (history lines, milliseconds).
        #[arg(long, default_value = "gaen", value_parser = ["gaen", "bluezone"])]
        kind: String,
    },
    /// Count a log's records, give its time range and list any damage (exit 1 if damaged).
    Check {
        /// The log folder.
        #[arg(long)]
        log: PathBuf,
    },
}

#[derive(Subcommand)]
enum BlidCommand {
    /// Print the identifier a Bluezone phone broadcast at an instant (upper-case hex).
    Id {
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
    },
    /// Match an F0 list against a contact history (`data_trace.txt`) and decide F1.
    Match {
        /// The F0 list: `{"data":[...]}`, or the push's DataContent holding it in "InfoF".
        #[arg(long)]
        f0: PathBuf,
        /// The contact history: OWN_ID, CONTACT_ID, RSSI, TIMESTAMP separated by tabs.
        #[arg(long)]
        history: PathBuf,
        /// The history's time unit: ms (Android) or s (iOS).
        #[arg(long, default_value = "ms", value_parser = ["ms", "s"])]
        unit: String,
        /// "Now" for the 14-day look-back, Unix seconds; the newest sighting when omitted.
        #[arg(long)]
        now: Option<u64>,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum VectorsCommand {
    /// Check vector files against this crate; prints each failure and `N passed, M failed`.
    Verify {
        /// JSON vector files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum GaenCommand {
    /// Derive a key's identifiers and advertisements for every interval of its rolling window.
    Day {
        /// The TEK as 32 hex digits; a fresh random key when omitted.
        #[arg(long)]
        tek: Option<String>,
        /// First interval number of the key; the start of the current UTC day when omitted.
        #[arg(long)]
        rolling_start: Option<u32>,
        /// Number of intervals, 1..=144.
        #[arg(long, default_value_t = 144)]
        rolling_period: u32,
        /// TX power in dBm written into the metadata (v1.0).
        #[arg(long, default_value_t = -15, allow_negative_numbers = true)]
        tx_power: i8,
        /// Flags byte of the advertisement, in hex.
        #[arg(long, default_value = "1a")]
        flags: String,
    },
}

/// A failed command: a message for the user, or an output error.
enum Failure {
    Usage(String),
    Io(io::Error),
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self::Usage(message)
    }
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

type Outcome = Result<ExitCode, Failure>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = BufWriter::new(io::stdout().lock());
    let result = match cli.command {
        Command::Vectors(VectorsCommand::Verify { files }) => verify(&mut out, &files),
        Command::Blid(BlidCommand::Id {
            base_key,
            base_time,
            at_ms,
            slots,
        }) => blid_id(&mut out, &base_key, base_time, at_ms, slots),
        Command::Blid(BlidCommand::Match {
            f0,
            history,
            unit,
            now,
            json,
        }) => blid_match(&mut out, &f0, &history, &unit, now, json),
        Command::Log(LogCommand::Import {
            csv,
            history,
            unit,
            out: log,
        }) => log_import(&mut out, csv.as_deref(), history.as_deref(), &unit, &log),
        Command::Log(LogCommand::Export { log, kind }) => log_export(&mut out, &log, &kind),
        Command::Log(LogCommand::Check { log }) => log_check(&mut out, &log),
        Command::Gaen(GaenCommand::Day {
            tek,
            rolling_start,
            rolling_period,
            tx_power,
            flags,
        }) => gaen_day(
            &mut out,
            tek.as_deref(),
            rolling_start,
            rolling_period,
            tx_power,
            &flags,
        ),
    }
    .and_then(|code| out.flush().map(|()| code).map_err(Failure::Io));
    match result {
        Ok(code) => code,
        // A reader that stopped early (`| head`) is not an error of ours.
        Err(Failure::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(Failure::Io(e)) => {
            eprintln!("bluezone: cannot write output: {e}");
            ExitCode::FAILURE
        }
        Err(Failure::Usage(message)) => {
            eprintln!("bluezone: {message}");
            ExitCode::FAILURE
        }
    }
}

fn verify(out: &mut impl Write, files: &[PathBuf]) -> Outcome {
    let (mut passed, mut failed, mut bad_files) = (0usize, 0usize, 0usize);
    for file in files {
        match bluezone::vectors::check_file(file) {
            Ok(report) => {
                passed += report.passed;
                failed += report.failures.len();
                for failure in &report.failures {
                    writeln!(
                        out,
                        "FAIL {}: {}: {}",
                        file.display(),
                        failure.vector,
                        failure.message
                    )?;
                }
            }
            Err(e) => {
                bad_files += 1;
                writeln!(out, "ERROR {}: {e}", file.display())?;
            }
        }
    }
    if bad_files > 0 {
        writeln!(out, "{bad_files} file(s) are not valid vector files")?;
    }
    writeln!(out, "{passed} passed, {failed} failed")?;
    Ok(if failed == 0 && bad_files == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn gaen_day(
    out: &mut impl Write,
    tek: Option<&str>,
    rolling_start: Option<u32>,
    rolling_period: u32,
    tx_power: i8,
    flags: &str,
) -> Outcome {
    let flags = u8::from_str_radix(flags, 16).map_err(|e| format!("--flags {flags:?}: {e}"))?;
    let start = match rolling_start {
        Some(start) => EnIntervalNumber::new(start),
        None => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_err(|e| format!("system clock before 1970: {e}"))?;
            EnIntervalNumber::from_unix_seconds(now.as_secs())
                .map_err(|e| e.to_string())?
                .day_start()
        }
    };
    let period =
        RollingPeriod::new(rolling_period).map_err(|e| format!("--rolling-period: {e}"))?;
    let window = RollingWindow::new(start, period).map_err(|e| e.to_string())?;
    let tek = match tek {
        Some(hex) => {
            let bytes = bluezone::hex::decode_array(hex).map_err(|e| format!("--tek: {e}"))?;
            TemporaryExposureKey::from_bytes(bytes, window)
        }
        None => TemporaryExposureKey::generate(window)
            .map_err(|e| format!("no randomness from the operating system: {e}"))?,
    };
    let rpik = tek.rolling_proximity_identifier_key();
    let aemk = tek.associated_encrypted_metadata_key();
    let metadata = Metadata::v1_0(tx_power);
    let mut buffer = [RollingProximityIdentifier::default(); 144];
    let identifiers = rpik.window_identifiers(window, &mut buffer);

    writeln!(
        out,
        "# TEK {} (secret until reported), rolling start {} ({}), period {}",
        bluezone::hex::Hex(tek.expose_secret()),
        start,
        UtcDateTime::from_unix_seconds(start.start_unix_seconds()),
        period.get()
    )?;
    writeln!(
        out,
        "# metadata {metadata} (v1.0, TX power {tx_power} dBm), flags {flags:02x}"
    )?;
    writeln!(out, "interval,utc_start,rpi,aem,advertisement")?;
    for (interval, rpi) in window.intervals().zip(identifiers) {
        let aem = aemk.encrypt(rpi, metadata);
        let payload = ExposureNotificationAdvertisement::new(*rpi, aem).encode(flags);
        writeln!(
            out,
            "{},{},{},{},{}",
            interval,
            UtcDateTime::from_unix_seconds(interval.start_unix_seconds()),
            rpi,
            aem,
            bluezone::hex::Hex(&payload)
        )?;
    }
    if flags != DEFAULT_FLAGS && flags & 0x02 == 0 {
        eprintln!(
            "note: flags {flags:02x} lack LE General Discoverable (bit 1), which the specification requires"
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn blid_id(
    out: &mut impl Write,
    base_key: &str,
    base_time: u64,
    at_ms: u64,
    slots: u32,
) -> Outcome {
    let bytes = bluezone::hex::decode_array(base_key).map_err(|e| format!("--base-key: {e}"))?;
    let slots = SlotsPerDay::new(slots).map_err(|e| format!("--slots: {e}"))?;
    let key = BaseKey::from_base_time(bytes, base_time).map_err(|e| format!("--base-time: {e}"))?;
    let id = key
        .identifier_at(at_ms, slots)
        .map_err(|e| format!("--at-ms: {e}"))?;
    writeln!(out, "{id}")?;
    Ok(ExitCode::SUCCESS)
}

fn read_text(path: &std::path::Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn blid_match(
    out: &mut impl Write,
    f0_path: &std::path::Path,
    history_path: &std::path::Path,
    unit: &str,
    now: Option<u64>,
    json: bool,
) -> Outcome {
    let unit = if unit == "s" {
        TimeUnit::Seconds
    } else {
        TimeUnit::Milliseconds
    };
    let f0 = F0List::from_json(&read_text(f0_path)?)
        .map_err(|e| format!("{}: {e}", f0_path.display()))?;
    let history = parse_history(&read_text(history_path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", history_path.display()))?;
    let index = ContactIndex::new(&history);
    let matches = index.matches(&f0, unit);
    let now = now.unwrap_or_else(|| {
        history
            .iter()
            .map(|l| l.timestamp / unit.per_second())
            .max()
            .unwrap_or(0)
    });
    let rule = F1Rule::bluezone(unit);
    let verdict = f1::decide(&matches, unit, &rule, now);

    if json {
        let document = serde_json::json!({
            "f0_entries": f0.entries.len(),
            "history_lines": history.len(),
            "contact": !matches.is_empty(),
            "matches": matches,
            "f1": verdict,
            "now": now,
        });
        writeln!(out, "{document}")?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{} F0 entries, {} history lines, {} matching sightings",
        f0.entries.len(),
        history.len(),
        matches.len()
    )?;
    for m in &matches {
        writeln!(
            out,
            "match: entry {} slot {} id {} line {} time {} rssi {}",
            m.entry,
            m.slot_index,
            m.id,
            m.line + 1,
            m.timestamp,
            m.rssi
        )?;
    }
    writeln!(
        out,
        "contact (the app's check): {}",
        if matches.is_empty() { "no" } else { "yes" }
    )?;
    for day in &verdict.days {
        writeln!(
            out,
            "day {}: entry {} close {} s ({} of {} sightings at or above {} dBm), strongest {} dBm",
            UtcDateTime::from_unix_seconds(day.day * 86_400)
                .to_string()
                .get(..10)
                .unwrap_or(""),
            day.entry,
            day.close_seconds,
            day.close_sightings,
            day.sightings,
            verdict.threshold_dbm,
            day.strongest_rssi
        )?;
    }
    writeln!(
        out,
        "F1 (within about 2 m for {} min in one day, last {} days): {}",
        rule.min_daily_exposure_s / 60,
        rule.lookback_days,
        if verdict.f1 { "yes" } else { "no" }
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Reads `path` line by line, calling `each` with the 1-based line number and the line.
fn for_each_line(
    path: &std::path::Path,
    mut each: impl FnMut(usize, &str) -> Result<(), String>,
) -> Result<(), String> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        each(index + 1, &line).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn csv_sighting(number: usize, line: &str) -> Result<Option<Sighting>, String> {
    let error = |error| {
        CsvError {
            line: number,
            error,
        }
        .to_string()
    };
    if number == 1 {
        check_csv_header(line).map_err(error)?;
        return Ok(None);
    }
    parse_csv_line(line)
        .map(|s| Some(Sighting::Gaen(s)))
        .map_err(error)
}

fn history_sighting(number: usize, line: &str, unit: TimeUnit) -> Result<Sighting, String> {
    let error = |error| {
        HistoryError {
            line: number,
            error,
        }
        .to_string()
    };
    let row = HistoryLine::parse(line).map_err(error)?;
    let unix_ms = row
        .unix_ms(unit)
        .ok_or_else(|| format!("line {number}: timestamp out of range"))?;
    Ok(Sighting::Bluezone(BluezoneSighting {
        unix_ms,
        contact_id: row.contact_id,
        own_id: row.own_id,
        rssi: row.rssi,
    }))
}

fn log_import(
    out: &mut impl Write,
    csv: Option<&std::path::Path>,
    history: Option<&std::path::Path>,
    unit: &str,
    dir: &std::path::Path,
) -> Outcome {
    let unit = if unit == "s" {
        TimeUnit::Seconds
    } else {
        TimeUnit::Milliseconds
    };
    // First pass: check every line, so a bad file writes nothing.
    let mut counts = (0usize, 0usize);
    if let Some(path) = csv {
        let mut lines = 0;
        for_each_line(path, |n, line| {
            lines = n;
            csv_sighting(n, line).map(|s| counts.0 += usize::from(s.is_some()))
        })?;
        if lines == 0 {
            return Err(format!(
                "{}: empty, expected the header `{CSV_HEADER}`",
                path.display()
            )
            .into());
        }
    }
    if let Some(path) = history {
        for_each_line(path, |n, line| {
            history_sighting(n, line, unit).map(|_| counts.1 += 1)
        })?;
    }
    // Second pass: append in batches.
    let mut log = EncounterLog::open(dir).map_err(|e| e.to_string())?;
    let mut batch = Vec::with_capacity(4096);
    let flush = |log: &mut EncounterLog, batch: &mut Vec<Sighting>| -> Result<(), String> {
        log.append_all(batch.iter()).map_err(|e| e.to_string())?;
        batch.clear();
        Ok(())
    };
    if let Some(path) = csv {
        for_each_line(path, |n, line| {
            if let Some(s) = csv_sighting(n, line)? {
                batch.push(s);
            }
            if batch.len() == batch.capacity() {
                flush(&mut log, &mut batch)?;
            }
            Ok(())
        })?;
    }
    if let Some(path) = history {
        for_each_line(path, |n, line| {
            batch.push(history_sighting(n, line, unit)?);
            if batch.len() == batch.capacity() {
                flush(&mut log, &mut batch)?;
            }
            Ok(())
        })?;
    }
    flush(&mut log, &mut batch)?;
    log.sync().map_err(|e| e.to_string())?;
    for repair in log.repairs() {
        eprintln!(
            "bluezone: {}: removed {} before appending",
            repair.segment.display(),
            bluezone::encounter::log::describe(&repair.removed)
        );
    }
    writeln!(
        out,
        "imported {} GAEN and {} Bluezone sightings into {}",
        counts.0,
        counts.1,
        dir.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

fn open_existing_log(dir: &std::path::Path) -> Result<EncounterLog, String> {
    if !dir.is_dir() {
        return Err(format!("{}: no such log folder", dir.display()));
    }
    EncounterLog::open(dir).map_err(|e| e.to_string())
}

fn log_export(out: &mut impl Write, dir: &std::path::Path, kind: &str) -> Outcome {
    let log = open_existing_log(dir)?;
    let gaen = kind == "gaen";
    if gaen {
        writeln!(out, "{CSV_HEADER}")?;
    }
    let (mut other, mut damaged) = (0u64, 0u64);
    for item in log.read().map_err(|e| e.to_string())? {
        match item.map_err(|e| e.to_string())? {
            LogItem::Record(Sighting::Gaen(s)) if gaen => writeln!(out, "{}", CsvLine(&s))?,
            LogItem::Record(Sighting::Bluezone(s)) if !gaen => writeln!(
                out,
                "{}",
                HistoryLine {
                    own_id: s.own_id,
                    contact_id: s.contact_id,
                    rssi: s.rssi,
                    timestamp: s.unix_ms,
                }
            )?,
            LogItem::Record(_) => other += 1,
            LogItem::Damage { segment, damage } => {
                damaged += 1;
                eprintln!(
                    "bluezone: {}: {}",
                    segment.display(),
                    bluezone::encounter::log::describe(&damage)
                );
            }
        }
    }
    if other > 0 {
        eprintln!(
            "bluezone: {other} {} sightings not exported (use --kind {})",
            if gaen { "Bluezone" } else { "GAEN" },
            if gaen { "bluezone" } else { "gaen" }
        );
    }
    if damaged > 0 {
        eprintln!(
            "bluezone: {damaged} damaged stretches skipped; every intact record was exported"
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn log_check(out: &mut impl Write, dir: &std::path::Path) -> Outcome {
    let log = open_existing_log(dir)?;
    let summary = LogSummary::of(&log).map_err(|e| e.to_string())?;
    writeln!(out, "segments: {}", summary.segments)?;
    writeln!(out, "GAEN sightings: {}", summary.gaen_records)?;
    writeln!(out, "Bluezone sightings: {}", summary.bluezone_records)?;
    match summary.time_range {
        Some((first, last)) => writeln!(
            out,
            "time range: {} .. {}",
            UtcDateTime::from_unix_seconds(first),
            UtcDateTime::from_unix_seconds(last)
        )?,
        None => writeln!(out, "time range: (empty)")?,
    }
    writeln!(out, "damage: {}", summary.damage.len())?;
    for (segment, damage) in &summary.damage {
        writeln!(
            out,
            "  {}: {}",
            segment.display(),
            bluezone::encounter::log::describe(damage)
        )?;
    }
    Ok(if summary.damage.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
