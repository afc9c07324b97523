//! Exposure risk: from matched sightings to exposure windows, scores and an F1 warning
//! (spec `spec/risk.md`).
//!
//! * [`windows`]: scan instances and 30-minute exposure windows as Google's engine builds them.
//! * [`scoring`]: v2 daily summaries and v1 exposure-configuration scores.
//! * [`check`]: [`check_exposure`], from export files and sightings to this report in one call
//!   (feature `export`), and [`document`], its report as `bluezone match --json` prints it.
//! * [`F1Rule`]: Bluezone's "within about 2 m for 15 minutes in one day" on GAEN windows.
//! * Deployments' own models on the same windows: [`cwa`] (the Corona-Warn-App) and [`nhs`]
//!   (the NHS COVID-19 app, feature `std`), chosen by name through [`model`]; [`api`] reads
//!   windows in the GAEN API's JSON shape (feature `json`).

#[cfg(feature = "json")]
pub mod api;
#[cfg(feature = "export")]
pub mod check;
pub mod cwa;
#[cfg(feature = "export")]
pub mod document;
#[cfg(feature = "std")]
pub mod model;
#[cfg(feature = "std")]
pub mod nhs;
pub mod scoring;
pub mod windows;

use alloc::vec::Vec;

#[cfg(feature = "export")]
pub use check::{
    CheckError, CheckSettings, ExposureReport, FileCheck, InMemoryExport, StateCheck,
    check_exposure, check_exposure_in_memory,
};
#[cfg(feature = "export")]
pub use document::{F1Document, MatchDocument, StateDocument};
pub use scoring::{
    DailySummariesConfig, DailySummary, DurationBoundaries, ExposureConfigurationV1,
    ExposureSummaryV1, ExposureV1, KeyRiskV1, RiskV1, SummaryData,
};
pub use windows::{
    ExposureWindow, Infectiousness, RiskConfigError, ScanInstance, WindowConfig, WindowCut,
};

use crate::gaen::ReportType;
use crate::matching::{MatchConfig, MatchOutcome};

/// The F1 rule on exposure windows (spec §risk.4): at least `min_daily_seconds` of scans whose
/// typical attenuation is at most `attenuation_threshold_db`, of one case (one key), in one UTC
/// day of the last `lookback_days` days, as Bluezone's rule counts per F0 (spec §blid.8.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct F1Rule {
    /// "About 2 m": 70 dB by default, chosen on phones with camera-measured distances under
    /// Google's December 2020 calibration table (spec §risk.4.1 gives the measurement, the
    /// effect of the table in force and the uncertainty).
    pub attenuation_threshold_db: u8,
    /// 15 minutes.
    pub min_daily_seconds: u64,
    /// 14 days.
    pub lookback_days: u64,
}

impl Default for F1Rule {
    fn default() -> Self {
        Self {
            attenuation_threshold_db: 70,
            min_daily_seconds: 15 * 60,
            lookback_days: 14,
        }
    }
}

/// One case's contact on one day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct F1Day {
    /// The UTC day (days since the epoch).
    pub unix_day: u64,
    /// The case's key.
    #[cfg_attr(feature = "serde", serde(serialize_with = "tek_hex"))]
    pub tek: [u8; 16],
    /// Seconds of scans at or below the threshold.
    pub close_seconds: u64,
    /// Seconds of all scans.
    pub total_seconds: u64,
    /// The least typical attenuation seen that day, dB.
    pub closest_attenuation_db: u8,
}

#[cfg(feature = "serde")]
fn tek_hex<S: serde::Serializer>(bytes: &[u8; 16], serializer: S) -> Result<S::Ok, S::Error> {
    crate::bytes::serialize_hex(bytes, false, serializer)
}

/// The F1 decision with its evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct F1Verdict {
    /// Whether some case reaches the rule on some day.
    pub f1: bool,
    /// Every (day, case) of the look-back with an exposure window, in day order, then key.
    pub days: Vec<F1Day>,
}

impl F1Rule {
    /// Applies the rule to each case's windows (the key's 16 bytes with the windows of that
    /// key) as of `today` (days since the epoch). Windows of REVOKED keys do not count.
    #[must_use]
    pub fn decide<'w>(
        &self,
        cases: impl IntoIterator<Item = (&'w [u8; 16], &'w [ExposureWindow])>,
        today: u64,
    ) -> F1Verdict {
        let mut days: Vec<F1Day> = Vec::new();
        for (tek, windows) in cases {
            let from = days.len();
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
                    let at = match days.iter().skip(from).position(|d| d.unix_day == day) {
                        Some(at) => from + at,
                        None => {
                            days.push(F1Day {
                                unix_day: day,
                                tek: *tek,
                                close_seconds: 0,
                                total_seconds: 0,
                                closest_attenuation_db: u8::MAX,
                            });
                            days.len() - 1
                        }
                    };
                    if let Some(record) = days.get_mut(at) {
                        record.total_seconds += seconds;
                        record.close_seconds += if close { seconds } else { 0 };
                        record.closest_attenuation_db = record
                            .closest_attenuation_db
                            .min(scan.typical_attenuation_db);
                    }
                }
            }
        }
        days.sort_by_key(|d| (d.unix_day, d.tek));
        F1Verdict {
            f1: days
                .iter()
                .any(|d| d.close_seconds >= self.min_daily_seconds),
            days,
        }
    }
}

