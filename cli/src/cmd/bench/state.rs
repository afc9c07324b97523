//! `bluezone bench state`: what a match state saves a daily check, end to end (`bluezone
//! match` wall time, the tool running itself), beside a full re-check of every file in the
//! same run (see `BENCHMARKING.md`, spec §state.8).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use bluezone::encounter::Sighting;
use bluezone::encounter::log::EncounterLog;
use bluezone::export::bin::{ExportMetadata, encode};
use bluezone_bench::{DAYS, FIRST_DAY, Scenario, Workload};
use rand_chacha::rand_core::SeedableRng;
use serde::Serialize;

use crate::cmd::Outcome;
use crate::error::{CliError, Context};
use crate::files::TemporaryFolder;
use crate::input::{MAX_THREADS, bounded};
use crate::output::{Elapsed, Progress, Report, Status, emit};

/// `bench state`.
#[derive(clap::Args)]
pub struct StateArgs {
    /// Keys in each daily file (1 000 to 2 000 000; every file's keys are new).
    #[arg(long, default_value_t = 100_000, value_parser = bounded(1_000, 2_000_000))]
    keys_per_file: usize,
    /// Daily files: the state holds all but the last, which is the one timed (2 to 30).
    #[arg(long, default_value_t = 15, value_parser = bounded(2, 30))]
    files: usize,
    /// Timed repetitions of each measurement; the median is reported (1 to 20).
    #[arg(long, default_value_t = 5, value_parser = bounded(1, 20))]
    repeat: usize,
    /// Threads of each `bluezone match` (0: all cores; at most 256).
    #[arg(long, default_value_t = 0, value_parser = bounded(0, MAX_THREADS))]
    threads: usize,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

/// One timed `bluezone match`.
#[derive(Clone, Copy, Serialize)]
pub(super) struct Timing {
    pub(super) seconds: f64,
    /// The child's peak resident memory (Linux), bytes.
    pub(super) peak_rss_bytes: Option<u64>,
}

#[derive(Serialize)]
struct StateBench {
    keys_per_file: usize,
    files: usize,
    sightings: usize,
    threads: usize,
    repeat: usize,
    /// `bluezone match` of every file, no state: the full re-check.
    full_recheck: Timing,
    /// The last file, its keys new, against the state of the files before it.
    new_file: Timing,
    /// A file of the same keys as the last in other bytes: every key known to the state.
    reserved_file: Timing,
    /// The last file again, its bytes already read: skipped whole.
    already_read: Timing,
    /// `bluezone match` with no file to read at all (`--keys` of an empty file), the fixed
    /// cost of reading the log and the state, for reference.
    fixed_cost: Timing,
    new_over_full: f64,
    /// The state's matches after the last file equal the full re-check's.
    correct: bool,
}

impl Report for StateBench {
    const COMMAND: &'static str = "bench state";

    fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let line = |out: &mut dyn Write, what: &str, t: &Timing| {
            let memory = t.peak_rss_bytes.map_or_else(String::new, |b| {
                format!(", peak {:.1} MiB", b as f64 / 1048576.0)
            });
            writeln!(
                out,
                "{what:<44} {:>10}{memory}",
                format!("{}", Elapsed(Duration::from_secs_f64(t.seconds)))
            )
        };
        writeln!(
            out,
            "{} daily files of {} keys, a log of {} sightings, {} thread(s), median of {}",
            self.files,
            self.keys_per_file,
            self.sightings,
            if self.threads == 0 {
                "all".to_string()
            } else {
                self.threads.to_string()
            },
            self.repeat
        )?;
        line(
            out,
            "full re-check of every file, no state:",
            &self.full_recheck,
        )?;
        line(
            out,
            "the last file (new keys) with the state:",
            &self.new_file,
        )?;
        line(
            out,
            "the same keys in other bytes, with the state:",
            &self.reserved_file,
        )?;
        line(
            out,
            "the last file again (already read):",
            &self.already_read,
        )?;
        line(
            out,
            "no keys at all (reading the log and state):",
            &self.fixed_cost,
        )?;
        writeln!(
            out,
            "the new file costs {:.3}x the full re-check; results {}",
            self.new_over_full,
            if self.correct { "equal" } else { "DIFFER" }
        )
    }
}

