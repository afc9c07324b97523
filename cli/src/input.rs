//! Reading what the user names: text files line by line, sightings from a log or a CSV file,
//! public keys.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use bluezone::blid::{HistoryError, HistoryLine, TimeUnit};
use bluezone::encounter::csv::{CsvError, NoSightings, check_csv_header, parse_csv_line};
use bluezone::encounter::log::EncounterLog;
use bluezone::encounter::{BluezoneSighting, GaenSighting, Sighting};
use bluezone::export::verify::PublicKeyRegistry;
use bluezone::matching::state::StateKey;

use crate::error::{CliError, Context, Source};

/// The most threads a command starts: far more than any machine this runs on has cores, far
/// fewer than would exhaust one.
pub const MAX_THREADS: u64 = 256;

// spec §sec.11: the tool's numbers are bounded.
/// A count option bounded to `min..=max`: anything else is a usage error that states the
/// range, never a panic, an exhausted machine or a silent clamp.
pub fn bounded(min: u64, max: u64) -> impl clap::builder::TypedValueParser<Value = usize> {
    clap::builder::TypedValueParser::map(clap::value_parser!(u64).range(min..=max), |v| {
        usize::try_from(v).unwrap_or(usize::MAX)
    })
}

/// A whole text file.
pub fn read_text(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).in_file(path)
}

/// The lines of `path` with their 1-based numbers; an error names the file.
pub fn numbered_lines(
    path: &Path,
) -> Box<dyn Iterator<Item = Result<(usize, String), CliError>> + '_> {
    match std::fs::File::open(path) {
        Err(e) => Box::new(std::iter::once(Err(e).in_file(path))),
        Ok(file) => Box::new(
            std::io::BufReader::new(file)
                .lines()
                .enumerate()
                .map(move |(index, line)| line.in_file(path).map(|line| (index + 1, line))),
        ),
    }
}

/// The GAEN sightings of a CSV file, in order.
pub fn csv_sightings(path: &Path) -> impl Iterator<Item = Result<GaenSighting, CliError>> + '_ {
    numbered_csv_sightings(path).map(|item| item.map(|(_, s)| s))
}

/// The GAEN sightings of a CSV file, in order, with their line numbers.
pub fn numbered_csv_sightings(
    path: &Path,
) -> impl Iterator<Item = Result<(usize, GaenSighting), CliError>> + '_ {
    numbered_lines(path)
        .map(move |line| {
            let (number, text) = line?;
            csv_sighting(number, &text)
                .in_file(path)
                .map(|s| s.map(|s| (number, s)))
        })
        .filter_map(Result::transpose)
}

/// The sightings of a Bluezone contact history, in order, with their line numbers.
pub fn history_sightings(
    path: &Path,
    unit: TimeUnit,
) -> impl Iterator<Item = Result<(usize, Sighting), CliError>> + '_ {
    numbered_lines(path).map(move |line| {
        let (number, text) = line?;
        history_sighting(number, &text, unit)
            .in_file(path)
            .map(|s| (number, s))
    })
}

/// A sighting dated before 2020 or after tomorrow: refused on import, with the usual cause.
#[derive(Debug, thiserror::Error)]
#[error(
    "line {line}: {unix_seconds} s is {when}; sightings lie between 2020 and now plus a day ({hint})"
)]
pub struct ImplausibleTime {
    line: usize,
    unix_seconds: u64,
    when: &'static str,
    hint: &'static str,
}

/// Checks that a sighting's time is plausible: from 2020 to `now` plus a day.
///
/// # Errors
/// [`ImplausibleTime`], naming the line and suggesting the usual cause.
pub fn plausible_time(line: usize, unix_seconds: u64, now: u64) -> Result<(), ImplausibleTime> {
    let (when, hint) = if unix_seconds < bluezone::time::EARLIEST_PLAUSIBLE_UNIX_SECONDS {
        (
            "before 2020",
            "usually seconds read as milliseconds: an iOS history needs --unit s",
        )
    } else if unix_seconds > now.saturating_add(86_400) {
        (
            "later than tomorrow",
            "usually milliseconds read as seconds: an Android history needs --unit ms, and a CSV holds Unix seconds",
        )
    } else {
        return Ok(());
    };
    Err(ImplausibleTime {
        line,
        unix_seconds,
        when,
        hint,
    })
}

