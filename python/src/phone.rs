//! The phone's own loop for the package's `bluezone.phone` module: keys and advertisements,
//! classifying what the radio heard, the encounter log, releasing keys for upload and the
//! Bluezone 2020 check. Sightings cross as the library's JSON form of `Sighting`
//! (`{"gaen": {...}}` or `{"bluezone": {...}}`); byte strings cross as bytes.

use std::path::PathBuf;

use bluezone::ble::gaen::ExposureNotificationAdvertisement;
use bluezone::blid::{BluezoneId, TimeUnit};
use bluezone::calibration::{CalibrationTable, lookup};
use bluezone::encounter::Sighting;
use bluezone::gaen::{
    CalibrationConfidence, DiagnosisKey, ReportType, RollingProximityIdentifier,
    TemporaryExposureKey,
};
use bluezone::phone::{self, Reception};
use bluezone::{EnIntervalNumber, RollingWindow};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{Error, LengthError, SourceError, TimeError};
use crate::{array, json, window};

/// A new key for the UTC day holding `unix_seconds`: `(key, rolling_start)`. With `entropy`
/// (16 bytes from the caller's generator, as firmware supplies it) the key is those bytes;
/// without, the operating system's randomness.
#[pyfunction]
#[pyo3(signature = (unix_seconds, entropy = None))]
pub fn new_tek<'py>(
    py: Python<'py>,
    unix_seconds: u64,
    entropy: Option<&[u8]>,
) -> PyResult<(Bound<'py, PyBytes>, u32)> {
    let interval = EnIntervalNumber::from_unix_seconds(unix_seconds)
        .map_err(|e| TimeError::new_err(e.to_string()))?;
    let window = RollingWindow::day_of(interval);
    let tek = match entropy {
        Some(bytes) => TemporaryExposureKey::from_bytes(array::<16>(bytes, "entropy")?, window),
        None => {
            TemporaryExposureKey::generate(window).map_err(|e| Error::new_err(e.to_string()))?
        }
    };
    Ok((PyBytes::new(py, tek.expose_secret()), window.start().get()))
}

/// The advertising payloads (31 bytes each) of a key's window, one per interval, carrying the
/// device's calibrated TX power and confidence in version-1.1 metadata.
#[pyfunction]
#[pyo3(signature = (tek, rolling_start, tx_power, confidence = 3, rolling_period = 144, flags = 0x1a))]
pub fn advertisements<'py>(
    py: Python<'py>,
    tek: &[u8],
    rolling_start: u32,
    tx_power: i8,
    confidence: u8,
    rolling_period: u32,
    flags: u8,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let window = window(rolling_start, rolling_period)?;
    let tek = TemporaryExposureKey::from_bytes(array::<16>(tek, "tek")?, window);
    let confidence = CalibrationConfidence::from_bits(confidence);
    Ok(phone::day_payloads(&tek, tx_power, confidence, flags)
        .iter()
        .map(|payload| PyBytes::new(py, payload))
        .collect())
}

/// The advertising payload (31 bytes) of one identifier and its encrypted metadata, as a
/// phone broadcasts it (spec §adv).
#[pyfunction]
#[pyo3(signature = (rpi, aem, flags = 0x1a))]
pub fn encode_advertisement<'py>(
    py: Python<'py>,
    rpi: &[u8],
    aem: &[u8],
    flags: u8,
) -> PyResult<Bound<'py, PyBytes>> {
    let advertisement = ExposureNotificationAdvertisement::new(
        RollingProximityIdentifier::from_bytes(array(rpi, "rpi")?),
        bluezone::gaen::AssociatedEncryptedMetadata::from_bytes(array(aem, "aem")?),
    );
    Ok(PyBytes::new(py, &advertisement.encode(flags)))
}

/// A phone's calibration in one of Google's tables (spec §cal): JSON with its TX power, RSSI
/// correction, confidence and the fallback level that answered.
#[pyfunction]
#[pyo3(signature = (manufacturer, model, device = None, table = "2020-12-14"))]
pub fn calibration(
    manufacturer: &str,
    model: &str,
    device: Option<&str>,
    table: &str,
) -> PyResult<String> {
    let table = CalibrationTable::from_name(table)
        .ok_or_else(|| Error::new_err(format!("`{table}` is not a calibration table")))?;
    json(&lookup(table, manufacturer, device, model))
}

