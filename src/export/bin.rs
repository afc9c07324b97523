//! `export.bin`: the 16-byte header, then a `TemporaryExposureKeyExport` message
//! (spec §export.3).

use alloc::string::String;
use alloc::vec::Vec;

use rand_core::CryptoRng;

use super::proto::number::{export, key, signature_info};
use super::proto::{self, FIXED64, Fields, LEN, VARINT, Value};
use super::{EXPORT_HEADER, ExportError};
use crate::gaen::{DiagnosisKey, ReportType};
use crate::time::{EnIntervalNumber, RollingPeriod, RollingWindow};

/// `SignatureInfo`: which key signed the file and how.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SignatureInfo {
    /// Reserved field 1 (`app_bundle_id`), still set in real files of 2020.
    pub app_bundle_id: Option<String>,
    /// Reserved field 2 (`android_package`), set in pre-release files.
    pub android_package: Option<String>,
    /// Field 3: the key version, for example `v1`.
    pub verification_key_version: Option<String>,
    /// Field 4: the key identifier, for example the region's MCC `310`.
    pub verification_key_id: Option<String>,
    /// Field 5: the algorithm, normally the OID `1.2.840.10045.4.3.2` (ECDSA with SHA-256).
    pub signature_algorithm: Option<String>,
}

/// Everything in `TemporaryExposureKeyExport` except the keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ExportMetadata {
    /// Field 1: start of the period the keys arrived in, Unix seconds.
    pub start_timestamp: Option<u64>,
    /// Field 2: its end.
    pub end_timestamp: Option<u64>,
    /// Field 3: the region, for example `US` or the MCC `222`.
    pub region: Option<String>,
    /// Field 4: this file's number in its batch, from 1.
    pub batch_num: Option<i32>,
    /// Field 5: files in the batch.
    pub batch_size: Option<i32>,
    /// Field 6: one entry per signature in `export.sig`.
    pub signature_infos: Vec<SignatureInfo>,
}

/// A key read from an export file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ExportedKey {
    /// The key and its export metadata.
    pub key: DiagnosisKey,
    /// Whether it came from `revised_keys` (field 8) rather than `keys` (field 7).
    pub revised: bool,
}

fn expect_type(
    message: &'static str,
    field: u32,
    value: &Value<'_>,
    expected: u8,
    offset: u64,
) -> Result<(), ExportError> {
    if value.wire_type() == expected {
        Ok(())
    } else {
        Err(ExportError::FieldType {
            offset,
            message,
            field,
            wire_type: value.wire_type(),
            expected,
        })
    }
}

fn string(
    message: &'static str,
    field: u32,
    value: &Value<'_>,
    offset: u64,
) -> Result<String, ExportError> {
    expect_type(message, field, value, LEN, offset)?;
    let Value::Bytes(bytes) = value else {
        return Err(ExportError::Utf8 {
            offset,
            message,
            field,
        });
    };
    core::str::from_utf8(bytes)
        .map(String::from)
        .map_err(|_| ExportError::Utf8 {
            offset,
            message,
            field,
        })
}

/// `int32` on the wire is a 64-bit varint whose low 32 bits are the value.
#[expect(
    clippy::cast_possible_truncation,
    reason = "int32 on the wire is the varint's low 32 bits"
)]
pub(crate) const fn int32(v: u64) -> i32 {
    (v as u32).cast_signed()
}

/// Reads a `SignatureInfo` message (here for `export.bin` and `export.sig` alike).
pub(crate) fn decode_signature_info(bytes: &[u8], base: u64) -> Result<SignatureInfo, ExportError> {
    const NAME: &str = "SignatureInfo";
    let mut info = SignatureInfo::default();
    for field in Fields::new(bytes, base) {
        let field = field?;
        let (number, value, offset) = (field.number, field.value, field.offset);
        let slot = match number {
            signature_info::APP_BUNDLE_ID => &mut info.app_bundle_id,
            signature_info::ANDROID_PACKAGE => &mut info.android_package,
            signature_info::VERIFICATION_KEY_VERSION => &mut info.verification_key_version,
            signature_info::VERIFICATION_KEY_ID => &mut info.verification_key_id,
            signature_info::SIGNATURE_ALGORITHM => &mut info.signature_algorithm,
            _ => continue,
        };
        *slot = Some(string(NAME, number, &value, offset)?);
    }
    Ok(info)
}

/// Decodes a `sint32` as protobuf's `readSInt32` does: the low 32 bits of the varint, then
/// zigzag.
const fn zigzag32(varint: u64) -> i32 {
    let n = int32(varint).cast_unsigned();
    (n >> 1).cast_signed() ^ -((n & 1).cast_signed())
}

