//! v2 daily summaries and v1 exposure-configuration scores (spec §risk.2, §risk.3).

use alloc::vec::Vec;

use super::windows::{ExposureWindow, Infectiousness, RiskConfigError};
use crate::gaen::{DiagnosisKey, ReportType};
use crate::matching::MatchedSighting;

/// v2 daily-summary weights (the `DailySummariesConfig` of the API).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
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

    /// `Σ seconds_since_last_scan × attenuation weight of the scan's typical attenuation`.
    #[must_use]
    pub fn weighted_duration(&self, window: &ExposureWindow) -> f64 {
        window
            .scan_instances
            .iter()
            .map(|s| {
                f64::from(s.seconds_since_last_scan)
                    * self
                        .attenuation_weights
                        .get(self.bucket(s.typical_attenuation_db))
                        .copied()
                        .unwrap_or(0.0)
            })
            .sum()
    }

    /// The window's score, or `None` for a report type daily summaries leave out (REVOKED,
    /// UNKNOWN) or an infectiousness of none.
    #[must_use]
    pub fn window_score(&self, window: &ExposureWindow) -> Option<f64> {
        let report = match window.report_type {
            ReportType::ConfirmedTest => 0,
            ReportType::ConfirmedClinicalDiagnosis => 1,
            ReportType::SelfReport => 2,
            ReportType::Recursive => 3,
            ReportType::Revoked | ReportType::Unknown => return None,
        };
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
}

/// Daily summaries of `windows` as of `today` (days since the epoch), in day order.
#[must_use]
pub fn daily_summaries(
    windows: &[ExposureWindow],
    config: &DailySummariesConfig,
    today: u64,
) -> Vec<DailySummary> {
    let mut days: Vec<DailySummary> = Vec::new();
    for window in windows {
        if config.days_since_exposure_threshold > 0
            && today.saturating_sub(window.unix_day)
                > u64::from(config.days_since_exposure_threshold)
        {
            continue;
        }
        let Some(score) = config.window_score(window) else {
            continue;
        };
        if score < config.minimum_window_score {
            continue;
        }
        let weighted = config.weighted_duration(window);
        match days.iter_mut().find(|d| d.unix_day == window.unix_day) {
            Some(day) => {
                day.score_sum += score;
                day.maximum_score = day.maximum_score.max(score);
                day.weighted_duration_sum += weighted;
            }
            None => days.push(DailySummary {
                unix_day: window.unix_day,
                score_sum: score,
                maximum_score: score,
                weighted_duration_sum: weighted,
            }),
        }
    }
    days.sort_by_key(|d| d.unix_day);
    days
}

/// How v1 attenuation durations treat a value equal to a threshold (spec §risk.3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum DurationBoundaries {
    /// Google's published code: below `t0`, then `t0 ≤ a < t1`, then `≥ t1`; no cap.
    #[default]
    GoogleCode,
    /// Apple's documentation: `≤ t0`, then `t0 < a ≤ t1`, then `> t1`; each bucket capped
    /// at 30 minutes.
    AppleDocumentation,
}

/// The v1 `ExposureConfiguration`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
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

/// `round(Σ attenuation · dt / Σ dt)` over the points `(time, attenuation)` with a virtual
/// point half a scan interval before the first and after the last; each period carries the
/// attenuation of its left point (spec §risk.3.2).
#[must_use]
pub fn weighted_attenuation(points: &[(u64, u8)], scan_interval_seconds: u64) -> u8 {
    let (Some(&(_, first_att)), Some(&(_, last_att))) = (points.first(), points.last()) else {
        return 0;
    };
    let half = scan_interval_seconds / 2;
    let mut weighted = u64::from(first_att) * half;
    let mut total = half;
    for pair in points.windows(2) {
        if let [(t0, a0), (t1, _)] = pair {
            weighted += u64::from(*a0) * (t1 - t0);
            total += t1 - t0;
        }
    }
    weighted += u64::from(last_att) * half;
    total += half;
    u8::try_from((2 * weighted + total) / (2 * total).max(1)).unwrap_or(u8::MAX)
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

    /// The v1 exposures of one matched key as of `now_unix_seconds` (spec §risk.3).
    #[must_use]
    pub fn exposures(
        &self,
        key: &DiagnosisKey,
        sightings: &[MatchedSighting],
        now_unix_seconds: u64,
    ) -> Vec<ExposureV1> {
        // One record per scan: sightings within 25.5 s of the previous one, least attenuation.
        let mut sorted: Vec<(u64, u8)> = sightings
            .iter()
            .map(|s| (s.unix_seconds, s.attenuation))
            .collect();
        sorted.sort_unstable();
        let mut scans: Vec<(u64, u8)> = Vec::new();
        let mut previous: Option<u64> = None;
        for (t, a) in sorted {
            match (previous, scans.last_mut()) {
                (Some(p), Some(last)) if (t - p) * 10 <= 255 => last.1 = last.1.min(a),
                _ => scans.push((t, a)),
            }
            previous = Some(t);
        }
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
        for run in scans.chunk_by(|a, b| b.0 - a.0 <= 600) {
            let (Some(&(first, _)), Some(&(last, _))) = (run.first(), run.last()) else {
                continue;
            };
            let raw = last - first + 300;
            let duration = raw / 300 * 300 + if raw % 300 > 150 { 300 } else { 0 };
            let attenuation = weighted_attenuation(run, 300);
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
                attenuation_durations_seconds: self.attenuation_durations(run),
                risk_score: if score < self.minimum_risk_score {
                    0
                } else {
                    score
                },
            });
        }
        exposures
    }

    fn attenuation_durations(&self, run: &[(u64, u8)]) -> [u64; 3] {
        let [t0, t1] = self.duration_at_attenuation_thresholds;
        let mut out = [0u64; 3];
        let mut add = |attenuation: u8, seconds: u64| {
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
        };
        let (Some(&(_, first)), Some(&(_, last))) = (run.first(), run.last()) else {
            return out;
        };
        add(first, 150);
        for pair in run.windows(2) {
            if let [(a, att), (b, _)] = pair {
                add(*att, b - a);
            }
        }
        add(last, 150);
        if self.boundaries == DurationBoundaries::AppleDocumentation {
            for slot in &mut out {
                *slot = (*slot).min(30 * 60);
            }
        }
        out
    }
}
