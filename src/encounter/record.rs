//! Sighting records and their fixed-size binary encoding (spec §enc.1).

use crate::blid::BluezoneId;
use crate::codec::{Reader, Short};
use crate::gaen::{AssociatedEncryptedMetadata, RollingProximityIdentifier};

/// Record kind byte of a GAEN sighting, format version 1.
pub const KIND_GAEN_V1: u8 = 0x01;
/// Record kind byte of a Bluezone sighting, format version 1.
pub const KIND_BLUEZONE_V1: u8 = 0x02;
/// Encoded length of a GAEN sighting, kind byte included.
pub const GAEN_RECORD_LEN: usize = 38;
/// Encoded length of a Bluezone sighting, kind byte included.
pub const BLUEZONE_RECORD_LEN: usize = 34;
/// The longest encoded record.
pub const MAX_RECORD_LEN: usize = GAEN_RECORD_LEN;

/// One received Exposure Notification advertisement, as Google's engine stores it.
///
/// Its layout is C's (40 bytes, every bit pattern valid): a firmware written in C keeps its
/// log as an array of the C ABI's `bz_gaen_sighting`, and the no-allocator matcher reads that
/// array in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[repr(C)]
pub struct GaenSighting {
    /// When it was received, Unix seconds.
    pub unix_seconds: u64,
    /// The identifier received.
    pub rpi: RollingProximityIdentifier,
    /// Its encrypted metadata.
    pub aem: AssociatedEncryptedMetadata,
    /// Calibrated RSSI in dBm (raw RSSI plus the device's offset, clamped to −127..=126 by
    /// Google's engine).
    pub rssi: i8,
    /// When the previous scan ran, Unix seconds; 0 when unknown, as in Google's engine. Risk
    /// scoring derives each scan's duration from it.
    pub previous_scan_unix_seconds: u64,
}

/// One row of a Bluezone contact history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct BluezoneSighting {
    /// When, Unix milliseconds (iOS histories, in seconds, are multiplied by 1000).
    pub unix_ms: u64,
    /// The identifier heard.
    pub contact_id: BluezoneId,
    /// The identifier this phone was broadcasting.
    pub own_id: BluezoneId,
    /// RSSI in dBm.
    pub rssi: i8,
}

impl From<&BluezoneSighting> for crate::blid::HistoryLine {
    /// The contact-history row of a sighting, in milliseconds (the Android app's unit), as
    /// the Bluezone matcher and F1 rule read it.
    fn from(s: &BluezoneSighting) -> Self {
        Self {
            own_id: s.own_id,
            contact_id: s.contact_id,
            rssi: s.rssi,
            timestamp: s.unix_ms,
        }
    }
}

/// A sighting of either protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Sighting {
    /// Exposure Notification.
    Gaen(GaenSighting),
    /// Bluezone 2020.
    Bluezone(BluezoneSighting),
}

/// Why bytes are not a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// No bytes at all.
    #[error("no record: empty input")]
    Empty,
    /// A kind byte this version does not know.
    #[error("unknown record kind {0:#04x}")]
    UnknownKind(u8),
    /// Fewer or more bytes than the kind's fixed length.
    #[error("record of kind {kind:#04x} needs {expected} bytes, got {found}")]
    Length {
        /// The kind byte.
        kind: u8,
        /// The kind's length.
        expected: usize,
        /// Bytes given.
        found: usize,
    },
    /// The output buffer is too small.
    #[error("output buffer of {available} bytes, the record needs {needed}")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
}

impl RecordError {
    /// A stable kebab-case label for the kind of failure, as negative vectors name it.
    #[must_use]
    pub const fn class(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::UnknownKind(_) => "unknown-kind",
            Self::Length { .. } => "length",
            Self::BufferTooSmall { .. } => "buffer-too-small",
        }
    }
}

