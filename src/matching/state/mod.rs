//! A match state that lives across days (spec `spec/state.md`): a folder that remembers every
//! key already checked against the phone's log, the result of each, and every export file
//! already read, so that a daily check derives only what is new and a revision or revocation
//! that arrives later still changes the result.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use bluezone::matching::state::{MatchState, RunOptions};
//! use bluezone::matching::stream::Authenticity;
//! use bluezone::matching::{LogIndex, MatchConfig, MatchRun, Matcher};
//! # let sightings = Vec::new();
//! # let registry = bluezone::export::verify::PublicKeyRegistry::new();
//! let config = MatchConfig::default();
//! let mut state = MatchState::open("state", config, Default::default())?;
//! let index = LogIndex::new(sightings, config.tolerance_intervals);
//! let matcher = Matcher::new(&index, config);
//! let authenticity = Authenticity::Required(&registry);
//! let options = RunOptions::at(1_607_126_400, authenticity);
//! let mut run = state.begin(MatchRun::new(&matcher), &options)?;
//! run.feed("today.zip", authenticity, |_| {})?;
//! let outcome = run.commit()?; // every stored result, today's files and earlier ones
//! # Ok(()) }
//! ```
//!
//! Memory holds the matched keys, the keys whose results are not final yet, and one window of
//! a file's keys at a time; the keys checked with no match stay on disk, in sorted segments
//! that each window is joined against in one sequential pass.

mod format;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::string::ToString;
use std::vec::Vec;

use aes::Aes128Enc;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
use sha2::{Digest, Sha256};

pub use format::DamageReason;
use format::{
    ENTRY, FileRecord, LogDay, Manifest, Pending, SEGMENT_HEADER, SegmentRef, StoredMatch,
    read_segment_header, secret_from_key, segment_header,
};

use super::run::Applied;
use super::stream::{Authenticity, Chunks, MatchStreamError};
use super::{Checkpoint, MatchConfig, MatchOutcome, MatchRun, Rejections};
use crate::encounter::GaenSighting;
use crate::export::{ExportFile, ExportFileError, ExportFormat, ExportSummary};
use crate::gaen::DiagnosisKey;
use crate::time::{INTERVAL_SECONDS, ImplausibleTime, SECONDS_PER_DAY, plausible_time};

const MANIFEST: &str = "MANIFEST";
const MANIFEST_TMP: &str = "MANIFEST.tmp";
const LOCK: &str = "lock";
/// Keys of a file joined against the segments together (256 Ki keys: 10 MB of keys, 4 MB of
/// fingerprints).
const WINDOW: usize = 256 * 1024;
/// Checked keys held before they are written as a segment (16 MB).
const FRESH_LIMIT: usize = 1 << 20;
/// Segments kept before they are merged into one.
const MAX_SEGMENTS: usize = 8;
/// Records of the last hour before a run's "now" may still reach the log after the run (a
/// scan being written, a clock a little behind): the run covers the log only up to an hour
/// before "now" (spec §state.2).
pub const LATE_RECORDS_SECONDS: u64 = 3_600;

/// A key that authenticates the state's manifest (HMAC-SHA256) and from which its fingerprint
/// secret is derived (spec §state.1.3): kept by the app in the platform keystore, so that
/// whoever can write the app's storage cannot edit the state unnoticed. Zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct StateKey([u8; 32]);

impl StateKey {
    /// A key from its 32 bytes (draw them from a secure random source, once per state).
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    const fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl Drop for StateKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl core::fmt::Debug for StateKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("StateKey(..)")
    }
}

/// How a state is opened (`keep_days` applies when the state is made; an existing state keeps
/// its own).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StateOptions {
    /// Days a result, a checked key and a file's hash are kept after their window ends (or the
    /// file was read): 16, the 14 days of the longest look-back and two days of publication
    /// delay (spec §state.4).
    pub keep_days: u32,
    /// The state key, when the app keeps one (spec §state.1.3): a state made with a key is
    /// opened only with it, and a state made without one is refused with one.
    pub key: Option<StateKey>,
    /// Start over from every file the state knows (spec §state.7): the next run reads them
    /// again, from the paths they were read from, before the files it is given.
    pub rebuild: bool,
}

impl Default for StateOptions {
    fn default() -> Self {
        Self {
            keep_days: 16,
            key: None,
            rebuild: false,
        }
    }
}

/// What a run is told besides its log (see [`MatchState::begin`]).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct RunOptions<'r> {
    /// "Now", Unix seconds: the log is complete up to an hour before it, and what ages out
    /// ages against it.
    pub now: u64,
    /// The device's wall clock, Unix seconds: `now` may not run ahead of it by more than
    /// [`crate::time::CLOCK_MARGIN_SECONDS`] (spec §time.4).
    pub wall_clock: u64,
    /// How the files of this run are verified; it also decides whether results the state took
    /// from files that were not authentic may be used (spec §state.3.1), and how files the
    /// state reads again are verified.
    pub authenticity: Authenticity<'r>,
}

impl<'r> RunOptions<'r> {
    /// Options with `now`, the system's wall clock and `authenticity`.
    #[must_use]
    pub fn at(now: u64, authenticity: Authenticity<'r>) -> Self {
        Self {
            now,
            wall_clock: wall_clock(),
            authenticity,
        }
    }
}

/// The system's clock, Unix seconds (0 before 1970).
#[must_use]
pub fn wall_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Why a match state could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// A file of the state could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The folder holds files that are not a match state's; nothing was changed.
    #[error("{}: not a match state (it holds {}); give an empty or new folder", dir.display(), other.display())]
    NotAState {
        /// The folder.
        dir: PathBuf,
        /// One file that does not belong.
        other: PathBuf,
    },
    /// The folder holds no state: no manifest and no segment.
    #[error("{}: holds no match state", dir.display())]
    NoState {
        /// The folder.
        dir: PathBuf,
    },
    /// Another process has the state open.
    #[error("{}: the match state is in use by another process", dir.display())]
    Busy {
        /// The folder.
        dir: PathBuf,
    },
    /// A file of the state is damaged; rebuild the state with a full re-check.
    #[error("{}: {reason}; rebuild the state with a full re-check of the export files", file.display())]
    Damaged {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        reason: DamageReason,
    },
    /// The state was made with other matching rules; its results do not hold for these.
    #[error(
        "{}: the match state was made with other matching rules; rebuild it with a full re-check",
        dir.display()
    )]
    OtherRules {
        /// The folder.
        dir: PathBuf,
    },
    /// The log is not the one the state was checked against: on a day the state had checked,
    /// it lost sightings or holds other ones (another phone's log, a log restored from an older
    /// backup, a damaged one). A log that only gained sightings is not refused: the state
    /// reads its files again (spec §state.2.1).
    #[error(
        "the encounter log is not the one this state was checked against: on {} it holds {now} sightings up to the last check, {missing} of the {recorded} that check saw are gone; rebuild the state (--rebuild-state) with every export file of the look-back period, or use the phone's own log",
        crate::time::UtcDate::from_unix_day(u64::from(*day))
    )]
    LogChanged {
        /// The UTC day (days since 1970-01-01).
        day: u32,
        /// Sightings the last check saw that day.
        recorded: u64,
        /// Sightings the log holds now in the same time.
        now: u64,
        /// Sightings the last check saw that the log no longer holds.
        missing: u64,
    },
    /// "Now" cannot be true on this device (spec §time.4); nothing was changed.
    #[error("\"now\": {0}")]
    Clock(#[from] ImplausibleTime),
    /// A run that requires authentic files met a state holding results of files that were
    /// not authentic.
    #[error(
        "{}: the match state holds what {files} export files read without a valid signature brought ({matches} matched keys); match with unsigned files allowed, or rebuild the state (--rebuild-state) to keep only authentic files",
        dir.display()
    )]
    Unauthentic {
        /// The folder.
        dir: PathBuf,
        /// Files read that were not authentic.
        files: usize,
        /// Matched keys they brought.
        matches: usize,
    },
    /// The state must read a file again (the log gained sightings in a time already checked,
    /// or a rebuild was asked for) and cannot: nothing was changed.
    #[error(
        "{}: the match state must read this file again ({why}) and {problem}; give every export file of the look-back period with --keys and rebuild the state (--rebuild-state)",
        path.display()
    )]
    ReadAgain {
        /// Where the file was read from.
        path: PathBuf,
        /// Why the state reads it again.
        why: Rebuild,
        /// What went wrong.
        problem: &'static str,
    },
    /// An export file could not be opened.
    #[error("{}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// An export file could not be read; the state is as before it.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The error.
        source: MatchStreamError,
    },
}

