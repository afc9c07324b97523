//! Replays the committed fuzz seed corpora through the fuzz targets' own checks, so that every
//! `cargo test` runs them and a corpus can never silently empty.
#![cfg(all(feature = "json", feature = "export"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        check(&std::fs::read(&path).unwrap());
        count += 1;
    }
    count
}

#[test]
fn advertisement_corpus() {
    assert!(replay("advertisement", checks::advertisement) >= 20);
}

#[test]
fn classify_corpus() {
    assert!(replay("classify", checks::classify_payload) >= 20);
}

#[test]
fn history_corpus() {
    assert!(replay("history", checks::history) >= 5);
}

#[test]
fn f0_list_corpus() {
    assert!(replay("f0_list", checks::f0_list) >= 5);
}

#[test]
fn info_f_corpus() {
    assert!(replay("info_f", checks::info_f) >= 3);
}

#[test]
fn segment_corpus() {
    assert!(replay("segment", checks::segment) >= 5);
}

#[test]
fn record_corpus() {
    assert!(replay("record", checks::record) >= 5);
}

#[test]
fn csv_corpus() {
    assert!(replay("csv", checks::csv) >= 4);
}

#[test]
fn export_bin_corpus() {
    assert!(replay("export_bin", checks::export_bin) >= 5);
}

#[test]
fn export_sig_corpus() {
    assert!(replay("export_sig", checks::export_sig) >= 3);
}

#[test]
fn export_zip_corpus() {
    assert!(replay("export_zip", checks::export_zip) >= 3);
}

#[test]
fn matching_corpus() {
    assert!(replay("matching", checks::matching) >= 10);
}

#[test]
fn state_manifest_corpus() {
    assert!(replay("state_manifest", checks::state_manifest) >= 5);
    // The seeds written by real runs decode, unkeyed and keyed, so the fuzzer starts from the
    // current format's structure.
    for seed in ["companion-run", "no-match-run", "keyed-run"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus/state_manifest")
            .join(seed);
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            bluezone::matching::state::__fuzz::manifest_round_trip(&bytes).is_some(),
            "{seed} no longer decodes: regenerate it with a run of this version"
        );
    }
}

#[test]
fn state_segment_corpus() {
    assert!(replay("state_segment", checks::state_segment) >= 5);
}

#[test]
fn export_file_corpus() {
    assert!(replay("export_file", checks::export_file) >= 10);
    // The signed seeds are authentic under the target's registry, so the fuzzer starts from
    // files whose signatures verify.
    let registry = checks::test_registry();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/export_file/signed-3-keys");
    let mut file = bluezone::export::ExportFile::open(std::fs::File::open(&path).unwrap()).unwrap();
    let mut stream = file.keys(Some(&registry)).unwrap();
    assert_eq!(stream.by_ref().count(), 3);
    assert!(stream.finish().unwrap().authentic());
}

#[test]
fn export_zip_members_corpus() {
    assert!(replay("export_zip_members", checks::export_zip_members) >= 10);
}

#[test]
fn publish_json_corpus() {
    assert!(replay("publish_json", checks::publish_json) >= 5);
}

#[test]
fn log_folder_corpus() {
    assert!(replay("log_folder", checks::log_folder) >= 10);
}

#[test]
fn state_join_corpus() {
    assert!(replay("state_join", checks::state_join) >= 10);
}

#[test]
fn state_manifest_body_corpus() {
    assert!(replay("state_manifest_body", checks::state_manifest_body) >= 3);
    // Each seed is a real run's body: sealed by the hook, it decodes.
    for seed in ["companion-run", "no-match-run", "keyed-run"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus/state_manifest_body")
            .join(seed);
        let body = std::fs::read(&path).unwrap();
        assert!(
            bluezone::matching::state::__fuzz::manifest_body_round_trip(&body).is_some(),
            "{seed} no longer decodes: regenerate it from the state_manifest seed"
        );
    }
}

#[test]
fn text_corpus() {
    assert!(replay("text", checks::text) >= 10);
}

#[test]
fn risk_windows_corpus() {
    assert!(replay("risk_windows", checks::risk_windows) >= 10);
}

#[test]
fn nhs_scans_corpus() {
    assert!(replay("nhs_scans", checks::nhs_scans) >= 6);
}
