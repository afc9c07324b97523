//! The production matcher returns exactly what the literal reference returns.
#![cfg(feature = "alloc")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]

use bluezone::encounter::GaenSighting;
use bluezone::gaen::{
    AssociatedEncryptedMetadata, DiagnosisKey, Metadata, ReportType, RollingProximityIdentifier,
};
use bluezone::matching::{
    KeyTable, LogIndex, MatchConfig, MatchOutcome, MatchRun, Matcher, reference,
};
use bluezone::{EnIntervalNumber, RollingPeriod, RollingWindow};
use proptest::prelude::*;

const BASE: u32 = 2_650_032; // a day start

fn key_strategy() -> impl Strategy<Value = DiagnosisKey> {
    (
        any::<[u8; 16]>(),
        0u32..300,
        1u32..=144,
        0u8..=8,
        0i32..=5,
        prop::option::of(-20i32..20),
    )
        .prop_map(|(key_data, offset, period, risk, report, onset)| {
            let window = RollingWindow::new(
                EnIntervalNumber::new(BASE + offset),
                RollingPeriod::new(period).unwrap(),
            )
            .unwrap();
            let mut key = DiagnosisKey::new(key_data, window);
            key.transmission_risk_level = risk;
            key.report_type = ReportType::try_from(report).unwrap();
            key.days_since_onset_of_symptoms = onset;
            key
        })
}

/// How a planted sighting relates to its identifier's interval.
fn plant(
    key: &DiagnosisKey,
    pick: u32,
    shift: i64,
    second: u64,
    tx: i8,
    rssi: i8,
    garbage_aem: bool,
) -> GaenSighting {
    let period = key.window.period().get();
    let interval = EnIntervalNumber::new(key.window.start().get() + pick % period);
    let rpi = key.rolling_proximity_identifier_key().identifier(interval);
    let metadata = Metadata::v1_0(tx);
    let aem = if garbage_aem {
        AssociatedEncryptedMetadata::from_bytes([tx as u8, 1, 2, 3])
    } else {
        key.associated_encrypted_metadata_key()
            .encrypt(&rpi, metadata)
    };
    let seen_interval = (i64::from(interval.get()) + shift).max(0) as u64;
    GaenSighting {
        unix_seconds: seen_interval * 600 + second % 600,
        rpi,
        aem,
        rssi,
        previous_scan_unix_seconds: 0,
    }
}

fn scenario() -> impl Strategy<Value = (Vec<DiagnosisKey>, Vec<GaenSighting>, MatchConfig)> {
    (
        prop::collection::vec(key_strategy(), 1..6),
        prop::collection::vec(
            (
                any::<usize>(),
                any::<u32>(),
                prop::sample::select(vec![
                    -14i64, -13, -12, -11, -1, 0, 1, 11, 12, 13, 14, -300, 500,
                ]),
                any::<u64>(),
                prop::sample::select(vec![-51i8, -50, -49, -10, 0, 19, 20, 21, 127, -128]),
                any::<i8>(),
                prop::bool::weighted(0.1),
                prop::sample::select(vec![0u64, 1, 1199, 1200, 1201, 3000]),
            ),
            0..40,
        ),
        prop::collection::vec(
            (
                any::<[u8; 16]>(),
                0u64..(400 * 600),
                any::<[u8; 4]>(),
                any::<i8>(),
            ),
            0..60,
        ),
        prop::sample::select(vec![0u32, 1, 12, 30]),
        prop::sample::select(vec![0u64, 600, 1200]),
        any::<bool>(),
        any::<bool>(),
        // Copies of keys, as files serve them again (spec §match.6): the same 16 bytes with
        // another report type, risk level or window.
        prop::collection::vec(
            (
                any::<usize>(),
                0i32..=5,
                0u8..=8,
                prop::sample::select(vec![0i64, 0, -3, 5, 200]),
                1u32..=144,
            ),
            0..4,
        ),
        0u8..=2,
    )
        .prop_map(
            |(
                mut keys,
                planted,
                strangers,
                tolerance,
                replay,
                revoked,
                recursive,
                copies,
                transitions,
            )| {
                let mut sightings = Vec::new();
                for (which, pick, shift, second, tx, rssi, garbage, later) in planted {
                    let key = keys[which % keys.len()];
                    let mut s = plant(&key, pick, shift, second, tx, rssi, garbage);
                    sightings.push(s);
                    if later > 0 {
                        // The same identifier again, later: a replay or not, depending on the gap.
                        s.unix_seconds += later;
                        sightings.push(s);
                    }
                }
                for (rpi, offset, aem, rssi) in strangers {
                    sightings.push(GaenSighting {
                        unix_seconds: u64::from(BASE) * 600 - 20 * 600 + offset,
                        rpi: RollingProximityIdentifier::from_bytes(rpi),
                        aem: AssociatedEncryptedMetadata::from_bytes(aem),
                        rssi,
                        previous_scan_unix_seconds: 7,
                    });
                }
                for (which, report, risk, shift, period) in copies {
                    let mut copy = keys[which % keys.len()];
                    copy.report_type = ReportType::try_from(report).unwrap();
                    copy.transmission_risk_level = risk;
                    if shift != 0 {
                        let start = (i64::from(copy.window.start().get()) + shift) as u32;
                        copy.window = RollingWindow::new(
                            EnIntervalNumber::new(start),
                            RollingPeriod::new(period).unwrap(),
                        )
                        .unwrap();
                    }
                    keys.push(copy);
                }
                let config = MatchConfig {
                    tolerance_intervals: tolerance,
                    replay_window_seconds: replay,
                    match_revoked: revoked,
                    match_recursive: recursive,
                    allowed_report_type_transitions: transitions,
                    ..MatchConfig::default()
                };
                (keys, sightings, config)
            },
        )
}

