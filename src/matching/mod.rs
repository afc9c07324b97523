//! Matching diagnosis keys against the encounter log (spec `spec/matching.md`).
//!
//! * [`LogIndex`]: the log, indexed once: sightings grouped by identifier, the intervals that
//!   hold sightings, and a small filter per UTC day.
//! * [`Matcher`]: the production matcher. Per key it skips what cannot match (a window with
//!   no sightings costs no HKDF; an interval with no sightings nearby costs no AES), chooses
//!   between generating identifiers and decrypting the logged ones, and probes a cache-resident
//!   filter; only keys that hit are evaluated in full.
//! * [`reference::match_keys`]: the rules applied literally, slowly: the oracle the production
//!   matcher is tested against.
//! * [`MatchRun`]: one run over keys from any number of files in publication order: a key is
//!   its 16 bytes, matched once, and later copies only change its report type as Google's
//!   engine allows (spec §match.6).
//! * [`KeyTable`]: one batch of keys derived once, to match many logs against by lookup
//!   (spec §match.7).
//! * [`stream`]: keys from any number of export files, in bounded memory, on all cores.
//! * `state` (with `export`): a folder that remembers what was checked across days, so that a
//!   daily check derives only new keys and later revisions still apply (spec `spec/state.md`).

pub mod band;
#[cfg(feature = "alloc")]
mod engine;
#[cfg(feature = "alloc")]
mod floor;
mod hkdf;
#[cfg(feature = "alloc")]
mod index;
#[cfg(feature = "alloc")]
mod kernels;
#[cfg(feature = "alloc")]
pub mod reference;
#[cfg(feature = "alloc")]
mod run;
#[cfg(feature = "export")]
pub mod state;
#[cfg(feature = "std")]
pub mod stream;
#[cfg(feature = "alloc")]
mod table;

pub use band::{BandCounts, BandLog, BandMatcher, BandOutcome, StoredKey, TableFull};
#[cfg(feature = "alloc")]
pub use engine::Matcher;
#[cfg(feature = "alloc")]
pub use run::{Checkpoint, MatchRun};
#[cfg(feature = "alloc")]
pub use table::KeyTable;

/// Not public API: what the benchmarks of the `bluezone` tool need from inside the matcher.
/// It may change in any release.
#[doc(hidden)]
#[cfg(feature = "alloc")]
pub mod __bench {
    pub use super::floor::{crypto_floor, hostile_copies, multi_key_limit};
}
#[cfg(feature = "alloc")]
pub use index::{IndexStats, LogIndex};

#[cfg(feature = "alloc")]
use alloc::vec::Vec;

use crate::encounter::GaenSighting;
#[cfg(feature = "alloc")]
use crate::gaen::DiagnosisKey;
use crate::gaen::{
    AssociatedEncryptedMetadata, AssociatedEncryptedMetadataKey, Metadata, ReportType,
    RollingProximityIdentifier,
};
use crate::time::EnIntervalNumber;

/// The rules of matching. Defaults follow Google's published engine (spec §match.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct MatchConfig {
    /// A sighting at time t of the identifier of interval i counts when floor(t / 600) is within
    /// this many intervals of i, both ends included (12: two hours).
    pub tolerance_intervals: u32,
    /// Per identifier, sightings more than this many seconds after its first valid sighting
    /// are replays and dropped (1200: 20 minutes).
    pub replay_window_seconds: u64,
    /// Sightings whose decrypted TX power is below this are dropped (−50 dBm).
    pub tx_power_min_dbm: i8,
    /// Sightings whose decrypted TX power is above this are dropped (+20 dBm).
    pub tx_power_max_dbm: i8,
    /// Match keys whose report type is REVOKED (Google's engine does, and leaves them out of
    /// daily summaries).
    pub match_revoked: bool,
    /// Match keys whose report type is RECURSIVE (Google's engine does not by default).
    pub match_recursive: bool,
    /// How many times a later copy of a matched key may change its report type (Google's
    /// `allowedReportTypeTransitions`, 1; spec §match.6).
    pub allowed_report_type_transitions: u8,
    /// The report type a key published without one is given when transitions are judged
    /// (CONFIRMED_TEST, as the API documents; keep it equal to the risk configuration's).
    pub report_type_when_missing: ReportType,
}

