//! The verdict at three levels: one advertisement, one scan instance of the window builder,
//! and the rule over a pair's scans in one scenario (spec §risk.4.1).

use std::collections::{BTreeMap, HashMap};

use bluezone::calibration::{CalibrationTable, DeviceCalibration, attenuation_between, lookup};
use bluezone::gaen::{
    AssociatedEncryptedMetadata, DiagnosisKey, ReportType, RollingProximityIdentifier,
};
use bluezone::matching::MatchedSighting;
use bluezone::risk::windows::{WindowConfig, exposure_windows};
use bluezone::{EnIntervalNumber, RollingPeriod, RollingWindow};
use serde::Serialize;

use super::data::{Advertisement, Experiment};
use super::{CONTACT_SECONDS, DISTANCES, THRESHOLDS};

/// Counts of one confusion matrix.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Counts {
    pub(super) tp: u64,
    pub(super) fp: u64,
    pub(super) tn: u64,
    pub(super) fn_: u64,
}

impl Counts {
    fn add(&mut self, truth: bool, said: bool) {
        match (truth, said) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (false, false) => self.tn += 1,
            (true, false) => self.fn_ += 1,
        }
    }

    fn row(
        self,
        table: CalibrationTable,
        (level, reading): (Level, Reading),
        distance_m: f64,
        threshold_db: u8,
    ) -> Row {
        let ratio = |a: u64, b: u64| {
            if b == 0 {
                None
            } else {
                Some(a as f64 / b as f64)
            }
        };
        let tpr = ratio(self.tp, self.tp + self.fn_);
        let fpr = ratio(self.fp, self.fp + self.tn);
        Row {
            table,
            level,
            reading,
            distance_m,
            threshold_db,
            tpr,
            fpr,
            precision: ratio(self.tp, self.tp + self.fp),
            recall: tpr,
            cost: tpr.zip(fpr).map(|(t, f)| (1.0 - t) + f),
            positives: self.tp + self.fn_,
            negatives: self.fp + self.tn,
        }
    }
}

/// Where the verdict is judged (spec §risk.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Level {
    /// One advertisement: close when its attenuation is at most the threshold.
    Advertisement,
    /// One scan instance of the window builder: close when its typical attenuation is.
    Scan,
    /// A receiver and a transmitter in one scenario: warned when the scan instances at or
    /// below the threshold add up to 15 minutes.
    Rule,
}

/// Which attenuation of a scan instance is compared with the threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Reading {
    /// The advertisement's own (advertisement level).
    Own,
    /// The scan instance's typical attenuation (Google's `typicalAttenuationDb`).
    Typical,
    /// The scan instance's minimum attenuation.
    Minimum,
}

/// One row of the results.
#[derive(Clone, Copy, Debug, Serialize)]
pub(super) struct Row {
    pub(super) table: CalibrationTable,
    pub(super) level: Level,
    pub(super) reading: Reading,
    pub(super) distance_m: f64,
    pub(super) threshold_db: u8,
    pub(super) tpr: Option<f64>,
    pub(super) fpr: Option<f64>,
    pub(super) precision: Option<f64>,
    pub(super) recall: Option<f64>,
    /// NIST TC4TL's cost, `P_miss + P_fa`.
    pub(super) cost: Option<f64>,
    pub(super) positives: u64,
    pub(super) negatives: u64,
}

impl Row {
    /// The standard error of the cost, from the binomial errors of its two rates.
    pub(super) fn cost_error(&self) -> Option<f64> {
        let (tpr, fpr) = self.tpr.zip(self.fpr)?;
        Some(
            (tpr * (1.0 - tpr) / self.positives as f64 + fpr * (1.0 - fpr) / self.negatives as f64)
                .sqrt(),
        )
    }
}

/// A receiver and a transmitter in one scenario: (scenario, receiver, transmitter).
pub(super) type Pair = (u8, u16, u16);
/// One sighting of a pair, with the camera's distance when it was received.
pub(super) type Seen = (MatchedSighting, Option<f64>);
/// An engine scan instance: (minimum, typical) attenuation, dB.
pub(super) type EngineScan = (u8, u8);

/// One scan instance of a pair, with the camera's closest distance during it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Scan {
    /// The instance's first sighting, Unix seconds.
    pub(super) start: u64,
    pub(super) typical_db: u8,
    pub(super) min_db: u8,
    pub(super) seconds: u32,
    pub(super) closest_m: Option<f64>,
}

