//! The extension module `bluezone._bluezone`: the few calls the Python package `bluezone`
//! (in `python/bluezone/`) shapes into its API. Results cross as Python values or as JSON text
//! that the package parses; errors are the package's exception classes, one per error type of
//! the library.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use bluezone::encounter::GaenSighting;
use bluezone::export::verify::PublicKeyRegistry;
use bluezone::export::{ExportFile, ExportFileError, ExportFormat};
use bluezone::gaen::{
    AssociatedEncryptedMetadata, RollingProximityIdentifier, TemporaryExposureKey,
};
use bluezone::matching::MatchConfig;
use bluezone::risk::{CheckError, CheckSettings, InMemoryExport, RiskConfig};
use bluezone::{EnIntervalNumber, RollingPeriod, RollingWindow};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

mod phone;
mod study;

/// The package's exceptions, one class per error type of the library, all under `Error`.
mod errors {
    use pyo3::exceptions::PyException;

    pyo3::create_exception!(
        bluezone,
        Error,
        PyException,
        "Every error of the bluezone package."
    );
    pyo3::create_exception!(
        bluezone,
        LengthError,
        Error,
        "A byte string has the wrong length."
    );
    pyo3::create_exception!(
        bluezone,
        TimeError,
        Error,
        "An interval number or rolling period is out of range."
    );
    pyo3::create_exception!(
        bluezone,
        PublicKeyError,
        Error,
        "A public key is not a P-256 key in PEM."
    );
    pyo3::create_exception!(
        bluezone,
        ExportFileError,
        Error,
        "An export file cannot be opened, read or parsed."
    );
    pyo3::create_exception!(
        bluezone,
        SourceError,
        Error,
        "The encounters cannot be read whole: a damaged log, a bad CSV line or a bad row."
    );
    pyo3::create_exception!(
        bluezone,
        RiskConfigError,
        Error,
        "The risk configuration is invalid."
    );
    pyo3::create_exception!(
        bluezone,
        CheckError,
        Error,
        "An exposure check stopped (no public key given, threads unavailable, ...)."
    );
    pyo3::create_exception!(
        bluezone,
        NotAuthenticError,
        CheckError,
        "An export file is not authentic; its keys were not used."
    );
}

use errors::{
    CheckError as PyCheckError, Error, ExportFileError as PyExportFileError, LengthError,
    NotAuthenticError, PublicKeyError, RiskConfigError, SourceError, TimeError,
};

pub(crate) fn window(start: u32, period: u32) -> PyResult<RollingWindow> {
    let period = RollingPeriod::new(period).map_err(|e| TimeError::new_err(e.to_string()))?;
    RollingWindow::new(EnIntervalNumber::new(start), period)
        .map_err(|e| TimeError::new_err(e.to_string()))
}

pub(crate) fn array<const N: usize>(bytes: &[u8], what: &str) -> PyResult<[u8; N]> {
    <[u8; N]>::try_from(bytes).map_err(|_| {
        LengthError::new_err(format!("{what} must be {N} bytes, found {}", bytes.len()))
    })
}

/// The identifiers of a key's window, in order.
#[pyfunction]
#[pyo3(signature = (tek, rolling_start_interval_number, rolling_period = 144))]
fn rolling_proximity_identifiers<'py>(
    py: Python<'py>,
    tek: &[u8],
    rolling_start_interval_number: u32,
    rolling_period: u32,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let window = window(rolling_start_interval_number, rolling_period)?;
    let tek = TemporaryExposureKey::from_bytes(array::<16>(tek, "tek")?, window);
    let mut buffer = [RollingProximityIdentifier::default(); 144];
    let rpis = tek
        .rolling_proximity_identifier_key()
        .window_identifiers(window, &mut buffer);
    Ok(rpis
        .iter()
        .map(|rpi| PyBytes::new(py, rpi.as_bytes()))
        .collect())
}

fn registry(pems: &[String]) -> PyResult<Option<PublicKeyRegistry>> {
    if pems.is_empty() {
        return Ok(None);
    }
    let mut registry = PublicKeyRegistry::new();
    for pem in pems {
        registry
            .add_pem(None, None, pem)
            .map_err(|e| PublicKeyError::new_err(e.to_string()))?;
    }
    Ok(Some(registry))
}

