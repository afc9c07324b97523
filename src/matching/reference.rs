//! The rules of spec §match.2 and §match.6 applied literally, key after key in the order
//! given, as Google's tracer loop runs: every identifier of every key, every sighting of the
//! log. Slow on purpose; the production [`super::Matcher`] and [`super::MatchRun`] must return
//! exactly what this returns.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::{KeyMatch, MatchConfig, MatchOutcome, MatchedSighting, is_valid_transition};
use super::{clamp_rssi, new_scan};
use crate::encounter::GaenSighting;
use crate::gaen::{AssociatedEncryptedMetadataKey, DiagnosisKey, RollingProximityIdentifier};
use crate::time::{EnIntervalNumber, INTERVAL_SECONDS};

/// Matches `keys`, in publication order, against `sightings` by following the rules one by one.
#[must_use]
pub fn match_keys(
    keys: &[DiagnosisKey],
    sightings: &[GaenSighting],
    config: &MatchConfig,
) -> MatchOutcome {
    let mut outcome = MatchOutcome {
        keys_total: keys.len() as u64,
        ..MatchOutcome::default()
    };
    let mut stored: BTreeMap<[u8; 16], KeyMatch> = BTreeMap::new();
    for key in keys {
        let rpik = key.rolling_proximity_identifier_key();
        let aemk = key.associated_encrypted_metadata_key();
        // Each identifier of the window with its sightings in time order.
        let mut identifiers = Vec::new();
        for interval in key.window.intervals() {
            let rpi = rpik.identifier(interval);
            let mut mine: Vec<&GaenSighting> = sightings.iter().filter(|s| s.rpi == rpi).collect();
            mine.sort_by(|a, b| {
                (a.unix_seconds, a.rssi, a.aem, a.previous_scan_unix_seconds).cmp(&(
                    b.unix_seconds,
                    b.rssi,
                    b.aem,
                    b.previous_scan_unix_seconds,
                ))
            });
            identifiers.push((interval, rpi, mine));
        }
        let valid = |interval: EnIntervalNumber, s: &GaenSighting| {
            let seen = s.unix_seconds / INTERVAL_SECONDS;
            seen.abs_diff(u64::from(interval.get())) <= u64::from(config.tolerance_intervals)
        };
        // Google's prefilter: one of the 144 identifiers from the rolling start, whatever the
        // period, is in the log at any time.
        let prefiltered = (0..144u32)
            .map_while(|k| key.window.start().get().checked_add(k))
            .any(|j| {
                let rpi = rpik.identifier(EnIntervalNumber::new(j));
                sightings.iter().any(|s| s.rpi == rpi)
            });

        // A copy of a stored key only asks for a report-type change.
        if prefiltered && let Some(previous) = stored.get_mut(&key.key_data) {
            let from = config.effective_report_type(previous.key.report_type);
            let to = config.effective_report_type(key.report_type);
            if from == to {
                outcome.rejected.duplicate_keys += 1;
            } else if is_valid_transition(from, to)
                && previous.report_type_transitions < config.allowed_report_type_transitions
            {
                previous.key.report_type = to;
                previous.report_type_transitions += 1;
                outcome.report_type_transitions += 1;
            } else {
                outcome.rejected.invalid_transitions += 1;
            }
            continue;
        }
        if !config.matches_report_type(key.report_type) {
            outcome.rejected.report_type_keys += 1;
            continue;
        }
        let mut accepted = Vec::new();
        let mut v1_scans = Vec::new();
        for (interval, rpi, mine) in identifiers {
            // An identifier never seen within tolerance is not looked at further.
            let Some(first) = mine
                .iter()
                .find(|s| valid(interval, s))
                .map(|s| s.unix_seconds)
            else {
                continue;
            };
            let mut kept: Vec<&GaenSighting> = Vec::new();
            for s in mine {
                if !valid(interval, s) {
                    outcome.rejected.outside_tolerance += 1;
                } else if s.unix_seconds > first + config.replay_window_seconds {
                    outcome.rejected.replayed += 1;
                } else {
                    kept.push(s);
                    match accept(config, &aemk, interval, rpi, s) {
                        Some(sighting) => accepted.push(sighting),
                        None => outcome.rejected.tx_power_out_of_range += 1,
                    }
                }
            }
            // v1: scans of this identifier, the loudest sighting of each, then the TX bounds.
            let mut scans: Vec<&GaenSighting> = Vec::new();
            let mut previous: Option<u64> = None;
            for s in kept {
                match (previous, scans.last_mut()) {
                    (Some(p), Some(loudest)) if !new_scan(p, s.unix_seconds) => {
                        if clamp_rssi(s.rssi) > clamp_rssi(loudest.rssi) {
                            *loudest = s;
                        }
                    }
                    _ => scans.push(s),
                }
                previous = Some(s.unix_seconds);
            }
            v1_scans.extend(
                scans
                    .into_iter()
                    .filter_map(|s| accept(config, &aemk, interval, rpi, s)),
            );
        }
        // Stored only when the per-scan sightings are not empty (Google's `findExposures`).
        if !v1_scans.is_empty() {
            accepted.sort();
            v1_scans.sort();
            stored.insert(
                key.key_data,
                KeyMatch {
                    key: *key,
                    sightings: accepted,
                    first_report_type: key.report_type,
                    report_type_transitions: 0,
                    v1_scans,
                },
            );
        }
    }
    outcome.matches = stored.into_values().collect();
    outcome.keys_matched = outcome.matches.len() as u64;
    outcome
}

/// The sighting with its metadata, when its TX power is within bounds.
fn accept(
    config: &MatchConfig,
    aemk: &AssociatedEncryptedMetadataKey,
    interval: EnIntervalNumber,
    rpi: RollingProximityIdentifier,
    s: &GaenSighting,
) -> Option<MatchedSighting> {
    let metadata = aemk.decrypt(&rpi, s.aem);
    let tx_power = metadata.tx_power_dbm();
    if !(config.tx_power_min_dbm..=config.tx_power_max_dbm).contains(&tx_power) {
        return None;
    }
    let rssi = clamp_rssi(s.rssi);
    Some(MatchedSighting {
        unix_seconds: s.unix_seconds,
        en_interval_number: interval,
        rpi,
        rssi,
        aem: s.aem,
        metadata,
        tx_power,
        attenuation: u8::try_from((i16::from(tx_power) - i16::from(rssi)).max(0))
            .unwrap_or(u8::MAX),
        previous_scan_unix_seconds: s.previous_scan_unix_seconds,
    })
}
