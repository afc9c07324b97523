//! One call from export files and a phone's sightings to the risk report (spec §risk.5): open
//! each file, verify it and match its keys in one pass, then build windows, daily summaries
//! and the F1 verdict. This is the glue every app would otherwise write around the layers.

use std::boxed::Box;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::vec::Vec;

use super::windows::RiskConfigError;
use super::{RiskConfig, RiskReport, assess};
use crate::encounter::GaenSighting;
use crate::export::verify::{PublicKeyRegistry, Verification};
use crate::export::{ExportFile, ExportFormat, ExportSummary};
use crate::matching::state::{
    Fed, MatchState, Rebuilt, RunOptions, StateError, StateKey, StateOptions, StateSummary,
};
use crate::matching::stream::{Authenticity, MatchStreamError, match_export};
use crate::matching::{LogIndex, MatchConfig, MatchOutcome, MatchRun, Matcher};
use crate::time::{CLOCK_MARGIN_SECONDS, ImplausibleTime, plausible_time};

/// What an exposure check needs besides the files and the sightings.
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckSettings<'a> {
    /// The health authority's keys, with which every file is verified in the same pass as it
    /// is matched.
    pub registry: Option<&'a PublicKeyRegistry>,
    /// Match files that are not authentic too (unsigned, signed by no key of the registry, or
    /// read without a registry), each reported as such in [`FileCheck::summary`]. Off by
    /// default: without it a file that is not authentic stops the check, and a check without
    /// a registry is refused.
    pub allow_unauthentic: bool,
    /// The matching rules; the log is indexed with the same tolerance.
    pub matching: MatchConfig,
    /// Windows, scores and the F1 rule.
    pub risk: RiskConfig,
    /// Matching threads (0: all cores; ignored without the `parallel` feature).
    pub threads: usize,
    /// "Now" for look-back periods, Unix seconds; when `None`, the newest sighting that is
    /// not later than the wall clock (plus [`CLOCK_MARGIN_SECONDS`]), or the wall clock when
    /// there is none. A "now" given must be plausible (spec §time.4). With a state it also
    /// says up to when the log is complete (spec §state.2).
    pub now_unix_seconds: Option<u64>,
    /// The device's wall clock, Unix seconds; the system's clock when `None`. A simulation
    /// or a test sets it; an app leaves it.
    pub wall_clock_unix_seconds: Option<u64>,
    /// A match-state folder (spec `spec/state.md`): keys and files checked before are not
    /// derived again, and the report covers every result stored, not only these files'.
    pub state: Option<&'a Path>,
    /// The state's key, when the app keeps one in the platform keystore (spec §state.1.3).
    pub state_key: Option<&'a StateKey>,
    /// Start the state over from every file it knows, then the files given (spec §state.7).
    pub rebuild_state: bool,
}

/// One export file as the check read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileCheck {
    /// The file.
    pub path: PathBuf,
    /// Its container.
    pub format: ExportFormat,
    /// What one pass over it found, with the signature verdict when a registry was given.
    pub summary: ExportSummary,
}

/// What a check with a state did besides matching (spec §state).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateCheck {
    /// Files the state had read before: not read again.
    pub already_read: Vec<PathBuf>,
    /// Keys of the files read that the state had checked before, not derived again.
    pub keys_skipped: u64,
    /// Stored results that were not final and were evaluated again.
    pub rechecked: u64,
    /// Files the state had read before that were not authentic (read with unauthentic files
    /// allowed).
    pub already_read_unauthentic: Vec<PathBuf>,
    /// The keys of stored matches that files which were not authentic brought, in this run
    /// or an earlier one (spec §state.3.1).
    pub unauthentic_matches: Vec<[u8; 16]>,
    /// When the state started over: why, and what it read again.
    pub rebuilt: Option<Rebuilt>,
    /// What the state holds after the check.
    pub summary: StateSummary,
}

