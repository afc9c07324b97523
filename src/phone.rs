//! The phone's daily loop, one call per step, as an app and the language bindings (C, Java
//! through C, Python) take it: the day's advertising payloads with the device's calibrated TX
//! power, what the radio heard as sightings, the encounter log read back, the daily check as
//! `bluezone match --json` reports it, the upload's publish request, and the Bluezone 2020
//! check of an F0 list. Every step takes bytes or text as well as a path, so that a binding
//! can keep everything in memory. Each function is the layers' own calls in order: the rules
//! are specified where those layers are (spec §adv, §cal.3, §enc, §risk.5, §export.9, §blid).

use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

use crate::ble::{self, AdvertisementError, AdvertisementKind, ExposureNotificationAdvertisement};
use crate::blid::f1::{self, F1Rule, F1Verdict, RssiThresholds};
use crate::blid::matching::{BlidMatch, ContactIndex};
use crate::blid::{BluezoneId, F0Error, F0List, HistoryError, TimeUnit, parse_history};
use crate::calibration::corrected_rssi;
use crate::encounter::frame::{self, ScanItem};
use crate::encounter::log::{EncounterLog, LogError};
use crate::encounter::{BluezoneSighting, GaenSighting, Sighting};
use crate::export::upload;
use crate::gaen::{
    CalibrationConfidence, DiagnosisKey, Metadata, RollingProximityIdentifier, TemporaryExposureKey,
};
use crate::risk::check::{
    CheckError, CheckSettings, ExposureReport, InMemoryExport, check_exposure,
    check_exposure_in_memory,
};
use crate::risk::document::{MatchDocument, SCHEMA_VERSION};
use crate::risk::model::{DeploymentModel, ModelError, ModelResult};
use crate::time::INTERVALS_PER_DAY;

/// The advertising payloads (31 bytes each) of a key's window, one per interval in order,
/// each carrying version-1.1 metadata with the device's calibrated TX power and confidence
/// (spec §adv.1, §cal.2), with `flags` (0x1A is what iPhones send).
#[must_use]
pub fn day_payloads(
    tek: &TemporaryExposureKey,
    tx_power_dbm: i8,
    confidence: CalibrationConfidence,
    flags: u8,
) -> Vec<[u8; ble::gaen::ADVERTISEMENT_LEN]> {
    let metadata = Metadata::v1_1(tx_power_dbm, confidence);
    let aemk = tek.associated_encrypted_metadata_key();
    let mut buffer = [RollingProximityIdentifier::default(); INTERVALS_PER_DAY as usize];
    tek.rolling_proximity_identifier_key()
        .window_identifiers(tek.window(), &mut buffer)
        .iter()
        .map(|rpi| {
            ExposureNotificationAdvertisement::new(*rpi, aemk.encrypt(rpi, metadata)).encode(flags)
        })
        .collect()
}

/// One reception by the radio: the raw RSSI and when, with the receiver's own calibration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reception {
    /// The RSSI the radio reported, dBm.
    pub raw_rssi_dbm: i8,
    /// The receiver's RSSI correction from its calibration (spec §cal.3), dB.
    pub rssi_correction_db: i8,
    /// When, Unix seconds.
    pub unix_seconds: u64,
    /// When the scan before this one ran, Unix seconds (0: unknown).
    pub previous_scan_unix_seconds: u64,
    /// The Bluezone 2020 identifier this phone was broadcasting then, for a Bluezone sighting.
    pub own_id: BluezoneId,
}

/// What the radio heard as the sighting the log keeps (spec §blid.5.4, §cal.3): a GAEN
/// advertisement, or an Android phone running Bluezone 2020, with the corrected RSSI clamped
/// to −127..=126 as Google's engine stores it. `None` for an advertisement of neither
/// protocol, or an iPhone running Bluezone (its identifier is read over GATT).
///
/// # Errors
/// The payload is malformed, or claims a protocol it does not follow.
pub fn heard(
    payload: &[u8],
    reception: &Reception,
) -> Result<Option<Sighting>, AdvertisementError> {
    let corrected = corrected_rssi(reception.raw_rssi_dbm, reception.rssi_correction_db);
    let rssi = i8::try_from(corrected.clamp(-127, 126)).unwrap_or(i8::MIN);
    Ok(match ble::classify(payload)? {
        AdvertisementKind::Gaen(parsed) => Some(Sighting::Gaen(GaenSighting {
            unix_seconds: reception.unix_seconds,
            rpi: parsed.advertisement.rpi,
            aem: parsed.advertisement.aem,
            rssi,
            previous_scan_unix_seconds: reception.previous_scan_unix_seconds,
        })),
        AdvertisementKind::BluezoneAndroid(contact_id) => {
            Some(Sighting::Bluezone(BluezoneSighting {
                unix_ms: reception.unix_seconds.saturating_mul(1000),
                contact_id,
                own_id: reception.own_id,
                rssi,
            }))
        }
        _ => None,
    })
}

