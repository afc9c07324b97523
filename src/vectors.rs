//! Loading and checking the JSON test-vector files under `test-vectors/`.
//!
//! Every file is a JSON object with a `"kind"`, a `"source"` naming where its data came from,
//! and a non-empty `"vectors"` array. The kind decides what an entry holds and how it is
//! checked against this crate; see `test-vectors/README.md` for every kind's fields. The tests
//! and `bluezone vectors verify` both go through [`check_str`], so a file is judged the same
//! way everywhere, and it is judged by its contents alone.

use std::format;
use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

use serde::Deserialize;
use serde_json::Value;

use crate::ble::ExposureNotificationAdvertisement;
use crate::ble::gaen::DEFAULT_FLAGS;
use crate::blid::{BaseKey, BluezoneId, DAY_MS, SlotsPerDay};
use crate::encounter::frame::{self, ScanItem};
use crate::encounter::{BluezoneSighting, GaenSighting, Sighting};
use crate::gaen::{
    AssociatedEncryptedMetadata, AssociatedEncryptedMetadataKey, Metadata,
    RollingProximityIdentifier, RollingProximityIdentifierKey, TemporaryExposureKey,
};
use crate::time::{EnIntervalNumber, RollingPeriod, RollingWindow};

/// The kinds of vector file this crate knows.
pub const KINDS: &[&str] = &[
    "gaen-crypto",
    "gaen-advertisement",
    "bluezone-blid",
    "encounter-record",
    "risk-weighted-attenuation",
    "risk-windows",
];

/// Why a file is not a vector file at all (as opposed to holding vectors that fail).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VectorFileError {
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    /// The text is not JSON.
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The JSON is not an object with a string `"kind"`.
    #[error("no \"kind\" string at the top level")]
    MissingKind,
    /// A kind this crate does not know.
    #[error("unknown kind {kind:?} (known: {})", KINDS.join(", "))]
    UnknownKind {
        /// The kind the file names.
        kind: String,
    },
    /// No `"source"` saying where the data came from.
    #[error("no \"source\" at the top level: vectors must say where they came from")]
    MissingSource,
    /// `"vectors"` is missing, not an array, or empty.
    #[error("\"vectors\" is missing, not an array, or empty")]
    NoVectors,
}

/// One vector that did not hold.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    /// The vector's `"name"`, or `#index` when it has none.
    pub vector: String,
    /// What differed, or why the entry could not be read.
    pub message: String,
}

/// The outcome of checking one file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The file's kind.
    pub kind: String,
    /// Vectors that held.
    pub passed: usize,
    /// Vectors that did not.
    pub failures: Vec<Failure>,
}

impl Report {
    /// Number of vectors checked.
    #[must_use]
    pub fn total(&self) -> usize {
        self.passed.saturating_add(self.failures.len())
    }
}

/// Reads and checks one vector file.
///
/// # Errors
/// [`VectorFileError`] when the file cannot be read or is not a vector file.
pub fn check_file(path: &Path) -> Result<Report, VectorFileError> {
    check_str(&std::fs::read_to_string(path)?)
}

/// Checks the text of one vector file.
///
/// # Errors
/// [`VectorFileError`] when the text is not a vector file.
pub fn check_str(text: &str) -> Result<Report, VectorFileError> {
    let document: Value = serde_json::from_str(text)?;
    let kind = document
        .get("kind")
        .and_then(Value::as_str)
        .ok_or(VectorFileError::MissingKind)?;
    let check: fn(&Value) -> Result<(), String> = match kind {
        "gaen-crypto" => |v| check_gaen_crypto(&parse(v)?),
        "gaen-advertisement" => |v| check_gaen_advertisement(&parse(v)?),
        "bluezone-blid" => |v| check_bluezone_blid(&parse(v)?),
        "encounter-record" => |v| check_encounter_record(&parse(v)?),
        "risk-weighted-attenuation" => |v| check_weighted_attenuation(&parse(v)?),
        "risk-windows" => |v| check_risk_windows(&parse(v)?),
        other => {
            return Err(VectorFileError::UnknownKind {
                kind: other.to_string(),
            });
        }
    };
    if document.get("source").is_none_or(Value::is_null) {
        return Err(VectorFileError::MissingSource);
    }
    let vectors = document
        .get("vectors")
        .and_then(Value::as_array)
        .filter(|v| !v.is_empty())
        .ok_or(VectorFileError::NoVectors)?;
    let mut report = Report {
        kind: kind.to_string(),
        ..Report::default()
    };
    for (index, entry) in vectors.iter().enumerate() {
        match check(entry) {
            Ok(()) => report.passed = report.passed.saturating_add(1),
            Err(message) => report.failures.push(Failure {
                vector: entry
                    .get("name")
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("#{index}"), ToString::to_string),
                message,
            }),
        }
    }
    Ok(report)
}

