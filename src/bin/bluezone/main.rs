//! `bluezone`: the command-line tool of the `bluezone` crate.

mod demo;

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
use bluezone::export::archive::ExportArchive;
use bluezone::export::bin::{ExportBin, ExportMetadata, SignatureInfo};
use bluezone::export::sig;
use bluezone::export::verify::{self, ExportDigests, PublicKeyRegistry};
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
    /// Simulate a town for two weeks end to end and compare the warnings with the truth.
    Demo {
        /// People in the town.
        #[arg(long, default_value_t = 2000)]
        people: usize,
        /// Days simulated (1..=14).
        #[arg(long, default_value_t = 14)]
        days: u64,
        /// Seed of the simulation.
        #[arg(long, default_value_t = 2021)]
        seed: u64,
        /// Keep the generated logs, export.zip and f0.json in this folder.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
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
    /// Key export files (export.zip, or a bare export.bin).
    #[command(subcommand)]
    Export(ExportCommand),
    /// Measurements.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Match diagnosis keys from export files against an encounter log or CSV.
    Match {
        /// export.zip or bare export.bin files.
        #[arg(long, required = true, num_args = 1..)]
        keys: Vec<PathBuf>,
        /// An encounter log folder, or a CSV `unix_seconds,rpi,aem,rssi`.
        #[arg(long)]
        encounters: PathBuf,
        /// Health authority public keys (PEM); with any, every file must carry a valid
        /// signature by one of them.
        #[arg(long)]
        public_key: Vec<PathBuf>,
        /// Threads (0: all cores).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Risk settings as JSON (`{"windows":…,"daily_summaries":…,"v1":…,"f1":…}`; missing
        /// fields take their defaults).
        #[arg(long)]
        risk_config: Option<PathBuf>,
        /// "Now" for look-back periods, Unix seconds; the newest sighting when omitted.
        #[arg(long)]
        now: Option<u64>,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Time the matcher, the naive baseline and the crypto floor on one seeded workload.
    Match {
        /// Diagnosis keys to match.
        #[arg(long, default_value_t = 1_000_000)]
        keys: usize,
        /// typical: a phone's 14 days (50 000 sightings); dense: every interval busy
        /// (1 000 000 identifiers).
        #[arg(long, default_value = "typical", value_parser = ["typical", "dense"])]
        workload: String,
        /// Threads for the matcher (the baseline and the floor run on one).
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
}

/// A public key for verification, named as signatures name it.
#[derive(clap::Args)]
struct KeyArgs {
    /// The health authority's public key, PEM (SubjectPublicKeyInfo).
    #[arg(long)]
    public_key: Option<PathBuf>,
    /// The key's verification_key_id; any when omitted.
    #[arg(long, requires = "public_key")]
    key_id: Option<String>,
    /// The key's verification_key_version; any when omitted.
    #[arg(long, requires = "public_key")]
    key_version: Option<String>,
}

#[derive(Subcommand)]
enum ExportCommand {
    /// Print a file's metadata, key counts and signature status.
    Inspect {
        /// An export.zip or a bare export.bin.
        file: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Exit 0 only when the file carries a valid signature by the given key.
    Verify {
        /// An export.zip.
        file: PathBuf,
        #[command(flatten)]
        key: KeyArgs,
    },
    /// Write a signed export.zip from the key server's publish JSON.
    Build {
        /// `{"temporaryExposureKeys":[{"key":"<base64>","rollingStartNumber":…,…}]}`.
        #[arg(long)]
        keys: PathBuf,
        /// The signing key, PEM (PKCS#8 or SEC1).
        #[arg(long)]
        private_key: PathBuf,
        /// verification_key_id written into the signature info.
        #[arg(long)]
        key_id: String,
        /// verification_key_version written into the signature info.
        #[arg(long)]
        key_version: String,
        /// Region, for example an MCC such as 452.
        #[arg(long, default_value = "")]
        region: String,
        /// Pad with random keys up to this many keys (the reference server uses 1000).
        #[arg(long, default_value_t = 0)]
        pad_to: usize,
        /// Where to write the archive.
        #[arg(long)]
        out: PathBuf,
    },
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
        Command::Demo {
            people,
            days,
            seed,
            out: folder,
            json,
        } => demo::run(
            &mut out,
            &demo::DemoArgs {
                people,
                days,
                seed,
                out: folder,
                json,
            },
        )
        .map(|ok| {
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        })
        .map_err(Failure::Usage),
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
        Command::Export(ExportCommand::Inspect { file, key, json }) => {
            export_inspect(&mut out, &file, &key, json)
        }
        Command::Export(ExportCommand::Verify { file, key }) => {
            export_verify(&mut out, &file, &key)
        }
        Command::Export(ExportCommand::Build {
            keys,
            private_key,
            key_id,
            key_version,
            region,
            pad_to,
            out: path,
        }) => export_build(
            &mut out,
            &keys,
            &private_key,
            &key_id,
            &key_version,
            &region,
            pad_to,
            &path,
        ),
        Command::Bench(BenchCommand::Match {
            keys,
            workload,
            threads,
            json,
        }) => bench_match(&mut out, keys, &workload, threads, json),
        Command::Match {
            keys,
            encounters,
            public_key,
            threads,
            risk_config,
            now,
            json,
        } => match_command(
            &mut out,
            &MatchArgs {
                files: &keys,
                encounters: &encounters,
                public_keys: &public_key,
                threads,
                risk_config: risk_config.as_deref(),
                now,
                json,
            },
        ),
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
    let unit = time_unit(unit);
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
            utc_date(day.day),
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
    let unit = time_unit(unit);
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

/// An export file's two parts, from a zip or a bare export.bin.
struct LoadedExport {
    export_bin: Vec<u8>,
    export_sig: Option<Vec<u8>>,
    zipped: bool,
}

fn load_export(path: &std::path::Path) -> Result<LoadedExport, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let named = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    if bytes.starts_with(bluezone::export::EXPORT_HEADER) {
        return Ok(LoadedExport {
            export_bin: bytes,
            export_sig: None,
            zipped: false,
        });
    }
    let mut archive = ExportArchive::open(std::io::Cursor::new(bytes)).map_err(|e| named(&e))?;
    Ok(LoadedExport {
        export_bin: archive.read_export_bin().map_err(|e| named(&e))?,
        export_sig: archive.read_export_sig().map_err(|e| named(&e))?,
        zipped: true,
    })
}

fn registry(key: &KeyArgs) -> Result<Option<PublicKeyRegistry>, String> {
    let Some(path) = &key.public_key else {
        return Ok(None);
    };
    let pem = read_text(path)?;
    let mut registry = PublicKeyRegistry::new();
    registry
        .add_pem(key.key_id.as_deref(), key.key_version.as_deref(), &pem)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Some(registry))
}

/// The signature verdict in words, and whether it is authentic.
fn signature_status(
    loaded: &LoadedExport,
    infos: usize,
    registry: Option<&PublicKeyRegistry>,
) -> Result<(String, bool), String> {
    let Some(sig_bytes) = &loaded.export_sig else {
        return Ok(("no export.sig".into(), false));
    };
    let signatures = sig::parse(sig_bytes).map_err(|e| format!("export.sig: {e}"))?;
    let Some(registry) = registry else {
        return Ok((
            format!(
                "{} signature(s), not checked (no --public-key)",
                signatures.len()
            ),
            false,
        ));
    };
    let verification = verify::verify(
        &ExportDigests::of(&loaded.export_bin),
        infos,
        &signatures,
        registry,
    );
    let mut words = if verification.authentic {
        "valid".to_string()
    } else {
        "INVALID".to_string()
    };
    if !verification.counts_match {
        words.push_str(&format!(
            " ({} signature(s) for {} signature info(s))",
            signatures.len(),
            infos
        ));
    }
    for (n, status) in verification.signatures.iter().enumerate() {
        words.push_str(&format!("; signature {}: {status:?}", n + 1));
    }
    Ok((words, verification.authentic))
}

fn export_inspect(
    out: &mut impl Write,
    file: &std::path::Path,
    key: &KeyArgs,
    json: bool,
) -> Outcome {
    let loaded = load_export(file)?;
    let parsed = ExportBin::parse(&loaded.export_bin)
        .map_err(|e| format!("{}: export.bin: {e}", file.display()))?;
    // Decode every key, so that a bad key is reported here rather than later.
    let mut report_types = [0u64; 6];
    for key in parsed.keys() {
        let key = key.map_err(|e| format!("{}: export.bin: {e}", file.display()))?;
        if let Some(slot) = report_types.get_mut(key.key.report_type as usize) {
            *slot += 1;
        }
    }
    let registry = registry(key)?;
    let (status, authentic) = signature_status(
        &loaded,
        parsed.metadata().signature_infos.len(),
        registry.as_ref(),
    )?;
    if json {
        let document = serde_json::json!({
            "file": file.display().to_string(),
            "zipped": loaded.zipped,
            "export_bin_bytes": loaded.export_bin.len(),
            "metadata": parsed.metadata(),
            "keys": parsed.key_count(),
            "revised_keys": parsed.revised_key_count(),
            "report_types": report_types,
            "signature": status,
            "authentic": authentic,
        });
        writeln!(out, "{document}")?;
        return Ok(ExitCode::SUCCESS);
    }
    let meta = parsed.metadata();
    let show = |t: Option<u64>| {
        t.map_or_else(
            || "-".to_string(),
            |t| format!("{t} ({})", UtcDateTime::from_unix_seconds(t)),
        )
    };
    writeln!(
        out,
        "file: {}{}",
        file.display(),
        if loaded.zipped {
            " (zip)"
        } else {
            " (bare export.bin)"
        }
    )?;
    writeln!(out, "start: {}", show(meta.start_timestamp))?;
    writeln!(out, "end: {}", show(meta.end_timestamp))?;
    writeln!(out, "region: {}", meta.region.as_deref().unwrap_or("-"))?;
    writeln!(
        out,
        "batch: {}/{}",
        meta.batch_num.map_or("-".into(), |b| b.to_string()),
        meta.batch_size.map_or("-".into(), |b| b.to_string())
    )?;
    for info in &meta.signature_infos {
        writeln!(out, "signature info: {info:?}")?;
    }
    writeln!(out, "keys: {}", parsed.key_count())?;
    writeln!(out, "revised keys: {}", parsed.revised_key_count())?;
    writeln!(
        out,
        "report types (unknown, test, clinical, self, recursive, revoked): {report_types:?}"
    )?;
    writeln!(out, "signature: {status}")?;
    Ok(ExitCode::SUCCESS)
}

fn export_verify(out: &mut impl Write, file: &std::path::Path, key: &KeyArgs) -> Outcome {
    let registry = registry(key)?.ok_or_else(|| "--public-key is required".to_string())?;
    let loaded = load_export(file)?;
    if loaded.export_sig.is_none() {
        return Err(format!("{}: no export.sig: the file is not signed", file.display()).into());
    }
    let parsed = ExportBin::parse(&loaded.export_bin)
        .map_err(|e| format!("{}: export.bin: {e}", file.display()))?;
    let (status, authentic) = signature_status(
        &loaded,
        parsed.metadata().signature_infos.len(),
        Some(&registry),
    )?;
    writeln!(out, "{}: {status}", file.display())?;
    Ok(if authentic {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[allow(
    clippy::too_many_arguments,
    reason = "one argument per command-line option"
)]
fn export_build(
    out: &mut impl Write,
    keys_path: &std::path::Path,
    private_key: &std::path::Path,
    key_id: &str,
    key_version: &str,
    region: &str,
    pad_to: usize,
    path: &std::path::Path,
) -> Outcome {
    let keys = bluezone::export::publish::parse_keys(&read_text(keys_path)?)
        .map_err(|e| format!("{}: {e}", keys_path.display()))?;
    let signing = verify::signing_key_from_pem(&read_text(private_key)?)
        .map_err(|e| format!("{}: {e}", private_key.display()))?;
    let info = SignatureInfo {
        verification_key_version: Some(key_version.to_string()),
        verification_key_id: Some(key_id.to_string()),
        signature_algorithm: Some(verify::ECDSA_WITH_SHA256.to_string()),
        ..SignatureInfo::default()
    };
    // The keys arrived between the start of the earliest key and the end of the latest one.
    let start = keys
        .iter()
        .map(|k| k.window.start().start_unix_seconds())
        .min()
        .unwrap_or(0);
    let end = keys
        .iter()
        .map(|k| (u64::from(k.window.last().get()) + 1) * 600)
        .max()
        .unwrap_or(0);
    let metadata = ExportMetadata {
        start_timestamp: Some(start),
        end_timestamp: Some(end),
        region: Some(region.to_string()),
        batch_num: Some(1),
        batch_size: Some(1),
        signature_infos: vec![info.clone()],
    };
    let count = keys.len();
    let mut rng = rand_from_os()?;
    let export_bin = bluezone::export::bin::build(&metadata, keys, pad_to, &mut rng);
    let signature = verify::sign(&export_bin, &signing, info, 1, 1);
    let export_sig = sig::encode(&[signature]);
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    bluezone::export::archive::write(
        std::io::BufWriter::new(file),
        &export_bin,
        Some(&export_sig),
    )
    .map_err(|e| format!("{}: {e}", path.display()))?;
    writeln!(
        out,
        "wrote {} ({count} keys, {} with padding), signed by {key_id} {key_version}",
        path.display(),
        ExportBin::parse(&export_bin)
            .map(|p| p.key_count())
            .unwrap_or(0)
    )?;
    Ok(ExitCode::SUCCESS)
}

/// A cryptographic RNG seeded from the operating system, for padding keys.
fn rand_from_os() -> Result<rand_chacha::ChaCha20Rng, String> {
    use rand_chacha::rand_core::SeedableRng;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| format!("no randomness from the operating system: {e}"))?;
    Ok(rand_chacha::ChaCha20Rng::from_seed(seed))
}

fn bench_match(
    out: &mut impl Write,
    keys: usize,
    workload: &str,
    threads: usize,
    json: bool,
) -> Outcome {
    use bluezone::matching::bench::{Scenario, Workload, crypto_floor, naive_baseline};
    use bluezone::matching::{LogIndex, MatchConfig, Matcher};
    use rand_chacha::rand_core::SeedableRng;
    use std::time::Instant;

    let kind = if workload == "dense" {
        Workload::Dense
    } else {
        Workload::Typical
    };
    let planted = (keys / 10_000).clamp(1, 1000).min(keys);
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(0x0B1E_2020);
    eprintln!("bluezone: building the {workload} workload ({keys} keys, {planted} planted)...");
    let scenario = Scenario::build(kind, keys, planted, &mut rng);
    let config = MatchConfig::default();
    let started = Instant::now();
    let index = LogIndex::new(scenario.sightings.clone(), config.tolerance_intervals);
    let index_time = started.elapsed();
    let logged: std::collections::HashSet<[u8; 16]> = scenario
        .sightings
        .iter()
        .map(|s| s.rpi.to_bytes())
        .collect();

    let matcher = Matcher::new(&index, config);
    let started = Instant::now();
    let outcome = matcher
        .match_keys_parallel(&scenario.keys, threads)
        .map_err(|e| format!("thread pool: {e}"))?;
    let production = started.elapsed();
    let started = Instant::now();
    let naive_found = naive_baseline(&scenario.keys, &logged);
    let naive = started.elapsed();
    let started = Instant::now();
    let checksum = crypto_floor(&scenario.keys);
    let floor = started.elapsed();

    let found: Vec<_> = outcome.matches.iter().map(|m| m.key).collect();
    let correct = found == scenario.planted && naive_found == scenario.planted;
    let rate = |d: std::time::Duration| keys as f64 / d.as_secs_f64();
    let stats = index.stats();
    if json {
        let document = serde_json::json!({
            "workload": workload,
            "keys": keys,
            "threads": threads,
            "sightings": stats.sightings,
            "identifiers": stats.identifiers,
            "index_seconds": index_time.as_secs_f64(),
            "production_keys_per_second": rate(production),
            "naive_keys_per_second": rate(naive),
            "floor_keys_per_second": rate(floor),
            "speedup_over_naive": naive.as_secs_f64() / production.as_secs_f64(),
            "production_over_floor_time": production.as_secs_f64() / floor.as_secs_f64(),
            "planted": scenario.planted.len(),
            "found": found.len(),
            "correct": correct,
            "checksum": checksum,
        });
        writeln!(out, "{document}")?;
    } else {
        writeln!(
            out,
            "workload {workload}: {} sightings of {} identifiers, {keys} keys, index built in {:.2?}",
            stats.sightings, stats.identifiers, index_time
        )?;
        writeln!(
            out,
            "production ({threads} thread(s)): {:>12.0} keys/s  ({:.2?})",
            rate(production),
            production
        )?;
        writeln!(
            out,
            "naive baseline (1 thread): {:>12.0} keys/s  ({:.2?})",
            rate(naive),
            naive
        )?;
        writeln!(
            out,
            "crypto floor (1 thread):   {:>12.0} keys/s  ({:.2?})",
            rate(floor),
            floor
        )?;
        writeln!(
            out,
            "production is {:.2}x the naive baseline and takes {:.2}x the crypto floor's time",
            naive.as_secs_f64() / production.as_secs_f64(),
            production.as_secs_f64() / floor.as_secs_f64()
        )?;
        writeln!(
            out,
            "planted {}, found {} (naive found {}): {}",
            scenario.planted.len(),
            found.len(),
            naive_found.len(),
            if correct {
                "exactly the planted set"
            } else {
                "WRONG"
            }
        )?;
    }
    Ok(if correct {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// GAEN sightings from a log folder or a CSV file; damage in a log is reported, not hidden.
fn load_encounters(
    path: &std::path::Path,
) -> Result<Vec<bluezone::encounter::GaenSighting>, String> {
    let mut sightings = Vec::new();
    if path.is_dir() {
        let log = open_existing_log(path)?;
        for item in log.read().map_err(|e| e.to_string())? {
            match item.map_err(|e| e.to_string())? {
                LogItem::Record(Sighting::Gaen(s)) => sightings.push(s),
                LogItem::Record(Sighting::Bluezone(_)) => {}
                LogItem::Damage { segment, damage } => eprintln!(
                    "bluezone: {}: {}",
                    segment.display(),
                    bluezone::encounter::log::describe(&damage)
                ),
            }
        }
    } else {
        for_each_line(path, |n, line| {
            if let Some(Sighting::Gaen(s)) = csv_sighting(n, line)? {
                sightings.push(s);
            }
            Ok(())
        })?;
    }
    Ok(sightings)
}

/// Checks that `path` carries a valid signature by one of `registry`'s keys, streaming.
fn require_signature(path: &std::path::Path, registry: &PublicKeyRegistry) -> Result<(), String> {
    let named = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let file = std::fs::File::open(path).map_err(|e| named(&e))?;
    let mut archive = ExportArchive::open(std::io::BufReader::new(file)).map_err(|e| named(&e))?;
    let sig_bytes = archive
        .read_export_sig()
        .map_err(|e| named(&e))?
        .ok_or_else(|| named(&"no export.sig, and --public-key requires a signature"))?;
    let signatures = sig::parse(&sig_bytes).map_err(|e| named(&e))?;
    let digests = ExportDigests::of_reader(archive.export_bin().map_err(|e| named(&e))?)
        .map_err(|e| named(&e))?;
    let reader = bluezone::export::stream::ExportReader::new(std::io::BufReader::new(
        archive.export_bin().map_err(|e| named(&e))?,
    ))
    .map_err(|e| named(&e))?;
    let infos = reader.metadata().signature_infos.len();
    let verification = verify::verify(&digests, infos, &signatures, registry);
    if verification.authentic {
        Ok(())
    } else {
        Err(named(&format!(
            "signature not valid: {:?}",
            verification.signatures
        )))
    }
}

/// The options of `bluezone match`.
struct MatchArgs<'a> {
    files: &'a [PathBuf],
    encounters: &'a std::path::Path,
    public_keys: &'a [PathBuf],
    threads: usize,
    risk_config: Option<&'a std::path::Path>,
    now: Option<u64>,
    json: bool,
}

fn match_command(out: &mut impl Write, args: &MatchArgs<'_>) -> Outcome {
    use bluezone::matching::{LogIndex, MatchConfig, MatchOutcome, Matcher, stream};
    use std::io::IsTerminal;
    let MatchArgs {
        files,
        encounters,
        public_keys,
        threads,
        json,
        ..
    } = *args;
    let risk_config: bluezone::risk::RiskConfig = match args.risk_config {
        Some(path) => serde_json::from_str(&read_text(path)?)
            .map_err(|e| format!("{}: {e}", path.display()))?,
        None => bluezone::risk::RiskConfig::default(),
    };
    risk_config
        .validate()
        .map_err(|e| format!("risk configuration: {e}"))?;

    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    } else {
        threads
    };
    let mut registry = PublicKeyRegistry::new();
    for path in public_keys {
        registry
            .add_pem(None, None, &read_text(path)?)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let config = MatchConfig::default();
    let sightings = load_encounters(encounters)?;
    let now = args
        .now
        .unwrap_or_else(|| sightings.iter().map(|s| s.unix_seconds).max().unwrap_or(0));
    let index = LogIndex::new(sightings, config.tolerance_intervals);
    let matcher = Matcher::new(&index, config);
    let show_progress = std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    let mut outcome = MatchOutcome::default();
    for path in files {
        if !public_keys.is_empty() {
            require_signature(path, &registry)?;
        }
        let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let progress = |read: u64| {
            if show_progress && started.elapsed().as_secs() >= 1 {
                eprint!("\r{}: {read} keys", path.display());
            }
        };
        let found =
            stream::match_export(&matcher, std::io::BufReader::new(file), threads, progress)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        outcome.merge(found);
    }
    if show_progress && started.elapsed().as_secs() >= 1 {
        eprintln!();
    }
    let risk = bluezone::risk::assess(&outcome, &risk_config, now);
    if json {
        let mut document = match_json(&outcome);
        if let Some(object) = document.as_object_mut() {
            object.insert("now".into(), serde_json::json!(now));
            object.insert(
                "exposure_windows".into(),
                serde_json::json!(risk.exposure_windows),
            );
            object.insert(
                "daily_summaries".into(),
                serde_json::json!(risk.daily_summaries),
            );
            object.insert("f1".into(), serde_json::json!(risk.f1));
        }
        writeln!(out, "{document}")?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{} keys, {} matched, in {:.2?} ({} sightings indexed)",
        outcome.keys_total,
        outcome.keys_matched,
        started.elapsed(),
        index.stats().sightings
    )?;
    for m in &outcome.matches {
        let first = m.sightings.first().map_or(0, |s| s.unix_seconds);
        let last = m.sightings.last().map_or(0, |s| s.unix_seconds);
        writeln!(
            out,
            "key {} (start {}, period {}, report type {:?}): {} sightings {} .. {}, min attenuation {} dB",
            bluezone::hex::Hex(&m.key.key_data),
            m.key.window.start(),
            m.key.window.period().get(),
            m.key.report_type,
            m.sightings.len(),
            UtcDateTime::from_unix_seconds(first),
            UtcDateTime::from_unix_seconds(last),
            m.sightings.iter().map(|s| s.attenuation).min().unwrap_or(0)
        )?;
    }
    writeln!(out, "rejected: {:?}", outcome.rejected)?;
    writeln!(out, "exposure windows: {}", risk.exposure_windows.len())?;
    for day in &risk.daily_summaries {
        writeln!(
            out,
            "daily summary {}: score sum {:.1}, maximum {:.1}, weighted duration {:.0} s",
            utc_date(day.unix_day),
            day.score_sum,
            day.maximum_score,
            day.weighted_duration_sum
        )?;
    }
    for day in &risk.f1.days {
        writeln!(
            out,
            "close contact {}: {} s at or below {} dB of {} s, closest {} dB",
            utc_date(day.unix_day),
            day.close_seconds,
            risk_config.f1.attenuation_threshold_db,
            day.total_seconds,
            day.closest_attenuation_db
        )?;
    }
    writeln!(
        out,
        "F1 (at most {} dB for {} min in one day, last {} days): {}",
        risk_config.f1.attenuation_threshold_db,
        risk_config.f1.min_daily_seconds / 60,
        risk_config.f1.lookback_days,
        if risk.f1.f1 { "yes" } else { "no" }
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The `--json` document of `bluezone match`.
fn match_json(outcome: &bluezone::matching::MatchOutcome) -> serde_json::Value {
    let matches: Vec<serde_json::Value> = outcome
        .matches
        .iter()
        .map(|m| {
            serde_json::json!({
                "tek": bluezone::hex::Hex(&m.key.key_data).to_string(),
                "rolling_start_interval_number": m.key.window.start().get(),
                "rolling_period": m.key.window.period().get(),
                "report_type": m.key.report_type as u8,
                "transmission_risk_level": m.key.transmission_risk_level,
                "days_since_onset_of_symptoms": m.key.days_since_onset_of_symptoms,
                "sightings": m.sightings.iter().map(|s| serde_json::json!({
                    "unix_seconds": s.unix_seconds,
                    "rpi": s.rpi.to_string(),
                    "en_interval_number": s.en_interval_number.get(),
                    "rssi": s.rssi,
                    "aem": s.aem.to_string(),
                    "metadata": s.metadata.to_string(),
                    "tx_power": s.tx_power,
                    "attenuation": s.attenuation,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({
        "keys_total": outcome.keys_total,
        "keys_matched": outcome.keys_matched,
        "matches": matches,
        "rejected": {
            "outside_tolerance": outcome.rejected.outside_tolerance,
            "replayed": outcome.rejected.replayed,
            "tx_power_out_of_range": outcome.rejected.tx_power_out_of_range,
            "report_type_keys": outcome.rejected.report_type_keys,
            "duplicate_keys": outcome.rejected.duplicate_keys,
        },
    })
}

/// The `--unit` option: `s` (iOS histories) or `ms` (Android, the default).
fn time_unit(text: &str) -> TimeUnit {
    if text == "s" {
        TimeUnit::Seconds
    } else {
        TimeUnit::Milliseconds
    }
}

/// `YYYY-MM-DD` of a UTC day (days since the epoch).
fn utc_date(unix_day: u64) -> String {
    let mut text = UtcDateTime::from_unix_seconds(unix_day.saturating_mul(86_400)).to_string();
    text.truncate(10);
    text
}