/// The scan instances of every (scenario, receiver, transmitter), built by the library's
/// window builder from the pair's advertisements under `table`.
fn scans(
    experiment: &Experiment,
    calibrations: &HashMap<u16, DeviceCalibration>,
) -> BTreeMap<(u8, u16, u16), Vec<Scan>> {
    let config = WindowConfig::default();
    // Each receiver's scans: its advertisements a few seconds apart, the same cut the
    // builder makes (`same_scan_tenths`), so that each sighting knows its previous scan.
    let mut by_receiver: BTreeMap<(u8, u16), Vec<&Advertisement>> = BTreeMap::new();
    for ad in &experiment.advertisements {
        by_receiver
            .entry((ad.scenario, ad.receiver))
            .or_default()
            .push(ad);
    }
    let gap = config.same_scan_tenths as f64 / 10.0;
    let mut by_pair: BTreeMap<Pair, Vec<Seen>> = BTreeMap::new();
    for ((scenario, receiver), mut ads) in by_receiver {
        ads.sort_by(|a, b| a.unix_seconds.total_cmp(&b.unix_seconds));
        let (mut scan_start, mut previous_start, mut last) = (0.0, 0.0, f64::NEG_INFINITY);
        for ad in ads {
            if ad.unix_seconds - last > gap {
                previous_start = scan_start;
                scan_start = ad.unix_seconds;
            }
            last = ad.unix_seconds;
            let (Some(tx), Some(rx)) = (
                calibrations.get(&ad.transmitter),
                calibrations.get(&receiver),
            ) else {
                continue;
            };
            let seconds = ad.unix_seconds as u64;
            let sighting = MatchedSighting {
                unix_seconds: seconds,
                en_interval_number: EnIntervalNumber::new((seconds / 600) as u32),
                rpi: RollingProximityIdentifier::default(),
                rssi: rx.correct(ad.rssi),
                aem: AssociatedEncryptedMetadata::default(),
                metadata: tx.metadata(),
                tx_power: tx.tx_power_dbm,
                attenuation: attenuation_between(tx, rx, ad.rssi),
                previous_scan_unix_seconds: previous_start as u64,
            };
            by_pair
                .entry((scenario, receiver, ad.transmitter))
                .or_default()
                .push((sighting, ad.distance_m));
        }
    }
    let key = DiagnosisKey {
        key_data: [0; 16],
        window: RollingWindow::new(EnIntervalNumber::new(2_657_808), RollingPeriod::FULL_DAY)
            .unwrap_or_else(|_| unreachable!("a valid window")),
        transmission_risk_level: 0,
        report_type: ReportType::ConfirmedTest,
        days_since_onset_of_symptoms: Some(0),
    };
    by_pair
        .into_iter()
        .map(|(pair, sightings)| {
            let plain: Vec<MatchedSighting> = sightings.iter().map(|(s, _)| *s).collect();
            let windows = exposure_windows(&key, &plain, &config);
            let scans = windows
                .iter()
                .flat_map(|w| &w.scan_instances)
                .map(|instance| {
                    // The camera's closest distance over the instance's sightings.
                    let end = instance.unix_seconds + (config.same_scan_tenths / 10);
                    let closest_m = sightings
                        .iter()
                        .filter(|(s, _)| (instance.unix_seconds..=end).contains(&s.unix_seconds))
                        .filter_map(|(_, d)| *d)
                        .min_by(f64::total_cmp);
                    Scan {
                        start: instance.unix_seconds,
                        typical_db: instance.typical_attenuation_db,
                        min_db: instance.min_attenuation_db,
                        seconds: instance.seconds_since_last_scan,
                        closest_m,
                    }
                })
                .collect();
            (pair, scans)
        })
        .collect()
}

/// The experiment as one table reads it, computed once for every level and check: each
/// advertisement with a camera distance as (distance, attenuation), and each pair's scan
/// instances.
pub(super) struct Calibrated {
    pub(super) table: CalibrationTable,
    pub(super) advertisements: Vec<(f64, u8)>,
    pub(super) scans: BTreeMap<Pair, Vec<Scan>>,
}

/// The experiment under `table`: each phone's calibration looked up once.
pub(super) fn calibrate(experiment: &Experiment, table: CalibrationTable) -> Calibrated {
    let calibrations: HashMap<u16, DeviceCalibration> = experiment
        .models
        .iter()
        .map(|(&phone, model)| (phone, lookup(table, "samsung", None, model)))
        .collect();
    let advertisements = experiment
        .advertisements
        .iter()
        .filter_map(|ad| {
            let tx = calibrations.get(&ad.transmitter)?;
            let rx = calibrations.get(&ad.receiver)?;
            Some((ad.distance_m?, attenuation_between(tx, rx, ad.rssi)))
        })
        .collect();
    Calibrated {
        table,
        advertisements,
        scans: scans(experiment, &calibrations),
    }
}

