//! Runs over a state agree with a fresh check (spec §state.1.2 to §state.4).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]

use super::*;
use crate::matching::state::fingerprints::fingerprint;

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