/// The whole result of [`check_exposure`].
#[derive(Clone, Debug, PartialEq)]
pub struct ExposureReport {
    /// Each file read, in the order given.
    pub files: Vec<FileCheck>,
    /// Files given more than once: read the first time only.
    pub repeated_files: Vec<PathBuf>,
    /// Sightings later than "now": they count in no look-back period of this report.
    pub sightings_after_now: usize,
    /// With a state: what it skipped and holds.
    pub state: Option<StateCheck>,
    /// Sightings indexed.
    pub sightings: usize,
    /// The matches of all files together (a key served by two files matched once); with a
    /// state, every result it stores and the counts over every file it read.
    pub outcome: MatchOutcome,
    /// "Now" as used for the look-back periods, Unix seconds.
    pub now_unix_seconds: u64,
    /// Windows, daily summaries and the F1 verdict.
    pub risk: RiskReport,
}

/// Why an exposure check stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// The risk configuration is invalid.
    #[error("risk configuration: {0}")]
    Config(#[from] RiskConfigError),
    /// A file could not be opened.
    #[error("{}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A file could not be read, or its keys matched.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The error.
        source: MatchStreamError,
    },
    /// No registry, and unauthentic files were not allowed: nothing could be verified.
    #[error(
        "no public key to verify the export files with: give the health authority's key, or allow unauthentic files explicitly"
    )]
    NoRegistry,
    /// A file is not authentic; its keys were not used.
    #[error("{}: not authentic: {}", path.display(), describe(verification))]
    NotAuthentic {
        /// The file.
        path: PathBuf,
        /// The signature verdict (`None`: the file carries no signature).
        verification: Box<Option<Verification>>,
    },
    /// The matching threads could not be started.
    #[error("cannot start the matching threads: {0}")]
    Threads(std::string::String),
    /// The match state could not be opened, read or written; it is as before the check.
    #[error("match state: {0}")]
    State(#[from] StateError),
    /// "Now" cannot be true on this device (spec §time.4).
    #[error("now: {0}")]
    Now(#[from] ImplausibleTime),
    /// A match state was asked of a check of files held in memory: a state reads its files
    /// from disk.
    #[error("a match state needs the export files on disk, to read them again when it starts over")]
    StateNeedsFiles,
}

fn describe(verification: &Option<Verification>) -> std::string::String {
    use std::string::ToString;
    match verification {
        None => "it carries no signature".to_string(),
        Some(v) => v.to_string(),
    }
}

/// Matches the keys of `files`, in the order given, against `sightings` and assesses the
/// risk, calling `progress` with each file and the keys read from it so far.
///
/// # Errors
/// [`CheckError`] naming the file at fault; an invalid configuration before any file is read.
pub fn check_exposure<P: AsRef<Path>>(
    files: &[P],
    sightings: Vec<GaenSighting>,
    settings: &CheckSettings<'_>,
    progress: impl FnMut(&Path, u64),
) -> Result<ExposureReport, CheckError> {
    let (files, repeated_files) = distinct_files(files);
    check(
        sightings,
        settings,
        repeated_files,
        |run, at| match settings.state {
            Some(dir) => {
                let options = StateOptions {
                    key: settings.state_key.cloned(),
                    rebuild: settings.rebuild_state,
                    ..StateOptions::default()
                };
                let state = MatchState::open(dir, at.matching, options)?;
                let mut options = RunOptions::at(at.now, at.authenticity);
                options.wall_clock = at.wall;
                check_with_state(state, run, &files, &options, progress)
            }
            None => {
                let opened = files.iter().map(|path| {
                    let reader = File::open(path).map_err(|source| CheckError::Open {
                        path: path.to_path_buf(),
                        source,
                    })?;
                    Ok((path.to_path_buf(), BufReader::new(reader)))
                });
                let (checked, outcome) = check_files(run, opened, at.authenticity, progress)?;
                Ok((checked, None, outcome))
            }
        },
    )
}

/// One export file held in memory, as downloaded, with the name reports give it.
#[derive(Clone, Copy, Debug)]
pub struct InMemoryExport<'a> {
    /// What reports call it (its address, say); it is never opened.
    pub name: &'a str,
    /// Its bytes: `export.zip` or a bare `export.bin`.
    pub data: &'a [u8],
}