/// What a state holds (`bluezone state inspect`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct StateSummary {
    /// Runs committed.
    pub generation: u64,
    /// Days results, checked keys and file hashes are kept.
    pub keep_days: u32,
    /// The log was complete up to this time at the last check, Unix seconds (0: never checked).
    pub coverage_until: u64,
    /// Sightings the last check saw per UTC day, up to `coverage_until`.
    pub log_days: Vec<(u32, u64)>,
    /// Keys checked with no match and a final result, on disk.
    pub keys_checked: u64,
    /// Segments they are in.
    pub segments: usize,
    /// Keys matched (final or not).
    pub keys_matched: usize,
    /// Keys matched whose window the log did not cover yet at their last evaluation.
    pub matches_pending: usize,
    /// Keys not matched whose window the log did not cover yet: evaluated again next time.
    pub keys_pending: usize,
    /// Export files read.
    pub files_read: usize,
    /// Of those, files that were not authentic (read with unsigned files allowed).
    pub unauthentic_files: usize,
    /// Matched keys that files which were not authentic brought.
    pub unauthentic_matches: usize,
    /// Whether the manifest is authenticated with a state key (spec §state.1.3).
    pub keyed: bool,
    /// Valid keys every file brought (copies counted).
    pub keys_total: u64,
    /// Report-type changes applied.
    pub report_type_transitions: u64,
    /// What the rules turned away, over every file read.
    pub rejected: Rejections,
}

/// What `inspect` found: the summary when the manifest could be read, and every damage.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct StateInspection {
    /// The state's counts (`None`: no manifest, or a damaged one).
    pub summary: Option<StateSummary>,
    /// Damaged or missing files.
    pub damage: Vec<StateDamage>,
    /// Files a cut run left behind; the next run removes them.
    pub leftovers: Vec<PathBuf>,
}

/// One damaged file of a state.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct StateDamage {
    /// The file.
    pub file: PathBuf,
    /// What is wrong.
    #[cfg_attr(feature = "serde", serde(serialize_with = "as_text"))]
    pub reason: DamageReason,
}

#[cfg(feature = "serde")]
fn as_text<S: serde::Serializer>(reason: &DamageReason, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(reason)
}

/// Why a run reads again files the state read before (spec §state.7).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Rebuild {
    /// The caller asked for it ([`StateOptions::rebuild`]).
    Asked,
    /// The log gained sightings in a time the state had checked (a late sync, a wristband's
    /// upload): the keys they concern could have been checked with no match.
    LogGained {
        /// The UTC days (days since 1970-01-01) that gained sightings.
        days: Vec<u32>,
        /// Sightings gained.
        sightings: u64,
    },
    /// A key not final when it was read now matches, and a later copy of its bytes was stored
    /// meanwhile: in publication order it comes first, so the results are worked out again.
    EarlierKeyMatches,
}

impl core::fmt::Display for Rebuild {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Asked => f.write_str("a rebuild was asked for"),
            Self::LogGained { days, sightings } => {
                write!(f, "the log gained {sightings} sightings on")?;
                for day in days {
                    write!(f, " {}", crate::time::UtcDate::from_unix_day(u64::from(*day)))?;
                }
                f.write_str(", in a time already checked")
            }
            Self::EarlierKeyMatches => f.write_str(
                "a key read before a stored copy of it now matches, and comes first in publication order",
            ),
        }
    }
}

/// What a run that started over read again (spec §state.7).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Rebuilt {
    /// Why.
    pub why: Rebuild,
    /// Files read again, from the paths they were first read from.
    pub read_again: Vec<PathBuf>,
    /// Files the state knew that were not authentic, dropped because this run requires
    /// authentic files.
    pub dropped_unauthentic: Vec<PathBuf>,
    /// The manifest was damaged: the files it knew are not known, only the files given are
    /// read.
    pub files_unknown: bool,
}

/// What became of one export file fed to a run.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fed {
    /// The state had read these bytes before: nothing was read again (spec §state.3).
    AlreadyRead {
        /// Whether the file was authentic when it was read.
        authentic: bool,
    },
    /// The file was read.
    Read {
        /// Its container.
        format: ExportFormat,
        /// What one pass over it found; with [`Authenticity::Required`] a file that is not
        /// authentic left nothing in the state.
        summary: ExportSummary,
        /// Its keys the state had checked before against this log, not derived again.
        keys_skipped: u64,
    },
}

/// A match state folder, open and locked for this process.
#[derive(Debug)]
pub struct MatchState {
    dir: PathBuf,
    manifest: Manifest,
    key: Option<StateKey>,
    /// Set when the next run must start over (until a run commits).
    start_over: Option<Rebuild>,
    /// The manifest was beyond use: the files it knew are unknown.
    files_unknown: bool,
    _lock: File,
}

impl core::fmt::Debug for Manifest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Manifest")
            .field("generation", &self.generation)
            .field("segments", &self.segments.len())
            .field("matches", &self.matches.len())
            .finish_non_exhaustive()
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn random_secret() -> [u8; 16] {
    use core::hash::BuildHasher;
    let seeds = std::collections::hash_map::RandomState::new();
    let mut secret = [0u8; 16];
    for (n, chunk) in (0u64..).zip(secret.chunks_exact_mut(8)) {
        chunk.copy_from_slice(&seeds.hash_one(n).to_le_bytes());
    }
    secret
}

/// Whether `name` is a file a state writes.
fn is_state_file(name: &str) -> bool {
    name == MANIFEST
        || name == MANIFEST_TMP
        || name == LOCK
        || (name.starts_with("checked-") && name.ends_with(".seg"))
}

/// A state that has read nothing.
fn empty_manifest(config: MatchConfig, keep_days: u32, secret: [u8; 16]) -> Manifest {
    Manifest {
        generation: 0,
        secret,
        config,
        keep_days,
        coverage_until: 0,
        log_days: Vec::new(),
        keys_total: 0,
        transitions: 0,
        rejected: Rejections::default(),
        next_segment: 0,
        segments: Vec::new(),
        files: Vec::new(),
        matches: Vec::new(),
        pending: Vec::new(),
    }
}

