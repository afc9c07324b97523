//! Matching F0 lists against a contact history (spec §blid.8).
//!
//! [`app_contact_check`] is the app's own check, literally: for every F0 entry it walks the
//! slots from `time_start` to `time_end` and looks for any logged sighting of the slot's
//! identifier inside the slot's window. It costs one log scan per slot. [`ContactIndex`] gives
//! the same answer from a sorted index of the log: it derives only the slots that overlap the
//! log's time range and finds each one's sightings with two binary searches.

use alloc::vec::Vec;
use core::ops::ControlFlow;

use super::f0::{F0Entry, F0List};
use super::history::{HistoryLine, TimeUnit};
use super::keys::{BluezoneId, DailyKey};

/// A logged sighting inside the window of an F0 identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct BlidMatch {
    /// Index of the F0 entry in its list.
    pub entry: usize,
    /// Slot number counted from the entry's `time_start` (day × slots per day + slot).
    pub slot_index: u64,
    /// The identifier of that slot.
    pub id: BluezoneId,
    /// Index of the sighting in the history.
    pub line: usize,
    /// The sighting's timestamp, in the history's unit.
    pub timestamp: u64,
    /// The sighting's RSSI in dBm.
    pub rssi: i8,
}

/// The app's slot arithmetic for one entry, in the history's unit: slot `k` of the entry
/// covers `[start + k·length, start + k·length + length]`, both ends included, for every `k`
/// with `start + k·length ≤ end`.
#[derive(Clone, Copy, Debug)]
struct SlotClock {
    start: u64,
    end: u64,
    length: u64,
    per_day: u64,
}

impl SlotClock {
    fn new(entry: &F0Entry, unit: TimeUnit) -> Self {
        // F0 times are at most year 9999, so these products fit easily.
        Self {
            start: entry.time_start.saturating_mul(unit.per_second()),
            end: entry.time_end.saturating_mul(unit.per_second()),
            length: entry.max.slot_length(unit.per_day()),
            per_day: u64::from(entry.max.get()),
        }
    }

    fn window(&self, slot_index: u64) -> (u64, u64) {
        let from = self
            .start
            .saturating_add(slot_index.saturating_mul(self.length));
        (from, from.saturating_add(self.length))
    }

    /// The last slot whose start is not after `end`; `None` when the entry covers no slot.
    fn last_slot(&self) -> Option<u64> {
        self.end
            .checked_sub(self.start)
            .map(|span| span / self.length)
    }
}

/// The app's loop over one entry, calling `visit` for every match in slot order, then in
/// history order.
fn app_loop(
    entry_index: usize,
    entry: &F0Entry,
    history: &[HistoryLine],
    unit: TimeUnit,
    visit: &mut impl FnMut(BlidMatch) -> ControlFlow<()>,
) -> ControlFlow<()> {
    let clock = SlotClock::new(entry, unit);
    let mut daily_key = entry.daily_key.clone();
    let mut sub_keys = daily_key.sub_keys();
    let mut slot_in_day = 0;
    let Some(last_slot) = clock.last_slot() else {
        return ControlFlow::Continue(());
    };
    for slot_index in 0..=last_slot {
        // The sub-key chain never ends (each is the hash of the one before).
        let Some(id) = sub_keys.next().map(|k| k.identifier()) else {
            break;
        };
        let (from, to) = clock.window(slot_index);
        for (line, row) in history.iter().enumerate() {
            if row.contact_id == id && from <= row.timestamp && row.timestamp <= to {
                visit(BlidMatch {
                    entry: entry_index,
                    slot_index,
                    id,
                    line,
                    timestamp: row.timestamp,
                    rssi: row.rssi,
                })?;
            }
        }
        slot_in_day += 1;
        if slot_in_day == clock.per_day {
            daily_key = daily_key.next();
            sub_keys = daily_key.sub_keys();
            slot_in_day = 0;
        }
    }
    ControlFlow::Continue(())
}