fn parse<T: for<'de> Deserialize<'de>>(entry: &Value) -> Result<T, String> {
    T::deserialize(entry).map_err(|e| format!("malformed vector: {e}"))
}

/// Collects every mismatch of one vector into one message.
#[derive(Default)]
struct Mismatches(Vec<String>);

impl Mismatches {
    fn expect<T: PartialEq + core::fmt::Display>(&mut self, what: &str, got: T, want: T) {
        if got != want {
            self.0.push(format!("{what}: got {got}, expected {want}"));
        }
    }

    fn note(&mut self, message: String) {
        self.0.push(message);
    }

    fn finish(self) -> Result<(), String> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0.join("; "))
        }
    }
}

/// Hex bytes of a fixed length in a vector entry.
#[derive(PartialEq, Eq)]
struct HexBytes<const N: usize>([u8; N]);

impl<'de, const N: usize> Deserialize<'de> for HexBytes<N> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::bytes::deserialize_hex(deserializer).map(Self)
    }
}

impl<const N: usize> core::fmt::Display for HexBytes<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        crate::hex::write(f, &self.0, false)
    }
}

#[derive(Deserialize)]
struct GaenCryptoVector {
    tek: HexBytes<16>,
    rpik: HexBytes<16>,
    aemk: HexBytes<16>,
    en_interval_number: u32,
    rpi: RollingProximityIdentifier,
    metadata: Metadata,
    aem: AssociatedEncryptedMetadata,
    rolling_start_interval_number: Option<u32>,
    rolling_period: Option<u32>,
    flags: Option<HexBytes<1>>,
    advertisement: Option<HexBytes<31>>,
}

fn check_gaen_crypto(v: &GaenCryptoVector) -> Result<(), String> {
    let mut m = Mismatches::default();
    let interval = EnIntervalNumber::new(v.en_interval_number);
    let rpik = RollingProximityIdentifierKey::derive(&v.tek.0);
    let aemk = AssociatedEncryptedMetadataKey::derive(&v.tek.0);
    m.expect("rpik", HexBytes(*rpik.expose_secret()), HexBytes(v.rpik.0));
    m.expect("aemk", HexBytes(*aemk.expose_secret()), HexBytes(v.aemk.0));
    m.expect("rpi", rpik.identifier(interval), v.rpi);

    // With a rolling window, derive through the key type and the batch generator too.
    match (v.rolling_start_interval_number, v.rolling_period) {
        (None, None) => {}
        (Some(start), Some(period)) => {
            match RollingPeriod::new(period)
                .and_then(|p| RollingWindow::new(EnIntervalNumber::new(start), p))
            {
                Err(e) => m.note(format!("rolling window: {e}")),
                Ok(window) => match window.offset_of(interval) {
                    None => m.note(format!("interval {interval} lies outside its key's window")),
                    Some(offset) => {
                        let tek = TemporaryExposureKey::from_bytes(v.tek.0, window);
                        let mut all = [RollingProximityIdentifier::default(); 144];
                        let batch = tek
                            .rolling_proximity_identifier_key()
                            .window_identifiers(window, &mut all);
                        m.expect("batch length", batch.len(), period as usize);
                        match batch.get(offset) {
                            Some(rpi) => m.expect("rpi from the batch", *rpi, v.rpi),
                            None => m.note("batch shorter than the window".to_string()),
                        }
                    }
                },
            }
        }
        _ => m.note("rolling_start_interval_number and rolling_period go together".to_string()),
    }

    let aem = aemk.encrypt(&v.rpi, v.metadata);
    m.expect("aem", aem, v.aem);
    m.expect(
        "decrypted metadata",
        aemk.decrypt(&v.rpi, v.aem),
        v.metadata,
    );

    if let Some(expected) = &v.advertisement {
        let flags = v.flags.as_ref().map_or(DEFAULT_FLAGS, |f| f.0[0]);
        let ours = ExposureNotificationAdvertisement::new(v.rpi, v.aem);
        m.expect(
            "advertisement",
            HexBytes(ours.encode(flags)),
            HexBytes(expected.0),
        );
        match ExposureNotificationAdvertisement::parse(&expected.0) {
            Ok(parsed) => m.expect("parsed advertisement", parsed.advertisement, ours),
            Err(e) => m.note(format!("advertisement does not parse: {e}")),
        }
    }
    m.finish()
}

