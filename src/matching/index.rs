//! The encounter log indexed for matching (spec §match.3).

use alloc::vec::Vec;

use super::interval_of;
use crate::encounter::GaenSighting;
use crate::gaen::RollingProximityIdentifier;
use crate::time::INTERVALS_PER_DAY;

// spec §match.3, §sec.11: chosen identifiers cost what random ones cost.
/// The index's secret: two random odd multipliers of a multiply-shift hash over the
/// identifier's two halves (spec §match.3). Logged identifiers are untrusted (anyone can
/// broadcast chosen bytes), so where an identifier lands in a filter is decided by a hash the
/// sender cannot compute: without the secret, chosen identifiers spread like random ones.
#[derive(Clone, Copy)]
pub(crate) struct IndexKeys([u64; 2]);

impl core::fmt::Debug for IndexKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("IndexKeys(..)")
    }
}

impl IndexKeys {
    fn from_secret(secret: [u8; 32]) -> Self {
        let mut words = [0u64; 4];
        let (chunks, _) = secret.as_chunks::<8>();
        for (word, chunk) in words.iter_mut().zip(chunks) {
            *word = u64::from_le_bytes(*chunk);
        }
        let [w0, w1, w2, w3] = words;
        // Every byte of the secret counts; a rotation that is not a whole number of bytes keeps
        // a secret of repeated bytes from cancelling out.
        Self([(w0 ^ w2.rotate_left(29)) | 1, (w1 ^ w3.rotate_left(29)) | 1])
    }

    /// The keyed hash `h·a + l·b mod 2⁶⁴` of the identifier's halves `h` and `l`: its top
    /// bits pick the filter word, its bits 20–35 the mask.
    #[inline]
    fn hash(&self, rpi: &[u8; 16]) -> u64 {
        let (high, low) = super::split_halves(*rpi);
        let (high, low) = (u64::from_le_bytes(high), u64::from_le_bytes(low));
        let [a, b] = self.0;
        high.wrapping_mul(a).wrapping_add(low.wrapping_mul(b))
    }
}

/// The masks of a filter: 1024 fixed 64-bit words with six distinct bits set each, drawn once
/// from a fixed sequence (SplitMix64). An identifier's mask is one of them rotated by one of 64
/// amounts, so a probe looks its bits up instead of computing them. With 65 536 distinct masks,
/// a probe into a word holding one identifier passes by chance about once in 65 000; a table
/// of 1024 masks alone let one in a thousand through, and each of those costs a binary search
/// (on the dense workload, a fifth of the run).
static MASKS: [u64; 1024] = masks();

// Evaluated at compile time: an index out of bounds would fail the build, never a run.
#[allow(clippy::indexing_slicing)]
const fn masks() -> [u64; 1024] {
    let mut masks = [0u64; 1024];
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut i = 0;
    while i < masks.len() {
        let mut mask = 0u64;
        while mask.count_ones() < 6 {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            mask |= 1u64 << (z >> 58);
        }
        masks[i] = mask;
        i += 1;
    }
    masks
}

/// The filter word of a hash: its top bits, below the filter's length (a power of two).
#[inline]
#[expect(
    clippy::cast_possible_truncation,
    reason = "`shift` leaves as many bits as the filter has words, so the word fits a usize"
)]
const fn word_of(hash: u64, shift: u32) -> usize {
    (hash >> shift) as usize
}

/// The mask of a hash: the entry picked by bits 20–29, rotated by bits 30–35.
#[inline]
fn mask_of(hash: u64) -> u64 {
    MASKS
        .get(((hash >> 20) & 1023) as usize)
        .copied()
        .unwrap_or(u64::MAX)
        .rotate_left(((hash >> 30) & 63) as u32)
}

/// A blocked Bloom filter: one 64-bit word per probe, six bits per identifier, 32 to 64 bits
/// of filter per identifier, placed by the index's keyed hash.
#[derive(Clone, Debug)]
struct DayFilter {
    words: Vec<u64>,
    shift: u32,
}

