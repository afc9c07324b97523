//! The phone's daily loop in C (hosted builds): the device's calibration, the day's payloads,
//! what the radio heard, the encounter log, the daily check, the upload and Bluezone 2020,
//! each a call over the library's `phone` module. Text results (the JSON documents the tool
//! prints) go into the caller's buffer: one too small is `BZ_STATUS_BUFFER_TOO_SMALL` with the
//! length needed, terminating NUL included, in `*written`.

use core::ffi::c_char;
use std::boxed::Box;
use std::path::Path;
use std::string::String;
use std::vec::Vec;

use bluezone::blid::{BluezoneId, TimeUnit};
use bluezone::calibration::{CalibrationTable, Fallback, lookup};
use bluezone::encounter::GaenSighting;
use bluezone::export::verify::PublicKeyRegistry;
use bluezone::gaen::{CalibrationConfidence, DiagnosisKey};
use bluezone::phone::{self, DailyError, Reception};
use bluezone::risk::cwa::CwaRiskLevel;
use bluezone::risk::model::{DeploymentModel, ModelResult};
use bluezone::risk::{CheckSettings, InMemoryExport, RiskConfig};

use crate::band::BzMatchRules;
use crate::diagnosis::BzDiagnosisKey;
use crate::keys::{BzGaenSighting, BzSighting, BzTek, gaen_sighting, room, tek_of, write_text};
use crate::matcher::BzVerdict;
use crate::ptr::{bytes, input, optional_text, output, put, slice, slice_mut, text};
use crate::status::{BzStatus, Failure, guard};

fn invalid(detail: impl core::fmt::Display) -> Failure {
    Failure::new(BzStatus::InvalidArgument, detail)
}

/// Writes `document` and a NUL into `out` (`out_len` bytes) and its length with the NUL
/// into `written`, or only the length when `out` is too small.
fn put_text(document: &str, out: &mut [u8], written: &mut usize) -> Result<BzStatus, Failure> {
    *written = document.len() + 1;
    write_text(document, out)?;
    Ok(BzStatus::Ok)
}

fn to_json(value: &impl serde::Serialize) -> Result<String, Failure> {
    serde_json::to_string(value).map_err(|e| Failure::new(BzStatus::Panic, e))
}

/// A phone's calibration (spec §cal.2).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BzDeviceCalibration {
    /// The TX power to advertise in the metadata, dBm.
    pub tx_power_dbm: i8,
    /// The correction to add to each RSSI the phone reads, dB.
    pub rssi_correction_db: i8,
    /// The calibration confidence to advertise, 0 (lowest) to 3 (high).
    pub confidence: u8,
    /// Which row answered: 0 the phone's own, 1 sister devices, 2 the manufacturer's average,
    /// 3 every device's average.
    pub fallback: u8,
}

/// The calibration of a phone in one of Google's tables, named by its date: "2020-12-14"
/// (`table` NULL), "2020-09-30" or "2020-06-13", by manufacturer, device (Android's
/// `Build.DEVICE`; may be NULL) and model, with microG's fallbacks (spec §cal.2).
///
/// # Safety
/// `manufacturer` and `model` are NUL-terminated UTF-8 strings, `device` and `table` too or
/// NULL; `out` points to a writable `bz_device_calibration`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_calibration(
    manufacturer: *const c_char,
    device: *const c_char,
    model: *const c_char,
    table: *const c_char,
    out: *mut BzDeviceCalibration,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (manufacturer, device, model, table, out) = unsafe {
            (
                text(manufacturer, "manufacturer")?,
                optional_text(device, "device")?,
                text(model, "model")?,
                optional_text(table, "table")?,
                output(out, "out")?,
            )
        };
        let name = table.unwrap_or("2020-12-14");
        let table = CalibrationTable::from_name(name)
            .ok_or_else(|| invalid(format_args!("`{name}` is not a calibration table")))?;
        let found = lookup(table, manufacturer, device, model);
        put(
            out,
            BzDeviceCalibration {
                tx_power_dbm: found.tx_power_dbm,
                rssi_correction_db: found.rssi_correction_db,
                confidence: found.confidence as u8,
                fallback: match found.fallback {
                    Fallback::Exact => 0,
                    Fallback::SisterDevice => 1,
                    Fallback::Manufacturer => 2,
                    Fallback::AllDevices => 3,
                },
            },
        )
    })
}