impl Default for MatchConfig {
    fn default() -> Self {
        Self {
            tolerance_intervals: 12,
            replay_window_seconds: 1200,
            tx_power_min_dbm: -50,
            tx_power_max_dbm: 20,
            match_revoked: true,
            match_recursive: false,
            allowed_report_type_transitions: 1,
            report_type_when_missing: ReportType::ConfirmedTest,
        }
    }
}

impl MatchConfig {
    // spec §match.2.5: which report types are matched.
    /// Whether keys of this report type are matched at all.
    #[must_use]
    pub const fn matches_report_type(&self, report_type: ReportType) -> bool {
        match report_type {
            ReportType::Revoked => self.match_revoked,
            ReportType::Recursive => self.match_recursive,
            _ => true,
        }
    }

    /// The report type a key counts as: its own, or `report_type_when_missing` for UNKNOWN.
    #[must_use]
    pub const fn effective_report_type(&self, report_type: ReportType) -> ReportType {
        match report_type {
            ReportType::Unknown => self.report_type_when_missing,
            other => other,
        }
    }
}

/// Whether a later copy of a matched key may change its report type from `from` to `to`:
/// Google's table (`ExposureMatchingTracer.isValidTransition`, spec §match.6). A self report
/// may be confirmed (by a test or a clinician) or revoked; a clinical diagnosis may be confirmed
/// by a test or revoked; nothing else changes.
#[must_use]
pub const fn is_valid_transition(from: ReportType, to: ReportType) -> bool {
    use ReportType::{ConfirmedClinicalDiagnosis, ConfirmedTest, Revoked, SelfReport};
    matches!(
        (from, to),
        (
            SelfReport,
            ConfirmedTest | ConfirmedClinicalDiagnosis | Revoked
        ) | (ConfirmedClinicalDiagnosis, ConfirmedTest | Revoked)
    )
}

/// Calibrated RSSI as Google's scanner stores it: clamped to −127..=126 dBm
/// (`BleScannerImpl.getAdjustedRssi`, spec §match.2).
pub(crate) const fn clamp_rssi(rssi: i8) -> i8 {
    if rssi < -127 {
        -127
    } else if rssi > 126 {
        126
    } else {
        rssi
    }
}

/// Whether a sighting at `t` starts a new v1 scan after one at `previous`: more than 25.5 s
/// later (`1.5 × (4 + 13)` s, Google's per-scan aggregation, spec §risk.3.1).
pub(crate) const fn new_scan(previous: u64, t: u64) -> bool {
    t.saturating_sub(previous) * 10 > 255
}

/// The two 8-byte halves of a 16-byte identifier, for hashing and ordering it as integers.
#[inline]
pub(crate) const fn split_halves(bytes: [u8; 16]) -> ([u8; 8], [u8; 8]) {
    let [
        h0,
        h1,
        h2,
        h3,
        h4,
        h5,
        h6,
        h7,
        l0,
        l1,
        l2,
        l3,
        l4,
        l5,
        l6,
        l7,
    ] = bytes;
    (
        [h0, h1, h2, h3, h4, h5, h6, h7],
        [l0, l1, l2, l3, l4, l5, l6, l7],
    )
}

/// The interval a sighting time falls in, if it is one.
pub(crate) fn interval_of(unix_seconds: u64) -> Option<u32> {
    u32::try_from(unix_seconds / crate::time::INTERVAL_SECONDS).ok()
}

// spec §match.6: what a copy of a stored key may do.
/// Applies a copy of a stored key, one that Google's prefilter passes, to what is stored of it:
/// the copy may only change the stored report type, from its effective type to the copy's,
/// along Google's table ([`is_valid_transition`]) and at most
/// `allowed_report_type_transitions` times. A copy of the same effective type is counted as a
/// duplicate, any other refused change as an invalid transition. Returns whether the stored
/// type changed. The run and the band matcher both call it, so they cannot treat a copy
/// differently.
pub(crate) fn apply_copy(
    config: &MatchConfig,
    stored: &mut ReportType,
    transitions: &mut u8,
    copy: ReportType,
    rejected: &mut Rejections,
) -> bool {
    let from = config.effective_report_type(*stored);
    let to = config.effective_report_type(copy);
    if from == to {
        rejected.duplicate_keys += 1;
        false
    } else if is_valid_transition(from, to) && *transitions < config.allowed_report_type_transitions
    {
        *stored = to;
        *transitions += 1;
        true
    } else {
        rejected.invalid_transitions += 1;
        false
    }
}