/// Reads a `TemporaryExposureKey` message whose field tag is at `offset` and whose bytes
/// start at `base`.
pub(crate) fn decode_key(
    bytes: &[u8],
    offset: u64,
    base: u64,
    index: u64,
    revised: bool,
) -> Result<ExportedKey, ExportError> {
    const NAME: &str = "TemporaryExposureKey";
    let list = if revised { "revised key" } else { "key" };
    let mut key_data: Option<&[u8]> = None;
    let mut risk = 0u64;
    let mut start = 0u64;
    let mut period = u64::from(RollingPeriod::FULL_DAY.get());
    let mut report = 0u64;
    let mut onset = None;
    for field in Fields::new(bytes, base) {
        let field = field?;
        let (number, value, at) = (field.number, field.value, field.offset);
        let number_value = |expected| expect_type(NAME, number, &value, expected, at);
        match (number, value) {
            (key::KEY_DATA, Value::Bytes(b)) => key_data = Some(b),
            (key::TRANSMISSION_RISK_LEVEL, Value::Varint(v)) => risk = v,
            (key::ROLLING_START_INTERVAL_NUMBER, Value::Varint(v)) => start = v,
            (key::ROLLING_PERIOD, Value::Varint(v)) => period = v,
            (key::REPORT_TYPE, Value::Varint(v)) => report = v,
            // sint32 as protobuf reads it: the low 32 bits of the varint, zigzag-decoded
            // (spec §export.2).
            (key::DAYS_SINCE_ONSET_OF_SYMPTOMS, Value::Varint(v)) => onset = Some(zigzag32(v)),
            (key::KEY_DATA, _) => number_value(LEN)?,
            (key::TRANSMISSION_RISK_LEVEL..=key::DAYS_SINCE_ONSET_OF_SYMPTOMS, _) => {
                number_value(VARINT)?;
            }
            _ => {}
        }
    }
    let key_data: [u8; 16] =
        key_data
            .and_then(|b| b.try_into().ok())
            .ok_or(ExportError::KeyLength {
                list,
                index,
                offset,
                len: key_data.map_or(0, <[u8]>::len),
            })?;
    let start = EnIntervalNumber::new(int32(start).cast_unsigned());
    let period_value = i64::from(int32(period));
    let window = u32::try_from(period_value)
        .ok()
        .and_then(|p| RollingPeriod::new(p).ok())
        .and_then(|p| RollingWindow::new(start, p).ok())
        .ok_or(ExportError::RollingWindow {
            list,
            index,
            offset,
            start: start.get(),
            period: period_value,
        })?;
    let risk_value = i64::from(int32(risk));
    let transmission_risk_level = u8::try_from(risk_value).ok().filter(|&r| r <= 8).ok_or(
        ExportError::TransmissionRiskLevel {
            list,
            index,
            offset,
            value: risk_value,
        },
    )?;
    let report_value = i64::from(int32(report));
    let report_type = i32::try_from(report_value)
        .ok()
        .and_then(|r| ReportType::try_from(r).ok())
        .ok_or(ExportError::ReportType {
            list,
            index,
            offset,
            value: report_value,
        })?;
    Ok(ExportedKey {
        key: DiagnosisKey {
            key_data,
            window,
            transmission_risk_level,
            report_type,
            days_since_onset_of_symptoms: onset,
        },
        revised,
    })
}

/// What one top-level field of `TemporaryExposureKeyExport` holds.
#[cfg_attr(
    not(feature = "std"),
    allow(
        dead_code,
        reason = "the key's bytes and offsets are read by the streaming reader"
    )
)]
pub(crate) enum TopLevel<'a> {
    /// A key message (field 7) or revised key message (field 8), not yet decoded.
    Key {
        bytes: &'a [u8],
        offset: u64,
        base: u64,
        revised: bool,
    },
    /// Metadata, already stored.
    Metadata,
}

