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
use super::{KeyMatch, MatchOutcome, Matcher, Rejections, is_valid_transition};
use crate::gaen::DiagnosisKey;

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
}

/// A superset of the stored keys' bytes, so that the keys of a batch (nearly all never
/// stored) skip the lookup in the map of results: rebuilt from the results before each batch
/// is applied, and told of every key stored while it is. Keys are looked up by 12 bits of their
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
    /// Not matched because of its report type.
    Gated,
    /// Matched and stored.
    Stored,
    /// Evaluated and not stored; `seen` when some identifier had a sighting within tolerance.
    NotStored { seen: bool },
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
        let found = self.matcher.find_in_table(table);
        self.apply_all(table.keys(), found);
    }

    /// Applies every key of a batch, in order, with what `found` evaluated for it.
    fn apply_all(&mut self, keys: &[DiagnosisKey], mut found: super::engine::Found) {
        self.stored.rebuild(&self.state.results);
        for (i, key) in keys.iter().enumerate() {
            self.apply(key, found.of_mut(i));
        }
    }

    /// [`Self::add`] for the match state: a key for which `known(i)` holds (the state knows
    /// it was evaluated against this log and not seen) is applied without being evaluated
    /// again; `record(i, what)` hears what became of every other key `i` of `keys`.
    pub(crate) fn add_filtered(
        &mut self,
        keys: &[DiagnosisKey],
        known: impl Fn(usize) -> bool,
        mut record: impl FnMut(usize, Applied),
    ) {
        let mut unknown: Vec<DiagnosisKey> = Vec::new();
        for (offset, piece) in (0..).step_by(Self::PIECE).zip(keys.chunks(Self::PIECE)) {
            let all_unknown = (0..piece.len()).all(|i| !known(offset + i));
            let mut found = if all_unknown {
                self.find(piece)
            } else {
                unknown.clear();
                unknown.extend(
                    piece
                        .iter()
                        .enumerate()
                        .filter(|&(i, _)| !known(offset + i))
                        .map(|(_, key)| *key),
                );
                self.find(&unknown)
            };
            self.stored.rebuild(&self.state.results);
            let mut next = 0;
            for (i, key) in piece.iter().enumerate() {
                if known(offset + i) {
                    self.apply(key, None);
                } else {
                    let what = self.apply(key, found.of_mut(next));
                    next += 1;
                    record(offset + i, what);
                }
            }
        }
    }

    /// Evaluates `keys` again and gives each that is stored with the same window the sightings
    /// the log holds now (the match state's re-check of an unfinished result, §state.2). The
    /// report type, its changes and the counts stay as they are.
    #[cfg(feature = "export")]
    pub(crate) fn refresh(&mut self, keys: &[DiagnosisKey]) {
        for piece in keys.chunks(Self::PIECE) {
            let mut found = self.find(piece);
            for (index, key) in piece.iter().enumerate() {
                let Some(evaluation) = found.of_mut(index) else {
                    continue;
                };
                let Some(stored) = self.state.results.get_mut(&key.key_data) else {
                    continue;
                };
                if stored.key.window == key.window && !evaluation.v1_scans.is_empty() {
                    stored.sightings = core::mem::take(&mut evaluation.sightings);
                    stored.v1_scans = core::mem::take(&mut evaluation.v1_scans);
                }
            }
        }
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
            let mut found = None;
            let result = pool.in_place_scope(|scope| {
                scope.spawn(|_| found = Some(matcher.find_parallel(keys, pool)));
                meanwhile()
            });
            if let Some(found) = found {
                self.apply_all(keys, found);
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
    pub(crate) const fn state_mut(&mut self) -> &mut Checkpoint {
        &mut self.state
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
        let state = &mut self.state;
        state.keys_total += 1;
        if let Some(stored) = self
            .stored
            .may_hold(&key.key_data)
            .then(|| state.results.get_mut(&key.key_data))
            .flatten()
            .filter(|_| self.matcher.logged_anywhere(key))
        {
            let from = config.effective_report_type(stored.key.report_type);
            let to = config.effective_report_type(key.report_type);
            if from == to {
                state.rejected.duplicate_keys += 1;
            } else if is_valid_transition(from, to)
                && stored.report_type_transitions < config.allowed_report_type_transitions
            {
                stored.key.report_type = to;
                stored.report_type_transitions += 1;
                state.transitions += 1;
            } else {
                state.rejected.invalid_transitions += 1;
            }
            return Applied::Copy;
        }
        if !config.matches_report_type(key.report_type) {
            state.rejected.report_type_keys += 1;
            return Applied::Gated;
        }
        let Some(evaluation) = evaluation.filter(|e| e.seen) else {
            return Applied::NotStored { seen: false };
        };
        state.rejected.add_sightings(&evaluation.rejected);
        // Google's tracer stores a result only when the per-scan sightings it scores v1 with
        // are not empty (`findExposures` returns null otherwise).
        if evaluation.v1_scans.is_empty() {
            return Applied::NotStored { seen: true };
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
        Applied::Stored
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gaen::ReportType;

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
