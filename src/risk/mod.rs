//! Exposure risk: from matched sightings to exposure windows, scores and an F1 warning
//! (spec `spec/risk.md`).
//!
//! * [`windows`]: scan instances and 30-minute exposure windows as Google's engine builds them.
//! * [`scoring`]: v2 daily summaries and v1 exposure-configuration scores.
//! * [`check`]: [`check_exposure`], from export files and sightings to this report in one call
//!   (feature `export`).
//! * [`F1Rule`]: Bluezone's "within about 2 m for 15 minutes in one day" on GAEN windows.

#[cfg(feature = "export")]
pub mod check;
pub mod scoring;
pub mod windows;

use alloc::vec::Vec;

#[cfg(feature = "export")]
pub use check::{CheckError, CheckSettings, ExposureReport, FileCheck, check_exposure};
pub use scoring::{
    DailySummariesConfig, DailySummary, DurationBoundaries, ExposureConfigurationV1, ExposureV1,
};
pub use windows::{
    ExposureWindow, Infectiousness, RiskConfigError, ScanInstance, WindowConfig, WindowCut,
};

use crate::gaen::ReportType;
use crate::matching::MatchOutcome;

/// The F1 rule on exposure windows (spec §risk.4): at least `min_daily_seconds` of scans whose
/// typical attenuation is at most `attenuation_threshold_db`, summed over all keys, in one UTC
/// day of the last `lookback_days` days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
pub struct F1Rule {
    /// "About 2 m": 55 dB by default (spec §risk.4.1 gives the calibration and its
    /// uncertainty).
    pub attenuation_threshold_db: u8,
    /// 15 minutes.
    pub min_daily_seconds: u64,
    /// 14 days.
    pub lookback_days: u64,
}

impl Default for F1Rule {
    fn default() -> Self {
        Self {
            attenuation_threshold_db: 55,
            min_daily_seconds: 15 * 60,
            lookback_days: 14,
        }
    }
}

/// One day's close contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct F1Day {
    /// The UTC day (days since the epoch).
    pub unix_day: u64,
    /// Seconds of scans at or below the threshold.
    pub close_seconds: u64,
    /// Seconds of all scans.
    pub total_seconds: u64,
    /// The least typical attenuation seen that day, dB.
    pub closest_attenuation_db: u8,
}

/// The F1 decision with its evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct F1Verdict {
    /// Whether some day reaches the rule.
    pub f1: bool,
    /// Every day of the look-back with an exposure window, in day order.
    pub days: Vec<F1Day>,
}

impl F1Rule {
    /// Applies the rule to `windows` as of `today` (days since the epoch). Revoked keys'
    /// windows do not count.
    #[must_use]
    pub fn decide(&self, windows: &[ExposureWindow], today: u64) -> F1Verdict {
        let mut days: Vec<F1Day> = Vec::new();
        for window in windows
            .iter()
            .filter(|w| w.report_type != ReportType::Revoked)
        {
            for scan in &window.scan_instances {
                let day = scan.unix_seconds / 86_400;
                if day > today || today - day >= self.lookback_days {
                    continue;
                }
                let seconds = u64::from(scan.seconds_since_last_scan);
                let close = scan.typical_attenuation_db <= self.attenuation_threshold_db;
                let record = match days.iter_mut().find(|d| d.unix_day == day) {
                    Some(record) => record,
                    None => {
                        days.push(F1Day {
                            unix_day: day,
                            close_seconds: 0,
                            total_seconds: 0,
                            closest_attenuation_db: u8::MAX,
                        });
                        match days.last_mut() {
                            Some(record) => record,
                            None => continue,
                        }
                    }
                };
                record.total_seconds += seconds;
                record.close_seconds += if close { seconds } else { 0 };
                record.closest_attenuation_db = record
                    .closest_attenuation_db
                    .min(scan.typical_attenuation_db);
            }
        }
        days.sort_by_key(|d| d.unix_day);
        F1Verdict {
            f1: days
                .iter()
                .any(|d| d.close_seconds >= self.min_daily_seconds),
            days,
        }
    }
}

/// Every risk setting, as `bluezone match --risk-config` reads it (JSON; missing fields take
/// their defaults).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
pub struct RiskConfig {
    /// How windows are built.
    pub windows: WindowConfig,
    /// v2 daily summaries.
    pub daily_summaries: DailySummariesConfig,
    /// v1 scores.
    pub v1: ExposureConfigurationV1,
    /// The F1 rule.
    pub f1: F1Rule,
}

impl RiskConfig {
    /// Checks every part.
    ///
    /// # Errors
    /// The first [`RiskConfigError`].
    pub fn validate(&self) -> Result<(), RiskConfigError> {
        self.windows.validate()?;
        self.daily_summaries.validate()?;
        self.v1.validate()
    }
}

/// Windows, daily summaries and the F1 verdict of one match outcome.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RiskReport {
    /// Every key's windows, ordered by start (the API shuffles them to hide which key each
    /// came from; here they stay in order for inspection).
    pub exposure_windows: Vec<ExposureWindow>,
    /// v2 daily summaries.
    pub daily_summaries: Vec<DailySummary>,
    /// The F1 verdict.
    pub f1: F1Verdict,
}

/// Assesses a match outcome as of `now_unix_seconds`.
#[must_use]
pub fn assess(outcome: &MatchOutcome, config: &RiskConfig, now_unix_seconds: u64) -> RiskReport {
    let mut exposure_windows: Vec<ExposureWindow> = outcome
        .matches
        .iter()
        .flat_map(|m| windows::exposure_windows(&m.key, &m.sightings, &config.windows))
        .collect();
    exposure_windows.sort_by_key(|w| w.start_unix_seconds);
    let today = now_unix_seconds / 86_400;
    RiskReport {
        daily_summaries: scoring::daily_summaries(
            &exposure_windows,
            &config.daily_summaries,
            today,
        ),
        f1: config.f1.decide(&exposure_windows, today),
        exposure_windows,
    }
}