/// Line `number` of a GAEN CSV file: `None` for the header line.
pub fn csv_sighting(number: usize, line: &str) -> Result<Option<GaenSighting>, CsvError> {
    let at = |error| CsvError {
        line: number,
        error,
    };
    if number == 1 {
        check_csv_header(line).map_err(at)?;
        return Ok(None);
    }
    parse_csv_line(line).map(Some).map_err(at)
}

/// A timestamp that does not fit in Unix milliseconds.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: timestamp out of range")]
pub struct TimestampRange {
    line: usize,
}

/// Line `number` of a Bluezone contact history, as a sighting.
pub fn history_sighting(number: usize, line: &str, unit: TimeUnit) -> Result<Sighting, Source> {
    let row = HistoryLine::parse(line).map_err(|error| HistoryError {
        line: number,
        error,
    })?;
    let unix_ms = row.unix_ms(unit).ok_or(TimestampRange { line: number })?;
    Ok(Sighting::Bluezone(BluezoneSighting {
        unix_ms,
        contact_id: row.contact_id,
        own_id: row.own_id,
        rssi: row.rssi,
    }))
}

/// A folder that does not hold a log.
#[derive(Debug, thiserror::Error)]
#[error("no such log folder")]
pub struct NoLog;

/// An existing log folder, opened: a folder without any segment is not a log.
pub fn open_existing_log(dir: &Path) -> Result<EncounterLog, CliError> {
    if !dir.is_dir() {
        return Err(NoLog).in_file(dir);
    }
    EncounterLog::open_existing(dir).in_file(dir)
}

/// Prints a damaged stretch of a log on stderr: damage is reported, never dropped silently.
pub fn report_damage(segment: &Path, damage: &bluezone::encounter::frame::Damage) {
    eprintln!("bluezone: {}: {damage}", segment.display());
}

/// A CSV file with no line at all.
#[derive(Debug, thiserror::Error)]
#[error(
    "empty, expected the header `{}`",
    bluezone::encounter::csv::CSV_HEADER
)]
pub struct EmptyCsv;

/// The name of the journal an import writes into the log folder before it appends (see
/// `log import`): while it is there, an import was cut.
pub const IMPORT_JOURNAL: &str = "import.journal";

/// What was read from a log or a CSV file.
pub struct LogRead {
    /// The GAEN sightings, in log order.
    pub sightings: Vec<GaenSighting>,
    /// Every damaged stretch and cut import, described.
    pub damage: Vec<String>,
}

/// The GAEN sightings of a log folder or of a CSV file `unix_seconds,rpi,aem,rssi`, with the
/// damage found on the way (each stretch also printed on stderr). An empty or header-only CSV
/// is an error.
pub fn gaen_log(path: &Path) -> Result<LogRead, CliError> {
    if path.is_dir() {
        let log = open_existing_log(path)?;
        let mut damage = Vec::new();
        let journal = path.join(IMPORT_JOURNAL);
        if journal.exists() {
            let cut = format!(
                "{}: an import was cut before it finished; run it again (records already in the log are not added twice)",
                journal.display()
            );
            eprintln!("bluezone: {cut}");
            damage.push(cut);
        }
        let sightings = log
            .sightings(|segment, found| {
                report_damage(segment, found);
                damage.push(format!("{}: {found}", segment.display()));
            })
            .in_file(path)?
            .gaen;
        return Ok(LogRead { sightings, damage });
    }
    if std::fs::metadata(path).in_file(path)?.len() == 0 {
        return Err(EmptyCsv).in_file(path);
    }
    let sightings: Vec<GaenSighting> = csv_sightings(path).collect::<Result<_, _>>()?;
    if sightings.is_empty() {
        return Err(NoSightings).in_file(path);
    }
    Ok(LogRead {
        sightings,
        damage: Vec::new(),
    })
}