impl DayFilter {
    fn with_capacity(identifiers: usize) -> Self {
        let words = (identifiers / 2).max(8).next_power_of_two();
        Self {
            words: alloc::vec![0; words],
            shift: 64 - words.trailing_zeros(),
        }
    }

    fn insert(&mut self, keys: &IndexKeys, rpi: &RollingProximityIdentifier) {
        let hash = keys.hash(&rpi.to_bytes());
        if let Some(word) = self.words.get_mut(word_of(hash, self.shift)) {
            *word |= mask_of(hash);
        }
    }
}

/// A borrowed day filter, for the probing loop.
#[derive(Clone, Copy)]
pub(crate) struct FilterRef<'a> {
    words: &'a [u64],
    shift: u32,
    keys: IndexKeys,
}

impl FilterRef<'_> {
    /// Whether the identifier with these bytes may be in the filter: one multiply-add, the
    /// mask and the word, two loads from tables that stay in cache.
    #[inline]
    pub(crate) fn may_contain(self, rpi: &[u8; 16]) -> bool {
        let hash = self.keys.hash(rpi);
        let mask = mask_of(hash);
        self.words
            .get(word_of(hash, self.shift))
            .is_some_and(|word| word & mask == mask)
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
    /// Distinct identifiers, sorted: (identifier, first sighting index, count). Found by
    /// binary search, which no choice of identifiers can slow down.
    identifiers: Vec<(RollingProximityIdentifier, u32, u32)>,
    /// Intervals holding sightings, ascending.
    intervals: Vec<u32>,
    /// Distinct (interval, identifier) pairs, by interval: what the decrypting path reads.
    entries: Vec<(u32, RollingProximityIdentifier)>,
    /// Per UTC day d, the identifiers seen in intervals [144d − 12, 144d + 155].
    filters: Vec<(u32, DayFilter)>,
    keys: IndexKeys,
    tolerance: u32,
    stats: IndexStats,
}

impl LogIndex {
    /// Indexes GAEN sightings for matching with a tolerance of `tolerance_intervals` (the
    /// day filters cover it; use the value of the [`super::MatchConfig`] you match with), keyed
    /// with a fresh random secret from the standard library's hasher seeds.
    #[cfg(feature = "std")]
    #[must_use]
    pub fn new(sightings: Vec<GaenSighting>, tolerance_intervals: u32) -> Self {
        use core::hash::BuildHasher;
        let seeds = std::collections::hash_map::RandomState::new();
        let mut secret = [0u8; 32];
        for (n, chunk) in (0u64..).zip(secret.chunks_exact_mut(8)) {
            chunk.copy_from_slice(&seeds.hash_one(n).to_le_bytes());
        }
        Self::with_secret(sightings, tolerance_intervals, secret)
    }

