//! Risk scoring: hand-computed examples and properties.
#![cfg(feature = "alloc")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]

use bluezone::gaen::{
    AssociatedEncryptedMetadata, DiagnosisKey, Metadata, ReportType, RollingProximityIdentifier,
};
use bluezone::matching::MatchedSighting;
use bluezone::risk::scoring::weighted_attenuation;
use bluezone::risk::{
    DailySummariesConfig, DurationBoundaries, ExposureConfigurationV1, F1Rule, Infectiousness,
    WindowConfig, WindowCut, scoring, windows,
};
use bluezone::{EnIntervalNumber, RollingWindow};
use proptest::prelude::*;

const DAY: u64 = 18_500;

fn key() -> DiagnosisKey {
    let mut key = DiagnosisKey::new(
        [1; 16],
        RollingWindow::day_of(EnIntervalNumber::new(DAY as u32 * 144)),
    );
    key.report_type = ReportType::ConfirmedTest;
    key.transmission_risk_level = 5;
    key
}

fn sighting(unix_seconds: u64, attenuation: u8, previous: u64) -> MatchedSighting {
    MatchedSighting {
        unix_seconds,
        en_interval_number: EnIntervalNumber::new((unix_seconds / 600) as u32),
        rpi: RollingProximityIdentifier::default(),
        rssi: -i8::try_from(attenuation).unwrap_or(127),
        aem: AssociatedEncryptedMetadata::default(),
        metadata: Metadata::v1_0(0),
        tx_power: 0,
        attenuation,
        previous_scan_unix_seconds: previous,
    }
}

#[test]
/// Checks spec §risk.3.2.
fn the_weighted_attenuation_example_of_the_api_documentation() {
    // exposure_result.proto: t=0:1, t=10:4, t=50:5 with scan interval 6 → 188 / 56 = 3.36 → 3.
    assert_eq!(weighted_attenuation(&[(0, 1), (10, 4), (50, 5)], 6), 3);
    // One point: its own attenuation.
    assert_eq!(weighted_attenuation(&[(100, 60)], 300), 60);
    // (150·40 + 300·40 + 150·80) / 600 = 50.
    assert_eq!(weighted_attenuation(&[(0, 40), (300, 80)], 300), 50);
}

#[test]
/// Checks spec §risk.1, §risk.1.2.
fn scan_instances_and_windows_follow_the_engine() {
    let t0 = DAY * 86_400 + 3_600;
    let sightings = [
        sighting(t0, 50, 0),                // new window, unknown previous scan: 120 s
        sighting(t0 + 20, 53, 0),           // same scan (≤ 25.5 s): mean 51.5 → 52, min 50
        sighting(t0 + 250, 60, t0),         // new scan: 4 minutes since t0's minute → 240 s
        sighting(t0 + 900, 70, t0 + 250),   // minute difference 11 → capped at 5 → 300 s
        sighting(t0 + 1800, 40, t0 + 1500), // ≥ 1800 s after the window start: new window
    ];
    let windows = windows::exposure_windows(&key(), &sightings, &WindowConfig::default());
    assert_eq!(windows.len(), 2);
    let first = &windows[0].scan_instances;
    assert_eq!(first.len(), 3);
    assert_eq!(
        (
            first[0].typical_attenuation_db,
            first[0].min_attenuation_db,
            first[0].seconds_since_last_scan
        ),
        (52, 50, 120)
    );
    assert_eq!(first[0].sightings, 2);
    assert_eq!(
        (
            first[1].typical_attenuation_db,
            first[1].seconds_since_last_scan
        ),
        (60, 240)
    );
    assert_eq!(
        (
            first[2].typical_attenuation_db,
            first[2].seconds_since_last_scan
        ),
        (70, 300)
    );
    assert_eq!(windows[1].scan_instances[0].seconds_since_last_scan, 300);
    assert_eq!(windows[0].unix_day, DAY);
    assert_eq!(windows[0].report_type, ReportType::ConfirmedTest);
}

