//! One matching run over keys in publication order (spec §match.2.6, §match.6).
//!
//! Google's engine knows a key by its 16 bytes (`ExposureMatchingTracer`,
//! `ExposureResultStorage`): the first copy that matches is stored, and every later copy that
//! is seen in the log only asks whether its report type is a valid change of the stored one. A
//! run does the same over any number of batches: each batch is evaluated in parallel (its
//! distinct (key bytes, window) once each), then its keys are applied one by one, in their
//! order, to the results so far. Memory holds one batch and the matched keys, whatever the
//! number of keys.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::engine::Evaluation;
use super::{KeyMatch, MatchOutcome, Matcher, Rejections, apply_copy};
use crate::gaen::DiagnosisKey;
use crate::time::INTERVALS_PER_DAY;

/// Keys from any number of batches and files matched as one run, in the order they are added.
///
/// ```
/// # use bluezone::matching::{LogIndex, MatchConfig, MatchRun, Matcher};
/// let index = LogIndex::new(Vec::new(), 12);
/// let matcher = Matcher::new(&index, MatchConfig::default());
/// let mut run = MatchRun::new(&matcher);
/// run.add(&[]);
/// assert_eq!(run.finish().keys_matched, 0);
/// ```
pub struct MatchRun<'m, 'a> {
    matcher: &'m Matcher<'a>,
    #[cfg(feature = "parallel")]
    pool: Option<rayon::ThreadPool>,
    state: Checkpoint,
    stored: StoredFilter,
    logged: LoggedCache,
}

/// Which intervals of one key's bytes have their identifier in the log, over a span: copies of
/// one stored key under many windows ask the prefilter once, not once each (spec §sec.11).
#[derive(Clone, Debug, Default)]
struct LoggedCache {
    key: Option<[u8; 16]>,
    from: u32,
    logged: Vec<bool>,
}

impl LoggedCache {
    /// Whether an identifier of `key` from its rolling start on (144 of them) is logged.
    fn logged_anywhere(&mut self, matcher: &Matcher<'_>, key: &DiagnosisKey) -> bool {
        let start = key.window.start().get();
        let end = start.saturating_add(144);
        let same = self.key == Some(key.key_data);
        // At most LOGGED_SPAN intervals are answered at once.
        let to = self
            .from
            .saturating_add(u32::try_from(self.logged.len()).unwrap_or(u32::MAX));
        if !(same && self.from <= start && end <= to) {
            // Grow the span to cover both when it stays within bounds, else start afresh.
            let (from, until) = if same {
                (self.from.min(start), to.max(end))
            } else {
                (start, end)
            };
            let (from, until) = if (until - from) as usize <= super::engine::LOGGED_SPAN {
                (from, until)
            } else {
                (start, end)
            };
            self.key = Some(key.key_data);
            self.from = from;
            self.logged = matcher.logged_between(&key.key_data, from, until);
        }
        let at = (start - self.from) as usize;
        self.logged
            .iter()
            .skip(at)
            .take(INTERVALS_PER_DAY as usize)
            .any(|&l| l)
    }
}

/// A superset of the stored keys' bytes, so that the keys of a batch (nearly all never
/// stored) skip the lookup in the map of results: rebuilt whenever the results are replaced
/// ([`MatchRun::restore`]) and told of every key stored, so it always covers them. Keys are looked up by 12 bits of their
/// bytes; keys crafted to share them only cost the lookup every key cost before.
#[derive(Clone, Debug)]
struct StoredFilter([u64; 64]);

impl StoredFilter {
    const fn bit(key: &[u8; 16]) -> (usize, u64) {
        let bits = u16::from_le_bytes([key[0], key[1]]) & 0x0FFF;
        ((bits >> 6) as usize, 1 << (bits & 63))
    }

    fn rebuild(&mut self, results: &BTreeMap<[u8; 16], KeyMatch>) {
        self.0 = [0; 64];
        for key in results.keys() {
            self.insert(key);
        }
    }

    fn insert(&mut self, key: &[u8; 16]) {
        let (word, bit) = Self::bit(key);
        if let Some(word) = self.0.get_mut(word) {
            *word |= bit;
        }
    }

