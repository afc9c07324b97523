//! Exposure windows in the JSON shape the GAEN API hands to apps and the Corona-Warn-App's
//! test file uses (spec §cwa.5):
//!
//! ```json
//! {"exposureWindows": [{"ageInDays": 1, "reportType": 1, "infectiousness": 2,
//!   "calibrationConfidence": 0, "scanInstances": [
//!     {"minAttenuation": 30, "typicalAttenuation": 25, "secondsSinceLastScan": 300}]}]}
//! ```
//!
//! The API gives a window's date, not its time: each becomes an [`ExposureWindow`] on the day
//! `ageInDays` before "today", its scan instances at the day's start.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::gaen::{CalibrationConfidence, ReportType};
use crate::risk::{ExposureWindow, Infectiousness, ScanInstance};

/// One scan instance as the API gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiScanInstance {
    /// The least attenuation of the scan, dB.
    pub min_attenuation: u8,
    /// Its typical attenuation, dB.
    pub typical_attenuation: u8,
    /// Seconds since the previous scan; a negative value (a clock set back) counts as 0, as
    /// the Corona-Warn-App counts it.
    pub seconds_since_last_scan: i64,
}

/// One exposure window as the API gives it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiExposureWindow {
    /// Days before "today".
    pub age_in_days: u64,
    /// 0 to 5 (unknown, confirmed test, clinical diagnosis, self report, recursive, revoked).
    pub report_type: i32,
    /// 0 none, 1 standard, 2 high.
    pub infectiousness: u8,
    /// 0 to 3 (lowest to high).
    pub calibration_confidence: u8,
    /// Its scans.
    pub scan_instances: Vec<ApiScanInstance>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Document {
    exposure_windows: Vec<ApiExposureWindow>,
}

/// Why API windows were refused: where, and what.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct ApiWindowsError {
    /// Where, as `exposureWindows[2].reportType`, or `document`.
    pub path: String,
    /// What is wrong.
    pub problem: String,
}

impl ApiExposureWindow {
    /// The window as the crate's own type, dated `age_in_days` before `today` (days since the
    /// epoch).
    ///
    /// # Errors
    /// [`ApiWindowsError`] (its path relative to the window) for a report type, infectiousness
    /// or confidence outside its values, or an age before the epoch.
    pub fn to_window(&self, today: u64) -> Result<ExposureWindow, ApiWindowsError> {
        let problem = |field: &str, problem: String| ApiWindowsError {
            path: field.into(),
            problem,
        };
        let report_type = ReportType::try_from(self.report_type)
            .map_err(|e| problem("reportType", alloc::string::ToString::to_string(&e)))?;
        let infectiousness = match self.infectiousness {
            0 => Infectiousness::None,
            1 => Infectiousness::Standard,
            2 => Infectiousness::High,
            other => {
                return Err(problem(
                    "infectiousness",
                    format!("{other} is not 0, 1 or 2"),
                ));
            }
        };
        if self.calibration_confidence > 3 {
            return Err(problem(
                "calibrationConfidence",
                format!("{} is not one of 0..=3", self.calibration_confidence),
            ));
        }
        let unix_day = today.checked_sub(self.age_in_days).ok_or_else(|| {
            problem(
                "ageInDays",
                format!("{} days is before 1970", self.age_in_days),
            )
        })?;
        let start = unix_day.saturating_mul(86_400);
        Ok(ExposureWindow {
            unix_day,
            start_unix_seconds: start,
            report_type,
            infectiousness,
            calibration_confidence: CalibrationConfidence::from_bits(self.calibration_confidence),
            scan_instances: self
                .scan_instances
                .iter()
                .map(|s| ScanInstance {
                    unix_seconds: start,
                    typical_attenuation_db: s.typical_attenuation,
                    min_attenuation_db: s.min_attenuation,
                    seconds_since_last_scan: u32::try_from(s.seconds_since_last_scan.max(0))
                        .unwrap_or(u32::MAX),
                    sightings: 0,
                })
                .collect(),
        })
    }
}

/// Reads a `{"exposureWindows": […]}` document as windows dated relative to `today`.
///
/// # Errors
/// [`ApiWindowsError`] naming the window and field at fault.
pub fn parse_api_windows(text: &str, today: u64) -> Result<Vec<ExposureWindow>, ApiWindowsError> {
    let document: Document = serde_json::from_str(text).map_err(|e| ApiWindowsError {
        path: "document".into(),
        problem: alloc::string::ToString::to_string(&e),
    })?;
    windows_from_api(&document.exposure_windows, today)
}

/// [`ApiExposureWindow::to_window`] for each, naming the window at fault.
///
/// # Errors
/// [`ApiWindowsError`] naming the window and field at fault.
pub fn windows_from_api(
    windows: &[ApiExposureWindow],
    today: u64,
) -> Result<Vec<ExposureWindow>, ApiWindowsError> {
    windows
        .iter()
        .enumerate()
        .map(|(index, window)| {
            window.to_window(today).map_err(|e| ApiWindowsError {
                path: format!("exposureWindows[{index}].{}", e.path),
                problem: e.problem,
            })
        })
        .collect()
}