fn production(
    keys: &[DiagnosisKey],
    sightings: &[GaenSighting],
    config: MatchConfig,
) -> MatchOutcome {
    let index = LogIndex::new(sightings.to_vec(), config.tolerance_intervals);
    Matcher::new(&index, config).match_keys(keys)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn match_2_and_match_6_production_equals_reference((keys, sightings, config) in scenario()) {
        let expected = reference::match_keys(&keys, &sightings, &config);
        prop_assert_eq!(production(&keys, &sightings, config), expected);
    }

    /// §match.6: a run fed in chunks gives what one batch gives, copies of keys included,
    /// whatever the cut and the number of threads.
    #[test]
    fn match_6_chunks_of_a_run_give_the_whole((keys, sightings, config) in scenario(), split in 0usize..10) {
        let whole = production(&keys, &sightings, config);
        let index = LogIndex::new(sightings.clone(), config.tolerance_intervals);
        let matcher = Matcher::new(&index, config);
        let split = split.min(keys.len());
        #[cfg(feature = "parallel")]
        let mut run = MatchRun::with_threads(&matcher, 2).unwrap();
        #[cfg(not(feature = "parallel"))]
        let mut run = MatchRun::new(&matcher);
        run.add(&keys[..split]);
        run.add(&keys[split..]);
        prop_assert_eq!(run.finish(), whole.clone());

        // The same cut through a checkpoint: a fresh run that restores it goes on as one.
        let mut first = MatchRun::new(&matcher);
        first.add(&keys[..split]);
        let kept = first.into_checkpoint();
        let mut second = MatchRun::new(&matcher);
        second.restore(kept);
        second.add(&keys[split..]);
        prop_assert_eq!(second.finish(), whole);
    }

    /// §match.8: the no-allocator matcher, keys one at a time over a log in a buffer, gives
    /// what the matcher gives: the same matched keys with the same sightings, report types and
    /// changes, and the same counts.
    #[test]
    fn match_8_the_band_matcher_gives_what_the_matcher_gives((keys, sightings, config) in scenario()) {
        use bluezone::matching::{BandLog, BandMatcher, StoredKey};
        let expected = production(&keys, &sightings, config);
        let mut buffer = sightings.clone();
        let mut table = [StoredKey::default(); 64];
        let mut band = BandMatcher::new(BandLog::new(&mut buffer), config, &mut table);
        let mut got: std::collections::BTreeMap<[u8; 16], Vec<bluezone::matching::MatchedSighting>> =
            std::collections::BTreeMap::new();
        for key in &keys {
            let mut heard = Vec::new();
            band.check(key, |s| heard.push(*s)).unwrap();
            if !heard.is_empty() {
                heard.sort_unstable();
                prop_assert!(got.insert(key.key_data, heard).is_none());
            }
        }
        let counts = *band.counts();
        prop_assert_eq!(counts.keys_total, expected.keys_total);
        prop_assert_eq!(counts.keys_matched, expected.keys_matched);
        prop_assert_eq!(counts.report_type_transitions, expected.report_type_transitions);
        prop_assert_eq!(counts.rejected, expected.rejected);
        prop_assert_eq!(got.len(), expected.matches.len());
        for m in &expected.matches {
            prop_assert_eq!(got.get(&m.key.key_data), Some(&m.sightings));
            let stored = band.matched().iter().find(|k| k.key_data == m.key.key_data).unwrap();
            prop_assert_eq!(stored.report_type, m.key.report_type);
            prop_assert_eq!(stored.first_report_type, m.first_report_type);
            prop_assert_eq!(stored.transitions, m.report_type_transitions);
        }
    }

    /// §match.7: a batch derived once into a table and matched by looking the log's
    /// identifiers up gives what the matcher and the reference give, copies, report-type
    /// changes and every count included; several logs against one table each get their own.
    #[test]
    fn match_7_a_key_table_gives_what_the_matcher_gives(
        (keys, sightings, config) in scenario(),
        split in 0usize..10,
    ) {
        let expected = reference::match_keys(&keys, &sightings, &config);
        let table = KeyTable::new(keys.clone());
        let index = LogIndex::new(sightings.clone(), config.tolerance_intervals);
        let matcher = Matcher::new(&index, config);
        let mut run = MatchRun::new(&matcher);
        run.add_table(&table);
        prop_assert_eq!(run.finish(), expected);

        // Another log (a part of this one) against the same table.
        let part: Vec<GaenSighting> = sightings.iter().skip(split).step_by(2).copied().collect();
        let other = LogIndex::new(part.clone(), config.tolerance_intervals);
        let matcher = Matcher::new(&other, config);
        let mut run = MatchRun::new(&matcher);
        run.add_table(&table);
        prop_assert_eq!(run.finish(), reference::match_keys(&keys, &part, &config));
    }
}