    fn may_hold(&self, key: &[u8; 16]) -> bool {
        let (word, bit) = Self::bit(key);
        self.0.get(word).is_none_or(|word| word & bit != 0)
    }
}

impl core::fmt::Debug for MatchRun<'_, '_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MatchRun")
            .field("keys_total", &self.state.keys_total)
            .field("keys_matched", &self.state.results.len())
            .finish_non_exhaustive()
    }
}

/// Everything a run holds: the matched keys and the counts. A copy of it is a checkpoint, to
/// undo a file (see [`MatchRun::checkpoint`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checkpoint {
    pub(crate) results: BTreeMap<[u8; 16], KeyMatch>,
    pub(crate) keys_total: u64,
    pub(crate) transitions: u64,
    pub(crate) rejected: Rejections,
}

/// What applying one key did, for the match state (spec §state.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Applied {
    /// A copy of a stored key: it changed the stored report type, or was counted.
    Copy,
    /// Not matched because of its report type; `copy` when its bytes were stored (it was not
    /// logged, or it would have been a copy).
    Gated { copy: bool },
    /// Matched and stored; `counted` is what it added to the counters that depend on the log
    /// ([`super::Rejections::evaluation_counts`]).
    Stored { counted: [u64; 4] },
    /// Evaluated and not stored; `seen` when some identifier had a sighting within tolerance;
    /// `counted` as for `Stored`; `copy` when its bytes were stored (not logged, so not a
    /// copy, yet).
    NotStored {
        seen: bool,
        counted: [u64; 4],
        copy: bool,
    },
}

impl Checkpoint {
    /// The outcome of a run that stopped here.
    #[must_use]
    pub fn outcome(&self) -> MatchOutcome {
        self.clone().into_outcome()
    }

    fn into_outcome(self) -> MatchOutcome {
        MatchOutcome {
            keys_total: self.keys_total,
            keys_matched: self.results.len() as u64,
            matches: self.results.into_values().collect(),
            report_type_transitions: self.transitions,
            rejected: self.rejected,
        }
    }
}

impl<'m, 'a> MatchRun<'m, 'a> {
    /// A run on the calling thread.
    #[must_use]
    pub fn new(matcher: &'m Matcher<'a>) -> Self {
        Self {
            matcher,
            #[cfg(feature = "parallel")]
            pool: None,
            state: Checkpoint::default(),
            stored: StoredFilter([0; 64]),
            logged: LoggedCache::default(),
        }
    }

