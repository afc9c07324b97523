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

use super::disk::{CUT, CUT_AFTER};
use super::*;
use crate::encounter::GaenSighting;
use crate::export::bin::{ExportMetadata, encode};
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
    let config = MatchConfig::default();
    let index = LogIndex::new(world.sightings.clone(), config.tolerance_intervals);
    let matcher = Matcher::new(&index, config);
    let mut state = MatchState::open(dir, config, StateOptions::default())?;
    let mut run = state.begin(MatchRun::new(&matcher), world.now)?;
    for path in files {
        run.feed(path, Authenticity::Unchecked, |_| {})?;
    }
    run.commit()
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
        MatchState::inspect(&base)
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
        MatchState::inspect(&full)
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
        let inspection = MatchState::inspect(&cut).unwrap();
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
        assert!(MatchState::inspect(&cut).unwrap().leftovers.is_empty());
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
    let inspection = MatchState::inspect(&state).unwrap();
    assert!(inspection.summary.is_none());
    assert_eq!(inspection.damage.len(), 1);
    fs::write(state.join(MANIFEST), &good).unwrap();

    // A flipped bit in a segment: found by inspect and by the next file's join.
    let segment = MatchState::inspect(&state).unwrap().summary.unwrap();
    assert_eq!(segment.segments, 1);
    let manifest = Manifest::decode(&good).unwrap();
    let seg_path = state.join(manifest.segments[0].file_name());
    let seg = fs::read(&seg_path).unwrap();
    let mut flipped = seg.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x80;
    fs::write(&seg_path, &flipped).unwrap();
    let inspection = MatchState::inspect(&state).unwrap();
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

#[test]
fn state_2_a_log_that_gained_sightings_in_checked_time_is_refused() {
    let dir = scratch("log-changed");
    let mut world = world(&dir);
    let state = dir.join("state");
    check(&state, &world, &world.files[..2]).unwrap();
    // Fewer sightings (retention): fine, and the results stay.
    let kept = world.sightings.clone();
    world.sightings.drain(..3);
    let outcome = check(&state, &world, &world.files[2..3]).unwrap();
    assert_eq!(outcome.keys_matched, 3);
    // More sightings in a time already checked: refused.
    world.sightings = kept;
    let mut old = world.sightings[0];
    old.unix_seconds += 1;
    world.sightings.push(old);
    let err = check(&state, &world, &world.files[3..4]).unwrap_err();
    assert!(matches!(err, StateError::LogChanged { .. }), "{err:?}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn state_3_a_file_read_before_is_skipped_and_a_key_checked_before_is_not_derived_again() {
    let dir = scratch("skips");
    let world = world(&dir);
    let state = dir.join("state");
    check(&state, &world, &world.files[..3]).unwrap();
    let config = MatchConfig::default();
    let index = LogIndex::new(world.sightings.clone(), config.tolerance_intervals);
    let matcher = Matcher::new(&index, config);
    let mut opened = MatchState::open(&state, config, StateOptions::default()).unwrap();
    let mut run = opened.begin(MatchRun::new(&matcher), world.now).unwrap();
    assert_eq!(
        run.feed(&world.files[0], Authenticity::Unchecked, |_| {})
            .unwrap(),
        Fed::AlreadyRead
    );
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
    match run.feed(&again, Authenticity::Unchecked, |_| {}).unwrap() {
        Fed::Read { keys_skipped, .. } => assert_eq!(keys_skipped, 19),
        other => panic!("{other:?}"),
    }
    let outcome = run.commit().unwrap();
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
    let config = MatchConfig::default();
    let index = LogIndex::new(world.sightings.clone(), config.tolerance_intervals);
    let matcher = Matcher::new(&index, config);
    let mut opened = MatchState::open(&state, config, StateOptions::default()).unwrap();
    let mut run = opened.begin(MatchRun::new(&matcher), world.now).unwrap();
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
    drop(opened);
    // The damaged file was not recorded as read: once whole, it is read.
    assert_eq!(
        check(&state, &world, &world.files[1..2])
            .unwrap()
            .keys_matched,
        2
    );
    fs::remove_dir_all(&dir).unwrap();
}