#[test]
/// Checks spec §risk.1.3.
fn infectiousness_from_the_published_map() {
    let mut config = WindowConfig::default();
    config.set_infectiousness_map("0x0555555555555555").unwrap();
    assert!(
        config
            .infectiousness_by_onset
            .iter()
            .all(|i| *i == Infectiousness::Standard)
    );
    // Day −14 none, day 0 high, missing onset none.
    let value: u64 = (1 << (2 * 14 + 1)) | (0b01 << 2);
    config
        .set_infectiousness_map(&format!("{value:016x}"))
        .unwrap();
    assert_eq!(config.infectiousness_by_onset[0], Infectiousness::None);
    assert_eq!(config.infectiousness_by_onset[1], Infectiousness::Standard);
    assert_eq!(config.infectiousness_by_onset[14], Infectiousness::High);
    assert_eq!(
        config.infectiousness_when_onset_missing,
        Infectiousness::None
    );
    let mut key = key();
    key.days_since_onset_of_symptoms = Some(0);
    assert_eq!(config.infectiousness(&key), Infectiousness::High);
    key.days_since_onset_of_symptoms = Some(15);
    assert_eq!(config.infectiousness(&key), Infectiousness::None);
    assert!(config.set_infectiousness_map("0xffffffffffffffff").is_err());
    // Windows of a key with infectiousness none are dropped.
    assert!(windows::exposure_windows(&key, &[sighting(DAY * 86_400, 50, 0)], &config).is_empty());
}

#[test]
fn risk_2_daily_summaries_weight_and_filter() {
    let t0 = DAY * 86_400 + 7_200;
    let sightings: Vec<_> = (0..4)
        .map(|k| {
            sighting(
                t0 + k * 300,
                [50, 60, 68, 80][k as usize],
                t0 + k * 300 - 300,
            )
        })
        .collect();
    let windows = windows::exposure_windows(&key(), &sightings, &WindowConfig::default());
    let config = DailySummariesConfig {
        attenuation_thresholds: [55, 63, 70],
        attenuation_weights: [1.0, 0.5, 0.25, 0.0],
        report_type_weights: [1.0, 1.0, 1.0, 0.0],
        infectiousness_weights: [1.0, 2.0],
        minimum_window_score: 0.0,
        days_since_exposure_threshold: 0,
    };
    config.validate().unwrap();
    let days = scoring::daily_summaries(&windows, &config, DAY);
    // 300·1.0 + 300·0.5 + 300·0.25 + 300·0 = 525.
    assert_eq!(days.len(), 1);
    assert_eq!(days[0].weighted_duration_sum, 525.0);
    assert_eq!(days[0].score_sum, 525.0);
    let strict = DailySummariesConfig {
        minimum_window_score: 600.0,
        ..config
    };
    // §risk.2: a day whose windows all score below the minimum is still reported, with zeros,
    // as Google's DailySummaryUtils reports it.
    let below = scoring::daily_summaries(&windows, &strict, DAY);
    assert_eq!(below.len(), 1);
    assert_eq!(
        (
            below[0].score_sum,
            below[0].maximum_score,
            below[0].weighted_duration_sum
        ),
        (0.0, 0.0, 0.0)
    );
    let recent = DailySummariesConfig {
        days_since_exposure_threshold: 3,
        ..config
    };
    assert!(scoring::daily_summaries(&windows, &recent, DAY + 4).is_empty());
    assert_eq!(
        scoring::daily_summaries(&windows, &recent, DAY + 3).len(),
        1
    );
    assert!(
        DailySummariesConfig {
            attenuation_thresholds: [55, 55, 70],
            ..config
        }
        .validate()
        .is_err()
    );
    assert!(
        DailySummariesConfig {
            attenuation_weights: [2.6, 0.0, 0.0, 0.0],
            ..config
        }
        .validate()
        .is_err()
    );
}