/// Why a log or a segment could not be read whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadLogError {
    /// The folder or a segment file could not be read.
    #[error(transparent)]
    Log(#[from] LogError),
    /// A segment file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The segment file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A segment is damaged: nothing is returned rather than a part.
    #[error("{place}damaged: {reason}")]
    Damaged {
        /// The segment file and a colon, or nothing for bytes in memory.
        place: String,
        /// What is wrong, and where.
        reason: String,
    },
}

/// Every sighting of one segment held in memory (a segment file's bytes), in order (spec
/// §enc.2). Damage anywhere is an error: a check never runs on part of a log.
///
/// # Errors
/// [`ReadLogError::Damaged`] with the first damage.
pub fn read_segment(bytes: &[u8]) -> Result<Vec<Sighting>, ReadLogError> {
    segment(bytes, String::new())
}

fn segment(bytes: &[u8], place: String) -> Result<Vec<Sighting>, ReadLogError> {
    let damaged = |reason: String| ReadLogError::Damaged {
        place: place.clone(),
        reason,
    };
    let items = frame::scan(bytes).map_err(|e| damaged(e.to_string()))?;
    let mut out = Vec::new();
    for item in items {
        match item {
            ScanItem::Record(sighting) => out.push(sighting),
            ScanItem::Damage(damage) => return Err(damaged(damage.to_string())),
        }
    }
    Ok(out)
}

/// Every sighting of the encounter log in `dir`, oldest segment first (spec §enc.2).
///
/// # Errors
/// The log cannot be opened or read, or a segment is damaged.
pub fn read_log(dir: &Path) -> Result<Vec<Sighting>, ReadLogError> {
    let log = EncounterLog::open_existing(dir)?;
    let mut all = Vec::new();
    for (_, path) in log.segments()? {
        let name = std::format!("{}", path.display());
        let bytes = std::fs::read(&path).map_err(|source| ReadLogError::Io {
            path: name.clone(),
            source,
        })?;
        all.extend(segment(&bytes, std::format!("{name}: "))?);
    }
    Ok(all)
}

/// Appends `sightings` to the encounter log in `dir` (made when missing) and makes them
/// durable before returning.
///
/// # Errors
/// The log cannot be opened or written.
pub fn append_log(dir: &Path, sightings: &[Sighting]) -> Result<(), LogError> {
    let mut log = EncounterLog::open(dir)?;
    log.append_all(sightings.iter())?;
    log.sync()
}

/// The HMAC secret of the upload is shorter than 16 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the HMAC secret has {0} bytes: it needs at least 16")]
pub struct ShortSecret(pub usize);

