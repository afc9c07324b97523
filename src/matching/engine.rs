//! The production matcher (spec §match.4).

use alloc::vec::Vec;

use aes::cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use aes::{Aes128Dec, Aes128Enc};

use super::hkdf::KeySchedule;
use super::index::{LogIndex, interval_of};
use super::{KeyMatch, MatchConfig, MatchOutcome, MatchedSighting, Rejections};
use crate::gaen::{
    AEMK_INFO, AssociatedEncryptedMetadataKey, DiagnosisKey, RPIK_INFO, RollingProximityIdentifier,
    padded_data,
};
use crate::time::{EnIntervalNumber, INTERVALS_PER_DAY};

/// Identifiers encrypted per AES call.
const BATCH: usize = 32;
/// The widest span a key's search covers: 144 intervals plus the tolerance on each side, for
/// tolerances up to this bound; larger tolerances use a heap buffer.
const SPAN: usize = 144 + 2 * 64;

/// Matches keys against one indexed log. Cheap to share between threads.
#[derive(Clone)]
pub struct Matcher<'a> {
    index: &'a LogIndex,
    config: MatchConfig,
    schedule: KeySchedule,
}

impl core::fmt::Debug for Matcher<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Matcher")
            .field("config", &self.config)
            .field("index", &self.index.stats())
            .finish_non_exhaustive()
    }
}

/// The keys sorted by window, then by key: each day's keys together, so that its filter stays
/// in cache, and identical keys side by side. A sorted copy, not references, so that the keys
/// are then read in memory order.
fn sorted_by_window(keys: &[DiagnosisKey]) -> Vec<DiagnosisKey> {
    let mut sorted = keys.to_vec();
    sorted.sort_unstable_by(|a, b| (a.window.start(), a).cmp(&(b.window.start(), b)));
    sorted
}

/// Per-key working memory, reused from key to key.
struct Scratch {
    occupied: Vec<bool>,
    needed: Vec<u32>,
    blocks: [Array<u8, aes::cipher::consts::U16>; BATCH],
    hits: Vec<(u32, RollingProximityIdentifier)>,
}

impl Scratch {
    fn new() -> Self {
        Self {
            occupied: alloc::vec![false; SPAN],
            needed: Vec::with_capacity(144),
            blocks: [Array::default(); BATCH],
            hits: Vec::new(),
        }
    }
}

impl<'a> Matcher<'a> {
    /// A matcher over `index` with `config`. The index's tolerance should be the config's (a
    /// smaller index tolerance would make its day filters miss sightings at the edges).
    #[must_use]
    pub fn new(index: &'a LogIndex, config: MatchConfig) -> Self {
        Self {
            index,
            config,
            schedule: KeySchedule::new(),
        }
    }

    /// The rules in force.
    #[must_use]
    pub const fn config(&self) -> &MatchConfig {
        &self.config
    }

    /// Matches a batch of keys. Identical keys are matched once; the outcome's matches are
    /// ordered by key.
    #[must_use]
    pub fn match_keys(&self, keys: &[DiagnosisKey]) -> MatchOutcome {
        self.match_sorted(&sorted_by_window(keys))
    }

    /// Matches keys already in [`sorted_by_window`] order.
    fn match_sorted(&self, sorted: &[DiagnosisKey]) -> MatchOutcome {
        let mut outcome = MatchOutcome {
            keys_total: sorted.len() as u64,
            ..MatchOutcome::default()
        };
        let mut scratch = Scratch::new();
        let mut previous: Option<(&DiagnosisKey, bool)> = None;
        for key in sorted {
            if let Some((seen, matched)) = previous
                && seen == key
            {
                outcome.rejected.duplicate_keys += u64::from(matched);
                continue;
            }
            let matched = self.match_key(key, &mut scratch, &mut outcome);
            previous = Some((key, matched));
        }
        outcome.matches.sort_unstable_by_key(|m| m.key);
        outcome.keys_matched = outcome.matches.len() as u64;
        outcome
    }

