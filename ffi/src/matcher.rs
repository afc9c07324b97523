//! Matching diagnosis keys, streamed in batches, against a phone's sightings, and the F1
//! verdict.

use std::boxed::Box;
use std::ffi::c_char;
use std::path::Path;
use std::vec::Vec;

use bluezone::encounter::GaenSighting;
use bluezone::matching::{Checkpoint, LogIndex, MatchConfig, MatchOutcome, MatchRun, Matcher};
use bluezone::risk::{RiskConfig, RiskReport, assess};

use crate::diagnosis::BzDiagnosisKey;
use crate::export::BzExport;
use crate::keys::{BzGaenSighting, gaen_sighting};
use crate::ptr::{input, output, put, slice, text};
use crate::status::{BzStatus, Failure, Outcome, guard};

/// A matcher (opaque): a phone's sightings, the keys matched against them so far, and the
/// verdict. Free it with `bz_matcher_free`.
#[derive(Debug)]
pub struct BzMatcher {
    sightings: Vec<GaenSighting>,
    /// The newest sighting's time, Unix seconds (0 without any).
    newest: u64,
    /// Built from the sightings when the first keys arrive.
    index: Option<LogIndex>,
    config: MatchConfig,
    risk: RiskConfig,
    run: Checkpoint,
    verdict: Option<(MatchOutcome, RiskReport)>,
}

/// The F1 verdict and what it rests on, as of `now_unix_seconds`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BzVerdict {
    /// Whether the phone's user is a close contact (F1): some case's key was heard within
    /// about 2 m (typical attenuation at most 70 dB, spec §risk.4.1) for at least 15 minutes in one UTC day
    /// of the last 14.
    pub f1: bool,
    /// "Now" as used, Unix seconds.
    pub now_unix_seconds: u64,
    /// Keys matched against the sightings.
    pub keys_total: u64,
    /// Keys with at least one sighting (`bz_matcher_match` reads each).
    pub keys_matched: u64,
    /// Exposure windows of the matched keys.
    pub exposure_windows: u64,
    /// (day, case) pairs with an exposure window in the look-back.
    pub contact_days: u64,
    /// The most seconds at or below the threshold on one (day, case).
    pub longest_close_seconds: u64,
}

impl BzVerdict {
    /// The verdict `f1` on the (day, case) pairs `days`, over `windows` exposure windows as of
    /// `now`, with the keys (total, matched) it rests on.
    pub(crate) fn of(
        (f1, days): (bool, &[bluezone::risk::F1Day]),
        windows: usize,
        now: u64,
        (keys_total, keys_matched): (u64, u64),
    ) -> Self {
        Self {
            f1,
            now_unix_seconds: now,
            keys_total,
            keys_matched,
            exposure_windows: windows as u64,
            contact_days: days.len() as u64,
            longest_close_seconds: days.iter().map(|d| d.close_seconds).max().unwrap_or(0),
        }
    }
}

/// One matched key with what was heard of it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BzMatch {
    /// The key, with its current report type.
    pub key: BzDiagnosisKey,
    /// Sightings of its identifiers accepted.
    pub sightings: u64,
    /// The first, Unix seconds.
    pub first_unix_seconds: u64,
    /// The last, Unix seconds.
    pub last_unix_seconds: u64,
    /// The least attenuation heard, dB.
    pub min_attenuation_db: u8,
}

fn state(detail: &str) -> Failure {
    Failure::new(BzStatus::InvalidState, detail)
}

/// A new matcher with the default rules (Google's matching rules, the default risk
/// configuration and the F1 rule of "about 2 m for 15 minutes").
///
/// # Safety
/// `out` points to a writable `bz_matcher *`, which receives the handle (NULL on failure).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_matcher_new(out: *mut *mut BzMatcher) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { output(out, "out") }?;
        let risk = RiskConfig::default();
        let config = risk.match_config(MatchConfig::default());
        let matcher = BzMatcher {
            sightings: Vec::new(),
            newest: 0,
            index: None,
            config,
            risk,
            run: Checkpoint::default(),
            verdict: None,
        };
        put(out, Box::into_raw(Box::new(matcher)))
    })
}

fn add_sightings(
    matcher: &mut BzMatcher,
    sightings: impl IntoIterator<Item = GaenSighting>,
) -> Outcome {
    if matcher.index.is_some() {
        return Err(state("sightings must all be added before the first keys"));
    }
    for sighting in sightings {
        matcher.newest = matcher.newest.max(sighting.unix_seconds);
        matcher.sightings.push(sighting);
    }
    Ok(BzStatus::Ok)
}

/// Adds `count` sightings. All sightings come before the first keys.
///
/// # Safety
/// `matcher` is a handle from `bz_matcher_new`; `sightings` points to `count` readable
/// `bz_gaen_sighting`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_matcher_add_sightings(
    matcher: *mut BzMatcher,
    sightings: *const BzGaenSighting,
    count: usize,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (matcher, sightings) = unsafe {
            (
                output(matcher, "matcher")?,
                slice(sightings, count, "sightings")?,
            )
        };
        add_sightings(matcher, sightings.iter().map(gaen_sighting))
    })
}

/// Adds the GAEN sightings at `path`: an encounter-log folder, or a CSV file
/// `unix_seconds,rpi,aem,rssi`. Damage anywhere in the log, or a bad CSV line, is
/// `BZ_STATUS_MALFORMED` and adds nothing. All sightings come before the first keys.
///
/// # Safety
/// `matcher` is a handle from `bz_matcher_new`; `path` a NUL-terminated UTF-8 string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_matcher_add_encounters(
    matcher: *mut BzMatcher,
    path: *const c_char,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (matcher, path) = unsafe { (output(matcher, "matcher")?, text(path, "path")?) };
        if matcher.index.is_some() {
            return Err(state("sightings must all be added before the first keys"));
        }
        let found = bluezone::encounter::source::gaen_sightings(Path::new(path)).map_err(|e| {
            let status = match e {
                bluezone::encounter::source::SourceError::Io { .. } => BzStatus::Io,
                _ => BzStatus::Malformed,
            };
            Failure::new(status, e)
        })?;
        add_sightings(matcher, found)
    })
}