/// The encoded length of a record of `kind`, or `None` for an unknown kind.
#[must_use]
pub const fn record_len(kind: u8) -> Option<usize> {
    match kind {
        KIND_GAEN_V1 => Some(GAEN_RECORD_LEN),
        KIND_BLUEZONE_V1 => Some(BLUEZONE_RECORD_LEN),
        _ => None,
    }
}

impl Sighting {
    /// When the sighting happened, Unix seconds (rounded down for Bluezone).
    #[must_use]
    pub const fn unix_seconds(&self) -> u64 {
        match self {
            Self::Gaen(s) => s.unix_seconds,
            Self::Bluezone(s) => s.unix_ms / 1000,
        }
    }

    /// The kind byte of this record.
    #[must_use]
    pub const fn kind(&self) -> u8 {
        match self {
            Self::Gaen(_) => KIND_GAEN_V1,
            Self::Bluezone(_) => KIND_BLUEZONE_V1,
        }
    }

    /// The encoded length of this record.
    #[must_use]
    pub const fn encoded_len(&self) -> usize {
        match self {
            Self::Gaen(_) => GAEN_RECORD_LEN,
            Self::Bluezone(_) => BLUEZONE_RECORD_LEN,
        }
    }

    /// Writes the record (kind byte first, integers little-endian) to the start of `out`,
    /// returning the number of bytes written.
    ///
    /// # Errors
    /// [`RecordError::BufferTooSmall`] when `out` is shorter than the record.
    pub fn encode_into(&self, out: &mut [u8]) -> Result<usize, RecordError> {
        let len = self.encoded_len();
        let available = out.len();
        let out = out.get_mut(..len).ok_or(RecordError::BufferTooSmall {
            needed: len,
            available,
        })?;
        let mut position = 0;
        let mut put = |bytes: &[u8]| {
            if let Some(slot) = out.get_mut(position..position + bytes.len()) {
                slot.copy_from_slice(bytes);
            }
            position += bytes.len();
        };
        put(&[self.kind()]);
        match self {
            Self::Gaen(s) => {
                put(&s.unix_seconds.to_le_bytes());
                put(s.rpi.as_bytes());
                put(s.aem.as_bytes());
                put(&s.rssi.to_le_bytes());
                put(&s.previous_scan_unix_seconds.to_le_bytes());
            }
            Self::Bluezone(s) => {
                put(&s.unix_ms.to_le_bytes());
                put(s.contact_id.as_bytes());
                put(s.own_id.as_bytes());
                put(&s.rssi.to_le_bytes());
            }
        }
        debug_assert_eq!(position, len);
        Ok(len)
    }

    /// Reads exactly one record; trailing bytes are an error.
    ///
    /// # Errors
    /// [`RecordError`] for an empty input, an unknown kind or a wrong length.
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        let (&kind, _) = bytes.split_first().ok_or(RecordError::Empty)?;
        let expected = record_len(kind).ok_or(RecordError::UnknownKind(kind))?;
        let length = RecordError::Length {
            kind,
            expected,
            found: bytes.len(),
        };
        if bytes.len() != expected {
            return Err(length);
        }
        // The length was checked, so a short read cannot happen; were it to, it is the same
        // error, never a field of zeros.
        let mut r = Reader::new(bytes);
        let read = |r: &mut Reader<'_>| -> Result<Self, Short> {
            r.u8()?;
            Ok(match kind {
                KIND_GAEN_V1 => Self::Gaen(GaenSighting {
                    unix_seconds: r.u64()?,
                    rpi: RollingProximityIdentifier::from_bytes(r.array()?),
                    aem: AssociatedEncryptedMetadata::from_bytes(r.array()?),
                    rssi: r.i8()?,
                    previous_scan_unix_seconds: r.u64()?,
                }),
                _ => Self::Bluezone(BluezoneSighting {
                    unix_ms: r.u64()?,
                    contact_id: BluezoneId::from_bytes(r.array()?),
                    own_id: BluezoneId::from_bytes(r.array()?),
                    rssi: r.i8()?,
                }),
            })
        };
        read(&mut r).map_err(|Short| length)
    }
}
