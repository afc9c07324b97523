//! Other deployments' and implementations' artefacts (`test-vectors/peers/`, provenance in its
//! `PROVENANCE.md`) against the `bluezone` tool: the checks of `checks.json`, as the peers'
//! runner (`tools/run_checks.py`) states them, in `cargo test`.
//!
//! Expected values come from `checks.json` (peer-given, or computed by the peers' own Python),
//! and, for the key-level checks, from `expected-keys.json`, written by
//! `spec/reference/peer_expectations.py` with the peers' hand-written protobuf reader. One rule
//! differs from the runner's: a key is its 16 bytes (spec §match.6), so a file that serves one
//! `key_data` with several rolling starts has it matched once, at its first copy (the runner
//! expected every copy), and an archive with a member other than export.bin and export.sig is
//! refused (spec §export.1), as the Dutch transport files are (see
//! `test-vectors/peers/README.md`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sha2::Digest;

/// The Dutch transport files carry the Dutch app's own CMS signature as a third member,
/// `content.sig`, which the app removes before the engine reads the file. An archive with any
/// member other than export.bin and export.sig is refused (spec §export.1), as Google's reader
/// refuses it, so for these files every check expects that refusal.
const REFUSED_WITH_CONTENT_SIG: [&str; 3] = [
    "nl-android-export-incorrect-sig",
    "nl-backend-ProtobufHeaderTestFile",
    "nl-backend-testautomation-eks",
];

fn refused_for_content_sig(args: &[&str]) {
    let (code, out, err) = bluezone(args);
    assert!(
        code == 1 && err.contains("\"content.sig\", which is neither export.bin nor export.sig"),
        "{args:?}: {code} {out}{err}"
    );
}

fn peers() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-vectors/peers")
}

fn p(relative: &str) -> PathBuf {
    peers().join(relative)
}

fn load(relative: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p(relative)).unwrap()).unwrap()
}