#[test]
fn scenarios_are_not_vacuous() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut matched, mut tolerance, mut replays, mut tx) = (0, 0, 0, 0);
    for _ in 0..300 {
        let (keys, sightings, config) = scenario().new_tree(&mut runner).unwrap().current();
        let outcome = reference::match_keys(&keys, &sightings, &config);
        matched += usize::from(outcome.keys_matched > 0);
        tolerance += usize::from(outcome.rejected.outside_tolerance > 0);
        replays += usize::from(outcome.rejected.replayed > 0);
        tx += usize::from(outcome.rejected.tx_power_out_of_range > 0);
    }
    assert!(matched > 150, "{matched} of 300 scenarios matched");
    assert!(
        tolerance > 30 && replays > 30 && tx > 30,
        "{tolerance} {replays} {tx}"
    );
}

#[test]
/// Checks spec §match.2, §match.3, §match.4.
fn the_official_vectors_planted_in_a_log_are_all_found() {
    let key_data: [u8; 16] =
        bluezone::hex::decode_array("75c734c6dd1a782de7a965da5eb93125").unwrap();
    let start = EnIntervalNumber::new(2_642_976);
    let key = DiagnosisKey::new(key_data, RollingWindow::day_of(start));
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/test-vectors/gaen-official-v1.2.json"
    ))
    .unwrap();
    let vectors: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut sightings: Vec<GaenSighting> = vectors["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| GaenSighting {
            unix_seconds: v["en_interval_number"].as_u64().unwrap() * 600 + 300,
            rpi: v["rpi"].as_str().unwrap().parse().unwrap(),
            aem: v["aem"].as_str().unwrap().parse().unwrap(),
            rssi: -70,
            previous_scan_unix_seconds: 0,
        })
        .collect();
    assert_eq!(sightings.len(), 144);
    // Among strangers.
    for n in 0..5000u64 {
        let mut rpi = [0u8; 16];
        rpi[..8].copy_from_slice(&n.to_le_bytes());
        sightings.push(GaenSighting {
            unix_seconds: 2_642_976 * 600 + n * 17,
            rpi: RollingProximityIdentifier::from_bytes(rpi),
            aem: AssociatedEncryptedMetadata::from_bytes([0; 4]),
            rssi: -80,
            previous_scan_unix_seconds: 0,
        });
    }
    let outcome = production(&[key], &sightings, MatchConfig::default());
    assert_eq!(outcome.keys_matched, 1);
    let found = &outcome.matches[0].sightings;
    assert_eq!(found.len(), 144);
    for (k, s) in found.iter().enumerate() {
        assert_eq!(s.en_interval_number.get(), 2_642_976 + k as u32);
        assert_eq!(s.tx_power, 8);
        assert_eq!(s.attenuation, 78);
    }
}