// spec §match.2: the rules on the sightings of one identifier.
/// Applies §match.2 to `all`, the sightings (in the log's order) of `rpi`, the identifier of
/// interval `j` of a key whose AEMK is `aemk`: each accepted sighting goes to `accepted`, the
/// loudest accepted sighting of each v1 scan (§risk.3.1) to `v1_scan`, and what the rules turn
/// away is counted in `rejected`. Returns whether a sighting lay within tolerance (the key was
/// *seen*); when none did, nothing is counted. The production matcher and the band matcher
/// both call it, so they cannot judge a sighting differently.
#[expect(
    clippy::too_many_arguments,
    reason = "the hit, its sightings and three sinks"
)]
pub(crate) fn apply_rules(
    config: &MatchConfig,
    j: u32,
    rpi: RollingProximityIdentifier,
    all: &[GaenSighting],
    aemk: &AssociatedEncryptedMetadataKey,
    rejected: &mut Rejections,
    mut accepted: impl FnMut(MatchedSighting),
    mut v1_scan: impl FnMut(MatchedSighting),
) -> bool {
    let accept = |s: &GaenSighting| {
        let metadata = aemk.decrypt(&rpi, s.aem);
        let tx_power = metadata.tx_power_dbm();
        let rssi = clamp_rssi(s.rssi);
        (config.tx_power_min_dbm..=config.tx_power_max_dbm)
            .contains(&tx_power)
            .then_some(MatchedSighting {
                unix_seconds: s.unix_seconds,
                en_interval_number: EnIntervalNumber::new(j),
                rpi,
                rssi,
                aem: s.aem,
                metadata,
                tx_power,
                // The RSSI is calibrated already: no correction.
                attenuation: crate::calibration::attenuation(tx_power, rssi, 0),
                previous_scan_unix_seconds: s.previous_scan_unix_seconds,
            })
    };
    let in_tolerance =
        |t: u64| interval_of(t).is_some_and(|i| i.abs_diff(j) <= config.tolerance_intervals);
    let Some(first_valid) = all.iter().find(|s| in_tolerance(s.unix_seconds)) else {
        return false;
    };
    let first_time = first_valid.unix_seconds;
    // The v1 scan being gathered: its loudest sighting and the previous sighting's time.
    let mut scan: Option<(&GaenSighting, u64)> = None;
    for s in all {
        if !in_tolerance(s.unix_seconds) {
            rejected.outside_tolerance += 1;
            continue;
        }
        if s.unix_seconds - first_time > config.replay_window_seconds {
            rejected.replayed += 1;
            continue;
        }
        scan = match scan {
            Some((loudest, previous)) if !new_scan(previous, s.unix_seconds) => {
                let louder = clamp_rssi(s.rssi) > clamp_rssi(loudest.rssi);
                Some((if louder { s } else { loudest }, s.unix_seconds))
            }
            other => {
                if let Some(loudest) = other.and_then(|(loudest, _)| accept(loudest)) {
                    v1_scan(loudest);
                }
                Some((s, s.unix_seconds))
            }
        };
        match accept(s) {
            Some(sighting) => accepted(sighting),
            None => rejected.tx_power_out_of_range += 1,
        }
    }
    if let Some(loudest) = scan.and_then(|(loudest, _)| accept(loudest)) {
        v1_scan(loudest);
    }
    true
}

/// One accepted sighting of a matched key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MatchedSighting {
    /// When it was received, Unix seconds.
    pub unix_seconds: u64,
    /// The interval of the identifier (not of the sighting).
    pub en_interval_number: EnIntervalNumber,
    /// The identifier.
    pub rpi: RollingProximityIdentifier,
    /// Calibrated RSSI, dBm.
    pub rssi: i8,
    /// The encrypted metadata as received.
    pub aem: AssociatedEncryptedMetadata,
    /// The metadata decrypted with the key's AEMK.
    pub metadata: Metadata,
    /// Its TX power, dBm.
    pub tx_power: i8,
    /// `max(tx_power − rssi, 0)`, dB.
    pub attenuation: u8,
    /// When the scan before this one ran (0: unknown), for risk scoring.
    pub previous_scan_unix_seconds: u64,
}

