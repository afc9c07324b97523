//! The production matcher (spec §match.4).

use alloc::vec::Vec;

use aes::cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use aes::{Aes128Dec, Aes128Enc};

use super::hkdf::KeySchedule;
use super::index::LogIndex;
use super::kernels::LANES;
use super::{MatchConfig, MatchOutcome, MatchedSighting, Rejections, apply_rules};
use crate::gaen::{
    AEMK_INFO, AssociatedEncryptedMetadataKey, DiagnosisKey, RPIK_INFO, RollingProximityIdentifier,
    padded_data,
};
use crate::time::{EnIntervalNumber, INTERVALS_PER_DAY};

/// Logged identifiers decrypted per AES call on the decrypting path.
const BATCH: usize = 64;
/// The most identifiers a key has: a window is at most one day.
const WINDOW: usize = INTERVALS_PER_DAY as usize;
/// Blocks a key's encryption may take once rounded up to the AES backend's width.
pub(crate) const PADDED: usize = 192;

/// The AES backend's parallel width, asked of the backend this CPU runs (64 blocks with
/// VAES-512, 30 with VAES-256, 8 with AES-NI or ARMv8, a few in software): a call encrypts
/// whole batches of it in parallel and the rest one block at a time.
pub(crate) fn aes_width() -> usize {
    use aes::cipher::typenum::Unsigned;
    use aes::cipher::{BlockCipherEncBackend, BlockCipherEncClosure, BlockSizeUser};
    struct Width<'w>(&'w mut usize);
    impl BlockSizeUser for Width<'_> {
        type BlockSize = aes::cipher::consts::U16;
    }
    impl BlockCipherEncClosure for Width<'_> {
        fn call<B: BlockCipherEncBackend<BlockSize = Self::BlockSize>>(self, _: &B) {
            *self.0 = B::ParBlocksSize::USIZE;
        }
    }
    let mut width = 1;
    Aes128Enc::new(&Array::default()).encrypt_with_backend(Width(&mut width));
    width.clamp(1, PADDED)
}

