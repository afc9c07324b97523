//! Cuts at every write, damage, and the state's other refusals (spec §state.1, §state.6,
//! §state.7).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]

use super::*;

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
