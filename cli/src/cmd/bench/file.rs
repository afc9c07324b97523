//! `bluezone bench file`: `bluezone match` of one `export.bin` against a CSV log, end to end
//! (the tool running itself on all cores), beside a naive one-thread matcher that reads the
//! same files with the same crates, in the same run (see `BENCHMARKING.md`).

use std::collections::HashSet;
use std::io::Write;
use std::time::{Duration, Instant};

use bluezone::encounter::csv::{CSV_HEADER, CsvLine, parse_csv};
use bluezone::export::bin::{ExportMetadata, encode};
use bluezone::export::stream::ExportReader;
use bluezone::hex::Hex;
use bluezone_bench::{DAYS, FIRST_DAY, Scenario, Workload, naive_baseline};
use rand_chacha::rand_core::SeedableRng;
use serde::Serialize;

use super::state::{Timing, timed};
use crate::cmd::Outcome;
use crate::error::{CliError, Context};
use crate::files::TemporaryFolder;
use crate::input::{MAX_THREADS, bounded};
use crate::output::{Elapsed, Progress, Report, Status, emit};

/// `bench file`.
#[derive(clap::Args)]
pub struct FileArgs {
    /// Keys in the `export.bin` (1 000 to 10 000 000).
    #[arg(long, default_value_t = 1_000_000, value_parser = bounded(1_000, 10_000_000))]
    keys: usize,
    /// Threads of `bluezone match` (0: all cores; at most 256). The naive matcher runs on one.
    #[arg(long, default_value_t = 0, value_parser = bounded(0, MAX_THREADS))]
    threads: usize,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct FileBench {
    keys: usize,
    sightings: usize,
    export_bytes: u64,
    csv_bytes: u64,
    threads: usize,
    /// `bluezone match` as a child process, wall time.
    production: Timing,
    /// The naive matcher in this process: reading both files and matching, one thread.
    naive_seconds: f64,
    speedup_over_naive: f64,
    planted: usize,
    found: usize,
    naive_found: usize,
    correct: bool,
}

impl Report for FileBench {
    const COMMAND: &'static str = "bench file";

    fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "an export.bin of {} keys ({:.1} MB) against a CSV of {} sightings ({:.1} MB)",
            self.keys,
            self.export_bytes as f64 / 1e6,
            self.sightings,
            self.csv_bytes as f64 / 1e6
        )?;
        let memory = self
            .production
            .peak_rss_bytes
            .map_or_else(String::new, |b| {
                format!(", peak {:.1} MiB", b as f64 / 1_048_576.0)
            });
        writeln!(
            out,
            "bluezone match ({} thread(s)): {:>10}{memory}",
            if self.threads == 0 {
                "all".to_string()
            } else {
                self.threads.to_string()
            },
            format!(
                "{}",
                Elapsed(Duration::from_secs_f64(self.production.seconds))
            )
        )?;
        writeln!(
            out,
            "naive matcher (1 thread):   {:>10}",
            format!("{}", Elapsed(Duration::from_secs_f64(self.naive_seconds)))
        )?;
        writeln!(
            out,
            "bluezone match is {:.2}x the naive matcher; planted {}, found {} (naive found {}): {}",
            self.speedup_over_naive,
            self.planted,
            self.found,
            self.naive_found,
            super::verdict(self.correct)
        )
    }
}

/// The naive matcher, end to end: the CSV's identifiers into a `HashSet` (the library's CSV
/// reader), the keys of the `export.bin` read one by one, then per key the `hkdf` crate and 144
/// single AES blocks.
fn naive(csv: &std::path::Path, export: &std::path::Path) -> Result<Vec<String>, CliError> {
    let failed = |why: String| CliError::Environment {
        what: "the naive matcher",
        source: why.into(),
    };
    let text = std::fs::read_to_string(csv).in_file(csv)?;
    let identifiers = parse_csv(&text)
        .map(|s| s.map(|s| s.rpi.to_bytes()))
        .collect::<Result<HashSet<[u8; 16]>, _>>()
        .map_err(|e| failed(e.to_string()))?;
    let file = std::fs::File::open(export).in_file(export)?;
    let keys = ExportReader::new(std::io::BufReader::new(file))
        .map_err(|e| failed(e.to_string()))?
        .map(|k| k.map(|k| k.key))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| failed(e.to_string()))?;
    Ok(naive_baseline(&keys, &identifiers)
        .iter()
        .map(|k| Hex(&k.key_data).to_string())
        .collect())
}