    /// A run that evaluates each batch on `threads` threads (1 or more; 0 is taken as 1).
    ///
    /// # Errors
    /// The thread pool could not be built.
    #[cfg(feature = "parallel")]
    pub fn with_threads(
        matcher: &'m Matcher<'a>,
        threads: usize,
    ) -> Result<Self, rayon::ThreadPoolBuildError> {
        let mut run = Self::new(matcher);
        if threads > 1 {
            run.pool = Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()?,
            );
        }
        Ok(run)
    }

    /// Matches a batch of keys that follow every key added before, in publication order. A
    /// batch of any size is taken in pieces of at most [`Self::PIECE`] keys, in order, which
    /// gives the same outcome and bounds the working memory.
    pub fn add(&mut self, keys: &[DiagnosisKey]) {
        self.add_filtered(keys, |_| false, |_, _| {});
    }

    /// [`Self::add`] for the keys of a [`KeyTable`](super::KeyTable) (spec §match.7): the same
    /// outcome, with each identifier of the log looked up in the table instead of the table's
    /// keys being derived again for this log. Match many logs against one table.
    pub fn add_table(&mut self, table: &super::KeyTable) {
        let found = table.find(self.matcher);
        self.apply_all(table.keys(), found);
    }

    /// Applies every key of a batch, in order, with what `found` evaluated for it.
    fn apply_all(&mut self, keys: &[DiagnosisKey], mut found: super::engine::Found) {
        for (i, key) in keys.iter().enumerate() {
            self.apply(key, found.of_mut(i));
        }
    }

    /// [`Self::add`] for the match state: a key for which `known(i)` holds (the state knows
    /// it was evaluated against this log and not seen) is applied without being evaluated
    /// again; `record(i, what)` hears what became of every key `i` of `keys`.
    pub(crate) fn add_filtered(
        &mut self,
        keys: &[DiagnosisKey],
        known: impl Fn(usize) -> bool,
        mut record: impl FnMut(usize, Applied),
    ) {
        for (offset, piece) in (0..).step_by(Self::PIECE).zip(keys.chunks(Self::PIECE)) {
            let known = |i: usize| known(offset + i);
            let plan = self.plan(piece, known);
            let found = match &plan {
                None => self.find(piece),
                Some(batch) => self.find(&batch_keys(piece, batch)),
            };
            self.apply_piece(piece, found, plan.as_deref(), known, |i, what| {
                record(offset + i, what);
            });
        }
    }

    /// Which keys of a piece are evaluated together (spec §match.6, §sec.11): every key but
    /// those `known`, those whose bytes are stored already (they can only be copies), and
    /// those whose bytes came earlier in the piece under another window (evaluated one by one
    /// at their turn, and only while no copy of them is stored). `None`: every key.
    ///
    /// A file that repeats one key under many windows thus costs the evaluation of the first
    /// window that matches, not one evaluation, with its sightings, per window.
    fn plan(&self, piece: &[DiagnosisKey], known: impl Fn(usize) -> bool) -> Option<Vec<bool>> {
        let mut batch: Option<Vec<bool>> = None;
        let mut leave_out = |i: usize| {
            if let Some(slot) = batch
                .get_or_insert_with(|| alloc::vec![true; piece.len()])
                .get_mut(i)
            {
                *slot = false;
            }
        };
        // Keys whose bytes may come twice: a 2^20-bit filter on their first bytes finds them in
        // one pass; only those are grouped exactly (about 2 000 of a piece of 64 Ki random
        // keys; crafted bytes make more, and cost at most the sort of the whole piece).
        const BITS: usize = 1 << 20;
        let locate = |key: &DiagnosisKey| {
            let [a, b, c, d, ..] = key.key_data;
            let at = (u32::from_le_bytes([a, b, c, d]) as usize) % BITS;
            (at / 64, 1u64 << (at % 64))
        };
        let (mut once, mut twice) = (alloc::vec![0u64; BITS / 64], alloc::vec![0u64; BITS / 64]);
        for (i, key) in piece.iter().enumerate() {
            if known(i) {
                leave_out(i);
                continue;
            }
            if self.is_stored(&key.key_data) {
                // Stored already: it can only be a copy.
                leave_out(i);
                continue;
            }
            let (word, bit) = locate(key);
            if let (Some(once), Some(twice)) = (once.get_mut(word), twice.get_mut(word)) {
                if *once & bit != 0 {
                    *twice |= bit;
                }
                *once |= bit;
            }
        }
        let mut order: Vec<(u128, u32)> = piece
            .iter()
            .zip(0u32..)
            .filter(|&(key, i)| {
                let (word, bit) = locate(key);
                !known(i as usize) && twice.get(word).is_some_and(|w| w & bit != 0)
            })
            .map(|(key, i)| (u128::from_be_bytes(key.key_data), i))
            .collect();
        order.sort_unstable();
        for group in order.chunk_by(|a, b| a.0 == b.0) {
            let Some(&(_, first)) = group.first() else {
                continue;
            };
            let window = piece.get(first as usize).map(|k| k.window);
            for &(_, i) in group {
                if piece.get(i as usize).map(|k| k.window) != window {
                    leave_out(i as usize);
                }
            }
        }
        batch
    }

    /// Applies a piece's keys in order: those of the batch with what `found` evaluated for
    /// them, the others as [`Self::plan`] says.
    fn apply_piece(
        &mut self,
        piece: &[DiagnosisKey],
        mut found: super::engine::Found,
        batch: Option<&[bool]>,
        known: impl Fn(usize) -> bool,
        mut record: impl FnMut(usize, Applied),
    ) {
        type Window = (u128, u32, u32);
        let mut evaluated_alone: BTreeMap<Window, Option<Evaluation>> = BTreeMap::new();
        let mut next = 0;
        for (i, key) in piece.iter().enumerate() {
            if known(i) {
                let what = self.apply(key, None);
                record(i, what);
                continue;
            }
            let in_batch = batch.is_none_or(|b| b.get(i).copied().unwrap_or(false));
            let what = if in_batch {
                let what = self.apply(key, found.of_mut(next));
                next += 1;
                what
            } else if self.is_stored(&key.key_data) {
                // A copy: what it does depends only on whether it is logged (§match.6).
                self.apply(key, None)
            } else {
                let window = (
                    u128::from_be_bytes(key.key_data),
                    key.window.start().get(),
                    key.window.period().get(),
                );
                let evaluation = evaluated_alone.entry(window).or_insert_with(|| {
                    let mut alone = self.find(core::slice::from_ref(key));
                    alone.of_mut(0).map(core::mem::take)
                });
                let what = self.apply(key, evaluation.as_mut());
                if matches!(what, Applied::Stored { .. }) {
                    evaluated_alone.remove(&window);
                }
                what
            };
            record(i, what);
        }
    }

    /// Evaluates `keys` again and gives each that is stored with the same window the sightings
    /// the log holds now (the match state's re-check of an unfinished result, §state.2),
    /// replacing what its last evaluation (`counted`) added to the sighting counters by what
    /// this one adds. The report type and its changes stay. Returns each key's contribution
    /// now (the old one where nothing was replaced).
    #[cfg(feature = "export")]
    pub(crate) fn refresh(&mut self, keys: &[(DiagnosisKey, [u64; 4])]) -> Vec<[u64; 4]> {
        let mut contributions = Vec::with_capacity(keys.len());
        for piece in keys.chunks(Self::PIECE) {
            let plain: Vec<DiagnosisKey> = piece.iter().map(|(key, _)| *key).collect();
            let mut found = self.find(&plain);
            for (index, &(key, counted)) in piece.iter().enumerate() {
                let evaluation = found.of_mut(index).filter(|e| e.seen);
                let stored = self.state.results.get_mut(&key.key_data);
                let (Some(evaluation), Some(stored)) = (evaluation, stored) else {
                    contributions.push(counted);
                    continue;
                };
                if stored.key.window == key.window && !evaluation.v1_scans.is_empty() {
                    stored.sightings = core::mem::take(&mut evaluation.sightings);
                    stored.v1_scans = core::mem::take(&mut evaluation.v1_scans);
                    let now = evaluation.rejected.evaluation_counts();
                    self.state.rejected.replace_counts(counted, now);
                    contributions.push(now);
                } else {
                    contributions.push(counted);
                }
            }
        }
        contributions
    }

    /// [`Self::add`] for a batch of at most [`Self::PIECE`] keys while `meanwhile` runs on the
    /// calling thread (spec §match.5): with threads, the batch is evaluated on the pool as
    /// `meanwhile` reads the next one, and its keys are applied, in order, when both are done.
    /// Without threads, or for a bigger batch, the batch is added first. The outcome is
    /// [`Self::add`]'s.
    #[cfg(feature = "std")]
    pub(crate) fn add_while<R>(
        &mut self,
        keys: &[DiagnosisKey],
        meanwhile: impl FnOnce() -> R,
    ) -> R {
        #[cfg(feature = "parallel")]
        if let Some(pool) = &self.pool
            && keys.len() <= Self::PIECE
        {
            let matcher = self.matcher;
            let plan = self.plan(keys, |_| false);
            let batch = plan.as_ref().map(|plan| batch_keys(keys, plan));
            let mut found = None;
            let result = pool.in_place_scope(|scope| {
                scope.spawn(|_| {
                    found = Some(matcher.find_parallel(batch.as_deref().unwrap_or(keys), pool));
                });
                meanwhile()
            });
            if let Some(found) = found {
                self.apply_piece(keys, found, plan.as_deref(), |_| false, |_, _| {});
            }
            return result;
        }
        self.add(keys);
        meanwhile()
    }

    fn find(&self, keys: &[DiagnosisKey]) -> super::engine::Found {
        #[cfg(feature = "parallel")]
        if let Some(pool) = &self.pool {
            return self.matcher.find_parallel(keys, pool);
        }
        self.matcher.find(keys)
    }

    /// The matcher of the run.
    #[cfg(feature = "export")]
    pub(crate) const fn matcher(&self) -> &'m Matcher<'a> {
        self.matcher
    }

    /// The run's state, for the match state to read.
    #[cfg(feature = "export")]
    pub(crate) const fn state(&self) -> &Checkpoint {
        &self.state
    }

    /// The run's state, for the match state to age out.
    #[cfg(feature = "export")]
    /// The run's counts of keys and rejections, for the match state's re-check, which puts
    /// back what keys applied again had counted already; the results are not lent, so that the
    /// stored-key filter always covers them.
    pub(crate) const fn counts_mut(&mut self) -> (&mut u64, &mut Rejections) {
        (&mut self.state.keys_total, &mut self.state.rejected)
    }

    /// Whether a key with these bytes is stored: the filter first, then the results.
    pub(crate) fn is_stored(&self, key_data: &[u8; 16]) -> bool {
        self.stored.may_hold(key_data) && self.state.results.contains_key(key_data)
    }

    /// The most keys evaluated together (1 Mi: 40 MB of sorted slots).
    pub const PIECE: usize = 1 << 20;

    /// Counts a key of a file that the protocol does not allow (spec §export.3); returns
    /// whether `error` was such a key rather than structural damage.
    pub fn reject(&mut self, error: &crate::export::ExportError) -> bool {
        self.state.rejected.invalid_keys.count(error)
    }

    /// The run's rejection counts, for readers that count invalid keys themselves.
    #[cfg(feature = "std")]
    pub(crate) const fn rejected_mut(&mut self) -> &mut Rejections {
        &mut self.state.rejected
    }

    /// What the run holds now; [`Self::restore`] goes back to it (to drop a file that turns
    /// out not to be authentic once its last byte is read).
    #[must_use]
    pub fn checkpoint(&self) -> Checkpoint {
        self.state.clone()
    }

    /// Goes back to `checkpoint`.
    pub fn restore(&mut self, checkpoint: Checkpoint) {
        self.state = checkpoint;
        self.stored.rebuild(&self.state.results);
    }

    /// Ends the run and keeps what it holds, without a copy: a later run over the same
    /// matcher that [`Self::restore`]s it goes on as if it were this one (a caller that cannot
    /// keep the run alive between batches, such as a C handle, keeps this instead).
    #[must_use]
    pub fn into_checkpoint(self) -> Checkpoint {
        self.state
    }

    /// The outcome so far.
    #[must_use]
    pub fn outcome(&self) -> MatchOutcome {
        self.state.clone().into_outcome()
    }

    /// The outcome of the run.
    #[must_use]
    pub fn finish(self) -> MatchOutcome {
        self.state.into_outcome()
    }

    /// Google's loop for one key: a copy of a stored key that its prefilter would pass may
    /// only change the stored report type; another key is matched when its report type
    /// allows.
    fn apply(&mut self, key: &DiagnosisKey, evaluation: Option<&mut Evaluation>) -> Applied {
        let config = self.matcher.config();
        let copy = self.is_stored(&key.key_data);
        let logged = copy && self.logged.logged_anywhere(self.matcher, key);
        let state = &mut self.state;
        state.keys_total += 1;
        if let Some(stored) = logged
            .then(|| state.results.get_mut(&key.key_data))
            .flatten()
        {
            if apply_copy(
                config,
                &mut stored.key.report_type,
                &mut stored.report_type_transitions,
                key.report_type,
                &mut state.rejected,
            ) {
                state.transitions += 1;
            }
            return Applied::Copy;
        }
        if !config.matches_report_type(key.report_type) {
            state.rejected.report_type_keys += 1;
            return Applied::Gated { copy };
        }
        let Some(evaluation) = evaluation.filter(|e| e.seen) else {
            return Applied::NotStored {
                seen: false,
                counted: [0; 4],
                copy,
            };
        };
        state.rejected.add_sightings(&evaluation.rejected);
        let counted = evaluation.rejected.evaluation_counts();
        // Google's tracer stores a result only when the per-scan sightings it scores v1 with
        // are not empty (`findExposures` returns null otherwise).
        if evaluation.v1_scans.is_empty() {
            return Applied::NotStored {
                seen: true,
                counted,
                copy,
            };
        }
        // Stored once: every later key of this (key bytes, window) is a copy, so the
        // evaluation's sightings can move into the result.
        self.stored.insert(&key.key_data);
        state.results.insert(
            key.key_data,
            KeyMatch {
                key: *key,
                sightings: core::mem::take(&mut evaluation.sightings),
                first_report_type: key.report_type,
                report_type_transitions: 0,
                v1_scans: core::mem::take(&mut evaluation.v1_scans),
            },
        );
        Applied::Stored { counted }
    }

    /// What applying `key` now would do if its bytes were not stored: whether it would be
    /// stored, and what its evaluation would add to the sighting counters (the match state
    /// asks this of a key whose later copy was stored since, §state.2).
    #[cfg(feature = "export")]
    pub(crate) fn evaluate_alone(&self, key: &DiagnosisKey) -> (bool, [u64; 4]) {
        if !self.matcher.config().matches_report_type(key.report_type) {
            return (false, [0, 0, 0, 1]);
        }
        let mut found = self.find(core::slice::from_ref(key));
        match found.of_mut(0).filter(|e| e.seen) {
            None => (false, [0; 4]),
            Some(e) => (!e.v1_scans.is_empty(), e.rejected.evaluation_counts()),
        }
    }
}