/// [`check_exposure`] over export files held in memory, in the order given. Nothing is read
/// from disk or remembered: a match state reads its files from disk (it records where each
/// one is, to read it again when it starts over), so `settings.state` must be `None`.
///
/// # Errors
/// [`CheckError::StateNeedsFiles`] with a state; otherwise as [`check_exposure`].
pub fn check_exposure_in_memory(
    files: &[InMemoryExport<'_>],
    sightings: Vec<GaenSighting>,
    settings: &CheckSettings<'_>,
    progress: impl FnMut(&Path, u64),
) -> Result<ExposureReport, CheckError> {
    if settings.state.is_some() {
        return Err(CheckError::StateNeedsFiles);
    }
    check(sightings, settings, Vec::new(), |run, at| {
        let opened = files
            .iter()
            .map(|f| Ok((PathBuf::from(f.name), std::io::Cursor::new(f.data))));
        let (checked, outcome) = check_files(run, opened, at.authenticity, progress)?;
        Ok((checked, None, outcome))
    })
}

/// What a check's files are matched with, once the settings are judged.
struct Judged<'a> {
    authenticity: Authenticity<'a>,
    matching: MatchConfig,
    now: u64,
    wall: u64,
}

type Checked = (Vec<FileCheck>, Option<StateCheck>, MatchOutcome);

/// The settings judged, the log indexed and a run started; `files` reads the files into the
/// run; then the windows, daily summaries and F1 verdict.
fn check<'s>(
    sightings: Vec<GaenSighting>,
    settings: &CheckSettings<'s>,
    repeated_files: Vec<PathBuf>,
    files: impl FnOnce(MatchRun<'_, '_>, &Judged<'s>) -> Result<Checked, CheckError>,
) -> Result<ExposureReport, CheckError> {
    settings.risk.validate()?;
    let authenticity = match (settings.registry, settings.allow_unauthentic) {
        (Some(registry), false) => Authenticity::Required(registry),
        (Some(registry), true) => Authenticity::Reported(registry),
        (None, true) => Authenticity::Unchecked,
        (None, false) => return Err(CheckError::NoRegistry),
    };
    let wall = settings
        .wall_clock_unix_seconds
        .unwrap_or_else(crate::time::wall_clock);
    let now_unix_seconds = match settings.now_unix_seconds {
        Some(now) => {
            plausible_time(now, wall)?;
            now
        }
        // A sighting from a clock that jumped ahead is never "now" (spec §time.4).
        None => sightings
            .iter()
            .map(|s| s.unix_seconds)
            .filter(|&t| t <= wall.saturating_add(CLOCK_MARGIN_SECONDS))
            .max()
            .unwrap_or(wall),
    };
    let sightings_after_now = sightings
        .iter()
        .filter(|s| s.unix_seconds > now_unix_seconds)
        .count();
    let threads = match settings.threads {
        0 => std::thread::available_parallelism().map_or(1, core::num::NonZeroUsize::get),
        n => n,
    };
    let count = sightings.len();
    let index = LogIndex::new(sightings, settings.matching.tolerance_intervals);
    let matching = settings.risk.match_config(settings.matching);
    let matcher = Matcher::new(&index, matching);
    let run = new_run(&matcher, threads)?;
    let judged = Judged {
        authenticity,
        matching,
        now: now_unix_seconds,
        wall,
    };
    let (checked, state, outcome) = files(run, &judged)?;
    let risk = assess(&outcome, &settings.risk, now_unix_seconds);
    Ok(ExposureReport {
        files: checked,
        repeated_files,
        sightings_after_now,
        state,
        sightings: count,
        outcome,
        now_unix_seconds,
        risk,
    })
}

/// The files in the order given, each path once (compared as the file system resolves it), and
/// the ones given again.
fn distinct_files<P: AsRef<Path>>(files: &[P]) -> (Vec<&Path>, Vec<PathBuf>) {
    let mut seen = std::collections::BTreeSet::new();
    let (mut distinct, mut repeated) = (Vec::new(), Vec::new());
    for path in files {
        let path = path.as_ref();
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if seen.insert(canonical) {
            distinct.push(path);
        } else {
            repeated.push(path.to_path_buf());
        }
    }
    (distinct, repeated)
}