/// The advertising payloads of the key's window, 31 bytes each, one per interval in order,
/// carrying version-1.1 metadata with the device's calibrated `tx_power_dbm` and `confidence`
/// (0 to 3), with `flags` (0x1A is what iPhones send); `out_len` is at least 31 × rolling
/// period, and `count` receives the number of payloads.
///
/// # Safety
/// `tek` points to a `bz_tek`; `out` to `out_len` writable bytes; `count` to a `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_day_payloads(
    tek: *const BzTek,
    tx_power_dbm: i8,
    confidence: u8,
    flags: u8,
    out: *mut u8,
    out_len: usize,
    count: *mut usize,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (tek, out, count) = unsafe {
            (
                input(tek, "tek")?,
                slice_mut(out, out_len, "out")?,
                output(count, "count")?,
            )
        };
        if confidence > 3 {
            return Err(invalid("confidence is not 0 to 3"));
        }
        let key = tek_of(tek)?;
        let confidence = CalibrationConfidence::from_bits(confidence);
        let payloads = phone::day_payloads(&key, tx_power_dbm, confidence, flags);
        let room = room(out, payloads.len() * 31)?;
        for (chunk, payload) in room.chunks_exact_mut(31).zip(&payloads) {
            chunk.copy_from_slice(payload);
        }
        put(count, payloads.len())
    })
}

/// One reception by the radio.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BzReception {
    /// The RSSI the radio reported, dBm.
    pub raw_rssi_dbm: i8,
    /// The receiver's RSSI correction (`bz_calibration`), dB.
    pub rssi_correction_db: i8,
    /// When, Unix seconds.
    pub unix_seconds: u64,
    /// When the scan before this one ran, Unix seconds (0: unknown).
    pub previous_scan_unix_seconds: u64,
    /// The Bluezone 2020 identifier this phone was broadcasting (zero when none).
    pub own_id: [u8; 12],
}

/// What the radio heard, as the sighting the log keeps: a GAEN advertisement (kind 1) or an
/// Android phone running Bluezone 2020 (kind 2), with the corrected RSSI. `BZ_STATUS_END` for
/// an advertisement of neither protocol or an iPhone running Bluezone (read its identifier
/// over GATT); `BZ_STATUS_MALFORMED` for a payload that is not valid.
///
/// # Safety
/// `payload` points to `len` readable bytes; `reception` to a `bz_reception`; `out` to a
/// writable `bz_sighting`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_heard(
    payload: *const u8,
    len: usize,
    reception: *const BzReception,
    out: *mut BzSighting,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (payload, r, out) = unsafe {
            (
                bytes(payload, len, "payload")?,
                input(reception, "reception")?,
                output(out, "out")?,
            )
        };
        let reception = Reception {
            raw_rssi_dbm: r.raw_rssi_dbm,
            rssi_correction_db: r.rssi_correction_db,
            unix_seconds: r.unix_seconds,
            previous_scan_unix_seconds: r.previous_scan_unix_seconds,
            own_id: BluezoneId::from_bytes(r.own_id),
        };
        let heard = phone::heard(payload, &reception)
            .map_err(|e| Failure::new(BzStatus::Malformed, format_args!("payload: {e}")))?;
        match heard {
            Some(sighting) => put(out, BzSighting::of(&sighting)),
            None => {
                *out = BzSighting::default();
                Ok(BzStatus::End)
            }
        }
    })
}

