//! The few pieces of the protobuf wire format the export files use (spec §export.2).
//!
//! Hand-written because the files must be streamed: a key export holds up to hundreds of
//! thousands of keys in one repeated field, and the protobuf crates decode a message whole.

use super::ExportError;
use crate::codec::{Reader, Short};

/// Wire type 0: varint.
pub(crate) const VARINT: u8 = 0;
/// Wire type 1: 8 bytes little-endian.
pub(crate) const FIXED64: u8 = 1;
/// Wire type 2: length-delimited.
pub(crate) const LEN: u8 = 2;
/// Wire type 5: 4 bytes little-endian.
pub(crate) const FIXED32: u8 = 5;

/// The field numbers of the messages of `export.proto` (spec §export.3, §export.4).
pub(crate) mod number {
    /// `TemporaryExposureKeyExport`.
    pub(crate) mod export {
        pub(crate) const START_TIMESTAMP: u32 = 1;
        pub(crate) const END_TIMESTAMP: u32 = 2;
        pub(crate) const REGION: u32 = 3;
        pub(crate) const BATCH_NUM: u32 = 4;
        pub(crate) const BATCH_SIZE: u32 = 5;
        pub(crate) const SIGNATURE_INFOS: u32 = 6;
        pub(crate) const KEYS: u32 = 7;
        pub(crate) const REVISED_KEYS: u32 = 8;
    }
    /// `TemporaryExposureKey`.
    pub(crate) mod key {
        pub(crate) const KEY_DATA: u32 = 1;
        pub(crate) const TRANSMISSION_RISK_LEVEL: u32 = 2;
        pub(crate) const ROLLING_START_INTERVAL_NUMBER: u32 = 3;
        pub(crate) const ROLLING_PERIOD: u32 = 4;
        pub(crate) const REPORT_TYPE: u32 = 5;
        pub(crate) const DAYS_SINCE_ONSET_OF_SYMPTOMS: u32 = 6;
    }
    /// `SignatureInfo`.
    pub(crate) mod signature_info {
        pub(crate) const APP_BUNDLE_ID: u32 = 1;
        pub(crate) const ANDROID_PACKAGE: u32 = 2;
        pub(crate) const VERIFICATION_KEY_VERSION: u32 = 3;
        pub(crate) const VERIFICATION_KEY_ID: u32 = 4;
        pub(crate) const SIGNATURE_ALGORITHM: u32 = 5;
    }
    /// `TEKSignatureList`.
    pub(crate) mod signature_list {
        pub(crate) const SIGNATURES: u32 = 1;
    }
    /// `TEKSignature`.
    pub(crate) mod signature {
        pub(crate) const SIGNATURE_INFO: u32 = 1;
        pub(crate) const BATCH_NUM: u32 = 2;
        pub(crate) const BATCH_SIZE: u32 = 3;
        pub(crate) const SIGNATURE: u32 = 4;
    }
}

/// The value of one field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl Value<'_> {
    pub(crate) const fn wire_type(&self) -> u8 {
        match self {
            Self::Varint(_) => VARINT,
            Self::Fixed64(_) => FIXED64,
            Self::Bytes(_) => LEN,
            Self::Fixed32(_) => FIXED32,
        }
    }
}

/// Reads a varint from the start of `bytes`: (value, bytes used).
///
/// # Errors
/// [`ExportError::Varint`] when the bytes end first or the varint is longer than 10 bytes or
/// overflows 64 bits. `offset` is where `bytes` starts in the file, for the report.
pub(crate) fn varint(bytes: &[u8], offset: u64) -> Result<(u64, usize), ExportError> {
    let mut value = 0u64;
    for (index, &byte) in bytes.iter().enumerate().take(10) {
        let payload = u64::from(byte & 0x7F);
        // The tenth byte may only contribute the top bit.
        if index == 9 && byte > 1 {
            return Err(ExportError::Varint { offset });
        }
        value |= payload << (7 * index);
        if byte & 0x80 == 0 {
            return Ok((value, index + 1));
        }
    }
    Err(ExportError::Varint { offset })
}

/// An `int32` as the wire carries it: sign-extended to 64 bits.
#[cfg(feature = "alloc")]
pub(crate) fn int32_varint(v: i32) -> u64 {
    i64::from(v).cast_unsigned()
}

/// Appends `value` as a varint.
#[cfg(feature = "alloc")]
pub(crate) fn put_varint(out: &mut alloc::vec::Vec<u8>, mut value: u64) {
    loop {
        let [low, ..] = value.to_le_bytes();
        if value < 0x80 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
        value >>= 7;
    }
}

