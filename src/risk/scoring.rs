//! v2 daily summaries and v1 exposure-configuration scores (spec §risk.2, §risk.3).

use alloc::vec::Vec;

use super::windows::{ExposureWindow, Infectiousness, RiskConfigError};
use crate::gaen::{DiagnosisKey, ReportType};
use crate::matching::MatchedSighting;

/// Seconds as a float for weighting: a day's scans are far fewer than 2^52 seconds.
#[expect(clippy::cast_precision_loss, reason = "exact below 2^52 seconds")]
const fn seconds_as_f64(seconds: u64) -> f64 {
    seconds as f64
}

/// v2 daily-summary weights (the `DailySummariesConfig` of the API).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct DailySummariesConfig {
    /// Attenuation thresholds, strictly increasing: immediate ≤ t0 < near ≤ t1 < medium ≤ t2 < other.
    pub attenuation_thresholds: [u8; 3],
    /// Weights of the immediate, near, medium and other buckets, 0..=2.5.
    pub attenuation_weights: [f64; 4],
    /// Weights of CONFIRMED_TEST, CONFIRMED_CLINICAL_DIAGNOSIS, SELF_REPORT, RECURSIVE.
    pub report_type_weights: [f64; 4],
    /// Weights of standard and high infectiousness.
    pub infectiousness_weights: [f64; 2],
    /// Windows scoring less are left out.
    pub minimum_window_score: f64,
    /// Windows older than this many days are left out; 0 keeps all.
    pub days_since_exposure_threshold: u32,
}

impl Default for DailySummariesConfig {
    /// The API's defaults: every weight 0 until set. Thresholds 55, 63, 70 dB are this crate's
    /// choice (spec §risk.2); set all the values a health authority publishes.
    fn default() -> Self {
        Self {
            attenuation_thresholds: [55, 63, 70],
            attenuation_weights: [0.0; 4],
            report_type_weights: [0.0; 4],
            infectiousness_weights: [0.0; 2],
            minimum_window_score: 0.0,
            days_since_exposure_threshold: 0,
        }
    }
}

impl DailySummariesConfig {
    /// Checks thresholds and weights.
    ///
    /// # Errors
    /// [`RiskConfigError`].
    pub fn validate(&self) -> Result<(), RiskConfigError> {
        let [a, b, c] = self.attenuation_thresholds;
        if !(a < b && b < c) {
            return Err(RiskConfigError::Thresholds);
        }
        let weights = self
            .attenuation_weights
            .iter()
            .chain(&self.report_type_weights)
            .chain(&self.infectiousness_weights);
        if weights.clone().any(|w| !(0.0..=2.5).contains(w)) || self.minimum_window_score.is_nan() {
            return Err(RiskConfigError::Weight);
        }
        Ok(())
    }

    fn bucket(&self, attenuation: u8) -> usize {
        self.attenuation_thresholds
            .iter()
            .position(|t| attenuation <= *t)
            .unwrap_or(3)
    }

    /// `Σ seconds_since_last_scan × attenuation weight of the scan's typical attenuation`,
    /// summed as Google's engine sums it (spec §risk.2): whole seconds per bucket first, then
    /// each bucket's seconds times its weight, in bucket order, so that the floating-point
    /// result is the same to the last bit.
    #[must_use]
    pub fn weighted_duration(&self, window: &ExposureWindow) -> f64 {
        let mut seconds = [0u64; 4];
        for scan in &window.scan_instances {
            if let Some(slot) = seconds.get_mut(self.bucket(scan.typical_attenuation_db)) {
                *slot += u64::from(scan.seconds_since_last_scan);
            }
        }
        seconds
            .iter()
            .zip(&self.attenuation_weights)
            .fold(0.0, |sum, (&s, w)| sum + seconds_as_f64(s) * w)
    }

    /// The window's score, or `None` for a report type daily summaries leave out (REVOKED,
    /// UNKNOWN) or an infectiousness of none.
    #[must_use]
    pub fn window_score(&self, window: &ExposureWindow) -> Option<f64> {
        let report = report_index(window.report_type)?;
        let infectiousness = match window.infectiousness {
            Infectiousness::None => return None,
            Infectiousness::Standard => 0,
            Infectiousness::High => 1,
        };
        Some(
            self.weighted_duration(window)
                * self.report_type_weights.get(report).copied().unwrap_or(0.0)
                * self
                    .infectiousness_weights
                    .get(infectiousness)
                    .copied()
                    .unwrap_or(0.0),
        )
    }
}

