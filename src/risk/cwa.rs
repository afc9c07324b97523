//! The Corona-Warn-App's risk model (Germany, app versions 1.9 to 3.x; spec §cwa): exposure
//! windows filtered, weighted by minimum attenuation, scaled by a transmission risk value and
//! mapped to a low or high risk per window and per day.
//!
//! [`CwaConfig::test_cases`] is the configuration of the app's own test file and
//! [`CwaConfig::production`] the one its server published last; both read from and write to
//! the JSON shape of the test file's `defaultRiskCalculationConfiguration`.

use alloc::vec::Vec;

use crate::gaen::ReportType;
use crate::risk::{ExposureWindow, Infectiousness};

/// A range of numbers, each bound inclusive unless marked exclusive (spec §cwa.1).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", deny_unknown_fields)
)]
pub struct Range {
    /// The lower bound.
    pub min: f64,
    /// The upper bound.
    pub max: f64,
    /// Whether `min` itself is outside.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "is_false"))]
    pub min_exclusive: bool,
    /// Whether `max` itself is outside.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "is_false"))]
    pub max_exclusive: bool,
}

#[cfg(feature = "serde")]
#[allow(clippy::trivially_copy_pass_by_ref, reason = "serde's signature")]
fn is_false(value: &bool) -> bool {
    !*value
}

impl Range {
    /// `[min, max)`.
    #[must_use]
    pub const fn half_open(min: f64, max: f64) -> Self {
        Self {
            min,
            max,
            min_exclusive: false,
            max_exclusive: true,
        }
    }

    /// `[min, max]`.
    #[must_use]
    pub const fn closed(min: f64, max: f64) -> Self {
        Self {
            min,
            max,
            min_exclusive: false,
            max_exclusive: false,
        }
    }

    /// Whether `value` lies in the range.
    #[must_use]
    pub fn contains(&self, value: f64) -> bool {
        let above = if self.min_exclusive {
            value > self.min
        } else {
            value >= self.min
        };
        let below = if self.max_exclusive {
            value < self.max
        } else {
            value <= self.max
        };
        above && below
    }

    fn is_valid(&self) -> bool {
        self.min.is_finite() && self.max.is_finite() && self.min <= self.max
    }
}

/// Drops a window whose minutes at an attenuation fall in a range (spec §cwa.2).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", deny_unknown_fields)
)]
pub struct MinutesAtAttenuationFilter {
    /// Which scan instances count, by minimum attenuation (dB).
    pub attenuation_range: Range,
    /// The whole minutes of those scans that drop the window.
    pub drop_if_minutes_in_range: Range,
}

/// Drops a window whose transmission risk level falls in a range (spec §cwa.2).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", deny_unknown_fields)
)]
pub struct TrlFilter {
    /// The levels that drop the window.
    pub drop_if_trl_in_range: Range,
}

/// The weight of the seconds of scans whose minimum attenuation is in a range (spec §cwa.3).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", deny_unknown_fields)
)]
pub struct AttenuationWeight {
    /// The minimum attenuations (dB) the weight applies to.
    pub attenuation_range: Range,
    /// The weight; the first matching range wins, no range means 0.
    pub weight: f64,
}

/// The CWA's two risk levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "u8", into = "u8"))]
pub enum CwaRiskLevel {
    /// Low risk (1 in the app's configuration).
    Low,
    /// High risk (2).
    High,
}

impl TryFrom<u8> for CwaRiskLevel {
    type Error = &'static str;

    fn try_from(value: u8) -> Result<Self, Self::Error> {
        match value {
            1 => Ok(Self::Low),
            2 => Ok(Self::High),
            _ => Err("a risk level is 1 (low) or 2 (high)"),
        }
    }
}

impl From<CwaRiskLevel> for u8 {
    fn from(level: CwaRiskLevel) -> Self {
        match level {
            CwaRiskLevel::Low => 1,
            CwaRiskLevel::High => 2,
        }
    }
}

/// A risk level for the normalized times in a range (spec §cwa.4).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", deny_unknown_fields)
)]
pub struct RiskLevelMapping {
    /// The normalized times (weighted minutes times the transmission risk value).
    pub normalized_time_range: Range,
    /// Their level.
    pub risk_level: CwaRiskLevel,
}