/// Every risk setting, as `bluezone match --risk-config` reads it (JSON; missing fields take
/// their defaults, and an unknown field is an error that names it).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct RiskConfig {
    /// How windows are built.
    pub windows: WindowConfig,
    /// v2 daily summaries.
    pub daily_summaries: DailySummariesConfig,
    /// v1 scores, computed when present (`"v1": {}` takes the builder's defaults).
    pub v1: Option<ExposureConfigurationV1>,
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
        if self.f1.lookback_days == 0 {
            return Err(RiskConfigError::LookBack);
        }
        self.v1
            .as_ref()
            .map_or(Ok(()), ExposureConfigurationV1::validate)
    }

    /// The matching rules `matching` with the one rule this configuration shares with them: a
    /// key published without a report type is judged by report-type transitions as windows
    /// judge it, `windows.report_type_when_missing` (spec §match.6, §risk.2). Every caller that
    /// matches for a verdict builds its rules here, so the two cannot disagree.
    ///
    /// ```
    /// use bluezone::gaen::ReportType;
    /// use bluezone::matching::MatchConfig;
    /// use bluezone::risk::RiskConfig;
    ///
    /// let mut risk = RiskConfig::default();
    /// risk.windows.report_type_when_missing = ReportType::SelfReport;
    /// let rules = risk.match_config(MatchConfig::default());
    /// assert_eq!(rules.report_type_when_missing, ReportType::SelfReport);
    /// assert_eq!(rules.tolerance_intervals, MatchConfig::default().tolerance_intervals);
    /// ```
    #[must_use]
    pub const fn match_config(&self, matching: MatchConfig) -> MatchConfig {
        MatchConfig {
            report_type_when_missing: self.windows.report_type_when_missing,
            ..matching
        }
    }

    /// The daily-summary weights left at 0, by their configuration names: the API's default
    /// for every weight is 0, so a configuration that forgets one scores every window 0
    /// (spec §risk.2). Empty when every weight is set.
    #[must_use]
    pub fn zero_weights(&self) -> Vec<&'static str> {
        const ATTENUATION: [&str; 4] = [
            "attenuation_weights[0] (immediate)",
            "attenuation_weights[1] (near)",
            "attenuation_weights[2] (medium)",
            "attenuation_weights[3] (other)",
        ];
        const REPORT: [&str; 4] = [
            "report_type_weights[0] (confirmed test)",
            "report_type_weights[1] (confirmed clinical diagnosis)",
            "report_type_weights[2] (self report)",
            "report_type_weights[3] (recursive)",
        ];
        const INFECTIOUSNESS: [&str; 2] = [
            "infectiousness_weights[0] (standard)",
            "infectiousness_weights[1] (high)",
        ];
        let c = &self.daily_summaries;
        let zero = |w: &f64| *w == 0.0;
        ATTENUATION
            .iter()
            .zip(&c.attenuation_weights)
            .chain(REPORT.iter().zip(&c.report_type_weights))
            .chain(INFECTIOUSNESS.iter().zip(&c.infectiousness_weights))
            .filter(|(_, w)| zero(w))
            .map(|(name, _)| *name)
            .collect()
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
    /// The v1 figures, when the configuration has a `v1` section.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub v1: Option<RiskV1>,
}

/// Assesses a match outcome as of `now_unix_seconds`.
#[must_use]
pub fn assess(outcome: &MatchOutcome, config: &RiskConfig, now_unix_seconds: u64) -> RiskReport {
    let per_key: Vec<(&[u8; 16], Vec<ExposureWindow>)> = outcome
        .matches
        .iter()
        .map(|m| {
            let windows = windows::exposure_windows(&m.key, &m.sightings, &config.windows);
            (&m.key.key_data, windows)
        })
        .collect();
    let today = now_unix_seconds / 86_400;
    let f1 = config
        .f1
        .decide(per_key.iter().map(|(k, w)| (*k, w.as_slice())), today);
    let mut exposure_windows: Vec<ExposureWindow> =
        per_key.into_iter().flat_map(|(_, w)| w).collect();
    exposure_windows.sort_by_key(|w| w.start_unix_seconds);
    RiskReport {
        daily_summaries: scoring::daily_summaries(
            &exposure_windows,
            &config.daily_summaries,
            today,
        ),
        f1,
        v1: config.v1.map(|v1| v1.assess(outcome, now_unix_seconds)),
        exposure_windows,
    }
}
