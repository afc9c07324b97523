//! Diagnosis keys as C gives and receives them, for the hosted matcher and the band matcher.

use bluezone::gaen::{DiagnosisKey, ReportType};

use crate::keys::window;
use crate::status::{BzStatus, Failure};

/// A diagnosis key: a case's key with its export metadata.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BzDiagnosisKey {
    /// The key bytes.
    pub key_data: [u8; 16],
    /// The first interval of its window.
    pub rolling_start_interval_number: u32,
    /// Intervals in its window, 1 to 144.
    pub rolling_period: u32,
    /// Transmission risk level, 0 to 8.
    pub transmission_risk_level: u8,
    /// 0 unknown, 1 confirmed test, 2 confirmed clinical diagnosis, 3 self report,
    /// 4 recursive, 5 revoked.
    pub report_type: u8,
    /// Whether `days_since_onset_of_symptoms` is set.
    pub has_days_since_onset_of_symptoms: u8,
    /// Days from symptom onset to the key's day (when set).
    pub days_since_onset_of_symptoms: i32,
}

impl BzDiagnosisKey {
    #[cfg(feature = "std")]
    pub(crate) fn of(key: &DiagnosisKey) -> Self {
        Self {
            key_data: key.key_data,
            rolling_start_interval_number: key.window.start().get(),
            rolling_period: key.window.period().get(),
            transmission_risk_level: key.transmission_risk_level,
            report_type: key.report_type as u8,
            has_days_since_onset_of_symptoms: u8::from(key.days_since_onset_of_symptoms.is_some()),
            days_since_onset_of_symptoms: key.days_since_onset_of_symptoms.unwrap_or(0),
        }
    }

    /// The library's key, with every field checked as an export file's keys are.
    pub(crate) fn key(&self) -> Result<DiagnosisKey, Failure> {
        let invalid = |detail: &str| Failure::new(BzStatus::InvalidArgument, detail);
        let window = window(self.rolling_start_interval_number, self.rolling_period)?;
        if self.transmission_risk_level > 8 {
            return Err(invalid("transmission_risk_level is above 8"));
        }
        let report_type = ReportType::try_from(i32::from(self.report_type))
            .map_err(|_| invalid("report_type is not 0 to 5"))?;
        let mut key = DiagnosisKey::new(self.key_data, window);
        key.transmission_risk_level = self.transmission_risk_level;
        key.report_type = report_type;
        key.days_since_onset_of_symptoms = match self.has_days_since_onset_of_symptoms {
            0 => None,
            _ => Some(self.days_since_onset_of_symptoms),
        };
        Ok(key)
    }
}