/// The match state (spec §state): files fed over many runs give what one run gives.
#[cfg(feature = "export")]
mod state {
    use super::*;
    use bluezone::export::bin::{ExportMetadata, encode};
    use bluezone::matching::state::{Fed, MatchState, RunOptions, StateOptions};
    use bluezone::matching::stream::Authenticity;
    use std::path::PathBuf;

    fn scratch(name: &str) -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Each file its own bytes (its start timestamp is its number), as daily files are.
    fn write_files(dir: &std::path::Path, files: &[&[DiagnosisKey]]) -> Vec<PathBuf> {
        files
            .iter()
            .enumerate()
            .map(|(n, keys)| {
                let metadata = ExportMetadata {
                    start_timestamp: Some(n as u64),
                    ..ExportMetadata::default()
                };
                let path = dir.join(format!("{n}.bin"));
                std::fs::write(&path, encode(&metadata, keys, &[])).unwrap();
                path
            })
            .collect()
    }

    fn cut_points(mut cuts: Vec<usize>, len: usize) -> Vec<usize> {
        cuts.iter_mut().for_each(|c| *c %= len + 1);
        cuts.push(0);
        cuts.push(len);
        cuts.sort_unstable();
        cuts
    }

    /// What feeding the files in runs exercised.
    #[derive(Default)]
    struct Exercised {
        runs: usize,
        keys_skipped: u64,
        pending: usize,
        matches_pending: usize,
        rechecked: u64,
    }

