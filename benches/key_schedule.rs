//! Cost of the key schedule per key: HKDF, the 144 identifiers of a day (batched and one at a
//! time) and metadata decryption. These are the building blocks of matching; the matching
//! benches compare the matcher against them.
#![allow(clippy::indexing_slicing, reason = "bench setup on fixed data")]

use bluezone::gaen::{Metadata, RollingProximityIdentifier, TemporaryExposureKey};
use bluezone::{EnIntervalNumber, RollingWindow};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use std::hint::black_box;

fn keys(count: usize) -> Vec<TemporaryExposureKey> {
    let window = RollingWindow::day_of(EnIntervalNumber::new(2_650_032));
    let mut rng = ChaCha20Rng::seed_from_u64(2020);
    (0..count)
        .map(|_| TemporaryExposureKey::generate_with_rng(&mut rng, window))
        .collect()
}

fn key_schedule(c: &mut Criterion) {
    let keys = keys(1024);
    let window = keys[0].window();
    let mut group = c.benchmark_group("per key");
    group.throughput(Throughput::Elements(keys.len() as u64));

    group.bench_function("HKDF RPIK", |b| {
        b.iter(|| {
            for key in &keys {
                black_box(key.rolling_proximity_identifier_key());
            }
        })
    });
    group.bench_function("HKDF RPIK + 144 RPIs batched", |b| {
        let mut buffer = [RollingProximityIdentifier::default(); 144];
        b.iter(|| {
            for key in &keys {
                let rpik = key.rolling_proximity_identifier_key();
                black_box(rpik.window_identifiers(window, &mut buffer));
            }
        })
    });
    group.bench_function("HKDF RPIK + 144 RPIs one at a time", |b| {
        b.iter(|| {
            for key in &keys {
                let rpik = key.rolling_proximity_identifier_key();
                for interval in window.intervals() {
                    black_box(rpik.identifier(interval));
                }
            }
        })
    });
    group.bench_function("HKDF AEMK + 1 AEM decryption", |b| {
        let rpi = RollingProximityIdentifier::from_bytes([7; 16]);
        b.iter(|| {
            for key in &keys {
                let aemk = key.associated_encrypted_metadata_key();
                black_box(aemk.decrypt(&rpi, aemk.encrypt(&rpi, Metadata::v1_0(-15))));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, key_schedule);
criterion_main!(benches);