/// Runs the tool; returns its exit code and output.
fn bluezone(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_bluezone"))
        .args(args)
        .output()
        .unwrap();
    let code = output.status.code().unwrap_or(-1);
    assert!(
        code != 101 && code >= 0,
        "bluezone {args:?} panicked or was killed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        code,
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn json_of(args: &[&str]) -> Option<Value> {
    let (code, out, _) = bluezone(args);
    (code == 0).then(|| serde_json::from_str(&out).unwrap())
}

/// A gzipped sightings file, unpacked into the target folder.
fn sightings(relative: &str) -> PathBuf {
    let source = p(relative);
    let Some(stem) = relative.strip_suffix(".gz") else {
        return source;
    };
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR")).join("peers");
    std::fs::create_dir_all(&folder).unwrap();
    let target = folder.join(Path::new(stem).file_name().unwrap());
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(source).unwrap())
        .read_to_end(&mut text)
        .unwrap();
    std::fs::write(&target, text).unwrap();
    target
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The canonical lines of `spec/reference/peer_expectations.py`.
fn canonical(matches: &[&Value]) -> String {
    let mut text = String::new();
    for m in matches {
        let onset = match &m["days_since_onset_of_symptoms"] {
            Value::Null => "-".to_string(),
            v => v.to_string(),
        };
        text += &format!(
            "{},{},{},{},{},{}\n",
            m["tek"].as_str().unwrap().to_lowercase(),
            m["rolling_start_interval_number"],
            m["rolling_period"],
            m["transmission_risk_level"],
            m["report_type"],
            onset
        );
    }
    text
}

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn every_artefact_is_the_one_its_provenance_names() {
    for export in load("checks.json")["exports"].as_array().unwrap() {
        let bytes = std::fs::read(p(export["file"].as_str().unwrap())).unwrap();
        assert_eq!(
            sha256_hex(&bytes),
            export["sha256"].as_str().unwrap(),
            "{}",
            export["id"]
        );
    }
}

/// Checks spec §export.2, §export.3 and §export.5 on the peers' files: what `export inspect`
/// reads, and what `export verify` decides with each published key.
#[test]
fn export_inspect_and_verify_give_the_peers_values() {
    const INSPECT: [&str; 4] = ["export_bin_bytes", "keys", "revised_keys", "report_types"];
    const METADATA: [&str; 5] = [
        "start_timestamp",
        "end_timestamp",
        "region",
        "batch_num",
        "batch_size",
    ];
    const SIGNATURE_INFO: [&str; 5] = [
        "app_bundle_id",
        "android_package",
        "verification_key_version",
        "verification_key_id",
        "signature_algorithm",
    ];
    let mut cases = 0;
    for export in load("checks.json")["exports"].as_array().unwrap() {
        let id = export["id"].as_str().unwrap();
        let file = p(export["file"].as_str().unwrap());
        if REFUSED_WITH_CONTENT_SIG.contains(&id) {
            refused_for_content_sig(&["export", "inspect", path_str(&file), "--json"]);
            for verify in export["verify"].as_array().unwrap() {
                cases += 1;
                let pem = p(verify["pem"].as_str().unwrap());
                refused_for_content_sig(&[
                    "export",
                    "verify",
                    path_str(&file),
                    "--public-key",
                    path_str(&pem),
                ]);
            }
            continue;
        }
        let got = json_of(&["export", "inspect", path_str(&file), "--json"]);
        if export["expect_parse"] == "reject" {
            // Keys whose key_data is not 16 bytes are refused, never read as keys.
            assert!(got.as_ref().is_none_or(|g| g["keys"] == 0), "{id}: {got:?}");
            let encounters = p("sightings/mh-diagnosis-keys-readme-sightings.csv");
            bluezone(&[
                "match",
                "--allow-unsigned",
                "--keys",
                path_str(&file),
                "--encounters",
                path_str(&encounters),
                "--json",
            ]);
        } else {
            let got = got.unwrap_or_else(|| panic!("{id}: inspect failed"));
            let expect = &export["inspect"];
            for field in INSPECT {
                assert_eq!(got[field], expect[field], "{id}: inspect {field}");
            }
            for field in METADATA {
                assert_eq!(
                    got["metadata"][field], expect["metadata"][field],
                    "{id}: metadata {field}"
                );
            }
            let infos: Vec<BTreeMap<&str, Value>> = got["metadata"]["signature_infos"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| SIGNATURE_INFO.iter().map(|f| (*f, s[*f].clone())).collect())
                .collect();
            let expected: Vec<BTreeMap<&str, Value>> = expect["metadata"]["signature_infos"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| SIGNATURE_INFO.iter().map(|f| (*f, s[*f].clone())).collect())
                .collect();
            assert_eq!(infos, expected, "{id}: signature infos");
        }
        for verify in export["verify"].as_array().unwrap() {
            cases += 1;
            let pem = p(verify["pem"].as_str().unwrap());
            let mut args = vec!["export", "verify", path_str(&file), "--public-key"];
            args.push(path_str(&pem));
            if let Some(key_id) = verify["key_id"].as_str() {
                args.extend(["--key-id", key_id]);
            }
            if let Some(version) = verify["key_version"].as_str() {
                args.extend(["--key-version", version]);
            }
            let (code, out, err) = bluezone(&args);
            assert_eq!(
                code == 0,
                verify["expect"] == "valid",
                "{id}: verify with {pem:?}: {out}{err}"
            );
        }
    }
    // With the 8 `match --public-key` cases of the key-level test, the runner's 25.
    assert_eq!(cases, 17);
}

/// Checks spec §match.2, §match.5 and §match.6 on the peers' files: every key found by its
/// planted sightings, once per 16 bytes, with the file's fields; and a file matched with
/// `--public-key` only when that key signed it.
#[test]
fn match_6_every_peer_key_is_found_once_with_its_fields() {
    let expected = load("expected-keys.json");
    let (mut keys_checked, mut authenticity_cases) = (0, 0);
    for export in load("checks.json")["exports"].as_array().unwrap() {
        let Some(csv) = export["keylevel"].as_str() else {
            continue;
        };
        let id = export["id"].as_str().unwrap();
        let want = &expected["files"][id];
        let file = p(export["file"].as_str().unwrap());
        let csv = sightings(csv);
        let args = [
            "match",
            "--allow-unsigned",
            "--keys",
            path_str(&file),
            "--encounters",
            path_str(&csv),
            "--json",
        ];
        if REFUSED_WITH_CONTENT_SIG.contains(&id) {
            refused_for_content_sig(&args);
            continue;
        }
        let got = json_of(&[&args[..], &["--threads", "2"]].concat())
            .unwrap_or_else(|| panic!("{id}: match failed"));
        assert_eq!(got["keys_total"], want["keys_total"], "{id}: keys_total");
        assert_eq!(
            got["rejected"]["duplicate_keys"], want["copies"],
            "{id}: copies of matched keys"
        );
        let mut matches: Vec<&Value> = got["matches"].as_array().unwrap().iter().collect();
        matches.sort_by_key(|m| m["tek"].as_str().unwrap().to_lowercase());
        assert_eq!(
            matches.len() as u64,
            want["matched"].as_u64().unwrap(),
            "{id}"
        );
        if let Some(listed) = want["matches"].as_array() {
            let tek_of = |m: &&Value| m["tek"].as_str().unwrap().to_lowercase();
            let got_teks: BTreeSet<String> = matches.iter().map(tek_of).collect();
            let want_teks: BTreeSet<String> = listed.iter().map(|m| tek_of(&m)).collect();
            assert_eq!(got_teks, want_teks, "{id}: matched keys");
        }
        assert_eq!(
            sha256_hex(canonical(&matches).as_bytes()),
            want["sha256"].as_str().unwrap(),
            "{id}: the matched keys' fields"
        );
        keys_checked += matches.len();
        if let Some(peer_keys) = export["peer_keys"].as_str() {
            for k in load(peer_keys)["temporaryExposureKeys"].as_array().unwrap() {
                let tek = base64_hex(k["key"].as_str().unwrap());
                let m = matches
                    .iter()
                    .find(|m| m["tek"].as_str().unwrap().eq_ignore_ascii_case(&tek))
                    .unwrap_or_else(|| panic!("{id}: peer key {tek}"));
                assert_eq!(m["rolling_period"], k["rollingPeriod"], "{id}: {tek}");
                assert_eq!(
                    m["transmission_risk_level"], k["transmissionRisk"],
                    "{id}: {tek}"
                );
            }
        }
        for auth in export["match_auth"].as_array().into_iter().flatten() {
            authenticity_cases += 1;
            let pem = p(auth["pem"].as_str().unwrap());
            let (code, out, _) = bluezone(&[
                "match",
                "--keys",
                path_str(&file),
                "--encounters",
                path_str(&csv),
                "--public-key",
                path_str(&pem),
                "--json",
            ]);
            let matched = if code == 0 {
                serde_json::from_str::<Value>(&out).unwrap()["matches"]
                    .as_array()
                    .unwrap()
                    .len() as u64
            } else {
                0
            };
            let accept = auth["expect"] == "accept";
            assert_eq!(
                matched,
                if accept {
                    want["matched"].as_u64().unwrap()
                } else {
                    0
                },
                "{id}: match --public-key {pem:?}"
            );
        }
    }
    assert!(keys_checked > 27_000, "{keys_checked} keys checked");
    assert_eq!(authenticity_cases, 8);
}

fn base64_hex(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = String::new();
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c).unwrap() as u32;
        bits = bits << 6 | v;
        count += 6;
        if count >= 8 {
            count -= 8;
            out += &format!("{:02x}", (bits >> count) & 0xFF);
        }
    }
    out
}

