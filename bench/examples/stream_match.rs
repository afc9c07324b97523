//! Streams ten million diagnosis keys from an export file through the matcher against the
//! `typical` 14-day log, and reports throughput and peak memory.
//!
//! Run: `cargo run --release -p bluezone-bench --example stream_match [KEYS] [THREADS]`. The keys
//! (a planted hundred among them) are written as a bare `export.bin` to the temporary folder,
//! then matched with `matching::stream::match_bin` in chunks; peak resident memory of the
//! matching phase is read from `VmHWM` (Linux) after a reset. Exits with an error if the
//! planted keys are not exactly the ones found or if peak memory reaches 64 MiB.

#![allow(clippy::indexing_slicing, reason = "an example on data it made itself")]

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::time::Instant;

use bluezone::export::bin::ExportMetadata;
use bluezone::export::stream::ExportWriter;
use bluezone::matching::{LogIndex, MatchConfig, MatchRun, Matcher, stream};
use bluezone_bench::{Scenario, Workload};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

fn peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let keys: usize = args.next().map_or(Ok(10_000_000), |a| a.parse())?;
    let threads: usize = args.next().map_or(Ok(2), |a| a.parse())?;
    let path =
        std::env::temp_dir().join(format!("bluezone-stream-match-{}.bin", std::process::id()));

    // The log and the planted keys come from the bench workload; the other keys are written
    // straight to the file so that they are never all in memory.
    let mut rng = ChaCha20Rng::seed_from_u64(10);
    let scenario = Scenario::build(Workload::Typical, 100, 100, &mut rng);
    let mut writer = ExportWriter::new(
        BufWriter::new(File::create(&path)?),
        &ExportMetadata::default(),
    )?;
    for n in 0..keys {
        if n % (keys / 100).max(1) == 0 && n / (keys / 100).max(1) < scenario.planted.len() {
            writer.write_key(&scenario.planted[n / (keys / 100).max(1)], false)?;
        } else {
            let mut key = scenario.keys[n % scenario.keys.len()];
            key.key_data[..8].copy_from_slice(&(n as u64).to_le_bytes());
            key.key_data[8] ^= 0x5A;
            writer.write_key(&key, false)?;
        }
    }
    writer.finish()?;

    let config = MatchConfig::default();
    let index = LogIndex::new(scenario.sightings.clone(), config.tolerance_intervals);
    let matcher = Matcher::new(&index, config);
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let started = Instant::now();
    let mut run = MatchRun::with_threads(&matcher, threads)?;
    stream::match_bin(&mut run, BufReader::new(File::open(&path)?), |_| {})?;
    let outcome = run.finish();
    let elapsed = started.elapsed();
    std::fs::remove_file(&path)?;
    let found: Vec<_> = outcome.matches.iter().map(|m| m.key).collect();
    let mut planted = scenario.planted.clone();
    planted.truncate(keys.min(100));
    planted.sort_unstable();
    print!(
        "matched {} keys from a file in {elapsed:.2?} on {threads} thread(s): {:.0} keys/s, {} matched",
        outcome.keys_total,
        outcome.keys_total as f64 / elapsed.as_secs_f64(),
        outcome.keys_matched
    );
    match peak_kib() {
        Some(kib) => println!(
            ", peak memory {:.1} MiB{}",
            kib as f64 / 1024.0,
            if reset { "" } else { " (whole process)" }
        ),
        None => println!(),
    }
    if found != planted {
        return Err(format!("found {} keys, planted {}", found.len(), planted.len()).into());
    }
    if peak_kib().is_some_and(|kib| kib >= 64 * 1024) {
        return Err("peak memory is not under 64 MiB".into());
    }
    Ok(())
}