/// Handles one top-level field: stores metadata, hands back key messages.
pub(crate) fn top_level<'a>(
    field: proto::Field<'a>,
    metadata: &mut ExportMetadata,
) -> Result<TopLevel<'a>, ExportError> {
    const NAME: &str = "TemporaryExposureKeyExport";
    let (number, offset) = (field.number, field.offset);
    match (number, field.value) {
        (export::START_TIMESTAMP, Value::Fixed64(v)) => metadata.start_timestamp = Some(v),
        (export::END_TIMESTAMP, Value::Fixed64(v)) => metadata.end_timestamp = Some(v),
        (export::REGION, v) => metadata.region = Some(string(NAME, number, &v, offset)?),
        (export::BATCH_NUM, Value::Varint(v)) => metadata.batch_num = Some(int32(v)),
        (export::BATCH_SIZE, Value::Varint(v)) => metadata.batch_size = Some(int32(v)),
        (export::SIGNATURE_INFOS, Value::Bytes(b)) => {
            metadata
                .signature_infos
                .push(decode_signature_info(b, field.body_offset)?);
        }
        (export::KEYS | export::REVISED_KEYS, Value::Bytes(bytes)) => {
            return Ok(TopLevel::Key {
                bytes,
                offset,
                base: field.body_offset,
                revised: number == export::REVISED_KEYS,
            });
        }
        (export::START_TIMESTAMP | export::END_TIMESTAMP, v) => {
            expect_type(NAME, number, &v, FIXED64, offset)?;
        }
        (export::BATCH_NUM | export::BATCH_SIZE, v) => {
            expect_type(NAME, number, &v, VARINT, offset)?;
        }
        (export::SIGNATURE_INFOS..=export::REVISED_KEYS, v) => {
            expect_type(NAME, number, &v, LEN, offset)?;
        }
        _ => {}
    }
    Ok(TopLevel::Metadata)
}

/// An `export.bin` held in memory: its metadata, read up front, and its keys, decoded one at a
/// time on demand.
#[derive(Clone, Debug)]
pub struct ExportBin<'a> {
    body: &'a [u8],
    metadata: ExportMetadata,
    keys: u64,
    revised_keys: u64,
}

impl<'a> ExportBin<'a> {
    /// Checks the header and the structure of every field (so a truncated or malformed file
    /// fails here), and reads the metadata. Keys are decoded by [`Self::keys`].
    ///
    /// # Errors
    /// [`ExportError`] for a wrong header or a malformed top-level field.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ExportError> {
        let body = bytes
            .strip_prefix(EXPORT_HEADER.as_slice())
            .ok_or(ExportError::Header)?;
        let mut metadata = ExportMetadata::default();
        let (mut keys, mut revised_keys) = (0u64, 0u64);
        for field in Fields::new(body, EXPORT_HEADER.len() as u64) {
            if let TopLevel::Key { revised, .. } = top_level(field?, &mut metadata)? {
                if revised {
                    revised_keys += 1;
                } else {
                    keys += 1;
                }
            }
        }
        Ok(Self {
            body,
            metadata,
            keys,
            revised_keys,
        })
    }

    /// The metadata.
    #[must_use]
    pub const fn metadata(&self) -> &ExportMetadata {
        &self.metadata
    }

    /// Number of keys (field 7).
    #[must_use]
    pub const fn key_count(&self) -> u64 {
        self.keys
    }

    /// Number of revised keys (field 8).
    #[must_use]
    pub const fn revised_key_count(&self) -> u64 {
        self.revised_keys
    }

    /// The keys and revised keys in file order, each decoded and checked when reached.
    pub fn keys(&self) -> impl Iterator<Item = Result<ExportedKey, ExportError>> + 'a {
        let mut counts = [0u64; 2];
        Fields::new(self.body, EXPORT_HEADER.len() as u64).filter_map(move |field| {
            let field = match field {
                Ok(f) => f,
                Err(e) => return Some(Err(e)),
            };
            match (field.number, field.value) {
                (export::KEYS | export::REVISED_KEYS, Value::Bytes(bytes)) => {
                    let revised = field.number == export::REVISED_KEYS;
                    let slot = counts.get_mut(usize::from(revised))?;
                    let index = *slot;
                    *slot += 1;
                    Some(decode_key(
                        bytes,
                        field.offset,
                        field.body_offset,
                        index,
                        revised,
                    ))
                }
                _ => None,
            }
        })
    }
}

/// Appends a key message (field 7, or 8 when revised) as the reference server writes it:
/// `key_data`, `transmission_risk_level`, `rolling_start_interval_number`, then
/// `rolling_period` unless it is 144, `report_type` unless unknown, and
/// `days_since_onset_of_symptoms` when known.
pub fn encode_key(out: &mut Vec<u8>, key: &DiagnosisKey, revised: bool) {
    let mut message = Vec::with_capacity(40);
    proto::put_bytes(&mut message, key::KEY_DATA, &key.key_data);
    proto::put_tag(&mut message, key::TRANSMISSION_RISK_LEVEL, VARINT);
    proto::put_varint(&mut message, u64::from(key.transmission_risk_level));
    proto::put_tag(&mut message, key::ROLLING_START_INTERVAL_NUMBER, VARINT);
    // int32 on the wire: a start past 0x7FFFFFFF is a negative int32, sign-extended.
    proto::put_varint(
        &mut message,
        proto::int32_varint(key.window.start().get().cast_signed()),
    );
    if key.window.period() != RollingPeriod::FULL_DAY {
        proto::put_tag(&mut message, key::ROLLING_PERIOD, VARINT);
        proto::put_varint(&mut message, u64::from(key.window.period().get()));
    }
    if key.report_type != ReportType::Unknown {
        proto::put_tag(&mut message, key::REPORT_TYPE, VARINT);
        proto::put_varint(&mut message, key.report_type as u64);
    }
    if let Some(days) = key.days_since_onset_of_symptoms {
        proto::put_tag(&mut message, key::DAYS_SINCE_ONSET_OF_SYMPTOMS, VARINT);
        proto::put_varint(
            &mut message,
            u64::from(((days << 1) ^ (days >> 31)).cast_unsigned()),
        );
    }
    let number = if revised {
        export::REVISED_KEYS
    } else {
        export::KEYS
    };
    proto::put_bytes(out, number, &message);
}