#[test]
/// Checks spec §risk.3.1, §risk.3.3.
fn v1_exposures_buckets_and_both_boundary_conventions() {
    let t0 = DAY * 86_400 + 3_600;
    // Scans every 5 minutes for 20 minutes at 50, 50, 74, 74, 80 dB.
    let sightings: Vec<_> = [50u8, 50, 74, 74, 80]
        .iter()
        .enumerate()
        .map(|(k, a)| sighting(t0 + k as u64 * 300, *a, 0))
        .collect();
    let config = ExposureConfigurationV1 {
        attenuation_scores: [1, 2, 3, 4, 5, 6, 7, 8],
        days_since_last_exposure_scores: [1, 2, 3, 4, 5, 6, 7, 8],
        duration_scores: [1, 2, 3, 4, 5, 6, 7, 8],
        transmission_risk_scores: [1, 2, 3, 4, 5, 6, 7, 8],
        ..ExposureConfigurationV1::default()
    };
    config.validate().unwrap();
    let exposures = config.exposures(&key(), &sightings, (DAY + 3) * 86_400);
    assert_eq!(exposures.len(), 1);
    let e = exposures[0];
    // 1200 + 300 = 1500 s; weighted: (150·50 + 300·50 + 300·50 + 300·74 + 300·74 + 150·80) / 1500 = 63.2 → 63.
    assert_eq!(e.duration_seconds, 1500);
    assert_eq!(e.weighted_attenuation_db, 63);
    // Attenuation 63: bucket ">51" (index 2) → 3; 3 days → "≥2" (index 6) → 7;
    // 25 minutes → "≤25" (index 5) → 6; TRL 5 → scores[4] = 5.
    assert_eq!(e.risk_score, 3 * 7 * 6 * 5);
    // Google: <50 | 50 ≤ a < 74 | ≥ 74: 50 dB counts as between.
    assert_eq!(
        e.attenuation_durations_seconds,
        [0, 150 + 300 + 300, 300 + 300 + 150]
    );
    let apple = ExposureConfigurationV1 {
        boundaries: DurationBoundaries::AppleDocumentation,
        ..config
    };
    let a = apple.exposures(&key(), &sightings, (DAY + 3) * 86_400)[0];
    // Apple: ≤50 | 50 < a ≤ 74 | > 74: 50 dB counts as below, 74 as between.
    assert_eq!(a.attenuation_durations_seconds, [750, 600, 150]);
    // A gap over 10 minutes starts a new exposure.
    let split: Vec<_> = [sighting(t0, 50, 0), sighting(t0 + 601, 50, 0)].into();
    assert_eq!(config.exposures(&key(), &split, t0).len(), 2);
    // TRL 0 scores a literal 1.
    let mut zero = key();
    zero.transmission_risk_level = 0;
    assert_eq!(
        config.exposures(&zero, &sightings, (DAY + 3) * 86_400)[0].risk_score,
        3 * 7 * 6
    );
}

#[test]
fn the_f1_rule_needs_close_and_long_enough() {
    let t0 = DAY * 86_400 + 3_600;
    let run = |attenuation: u8, minutes: u64| -> Vec<MatchedSighting> {
        (0..minutes / 5)
            .map(|k| sighting(t0 + k * 300, attenuation, t0 + k * 300 - 300))
            .collect()
    };
    let decide = |sightings: &[MatchedSighting]| {
        let windows = windows::exposure_windows(&key(), sightings, &WindowConfig::default());
        F1Rule::default().decide([(&[1; 16], windows.as_slice())], DAY)
    };
    let close = decide(&run(50, 20));
    assert!(close.f1);
    assert_eq!(close.days[0].close_seconds, 4 * 300);
    assert!(!decide(&run(50, 10)).f1);
    // At the threshold counts, above it does not (spec §risk.4.1: 70 dB).
    assert!(decide(&run(70, 30)).f1);
    assert!(!decide(&run(71, 30)).f1);
    // Outside the look-back: nothing.
    let windows = windows::exposure_windows(&key(), &run(50, 20), &WindowConfig::default());
    assert!(
        F1Rule::default()
            .decide([(&[1; 16], windows.as_slice())], DAY + 14)
            .days
            .is_empty()
    );
}

fn sightings_strategy() -> impl Strategy<Value = Vec<MatchedSighting>> {
    prop::collection::vec(
        (0u64..(3 * 3600), 0u8..=120, prop::option::of(0u64..600)),
        1..60,
    )
    .prop_map(|raw| {
        let t0 = DAY * 86_400;
        raw.into_iter()
            .map(|(offset, attenuation, back)| {
                sighting(
                    t0 + offset,
                    attenuation,
                    back.map_or(0, |b| (t0 + offset).saturating_sub(b)),
                )
            })
            .collect()
    })
}

