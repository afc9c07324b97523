//! The indexed F0 matcher against a literal re-implementation of the app's loop, and the F1
//! rule on constructed histories.
#![cfg(feature = "json")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]

use bluezone::blid::f1::{self, F1Rule};
use bluezone::blid::matching::{ContactIndex, F0Table, app_contact_check, app_matches};
use bluezone::blid::{BluezoneId, DailyKey, F0Entry, F0List, HistoryLine, SlotsPerDay, TimeUnit};
use proptest::prelude::*;

const BASE_DAY_S: u64 = 1_596_844_800; // 2020-08-08T00:00:00Z

/// The identifier of slot `k` of an entry, derived the slow, obvious way.
fn id_of(entry: &F0Entry, k: u64) -> BluezoneId {
    let per_day = u64::from(entry.max.get());
    let daily = entry.daily_key.advance((k / per_day) as u32).unwrap();
    daily.identifier((k % per_day) as u32)
}

fn entry_strategy() -> impl Strategy<Value = F0Entry> {
    (
        any::<[u8; 32]>(),
        0u64..3,                                          // start day offset
        prop::sample::select(vec![0u64, 1, 450, 43_200]), // start offset in the day, s
        0u64..(2 * 86_400 + 7_200),                       // span, s
        prop::sample::select(vec![1u32, 2, 7, 24, 96, 144]),
    )
        .prop_map(|(key, day, offset, span, max)| {
            let time_start = BASE_DAY_S + day * 86_400 + offset;
            F0Entry {
                daily_key: DailyKey::from_bytes(key),
                time_start,
                max: SlotsPerDay::new(max).unwrap(),
                time_end: time_start + span,
            }
        })
}

/// A history mixing sightings of the F0 identifiers near their window edges with strangers.
fn scenario() -> impl Strategy<Value = (F0List, Vec<HistoryLine>, TimeUnit)> {
    (
        prop::collection::vec(entry_strategy(), 1..3),
        prop::bool::ANY,
        prop::collection::vec(
            (
                any::<u8>(),
                any::<u64>(),
                0usize..8,
                any::<i8>(),
                any::<bool>(),
            ),
            1..25,
        ),
        any::<[u8; 12]>(),
    )
        .prop_map(|(entries, seconds, picks, stranger)| {
            let unit = if seconds {
                TimeUnit::Seconds
            } else {
                TimeUnit::Milliseconds
            };
            let f0 = F0List { entries };
            let history = picks
                .into_iter()
                .map(|(which, k, edge, rssi, genuine)| {
                    let entry = &f0.entries[usize::from(which) % f0.entries.len()];
                    let length = entry.max.slot_length(unit.per_day());
                    // Mostly slots the entry covers, sometimes the one after its end.
                    let last = (entry.time_end - entry.time_start) * unit.per_second() / length;
                    let k = k % (last + 2);
                    let start = entry.time_start * unit.per_second() + k * length;
                    // The window's two ends, just inside, just outside, and the middle.
                    let timestamp = match edge {
                        0 => start,
                        1 => start + length,
                        2 => start.saturating_sub(1),
                        3 => start + length + 1,
                        4 => start + 1,
                        5 => start + length - 1,
                        6 => start + length / 2,
                        _ => start + 3 * length,
                    };
                    let contact_id = if genuine {
                        id_of(entry, k)
                    } else {
                        BluezoneId::from_bytes(stranger)
                    };
                    HistoryLine {
                        own_id: BluezoneId::default(),
                        contact_id,
                        rssi,
                        timestamp,
                    }
                })
                .collect();
            (f0, history, unit)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn indexed_matcher_equals_the_apps_loop((f0, history, unit) in scenario()) {
        let literal = app_matches(&f0, &history, unit);
        let indexed = ContactIndex::new(&history).matches(&f0, unit);
        prop_assert_eq!(&indexed, &literal);
        prop_assert_eq!(app_contact_check(&f0, &history, unit), !indexed.is_empty());
    }

    /// §blid.8.4: a table derived once for a time range gives each history in that range what
    /// the app's loop gives it, and refuses a history that leaves the range.
    #[test]
    fn blid_8_4_a_table_gives_what_the_apps_loop_gives((f0, history, unit) in scenario(), cut in 0usize..8) {
        let times = || history.iter().map(|l| l.timestamp);
        let (Some(oldest), Some(newest)) = (times().min(), times().max()) else {
            return Ok(());
        };
        let table = F0Table::new(&f0, unit, oldest, newest);
        prop_assert_eq!(table.matches(&history).unwrap(), app_matches(&f0, &history, unit));
        // A part of the history, against the same table.
        let part: Vec<_> = history.iter().skip(cut).step_by(2).copied().collect();
        prop_assert_eq!(table.matches(&part).unwrap(), app_matches(&f0, &part, unit));
        // A table for a shorter range refuses the lines it does not cover.
        if oldest < newest {
            let shorter = F0Table::new(&f0, unit, oldest + 1, newest);
            prop_assert!(shorter.matches(&history).is_err());
        }
    }
}

#[test]
/// Checks spec §blid.8.1.
fn a_planted_sighting_is_found_and_a_neighbours_slot_is_not() {
    let entry = F0Entry {
        daily_key: DailyKey::from_bytes([9; 32]),
        time_start: BASE_DAY_S,
        max: SlotsPerDay::DEFAULT,
        time_end: BASE_DAY_S + 3 * 86_400,
    };
    // Slot 100 is day 1, slot 4: 01:00-01:15 on 2020-08-09.
    let id = id_of(&entry, 100);
    let at = (BASE_DAY_S + 86_400 + 3_600 + 60) * 1000;
    let f0 = F0List {
        entries: vec![entry],
    };
    let line = |timestamp| HistoryLine {
        own_id: BluezoneId::default(),
        contact_id: id,
        rssi: -60,
        timestamp,
    };
    let found = ContactIndex::new(&[line(at)]).matches(&f0, TimeUnit::Milliseconds);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].slot_index, 100);
    // The same identifier an hour later is outside its slot: no match.
    assert!(
        ContactIndex::new(&[line(at + 3_600_000)])
            .matches(&f0, TimeUnit::Milliseconds)
            .is_empty()
    );
    // In seconds, as iOS logged it, the same sighting matches.
    assert_eq!(
        ContactIndex::new(&[line(at / 1000)])
            .matches(&f0, TimeUnit::Seconds)
            .len(),
        1
    );
}