#[derive(Deserialize)]
struct GaenAdvertisementVector {
    payload: Option<String>,
    service_data: Option<String>,
    expect: String,
    rpi: Option<RollingProximityIdentifier>,
    aem: Option<AssociatedEncryptedMetadata>,
    #[serde(default, deserialize_with = "flags_or_null")]
    flags: Option<Option<HexBytes<1>>>,
    lists_service_uuid: Option<bool>,
}

fn flags_or_null<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<HexBytes<1>>>, D::Error> {
    Option::<HexBytes<1>>::deserialize(deserializer).map(Some)
}

fn hex_vec(text: &str) -> Result<Vec<u8>, String> {
    let mut out = std::vec![0u8; text.len() / 2];
    crate::hex::decode_into(text, &mut out).map_err(|e| format!("malformed vector: {e}"))?;
    Ok(out)
}

fn check_gaen_advertisement(v: &GaenAdvertisementVector) -> Result<(), String> {
    let (outcome, flags, listed) = match (&v.payload, &v.service_data) {
        (Some(payload), None) => match ExposureNotificationAdvertisement::parse(&hex_vec(payload)?)
        {
            Ok(p) => (
                Ok(p.advertisement),
                Some(p.flags),
                Some(p.lists_service_uuid),
            ),
            Err(e) => (Err(e), None, None),
        },
        (None, Some(data)) => (
            ExposureNotificationAdvertisement::parse_service_data(&hex_vec(data)?),
            None,
            None,
        ),
        _ => return Err("malformed vector: give exactly one of payload and service_data".into()),
    };
    let mut m = Mismatches::default();
    match outcome {
        Err(e) => m.expect("outcome", e.class(), v.expect.as_str()),
        Ok(found) => {
            m.expect("outcome", "ok", v.expect.as_str());
            if let Some(rpi) = v.rpi {
                m.expect("rpi", found.rpi, rpi);
            }
            if let Some(aem) = v.aem {
                m.expect("aem", found.aem, aem);
            }
            if let (Some(want), Some(got)) = (&v.flags, flags) {
                let show =
                    |f: Option<u8>| f.map_or_else(|| "none".to_string(), |b| format!("{b:02x}"));
                m.expect("flags", show(got), show(want.as_ref().map(|h| h.0[0])));
            }
            if let (Some(want), Some(got)) = (v.lists_service_uuid, listed) {
                m.expect("lists_service_uuid", got, want);
            }
        }
    }
    m.finish()
}

#[derive(Deserialize)]
struct BluezoneBlidVector {
    base_key: HexBytes<32>,
    base_time_s: u64,
    t_ms: u64,
    slots_per_day: u32,
    id: BluezoneId,
    day: Option<u64>,
    slot: Option<u32>,
    daily_key: Option<HexBytes<32>>,
    subkey0: Option<HexBytes<32>>,
}