proptest! {
    /// Windows never span 30 minutes; every sighting is in exactly one scan of one window.
    #[test]
    fn windows_are_short_and_hold_every_sighting(sightings in sightings_strategy(), random in any::<bool>(), seed in any::<u64>()) {
        let mut config = WindowConfig::default();
        if random {
            config.cut = WindowCut::Random { min_seconds: 900, max_seconds: 1800, seed };
        }
        let windows = windows::exposure_windows(&key(), &sightings, &config);
        let held: u32 = windows.iter().flat_map(|w| &w.scan_instances).map(|s| s.sightings).sum();
        prop_assert_eq!(held as usize, sightings.len());
        for w in &windows {
            let last = w.scan_instances.last().unwrap().unix_seconds;
            prop_assert!(last - w.start_unix_seconds < 1800);
            for s in &w.scan_instances {
                prop_assert!(s.min_attenuation_db <= s.typical_attenuation_db);
                prop_assert!(s.seconds_since_last_scan <= 300);
            }
        }
    }

    /// More exposure time never lowers a score: appending later scans only adds.
    #[test]
    fn scores_never_decrease_when_exposure_grows(sightings in sightings_strategy(), extra in prop::collection::vec((30u64..3600, 0u8..=120), 1..10)) {
        let config = DailySummariesConfig {
            attenuation_weights: [1.0, 0.8, 0.5, 0.1],
            report_type_weights: [1.0; 4],
            infectiousness_weights: [1.0, 1.5],
            ..DailySummariesConfig::default()
        };
        let score = |s: &[MatchedSighting]| -> f64 {
            let windows = windows::exposure_windows(&key(), s, &WindowConfig::default());
            scoring::daily_summaries(&windows, &config, DAY + 1).iter().map(|d| d.score_sum).sum()
        };
        let before = score(&sightings);
        let mut longer = sightings.clone();
        let mut t = sightings.iter().map(|s| s.unix_seconds).max().unwrap();
        for (gap, attenuation) in extra {
            t += gap;
            longer.push(sighting(t, attenuation, t - gap));
        }
        prop_assert!(score(&longer) >= before);
        let before_windows = windows::exposure_windows(&key(), &sightings, &WindowConfig::default());
        let f1_before = F1Rule::default().decide([(&[1; 16], before_windows.as_slice())], DAY + 1);
        let after_windows = windows::exposure_windows(&key(), &longer, &WindowConfig::default());
        let f1_after = F1Rule::default().decide([(&[1; 16], after_windows.as_slice())], DAY + 1);
        prop_assert!(!f1_before.f1 || f1_after.f1);
    }
}

/// The folder of the shared export samples, and the sightings the Corona-Warn-Companion project
/// published with its sample file.
#[cfg(feature = "export")]
fn companion_sample() -> (std::path::PathBuf, Vec<bluezone::encounter::GaenSighting>) {
    let samples =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("test-vectors/export-samples");
    let csv = std::fs::read_to_string(samples.join("companion-demo-encounters.csv")).unwrap();
    let sightings = bluezone::encounter::csv::parse_csv(&csv)
        .collect::<Result<_, _>>()
        .unwrap();
    (samples, sightings)
}

/// §risk.5: one call from the companion sample (an export file and the sightings the
/// Corona-Warn-Companion project published for it) to its four matches; without a registry
/// the check is refused unless unauthentic files are allowed, and with one an unsigned file
/// stops the check and names the file.
#[cfg(feature = "export")]
#[test]
fn check_exposure_matches_the_companion_sample_and_refuses_unsigned_files_spec_risk_5() {
    use bluezone::export::verify::PublicKeyRegistry;
    use bluezone::risk::{CheckError, CheckSettings, check_exposure};
    let (samples, sightings) = companion_sample();
    let zip = samples.join("companion-demo_dks.zip");
    // Without a registry nothing can be verified: refused unless allowed explicitly.
    let refused = check_exposure(
        &[&zip],
        sightings.clone(),
        &CheckSettings::default(),
        |_, _| {},
    )
    .unwrap_err();
    assert!(matches!(refused, CheckError::NoRegistry), "{refused}");
    let unchecked = CheckSettings {
        allow_unauthentic: true,
        ..CheckSettings::default()
    };
    let report = check_exposure(&[&zip], sightings.clone(), &unchecked, |_, _| {}).unwrap();
    assert_eq!(report.outcome.keys_total, 2392);
    assert_eq!(report.outcome.keys_matched, 4);
    assert_eq!(report.sightings, 534);
    assert_eq!(report.files.len(), 1);
    assert!(report.files[0].summary.verification.is_none());
    assert!(report.risk.f1.f1);

    let registry = PublicKeyRegistry::new();
    let settings = CheckSettings {
        registry: Some(&registry),
        ..CheckSettings::default()
    };
    let refused = check_exposure(&[&zip], sightings.clone(), &settings, |_, _| {}).unwrap_err();
    assert!(
        matches!(refused, CheckError::NotAuthentic { .. }),
        "{refused}"
    );
    assert!(
        refused.to_string().contains("companion-demo_dks.zip"),
        "{refused}"
    );
    // Allowed, the unsigned file is matched and reported as not authentic.
    let reported = CheckSettings {
        registry: Some(&registry),
        allow_unauthentic: true,
        ..CheckSettings::default()
    };
    let report = check_exposure(&[&zip], sightings, &reported, |_, _| {}).unwrap();
    assert_eq!(report.outcome.keys_matched, 4);
    assert!(!report.files[0].summary.authentic());
    assert!(report.files[0].summary.verification.is_some());
}