/// Appends `count` sightings to the encounter log in the folder `dir` (made when missing) and
/// makes them durable before returning (spec §enc.2).
///
/// # Safety
/// `dir` is a NUL-terminated UTF-8 string; `sightings` points to `count` readable
/// `bz_sighting`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_log_append(
    dir: *const c_char,
    sightings: *const BzSighting,
    count: usize,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (dir, sightings) =
            unsafe { (text(dir, "dir")?, slice(sightings, count, "sightings")?) };
        let sightings = sightings
            .iter()
            .map(BzSighting::sighting)
            .collect::<Result<Vec<_>, _>>()?;
        phone::append_log(Path::new(dir), &sightings)
            .map_err(|e| Failure::new(BzStatus::Io, format_args!("{dir}: {e}")))?;
        Ok(BzStatus::Ok)
    })
}

fn put_sightings(
    sightings: &[bluezone::encounter::Sighting],
    out: &mut [BzSighting],
    count: &mut usize,
) -> Result<BzStatus, Failure> {
    *count = sightings.len();
    let available = out.len();
    let room = out.get_mut(..sightings.len()).ok_or_else(|| {
        Failure::new(
            BzStatus::BufferTooSmall,
            format_args!(
                "{} sightings, the buffer holds {available}",
                sightings.len()
            ),
        )
    })?;
    for (slot, sighting) in room.iter_mut().zip(sightings) {
        *slot = BzSighting::of(sighting);
    }
    Ok(BzStatus::Ok)
}

/// Every sighting of the encounter log in the folder `dir`, oldest first, into `out` (room for
/// `capacity`); `count` receives how many there are, also when the buffer is too small. A
/// damaged log is `BZ_STATUS_MALFORMED` naming the damage: nothing is read in part.
///
/// # Safety
/// `dir` is a NUL-terminated UTF-8 string; `out` points to `capacity` writable `bz_sighting`;
/// `count` to a `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_log_read(
    dir: *const c_char,
    out: *mut BzSighting,
    capacity: usize,
    count: *mut usize,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (dir, out, count) = unsafe {
            (
                text(dir, "dir")?,
                slice_mut(out, capacity, "out")?,
                output(count, "count")?,
            )
        };
        // A damaged segment and a segment that cannot be read are named by their own path.
        let sightings = phone::read_log(Path::new(dir)).map_err(|e| match e {
            phone::ReadLogError::Damaged { .. } => Failure::new(BzStatus::Malformed, e),
            phone::ReadLogError::Io { .. } => Failure::new(BzStatus::Io, e),
            other => Failure::new(BzStatus::Io, format_args!("{dir}: {other}")),
        })?;
        put_sightings(&sightings, out, count)
    })
}

/// The sightings of one log segment held in memory (a segment file's `len` bytes), as
/// `bz_log_read` reads each file.
///
/// # Safety
/// `segment` points to `len` readable bytes; `out` to `capacity` writable `bz_sighting`;
/// `count` to a `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_log_read_segment(
    segment: *const u8,
    len: usize,
    out: *mut BzSighting,
    capacity: usize,
    count: *mut usize,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (segment, out, count) = unsafe {
            (
                bytes(segment, len, "segment")?,
                slice_mut(out, capacity, "out")?,
                output(count, "count")?,
            )
        };
        let sightings =
            phone::read_segment(segment).map_err(|e| Failure::new(BzStatus::Malformed, e))?;
        put_sightings(&sightings, out, count)
    })
}

/// What the daily check needs besides the files and the sightings; zero it, then set what
/// the app chooses.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BzCheckSettings {
    /// The health authority's public keys (PEM), `public_key_count` of them.
    pub public_keys_pem: *const *const c_char,
    /// How many.
    pub public_key_count: usize,
    /// 1: match files that are not authentic too, each reported; 0: refuse them.
    pub allow_unauthentic: u8,
    /// The matching rules (NULL: Google's engine's).
    pub rules: *const BzMatchRules,
    /// The risk configuration as JSON, the F1 rule within it (NULL: the default, about 2 m
    /// for 15 minutes, spec §risk.4.1).
    pub risk_config_json: *const c_char,
    /// The deployment's model on the windows: NULL, "cwa" or "nhs".
    pub risk_model: *const c_char,
    /// Its parameters as JSON (NULL: the deployment's own).
    pub risk_model_config_json: *const c_char,
    /// A match-state folder that remembers what earlier checks read (NULL: none).
    pub state_dir: *const c_char,
    /// "Now", Unix seconds (0: the newest sighting).
    pub now_unix_seconds: u64,
}

