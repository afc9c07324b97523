//! The command-line tool as a user runs it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bluezone::blid::{BaseKey, SlotsPerDay};

/// The repository's root, where the shared test vectors are.
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

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn vectors_verify_counts_and_fails_loudly() {
    let files: Vec<String> = std::fs::read_dir(root().join("test-vectors"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| p.display().to_string())
        .collect();
    let mut args = vec!["vectors", "verify"];
    args.extend(files.iter().map(String::as_str));
    let ok = run(&args);
    assert!(ok.status.success());
    let last = stdout(&ok).lines().last().unwrap().to_string();
    let passed: usize = last
        .strip_suffix(" passed, 0 failed")
        .unwrap()
        .parse()
        .unwrap();
    assert!(passed > 300, "{last}");

    // One tampered identifier: one failure line and a non-zero exit.
    let dir = scratch("cli-vectors");
    let text = std::fs::read_to_string(root().join("test-vectors/bluezone-captured.json")).unwrap();
    let tampered = dir.join("tampered.json");
    std::fs::write(
        &tampered,
        text.replacen("B9A665D754FE65E665D76A45", "B9A665D754FE65E665D76A46", 1),
    )
    .unwrap();
    let bad = run(&["vectors", "verify", tampered.to_str().unwrap()]);
    assert!(!bad.status.success());
    let out = stdout(&bad);
    assert_eq!(
        out.lines().filter(|l| l.starts_with("FAIL")).count(),
        1,
        "{out}"
    );
    assert_eq!(out.lines().last(), Some("6 passed, 1 failed"));

    // Not a vector file: non-zero exit even with nothing failed.
    let not_vectors = run(&["vectors", "verify", "Cargo.toml"]);
    assert!(!not_vectors.status.success());
    assert_eq!(
        stdout(&not_vectors).lines().last(),
        Some("0 passed, 0 failed")
    );
}

#[test]
fn blid_id_prints_the_captured_identifier() {
    let out = run(&[
        "blid",
        "id",
        "--base-key",
        "4C5224B397F8AB3896781D5AA0F3119F280513F1B592CA280EBDED6357E21084",
        "--base-time",
        "1596844800",
        "--at-ms",
        "1596866191387",
    ]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "B9A665D754FE65E665D76A45\n");
    let before = run(&[
        "blid",
        "id",
        "--base-key",
        "4C5224B397F8AB3896781D5AA0F3119F280513F1B592CA280EBDED6357E21084",
        "--base-time",
        "1596844800",
        "--at-ms",
        "1596844799999",
    ]);
    assert!(!before.status.success());
    assert!(String::from_utf8_lossy(&before.stderr).contains("before the base day"));
}

#[test]
fn blid_match_finds_the_planted_contact_and_decides_f1() {
    let dir = scratch("cli-blid-match");
    let base_time = 1_596_844_800u64;
    let f0_key = BaseKey::from_bytes([7; 32], (base_time / 86_400) as u32);
    let day = f0_key.daily_key(f0_key.base_day() + 1).unwrap();
    let f0 = format!(
        "{{\"data\":[{{\"daily_key\":\"{}\",\"time_start\":{},\"max\":96,\"time_end\":{}}}]}}",
        bluezone::hex::Hex(day.expose_secret()),
        base_time + 86_400,
        base_time + 3 * 86_400
    );
    // 20 minutes at -60 dBm from 10:00 on day 1, a line every 10 s, plus a stranger.
    let mut history = String::new();
    let start_ms = (base_time + 86_400 + 10 * 3600) * 1000;
    for n in 0..120u64 {
        let t = start_ms + n * 10_000;
        let id = f0_key.identifier_at(t, SlotsPerDay::DEFAULT).unwrap();
        history.push_str(&format!("000000000000000000000000\t{id}\t-60\t{t}\n"));
    }
    history.push_str(&format!(
        "000000000000000000000000\t{}\t-50\t{}\n",
        "AB".repeat(12),
        start_ms
    ));
    std::fs::write(dir.join("f0.json"), f0).unwrap();
    std::fs::write(dir.join("data_trace.txt"), &history).unwrap();
    let f0_path = dir.join("f0.json");
    let history_path = dir.join("data_trace.txt");
    let args = [
        "blid",
        "match",
        "--f0",
        f0_path.to_str().unwrap(),
        "--history",
        history_path.to_str().unwrap(),
    ];

    let text = run(&args);
    assert!(
        text.status.success(),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    let out = stdout(&text);
    assert!(out.contains("120 matching sightings"), "{out}");
    assert!(
        out.ends_with("F1 (within about 2 m for 15 min in one day, last 14 days): yes\n"),
        "{out}"
    );

    let mut json_args = args.to_vec();
    json_args.push("--json");
    let json: serde_json::Value = serde_json::from_slice(&run(&json_args).stdout).unwrap();
    assert_eq!(json["matches"].as_array().unwrap().len(), 120);
    assert_eq!(json["f1"]["f1"], true);
    assert_eq!(json["f1"]["days"][0]["close_seconds"], 1190);
    assert_eq!(json["schema_version"], 2);
    assert_eq!(json["matches"][0]["line"], 1);
    assert_eq!(json["f1"]["days"][0]["unix_day"], 18483);

    // A line the history cannot read is an error naming it.
    std::fs::write(&history_path, history.replace("\t-60\t", "\tloud\t")).unwrap();
    let bad = run(&args);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("line 1: field 3"));
}

#[test]
fn gaen_day_reproduces_the_official_vector() {
    let out = run(&[
        "gaen",
        "day",
        "--tek",
        "75c734c6dd1a782de7a965da5eb93125",
        "--rolling-start",
        "2642976",
        "--tx-power",
        "8",
    ]);
    assert!(out.status.success());
    let text = stdout(&out);
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .skip(1)
        .collect();
    assert_eq!(rows.len(), 144);
    assert_eq!(
        rows[0],
        "2642976,2020-04-02T00:00:00Z,8be6cd371c5c891604bfbe49df845096,72033874,02011a03036ffd17166ffd8be6cd371c5c891604bfbe49df84509672033874"
    );
    assert!(rows[143].contains("f431b62ecf443102ce4ed0407de54bd4,1215e57e"));
}

#[test]
fn log_import_export_check_round_trip_and_report_damage() {
    let dir = scratch("cli-log");
    let log = dir.join("log");
    let _ = std::fs::remove_dir_all(&log);
    let csv = "unix_seconds,rpi,aem,rssi\n\
               1596866191,e23f352fa09307a85d4194912443180d,484dc151,-63\n\
               1596952591,8be6cd371c5c891604bfbe49df845096,72033874,-80\n";
    std::fs::write(dir.join("in.csv"), csv).unwrap();
    let (csv_path, log_path) = (dir.join("in.csv"), log.to_str().unwrap().to_string());
    let imported = run(&[
        "log",
        "import",
        "--csv",
        csv_path.to_str().unwrap(),
        "--out",
        &log_path,
    ]);
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let exported = run(&["log", "export", "--log", &log_path]);
    assert_eq!(stdout(&exported), csv);
    let check = run(&["log", "check", "--log", &log_path]);
    assert!(check.status.success());
    assert!(
        stdout(&check).contains("segments: 2\nGAEN sightings: 2\n"),
        "{}",
        stdout(&check)
    );

    // A bad line: nothing is written, the error names line and column.
    std::fs::write(dir.join("bad.csv"), csv.replace("-80", "-800")).unwrap();
    let bad = run(&[
        "log",
        "import",
        "--csv",
        dir.join("bad.csv").to_str().unwrap(),
        "--out",
        &log_path,
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("line 3: column 4"));
    assert_eq!(stdout(&run(&["log", "export", "--log", &log_path])), csv);

    // Flip a bit in the first segment: check reports it and fails; export keeps the rest.
    let segment = log.join("day-18482.bzlog");
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[20] ^= 0x01;
    std::fs::write(&segment, bytes).unwrap();
    let damaged = run(&["log", "check", "--log", &log_path]);
    assert!(!damaged.status.success());
    assert!(
        stdout(&damaged).contains("damaged frames: 43 bytes at offset 16"),
        "{}",
        stdout(&damaged)
    );
    let partial = run(&["log", "export", "--log", &log_path]);
    assert_eq!(
        stdout(&partial),
        "unix_seconds,rpi,aem,rssi\n1596952591,8be6cd371c5c891604bfbe49df845096,72033874,-80\n"
    );
    assert!(String::from_utf8_lossy(&partial.stderr).contains("damaged frames"));
}

#[test]
fn export_build_inspect_and_verify() {
    let dir = scratch("cli-export");
    let samples = root().join("test-vectors/export-samples");
    let signing =
        bluezone::export::verify::p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap();
    use bluezone::export::verify::p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let private = signing.to_pkcs8_pem(LineEnding::LF).unwrap();
    let public = signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    std::fs::write(dir.join("private.pem"), private.as_bytes()).unwrap();
    std::fs::write(dir.join("public.pem"), public.as_bytes()).unwrap();
    let out = dir.join("export.zip");
    let path = |p: &Path| p.to_str().unwrap().to_string();
    let keys = path(&samples.join("google-server-testExport-keys.json"));
    let built = run(&[
        "export",
        "build",
        "--keys",
        &keys,
        "--private-key",
        &path(&dir.join("private.pem")),
        "--key-id",
        "452",
        "--key-version",
        "v1",
        "--region",
        "452",
        "--pad-to",
        "50",
        "--out",
        &path(&out),
    ]);
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let public = path(&dir.join("public.pem"));
    assert!(
        run(&[
            "export",
            "verify",
            &path(&out),
            "--public-key",
            &public,
            "--key-id",
            "452",
            "--key-version",
            "v1"
        ])
        .status
        .success()
    );
    // The right key under another id does not verify it.
    assert!(
        !run(&[
            "export",
            "verify",
            &path(&out),
            "--public-key",
            &public,
            "--key-id",
            "310"
        ])
        .status
        .success()
    );
    let inspect = run(&[
        "export",
        "inspect",
        &path(&out),
        "--public-key",
        &public,
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(json["keys"], 50);
    assert_eq!(json["authentic"], true);
    assert_eq!(json["metadata"]["region"], "452");
    // An unsigned file cannot pass verify.
    let unsigned = path(&samples.join("companion-demo_dks.zip"));
    assert!(
        !run(&["export", "verify", &unsigned, "--public-key", &public])
            .status
            .success()
    );
}

#[test]
fn match_reproduces_the_companion_sample_exactly() {
    let samples = root().join("test-vectors/export-samples");
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(samples.join("companion-demo-matches.json")).unwrap(),
    )
    .unwrap();
    let mut csv = String::from("unix_seconds,rpi,aem,rssi\n");
    let mut records = 0;
    for matched in expected["matched_sightings"].as_array().unwrap() {
        for record in matched["scan_records"].as_array().unwrap() {
            csv.push_str(&format!(
                "{},{},{},{}\n",
                record["epoch_seconds"],
                matched["rpi"].as_str().unwrap(),
                record["aem"].as_str().unwrap(),
                record["rssi"]
            ));
            records += 1;
        }
    }
    assert_eq!(records, 534);
    let dir = scratch("cli-companion");
    std::fs::write(dir.join("encounters.csv"), csv).unwrap();
    let output = run(&[
        "match",
        "--allow-unsigned",
        "--keys",
        samples.join("companion-demo_dks.zip").to_str().unwrap(),
        "--encounters",
        dir.join("encounters.csv").to_str().unwrap(),
        "--json",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let found: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(found["keys_total"], 2392);
    assert_eq!(found["keys_matched"], 4);
    assert_eq!(found["rejected"]["outside_tolerance"], 0);
    assert_eq!(found["rejected"]["replayed"], 0);
    assert_eq!(found["rejected"]["tx_power_out_of_range"], 0);
    let matches = found["matches"].as_array().unwrap();
    for key in expected["matched_keys"].as_array().unwrap() {
        let m = matches
            .iter()
            .find(|m| m["tek"] == key["key_data"])
            .unwrap_or_else(|| panic!("{key} not matched"));
        for field in [
            "transmission_risk_level",
            "rolling_start_interval_number",
            "rolling_period",
            "report_type",
        ] {
            assert_eq!(m[field], key[field], "{field}");
        }
    }
    let all: Vec<&serde_json::Value> = matches
        .iter()
        .flat_map(|m| m["sightings"].as_array().unwrap())
        .collect();
    assert_eq!(all.len(), 534);
    for matched in expected["matched_sightings"].as_array().unwrap() {
        let key = matches.iter().find(|m| m["tek"] == matched["tek"]).unwrap();
        let mine: Vec<_> = key["sightings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["rpi"] == matched["rpi"])
            .collect();
        assert_eq!(
            mine.len(),
            matched["scan_records"].as_array().unwrap().len(),
            "{}",
            matched["rpi"]
        );
        for s in mine {
            assert_eq!(s["en_interval_number"], matched["en_interval_number"]);
            assert_eq!(s["metadata"], matched["decrypted_metadata"]);
            assert_eq!(s["tx_power"], matched["metadata_decoded"]["tx_power_dbm"]);
            let attenuation =
                (s["tx_power"].as_i64().unwrap() - s["rssi"].as_i64().unwrap()).max(0);
            assert_eq!(s["attenuation"].as_i64().unwrap(), attenuation);
        }
    }
}

/// Checks spec §demo.3 (and §demo.4's kept files).
#[test]
fn a_small_demo_agrees_with_its_ground_truth() {
    let dir = scratch("cli-demo");
    // A fresh folder each run: --out refuses one that holds an earlier town.
    let _ = std::fs::remove_dir_all(dir.join("town"));
    let out = run(&[
        "demo",
        "--people",
        "400",
        "--days",
        "7",
        "--seed",
        "7",
        "--json",
        "--out",
        dir.join("town").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["agrees_with_ground_truth"], true);
    let level = &report["levels"][0];
    assert!(level["close_contacts"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(level["missed_close_contacts"], 0, "{report}");
    assert_eq!(level["false_warnings"], 0, "{report}");
    assert!(
        level["warned_close_contacts"].as_u64().unwrap() > 0,
        "{report}"
    );
    // The files it kept are real: the export verifies and the logs read back.
    assert!(dir.join("town/export.zip").exists() && dir.join("town/f0.json").exists());
    let check = run(&[
        "log",
        "check",
        "--log",
        dir.join("town/logs/phone-00000").to_str().unwrap(),
    ]);
    assert!(check.status.success());
    // Its public key verifies its export, and truth.json names its cases and protocols.
    let town = dir.join("town");
    let verify = run(&[
        "export",
        "verify",
        town.join("export.zip").to_str().unwrap(),
        "--public-key",
        town.join("public-key.pem").to_str().unwrap(),
        "--key-id",
        "452",
        "--key-version",
        "v1",
    ]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(town.join("truth.json")).unwrap()).unwrap();
    assert_eq!(kept["people"], 400);
    assert_eq!(kept["protocols"].as_array().unwrap().len(), 400);
    assert_eq!(
        kept["positives"].as_array().unwrap().len() as u64,
        report["positives"].as_u64().unwrap()
    );
    assert_eq!(
        kept["warned"].as_array().unwrap().len() as u64,
        level["warned"].as_u64().unwrap()
    );
}

/// The demo's JSON report; it exits 1 when nothing could be tested, so the status is checked
/// against the report's own verdict.
fn demo_json(args: &[&str]) -> serde_json::Value {
    let out = run(&[&["demo", "--json"], args].concat());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(
        out.status.success(),
        report["agrees_with_ground_truth"] == true,
        "{report}"
    );
    report
}

/// spec §demo.5 and §demo.1: on the default town with one protocol, detection of close
/// contacts grows with adoption and stays in the stated band around adoption²; a higher level
/// adds phones to a lower one's, and every level agrees with the ground truth.
#[test]
fn demo_5_detection_follows_adoption_squared_within_its_band() {
    let report = demo_json(&["--adoption", "0.2,0.6,1.0", "--bluezone-share", "0"]);
    assert_eq!(report["agrees_with_ground_truth"], true, "{report}");
    let levels = report["levels"].as_array().unwrap();
    assert_eq!(levels.len(), 3);
    let mut previous = (-1.0, 0);
    for level in levels {
        let a = level["adoption"].as_f64().unwrap();
        let n = level["close_contacts"].as_u64().unwrap() as f64;
        let d = level["detection"].as_f64().unwrap();
        let sigma = (a * a * (1.0 - a * a) / n).sqrt();
        assert!(n >= 50.0, "{level}");
        assert!(
            a * a - 3.0 * sigma - 0.05 <= d && d <= a * a * (2.0 - a) + 3.0 * sigma + 0.05,
            "detection {d} at adoption {a} is outside the band: {level}"
        );
        assert!(d > previous.0, "detection does not grow: {report}");
        let users = level["app_users"].as_u64().unwrap();
        assert!(
            users > previous.1,
            "a higher level must add phones: {report}"
        );
        previous = (d, users);
        for field in [
            "close_contacts",
            "warned_close_contacts",
            "observable_close_contacts",
            "false_warnings",
            "people_without_contact",
        ] {
            assert!(level[field].is_u64(), "{field} missing: {level}");
        }
        assert_eq!(level["protocols"]["bluezone"]["app_users"], 0);
        assert_eq!(level["missed_close_contacts"], 0, "{level}");
    }
}

/// spec §demo.2: losses remove what they say, and nothing else.
#[test]
fn demo_2_losses_remove_what_they_say() {
    let small = [
        "--people",
        "600",
        "--days",
        "7",
        "--seed",
        "3",
        "--bluezone-share",
        "0",
    ];
    // Nothing lost, one protocol, everyone with the app: every close contact is observable.
    let none = demo_json(&[&small[..], &["--bluetooth-off", "0"]].concat());
    let level = &none["levels"][0];
    assert!(level["close_contacts"].as_u64().unwrap() > 0, "{none}");
    assert_eq!(
        level["observable_close_contacts"], level["close_contacts"],
        "{none}"
    );
    assert_eq!(
        level["warned_close_contacts"], level["close_contacts"],
        "{none}"
    );
    // Bluetooth always off: nothing is heard, nothing observable, no one warned.
    let off = demo_json(&[&small[..], &["--bluetooth-off", "1"]].concat());
    assert_eq!(
        off["agrees_with_ground_truth"], false,
        "nothing was tested: {off}"
    );
    let level = &off["levels"][0];
    assert_eq!(level["observable_close_contacts"], 0, "{off}");
    assert_eq!(level["warned"], 0, "{off}");
    assert_eq!(level["sightings"], 0, "{off}");
    // Phones always left at home still see the household, where close contacts happen.
    let home = demo_json(
        &[
            &small[..],
            &["--bluetooth-off", "0", "--phone-at-home", "1"],
        ]
        .concat(),
    );
    let level = &home["levels"][0];
    assert!(
        level["sightings"].as_u64().unwrap() < none["levels"][0]["sightings"].as_u64().unwrap()
    );
    assert_eq!(
        level["observable_close_contacts"],
        none["levels"][0]["observable_close_contacts"]
    );
    // Two Bluezone iPhones in the background never see each other.
    let ios = [
        "--people",
        "600",
        "--days",
        "7",
        "--seed",
        "3",
        "--bluezone-share",
        "1",
        "--bluetooth-off",
        "0",
    ];
    let all_ios = demo_json(&[&ios[..], &["--ios-share", "1"]].concat());
    assert_eq!(
        all_ios["levels"][0]["observable_close_contacts"], 0,
        "{all_ios}"
    );
    assert_eq!(all_ios["levels"][0]["sightings"], 0, "{all_ios}");
    let foreground =
        demo_json(&[&ios[..], &["--ios-share", "1", "--ios-foreground", "1"]].concat());
    assert!(
        foreground["levels"][0]["warned_close_contacts"]
            .as_u64()
            .unwrap()
            > 0,
        "{foreground}"
    );
}

/// spec §demo.4: the report page holds its three charts and its data.
#[test]
fn demo_4_report_writes_a_page_and_its_data() {
    let dir = scratch("cli-demo-report");
    let _ = std::fs::remove_dir_all(&dir);
    let report = demo_json(&[
        "--people",
        "400",
        "--days",
        "7",
        "--adoption",
        "0.5,1",
        "--report",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(report["levels"].as_array().unwrap().len(), 2);
    let page = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert_eq!(page.matches("<svg").count(), 3, "{page}");
    assert!(!page.contains("<script"));
    let levels = std::fs::read_to_string(dir.join("levels.csv")).unwrap();
    assert_eq!(levels.lines().count(), 3, "{levels}");
    assert!(dir.join("days.csv").exists() && dir.join("pairs.csv").exists());
}

/// An interrupted demo removes its temporary folder (and says so), wherever it was.
#[test]
fn an_interrupted_demo_removes_its_temporary_folder() {
    let tmp = scratch("cli-interrupt");
    let demo = Command::new(env!("CARGO_BIN_EXE_bluezone"))
        .args(["demo", "--people", "50000", "--days", "14"])
        .env("TMPDIR", &tmp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let folder = tmp.join(format!("bluezone-demo-{}", demo.id()));
    // Wait until the run has made its folder, then interrupt it.
    for _ in 0..200 {
        if folder.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let interrupted = Command::new("kill")
        .args(["-INT", &demo.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let output = demo.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(!folder.exists(), "{} is left", folder.display());
}

/// spec §state: `match --state` over two days, `state inspect`, damage and the rebuild.
#[test]
fn state_3_match_with_a_state_skips_what_it_read_and_reports_everything_stored() {
    let dir = scratch("cli-state");
    let state = dir.join("state");
    let _ = std::fs::remove_dir_all(&state);
    let state_arg = state.display().to_string();
    let zip = "test-vectors/export-samples/companion-demo_dks.zip";
    let bin = "test-vectors/export-samples/immuni-it-222-export.bin";
    let csv = "test-vectors/export-samples/companion-demo-encounters.csv";
    let json = |output: &Output| -> serde_json::Value {
        assert!(output.status.success(), "{output:?}");
        serde_json::from_str(&stdout(output)).unwrap()
    };
    let common = [
        "match",
        "--allow-unsigned",
        "--encounters",
        csv,
        "--state",
        &state_arg,
        "--json",
    ];
    let day1 = json(&run(&[&common[..], &["--keys", zip]].concat()));
    assert_eq!(day1["keys_matched"], 4);
    assert_eq!(day1["f1"]["f1"], true);
    assert_eq!(day1["state"]["summary"]["files_read"], 1);

    // The next day: the same file again is skipped whole, the new one read; the report still
    // holds the four matches and the warning.
    let day2 = json(&run(&[&common[..], &["--keys", zip, bin]].concat()));
    assert_eq!(day2["state"]["already_read"][0], zip);
    assert_eq!(day2["files"].as_array().unwrap().len(), 1);
    assert_eq!(day2["keys_matched"], 4);
    assert_eq!(day2["f1"]["f1"], true);
    assert_eq!(day2["keys_total"], day1["keys_total"].as_u64().unwrap() + 3);

    let inspect = run(&["state", "inspect", &state_arg]);
    assert!(inspect.status.success());
    let text = stdout(&inspect);
    assert!(text.contains("files read: 2"), "{text}");
    assert!(text.contains("damage: none"), "{text}");
    let inspected = json(&run(&["state", "inspect", &state_arg, "--json"]));
    assert_eq!(inspected["summary"]["keys_matched"], 4);
    assert_eq!(inspected["damage"].as_array().unwrap().len(), 0);

    // A damaged manifest: refused with the file named, found by inspect (exit 1), and rebuilt.
    let manifest = state.join("MANIFEST");
    let mut bytes = std::fs::read(&manifest).unwrap();
    bytes[20] ^= 1;
    std::fs::write(&manifest, bytes).unwrap();
    let refused = run(&[&common[..], &["--keys", zip]].concat());
    assert!(!refused.status.success());
    let message = String::from_utf8(refused.stderr).unwrap();
    assert!(
        message.contains("MANIFEST: checksum mismatch; rebuild the state"),
        "{message}"
    );
    let inspect = run(&["state", "inspect", &state_arg]);
    assert_eq!(inspect.status.code(), Some(1));
    assert!(stdout(&inspect).contains("damaged:"));
    let rebuilt = json(&run(&[
        &common[..],
        &["--rebuild-state", "--keys", zip, bin],
    ]
    .concat()));
    assert_eq!(rebuilt["keys_total"], day2["keys_total"]);
    assert_eq!(rebuilt["matches"], day2["matches"]);

    // A folder of other files is never taken for a state.
    let refused = run(&[
        "match",
        "--allow-unsigned",
        "--encounters",
        csv,
        "--keys",
        zip,
        "--state",
        "test-vectors",
    ]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8(refused.stderr)
            .unwrap()
            .contains("not a match state")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Finding 7 and 8 of the third new-user trial: an import repeated adds nothing, and an import
/// cut after its journal was written is reported by `log check` and finished by the next
/// import, whole.
#[test]
fn log_import_is_repeatable_and_a_cut_import_is_finished() {
    let dir = scratch("cli-log-repeat");
    let log = dir.join("log");
    let _ = std::fs::remove_dir_all(&log);
    let csv = "unix_seconds,rpi,aem,rssi\n\
               1596866191,e23f352fa09307a85d4194912443180d,484dc151,-63\n\
               1596866191,e23f352fa09307a85d4194912443180d,484dc151,-63\n\
               1596952591,8be6cd371c5c891604bfbe49df845096,72033874,-80\n";
    let csv_path = dir.join("in.csv");
    std::fs::write(&csv_path, csv).unwrap();
    let log_path = log.to_str().unwrap().to_string();
    let import = || {
        run(&[
            "log",
            "import",
            "--csv",
            csv_path.to_str().unwrap(),
            "--out",
            &log_path,
        ])
    };
    let gaen = |check: &Output| {
        let text = stdout(check);
        text.lines()
            .find_map(|l| l.strip_prefix("GAEN sightings: "))
            .map(|n| n.parse::<u64>().unwrap())
            .unwrap()
    };
    assert!(import().status.success());
    let again = import();
    assert!(again.status.success());
    assert!(
        stdout(&again).contains("3 records were in the log already"),
        "{}",
        stdout(&again)
    );
    // The record the CSV holds twice is kept twice, once per line.
    assert_eq!(gaen(&run(&["log", "check", "--log", &log_path])), 3);

    // An import of two records cut after its journal was written and its first record
    // appended: `log check` reports it and fails.
    let late = "1596952600,00112233445566778899aabbccddeeff,01020304,-70";
    let later = "1596952700,ffeeddccbbaa99887766554433221100,01020304,-71";
    let late_csv = dir.join("late.csv");
    std::fs::write(&late_csv, format!("unix_seconds,rpi,aem,rssi\n{late}\n")).unwrap();
    let late_csv = late_csv.to_str().unwrap();
    assert!(
        run(&["log", "import", "--csv", late_csv, "--out", &log_path])
            .status
            .success()
    );
    std::fs::write(
        log.join("import.journal"),
        format!("g,{late}\ng,{later}\nend,2\n"),
    )
    .unwrap();
    let cut = run(&["log", "check", "--log", &log_path]);
    assert!(!cut.status.success());
    assert!(
        stdout(&cut).contains("an import was cut"),
        "{}",
        stdout(&cut)
    );
    // The next import into the log finishes it: the missing record is added, the one that
    // was appended is not added twice.
    let next = run(&["log", "import", "--csv", late_csv, "--out", &log_path]);
    assert!(
        stdout(&next).contains("finished an import that was cut: 1 records added"),
        "{}",
        stdout(&next)
    );
    let check = run(&["log", "check", "--log", &log_path]);
    assert!(check.status.success(), "{}", stdout(&check));
    assert_eq!(gaen(&check), 5);
    assert!(!log.join("import.journal").exists());

    // A journal left behind is reported, and the check fails until an import finishes it.
    std::fs::write(log.join("import.journal"), format!("g,{later}\n")).unwrap();
    let cut = run(&["log", "check", "--log", &log_path]);
    assert!(!cut.status.success());
    assert!(
        stdout(&cut).contains("an import was cut"),
        "{}",
        stdout(&cut)
    );
    // `match` refuses such a log unless told to go on.
    let keys = root().join("test-vectors/export-samples/companion-demo_dks.zip");
    let refused = run(&[
        "match",
        "--allow-unsigned",
        "--keys",
        keys.to_str().unwrap(),
        "--encounters",
        &log_path,
    ]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--allow-damaged-log"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

/// Items 5, 6 and 15 of the third new-user trial and finding A2 of the third audit: an empty
/// or header-only CSV is not a log, a damaged log is said in the text and the JSON and refused
/// unless told to go on, and a "now" in milliseconds or before 2020 is refused.
#[test]
fn match_never_says_not_exposed_silently() {
    let dir = scratch("cli-match-silent");
    let keys = root().join("test-vectors/export-samples/companion-demo_dks.zip");
    let keys = keys.to_str().unwrap();
    let csv = root().join("test-vectors/export-samples/companion-demo-encounters.csv");
    let csv = csv.to_str().unwrap();
    let stderr = |o: &Output| String::from_utf8_lossy(&o.stderr).to_string();
    // `match` of the companion sample's keys, unsigned, against `encounters`.
    let unsigned = |encounters: &str, more: &[&str]| {
        let mut args = vec![
            "match",
            "--allow-unsigned",
            "--keys",
            keys,
            "--encounters",
            encounters,
        ];
        args.extend_from_slice(more);
        run(&args)
    };
    std::fs::write(dir.join("empty.csv"), "").unwrap();
    std::fs::write(dir.join("header.csv"), "unix_seconds,rpi,aem,rssi\n").unwrap();
    for (file, says) in [
        ("empty.csv", "empty"),
        ("header.csv", "holds the header and no sighting"),
    ] {
        let path = dir.join(file);
        let out = unsigned(path.to_str().unwrap(), &[]);
        assert_eq!(out.status.code(), Some(1), "{file}");
        assert!(stderr(&out).contains(says), "{file}: {}", stderr(&out));
    }
    for (now, says) in [
        ("1590000000000", "milliseconds read as seconds"),
        ("18600", "before 2020"),
    ] {
        let out = unsigned(csv, &["--now", now]);
        assert_eq!(out.status.code(), Some(1), "{now}");
        assert!(stderr(&out).contains(says), "{now}: {}", stderr(&out));
    }
    let damaged = "cli/tests/cmd/samples.in/damaged-log";
    let refused = unsigned(damaged, &[]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("the encounter log is damaged"),
        "{}",
        stderr(&refused)
    );
    let allowed = unsigned(damaged, &["--allow-damaged-log", "--json"]);
    assert!(allowed.status.success(), "{}", stderr(&allowed));
    let document: serde_json::Value = serde_json::from_slice(&allowed.stdout).unwrap();
    assert_eq!(
        document["log_damage"].as_array().unwrap().len(),
        2,
        "{}",
        document["log_damage"]
    );
    // A "now" months after the whole log is said, not answered with a silent "no".
    let late = unsigned(csv, &["--now", "1600000000"]);
    assert!(late.status.success());
    assert!(
        stdout(&late).contains("no look-back period holds any sighting"),
        "{}",
        stdout(&late)
    );
    // The same for a Bluezone 2020 check: an empty history is not a log.
    std::fs::write(dir.join("empty.txt"), "").unwrap();
    let history = run(&[
        "blid",
        "match",
        "--f0",
        "cli/tests/cmd/samples.in/f0.json",
        "--history",
        dir.join("empty.txt").to_str().unwrap(),
    ]);
    assert_eq!(history.status.code(), Some(1));
    assert!(
        stderr(&history).contains("holds no contact"),
        "{}",
        stderr(&history)
    );
    let text = unsigned(damaged, &["--allow-damaged-log"]);
    assert!(stdout(&text).contains("log damaged (only intact records were matched)"));
}

/// Finding A10 of the third audit through the tool: a state made with `--state-key-file` is
/// used with its key, refused without it, and reported as authenticated by `state inspect`.
#[test]
fn a_keyed_state_needs_its_key() {
    let dir = scratch("cli-state-key");
    let state = dir.join("state");
    let _ = std::fs::remove_dir_all(&state);
    let key = dir.join("state.key");
    std::fs::write(&key, format!("{}\n", "5a".repeat(32))).unwrap();
    let state = state.to_str().unwrap();
    let key = key.to_str().unwrap();
    let args = |with_key: bool| {
        let mut args = vec![
            "match",
            "--allow-unsigned",
            "--keys",
            "test-vectors/export-samples/companion-demo_dks.zip",
            "--encounters",
            "test-vectors/export-samples/companion-demo-encounters.csv",
            "--now",
            "1590000000",
            "--state",
            state,
        ];
        if with_key {
            args.extend(["--state-key-file", key]);
        }
        args
    };
    assert!(run(&args(true)).status.success());
    assert!(run(&args(true)).status.success());
    let refused = run(&args(false));
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("give the key"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let inspected = run(&["state", "inspect", state, "--state-key-file", key]);
    assert!(inspected.status.success());
    assert!(stdout(&inspected).contains("authenticated with the state key"));
}

/// Checks spec §risk.4.1 and §cal.3 on DP-3T's experiment 34, against what nobody on the team
/// computed: the scan instances the library builds from the raw advertisements are DP-3T's
/// own per-scan aggregation (each of their scans found, with their closest camera distance),
/// and single advertisements under the June table at 55 dB and 2 m classify as the issue's
/// reading of the same data says (TPR 0.19, FPR 0.04).
#[test]
fn bench_proximity_reproduces_dp3t_scans_and_the_single_advertisement_baseline() {
    let output = run(&["bench", "proximity", "--json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["advertisements"], 34_835);
    assert_eq!(report["advertisements_with_distance"], 20_719);
    for check in report["scan_check"].as_array().unwrap() {
        let dp3t = check["dp3t_scans"].as_u64().unwrap();
        assert_eq!(dp3t, 6_070);
        assert!(check["matched"].as_u64().unwrap() >= dp3t - 1, "{check}");
        assert!(
            check["same_closest_distance"].as_u64().unwrap() >= dp3t - 5,
            "{check}"
        );
    }
    let june = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["table"] == "2020-06-13"
                && r["level"] == "advertisement"
                && r["distance_m"] == 2.0
                && r["threshold_db"] == 55
        })
        .unwrap();
    let round = |v: &serde_json::Value| (v.as_f64().unwrap() * 100.0).round() / 100.0;
    assert_eq!((round(&june["tpr"]), round(&june["fpr"])), (0.19, 0.04));
    // Every row names its level, reading and distance, and the thresholds run 40 to 75 dB.
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3 * 3 * 36 * 5);
}

/// Spec §risk.4.1: the F1 rule's default threshold is the one the proximity benchmark chooses
/// from the rule-level results (December 2020 table, typical attenuation, 2 m: the lowest
/// threshold within one standard error of the least `P_miss + P_fa`), and that rule beats the
/// best single-advertisement classifier on the same data by the margin the spec states.
#[test]
fn risk_4_1_the_default_threshold_is_the_one_the_phones_choose() {
    let output = run(&["bench", "proximity", "--json"]);
    assert!(output.status.success());
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let find = |list: &str, level: &str, reading: &str| {
        report[list]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["table"] == "2020-12-14" && r["level"] == level && r["reading"] == reading)
            .unwrap()
            .clone()
    };
    let chosen = find("chosen_at_2m", "rule", "typical");
    let default = bluezone::risk::F1Rule::default();
    assert_eq!(
        chosen["threshold_db"].as_u64(),
        Some(u64::from(default.attenuation_threshold_db))
    );
    // The minimum attenuation's choice costs more: the default reads the typical one.
    let minimum = find("chosen_at_2m", "rule", "minimum");
    assert!(chosen["cost"].as_f64().unwrap() < minimum["cost"].as_f64().unwrap());
    let baseline = find("best_at_2m", "advertisement", "own");
    let (rule_cost, ad_cost) = (
        chosen["cost"].as_f64().unwrap(),
        baseline["cost"].as_f64().unwrap(),
    );
    assert!(rule_cost < 0.2 && ad_cost > 0.7, "{rule_cost} {ad_cost}");
    // The default as the benchmark reports it is the same row.
    assert_eq!(
        find("default_at_2m", "rule", "typical")["threshold_db"],
        chosen["threshold_db"]
    );
}