// spec §blid.8.1: the app's check, literally.
/// The check the app ran when an F0 list arrived, as shipped: `true` as soon as any logged
/// sighting lies in the window of any F0 identifier. No RSSI or duration threshold.
///
/// Its cost grows with the number of slots times the length of the log; use
/// [`ContactIndex`] for real lists. Kept as the reference the index is tested against.
#[must_use]
pub fn app_contact_check(f0: &F0List, history: &[HistoryLine], unit: TimeUnit) -> bool {
    f0.entries.iter().enumerate().any(|(index, entry)| {
        app_loop(index, entry, history, unit, &mut |_| ControlFlow::Break(())).is_break()
    })
}

/// Every match the app's loop would visit, in (entry, slot, line) order; the same cost as
/// [`app_contact_check`]. For cross-checking [`ContactIndex`].
#[must_use]
pub fn app_matches(f0: &F0List, history: &[HistoryLine], unit: TimeUnit) -> Vec<BlidMatch> {
    let mut found = Vec::new();
    for (index, entry) in f0.entries.iter().enumerate() {
        let _ = app_loop(index, entry, history, unit, &mut |m| {
            found.push(m);
            ControlFlow::Continue(())
        });
    }
    found
}

/// Calls `visit(slot index, identifier, window from, window to)` for every slot of `entry` whose
/// window meets `[oldest, newest]`, in slot order: it skips whole days by the daily-key chain,
/// then walks that day's sub-keys.
fn slots_meeting(
    entry: &F0Entry,
    unit: TimeUnit,
    (oldest, newest): (u64, u64),
    mut visit: impl FnMut(u64, BluezoneId, u64, u64),
) {
    let clock = SlotClock::new(entry, unit);
    let (Some(last_slot), Some(since_start)) = (clock.last_slot(), newest.checked_sub(clock.start))
    else {
        return;
    };
    let last = last_slot.min(since_start / clock.length);
    let first = oldest
        .saturating_sub(clock.start.saturating_add(clock.length))
        .div_ceil(clock.length);
    if first > last {
        return;
    }
    let first_day = first / clock.per_day;
    let mut daily_key: DailyKey = entry.daily_key.clone();
    for _ in 0..first_day {
        daily_key = daily_key.next();
    }
    let mut slot_index = first_day * clock.per_day;
    loop {
        for sub_key in daily_key.sub_keys().take(entry.max.get() as usize) {
            if slot_index > last {
                return;
            }
            if slot_index >= first {
                let (from, to) = clock.window(slot_index);
                visit(slot_index, sub_key.identifier(), from, to);
            }
            slot_index += 1;
        }
        daily_key = daily_key.next();
    }
}

/// A contact history sorted by (identifier, timestamp) for lookups by identifier and window.
#[derive(Clone, Debug)]
pub struct ContactIndex<'a> {
    history: &'a [HistoryLine],
    sorted: Vec<(BluezoneId, u64, usize)>,
    time_range: Option<(u64, u64)>,
}

impl<'a> ContactIndex<'a> {
    /// Indexes `history` (one allocation of 32 bytes per line).
    #[must_use]
    pub fn new(history: &'a [HistoryLine]) -> Self {
        let mut sorted: Vec<_> = history
            .iter()
            .enumerate()
            .map(|(line, row)| (row.contact_id, row.timestamp, line))
            .collect();
        sorted.sort_unstable();
        let time_range = history
            .iter()
            .map(|r| r.timestamp)
            .min()
            .zip(history.iter().map(|r| r.timestamp).max());
        Self {
            history,
            sorted,
            time_range,
        }
    }