/// How report type and infectiousness become a transmission risk level: the sum of one offset
/// of each (spec §cwa.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", deny_unknown_fields)
)]
#[allow(missing_docs, reason = "each field is the offset its name gives")]
pub struct TrlEncoding {
    pub infectiousness_offset_standard: i32,
    pub infectiousness_offset_high: i32,
    pub report_type_offset_recursive: i32,
    pub report_type_offset_self_report: i32,
    pub report_type_offset_confirmed_clinical_diagnosis: i32,
    pub report_type_offset_confirmed_test: i32,
}

/// The value a transmission risk level multiplies the weighted minutes by (spec §cwa.3).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", deny_unknown_fields)
)]
pub struct TransmissionRiskValue {
    /// The level.
    pub transmission_risk_level: i32,
    /// Its value; a level not listed has value 0.
    pub transmission_risk_value: f64,
}

/// The CWA's risk parameters, in the shape of the app's `defaultRiskCalculationConfiguration`.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", deny_unknown_fields)
)]
#[allow(missing_docs, reason = "each field is described by its type")]
pub struct CwaConfig {
    pub minutes_at_attenuation_filters: Vec<MinutesAtAttenuationFilter>,
    pub trl_filters: Vec<TrlFilter>,
    pub minutes_at_attenuation_weights: Vec<AttenuationWeight>,
    #[cfg_attr(
        feature = "serde",
        serde(rename = "normalizedTimePerEWToRiskLevelMapping")
    )]
    pub normalized_time_per_window_to_risk_level_mapping: Vec<RiskLevelMapping>,
    pub normalized_time_per_day_to_risk_level_mapping: Vec<RiskLevelMapping>,
    pub trl_encoding: TrlEncoding,
    pub transmission_risk_value_mapping: Vec<TransmissionRiskValue>,
    /// Windows older than this many days are left out (the app's `maxEncounterAgeInDays`);
    /// none when absent.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub max_encounter_age_in_days: Option<u32>,
}

/// Why a CWA configuration was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CwaConfigError {
    /// A range is not finite or its minimum exceeds its maximum.
    #[error("a range of the CWA configuration is empty or not finite")]
    Range,
    /// A weight or transmission risk value is negative or not finite.
    #[error(
        "a weight or transmission risk value of the CWA configuration is negative or not finite"
    )]
    Weight,
    /// A risk-level mapping is empty.
    #[error("the CWA configuration maps no normalized time to a risk level")]
    NoMapping,
}

const TEST_ENCODING: TrlEncoding = TrlEncoding {
    infectiousness_offset_standard: 1,
    infectiousness_offset_high: 2,
    report_type_offset_recursive: 0,
    report_type_offset_self_report: 2,
    report_type_offset_confirmed_clinical_diagnosis: 4,
    report_type_offset_confirmed_test: 6,
};

fn weights() -> Vec<AttenuationWeight> {
    [(0.0, 63.0, 0.8), (63.0, 73.0, 1.0), (73.0, 79.0, 0.1)]
        .into_iter()
        .map(|(min, max, weight)| AttenuationWeight {
            attenuation_range: Range::half_open(min, max),
            weight,
        })
        .collect()
}

fn mapping(high_from: f64, low_from: f64, top: f64) -> Vec<RiskLevelMapping> {
    alloc::vec![
        RiskLevelMapping {
            normalized_time_range: Range::half_open(low_from, high_from),
            risk_level: CwaRiskLevel::Low,
        },
        RiskLevelMapping {
            normalized_time_range: Range::closed(high_from, top),
            risk_level: CwaRiskLevel::High,
        },
    ]
}

/// Values of TRL 1 to 8, written as decimals so that they read back from JSON exactly.
fn values(of_levels: [f64; 8]) -> Vec<TransmissionRiskValue> {
    of_levels
        .into_iter()
        .zip(1..)
        .map(|(value, level)| TransmissionRiskValue {
            transmission_risk_level: level,
            transmission_risk_value: value,
        })
        .collect()
}

impl CwaConfig {
    /// The configuration of the app's test file (`exposure-windows-risk-calculation.json`):
    /// no filters, weights 0.8 below 63 dB, 1 to 73 dB and 0.1 to 79 dB, a window high from a
    /// normalized time of 9, a day low from 5 and high from 9, TRL values 0, 0, 0.6 … 1.6.
    #[must_use]
    pub fn test_cases() -> Self {
        Self {
            minutes_at_attenuation_filters: Vec::new(),
            trl_filters: Vec::new(),
            minutes_at_attenuation_weights: weights(),
            normalized_time_per_window_to_risk_level_mapping: mapping(9.0, 0.0, 9999.0),
            normalized_time_per_day_to_risk_level_mapping: mapping(9.0, 5.0, 99999.0),
            trl_encoding: TEST_ENCODING,
            transmission_risk_value_mapping: values([0.0, 0.0, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6]),
            max_encounter_age_in_days: None,
        }
    }