fn match_keys(
    matcher: &mut BzMatcher,
    keys: &[bluezone::gaen::DiagnosisKey],
    invalid: &[bluezone::export::ExportError],
) -> Outcome {
    let index = match matcher.index.take() {
        Some(index) => index,
        None => LogIndex::new(
            core::mem::take(&mut matcher.sightings),
            matcher.config.tolerance_intervals,
        ),
    };
    let engine = Matcher::new(&index, matcher.config);
    let mut run = MatchRun::new(&engine);
    run.restore(core::mem::take(&mut matcher.run));
    for error in invalid {
        run.reject(error);
    }
    run.add(keys);
    matcher.run = run.into_checkpoint();
    matcher.index = Some(index);
    matcher.verdict = None;
    Ok(BzStatus::Ok)
}

/// Matches `count` keys, in publication order, after every key added before: a key is
/// matched once, and a later copy of it only changes its report type (as Google's engine
/// does). Every key is checked first; one out of range refuses the whole batch with
/// `BZ_STATUS_INVALID_ARGUMENT`, naming it, and nothing is matched.
///
/// # Safety
/// `matcher` is a handle from `bz_matcher_new`; `keys` points to `count` readable
/// `bz_diagnosis_key`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_matcher_add_keys(
    matcher: *mut BzMatcher,
    keys: *const BzDiagnosisKey,
    count: usize,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (matcher, keys) = unsafe { (output(matcher, "matcher")?, slice(keys, count, "keys")?) };
        let keys = keys
            .iter()
            .enumerate()
            .map(|(n, key)| {
                key.key().map_err(|e| {
                    Failure::new(
                        e.status,
                        format_args!("key {n} of the batch: {}", DetailOf(&e)),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        match_keys(matcher, &keys, &[])
    })
}

/// Shows a failure's detail inside another message.
struct DetailOf<'a>(&'a Failure);

impl core::fmt::Display for DetailOf<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.0.detail())
    }
}

/// Matches every key of an opened export file, after every key added before, and counts its
/// keys the protocol does not allow as the command line does. `BZ_STATUS_NOT_AUTHENTIC` when
/// the file's keys are withheld. It does not move the file's `bz_export_next_key` cursor.
///
/// # Safety
/// `matcher` is a handle from `bz_matcher_new`, `export` one from `bz_export_open`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_matcher_add_export(
    matcher: *mut BzMatcher,
    export: *const BzExport,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (matcher, export) = unsafe { (output(matcher, "matcher")?, input(export, "export")?) };
        let (keys, invalid) = export.released_keys()?;
        match_keys(matcher, keys, invalid)
    })
}

/// The verdict on every key added so far, as of `now_unix_seconds` (0: the newest
/// sighting's time). It also fixes the list `bz_matcher_match` reads.
///
/// # Safety
/// `matcher` is a handle from `bz_matcher_new`; `out` points to a writable `bz_verdict`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_matcher_verdict(
    matcher: *mut BzMatcher,
    now_unix_seconds: u64,
    out: *mut BzVerdict,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (matcher, out) = unsafe { (output(matcher, "matcher")?, output(out, "out")?) };
        let now = match now_unix_seconds {
            0 => matcher.newest,
            now => now,
        };
        let outcome = matcher.run.outcome();
        let report = assess(&outcome, &matcher.risk, now);
        let verdict = BzVerdict::of(
            (report.f1.f1, &report.f1.days),
            report.exposure_windows.len(),
            now,
            (outcome.keys_total, outcome.keys_matched),
        );
        matcher.verdict = Some((outcome, report));
        put(out, verdict)
    })
}

/// The `index`-th matched key (0 to `keys_matched` − 1, ordered by key bytes) of the last
/// `bz_matcher_verdict`.
///
/// # Safety
/// `matcher` is a handle from `bz_matcher_new`; `out` points to a writable `bz_match`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_matcher_match(
    matcher: *const BzMatcher,
    index: usize,
    out: *mut BzMatch,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (matcher, out) = unsafe { (input(matcher, "matcher")?, output(out, "out")?) };
        let (outcome, _) = matcher
            .verdict
            .as_ref()
            .ok_or_else(|| state("call bz_matcher_verdict first"))?;
        let m = outcome.matches.get(index).ok_or_else(|| {
            Failure::new(
                BzStatus::InvalidArgument,
                format_args!("match {index} of {}", outcome.matches.len()),
            )
        })?;
        put(
            out,
            BzMatch {
                key: BzDiagnosisKey::of(&m.key),
                sightings: m.sightings.len() as u64,
                first_unix_seconds: m.sightings.first().map_or(0, |s| s.unix_seconds),
                last_unix_seconds: m.sightings.last().map_or(0, |s| s.unix_seconds),
                min_attenuation_db: m.sightings.iter().map(|s| s.attenuation).min().unwrap_or(0),
            },
        )
    })
}

/// Frees a matcher; NULL is ignored.
///
/// # Safety
/// `matcher` is NULL or a handle from `bz_matcher_new` not freed before and not used after.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_matcher_free(matcher: *mut BzMatcher) {
    if !matcher.is_null() {
        // SAFETY: a handle from `Box::into_raw` in `bz_matcher_new`, freed once.
        drop(unsafe { Box::from_raw(matcher) });
    }
}
