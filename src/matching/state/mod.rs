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

mod commit;
mod coverage;
mod disk;
mod error;
mod fingerprints;
mod format;
mod inspect;
mod log;
mod run;
mod segments;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::vec::Vec;

use aes::Aes128Enc;
use aes::cipher::{Array, KeyInit};

pub use error::StateError;
pub use format::DamageReason;
pub use inspect::{StateDamage, StateInspection, StateSummary};
pub use run::StateRun;

use disk::{LOCK, MANIFEST, MANIFEST_TMP, read_manifest, state_files, write_manifest};
use error::io_error;
use fingerprints::{random_secret, secret_from_key};
use format::Manifest;
use inspect::{inspect_once, summary_of};
use log::{LogCompared, compare_log};
use segments::segment_len;

use super::stream::Authenticity;
use super::{Checkpoint, MatchConfig, MatchOutcome, MatchRun, Rejections};
use crate::export::{ExportFormat, ExportSummary};
use crate::time::plausible_time;

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
            wall_clock: crate::time::wall_clock(),
            authenticity,
        }
    }
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
        // A new state (or, when a rebuild is asked, one whose manifest is beyond use) names no
        // segment: any segment left is a leftover, removed below, and the empty manifest is
        // written before any segment can be.
        let empty = || -> Result<Manifest, StateError> {
            let manifest = empty_manifest(config, options.keep_days, secret);
            write_manifest(&dir, &manifest, key.as_ref())?;
            Ok(manifest)
        };
        let (manifest, files_unknown) = match read_manifest(&dir, key.as_ref()) {
            Ok(Some(manifest)) if manifest.config != config => {
                return Err(StateError::OtherRules { dir: dir.clone() });
            }
            Ok(Some(manifest)) => (manifest, false),
            Ok(None) if names.iter().any(|n| n.ends_with(".seg")) && !options.rebuild => {
                return Err(StateError::Damaged {
                    file: dir.join(MANIFEST),
                    reason: DamageReason::Missing,
                });
            }
            Ok(None) => (empty()?, false),
            Err(StateError::Damaged { .. }) if options.rebuild => (empty()?, true),
            Err(e) => return Err(e),
        };
        let start_over = options.rebuild.then_some(Rebuild::Asked);
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
        let log_hashes = fingerprints::hash_log(&cipher, run.matcher().index().all_sightings());
        let mut why = self.start_over.clone();
        if why.is_none() {
            let old = &self.manifest;
            match compare_log(
                &old.log_days,
                run.matcher().index().all_sightings(),
                &log_hashes,
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
        let mut kept = BTreeMap::new();
        let mut results = BTreeMap::new();
        for stored in &m.matches {
            let key = stored.result.key.key_data;
            kept.insert(
                key,
                run::Kept {
                    computed_until: stored.computed_until,
                    authentic: stored.authentic,
                    counted: stored.counted,
                },
            );
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
            stored: kept,
            log_hashes,
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

    /// Seals a manifest's body with the trailer its flag byte asks for (a SHA-256, or the
    /// HMAC under [`KEY`] when keyed) and decodes it; on success returns the sealed bytes and
    /// their encoding, which must be equal. Mutations of the body so reach every field.
    #[must_use]
    pub fn manifest_body_round_trip(body: &[u8]) -> Option<(std::vec::Vec<u8>, std::vec::Vec<u8>)> {
        let keyed = body.get(10) == Some(&1);
        let mut sealed = body.to_vec();
        sealed.extend_from_slice(&super::format::trailer(body, keyed.then_some(&KEY)));
        let again = manifest_round_trip(&sealed)?;
        Some((sealed, again))
    }

    /// Checks a segment held in memory; returns its entry count.
    ///
    /// # Errors
    /// What is wrong with it.
    pub fn check_segment(bytes: &[u8]) -> Result<u64, super::DamageReason> {
        super::format::check_segment(bytes)
    }

    /// Joins `probes` (fingerprints in their first 12 bytes) against the segment `bytes`
    /// written at `path`, as a run joins a file's keys (spec §state.3), with the entry count
    /// of its header and its CRC-32 recorded as a manifest records them (spoiled when
    /// `spoil_crc`). Returns, for each probe, whether it is known.
    ///
    /// # Errors
    /// What is wrong with the segment.
    pub fn join_segment(
        path: &std::path::Path,
        bytes: &[u8],
        probes: &[[u8; 16]],
        spoil_crc: bool,
    ) -> Result<std::vec::Vec<bool>, super::DamageReason> {
        let entries = bytes
            .get(10..18)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, u64::from_le_bytes);
        let segment = super::format::SegmentRef {
            number: 0,
            entries,
            crc32: crc32fast::hash(bytes) ^ u32::from(spoil_crc),
        };
        let mut sorted: std::vec::Vec<u128> = (0u32..)
            .zip(probes)
            .map(|(index, probe)| {
                let mut fingerprint = [0u8; 12];
                for (f, p) in fingerprint.iter_mut().zip(probe) {
                    *f = *p;
                }
                super::segments::probe_of(fingerprint, index)
            })
            .collect();
        sorted.sort_unstable();
        let mut known = std::vec![false; probes.len()];
        match super::segments::join_segment(path, &segment, &sorted, &mut known) {
            Ok(()) => Ok(known),
            Err(super::StateError::Damaged { reason, .. }) => Err(reason),
            Err(_) => Err(super::DamageReason::Unreadable),
        }
    }
}

#[cfg(test)]
mod tests;