fn check_bluezone_blid(v: &BluezoneBlidVector) -> Result<(), String> {
    let slots = SlotsPerDay::new(v.slots_per_day).map_err(|e| format!("slots_per_day: {e}"))?;
    let base = BaseKey::from_base_time(v.base_key.0, v.base_time_s)
        .map_err(|e| format!("base_time_s: {e}"))?;
    let mut m = Mismatches::default();
    match base.identifier_at(v.t_ms, slots) {
        Ok(id) => m.expect("id", id, v.id),
        Err(e) => m.note(format!("id: {e}")),
    }
    let day = v.t_ms / DAY_MS;
    if let Some(want) = v.day {
        m.expect("day", day.saturating_sub(u64::from(base.base_day())), want);
    }
    if let Some(want) = v.slot {
        match slots.slot_of(v.t_ms % DAY_MS) {
            Ok(slot) => m.expect("slot", slot, want),
            Err(e) => m.note(format!("slot: {e}")),
        }
    }
    if v.daily_key.is_some() || v.subkey0.is_some() {
        match u32::try_from(day)
            .map_err(|_| "day out of range".to_string())
            .and_then(|d| base.daily_key(d).map_err(|e| e.to_string()))
        {
            Err(e) => m.note(format!("daily_key: {e}")),
            Ok(daily) => {
                if let Some(want) = &v.daily_key {
                    m.expect(
                        "daily_key",
                        HexBytes(*daily.expose_secret()),
                        HexBytes(want.0),
                    );
                }
                if let (Some(want), Some(first)) = (&v.subkey0, daily.sub_keys().next()) {
                    m.expect(
                        "subkey0",
                        HexBytes(*first.expose_secret()),
                        HexBytes(want.0),
                    );
                }
            }
        }
    }
    m.finish()
}

#[derive(Deserialize)]
struct EncounterRecordVector {
    expect: String,
    sighting: Option<String>,
    unix_seconds: Option<u64>,
    unix_ms: Option<u64>,
    rpi: Option<RollingProximityIdentifier>,
    aem: Option<AssociatedEncryptedMetadata>,
    contact_id: Option<BluezoneId>,
    own_id: Option<BluezoneId>,
    rssi: Option<i8>,
    previous_scan_unix_seconds: Option<u64>,
    record: Option<String>,
    frame: Option<String>,
    segment: Option<String>,
    records: Option<Vec<String>>,
}

fn missing(field: &str) -> String {
    format!("malformed vector: missing {field}")
}

fn check_encounter_record(v: &EncounterRecordVector) -> Result<(), String> {
    let mut m = Mismatches::default();
    if let Some(segment) = &v.segment {
        let bytes = hex_vec(segment)?;
        let wanted: Vec<Sighting> = v
            .records
            .as_ref()
            .ok_or_else(|| missing("records"))?
            .iter()
            .map(|r| hex_vec(r).and_then(|b| Sighting::decode(&b).map_err(|e| e.to_string())))
            .collect::<Result<_, _>>()?;
        match frame::scan(&bytes) {
            Err(e) => m.note(format!("segment: {e}")),
            Ok(items) => {
                let items: Vec<ScanItem> = items.collect();
                let found: Vec<Sighting> = items
                    .iter()
                    .filter_map(|i| match i {
                        ScanItem::Record(s) => Some(*s),
                        ScanItem::Damage(_) => None,
                    })
                    .collect();
                m.expect("records in segment", found.len(), wanted.len());
                m.expect("damage in segment", items.len() - found.len(), 0);
                if found != wanted {
                    m.note("segment records differ".to_string());
                }
            }
        }
        return m.finish();
    }
    let record = hex_vec(v.record.as_deref().ok_or_else(|| missing("record"))?)?;
    let decoded = Sighting::decode(&record);
    if v.expect != "ok" {
        match decoded {
            Ok(_) => m.note(format!("decoded, expected error class {}", v.expect)),
            Err(e) => m.expect("outcome", e.class(), v.expect.as_str()),
        }
        return m.finish();
    }
    let sighting = match v.sighting.as_deref() {
        Some("gaen") => Sighting::Gaen(GaenSighting {
            unix_seconds: v.unix_seconds.ok_or_else(|| missing("unix_seconds"))?,
            rpi: v.rpi.ok_or_else(|| missing("rpi"))?,
            aem: v.aem.ok_or_else(|| missing("aem"))?,
            rssi: v.rssi.ok_or_else(|| missing("rssi"))?,
            previous_scan_unix_seconds: v
                .previous_scan_unix_seconds
                .ok_or_else(|| missing("previous_scan_unix_seconds"))?,
        }),
        Some("bluezone") => Sighting::Bluezone(BluezoneSighting {
            unix_ms: v.unix_ms.ok_or_else(|| missing("unix_ms"))?,
            contact_id: v.contact_id.ok_or_else(|| missing("contact_id"))?,
            own_id: v.own_id.ok_or_else(|| missing("own_id"))?,
            rssi: v.rssi.ok_or_else(|| missing("rssi"))?,
        }),
        _ => return Err(missing("sighting (gaen or bluezone)")),
    };
    let mut buffer = [0u8; frame::MAX_FRAME_LEN];
    match sighting.encode_into(&mut buffer) {
        Ok(len) => m.expect(
            "record",
            crate::hex::Hex(buffer.split_at(len.min(buffer.len())).0),
            crate::hex::Hex(&record),
        ),
        Err(e) => m.note(format!("encode: {e}")),
    }
    match decoded {
        Ok(d) if d == sighting => {}
        Ok(_) => m.note("decoded record differs from the fields".to_string()),
        Err(e) => m.note(format!("decode: {e}")),
    }
    if let Some(expected) = &v.frame {
        let expected = hex_vec(expected)?;
        match frame::encode_frame(&sighting, &mut buffer) {
            Ok(len) => m.expect(
                "frame",
                crate::hex::Hex(buffer.split_at(len.min(buffer.len())).0),
                crate::hex::Hex(&expected),
            ),
            Err(e) => m.note(format!("frame: {e}")),
        }
    }
    m.finish()
}