    /// The configuration the CWA server published last (`risk-calculation-parameters.yaml`,
    /// 2022-03-29): a window with under 5 minutes below 79 dB and TRL 1 and 2 are dropped,
    /// the test file's weights, low below a normalized time of 13 and high from 13 per window
    /// and per day, and the server's TRL multiplier 0.2 as values (level × 0.2).
    #[must_use]
    pub fn production() -> Self {
        Self {
            minutes_at_attenuation_filters: alloc::vec![MinutesAtAttenuationFilter {
                attenuation_range: Range::half_open(0.0, 79.0),
                drop_if_minutes_in_range: Range::half_open(0.0, 5.0),
            }],
            trl_filters: alloc::vec![TrlFilter {
                drop_if_trl_in_range: Range::closed(1.0, 2.0),
            }],
            minutes_at_attenuation_weights: weights(),
            normalized_time_per_window_to_risk_level_mapping: mapping(13.0, 0.0, 9999.0),
            normalized_time_per_day_to_risk_level_mapping: mapping(13.0, 0.0, 99999.0),
            trl_encoding: TEST_ENCODING,
            transmission_risk_value_mapping: values([0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6]),
            max_encounter_age_in_days: None,
        }
    }

    /// Checks every range, weight and mapping.
    ///
    /// # Errors
    /// The first [`CwaConfigError`].
    pub fn validate(&self) -> Result<(), CwaConfigError> {
        let ranges = self
            .minutes_at_attenuation_filters
            .iter()
            .flat_map(|f| [f.attenuation_range, f.drop_if_minutes_in_range])
            .chain(self.trl_filters.iter().map(|f| f.drop_if_trl_in_range))
            .chain(
                self.minutes_at_attenuation_weights
                    .iter()
                    .map(|w| w.attenuation_range),
            )
            .chain(
                self.normalized_time_per_window_to_risk_level_mapping
                    .iter()
                    .chain(&self.normalized_time_per_day_to_risk_level_mapping)
                    .map(|m| m.normalized_time_range),
            );
        for range in ranges {
            if !range.is_valid() {
                return Err(CwaConfigError::Range);
            }
        }
        let values = self
            .minutes_at_attenuation_weights
            .iter()
            .map(|w| w.weight)
            .chain(
                self.transmission_risk_value_mapping
                    .iter()
                    .map(|v| v.transmission_risk_value),
            );
        for value in values {
            if !(value.is_finite() && value >= 0.0) {
                return Err(CwaConfigError::Weight);
            }
        }
        if self
            .normalized_time_per_window_to_risk_level_mapping
            .is_empty()
            || self
                .normalized_time_per_day_to_risk_level_mapping
                .is_empty()
        {
            return Err(CwaConfigError::NoMapping);
        }
        Ok(())
    }

    /// The transmission risk level of a window (spec §cwa.2), or `None` for a report type the
    /// encoding does not cover (unknown or revoked).
    #[must_use]
    pub fn transmission_risk_level(&self, window: &ExposureWindow) -> Option<i32> {
        let e = &self.trl_encoding;
        let report = match window.report_type {
            ReportType::ConfirmedTest => e.report_type_offset_confirmed_test,
            ReportType::ConfirmedClinicalDiagnosis => {
                e.report_type_offset_confirmed_clinical_diagnosis
            }
            ReportType::SelfReport => e.report_type_offset_self_report,
            ReportType::Recursive => e.report_type_offset_recursive,
            ReportType::Unknown | ReportType::Revoked => return None,
        };
        let infectiousness = if window.infectiousness == Infectiousness::High {
            e.infectiousness_offset_high
        } else {
            e.infectiousness_offset_standard
        };
        Some(report.saturating_add(infectiousness))
    }

    fn level(mapping: &[RiskLevelMapping], normalized_time: f64) -> Option<CwaRiskLevel> {
        mapping
            .iter()
            .find(|m| m.normalized_time_range.contains(normalized_time))
            .map(|m| m.risk_level)
    }
}