/// A deployment's verdict beside the F1 rule's.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BzModelVerdict {
    /// 0: no model was chosen; 1: the Corona-Warn-App's; 2: the NHS app's.
    pub model: u8,
    /// The CWA's total risk level: 1 low, 2 high.
    pub cwa_risk_level: u8,
    /// The CWA's days with high risk.
    pub cwa_days_with_high_risk: u64,
    /// The NHS app's highest window score (0 without a window).
    pub nhs_max_score: f64,
}

/// The result of a daily check (opaque): its verdicts and its document. Free it with
/// `bz_check_result_free`.
#[derive(Debug)]
pub struct BzCheckResult {
    verdict: BzVerdict,
    model: BzModelVerdict,
    document: String,
}

/// The daily check (spec §risk.5): the keys of the `file_count` downloaded export files at
/// `files` against the phone's `count` GAEN sightings, with the app's settings. `out` receives
/// the result, which `bz_check_result_verdict`, `_model` and `_json` read as often as needed;
/// with a state, the state is updated once, by this call.
///
/// # Safety
/// `files` points to `file_count` NUL-terminated UTF-8 paths; `sightings` to `count` readable
/// `bz_gaen_sighting`; `settings` to a `bz_check_settings` whose pointers are NULL or valid as
/// documented; `out` to a writable `bz_check_result *`, which receives the handle (NULL on
/// failure).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_check(
    files: *const *const c_char,
    file_count: usize,
    sightings: *const BzGaenSighting,
    count: usize,
    settings: *const BzCheckSettings,
    out: *mut *mut BzCheckResult,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { output(out, "out")? };
        *out = core::ptr::null_mut();
        // SAFETY: the caller's contract.
        let (paths, sightings, settings) = unsafe {
            (
                slice(files, file_count, "files")?,
                slice(sightings, count, "sightings")?,
                input(settings, "settings")?,
            )
        };
        let mut files = Vec::with_capacity(paths.len());
        for &path in paths {
            // SAFETY: the caller's contract: each is a NUL-terminated string.
            files.push(unsafe { text(path, "files[i]")? });
        }
        // SAFETY: the caller's contract for every pointer of the settings.
        let result = unsafe { daily(Files::Paths(&files), sightings, settings)? };
        put(out, Box::into_raw(Box::new(result)))
    })
}

/// The export files of a daily check: on disk, or held in memory.
enum Files<'a> {
    Paths(&'a [&'a str]),
    Memory(&'a [InMemoryExport<'a>]),
}

/// The daily check over `files`, with the settings read from C.
///
/// # Safety
/// Every pointer of `settings` is NULL or valid as `bz_check_settings` documents.
unsafe fn daily(
    files: Files<'_>,
    sightings: &[BzGaenSighting],
    settings: &BzCheckSettings,
) -> Result<BzCheckResult, Failure> {
    let sightings: Vec<GaenSighting> = sightings.iter().map(gaen_sighting).collect();
    // SAFETY: the caller's contract for every pointer of the settings.
    let options = unsafe { Options::read(settings)? };
    let check = CheckSettings {
        registry: options.registry.as_ref(),
        allow_unauthentic: settings.allow_unauthentic != 0,
        matching: options.matching,
        risk: options.risk,
        threads: 0,
        now_unix_seconds: (settings.now_unix_seconds != 0).then_some(settings.now_unix_seconds),
        wall_clock_unix_seconds: None,
        state: options.state.map(Path::new),
        state_key: None,
        rebuild_state: false,
    };
    let model = options.model.as_ref();
    let document = match files {
        Files::Paths(paths) => phone::daily_check(paths, sightings, &check, model),
        Files::Memory(exports) => phone::daily_check_in_memory(exports, sightings, &check, model),
    }
    .map_err(|e| match e {
        DailyError::Model(e) => invalid(format_args!("risk model: {e}")),
        other => Failure::new(check_status(&other), other),
    })?;
    let report = &document.report;
    let verdict = BzVerdict::of(
        (report.f1.f1, &report.f1.days),
        report.exposure_windows.len(),
        report.now_unix_seconds,
        (report.keys_total, report.keys_matched),
    );
    Ok(BzCheckResult {
        verdict,
        model: model_verdict(document.risk_model.as_ref()),
        document: to_json(&document)?,
    })
}