/// Checks spec §gaen.3, §gaen.4 and §gaen.6 on the peers' key-schedule rows, including two
/// where a peer's own output does not conform and must not be reproduced.
#[test]
fn gaen_day_reproduces_the_peers_rows() {
    let checks = load("checks.json");
    let rows = checks["gaen_day"].as_array().unwrap();
    assert_eq!(rows.len(), 8);
    for c in rows {
        let (start, period) = (
            c["rolling_start"].to_string(),
            c["rolling_period"].to_string(),
        );
        let mut args = vec![
            "gaen",
            "day",
            "--tek",
            c["tek"].as_str().unwrap(),
            "--rolling-start",
            &start,
            "--rolling-period",
            &period,
        ];
        let tx = c["tx_power"].to_string();
        if c.get("tx_power").is_some() {
            args.extend(["--tx-power", &tx]);
        }
        let (code, out, err) = bluezone(&args);
        assert_eq!(code, 0, "{}: {err}", c["id"]);
        let interval = c["interval"].to_string();
        let row: Vec<&str> = out
            .lines()
            .map(|l| l.split(',').collect::<Vec<_>>())
            .find(|parts| parts.first() == Some(&interval.as_str()) && parts.len() >= 4)
            .unwrap_or_else(|| panic!("{}: no row for {interval}", c["id"]));
        let (rpi, aem) = (row[2].to_lowercase(), row[3].to_lowercase());
        let id = &c["id"];
        if let Some(want) = c["rpi"].as_str() {
            assert_eq!(rpi, want, "{id}");
        }
        if let Some(prefix) = c["rpi_prefix"].as_str() {
            assert!(rpi.starts_with(prefix), "{id}");
        }
        if let Some(want) = c["aem"].as_str() {
            assert_eq!(aem, want, "{id}");
        }
        if let Some(wrong) = c["rpi_differs"].as_str() {
            assert_ne!(rpi, wrong, "{id}");
        }
        if let Some(wrong) = c["aem_differs"].as_str() {
            assert_ne!(aem, wrong, "{id}");
        }
    }
}