#[cfg(feature = "alloc")]
/// A key with at least one accepted sighting.
///
/// With `serde` it serializes flat, as `bluezone match --json` has always printed it and as
/// other tools read it: `{"tek": "<32 hex digits>", "rolling_start_interval_number": …,
/// "rolling_period": …, "transmission_risk_level": …, "report_type": …,
/// "first_report_type": …, "report_type_transitions": …, "days_since_onset_of_symptoms": …,
/// "sightings": […]}`.
///
/// A key is its 16 bytes (spec §match.6): `key` is the first copy that matched, in publication
/// order, with the report type that later copies changed it to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyMatch {
    /// The diagnosis key and its export metadata.
    pub key: DiagnosisKey,
    /// Its accepted sightings, in time order.
    pub sightings: Vec<MatchedSighting>,
    /// The report type the key was first matched with (`key.report_type` is the current one).
    pub first_report_type: ReportType,
    /// How many times later copies changed its report type.
    pub report_type_transitions: u8,
    /// The sightings the v1 scores use (spec §risk.3.1): per identifier, one per scan, the
    /// loudest, chosen before the TX-power bounds are applied to it; in time order.
    pub v1_scans: Vec<MatchedSighting>,
}

#[cfg(feature = "alloc")]
#[cfg(feature = "serde")]
impl serde::Serialize for KeyMatch {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Flat<'a> {
            #[serde(serialize_with = "tek_hex")]
            tek: &'a [u8; 16],
            rolling_start_interval_number: u32,
            rolling_period: u32,
            transmission_risk_level: u8,
            report_type: ReportType,
            first_report_type: ReportType,
            report_type_transitions: u8,
            days_since_onset_of_symptoms: Option<i32>,
            sightings: &'a [MatchedSighting],
        }
        fn tek_hex<S: serde::Serializer>(bytes: &&[u8; 16], s: S) -> Result<S::Ok, S::Error> {
            crate::bytes::serialize_hex(*bytes, false, s)
        }
        let key = &self.key;
        Flat {
            tek: &key.key_data,
            rolling_start_interval_number: key.window.start().get(),
            rolling_period: key.window.period().get(),
            transmission_risk_level: key.transmission_risk_level,
            report_type: key.report_type,
            first_report_type: self.first_report_type,
            report_type_transitions: self.report_type_transitions,
            days_since_onset_of_symptoms: key.days_since_onset_of_symptoms,
            sightings: &self.sightings,
        }
        .serialize(serializer)
    }
}

/// Keys an export file held that the protocol does not allow, by class (spec §export.3): each
/// is skipped alone, and the rest of its file is matched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct InvalidKeys {
    /// `key_data` missing or not 16 bytes.
    pub key_length: u64,
    /// `rolling_period` outside 1..=144, or a window past the last interval.
    pub rolling_window: u64,
    /// `transmission_risk_level` outside 0..=8.
    pub transmission_risk_level: u64,
    /// A report type the protocol does not define.
    pub report_type: u64,
}

impl InvalidKeys {
    /// Counts `error` when it concerns one key; returns whether it did (structural damage is
    /// not counted and fails its file).
    pub fn count(&mut self, error: &crate::export::ExportError) -> bool {
        use crate::export::ExportError;
        let slot = match error {
            ExportError::KeyLength { .. } => &mut self.key_length,
            ExportError::RollingWindow { .. } => &mut self.rolling_window,
            ExportError::TransmissionRiskLevel { .. } => &mut self.transmission_risk_level,
            ExportError::ReportType { .. } => &mut self.report_type,
            _ => return false,
        };
        *slot += 1;
        true
    }

    /// All invalid keys.
    #[must_use]
    pub const fn total(&self) -> u64 {
        self.key_length + self.rolling_window + self.transmission_risk_level + self.report_type
    }

    /// Adds the counts of `other`.
    #[cfg(feature = "std")]
    pub(crate) const fn add(&mut self, other: &Self) {
        self.key_length += other.key_length;
        self.rolling_window += other.rolling_window;
        self.transmission_risk_level += other.transmission_risk_level;
        self.report_type += other.report_type;
    }
}