impl MatchState {
    /// Opens the state in `dir`, or makes a new one there (the folder is created; an existing
    /// folder must be empty or hold only a state's files). A new state's empty manifest is
    /// written at once, so that segments without a manifest are always damage. A run that
    /// was cut leaves files the manifest does not name; they are removed.
    ///
    /// With [`StateOptions::rebuild`] the next run starts over: it reads again every file
    /// the state knows, then the files it is given. A damaged state is rebuilt too, from the
    /// files given only ([`Rebuilt::files_unknown`]).
    ///
    /// # Errors
    /// [`StateError::NotAState`], [`StateError::Busy`], [`StateError::Damaged`] (the manifest,
    /// a segment it names, or segments without a manifest), [`StateError::OtherRules`] (made
    /// with another `config`), or an I/O error.
    pub fn open(
        dir: impl Into<PathBuf>,
        config: MatchConfig,
        options: StateOptions,
    ) -> Result<Self, StateError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        let names = state_files(&dir)?;
        let lock_path = dir.join(LOCK);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_error(&lock_path))?;
        if lock.try_lock().is_err() {
            return Err(StateError::Busy { dir });
        }
        let key = options.key;
        let secret = key
            .as_ref()
            .map_or_else(random_secret, |k| secret_from_key(k.bytes()));
        let mut start_over = options.rebuild.then_some(Rebuild::Asked);
        let mut files_unknown = false;
        let read = match read_manifest(&dir, key.as_ref()) {
            Err(StateError::Damaged { .. }) if options.rebuild => Err(true),
            Ok(None) if names.iter().any(|n| n.ends_with(".seg")) && !options.rebuild => {
                return Err(StateError::Damaged {
                    file: dir.join(MANIFEST),
                    reason: DamageReason::Missing,
                });
            }
            Ok(None) => Err(false),
            Ok(Some(manifest)) => Ok(manifest),
            Err(e) => return Err(e),
        };
        let manifest = match read {
            Ok(manifest) if manifest.config != config => {
                return Err(StateError::OtherRules { dir });
            }
            Ok(manifest) => manifest,
            Err(damaged) => {
                let manifest = empty_manifest(config, options.keep_days, secret);
                files_unknown = damaged;
                if damaged {
                    start_over = Some(Rebuild::Asked);
                }
                // A new state (or one whose manifest is beyond use) names no segment: any
                // segment left is a leftover, removed below, and the empty manifest is
                // written before any segment can be.
                write_manifest(&dir, &manifest, key.as_ref())?;
                manifest
            }
        };
        for segment in &manifest.segments {
            let path = dir.join(segment.file_name());
            let expected = segment_len(segment.entries);
            match fs::metadata(&path) {
                Ok(meta) if Some(meta.len()) == expected => {}
                Ok(_) => {
                    return Err(StateError::Damaged {
                        file: path,
                        reason: DamageReason::Truncated,
                    });
                }
                Err(_) => {
                    return Err(StateError::Damaged {
                        file: path,
                        reason: DamageReason::Missing,
                    });
                }
            }
        }
        let named = |name: &str| manifest.segments.iter().any(|s| s.file_name() == name);
        for name in names {
            if name == MANIFEST_TMP || (name.ends_with(".seg") && !named(&name)) {
                let path = dir.join(&name);
                fs::remove_file(&path).map_err(io_error(&path))?;
            }
        }
        Ok(Self {
            dir,
            manifest,
            key,
            start_over,
            files_unknown,
            _lock: lock,
        })
    }

    /// Removes the state in `dir` (only a state's own files, and the folder when it is then
    /// empty), so that the next [`Self::open`] starts afresh with no file known. To start over
    /// from every file the state knows, open it with [`StateOptions::rebuild`] instead.
    ///
    /// # Errors
    /// [`StateError::NotAState`] when the folder holds other files, [`StateError::Busy`] when
    /// another process has the state open (nothing is removed then), or an I/O error.
    pub fn remove(dir: impl AsRef<Path>) -> Result<(), StateError> {
        let dir = dir.as_ref();
        if !dir.exists() {
            return Ok(());
        }
        let names = state_files(dir)?;
        let lock_path = dir.join(LOCK);
        let _lock = match File::options().write(true).open(&lock_path) {
            Ok(lock) if lock.try_lock().is_err() => {
                return Err(StateError::Busy {
                    dir: dir.to_path_buf(),
                });
            }
            other => other,
        };
        for name in names {
            let path = dir.join(name);
            fs::remove_file(&path).map_err(io_error(&path))?;
        }
        fs::remove_dir(dir).map_err(io_error(dir))
    }

    /// The folder.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the state holds.
    #[must_use]
    pub fn summary(&self) -> StateSummary {
        summary_of(&self.manifest, self.key.is_some())
    }

    /// The keys of the stored matches that files which were not authentic brought (spec
    /// §state.3.1): every report names them.
    #[must_use]
    pub fn unauthentic_matches(&self) -> Vec<[u8; 16]> {
        self.manifest
            .matches
            .iter()
            .filter(|m| !m.authentic)
            .map(|m| m.result.key.key_data)
            .collect()
    }

    /// Every stored result and the counts over every file read: what the risk report is
    /// computed from (spec §state.5).
    #[must_use]
    pub fn outcome(&self) -> MatchOutcome {
        let m = &self.manifest;
        MatchOutcome {
            keys_total: m.keys_total,
            keys_matched: m.matches.len() as u64,
            matches: m.matches.iter().map(|s| s.result.clone()).collect(),
            report_type_transitions: m.transitions,
            rejected: m.rejected,
        }
    }

    /// Reads every file of the state in `dir` without changing anything and reports its
    /// counts, every damaged or missing file, and what a cut run left behind (spec §state.7).
    /// A run that commits meanwhile is not mistaken for damage: what looks damaged is read
    /// again, and believed only when the manifest did not change in between.
    ///
    /// # Errors
    /// The folder cannot be listed, holds files that are not a state's, or holds no state;
    /// [`StateError::Busy`] when the state kept changing while it was read.
    pub fn inspect(
        dir: impl AsRef<Path>,
        key: Option<&StateKey>,
    ) -> Result<StateInspection, StateError> {
        let dir = dir.as_ref();
        // No lock is taken, not even a shared one, so that inspecting never makes a run fail
        // as busy: damage is believed only when the manifest stays put across two reads.
        for _ in 0..8 {
            let before = fs::read(dir.join(MANIFEST)).ok();
            let inspection = inspect_once(dir, key)?;
            if inspection.damage.is_empty() {
                return Ok(inspection);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            if fs::read(dir.join(MANIFEST)).ok() == before {
                let again = inspect_once(dir, key)?;
                if again == inspection {
                    return Ok(inspection);
                }
            }
        }
        Err(StateError::Busy {
            dir: dir.to_path_buf(),
        })
    }

    /// Starts a run (spec §state.2): checks `options.now` against the wall clock, that
    /// the log is the one the state was checked against, and that the state's results may be
    /// used under `options.authenticity`; then replaces `run`'s own results by the stored ones
    /// and evaluates again every result that was not final. When the log gained sightings in
    /// a time already checked, or a rebuild was asked for, the run starts over and first reads
    /// again every file the state knows.
    ///
    /// # Errors
    /// [`StateError::Clock`], [`StateError::LogChanged`], [`StateError::Unauthentic`],
    /// [`StateError::ReadAgain`], or what reading a file again met.
    pub fn begin<'s, 'm, 'a>(
        &'s mut self,
        mut run: MatchRun<'m, 'a>,
        options: &RunOptions<'_>,
    ) -> Result<StateRun<'s, 'm, 'a>, StateError> {
        let now = options.now;
        plausible_time(now, options.wall_clock)?;
        let required = matches!(options.authenticity, Authenticity::Required(_));
        let cipher = Aes128Enc::new(&Array::from(self.manifest.secret));
        let mut why = self.start_over.clone();
        if why.is_none() {
            let sightings = run.matcher().index().all_sightings();
            let old = &self.manifest;
            match compare_log(
                &cipher,
                &old.log_days,
                sightings,
                old.coverage_until,
                old.keep_days,
            ) {
                LogCompared::Same => {}
                LogCompared::Gained { days, sightings } => {
                    why = Some(Rebuild::LogGained { days, sightings });
                }
                LogCompared::Changed {
                    day,
                    recorded,
                    now,
                    missing,
                } => {
                    return Err(StateError::LogChanged {
                        day,
                        recorded,
                        now,
                        missing,
                    });
                }
            }
        }
        let m = &self.manifest;
        if required && why.is_none() {
            let files = m.files.iter().filter(|f| !f.authentic).count();
            let matches = m.matches.iter().filter(|s| !s.authentic).count();
            if files > 0 || matches > 0 || m.pending.iter().any(|p| !p.authentic) {
                return Err(StateError::Unauthentic {
                    dir: self.dir.clone(),
                    files,
                    matches,
                });
            }
        }
        let mut coverage = BTreeMap::new();
        let mut origin = BTreeMap::new();
        let mut counted = BTreeMap::new();
        let mut results = BTreeMap::new();
        for stored in &m.matches {
            let key = stored.result.key.key_data;
            coverage.insert(key, stored.computed_until);
            origin.insert(key, stored.authentic);
            counted.insert(key, stored.counted);
            results.insert(key, stored.result.clone());
        }
        run.restore(Checkpoint {
            results,
            keys_total: m.keys_total,
            transitions: m.transitions,
            rejected: m.rejected,
        });
        let mut state_run = StateRun {
            tolerance: m.config.tolerance_intervals,
            next_segment: m.next_segment,
            state: self,
            run,
            cipher,
            now,
            covered: now.saturating_sub(LATE_RECORDS_SECONDS),
            coverage,
            origin,
            counted,
            pending_at: std::collections::HashMap::new(),
            authentic: true,
            new_segments: Vec::new(),
            fresh: Vec::new(),
            pending: Vec::new(),
            files: Vec::new(),
            rechecked: 0,
            rebuilt: None,
            obsolete: Vec::new(),
            previous: None,
            committed: false,
        };
        if why.is_none() && state_run.recheck() {
            why = Some(Rebuild::EarlierKeyMatches);
        }
        if let Some(why) = why {
            state_run.start_over(why, options.authenticity)?;
        }
        Ok(state_run)
    }
}

/// One pass of [`MatchState::inspect`].
fn inspect_once(dir: &Path, key: Option<&StateKey>) -> Result<StateInspection, StateError> {
    let names = state_files(dir)?;
    let mut damage = Vec::new();
    let manifest = match read_manifest(dir, key) {
        Ok(manifest) => manifest,
        Err(StateError::Damaged { file, reason }) => {
            damage.push(StateDamage { file, reason });
            None
        }
        Err(e) => return Err(e),
    };
    let segments_left = names.iter().any(|n| n.ends_with(".seg"));
    if manifest.is_none() && damage.is_empty() {
        if !segments_left {
            return Err(StateError::NoState {
                dir: dir.to_path_buf(),
            });
        }
        damage.push(StateDamage {
            file: dir.join(MANIFEST),
            reason: DamageReason::Missing,
        });
    }
    let mut leftovers = Vec::new();
    if let Some(manifest) = &manifest {
        for segment in &manifest.segments {
            let path = dir.join(segment.file_name());
            if let Err(StateError::Damaged { file, reason }) =
                join_segment(&path, segment, &[], &mut [])
            {
                damage.push(StateDamage { file, reason });
            }
        }
    }
    for name in names {
        let referenced = manifest
            .as_ref()
            .is_some_and(|m| m.segments.iter().any(|s| s.file_name() == name));
        if name == MANIFEST_TMP || (name.ends_with(".seg") && !referenced && manifest.is_some()) {
            leftovers.push(dir.join(name));
        }
    }
    Ok(StateInspection {
        summary: manifest.as_ref().map(|m| summary_of(m, key.is_some())),
        damage,
        leftovers,
    })
}

fn summary_of(m: &Manifest, keyed: bool) -> StateSummary {
    StateSummary {
        generation: m.generation,
        keep_days: m.keep_days,
        coverage_until: m.coverage_until,
        log_days: m
            .log_days
            .iter()
            .map(|d| (d.day, d.hashes.len() as u64))
            .collect(),
        keys_checked: m.segments.iter().map(|s| s.entries).sum(),
        segments: m.segments.len(),
        keys_matched: m.matches.len(),
        matches_pending: m
            .matches
            .iter()
            .filter(|s| {
                !is_final(
                    &s.result.key,
                    m.config.tolerance_intervals,
                    s.computed_until,
                )
            })
            .count(),
        keys_pending: m.pending.len(),
        files_read: m.files.len(),
        unauthentic_files: m.files.iter().filter(|f| !f.authentic).count(),
        unauthentic_matches: m.matches.iter().filter(|s| !s.authentic).count(),
        keyed,
        keys_total: m.keys_total,
        report_type_transitions: m.transitions,
        rejected: m.rejected,
    }
}