/// The child's wall time and peak memory, polled from `/proc` while it runs (the peak is a
/// high-water mark, so the last reading before it exits is its peak up to then).
pub(super) fn timed(args: &[String]) -> Result<(Timing, Vec<u8>), CliError> {
    let exe = std::env::current_exe().in_environment("the path of this program")?;
    let started = Instant::now();
    let mut child = Process::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .in_environment("a child bluezone match")?;
    let status_file = PathBuf::from(format!("/proc/{}/status", child.id()));
    let mut peak = None;
    let mut stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(out) = stdout.as_mut() {
            let _ = std::io::Read::read_to_end(out, &mut bytes);
        }
        bytes
    });
    let status = loop {
        if let Some(status) = child.try_wait().in_environment("a child bluezone match")? {
            break status;
        }
        if let Some(kib) = std::fs::read_to_string(&status_file).ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        }) {
            peak = Some(kib * 1024);
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let seconds = started.elapsed().as_secs_f64();
    let output = reader.join().unwrap_or_default();
    if !status.success() {
        return Err(CliError::Environment {
            what: "a child bluezone match",
            source: format!("failed with {status}: {}", args.join(" ")).into(),
        });
    }
    Ok((
        Timing {
            seconds,
            peak_rss_bytes: peak,
        },
        output,
    ))
}

/// The median of `repeat` runs (each after `prepare`), with the output of the last.
pub(super) fn median(
    repeat: usize,
    mut prepare: impl FnMut() -> Result<(), CliError>,
    args: &[String],
) -> Result<(Timing, Vec<u8>), CliError> {
    let mut runs = Vec::with_capacity(repeat);
    let mut last = Vec::new();
    for _ in 0..repeat {
        prepare()?;
        let (timing, output) = timed(args)?;
        runs.push(timing);
        last = output;
    }
    runs.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    let seconds = runs.get(runs.len() / 2).map_or(0.0, |t| t.seconds);
    let peak = runs.iter().filter_map(|t| t.peak_rss_bytes).max();
    Ok((
        Timing {
            seconds,
            peak_rss_bytes: peak,
        },
        last,
    ))
}

fn copy_folder(from: &Path, to: &Path) -> Result<(), CliError> {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).in_file(to)?;
    for entry in std::fs::read_dir(from).in_file(from)? {
        let entry = entry.in_file(from)?;
        std::fs::copy(entry.path(), to.join(entry.file_name())).in_file(&entry.path())?;
    }
    Ok(())
}

fn matches_of(json: &[u8]) -> Option<serde_json::Value> {
    let value: serde_json::Value = serde_json::from_slice(json).ok()?;
    value.get("matches").cloned()
}