fn file_error(path: &std::path::Path, error: impl std::fmt::Display) -> PyErr {
    PyExportFileError::new_err(format!("{}: {error}", path.display()))
}

pub(crate) fn json(value: &impl serde::Serialize) -> PyResult<String> {
    serde_json::to_string(value).map_err(|e| Error::new_err(e.to_string()))
}

/// Reads an export file whole: a JSON object with its format, metadata, keys (each with
/// `revised`), the reasons of its invalid keys, and the signature verdict when public keys
/// (PEM texts) are given.
#[pyfunction]
fn read_export(py: Python<'_>, path: PathBuf, public_keys: Vec<String>) -> PyResult<String> {
    let registry = registry(&public_keys)?;
    py.detach(|| {
        let file = File::open(&path).map_err(|e| file_error(&path, e))?;
        let mut export =
            ExportFile::open(BufReader::new(file)).map_err(|e| file_error(&path, e))?;
        let format = match export.format() {
            ExportFormat::Zip => "zip",
            ExportFormat::Bare => "bare",
        };
        let mut stream = export
            .keys(registry.as_ref())
            .map_err(|e| file_error(&path, e))?;
        let (mut keys, mut invalid) = (Vec::new(), Vec::new());
        for item in stream.by_ref() {
            match item {
                Ok(exported) => {
                    let mut key = serde_json::to_value(exported.key)
                        .map_err(|e| Error::new_err(e.to_string()))?;
                    if let Some(fields) = key.as_object_mut() {
                        fields.insert("revised".into(), exported.revised.into());
                    }
                    keys.push(key);
                }
                Err(ExportFileError::Bin(e)) if e.is_per_key() => invalid.push(e.to_string()),
                Err(e) => return Err(file_error(&path, e)),
            }
        }
        let summary = stream.finish().map_err(|e| file_error(&path, e))?;
        json(&serde_json::json!({
            "format": format,
            "metadata": summary.metadata,
            "signatures": summary.signatures,
            "authentic": summary.verification.as_ref().map(|v| v.authentic),
            "verification": summary.verification.as_ref().map(ToString::to_string),
            "keys": keys,
            "invalid_keys": invalid,
        }))
    })
}

fn check_error(error: CheckError) -> PyErr {
    let text = error.to_string();
    match error {
        CheckError::Config(_) => RiskConfigError::new_err(text),
        CheckError::Open { .. } | CheckError::File { .. } => PyExportFileError::new_err(text),
        CheckError::NotAuthentic { .. } => NotAuthenticError::new_err(text),
        CheckError::Now(_) => TimeError::new_err(text),
        _ => PyCheckError::new_err(text),
    }
}

type Row = (u64, Vec<u8>, Vec<u8>, i8);

/// The rows' sightings (converted with the GIL held: they are Python values).
fn row_sightings(rows: Option<Vec<Row>>) -> PyResult<Vec<GaenSighting>> {
    rows.unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(n, (unix_seconds, rpi, aem, rssi))| {
            let bad = |e: PyErr| SourceError::new_err(format!("row {n}: {e}"));
            Ok(GaenSighting {
                unix_seconds,
                rpi: RollingProximityIdentifier::from_bytes(array(&rpi, "rpi").map_err(bad)?),
                aem: AssociatedEncryptedMetadata::from_bytes(array(&aem, "aem").map_err(bad)?),
                rssi,
                previous_scan_unix_seconds: 0,
            })
        })
        .collect()
}