/// What the radio heard, as a sighting (JSON), or `None` for an advertisement of neither
/// protocol (or an iPhone running Bluezone, whose identifier is read over GATT). `rssi` is
/// the raw reading; the receiver's `rssi_correction` is added as Google's engine adds it.
/// `own_id` is the 12-byte Bluezone identifier this phone was broadcasting.
#[pyfunction]
#[pyo3(signature = (payload, rssi, unix_seconds, rssi_correction = 0, previous_scan_unix_seconds = 0, own_id = None))]
pub fn classify(
    payload: &[u8],
    rssi: i8,
    unix_seconds: u64,
    rssi_correction: i8,
    previous_scan_unix_seconds: u64,
    own_id: Option<&[u8]>,
) -> PyResult<Option<String>> {
    let reception = Reception {
        raw_rssi_dbm: rssi,
        rssi_correction_db: rssi_correction,
        unix_seconds,
        previous_scan_unix_seconds,
        own_id: match own_id {
            Some(bytes) => BluezoneId::from_bytes(array::<12>(bytes, "own_id")?),
            None => BluezoneId::default(),
        },
    };
    let sighting = phone::heard(payload, &reception)
        .map_err(|e| SourceError::new_err(format!("payload: {e}")))?;
    sighting.map(|s| json(&s)).transpose()
}

fn sightings_of(text: &str) -> PyResult<Vec<Sighting>> {
    serde_json::from_str(text).map_err(|e| SourceError::new_err(format!("sightings: {e}")))
}

/// Appends sightings (a JSON list) to the encounter log at `path` (made when missing) and
/// makes them durable; returns how many were written.
#[pyfunction]
pub fn log_append(py: Python<'_>, path: PathBuf, sightings: &str) -> PyResult<usize> {
    let sightings = sightings_of(sightings)?;
    py.detach(|| {
        phone::append_log(&path, &sightings)
            .map_err(|e| SourceError::new_err(format!("{}: {e}", path.display())))?;
        Ok(sightings.len())
    })
}

/// Every sighting of the log at `path`, oldest first (a JSON list); a damaged log is an error
/// naming the damage.
#[pyfunction]
pub fn log_read(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    py.detach(|| {
        let all = phone::read_log(&path)
            .map_err(|e| SourceError::new_err(format!("{}: {e}", path.display())))?;
        json(&all)
    })
}

/// The sightings of one log segment held in memory (its file's bytes), as `log_read` reads
/// each file.
#[pyfunction]
pub fn read_segment(data: &[u8]) -> PyResult<String> {
    json(&phone::read_segment(data).map_err(|e| SourceError::new_err(e.to_string()))?)
}

type Key = (Vec<u8>, u32, u32, u8, i32);

fn diagnosis_keys(keys: Vec<Key>) -> PyResult<Vec<DiagnosisKey>> {
    keys.into_iter()
        .map(|(data, start, period, risk, report)| {
            Ok(DiagnosisKey {
                key_data: array(&data, "key")?,
                window: window(start, period)?,
                transmission_risk_level: risk,
                report_type: ReportType::try_from(report)
                    .map_err(|e| Error::new_err(e.to_string()))?,
                days_since_onset_of_symptoms: None,
            })
        })
        .collect()
}

/// The publish request a phone uploads (spec §export.7, §export.9): its keys as
/// `(key, rolling_start, rolling_period, transmission_risk, report_type)` and the HMAC secret
/// (`hmackey`); JSON text that `bluezone export build` and `export hmac` read.
#[pyfunction]
pub fn publish_request(keys: Vec<Key>, hmac_secret: &[u8]) -> PyResult<String> {
    phone::publish_request(&diagnosis_keys(keys)?, hmac_secret)
        .map_err(|e| LengthError::new_err(e.to_string()))
}

/// The TEK HMAC of keys under a secret, standard base64 (spec §export.9).
#[pyfunction]
#[pyo3(signature = (keys, hmac_secret, with_transmission_risk = true))]
pub fn tek_hmac(
    keys: Vec<Key>,
    hmac_secret: &[u8],
    with_transmission_risk: bool,
) -> PyResult<String> {
    Ok(phone::tek_hmac(
        hmac_secret,
        &diagnosis_keys(keys)?,
        with_transmission_risk,
    ))
}

/// Bluezone 2020: an F0 list (its JSON text) against a contact history (`data_trace.txt`
/// text) with the app's F1 rule, as `bluezone blid match --json` reports it: the sightings
/// in each F0 identifier's window and the verdict.
#[pyfunction]
#[pyo3(signature = (f0, history, now, unit = "ms", close_rssi = None))]
pub fn blid_match(
    f0: &str,
    history: &str,
    now: u64,
    unit: &str,
    close_rssi: Option<i8>,
) -> PyResult<String> {
    let unit = match unit {
        "ms" => TimeUnit::Milliseconds,
        "s" => TimeUnit::Seconds,
        other => return Err(Error::new_err(format!("unit `{other}` is not ms or s"))),
    };
    let check = phone::blid_check(f0, history, unit, now, close_rssi)
        .map_err(|e| SourceError::new_err(e.to_string()))?;
    json(&check)
}
