//! The library's scan instances beside the peers' own output on the same phones: DP-3T's
//! per-scan aggregation and the windows Google's engine produced.

use std::collections::HashMap;
use std::path::Path;

use bluezone::calibration::CalibrationTable;
use serde::Serialize;

use crate::error::{CliError, Context};

use super::data::files_in;
use super::levels::{Calibrated, EngineScan};

/// The windows Google's engine produced on phone `receiver` from phone `transmitter`'s keys.
pub(super) fn engine_scans(path: &Path) -> Result<Vec<(u8, u8)>, CliError> {
    let text = std::fs::read_to_string(path).in_file(path)?;
    let value: serde_json::Value = serde_json::from_str(&text).in_file(path)?;
    let mut out = Vec::new();
    for windows in value.as_object().into_iter().flat_map(|o| o.values()) {
        for window in windows.as_array().into_iter().flatten() {
            for scan in window
                .get("scanInstances")
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
            {
                let get = |name: &str| {
                    scan.get(name)
                        .and_then(serde_json::Value::as_u64)
                        .and_then(|v| u8::try_from(v).ok())
                };
                if let (Some(min), Some(typical)) =
                    (get("minAttenuationDb"), get("typicalAttenuationDb"))
                {
                    out.push((min, typical));
                }
            }
        }
    }
    Ok(out)
}

/// How the library's windows compare with the engine's on the same phones, under one table.
#[derive(Clone, Copy, Debug, Serialize)]
pub(super) struct Parity {
    pub(super) table: CalibrationTable,
    /// Pairs the engine reported windows for.
    pub(super) pairs: usize,
    pub(super) engine_scan_instances: usize,
    pub(super) library_scan_instances: usize,
    /// The share of the engine's scan instances the library's windows hold as many of.
    pub(super) reproduced: f64,
    /// Median |difference| of minimum and of typical attenuation, dB, over the instances of
    /// each pair taken in order of attenuation.
    pub(super) median_min_difference_db: f64,
    pub(super) median_typical_difference_db: f64,
}

pub(super) fn parity(tables: &[Calibrated], dir: &Path) -> Result<Vec<Parity>, CliError> {
    let files = files_in(&dir.join("backend-checks"), "", "json")?;
    let mut engine: Vec<((u16, u16), Vec<EngineScan>)> = Vec::new();
    for path in &files {
        let name = path
            .file_stem()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let Some((receiver, transmitter)) = name
            .split_once("-check")
            .and_then(|(r, t)| Some((r.parse().ok()?, t.parse().ok()?)))
        else {
            continue;
        };
        engine.push(((receiver, transmitter), engine_scans(path)?));
    }
    let mut out = Vec::new();
    for Calibrated { table, scans, .. } in tables {
        let mut ours_by_pair: HashMap<(u16, u16), Vec<(u8, u8)>> = HashMap::new();
        for (&(_, receiver, transmitter), instances) in scans {
            ours_by_pair
                .entry((receiver, transmitter))
                .or_default()
                .extend(instances.iter().map(|s| (s.min_db, s.typical_db)));
        }
        let (mut engine_total, mut ours_total, mut reproduced) = (0usize, 0usize, 0usize);
        let (mut min_diffs, mut typical_diffs) = (Vec::new(), Vec::new());
        for (pair, engine_instances) in &engine {
            let mut theirs = engine_instances.clone();
            let mut ours = ours_by_pair.get(pair).cloned().unwrap_or_default();
            theirs.sort_unstable();
            ours.sort_unstable();
            engine_total += theirs.len();
            ours_total += ours.len();
            reproduced += theirs.len().min(ours.len());
            // Instances paired in order of attenuation: the engine's carry no time.
            let (short, long) = if ours.len() <= theirs.len() {
                (&ours, &theirs)
            } else {
                (&theirs, &ours)
            };
            let step = long.len() as f64 / short.len().max(1) as f64;
            for (k, a) in short.iter().enumerate() {
                if let Some(b) = long.get((k as f64 * step) as usize) {
                    min_diffs.push(f64::from(a.0.abs_diff(b.0)));
                    typical_diffs.push(f64::from(a.1.abs_diff(b.1)));
                }
            }
        }
        out.push(Parity {
            table: *table,
            pairs: engine.len(),
            engine_scan_instances: engine_total,
            library_scan_instances: ours_total,
            reproduced: reproduced as f64 / engine_total.max(1) as f64,
            median_min_difference_db: median(&mut min_diffs),
            median_typical_difference_db: median(&mut typical_diffs),
        });
    }
    Ok(out)
}

