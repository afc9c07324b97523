//! The matcher against the naive baseline and the crypto floor, on the `typical` and `dense`
//! workloads of `bluezone bench match` (see `BENCHMARKING.md`). 100 000 keys per iteration;
//! the command-line bench runs the full million.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "bench setup")]

use std::hint::black_box;
use std::time::Duration;

use bluezone::matching::{LogIndex, MatchConfig, Matcher};
use bluezone_bench::{Scenario, Workload, crypto_floor, multi_key_limit, naive_baseline};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

const KEYS: usize = 100_000;

fn matching(c: &mut Criterion) {
    for (name, workload) in [("typical", Workload::Typical), ("dense", Workload::Dense)] {
        let scenario = Scenario::build(workload, KEYS, 10, &mut ChaCha20Rng::seed_from_u64(2020));
        let index = LogIndex::new(scenario.sightings.clone(), 12);
        let matcher = Matcher::new(&index, MatchConfig::default());
        let logged = scenario.logged_identifiers();
        let mut group = c.benchmark_group(format!("match 100k keys, {name}"));
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(10));
        group.throughput(Throughput::Elements(KEYS as u64));
        for threads in [1, 2] {
            group.bench_with_input(
                BenchmarkId::new("production", threads),
                &threads,
                |b, &t| {
                    b.iter(|| {
                        let outcome = matcher.match_keys_parallel(&scenario.keys, t).unwrap();
                        assert_eq!(outcome.keys_matched, 10);
                    })
                },
            );
        }
        group.bench_function("naive baseline", |b| {
            b.iter(|| black_box(naive_baseline(&scenario.keys, &logged)))
        });
        group.bench_function("crypto floor", |b| {
            b.iter(|| black_box(crypto_floor(&scenario.keys)))
        });
        group.bench_function("limit", |b| {
            b.iter(|| black_box(multi_key_limit(&scenario.keys)))
        });
        group.finish();
    }
}

criterion_group!(benches, matching);
criterion_main!(benches);