/// One window as the model judged it.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CwaWindowResult {
    /// The window's place in the input.
    pub index: usize,
    /// Its age in days as of "today".
    pub age_in_days: u64,
    /// Its transmission risk level, when its report type has one.
    pub transmission_risk_level: Option<i32>,
    /// Why it was dropped, if it was.
    pub dropped: Option<CwaDrop>,
    /// Seconds weighted by minimum attenuation, divided by 60.
    pub weighted_minutes: f64,
    /// The weighted minutes times the transmission risk value.
    pub normalized_time: f64,
    /// Its level; none when no mapping covers the normalized time (the window then counts for
    /// nothing, as the app ignores it).
    pub risk_level: Option<CwaRiskLevel>,
}

/// Why a window counted for nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum CwaDrop {
    /// A minutes-at-attenuation filter.
    MinutesAtAttenuation,
    /// A transmission-risk-level filter, or a report type without a level.
    TransmissionRiskLevel,
    /// Older than `max_encounter_age_in_days`.
    Age,
}

/// One day's aggregate.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CwaDayResult {
    /// The day's age as of "today".
    pub age_in_days: u64,
    /// The sum of its windows' normalized times, rounded to one decimal as the app rounds.
    pub normalized_time: f64,
    /// Its level, when the day mapping covers the sum.
    pub risk_level: Option<CwaRiskLevel>,
    /// Distinct (transmission risk level, calibration confidence) among its low windows.
    pub minimum_distinct_encounters_with_low_risk: usize,
    /// The same among its high windows.
    pub minimum_distinct_encounters_with_high_risk: usize,
}

/// The CWA's verdict, by the app's own names (spec §cwa.4).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CwaResult {
    /// High when some day is high, else low.
    pub total_risk_level: CwaRiskLevel,
    /// The age of the most recent day with low risk.
    pub age_of_most_recent_date_with_low_risk: Option<u64>,
    /// The age of the most recent day with high risk.
    pub age_of_most_recent_date_with_high_risk: Option<u64>,
    /// Days with low risk.
    pub number_of_days_with_low_risk: usize,
    /// Days with high risk.
    pub number_of_days_with_high_risk: usize,
    /// Distinct encounters with low risk, added over the days.
    pub total_minimum_distinct_encounters_with_low_risk: usize,
    /// Distinct encounters with high risk, added over the days.
    pub total_minimum_distinct_encounters_with_high_risk: usize,
    /// Each day with at least one counted window, newest first.
    pub days: Vec<CwaDayResult>,
    /// Each window, in input order.
    pub windows: Vec<CwaWindowResult>,
}

/// Rounds a non-negative number half up to one decimal, as the app rounds the normalized time
/// (spec §cwa.3).
fn round_to_tenth(value: f64) -> f64 {
    // Saturating casts: a sum beyond u64 is far above every mapping.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "see above"
    )]
    let tenths = (value * 10.0 + 0.5) as u64;
    #[allow(clippy::cast_precision_loss, reason = "exact below 2^53 tenths")]
    let rounded = tenths as f64 / 10.0;
    rounded
}

impl CwaConfig {
    /// Judges one window (spec §cwa.2, §cwa.3).
    fn judge(&self, index: usize, window: &ExposureWindow, today: u64) -> CwaWindowResult {
        let age_in_days = today.saturating_sub(window.unix_day);
        let trl = self.transmission_risk_level(window);
        let mut result = CwaWindowResult {
            index,
            age_in_days,
            transmission_risk_level: trl,
            dropped: None,
            weighted_minutes: 0.0,
            normalized_time: 0.0,
            risk_level: None,
        };
        if self
            .max_encounter_age_in_days
            .is_some_and(|max| age_in_days > u64::from(max))
        {
            result.dropped = Some(CwaDrop::Age);
            return result;
        }
        let dropped_by_minutes = self.minutes_at_attenuation_filters.iter().any(|filter| {
            let seconds: u64 = window
                .scan_instances
                .iter()
                .filter(|s| {
                    filter
                        .attenuation_range
                        .contains(f64::from(s.min_attenuation_db))
                })
                .map(|s| u64::from(s.seconds_since_last_scan))
                .sum();
            #[allow(clippy::cast_precision_loss, reason = "minutes of one window")]
            let minutes = (seconds / 60) as f64;
            filter.drop_if_minutes_in_range.contains(minutes)
        });
        if dropped_by_minutes {
            result.dropped = Some(CwaDrop::MinutesAtAttenuation);
            return result;
        }
        let Some(trl) = trl.filter(|trl| {
            !self
                .trl_filters
                .iter()
                .any(|f| f.drop_if_trl_in_range.contains(f64::from(*trl)))
        }) else {
            result.dropped = Some(CwaDrop::TransmissionRiskLevel);
            return result;
        };
        let value = self
            .transmission_risk_value_mapping
            .iter()
            .find(|v| v.transmission_risk_level == trl)
            .map_or(0.0, |v| v.transmission_risk_value);
        let weighted_seconds: f64 = window
            .scan_instances
            .iter()
            .map(|s| {
                let weight = self
                    .minutes_at_attenuation_weights
                    .iter()
                    .find(|w| {
                        w.attenuation_range
                            .contains(f64::from(s.min_attenuation_db))
                    })
                    .map_or(0.0, |w| w.weight);
                f64::from(s.seconds_since_last_scan) * weight
            })
            .sum();
        result.weighted_minutes = weighted_seconds / 60.0;
        result.normalized_time = value * result.weighted_minutes;
        result.risk_level = Self::level(
            &self.normalized_time_per_window_to_risk_level_mapping,
            result.normalized_time,
        );
        result
    }