/// The publish request a phone uploads with its released keys (spec §export.7, §export.9):
/// JSON that `bluezone export build` and `export hmac` read, with the HMAC secret
/// (`hmackey`) the verification server certified.
///
/// # Errors
/// [`ShortSecret`] for a secret under 16 bytes.
pub fn publish_request(keys: &[DiagnosisKey], hmac_secret: &[u8]) -> Result<String, ShortSecret> {
    use base64::Engine as _;
    if hmac_secret.len() < 16 {
        return Err(ShortSecret(hmac_secret.len()));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
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
    let request = serde_json::json!({
        "temporaryExposureKeys": items,
        "hmackey": b64.encode(hmac_secret),
    });
    Ok(request.to_string())
}

/// The TEK HMAC of released keys under the verification server's secret, standard base64
/// (spec §export.9).
#[must_use]
pub fn tek_hmac(hmac_secret: &[u8], keys: &[DiagnosisKey], with_transmission_risk: bool) -> String {
    upload::tek_hmac_base64(hmac_secret, keys, with_transmission_risk)
}

/// The daily check's document: `bluezone match --json`'s layout, with a deployment's model.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DailyDocument {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// `"match"`.
    pub command: &'static str,
    /// The report.
    #[serde(flatten)]
    pub report: MatchDocument,
    /// Always empty: a damaged log is refused before the check, never matched in part.
    pub log_damage: [&'static str; 0],
    /// The deployment's model on the windows, when one was chosen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk_model: Option<ModelResult>,
}

/// Why the daily check stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DailyError {
    /// The check itself.
    #[error(transparent)]
    Check(#[from] CheckError),
    /// The deployment's model.
    #[error("risk model: {0}")]
    Model(#[from] ModelError),
}

/// The daily check (spec §risk.5): the keys of the downloaded `files` against the phone's
/// GAEN sightings with the app's settings (authenticity, matching and risk rules, the match
/// state), and the deployment's `model` on the windows it built.
///
/// # Errors
/// [`DailyError`] naming the file or the setting at fault.
pub fn daily_check<P: AsRef<Path>>(
    files: &[P],
    sightings: Vec<GaenSighting>,
    settings: &CheckSettings<'_>,
    model: Option<&DeploymentModel>,
) -> Result<DailyDocument, DailyError> {
    let report = check_exposure(files, sightings, settings, |_, _| {})?;
    daily_document(report, settings, model)
}

/// [`daily_check`] over export files held in memory, with no match state (a state reads its
/// files from disk).
///
/// # Errors
/// As [`daily_check`]; a state in `settings` is [`CheckError::StateNeedsFiles`].
pub fn daily_check_in_memory(
    files: &[InMemoryExport<'_>],
    sightings: Vec<GaenSighting>,
    settings: &CheckSettings<'_>,
    model: Option<&DeploymentModel>,
) -> Result<DailyDocument, DailyError> {
    let report = check_exposure_in_memory(files, sightings, settings, |_, _| {})?;
    daily_document(report, settings, model)
}

fn daily_document(
    report: ExposureReport,
    settings: &CheckSettings<'_>,
    model: Option<&DeploymentModel>,
) -> Result<DailyDocument, DailyError> {
    let report = report.into_document(&settings.risk, settings.state);
    let risk_model = model
        .map(|m| m.assess(&report.exposure_windows, report.now_unix_seconds / 86_400))
        .transpose()?;
    Ok(DailyDocument {
        schema_version: SCHEMA_VERSION,
        command: "match",
        report,
        log_damage: [],
        risk_model,
    })
}

/// Why a Bluezone 2020 check could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlidCheckError {
    /// The F0 list is not one.
    #[error("F0 list: {0}")]
    F0(#[from] F0Error),
    /// A line of the history is not one.
    #[error("history: {0}")]
    History(#[from] HistoryError),
}

/// The Bluezone 2020 check: the sightings of each F0 identifier's window and the F1 verdict.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BlidCheck {
    /// Whether any identifier of the F0 list was heard.
    pub contact: bool,
    /// Each sighting of an F0 identifier.
    pub matches: Vec<BlidMatch>,
    /// The verdict of the app's F1 rule.
    pub f1: F1Verdict,
}

/// Bluezone 2020 (spec §blid.6, §blid.7): an F0 list (its JSON text) against a contact
/// history (`data_trace.txt` text) in `unit`, judged by the app's F1 rule as of `now`, with
/// every RSSI threshold at `close_rssi_dbm` when given.
///
/// # Errors
/// The list or a history line does not parse.
pub fn blid_check(
    f0_json: &str,
    history: &str,
    unit: TimeUnit,
    now_unix_seconds: u64,
    close_rssi_dbm: Option<i8>,
) -> Result<BlidCheck, BlidCheckError> {
    let f0 = F0List::from_json(f0_json)?;
    let history = parse_history(history).collect::<Result<Vec<_>, _>>()?;
    let matches = ContactIndex::new(&history).matches(&f0, unit);
    let mut rule = F1Rule::bluezone(unit);
    if let Some(dbm) = close_rssi_dbm {
        rule.thresholds = RssiThresholds::all(dbm);
    }
    let f1 = f1::decide(&matches, unit, &rule, now_unix_seconds);
    Ok(BlidCheck {
        contact: !matches.is_empty(),
        matches,
        f1,
    })
}
