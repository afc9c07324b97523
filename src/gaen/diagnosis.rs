//! Published keys: what a health authority distributes after a positive test.

use super::keys::{AssociatedEncryptedMetadataKey, RollingProximityIdentifierKey};
use crate::time::RollingWindow;

/// The report type attached to a published key (export file field 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "i32", into = "i32"))]
#[repr(u8)]
pub enum ReportType {
    /// Not set (`REPORT_TYPE_UNKNOWN`).
    #[default]
    Unknown = 0,
    /// Confirmed by a test.
    ConfirmedTest = 1,
    /// Confirmed by a clinician without a test.
    ConfirmedClinicalDiagnosis = 2,
    /// Reported by the user.
    SelfReport = 3,
    /// Reserved by the protocol; ignored by default when matching.
    Recursive = 4,
    /// A key withdrawn by the health authority.
    Revoked = 5,
}

/// A report type number that the protocol does not define.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("report type {0} is not one of 0..=5")]
pub struct UnknownReportType(pub i32);

impl TryFrom<i32> for ReportType {
    type Error = UnknownReportType;

    fn try_from(value: i32) -> Result<Self, Self::Error> {
        Ok(match value {
            0 => Self::Unknown,
            1 => Self::ConfirmedTest,
            2 => Self::ConfirmedClinicalDiagnosis,
            3 => Self::SelfReport,
            4 => Self::Recursive,
            5 => Self::Revoked,
            other => return Err(UnknownReportType(other)),
        })
    }
}

impl From<ReportType> for i32 {
    fn from(value: ReportType) -> Self {
        value as i32
    }
}

/// A published temporary exposure key with its export metadata (spec §gaen.2).
///
/// Public data: anyone may hold it, so it is `Copy` and ordered. The key bytes are those of the
/// TEK the owner's phone used.
///
/// With `serde` it reads and writes the export file's own field names, flat:
/// `{"key_data": "<32 hex digits>", "rolling_start_interval_number": …, "rolling_period": …,
/// "transmission_risk_level": …, "report_type": …, "days_since_onset_of_symptoms": …}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "wire::Flat", into = "wire::Flat"))]
pub struct DiagnosisKey {
    /// The 16 key bytes.
    pub key_data: [u8; 16],
    /// The intervals the key was used for. Never assume the start is aligned to a day.
    pub window: RollingWindow,
    /// Transmission risk level, 0..=8 (0: not set; deprecated by the v1.5 API in favour of the
    /// report type).
    pub transmission_risk_level: u8,
    /// How the case was confirmed.
    pub report_type: ReportType,
    /// Days from symptom onset to the key's day, as published (servers send −14..=14; engines
    /// treat anything else as missing).
    pub days_since_onset_of_symptoms: Option<i32>,
}

impl DiagnosisKey {
    /// A key with no export metadata: TRL 0, report type unknown, onset missing.
    #[must_use]
    pub const fn new(key_data: [u8; 16], window: RollingWindow) -> Self {
        Self {
            key_data,
            window,
            transmission_risk_level: 0,
            report_type: ReportType::Unknown,
            days_since_onset_of_symptoms: None,
        }
    }

    /// `RPIK = HKDF(key, salt = none, "EN-RPIK", 16)`.
    #[must_use]
    pub fn rolling_proximity_identifier_key(&self) -> RollingProximityIdentifierKey {
        RollingProximityIdentifierKey::derive(&self.key_data)
    }

    /// `AEMK = HKDF(key, salt = none, "EN-AEMK", 16)`.
    #[must_use]
    pub fn associated_encrypted_metadata_key(&self) -> AssociatedEncryptedMetadataKey {
        AssociatedEncryptedMetadataKey::derive(&self.key_data)
    }
}

/// The serde form of [`DiagnosisKey`]: the export file's field names, flat.
#[cfg(feature = "serde")]
mod wire {
    use super::{DiagnosisKey, ReportType};
    use crate::time::{EnIntervalNumber, RollingPeriod, RollingWindow, TimeError};

    #[derive(serde::Serialize, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Flat {
        #[serde(with = "key_data_hex")]
        key_data: [u8; 16],
        rolling_start_interval_number: u32,
        rolling_period: u32,
        #[serde(default)]
        transmission_risk_level: u8,
        #[serde(default)]
        report_type: ReportType,
        #[serde(default)]
        days_since_onset_of_symptoms: Option<i32>,
    }

    impl From<DiagnosisKey> for Flat {
        fn from(key: DiagnosisKey) -> Self {
            Self {
                key_data: key.key_data,
                rolling_start_interval_number: key.window.start().get(),
                rolling_period: key.window.period().get(),
                transmission_risk_level: key.transmission_risk_level,
                report_type: key.report_type,
                days_since_onset_of_symptoms: key.days_since_onset_of_symptoms,
            }
        }
    }

    impl TryFrom<Flat> for DiagnosisKey {
        type Error = TimeError;

        fn try_from(flat: Flat) -> Result<Self, TimeError> {
            let window = RollingWindow::new(
                EnIntervalNumber::new(flat.rolling_start_interval_number),
                RollingPeriod::new(flat.rolling_period)?,
            )?;
            Ok(Self {
                key_data: flat.key_data,
                window,
                transmission_risk_level: flat.transmission_risk_level,
                report_type: flat.report_type,
                days_since_onset_of_symptoms: flat.days_since_onset_of_symptoms,
            })
        }
    }

    mod key_data_hex {
        pub(in super::super) fn serialize<S: serde::Serializer>(
            bytes: &[u8; 16],
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            crate::bytes::serialize_hex(bytes, false, serializer)
        }

        pub(in super::super) fn deserialize<'de, D: serde::Deserializer<'de>>(
            deserializer: D,
        ) -> Result<[u8; 16], D::Error> {
            crate::bytes::deserialize_hex(deserializer)
        }
    }
}