/// Checks spec §match.2 on a real match: a TEK exported from a phone against that phone's
/// contact records, as the peer tool matched them.
#[test]
fn match_2_a_real_phone_s_match_is_reproduced_sighting_by_sighting() {
    for scenario in load("checks.json")["match_scenarios"].as_array().unwrap() {
        let id = &scenario["id"];
        let mut args = vec![
            "match".to_string(),
            "--allow-unsigned".to_string(),
            "--keys".to_string(),
        ];
        for k in scenario["keys"].as_array().unwrap() {
            args.push(path_str(&p(k.as_str().unwrap())).to_string());
        }
        args.push("--encounters".to_string());
        args.push(path_str(&p(scenario["encounters"].as_str().unwrap())).to_string());
        args.push("--json".to_string());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let got = json_of(&args).unwrap_or_else(|| panic!("{id}: match failed"));
        let by_tek: BTreeMap<String, &Value> = got["matches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["tek"].as_str().unwrap().to_lowercase(), m))
            .collect();
        let expected = scenario["expect_matches"].as_array().unwrap();
        assert_eq!(
            by_tek.keys().cloned().collect::<BTreeSet<_>>(),
            expected
                .iter()
                .map(|e| e["tek"].as_str().unwrap().to_string())
                .collect(),
            "{id}"
        );
        for e in expected {
            let m = by_tek[e["tek"].as_str().unwrap()];
            assert_eq!(
                m["rolling_start_interval_number"],
                e["rolling_start_interval_number"]
            );
            assert_eq!(m["transmission_risk_level"], e["transmission_risk_level"]);
            for s in e["sightings"].as_array().unwrap() {
                let found = m["sightings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|x| {
                        x["unix_seconds"] == s["unix_seconds"]
                            && x["rpi"]
                                .as_str()
                                .unwrap()
                                .eq_ignore_ascii_case(s["rpi"].as_str().unwrap())
                    })
                    .unwrap_or_else(|| panic!("{id}: sighting {}", s["unix_seconds"]));
                for (field, value) in s.as_object().unwrap() {
                    assert_eq!(
                        found[field].to_string().to_lowercase(),
                        value.to_string().to_lowercase(),
                        "{id}: sighting {} {field}",
                        s["unix_seconds"]
                    );
                }
            }
        }
    }
}

/// The peers' vector files pass `vectors verify`.
#[test]
fn the_peers_vector_files_verify() {
    for file in load("checks.json")["vector_files"].as_array().unwrap() {
        let path = p(file["file"].as_str().unwrap());
        let (code, out, err) = bluezone(&["vectors", "verify", path_str(&path)]);
        let last = out.lines().last().unwrap_or_default();
        assert!(
            code == 0 && last.starts_with(&format!("{} passed, 0 failed", file["count"])),
            "{path:?}: {out}{err}"
        );
    }
}
