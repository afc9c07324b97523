//! Every file under `test-vectors/` is loaded and every vector in it asserted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]
#![cfg(feature = "vectors")]

use std::path::{Path, PathBuf};

use bluezone::vectors::{self, VectorFileError};

fn vector_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("test-vectors");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("test-vectors/ exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

#[test]
/// Checks spec §gaen.3–§gaen.6 (gaen-crypto), §adv.2 and §adv.3 (gaen-advertisement), §blid.1–§blid.4 (bluezone-blid), §enc.1 and §enc.2 (encounter-record), §risk.1 (risk-windows) and §risk.3.2 (risk-weighted-attenuation).
fn every_vector_file_passes_and_none_is_empty() {
    let files = vector_files();
    assert!(
        files.len() >= 4,
        "expected the vector files, found {files:?}"
    );
    let mut total = 0;
    for file in &files {
        let report = vectors::check_file(file)
            .unwrap_or_else(|e| panic!("{}: not a vector file: {e}", file.display()));
        assert!(report.total() > 0, "{}: zero vectors", file.display());
        assert!(
            report.failures.is_empty(),
            "{}: {:#?}",
            file.display(),
            report.failures
        );
        total += report.passed;
    }
    // 144 official + 2 third-party + reference edge cases + advertisements.
    assert!(total > 144 + 2 + 20 + 20, "only {total} vectors checked");
}

#[test]
fn all_144_official_intervals_are_checked() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("test-vectors/gaen-official-v1.2.json");
    let report = vectors::check_file(&path).unwrap();
    assert_eq!(report.kind, "gaen-crypto");
    assert_eq!(report.passed, 144);
}

/// The checker itself must be able to fail: change one byte of each kind of field and expect
/// exactly one failing vector.
#[test]
fn a_tampered_vector_fails() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("test-vectors/gaen-thirdparty.json");
    let text = std::fs::read_to_string(path).unwrap();
    for (field, original, tampered) in [
        (
            "rpi",
            "31fc2cf219fe6dc6765d860e979ba9e5",
            "31fc2cf219fe6dc6765d860e979ba9e4",
        ),
        ("aem", "\"aem\": \"10413a43\"", "\"aem\": \"10413a42\""),
        (
            "rpik",
            "34fbbd748ee78bb386d1bab2df7b4165",
            "34fbbd748ee78bb386d1bab2df7b4166",
        ),
        (
            "aemk",
            "e01962eba7d4b5f40226e91ef9f6c050",
            "e01962eba7d4b5f40226e91ef9f6c051",
        ),
        (
            "metadata",
            "\"metadata\": \"40f20000\"",
            "\"metadata\": \"40f30000\"",
        ),
        (
            "interval",
            "\"en_interval_number\": 2652091",
            "\"en_interval_number\": 2652092",
        ),
    ] {
        assert!(text.contains(original), "{field}: fixture changed");
        let report = vectors::check_str(&text.replacen(original, tampered, 1)).unwrap();
        assert_eq!(report.failures.len(), 1, "{field}: {report:?}");
        assert_eq!(report.passed, 1, "{field}");
    }
}

#[test]
fn a_wrong_error_class_fails() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("test-vectors/gaen-advertisement.json");
    let text = std::fs::read_to_string(path).unwrap();
    let tampered = text.replacen("\"expect\": \"truncated\"", "\"expect\": \"too-long\"", 1);
    assert_ne!(text, tampered);
    let report = vectors::check_str(&tampered).unwrap();
    assert_eq!(report.failures.len(), 1, "{report:?}");
}

#[test]
fn files_that_are_not_vector_files_are_refused() {
    assert!(matches!(
        vectors::check_str("not json"),
        Err(VectorFileError::Json(_))
    ));
    assert!(matches!(
        vectors::check_str("{\"vectors\": [{}]}"),
        Err(VectorFileError::MissingKind)
    ));
    assert!(matches!(
        vectors::check_str("{\"kind\": \"mystery\", \"source\": \"x\", \"vectors\": [{}]}"),
        Err(VectorFileError::UnknownKind { kind }) if kind == "mystery"
    ));
    assert!(matches!(
        vectors::check_str("{\"kind\": \"gaen-crypto\", \"vectors\": [{}]}"),
        Err(VectorFileError::MissingSource)
    ));
    assert!(matches!(
        vectors::check_str("{\"kind\": \"gaen-crypto\", \"source\": \"x\", \"vectors\": []}"),
        Err(VectorFileError::NoVectors)
    ));
    // A malformed entry is a failing vector, not a skipped one.
    let report = vectors::check_str(
        "{\"kind\": \"gaen-crypto\", \"source\": \"x\", \"vectors\": [{\"tek\": \"zz\"}]}",
    )
    .unwrap();
    assert_eq!(report.failures.len(), 1);
    assert!(report.failures[0].message.starts_with("malformed vector"));
}

#[test]
fn a_tampered_bluezone_vector_fails() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("test-vectors/bluezone-captured.json");
    let text = std::fs::read_to_string(path).unwrap();
    for (original, tampered) in [
        (
            "\"id\": \"286BCE589AB994EFA5F73CAD\"",
            "\"id\": \"286BCE589AB994EFA5F73CAE\"",
        ),
        ("\"slot\": 47", "\"slot\": 48"),
        ("\"subkey0\": \"BEB69DF7", "\"subkey0\": \"BEB69DF8"),
    ] {
        assert!(text.contains(original), "{original}: fixture changed");
        let report = vectors::check_str(&text.replacen(original, tampered, 1)).unwrap();
        assert_eq!(report.failures.len(), 1, "{original}: {report:?}");
    }
}