/// Scores of one day's windows (of one report type, or of all).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SummaryData {
    /// Sum of the window scores.
    pub score_sum: f64,
    /// Highest window score.
    pub maximum_score: f64,
    /// Sum of the windows' weighted durations, seconds.
    pub weighted_duration_sum: f64,
}

impl SummaryData {
    fn add(&mut self, score: f64, weighted: f64) {
        self.score_sum += score;
        self.maximum_score = self.maximum_score.max(score);
        self.weighted_duration_sum += weighted;
    }
}

/// One UTC day's summary.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DailySummary {
    /// The day (days since the epoch).
    pub unix_day: u64,
    /// Sum of the day's window scores.
    pub score_sum: f64,
    /// Highest window score.
    pub maximum_score: f64,
    /// Sum of the windows' weighted durations, seconds.
    pub weighted_duration_sum: f64,
    /// The same per report type: CONFIRMED_TEST, CONFIRMED_CLINICAL_DIAGNOSIS, SELF_REPORT,
    /// RECURSIVE (the API's `getSummaryDataForReportType`).
    pub by_report_type: [SummaryData; 4],
}

/// Daily summaries of `windows` as of `today` (days since the epoch), in day order, as
/// Google's `DailySummaryUtils` builds them (spec §risk.2): a day with a returnable window
/// within the look-back is reported even when every window scores below the minimum, with
/// zeros.
#[must_use]
pub fn daily_summaries(
    windows: &[ExposureWindow],
    config: &DailySummariesConfig,
    today: u64,
) -> Vec<DailySummary> {
    let mut days: Vec<DailySummary> = Vec::new();
    for window in windows {
        let Some(report) = report_index(window.report_type) else {
            continue;
        };
        if config.days_since_exposure_threshold > 0
            && today.saturating_sub(window.unix_day)
                > u64::from(config.days_since_exposure_threshold)
        {
            continue;
        }
        let at = match days.iter().position(|d| d.unix_day == window.unix_day) {
            Some(at) => at,
            None => {
                days.push(DailySummary {
                    unix_day: window.unix_day,
                    score_sum: 0.0,
                    maximum_score: 0.0,
                    weighted_duration_sum: 0.0,
                    by_report_type: [SummaryData::default(); 4],
                });
                days.len() - 1
            }
        };
        let Some(score) = config.window_score(window) else {
            continue;
        };
        if score < config.minimum_window_score {
            continue;
        }
        let weighted = config.weighted_duration(window);
        if let Some(slot) = days
            .get_mut(at)
            .and_then(|d| d.by_report_type.get_mut(report))
        {
            slot.add(score, weighted);
        }
    }
    for day in &mut days {
        // The day's figures from its report types', in their order, as Google adds them.
        let mut all = SummaryData::default();
        for report in &day.by_report_type {
            all.score_sum += report.score_sum;
            all.maximum_score = all.maximum_score.max(report.maximum_score);
            all.weighted_duration_sum += report.weighted_duration_sum;
        }
        day.score_sum = all.score_sum;
        day.maximum_score = all.maximum_score;
        day.weighted_duration_sum = all.weighted_duration_sum;
    }
    days.sort_by_key(|d| d.unix_day);
    days
}

/// The index of a report type returned to apps in daily summaries (REVOKED and UNKNOWN are
/// not).
const fn report_index(report_type: ReportType) -> Option<usize> {
    match report_type {
        ReportType::ConfirmedTest => Some(0),
        ReportType::ConfirmedClinicalDiagnosis => Some(1),
        ReportType::SelfReport => Some(2),
        ReportType::Recursive => Some(3),
        ReportType::Revoked | ReportType::Unknown => None,
    }
}

