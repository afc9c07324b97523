//! `bluezone bench match`: the matcher, the naive baseline, the crypto floor and the limit on
//! one seeded workload, in the same run (see `BENCHMARKING.md`).

use std::io::Write;
use std::time::{Duration, Instant};

use bluezone::matching::{LogIndex, MatchConfig, Matcher};
use bluezone_bench::{Scenario, Workload, crypto_floor, multi_key_limit, naive_baseline};
use rand_chacha::rand_core::SeedableRng;
use serde::Serialize;

use super::Outcome;
use crate::error::{CliError, Context};
use crate::input::{MAX_THREADS, bounded};
use crate::output::{Elapsed, Progress, Report, Status, emit};

mod copies;
mod file;
mod proximity;
mod state;

/// Measurements.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Time the matcher, the naive baseline, the crypto floor and the limit on one seeded
    /// workload.
    Match(MatchArgs),
    /// Time a daily check with a match state against a full re-check of every file, each a
    /// `bluezone match` run end to end.
    State(state::StateArgs),
    /// Time `bluezone match` of one `export.bin` against a CSV log, end to end on all cores,
    /// beside a naive one-thread matcher reading the same files.
    File(file::FileArgs),
    /// Time and measure the memory of `bluezone match` on a file that serves one key under
    /// every window near its own, beside an honest file of as many keys (spec §sec.11).
    Copies(copies::CopiesArgs),
    /// The verdict against phones with known distances: DP-3T's experiment 34 through Google's
    /// calibration tables and the window builder, beside the windows Google's engine produced.
    Proximity(proximity::ProximityArgs),
}

/// The workloads of `bench match`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkloadArg {
    /// A phone's 14 days (50 000 sightings).
    Typical,
    /// Every interval busy (1 000 000 identifiers).
    Dense,
    /// 80 000 random identifiers, one sighting each.
    Crowd,
    /// 80 000 identifiers a beacon chose to share their first 8 bytes.
    Flooded,
}

impl From<WorkloadArg> for Workload {
    fn from(workload: WorkloadArg) -> Self {
        match workload {
            WorkloadArg::Typical => Self::Typical,
            WorkloadArg::Dense => Self::Dense,
            WorkloadArg::Crowd => Self::Crowd,
            WorkloadArg::Flooded => Self::Flooded,
        }
    }
}

/// `bench match`.
#[derive(clap::Args)]
pub struct MatchArgs {
    /// Diagnosis keys to match (1 to 10 000 000: they are held in memory, 36 bytes each).
    #[arg(long, default_value_t = 1_000_000, value_parser = bounded(1, 10_000_000))]
    keys: usize,
    /// typical: a phone's 14 days (50 000 sightings); dense: every interval busy
    /// (1 000 000 identifiers); crowd and flooded: 80 000 random identifiers, or 80 000 that
    /// share their first 8 bytes (hostile input must cost what honest input costs).
    #[arg(long, value_enum, default_value_t = WorkloadArg::Typical)]
    workload: WorkloadArg,
    /// Threads for the matcher (the baseline, the floor and the limit run on one; 1 to 256).
    #[arg(long, default_value_t = 1, value_parser = bounded(1, MAX_THREADS))]
    threads: usize,
    /// Write a self-contained index.html with the rates as a bar chart, and them as CSV, to
    /// this folder.
    #[arg(long)]
    report: Option<std::path::PathBuf>,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct BenchReport {
    workload: WorkloadArg,
    keys: usize,
    threads: usize,
    sightings: usize,
    identifiers: usize,
    index_seconds: f64,
    production_keys_per_second: f64,
    naive_keys_per_second: f64,
    floor_keys_per_second: f64,
    limit_keys_per_second: f64,
    speedup_over_naive: f64,
    production_over_floor_time: f64,
    production_over_limit_time: f64,
    planted: usize,
    found: usize,
    naive_found: usize,
    correct: bool,
    checksum: u8,
    #[serde(skip)]
    times: [Duration; 5],
}

impl Report for BenchReport {
    const COMMAND: &'static str = "bench match";

    fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let [index, production, naive, floor, limit] = self.times;
        let workload = match self.workload {
            WorkloadArg::Typical => "typical",
            WorkloadArg::Dense => "dense",
            WorkloadArg::Crowd => "crowd",
            WorkloadArg::Flooded => "flooded",
        };
        writeln!(
            out,
            "workload {workload}: {} sightings of {} identifiers, {} keys, index built in {}",
            self.sightings,
            self.identifiers,
            self.keys,
            Elapsed(index)
        )?;
        writeln!(
            out,
            "production ({} thread(s)): {:>12.0} keys/s  ({})",
            self.threads,
            self.production_keys_per_second,
            Elapsed(production)
        )?;
        writeln!(
            out,
            "naive baseline (1 thread): {:>12.0} keys/s  ({})",
            self.naive_keys_per_second,
            Elapsed(naive)
        )?;
        writeln!(
            out,
            "crypto floor (1 thread):   {:>12.0} keys/s  ({})",
            self.floor_keys_per_second,
            Elapsed(floor)
        )?;
        writeln!(
            out,
            "limit (1 thread):          {:>12.0} keys/s  ({})  four-key HKDF and AES only",
            self.limit_keys_per_second,
            Elapsed(limit)
        )?;
        writeln!(
            out,
            "production is {:.2}x the naive baseline and takes {:.2}x the limit's time ({:.2}x the crypto floor's)",
            self.speedup_over_naive,
            self.production_over_limit_time,
            self.production_over_floor_time
        )?;
        writeln!(
            out,
            "planted {}, found {} (naive found {}): {}",
            self.planted,
            self.found,
            self.naive_found,
            verdict(self.correct)
        )
    }
}