    /// Splits `keys` into files at `file_cuts` and the files into runs at `run_cuts`, feeds
    /// them to a new state at `now`, and returns the state's outcome.
    fn feed_in_runs(
        keys: &[DiagnosisKey],
        sightings: &[GaenSighting],
        config: MatchConfig,
        (file_cuts, run_cuts): (Vec<usize>, Vec<usize>),
        now: u64,
        grow: bool,
    ) -> (MatchOutcome, Exercised) {
        let dir = scratch(&format!(
            "state-property-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let files_dir = dir.join("files");
        std::fs::create_dir_all(&files_dir).unwrap();
        let cuts = cut_points(file_cuts, keys.len());
        let files: Vec<&[DiagnosisKey]> = cuts.windows(2).map(|w| &keys[w[0]..w[1]]).collect();
        let paths = write_files(&files_dir, &files);
        let runs = cut_points(run_cuts, paths.len());
        let mut options = StateOptions::default();
        options.keep_days = 60;
        let state_dir = dir.join("state");
        let mut exercised = Exercised::default();
        let last = runs.len().saturating_sub(2);
        for (r, group) in runs.windows(2).enumerate() {
            let mut state = MatchState::open(&state_dir, config, options.clone()).unwrap();
            let summary = state.summary();
            exercised.runs += 1;
            exercised.pending += summary.keys_pending;
            exercised.matches_pending += summary.matches_pending;
            // Each run a little later, so that results not final are evaluated again; with
            // `grow`, each sees the log as it was then, up to its "now" (§state.2.3, finding
            // A1 of the third audit), and the last sees all of it.
            let now = now + 7200 * exercised.runs as u64;
            let visible: Vec<GaenSighting> = sightings
                .iter()
                .filter(|s| !grow || r == last || s.unix_seconds <= now)
                .copied()
                .collect();
            let index = LogIndex::new(visible, config.tolerance_intervals);
            let matcher = Matcher::new(&index, config);
            #[cfg(feature = "parallel")]
            let run = MatchRun::with_threads(&matcher, 2).unwrap();
            #[cfg(not(feature = "parallel"))]
            let run = MatchRun::new(&matcher);
            let mut run = state
                .begin(run, &RunOptions::at(now, Authenticity::Unchecked))
                .unwrap();
            exercised.rechecked += run.rechecked();
            for path in &paths[group[0]..group[1]] {
                match run.feed(path, Authenticity::Unchecked, |_| {}).unwrap() {
                    Fed::Read { keys_skipped, .. } => exercised.keys_skipped += keys_skipped,
                    other => panic!("{other:?}"),
                }
            }
            // The last run is given every file again: each was read, whatever it held that
            // the log did not cover yet.
            if r == last {
                for path in &paths {
                    let fed = run.feed(path, Authenticity::Unchecked, |_| {}).unwrap();
                    assert!(matches!(fed, Fed::AlreadyRead { .. }), "{fed:?}");
                }
            }
            run.commit().unwrap();
        }
        let outcome = MatchState::open(&state_dir, config, options)
            .unwrap()
            .outcome();
        std::fs::remove_dir_all(&dir).unwrap();
        (outcome, exercised)
    }

    fn now_strategy() -> impl Strategy<Value = u64> {
        prop::sample::select(vec![-50i64, 60, 150, 290, 600])
            .prop_map(|offset| ((i64::from(BASE) + offset) * 600) as u64)
    }

    fn cuts_strategy() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
        (
            prop::collection::vec(any::<usize>(), 0..4),
            prop::collection::vec(any::<usize>(), 0..3),
        )
    }

    /// The keys, and as often as not every key once more, as the next daily file serves them
    /// again.
    fn served(keys: Vec<DiagnosisKey>, again: bool) -> Vec<DiagnosisKey> {
        let mut all = keys.clone();
        if again {
            all.extend(keys);
        }
        all
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// §state.3, §state.2: keys in files, fed in runs of any split with a state, give
        /// exactly the outcome of one run over every key, copies with other report types and
        /// windows, revocations and keys whose window the log does not cover yet included.
        /// When the log grows between runs, and the last run is given every file again, the
        /// matches, report types and every count agree too, but for the sightings turned
        /// away from keys already final (§state.3: those are not evaluated again).
        #[test]
        fn state_3_files_fed_over_many_runs_give_one_run(
            (keys, sightings, config) in scenario(),
            cuts in cuts_strategy(),
            now in now_strategy(),
            again in any::<bool>(),
            grow in any::<bool>(),
        ) {
            let keys = served(keys, again);
            let mut whole = production(&keys, &sightings, config);
            let (mut outcome, _) = feed_in_runs(&keys, &sightings, config, cuts, now, grow);
            if grow {
                for o in [&mut outcome, &mut whole] {
                    o.rejected.outside_tolerance = 0;
                    o.rejected.replayed = 0;
                    o.rejected.tx_power_out_of_range = 0;
                }
            }
            prop_assert_eq!(outcome, whole);
        }
    }

    #[test]
    fn state_property_is_not_vacuous() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let mut runner = TestRunner::deterministic();
        let mut totals = Exercised::default();
        let mut split = 0;
        for _ in 0..200 {
            let (keys, sightings, config) = scenario().new_tree(&mut runner).unwrap().current();
            let cuts = cuts_strategy().new_tree(&mut runner).unwrap().current();
            let now = now_strategy().new_tree(&mut runner).unwrap().current();
            let keys = served(keys, true);
            let (_, e) = feed_in_runs(&keys, &sightings, config, cuts, now, true);
            split += usize::from(e.runs > 1);
            totals.keys_skipped += e.keys_skipped;
            totals.pending += e.pending;
            totals.matches_pending += e.matches_pending;
            totals.rechecked += e.rechecked;
        }
        assert!(split > 60, "{split} of 200 cases ran more than once");
        assert!(
            totals.keys_skipped > 20,
            "{} keys skipped",
            totals.keys_skipped
        );
        assert!(totals.pending > 20, "{} keys pending", totals.pending);
        assert!(
            totals.matches_pending > 10,
            "{} matches pending",
            totals.matches_pending
        );
        assert!(totals.rechecked > 20, "{} re-checked", totals.rechecked);
    }
}
