//! The encounter log indexed for matching (spec §match.3).

use alloc::vec::Vec;

use crate::encounter::GaenSighting;
use crate::gaen::RollingProximityIdentifier;
use crate::time::{INTERVAL_SECONDS, INTERVALS_PER_DAY};

/// The interval of a sighting, or `None` past interval 0xFFFFFFFF (such a sighting can match
/// no key).
pub(crate) fn interval_of(unix_seconds: u64) -> Option<u32> {
    u32::try_from(unix_seconds / INTERVAL_SECONDS).ok()
}

#[inline]
fn halves(rpi: &RollingProximityIdentifier) -> (u64, u64) {
    let [
        a0,
        a1,
        a2,
        a3,
        a4,
        a5,
        a6,
        a7,
        b0,
        b1,
        b2,
        b3,
        b4,
        b5,
        b6,
        b7,
    ] = rpi.to_bytes();
    (
        u64::from_le_bytes([a0, a1, a2, a3, a4, a5, a6, a7]),
        u64::from_le_bytes([b0, b1, b2, b3, b4, b5, b6, b7]),
    )
}

/// A blocked Bloom filter: one 64-bit word per probe, six bits per identifier, about 16 bits
/// of filter per identifier. Identifiers are AES outputs, so their own bytes are the hashes.
#[derive(Clone, Debug)]
struct DayFilter {
    words: Vec<u64>,
    mask: u64,
}

impl DayFilter {
    fn with_capacity(identifiers: usize) -> Self {
        let words = (identifiers / 4).max(8).next_power_of_two();
        Self {
            words: alloc::vec![0; words],
            mask: words as u64 - 1,
        }
    }

    #[inline]
    fn bits(low: u64) -> u64 {
        (1u64 << (low & 63))
            | (1u64 << ((low >> 6) & 63))
            | (1u64 << ((low >> 12) & 63))
            | (1u64 << ((low >> 18) & 63))
            | (1u64 << ((low >> 24) & 63))
            | (1u64 << ((low >> 30) & 63))
    }

    fn insert(&mut self, rpi: &RollingProximityIdentifier) {
        let (high, low) = halves(rpi);
        if let Some(word) = self.words.get_mut((high & self.mask) as usize) {
            *word |= Self::bits(low);
        }
    }
}

/// A borrowed day filter, for the probing loop.
#[derive(Clone, Copy)]
pub(crate) struct FilterRef<'a> {
    words: &'a [u64],
    mask: u64,
}

impl FilterRef<'_> {
    /// Whether the identifier with these bytes may be in the filter.
    #[inline]
    pub(crate) fn may_contain(self, rpi: &[u8; 16]) -> bool {
        let (high, low) = rpi.split_at(8);
        let high = u64::from_le_bytes(high.try_into().unwrap_or_default());
        let low = u64::from_le_bytes(low.try_into().unwrap_or_default());
        let bits = DayFilter::bits(low);
        self.words
            .get((high & self.mask) as usize)
            .is_some_and(|word| word & bits == bits)
    }
}

/// Figures about an index, for reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct IndexStats {
    /// Sightings indexed.
    pub sightings: usize,
    /// Distinct identifiers.
    pub identifiers: usize,
    /// Intervals holding at least one sighting.
    pub intervals: usize,
    /// UTC days with a filter.
    pub days: usize,
    /// Bytes of filter in all.
    pub filter_bytes: usize,
    /// Sightings dated past interval 0xFFFFFFFF, which can match nothing.
    pub unusable_sightings: usize,
}

/// The encounter log prepared for matching.
#[derive(Clone, Debug)]
pub struct LogIndex {
    /// Sightings sorted by (identifier, time, …): each identifier's sightings are contiguous.
    sightings: Vec<GaenSighting>,
    /// Open-addressing table: slot → 1 + index into `identifiers`, 0 when empty.
    slots: Vec<u32>,
    slot_mask: u64,
    /// Distinct identifiers: (identifier, first sighting index, count).
    identifiers: Vec<(RollingProximityIdentifier, u32, u32)>,
    /// Intervals holding sightings, ascending.
    intervals: Vec<u32>,
    /// Distinct (interval, identifier) pairs, by interval: what the decrypting path reads.
    entries: Vec<(u32, RollingProximityIdentifier)>,
    /// Per UTC day d, the identifiers seen in intervals [144d − 12, 144d + 155].
    filters: Vec<(u32, DayFilter)>,
    tolerance: u32,
    stats: IndexStats,
}

