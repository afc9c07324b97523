//! The production matcher (spec §match.4).

mod batch;
mod plan;
mod shaping;

use alloc::vec::Vec;

use aes::Aes128Enc;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};

pub(crate) use batch::{Evaluation, Found, Slot, sorted_slots};
use plan::{NEAR_TOLERANCE, NearDay, Pending, near_days};
use shaping::{BATCH, Block, decrypt_logged, generate_and_probe};
pub(crate) use shaping::{PADDED, aes_width, padded_len};

use super::hkdf::KeySchedule;
use super::index::LogIndex;
use super::kernels::LANES;
use super::{MatchConfig, MatchOutcome, apply_rules};
use crate::gaen::{
    AEMK_INFO, AssociatedEncryptedMetadataKey, DiagnosisKey, RPIK_INFO, RollingProximityIdentifier,
    padded_data,
};
use crate::time::{EnIntervalNumber, INTERVALS_PER_DAY};

#[cfg(test)]
std::thread_local! {
    /// Accepted sightings every evaluation on this thread held (spec §sec.11's tests).
    pub(crate) static MATERIALISED: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

/// The most intervals [`Matcher::logged_between`] answers for at once: sixteen days.
pub(crate) const LOGGED_SPAN: usize = 16 * INTERVALS_PER_DAY as usize;

/// Matches keys against one indexed log. Cheap to share between threads.
#[derive(Clone)]
pub struct Matcher<'a> {
    index: &'a LogIndex,
    config: MatchConfig,
    schedule: KeySchedule,
    /// The index's day filters cover the config's tolerance; when they do not, identifiers
    /// are always found by decrypting the logged ones, so no edge sighting is missed.
    filters_cover: bool,
    /// The AES backend's parallel width.
    aes_width: usize,
    /// Per UTC day, sorted, the intervals `j` of the day with a sighting in `[j − T, j + T]`,
    /// as 144 bits (the identifiers worth deriving, spec §match.4, step 2), and the distinct
    /// (interval, identifier) pairs logged that day; `None` for tolerances above
    /// [`NEAR_TOLERANCE`].
    near: Option<Vec<NearDay>>,
}

impl core::fmt::Debug for Matcher<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Matcher")
            .field("config", &self.config)
            .field("index", &self.index.stats())
            .finish_non_exhaustive()
    }
}

/// Per-key working memory, reused from key to key.
struct Scratch {
    pending: [Pending; LANES],
    blocks: [Block; PADDED],
    hits: Vec<(u32, RollingProximityIdentifier)>,
}

impl Scratch {
    fn new() -> Self {
        Self {
            pending: core::array::from_fn(|_| Pending::new()),
            blocks: [Array::default(); PADDED],
            hits: Vec::new(),
        }
    }
}

impl<'a> Matcher<'a> {
    /// A matcher over `index` with `config`. Index the log with the config's tolerance: an
    /// index built for a smaller one still gives exact results (its day filters are then not
    /// used, spec §match.4), only more slowly.
    #[must_use]
    pub fn new(index: &'a LogIndex, config: MatchConfig) -> Self {
        Self {
            index,
            config,
            schedule: KeySchedule::new(),
            filters_cover: index.tolerance_intervals() >= config.tolerance_intervals,
            aes_width: aes_width(),
            near: (config.tolerance_intervals <= NEAR_TOLERANCE)
                .then(|| near_days(index, config.tolerance_intervals)),
        }
    }

    /// The rules in force.
    #[must_use]
    pub const fn config(&self) -> &MatchConfig {
        &self.config
    }

    /// Matches a batch of keys, in publication order, as one run (spec §match.6): each key
    /// (by its 16 bytes) is matched once, and later copies only change its report type. The
    /// outcome's matches are ordered by key bytes.
    #[must_use]
    pub fn match_keys(&self, keys: &[DiagnosisKey]) -> MatchOutcome {
        let mut run = super::MatchRun::new(self);
        run.add(keys);
        run.finish()
    }

    /// [`Self::match_keys`] on `threads` threads of a rayon pool (`parallel` feature); the
    /// outcome is the same.
    ///
    /// # Errors
    /// The pool could not be built.
    #[cfg(feature = "parallel")]
    pub fn match_keys_parallel(
        &self,
        keys: &[DiagnosisKey],
        threads: usize,
    ) -> Result<MatchOutcome, rayon::ThreadPoolBuildError> {
        let mut run = super::MatchRun::with_threads(self, threads)?;
        run.add(keys);
        Ok(run.finish())
    }

    /// Evaluates every distinct (key bytes, window) of `keys` on the calling thread.
    pub(crate) fn find(&self, keys: &[DiagnosisKey]) -> Found {
        let slots = sorted_slots(keys);
        let mut found = Found::new(keys.len());
        found.absorb(self.evaluate_slots(&slots, 0, slots.len()), &slots);
        found
    }