/// `bz_check` over export files held in memory (`file_count` of them: `files[i]` points to
/// `lengths[i]` bytes, as downloaded), with no match state: `state_dir` in the settings is
/// `BZ_STATUS_INVALID_ARGUMENT`, since a state reads its files from disk. The bytes are read
/// during the call and not kept.
///
/// # Safety
/// `files` points to `file_count` pointers and `lengths` to `file_count` lengths, each file
/// `lengths[i]` readable bytes; the rest as `bz_check`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_check_in_memory(
    files: *const *const u8,
    lengths: *const usize,
    file_count: usize,
    sightings: *const BzGaenSighting,
    count: usize,
    settings: *const BzCheckSettings,
    out: *mut *mut BzCheckResult,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { output(out, "out")? };
        *out = core::ptr::null_mut();
        // SAFETY: the caller's contract.
        let (pointers, lengths, sightings, settings) = unsafe {
            (
                slice(files, file_count, "files")?,
                slice(lengths, file_count, "lengths")?,
                slice(sightings, count, "sightings")?,
                input(settings, "settings")?,
            )
        };
        let mut exports = Vec::with_capacity(pointers.len());
        for (&pointer, &len) in pointers.iter().zip(lengths) {
            exports.push(InMemoryExport {
                name: "an export file in memory",
                // SAFETY: the caller's contract: `len` readable bytes.
                data: unsafe { bytes(pointer, len, "files[i]")? },
            });
        }
        // SAFETY: the caller's contract for every pointer of the settings.
        let result = unsafe { daily(Files::Memory(&exports), sightings, settings)? };
        put(out, Box::into_raw(Box::new(result)))
    })
}

/// The F1 verdict of a daily check.
///
/// # Safety
/// `result` is a handle from `bz_check`; `out` points to a writable `bz_verdict`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_check_result_verdict(
    result: *const BzCheckResult,
    out: *mut BzVerdict,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (result, out) = unsafe { (input(result, "result")?, output(out, "out")?) };
        put(out, result.verdict)
    })
}

/// The deployment's verdict of a daily check (`model` 0 when none was chosen).
///
/// # Safety
/// `result` is a handle from `bz_check`; `out` points to a writable `bz_model_verdict`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_check_result_model(
    result: *const BzCheckResult,
    out: *mut BzModelVerdict,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (result, out) = unsafe { (input(result, "result")?, output(out, "out")?) };
        put(out, result.model)
    })
}

/// The document `bluezone match --json` prints for the same input, NUL-terminated, into
/// `json` (`json_len` bytes); `written` receives its length with the NUL, also when the
/// buffer is too small (then ask again with one that large).
///
/// # Safety
/// `result` is a handle from `bz_check`; `json` points to `json_len` writable bytes;
/// `written` to a `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_check_result_json(
    result: *const BzCheckResult,
    json: *mut c_char,
    json_len: usize,
    written: *mut usize,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (result, out, written) = unsafe {
            (
                input(result, "result")?,
                slice_mut(json.cast::<u8>(), json_len, "json")?,
                output(written, "written")?,
            )
        };
        put_text(&result.document, out, written)
    })
}

/// Frees a daily check's result; NULL is ignored.
///
/// # Safety
/// `result` is NULL or a handle from `bz_check` not freed before and not used after.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_check_result_free(result: *mut BzCheckResult) {
    if !result.is_null() {
        // SAFETY: the caller's contract: a handle from `Box::into_raw` in `bz_check`.
        drop(unsafe { Box::from_raw(result) });
    }
}