/// The state files in `dir`; any other file makes it not a state.
fn state_files(dir: &Path) -> Result<Vec<std::string::String>, StateError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if !is_state_file(&name) {
            return Err(StateError::NotAState {
                dir: dir.to_path_buf(),
                other: entry.path(),
            });
        }
        names.push(name);
    }
    names.sort();
    Ok(names)
}

fn read_manifest(dir: &Path, key: Option<&StateKey>) -> Result<Option<Manifest>, StateError> {
    let path = dir.join(MANIFEST);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StateError::Io { path, source }),
    };
    Manifest::decode(&bytes, key.map(StateKey::bytes))
        .map(Some)
        .map_err(|reason| StateError::Damaged { file: path, reason })
}

/// Replaces the manifest in one rename (spec §state.6, steps 3 to 5).
fn write_manifest(
    dir: &Path,
    manifest: &Manifest,
    key: Option<&StateKey>,
) -> Result<(), StateError> {
    let tmp = dir.join(MANIFEST_TMP);
    let mut out = disk::Create::new(&tmp).map_err(io_error(&tmp))?;
    out.write_all(&manifest.encode(key.map(StateKey::bytes)))
        .map_err(io_error(&tmp))?;
    out.finish().map_err(io_error(&tmp))?;
    let path = dir.join(MANIFEST);
    disk::rename(&tmp, &path).map_err(io_error(&path))
}

/// How the log now compares with the log a state was checked against (spec §state.2.1).
#[derive(Debug, PartialEq, Eq)]
enum LogCompared {
    Same,
    Gained {
        days: Vec<u32>,
        sightings: u64,
    },
    Changed {
        day: u32,
        recorded: u64,
        now: u64,
        missing: u64,
    },
}

/// The first UTC day a state binds at `coverage`: days older hold only what has aged out.
fn first_bound_day(coverage: u64, keep_days: u32) -> u32 {
    let from = coverage.saturating_sub(u64::from(keep_days) * SECONDS_PER_DAY) / SECONDS_PER_DAY;
    u32::try_from(from).unwrap_or(u32::MAX)
}

fn day_of(unix_seconds: u64) -> u32 {
    u32::try_from(unix_seconds / SECONDS_PER_DAY).unwrap_or(u32::MAX)
}

/// The keyed hash of one sighting (spec §state.2.1): a two-block CBC-MAC under the state's
/// secret, of the identifier, then the time, AEM and RSSI; the first 8 bytes.
fn sighting_hashes(cipher: &Aes128Enc, sightings: &[&GaenSighting], out: &mut Vec<u64>) {
    let mut blocks = [Array::default(); 64];
    for chunk in sightings.chunks(64) {
        let blocks = blocks.get_mut(..chunk.len()).unwrap_or_default();
        for (block, s) in blocks.iter_mut().zip(chunk) {
            *block = Array::from(s.rpi.to_bytes());
        }
        cipher.encrypt_blocks(blocks);
        for (block, s) in blocks.iter_mut().zip(chunk) {
            let mut second = [0u8; 16];
            second[..8].copy_from_slice(&s.unix_seconds.to_le_bytes());
            second[8..12].copy_from_slice(&s.aem.to_bytes());
            second[12..13].copy_from_slice(&s.rssi.to_le_bytes());
            second[15] = 1;
            for (b, x) in block.iter_mut().zip(second) {
                *b ^= x;
            }
        }
        cipher.encrypt_blocks(blocks);
        out.extend(blocks.iter().map(|b| {
            let mut first = [0u8; 8];
            first.copy_from_slice(b.get(..8).unwrap_or_default());
            u64::from_le_bytes(first)
        }));
    }
}

/// The log's days from `from_day` with their sightings up to `until`, each day's hashes
/// sorted.
fn log_days_of(
    cipher: &Aes128Enc,
    sightings: &[GaenSighting],
    until: u64,
    from_day: u32,
) -> Vec<LogDay> {
    let mut by_day: BTreeMap<u32, Vec<&GaenSighting>> = BTreeMap::new();
    for s in sightings
        .iter()
        .filter(|s| s.unix_seconds <= until && day_of(s.unix_seconds) >= from_day)
    {
        by_day.entry(day_of(s.unix_seconds)).or_default().push(s);
    }
    by_day
        .into_iter()
        .map(|(day, sightings)| {
            let mut hashes = Vec::with_capacity(sightings.len());
            sighting_hashes(cipher, &sightings, &mut hashes);
            hashes.sort_unstable();
            LogDay { day, hashes }
        })
        .collect()
}

/// How many of `old` (sorted) are not in `new` (sorted), counting repeats.
fn missing_from(old: &[u64], new: &[u64]) -> u64 {
    let (mut i, mut j, mut missing) = (0, 0, 0u64);
    while let Some(&o) = old.get(i) {
        match new.get(j) {
            Some(&n) if n < o => j += 1,
            Some(&n) if n == o => {
                i += 1;
                j += 1;
            }
            _ => {
                missing += 1;
                i += 1;
            }
        }
    }
    missing
}

/// Compares the log with the days a state recorded at `coverage` (spec §state.2.1). Days the
/// log dropped whole from its start (retention) are not missing.
fn compare_log(
    cipher: &Aes128Enc,
    recorded: &[LogDay],
    sightings: &[GaenSighting],
    coverage: u64,
    keep_days: u32,
) -> LogCompared {
    if coverage == 0 {
        return LogCompared::Same;
    }
    let Some(first_logged) = sightings.iter().map(|s| day_of(s.unix_seconds)).min() else {
        // A log with nothing in it lost every record the state saw, retention or not.
        return recorded.iter().rev().find(|d| !d.hashes.is_empty()).map_or(
            LogCompared::Same,
            |d| LogCompared::Changed {
                day: d.day,
                recorded: d.hashes.len() as u64,
                now: 0,
                missing: d.hashes.len() as u64,
            },
        );
    };
    let now = log_days_of(
        cipher,
        sightings,
        coverage,
        first_bound_day(coverage, keep_days),
    );
    let now_of = |day: u32| now.iter().find(|d| d.day == day);
    for old in recorded {
        if old.day < first_logged {
            continue;
        }
        let new = now_of(old.day).map_or(&[][..], |d| &d.hashes[..]);
        let missing = missing_from(&old.hashes, new);
        if missing > 0 {
            return LogCompared::Changed {
                day: old.day,
                recorded: old.hashes.len() as u64,
                now: new.len() as u64,
                missing,
            };
        }
    }
    let mut days = Vec::new();
    let mut gained = 0u64;
    for day in &now {
        let before = recorded
            .iter()
            .find(|d| d.day == day.day)
            .map_or(0, |d| d.hashes.len());
        if day.hashes.len() > before {
            days.push(day.day);
            gained += (day.hashes.len() - before) as u64;
        }
    }
    if days.is_empty() {
        LogCompared::Same
    } else {
        LogCompared::Gained {
            days,
            sightings: gained,
        }
    }
}

const fn segment_len(entries: u64) -> Option<u64> {
    match entries.checked_mul(ENTRY as u64) {
        Some(body) => body.checked_add(SEGMENT_HEADER as u64),
        None => None,
    }
}

/// The first interval whose sightings no longer count for `key`: its result is final once
/// the log covers the time before it (spec §state.2).
fn final_at(key: &DiagnosisKey, tolerance: u32) -> u64 {
    (u64::from(key.window.start().get())
        + u64::from(key.window.period().get())
        + u64::from(tolerance))
        * INTERVAL_SECONDS
}

fn is_final(key: &DiagnosisKey, tolerance: u32, until: u64) -> bool {
    until >= final_at(key, tolerance)
}

/// When a key whose bytes are stored is decided not to be a copy: once the log covers every
/// identifier Google's prefilter looks at, the 144 from its start, and the tolerance after
/// them (spec §state.2).
fn copy_decided_at(key: &DiagnosisKey, tolerance: u32) -> u64 {
    (u64::from(key.window.start().get()) + 144 + u64::from(tolerance)) * INTERVAL_SECONDS
}

/// When a window ending at interval `end` (exclusive) is past keeping at `now`.
fn aged(end_interval: u64, keep_days: u32, now: u64) -> bool {
    end_interval * INTERVAL_SECONDS + u64::from(keep_days) * SECONDS_PER_DAY < now
}

/// The fingerprint of a key's bytes and window under the state's secret (spec §state.1.2):
/// AES-128 over the key bytes, XOR the window, AES-128 again; the first 12 bytes.
fn fingerprint(cipher: &Aes128Enc, key: &DiagnosisKey) -> [u8; 12] {
    let mut out = [[0u8; 12]];
    fingerprints_into(cipher, core::slice::from_ref(key), &mut out);
    out[0]
}

