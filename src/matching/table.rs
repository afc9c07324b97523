//! One batch of keys against many logs (spec §match.7): the identifiers of every key are
//! derived once, and each log is matched by looking its own identifiers up, instead of each
//! log deriving the whole batch again. For a researcher's many devices, a simulated town, or
//! a server that checks logs on behalf of phones that cannot.

use alloc::vec::Vec;

use super::engine::{Found, Matcher, Slot, sorted_slots};
use crate::gaen::{
    AssociatedEncryptedMetadataKey, DiagnosisKey, RollingProximityIdentifier,
    RollingProximityIdentifierKey,
};
use crate::time::{EnIntervalNumber, INTERVALS_PER_DAY};

/// The identifiers of one batch of keys, in publication order, derived once; see
/// [`super::MatchRun::add_table`].
///
/// It holds 24 bytes for each of the 144 identifiers of every distinct (key, window) and
/// 64 bytes more per key: about 3.5 MB for 1000 keys.
pub struct KeyTable {
    pub(crate) keys: Vec<DiagnosisKey>,
    pub(crate) slots: Vec<Slot>,
    pub(crate) groups: Vec<Group>,
    /// Every identifier of each group's window, sorted by identifier: (identifier, group,
    /// interval).
    identifiers: Vec<(RollingProximityIdentifier, u32, u32)>,
}

/// One distinct (key bytes, window) of the batch.
pub(crate) struct Group {
    /// Its first slot in the sorted batch.
    pub(crate) first_slot: u32,
    pub(crate) aemk: AssociatedEncryptedMetadataKey,
}

impl core::fmt::Debug for KeyTable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyTable")
            .field("keys", &self.keys.len())
            .field("distinct_windows", &self.groups.len())
            .field("identifiers", &self.identifiers.len())
            .finish_non_exhaustive()
    }
}

impl KeyTable {
    /// Derives the identifiers of every key of `keys`, kept in their (publication) order.
    #[must_use]
    pub fn new(keys: Vec<DiagnosisKey>) -> Self {
        let slots = sorted_slots(&keys);
        let mut groups = Vec::new();
        let mut identifiers = Vec::new();
        let mut buffer = [RollingProximityIdentifier::default(); INTERVALS_PER_DAY as usize];
        let mut previous = None;
        for (at, slot) in slots.iter().enumerate() {
            if previous.is_some_and(|p: &Slot| p.same_window(slot)) {
                continue;
            }
            previous = Some(slot);
            let Slot {
                start,
                key: key_data,
                period,
                ..
            } = *slot;
            let (Ok(first_slot), Ok(group)) = (u32::try_from(at), u32::try_from(groups.len()))
            else {
                break;
            };
            // A window whose end would pass the last interval number holds only what fits.
            let count = (0..period.min(INTERVALS_PER_DAY))
                .take_while(|&k| start.checked_add(k).is_some())
                .count();
            let (out, _) = buffer.split_at_mut(count);
            let rpik = RollingProximityIdentifierKey::derive(&key_data);
            if rpik
                .identifiers_into(EnIntervalNumber::new(start), out)
                .is_err()
            {
                continue;
            }
            identifiers.extend(
                out.iter()
                    .zip(start..)
                    .map(|(rpi, interval)| (*rpi, group, interval)),
            );
            groups.push(Group {
                first_slot,
                aemk: AssociatedEncryptedMetadataKey::derive(&key_data),
            });
        }
        identifiers.sort_unstable();
        Self {
            keys,
            slots,
            groups,
            identifiers,
        }
    }

    /// The keys, in the order given.
    #[must_use]
    pub fn keys(&self) -> &[DiagnosisKey] {
        &self.keys
    }

    /// Evaluates every distinct (key bytes, window) of the table against the log of `matcher`
    /// (spec §match.7): each identifier of the log is looked up in the table, and the keys it
    /// belongs to are evaluated as [`Matcher::find`] evaluates them, with the same rules on the
    /// same hits.
    pub(crate) fn find(&self, matcher: &Matcher<'_>) -> Found {
        let mut hits: Vec<(u32, u32, RollingProximityIdentifier)> = Vec::new();
        for rpi in matcher.index().logged_identifiers() {
            hits.extend(self.lookup(*rpi).map(|(group, j)| (group, j, *rpi)));
        }
        hits.sort_unstable();
        hits.dedup();
        let mut share = Vec::new();
        let mut per_key: Vec<(u32, RollingProximityIdentifier)> = Vec::new();
        for run in hits.chunk_by(|a, b| a.0 == b.0) {
            let Some(group) = run.first().and_then(|h| self.groups.get(h.0 as usize)) else {
                continue;
            };
            per_key.clear();
            per_key.extend(run.iter().map(|&(_, j, rpi)| (j, rpi)));
            let evaluation = matcher.evaluate(&per_key, &group.aemk);
            if evaluation.seen {
                share.push((group.first_slot, evaluation));
            }
        }
        let mut found = Found::new(self.keys.len());
        found.absorb(share, &self.slots);
        found
    }

    /// The (group, interval) of every key window identifier equal to `rpi`.
    pub(crate) fn lookup(
        &self,
        rpi: RollingProximityIdentifier,
    ) -> impl Iterator<Item = (u32, u32)> + '_ {
        let first = self
            .identifiers
            .partition_point(|(found, _, _)| *found < rpi);
        let (_, from_rpi) = self.identifiers.split_at(first);
        from_rpi
            .iter()
            .take_while(move |(found, _, _)| *found == rpi)
            .map(|&(_, group, interval)| (group, interval))
    }
}
