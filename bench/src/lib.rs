//! Seeded workloads and the naive baseline for measuring the matcher: what `bluezone bench
//! match`, the criterion bench `matching` and the `stream_match` example run (see the
//! project's `BENCHMARKING.md`). Not published; the library's own API does not include it.

use std::collections::HashSet;

use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
use bluezone::encounter::GaenSighting;
use bluezone::gaen::{
    AssociatedEncryptedMetadata, DiagnosisKey, Metadata, ReportType, RollingProximityIdentifier,
    RollingProximityIdentifierKey, padded_data,
};
use bluezone::rand_core::Rng;
use bluezone::time::{EnIntervalNumber, INTERVALS_PER_DAY, RollingWindow};

pub use bluezone::matching::__bench::{crypto_floor, multi_key_limit};

/// The first day of every workload: 2020-06-01.
pub const FIRST_DAY: u32 = 18_414;
/// Days a workload's log covers.
pub const DAYS: u32 = 14;

/// The shape of a workload's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// A phone's 14 days: sightings during 16 waking hours a day (07:00–23:00 UTC), about
    /// 50 000 sightings of about 7 000 identifiers.
    Typical,
    /// Every interval of the 14 days holds sightings: 1 000 000 distinct identifiers, two
    /// sightings each.
    Dense,
    /// A crowd: 80 000 random identifiers, one sighting each, over the waking hours of the 14
    /// days; the honest counterpart of [`Self::Flooded`].
    Crowd,
    /// A beacon flooding the phone with 80 000 identifiers it chose to share their first 8
    /// bytes (the audit's attack on an index keyed by the identifiers' own bytes), at the
    /// same times as [`Self::Crowd`].
    Flooded,
}

/// Identifiers in the [`Workload::Crowd`] and [`Workload::Flooded`] logs.
pub const CROWD: u32 = 80_000;

/// A log, keys spread over the same 14 days, and the keys planted to match.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The log.
    pub sightings: Vec<GaenSighting>,
    /// The diagnosis keys, planted ones among them.
    pub keys: Vec<DiagnosisKey>,
    /// The keys whose identifiers were planted in the log, sorted.
    pub planted: Vec<DiagnosisKey>,
}

fn random_key<R: Rng>(rng: &mut R) -> DiagnosisKey {
    let mut key_data = [0u8; 16];
    rng.fill_bytes(&mut key_data);
    let day = FIRST_DAY + rng.next_u32() % DAYS;
    let mut key = DiagnosisKey::new(
        key_data,
        RollingWindow::day_of(EnIntervalNumber::new(day * INTERVALS_PER_DAY)),
    );
    key.transmission_risk_level = (rng.next_u32() % 8 + 1) as u8;
    key.report_type = ReportType::ConfirmedTest;
    key
}

fn random_rpi<R: Rng>(rng: &mut R) -> RollingProximityIdentifier {
    let mut rpi = [0u8; 16];
    rng.fill_bytes(&mut rpi);
    RollingProximityIdentifier::from_bytes(rpi)
}

impl Scenario {
    /// Every logged identifier, for the naive baseline's lookups.
    #[must_use]
    pub fn logged_identifiers(&self) -> HashSet<[u8; 16]> {
        self.sightings.iter().map(|s| s.rpi.to_bytes()).collect()
    }