/// The scan instances and the rule at `distance` and `threshold`, reading each instance's
/// `reading` attenuation.
pub(super) fn judge_scans(
    scans: &BTreeMap<(u8, u16, u16), Vec<Scan>>,
    distance: f64,
    threshold: u8,
    reading: Reading,
) -> (Counts, Counts) {
    let mut per_scan = Counts::default();
    let mut rule = Counts::default();
    for instances in scans.values() {
        let (mut close_seconds, mut warned_seconds, mut tracked) = (0u32, 0u32, false);
        for scan in instances {
            let Some(closest) = scan.closest_m else {
                continue;
            };
            tracked = true;
            let close = closest <= distance;
            let db = if reading == Reading::Minimum {
                scan.min_db
            } else {
                scan.typical_db
            };
            let said = db <= threshold;
            per_scan.add(close, said);
            close_seconds += if close { scan.seconds } else { 0 };
            warned_seconds += if said { scan.seconds } else { 0 };
        }
        if tracked {
            rule.add(
                close_seconds >= CONTACT_SECONDS,
                warned_seconds >= CONTACT_SECONDS,
            );
        }
    }
    (per_scan, rule)
}

/// Every row of every level, table, distance and threshold.
pub(super) fn evaluate(tables: &[Calibrated]) -> (Vec<Row>, Vec<TableSummary>) {
    let mut rows = Vec::new();
    let mut summaries = Vec::new();
    for Calibrated {
        table,
        advertisements,
        scans,
    } in tables
    {
        let table = *table;
        for distance in DISTANCES {
            for threshold in THRESHOLDS {
                let mut ads = Counts::default();
                for &(d, db) in advertisements {
                    ads.add(d <= distance, db <= threshold);
                }
                rows.push(ads.row(
                    table,
                    (Level::Advertisement, Reading::Own),
                    distance,
                    threshold,
                ));
                for reading in [Reading::Typical, Reading::Minimum] {
                    let (per_scan, rule) = judge_scans(scans, distance, threshold, reading);
                    rows.push(per_scan.row(table, (Level::Scan, reading), distance, threshold));
                    rows.push(rule.row(table, (Level::Rule, reading), distance, threshold));
                }
            }
        }
        summaries.push(TableSummary {
            table,
            scan_instances: scans.values().map(Vec::len).sum(),
            pairs: scans.len(),
            path_loss: PathLoss::fit(advertisements),
        });
    }
    (rows, summaries)
}

#[derive(Serialize)]
pub(super) struct TableSummary {
    pub(super) table: CalibrationTable,
    pub(super) pairs: usize,
    pub(super) scan_instances: usize,
    pub(super) path_loss: Option<PathLoss>,
}

/// What a table makes of distance: the least-squares line `attenuation = at_1m_db +
/// per_decade_db · log10(d)` through the advertisements with a camera distance of at least
/// 0.2 m, and the spread about it.
#[derive(Clone, Copy, Debug, Serialize)]
pub(super) struct PathLoss {
    pub(super) at_1m_db: f64,
    pub(super) per_decade_db: f64,
    /// The standard deviation of the residuals, dB.
    pub(super) spread_db: f64,
    pub(super) advertisements: usize,
    /// The farthest camera distance the line was fitted on, metres: beyond it, the line is
    /// an extrapolation.
    pub(super) farthest_m: f64,
}

impl PathLoss {
    fn fit(advertisements: &[(f64, u8)]) -> Option<Self> {
        let points: Vec<(f64, f64)> = advertisements
            .iter()
            .filter(|(d, _)| *d >= 0.2)
            .map(|&(d, db)| (d.log10(), f64::from(db)))
            .collect();
        let n = points.len() as f64;
        let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
        let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
        let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
        let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
        if points.len() < 3 || sxx <= 0.0 {
            return None;
        }
        let per_decade_db = sxy / sxx;
        let at_1m_db = mean_y - per_decade_db * mean_x;
        let residuals: f64 = points
            .iter()
            .map(|p| (p.1 - at_1m_db - per_decade_db * p.0).powi(2))
            .sum();
        Some(Self {
            at_1m_db,
            per_decade_db,
            spread_db: (residuals / (n - 2.0)).sqrt(),
            advertisements: points.len(),
            farthest_m: 10f64.powf(points.iter().map(|p| p.0).fold(f64::MIN, f64::max)),
        })
    }

    /// The distance at which the line reaches `threshold_db`, metres.
    pub(super) fn metres_at(&self, threshold_db: u8) -> f64 {
        10f64.powf((f64::from(threshold_db) - self.at_1m_db) / self.per_decade_db)
    }
}
