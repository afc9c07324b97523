//! Scan instances and exposure windows, as Google's engine builds them (spec §risk.1).

use alloc::vec::Vec;

use crate::gaen::{CalibrationConfidence, DiagnosisKey, ReportType};
use crate::matching::MatchedSighting;

/// How infectious a case was on the key's day (from days since onset of symptoms).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Infectiousness {
    /// Not infectious: windows are dropped.
    None,
    /// Standard.
    #[default]
    Standard,
    /// High.
    High,
}

/// Why a window configuration was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RiskConfigError {
    /// The onset-to-infectiousness map is not 16 hex digits (after an optional `0x`), or uses
    /// the value 3.
    #[error("infectiousness map must be 16 hex digits of 2-bit entries 0, 1 or 2")]
    InfectiousnessMap,
    /// Attenuation thresholds not strictly increasing.
    #[error("attenuation thresholds must be strictly increasing")]
    Thresholds,
    /// A weight outside 0..=2.5.
    #[error("weights must lie in 0..=2.5")]
    Weight,
    /// A v1 score outside 0..=8, or a minimum risk score outside 1..=4096.
    #[error("v1 scores must lie in 0..=8 and the minimum risk score in 1..=4096")]
    Score,
    /// A window cut outside 1..=1800 seconds, or a random range that is empty.
    #[error("window cuts must lie in 1..=1800 seconds, minimum not above maximum")]
    WindowCut,
    /// An F1 look-back of no day, which could never warn.
    #[error("the F1 look-back must be at least 1 day")]
    LookBack,
}

/// Where exposure windows are cut (spec §risk.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum WindowCut {
    /// A new window when a sighting is this many seconds or more after the window's first
    /// sighting: Google's published code, 1800.
    Fixed {
        /// Window length, seconds.
        seconds: u64,
    },
    /// A length drawn for each window between `min_seconds` and `max_seconds` from `seed`:
    /// the "random 15–30 minutes cuts" of the public API documentation, reproducible.
    Random {
        /// Shortest window, seconds.
        min_seconds: u64,
        /// Longest window, seconds.
        max_seconds: u64,
        /// Seed of the draw.
        seed: u64,
    },
}

/// How exposure windows are built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct WindowConfig {
    /// Where windows are cut.
    pub cut: WindowCut,
    /// Sightings at most this many tenths of a second after the previous one belong to the
    /// same scan (255: 25.5 s, 1.5 × the 17 s longest scan).
    pub same_scan_tenths: u64,
    /// `seconds_since_last_scan` when the previous scan time is unknown (120).
    pub unknown_seconds_since_last_scan: u32,
    /// Cap of `seconds_since_last_scan`, in whole minutes (5).
    pub max_minutes_since_last_scan: u32,
    /// Infectiousness per day since onset, −14..=14.
    pub infectiousness_by_onset: [Infectiousness; 29],
    /// Infectiousness when the onset is missing or beyond ±14 days.
    pub infectiousness_when_onset_missing: Infectiousness,
    /// Report type given to keys published without one (the API documents CONFIRMED_TEST).
    pub report_type_when_missing: ReportType,
}

impl Default for WindowConfig {
    fn default() -> Self {
        Self {
            cut: WindowCut::Fixed { seconds: 1800 },
            same_scan_tenths: 255,
            unknown_seconds_since_last_scan: 120,
            max_minutes_since_last_scan: 5,
            infectiousness_by_onset: [Infectiousness::Standard; 29],
            infectiousness_when_onset_missing: Infectiousness::Standard,
            report_type_when_missing: ReportType::ConfirmedTest,
        }
    }
}

impl WindowConfig {
    /// Checks the cut.
    ///
    /// # Errors
    /// [`RiskConfigError::WindowCut`].
    pub const fn validate(&self) -> Result<(), RiskConfigError> {
        let ok = match self.cut {
            WindowCut::Fixed { seconds } => seconds >= 1 && seconds <= 1800,
            WindowCut::Random {
                min_seconds,
                max_seconds,
                ..
            } => min_seconds >= 1 && min_seconds <= max_seconds && max_seconds <= 1800,
        };
        if ok {
            Ok(())
        } else {
            Err(RiskConfigError::WindowCut)
        }
    }

    /// Sets the onset map from the hex string health authorities published
    /// (`symptomOnsetToInfectiousnessMap`, for example `0x0555555555555555`): 2 bits per entry,
    /// least significant first; entries 0..=28 are days −14..=14, entry 29 the missing onset;
    /// values 0 none, 1 standard, 2 high.
    ///
    /// # Errors
    /// [`RiskConfigError::InfectiousnessMap`].
    pub fn set_infectiousness_map(&mut self, hex: &str) -> Result<(), RiskConfigError> {
        let digits = hex.strip_prefix("0x").unwrap_or(hex);
        let bytes: [u8; 8] =
            crate::hex::decode_array(digits).map_err(|_| RiskConfigError::InfectiousnessMap)?;
        let value = u64::from_be_bytes(bytes);
        let entry = |k: usize| match (value >> (2 * k)) & 3 {
            0 => Ok(Infectiousness::None),
            1 => Ok(Infectiousness::Standard),
            2 => Ok(Infectiousness::High),
            _ => Err(RiskConfigError::InfectiousnessMap),
        };
        for (k, slot) in self.infectiousness_by_onset.iter_mut().enumerate() {
            *slot = entry(k)?;
        }
        self.infectiousness_when_onset_missing = entry(29)?;
        Ok(())
    }