/// [`fingerprint`] of many keys, their AES blocks encrypted together (the backends pipeline
/// several blocks at once).
fn fingerprints_into(cipher: &Aes128Enc, keys: &[DiagnosisKey], out: &mut [[u8; 12]]) {
    let mut blocks = [Array::default(); 64];
    for (keys, out) in keys.chunks(64).zip(out.chunks_mut(64)) {
        let blocks = blocks.get_mut(..keys.len()).unwrap_or_default();
        for (block, key) in blocks.iter_mut().zip(keys) {
            *block = Array::from(key.key_data);
        }
        cipher.encrypt_blocks(blocks);
        for (block, key) in blocks.iter_mut().zip(keys) {
            let start = key.window.start().get().to_le_bytes();
            let period = key.window.period().get().to_le_bytes();
            for (b, w) in block.iter_mut().zip(start.iter().chain(period.iter())) {
                *b ^= w;
            }
        }
        cipher.encrypt_blocks(blocks);
        for (o, block) in out.iter_mut().zip(blocks.iter()) {
            for (o, b) in o.iter_mut().zip(block.iter()) {
                *o = *b;
            }
        }
    }
}

fn entry_of(fingerprint: [u8; 12], start: u32) -> [u8; ENTRY] {
    let mut entry = [0u8; ENTRY];
    entry[..12].copy_from_slice(&fingerprint);
    entry[12..].copy_from_slice(&start.to_le_bytes());
    entry
}

/// A fingerprint as a number whose order is the fingerprint's bytewise order, in the top 96
/// bits; the low 32 are free (an entry's start, a probe's index).
const FINGERPRINT_BITS: u128 = !0xFFFF_FFFF;

fn probe_of(fingerprint: [u8; 12], index: u32) -> u128 {
    let mut bytes = [0u8; 16];
    bytes[..12].copy_from_slice(&fingerprint);
    bytes[12..].copy_from_slice(&index.to_be_bytes());
    u128::from_be_bytes(bytes)
}

/// Streams one segment: checks its header, order, length and CRC, and marks `known[i]` for
/// every probe ([`probe_of`]: fingerprint and index `i`, sorted) whose fingerprint it holds.
fn join_segment(
    path: &Path,
    segment: &SegmentRef,
    probes: &[u128],
    known: &mut [bool],
) -> Result<(), StateError> {
    let damaged = |reason| StateError::Damaged {
        file: path.to_path_buf(),
        reason,
    };
    let file = File::open(path).map_err(|e| {
        damaged(if e.kind() == io::ErrorKind::NotFound {
            DamageReason::Missing
        } else {
            DamageReason::Unreadable
        })
    })?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut crc = crc32fast::Hasher::new();
    let mut header = [0u8; SEGMENT_HEADER];
    read_full(&mut reader, &mut header).map_err(damaged)?;
    crc.update(&header);
    let entries = read_segment_header(&header).map_err(damaged)?;
    if entries != segment.entries {
        return Err(damaged(DamageReason::Invalid("entry count")));
    }
    let mut buffer = std::vec![0u8; 4096 * ENTRY];
    let mut left = entries;
    let mut probes = probes.iter().peekable();
    let mut last: Option<u128> = None;
    while left > 0 {
        let take = usize::try_from(left.min(4096)).unwrap_or(4096) * ENTRY;
        let chunk = buffer.get_mut(..take).unwrap_or_default();
        read_full(&mut reader, chunk).map_err(damaged)?;
        crc.update(chunk);
        for entry in chunk.chunks_exact(ENTRY) {
            let mut bytes = [0u8; ENTRY];
            bytes.copy_from_slice(entry);
            let fp = u128::from_be_bytes(bytes) & FINGERPRINT_BITS;
            if last.is_some_and(|l| l >= fp) {
                return Err(damaged(DamageReason::Order));
            }
            last = Some(fp);
            while let Some(&&probe) = probes.peek() {
                let p = probe & FINGERPRINT_BITS;
                if p > fp {
                    break;
                }
                if p == fp
                    && let Some(k) = known.get_mut((probe & 0xFFFF_FFFF) as usize)
                {
                    *k = true;
                }
                probes.next();
            }
        }
        left -= (take / ENTRY) as u64;
    }
    let mut extra = [0u8; 1];
    if reader
        .read(&mut extra)
        .map_err(|_| damaged(DamageReason::Unreadable))?
        != 0
    {
        return Err(damaged(DamageReason::Trailing));
    }
    if crc.finalize() != segment.crc32 {
        return Err(damaged(DamageReason::Checksum));
    }
    Ok(())
}

fn read_full(reader: &mut impl Read, out: &mut [u8]) -> Result<(), DamageReason> {
    reader.read_exact(out).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            DamageReason::Truncated
        } else {
            DamageReason::Unreadable
        }
    })
}

/// One run over a state: begun by [`MatchState::begin`], fed export files in publication
/// order, and committed at once. Dropped without [`Self::commit`], it leaves the state as it
/// was.
pub struct StateRun<'s, 'm, 'a> {
    state: &'s mut MatchState,
    run: MatchRun<'m, 'a>,
    cipher: Aes128Enc,
    tolerance: u32,
    /// "Now": what ages out ages against it.
    now: u64,
    /// The log is complete up to here: [`LATE_RECORDS_SECONDS`] before `now`.
    covered: u64,
    /// The coverage each stored result was computed against.
    coverage: BTreeMap<[u8; 16], u64>,
    /// Whether the file each stored result came from was authentic.
    origin: BTreeMap<[u8; 16], bool>,
    /// What each stored result's last evaluation added to the sighting counters.
    counted: BTreeMap<[u8; 16], [u64; 4]>,
    /// Where in `pending` the keys of each key bytes are.
    pending_at: std::collections::HashMap<[u8; 16], Vec<usize>>,
    /// Whether the file being fed is authentic (as far as the run requires).
    authentic: bool,
    /// Segments written by this run, not yet named by the manifest.
    new_segments: Vec<SegmentRef>,
    next_segment: u64,
    /// Keys checked with a final "no match", not yet in a segment.
    fresh: Vec<[u8; ENTRY]>,
    /// Keys whose result is not final, in the order they were applied.
    pending: Vec<Pending>,
    files: Vec<FileRecord>,
    rechecked: u64,
    rebuilt: Option<Rebuilt>,
    /// Segments of the state before it started over: removed once the run commits.
    obsolete: Vec<SegmentRef>,
    /// The manifest before the run started over: put back when the run does not commit.
    previous: Option<Manifest>,
    committed: bool,
}

impl core::fmt::Debug for StateRun<'_, '_, '_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StateRun")
            .field("dir", &self.state.dir)
            .field("now", &self.now)
            .field("files", &self.files.len())
            .finish_non_exhaustive()
    }
}

impl Drop for StateRun<'_, '_, '_> {
    fn drop(&mut self) {
        if !self.committed {
            for segment in &self.new_segments {
                let _ = fs::remove_file(self.state.dir.join(segment.file_name()));
            }
            if let Some(previous) = self.previous.take() {
                self.state.manifest = previous;
            }
        }
    }
}