#[cfg(test)]
std::thread_local! {
    /// Accepted sightings every evaluation on this thread held (spec §sec.11's tests).
    pub(crate) static MATERIALISED: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

/// The most intervals [`Matcher::logged_between`] answers for at once: sixteen days.
pub(crate) const LOGGED_SPAN: usize = 16 * INTERVALS_PER_DAY as usize;

/// How many blocks to encrypt for `n` identifiers with a backend `width` wide: `n` rounded up
/// to whole batches when the remainder is more than a quarter of a batch, since one batch costs
/// about as much as a quarter of it one block at a time (spec §match.4, step 4).
pub(crate) const fn padded_len(n: usize, width: usize) -> usize {
    let rest = n % width;
    if rest * 4 > width {
        let up = n - rest + width;
        if up <= PADDED { up } else { n }
    } else {
        n
    }
}

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

/// One distinct (key bytes, window) of a batch, and where its copies are: the batch is sorted by
/// window start, then period and key, so that each day's keys come together (its filter stays
/// in cache) and copies of one key with one window sit side by side.
pub(crate) type Slot = (u32, [u8; 16], u32, u32);

/// The order of [`sorted_slots`] as integers, cheaper to compare than the tuple: start and
/// period, the whole key, the index. Every copy of a (key bytes, window) sorts next to the
/// others, so it is evaluated once however many copies a batch holds, whatever other keys
/// it holds.
fn slot_order(&(start, key, period, at): &Slot) -> (u64, u128, u32) {
    (
        (u64::from(start) << 32) | u64::from(period),
        u128::from_be_bytes(key),
        at,
    )
}

/// The slot of a key at its index.
fn slot_of((at, key): (usize, &DiagnosisKey)) -> Slot {
    (
        key.window.start().get(),
        key.key_data,
        key.window.period().get(),
        at as u32,
    )
}

pub(crate) fn sorted_slots(keys: &[DiagnosisKey]) -> Vec<Slot> {
    let mut slots: Vec<Slot> = keys.iter().enumerate().map(slot_of).collect();
    slots.sort_unstable_by_key(slot_order);
    slots
}

/// The identifiers of one (key bytes, window) the log holds, and what the rules of §match.2 made
/// of their sightings.
#[derive(Debug, Default)]
pub(crate) struct Evaluation {
    /// Some identifier of the window has a sighting within tolerance: the key was *seen*, and
    /// a copy of an already matched key may change its report type (§match.6).
    pub(crate) seen: bool,
    /// The accepted sightings, in time order.
    pub(crate) sightings: Vec<MatchedSighting>,
    /// One per scan and identifier, for v1 (§risk.3.1), in time order.
    pub(crate) v1_scans: Vec<MatchedSighting>,
    /// Sightings the rules turned away (only the sighting counters are set).
    pub(crate) rejected: Rejections,
}

/// What a batch of keys found: for each key of the batch, in its order, the index of its
/// evaluation, if it was seen.
#[derive(Debug)]
pub(crate) struct Found {
    pub(crate) of_key: Vec<Option<u32>>,
    pub(crate) evaluations: Vec<Evaluation>,
}

impl Found {
    fn new(len: usize) -> Self {
        Self {
            of_key: alloc::vec![None; len],
            evaluations: Vec::new(),
        }
    }

    /// Evaluations of `slots` found by one share, joined to these: each is given to every key
    /// of its group (the slots with its key bytes and window).
    fn absorb(&mut self, share: Vec<(u32, Evaluation)>, slots: &[Slot]) {
        for (first, evaluation) in share {
            let Ok(at) = u32::try_from(self.evaluations.len()) else {
                return;
            };
            self.evaluations.push(evaluation);
            let group = slots.get(first as usize..).unwrap_or_default();
            let Some(&(start, key, period, _)) = group.first() else {
                continue;
            };
            for slot in group
                .iter()
                .take_while(|s| (s.0, s.1, s.2) == (start, key, period))
            {
                if let Some(entry) = self.of_key.get_mut(slot.3 as usize) {
                    *entry = Some(at);
                }
            }
        }
    }

    /// The evaluation of the key at `index` of the batch.
    pub(crate) fn of_mut(&mut self, index: usize) -> Option<&mut Evaluation> {
        let at = (*self.of_key.get(index)?)?;
        self.evaluations.get_mut(at as usize)
    }
}

/// What the matcher keeps of a UTC day of the log.
#[derive(Clone, Copy, Debug)]
struct NearDay {
    day: u32,
    /// Bit `k`: interval `144·day + k` has an occupied interval within the tolerance.
    bits: [u64; 3],
    /// The distinct (interval, identifier) pairs logged in the day.
    entries: u32,
}

/// Tolerances up to this many intervals (a day) use [`near_days`]; larger ones derive every
/// interval of a window, so that no table grows with the tolerance.
const NEAR_TOLERANCE: u32 = INTERVALS_PER_DAY;

/// The days of the log and the days next to them, with the intervals `j` that have an
/// occupied interval in `[j − T, j + T]`, and each day's logged pairs (`T` at most
/// [`NEAR_TOLERANCE`]). Runs of occupied intervals are marked in ascending order, so days are
/// only appended, and a run adds at most its own days and one on each side: the table is
/// bounded by the log's size.
fn near_days(index: &LogIndex, tolerance: u32) -> Vec<NearDay> {
    let mut near: Vec<NearDay> = Vec::new();
    let mut mark = |from: u32, to: u32| {
        for j in from..=to {
            let (day, bit) = (j / INTERVALS_PER_DAY, j % INTERVALS_PER_DAY);
            if near.last().is_none_or(|d| d.day != day) {
                near.push(NearDay {
                    day,
                    bits: [0; 3],
                    entries: 0,
                });
            }
            if let Some(word) = near
                .last_mut()
                .and_then(|d| d.bits.get_mut((bit / 64) as usize))
            {
                *word |= 1 << (bit % 64);
            }
        }
    };
    // Runs of intervals near one another are marked once: [from, to] grows while they overlap.
    let mut run: Option<(u32, u32)> = None;
    for &interval in index.occupied_intervals() {
        let (from, to) = (
            interval.saturating_sub(tolerance),
            interval.saturating_add(tolerance),
        );
        run = match run {
            Some((start, end)) if from <= end.saturating_add(1) => Some((start, end.max(to))),
            Some((start, end)) => {
                mark(start, end);
                Some((from, to))
            }
            None => Some((from, to)),
        };
    }
    if let Some((start, end)) = run {
        mark(start, end);
    }
    // Every day with entries has an occupied interval, so it is in the table already.
    for day in index
        .entries_between(0, u32::MAX)
        .chunk_by(|a, b| a.0 / INTERVALS_PER_DAY == b.0 / INTERVALS_PER_DAY)
    {
        if let Some(&(interval, _)) = day.first()
            && let Ok(at) = near.binary_search_by_key(&(interval / INTERVALS_PER_DAY), |d| d.day)
            && let Some(d) = near.get_mut(at)
        {
            d.entries = u32::try_from(day.len()).unwrap_or(u32::MAX);
        }
    }
    near
}

/// The bits `from..=to` (within 0..144) of a day's three words.
fn bits_between(bits: [u64; 3], from: u32, to: u32) -> [u64; 3] {
    let mut w = 0u32;
    bits.map(|word| {
        let low = 64 * w;
        w += 1;
        let below = from.saturating_sub(low);
        let above = (low + 63).saturating_sub(to);
        if below > 63 || above > 63 {
            0
        } else {
            word & (!0u64 << below) & (!0u64 >> above)
        }
    })
}

/// A key waiting for its RPIK: its slot, bytes and window, the pairs logged in the days its
/// tolerance window touches, and the padded data of the intervals to derive, ascending.
struct Pending {
    at: usize,
    key: [u8; 16],
    first: u32,
    last: u32,
    logged: u32,
    /// The padded data of `plain[..len]` are what AES encrypts; their prefix is written once,
    /// and each key writes only its interval numbers (spec §match.1). Blocks past `len` round a
    /// call up to the backend's width; their identifiers are not probed.
    plain: [Block; PADDED],
    len: usize,
}

impl Pending {
    fn new() -> Self {
        Self {
            at: 0,
            key: [0; 16],
            first: 0,
            last: 0,
            logged: 0,
            plain: [Array::from(padded_data(EnIntervalNumber::new(0))); PADDED],
            len: 0,
        }
    }

    /// Appends the `count` intervals from `j` (a run of set bits, taken at once).
    #[inline]
    fn push_run(&mut self, j: u32, count: u32) {
        let end = (self.len + count as usize).min(WINDOW);
        for (block, j) in self
            .plain
            .get_mut(self.len..end)
            .unwrap_or_default()
            .iter_mut()
            .zip(j..)
        {
            if let Some(number) = block.get_mut(12..) {
                number.copy_from_slice(&j.to_le_bytes());
            }
        }
        self.len = end;
    }

    /// The blocks to encrypt: the intervals to derive, then filler up to `len` blocks.
    fn padded(&self, len: usize) -> &[Block] {
        self.plain.get(..len.max(self.len)).unwrap_or_default()
    }
}

/// The interval number of a padded-data block.
#[inline]
fn interval_in(block: &Block) -> u32 {
    let [.., n0, n1, n2, n3] = block.0;
    u32::from_le_bytes([n0, n1, n2, n3])
}

type Block = Array<u8, aes::cipher::consts::U16>;

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
        let mut previous: Option<(u32, [u8; 16], u32)> = None;
        let mut waiting = 0;
        for (at, slot) in slots.iter().enumerate().take(to).skip(from) {
            let group = (slot.0, slot.1, slot.2);
            if previous == Some(group) {
                continue;
            }
            previous = Some(group);
            // The slot holds everything the evaluation needs, so the keys are read in the
            // slots' (sorted) order, not at random.
            let last = slot.0.saturating_add(slot.2.saturating_sub(1));
            let Some(pending) = scratch.pending.get_mut(waiting) else {
                continue;
            };
            (pending.first, pending.last) = (slot.0, last);
            self.needed(pending);
            if pending.len == 0 {
                continue;
            }
            (pending.at, pending.key) = (at, slot.1);
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

    /// The intervals of the pending key's window whose identifier could have a valid sighting
    /// (spec §match.4, steps 1 and 2), written into its padded data in ascending order (a
    /// window spans at most two days); and the pairs logged in the days that
    /// `[first − T, last + T]` touches.
    fn needed(&self, pending: &mut Pending) {
        let (first, last) = (pending.first, pending.last);
        let tolerance = self.config.tolerance_intervals;
        pending.len = 0;
        let Some(days) = &self.near else {
            // A tolerance above a day: every interval of the window, and the exact count.
            pending.push_run(first, last - first + 1);
            let logged = self.index.entries_between(
                first.saturating_sub(tolerance),
                last.saturating_add(tolerance),
            );
            pending.logged = u32::try_from(logged.len()).unwrap_or(u32::MAX);
            return;
        };
        let (from_day, to_day) = (
            first.saturating_sub(tolerance) / INTERVALS_PER_DAY,
            last.saturating_add(tolerance) / INTERVALS_PER_DAY,
        );
        let mut logged = 0u32;
        let start = days.partition_point(|d| d.day < from_day);
        for near in days.get(start..).unwrap_or_default() {
            if near.day > to_day {
                break;
            }
            logged = logged.saturating_add(near.entries);
            let base = near.day.saturating_mul(INTERVALS_PER_DAY);
            if base > last || base.saturating_add(INTERVALS_PER_DAY) <= first {
                continue;
            }
            // The window's bits of the day, taken a run of set bits at a time: on a busy day
            // most words are one or two runs.
            let window = bits_between(near.bits, first.saturating_sub(base), last - base);
            for (low, mut word) in (0u32..).step_by(64).zip(window) {
                while word != 0 {
                    let start = word.trailing_zeros();
                    let run = (word >> start).trailing_ones();
                    pending.push_run(base + low + start, run);
                    word &= !(((1u128 << run) - 1) << start) as u64;
                }
            }
        }
        pending.logged = logged;
    }

    /// [`Self::find`] on the threads of `pool`: the sorted batch is cut into shares, only
    /// between different (key bytes, window), which threads evaluate independently.
    #[cfg(feature = "parallel")]
    pub(crate) fn find_parallel(&self, keys: &[DiagnosisKey], pool: &rayon::ThreadPool) -> Found {
        use rayon::prelude::*;
        // Sorting on one thread was a fifth of a two-thread run, so it runs on the pool too.
        let slots: Vec<Slot> = pool.install(|| {
            let mut slots: Vec<Slot> = keys.par_iter().enumerate().map(slot_of).collect();
            slots.par_sort_unstable_by_key(slot_order);
            slots
        });
        let target = slots
            .len()
            .div_ceil(pool.current_num_threads().max(1) * 8)
            .max(1);
        let same = |a: Option<&Slot>, b: Option<&Slot>| match (a, b) {
            (Some(a), Some(b)) => (a.0, a.1, a.2) == (b.0, b.1, b.2),
            _ => false,
        };
        let mut shares: Vec<(usize, usize)> = Vec::new();
        let mut from = 0;
        while from < slots.len() {
            let mut to = (from + target).min(slots.len());
            while to < slots.len() && same(slots.get(to), slots.get(to - 1)) {
                to += 1;
            }
            shares.push((from, to));
            from = to;
        }
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

    /// Evaluates every distinct (key bytes, window) of `table` (spec §match.7): each identifier
    /// of the log is looked up in the table, and the keys it belongs to are evaluated as
    /// [`Self::find`] evaluates them, with the same rules on the same hits.
    pub(crate) fn find_in_table(&self, table: &super::table::KeyTable) -> Found {
        let mut hits: Vec<(u32, u32, RollingProximityIdentifier)> = Vec::new();
        for rpi in self.index.logged_identifiers() {
            hits.extend(table.lookup(*rpi).map(|(group, j)| (group, j, *rpi)));
        }
        hits.sort_unstable();
        hits.dedup();
        let mut share = Vec::new();
        let mut per_key: Vec<(u32, RollingProximityIdentifier)> = Vec::new();
        for run in hits.chunk_by(|a, b| a.0 == b.0) {
            let Some(group) = run.first().and_then(|h| table.groups.get(h.0 as usize)) else {
                continue;
            };
            per_key.clear();
            per_key.extend(run.iter().map(|&(_, j, rpi)| (j, rpi)));
            let evaluation = self.evaluate(&per_key, &group.aemk);
            if evaluation.seen {
                share.push((group.first_slot, evaluation));
            }
        }
        let mut found = Found::new(table.keys.len());
        found.absorb(share, &table.slots);
        found
    }

    /// The index it matches against.
    #[cfg(feature = "export")]
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
        let mut blocks = [Array::<u8, aes::cipher::consts::U16>::default(); BATCH];
        let intervals: Vec<u32> = (from..to).take(LOGGED_SPAN).collect();
        let mut logged = Vec::with_capacity(intervals.len());
        for chunk in intervals.chunks(BATCH) {
            let blocks = blocks.get_mut(..chunk.len()).unwrap_or_default();
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
            self.decrypt_logged(rpik, first, last, logged, hits);
        } else {
            let padded = pending.padded(padded_len(pending.len, self.aes_width));
            self.generate_and_probe(rpik, (padded, pending.len), blocks, hits);
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

    /// Encrypts the needed intervals' padded data in one call, rounded up to whole batches of
    /// the AES backend's parallel width when that is cheaper, and probes each identifier in the filter of its day; confirmed
    /// identifiers go to `scratch.hits`.
    fn generate_and_probe(
        &self,
        rpik: &[u8; 16],
        (padded, n): (&[Block], usize),
        blocks: &mut [Block; PADDED],
        hits: &mut Vec<(u32, RollingProximityIdentifier)>,
    ) {
        let cipher = Aes128Enc::new(&Array::from(*rpik));
        let Some(all) = blocks.get_mut(..padded.len()) else {
            return;
        };
        if cipher.encrypt_blocks_b2b(padded, all).is_err() {
            return;
        }
        // Only the first `n` are identifiers to look for; the rest filled the last batch.
        let (Some(plain), Some(blocks)) = (padded.get(..n), blocks.get(..n)) else {
            return;
        };
        // A key's intervals fall in at most two UTC days: one run per day, one filter each.
        let Some(day) = plain.first().map(|b| interval_in(b) / INTERVALS_PER_DAY) else {
            return;
        };
        let split = plain.partition_point(|b| interval_in(b) / INTERVALS_PER_DAY == day);
        for (day, from, to) in [(day, 0, split), (day.saturating_add(1), split, plain.len())] {
            let (Some(blocks), Some(plain)) = (blocks.get(from..to), plain.get(from..to)) else {
                continue;
            };
            if blocks.is_empty() {
                continue;
            }
            let Some(filter) = self.index.day_filter(day) else {
                continue;
            };
            for (block, padded) in blocks.iter().zip(plain) {
                if filter.may_contain(&block.0) {
                    let rpi = RollingProximityIdentifier::from_bytes(block.0);
                    if !self.index.sightings_of(&rpi).is_empty() {
                        hits.push((interval_in(padded), rpi));
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

    /// Applies the rules to the sightings of each hit identifier (spec §match.2), and picks
    /// the v1 scans (spec §risk.3.1).
    fn evaluate(
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

    /// Checks spec §match.4: a call is rounded up to whole batches of the backend's width when
    /// more than a quarter of a batch would go one block at a time, never past the buffer.
    #[test]
    fn match_4_blocks_are_rounded_up_to_whole_batches() {
        assert_eq!(padded_len(120, 64), 128);
        assert_eq!(padded_len(144, 64), 144);
        assert_eq!(padded_len(80, 64), 80);
        assert_eq!(padded_len(81, 64), 128);
        assert_eq!(padded_len(190, 64), 192);
        assert_eq!(padded_len(144, 30), 150);
        assert_eq!(padded_len(11, 8), 16);
        assert_eq!(padded_len(10, 8), 10);
        assert_eq!(padded_len(0, 8), 0);
        assert!((1..=WINDOW).all(|n| (n..=PADDED).contains(&padded_len(n, aes_width()))));
    }

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
            let mut pending = Pending::new();
            pending.push_run(first, last - first + 1);
            let rpik_bytes = *rpik.expose_secret();
            let (mut blocks, mut hits) = ([Block::default(); PADDED], Vec::new());
            let n = pending.len;
            let padded = pending.padded(padded_len(n, matcher.aes_width));
            matcher.generate_and_probe(&rpik_bytes, (padded, n), &mut blocks, &mut hits);
            let mut generated: Vec<_> = hits
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
