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
use bluezone::risk::F1Rule;
use serde::Serialize;

use data::load;
use levels::{Calibrated, Level, Reading, Row, TableSummary, calibrate, evaluate};
use peers::{Parity, ScanCheck, parity, scan_check};

use crate::cmd::Outcome;
use crate::error::CliError;
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
    /// Write a self-contained index.html with the ROC curves of each level and table at 2 m,
    /// and every row as CSV (rows.csv), to this folder.
    #[arg(long)]
    report: Option<PathBuf>,
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
    /// The crate's default, at 2 m, for each table and level.
    default_at_2m: Vec<Row>,
    /// At 2 m, for each table and reading of the rule, the lowest threshold whose cost is within
    /// one standard error of the least (spec §risk.4.1): the rule the default is chosen by.
    chosen_at_2m: Vec<Row>,
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
        for (label, rows) in [
            ("dflt", &self.default_at_2m),
            ("best", &self.best_at_2m),
            ("1-SE", &self.chosen_at_2m),
        ] {
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
            "attenuation against camera distance (least squares over log10 d):"
        )?;
        for t in &self.tables {
            if let Some(fit) = t.path_loss {
                let threshold = F1Rule::default().attenuation_threshold_db;
                let metres = fit.metres_at(threshold);
                let beyond = if metres > fit.farthest_m {
                    format!(
                        " (extrapolated: the phones were at most {:.1} m apart)",
                        fit.farthest_m
                    )
                } else {
                    String::new()
                };
                writeln!(
                    out,
                    "{}: {:.1} dB at 1 m {:+.1} dB per decade, spread {:.1} dB; the line reaches {threshold} dB at {metres:.1} m{beyond}",
                    t.table.name(),
                    fit.at_1m_db,
                    fit.per_decade_db,
                    fit.spread_db,
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
    let tables: Vec<Calibrated> = CalibrationTable::ALL
        .into_iter()
        .map(|table| calibrate(&experiment, table))
        .collect();
    let (rows, summaries) = evaluate(&tables);
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
    let mut chosen_at_2m = Vec::new();
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
            if let Some(default) = at_2m(table, level, reading)
                .find(|r| r.threshold_db == F1Rule::default().attenuation_threshold_db)
            {
                default_at_2m.push(*default);
            }
            if let (Level::Rule, Some(best)) = (level, best_at_2m.last()) {
                let bound = best.cost.unwrap_or(f64::MAX) + best.cost_error().unwrap_or(0.0);
                if let Some(chosen) = at_2m(table, level, reading)
                    .find(|r| r.cost.is_some_and(|cost| cost <= bound + 1e-12))
                {
                    chosen_at_2m.push(*chosen);
                }
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
        tables: summaries,
        best_at_2m,
        default_at_2m,
        chosen_at_2m,
        parity: parity(&tables, &args.data)?,
        scan_check: scan_check(&tables, &args.data)?,
        rows,
    };
    if let Some(dir) = &args.report {
        write_page(dir, &report)?;
    }
    emit(out, &report, args.json)?;
    Ok(Status::Success)
}

/// `bench proximity --report`: a ROC curve per level and reading at 2 m, one line per table,
/// and every row as CSV.
fn write_page(dir: &std::path::Path, report: &ProximityBench) -> Result<(), CliError> {
    use plotters::style::RGBColor;
    const COLORS: [RGBColor; 3] = [
        RGBColor(200, 50, 40),
        RGBColor(240, 160, 30),
        RGBColor(40, 90, 180),
    ];
    let mut sections = Vec::new();
    for (level, reading, what) in [
        (
            Level::Advertisement,
            Reading::Own,
            "each advertisement by its own attenuation",
        ),
        (
            Level::Scan,
            Reading::Typical,
            "each scan instance by its typical attenuation",
        ),
        (
            Level::Scan,
            Reading::Minimum,
            "each scan instance by its minimum attenuation",
        ),
        (
            Level::Rule,
            Reading::Typical,
            "each pair in a scenario: 15 minutes of scans at or below the threshold, typical attenuation",
        ),
        (
            Level::Rule,
            Reading::Minimum,
            "each pair in a scenario: 15 minutes of scans at or below the threshold, minimum attenuation",
        ),
    ] {
        let series: Vec<crate::plot::Series<'_>> = CalibrationTable::ALL
            .iter()
            .zip(COLORS)
            .map(|(table, color)| {
                let mut points: Vec<(f64, f64)> = report
                    .rows
                    .iter()
                    .filter(|r| {
                        r.table == *table
                            && r.level == level
                            && r.reading == reading
                            && (r.distance_m - 2.0).abs() < 1e-9
                    })
                    .filter_map(|r| r.fpr.zip(r.tpr))
                    .collect();
                points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
                crate::plot::Series {
                    name: table.name(),
                    color,
                    points,
                    markers: true,
                }
            })
            .collect();
        let chart = crate::plot::lines(
            &format!("{level:?}, {reading:?} attenuation, 2 m").to_lowercase(),
            "false positive rate",
            "true positive rate",
            (1.0, 1.0),
            &series,
            None,
        )?;
        sections.push((
            format!("{level:?} ({reading:?})"),
            format!("Judged against the camera at 2 m: {what}; thresholds 40 to 75 dB, one point each, one line per calibration table."),
            chart,
        ));
    }
    let mut csv = String::from(
        "table,level,reading,distance_m,threshold_db,tpr,fpr,precision,recall,cost,positives,negatives\n",
    );
    let f = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.4}"));
    for r in &report.rows {
        csv.push_str(&format!(
            "{},{:?},{:?},{},{},{},{},{},{},{},{},{}\n",
            r.table.name(),
            r.level,
            r.reading,
            r.distance_m,
            r.threshold_db,
            f(r.tpr),
            f(r.fpr),
            f(r.precision),
            f(r.recall),
            f(r.cost),
            r.positives,
            r.negatives
        ));
    }
    let html = crate::plot::page(
        "bluezone bench proximity",
        &format!(
            "DP-3T's experiment 34: {} advertisements between {} Samsung phones, {} with a camera distance, read through each of Google's calibration tables of 2020 and the library's window builder. Data: rows.csv (every level, reading, distance and threshold).",
            report.advertisements, report.phones, report.advertisements_with_distance
        ),
        &sections,
    );
    crate::files::write_texts(dir, &[("rows.csv", &csv), ("index.html", &html)])
}