    /// Matches a batch of keys on `threads` threads of a rayon pool (`parallel` feature). The
    /// outcome equals [`Self::match_keys`]'s: identical keys are kept in the same share.
    ///
    /// # Errors
    /// The pool could not be built.
    #[cfg(feature = "parallel")]
    pub fn match_keys_parallel(
        &self,
        keys: &[DiagnosisKey],
        threads: usize,
    ) -> Result<MatchOutcome, rayon::ThreadPoolBuildError> {
        use rayon::prelude::*;
        let threads = threads.max(1);
        if threads == 1 {
            return Ok(self.match_keys(keys));
        }
        let sorted = sorted_by_window(keys);
        // Shares of about equal size, cut only between different keys.
        let target = sorted.len().div_ceil(threads * 8).max(1);
        let mut shares: Vec<&[DiagnosisKey]> = Vec::new();
        let mut rest = sorted.as_slice();
        while !rest.is_empty() {
            let mut cut = target.min(rest.len());
            while cut < rest.len() && rest.get(cut) == rest.get(cut - 1) {
                cut += 1;
            }
            let (share, tail) = rest.split_at(cut);
            shares.push(share);
            rest = tail;
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()?;
        Ok(pool.install(|| {
            shares
                .par_iter()
                .map(|share| self.match_sorted(share))
                .reduce(MatchOutcome::default, |mut a, b| {
                    a.merge(b);
                    a
                })
        }))
    }

    /// Matches one key into `outcome`; returns whether it matched.
    fn match_key(
        &self,
        key: &DiagnosisKey,
        scratch: &mut Scratch,
        outcome: &mut MatchOutcome,
    ) -> bool {
        if !self.config.matches_report_type(key.report_type) {
            outcome.rejected.report_type_keys += 1;
            return false;
        }
        let tolerance = self.config.tolerance_intervals;
        let first = key.window.start().get();
        let last = key.window.last().get();
        let from = first.saturating_sub(tolerance);
        let to = last.saturating_add(tolerance);
        let span = (to - from) as usize + 1;
        if scratch.occupied.len() < span {
            scratch.occupied.resize(span, false);
        }
        let occupied = scratch.occupied.get_mut(..span).unwrap_or_default();
        // No sighting anywhere near the window: nothing to derive.
        if self.index.occupancy(from, occupied) == 0 {
            return false;
        }
        // The intervals whose identifier could have a valid sighting.
        scratch.needed.clear();
        let mut near = occupied
            .get(
                ..((first - from) as usize)
                    .saturating_add(tolerance as usize)
                    .min(span),
            )
            .unwrap_or_default()
            .iter()
            .filter(|o| **o)
            .count();
        for j in first..=last {
            let offset = (j - from) as usize;
            // Slide [j − T, j + T]: add the interval entering on the right, drop the one
            // leaving on the left.
            if let Some(true) = occupied.get(offset + tolerance as usize) {
                near += 1;
            }
            if offset > tolerance as usize
                && let Some(true) = occupied.get(offset - tolerance as usize - 1)
            {
                near -= 1;
            }
            if near > 0 {
                scratch.needed.push(j);
            }
        }
        if scratch.needed.is_empty() {
            return false;
        }

        let prk = self.schedule.prk(&key.key_data);
        let rpik = prk.expand16(RPIK_INFO);
        scratch.hits.clear();
        let logged = self.index.entries_between(from, to);
        // Decrypting the logged identifiers costs one AES block each and no probe; generating
        // costs one block and one probe per needed interval.
        if logged.len() < scratch.needed.len() {
            self.decrypt_logged(&rpik, first, last, logged, &mut scratch.hits);
        } else {
            self.generate_and_probe(&rpik, scratch);
        }
        if scratch.hits.is_empty() {
            return false;
        }
        scratch.hits.sort_unstable();
        scratch.hits.dedup();
        let aemk = AssociatedEncryptedMetadataKey::from_bytes(prk.expand16(AEMK_INFO));
        let sightings = self.evaluate(&scratch.hits, &aemk, &mut outcome.rejected);
        if sightings.is_empty() {
            return false;
        }
        outcome.matches.push(KeyMatch {
            key: *key,
            sightings,
        });
        true
    }

    /// Encrypts the needed intervals' padded data in batches and probes each identifier in the
    /// filter of its day; confirmed identifiers go to `scratch.hits`.
    fn generate_and_probe(&self, rpik: &[u8; 16], scratch: &mut Scratch) {
        let cipher = Aes128Enc::new(&Array::from(*rpik));
        // A key's intervals fall in at most two UTC days: one run per day, one filter each.
        for day_run in scratch
            .needed
            .chunk_by(|a, b| a / INTERVALS_PER_DAY == b / INTERVALS_PER_DAY)
        {
            let Some(&first) = day_run.first() else {
                continue;
            };
            let Some(filter) = self.index.day_filter(first / INTERVALS_PER_DAY) else {
                continue;
            };
            for chunk in day_run.chunks(BATCH) {
                let blocks = scratch.blocks.get_mut(..chunk.len()).unwrap_or_default();
                for (block, &j) in blocks.iter_mut().zip(chunk) {
                    *block = Array::from(padded_data(EnIntervalNumber::new(j)));
                }
                cipher.encrypt_blocks(blocks);
                // All probes of the batch first (independent loads), then the rare maybes.
                let mut maybe = 0u32;
                for (bit, block) in blocks.iter().enumerate() {
                    maybe |= u32::from(filter.may_contain(&block.0)) << bit;
                }
                while maybe != 0 {
                    let bit = maybe.trailing_zeros() as usize;
                    maybe &= maybe - 1;
                    if let (Some(block), Some(&j)) = (blocks.get(bit), chunk.get(bit)) {
                        let rpi = RollingProximityIdentifier::from_bytes(block.0);
                        if !self.index.sightings_of(&rpi).is_empty() {
                            scratch.hits.push((j, rpi));
                        }
                    }
                }
            }
        }
    }

    /// Decrypts each logged identifier near the window: it belongs to this key exactly when
    /// the plaintext is the padded data of one of the key's intervals within tolerance of the
    /// interval it was seen in (a false accept has probability about 2^-96).
    fn decrypt_logged(
        &self,
        rpik: &[u8; 16],
        first: u32,
        last: u32,
        logged: &[(u32, RollingProximityIdentifier)],
        hits: &mut Vec<(u32, RollingProximityIdentifier)>,
    ) {
        let cipher = Aes128Dec::new(&Array::from(*rpik));
        let tolerance = self.config.tolerance_intervals;
        let mut blocks = [Array::<u8, aes::cipher::consts::U16>::default(); BATCH];
        for chunk in logged.chunks(BATCH) {
            let blocks = blocks.get_mut(..chunk.len()).unwrap_or_default();
            for (block, (_, rpi)) in blocks.iter_mut().zip(chunk) {
                *block = Array::from(rpi.to_bytes());
            }
            cipher.decrypt_blocks(blocks);
            for (block, &(seen, rpi)) in blocks.iter().zip(chunk) {
                let plain: [u8; 16] = (*block).into();
                let [
                    p0,
                    p1,
                    p2,
                    p3,
                    p4,
                    p5,
                    p6,
                    p7,
                    p8,
                    p9,
                    p10,
                    p11,
                    n0,
                    n1,
                    n2,
                    n3,
                ] = plain;
                if [p0, p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11] != *b"EN-RPI\0\0\0\0\0\0" {
                    continue;
                }
                let j = u32::from_le_bytes([n0, n1, n2, n3]);
                if (first..=last).contains(&j) && seen.abs_diff(j) <= tolerance {
                    hits.push((j, rpi));
                }
            }
        }
    }

    /// Applies the rules to the sightings of each hit identifier (spec §match.2).
    fn evaluate(
        &self,
        hits: &[(u32, RollingProximityIdentifier)],
        aemk: &AssociatedEncryptedMetadataKey,
        rejected: &mut Rejections,
    ) -> Vec<MatchedSighting> {
        let config = &self.config;
        let mut accepted = Vec::new();
        for &(j, rpi) in hits {
            let all = self.index.sightings_of(&rpi);
            let in_tolerance = |t: u64| {
                interval_of(t).is_some_and(|i| i.abs_diff(j) <= config.tolerance_intervals)
            };
            let Some(first_valid) = all.iter().find(|s| in_tolerance(s.unix_seconds)) else {
                continue;
            };
            let first_time = first_valid.unix_seconds;
            for s in all {
                if !in_tolerance(s.unix_seconds) {
                    rejected.outside_tolerance += 1;
                    continue;
                }
                if s.unix_seconds - first_time > config.replay_window_seconds {
                    rejected.replayed += 1;
                    continue;
                }
                let metadata = aemk.decrypt(&rpi, s.aem);
                let tx_power = metadata.tx_power_dbm();
                if tx_power < config.tx_power_min_dbm || tx_power > config.tx_power_max_dbm {
                    rejected.tx_power_out_of_range += 1;
                    continue;
                }
                accepted.push(MatchedSighting {
                    unix_seconds: s.unix_seconds,
                    en_interval_number: EnIntervalNumber::new(j),
                    rpi,
                    rssi: s.rssi,
                    aem: s.aem,
                    metadata,
                    tx_power,
                    attenuation: (i16::from(tx_power) - i16::from(s.rssi)).clamp(0, 255) as u8,
                    previous_scan_unix_seconds: s.previous_scan_unix_seconds,
                });
            }
        }
        accepted.sort_unstable();
        accepted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encounter::GaenSighting;
    use crate::gaen::AssociatedEncryptedMetadata;
    use crate::time::{RollingPeriod, RollingWindow};
    use proptest::prelude::*;

    proptest! {
        /// The two ways of finding a key's identifiers find the same ones.
        #[test]
        fn generating_and_decrypting_agree(
            key in any::<[u8; 16]>(),
            offset in 0u32..200,
            period in 1u32..=144,
            planted in prop::collection::vec((0u32..144, -14i64..=14), 0..30),
            strangers in prop::collection::vec((any::<[u8; 16]>(), 0u32..400), 0..30),
        ) {
            let start = 2_650_032 + offset;
            let window = RollingWindow::new(EnIntervalNumber::new(start), RollingPeriod::new(period).unwrap()).unwrap();
            let dk = DiagnosisKey::new(key, window);
            let rpik = dk.rolling_proximity_identifier_key();
            let mut sightings = Vec::new();
            for (pick, shift) in planted {
                let j = start + pick % period;
                let seen = (i64::from(j) + shift) as u64;
                sightings.push(GaenSighting {
                    unix_seconds: seen * 600 + 1,
                    rpi: rpik.identifier(EnIntervalNumber::new(j)),
                    aem: AssociatedEncryptedMetadata::default(),
                    rssi: 0,
                    previous_scan_unix_seconds: 0,
                });
            }
            for (rpi, at) in strangers {
                sightings.push(GaenSighting {
                    unix_seconds: u64::from(2_650_000 + at) * 600,
                    rpi: RollingProximityIdentifier::from_bytes(rpi),
                    aem: AssociatedEncryptedMetadata::default(),
                    rssi: 0,
                    previous_scan_unix_seconds: 0,
                });
            }
            let index = LogIndex::new(sightings, 12);
            let matcher = Matcher::new(&index, MatchConfig::default());
            let (first, last) = (start, window.last().get());
            let mut scratch = Scratch::new();
            scratch.needed.extend(first..=last);
            let rpik_bytes = *rpik.expose_secret();
            matcher.generate_and_probe(&rpik_bytes, &mut scratch);
            let mut generated: Vec<_> = scratch
                .hits
                .iter()
                .copied()
                .filter(|(j, rpi)| index.sightings_of(rpi).iter().any(|s| (s.unix_seconds / 600).abs_diff(u64::from(*j)) <= 12))
                .collect();
            generated.sort_unstable();
            generated.dedup();
            let mut decrypted = Vec::new();
            let logged = index.entries_between(first.saturating_sub(12), last + 12);
            matcher.decrypt_logged(&rpik_bytes, first, last, logged, &mut decrypted);
            decrypted.sort_unstable();
            decrypted.dedup();
            prop_assert_eq!(generated, decrypted);
        }
    }
}