    /// The indexed history.
    #[must_use]
    pub const fn history(&self) -> &'a [HistoryLine] {
        self.history
    }

    /// Lines that logged `id` with `from ≤ timestamp ≤ to`, as (line, timestamp) in
    /// (timestamp, line) order.
    pub fn sightings(
        &self,
        id: BluezoneId,
        from: u64,
        to: u64,
    ) -> impl Iterator<Item = (usize, u64)> + '_ {
        let first = self
            .sorted
            .partition_point(|&(i, t, _)| (i, t) < (id, from));
        let (_, from_first) = self.sorted.split_at(first);
        from_first
            .iter()
            .take_while(move |&&(i, t, _)| i == id && t <= to)
            .map(|&(_, timestamp, line)| (line, timestamp))
    }

    /// Every match of `f0` against the history, exactly the set [`app_matches`] finds, sorted
    /// the same way.
    #[must_use]
    pub fn matches(&self, f0: &F0List, unit: TimeUnit) -> Vec<BlidMatch> {
        let mut found = Vec::new();
        let Some((oldest, newest)) = self.time_range else {
            return found;
        };
        // Only slots whose window meets [oldest, newest] can match.
        for (index, entry) in f0.entries.iter().enumerate() {
            slots_meeting(entry, unit, (oldest, newest), |slot_index, id, from, to| {
                for (line, timestamp) in self.sightings(id, from, to) {
                    found.push(BlidMatch {
                        entry: index,
                        slot_index,
                        id,
                        line,
                        timestamp,
                        rssi: self.history.get(line).map_or(0, |row| row.rssi),
                    });
                }
            });
        }
        found.sort_unstable_by_key(|m| (m.entry, m.slot_index, m.line));
        found
    }
}

// spec §blid.8.4: one F0 list against many histories.
/// An F0 list's identifiers for a stretch of time, derived once, to match many contact
/// histories against by lookup (spec §blid.8.4): each history costs a binary search per line
/// instead of deriving every slot of the list again. It holds 40 bytes per slot.
#[derive(Clone, Debug)]
pub struct F0Table {
    /// (identifier, entry, slot index, window from, window to), sorted.
    slots: Vec<(BluezoneId, usize, u64, u64, u64)>,
    oldest: u64,
    newest: u64,
}

/// A history holds a line outside the time range its [`F0Table`] was derived for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("history line {line} at {timestamp} lies outside the table's range {oldest}..={newest}")]
pub struct OutsideTable {
    /// The line.
    pub line: usize,
    /// Its timestamp, in the history's unit.
    pub timestamp: u64,
    /// The first instant the table covers.
    pub oldest: u64,
    /// The last instant the table covers.
    pub newest: u64,
}

impl F0Table {
    /// Derives every slot of `f0` whose window meets `[oldest, newest]` (in `unit`), as
    /// [`ContactIndex::matches`] would for a history spanning that range.
    #[must_use]
    pub fn new(f0: &F0List, unit: TimeUnit, oldest: u64, newest: u64) -> Self {
        let mut slots = Vec::new();
        for (index, entry) in f0.entries.iter().enumerate() {
            slots_meeting(entry, unit, (oldest, newest), |slot_index, id, from, to| {
                slots.push((id, index, slot_index, from, to));
            });
        }
        slots.sort_unstable();
        Self {
            slots,
            oldest,
            newest,
        }
    }

    /// Every match of the table's list against `history`: exactly what
    /// [`ContactIndex::matches`] gives, sorted the same way.
    ///
    /// # Errors
    /// [`OutsideTable`] for the first line outside the table's range: its matches could not
    /// be found here.
    pub fn matches(&self, history: &[HistoryLine]) -> Result<Vec<BlidMatch>, OutsideTable> {
        let mut found = Vec::new();
        for (line, row) in history.iter().enumerate() {
            if !(self.oldest..=self.newest).contains(&row.timestamp) {
                return Err(OutsideTable {
                    line,
                    timestamp: row.timestamp,
                    oldest: self.oldest,
                    newest: self.newest,
                });
            }
            let first = self.slots.partition_point(|s| s.0 < row.contact_id);
            let (_, from_first) = self.slots.split_at(first);
            for &(id, entry, slot_index, from, to) in
                from_first.iter().take_while(|s| s.0 == row.contact_id)
            {
                if from <= row.timestamp && row.timestamp <= to {
                    found.push(BlidMatch {
                        entry,
                        slot_index,
                        id,
                        line,
                        timestamp: row.timestamp,
                        rssi: row.rssi,
                    });
                }
            }
        }
        found.sort_unstable_by_key(|m| (m.entry, m.slot_index, m.line));
        Ok(found)
    }
}