/// How a bench names its finding of the planted keys.
const fn verdict(correct: bool) -> &'static str {
    if correct {
        "exactly the planted set"
    } else {
        "WRONG"
    }
}

/// Runs `bench …`.
pub fn run(command: &Command, out: &mut dyn Write) -> Outcome {
    let args = match command {
        Command::Match(args) => args,
        Command::State(args) => return state::run(args, out),
        Command::File(args) => return file::run(args, out),
        Command::Copies(args) => return copies::run(args, out),
        Command::Proximity(args) => return proximity::run(args, out),
    };
    let keys = args.keys;
    let planted = (keys / 10_000).clamp(1, 1000).min(keys);
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(0x0B1E_2020);
    let progress = Progress::new("bench match");
    progress.phase(&format!(
        "building the workload ({keys} keys, {planted} planted)"
    ));
    let scenario = Scenario::build(args.workload.into(), keys, planted, &mut rng);
    let config = MatchConfig::default();
    progress.phase("indexing the log");
    let started = Instant::now();
    let index = LogIndex::new(scenario.sightings.clone(), config.tolerance_intervals);
    let index_time = started.elapsed();
    let logged = scenario.logged_identifiers();

    let matcher = Matcher::new(&index, config);
    progress.phase("production matcher");
    let started = Instant::now();
    let outcome = matcher
        .match_keys_parallel(&scenario.keys, args.threads)
        .in_environment("the matching threads")?;
    let production = started.elapsed();
    progress.phase("naive baseline");
    let started = Instant::now();
    let naive_found = naive_baseline(&scenario.keys, &logged);
    let naive = started.elapsed();
    progress.phase("crypto floor");
    let started = Instant::now();
    let checksum = crypto_floor(&scenario.keys);
    let floor = started.elapsed();
    progress.phase("limit");
    let started = Instant::now();
    // The limit derives the floor's identifiers by the matcher's own path: the same checksum.
    let limit_checksum = multi_key_limit(&scenario.keys);
    let limit = started.elapsed();
    drop(progress);

    let found: Vec<_> = outcome.matches.iter().map(|m| m.key).collect();
    let rate = |d: Duration| keys as f64 / d.as_secs_f64();
    let stats = index.stats();
    let report = BenchReport {
        workload: args.workload,
        keys,
        threads: args.threads,
        sightings: stats.sightings,
        identifiers: stats.identifiers,
        index_seconds: index_time.as_secs_f64(),
        production_keys_per_second: rate(production),
        naive_keys_per_second: rate(naive),
        floor_keys_per_second: rate(floor),
        limit_keys_per_second: rate(limit),
        speedup_over_naive: naive.as_secs_f64() / production.as_secs_f64(),
        production_over_floor_time: production.as_secs_f64() / floor.as_secs_f64(),
        production_over_limit_time: production.as_secs_f64() / limit.as_secs_f64(),
        planted: scenario.planted.len(),
        found: found.len(),
        naive_found: naive_found.len(),
        correct: found == scenario.planted
            && naive_found == scenario.planted
            && limit_checksum == checksum,
        checksum,
        times: [index_time, production, naive, floor, limit],
    };
    if let Some(dir) = &args.report {
        write_page(dir, &report)?;
    }
    emit(out, &report, args.json)?;
    Ok(Status::from_ok(report.correct))
}

/// `bench match --report`: the rates of one run as a bar chart, and as CSV.
fn write_page(dir: &std::path::Path, report: &BenchReport) -> Result<(), CliError> {
    let rates = [
        ("production", report.production_keys_per_second),
        ("naive baseline", report.naive_keys_per_second),
        ("crypto floor", report.floor_keys_per_second),
        ("limit", report.limit_keys_per_second),
    ];
    let chart = crate::plot::bars(
        &format!(
            "Matching {} keys ({:?} workload)",
            report.keys, report.workload
        )
        .to_lowercase(),
        "keys per second",
        &rates
            .iter()
            .map(|(name, _)| (*name).to_string())
            .collect::<Vec<_>>(),
        &[("keys/s", plotters::style::RGBColor(40, 90, 180))],
        &[rates.iter().map(|(_, rate)| *rate).collect()],
    )?;
    let mut csv = String::from("matcher,threads,keys_per_second\n");
    for (name, rate) in rates {
        let threads = if name == "production" {
            report.threads
        } else {
            1
        };
        csv.push_str(&format!("{name},{threads},{rate:.0}\n"));
    }
    let html = crate::plot::page(
        "bluezone bench match",
        &format!(
            "{} keys against {} sightings of {} identifiers; production on {} thread(s), the naive baseline, the crypto floor (one key at a time) and the limit (four-key HKDF and AES only) on one, in the same run. Production is {:.2}x the naive baseline and takes {:.2}x the limit's time ({:.2}x the crypto floor's). Data: rates.csv.",
            report.keys,
            report.sightings,
            report.identifiers,
            report.threads,
            report.speedup_over_naive,
            report.production_over_limit_time,
            report.production_over_floor_time
        ),
        &[("Keys per second".into(), "Higher is faster.".into(), chart)],
    );
    crate::files::write_texts(dir, &[("rates.csv", &csv), ("index.html", &html)])
}
