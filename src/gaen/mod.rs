//! Google/Apple Exposure Notification v1.2: the key schedule, identifiers and metadata.
//!
//! Specified in `spec/gaen-key-schedule.md`. The data flow is
//!
//! ```text
//! TEK ──HKDF "EN-RPIK"──▶ RPIK ──AES(PaddedData(i))──▶ RPI_i ─┐
//!  └───HKDF "EN-AEMK"──▶ AEMK ──AES-CTR(IV = RPI_i)──────────▶ AEM_i = E(Metadata)
//! ```
//!
//! Everything here works without an allocator. Secrets ([`TemporaryExposureKey`],
//! [`RollingProximityIdentifierKey`], [`AssociatedEncryptedMetadataKey`]) are zeroized on drop,
//! print as `{ .. }` and compare in constant time; the published [`DiagnosisKey`] and the
//! broadcast [`RollingProximityIdentifier`] and [`AssociatedEncryptedMetadata`] are plain values.

mod diagnosis;
mod identifier;
mod keys;
mod metadata;

pub use diagnosis::{DiagnosisKey, ReportType, UnknownReportType};
pub(crate) use identifier::padded_interval;
pub use identifier::{
    AssociatedEncryptedMetadata, RPI_PADDING_PREFIX, RollingProximityIdentifier, padded_data,
};
pub use keys::{
    AEMK_INFO, AssociatedEncryptedMetadataKey, RPIK_INFO, RollingProximityIdentifierKey,
    StillInUse, TemporaryExposureKey,
};
pub use metadata::{CalibrationConfidence, Metadata};