/// How v1 attenuation durations treat a value equal to a threshold (spec §risk.3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum DurationBoundaries {
    /// Google's published code: below `t0`, then `t0 ≤ a < t1`, then `≥ t1`.
    #[default]
    GoogleCode,
    /// Apple's documentation: `≤ t0`, then `t0 < a ≤ t1`, then `> t1`.
    AppleDocumentation,
}

/// The v1 `ExposureConfiguration`. Its defaults are those of Google's
/// `ExposureConfiguration.ExposureConfigurationBuilder`: minimum risk score 4, every score 4,
/// duration thresholds 50 and 74 dB (spec §risk.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct ExposureConfigurationV1 {
    /// Risk scores below this become 0 (1..=4096; the builder's default is 4).
    pub minimum_risk_score: u32,
    /// Scores 0..=8 for attenuation buckets `>73, >63, >51, >33, >27, >15, >10, else`.
    pub attenuation_scores: [u8; 8],
    /// Scores for days since the key's rolling start `≥14, ≥12, ≥10, ≥8, ≥6, ≥4, ≥2, else`.
    pub days_since_last_exposure_scores: [u8; 8],
    /// Scores for durations `≤0, ≤5, ≤10, ≤15, ≤20, ≤25, ≤30, else` minutes.
    pub duration_scores: [u8; 8],
    /// Scores for transmission risk levels 1..=8 (level 0 scores a literal 1).
    pub transmission_risk_scores: [u8; 8],
    /// Thresholds of the attenuation durations, `t0 ≤ t1` (default 50, 74).
    pub duration_at_attenuation_thresholds: [u8; 2],
    /// Boundary convention of the attenuation durations.
    pub boundaries: DurationBoundaries,
}

impl Default for ExposureConfigurationV1 {
    fn default() -> Self {
        Self {
            minimum_risk_score: 4,
            attenuation_scores: [4; 8],
            days_since_last_exposure_scores: [4; 8],
            duration_scores: [4; 8],
            transmission_risk_scores: [4; 8],
            duration_at_attenuation_thresholds: [50, 74],
            boundaries: DurationBoundaries::GoogleCode,
        }
    }
}

/// One v1 exposure: a run of one key's scans without a gap over 10 minutes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ExposureV1 {
    /// First scan of the run, Unix seconds.
    pub start_unix_seconds: u64,
    /// Duration, seconds, rounded to 5 minutes.
    pub duration_seconds: u64,
    /// Time-weighted attenuation, dB.
    pub weighted_attenuation_db: u8,
    /// Seconds below `t0`, between, and above `t1` (per the boundary convention).
    pub attenuation_durations_seconds: [u64; 3],
    /// The product of the four scores, 0 below the minimum.
    pub risk_score: u32,
}

/// The v1 result of one matched key (Google's `ExposureResult`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct KeyRiskV1 {
    /// The key's 16 bytes.
    #[cfg_attr(feature = "serde", serde(serialize_with = "tek_hex"))]
    pub tek: [u8; 16],
    /// Its exposures.
    pub exposures: Vec<ExposureV1>,
    /// The highest exposure risk score.
    pub maximum_risk_score: u32,
    /// The sum of the exposure risk scores.
    pub total_risk_score: u32,
    /// The exposures' attenuation durations added up, seconds.
    pub attenuation_durations_seconds: [u64; 3],
}

#[cfg(feature = "serde")]
fn tek_hex<S: serde::Serializer>(bytes: &[u8; 16], serializer: S) -> Result<S::Ok, S::Error> {
    crate::bytes::serialize_hex(bytes, false, serializer)
}

/// The v1 `ExposureSummary` over every matched key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ExposureSummaryV1 {
    /// Keys with at least one exposure.
    pub matched_key_count: u64,
    /// Days from the newest such key's rolling start to now.
    pub days_since_last_exposure: u64,
    /// The highest risk score of any key.
    pub maximum_risk_score: u32,
    /// The sum of every key's risk scores.
    pub summation_risk_score: u32,
    /// The keys' attenuation durations added up, in minutes, each capped at 30 (as Google's
    /// and Apple's documentation of the summary both state).
    pub attenuation_durations_minutes: [u64; 3],
}

/// The v1 figures of a match outcome: per key and the summary.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RiskV1 {
    /// Every matched key with an exposure (REVOKED keys are never scored), ordered by key.
    pub keys: Vec<KeyRiskV1>,
    /// The summary.
    pub summary: ExposureSummaryV1,
}

