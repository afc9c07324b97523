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
//! * [`stream`]: keys from any number of export files, in bounded memory, on all cores.

mod engine;
mod floor;
mod hkdf;
mod index;
pub mod reference;
#[cfg(feature = "std")]
pub mod stream;

pub use engine::Matcher;

/// Not public API: what the benchmarks of the `bluezone` tool need from inside the matcher.
/// It may change in any release.
#[doc(hidden)]
pub mod __bench {
    pub use super::floor::crypto_floor;
}
pub use index::{IndexStats, LogIndex};

use alloc::vec::Vec;

use crate::gaen::{
    AssociatedEncryptedMetadata, DiagnosisKey, Metadata, ReportType, RollingProximityIdentifier,
};
use crate::time::EnIntervalNumber;

/// The rules of matching. Defaults follow Google's published engine (spec §match.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
        }
    }
}

impl MatchConfig {
    /// Whether keys of this report type are matched at all.
    #[must_use]
    pub const fn matches_report_type(&self, report_type: ReportType) -> bool {
        match report_type {
            ReportType::Revoked => self.match_revoked,
            ReportType::Recursive => self.match_recursive,
            _ => true,
        }
    }
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

/// A key with at least one accepted sighting.
///
/// With `serde` it serializes flat, as `bluezone match --json` has always printed it and as
/// other tools read it: `{"tek": "<32 hex digits>", "rolling_start_interval_number": …,
/// "rolling_period": …, "transmission_risk_level": …, "report_type": …,
/// "days_since_onset_of_symptoms": …, "sightings": […]}`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyMatch {
    /// The diagnosis key and its export metadata.
    pub key: DiagnosisKey,
    /// Its accepted sightings, in time order.
    pub sightings: Vec<MatchedSighting>,
}

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
            days_since_onset_of_symptoms: key.days_since_onset_of_symptoms,
            sightings: &self.sightings,
        }
        .serialize(serializer)
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
    /// Keys identical to one already matched (counted once).
    pub duplicate_keys: u64,
}

impl Rejections {
    fn add(&mut self, other: &Self) {
        self.outside_tolerance += other.outside_tolerance;
        self.replayed += other.replayed;
        self.tx_power_out_of_range += other.tx_power_out_of_range;
        self.report_type_keys += other.report_type_keys;
        self.duplicate_keys += other.duplicate_keys;
    }
}

/// The result of matching a set of keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MatchOutcome {
    /// Keys given (duplicates included).
    pub keys_total: u64,
    /// Keys with at least one accepted sighting.
    pub keys_matched: u64,
    /// The matched keys, ordered by key.
    pub matches: Vec<KeyMatch>,
    /// What the rules turned away.
    pub rejected: Rejections,
}

impl MatchOutcome {
    /// Adds another outcome (for example of another chunk of keys): keys matched in both are
    /// kept once and counted as duplicates.
    pub fn merge(&mut self, other: Self) {
        self.keys_total += other.keys_total;
        self.rejected.add(&other.rejected);
        self.matches.extend(other.matches);
        self.matches.sort_unstable_by_key(|m| m.key);
        let before = self.matches.len();
        self.matches.dedup_by(|a, b| a.key == b.key);
        self.rejected.duplicate_keys += (before - self.matches.len()) as u64;
        self.keys_matched = self.matches.len() as u64;
    }
}