/// Appends a field tag.
#[cfg(feature = "alloc")]
pub(crate) fn put_tag(out: &mut alloc::vec::Vec<u8>, field: u32, wire_type: u8) {
    put_varint(out, (u64::from(field) << 3) | u64::from(wire_type));
}

/// Appends a length-delimited field.
#[cfg(feature = "alloc")]
pub(crate) fn put_bytes(out: &mut alloc::vec::Vec<u8>, field: u32, bytes: &[u8]) {
    put_tag(out, field, LEN);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Splits a tag into (field number, wire type), refusing field 0, groups and unknown types.
pub(crate) fn split_tag(tag: u64, offset: u64) -> Result<(u32, u8), ExportError> {
    let wire_type = (tag & 7) as u8;
    let field = tag >> 3;
    let field = u32::try_from(field)
        .ok()
        .filter(|f| (1..(1 << 29)).contains(f))
        .ok_or(ExportError::FieldNumber { offset })?;
    if !matches!(wire_type, VARINT | FIXED64 | LEN | FIXED32) {
        return Err(ExportError::WireType {
            offset,
            field,
            wire_type,
        });
    }
    Ok((field, wire_type))
}

/// One field of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Field<'a> {
    pub(crate) number: u32,
    pub(crate) value: Value<'a>,
    /// Offset of the tag in the file.
    pub(crate) offset: u64,
    /// Offset of the value's first byte (after the length, for length-delimited fields).
    pub(crate) body_offset: u64,
}

/// The fields of one message held in memory, in order.
#[derive(Clone, Debug)]
pub(crate) struct Fields<'a> {
    reader: Reader<'a>,
    /// Offset of the message's first byte in the file.
    base: u64,
    failed: bool,
}

impl<'a> Fields<'a> {
    pub(crate) const fn new(bytes: &'a [u8], base: u64) -> Self {
        Self {
            reader: Reader::new(bytes),
            base,
            failed: false,
        }
    }

    /// The file offset of the next byte to read.
    fn offset(&self) -> u64 {
        self.base.saturating_add(self.reader.used() as u64)
    }

    /// A varint at the reader's position.
    fn varint(&mut self) -> Result<u64, ExportError> {
        let (value, used) = varint(self.reader.rest(), self.offset())?;
        self.reader
            .take(used)
            .map_err(|Short| ExportError::Varint {
                offset: self.offset(),
            })?;
        Ok(value)
    }

    fn read(&mut self) -> Result<Field<'a>, ExportError> {
        let start = self.offset();
        let tag = self.varint()?;
        let (field, wire_type) = split_tag(tag, start)?;
        let available = self.reader.rest().len() as u64;
        let truncated = |declared: u64| ExportError::Length {
            offset: start,
            declared,
            available,
        };
        let mut body_offset = self.offset();
        let value = match wire_type {
            VARINT => Value::Varint(self.varint()?),
            FIXED64 => Value::Fixed64(self.reader.u64().map_err(|Short| truncated(8))?),
            FIXED32 => Value::Fixed32(self.reader.u32().map_err(|Short| truncated(4))?),
            _ => {
                let len = self.varint()?;
                body_offset = self.offset();
                let body = usize::try_from(len)
                    .map_err(|_| Short)
                    .and_then(|len| self.reader.take(len))
                    .map_err(|Short| ExportError::Length {
                        offset: start,
                        declared: len,
                        available: self.reader.rest().len() as u64,
                    })?;
                Value::Bytes(body)
            }
        };
        Ok(Field {
            number: field,
            value,
            offset: start,
            body_offset,
        })
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, ExportError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.reader.is_empty() {
            return None;
        }
        let item = self.read();
        self.failed = item.is_err();
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    /// Checks spec §export.2.
    fn varints() {
        assert_eq!(varint(&[0x00], 0), Ok((0, 1)));
        assert_eq!(varint(&[0xAC, 0x02], 0), Ok((300, 2)));
        // -1 as int32 on the wire: ten bytes.
        let minus_one = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01];
        assert_eq!(varint(&minus_one, 0), Ok((u64::MAX, 10)));
        assert!(varint(&[0x80], 7).is_err());
        assert!(varint(&[0xFF; 10], 0).is_err());
        assert!(
            varint(
                &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02],
                0
            )
            .is_err()
        );
    }

    #[cfg(feature = "alloc")]
    #[test]
    /// Checks spec §export.2.
    fn varints_round_trip() {
        let minus_one = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01];
        let mut out = alloc::vec::Vec::new();
        put_varint(&mut out, u64::MAX);
        assert_eq!(out, minus_one);
    }
}