/// The matched keys' bytes in a `bluezone match --json` document, sorted.
fn matched_keys(json: &[u8]) -> Option<Vec<String>> {
    let value: serde_json::Value = serde_json::from_slice(json).ok()?;
    let mut keys: Vec<String> = value
        .get("matches")?
        .as_array()?
        .iter()
        .map(|m| Some(m.get("tek")?.as_str()?.to_string()))
        .collect::<Option<_>>()?;
    keys.sort();
    Some(keys)
}

/// Runs `bench file`.
pub fn run(args: &FileArgs, out: &mut dyn Write) -> Outcome {
    let progress = Progress::new("bench file");
    let planted = (args.keys / 10_000).clamp(1, 1000);
    progress.phase(&format!(
        "writing the files ({} keys, {planted} planted)",
        args.keys
    ));
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(0x0F11_E202);
    let scenario = Scenario::build(Workload::Typical, args.keys, planted, &mut rng);
    let work = TemporaryFolder(
        std::env::temp_dir().join(format!("bluezone-bench-file-{}", std::process::id())),
    );
    let dir = work.path().to_path_buf();
    std::fs::create_dir_all(&dir).in_file(&dir)?;
    let csv = dir.join("encounters.csv");
    let mut text = String::with_capacity(scenario.sightings.len() * 64);
    text.push_str(CSV_HEADER);
    text.push('\n');
    for s in &scenario.sightings {
        text.push_str(&format!("{}\n", CsvLine(s)));
    }
    std::fs::write(&csv, &text).in_file(&csv)?;
    let export = dir.join("export.bin");
    let bytes = encode(&ExportMetadata::default(), &scenario.keys, &[]);
    std::fs::write(&export, &bytes).in_file(&export)?;
    drop(scenario.keys);

    progress.phase("bluezone match");
    // After the log's last day, so that every window and its tolerance is covered.
    let now = (u64::from(FIRST_DAY + DAYS) * 86_400 + 3 * 3600).to_string();
    let command: Vec<String> = [
        "match",
        "--allow-unsigned",
        "--json",
        "--now",
        &now,
        "--threads",
        &args.threads.to_string(),
        "--encounters",
        &csv.display().to_string(),
        "--keys",
        &export.display().to_string(),
    ]
    .iter()
    .map(|s| (*s).to_string())
    .collect();
    let (production, output) = timed(&command)?;
    progress.phase("naive matcher");
    let started = Instant::now();
    let naive_found = naive(&csv, &export)?;
    let naive_seconds = started.elapsed().as_secs_f64();
    drop(progress);

    let found = matched_keys(&output).unwrap_or_default();
    let mut expected: Vec<String> = scenario
        .planted
        .iter()
        .map(|k| Hex(&k.key_data).to_string())
        .collect();
    expected.sort();
    let mut naive_sorted = naive_found;
    naive_sorted.sort();
    let report = FileBench {
        keys: args.keys,
        sightings: scenario.sightings.len(),
        export_bytes: bytes.len() as u64,
        csv_bytes: text.len() as u64,
        threads: args.threads,
        speedup_over_naive: naive_seconds / production.seconds,
        production,
        naive_seconds,
        planted: expected.len(),
        found: found.len(),
        naive_found: naive_sorted.len(),
        correct: found == expected && naive_sorted == expected,
    };
    emit(out, &report, args.json)?;
    Ok(Status::from_ok(report.correct))
}
