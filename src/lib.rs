#![doc = include_str!("../README.md")]
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
// Every `as` between integer widths, signs or floats is either replaced by a checked
// conversion or named where it is intended, with its reason.
#![warn(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    clippy::cast_lossless
)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

pub mod ble;
pub mod blid;
mod bytes;
pub mod calibration;
mod codec;
pub mod encounter;
pub mod export;
pub mod gaen;
pub mod hex;
pub mod matching;
#[cfg(all(feature = "json", feature = "export"))]
pub mod phone;
#[cfg(feature = "alloc")]
pub mod risk;
pub mod time;
#[cfg(feature = "vectors")]
pub mod vectors;

pub use ble::{AdvertisementError, ExposureNotificationAdvertisement};
pub use gaen::{
    AssociatedEncryptedMetadata, AssociatedEncryptedMetadataKey, DiagnosisKey, Metadata,
    ReportType, RollingProximityIdentifier, RollingProximityIdentifierKey, TemporaryExposureKey,
};
pub use time::{EnIntervalNumber, RollingPeriod, RollingWindow, TimeError};

pub use bytes::LengthError;
/// Re-exported so that callers can name the RNG traits the key generators take.
pub use rand_core;
