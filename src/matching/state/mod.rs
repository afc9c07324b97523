//! A match state that lives across days (spec `spec/state.md`): a folder that remembers every
//! key already checked against the phone's log, the result of each, and every export file
//! already read, so that a daily check derives only what is new and a revision or revocation
//! that arrives later still changes the result.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use bluezone::matching::state::MatchState;
//! use bluezone::matching::stream::Authenticity;
//! use bluezone::matching::{LogIndex, MatchConfig, MatchRun, Matcher};
//! # let sightings = Vec::new();
//! # let registry = bluezone::export::verify::PublicKeyRegistry::new();
//! let config = MatchConfig::default();
//! let mut state = MatchState::open("state", config, Default::default())?;
//! let index = LogIndex::new(sightings, config.tolerance_intervals);
//! let matcher = Matcher::new(&index, config);
//! let now = 1_600_000_000;
//! let mut run = state.begin(MatchRun::new(&matcher), now)?;
//! run.feed("today.zip", Authenticity::Required(&registry), |_| {})?;
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
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::string::ToString;
use std::vec::Vec;

use aes::Aes128Enc;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
use sha2::{Digest, Sha256};

pub use format::DamageReason;
use format::{
    ENTRY, FileRecord, Manifest, Pending, SEGMENT_HEADER, SegmentRef, StoredMatch,
    read_segment_header, segment_header,
};

use super::run::Applied;
use super::stream::{Authenticity, Chunks, MatchStreamError};
use super::{Checkpoint, MatchConfig, MatchOutcome, MatchRun, Rejections};
use crate::export::{ExportFile, ExportFileError, ExportFormat, ExportSummary};
use crate::gaen::DiagnosisKey;

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
/// Keys with unfinished results kept per state; more are not remembered (spec §state.2).
pub const MAX_PENDING: usize = 1 << 20;

/// How a new state is made (the values of an existing state are its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateOptions {
    /// Days a result, a checked key and a file's hash are kept after their window ends (or the
    /// file was read): 16, the 14 days of the longest look-back and two days of publication
    /// delay (spec §state.4).
    pub keep_days: u32,
}