/// The library's scan instances beside DP-3T's own aggregation of the same advertisements per
/// scan (`scan-level/`), under one table: a check of the pipeline that owes nothing to the
/// window builder's code.
#[derive(Clone, Copy, Debug, Serialize)]
pub(super) struct ScanCheck {
    pub(super) table: CalibrationTable,
    /// DP-3T's per-scan entries (a receiver's scan of one transmitter).
    pub(super) dp3t_scans: usize,
    /// Those the library has an instance for, starting within a second.
    pub(super) matched: usize,
    /// Of the matched, those whose closest camera distance is DP-3T's `min_gtd`.
    pub(super) same_closest_distance: usize,
    /// Of the matched, those whose minimum attenuation is DP-3T's `min_att` (computed under
    /// DP-3T's calibration of the time).
    pub(super) same_min_attenuation: usize,
    /// Median (library − DP-3T) minimum attenuation over the matched, dB.
    pub(super) median_min_attenuation_offset_db: f64,
}

pub(super) fn scan_check(tables: &[Calibrated], dir: &Path) -> Result<Vec<ScanCheck>, CliError> {
    let files = files_in(&dir.join("scan-level"), "scenario", "json")?;
    // (scenario, receiver, transmitter, first second, min attenuation, closest distance)
    let mut theirs: Vec<(u8, u16, u16, u64, i64, Option<f64>)> = Vec::new();
    for (scenario, path) in (1u8..).zip(&files) {
        let text = std::fs::read_to_string(path).in_file(path)?;
        let value: serde_json::Value = serde_json::from_str(&text).in_file(path)?;
        let objects = |v: &serde_json::Value| {
            v.as_object()
                .into_iter()
                .flat_map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())))
                .collect::<Vec<_>>()
        };
        for (_, part) in objects(&value) {
            for (_, scan) in objects(&part) {
                for (receiver, heard) in objects(&scan) {
                    for (transmitter, entry) in objects(&heard) {
                        let (Ok(receiver), Ok(transmitter)) =
                            (receiver.parse::<u16>(), transmitter.parse::<u16>())
                        else {
                            continue;
                        };
                        let first = entry
                            .get("ts")
                            .and_then(|t| t.get(0))
                            .and_then(serde_json::Value::as_f64);
                        let min_att = entry.get("min_att").and_then(serde_json::Value::as_i64);
                        if let (Some(first), Some(min_att)) = (first, min_att) {
                            let closest = entry.get("min_gtd").and_then(serde_json::Value::as_f64);
                            theirs.push((
                                scenario,
                                receiver,
                                transmitter,
                                first as u64,
                                min_att,
                                closest,
                            ));
                        }
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    for Calibrated { table, scans, .. } in tables {
        let (mut matched, mut same_distance, mut same_attenuation) = (0, 0, 0);
        let mut offsets = Vec::new();
        for &(scenario, receiver, transmitter, first, min_att, closest) in &theirs {
            let Some(ours) = scans
                .get(&(scenario, receiver, transmitter))
                .and_then(|instances| instances.iter().find(|s| s.start.abs_diff(first) <= 1))
            else {
                continue;
            };
            matched += 1;
            let same = match (ours.closest_m, closest) {
                (Some(a), Some(b)) => (a - b).abs() < 0.01,
                (None, None) => true,
                _ => false,
            };
            same_distance += usize::from(same);
            same_attenuation += usize::from(i64::from(ours.min_db) == min_att);
            offsets.push((i64::from(ours.min_db) - min_att) as f64);
        }
        out.push(ScanCheck {
            table: *table,
            dp3t_scans: theirs.len(),
            matched,
            same_closest_distance: same_distance,
            same_min_attenuation: same_attenuation,
            median_min_attenuation_offset_db: median(&mut offsets),
        });
    }
    Ok(out)
}

pub(super) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}