/// Runs `bench state`.
pub fn run(args: &StateArgs, out: &mut dyn Write) -> Outcome {
    let progress = Progress::new("bench state");
    let k = args.keys_per_file;
    let total = k * args.files;
    progress.phase(&format!("building {} files of {k} keys", args.files));
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(0x5747_E202);
    let planted = (total / 20_000).clamp(2, 200);
    let scenario = Scenario::build(Workload::Typical, total, planted, &mut rng);
    let work = TemporaryFolder(
        std::env::temp_dir().join(format!("bluezone-bench-state-{}", std::process::id())),
    );
    let dir = work.path().to_path_buf();
    std::fs::create_dir_all(&dir).in_file(&dir)?;
    let log_dir = dir.join("log");
    let mut log = EncounterLog::open(&log_dir).in_file(&log_dir)?;
    let mut records: Vec<Sighting> = scenario
        .sightings
        .iter()
        .map(|s| Sighting::Gaen(*s))
        .collect();
    records.sort_by_key(Sighting::unix_seconds);
    log.append_all(&records).in_file(&log_dir)?;
    log.sync().in_file(&log_dir)?;
    drop(log);
    let mut files = Vec::with_capacity(args.files);
    for (n, keys) in scenario.keys.chunks(k).enumerate() {
        let path = dir.join(format!("day-{n:02}.bin"));
        let metadata = ExportMetadata {
            start_timestamp: Some(n as u64),
            ..ExportMetadata::default()
        };
        std::fs::write(&path, encode(&metadata, keys, &[])).in_file(&path)?;
        files.push(path.display().to_string());
    }
    let last_keys = scenario.keys.chunks(k).last().unwrap_or_default();
    let reserved = dir.join("reserved.bin");
    let metadata = ExportMetadata {
        start_timestamp: Some(999),
        ..ExportMetadata::default()
    };
    std::fs::write(&reserved, encode(&metadata, last_keys, &[])).in_file(&reserved)?;
    let empty = dir.join("empty.bin");
    std::fs::write(&empty, encode(&ExportMetadata::default(), &[], &[])).in_file(&empty)?;

    // The check runs at 03:00 after the log's last day: every key's window and tolerance
    // are covered, as for a check in the morning of files published overnight.
    let now = (u64::from(FIRST_DAY + DAYS) * 86_400 + 3 * 3600).to_string();
    let threads = args.threads.to_string();
    let log_arg = log_dir.display().to_string();
    let base = |state: Option<&Path>, keys: &[String]| -> Vec<String> {
        let mut v: Vec<String> = ["match", "--allow-unsigned", "--json", "--encounters"]
            .iter()
            .map(|s| (*s).to_string())
            .collect();
        v.extend([
            log_arg.clone(),
            "--now".into(),
            now.clone(),
            "--threads".into(),
        ]);
        v.push(threads.clone());
        if let Some(state) = state {
            v.extend(["--state".into(), state.display().to_string()]);
        }
        v.push("--keys".into());
        v.extend(keys.iter().cloned());
        v
    };
    let (history, last) = files.split_at(files.len() - 1);
    progress.phase(&format!("a state of {} daily runs", history.len()));
    let state = dir.join("state");
    for file in history {
        timed(&base(Some(&state), core::slice::from_ref(file)))?;
    }
    progress.phase("timing");
    let (full, full_out) = median(args.repeat, || Ok(()), &base(None, &files))?;
    let trial = dir.join("trial");
    let (new_file, new_out) = median(
        args.repeat,
        || copy_folder(&state, &trial),
        &base(Some(&trial), last),
    )?;
    // `trial` now holds the last file: the same keys again, and the same bytes again.
    let read = dir.join("read");
    copy_folder(&trial, &read)?;
    let reserved_arg = [reserved.display().to_string()];
    let (reserved_file, _) = median(
        args.repeat,
        || copy_folder(&read, &trial),
        &base(Some(&trial), &reserved_arg),
    )?;
    let (already_read, _) = median(
        args.repeat,
        || copy_folder(&read, &trial),
        &base(Some(&trial), last),
    )?;
    let empty_arg = [empty.display().to_string()];
    let (fixed_cost, _) = median(
        args.repeat,
        || copy_folder(&read, &trial),
        &base(Some(&trial), &empty_arg),
    )?;
    drop(progress);
    let correct = matches_of(&full_out).is_some() && matches_of(&full_out) == matches_of(&new_out);
    let report = StateBench {
        keys_per_file: k,
        files: args.files,
        sightings: scenario.sightings.len(),
        threads: args.threads,
        repeat: args.repeat,
        new_over_full: new_file.seconds / full.seconds,
        full_recheck: full,
        new_file,
        reserved_file,
        already_read,
        fixed_cost,
        correct,
    };
    emit(out, &report, args.json)?;
    Ok(Status::from_ok(report.correct))
}