impl Default for StateOptions {
    fn default() -> Self {
        Self { keep_days: 16 }
    }
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
    /// The log gained sightings in a time the state had already checked (an import of old
    /// records, or another phone's log): stored results may miss them.
    #[error(
        "the encounter log now holds {now} sightings on day {day} up to the last check, where that check saw {recorded}; the log changed in the past, so rebuild the state with a full re-check"
    )]
    LogChanged {
        /// The UTC day (days since 1970-01-01).
        day: u32,
        /// Sightings the last check counted that day.
        recorded: u64,
        /// Sightings the log holds now in the same time.
        now: u64,
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
    /// Keys with unfinished results not remembered because [`MAX_PENDING`] were.
    pub pending_dropped: u64,
    /// Export files read.
    pub files_read: usize,
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

/// What became of one export file fed to a run.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fed {
    /// The state had read these bytes before: nothing was read again (spec §state.3).
    AlreadyRead,
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

impl MatchState {
    /// Opens the state in `dir`, or makes a new one there (the folder is created; an existing
    /// folder must be empty or hold only a state's files). A run that was cut leaves files the
    /// manifest does not name; they are removed.
    ///
    /// # Errors
    /// [`StateError::NotAState`], [`StateError::Busy`], [`StateError::Damaged`] (the manifest
    /// or a segment it names), [`StateError::OtherRules`] (made with another `config`), or an
    /// I/O error.
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
        let manifest = match read_manifest(&dir)? {
            Some(manifest) => {
                if manifest.config != config {
                    return Err(StateError::OtherRules { dir });
                }
                manifest
            }
            None => Manifest {
                generation: 0,
                secret: random_secret(),
                config,
                keep_days: options.keep_days,
                coverage_until: 0,
                log_days: Vec::new(),
                keys_total: 0,
                transitions: 0,
                rejected: Rejections::default(),
                pending_dropped: 0,
                next_segment: 0,
                segments: Vec::new(),
                files: Vec::new(),
                matches: Vec::new(),
                pending: Vec::new(),
            },
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
        for name in names {
            let referenced = manifest.segments.iter().any(|s| s.file_name() == name);
            if name == MANIFEST_TMP || (name.ends_with(".seg") && !referenced) {
                let path = dir.join(&name);
                fs::remove_file(&path).map_err(io_error(&path))?;
            }
        }
        Ok(Self {
            dir,
            manifest,
            _lock: lock,
        })
    }

    /// Removes the state in `dir` (only a state's own files, and the folder when it is then
    /// empty), so that the next [`Self::open`] starts afresh: the way to rebuild a damaged
    /// state, with a full re-check of the export files.
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
        summary_of(&self.manifest)
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
    ///
    /// # Errors
    /// The folder cannot be listed, or holds files that are not a state's.
    pub fn inspect(dir: impl AsRef<Path>) -> Result<StateInspection, StateError> {
        let dir = dir.as_ref();
        let names = state_files(dir)?;
        let mut damage = Vec::new();
        let manifest = match read_manifest(dir) {
            Ok(manifest) => manifest,
            Err(StateError::Damaged { file, reason }) => {
                damage.push(StateDamage { file, reason });
                None
            }
            Err(e) => return Err(e),
        };
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
            if name == MANIFEST_TMP || (name.ends_with(".seg") && !referenced) {
                leftovers.push(dir.join(name));
            }
        }
        Ok(StateInspection {
            summary: manifest.as_ref().map(summary_of),
            damage,
            leftovers,
        })
    }

    /// Starts a run: `run`'s own results are replaced by the stored ones, the log is checked
    /// for sightings added in a time already checked, and every result that was not final is
    /// evaluated again against the log `run` matches with (spec §state.2). `now` is the time up
    /// to which the log is complete, Unix seconds; it is also "now" for what ages out.
    ///
    /// # Errors
    /// [`StateError::LogChanged`].
    pub fn begin<'s, 'm, 'a>(
        &'s mut self,
        mut run: MatchRun<'m, 'a>,
        now: u64,
    ) -> Result<StateRun<'s, 'm, 'a>, StateError> {
        let sightings = run.matcher().index().all_sightings();
        let old_until = self.manifest.coverage_until;
        let counts = day_counts(sightings.iter().map(|s| s.unix_seconds), old_until);
        let recorded_days: BTreeMap<u32, u64> = self.manifest.log_days.iter().copied().collect();
        for (&day, &now_count) in &counts {
            let recorded = recorded_days.get(&day).copied().unwrap_or(0);
            if now_count > recorded {
                return Err(StateError::LogChanged {
                    day,
                    recorded,
                    now: now_count,
                });
            }
        }
        let m = &self.manifest;
        let mut coverage = BTreeMap::new();
        let mut results = BTreeMap::new();
        for stored in &m.matches {
            coverage.insert(stored.result.key.key_data, stored.computed_until);
            results.insert(stored.result.key.key_data, stored.result.clone());
        }
        run.restore(Checkpoint {
            results,
            keys_total: m.keys_total,
            transitions: m.transitions,
            rejected: m.rejected,
        });
        let cipher = Aes128Enc::new(&Array::from(m.secret));
        let mut state_run = StateRun {
            tolerance: m.config.tolerance_intervals,
            pending_dropped: m.pending_dropped,
            next_segment: m.next_segment,
            state: self,
            run,
            cipher,
            now,
            coverage,
            new_segments: Vec::new(),
            fresh: Vec::new(),
            pending: Vec::new(),
            files: Vec::new(),
            rechecked: 0,
            committed: false,
        };
        state_run.recheck();
        Ok(state_run)
    }
}

fn summary_of(m: &Manifest) -> StateSummary {
    StateSummary {
        generation: m.generation,
        keep_days: m.keep_days,
        coverage_until: m.coverage_until,
        log_days: m.log_days.clone(),
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
        pending_dropped: m.pending_dropped,
        files_read: m.files.len(),
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

fn read_manifest(dir: &Path) -> Result<Option<Manifest>, StateError> {
    let path = dir.join(MANIFEST);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StateError::Io { path, source }),
    };
    Manifest::decode(&bytes)
        .map(Some)
        .map_err(|reason| StateError::Damaged { file: path, reason })
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
        * 600
}

fn is_final(key: &DiagnosisKey, tolerance: u32, until: u64) -> bool {
    until >= final_at(key, tolerance)
}

/// Whether no sighting up to `until` can count for `key` yet: its window starts more than the
/// tolerance after the coverage.
fn is_future(key: &DiagnosisKey, tolerance: u32, until: u64) -> bool {
    u64::from(key.window.start().get()) > until / 600 + u64::from(tolerance)
}

/// When a window ending at interval `end` (exclusive) is past keeping at `now`.
fn aged(end_interval: u64, keep_days: u32, now: u64) -> bool {
    end_interval * 600 + u64::from(keep_days) * 86_400 < now
}