#[derive(Deserialize)]
struct WeightedAttenuationVector {
    points: Vec<(u64, u8)>,
    scan_interval_seconds: u64,
    expected: u8,
}

fn check_weighted_attenuation(v: &WeightedAttenuationVector) -> Result<(), String> {
    if v.points
        .windows(2)
        .any(|p| matches!(p, [(a, _), (b, _)] if b < a))
    {
        return Err("malformed vector: points must be in time order".to_string());
    }
    let mut m = Mismatches::default();
    m.expect(
        "weighted attenuation",
        crate::risk::scoring::weighted_attenuation(&v.points, v.scan_interval_seconds),
        v.expected,
    );
    m.finish()
}

#[derive(Deserialize)]
struct RiskWindowsVector {
    sightings: Vec<(u64, u8, u64)>,
    windows: Vec<Vec<(u8, u8, u32, u32)>>,
}

fn check_risk_windows(v: &RiskWindowsVector) -> Result<(), String> {
    use crate::gaen::{AssociatedEncryptedMetadata, Metadata};
    let sightings: Vec<crate::matching::MatchedSighting> = v
        .sightings
        .iter()
        .map(
            |&(unix_seconds, attenuation, previous)| crate::matching::MatchedSighting {
                unix_seconds,
                en_interval_number: EnIntervalNumber::new(
                    u32::try_from(unix_seconds / 600).unwrap_or(u32::MAX),
                ),
                rpi: RollingProximityIdentifier::default(),
                rssi: 0,
                aem: AssociatedEncryptedMetadata::default(),
                metadata: Metadata::v1_0(0),
                tx_power: 0,
                attenuation,
                previous_scan_unix_seconds: previous,
            },
        )
        .collect();
    let first = v.sightings.first().map_or(0, |s| s.0);
    let key = crate::gaen::DiagnosisKey::new(
        [0; 16],
        RollingWindow::day_of(EnIntervalNumber::new(
            u32::try_from(first / 600).unwrap_or(u32::MAX),
        )),
    );
    let windows = crate::risk::windows::exposure_windows(
        &key,
        &sightings,
        &crate::risk::WindowConfig::default(),
    );
    let found: Vec<Vec<(u8, u8, u32, u32)>> = windows
        .iter()
        .map(|w| {
            w.scan_instances
                .iter()
                .map(|s| {
                    (
                        s.typical_attenuation_db,
                        s.min_attenuation_db,
                        s.seconds_since_last_scan,
                        s.sightings,
                    )
                })
                .collect()
        })
        .collect();
    if found == v.windows {
        Ok(())
    } else {
        Err(format!("windows: got {found:?}, expected {:?}", v.windows))
    }
}
