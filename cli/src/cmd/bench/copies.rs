//! `bluezone bench copies`: a file that serves one key under every window near its own, beside
//! an honest file of as many keys, each matched by `bluezone match` end to end in the same run
//! (spec §sec.11; finding A6 of the third audit).

use std::io::Write;

use bluezone::encounter::csv::{CSV_HEADER, CsvLine};
use bluezone::export::bin::{ExportMetadata, encode};
use bluezone::gaen::DiagnosisKey;
use bluezone::matching::__bench::hostile_copies;
use bluezone::{EnIntervalNumber, RollingWindow};
use bluezone_bench::FIRST_DAY;
use rand_chacha::rand_core::{Rng, SeedableRng};
use serde::Serialize;

use super::state::{Timing, median};
use crate::cmd::Outcome;
use crate::error::{CliError, Context};
use crate::files::TemporaryFolder;
use crate::input::bounded;
use crate::output::{Elapsed, Progress, Report, Status, emit};

/// `bench copies`.
#[derive(clap::Args)]
pub struct CopiesArgs {
    /// Timed repetitions of each measurement; the median is reported (1 to 20).
    #[arg(long, default_value_t = 3, value_parser = bounded(1, 20))]
    repeat: usize,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct CopiesBench {
    /// Sightings of the one key: ten in every interval of its day.
    sightings: usize,
    /// Keys in each file.
    keys: usize,
    copies_file_bytes: u64,
    honest_file_bytes: u64,
    /// The key under every start from 155 intervals before its own to 12 after, and every
    /// period: the window that matches last.
    copies: Timing,
    /// The key once among random keys.
    honest: Timing,
    time_ratio: f64,
    memory_ratio: Option<f64>,
    /// Both found the one key, once.
    correct: bool,
}

impl Report for CopiesBench {
    const COMMAND: &'static str = "bench copies";

    fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let mib = |t: &Timing| {
            t.peak_rss_bytes.map_or_else(
                || "?".to_string(),
                |b| format!("{:.1} MiB", b as f64 / 1_048_576.0),
            )
        };
        writeln!(
            out,
            "one key seen {} times; two files of {} keys ({} and {} bytes), one thread, median of each",
            self.sightings, self.keys, self.copies_file_bytes, self.honest_file_bytes
        )?;
        for (name, t) in [
            ("copies of one key", &self.copies),
            ("honest keys", &self.honest),
        ] {
            writeln!(
                out,
                "{name:<18} {}, peak memory {}",
                Elapsed(std::time::Duration::from_secs_f64(t.seconds)),
                mib(t)
            )?;
        }
        writeln!(
            out,
            "copies / honest: {:.2}x the time, {} the memory; the key found by both: {}",
            self.time_ratio,
            self.memory_ratio
                .map_or_else(|| "?".to_string(), |r| format!("{r:.2}x")),
            if self.correct { "yes" } else { "NO" }
        )
    }
}

fn matched(output: &[u8]) -> Option<u64> {
    let value: serde_json::Value = serde_json::from_slice(output).ok()?;
    value.get("keys_matched")?.as_u64()
}

/// Runs `bench copies`.
pub fn run(args: &CopiesArgs, out: &mut dyn Write) -> Outcome {
    let progress = Progress::new("bench copies");
    progress.phase("building the files");
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(0xC0_91E5);
    let start = FIRST_DAY * 144;
    let mut key_data = [0u8; 16];
    rng.fill_bytes(&mut key_data);
    // The key under every window near its own, its own last; the honest file holds that
    // last key among random keys of the 14 days before.
    let (sightings, copies, key) = hostile_copies(key_data, start)
        .and_then(|(sightings, copies)| {
            let key = *copies.last()?;
            Some((sightings, copies, key))
        })
        .ok_or(CliError::Environment {
            what: "the benchmark's key",
            source: "an invalid window".into(),
        })?;
    let mut honest: Vec<DiagnosisKey> = (1..copies.len())
        .map(|_| {
            let mut other = [0u8; 16];
            rng.fill_bytes(&mut other);
            let day = start - 144 * (rng.next_u32() % 14);
            DiagnosisKey::new(other, RollingWindow::day_of(EnIntervalNumber::new(day)))
        })
        .collect();
    honest.push(key);

    let work = TemporaryFolder(
        std::env::temp_dir().join(format!("bluezone-bench-copies-{}", std::process::id())),
    );
    let dir = work.path().to_path_buf();
    std::fs::create_dir_all(&dir).in_file(&dir)?;
    let csv = dir.join("log.csv");
    let mut text = format!("{CSV_HEADER}\n");
    for s in &sightings {
        text.push_str(&format!("{}\n", CsvLine(s)));
    }
    std::fs::write(&csv, text).in_file(&csv)?;
    let mut paths = Vec::new();
    for (name, keys) in [("copies.bin", &copies), ("honest.bin", &honest)] {
        let path = dir.join(name);
        std::fs::write(&path, encode(&ExportMetadata::default(), keys, &[])).in_file(&path)?;
        paths.push(path);
    }
    let now = (u64::from(FIRST_DAY) + 2) * 86_400;
    let mut timings = Vec::new();
    for path in &paths {
        progress.phase(&format!("bluezone match {}", path.display()));
        let argv: Vec<String> = [
            "match",
            "--keys",
            &path.display().to_string(),
            "--encounters",
            &csv.display().to_string(),
            "--allow-unsigned",
            "--now",
            &now.to_string(),
            "--threads",
            "1",
            "--json",
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        timings.push(median(args.repeat, || Ok(()), &argv)?);
    }
    drop(progress);
    let [(copies_time, copies_out), (honest_time, honest_out)] =
        [timings.remove(0), timings.remove(0)];
    let size = |i: usize| {
        paths
            .get(i)
            .and_then(|p| std::fs::metadata(p).ok())
            .map_or(0, |m| m.len())
    };
    let report = CopiesBench {
        sightings: sightings.len(),
        keys: copies.len(),
        copies_file_bytes: size(0),
        honest_file_bytes: size(1),
        time_ratio: copies_time.seconds / honest_time.seconds,
        memory_ratio: copies_time
            .peak_rss_bytes
            .zip(honest_time.peak_rss_bytes)
            .map(|(c, h)| c as f64 / h as f64),
        correct: matched(&copies_out) == Some(1) && matched(&honest_out) == Some(1),
        copies: copies_time,
        honest: honest_time,
    };
    emit(out, &report, args.json)?;
    Ok(Status::from_ok(report.correct))
}
