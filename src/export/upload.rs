//! The upload's TEK HMAC (spec §export.9): what a phone proves to the verification server
//! before it uploads its keys.
//!
//! The app draws a random secret, sends the HMAC of its keys under that secret with the
//! verification code, and receives a certificate that carries the HMAC. It then sends the keys,
//! the certificate and the secret (`hmackey`, base64) to the key server, which recomputes the
//! HMAC over the keys it received and accepts them only when the two agree: the verification
//! server never sees the keys, and the key server accepts no keys but the certified ones.

use alloc::string::String;
use alloc::vec::Vec;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::publish::PublishError;
use crate::gaen::DiagnosisKey;

/// The text the HMAC covers: each key as `base64(key).rollingStart.rollingPeriod` followed by
/// `.transmissionRisk` when `with_transmission_risk`, sorted by that base64 text, joined with
/// commas (spec §export.9).
#[must_use]
pub fn hmac_cleartext(keys: &[DiagnosisKey], with_transmission_risk: bool) -> String {
    let mut entries: Vec<(String, String)> = keys
        .iter()
        .map(|key| {
            let text = STANDARD.encode(key.key_data);
            let start = key.window.start().get();
            let period = key.window.period().get();
            let entry = if with_transmission_risk {
                alloc::format!("{text}.{start}.{period}.{}", key.transmission_risk_level)
            } else {
                alloc::format!("{text}.{start}.{period}")
            };
            (text, entry)
        })
        .collect();
    entries.sort_unstable();
    let parts: Vec<String> = entries.into_iter().map(|(_, entry)| entry).collect();
    parts.join(",")
}

/// HMAC-SHA256 of [`hmac_cleartext`] under `secret` (spec §export.9).
#[must_use]
pub fn tek_hmac(secret: &[u8], keys: &[DiagnosisKey], with_transmission_risk: bool) -> [u8; 32] {
    mac(secret, keys, with_transmission_risk)
        .finalize()
        .into_bytes()
        .into()
}

/// The HMAC state over the cleartext, which is zeroized when dropped.
fn mac(secret: &[u8], keys: &[DiagnosisKey], with_transmission_risk: bool) -> hmac::Hmac<Sha256> {
    let cleartext = Zeroizing::new(hmac_cleartext(keys, with_transmission_risk));
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(cleartext.as_bytes());
    mac
}

/// [`tek_hmac`] as standard padded base64, the form the verification protocol carries.
#[must_use]
pub fn tek_hmac_base64(
    secret: &[u8],
    keys: &[DiagnosisKey],
    with_transmission_risk: bool,
) -> String {
    STANDARD.encode(tek_hmac(secret, keys, with_transmission_risk))
}

/// Whether `expected` (32 bytes) is the HMAC of `keys` under `secret`, compared in constant
/// time, as a key server checks a certificate's claim.
#[must_use]
pub fn verify_tek_hmac(
    secret: &[u8],
    keys: &[DiagnosisKey],
    with_transmission_risk: bool,
    expected: &[u8],
) -> bool {
    mac(secret, keys, with_transmission_risk)
        .verify_slice(expected)
        .is_ok()
}

/// The secret of a publish document: its `hmackey`, base64, at least 16 bytes.
///
/// # Errors
/// [`PublishError`] at `hmackey` when it is missing, not base64 or shorter than 16 bytes.
pub fn parse_hmac_key(text: &str) -> Result<Zeroizing<Vec<u8>>, PublishError> {
    let document: Value = serde_json::from_str(text).map_err(|e| PublishError {
        path: "document".into(),
        problem: alloc::string::ToString::to_string(&e),
    })?;
    let problem = |problem: &str| PublishError {
        path: "hmackey".into(),
        problem: problem.into(),
    };
    let text = document
        .get("hmackey")
        .and_then(Value::as_str)
        .ok_or_else(|| problem("missing or not a string"))?;
    let secret = Zeroizing::new(STANDARD.decode(text).map_err(|_| problem("not base64"))?);
    if secret.len() < 16 {
        return Err(problem("shorter than 16 bytes"));
    }
    Ok(secret)
}
