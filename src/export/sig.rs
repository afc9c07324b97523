//! `export.sig`: a `TEKSignatureList` (spec §export.4).
//!
//! ```text
//! message TEKSignatureList { repeated TEKSignature signatures = 1; }
//! message TEKSignature {
//!   optional SignatureInfo signature_info = 1;  optional int32 batch_num = 2;
//!   optional int32 batch_size = 3;              optional bytes signature = 4;  // DER ECDSA
//! }
//! ```

use alloc::vec::Vec;

use super::ExportError;
use super::bin::{SignatureInfo, decode_signature_info, encode_signature_info, int32};
use super::proto::number::signature::{BATCH_NUM, BATCH_SIZE, SIGNATURE, SIGNATURE_INFO};
use super::proto::number::signature_list::SIGNATURES;
use super::proto::{self, Fields, LEN, VARINT, Value};

/// One signature over an `export.bin`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TekSignature {
    /// Which key signed, and how.
    pub signature_info: Option<SignatureInfo>,
    /// This file's number in its batch.
    pub batch_num: Option<i32>,
    /// Files in the batch.
    pub batch_size: Option<i32>,
    /// The ASN.1 DER ECDSA signature `SEQUENCE { r INTEGER, s INTEGER }`.
    pub signature: Vec<u8>,
}

fn wrong_type(
    message: &'static str,
    field: u32,
    value: &Value<'_>,
    expected: u8,
    offset: u64,
) -> ExportError {
    ExportError::FieldType {
        offset,
        message,
        field,
        wire_type: value.wire_type(),
        expected,
    }
}

fn decode_signature(bytes: &[u8], base: u64) -> Result<TekSignature, ExportError> {
    const NAME: &str = "TEKSignature";
    let mut signature = TekSignature::default();
    for field in Fields::new(bytes, base) {
        let field = field?;
        match (field.number, field.value) {
            (SIGNATURE_INFO, Value::Bytes(b)) => {
                signature.signature_info = Some(decode_signature_info(b, field.body_offset)?);
            }
            (BATCH_NUM, Value::Varint(v)) => signature.batch_num = Some(int32(v)),
            (BATCH_SIZE, Value::Varint(v)) => signature.batch_size = Some(int32(v)),
            (SIGNATURE, Value::Bytes(b)) => signature.signature = Vec::from(b),
            (n @ (SIGNATURE_INFO | SIGNATURE), v) => {
                return Err(wrong_type(NAME, n, &v, LEN, field.offset));
            }
            (n @ (BATCH_NUM | BATCH_SIZE), v) => {
                return Err(wrong_type(NAME, n, &v, VARINT, field.offset));
            }
            _ => {}
        }
    }
    Ok(signature)
}

/// Reads an `export.sig`.
///
/// # Errors
/// [`ExportError`] for malformed protobuf or a field of the wrong type.
pub fn parse(bytes: &[u8]) -> Result<Vec<TekSignature>, ExportError> {
    let mut signatures = Vec::new();
    for field in Fields::new(bytes, 0) {
        let field = field?;
        match (field.number, field.value) {
            (SIGNATURES, Value::Bytes(b)) => {
                signatures.push(decode_signature(b, field.body_offset)?);
            }
            (n @ SIGNATURES, v) => {
                return Err(wrong_type("TEKSignatureList", n, &v, LEN, field.offset));
            }
            _ => {}
        }
    }
    Ok(signatures)
}

/// Writes an `export.sig` with fields in number order, as the reference server does.
#[must_use]
pub fn encode(signatures: &[TekSignature]) -> Vec<u8> {
    let mut out = Vec::new();
    for signature in signatures {
        let mut message = Vec::new();
        if let Some(info) = &signature.signature_info {
            encode_signature_info(&mut message, SIGNATURE_INFO, info);
        }
        for (number, value) in [
            (BATCH_NUM, signature.batch_num),
            (BATCH_SIZE, signature.batch_size),
        ] {
            if let Some(v) = value {
                proto::put_tag(&mut message, number, VARINT);
                proto::put_varint(&mut message, proto::int32_varint(v));
            }
        }
        proto::put_bytes(&mut message, SIGNATURE, &signature.signature);
        proto::put_bytes(&mut out, SIGNATURES, &message);
    }
    out
}
