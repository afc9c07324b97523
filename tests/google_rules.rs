//! Every case of `test-vectors/rules/google-rules.json`, whose expected values come from an
//! independent transcription of Google's engine (`spec/reference/matching_reference.py`):
//! tolerance, replay and TX bounds (§match.2), invalid keys (§match.5), key identity, copies and
//! report-type changes (§match.6), windows (§risk.1), daily summaries (§risk.2), v1 (§risk.3)
//! and the F1 rule (§risk.4), each replayed through export.bin bytes, a [`MatchRun`] and
//! [`risk::assess`].
#![cfg(all(feature = "std", feature = "serde"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]

use std::io::Cursor;

use bluezone::encounter::GaenSighting;
use bluezone::matching::{LogIndex, MatchConfig, MatchRun, Matcher, stream};
use bluezone::risk::{self, RiskConfig};
use serde_json::{Value, json};

fn vectors() -> Vec<Value> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/test-vectors/rules/google-rules.json"
    ))
    .unwrap();
    let document: Value = serde_json::from_str(&text).unwrap();
    document["vectors"].as_array().unwrap().clone()
}

fn hex(bytes: &[u8]) -> String {
    bluezone::hex::Hex(bytes).to_string()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn sightings(case: &Value) -> Vec<GaenSighting> {
    case["sightings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| GaenSighting {
            unix_seconds: s["unix_seconds"].as_u64().unwrap(),
            rpi: s["rpi"].as_str().unwrap().parse().unwrap(),
            aem: s["aem"].as_str().unwrap().parse().unwrap(),
            rssi: i8::try_from(s["rssi"].as_i64().unwrap()).unwrap(),
            previous_scan_unix_seconds: s["previous_scan_unix_seconds"].as_u64().unwrap(),
        })
        .collect()
}

/// What the crate gives for one case, in the shape of the case's `expect`.
fn replay(case: &Value, threads: usize) -> Value {
    let config: MatchConfig = serde_json::from_value(case["matching"].clone()).unwrap();
    let risk: RiskConfig = serde_json::from_value(case["risk"].clone()).unwrap();
    let now = case["now_unix_seconds"].as_u64().unwrap();
    let index = LogIndex::new(sightings(case), config.tolerance_intervals);
    let matcher = Matcher::new(&index, config);
    let mut run = if threads > 1 {
        MatchRun::with_threads(&matcher, threads).unwrap()
    } else {
        MatchRun::new(&matcher)
    };
    for file in case["files"].as_array().unwrap() {
        let bytes = unhex(file.as_str().unwrap());
        stream::match_bin(&mut run, Cursor::new(bytes), |_| {}).unwrap();
    }
    let outcome = run.finish();
    let report = risk::assess(&outcome, &risk, now);
    let mut got = json!({
        "keys_total": outcome.keys_total,
        "keys_matched": outcome.keys_matched,
        "report_type_transitions": outcome.report_type_transitions,
        "rejected": serde_json::to_value(outcome.rejected).unwrap(),
        "matches": outcome.matches.iter().map(|m| json!({
            "tek": hex(&m.key.key_data),
            "report_type": m.key.report_type as u8,
            "first_report_type": m.first_report_type as u8,
            "report_type_transitions": m.report_type_transitions,
            "sightings": m.sightings.iter().map(|s| json!([s.unix_seconds, s.en_interval_number.get(), s.attenuation])).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "windows": report.exposure_windows.iter().map(|w| json!([
            w.start_unix_seconds,
            w.report_type as u8,
            w.scan_instances.iter().map(|s| json!([s.unix_seconds, s.typical_attenuation_db, s.min_attenuation_db, s.seconds_since_last_scan, s.sightings])).collect::<Vec<_>>(),
        ])).collect::<Vec<_>>(),
        "daily_summaries": report.daily_summaries.iter().map(|d| json!({
            "unix_day": d.unix_day,
            "score_sum": d.score_sum,
            "maximum_score": d.maximum_score,
            "weighted_duration_sum": d.weighted_duration_sum,
            "by_report_type": d.by_report_type.iter().map(|r| json!([r.score_sum, r.maximum_score, r.weighted_duration_sum])).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "f1": {
            "f1": report.f1.f1,
            "days": report.f1.days.iter().map(|d| json!([d.unix_day, hex(&d.tek), d.close_seconds, d.total_seconds, d.closest_attenuation_db])).collect::<Vec<_>>(),
        },
    });
    if let Some(v1) = &report.v1 {
        got["v1"] = json!({
            "keys": v1.keys.iter().map(|k| json!({
                "tek": hex(&k.tek),
                "maximum_risk_score": k.maximum_risk_score,
                "total_risk_score": k.total_risk_score,
                "attenuation_durations_seconds": k.attenuation_durations_seconds,
                "exposures": k.exposures.iter().map(|e| json!([e.start_unix_seconds, e.duration_seconds, e.weighted_attenuation_db, e.attenuation_durations_seconds, e.risk_score])).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "summary": serde_json::to_value(v1.summary).unwrap(),
        });
    }
    got
}

/// Compares field by field, so that a failure names the case, its section and the field.
fn assert_case(case: &Value, got: &Value, threads: usize) {
    let expect = &case["expect"];
    let (name, section) = (&case["name"], &case["section"]);
    for (field, want) in expect.as_object().unwrap() {
        assert_eq!(
            &got[field], want,
            "{section} {name} ({threads} threads): {field} differs"
        );
    }
    assert_eq!(
        got.as_object().unwrap().len(),
        expect.as_object().unwrap().len(),
        "{section} {name}: fields"
    );
}

#[test]
/// Checks spec §match.2, §match.2.6, §match.5, §match.6, §risk.1, §risk.2, §risk.3, §risk.3.1, §risk.3.2, §risk.3.4, §risk.4.
fn match_2_match_5_match_6_risk_1_to_4_equal_an_independent_transcription_of_googles_engine() {
    let cases = vectors();
    assert!(cases.len() >= 19, "{} cases", cases.len());
    for case in &cases {
        assert_case(case, &replay(case, 1), 1);
    }
}

#[cfg(feature = "parallel")]
#[test]
fn match_5_threads_change_nothing_in_the_google_cases() {
    for case in &vectors() {
        assert_case(case, &replay(case, 2), 2);
    }
}

/// The cases are not vacuous: between them they exercise every counter and verdict.
#[test]
fn the_google_cases_cover_every_rule() {
    let cases = vectors();
    let sum = |f: &dyn Fn(&Value) -> u64| cases.iter().map(|c| f(&c["expect"])).sum::<u64>();
    for counter in [
        "outside_tolerance",
        "replayed",
        "tx_power_out_of_range",
        "report_type_keys",
        "duplicate_keys",
        "invalid_transitions",
    ] {
        assert!(
            sum(&|e| e["rejected"][counter].as_u64().unwrap()) > 0,
            "{counter}"
        );
    }
    for class in [
        "key_length",
        "rolling_window",
        "transmission_risk_level",
        "report_type",
    ] {
        assert!(sum(&|e| e["rejected"]["invalid_keys"][class].as_u64().unwrap()) > 0);
    }
    assert!(sum(&|e| e["report_type_transitions"].as_u64().unwrap()) >= 4);
    assert!(sum(&|e| u64::from(e["f1"]["f1"].as_bool().unwrap())) >= 2);
    assert!(sum(&|e| u64::from(!e["f1"]["f1"].as_bool().unwrap())) >= 2);
    assert!(cases.iter().any(|c| c["expect"].get("v1").is_some()));
}