impl StateRun<'_, '_, '_> {
    /// Results evaluated again when the run began because they were not final.
    #[must_use]
    pub const fn rechecked(&self) -> u64 {
        self.rechecked
    }

    /// When the run started over: why, and which files it read again.
    #[must_use]
    pub const fn rebuilt(&self) -> Option<&Rebuilt> {
        self.rebuilt.as_ref()
    }

    /// The outcome so far: every stored result and the counts over every file read.
    #[must_use]
    pub fn outcome(&self) -> MatchOutcome {
        self.run.outcome()
    }

    /// Evaluates again every result that was not final, against the log as it is now.
    /// Returns whether the run must start over instead: a pending key whose later copy was
    /// stored meanwhile would now be stored itself.
    fn recheck(&mut self) -> bool {
        let until = self.covered;
        let tolerance = self.tolerance;
        let stale: Vec<(DiagnosisKey, [u64; 4])> = self
            .run
            .state()
            .results
            .values()
            .filter(|m| {
                let computed = self.coverage.get(&m.key.key_data).copied().unwrap_or(0);
                !is_final(&m.key, tolerance, computed) && until > computed
            })
            .map(|m| {
                let counted = self.counted.get(&m.key.key_data).copied();
                (m.key, counted.unwrap_or([0; 4]))
            })
            .collect();
        let contributions = self.run.refresh(&stale);
        for ((key, _), counted) in stale.iter().zip(contributions) {
            self.coverage.insert(key.key_data, until);
            self.counted.insert(key.key_data, counted);
        }
        // Pending keys were evaluated against a log complete up to the last coverage: not
        // before it grows are they evaluated again.
        if until <= self.state.manifest.coverage_until {
            self.rechecked = stale.len() as u64;
            self.pending.clone_from(&self.state.manifest.pending);
            self.index_pending();
            return false;
        }
        let pending = core::mem::take(&mut self.state.manifest.pending);
        let results = &self.run.state().results;
        let (keys, copied): (Vec<Pending>, Vec<Pending>) = pending
            .iter()
            .partition(|p| p.copy || !results.contains_key(&p.key.key_data));
        // A key whose bytes were stored since, by a later copy: if it would now be stored
        // itself, the copy was stored out of publication order and the run starts over.
        // Otherwise it stays a key that was not stored, counted as its evaluation now says.
        for p in &copied {
            let (would_store, now) = self.run.evaluate_alone(&p.key);
            if would_store {
                self.state.manifest.pending = pending;
                return true;
            }
            self.run.state_mut().rejected.replace_counts(p.counted, now);
        }
        self.rechecked = (stale.len() + keys.len()) as u64;
        // The keys were counted when their files were read: only what they change now counts,
        // and each one's sighting counts are those of its evaluation now.
        let before = (self.run.state().keys_total, self.run.state().rejected);
        let mut outcomes = Vec::with_capacity(keys.len());
        let plain: Vec<DiagnosisKey> = keys.iter().map(|p| p.key).collect();
        self.run
            .add_filtered(&plain, |_| false, |i, what| outcomes.push((i, what)));
        let after = self.run.state_mut();
        after.keys_total = before.0;
        let (duplicates, invalid) = (
            after.rejected.duplicate_keys,
            after.rejected.invalid_transitions,
        );
        after.rejected = before.1;
        after.rejected.duplicate_keys = duplicates;
        after.rejected.invalid_transitions = invalid;
        // A pending key now stored while a later key of its bytes was applied meanwhile (as
        // a key of its own, not as its copy): publication order is broken, start over.
        if outcomes.iter().any(|&(i, what)| {
            matches!(what, Applied::Stored { .. }) && keys.get(i).is_some_and(|p| p.later_copy)
        }) {
            self.state.manifest.pending = pending;
            return true;
        }
        for (i, what) in outcomes {
            if let Some(p) = keys.get(i) {
                let now = match what {
                    Applied::Stored { counted } | Applied::NotStored { counted, .. } => counted,
                    Applied::Gated { .. } => [0, 0, 0, 1],
                    Applied::Copy => [0; 4],
                };
                self.run.state_mut().rejected.replace_counts(p.counted, now);
                self.authentic = p.authentic;
                self.flag_later_copy(&p.key);
                let before = self.pending.len();
                self.record(&p.key, what, fingerprint(&self.cipher, &p.key));
                // Still pending: it keeps its flag.
                if let Some(again) = self.pending.get_mut(before) {
                    again.later_copy |= p.later_copy;
                }
            }
        }
        self.authentic = true;
        self.state.manifest.pending = pending;
        false
    }

    /// Rebuilds [`Self::pending_at`] from `pending`.
    fn index_pending(&mut self) {
        self.pending_at.clear();
        for (at, p) in self.pending.iter().enumerate() {
            self.pending_at.entry(p.key.key_data).or_default().push(at);
        }
    }

    /// A key applied after the pending keys of its bytes: they are flagged (§state.2).
    fn flag_later_copy(&mut self, key: &DiagnosisKey) {
        if let Some(positions) = self.pending_at.get(&key.key_data) {
            for &at in positions {
                if let Some(p) = self.pending.get_mut(at) {
                    p.later_copy = true;
                }
            }
        }
    }

    /// Starts the run over (spec §state.7): every result and count is dropped, and every file
    /// the state knew is read again, in the order it was first read; each must still hold
    /// the bytes it held then. Under [`Authenticity::Required`], files that were not authentic
    /// are dropped and named. The old state stays on disk until the run commits.
    fn start_over(
        &mut self,
        why: Rebuild,
        authenticity: Authenticity<'_>,
    ) -> Result<(), StateError> {
        let old = &self.state.manifest;
        let mut fresh = empty_manifest(old.config, old.keep_days, old.secret);
        // The new manifest goes on from the old generation and segment numbers: it replaces
        // the old one, and no new segment takes an old one's name.
        fresh.generation = old.generation;
        fresh.next_segment = old.next_segment;
        let old = core::mem::replace(&mut self.state.manifest, fresh);
        self.next_segment = old.next_segment;
        self.obsolete.clone_from(&old.segments);
        self.run.restore(Checkpoint::default());
        self.coverage.clear();
        self.origin.clear();
        self.counted.clear();
        self.pending.clear();
        self.pending_at.clear();
        self.rechecked = 0;
        let required = matches!(authenticity, Authenticity::Required(_));
        let mut rebuilt = Rebuilt {
            why: why.clone(),
            read_again: Vec::new(),
            dropped_unauthentic: Vec::new(),
            files_unknown: self.state.files_unknown,
        };
        let files = old.files.clone();
        self.previous = Some(old);
        for file in files {
            let path = PathBuf::from(&file.path);
            let again = |problem| StateError::ReadAgain {
                path: path.clone(),
                why: why.clone(),
                problem,
            };
            if required && !file.authentic {
                rebuilt.dropped_unauthentic.push(path);
                continue;
            }
            if file.path.is_empty() {
                return Err(again("its path was not recorded (not UTF-8)"));
            }
            match self.feed_expecting(&path, authenticity, Some(file.sha256), &mut |_| {}) {
                Ok(Fed::Read { summary, .. }) if required && !summary.authentic() => {
                    return Err(again("it is no longer authentic under the keys given"));
                }
                Ok(_) => rebuilt.read_again.push(path),
                Err(StateError::Open { .. }) => return Err(again("it cannot be opened")),
                Err(StateError::ReadAgain { problem, .. }) => return Err(again(problem)),
                Err(e) => return Err(e),
            }
        }
        self.rebuilt = Some(rebuilt);
        Ok(())
    }

    /// Remembers what became of one evaluated key (spec §state.2, §state.3): every key is
    /// decided (a final result) or remembered whole (pending), so that a file is recorded as
    /// read only when nothing of it is left undecided and forgotten.
    fn record(&mut self, key: &DiagnosisKey, what: Applied, fingerprint: [u8; 12]) {
        let until = self.covered;
        let (seen, counted, copy) = match what {
            Applied::Stored { counted } => {
                self.coverage.insert(key.key_data, until);
                self.origin.insert(key.key_data, self.authentic);
                self.counted.insert(key.key_data, counted);
                return;
            }
            Applied::Copy | Applied::Gated { copy: false } => return,
            Applied::Gated { copy: true } => (true, [0, 0, 0, 1], true),
            Applied::NotStored {
                seen,
                counted,
                copy,
            } => (seen, counted, copy),
        };
        // A key whose bytes were stored when it was applied was not a copy only because none
        // of the 144 identifiers from its start was logged (§match.6): it is decided once the
        // log covers them all, not only its own window.
        let decided = if copy {
            until >= copy_decided_at(key, self.tolerance)
        } else {
            is_final(key, self.tolerance, until)
        };
        if !decided {
            // Not final: a window the log does not cover yet (or not wholly), even one that
            // starts after it. Kept whole, applied again as the log grows.
            self.pending_at
                .entry(key.key_data)
                .or_default()
                .push(self.pending.len());
            self.pending.push(Pending {
                key: *key,
                computed_until: until,
                authentic: self.authentic,
                counted,
                later_copy: false,
                copy,
            });
        } else if !seen && !copy {
            self.fresh
                .push(entry_of(fingerprint, key.window.start().get()));
        }
        // A key seen but not stored is final and decided, but not remembered, so that its
        // sightings are counted as one run counts them when a file brings it again; so is a
        // decided copy candidate, so that it is applied again as one run applies it.
    }

    /// Feeds one export file (zip or bare `export.bin`), after every file fed before: a file
    /// whose bytes the state has read is skipped whole; every other key is skipped when the
    /// state checked it against this log before, and matched otherwise, verifying the file in
    /// the same pass (spec §state.3). The file is opened once: the bytes hashed are the bytes
    /// verified and matched.
    ///
    /// # Errors
    /// The file cannot be opened or read, or a state segment is damaged; the state is as
    /// before the file.
    pub fn feed(
        &mut self,
        path: impl AsRef<Path>,
        authenticity: Authenticity<'_>,
        mut progress: impl FnMut(u64),
    ) -> Result<Fed, StateError> {
        self.feed_expecting(path.as_ref(), authenticity, None, &mut progress)
    }

    fn feed_expecting(
        &mut self,
        path: &Path,
        authenticity: Authenticity<'_>,
        expected: Option<[u8; 32]>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Fed, StateError> {
        let open_error = |source| StateError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut reader = File::open(path).map_err(open_error)?;
        let sha256 = hash_reader(&mut reader).map_err(open_error)?;
        reader.rewind().map_err(open_error)?;
        if expected.is_some_and(|e| e != sha256) {
            return Err(StateError::ReadAgain {
                path: path.to_path_buf(),
                why: Rebuild::Asked,
                problem: "its bytes changed since it was read",
            });
        }
        let known = self
            .state
            .manifest
            .files
            .iter()
            .chain(self.files.iter())
            .find(|f| f.sha256 == sha256);
        if let Some(known) = known {
            return Ok(Fed::AlreadyRead {
                authentic: known.authentic,
            });
        }
        let in_file = |source: MatchStreamError| StateError::File {
            path: path.to_path_buf(),
            source,
        };
        let mut file = ExportFile::open(BufReader::new(reader))
            .map_err(|e| in_file(MatchStreamError::File(e)))?;
        let format = file.format();
        let marks = (
            self.run.checkpoint(),
            self.fresh.len(),
            self.pending.len(),
            self.new_segments.len(),
            (self.origin.clone(), self.counted.clone()),
        );
        // Authenticity is known only once the whole file is read: until then its results are
        // marked as the run requires, and corrected below when it allowed a file that was not.
        self.authentic = true;
        let result = self
            .feed_keys(&mut file, authenticity, progress)
            .map_err(|e| match e {
                StateError::File { source, .. } => in_file(source),
                other => other,
            });
        let required = matches!(authenticity, Authenticity::Required(_));
        match result {
            Ok((summary, keys_skipped)) if summary.authentic() || !required => {
                let authentic = summary.authentic();
                if !authentic {
                    self.mark_unauthentic(marks.2, &marks.4.0);
                }
                self.files.push(FileRecord {
                    sha256,
                    read_at: self.now,
                    keys: summary.keys + summary.revised_keys,
                    authentic,
                    path: fs::canonicalize(path)
                        .ok()
                        .and_then(|p| p.to_str().map(ToString::to_string))
                        .unwrap_or_default(),
                });
                Ok(Fed::Read {
                    format,
                    summary,
                    keys_skipped,
                })
            }
            other => {
                let (checkpoint, fresh, pending, segments, (origin, counted)) = marks;
                self.run.restore(checkpoint);
                self.fresh.truncate(fresh);
                self.pending.truncate(pending);
                self.index_pending();
                self.origin = origin;
                self.counted = counted;
                for segment in self.new_segments.drain(segments..) {
                    let _ = fs::remove_file(self.state.dir.join(segment.file_name()));
                }
                other.map(|(summary, _)| Fed::Read {
                    format,
                    summary,
                    keys_skipped: 0,
                })
            }
        }
    }

    /// Marks what the file just read stored or left pending as coming from a file that was
    /// not authentic.
    fn mark_unauthentic(&mut self, pending_from: usize, origin_before: &BTreeMap<[u8; 16], bool>) {
        for p in self.pending.iter_mut().skip(pending_from) {
            p.authentic = false;
        }
        for (key, authentic) in &mut self.origin {
            if !origin_before.contains_key(key) {
                *authentic = false;
            }
        }
    }

    fn feed_keys<R: Read + io::Seek>(
        &mut self,
        file: &mut ExportFile<R>,
        authenticity: Authenticity<'_>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(ExportSummary, u64), StateError> {
        let registry = match authenticity {
            Authenticity::Required(r) | Authenticity::Reported(r) => Some(r),
            Authenticity::Unchecked => None,
        };
        // The caller names the file.
        let file_error = |e: ExportFileError| StateError::File {
            path: PathBuf::new(),
            source: MatchStreamError::File(e),
        };
        let mut keys = file.keys(registry).map_err(file_error)?;
        let mut windows = Chunks::new(keys.by_ref(), WINDOW);
        let mut skipped = 0u64;
        let in_file = |source| StateError::File {
            path: PathBuf::new(),
            source,
        };
        while let Some((window, read)) = windows
            .next_chunk(|f| self.run.reject(f))
            .map_err(in_file)?
        {
            skipped += self.match_window(window)?;
            progress(read);
        }
        let summary = keys.finish().map_err(file_error)?;
        Ok((summary, skipped))
    }

    /// Joins one window of keys against the checked keys on disk and matches the rest;
    /// returns how many were skipped.
    fn match_window(&mut self, window: &[DiagnosisKey]) -> Result<u64, StateError> {
        let mut fingerprints = std::vec![[0u8; 12]; window.len()];
        fingerprints_into(&self.cipher, window, &mut fingerprints);
        let mut known = std::vec![false; window.len()];
        let segments = || {
            self.state
                .manifest
                .segments
                .iter()
                .chain(self.new_segments.iter())
        };
        // A state with no checked keys yet (the first run) has nothing to join against.
        if segments().next().is_some() {
            let mut probes: Vec<u128> = fingerprints
                .iter()
                .zip(0u32..)
                .map(|(&fp, i)| probe_of(fp, i))
                .collect();
            probes.sort_unstable();
            for segment in segments() {
                let path = self.state.dir.join(segment.file_name());
                join_segment(&path, segment, &probes, &mut known)?;
            }
        }
        // A key checked before whose bytes are stored now is applied as one run applies it: as
        // a copy, or as a copy candidate whose identifiers are not logged yet.
        let results = &self.run.state().results;
        if !results.is_empty() {
            for (k, key) in known.iter_mut().zip(window) {
                if *k && results.contains_key(&key.key_data) {
                    *k = false;
                }
            }
        }
        let skipped = known.iter().filter(|&&k| k).count() as u64;
        let mut outcomes = Vec::new();
        self.run.add_filtered(
            window,
            |i| known.get(i).copied().unwrap_or(false),
            |i, what| outcomes.push((i, what)),
        );
        let mut outcomes = outcomes.into_iter().peekable();
        for (i, key) in window.iter().enumerate() {
            if !self.pending_at.is_empty() {
                self.flag_later_copy(key);
            }
            let Some((_, what)) = outcomes.next_if(|&(at, _)| at == i) else {
                continue;
            };
            // A known key is remembered already, unless its bytes were stored meanwhile in
            // this window and it is a copy candidate now.
            let candidate = matches!(
                what,
                Applied::Gated { copy: true } | Applied::NotStored { copy: true, .. }
            );
            if (!known.get(i).copied().unwrap_or(false) || candidate)
                && let Some(&fp) = fingerprints.get(i)
            {
                self.record(key, what, fp);
            }
        }
        if self.fresh.len() >= FRESH_LIMIT {
            self.flush()?;
        }
        Ok(skipped)
    }

    /// Writes the checked keys held in memory as a new segment.
    fn flush(&mut self) -> Result<(), StateError> {
        if self.fresh.is_empty() {
            return Ok(());
        }
        let mut entries = core::mem::take(&mut self.fresh);
        entries.sort_unstable();
        entries.dedup_by(|a, b| a[..12] == b[..12]);
        let number = self.next_segment;
        self.next_segment += 1;
        let segment = write_segment(
            &self.state.dir,
            number,
            entries.len() as u64,
            entries.iter().copied().map(Ok),
        )?;
        self.new_segments.push(segment);
        Ok(())
    }

    /// Writes the run to the state at once (spec §state.6): new segments, then a new manifest
    /// that replaces the old one in one rename. What aged out of `keep_days` is dropped.
    /// Returns every stored result and the counts over every file read.
    ///
    /// # Errors
    /// A file could not be written; the state is then as before the run.
    pub fn commit(mut self) -> Result<MatchOutcome, StateError> {
        self.flush()?;
        let keep_days = self.state.manifest.keep_days;
        let now = self.now;
        let window_end = |key: &DiagnosisKey| {
            u64::from(key.window.start().get()) + u64::from(key.window.period().get())
        };
        let mut segments: Vec<SegmentRef> = self.state.manifest.segments.clone();
        segments.extend(self.new_segments.iter().copied());
        let mut obsolete = core::mem::take(&mut self.obsolete);
        if segments.len() > MAX_SEGMENTS {
            let number = self.next_segment;
            self.next_segment += 1;
            let merged = merge_segments(&self.state.dir, &segments, number, |start| {
                !aged(u64::from(start) + 144, keep_days, now)
            })?;
            self.new_segments.push(merged);
            obsolete.extend(core::mem::replace(&mut segments, std::vec![merged]));
        }
        let checkpoint = self.run.checkpoint();
        let matches: Vec<StoredMatch> = checkpoint
            .results
            .into_values()
            .filter(|m| !aged(window_end(&m.key), keep_days, now))
            .map(|result| StoredMatch {
                computed_until: self
                    .coverage
                    .get(&result.key.key_data)
                    .copied()
                    .unwrap_or(self.covered),
                authentic: self
                    .origin
                    .get(&result.key.key_data)
                    .copied()
                    .unwrap_or(true),
                counted: self
                    .counted
                    .get(&result.key.key_data)
                    .copied()
                    .unwrap_or_default(),
                result,
            })
            .collect();
        let pending: Vec<Pending> = core::mem::take(&mut self.pending)
            .into_iter()
            .filter(|p| !aged(window_end(&p.key), keep_days, now))
            .collect();
        let keep_seconds = u64::from(keep_days) * SECONDS_PER_DAY;
        let mut files: Vec<FileRecord> = self
            .state
            .manifest
            .files
            .iter()
            .chain(self.files.iter())
            .filter(|f| f.read_at.saturating_add(keep_seconds) >= now)
            .cloned()
            .collect();
        files.dedup_by_key(|f| f.sha256);
        let until = self.covered.max(self.state.manifest.coverage_until);
        let sightings = self.run.matcher().index().all_sightings();
        let log_days = log_days_of(
            &self.cipher,
            sightings,
            until,
            first_bound_day(until, keep_days),
        );
        let old = &self.state.manifest;
        let manifest = Manifest {
            generation: old.generation + 1,
            secret: old.secret,
            config: old.config,
            keep_days,
            coverage_until: until,
            log_days,
            keys_total: checkpoint.keys_total,
            transitions: checkpoint.transitions,
            rejected: checkpoint.rejected,
            next_segment: self.next_segment,
            segments,
            files,
            matches,
            pending,
        };
        // The rename is the commit: before it the old manifest names only old files; after
        // it the new one names only files already written and synced.
        let dir = self.state.dir.clone();
        write_manifest(&dir, &manifest, self.state.key.as_ref())?;
        self.committed = true;
        self.state.manifest = manifest;
        self.state.start_over = None;
        self.state.files_unknown = false;
        self.previous = None;
        disk::sync_dir(&dir).map_err(io_error(&dir))?;
        // A segment left behind here is removed by the next open.
        for segment in obsolete {
            let _ = disk::remove(&dir.join(segment.file_name()));
        }
        Ok(self.state.outcome())
    }
}