    /// [`Self::new`] with the caller's secret: 32 bytes from a random source the senders of
    /// identifiers cannot predict (firmware passes its TRNG's). The secret decides only where
    /// identifiers land in the filters, never what matches (spec §match.3).
    #[must_use]
    pub fn with_secret(
        mut sightings: Vec<GaenSighting>,
        tolerance_intervals: u32,
        secret: [u8; 32],
    ) -> Self {
        let keys = IndexKeys::from_secret(secret);
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
                #[expect(
                    clippy::cast_possible_truncation,
                    reason = "a log of 2^32 sightings would take over 200 GB of memory"
                )]
                _ => identifiers.push((s.rpi, index as u32, 1)),
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
                filter.insert(&keys, rpi);
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
            identifiers,
            intervals,
            entries,
            filters,
            keys,
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

    /// Every sighting the index holds (the match state counts them per day, §state.2).
    #[cfg(feature = "export")]
    pub(crate) fn all_sightings(&self) -> &[GaenSighting] {
        &self.sightings
    }

    /// Every sighting of `rpi`, in time order.
    #[must_use]
    #[inline]
    pub fn sightings_of(&self, rpi: &RollingProximityIdentifier) -> &[GaenSighting] {
        let Ok(at) = self
            .identifiers
            .binary_search_by(|(found, _, _)| found.cmp(rpi))
        else {
            return &[];
        };
        self.identifiers
            .get(at)
            .and_then(|&(_, start, count)| {
                self.sightings
                    .get(start as usize..start as usize + count as usize)
            })
            .map_or(&[], |sightings| sightings)
    }

    /// The intervals holding sightings, ascending.
    pub(crate) fn occupied_intervals(&self) -> &[u32] {
        &self.intervals
    }

    /// Every distinct identifier of the log, in order.
    pub(crate) fn logged_identifiers(&self) -> impl Iterator<Item = &RollingProximityIdentifier> {
        self.identifiers.iter().map(|(rpi, _, _)| rpi)
    }

    /// The distinct (interval, identifier) pairs with intervals in `[from, to]`.
    pub(crate) fn entries_between(
        &self,
        from: u32,
        to: u32,
    ) -> &[(u32, RollingProximityIdentifier)] {
        let (below_to, _) = self
            .entries
            .split_at(self.entries.partition_point(|(i, _)| *i <= to));
        let (_, between) = below_to.split_at(below_to.partition_point(|(i, _)| *i < from));
        between
    }

    /// The filter of UTC day `day`, if the log has one.
    #[inline]
    pub(crate) fn day_filter(&self, day: u32) -> Option<FilterRef<'_>> {
        let position = self.filters.binary_search_by_key(&day, |(d, _)| *d).ok()?;
        self.filters.get(position).map(|(_, f)| FilterRef {
            words: &f.words,
            shift: f.shift,
            keys: self.keys,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gaen::AssociatedEncryptedMetadata;

    fn sighting(rpi: [u8; 16], n: u64) -> GaenSighting {
        GaenSighting {
            unix_seconds: 2_650_032 * 600 + 25_200 + n % 57_600,
            rpi: RollingProximityIdentifier::from_bytes(rpi),
            aem: AssociatedEncryptedMetadata::default(),
            rssi: -80,
            previous_scan_unix_seconds: 0,
        }
    }

    /// The share of filter words with a bit set, over every day filter.
    fn words_used(index: &LogIndex) -> f64 {
        let (used, all) = index.filters.iter().fold((0, 0), |(u, a), (_, f)| {
            (
                u + f.words.iter().filter(|w| **w != 0).count(),
                a + f.words.len(),
            )
        });
        #[expect(clippy::cast_precision_loss, reason = "a ratio of two small counts")]
        let ratio = used as f64 / all as f64;
        ratio
    }

    /// Checks spec §match.3 and §sec.11: identifiers a sender chose to share their first 8 bytes spread
    /// over the filters like random ones, so they cost what random ones cost; and they are all
    /// found.
    #[test]
    fn match_3_chosen_identifiers_spread_like_random_ones() {
        let n = 20_000u64;
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut random = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            state
        };
        let chosen: Vec<GaenSighting> = (0..n)
            .map(|k| {
                let mut rpi = [0u8; 16];
                rpi[8..].copy_from_slice(&k.to_be_bytes());
                sighting(rpi, k * 3)
            })
            .collect();
        let honest: Vec<GaenSighting> = (0..n)
            .map(|k| {
                let mut rpi = [0u8; 16];
                rpi[..8].copy_from_slice(&random().to_le_bytes());
                rpi[8..].copy_from_slice(&random().to_le_bytes());
                sighting(rpi, k * 3)
            })
            .collect();
        let secret = [7u8; 32];
        let flooded = LogIndex::with_secret(chosen.clone(), 12, secret);
        let crowd = LogIndex::with_secret(honest, 12, secret);
        let (f, c) = (words_used(&flooded), words_used(&crowd));
        // At least as spread as random identifiers (consecutive ones spread more evenly).
        assert!(f >= 0.95 * c, "flooded {f:.3}, crowd {c:.3}");
        for s in &chosen {
            assert_eq!(flooded.sightings_of(&s.rpi).len(), 1);
        }
        // Every chosen identifier passes its day's filter: no false negative.
        for s in &chosen {
            let day = u32::try_from(s.unix_seconds / 86_400).unwrap();
            let filter = flooded.day_filter(day).expect("a filter for the day");
            assert!(filter.may_contain(&s.rpi.to_bytes()));
        }
    }
}
