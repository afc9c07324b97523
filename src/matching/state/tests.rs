//! Cuts at every write, damage, and the state's other refusals (spec §state.6, §state.7).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]

use std::path::{Path, PathBuf};
use std::vec::Vec;

use aes::cipher::KeyInit;
use sha2::{Digest, Sha256};

use super::disk::{CUT, CUT_AFTER};
use super::segments::fingerprint;
use super::*;
use crate::encounter::GaenSighting;
use crate::export::bin::{ExportMetadata, encode};
use crate::gaen::DiagnosisKey;
use crate::gaen::{Metadata, ReportType};
use crate::matching::{LogIndex, Matcher};
use crate::time::{EnIntervalNumber, RollingWindow};

const DAY: u32 = 18_600;

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(std::format!("bluezone-state-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn key(n: u32, day: u32, report_type: ReportType) -> DiagnosisKey {
    let mut key_data = [0u8; 16];
    key_data[..4].copy_from_slice(&n.to_le_bytes());
    key_data[4] = 0xA5;
    let mut key = DiagnosisKey::new(
        key_data,
        RollingWindow::day_of(EnIntervalNumber::new(day * 144)),
    );
    key.report_type = report_type;
    key.transmission_risk_level = 3;
    key
}

/// Three sightings of one identifier of `key`, at noon of its day.
fn seen(key: &DiagnosisKey) -> Vec<GaenSighting> {
    let interval = EnIntervalNumber::new(key.window.start().get() + 72);
    let rpi = key.rolling_proximity_identifier_key().identifier(interval);
    let aem = key
        .associated_encrypted_metadata_key()
        .encrypt(&rpi, Metadata::v1_0(-10));
    (0..3)
        .map(|m| GaenSighting {
            unix_seconds: interval.start_unix_seconds() + 60 + m * 120,
            rpi,
            aem,
            rssi: -70,
            previous_scan_unix_seconds: 0,
        })
        .collect()
}

/// Ten daily files: each holds 20 keys of its own, one of them logged as a self report; the
/// last also confirms the first file's logged key by a test and revokes the second's.
struct World {
    files: Vec<PathBuf>,
    sightings: Vec<GaenSighting>,
    now: u64,
}

fn world(dir: &Path) -> World {
    let mut files = Vec::new();
    let mut sightings = Vec::new();
    for f in 0..10u32 {
        let mut keys: Vec<DiagnosisKey> = (0..20)
            .map(|n| key(f * 100 + n, DAY + f, ReportType::ConfirmedTest))
            .collect();
        keys[0].report_type = ReportType::SelfReport;
        sightings.extend(seen(&keys[0]));
        if f == 9 {
            let mut confirmed = key(0, DAY, ReportType::ConfirmedTest);
            confirmed.transmission_risk_level = 3;
            keys.push(confirmed);
            keys.push(key(100, DAY + 1, ReportType::Revoked));
        }
        let metadata = ExportMetadata {
            start_timestamp: Some(u64::from(f)),
            ..ExportMetadata::default()
        };
        let path = dir.join(std::format!("{f}.bin"));
        fs::write(&path, encode(&metadata, &keys, &[])).unwrap();
        files.push(path);
    }
    World {
        files,
        sightings,
        now: u64::from(DAY + 12) * 86_400,
    }
}

fn check(dir: &Path, world: &World, files: &[PathBuf]) -> Result<MatchOutcome, StateError> {
    run_with(
        dir,
        &world.sightings,
        world.now,
        StateOptions::default(),
        Authenticity::Unchecked,
        files,
    )
}

/// Opens the state in `dir` with `options`, begins a run against `sightings` at `now` under
/// `authenticity`, and hands it to `then`.
fn with_run<T>(
    dir: &Path,
    sightings: &[GaenSighting],
    now: u64,
    options: StateOptions,
    authenticity: Authenticity<'_>,
    then: impl FnOnce(StateRun<'_, '_, '_>) -> Result<T, StateError>,
) -> Result<T, StateError> {
    let config = MatchConfig::default();
    let index = LogIndex::new(sightings.to_vec(), config.tolerance_intervals);
    let matcher = Matcher::new(&index, config);
    let mut opened = MatchState::open(dir, config, options)?;
    then(opened.begin(MatchRun::new(&matcher), &RunOptions::at(now, authenticity))?)
}

fn outcome_of(dir: &Path) -> MatchOutcome {
    MatchState::open(dir, MatchConfig::default(), StateOptions::default())
        .unwrap()
        .outcome()
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = fs::remove_dir_all(to);
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn state_6_a_run_cut_at_every_write_leaves_the_old_state_or_the_new() {
    let dir = scratch("cut");
    let world = world(&dir);
    let base = dir.join("base");
    // Eight runs of one file each: eight segments, so that the ninth run merges them.
    for file in &world.files[..8] {
        check(&base, &world, core::slice::from_ref(file)).unwrap();
    }
    assert_eq!(
        MatchState::inspect(&base, None)
            .unwrap()
            .summary
            .unwrap()
            .segments,
        8
    );
    let old = outcome_of(&base);
    let full = dir.join("full");
    copy_dir(&base, &full);
    let new = check(&full, &world, &world.files[8..]).unwrap();
    assert_ne!(old, new);
    assert_eq!(new.report_type_transitions, 2);
    assert_eq!(
        MatchState::inspect(&full, None)
            .unwrap()
            .summary
            .unwrap()
            .segments,
        1
    );

    let mut cuts = 0;
    for k in 0.. {
        let cut = dir.join(std::format!("cut-{k}"));
        copy_dir(&base, &cut);
        CUT_AFTER.with(|c| c.set(Some(k)));
        CUT.with(|c| c.set(false));
        let result = check(&cut, &world, &world.files[8..]);
        CUT_AFTER.with(|c| c.set(None));
        let happened = CUT.with(core::cell::Cell::get);
        let after = outcome_of(&cut);
        assert!(after == old || after == new, "cut at write {k}");
        // The fourth write is the rename of the manifest: a cut before it leaves the old
        // state, a cut after it the new one.
        assert_eq!(
            after,
            if k < 4 { &old } else { &new }.clone(),
            "cut at write {k}"
        );
        assert_eq!(
            result.is_err(),
            happened && k < 5,
            "cut at write {k}: {result:?}"
        );
        let inspection = MatchState::inspect(&cut, None).unwrap();
        assert!(
            inspection.damage.is_empty(),
            "cut at write {k}: {inspection:?}"
        );
        // The state goes on from either: the same file again gives the new state.
        assert_eq!(
            check(&cut, &world, &world.files[8..]).unwrap(),
            new,
            "cut at {k}"
        );
        assert!(
            MatchState::inspect(&cut, None)
                .unwrap()
                .leftovers
                .is_empty()
        );
        fs::remove_dir_all(&cut).unwrap();
        if !happened {
            break;
        }
        cuts += 1;
    }
    // Writes: the run's segment, the merged one, the manifest, its rename, the folder's
    // sync, and the removal of each of the nine merged segments.
    assert_eq!(cuts, 14);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn state_7_damage_is_found_and_named_and_a_rebuild_recovers() {
    let dir = scratch("damage");
    let world = world(&dir);
    let state = dir.join("state");
    let expected = check(&state, &world, &world.files).unwrap();

    // A flipped bit in the manifest: refused on open, named by inspect.
    let good = fs::read(state.join(MANIFEST)).unwrap();
    let mut bad = good.clone();
    bad[40] ^= 1;
    fs::write(state.join(MANIFEST), &bad).unwrap();
    let err = check(&state, &world, &world.files[..1]).unwrap_err();
    assert!(
        matches!(
            err,
            StateError::Damaged {
                reason: DamageReason::Checksum,
                ..
            }
        ),
        "{err:?}"
    );
    let inspection = MatchState::inspect(&state, None).unwrap();
    assert!(inspection.summary.is_none());
    assert_eq!(inspection.damage.len(), 1);
    fs::write(state.join(MANIFEST), &good).unwrap();

    // A flipped bit in a segment: found by inspect and by the next file's join.
    let segment = MatchState::inspect(&state, None).unwrap().summary.unwrap();
    assert_eq!(segment.segments, 1);
    let manifest = Manifest::decode(&good, None).unwrap();
    let seg_path = state.join(manifest.segments[0].file_name());
    let seg = fs::read(&seg_path).unwrap();
    let mut flipped = seg.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x80;
    fs::write(&seg_path, &flipped).unwrap();
    let inspection = MatchState::inspect(&state, None).unwrap();
    assert_eq!(inspection.damage.len(), 1);
    assert_eq!(inspection.damage[0].reason, DamageReason::Checksum);
    let extra = dir.join("extra.bin");
    fs::write(
        &extra,
        encode(
            &ExportMetadata::default(),
            &[key(7777, DAY, ReportType::ConfirmedTest)],
            &[],
        ),
    )
    .unwrap();
    let err = check(&state, &world, core::slice::from_ref(&extra)).unwrap_err();
    assert!(matches!(err, StateError::Damaged { .. }), "{err:?}");

    // A segment cut short: refused on open.
    fs::write(&seg_path, &seg[..seg.len() - 3]).unwrap();
    let err = check(&state, &world, &world.files[..1]).unwrap_err();
    assert!(
        matches!(
            err,
            StateError::Damaged {
                reason: DamageReason::Truncated,
                ..
            }
        ),
        "{err:?}"
    );

    // The rebuild: remove the state and check every file afresh.
    MatchState::remove(&state).unwrap();
    assert_eq!(check(&state, &world, &world.files).unwrap(), expected);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn state_1_refuses_a_foreign_folder_other_rules_and_a_second_opener() {
    let dir = scratch("refusals");
    let world = world(&dir);
    let err = MatchState::open(&dir, MatchConfig::default(), StateOptions::default()).unwrap_err();
    assert!(matches!(err, StateError::NotAState { .. }), "{err:?}");
    assert!(matches!(
        MatchState::remove(&dir),
        Err(StateError::NotAState { .. })
    ));
    let state = dir.join("state");
    check(&state, &world, &world.files[..1]).unwrap();
    let other = MatchConfig {
        tolerance_intervals: 6,
        ..MatchConfig::default()
    };
    let err = MatchState::open(&state, other, StateOptions::default()).unwrap_err();
    assert!(matches!(err, StateError::OtherRules { .. }), "{err:?}");
    let held = MatchState::open(&state, MatchConfig::default(), StateOptions::default()).unwrap();
    let err =
        MatchState::open(&state, MatchConfig::default(), StateOptions::default()).unwrap_err();
    assert!(matches!(err, StateError::Busy { .. }), "{err:?}");
    let err = MatchState::remove(&state).unwrap_err();
    assert!(matches!(err, StateError::Busy { .. }), "{err:?}");
    drop(held);
    MatchState::remove(&state).unwrap();
    assert!(!state.exists());
    fs::remove_dir_all(&dir).unwrap();
}

/// A stateless check of `files` against the world's log at its "now": what a state must
/// always agree with.
fn fresh(world: &World, files: &[PathBuf]) -> MatchOutcome {
    static N: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    let dir = scratch(&std::format!("fresh-{n}"));
    let outcome = check(&dir.join("state"), world, files).unwrap();
    fs::remove_dir_all(&dir).unwrap();
    outcome
}

/// Checks §state.2.1 (findings A3 and A7 of the third audit): a log that lost sightings of a
/// day the state checked, or holds others, is refused with the day; a log that dropped its
/// oldest days whole (retention) is the same log; a log that only gained sightings makes the
/// run read every file the state knows again, and the result equals a fresh check.
#[test]
fn state_2_1_a_state_belongs_to_one_log() {
    let dir = scratch("log-bound");
    let mut world = world(&dir);
    let state = dir.join("state");
    check(&state, &world, &world.files[..2]).unwrap();
    // The first day dropped whole (retention): the same log, and the results stay.
    world.sightings.drain(..3);
    let outcome = check(&state, &world, &world.files[2..3]).unwrap();
    assert_eq!(outcome.keys_matched, 3);

    // Another phone's log: as many sightings, other ones, on a day already checked.
    let other = dir.join("other");
    check(&other, &world, &world.files[..4]).unwrap();
    let mut foreign = world.sightings.clone();
    foreign[4].rssi = -71;
    let err = check(
        &other,
        &World {
            files: Vec::new(),
            sightings: foreign,
            now: world.now,
        },
        &world.files[4..5],
    )
    .unwrap_err();
    match err {
        StateError::LogChanged { day, missing, .. } => {
            assert_eq!((day, missing), (DAY + 2, 1));
        }
        other => panic!("{other:?}"),
    }
    // A log that lost a sighting of a day in the middle: refused the same way.
    let mut lost = world.sightings.clone();
    lost.remove(7);
    let err = check(
        &other,
        &World {
            files: Vec::new(),
            sightings: lost,
            now: world.now,
        },
        &world.files[4..5],
    )
    .unwrap_err();
    assert!(
        matches!(err, StateError::LogChanged { day, .. } if day == DAY + 3),
        "{err:?}"
    );
    // A log with nothing left in it: refused, not taken for retention.
    let err = check(
        &other,
        &World {
            files: Vec::new(),
            sightings: Vec::new(),
            now: world.now,
        },
        &world.files[4..5],
    )
    .unwrap_err();
    assert!(
        matches!(err, StateError::LogChanged { now: 0, .. }),
        "{err:?}"
    );

    // A log that gained sightings in checked time (a wristband synced late): the state reads
    // every file it knows again, and agrees with a fresh check of all the files.
    let late_key = key(205, DAY + 2, ReportType::ConfirmedTest);
    world.sightings.extend(seen(&late_key));
    let outcome = with_run(
        &state,
        &world.sightings,
        world.now,
        StateOptions::default(),
        Authenticity::Unchecked,
        |mut run| {
            let rebuilt = run.rebuilt().unwrap().clone();
            assert_eq!(rebuilt.read_again.len(), 3);
            assert!(
                matches!(&rebuilt.why, Rebuild::LogGained { days, sightings: 3 } if days == &[DAY + 2])
            );
            for path in &world.files[3..] {
                run.feed(path, Authenticity::Unchecked, |_| {}).unwrap();
            }
            run.commit()
        },
    )
    .unwrap();
    assert_eq!(outcome, fresh(&world, &world.files));
    assert!(
        outcome
            .matches
            .iter()
            .any(|m| m.key.key_data == late_key.key_data)
    );
    // A known file that is gone cannot be read again: refused, naming it.
    world
        .sightings
        .extend(seen(&key(305, DAY + 3, ReportType::ConfirmedTest)));
    let moved = dir.join("moved.bin");
    fs::rename(&world.files[0], &moved).unwrap();
    let err = check(&state, &world, &[]).unwrap_err();
    assert!(
        matches!(&err, StateError::ReadAgain { path, .. } if path.ends_with("0.bin")),
        "{err:?}"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn state_3_a_file_read_before_is_skipped_and_a_key_checked_before_is_not_derived_again() {
    let dir = scratch("skips");
    let world = world(&dir);
    let state = dir.join("state");
    check(&state, &world, &world.files[..3]).unwrap();
    // The same keys in other bytes (another start timestamp): every key not matched is known.
    let keys: Vec<DiagnosisKey> = (0..20)
        .map(|n| {
            let mut k = key(n, DAY, ReportType::ConfirmedTest);
            if n == 0 {
                k.report_type = ReportType::SelfReport;
            }
            k
        })
        .collect();
    let again = dir.join("again.bin");
    let metadata = ExportMetadata {
        start_timestamp: Some(99),
        ..ExportMetadata::default()
    };
    fs::write(&again, encode(&metadata, &keys, &[])).unwrap();
    let outcome = with_run(
        &state,
        &world.sightings,
        world.now,
        StateOptions::default(),
        Authenticity::Unchecked,
        |mut run| {
            assert_eq!(
                run.feed(&world.files[0], Authenticity::Unchecked, |_| {})
                    .unwrap(),
                Fed::AlreadyRead { authentic: false }
            );
            match run.feed(&again, Authenticity::Unchecked, |_| {}).unwrap() {
                Fed::Read { keys_skipped, .. } => assert_eq!(keys_skipped, 19),
                other => panic!("{other:?}"),
            }
            run.commit()
        },
    )
    .unwrap();
    assert_eq!(outcome.rejected.duplicate_keys, 1);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn state_4_results_age_out_after_keep_days() {
    let dir = scratch("age");
    let mut world = world(&dir);
    let state = dir.join("state");
    let all = check(&state, &world, &world.files).unwrap();
    assert_eq!(all.keys_matched, 10);
    // Just over sixteen days after the fourth file's day ended, its result and the three
    // before it are gone.
    world.now = u64::from(DAY + 4 + 16) * 86_400 + 1;
    let extra = dir.join("extra.bin");
    fs::write(&extra, encode(&ExportMetadata::default(), &[], &[])).unwrap();
    let outcome = check(&state, &world, core::slice::from_ref(&extra)).unwrap();
    assert_eq!(outcome.keys_matched, 6);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn state_1_2_the_fingerprint_is_two_aes_blocks_under_the_secret() {
    use aes::cipher::BlockCipherEncrypt;
    let secret = [0x42u8; 16];
    let cipher = Aes128Enc::new(&Array::from(secret));
    let k = key(7, DAY, ReportType::ConfirmedTest);
    // Written out from §state.1.2: AES(AES(key) xor (LE32 start || LE32 period || 0^8)).
    let mut block = Array::from(k.key_data);
    cipher.encrypt_block(&mut block);
    let mut tweak = [0u8; 16];
    tweak[..4].copy_from_slice(&(DAY * 144).to_le_bytes());
    tweak[4..8].copy_from_slice(&144u32.to_le_bytes());
    for (b, t) in block.iter_mut().zip(tweak) {
        *b ^= t;
    }
    cipher.encrypt_block(&mut block);
    assert_eq!(fingerprint(&cipher, &k)[..], block[..12]);
    // The window is part of it; the report type and risk level are not.
    let mut other = k;
    other.report_type = ReportType::SelfReport;
    other.transmission_risk_level = 7;
    assert_eq!(fingerprint(&cipher, &other), fingerprint(&cipher, &k));
    other.window = RollingWindow::day_of(EnIntervalNumber::new((DAY + 1) * 144));
    assert_ne!(fingerprint(&cipher, &other), fingerprint(&cipher, &k));
}

#[test]
fn state_3_a_damaged_file_is_named_and_leaves_the_run_as_before_it() {
    let dir = scratch("damaged-file");
    let world = world(&dir);
    let state = dir.join("state");
    let bytes = fs::read(&world.files[1]).unwrap();
    let cut = dir.join("cut.bin");
    fs::write(&cut, &bytes[..bytes.len() - 5]).unwrap();
    with_run(
        &state,
        &world.sightings,
        world.now,
        StateOptions::default(),
        Authenticity::Unchecked,
        |mut run| {
            run.feed(&world.files[0], Authenticity::Unchecked, |_| {})
                .unwrap();
            let before = run.outcome();
            let err = run.feed(&cut, Authenticity::Unchecked, |_| {}).unwrap_err();
            assert!(
                matches!(&err, StateError::File { path, .. } if path == &cut),
                "{err:?}"
            );
            assert!(
                err.to_string().starts_with(&cut.display().to_string()),
                "{err}"
            );
            assert_eq!(run.outcome(), before);
            let outcome = run.commit().unwrap();
            assert_eq!(outcome, before);
            Ok(())
        },
    )
    .unwrap();
    // The damaged file was not recorded as read: once whole, it is read.
    assert_eq!(
        check(&state, &world, &world.files[1..2])
            .unwrap()
            .keys_matched,
        2
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// One file holding `keys`, in `dir`.
fn file_of(dir: &Path, name: &str, keys: &[DiagnosisKey]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, encode(&ExportMetadata::default(), keys, &[])).unwrap();
    path
}

/// A run of `files` against `sightings` at `now`, with `options` and `authenticity`.
fn run_with(
    state: &Path,
    sightings: &[GaenSighting],
    now: u64,
    options: StateOptions,
    authenticity: Authenticity<'_>,
    files: &[PathBuf],
) -> Result<MatchOutcome, StateError> {
    with_run(state, sightings, now, options, authenticity, |mut run| {
        for path in files {
            run.feed(path, authenticity, |_| {})?;
        }
        run.commit()
    })
}

/// Checks §state.2 item 3 and §state.3 (finding A1 of the third audit): a key whose window
/// the log does not cover yet is remembered, not dropped, although its file is recorded as
/// read; once the log grows, the same file fed again (already read) finds it, as a fresh
/// check does. Before the fix the file was "already read" and the key was lost for good.
#[test]
fn state_2_3_a_key_beyond_the_coverage_is_remembered_and_found_when_the_log_grows() {
    let dir = scratch("a1");
    let state = dir.join("state");
    let early = key(1, DAY, ReportType::ConfirmedTest);
    let later = key(2, DAY + 1, ReportType::ConfirmedTest);
    let file = file_of(&dir, "a.bin", &[early, later]);
    // The log on the first day: one unrelated sighting; "now" on that day.
    let mut sightings = seen(&key(99, DAY, ReportType::ConfirmedTest));
    let first_now = u64::from(DAY) * 86_400 + 80_000;
    let first = run_with(
        &state,
        &sightings,
        first_now,
        StateOptions::default(),
        Authenticity::Unchecked,
        core::slice::from_ref(&file),
    )
    .unwrap();
    assert_eq!(first.keys_matched, 0);
    assert_eq!(
        MatchState::inspect(&state, None)
            .unwrap()
            .summary
            .unwrap()
            .keys_pending,
        2,
        "both keys are remembered: one not final, one beyond the coverage"
    );
    // The next day the log holds the later key's sightings; the same file is given again.
    sightings.extend(seen(&later));
    let second_now = u64::from(DAY + 2) * 86_400 + 7_200;
    let second = run_with(
        &state,
        &sightings,
        second_now,
        StateOptions::default(),
        Authenticity::Unchecked,
        core::slice::from_ref(&file),
    )
    .unwrap();
    let fresh = run_with(
        &dir.join("fresh"),
        &sightings,
        second_now,
        StateOptions::default(),
        Authenticity::Unchecked,
        core::slice::from_ref(&file),
    )
    .unwrap();
    assert_eq!(second, fresh);
    assert_eq!(second.keys_matched, 1);
    fs::remove_dir_all(&dir).unwrap();
}

/// Checks §time.4 and §state.2 (finding A2 of the third audit): a "now" in milliseconds, or
/// before 2020, is refused before anything changes, so it can neither age out stored results
/// nor pin the coverage in the future.
#[test]
fn state_2_an_implausible_now_is_refused_and_changes_nothing() {
    let dir = scratch("a2");
    let world = world(&dir);
    let state = dir.join("state");
    let good = check(&state, &world, &world.files[..3]).unwrap();
    let before = fs::read(state.join(MANIFEST)).unwrap();
    for now in [world.now * 1000, 18_600, crate::time::wall_clock() + 7_200] {
        let err = run_with(
            &state,
            &world.sightings,
            now,
            StateOptions::default(),
            Authenticity::Unchecked,
            &world.files[3..4],
        )
        .unwrap_err();
        assert!(matches!(err, StateError::Clock(_)), "{now}: {err:?}");
    }
    assert_eq!(fs::read(state.join(MANIFEST)).unwrap(), before);
    assert_eq!(outcome_of(&state), good);
    fs::remove_dir_all(&dir).unwrap();
}

/// Checks §state.3 step 1 (finding A4 of the third audit): the bytes hashed are the bytes
/// matched. A downloader replaces the file under a fixed name while runs feed it; every run
/// must record the hash of the file whose keys it matched. Before the fix (two opens) about
/// half of such runs recorded the other file's hash.
#[test]
fn state_3_the_bytes_hashed_are_the_bytes_matched() {
    let dir = scratch("a4");
    let target = key(7, DAY, ReportType::ConfirmedTest);
    let sightings = seen(&target);
    let mut with: Vec<DiagnosisKey> = (0..40_000)
        .map(|n| key(1_000_000 + n, DAY, ReportType::ConfirmedTest))
        .collect();
    let without = with.clone();
    with.push(target);
    let x = file_of(&dir, "x.bin", &with);
    let y = file_of(&dir, "y.bin", &without);
    let hash_of = |path: &Path| -> [u8; 32] { Sha256::digest(fs::read(path).unwrap()).into() };
    let (hash_x, hash_y) = (hash_of(&x), hash_of(&y));
    let daily = dir.join("daily.bin");
    fs::copy(&x, &daily).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let (dir, x, y, daily, stop) = (
            dir.clone(),
            x.clone(),
            y.clone(),
            daily.clone(),
            stop.clone(),
        );
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let tmp = dir.join(std::format!("swap-{n}"));
                fs::hard_link(if n.is_multiple_of(2) { &y } else { &x }, &tmp).unwrap();
                fs::rename(&tmp, &daily).unwrap();
                n += 1;
            }
        })
    };
    let now = u64::from(DAY + 2) * 86_400;
    for run in 0..30 {
        let state = dir.join(std::format!("state-{run}"));
        let outcome = run_with(
            &state,
            &sightings,
            now,
            StateOptions::default(),
            Authenticity::Unchecked,
            core::slice::from_ref(&daily),
        )
        .unwrap();
        let opened =
            MatchState::open(&state, MatchConfig::default(), StateOptions::default()).unwrap();
        let recorded = opened.manifest.files[0].sha256;
        let expected = if outcome.keys_matched == 1 {
            hash_x
        } else {
            hash_y
        };
        assert_eq!(
            recorded, expected,
            "run {run}: the hash of other bytes was recorded"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    swapper.join().unwrap();
    fs::remove_dir_all(&dir).unwrap();
}

/// Checks §state.3.1 (finding A5 of the third audit): the state remembers which results came
/// from files that were not authentic; a run that requires authentic files refuses such a
/// state, and a rebuild under it drops those files and names them.
#[test]
fn state_3_1_results_of_unauthentic_files_are_remembered_and_refused_when_required() {
    let dir = scratch("a5");
    let world = world(&dir);
    let state = dir.join("state");
    check(&state, &world, &world.files[..2]).unwrap();
    let opened = MatchState::open(&state, MatchConfig::default(), StateOptions::default()).unwrap();
    let summary = opened.summary();
    assert_eq!(
        (summary.unauthentic_files, summary.unauthentic_matches),
        (2, 2)
    );
    assert_eq!(opened.unauthentic_matches().len(), 2);
    drop(opened);
    let registry = crate::export::verify::PublicKeyRegistry::new();
    let err = run_with(
        &state,
        &world.sightings,
        world.now,
        StateOptions::default(),
        Authenticity::Required(&registry),
        &[],
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            StateError::Unauthentic {
                files: 2,
                matches: 2,
                ..
            }
        ),
        "{err:?}"
    );
    // A rebuild under the same requirement drops both files and names them.
    let options = StateOptions {
        rebuild: true,
        ..StateOptions::default()
    };
    let outcome = with_run(
        &state,
        &world.sightings,
        world.now,
        options,
        Authenticity::Required(&registry),
        |run| {
            assert_eq!(run.rebuilt().unwrap().dropped_unauthentic.len(), 2);
            run.commit()
        },
    )
    .unwrap();
    assert_eq!(outcome.keys_matched, 0);
    fs::remove_dir_all(&dir).unwrap();
}

/// Checks §state.1 and §state.7 (findings A8 and A9 of the third audit): a new state has a
/// manifest from its first open, so segments without one are damage (refused by `open`,
/// reported by `inspect`); an empty folder holds no state; and `inspect` while other
/// processes commit never reports damage.
#[test]
fn state_7_a_lost_manifest_is_damage_and_inspect_during_commits_sees_none() {
    let dir = scratch("a8");
    let world = world(&dir);
    let state = dir.join("state");
    drop(MatchState::open(&state, MatchConfig::default(), StateOptions::default()).unwrap());
    assert!(state.join(MANIFEST).exists(), "written on the first open");
    check(&state, &world, &world.files[..3]).unwrap();
    fs::remove_file(state.join(MANIFEST)).unwrap();
    let err = check(&state, &world, &world.files[3..4]).unwrap_err();
    assert!(
        matches!(&err, StateError::Damaged { reason: DamageReason::Missing, file } if file.ends_with(MANIFEST)),
        "{err:?}"
    );
    let inspection = MatchState::inspect(&state, None).unwrap();
    assert_eq!(inspection.damage.len(), 1);
    let empty = dir.join("empty");
    fs::create_dir_all(&empty).unwrap();
    assert!(matches!(
        MatchState::inspect(&empty, None),
        Err(StateError::NoState { .. })
    ));

    // Runs that commit (and merge) in one thread, inspections in another.
    let busy = dir.join("busy");
    let files: Vec<PathBuf> = (0..46u32)
        .map(|n| {
            let keys: Vec<DiagnosisKey> = (0..4000)
                .map(|k| key(10_000 + n * 10_000 + k, DAY, ReportType::ConfirmedTest))
                .collect();
            file_of(&dir, &std::format!("busy-{n}.bin"), &keys)
        })
        .collect();
    check(&busy, &world, &files[..1]).unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let inspector = {
        let (busy, done) = (busy.clone(), done.clone());
        std::thread::spawn(move || {
            let mut inspections = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                match MatchState::inspect(&busy, None) {
                    Ok(inspection) => assert!(inspection.damage.is_empty(), "{inspection:?}"),
                    Err(StateError::Busy { .. }) => {}
                    Err(e) => panic!("{e:?}"),
                }
                inspections += 1;
            }
            inspections
        })
    };
    for file in &files[1..] {
        check(&busy, &world, core::slice::from_ref(file)).unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(inspector.join().unwrap() > 0);
    fs::remove_dir_all(&dir).unwrap();
}

/// Checks §state.1.3 (finding A10 of the third audit): a state made with a key opens only
/// with it, its secret is not on disk, and one made without a key is refused with one.
#[test]
fn state_1_3_a_keyed_state_opens_only_with_its_key() {
    let dir = scratch("a10");
    let world = world(&dir);
    let keyed = dir.join("keyed");
    let options = StateOptions {
        key: Some(StateKey::from_bytes([9; 32])),
        ..StateOptions::default()
    };
    let with_key = || {
        run_with(
            &keyed,
            &world.sightings,
            world.now,
            options.clone(),
            Authenticity::Unchecked,
            &world.files[..2],
        )
    };
    let expected = with_key().unwrap();
    assert_eq!(with_key().unwrap(), expected);
    let err = check(&keyed, &world, &[]).unwrap_err();
    assert!(
        matches!(
            err,
            StateError::Damaged {
                reason: DamageReason::KeyNeeded,
                ..
            }
        ),
        "{err:?}"
    );
    let other = StateOptions {
        key: Some(StateKey::from_bytes([8; 32])),
        ..StateOptions::default()
    };
    let err = MatchState::open(&keyed, MatchConfig::default(), other.clone()).unwrap_err();
    assert!(
        matches!(
            err,
            StateError::Damaged {
                reason: DamageReason::Mac,
                ..
            }
        ),
        "{err:?}"
    );
    let plain = dir.join("plain");
    check(&plain, &world, &world.files[..1]).unwrap();
    let err = MatchState::open(&plain, MatchConfig::default(), other).unwrap_err();
    assert!(
        matches!(
            err,
            StateError::Damaged {
                reason: DamageReason::NotKeyed,
                ..
            }
        ),
        "{err:?}"
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// Checks §state.7 (finding A7 of the third audit): a rebuild reads again every file the state
/// knows, not only the files given; the audit's rebuild with the last day's file alone kept 7
/// of 21 matches.
#[test]
fn state_7_a_rebuild_reads_every_file_the_state_knows() {
    let dir = scratch("a7-rebuild");
    let world = world(&dir);
    let state = dir.join("state");
    for file in &world.files {
        check(&state, &world, core::slice::from_ref(file)).unwrap();
    }
    let options = StateOptions {
        rebuild: true,
        ..StateOptions::default()
    };
    let rebuilt = run_with(
        &state,
        &world.sightings,
        world.now,
        options,
        Authenticity::Unchecked,
        &world.files[9..],
    )
    .unwrap();
    assert_eq!(rebuilt, fresh(&world, &world.files));
    assert_eq!(rebuilt.keys_matched, 10);
    assert_eq!(outcome_of(&state), rebuilt);
    fs::remove_dir_all(&dir).unwrap();
}

/// Checks §state.3.1: a stored match whose report type a file that was not authentic changed
/// (here, an unsigned file revokes a key an authentic file brought) is named among the
/// unauthentic results, not only the matches such a file stored itself.
#[test]
fn state_3_1_a_match_changed_by_an_unauthentic_file_is_named() {
    use crate::export::verify::PublicKeyRegistry;
    use crate::export::verify::p256::ecdsa::SigningKey;
    use crate::export::{Signer, write_signed};
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::SeedableRng;
    let dir = scratch("a5-changed");
    // A clinical diagnosis may be revoked (Google's table; a confirmed test may not).
    let confirmed = key(1, DAY, ReportType::ConfirmedClinicalDiagnosis);
    let signing = SigningKey::from_slice(&[5u8; 32]).unwrap();
    let signer = Signer {
        key: &signing,
        key_id: "452",
        key_version: "v1",
    };
    let written = write_signed(
        std::io::Cursor::new(Vec::new()),
        &ExportMetadata::default(),
        std::vec![confirmed],
        0,
        &mut ChaCha20Rng::seed_from_u64(1),
        &[signer],
    )
    .unwrap();
    let signed = dir.join("signed.zip");
    fs::write(&signed, written.out.into_inner()).unwrap();
    let mut revoked = confirmed;
    revoked.report_type = ReportType::Revoked;
    let unsigned = file_of(&dir, "revocation.bin", &[revoked]);
    let mut registry = PublicKeyRegistry::new();
    registry.add(Some("452"), Some("v1"), *signing.verifying_key());
    let state = dir.join("state");
    let now = u64::from(DAY + 3) * 86_400;
    let reported = Authenticity::Reported(&registry);
    run_with(
        &state,
        &seen(&confirmed),
        now,
        StateOptions::default(),
        reported,
        core::slice::from_ref(&signed),
    )
    .unwrap();
    let opened = MatchState::open(&state, MatchConfig::default(), StateOptions::default()).unwrap();
    assert!(
        opened.unauthentic_matches().is_empty(),
        "the signed file's match"
    );
    drop(opened);
    let outcome = run_with(
        &state,
        &seen(&confirmed),
        now,
        StateOptions::default(),
        reported,
        core::slice::from_ref(&unsigned),
    )
    .unwrap();
    assert_eq!(outcome.report_type_transitions, 1);
    let opened = MatchState::open(&state, MatchConfig::default(), StateOptions::default()).unwrap();
    assert_eq!(opened.unauthentic_matches(), std::vec![confirmed.key_data]);
    fs::remove_dir_all(&dir).unwrap();
}