fn hash_reader(file: &mut File) -> io::Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    let mut buffer = std::vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(hasher.finalize().into());
        }
        hasher.update(buffer.get(..n).unwrap_or_default());
    }
}

/// Writes a segment of `count` entries, in strictly increasing order of fingerprint; an error
/// of `entries` removes what was written.
fn write_segment(
    dir: &Path,
    number: u64,
    count: u64,
    entries: impl Iterator<Item = Result<[u8; ENTRY], StateError>>,
) -> Result<SegmentRef, StateError> {
    let path = dir.join(
        SegmentRef {
            number,
            entries: count,
            crc32: 0,
        }
        .file_name(),
    );
    let mut crc = crc32fast::Hasher::new();
    let header = segment_header(count);
    crc.update(&header);
    let mut out = disk::Create::new(&path).map_err(io_error(&path))?;
    out.write_all(&header).map_err(io_error(&path))?;
    let mut written = 0u64;
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                drop(out);
                let _ = fs::remove_file(&path);
                return Err(e);
            }
        };
        crc.update(&entry);
        out.write_all(&entry).map_err(io_error(&path))?;
        written += 1;
    }
    debug_assert_eq!(
        written, count,
        "a segment's entries are counted before it is written"
    );
    out.finish().map_err(io_error(&path))?;
    Ok(SegmentRef {
        number,
        entries: count,
        crc32: crc.finalize(),
    })
}

