//! Other deployments' published tests through the tool, as a user runs them: the
//! Corona-Warn-App's 29 cases with `risk score --model cwa` (spec §cwa), the NHS scenarios
//! with `risk score --model nhs --scans` (spec §nhs), the verification server's HMACs with
//! `export hmac` (spec §export.9), and `match --risk-model` on a real export file.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bluezone"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

fn json_of(args: &[&str]) -> Value {
    let output = run(args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Spec §cwa.4 and §cwa.5: each of the app's cases, written as the API's window document and
/// scored by the tool with the file's own configuration.
#[test]
fn cwa_4_5_the_apps_cases_through_the_tool() {
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(
            root().join("test-vectors/cwa/exposure-windows-risk-calculation.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let dir = scratch("cwa-cases");
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        file["defaultRiskCalculationConfiguration"].to_string(),
    )
    .unwrap();
    let cases = file["testCases"].as_array().unwrap();
    for (index, case) in cases.iter().enumerate() {
        let windows = dir.join(format!("case-{index}.json"));
        std::fs::write(
            &windows,
            json!({"exposureWindows": case["exposureWindows"]}).to_string(),
        )
        .unwrap();
        let got = json_of(&[
            "risk",
            "score",
            "--model",
            "cwa",
            "--config",
            config.to_str().unwrap(),
            "--windows",
            windows.to_str().unwrap(),
            "--json",
        ]);
        let name = &case["description"];
        for (ours, theirs) in [
            ("total_risk_level", "expTotalRiskLevel"),
            (
                "age_of_most_recent_date_with_low_risk",
                "expAgeOfMostRecentDateWithLowRisk",
            ),
            (
                "age_of_most_recent_date_with_high_risk",
                "expAgeOfMostRecentDateWithHighRisk",
            ),
            ("number_of_days_with_low_risk", "expNumberOfDaysWithLowRisk"),
            (
                "number_of_days_with_high_risk",
                "expNumberOfDaysWithHighRisk",
            ),
            (
                "total_minimum_distinct_encounters_with_low_risk",
                "expTotalMinimumDistinctEncountersWithLowRisk",
            ),
            (
                "total_minimum_distinct_encounters_with_high_risk",
                "expTotalMinimumDistinctEncountersWithHighRisk",
            ),
        ] {
            assert_eq!(got[ours], case[theirs], "{name}: {ours}");
        }
    }
    assert_eq!(cases.len(), 29);
}

/// Spec §nhs.5: the ten scenarios through `--scans`, within the peer's 5 %.
#[test]
fn nhs_5_the_scenarios_through_the_tool() {
    let dir = root().join("test-vectors/nhs-riskscore");
    let expected = std::fs::read_to_string(dir.join("pythonRiskScores.csv")).unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if !(name.starts_with("high-") || name.starts_with("low-")) {
            continue;
        }
        let original = name.replacen("__", ";", 1).replace('_', ",");
        let want: f64 = expected
            .lines()
            .find(|l| l.ends_with(&format!("\"{original}\"")))
            .unwrap()
            .split(',')
            .nth(4)
            .unwrap()
            .parse()
            .unwrap();
        let got = json_of(&[
            "risk",
            "score",
            "--model",
            "nhs",
            "--scans",
            path.to_str().unwrap(),
            "--json",
        ]);
        let score = got["scores"][0]["score"].as_f64().unwrap();
        assert!(
            (score - want).abs() < 0.05 * want,
            "{name}: {score} against {want}"
        );
        checked += 1;
    }
    assert_eq!(checked, 10);
    // The CWA reads windows, not a scan series: refused by name.
    let refused = run(&[
        "risk",
        "score",
        "--model",
        "cwa",
        "--scans",
        "test-vectors/nhs-riskscore/low-1751-thetamedium__-3.74_-5.91.csv",
    ]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--scans"));
}

/// Spec §export.9: each vector as a publish request with its `hmackey`, through
/// `export hmac`, both forms.
#[test]
fn export_9_hmac_through_the_tool() {
    use base64::Engine as _;
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("test-vectors/verification/tek-hmac-vectors.json"))
            .unwrap(),
    )
    .unwrap();
    let dir = scratch("hmac");
    for (index, vector) in file["vectors"].as_array().unwrap().iter().enumerate() {
        let secret: Vec<u8> = (0..16)
            .map(|i| {
                u8::from_str_radix(
                    &vector["secret_hex"].as_str().unwrap()[2 * i..2 * i + 2],
                    16,
                )
                .unwrap()
            })
            .collect();
        let keys: Vec<Value> = vector["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                json!({
                    "key": k["key"],
                    "rollingStartNumber": k["rolling_start_interval_number"],
                    "rollingPeriod": k["rolling_period"],
                    "transmissionRisk": k["transmission_risk"].as_u64().unwrap_or(0),
                })
            })
            .collect();
        let publish = dir.join(format!("publish-{index}.json"));
        let secret = base64::engine::general_purpose::STANDARD.encode(secret);
        std::fs::write(
            &publish,
            json!({"temporaryExposureKeys": keys, "hmackey": secret}).to_string(),
        )
        .unwrap();
        let got = json_of(&[
            "export",
            "hmac",
            "--keys",
            publish.to_str().unwrap(),
            "--json",
        ]);
        let field = if vector["include_transmission_risk"] == true {
            "hmac"
        } else {
            "hmac_without_transmission_risk"
        };
        assert_eq!(
            got[field], vector["expected_hmac_b64"],
            "{}",
            vector["name"]
        );
    }
    // A publish request without a secret is refused by name.
    let bare = dir.join("bare.json");
    std::fs::write(&bare, r#"{"temporaryExposureKeys": []}"#).unwrap();
    let refused = run(&["export", "hmac", "--keys", bare.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("hmackey"));
}

/// Spec §cwa.5 and §nhs.5: `match --risk-model` on a real export file and its companion
/// app's sightings: the CWA (production configuration) and the NHS model judge the windows the
/// match built, and google is refused there (its results are the report itself).
#[test]
fn cwa_5_nhs_5_match_applies_a_deployments_model() {
    let base = [
        "match",
        "--allow-unsigned",
        "--keys",
        "test-vectors/export-samples/companion-demo_dks.zip",
        "--encounters",
        "test-vectors/export-samples/companion-demo-encounters.csv",
        "--now",
        "1590000000",
        "--json",
    ];
    let cwa = json_of(&[&base[..], &["--risk-model", "cwa"]].concat());
    assert_eq!(cwa["risk_model"]["model"], "cwa");
    assert_eq!(cwa["risk_model"]["total_risk_level"], 2);
    assert_eq!(
        cwa["risk_model"]["windows"].as_array().unwrap().len(),
        cwa["exposure_windows"].as_array().unwrap().len()
    );
    let nhs = json_of(&[&base[..], &["--risk-model", "nhs"]].concat());
    let scores = nhs["risk_model"]["scores"].as_array().unwrap();
    assert_eq!(
        scores.len(),
        nhs["exposure_windows"].as_array().unwrap().len()
    );
    assert!(scores.iter().all(|s| s["score"].as_f64().unwrap() >= 0.0));
    let refused = run(&[&base[..], &["--risk-model", "google"]].concat());
    assert_eq!(refused.status.code(), Some(2));
}