fn model_verdict(result: Option<&ModelResult>) -> BzModelVerdict {
    match result {
        None => BzModelVerdict::default(),
        Some(ModelResult::Cwa(cwa)) => BzModelVerdict {
            model: 1,
            cwa_risk_level: match cwa.total_risk_level {
                CwaRiskLevel::Low => 1,
                CwaRiskLevel::High => 2,
            },
            cwa_days_with_high_risk: cwa.number_of_days_with_high_risk as u64,
            nhs_max_score: 0.0,
        },
        Some(ModelResult::Nhs { scores }) => BzModelVerdict {
            model: 2,
            nhs_max_score: scores.iter().map(|s| s.score).fold(0.0, f64::max),
            ..BzModelVerdict::default()
        },
    }
}

fn check_status(error: &DailyError) -> BzStatus {
    use bluezone::risk::CheckError;
    match error {
        DailyError::Check(CheckError::NotAuthentic { .. }) => BzStatus::NotAuthentic,
        DailyError::Check(CheckError::Open { .. } | CheckError::State(_)) => BzStatus::Io,
        DailyError::Check(CheckError::File { .. }) => BzStatus::Malformed,
        _ => BzStatus::InvalidArgument,
    }
}

/// The settings' pointers read into the library's values.
struct Options<'a> {
    registry: Option<PublicKeyRegistry>,
    matching: bluezone::matching::MatchConfig,
    risk: RiskConfig,
    model: Option<DeploymentModel>,
    state: Option<&'a str>,
}

impl<'a> Options<'a> {
    /// # Safety
    /// Every pointer of `settings` is NULL or valid as `bz_check_settings` documents.
    unsafe fn read(settings: &'a BzCheckSettings) -> Result<Self, Failure> {
        // SAFETY: the caller's contract.
        let pems = unsafe {
            slice(
                settings.public_keys_pem,
                settings.public_key_count,
                "public_keys_pem",
            )?
        };
        let registry = if pems.is_empty() {
            None
        } else {
            let mut registry = PublicKeyRegistry::new();
            for &pem in pems {
                // SAFETY: the caller's contract: each is a NUL-terminated string.
                let pem = unsafe { text(pem, "public_keys_pem[i]")? };
                registry
                    .add_pem(None, None, pem)
                    .map_err(|e| invalid(format_args!("public key: {e}")))?;
            }
            Some(registry)
        };
        let matching = if settings.rules.is_null() {
            bluezone::matching::MatchConfig::default()
        } else {
            // SAFETY: the caller's contract, and not NULL.
            unsafe { input(settings.rules, "rules")? }.config()?
        };
        // SAFETY: the caller's contract for each string.
        let (risk, model_name, model_config, state) = unsafe {
            (
                optional_text(settings.risk_config_json, "risk_config_json")?,
                optional_text(settings.risk_model, "risk_model")?,
                optional_text(settings.risk_model_config_json, "risk_model_config_json")?,
                optional_text(settings.state_dir, "state_dir")?,
            )
        };
        let risk = match risk {
            Some(text) => serde_json::from_str(text)
                .map_err(|e| invalid(format_args!("risk configuration: {e}")))?,
            None => RiskConfig::default(),
        };
        let model = model_name
            .map(|name| DeploymentModel::from_name(name, model_config))
            .transpose()
            .map_err(|e| invalid(format_args!("risk model: {e}")))?;
        Ok(Self {
            registry,
            matching,
            risk,
            model,
            state,
        })
    }
}

fn diagnosis_keys(keys: &[BzDiagnosisKey]) -> Result<Vec<DiagnosisKey>, Failure> {
    keys.iter().map(BzDiagnosisKey::key).collect()
}

/// The publish request a phone uploads with its released keys (spec §export.7, §export.9):
/// JSON with the keys and the HMAC secret (at least 16 bytes) the verification server
/// certified, into `json` (`json_len` bytes); `written` receives its length with the NUL.
///
/// # Safety
/// `keys` points to `count` readable `bz_diagnosis_key`; `secret` to `secret_len` readable
/// bytes; `json` to `json_len` writable bytes; `written` to a `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_publish_request(
    keys: *const BzDiagnosisKey,
    count: usize,
    secret: *const u8,
    secret_len: usize,
    json: *mut c_char,
    json_len: usize,
    written: *mut usize,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (released, secret, out, written) = unsafe {
            (
                slice(keys, count, "keys")?,
                bytes(secret, secret_len, "secret")?,
                slice_mut(json.cast::<u8>(), json_len, "json")?,
                output(written, "written")?,
            )
        };
        let request =
            phone::publish_request(&diagnosis_keys(released)?, secret).map_err(invalid)?;
        put_text(&request, out, written)
    })
}