/// The periods between consecutive points, with a virtual point half a scan interval before
/// the first and after the last, each carrying its left point's attenuation; a point at the
/// same time as the one before it adds no period and does not move the left point (Google's
/// `computePeriods`, spec §risk.3.2).
fn periods(points: &[(u64, u8)], scan_interval_seconds: u64) -> Vec<(u8, u64)> {
    let (Some(&(first_t, first_a)), Some(&(last_t, last_a))) = (points.first(), points.last())
    else {
        return Vec::new();
    };
    let half = scan_interval_seconds / 2;
    let mut out = Vec::with_capacity(points.len() + 1);
    // Times shifted by `half` so that the virtual first point sits at 0.
    let mut previous = (0u64, first_a);
    let shifted = points
        .iter()
        .map(|&(t, a)| (t - first_t + half, a))
        .chain(core::iter::once((last_t - first_t + 2 * half, last_a)));
    for (t, a) in shifted {
        if t == previous.0 {
            continue;
        }
        out.push((previous.1, t - previous.0));
        previous = (t, a);
    }
    out
}

/// `round(Σ attenuation · dt / Σ dt)` over the periods of the points `(time, attenuation)`,
/// in time order (spec §risk.3.2); half rounds up, as Java's `Math.round`.
#[must_use]
pub fn weighted_attenuation(points: &[(u64, u8)], scan_interval_seconds: u64) -> u8 {
    weighted(&periods(points, scan_interval_seconds))
}

fn weighted(periods: &[(u8, u64)]) -> u8 {
    let (sum, total) = periods.iter().fold((0u64, 0u64), |(sum, total), (a, dt)| {
        (sum + u64::from(*a) * dt, total + dt)
    });
    if total == 0 {
        return 0;
    }
    u8::try_from((2 * sum + total) / (2 * total)).unwrap_or(u8::MAX)
}

fn bucket_score(scores: &[u8; 8], index: usize) -> u32 {
    scores.get(index).copied().map_or(0, u32::from)
}

impl ExposureConfigurationV1 {
    /// Checks the scores and thresholds.
    ///
    /// # Errors
    /// [`RiskConfigError`].
    pub fn validate(&self) -> Result<(), RiskConfigError> {
        let scores = [
            &self.attenuation_scores,
            &self.days_since_last_exposure_scores,
            &self.duration_scores,
            &self.transmission_risk_scores,
        ];
        if scores.iter().any(|s| s.iter().any(|v| *v > 8))
            || !(1..=4096).contains(&self.minimum_risk_score)
        {
            return Err(RiskConfigError::Score);
        }
        let [t0, t1] = self.duration_at_attenuation_thresholds;
        if t0 > t1 {
            return Err(RiskConfigError::Thresholds);
        }
        Ok(())
    }