    /// Applies the model to `windows` as of `today` (days since the epoch), as the app does
    /// after each download (spec §cwa).
    ///
    /// # Errors
    /// The configuration is not valid ([`CwaConfig::validate`]).
    pub fn assess(
        &self,
        windows: &[ExposureWindow],
        today: u64,
    ) -> Result<CwaResult, CwaConfigError> {
        self.validate()?;
        let judged: Vec<CwaWindowResult> = windows
            .iter()
            .enumerate()
            .map(|(index, window)| self.judge(index, window, today))
            .collect();
        let counted: Vec<(&CwaWindowResult, &ExposureWindow)> = judged
            .iter()
            .zip(windows)
            .filter(|(result, _)| result.risk_level.is_some())
            .collect();
        let mut ages: Vec<u64> = counted.iter().map(|(r, _)| r.age_in_days).collect();
        ages.sort_unstable();
        ages.dedup();
        let mut days = Vec::with_capacity(ages.len());
        for age in ages {
            let of_day: Vec<&(&CwaWindowResult, &ExposureWindow)> = counted
                .iter()
                .filter(|(r, _)| r.age_in_days == age)
                .collect();
            let normalized_time =
                round_to_tenth(of_day.iter().map(|(r, _)| r.normalized_time).sum());
            let distinct = |level: CwaRiskLevel| {
                let mut seen: Vec<(Option<i32>, u8)> = of_day
                    .iter()
                    .filter(|(r, _)| r.risk_level == Some(level))
                    .map(|(r, w)| (r.transmission_risk_level, w.calibration_confidence as u8))
                    .collect();
                seen.sort_unstable();
                seen.dedup();
                seen.len()
            };
            days.push(CwaDayResult {
                age_in_days: age,
                normalized_time,
                risk_level: Self::level(
                    &self.normalized_time_per_day_to_risk_level_mapping,
                    normalized_time,
                ),
                minimum_distinct_encounters_with_low_risk: distinct(CwaRiskLevel::Low),
                minimum_distinct_encounters_with_high_risk: distinct(CwaRiskLevel::High),
            });
        }
        let of_level = |level| {
            days.iter()
                .filter(move |d: &&CwaDayResult| d.risk_level == Some(level))
        };
        Ok(CwaResult {
            total_risk_level: if of_level(CwaRiskLevel::High).next().is_some() {
                CwaRiskLevel::High
            } else {
                CwaRiskLevel::Low
            },
            age_of_most_recent_date_with_low_risk: of_level(CwaRiskLevel::Low)
                .map(|d| d.age_in_days)
                .min(),
            age_of_most_recent_date_with_high_risk: of_level(CwaRiskLevel::High)
                .map(|d| d.age_in_days)
                .min(),
            number_of_days_with_low_risk: of_level(CwaRiskLevel::Low).count(),
            number_of_days_with_high_risk: of_level(CwaRiskLevel::High).count(),
            // A day that maps to no level is left out whole, its encounters with it.
            total_minimum_distinct_encounters_with_low_risk: days
                .iter()
                .filter(|d| d.risk_level.is_some())
                .map(|d| d.minimum_distinct_encounters_with_low_risk)
                .sum(),
            total_minimum_distinct_encounters_with_high_risk: days
                .iter()
                .filter(|d| d.risk_level.is_some())
                .map(|d| d.minimum_distinct_encounters_with_high_risk)
                .sum(),
            days,
            windows: judged,
        })
    }
}