/// The keys of `piece` that [`MatchRun::plan`] puts in the batch, in order.
fn batch_keys(piece: &[DiagnosisKey], batch: &[bool]) -> Vec<DiagnosisKey> {
    piece
        .iter()
        .zip(batch)
        .filter(|&(_, &b)| b)
        .map(|(key, _)| *key)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gaen::ReportType;
    use crate::matching::is_valid_transition;

    /// Checks §sec.11 and §match.6 (finding A6 of the third audit): a batch that serves one
    /// key under thousands of windows, the one it matches under last, holds the accepted
    /// sightings of one window, not of every window that overlaps the key's sightings (the
    /// audit measured 680 MB for such a file), and matches as one key.
    #[test]
    fn match_6_copies_under_many_windows_hold_the_sightings_of_one() {
        use crate::matching::{LogIndex, MatchConfig};
        let (sightings, keys) =
            super::super::floor::hostile_copies([0x5A; 16], 18_600 * 144).unwrap();
        let config = MatchConfig::default();
        let index = LogIndex::new(sightings, config.tolerance_intervals);
        let matcher = Matcher::new(&index, config);
        let mut run = MatchRun::new(&matcher);
        super::super::engine::MATERIALISED.with(|m| m.set(0));
        run.add(&keys);
        let materialised = super::super::engine::MATERIALISED.with(core::cell::Cell::get);
        let outcome = run.finish();
        assert_eq!(outcome.keys_matched, 1);
        assert_eq!(outcome.keys_total, keys.len() as u64);
        // The audit's run of the same file counted 22 320 copies of matched keys: the windows
        // after the first that matched.
        assert_eq!(outcome.rejected.duplicate_keys, 22_320);
        assert!(
            materialised <= 1440,
            "{materialised} sightings held for {} keys",
            keys.len()
        );
    }

    #[test]
    fn match_6_transition_table_is_googles() {
        use ReportType::*;
        let all = [
            Unknown,
            ConfirmedTest,
            ConfirmedClinicalDiagnosis,
            SelfReport,
            Recursive,
            Revoked,
        ];
        let allowed = [
            (SelfReport, ConfirmedTest),
            (SelfReport, ConfirmedClinicalDiagnosis),
            (SelfReport, Revoked),
            (ConfirmedClinicalDiagnosis, ConfirmedTest),
            (ConfirmedClinicalDiagnosis, Revoked),
        ];
        for from in all {
            for to in all {
                assert_eq!(
                    is_valid_transition(from, to),
                    allowed.contains(&(from, to)),
                    "{from:?} -> {to:?}"
                );
            }
        }
    }
}