/// Merges segments into one, keeping the entries `keep(start)` accepts and each fingerprint
/// once. Two passes, each streaming and verifying every segment: the first counts (the header
/// holds the count), the second writes.
fn merge_segments(
    dir: &Path,
    segments: &[SegmentRef],
    number: u64,
    keep: impl Fn(u32) -> bool,
) -> Result<SegmentRef, StateError> {
    let kept = |e: &Result<[u8; ENTRY], StateError>| e.as_ref().map_or(true, |e| keep(start_of(e)));
    let count = MergedEntries::new(dir, segments)?
        .filter(kept)
        .try_fold(0u64, |n, e| e.map(|_| n + 1))?;
    write_segment(
        dir,
        number,
        count,
        MergedEntries::new(dir, segments)?.filter(kept),
    )
}

fn start_of(entry: &[u8; ENTRY]) -> u32 {
    let mut start = [0u8; 4];
    start.copy_from_slice(&entry[12..]);
    u32::from_le_bytes(start)
}

/// The entries of several segments in fingerprint order, each fingerprint once; each
/// segment's order, length and CRC checked as it is read.
struct MergedEntries {
    sources: Vec<SegmentSource>,
}

struct SegmentSource {
    path: PathBuf,
    reader: BufReader<File>,
    crc: crc32fast::Hasher,
    expected_crc: u32,
    left: u64,
    head: Option<[u8; ENTRY]>,
}

impl SegmentSource {
    fn open(path: PathBuf, segment: &SegmentRef) -> Result<Self, StateError> {
        let damaged = |reason| StateError::Damaged {
            file: path.clone(),
            reason,
        };
        let file = File::open(&path).map_err(|_| damaged(DamageReason::Missing))?;
        let mut reader = BufReader::with_capacity(64 * 1024, file);
        let mut header = [0u8; SEGMENT_HEADER];
        read_full(&mut reader, &mut header).map_err(damaged)?;
        if read_segment_header(&header).map_err(damaged)? != segment.entries {
            return Err(damaged(DamageReason::Invalid("entry count")));
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(&header);
        let mut source = Self {
            path,
            reader,
            crc,
            expected_crc: segment.crc32,
            left: segment.entries,
            head: None,
        };
        source.advance()?;
        Ok(source)
    }

    fn advance(&mut self) -> Result<(), StateError> {
        let damaged = |reason| StateError::Damaged {
            file: self.path.clone(),
            reason,
        };
        if self.left == 0 {
            self.head = None;
            let mut extra = [0u8; 1];
            if self.reader.read(&mut extra).unwrap_or(0) != 0 {
                return Err(damaged(DamageReason::Trailing));
            }
            if self.crc.clone().finalize() != self.expected_crc {
                return Err(damaged(DamageReason::Checksum));
            }
            return Ok(());
        }
        let mut entry = [0u8; ENTRY];
        read_full(&mut self.reader, &mut entry).map_err(damaged)?;
        self.crc.update(&entry);
        if self.head.is_some_and(|h| h[..12] >= entry[..12]) {
            return Err(damaged(DamageReason::Order));
        }
        self.head = Some(entry);
        self.left -= 1;
        Ok(())
    }
}

impl MergedEntries {
    fn new(dir: &Path, segments: &[SegmentRef]) -> Result<Self, StateError> {
        let sources = segments
            .iter()
            .map(|s| SegmentSource::open(dir.join(s.file_name()), s))
            .collect::<Result<_, _>>()?;
        Ok(Self { sources })
    }
}

impl Iterator for MergedEntries {
    type Item = Result<[u8; ENTRY], StateError>;

    fn next(&mut self) -> Option<Self::Item> {
        let smallest = self
            .sources
            .iter()
            .filter_map(|s| s.head)
            .min_by(|a, b| a[..12].cmp(&b[..12]))?;
        for source in &mut self.sources {
            if source.head.is_some_and(|h| h[..12] == smallest[..12])
                && let Err(e) = source.advance()
            {
                return Some(Err(e));
            }
        }
        Some(Ok(smallest))
    }
}

/// Every change the state makes to its folder, in one place, so that a test can cut a run
/// at each of them (spec §state.6).
mod disk {
    use std::fs::{self, File};
    use std::io::{self, Write};
    use std::path::Path;

    #[cfg(test)]
    std::thread_local! {
        /// Changes left before the simulated power cut (`None`: no cut); from the cut on,
        /// every change fails, as after a real one.
        pub(super) static CUT_AFTER: core::cell::Cell<Option<usize>> =
            const { core::cell::Cell::new(None) };
        /// Whether the simulated cut fell.
        pub(super) static CUT: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
    }

    /// Counts one change; `Err` when the simulated cut falls on it.
    #[cfg(test)]
    fn step() -> io::Result<()> {
        CUT_AFTER.with(|cut| match cut.get() {
            Some(0) => {
                CUT.with(|c| c.set(true));
                Err(io::Error::other("simulated power cut"))
            }
            Some(n) => {
                cut.set(Some(n - 1));
                Ok(())
            }
            None => Ok(()),
        })
    }

    #[cfg(not(test))]
    #[allow(clippy::unnecessary_wraps)]
    const fn step() -> io::Result<()> {
        Ok(())
    }

    /// A new file, written through a buffer and synced by [`Self::finish`].
    pub(super) struct Create {
        out: io::BufWriter<File>,
        written: u64,
    }

    impl Create {
        pub(super) fn new(path: &Path) -> io::Result<Self> {
            Ok(Self {
                out: io::BufWriter::with_capacity(256 * 1024, File::create(path)?),
                written: 0,
            })
        }

        pub(super) fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
            self.written += bytes.len() as u64;
            self.out.write_all(bytes)
        }

        /// Flushes and syncs the file. A cut here leaves half of it on disk.
        pub(super) fn finish(self) -> io::Result<()> {
            let file = self
                .out
                .into_inner()
                .map_err(io::IntoInnerError::into_error)?;
            if let Err(e) = step() {
                file.set_len(self.written / 2)?;
                return Err(e);
            }
            file.sync_all()
        }
    }

    pub(super) fn rename(from: &Path, to: &Path) -> io::Result<()> {
        step()?;
        fs::rename(from, to)
    }

    pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
        step()?;
        // Directories cannot be opened for syncing on every platform; where they can, the
        // rename is made durable.
        match File::open(dir) {
            Ok(d) => d.sync_all().or(Ok(())),
            Err(_) => Ok(()),
        }
    }

    pub(super) fn remove(path: &Path) -> io::Result<()> {
        step()?;
        fs::remove_file(path)
    }
}

#[doc(hidden)]
/// Not public API: the decoders, for the fuzz targets.
pub mod __fuzz {
    /// The state key the fuzz corpus's keyed manifest was written with.
    pub const KEY: [u8; 32] = [7; 32];

    /// Decodes a manifest, unkeyed or keyed with [`KEY`]; on success returns its encoding,
    /// which must equal the input.
    #[must_use]
    pub fn manifest_round_trip(bytes: &[u8]) -> Option<std::vec::Vec<u8>> {
        super::Manifest::decode(bytes, None)
            .ok()
            .map(|m| m.encode(None))
            .or_else(|| {
                super::Manifest::decode(bytes, Some(&KEY))
                    .ok()
                    .map(|m| m.encode(Some(&KEY)))
            })
    }

    /// Checks a segment held in memory; returns its entry count.
    ///
    /// # Errors
    /// What is wrong with it.
    pub fn check_segment(bytes: &[u8]) -> Result<u64, super::DamageReason> {
        super::format::check_segment(bytes)
    }
}

#[cfg(test)]
mod tests;