/// The TEK HMAC of released keys under the verification server's secret, standard base64 and
/// NUL-terminated, into `out` (45 bytes); `with_transmission_risk` 1 includes each key's
/// transmission risk level, as the server's version 1 does (spec §export.9).
///
/// # Safety
/// `keys` points to `count` readable `bz_diagnosis_key`; `secret` to `secret_len` readable
/// bytes; `out` to 45 writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_tek_hmac(
    keys: *const BzDiagnosisKey,
    count: usize,
    secret: *const u8,
    secret_len: usize,
    with_transmission_risk: u8,
    out: *mut c_char,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (released, secret, out) = unsafe {
            (
                slice(keys, count, "keys")?,
                bytes(secret, secret_len, "secret")?,
                slice_mut(out.cast::<u8>(), 45, "out")?,
            )
        };
        let mac = phone::tek_hmac(
            secret,
            &diagnosis_keys(released)?,
            with_transmission_risk != 0,
        );
        let mut written = 0;
        put_text(&mac, out, &mut written)
    })
}

/// The Bluezone 2020 verdict.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BzBlidVerdict {
    /// Whether any identifier of the F0 list was heard.
    pub contact: bool,
    /// Whether the app's F1 rule holds.
    pub f1: bool,
    /// Sightings of F0 identifiers.
    pub sightings: u64,
    /// The most seconds of close contact on one (entry, day).
    pub longest_close_seconds: u64,
}

/// Bluezone 2020 (spec §blid.6, §blid.7): an F0 list (its JSON text) against a contact
/// history (`data_trace.txt` text), timestamps in milliseconds (`unit_seconds` 0, Android) or
/// seconds (1, iOS), judged by the app's F1 rule as of `now_unix_seconds`, every RSSI
/// threshold at `close_rssi_dbm` when `has_close_rssi` is 1. `verdict` receives the verdict
/// and `json` (may be NULL with `json_len` 0) the matches and the verdict as JSON.
///
/// # Safety
/// `f0_json` and `history` are NUL-terminated UTF-8 strings; `verdict` points to a writable
/// `bz_blid_verdict`; `json` to `json_len` writable bytes; `written` to a `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_blid_check(
    f0_json: *const c_char,
    history: *const c_char,
    unit_seconds: u8,
    now_unix_seconds: u64,
    has_close_rssi: u8,
    close_rssi_dbm: i8,
    verdict: *mut BzBlidVerdict,
    json: *mut c_char,
    json_len: usize,
    written: *mut usize,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (f0, history, verdict, out, written) = unsafe {
            (
                text(f0_json, "f0_json")?,
                text(history, "history")?,
                output(verdict, "verdict")?,
                slice_mut(json.cast::<u8>(), json_len, "json")?,
                output(written, "written")?,
            )
        };
        let unit = match unit_seconds {
            0 => TimeUnit::Milliseconds,
            1 => TimeUnit::Seconds,
            _ => return Err(invalid("unit_seconds is not 0 or 1")),
        };
        let close = match has_close_rssi {
            0 => None,
            1 => Some(close_rssi_dbm),
            _ => return Err(invalid("has_close_rssi is not 0 or 1")),
        };
        let check = phone::blid_check(f0, history, unit, now_unix_seconds, close)
            .map_err(|e| Failure::new(BzStatus::Malformed, e))?;
        *verdict = BzBlidVerdict {
            contact: check.contact,
            f1: check.f1.f1,
            sightings: check.matches.len() as u64,
            longest_close_seconds: check
                .f1
                .days
                .iter()
                .map(|d| d.close_seconds)
                .max()
                .unwrap_or(0),
        };
        put_text(&to_json(&check)?, out, written)
    })
}