/// Each file matched in one run, with nothing remembered: `files` opens them in order.
fn check_files<R: std::io::Read + std::io::Seek>(
    mut run: MatchRun<'_, '_>,
    files: impl Iterator<Item = Result<(PathBuf, R), CheckError>>,
    authenticity: Authenticity<'_>,
    mut progress: impl FnMut(&Path, u64),
) -> Result<(Vec<FileCheck>, MatchOutcome), CheckError> {
    let mut checked = Vec::new();
    for opened in files {
        let (path, reader) = opened?;
        let in_file = |source: MatchStreamError| CheckError::File {
            path: path.clone(),
            source,
        };
        let mut file = ExportFile::open(reader).map_err(|e| in_file(MatchStreamError::File(e)))?;
        let format = file.format();
        let summary = match_export(&mut run, &mut file, authenticity, |read| {
            progress(&path, read)
        })
        .map_err(in_file)?;
        refuse_unauthentic(&path, authenticity, &summary)?;
        checked.push(FileCheck {
            path,
            format,
            summary,
        });
    }
    Ok((checked, run.finish()))
}

/// Each file fed to a run of the match state, which is committed once every file is read.
fn check_with_state<P: AsRef<Path>>(
    mut state: MatchState,
    run: MatchRun<'_, '_>,
    files: &[P],
    options: &RunOptions<'_>,
    mut progress: impl FnMut(&Path, u64),
) -> Result<(Vec<FileCheck>, Option<StateCheck>, MatchOutcome), CheckError> {
    let authenticity = options.authenticity;
    let mut run = state.begin(run, options)?;
    let rechecked = run.rechecked();
    let rebuilt = run.rebuilt().cloned();
    let (mut checked, mut already_read, mut keys_skipped) = (Vec::new(), Vec::new(), 0);
    let mut already_read_unauthentic = Vec::new();
    for path in files {
        let path = path.as_ref();
        match run.feed(path, authenticity, |read| progress(path, read))? {
            Fed::AlreadyRead { authentic } => {
                already_read.push(path.to_path_buf());
                if !authentic {
                    already_read_unauthentic.push(path.to_path_buf());
                }
            }
            Fed::Read {
                format,
                summary,
                keys_skipped: skipped,
            } => {
                refuse_unauthentic(path, authenticity, &summary)?;
                keys_skipped += skipped;
                checked.push(FileCheck {
                    path: path.to_path_buf(),
                    format,
                    summary,
                });
            }
        }
    }
    let outcome = run.commit()?;
    let state = StateCheck {
        already_read,
        keys_skipped,
        rechecked,
        already_read_unauthentic,
        unauthentic_matches: state.unauthentic_matches(),
        rebuilt,
        summary: state.summary(),
    };
    Ok((checked, Some(state), outcome))
}

/// A file that is not authentic stops a check that requires authenticity (its keys were not
/// used).
fn refuse_unauthentic(
    path: &Path,
    authenticity: Authenticity<'_>,
    summary: &ExportSummary,
) -> Result<(), CheckError> {
    if matches!(authenticity, Authenticity::Required(_)) && !summary.authentic() {
        return Err(CheckError::NotAuthentic {
            path: path.to_path_buf(),
            verification: Box::new(
                summary
                    .verification
                    .clone()
                    .filter(|_| summary.signatures > 0),
            ),
        });
    }
    Ok(())
}

#[cfg(feature = "parallel")]
fn new_run<'m, 'a>(
    matcher: &'m Matcher<'a>,
    threads: usize,
) -> Result<MatchRun<'m, 'a>, CheckError> {
    MatchRun::with_threads(matcher, threads)
        .map_err(|e| CheckError::Threads(std::string::ToString::to_string(&e)))
}

#[cfg(not(feature = "parallel"))]
fn new_run<'m, 'a>(
    matcher: &'m Matcher<'a>,
    _threads: usize,
) -> Result<MatchRun<'m, 'a>, CheckError> {
    Ok(MatchRun::new(matcher))
}
