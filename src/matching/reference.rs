//! The rules of spec §match.2 applied literally: every identifier of every key, every
//! sighting of the log. Slow on purpose; the production [`super::Matcher`] must return exactly
//! what this returns.

use alloc::vec::Vec;

use super::{KeyMatch, MatchConfig, MatchOutcome, MatchedSighting};
use crate::encounter::GaenSighting;
use crate::gaen::DiagnosisKey;
use crate::time::INTERVAL_SECONDS;

/// Matches `keys` against `sightings` by following the rules one by one.
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
    let mut done: Vec<DiagnosisKey> = Vec::new();
    for key in keys {
        if done.contains(key) {
            // Matched once already: counted as a duplicate only if it matched.
            if outcome.matches.iter().any(|m| m.key == *key) {
                outcome.rejected.duplicate_keys += 1;
            }
            continue;
        }
        done.push(*key);
        if !config.matches_report_type(key.report_type) {
            outcome.rejected.report_type_keys += 1;
            continue;
        }
        let rpik = key.rolling_proximity_identifier_key();
        let aemk = key.associated_encrypted_metadata_key();
        let mut accepted = Vec::new();
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
            let valid = |s: &GaenSighting| {
                let seen = s.unix_seconds / INTERVAL_SECONDS;
                seen.abs_diff(u64::from(interval.get())) <= u64::from(config.tolerance_intervals)
            };
            // An identifier never seen within tolerance is not looked at further.
            let Some(first) = mine.iter().find(|s| valid(s)).map(|s| s.unix_seconds) else {
                continue;
            };
            for s in mine {
                if !valid(s) {
                    outcome.rejected.outside_tolerance += 1;
                } else if s.unix_seconds > first + config.replay_window_seconds {
                    outcome.rejected.replayed += 1;
                } else {
                    let metadata = aemk.decrypt(&rpi, s.aem);
                    let tx_power = metadata.tx_power_dbm();
                    if !(config.tx_power_min_dbm..=config.tx_power_max_dbm).contains(&tx_power) {
                        outcome.rejected.tx_power_out_of_range += 1;
                    } else {
                        let attenuation =
                            (i16::from(tx_power) - i16::from(s.rssi)).clamp(0, 255) as u8;
                        accepted.push(MatchedSighting {
                            unix_seconds: s.unix_seconds,
                            en_interval_number: interval,
                            rpi,
                            rssi: s.rssi,
                            aem: s.aem,
                            metadata,
                            tx_power,
                            attenuation,
                            previous_scan_unix_seconds: s.previous_scan_unix_seconds,
                        });
                    }
                }
            }
        }
        if !accepted.is_empty() {
            accepted.sort();
            outcome.matches.push(KeyMatch {
                key: *key,
                sightings: accepted,
            });
        }
    }
    outcome.matches.sort_by_key(|m| m.key);
    outcome.keys_matched = outcome.matches.len() as u64;
    outcome
}
