//! The log a state belongs to: keyed sighting hashes per UTC day, and how a log compares
//! with the one a state was checked against (spec §state.2.1).

use std::collections::BTreeMap;
use std::vec::Vec;

use super::format::LogDay;

use crate::encounter::GaenSighting;
use crate::time::SECONDS_PER_DAY;

/// How the log now compares with the log a state was checked against (spec §state.2.1).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum LogCompared {
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
pub(super) fn first_bound_day(coverage: u64, keep_days: u32) -> u32 {
    let from = coverage.saturating_sub(u64::from(keep_days) * SECONDS_PER_DAY) / SECONDS_PER_DAY;
    u32::try_from(from).unwrap_or(u32::MAX)
}

pub(super) fn day_of(unix_seconds: u64) -> u32 {
    u32::try_from(unix_seconds / SECONDS_PER_DAY).unwrap_or(u32::MAX)
}

/// The log's days from `from_day` with the hashes ([`hash_log`]) of their sightings up to
/// `until`, each day's sorted.
pub(super) fn log_days_of(
    sightings: &[GaenSighting],
    hashes: &[u64],
    until: u64,
    from_day: u32,
) -> Vec<LogDay> {
    let mut by_day: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for (s, &hash) in sightings.iter().zip(hashes) {
        if s.unix_seconds <= until && day_of(s.unix_seconds) >= from_day {
            by_day.entry(day_of(s.unix_seconds)).or_default().push(hash);
        }
    }
    by_day
        .into_iter()
        .map(|(day, mut hashes)| {
            hashes.sort_unstable();
            LogDay { day, hashes }
        })
        .collect()
}

/// How many of `old` (sorted) are not in `new` (sorted), counting repeats.
pub(super) fn missing_from(old: &[u64], new: &[u64]) -> u64 {
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
pub(super) fn compare_log(
    recorded: &[LogDay],
    sightings: &[GaenSighting],
    hashes: &[u64],
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
        sightings,
        hashes,
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