/// §state.5: with a match state, the report covers every stored result: a day after the
/// companion sample's file was read, a check of an unrelated file still warns, where the same
/// check without the state does not; a later file cannot revoke a confirmed test (§match.6).
#[cfg(feature = "export")]
#[test]
fn state_5_the_report_covers_every_stored_result() {
    use bluezone::export::bin::{ExportMetadata, encode};
    use bluezone::gaen::ReportType;
    use bluezone::risk::{CheckSettings, check_exposure};
    let (samples, sightings) = companion_sample();
    let scratch = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("state-5");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let state = scratch.join("state");
    let with_state = CheckSettings {
        allow_unauthentic: true,
        state: Some(&state),
        ..CheckSettings::default()
    };
    let day1 = check_exposure(
        &[samples.join("companion-demo_dks.zip")],
        sightings.clone(),
        &with_state,
        |_, _| {},
    )
    .unwrap();
    assert!(day1.risk.f1.f1);
    let unrelated = samples.join("immuni-it-222-export.bin");
    let day2 = check_exposure(
        core::slice::from_ref(&unrelated),
        sightings.clone(),
        &with_state,
        |_, _| {},
    )
    .unwrap();
    assert!(day2.risk.f1.f1);
    assert_eq!(day2.outcome.keys_matched, 4);
    assert_eq!(day2.risk.f1.days, day1.risk.f1.days);
    let stateless = CheckSettings {
        allow_unauthentic: true,
        ..CheckSettings::default()
    };
    let alone = check_exposure(&[&unrelated], sightings.clone(), &stateless, |_, _| {}).unwrap();
    assert!(!alone.risk.f1.f1);
    // The four matched keys served again as REVOKED: CONFIRMED_TEST cannot be revoked.
    let revoked: Vec<DiagnosisKey> = day1
        .outcome
        .matches
        .iter()
        .map(|m| DiagnosisKey {
            report_type: ReportType::Revoked,
            ..m.key
        })
        .collect();
    let path = scratch.join("revoked.bin");
    std::fs::write(&path, encode(&ExportMetadata::default(), &revoked, &[])).unwrap();
    let day3 = check_exposure(&[&path], sightings, &with_state, |_, _| {}).unwrap();
    assert_eq!(day3.outcome.rejected.invalid_transitions, 4);
    assert!(day3.risk.f1.f1);
    let state = day3.state.unwrap();
    assert_eq!(state.summary.files_read, 3);
    std::fs::remove_dir_all(&scratch).unwrap();
}

