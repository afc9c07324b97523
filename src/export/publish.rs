//! The key server's publish JSON, the input `bluezone export build` takes (spec §export.7):
//!
//! ```json
//! {"temporaryExposureKeys": [{"key": "<base64, 16 bytes>", "rollingStartNumber": 2649980,
//!   "rollingPeriod": 1, "transmissionRisk": 8, "reportType": 1, "daysSinceOnsetOfSymptoms": -2}]}
//! ```
//!
//! `rollingPeriod` defaults to 144, `transmissionRisk` and `reportType` to 0; the onset is
//! optional. Unknown fields are ignored.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde_json::Value;

use crate::gaen::{DiagnosisKey, ReportType};
use crate::time::{EnIntervalNumber, RollingPeriod, RollingWindow};

/// Why a publish document was refused: where, and what.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct PublishError {
    /// Where, as `temporaryExposureKeys[3].key`, or `document`.
    pub path: String,
    /// What is wrong.
    pub problem: String,
}

fn error(path: impl Into<String>, problem: impl Into<String>) -> PublishError {
    PublishError {
        path: path.into(),
        problem: problem.into(),
    }
}

/// Decodes standard base64, with or without padding (the key server accepts both).
fn base64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode(text).ok()
}

fn integer(
    item: &serde_json::Map<String, Value>,
    name: &str,
    path: &str,
    default: Option<i64>,
) -> Result<i64, PublishError> {
    match item.get(name) {
        None | Some(Value::Null) => {
            default.ok_or_else(|| error(format!("{path}.{name}"), "missing"))
        }
        Some(v) => v
            .as_i64()
            .ok_or_else(|| error(format!("{path}.{name}"), "not an integer")),
    }
}

/// Reads the keys of a publish document.
///
/// # Errors
/// [`PublishError`] naming the key and field at fault.
pub fn parse_keys(text: &str) -> Result<Vec<DiagnosisKey>, PublishError> {
    let document: Value =
        serde_json::from_str(text).map_err(|e| error("document", e.to_string()))?;
    let keys = document
        .get("temporaryExposureKeys")
        .and_then(Value::as_array)
        .ok_or_else(|| error("temporaryExposureKeys", "missing or not an array"))?;
    keys.iter()
        .enumerate()
        .map(|(index, item)| {
            let path = format!("temporaryExposureKeys[{index}]");
            let item = item
                .as_object()
                .ok_or_else(|| error(path.clone(), "not an object"))?;
            let key_data: [u8; 16] = item
                .get("key")
                .and_then(Value::as_str)
                .and_then(base64)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| error(format!("{path}.key"), "not 16 bytes of base64"))?;
            let start = integer(item, "rollingStartNumber", &path, None)?;
            let period = integer(item, "rollingPeriod", &path, Some(144))?;
            let window = u32::try_from(start)
                .ok()
                .zip(
                    u32::try_from(period)
                        .ok()
                        .and_then(|p| RollingPeriod::new(p).ok()),
                )
                .and_then(|(s, p)| RollingWindow::new(EnIntervalNumber::new(s), p).ok())
                .ok_or_else(|| {
                    error(
                        path.clone(),
                        format!("rolling window {start} + {period} is invalid"),
                    )
                })?;
            let risk = integer(item, "transmissionRisk", &path, Some(0))?;
            let transmission_risk_level = u8::try_from(risk)
                .ok()
                .filter(|r| *r <= 8)
                .ok_or_else(|| error(format!("{path}.transmissionRisk"), "outside 0..=8"))?;
            let report = integer(item, "reportType", &path, Some(0))?;
            let report_type = i32::try_from(report)
                .ok()
                .and_then(|r| ReportType::try_from(r).ok())
                .ok_or_else(|| error(format!("{path}.reportType"), "not one of 0..=5"))?;
            let days_since_onset_of_symptoms = match item.get("daysSinceOnsetOfSymptoms") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_i64().and_then(|d| i32::try_from(d).ok()).ok_or_else(
                    || error(format!("{path}.daysSinceOnsetOfSymptoms"), "not an integer"),
                )?),
            };
            Ok(DiagnosisKey {
                key_data,
                window,
                transmission_risk_level,
                report_type,
                days_since_onset_of_symptoms,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    /// Checks spec §export.7.
    fn base64_decodes_the_server_sample() {
        assert_eq!(
            base64("Fy/EgOWYSQw0F3YEM5sVQw==").map(|b| crate::hex::Hex(&b).to_string()),
            Some("172fc480e598490c34177604339b1543".to_string())
        );
        assert_eq!(base64("TWE"), Some(b"Ma".to_vec()));
        assert_eq!(base64("T"), None);
        assert_eq!(base64("T*=="), None);
    }
}
