//! Key export files: `export.bin`, `export.sig` and the `export.zip` that carries them
//! (spec `spec/export.md`).
//!
//! * [`bin`]: the export metadata and keys, read lazily from a byte slice and written in the
//!   reference server's field order (`alloc`).
//! * [`sig`]: the `TEKSignatureList` of `export.sig` (`alloc`).
//! * [`stream`]: the same reader over any `std::io::Read`, in bounded memory, and a streaming
//!   writer (`std`).
//! * [`verify`]: ECDSA P-256 signatures, a registry of public keys, signing (feature `export`).
//! * [`archive`]: the zip container with bounded decompression (feature `export`).
//! * [`file`](mod@file): the one-shot verbs: [`write_signed`] a signed `export.zip` in one call, and
//!   [`ExportFile`] to stream a file's keys and verify it in one pass (feature `export`).
//! * [`publish`]: the key server's publish JSON, input to the writer (feature `json`).
//! * [`upload`]: the TEK HMAC a phone proves its upload with (feature `json`).

#[cfg(feature = "export")]
pub mod archive;
#[cfg(feature = "alloc")]
pub mod bin;
#[cfg(feature = "export")]
pub mod file;
#[cfg(feature = "alloc")]
pub(crate) mod proto;
#[cfg(feature = "json")]
pub mod publish;
#[cfg(feature = "alloc")]
pub mod sig;
#[cfg(feature = "std")]
pub mod stream;
#[cfg(feature = "json")]
pub mod upload;
#[cfg(feature = "export")]
pub mod verify;

#[cfg(feature = "export")]
pub use file::{
    ExportFile, ExportFileError, ExportFormat, ExportSummary, KeyStream, Signer, Written,
    write_signed,
};

/// The 16 bytes that open every `export.bin`: `"EK Export v1"` padded with four spaces.
pub const EXPORT_HEADER: &[u8; 16] = b"EK Export v1    ";

/// Why an `export.bin` or `export.sig` could not be read. Offsets count from the start of the
/// file, header included; key indexes count from 0 within keys or within revised keys.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The file does not start with `"EK Export v1    "`.
    #[error("not an export.bin: the first 16 bytes are not \"EK Export v1    \"")]
    Header,
    /// A varint runs past the end of its message, or past 10 bytes or 64 bits.
    #[error("malformed or truncated varint at byte {offset}")]
    Varint {
        /// Where it starts.
        offset: u64,
    },
    /// A field needs more bytes than its message has left.
    #[error("field at byte {offset} needs {declared} bytes, {available} remain")]
    Length {
        /// Where the field's tag is.
        offset: u64,
        /// Bytes the field needs.
        declared: u64,
        /// Bytes left.
        available: u64,
    },
    /// Field number 0 or above 2^29 − 1.
    #[error("invalid field number at byte {offset}")]
    FieldNumber {
        /// Where the tag is.
        offset: u64,
    },
    /// Wire type 3, 4 (groups), 6 or 7.
    #[error("field {field} at byte {offset} has unsupported wire type {wire_type}")]
    WireType {
        /// Where the tag is.
        offset: u64,
        /// The field number.
        field: u32,
        /// The wire type.
        wire_type: u8,
    },
    /// A known field with the wrong wire type.
    #[error("{message}.{field} at byte {offset} has wire type {wire_type}, expected {expected}")]
    FieldType {
        /// Where the tag is.
        offset: u64,
        /// The message it belongs to.
        message: &'static str,
        /// The field number.
        field: u32,
        /// The wire type found.
        wire_type: u8,
        /// The wire type the schema gives.
        expected: u8,
    },
    /// A string field that is not UTF-8.
    #[error("{message}.{field} at byte {offset} is not UTF-8")]
    Utf8 {
        /// Where the tag is.
        offset: u64,
        /// The message.
        message: &'static str,
        /// The field number.
        field: u32,
    },
    /// A key without `key_data`, or whose `key_data` is not 16 bytes.
    #[error("{list} #{index} at byte {offset}: key_data is {len} bytes, expected 16")]
    KeyLength {
        /// "key" or "revised key".
        list: &'static str,
        /// Index within its list.
        index: u64,
        /// Where the key message is.
        offset: u64,
        /// Its length (0 when missing).
        len: usize,
    },
    /// `rolling_period` outside 1..=144, or a window past interval 0xFFFFFFFF.
    #[error(
        "{list} #{index} at byte {offset}: rolling period {period} from interval {start} is invalid"
    )]
    RollingWindow {
        /// "key" or "revised key".
        list: &'static str,
        /// Index within its list.
        index: u64,
        /// Where the key message is.
        offset: u64,
        /// The rolling start found.
        start: u32,
        /// The rolling period found.
        period: i64,
    },
    /// `transmission_risk_level` outside 0..=8.
    #[error("{list} #{index} at byte {offset}: transmission risk level {value} is outside 0..=8")]
    TransmissionRiskLevel {
        /// "key" or "revised key".
        list: &'static str,
        /// Index within its list.
        index: u64,
        /// Where the key message is.
        offset: u64,
        /// The value found.
        value: i64,
    },
    /// A report type the protocol does not define.
    #[error("{list} #{index} at byte {offset}: report type {value} is not one of 0..=5")]
    ReportType {
        /// "key" or "revised key".
        list: &'static str,
        /// Index within its list.
        index: u64,
        /// Where the key message is.
        offset: u64,
        /// The value found.
        value: i64,
    },
    /// A field longer than a streaming reader accepts.
    #[error("field at byte {offset} is {len} bytes, more than the {max} a streaming reader holds")]
    FieldTooLong {
        /// Where the tag is.
        offset: u64,
        /// Its length.
        len: u64,
        /// The limit.
        max: u64,
    },
}

impl ExportError {
    /// Whether the error concerns one key only (its length, window, risk level or report
    /// type) rather than the structure of the file: the key's bytes were read whole, so a
    /// reader can go on with the next key, and the file's signature still covers every byte.
    #[must_use]
    pub const fn is_per_key(&self) -> bool {
        matches!(
            self,
            Self::KeyLength { .. }
                | Self::RollingWindow { .. }
                | Self::TransmissionRiskLevel { .. }
                | Self::ReportType { .. }
        )
    }

    /// A stable kebab-case label for the kind of failure.
    #[must_use]
    pub const fn class(&self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Varint { .. } => "varint",
            Self::Length { .. } => "length",
            Self::FieldNumber { .. } => "field-number",
            Self::WireType { .. } => "wire-type",
            Self::FieldType { .. } => "field-type",
            Self::Utf8 { .. } => "utf8",
            Self::KeyLength { .. } => "key-length",
            Self::RollingWindow { .. } => "rolling-window",
            Self::TransmissionRiskLevel { .. } => "transmission-risk-level",
            Self::ReportType { .. } => "report-type",
            Self::FieldTooLong { .. } => "field-too-long",
        }
    }
}