impl LogIndex {
    /// Indexes GAEN sightings for matching with a tolerance of `tolerance_intervals` (the
    /// day filters cover it; use the value of the [`super::MatchConfig`] you match with).
    #[must_use]
    pub fn new(mut sightings: Vec<GaenSighting>, tolerance_intervals: u32) -> Self {
        sightings.sort_unstable_by(|a, b| {
            (
                a.rpi,
                a.unix_seconds,
                a.rssi,
                a.aem,
                a.previous_scan_unix_seconds,
            )
                .cmp(&(
                    b.rpi,
                    b.unix_seconds,
                    b.rssi,
                    b.aem,
                    b.previous_scan_unix_seconds,
                ))
        });
        let mut identifiers: Vec<(RollingProximityIdentifier, u32, u32)> = Vec::new();
        for (index, s) in sightings.iter().enumerate() {
            match identifiers.last_mut() {
                Some((rpi, _, count)) if *rpi == s.rpi => *count += 1,
                _ => identifiers.push((s.rpi, index as u32, 1)),
            }
        }
        let slot_count = (identifiers.len() * 2).max(16).next_power_of_two();
        let slot_mask = slot_count as u64 - 1;
        let mut slots = alloc::vec![0u32; slot_count];
        for (index, (rpi, _, _)) in identifiers.iter().enumerate() {
            let mut slot = halves(rpi).0 & slot_mask;
            while let Some(taken) = slots.get_mut(slot as usize) {
                if *taken == 0 {
                    *taken = index as u32 + 1;
                    break;
                }
                slot = (slot + 1) & slot_mask;
            }
        }

        let mut unusable = 0;
        let mut entries: Vec<(u32, RollingProximityIdentifier)> =
            Vec::with_capacity(sightings.len());
        for s in &sightings {
            match interval_of(s.unix_seconds) {
                Some(interval) => entries.push((interval, s.rpi)),
                None => unusable += 1,
            }
        }
        entries.sort_unstable();
        entries.dedup();
        let mut intervals: Vec<u32> = entries.iter().map(|(i, _)| *i).collect();
        intervals.dedup();

        // Each (interval, identifier) belongs to the filter of every day whose tolerance
        // window holds the interval: at most two days.
        let mut per_day: Vec<(u32, RollingProximityIdentifier)> =
            Vec::with_capacity(entries.len() * 2);
        for &(interval, rpi) in &entries {
            let first = interval.saturating_sub(INTERVALS_PER_DAY - 1 + tolerance_intervals)
                / INTERVALS_PER_DAY;
            let last = interval.saturating_add(tolerance_intervals) / INTERVALS_PER_DAY;
            for day in first..=last {
                let start = day * INTERVALS_PER_DAY;
                let covers = interval.saturating_add(tolerance_intervals) >= start
                    && interval
                        <= start.saturating_add(INTERVALS_PER_DAY - 1 + tolerance_intervals);
                if covers {
                    per_day.push((day, rpi));
                }
            }
        }
        per_day.sort_unstable();
        per_day.dedup();
        let mut filters: Vec<(u32, DayFilter)> = Vec::new();
        for group in per_day.chunk_by(|a, b| a.0 == b.0) {
            let Some(&(day, _)) = group.first() else {
                continue;
            };
            let mut filter = DayFilter::with_capacity(group.len());
            for (_, rpi) in group {
                filter.insert(rpi);
            }
            filters.push((day, filter));
        }

        let stats = IndexStats {
            sightings: sightings.len(),
            identifiers: identifiers.len(),
            intervals: intervals.len(),
            days: filters.len(),
            filter_bytes: filters.iter().map(|(_, f)| f.words.len() * 8).sum(),
            unusable_sightings: unusable,
        };
        Self {
            sightings,
            slots,
            slot_mask,
            identifiers,
            intervals,
            entries,
            filters,
            tolerance: tolerance_intervals,
            stats,
        }
    }

    /// Figures about the index.
    #[must_use]
    pub const fn stats(&self) -> IndexStats {
        self.stats
    }

    /// The tolerance the day filters were built for.
    #[must_use]
    pub const fn tolerance_intervals(&self) -> u32 {
        self.tolerance
    }

    /// Every sighting of `rpi`, in time order.
    #[must_use]
    #[inline]
    pub fn sightings_of(&self, rpi: &RollingProximityIdentifier) -> &[GaenSighting] {
        let mut slot = halves(rpi).0 & self.slot_mask;
        loop {
            match self.slots.get(slot as usize).copied() {
                None | Some(0) => return &[],
                Some(index) => {
                    if let Some((found, start, count)) = self.identifiers.get(index as usize - 1)
                        && found == rpi
                    {
                        let (start, count) = (*start as usize, *count as usize);
                        return self.sightings.get(start..start + count).unwrap_or_default();
                    }
                }
            }
            slot = (slot + 1) & self.slot_mask;
        }
    }

    /// Marks, in `occupied`, which intervals of `[from, from + occupied.len())` hold
    /// sightings; returns how many do.
    pub(crate) fn occupancy(&self, from: u32, occupied: &mut [bool]) -> usize {
        occupied.fill(false);
        let start = self.intervals.partition_point(|&i| i < from);
        let mut count = 0;
        for &interval in self.intervals.get(start..).unwrap_or_default() {
            let Some(slot) = occupied.get_mut((interval - from) as usize) else {
                break;
            };
            *slot = true;
            count += 1;
        }
        count
    }

    /// The distinct (interval, identifier) pairs with intervals in `[from, to]`.
    pub(crate) fn entries_between(
        &self,
        from: u32,
        to: u32,
    ) -> &[(u32, RollingProximityIdentifier)] {
        let start = self.entries.partition_point(|(i, _)| *i < from);
        let end = self.entries.partition_point(|(i, _)| *i <= to);
        self.entries.get(start..end).unwrap_or_default()
    }

    /// The filter of UTC day `day`, if the log has one.
    #[inline]
    pub(crate) fn day_filter(&self, day: u32) -> Option<FilterRef<'_>> {
        let position = self.filters.binary_search_by_key(&day, |(d, _)| *d).ok()?;
        self.filters.get(position).map(|(_, f)| FilterRef {
            words: &f.words,
            mask: f.mask,
        })
    }
}
