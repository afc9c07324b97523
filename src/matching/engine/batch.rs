//! A batch of keys as the engine walks it (spec §match.4, §match.6): sorted into slots so that
//! each day's keys come together and copies of one (key bytes, window) sit side by side, and
//! what the evaluations of its distinct windows found, handed back to every copy.

use alloc::vec::Vec;

use super::super::{MatchedSighting, Rejections};
use crate::gaen::DiagnosisKey;

/// One key of a batch as the engine sorts it: its window and bytes, and its index in the
/// batch. The batch is sorted by window start, then period, key bytes and index, so that each
/// day's keys come together (its filter stays in cache) and copies of one key with one window
/// sit side by side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    /// The window's first interval.
    pub(crate) start: u32,
    /// The key's bytes.
    pub(crate) key: [u8; 16],
    /// The window's length in intervals.
    pub(crate) period: u32,
    /// The key's index in the batch.
    pub(crate) at: u32,
}

impl Slot {
    /// The slot of the key at index `at`.
    fn of((at, key): (usize, &DiagnosisKey)) -> Self {
        Self {
            start: key.window.start().get(),
            key: key.key_data,
            period: key.window.period().get(),
            // A batch is read from files whose keys are counted in `u32` (§sec.3).
            at: u32::try_from(at).unwrap_or(u32::MAX),
        }
    }

    /// The sort order as integers, cheaper to compare than the fields one by one: start and
    /// period, the whole key, the index. Every copy of a (key bytes, window) sorts next to the
    /// others, so it is evaluated once however many copies a batch holds, whatever other keys
    /// it holds.
    fn order(&self) -> (u64, u128, u32) {
        (
            (u64::from(self.start) << 32) | u64::from(self.period),
            u128::from_be_bytes(self.key),
            self.at,
        )
    }

    /// Whether two slots are copies of one (key bytes, window), evaluated once.
    pub(crate) fn same_window(&self, other: &Self) -> bool {
        (self.start, self.key, self.period) == (other.start, other.key, other.period)
    }

    /// The window's last interval.
    pub(crate) const fn last(&self) -> u32 {
        self.start.saturating_add(self.period.saturating_sub(1))
    }
}

/// The slots of `keys`, sorted.
pub(crate) fn sorted_slots(keys: &[DiagnosisKey]) -> Vec<Slot> {
    let mut slots: Vec<Slot> = keys.iter().enumerate().map(Slot::of).collect();
    slots.sort_unstable_by_key(Slot::order);
    slots
}

/// [`sorted_slots`] on the threads of `pool`: sorting on one thread was a fifth of a two-thread
/// run.
#[cfg(feature = "parallel")]
pub(crate) fn sorted_slots_parallel(keys: &[DiagnosisKey], pool: &rayon::ThreadPool) -> Vec<Slot> {
    use rayon::prelude::*;
    pool.install(|| {
        let mut slots: Vec<Slot> = keys.par_iter().enumerate().map(Slot::of).collect();
        slots.par_sort_unstable_by_key(Slot::order);
        slots
    })
}

/// The sorted `slots` cut into about `shares` ranges of whole groups, only between different
/// (key bytes, window), so that threads evaluate them independently.
#[cfg(feature = "parallel")]
pub(crate) fn shares(slots: &[Slot], shares: usize) -> Vec<(usize, usize)> {
    let target = slots.len().div_ceil(shares.max(1)).max(1);
    let mut out = Vec::new();
    let mut from = 0;
    while from < slots.len() {
        let mut to = (from + target).min(slots.len());
        while let (Some(next), Some(previous)) = (slots.get(to), slots.get(to.wrapping_sub(1))) {
            if !next.same_window(previous) {
                break;
            }
            to += 1;
        }
        out.push((from, to));
        from = to;
    }
    out
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
    /// Nothing found yet for a batch of `len` keys.
    pub(crate) fn new(len: usize) -> Self {
        Self {
            of_key: alloc::vec![None; len],
            evaluations: Vec::new(),
        }
    }

    /// Evaluations of `slots` found by one share, joined to these: each is given to every key
    /// of its group (the slots with its key bytes and window).
    pub(crate) fn absorb(&mut self, share: Vec<(u32, Evaluation)>, slots: &[Slot]) {
        for (first, evaluation) in share {
            let Ok(at) = u32::try_from(self.evaluations.len()) else {
                return;
            };
            self.evaluations.push(evaluation);
            let Some((head, group)) = usize::try_from(first)
                .ok()
                .and_then(|first| slots.get(first..))
                .and_then(<[Slot]>::split_first)
            else {
                continue;
            };
            for slot in
                core::iter::once(head).chain(group.iter().take_while(|s| s.same_window(head)))
            {
                if let Some(entry) = usize::try_from(slot.at)
                    .ok()
                    .and_then(|i| self.of_key.get_mut(i))
                {
                    *entry = Some(at);
                }
            }
        }
    }

    /// The evaluation of the key at `index` of the batch.
    pub(crate) fn of_mut(&mut self, index: usize) -> Option<&mut Evaluation> {
        let at = (*self.of_key.get(index)?)?;
        self.evaluations.get_mut(usize::try_from(at).ok()?)
    }
}
