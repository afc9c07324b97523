//! Why a match state could not be used.

use std::io;
use std::path::{Path, PathBuf};

use super::format::DamageReason;

use crate::matching::stream::MatchStreamError;
use crate::time::ImplausibleTime;

use super::Rebuild;

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

pub(super) fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    }
}
