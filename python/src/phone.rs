//! The phone's own loop for the package's `bluezone.phone` module: keys and advertisements,
//! classifying what the radio heard, the encounter log, releasing keys for upload and the
//! Bluezone 2020 check. Sightings cross as the library's JSON form of `Sighting`
//! (`{"gaen": {...}}` or `{"bluezone": {...}}`); byte strings cross as bytes.

use std::path::PathBuf;

use bluezone::ble::gaen::ExposureNotificationAdvertisement;
use bluezone::ble::{AdvertisementKind, classify as classify_payload};
use bluezone::blid::f1::{self, F1Rule, RssiThresholds};
use bluezone::blid::matching::ContactIndex;
use bluezone::blid::{BluezoneId, F0List, TimeUnit, parse_history};
use bluezone::calibration::{CalibrationTable, lookup};
use bluezone::encounter::frame::{self, ScanItem};
use bluezone::encounter::log::EncounterLog;
use bluezone::encounter::{BluezoneSighting, GaenSighting, Sighting};
use bluezone::export::upload;
use bluezone::gaen::{
    CalibrationConfidence, DiagnosisKey, Metadata, ReportType, RollingProximityIdentifier,
    TemporaryExposureKey,
};
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
    let metadata = Metadata::v1_1(tx_power, CalibrationConfidence::from_bits(confidence));
    let aemk = tek.associated_encrypted_metadata_key();
    let mut buffer = [RollingProximityIdentifier::default(); 144];
    let identifiers = tek
        .rolling_proximity_identifier_key()
        .window_identifiers(window, &mut buffer);
    Ok(identifiers
        .iter()
        .map(|rpi| {
            let aem = aemk.encrypt(rpi, metadata);
            PyBytes::new(
                py,
                &ExposureNotificationAdvertisement::new(*rpi, aem).encode(flags),
            )
        })
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
    let kind =
        classify_payload(payload).map_err(|e| SourceError::new_err(format!("payload: {e}")))?;
    let corrected = bluezone::calibration::corrected_rssi(rssi, rssi_correction);
    let rssi = i8::try_from(corrected.clamp(-127, 126)).unwrap_or(i8::MIN);
    let sighting = match kind {
        AdvertisementKind::Gaen(parsed) => Sighting::Gaen(GaenSighting {
            unix_seconds,
            rpi: parsed.advertisement.rpi,
            aem: parsed.advertisement.aem,
            rssi,
            previous_scan_unix_seconds,
        }),
        AdvertisementKind::BluezoneAndroid(contact_id) => {
            let own_id = match own_id {
                Some(bytes) => BluezoneId::from_bytes(array::<12>(bytes, "own_id")?),
                None => BluezoneId::default(),
            };
            Sighting::Bluezone(BluezoneSighting {
                unix_ms: unix_seconds.saturating_mul(1000),
                contact_id,
                own_id,
                rssi,
            })
        }
        // An iPhone running Bluezone (read its identifier over GATT), or neither protocol.
        _ => return Ok(None),
    };
    json(&sighting).map(Some)
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
        let fail = |e: bluezone::encounter::log::LogError| {
            SourceError::new_err(format!("{}: {e}", path.display()))
        };
        let mut log = EncounterLog::open(&path).map_err(fail)?;
        log.append_all(sightings.iter()).map_err(fail)?;
        log.sync().map_err(fail)?;
        Ok(sightings.len())
    })
}

/// Every sighting of the log at `path`, oldest first (a JSON list); a damaged log is an error
/// naming the damage.
#[pyfunction]
pub fn log_read(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    py.detach(|| {
        let fail = |e: String| SourceError::new_err(format!("{}: {e}", path.display()));
        let log = EncounterLog::open_existing(&path).map_err(|e| fail(e.to_string()))?;
        let mut all = Vec::new();
        for (_, segment) in log.segments().map_err(|e| fail(e.to_string()))? {
            let bytes = std::fs::read(&segment).map_err(|e| fail(e.to_string()))?;
            all.extend(
                segment_sightings(&bytes)
                    .map_err(|e| fail(format!("{}: {e}", segment.display())))?,
            );
        }
        json(&all)
    })
}

fn segment_sightings(bytes: &[u8]) -> Result<Vec<Sighting>, String> {
    let mut out = Vec::new();
    for item in frame::scan(bytes).map_err(|e| e.to_string())? {
        match item {
            ScanItem::Record(sighting) => out.push(sighting),
            ScanItem::Damage(damage) => return Err(format!("damaged: {damage:?}")),
        }
    }
    Ok(out)
}

/// The sightings of one log segment held in memory (its file's bytes), as `log_read` reads
/// each file.
#[pyfunction]
pub fn read_segment(data: &[u8]) -> PyResult<String> {
    json(&segment_sightings(data).map_err(SourceError::new_err)?)
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
    use base64::Engine as _;
    if hmac_secret.len() < 16 {
        return Err(LengthError::new_err(
            "hmac_secret must be at least 16 bytes",
        ));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let keys = diagnosis_keys(keys)?;
    let items: Vec<serde_json::Value> = keys
        .iter()
        .map(|k| {
            serde_json::json!({
                "key": b64.encode(k.key_data),
                "rollingStartNumber": k.window.start().get(),
                "rollingPeriod": k.window.period().get(),
                "transmissionRisk": k.transmission_risk_level,
                "reportType": k.report_type as i32,
            })
        })
        .collect();
    json(&serde_json::json!({"temporaryExposureKeys": items, "hmackey": b64.encode(hmac_secret)}))
}

/// The TEK HMAC of keys under a secret, standard base64 (spec §export.9).
#[pyfunction]
#[pyo3(signature = (keys, hmac_secret, with_transmission_risk = true))]
pub fn tek_hmac(
    keys: Vec<Key>,
    hmac_secret: &[u8],
    with_transmission_risk: bool,
) -> PyResult<String> {
    Ok(upload::tek_hmac_base64(
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
    let f0 = F0List::from_json(f0).map_err(|e| SourceError::new_err(format!("f0: {e}")))?;
    let history = parse_history(history)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SourceError::new_err(format!("history: {e}")))?;
    let found = ContactIndex::new(&history).matches(&f0, unit);
    let mut rule = F1Rule::bluezone(unit);
    if let Some(dbm) = close_rssi {
        rule.thresholds = RssiThresholds::all(dbm);
    }
    let verdict = f1::decide(&found, unit, &rule, now);
    json(&serde_json::json!({"contact": !found.is_empty(), "matches": found, "f1": verdict}))
}
