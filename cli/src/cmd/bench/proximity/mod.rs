//! `bluezone bench proximity`: the verdict against phones with known distances. DP-3T's
//! experiment 34 (EPFL, 2020-07-30: 18 Samsung phones running GAEN in six staged scenarios,
//! every advertisement with its RSSI and a camera-measured distance) read through Google's
//! calibration tables (spec §cal) and the library's window builder (spec §risk.1), and
//! compared with the windows Google's engine produced on the same phones.

mod data;
mod levels;
mod peers;

use std::io::Write;
use std::path::PathBuf;

use bluezone::calibration::CalibrationTable;
use serde::Serialize;

use data::load;
use levels::{Level, Reading, Row, TableSummary, evaluate};
use peers::{Parity, ScanCheck, parity, scan_check};

use crate::cmd::Outcome;
use crate::output::{Report, Status, emit};

/// `bench proximity`.
#[derive(clap::Args)]
pub struct ProximityArgs {
    /// The folder of experiment 34: `scenario0N-*.sqlite` and `backend-checks/`.
    #[arg(long, default_value = "test-vectors/dp3t-exp34")]
    data: PathBuf,
    /// Print one JSON document (every row of every level, table, distance and threshold).
    #[arg(long)]
    json: bool,
}

/// The distances the verdict is judged at, metres.
const DISTANCES: [f64; 3] = [1.5, 2.0, 3.0];
/// The attenuation thresholds tried, dB.
const THRESHOLDS: std::ops::RangeInclusive<u8> = 40..=75;
/// A close contact, and a warning: at least this long (the "15 minutes" of the F1 rule).
const CONTACT_SECONDS: u32 = 900;

#[derive(Serialize)]
struct ProximityBench {
    data: PathBuf,
    advertisements: usize,
    advertisements_with_distance: usize,
    phones: usize,
    tables: Vec<TableSummary>,
    /// At 2 m, for each table and level, the threshold with the least `P_miss + P_fa`.
    best_at_2m: Vec<Row>,
    /// The crate's default today, 55 dB, at 2 m, for each table and level.
    default_at_2m: Vec<Row>,
    parity: Vec<Parity>,
    scan_check: Vec<ScanCheck>,
    rows: Vec<Row>,
}

impl Report for ProximityBench {
    const COMMAND: &'static str = "bench proximity";

    fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "DP-3T experiment 34: {} advertisements ({} with a camera distance) between {} phones",
            self.advertisements, self.advertisements_with_distance, self.phones
        )?;
        let f = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"));
        writeln!(
            out,
            "at 2 m           level         reading  threshold  TPR   FPR   precision  P_miss+P_fa"
        )?;
        for (label, rows) in [("55 dB", &self.default_at_2m), ("best", &self.best_at_2m)] {
            for r in rows {
                writeln!(
                    out,
                    "{label:5} {:10} {:13} {:8} {:>5} dB  {:5} {:5} {:9}  {}",
                    r.table.name(),
                    format!("{:?}", r.level).to_lowercase(),
                    format!("{:?}", r.reading).to_lowercase(),
                    r.threshold_db,
                    f(r.tpr),
                    f(r.fpr),
                    f(r.precision),
                    f(r.cost)
                )?;
            }
        }
        writeln!(
            out,
            "the library's scan instances beside DP-3T's own per-scan aggregation:"
        )?;
        for c in &self.scan_check {
            writeln!(
                out,
                "{}: {} of {} scans found; closest distance equal in {}, minimum attenuation equal in {} (median offset {:+.1} dB)",
                c.table,
                c.matched,
                c.dp3t_scans,
                c.same_closest_distance,
                c.same_min_attenuation,
                c.median_min_attenuation_offset_db
            )?;
        }
        writeln!(
            out,
            "the library's windows beside Google's engine on the same phones:"
        )?;
        for p in &self.parity {
            writeln!(
                out,
                "{}: {} of the engine's {} scan instances ({:.0} %), median |Δ| min {:.1} dB, typical {:.1} dB",
                p.table,
                p.library_scan_instances.min(p.engine_scan_instances),
                p.engine_scan_instances,
                100.0 * p.reproduced,
                p.median_min_difference_db,
                p.median_typical_difference_db
            )?;
        }
        Ok(())
    }
}

/// Runs `bench proximity`.
///
/// # Errors
/// The data cannot be read.
pub fn run(args: &ProximityArgs, out: &mut dyn Write) -> Outcome {
    let experiment = load(&args.data)?;
    let (rows, tables) = evaluate(&experiment);
    let at_2m = |table: CalibrationTable, level: Level, reading: Reading| {
        rows.iter().filter(move |r| {
            r.table == table
                && r.level == level
                && r.reading == reading
                && (r.distance_m - 2.0).abs() < 1e-9
        })
    };
    let mut best_at_2m = Vec::new();
    let mut default_at_2m = Vec::new();
    for table in CalibrationTable::ALL {
        for (level, reading) in [
            (Level::Advertisement, Reading::Own),
            (Level::Scan, Reading::Typical),
            (Level::Scan, Reading::Minimum),
            (Level::Rule, Reading::Typical),
            (Level::Rule, Reading::Minimum),
        ] {
            if let Some(best) = at_2m(table, level, reading)
                .filter(|r| r.cost.is_some())
                .min_by(|a, b| {
                    a.cost
                        .unwrap_or(f64::MAX)
                        .total_cmp(&b.cost.unwrap_or(f64::MAX))
                })
            {
                best_at_2m.push(*best);
            }
            if let Some(default) = at_2m(table, level, reading).find(|r| r.threshold_db == 55) {
                default_at_2m.push(*default);
            }
        }
    }
    let report = ProximityBench {
        data: args.data.clone(),
        advertisements: experiment.advertisements.len(),
        advertisements_with_distance: experiment
            .advertisements
            .iter()
            .filter(|a| a.distance_m.is_some())
            .count(),
        phones: experiment.models.len(),
        tables,
        best_at_2m,
        default_at_2m,
        parity: parity(&experiment, &args.data)?,
        scan_check: scan_check(&experiment, &args.data)?,
        rows,
    };
    emit(out, &report, args.json)?;
    Ok(Status::Success)
}