    /// Evaluates the slots `from..to` (whole groups); returns each seen group's first slot
    /// index with its evaluation. Keys with intervals to derive are taken [`LANES`] at a time,
    /// so that their RPIKs are derived together.
    fn evaluate_slots(&self, slots: &[Slot], from: usize, to: usize) -> Vec<(u32, Evaluation)> {
        let mut scratch = Scratch::new();
        let mut out = Vec::new();
        let mut previous: Option<&Slot> = None;
        let mut waiting = 0;
        let (_, slots) = slots.split_at(from.min(slots.len()));
        for (at, slot) in (from..to).zip(slots) {
            if previous.is_some_and(|p| p.same_window(slot)) {
                continue;
            }
            previous = Some(slot);
            // The slot holds everything the evaluation needs, so the keys are read in the
            // slots' (sorted) order, not at random.
            let Some(pending) = scratch.pending.get_mut(waiting) else {
                continue;
            };
            (pending.first, pending.last) = (slot.start, slot.last());
            pending.plan(
                self.near.as_deref(),
                self.index,
                self.config.tolerance_intervals,
            );
            if pending.len == 0 {
                continue;
            }
            (pending.at, pending.key) = (at, slot.key);
            waiting += 1;
            if waiting == LANES {
                self.derive_and_search(&mut scratch, waiting, &mut out);
                waiting = 0;
            }
        }
        self.derive_and_search(&mut scratch, waiting, &mut out);
        out
    }

    /// Derives the RPIKs of the first `waiting` pending keys and searches for their
    /// identifiers.
    fn derive_and_search(
        &self,
        scratch: &mut Scratch,
        waiting: usize,
        out: &mut Vec<(u32, Evaluation)>,
    ) {
        let Scratch {
            pending,
            blocks,
            hits,
        } = scratch;
        if waiting == 0 {
            return;
        }
        // A last group of fewer than LANES keys fills the other lanes with stale keys, whose
        // RPIKs are not used: once per share, cheaper than a second derivation path.
        let rpiks = self.schedule.rpiks(&pending.each_ref().map(|p| p.key));
        for (p, rpik) in pending.iter().zip(&rpiks).take(waiting) {
            let evaluation = self.search(p, rpik, blocks, hits);
            if let (Some(evaluation), Ok(at)) = (evaluation, u32::try_from(p.at)) {
                out.push((at, evaluation));
            }
        }
    }

    /// [`Self::find`] on the threads of `pool`: the sorted batch is cut into shares, only
    /// between different (key bytes, window), which threads evaluate independently.
    #[cfg(feature = "parallel")]
    pub(crate) fn find_parallel(&self, keys: &[DiagnosisKey], pool: &rayon::ThreadPool) -> Found {
        use rayon::prelude::*;
        let slots = batch::sorted_slots_parallel(keys, pool);
        let shares = batch::shares(&slots, pool.current_num_threads().max(1) * 8);
        let evaluated: Vec<Vec<(u32, Evaluation)>> = pool.install(|| {
            shares
                .par_iter()
                .map(|&(from, to)| self.evaluate_slots(&slots, from, to))
                .collect()
        });
        let mut found = Found::new(keys.len());
        for share in evaluated {
            found.absorb(share, &slots);
        }
        found
    }

