//! Encounters: what a phone heard, recorded compactly and kept safely (spec `spec/encounter.md`).
//!
//! * [`record`]: the sighting types and their fixed-size binary encoding (core).
//! * [`frame`]: segment headers, checksummed frames and a scanner that recovers every intact
//!   record around damage (core).
//! * [`csv`]: the `unix_seconds,rpi,aem,rssi` CSV researchers exchange (core).
//! * [`log`]: the on-device log, a folder of daily append-only segments (`std`).
//! * [`source`]: the GAEN sightings at a path, a log folder or a CSV file, read strictly
//!   (`std`).

pub mod csv;
pub mod frame;
#[cfg(feature = "std")]
pub mod log;
pub mod record;
#[cfg(feature = "std")]
pub mod source;

pub use record::{BluezoneSighting, GaenSighting, RecordError, Sighting};