/// Appends a `SignatureInfo` message as field `field`.
pub(crate) fn encode_signature_info(out: &mut Vec<u8>, field: u32, info: &SignatureInfo) {
    let mut message = Vec::new();
    for (number, text) in [
        (signature_info::APP_BUNDLE_ID, &info.app_bundle_id),
        (signature_info::ANDROID_PACKAGE, &info.android_package),
        (
            signature_info::VERIFICATION_KEY_VERSION,
            &info.verification_key_version,
        ),
        (
            signature_info::VERIFICATION_KEY_ID,
            &info.verification_key_id,
        ),
        (
            signature_info::SIGNATURE_ALGORITHM,
            &info.signature_algorithm,
        ),
    ] {
        if let Some(text) = text {
            proto::put_bytes(&mut message, number, text.as_bytes());
        }
    }
    proto::put_bytes(out, field, &message);
}

/// The header and metadata fields 1–6 in field order: what precedes the keys.
#[must_use]
pub fn encode_prefix(metadata: &ExportMetadata) -> Vec<u8> {
    let mut out = Vec::from(EXPORT_HEADER.as_slice());
    for (number, value) in [
        (export::START_TIMESTAMP, metadata.start_timestamp),
        (export::END_TIMESTAMP, metadata.end_timestamp),
    ] {
        if let Some(v) = value {
            proto::put_tag(&mut out, number, FIXED64);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    if let Some(region) = &metadata.region {
        proto::put_bytes(&mut out, export::REGION, region.as_bytes());
    }
    for (number, value) in [
        (export::BATCH_NUM, metadata.batch_num),
        (export::BATCH_SIZE, metadata.batch_size),
    ] {
        if let Some(v) = value {
            proto::put_tag(&mut out, number, VARINT);
            proto::put_varint(&mut out, proto::int32_varint(v));
        }
    }
    for info in &metadata.signature_infos {
        encode_signature_info(&mut out, export::SIGNATURE_INFOS, info);
    }
    out
}

/// A whole `export.bin`: header, metadata, keys, then revised keys, each in the order given.
#[must_use]
pub fn encode(
    metadata: &ExportMetadata,
    keys: &[DiagnosisKey],
    revised_keys: &[DiagnosisKey],
) -> Vec<u8> {
    let mut out = encode_prefix(metadata);
    for key in keys {
        encode_key(&mut out, key, false);
    }
    for key in revised_keys {
        encode_key(&mut out, key, true);
    }
    out
}

/// Pads `keys` with random keys up to `min_keys` as the reference key server does: each copies
/// the window, risk and report type of a random real key, so padding cannot be told apart. An
/// empty list stays empty.
pub fn pad<R: CryptoRng + ?Sized>(keys: &mut Vec<DiagnosisKey>, min_keys: usize, rng: &mut R) {
    let real = keys.len();
    while keys.len() < min_keys && real > 0 {
        let mut pick = [0u8; 8];
        rng.fill_bytes(&mut pick);
        let at = u64::from_le_bytes(pick) % real as u64;
        let template = usize::try_from(at)
            .ok()
            .and_then(|at| keys.get(at))
            .copied();
        if let Some(mut fake) = template {
            rng.fill_bytes(&mut fake.key_data);
            keys.push(fake);
        }
    }
}

/// Builds an `export.bin` as the reference key server does: pads `keys` up to `min_keys`
/// ([`pad`]), then sorts all keys by their bytes.
#[must_use]
pub fn build<R: CryptoRng + ?Sized>(
    metadata: &ExportMetadata,
    mut keys: Vec<DiagnosisKey>,
    min_keys: usize,
    rng: &mut R,
) -> Vec<u8> {
    pad(&mut keys, min_keys, rng);
    keys.sort_unstable_by_key(|k| k.key_data);
    encode(metadata, &keys, &[])
}
