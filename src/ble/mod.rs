//! Bluetooth LE advertising payloads (spec `spec/advertisement.md`).
//!
//! [`ad`] walks the length-type-value structures of any legacy advertising payload;
//! [`gaen`] encodes and parses the Exposure Notification advertisement (UUID `0xFD6F`).
//! Nothing here allocates, and every malformed payload yields an [`AdvertisementError`].

pub mod ad;
pub mod bluezone;
pub mod gaen;

pub use ad::{AdStructure, AdStructures, LEGACY_PAYLOAD_MAX};
pub use bluezone::IosRecognition;
pub use gaen::{ExposureNotificationAdvertisement, ParsedExposureNotification};

use crate::blid::BluezoneId;

/// What an advertising payload is, as far as proximity tracing cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdvertisementKind {
    /// An Exposure Notification advertisement (service data `0xFD6F`).
    Gaen(ParsedExposureNotification),
    /// An Android phone running Bluezone, with the identifier it broadcasts.
    BluezoneAndroid(BluezoneId),
    /// An iPhone running Bluezone: read the identifier over GATT.
    BluezoneIos(IosRecognition),
    /// Anything else.
    Unknown,
}

/// Classifies any legacy advertising payload (spec §blid.5.4), in this order:
/// service data for `0xFD6F` makes it GAEN; a listed `0x4E56` makes it Android Bluezone
/// (whose manufacturer data must then be valid); the iOS Bluezone service UUID or Bluezone's
/// bit in Apple's overflow area makes it iOS Bluezone; otherwise it is unknown.
///
/// # Errors
/// A malformed payload, or a payload that claims to be GAEN or Android Bluezone and is not
/// valid as such.
pub fn classify(payload: &[u8]) -> Result<AdvertisementKind, AdvertisementError> {
    let mut facts = bluezone::BluezoneFacts::default();
    let mut gaen = false;
    for structure in AdStructures::new(payload)? {
        let structure = structure?;
        if structure.ad_type == ad::AD_TYPE_SERVICE_DATA_UUID16 {
            let (uuid, _) = structure.service_data_uuid16()?;
            gaen |= uuid == gaen::EXPOSURE_NOTIFICATION_UUID16;
        }
        facts.observe(structure)?;
    }
    if gaen {
        return ExposureNotificationAdvertisement::parse(payload).map(AdvertisementKind::Gaen);
    }
    if facts.lists_uuid16 {
        return facts.android_id().map(AdvertisementKind::BluezoneAndroid);
    }
    Ok(facts
        .ios()
        .map_or(AdvertisementKind::Unknown, AdvertisementKind::BluezoneIos))
}

/// Why an advertising payload could not be read. Grouped by what is wrong; [`Self::class`]
/// gives the stable label that negative test vectors use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdvertisementError {
    /// The payload is longer than a legacy advertisement can be.
    #[error("advertising payload is {len} bytes, more than the 31 of a legacy advertisement")]
    TooLong {
        /// Payload length.
        len: usize,
    },
    /// An AD structure claims more bytes than the payload has left.
    #[error("AD structure at byte {offset} declares {declared} bytes but only {available} remain")]
    Truncated {
        /// Offset of the structure's length byte.
        offset: usize,
        /// The length byte's value (type byte plus data).
        declared: usize,
        /// Bytes after the length byte.
        available: usize,
    },
    /// A zero length byte ends the data early; everything after it must be zero padding.
    #[error("non-zero byte at {offset} after the zero-length terminator")]
    NonZeroPadding {
        /// Offset of the first non-zero byte after the terminator.
        offset: usize,
    },
    /// A structure whose data is too short for its AD type (a service data structure without
    /// a full 16-bit UUID).
    #[error("AD structure of type {ad_type:#04x} at byte {offset} is too short for its type")]
    Malformed {
        /// Offset of the structure's length byte.
        offset: usize,
        /// Its AD type.
        ad_type: u8,
    },
    /// The payload has no service data for the expected service.
    #[error("no service data for UUID {uuid:#06x}")]
    MissingServiceData {
        /// The service looked for.
        uuid: u16,
    },
    /// The service data for the expected service appears more than once.
    #[error("service data for UUID {uuid:#06x} appears twice (second at byte {offset})")]
    DuplicateServiceData {
        /// The service.
        uuid: u16,
        /// Offset of the second structure's length byte.
        offset: usize,
    },
    /// A required 16-bit service UUID is not listed.
    #[error("16-bit service UUID {uuid:#06x} is not listed")]
    MissingServiceUuid {
        /// The service looked for.
        uuid: u16,
    },
    /// No manufacturer data for the expected company.
    #[error("no manufacturer data for company {company:#06x}")]
    MissingManufacturerData {
        /// The company looked for.
        company: u16,
    },
    /// The manufacturer data for the expected company appears more than once.
    #[error("manufacturer data for company {company:#06x} appears twice (second at byte {offset})")]
    DuplicateManufacturerData {
        /// The company.
        company: u16,
        /// Offset of the second structure's length byte.
        offset: usize,
    },
    /// The manufacturer data has the wrong length.
    #[error("manufacturer data for company {company:#06x} holds {len} bytes, expected {expected}")]
    ManufacturerDataLength {
        /// The company.
        company: u16,
        /// Bytes found after the company identifier.
        len: usize,
        /// Bytes expected.
        expected: usize,
    },
    /// The service data has the wrong length.
    #[error("service data for UUID {uuid:#06x} holds {len} bytes, expected {expected}")]
    ServiceDataLength {
        /// The service.
        uuid: u16,
        /// Bytes found after the UUID.
        len: usize,
        /// Bytes expected after the UUID.
        expected: usize,
    },
}

impl AdvertisementError {
    /// A stable kebab-case label for the kind of failure, as negative vectors name it.
    #[must_use]
    pub const fn class(&self) -> &'static str {
        match self {
            Self::TooLong { .. } => "too-long",
            Self::Truncated { .. } => "truncated",
            Self::NonZeroPadding { .. } => "non-zero-padding",
            Self::Malformed { .. } => "malformed",
            Self::MissingServiceData { .. } => "missing-service-data",
            Self::DuplicateServiceData { .. } => "duplicate-service-data",
            Self::ServiceDataLength { .. } => "service-data-length",
            Self::MissingServiceUuid { .. } => "missing-service-uuid",
            Self::MissingManufacturerData { .. } => "missing-manufacturer-data",
            Self::DuplicateManufacturerData { .. } => "duplicate-manufacturer-data",
            Self::ManufacturerDataLength { .. } => "manufacturer-data-length",
        }
    }
}