/// Checks §risk.1 (finding A15 of the third audit): a revoked key's windows are returned with
/// report type REVOKED, and no score the crate computes counts them: not the daily summaries,
/// not v1, not the F1 rule.
#[test]
fn risk_1_a_revoked_key_keeps_its_windows_and_scores_nothing() {
    use bluezone::matching::{KeyMatch, MatchOutcome};
    use bluezone::risk::{RiskConfig, assess};
    let t0 = DAY * 86_400 + 3_600;
    let sightings: Vec<MatchedSighting> = (0..6)
        .map(|k| sighting(t0 + k * 300, 40, t0 + k * 300 - 300))
        .collect();
    let mut revoked = key();
    revoked.report_type = ReportType::Revoked;
    let outcome = |key: DiagnosisKey| MatchOutcome {
        keys_total: 1,
        keys_matched: 1,
        matches: vec![KeyMatch {
            key,
            sightings: sightings.clone(),
            first_report_type: ReportType::ConfirmedTest,
            report_type_transitions: 0,
            v1_scans: sightings.clone(),
        }],
        ..MatchOutcome::default()
    };
    let mut config = RiskConfig::default();
    config.daily_summaries.report_type_weights = [1.0; 4];
    config.daily_summaries.attenuation_weights = [1.0; 4];
    config.daily_summaries.infectiousness_weights = [1.0; 2];
    config.v1 = Some(ExposureConfigurationV1::default());
    let now = (DAY + 1) * 86_400;
    let confirmed = assess(&outcome(key()), &config, now);
    assert!(confirmed.f1.f1 && !confirmed.daily_summaries.is_empty());
    let withdrawn = assess(&outcome(revoked), &config, now);
    assert_eq!(
        withdrawn.exposure_windows.len(),
        confirmed.exposure_windows.len()
    );
    assert!(
        withdrawn
            .exposure_windows
            .iter()
            .all(|w| w.report_type == ReportType::Revoked)
    );
    assert!(
        withdrawn.daily_summaries.is_empty(),
        "{:?}",
        withdrawn.daily_summaries
    );
    assert!(!withdrawn.f1.f1);
    assert_eq!(withdrawn.v1.map(|v| v.summary.matched_key_count), Some(0));
}

/// §time.4 and §state.2 (finding A2 of the third audit): one sighting stamped years ahead (a
/// phone clock that jumped once) is never the default "now", with or without a state, so the
/// companion sample still warns and the state stays usable; a "now" given in milliseconds is
/// refused before anything is read.
#[cfg(feature = "export")]
#[test]
fn risk_5_a_record_from_a_clock_that_jumped_is_never_now() {
    use bluezone::risk::{CheckError, CheckSettings, check_exposure};
    let (samples, mut sightings) = companion_sample();
    let zip = samples.join("companion-demo_dks.zip");
    let mut jumped = sightings[0];
    jumped.unix_seconds = 2_000_000_000; // 2033-05-18
    sightings.push(jumped);
    let wall = 1_590_100_000; // 2020-05-21, the day after the sample's last sighting
    let dir = std::env::temp_dir().join(format!("bluezone-risk-jumped-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let state = dir.join("state");
    let settings = CheckSettings {
        allow_unauthentic: true,
        wall_clock_unix_seconds: Some(wall),
        state: Some(&state),
        ..CheckSettings::default()
    };
    let report = check_exposure(&[&zip], sightings.clone(), &settings, |_, _| {}).unwrap();
    assert!(
        report.now_unix_seconds < wall,
        "{}",
        report.now_unix_seconds
    );
    assert_eq!(report.sightings_after_now, 1);
    assert!(report.risk.f1.f1);
    // The next day's check, the glitch gone: the state agrees with a fresh check.
    sightings.pop();
    let next = CheckSettings {
        now_unix_seconds: Some(wall),
        ..settings
    };
    let again = check_exposure(&[&zip], sightings.clone(), &next, |_, _| {}).unwrap();
    let fresh = CheckSettings {
        state: None,
        ..next
    };
    let without = check_exposure(&[&zip], sightings.clone(), &fresh, |_, _| {}).unwrap();
    // The same matches, sightings and counts, but for the one sighting count §state.2 item 6
    // allows: the 2033 record was turned away (outside the tolerance) from a key already final,
    // and the state does not evaluate that key again once the record is gone.
    let mut stated = again.outcome.clone();
    assert_eq!(stated.rejected.outside_tolerance, 1);
    stated.rejected.outside_tolerance = 0;
    assert!(
        stated == without.outcome,
        "the state and a fresh check differ"
    );
    assert!(again.risk.f1.f1);
    let milliseconds = CheckSettings {
        now_unix_seconds: Some(u64::from(wall as u32) * 1000),
        ..fresh
    };
    let refused = check_exposure(&[&zip], sightings, &milliseconds, |_, _| {}).unwrap_err();
    assert!(matches!(refused, CheckError::Now(_)), "{refused}");
    std::fs::remove_dir_all(&dir).unwrap();
}
