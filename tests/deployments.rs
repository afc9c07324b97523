//! Other deployments' rules, each held to its own deployment's published tests: the
//! Corona-Warn-App's 29 risk cases (spec §cwa), the NHS app's scenarios (spec §nhs) and the
//! verification server's TEK HMACs (spec §export.9). None of the expected values was computed
//! by this crate or by code that shares its logic.
#![cfg(all(feature = "json", feature = "std"))]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use bluezone::risk::api::{ApiExposureWindow, windows_from_api};
use bluezone::risk::cwa::{CwaConfig, CwaRiskLevel};
use bluezone::risk::nhs::NhsConfig;
use serde_json::Value;

const TODAY: u64 = 19_000;

fn cwa_file() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/test-vectors/cwa/exposure-windows-risk-calculation.json"
        ))
        .unwrap(),
    )
    .unwrap()
}

/// Spec §cwa.1, §cwa.2, §cwa.3, §cwa.4 and §cwa.5: every case of the app's own test file, read through the API window
/// shape, with the file's configuration (which is `CwaConfig::test_cases`).
#[test]
fn cwa_1_to_4_the_apps_29_cases() {
    let file = cwa_file();
    let config: CwaConfig =
        serde_json::from_value(file["defaultRiskCalculationConfiguration"].clone()).unwrap();
    assert_eq!(
        config,
        CwaConfig::test_cases(),
        "the named default is the file's"
    );
    let cases = file["testCases"].as_array().unwrap();
    assert_eq!(cases.len(), 29);
    let mut failures = Vec::new();
    for case in cases {
        let name = case["description"].as_str().unwrap();
        let api: Vec<ApiExposureWindow> =
            serde_json::from_value(case["exposureWindows"].clone()).unwrap();
        let windows = windows_from_api(&api, TODAY).unwrap();
        let got = config.assess(&windows, TODAY).unwrap();
        let level = |v: &Value| match v.as_u64() {
            Some(1) => CwaRiskLevel::Low,
            Some(2) => CwaRiskLevel::High,
            other => panic!("{name}: risk level {other:?}"),
        };
        let age = |v: &Value| v.as_u64();
        let count = |v: &Value| usize::try_from(v.as_u64().unwrap()).unwrap();
        let checks = [
            (
                "total risk level",
                got.total_risk_level == level(&case["expTotalRiskLevel"]),
            ),
            (
                "most recent low day",
                got.age_of_most_recent_date_with_low_risk
                    == age(&case["expAgeOfMostRecentDateWithLowRisk"]),
            ),
            (
                "most recent high day",
                got.age_of_most_recent_date_with_high_risk
                    == age(&case["expAgeOfMostRecentDateWithHighRisk"]),
            ),
            (
                "low days",
                got.number_of_days_with_low_risk == count(&case["expNumberOfDaysWithLowRisk"]),
            ),
            (
                "high days",
                got.number_of_days_with_high_risk == count(&case["expNumberOfDaysWithHighRisk"]),
            ),
            (
                "low encounters",
                got.total_minimum_distinct_encounters_with_low_risk
                    == count(&case["expTotalMinimumDistinctEncountersWithLowRisk"]),
            ),
            (
                "high encounters",
                got.total_minimum_distinct_encounters_with_high_risk
                    == count(&case["expTotalMinimumDistinctEncountersWithHighRisk"]),
            ),
        ];
        for (what, ok) in checks {
            if !ok {
                failures.push(format!("{name}: {what} differs: {got:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Spec §nhs.1, §nhs.2, §nhs.3, §nhs.4 and §nhs.5: the ten scenarios within 5 % of the peer's Python scores (`score_16`), the bound
/// the peer's own Swift port is held to.
#[test]
fn nhs_1_to_4_the_ten_scenarios_within_five_percent() {
    use bluezone::risk::nhs::parse_scans;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/test-vectors/nhs-riskscore");
    let expected = std::fs::read_to_string(format!("{dir}/pythonRiskScores.csv")).unwrap();
    let config = NhsConfig::default();
    let mut checked = 0;
    let mut report = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if !(name.starts_with("high-") || name.starts_with("low-")) {
            continue;
        }
        // The original name: `__` was `;` and `_` was `,` (PROVENANCE.md).
        let original = name.replacen("__", ";", 1).replace('_', ",");
        let want: f64 = expected
            .lines()
            .find(|l| l.ends_with(&format!("\"{original}\"")))
            .unwrap_or_else(|| panic!("{original} has no expected score"))
            .split(',')
            .nth(4)
            .unwrap()
            .parse()
            .unwrap();
        let scans = parse_scans(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let got = config.score(&scans).unwrap();
        report.push(format!(
            "{name}: {got:.4} against {want:.4} ({:+.2} %)",
            100.0 * (got - want) / want
        ));
        assert!((got - want).abs() < 0.05 * want, "{}", report.join("\n"));
        checked += 1;
    }
    assert_eq!(checked, 10, "{}", report.join("\n"));
    println!("{}", report.join("\n"));
}

/// Spec §export.9: the verification server's three TEK HMACs, with and without the
/// transmission risk, and a key server's constant-time check of them.
#[test]
fn export_9_the_verification_servers_hmacs() {
    use bluezone::export::upload::{hmac_cleartext, tek_hmac_base64, verify_tek_hmac};
    use bluezone::gaen::{DiagnosisKey, ReportType};
    use bluezone::{EnIntervalNumber, RollingPeriod, RollingWindow};
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/test-vectors/verification/tek-hmac-vectors.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let vectors = file["vectors"].as_array().unwrap();
    assert_eq!(vectors.len(), 3);
    for vector in vectors {
        let secret: [u8; 16] =
            bluezone::hex::decode_array(vector["secret_hex"].as_str().unwrap()).unwrap();
        let keys: Vec<DiagnosisKey> = vector["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                use base64::Engine as _;
                let data = base64::engine::general_purpose::STANDARD
                    .decode(k["key"].as_str().unwrap())
                    .unwrap();
                let number = |name: &str| u32::try_from(k[name].as_u64().unwrap()).unwrap();
                DiagnosisKey {
                    key_data: data.try_into().unwrap(),
                    window: RollingWindow::new(
                        EnIntervalNumber::new(number("rolling_start_interval_number")),
                        RollingPeriod::new(number("rolling_period")).unwrap(),
                    )
                    .unwrap(),
                    transmission_risk_level: k["transmission_risk"]
                        .as_u64()
                        .map_or(0, |t| u8::try_from(t).unwrap()),
                    report_type: ReportType::ConfirmedTest,
                    days_since_onset_of_symptoms: None,
                }
            })
            .collect();
        let with_risk = vector["include_transmission_risk"].as_bool().unwrap();
        let name = vector["name"].as_str().unwrap();
        assert_eq!(
            hmac_cleartext(&keys, with_risk),
            vector["expected_cleartext"].as_str().unwrap(),
            "{name}"
        );
        let expected = vector["expected_hmac_b64"].as_str().unwrap();
        assert_eq!(
            tek_hmac_base64(&secret, &keys, with_risk),
            expected,
            "{name}"
        );
        use base64::Engine as _;
        let mut raw = base64::engine::general_purpose::STANDARD
            .decode(expected)
            .unwrap();
        assert!(verify_tek_hmac(&secret, &keys, with_risk, &raw), "{name}");
        raw[31] ^= 1;
        assert!(!verify_tek_hmac(&secret, &keys, with_risk, &raw), "{name}");
        // The keys' order does not matter: they are sorted by their base64 text.
        let reversed: Vec<DiagnosisKey> = keys.iter().rev().copied().collect();
        assert_eq!(
            tek_hmac_base64(&secret, &reversed, with_risk),
            expected,
            "{name}"
        );
    }
}

mod across_models {
    use bluezone::gaen::{CalibrationConfidence, ReportType};
    use bluezone::risk::cwa::{CwaConfig, CwaDrop};
    use bluezone::risk::nhs::NhsConfig;
    use bluezone::risk::{ExposureWindow, F1Rule, Infectiousness, ScanInstance};
    use proptest::prelude::*;

    const TODAY: u64 = super::TODAY;

    fn window() -> impl Strategy<Value = ExposureWindow> {
        (
            0u64..14,
            1i32..=4,
            any::<bool>(),
            0u8..4,
            prop::collection::vec((0u8..=100, 0u8..=20, 0u32..=300), 1..12),
        )
            .prop_map(|(age, report, high, confidence, scans)| {
                let day = TODAY - age;
                ExposureWindow {
                    unix_day: day,
                    start_unix_seconds: day * 86_400,
                    report_type: ReportType::try_from(report).unwrap(),
                    infectiousness: if high {
                        Infectiousness::High
                    } else {
                        Infectiousness::Standard
                    },
                    calibration_confidence: CalibrationConfidence::from_bits(confidence),
                    scan_instances: scans
                        .into_iter()
                        .map(|(min, extra, seconds)| ScanInstance {
                            unix_seconds: day * 86_400,
                            typical_attenuation_db: min.saturating_add(extra),
                            min_attenuation_db: min,
                            seconds_since_last_scan: seconds,
                            sightings: 1,
                        })
                        .collect(),
                }
            })
    }

    proptest! {
        /// Spec §cwa.2: a window the CWA's filters drop contributes nothing; adding it leaves
        /// every figure of the result as it was.
        #[test]
        fn cwa_2_a_dropped_window_changes_nothing(
            windows in prop::collection::vec(window(), 0..6),
            extra in window(),
        ) {
            let config = CwaConfig::production();
            let before = config.assess(&windows, TODAY).unwrap();
            let mut more = windows.clone();
            more.push(extra);
            let after = config.assess(&more, TODAY).unwrap();
            let last = after.windows.last().unwrap();
            if last.dropped.is_some() {
                prop_assert_eq!(before.total_risk_level, after.total_risk_level);
                prop_assert_eq!(before.days, after.days);
                prop_assert_eq!(
                    before.total_minimum_distinct_encounters_with_high_risk,
                    after.total_minimum_distinct_encounters_with_high_risk
                );
            }
            // And a window never lowers the total risk level.
            prop_assert!(after.total_risk_level >= before.total_risk_level);
        }

        /// Spec §cwa.3, §nhs.4 and §risk.4: every model measures at most the time there was.
        /// The CWA's weighted minutes (weights up to 1), the NHS score (closeness up to 1) and
        /// the F1 rule's close seconds never exceed the window's own duration.
        #[test]
        fn no_model_counts_more_time_than_the_window_has(w in window()) {
            let seconds: u32 = w.scan_instances.iter().map(|s| s.seconds_since_last_scan).sum();
            let minutes = f64::from(seconds) / 60.0;
            let cwa = CwaConfig::test_cases().assess(std::slice::from_ref(&w), TODAY).unwrap();
            let judged = cwa.windows[0];
            if judged.dropped.is_none() {
                prop_assert!(judged.weighted_minutes <= minutes + 1e-9);
            } else {
                prop_assert_eq!(judged.dropped, Some(CwaDrop::TransmissionRiskLevel));
            }
            let scans: Vec<(f64, f64)> = w
                .scan_instances
                .iter()
                .map(|s| (f64::from(s.seconds_since_last_scan), f64::from(s.min_attenuation_db)))
                .collect();
            let nhs = NhsConfig::default().score(&scans).unwrap();
            // One sample per second from the first scan to the last, and one more slot per
            // scan at most (scans at the same sample take a slot each).
            let slots = f64::from(seconds) + scans.len() as f64;
            prop_assert!(nhs >= 0.0 && nhs <= slots / 60.0 + 1e-9, "{} {}", nhs, minutes);
            let f1 = F1Rule::default().decide([(&[1; 16], std::slice::from_ref(&w))], TODAY);
            for day in &f1.days {
                prop_assert!(day.close_seconds <= day.total_seconds);
                prop_assert_eq!(day.total_seconds, u64::from(seconds));
            }
        }
    }
}

/// Spec §cwa.1, §cwa.3 and §cwa.5: bounds, the day's rounding, and configurations refused.
#[test]
fn cwa_1_3_5_bounds_rounding_and_refusals() {
    use bluezone::gaen::{CalibrationConfidence, ReportType};
    use bluezone::risk::cwa::{CwaConfigError, Range};
    use bluezone::risk::{ExposureWindow, Infectiousness, ScanInstance};
    // §cwa.1: inclusive unless marked.
    assert!(Range::closed(1.0, 2.0).contains(2.0));
    assert!(!Range::half_open(1.0, 2.0).contains(2.0));
    assert!(Range::half_open(1.0, 2.0).contains(1.0));
    // §cwa.3: a day summing to just under 9 is 9.0 and high (test configuration: TRL 6 of a
    // confirmed test with standard infectiousness... value 1.4; 0.8 weight below 63 dB).
    let window = |seconds: u32| ExposureWindow {
        unix_day: TODAY - 1,
        start_unix_seconds: (TODAY - 1) * 86_400,
        report_type: ReportType::ConfirmedTest,
        infectiousness: Infectiousness::Standard,
        calibration_confidence: CalibrationConfidence::Lowest,
        scan_instances: vec![ScanInstance {
            unix_seconds: (TODAY - 1) * 86_400,
            typical_attenuation_db: 50,
            min_attenuation_db: 50,
            seconds_since_last_scan: seconds,
            sightings: 1,
        }],
    };
    // TRL 7 → 1.4; 0.8 × 1.4 / 60 per second: 482 s give 8.9973, rounded 9.0.
    let config = CwaConfig::test_cases();
    let near = config.assess(&[window(482)], TODAY).unwrap();
    assert!(near.windows[0].normalized_time < 9.0);
    assert_eq!(near.days[0].normalized_time, 9.0);
    assert_eq!(near.total_risk_level, CwaRiskLevel::High);
    let below = config.assess(&[window(470)], TODAY).unwrap();
    assert_eq!(below.total_risk_level, CwaRiskLevel::Low);
    // §cwa.5: refused configurations, and both named ones valid and round-tripping as JSON.
    let mut bad = CwaConfig::production();
    bad.minutes_at_attenuation_weights[0].weight = -1.0;
    assert_eq!(bad.assess(&[], TODAY), Err(CwaConfigError::Weight));
    let mut bad = CwaConfig::production();
    bad.normalized_time_per_day_to_risk_level_mapping.clear();
    assert_eq!(bad.validate(), Err(CwaConfigError::NoMapping));
    let mut bad = CwaConfig::test_cases();
    bad.trl_filters.push(bluezone::risk::cwa::TrlFilter {
        drop_if_trl_in_range: Range::closed(3.0, 1.0),
    });
    assert_eq!(bad.validate(), Err(CwaConfigError::Range));
    for named in [CwaConfig::test_cases(), CwaConfig::production()] {
        named.validate().unwrap();
        let text = serde_json::to_string(&named).unwrap();
        assert_eq!(serde_json::from_str::<CwaConfig>(&text).unwrap(), named);
    }
    assert!(serde_json::from_str::<CwaConfig>(r#"{"trlFilters": [], "typo": 1}"#).is_err());
}

/// Spec §cwa.5 and §nhs.1: bad input is named, and no allocation follows a hostile gap.
#[test]
fn cwa_5_nhs_1_bad_input_is_refused_by_name() {
    use bluezone::risk::api::parse_api_windows;
    use bluezone::risk::nhs::{NhsError, parse_scans};
    let error = parse_api_windows(
        r#"{"exposureWindows":[{"ageInDays":1,"reportType":9,"infectiousness":1,"calibrationConfidence":0,"scanInstances":[]}]}"#,
        TODAY,
    )
    .unwrap_err();
    assert_eq!(error.path, "exposureWindows[0].reportType");
    let error = parse_api_windows(
        r#"{"exposureWindows":[{"ageInDays":1,"reportType":1,"infectiousness":1,"calibrationConfidence":0,"scanInstances":[],"extra":1}]}"#,
        TODAY,
    )
    .unwrap_err();
    assert_eq!(error.path, "document");
    assert_eq!(parse_scans("1,50\n2,x\n").unwrap_err().line, 2);
    assert!(parse_scans("\n").is_err());
    let config = NhsConfig::default();
    // A gap of 10^9 seconds would be 10^9 samples: refused before allocating.
    assert_eq!(
        config.score(&[(0.0, 50.0), (1e9, 50.0)]),
        Err(NhsError::TooLong)
    );
    // A day at one-second resolution fits.
    assert!(config.score(&[(0.0, 50.0), (86_399.0, 50.0)]).is_ok());
    assert_eq!(config.score(&[(0.0, f64::NAN)]), Err(NhsError::Scan(0)));
    let mut bad = config;
    bad.sample_resolution = 0.0;
    assert_eq!(bad.score(&[(0.0, 50.0)]), Err(NhsError::Config));
    assert_eq!(config.score(&[]), Ok(0.0));
}