    /// Builds a workload with `keys` keys, `planted` of which have sightings in the log.
    pub fn build<R: Rng>(workload: Workload, keys: usize, planted: usize, rng: &mut R) -> Self {
        let first_interval = FIRST_DAY * INTERVALS_PER_DAY;
        let mut sightings = Vec::new();
        match workload {
            Workload::Typical => {
                // 500 identifiers a day over the 96 waking intervals, 7 sightings each.
                for day in 0..DAYS {
                    for n in 0..500u32 {
                        let interval =
                            first_interval + day * INTERVALS_PER_DAY + 42 + (n * 96) / 500;
                        let rpi = random_rpi(rng);
                        for k in 0..7u64 {
                            sightings.push(GaenSighting {
                                unix_seconds: u64::from(interval) * 600
                                    + k * 80
                                    + u64::from(rng.next_u32() % 40),
                                rpi,
                                aem: AssociatedEncryptedMetadata::from_bytes(
                                    rng.next_u32().to_le_bytes(),
                                ),
                                rssi: -60 - (rng.next_u32() % 40) as i8,
                                previous_scan_unix_seconds: 0,
                            });
                        }
                    }
                }
            }
            Workload::Crowd | Workload::Flooded => {
                for n in 0..CROWD {
                    let day = n % DAYS;
                    let interval = first_interval + day * INTERVALS_PER_DAY + 42 + (n / DAYS) % 96;
                    let rpi = if workload == Workload::Flooded {
                        let mut chosen = [0u8; 16];
                        if let Some(tail) = chosen.get_mut(8..) {
                            tail.copy_from_slice(&u64::from(n).to_be_bytes());
                        }
                        RollingProximityIdentifier::from_bytes(chosen)
                    } else {
                        random_rpi(rng)
                    };
                    sightings.push(GaenSighting {
                        unix_seconds: u64::from(interval) * 600 + u64::from(rng.next_u32() % 600),
                        rpi,
                        aem: AssociatedEncryptedMetadata::from_bytes(rng.next_u32().to_le_bytes()),
                        rssi: -80,
                        previous_scan_unix_seconds: 0,
                    });
                }
            }
            Workload::Dense => {
                let per_interval = 1_000_000 / (DAYS * INTERVALS_PER_DAY) + 1;
                for offset in 0..DAYS * INTERVALS_PER_DAY {
                    let interval = u64::from(first_interval + offset);
                    for _ in 0..per_interval {
                        let rpi = random_rpi(rng);
                        for k in 0..2u64 {
                            sightings.push(GaenSighting {
                                unix_seconds: interval * 600 + k * 240,
                                rpi,
                                aem: AssociatedEncryptedMetadata::from_bytes(
                                    rng.next_u32().to_le_bytes(),
                                ),
                                rssi: -70,
                                previous_scan_unix_seconds: 0,
                            });
                        }
                    }
                }
            }
        }
        let mut all: Vec<DiagnosisKey> = (0..keys).map(|_| random_key(rng)).collect();
        let mut planted_keys: Vec<DiagnosisKey> = all.iter().take(planted).copied().collect();
        for key in &planted_keys {
            // Three sightings of each of 3 identifiers, 3 minutes apart, at a realistic power.
            let rpik = key.rolling_proximity_identifier_key();
            let aemk = key.associated_encrypted_metadata_key();
            for k in 0..3u32 {
                let interval = EnIntervalNumber::new(key.window.start().get() + 50 + 20 * k);
                let rpi = rpik.identifier(interval);
                let aem = aemk.encrypt(&rpi, Metadata::v1_0(-15));
                for m in 0..3u64 {
                    sightings.push(GaenSighting {
                        unix_seconds: interval.start_unix_seconds() + 60 + m * 180,
                        rpi,
                        aem,
                        rssi: -65,
                        previous_scan_unix_seconds: 0,
                    });
                }
            }
        }
        // Keys arrive in random order, planted ones anywhere.
        for n in (1..all.len()).rev() {
            let other = (rng.next_u64() % (n as u64 + 1)) as usize;
            all.swap(n, other);
        }
        planted_keys.sort_unstable();
        Self {
            sightings,
            keys: all,
            planted: planted_keys,
        }
    }
}

/// The naive baseline: the `hkdf` crate for every key, 144 single AES block encryptions, a
/// lookup of each identifier in a `HashSet` of every logged identifier. Returns the keys with
/// any hit, sorted.
#[must_use]
pub fn naive_baseline(keys: &[DiagnosisKey], logged: &HashSet<[u8; 16]>) -> Vec<DiagnosisKey> {
    let mut found = Vec::new();
    for key in keys {
        let rpik = RollingProximityIdentifierKey::derive(&key.key_data);
        let cipher = aes::Aes128::new(&Array::from(*rpik.expose_secret()));
        let mut hit = false;
        for interval in key.window.intervals() {
            let mut block = Array::from(padded_data(interval));
            cipher.encrypt_block(&mut block);
            let rpi: [u8; 16] = block.into();
            hit |= logged.contains(&rpi);
        }
        if hit {
            found.push(*key);
        }
    }
    found.sort_unstable();
    found
}