/// Sightings per UTC day with a time up to `until`.
fn day_counts(times: impl Iterator<Item = u64>, until: u64) -> BTreeMap<u32, u64> {
    let mut counts = BTreeMap::new();
    for t in times.filter(|&t| t <= until) {
        let day = u32::try_from(t / 86_400).unwrap_or(u32::MAX);
        *counts.entry(day).or_insert(0u64) += 1;
    }
    counts
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
    now: u64,
    /// The coverage each stored result was computed against.
    coverage: BTreeMap<[u8; 16], u64>,
    /// Segments written by this run, not yet named by the manifest.
    new_segments: Vec<SegmentRef>,
    next_segment: u64,
    /// Keys checked with a final "no match", not yet in a segment.
    fresh: Vec<[u8; ENTRY]>,
    /// Keys whose result is not final, in the order they were applied.
    pending: Vec<Pending>,
    pending_dropped: u64,
    files: Vec<FileRecord>,
    rechecked: u64,
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
        }
    }
}

impl StateRun<'_, '_, '_> {
    /// Results evaluated again when the run began because they were not final.
    #[must_use]
    pub const fn rechecked(&self) -> u64 {
        self.rechecked
    }

    /// The outcome so far: every stored result and the counts over every file read.
    #[must_use]
    pub fn outcome(&self) -> MatchOutcome {
        self.run.outcome()
    }

    /// Evaluates again every result that was not final, against the log as it is now.
    fn recheck(&mut self) {
        let until = self.now;
        let tolerance = self.tolerance;
        let stale: Vec<DiagnosisKey> = self
            .run
            .state()
            .results
            .values()
            .filter(|m| {
                let computed = self.coverage.get(&m.key.key_data).copied().unwrap_or(0);
                !is_final(&m.key, tolerance, computed) && until > computed
            })
            .map(|m| m.key)
            .collect();
        self.run.refresh(&stale);
        for key in &stale {
            self.coverage.insert(key.key_data, until);
        }
        // Pending keys were evaluated against a log complete up to the last coverage: not
        // before it grows are they evaluated again.
        if until <= self.state.manifest.coverage_until {
            self.rechecked = stale.len() as u64;
            self.pending.clone_from(&self.state.manifest.pending);
            return;
        }
        // A key whose bytes were matched since, by a later copy, is left to that copy: applied
        // again, it would count as a copy of it, which it was not when its file was read.
        let pending = core::mem::take(&mut self.state.manifest.pending);
        let results = &self.run.state().results;
        let keys: Vec<DiagnosisKey> = pending
            .iter()
            .map(|p| p.key)
            .filter(|k| !results.contains_key(&k.key_data))
            .collect();
        self.rechecked = (stale.len() + keys.len()) as u64;
        // The keys were counted when their files were read: only what they change now counts.
        let before = (self.run.state().keys_total, self.run.state().rejected);
        let mut outcomes = Vec::with_capacity(keys.len());
        self.run
            .add_filtered(&keys, |_| false, |i, what| outcomes.push((i, what)));
        let after = self.run.state_mut();
        after.keys_total = before.0;
        let (duplicates, invalid) = (
            after.rejected.duplicate_keys,
            after.rejected.invalid_transitions,
        );
        after.rejected = before.1;
        after.rejected.duplicate_keys = duplicates;
        after.rejected.invalid_transitions = invalid;
        for (i, what) in outcomes {
            if let Some(key) = keys.get(i) {
                self.record(key, what, fingerprint(&self.cipher, key));
            }
        }
        self.state.manifest.pending = pending;
    }

    /// Remembers what became of one evaluated key (spec §state.2, §state.3).
    fn record(&mut self, key: &DiagnosisKey, what: Applied, fingerprint: [u8; 12]) {
        let until = self.now;
        match what {
            Applied::Stored => {
                self.coverage.insert(key.key_data, until);
            }
            Applied::NotStored { seen } => {
                // A key no sighting can count for yet is not remembered: it is evaluated as
                // new when a file brings it again. A key seen but not stored is not either,
                // so that its sightings are counted as one run counts them.
                if is_future(key, self.tolerance, until) {
                    return;
                }
                if is_final(key, self.tolerance, until) {
                    if !seen {
                        self.fresh
                            .push(entry_of(fingerprint, key.window.start().get()));
                    }
                } else if self.pending.len() < MAX_PENDING {
                    self.pending.push(Pending {
                        key: *key,
                        computed_until: until,
                    });
                } else {
                    self.pending_dropped += 1;
                }
            }
            Applied::Copy | Applied::Gated => {}
        }
    }

    /// Feeds one export file (zip or bare `export.bin`), after every file fed before: a file
    /// whose bytes the state has read is skipped whole; every other key is skipped when the
    /// state checked it against this log before, and matched otherwise, verifying the file in
    /// the same pass (spec §state.3).
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
        let path = path.as_ref();
        let open = |path: &Path| {
            File::open(path).map_err(|source| StateError::Open {
                path: path.to_path_buf(),
                source,
            })
        };
        let sha256 = hash_file(open(path)?).map_err(|source| StateError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let known_file = |f: &FileRecord| f.sha256 == sha256;
        if self.state.manifest.files.iter().any(known_file) || self.files.iter().any(known_file) {
            return Ok(Fed::AlreadyRead);
        }
        let in_file = |source: MatchStreamError| StateError::File {
            path: path.to_path_buf(),
            source,
        };
        let mut file = ExportFile::open(BufReader::new(open(path)?))
            .map_err(|e| in_file(MatchStreamError::File(e)))?;
        let format = file.format();
        let marks = (
            self.run.checkpoint(),
            self.fresh.len(),
            self.pending.len(),
            self.new_segments.len(),
            self.pending_dropped,
        );
        let result = self
            .feed_keys(&mut file, authenticity, &mut progress)
            .map_err(|e| match e {
                StateError::File { source, .. } => in_file(source),
                other => other,
            });
        let required = matches!(authenticity, Authenticity::Required(_));
        match result {
            Ok((summary, keys_skipped)) if summary.authentic() || !required => {
                self.files.push(FileRecord {
                    sha256,
                    read_at: self.now,
                    keys: summary.keys + summary.revised_keys,
                });
                Ok(Fed::Read {
                    format,
                    summary,
                    keys_skipped,
                })
            }
            other => {
                let (checkpoint, fresh, pending, segments, dropped) = marks;
                self.run.restore(checkpoint);
                self.fresh.truncate(fresh);
                self.pending.truncate(pending);
                self.pending_dropped = dropped;
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

    fn feed_keys<R: Read + io::Seek>(
        &mut self,
        file: &mut ExportFile<R>,
        authenticity: Authenticity<'_>,
        progress: &mut impl FnMut(u64),
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
        let skipped = known.iter().filter(|&&k| k).count() as u64;
        let mut outcomes = Vec::new();
        self.run.add_filtered(
            window,
            |i| known.get(i).copied().unwrap_or(false),
            |i, what| outcomes.push((i, what)),
        );
        for (i, what) in outcomes {
            if let (Some(key), Some(&fp)) = (window.get(i), fingerprints.get(i)) {
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
        let mut obsolete = Vec::new();
        if segments.len() > MAX_SEGMENTS {
            let number = self.next_segment;
            self.next_segment += 1;
            let merged = merge_segments(&self.state.dir, &segments, number, |start| {
                !aged(u64::from(start) + 144, keep_days, now)
            })?;
            self.new_segments.push(merged);
            obsolete = core::mem::replace(&mut segments, std::vec![merged]);
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
                    .unwrap_or(now),
                result,
            })
            .collect();
        let pending: Vec<Pending> = core::mem::take(&mut self.pending)
            .into_iter()
            .filter(|p| !aged(window_end(&p.key), keep_days, now))
            .collect();
        let mut files: Vec<FileRecord> = self
            .state
            .manifest
            .files
            .iter()
            .chain(self.files.iter())
            .filter(|f| f.read_at.saturating_add(u64::from(keep_days) * 86_400) >= now)
            .copied()
            .collect();
        files.dedup_by_key(|f| f.sha256);
        let sightings = self.run.matcher().index().all_sightings();
        let until = now.max(self.state.manifest.coverage_until);
        let log_days = day_counts(sightings.iter().map(|s| s.unix_seconds), until)
            .into_iter()
            .collect();
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
            pending_dropped: self.pending_dropped,
            next_segment: self.next_segment,
            segments,
            files,
            matches,
            pending,
        };
        // The rename is the commit: before it the old manifest names only old files; after
        // it the new one names only files already written and synced.
        let dir = self.state.dir.clone();
        let tmp = dir.join(MANIFEST_TMP);
        let mut out = disk::Create::new(&tmp).map_err(io_error(&tmp))?;
        out.write_all(&manifest.encode()).map_err(io_error(&tmp))?;
        out.finish().map_err(io_error(&tmp))?;
        let path = dir.join(MANIFEST);
        disk::rename(&tmp, &path).map_err(io_error(&path))?;
        self.committed = true;
        self.state.manifest = manifest;
        disk::sync_dir(&dir).map_err(io_error(&dir))?;
        // A segment left behind here is removed by the next open.
        for segment in obsolete {
            let _ = disk::remove(&dir.join(segment.file_name()));
        }
        Ok(self.state.outcome())
    }
}

fn hash_file(mut file: File) -> io::Result<[u8; 32]> {
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
    /// Decodes a manifest; on success returns its encoding, which must equal the input.
    #[must_use]
    pub fn manifest_round_trip(bytes: &[u8]) -> Option<std::vec::Vec<u8>> {
        super::Manifest::decode(bytes).ok().map(|m| m.encode())
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