/// A registry file: the health authorities' keys by name, and how they must sign.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    keys: Vec<RegistryKey>,
    #[serde(default)]
    policy: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryKey {
    id: String,
    version: String,
    pem: PathBuf,
}

/// Reads a registry file (JSON): `{"keys": [{"id": "310", "version": "v1", "pem":
/// "310.pem"}, …], "policy": "310-v1&311-v1|312-v1"}`, PEM paths relative to the file, the
/// policy in Google's notation (optional: every key on its own).
pub fn registry_file(path: &Path) -> Result<PublicKeyRegistry, CliError> {
    let file: RegistryFile = serde_json::from_str(&read_text(path)?).in_file(path)?;
    let folder = path.parent().unwrap_or_else(|| Path::new(""));
    let mut registry = PublicKeyRegistry::new();
    for key in &file.keys {
        let pem = folder.join(&key.pem);
        registry
            .add_pem(Some(&key.id), Some(&key.version), &read_text(&pem)?)
            .in_file(&pem)?;
    }
    if let Some(policy) = &file.policy {
        registry.set_policy(policy).in_file(path)?;
    }
    Ok(registry)
}

/// A public key for verification, named as signatures name it.
#[derive(clap::Args, Debug)]
pub struct KeyArgs {
    /// The health authority's public key, PEM (SubjectPublicKeyInfo).
    #[arg(long)]
    pub public_key: Option<PathBuf>,
    /// The key's verification_key_id; any when omitted.
    #[arg(long, requires = "public_key")]
    pub key_id: Option<String>,
    /// The key's verification_key_version; any when omitted.
    #[arg(long, requires = "public_key")]
    pub key_version: Option<String>,
}

impl KeyArgs {
    /// The registry of the one key given, if any.
    pub fn registry(&self) -> Result<Option<PublicKeyRegistry>, CliError> {
        let Some(path) = &self.public_key else {
            return Ok(None);
        };
        let mut registry = PublicKeyRegistry::new();
        registry
            .add_pem(
                self.key_id.as_deref(),
                self.key_version.as_deref(),
                &read_text(path)?,
            )
            .in_file(path)?;
        Ok(Some(registry))
    }
}

/// The time unit of a Bluezone contact history.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Milliseconds since the epoch (the Android app).
    Ms,
    /// Seconds since the epoch (the iOS app).
    S,
}

impl From<Unit> for TimeUnit {
    fn from(unit: Unit) -> Self {
        match unit {
            Unit::Ms => Self::Milliseconds,
            Unit::S => Self::Seconds,
        }
    }
}

/// A state key file that is neither 32 bytes nor 64 hex digits.
#[derive(Debug, thiserror::Error)]
#[error("a state key is 32 bytes, or 64 hex digits")]
struct BadStateKey;

/// A state key from a file of 32 bytes or 64 hex digits (`--state-key-file`); the bytes read
/// are zeroized.
pub fn state_key(path: &Path) -> Result<StateKey, CliError> {
    let bytes = zeroize::Zeroizing::new(std::fs::read(path).in_file(path)?);
    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    if bytes.len() == 32 {
        key.copy_from_slice(&bytes);
    } else {
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| BadStateKey)
            .in_file(path)?;
        let decoded = bluezone::hex::decode_array::<32>(text.trim())
            .map_err(|_| BadStateKey)
            .in_file(path)?;
        *key = decoded;
    }
    Ok(StateKey::from_bytes(*key))
}

/// A log with damage, refused without --allow-damaged-log.
#[derive(Debug, thiserror::Error)]
#[error(
    "the encounter log is damaged ({0} damaged stretches or cut imports, listed above): a check against part of a log can miss an exposure; repair the log, or give --allow-damaged-log to match the intact records"
)]
pub struct DamagedLog(pub usize);