/// How many sightings (or keys) each rule turned away.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Rejections {
    /// Sightings of a key's identifier outside the tolerance window (for identifiers that also
    /// have a sighting inside it).
    pub outside_tolerance: u64,
    /// Sightings more than the replay window after the identifier's first valid sighting.
    pub replayed: u64,
    /// Sightings whose decrypted TX power is out of bounds.
    pub tx_power_out_of_range: u64,
    /// Keys not matched because of their report type.
    pub report_type_keys: u64,
    /// Later copies of a matched key (the same 16 bytes, whatever their window or metadata)
    /// that left it as it was (spec §match.6).
    pub duplicate_keys: u64,
    /// Later copies of a matched key whose report type change is not in Google's table, or
    /// came after the allowed number of changes: ignored.
    pub invalid_transitions: u64,
    /// Keys the protocol does not allow, skipped one by one.
    pub invalid_keys: InvalidKeys,
}

impl Rejections {
    pub(crate) const fn add_sightings(&mut self, other: &Self) {
        self.outside_tolerance += other.outside_tolerance;
        self.replayed += other.replayed;
        self.tx_power_out_of_range += other.tx_power_out_of_range;
    }

    /// Every counter, in one order: `outside_tolerance`, `replayed`, `tx_power_out_of_range`,
    /// `report_type_keys`, `duplicate_keys`, `invalid_transitions`, then the invalid keys by
    /// class (`key_length`, `rolling_window`, `transmission_risk_level`, `report_type`). The
    /// match state stores them in this order (spec §state.1.1).
    #[must_use]
    pub const fn counts(&self) -> [u64; 10] {
        [
            self.outside_tolerance,
            self.replayed,
            self.tx_power_out_of_range,
            self.report_type_keys,
            self.duplicate_keys,
            self.invalid_transitions,
            self.invalid_keys.key_length,
            self.invalid_keys.rolling_window,
            self.invalid_keys.transmission_risk_level,
            self.invalid_keys.report_type,
        ]
    }

    /// The counters from [`Self::counts`]'s order.
    #[must_use]
    pub const fn from_counts(c: [u64; 10]) -> Self {
        let [
            outside_tolerance,
            replayed,
            tx_power_out_of_range,
            report_type_keys,
            duplicate_keys,
            invalid_transitions,
            key_length,
            rolling_window,
            transmission_risk_level,
            report_type,
        ] = c;
        Self {
            outside_tolerance,
            replayed,
            tx_power_out_of_range,
            report_type_keys,
            duplicate_keys,
            invalid_transitions,
            invalid_keys: InvalidKeys {
                key_length,
                rolling_window,
                transmission_risk_level,
                report_type,
            },
        }
    }

    /// What applying one key contributes to the counters that depend on the log: the first
    /// four of [`Self::counts`] (the three sighting counters, then `report_type_keys`).
    #[cfg(feature = "alloc")]
    pub(crate) const fn evaluation_counts(&self) -> [u64; 4] {
        let [a, b, c, d, ..] = self.counts();
        [a, b, c, d]
    }

    /// Replaces one key's contribution `old` to those counters by `new`: a key applied again
    /// counts as its last application, as one run over the whole log counts it (spec
    /// §state.2).
    #[cfg(feature = "export")]
    pub(crate) fn replace_counts(&mut self, old: [u64; 4], new: [u64; 4]) {
        let mut counts = self.counts();
        for ((count, old), new) in counts.iter_mut().zip(old).zip(new) {
            *count = count.saturating_sub(old) + new;
        }
        *self = Self::from_counts(counts);
    }
}

#[cfg(feature = "alloc")]
/// The result of matching a set of keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MatchOutcome {
    /// Valid keys given (every copy counted; invalid keys are in `rejected.invalid_keys`).
    pub keys_total: u64,
    /// Distinct keys (by their 16 bytes) with at least one accepted sighting.
    pub keys_matched: u64,
    /// The matched keys, ordered by key bytes.
    pub matches: Vec<KeyMatch>,
    /// Report-type changes applied by later copies of matched keys (spec §match.6).
    pub report_type_transitions: u64,
    /// What the rules turned away.
    pub rejected: Rejections,
}
