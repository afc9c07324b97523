//! Which identifiers of a key's window are worth deriving (spec §match.4, steps 1 and 2): per
//! UTC day of the log, the intervals with a sighting within tolerance, and for each key the
//! padded data of the intervals of its window among them.

use alloc::vec::Vec;

use aes::cipher::Array;

use super::super::index::LogIndex;
use super::shaping::{Block, PADDED, WINDOW};
use crate::gaen::padded_data;
use crate::time::{EnIntervalNumber, INTERVALS_PER_DAY};

/// What the matcher keeps of a UTC day of the log.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NearDay {
    day: u32,
    /// Bit `k`: interval `144·day + k` has an occupied interval within the tolerance.
    bits: [u64; 3],
    /// The distinct (interval, identifier) pairs logged in the day.
    entries: u32,
}

/// Tolerances up to this many intervals (a day) use [`near_days`]; larger ones derive every
/// interval of a window, so that no table grows with the tolerance.
pub(crate) const NEAR_TOLERANCE: u32 = INTERVALS_PER_DAY;

/// The days of the log and the days next to them, with the intervals `j` that have an
/// occupied interval in `[j − T, j + T]`, and each day's logged pairs (`T` at most
/// [`NEAR_TOLERANCE`]). Runs of occupied intervals are marked in ascending order, so days are
/// only appended, and a run adds at most its own days and one on each side: the table is
/// bounded by the log's size.
pub(crate) fn near_days(index: &LogIndex, tolerance: u32) -> Vec<NearDay> {
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
pub(crate) struct Pending {
    pub(crate) at: usize,
    pub(crate) key: [u8; 16],
    pub(crate) first: u32,
    pub(crate) last: u32,
    pub(crate) logged: u32,
    /// The padded data of `plain[..len]` are what AES encrypts; their prefix is written once,
    /// and each key writes only its interval numbers (spec §match.1). Blocks past `len` round a
    /// call up to the backend's width; their identifiers are not probed.
    plain: [Block; PADDED],
    pub(crate) len: usize,
}

impl Pending {
    pub(crate) fn new() -> Self {
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
    pub(crate) fn push_run(&mut self, j: u32, count: u32) {
        let end = (self.len + count as usize).min(WINDOW);
        if let Some(blocks) = self.plain.get_mut(self.len..end) {
            for (block, j) in blocks.iter_mut().zip(j..) {
                let [.., n0, n1, n2, n3] = &mut block.0;
                [*n0, *n1, *n2, *n3] = j.to_le_bytes();
            }
            self.len = end;
        }
    }

    /// The blocks to encrypt: the intervals to derive, then filler up to `len` blocks.
    pub(crate) fn padded(&self, len: usize) -> &[Block] {
        let (head, _) = self.plain.split_at(len.max(self.len).min(PADDED));
        head
    }

    /// Plans the pending key's window `first..=last` (spec §match.4, steps 1 and 2): the
    /// intervals whose identifier could have a valid sighting, written into its padded data in
    /// ascending order (a window spans at most two days), and the pairs logged in the days that
    /// `[first − T, last + T]` touches. Without `days` (a tolerance above a day) every interval
    /// of the window, and the exact count.
    pub(crate) fn plan(&mut self, days: Option<&[NearDay]>, index: &LogIndex, tolerance: u32) {
        let (first, last) = (self.first, self.last);
        self.len = 0;
        let Some(days) = days else {
            self.push_run(first, last - first + 1);
            let logged = index.entries_between(
                first.saturating_sub(tolerance),
                last.saturating_add(tolerance),
            );
            self.logged = u32::try_from(logged.len()).unwrap_or(u32::MAX);
            return;
        };
        let (from_day, to_day) = (
            first.saturating_sub(tolerance) / INTERVALS_PER_DAY,
            last.saturating_add(tolerance) / INTERVALS_PER_DAY,
        );
        let mut logged = 0u32;
        let start = days.partition_point(|d| d.day < from_day);
        let (_, days) = days.split_at(start);
        for near in days {
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
                    self.push_run(base + low + start, run);
                    word &= !((u64::MAX >> (64 - run)) << start);
                }
            }
        }
        self.logged = logged;
    }
}