    /// The infectiousness of a key.
    #[must_use]
    pub fn infectiousness(&self, key: &DiagnosisKey) -> Infectiousness {
        // An untrusted onset near i32::MAX must not overflow (spec §risk.1.3).
        key.days_since_onset_of_symptoms
            .and_then(|d| d.checked_add(14))
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.infectiousness_by_onset.get(i).copied())
            .unwrap_or(self.infectiousness_when_onset_missing)
    }
}

/// One scan's sightings of one key's identifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ScanInstance {
    /// When the scan's first sighting was received, Unix seconds.
    pub unix_seconds: u64,
    /// The rounded mean of its attenuations, dB.
    pub typical_attenuation_db: u8,
    /// The least attenuation, dB.
    pub min_attenuation_db: u8,
    /// Seconds since the previous scan, at minute granularity and capped.
    pub seconds_since_last_scan: u32,
    /// How many sightings the scan holds.
    pub sightings: u32,
}

/// Up to 30 minutes of one key's sightings (spec §risk.1).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ExposureWindow {
    /// The UTC day of the window's first sighting (days since the epoch).
    pub unix_day: u64,
    /// Its first sighting, Unix seconds.
    pub start_unix_seconds: u64,
    /// The key's report type (the configured one when the key has none).
    pub report_type: ReportType,
    /// The key's infectiousness.
    pub infectiousness: Infectiousness,
    /// The calibration confidence of the window's first sighting.
    pub calibration_confidence: CalibrationConfidence,
    /// The scans.
    pub scan_instances: Vec<ScanInstance>,
}

/// Rounds a mean half up, as Java's `Math.round` does for non-negative values.
fn rounded_mean(sum: u64, count: u64) -> u8 {
    u8::try_from((2 * sum + count) / (2 * count).max(1)).unwrap_or(u8::MAX)
}

/// A tiny deterministic generator for random window cuts (SplitMix64).
fn split_mix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Builds the exposure windows of one matched key from its accepted sightings.
#[must_use]
pub fn exposure_windows(
    key: &DiagnosisKey,
    sightings: &[MatchedSighting],
    config: &WindowConfig,
) -> Vec<ExposureWindow> {
    // Google sorts by time only, stably, after gathering the identifiers in interval order
    // (spec §risk.1): ties keep the interval order, whatever their attenuation.
    let mut sorted: Vec<&MatchedSighting> = sightings.iter().collect();
    sorted.sort_by_key(|s| (s.unix_seconds, s.en_interval_number));
    let infectiousness = config.infectiousness(key);
    if infectiousness == Infectiousness::None {
        return Vec::new();
    }
    let report_type = match key.report_type {
        ReportType::Unknown => config.report_type_when_missing,
        other => other,
    };
    let mut rng_state = match config.cut {
        WindowCut::Random { seed, .. } => seed,
        WindowCut::Fixed { .. } => 0,
    };
    let mut next_length = || match config.cut {
        WindowCut::Fixed { seconds } => seconds,
        WindowCut::Random {
            min_seconds,
            max_seconds,
            ..
        } => min_seconds + split_mix(&mut rng_state) % (max_seconds - min_seconds + 1),
    };
    let mut windows: Vec<ExposureWindow> = Vec::new();
    let mut window_length = 0;
    // (attenuation sum, count) of the open scan instance.
    let mut open: Option<(u64, u64)> = None;
    let mut previous_time: Option<u64> = None;
    let close = |windows: &mut Vec<ExposureWindow>, open: &mut Option<(u64, u64)>| {
        if let (Some((sum, count)), Some(instance)) = (
            open.take(),
            windows.last_mut().and_then(|w| w.scan_instances.last_mut()),
        ) {
            instance.typical_attenuation_db = rounded_mean(sum, count);
        }
    };
    for s in sorted {
        let t = s.unix_seconds;
        let starts_window = windows
            .last()
            .is_none_or(|w| t - w.start_unix_seconds >= window_length);
        if starts_window {
            close(&mut windows, &mut open);
            window_length = next_length();
            windows.push(ExposureWindow {
                unix_day: t / 86_400,
                start_unix_seconds: t,
                report_type,
                infectiousness,
                calibration_confidence: s.metadata.calibration_confidence(),
                scan_instances: Vec::new(),
            });
        }
        let same_scan = !starts_window
            && previous_time.is_some_and(|p| (t - p) * 10 <= config.same_scan_tenths);
        let Some(window) = windows.last_mut() else {
            continue;
        };
        match (same_scan, window.scan_instances.last_mut(), open.as_mut()) {
            (true, Some(instance), Some((sum, count))) => {
                *sum += u64::from(s.attenuation);
                *count += 1;
                instance.min_attenuation_db = instance.min_attenuation_db.min(s.attenuation);
                instance.sightings += 1;
            }
            _ => {
                if let (Some((sum, count)), Some(instance)) =
                    (open.take(), window.scan_instances.last_mut())
                {
                    instance.typical_attenuation_db = rounded_mean(sum, count);
                }
                let seconds_since_last_scan = if s.previous_scan_unix_seconds == 0 {
                    config.unknown_seconds_since_last_scan
                } else {
                    let minutes = (t / 60).saturating_sub(s.previous_scan_unix_seconds / 60);
                    60 * u32::try_from(minutes)
                        .unwrap_or(u32::MAX)
                        .min(config.max_minutes_since_last_scan)
                };
                window.scan_instances.push(ScanInstance {
                    unix_seconds: t,
                    typical_attenuation_db: s.attenuation,
                    min_attenuation_db: s.attenuation,
                    seconds_since_last_scan,
                    sightings: 1,
                });
                open = Some((u64::from(s.attenuation), 1));
            }
        }
        previous_time = Some(t);
    }
    close(&mut windows, &mut open);
    windows
}