    /// The v1 exposures of one matched key as of `now_unix_seconds` (spec §risk.3), from its
    /// v1 scans ([`crate::matching::KeyMatch::v1_scans`]: one per scan and identifier, the
    /// loudest, in time order).
    #[must_use]
    pub fn exposures(
        &self,
        key: &DiagnosisKey,
        scans: &[MatchedSighting],
        now_unix_seconds: u64,
    ) -> Vec<ExposureV1> {
        // Time order only, stably: ties keep their order (spec §risk.3.2).
        let mut points: Vec<(u64, u8)> = scans
            .iter()
            .map(|s| (s.unix_seconds, s.attenuation))
            .collect();
        points.sort_by_key(|p| p.0);
        let days =
            now_unix_seconds.saturating_sub(key.window.start().start_unix_seconds()) / 86_400;
        let days_index = [14u64, 12, 10, 8, 6, 4, 2]
            .iter()
            .position(|d| days >= *d)
            .unwrap_or(7);
        let risk_index = usize::from(key.transmission_risk_level);
        let transmission = if risk_index == 0 {
            1
        } else {
            bucket_score(&self.transmission_risk_scores, risk_index - 1)
        };
        let mut exposures = Vec::new();
        for run in points.chunk_by(|a, b| b.0 - a.0 <= 600) {
            let (Some(&(first, _)), Some(&(last, _))) = (run.first(), run.last()) else {
                continue;
            };
            let raw = last - first + 300;
            let duration = raw / 300 * 300 + if raw % 300 > 150 { 300 } else { 0 };
            let periods = periods(run, 300);
            let attenuation = weighted(&periods);
            let attenuation_index = [73u8, 63, 51, 33, 27, 15, 10]
                .iter()
                .position(|t| attenuation > *t)
                .unwrap_or(7);
            let minutes = duration / 60;
            let duration_index = [0u64, 5, 10, 15, 20, 25, 30]
                .iter()
                .position(|m| minutes <= *m)
                .unwrap_or(7);
            let score = bucket_score(&self.attenuation_scores, attenuation_index)
                * bucket_score(&self.days_since_last_exposure_scores, days_index)
                * bucket_score(&self.duration_scores, duration_index)
                * transmission;
            exposures.push(ExposureV1 {
                start_unix_seconds: first,
                duration_seconds: duration,
                weighted_attenuation_db: attenuation,
                attenuation_durations_seconds: self.attenuation_durations(&periods),
                risk_score: if score < self.minimum_risk_score {
                    0
                } else {
                    score
                },
            });
        }
        exposures
    }

    fn attenuation_durations(&self, periods: &[(u8, u64)]) -> [u64; 3] {
        let [t0, t1] = self.duration_at_attenuation_thresholds;
        let mut out = [0u64; 3];
        for &(attenuation, seconds) in periods {
            let bucket = match self.boundaries {
                DurationBoundaries::GoogleCode => {
                    usize::from(attenuation >= t0) + usize::from(attenuation >= t1)
                }
                DurationBoundaries::AppleDocumentation => {
                    usize::from(attenuation > t0) + usize::from(attenuation > t1)
                }
            };
            if let Some(slot) = out.get_mut(bucket) {
                *slot += seconds;
            }
        }
        out
    }

    /// The v1 figures of every matched key and their summary as of `now_unix_seconds`
    /// (spec §risk.3.4). REVOKED keys are never scored.
    #[must_use]
    pub fn assess(&self, outcome: &crate::matching::MatchOutcome, now_unix_seconds: u64) -> RiskV1 {
        let mut report = RiskV1::default();
        let mut newest_start: Option<u64> = None;
        let mut durations = [0u64; 3];
        for m in &outcome.matches {
            if m.key.report_type == ReportType::Revoked {
                continue;
            }
            let exposures = self.exposures(&m.key, &m.v1_scans, now_unix_seconds);
            if exposures.is_empty() {
                continue;
            }
            let mut key = KeyRiskV1 {
                tek: m.key.key_data,
                maximum_risk_score: 0,
                total_risk_score: 0,
                attenuation_durations_seconds: [0; 3],
                exposures,
            };
            for e in &key.exposures {
                key.maximum_risk_score = key.maximum_risk_score.max(e.risk_score);
                key.total_risk_score = key.total_risk_score.saturating_add(e.risk_score);
                for (sum, d) in key
                    .attenuation_durations_seconds
                    .iter_mut()
                    .zip(e.attenuation_durations_seconds)
                {
                    *sum += d;
                }
            }
            let summary = &mut report.summary;
            summary.matched_key_count += 1;
            summary.maximum_risk_score = summary.maximum_risk_score.max(key.maximum_risk_score);
            summary.summation_risk_score = summary
                .summation_risk_score
                .saturating_add(key.total_risk_score);
            for (sum, d) in durations.iter_mut().zip(key.attenuation_durations_seconds) {
                *sum += d;
            }
            let start = m.key.window.start().start_unix_seconds();
            newest_start = Some(newest_start.map_or(start, |n| n.max(start)));
            report.keys.push(key);
        }
        report.summary.days_since_last_exposure =
            newest_start.map_or(0, |s| now_unix_seconds.saturating_sub(s) / 86_400);
        for (minutes, seconds) in report
            .summary
            .attenuation_durations_minutes
            .iter_mut()
            .zip(durations)
        {
            *minutes = (seconds / 60).min(30);
        }
        report
    }
}