/// A history of one F0's identifiers sighted every `step` seconds from `from` for `minutes`.
fn contact(entry: &F0Entry, from_s: u64, minutes: u64, step: u64, rssi: i8) -> Vec<HistoryLine> {
    (0..minutes * 60 / step)
        .map(|n| {
            let t = from_s + n * step;
            let k = (t - entry.time_start) / 900;
            HistoryLine {
                own_id: BluezoneId::default(),
                contact_id: id_of(entry, k),
                rssi,
                timestamp: t * 1000,
            }
        })
        .collect()
}

fn f1_for(history: &[HistoryLine], entry: &F0Entry) -> f1::F1Verdict {
    let f0 = F0List {
        entries: vec![entry.clone()],
    };
    let matches = ContactIndex::new(history).matches(&f0, TimeUnit::Milliseconds);
    let now = history
        .iter()
        .map(|l| l.timestamp / 1000)
        .max()
        .unwrap_or(0);
    f1::decide(
        &matches,
        TimeUnit::Milliseconds,
        &F1Rule::bluezone(TimeUnit::Milliseconds),
        now,
    )
}

#[test]
/// Checks spec §blid.8.2, §blid.8.3.
fn f1_needs_close_and_long_enough() {
    let entry = F0Entry {
        daily_key: DailyKey::from_bytes([3; 32]),
        time_start: BASE_DAY_S,
        max: SlotsPerDay::DEFAULT,
        time_end: BASE_DAY_S + 5 * 86_400,
    };
    let noon = BASE_DAY_S + 86_400 + 12 * 3600;
    // 20 minutes at -60 dBm, a sighting every 10 s: F1.
    let long_close = f1_for(&contact(&entry, noon, 20, 10, -60), &entry);
    assert!(long_close.f1);
    assert_eq!(long_close.days.len(), 1);
    assert_eq!(long_close.days[0].close_seconds, 20 * 60 - 10);
    // 10 minutes: not long enough.
    assert!(!f1_for(&contact(&entry, noon, 10, 10, -60), &entry).f1);
    // 20 minutes at -95 dBm (beyond about 2 m for every platform pair): contact, not F1.
    let far = f1_for(&contact(&entry, noon, 20, 10, -95), &entry);
    assert!(!far.f1);
    assert_eq!(far.days[0].close_sightings, 0);
    assert!(far.days[0].sightings > 0);
    // Background scanning: 40 s of sightings every 300 s still counts as continuous.
    let duty_cycled: Vec<_> = contact(&entry, noon, 30, 10, -60)
        .into_iter()
        .filter(|l| (l.timestamp / 1000 - noon) % 300 < 40)
        .collect();
    assert!(f1_for(&duty_cycled, &entry).f1);
    // 10 minutes before midnight and 10 after: neither day reaches 15 minutes.
    let midnight = BASE_DAY_S + 2 * 86_400;
    let across = f1_for(&contact(&entry, midnight - 600, 20, 10, -60), &entry);
    assert!(!across.f1);
    assert_eq!(across.days.len(), 2);
    assert_eq!(
        across.days[0].close_seconds + across.days[1].close_seconds,
        20 * 60 - 10
    );
    assert_eq!(across.days[0].close_seconds, 600);
}

#[test]
/// Checks spec §blid.8.3.
fn f1_ignores_sightings_older_than_the_look_back() {
    let entry = F0Entry {
        daily_key: DailyKey::from_bytes([4; 32]),
        time_start: BASE_DAY_S,
        max: SlotsPerDay::DEFAULT,
        time_end: BASE_DAY_S + 30 * 86_400,
    };
    let history = contact(&entry, BASE_DAY_S + 3600, 20, 10, -60);
    let f0 = F0List {
        entries: vec![entry],
    };
    let matches = ContactIndex::new(&history).matches(&f0, TimeUnit::Milliseconds);
    let rule = F1Rule::bluezone(TimeUnit::Milliseconds);
    assert!(
        f1::decide(
            &matches,
            TimeUnit::Milliseconds,
            &rule,
            BASE_DAY_S + 13 * 86_400
        )
        .f1
    );
    let late = f1::decide(
        &matches,
        TimeUnit::Milliseconds,
        &rule,
        BASE_DAY_S + 16 * 86_400,
    );
    assert!(!late.f1);
    assert!(late.days.is_empty());
}

/// The property above would hold vacuously if the scenarios never matched: most must.
#[test]
fn scenarios_are_not_vacuous() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut with_matches, mut edge_misses) = (0, 0);
    for _ in 0..200 {
        let (f0, history, unit) = scenario().new_tree(&mut runner).unwrap().current();
        let found = app_matches(&f0, &history, unit);
        with_matches += usize::from(!found.is_empty());
        edge_misses += usize::from(found.len() < history.len());
    }
    assert!(
        with_matches > 100,
        "only {with_matches} of 200 scenarios matched"
    );
    assert!(
        edge_misses > 100,
        "only {edge_misses} of 200 scenarios had a non-matching line"
    );
}
