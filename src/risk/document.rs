//! The report of one exposure check as a flat document (spec §risk.5): what
//! `bluezone match --json` prints, and what the language bindings return, so that every
//! caller reads the same fields under the same names.

use std::path::{Path, PathBuf};
use std::vec::Vec;

use super::check::ExposureReport;
use super::{DailySummary, ExposureWindow, F1Day, RiskConfig, RiskV1};
use crate::matching::state::{Rebuilt, StateSummary};
use crate::matching::{KeyMatch, Rejections};

/// The layout version of the JSON documents of the `bluezone` tool, which the language
/// bindings share: each opens with `"schema_version"` and `"command"`. Raised when a field of
/// any command's document changes meaning or goes (2: the demo reports each adoption level).
pub const SCHEMA_VERSION: u32 = 2;

/// An [`ExposureReport`] laid out for people and programs, with the rules it was judged by.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MatchDocument {
    /// "Now" as used for the look-back periods, Unix seconds.
    pub now_unix_seconds: u64,
    /// Each file read, in the order given.
    pub files: Vec<PathBuf>,
    /// Files given more than once: read the first time only.
    pub repeated_files: Vec<PathBuf>,
    /// Sightings later than "now": they count in no look-back period of this report.
    pub sightings_after_now: usize,
    /// With a state: what it skipped and holds.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub state: Option<StateDocument>,
    /// Files matched without being authentic (allowed by the caller).
    pub unauthentic_files: Vec<PathBuf>,
    /// Sightings indexed.
    pub sightings: usize,
    /// Keys read (with a state: over every file it read).
    pub keys_total: u64,
    /// Keys with at least one sighting.
    pub keys_matched: u64,
    /// The matched keys, by key bytes, with their sightings.
    pub matches: Vec<KeyMatch>,
    /// Report-type changes applied to matched keys.
    pub report_type_transitions: u64,
    /// What each rule turned away.
    pub rejected: Rejections,
    /// Every key's exposure windows, ordered by start.
    pub exposure_windows: Vec<ExposureWindow>,
    /// v2 daily summaries.
    pub daily_summaries: Vec<DailySummary>,
    /// Daily-summary weights left at their default of 0 ([`RiskConfig::zero_weights`]).
    pub zero_weights: Vec<&'static str>,
    /// The v1 figures, when the configuration asked for them.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub v1: Option<RiskV1>,
    /// The F1 verdict with its rule.
    pub f1: F1Document,
}

/// What a check with a state did, and the folder it used.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct StateDocument {
    /// The state folder.
    pub dir: PathBuf,
    /// Files the state had read before: skipped whole.
    pub already_read: Vec<PathBuf>,
    /// Keys checked in earlier runs, not derived again.
    pub keys_skipped: u64,
    /// Stored results that were not final and were evaluated again.
    pub rechecked: u64,
    /// Files the state had read before that were not authentic.
    pub already_read_unauthentic: Vec<PathBuf>,
    /// The keys of stored matches that files which were not authentic brought, in this run
    /// or an earlier one (hex).
    pub unauthentic_matches: Vec<std::string::String>,
    /// When the state started over: why, and what it read again.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub rebuilt: Option<Rebuilt>,
    /// What the state holds after the check.
    pub summary: StateSummary,
}

/// The F1 verdict beside the rule that gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct F1Document {
    /// Whether some case reaches the rule on some day.
    pub f1: bool,
    /// The rule's attenuation threshold, dB.
    pub attenuation_threshold_db: u8,
    /// The rule's seconds per day.
    pub min_daily_seconds: u64,
    /// The rule's look-back, days.
    pub lookback_days: u64,
    /// Every (day, case) with an exposure window.
    pub days: Vec<F1Day>,
}

impl ExposureReport {
    /// The report as a document, with `risk` (the configuration the check ran with) and the
    /// state folder, when one was used.
    #[must_use]
    pub fn into_document(self, risk: &RiskConfig, state_dir: Option<&Path>) -> MatchDocument {
        // Files this run read, then files the state had read before, that were not authentic.
        let unauthentic_files = self
            .files
            .iter()
            .filter(|f| !f.summary.authentic())
            .map(|f| f.path.clone())
            .chain(
                self.state
                    .iter()
                    .flat_map(|s| s.already_read_unauthentic.iter().cloned()),
            )
            .collect();
        MatchDocument {
            now_unix_seconds: self.now_unix_seconds,
            files: self.files.iter().map(|f| f.path.clone()).collect(),
            repeated_files: self.repeated_files,
            sightings_after_now: self.sightings_after_now,
            state: self.state.map(|state| StateDocument {
                // Default: a state is reported only with its folder; none gives an empty path.
                dir: state_dir.map(Path::to_path_buf).unwrap_or_default(),
                already_read: state.already_read,
                keys_skipped: state.keys_skipped,
                rechecked: state.rechecked,
                already_read_unauthentic: state.already_read_unauthentic,
                unauthentic_matches: state
                    .unauthentic_matches
                    .iter()
                    .map(|k| std::string::ToString::to_string(&crate::hex::Hex(k)))
                    .collect(),
                rebuilt: state.rebuilt,
                summary: state.summary,
            }),
            unauthentic_files,
            sightings: self.sightings,
            keys_total: self.outcome.keys_total,
            keys_matched: self.outcome.keys_matched,
            matches: self.outcome.matches,
            report_type_transitions: self.outcome.report_type_transitions,
            rejected: self.outcome.rejected,
            exposure_windows: self.risk.exposure_windows,
            daily_summaries: self.risk.daily_summaries,
            zero_weights: risk.zero_weights(),
            v1: self.risk.v1,
            f1: F1Document {
                f1: self.risk.f1.f1,
                attenuation_threshold_db: risk.f1.attenuation_threshold_db,
                min_daily_seconds: risk.f1.min_daily_seconds,
                lookback_days: risk.f1.lookback_days,
                days: self.risk.f1.days,
            },
        }
    }
}
