//! Encounter log throughput on a 14-day phone log of one million sightings: appending
//! (batched, and one write per record as a scanner callback would), and streaming it back.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "bench setup")]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bluezone::encounter::log::{EncounterLog, LogItem};
use bluezone::encounter::{GaenSighting, Sighting};
use bluezone::gaen::{AssociatedEncryptedMetadata, RollingProximityIdentifier};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

const SIGHTINGS: u64 = 1_000_000;
const FIRST_DAY: u64 = 18_700;

/// One million sightings spread evenly over 14 days, in time order.
fn fourteen_days() -> Vec<Sighting> {
    let mut rng = ChaCha20Rng::seed_from_u64(14);
    let span = 14 * 86_400;
    (0..SIGHTINGS)
        .map(|n| {
            let mut rpi = [0u8; 16];
            rng.fill_bytes(&mut rpi);
            let t = FIRST_DAY * 86_400 + n * span / SIGHTINGS;
            Sighting::Gaen(GaenSighting {
                unix_seconds: t,
                rpi: RollingProximityIdentifier::from_bytes(rpi),
                aem: AssociatedEncryptedMetadata::from_bytes([1, 2, 3, 4]),
                rssi: -70,
                previous_scan_unix_seconds: t.saturating_sub(240),
            })
        })
        .collect()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bluezone-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn encounter_log(c: &mut Criterion) {
    let sightings = fourteen_days();
    let mut group = c.benchmark_group("encounter log, 1M sightings over 14 days");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(SIGHTINGS));

    group.bench_function("append, batched", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let dir = scratch("batched");
                let mut log = EncounterLog::open(&dir).unwrap();
                let started = Instant::now();
                log.append_all(&sightings).unwrap();
                log.sync().unwrap();
                total += started.elapsed();
                std::fs::remove_dir_all(&dir).unwrap();
            }
            total
        })
    });

    group.bench_function("append, one write per sighting", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let dir = scratch("single");
                let mut log = EncounterLog::open(&dir).unwrap();
                let started = Instant::now();
                for s in &sightings {
                    log.append(s).unwrap();
                }
                log.sync().unwrap();
                total += started.elapsed();
                std::fs::remove_dir_all(&dir).unwrap();
            }
            total
        })
    });

    let dir = scratch("scan");
    let mut log = EncounterLog::open(&dir).unwrap();
    log.append_all(&sightings).unwrap();
    log.sync().unwrap();
    group.bench_function("scan, streaming", |b| {
        b.iter(|| {
            let mut records = 0u64;
            for item in log.read().unwrap() {
                if let LogItem::Record(s) = item.unwrap() {
                    records += black_box(s.unix_seconds()) & 1 | 1;
                }
            }
            assert_eq!(records, SIGHTINGS);
        })
    });
    group.finish();
    std::fs::remove_dir_all(&dir).unwrap();
}

criterion_group!(benches, encounter_log);
criterion_main!(benches);