    /// The index it matches against.
    pub(crate) const fn index(&self) -> &'a LogIndex {
        self.index
    }

    /// For each interval of `from..to` (at most [`LOGGED_SPAN`] of them), whether the
    /// identifier of `key_data` for it is in the log at all. Google's prefilter asks whether
    /// any of the 144 identifiers from a key's rolling start (whatever its period) is logged
    /// before its tracer looks at the key, and so at a copy of a matched key (spec §match.6);
    /// answered over a span, many copies of one key's bytes cost one derivation (§sec.11).
    pub(crate) fn logged_between(&self, key_data: &[u8; 16], from: u32, to: u32) -> Vec<bool> {
        let rpik = self.schedule.prk(key_data).expand16(RPIK_INFO);
        let cipher = Aes128Enc::new(&Array::from(rpik));
        let mut buffer = [Block::default(); BATCH];
        let intervals: Vec<u32> = (from..to).take(LOGGED_SPAN).collect();
        let mut logged = Vec::with_capacity(intervals.len());
        for chunk in intervals.chunks(BATCH) {
            let (blocks, _) = buffer.split_at_mut(chunk.len());
            for (block, &j) in blocks.iter_mut().zip(chunk) {
                *block = Array::from(padded_data(EnIntervalNumber::new(j)));
            }
            cipher.encrypt_blocks(blocks);
            logged.extend(blocks.iter().map(|b| {
                !self
                    .index
                    .sightings_of(&RollingProximityIdentifier::from_bytes(b.0))
                    .is_empty()
            }));
        }
        logged
    }

    // spec §match.1: the identifiers of the key's own window, `s … s + p − 1`.
    /// Finds the identifiers of one key's window in the log, given its RPIK and the intervals
    /// to derive, and evaluates their sightings; `None` when none was seen within tolerance.
    fn search(
        &self,
        pending: &Pending,
        rpik: &[u8; 16],
        blocks: &mut [Block; PADDED],
        hits: &mut Vec<(u32, RollingProximityIdentifier)>,
    ) -> Option<Evaluation> {
        let (first, last) = (pending.first, pending.last);
        let tolerance = self.config.tolerance_intervals;
        hits.clear();
        // Decrypting the logged identifiers costs one AES block each and no probe; generating
        // costs one block and one probe per needed interval.
        if (pending.logged as usize) < pending.len || !self.filters_cover {
            let logged = self.index.entries_between(
                first.saturating_sub(tolerance),
                last.saturating_add(tolerance),
            );
            decrypt_logged(rpik, (first, last, tolerance), logged, hits);
        } else {
            let padded = pending.padded(padded_len(pending.len, self.aes_width));
            generate_and_probe(self.index, rpik, (padded, pending.len), blocks, hits);
        }
        if hits.is_empty() {
            return None;
        }
        hits.sort_unstable();
        hits.dedup();
        let aemk = AssociatedEncryptedMetadataKey::from_bytes(
            self.schedule.prk(&pending.key).expand16(AEMK_INFO),
        );
        let evaluation = self.evaluate(hits, &aemk);
        evaluation.seen.then_some(evaluation)
    }

    /// Applies the rules to the sightings of each hit identifier (spec §match.2), and picks
    /// the v1 scans (spec §risk.3.1).
    pub(crate) fn evaluate(
        &self,
        hits: &[(u32, RollingProximityIdentifier)],
        aemk: &AssociatedEncryptedMetadataKey,
    ) -> Evaluation {
        let mut evaluation = Evaluation::default();
        for &(j, rpi) in hits {
            let Evaluation {
                seen,
                sightings,
                v1_scans,
                rejected,
            } = &mut evaluation;
            *seen |= apply_rules(
                &self.config,
                j,
                rpi,
                self.index.sightings_of(&rpi),
                aemk,
                rejected,
                |s| sightings.push(s),
                |s| v1_scans.push(s),
            );
        }
        evaluation.sightings.sort_unstable();
        evaluation.v1_scans.sort_unstable();
        #[cfg(test)]
        MATERIALISED.with(|m| m.set(m.get() + evaluation.sightings.len()));
        evaluation
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encounter::GaenSighting;

    /// Checks spec §match.4 and §sec.11: copies of a key are evaluated once even when a batch
    /// interleaves them with keys crafted to share their window and all but their last byte,
    /// so the copies cannot each hold the key's sightings.
    #[test]
    fn match_4_copies_are_evaluated_once_among_crafted_neighbours() {
        use crate::time::{RollingPeriod, RollingWindow};
        let start = 2_650_032;
        let window = RollingWindow::new(
            EnIntervalNumber::new(start),
            RollingPeriod::new(144).unwrap(),
        )
        .unwrap();
        let key = DiagnosisKey::new([7; 16], window);
        let rpik = key.rolling_proximity_identifier_key();
        let sightings: Vec<GaenSighting> = (0..20)
            .map(|k| GaenSighting {
                unix_seconds: u64::from(start + k) * 600 + 30,
                rpi: rpik.identifier(EnIntervalNumber::new(start + k)),
                aem: AssociatedEncryptedMetadata::default(),
                rssi: -60,
                previous_scan_unix_seconds: 0,
            })
            .collect();
        let index = LogIndex::new(sightings, 12);
        let matcher = Matcher::new(&index, MatchConfig::default());
        let mut batch = Vec::new();
        for n in 0..50u8 {
            let mut neighbour = [7; 16];
            neighbour[15] = 100 + n;
            batch.push(key);
            batch.push(DiagnosisKey::new(neighbour, window));
        }
        let found = matcher.find(&batch);
        assert_eq!(found.evaluations.len(), 1);
        assert!(
            (0..batch.len())
                .step_by(2)
                .all(|i| found.of_key[i] == Some(0))
        );
    }
    use crate::gaen::AssociatedEncryptedMetadata;
    use crate::time::{RollingPeriod, RollingWindow};
    use proptest::prelude::*;

    proptest! {
        /// The two ways of finding a key's identifiers find the same ones.
        #[test]
        /// Checks spec §match.1, §match.4.
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
                let seen = u64::try_from(i64::from(j) + shift).unwrap();
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
            let mut pending = Pending::new();
            pending.push_run(first, last - first + 1);
            let rpik_bytes = *rpik.expose_secret();
            let (mut blocks, mut hits) = ([Block::default(); PADDED], Vec::new());
            let n = pending.len;
            let padded = pending.padded(padded_len(n, matcher.aes_width));
            generate_and_probe(&index, &rpik_bytes, (padded, n), &mut blocks, &mut hits);
            let mut generated: Vec<_> = hits
                .iter()
                .copied()
                .filter(|(j, rpi)| index.sightings_of(rpi).iter().any(|s| (s.unix_seconds / 600).abs_diff(u64::from(*j)) <= 12))
                .collect();
            generated.sort_unstable();
            generated.dedup();
            let mut decrypted = Vec::new();
            let logged = index.entries_between(first.saturating_sub(12), last + 12);
            decrypt_logged(&rpik_bytes, (first, last, 12), logged, &mut decrypted);
            decrypted.sort_unstable();
            decrypted.dedup();
            prop_assert_eq!(generated, decrypted);
        }
    }
}