/// Matches the keys of `files` (or of the export files `in_memory`) against the encounters (a
/// log folder or CSV path, or rows) and returns the JSON document `bluezone match --json`
/// prints for the same input; with `state`,
/// a match-state folder as `match --state`, and with `risk_model` (`cwa` or `nhs`, its
/// parameters as JSON text or its default) that deployment's verdict too.
#[pyfunction]
#[pyo3(signature = (files, encounters, rows, public_keys, allow_unsigned, risk_config, now, state = None, risk_model = None, risk_model_config = None, in_memory = None))]
#[expect(
    clippy::too_many_arguments,
    reason = "the package's `match` passes each option by name"
)]
fn match_files(
    py: Python<'_>,
    files: Vec<PathBuf>,
    encounters: Option<PathBuf>,
    rows: Option<Vec<Row>>,
    public_keys: Vec<String>,
    allow_unsigned: bool,
    risk_config: Option<String>,
    now: Option<u64>,
    state: Option<PathBuf>,
    risk_model: Option<String>,
    risk_model_config: Option<String>,
    in_memory: Option<Vec<Vec<u8>>>,
) -> PyResult<String> {
    let model = risk_model
        .map(|name| {
            bluezone::risk::model::DeploymentModel::from_name(&name, risk_model_config.as_deref())
                .map_err(|e| RiskConfigError::new_err(e.to_string()))
        })
        .transpose()?;
    let risk: RiskConfig = match risk_config {
        Some(text) => {
            serde_json::from_str(&text).map_err(|e| RiskConfigError::new_err(e.to_string()))?
        }
        None => RiskConfig::default(),
    };
    let registry = registry(&public_keys)?;
    let rows = row_sightings(rows)?;
    py.detach(|| {
        // A log or a CSV file is read without the GIL: other Python threads go on.
        let sightings = match encounters {
            Some(path) => bluezone::encounter::source::gaen_sightings(&path)
                .map_err(|e| SourceError::new_err(e.to_string()))?,
            None => rows,
        };
        let settings = CheckSettings {
            registry: registry.as_ref(),
            allow_unauthentic: allow_unsigned,
            matching: MatchConfig::default(),
            risk,
            threads: 0,
            now_unix_seconds: now,
            wall_clock_unix_seconds: None,
            state: state.as_deref(),
            state_key: None,
            rebuild_state: false,
        };
        let document = match &in_memory {
            Some(data) => {
                let exports: Vec<InMemoryExport<'_>> = data
                    .iter()
                    .map(|data| InMemoryExport {
                        name: "an export file in memory",
                        data,
                    })
                    .collect();
                bluezone::phone::daily_check_in_memory(
                    &exports,
                    sightings,
                    &settings,
                    model.as_ref(),
                )
            }
            None => bluezone::phone::daily_check(&files, sightings, &settings, model.as_ref()),
        }
        .map_err(|e| match e {
            bluezone::phone::DailyError::Check(e) => check_error(e),
            other => RiskConfigError::new_err(other.to_string()),
        })?;
        json(&document)
    })
}

/// The extension module.
#[pymodule]
fn _bluezone(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    module.add_function(wrap_pyfunction!(rolling_proximity_identifiers, module)?)?;
    module.add_function(wrap_pyfunction!(read_export, module)?)?;
    module.add_function(wrap_pyfunction!(match_files, module)?)?;
    module.add_function(wrap_pyfunction!(phone::new_tek, module)?)?;
    module.add_function(wrap_pyfunction!(phone::advertisements, module)?)?;
    module.add_function(wrap_pyfunction!(phone::encode_advertisement, module)?)?;
    module.add_function(wrap_pyfunction!(phone::calibration, module)?)?;
    module.add_function(wrap_pyfunction!(phone::classify, module)?)?;
    module.add_function(wrap_pyfunction!(phone::log_append, module)?)?;
    module.add_function(wrap_pyfunction!(phone::log_read, module)?)?;
    module.add_function(wrap_pyfunction!(phone::read_segment, module)?)?;
    module.add_function(wrap_pyfunction!(phone::publish_request, module)?)?;
    module.add_function(wrap_pyfunction!(phone::tek_hmac, module)?)?;
    module.add_function(wrap_pyfunction!(phone::blid_match, module)?)?;
    module.add_class::<study::StudyPhones>()?;
    module.add_class::<study::CheckResult>()?;
    module.add("Error", py.get_type::<Error>())?;
    module.add("LengthError", py.get_type::<LengthError>())?;
    module.add("TimeError", py.get_type::<TimeError>())?;
    module.add("PublicKeyError", py.get_type::<PublicKeyError>())?;
    module.add("ExportFileError", py.get_type::<PyExportFileError>())?;
    module.add("SourceError", py.get_type::<SourceError>())?;
    module.add("RiskConfigError", py.get_type::<RiskConfigError>())?;
    module.add("CheckError", py.get_type::<PyCheckError>())?;
    module.add("NotAuthenticError", py.get_type::<NotAuthenticError>())?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
