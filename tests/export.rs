//! Every shared export sample parses to exactly the values in its manifest; signatures verify
//! and fail as they must; the writer reproduces the reference server's bytes; bad input is an
//! error, never a panic.
#![cfg(all(feature = "export", feature = "json"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]

use std::io::Cursor;
use std::path::{Path, PathBuf};

use bluezone::export::archive::{ArchiveError, ExportArchive};
use bluezone::export::bin::{self, ExportBin, ExportMetadata, ExportedKey, SignatureInfo};
use bluezone::export::sig;
use bluezone::export::stream::{ExportReader, ExportWriter};
use bluezone::export::verify::{self, ExportDigests, PublicKeyRegistry};
use bluezone::gaen::{DiagnosisKey, ReportType};
use serde_json::Value;

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("test-vectors/export-samples")
}

fn manifest() -> Vec<Value> {
    let text = std::fs::read_to_string(samples().join("manifest.json")).unwrap();
    let manifest: Value = serde_json::from_str(&text).unwrap();
    let list = manifest["samples"].as_array().unwrap().clone();
    assert_eq!(list.len(), 6, "the manifest lists six samples");
    list
}

/// (export.bin, export.sig) of a sample file.
fn load(file: &str) -> (Vec<u8>, Option<Vec<u8>>) {
    let bytes = std::fs::read(samples().join(file)).unwrap();
    if file.ends_with(".zip") {
        let mut archive = ExportArchive::open(Cursor::new(bytes)).unwrap();
        (
            archive.read_export_bin().unwrap(),
            archive.read_export_sig().unwrap(),
        )
    } else {
        (bytes, None)
    }
}

fn text(value: &Value) -> Option<String> {
    value.as_str().map(str::to_string)
}

fn expected_info(value: &Value) -> SignatureInfo {
    SignatureInfo {
        app_bundle_id: text(&value["app_bundle_id (reserved 1)"]),
        android_package: text(&value["android_package (reserved 2)"]),
        verification_key_version: text(&value["verification_key_version"]),
        verification_key_id: text(&value["verification_key_id"]),
        signature_algorithm: text(&value["signature_algorithm"]),
    }
}

fn expected_metadata(value: &Value) -> ExportMetadata {
    ExportMetadata {
        start_timestamp: value["start_timestamp"].as_u64(),
        end_timestamp: value["end_timestamp"].as_u64(),
        region: text(&value["region"]),
        batch_num: value["batch_num"].as_i64().map(|v| v as i32),
        batch_size: value["batch_size"].as_i64().map(|v| v as i32),
        signature_infos: value["signature_infos"]
            .as_array()
            .unwrap()
            .iter()
            .map(expected_info)
            .collect(),
    }
}

fn assert_key(found: &DiagnosisKey, expected: &Value, what: &str) {
    assert_eq!(
        bluezone::hex::Hex(&found.key_data).to_string(),
        expected["key_data"].as_str().unwrap(),
        "{what}"
    );
    assert_eq!(
        u64::from(found.transmission_risk_level),
        expected["transmission_risk_level"].as_u64().unwrap(),
        "{what}"
    );
    assert_eq!(
        u64::from(found.window.start().get()),
        expected["rolling_start_interval_number"].as_u64().unwrap(),
        "{what}"
    );
    assert_eq!(
        u64::from(found.window.period().get()),
        expected["rolling_period"].as_u64().unwrap_or(144),
        "{what}"
    );
    assert_eq!(
        found.report_type as i64,
        expected["report_type"].as_i64().unwrap_or(0),
        "{what}"
    );
    assert_eq!(found.days_since_onset_of_symptoms, None, "{what}");
}

fn registry_for(sample: &Value) -> PublicKeyRegistry {
    let mut registry = PublicKeyRegistry::new();
    for pem in sample["public_keys"].as_array().into_iter().flatten() {
        let pem = std::fs::read_to_string(samples().join(pem.as_str().unwrap())).unwrap();
        registry.add_pem(None, None, &pem).unwrap();
    }
    registry
}

#[test]
/// Checks spec §export.2, §export.3, §export.4.
fn every_sample_parses_to_its_manifest() {
    for sample in manifest() {
        let file = sample["file"].as_str().unwrap();
        let (export_bin, export_sig) = load(file);
        assert_eq!(
            export_bin.len() as u64,
            sample["export_bin_size"].as_u64().unwrap(),
            "{file}"
        );
        assert_eq!(
            bluezone::hex::Hex(&ExportDigests::of(&export_bin).sha256).to_string(),
            sample["export_bin_sha256"].as_str().unwrap(),
            "{file}"
        );

        // In memory.
        let parsed = ExportBin::parse(&export_bin).unwrap();
        assert_eq!(
            parsed.metadata(),
            &expected_metadata(&sample["expected_metadata"]),
            "{file}"
        );
        assert_eq!(
            parsed.key_count(),
            sample["num_keys"].as_u64().unwrap(),
            "{file}"
        );
        assert_eq!(
            parsed.revised_key_count(),
            sample["num_revised_keys"].as_u64().unwrap(),
            "{file}"
        );
        let keys: Vec<ExportedKey> = parsed.keys().collect::<Result<_, _>>().unwrap();
        assert!(keys.iter().all(|k| !k.revised));
        if let Some(expected) = sample["expected_keys"].as_array() {
            assert_eq!(keys.len(), expected.len(), "{file}");
            for (n, (key, want)) in keys.iter().zip(expected).enumerate() {
                assert_key(&key.key, want, &format!("{file} key {n}"));
            }
        } else {
            let first = sample["expected_keys_first3"].as_array().unwrap();
            for (n, want) in first.iter().enumerate() {
                assert_key(&keys[n].key, want, &format!("{file} key {n}"));
            }
            assert_key(
                &keys.last().unwrap().key,
                &sample["expected_keys_last"],
                &format!("{file} last key"),
            );
        }

        // Streaming, through the zip member when there is one: the same keys and metadata.
        let streamed: Vec<ExportedKey> = if file.ends_with(".zip") {
            let bytes = std::fs::read(samples().join(file)).unwrap();
            let mut archive = ExportArchive::open(Cursor::new(bytes)).unwrap();
            let mut reader =
                ExportReader::new(std::io::BufReader::new(archive.export_bin().unwrap())).unwrap();
            let keys: Vec<_> = reader.by_ref().collect::<Result<_, _>>().unwrap();
            assert_eq!(reader.metadata(), parsed.metadata(), "{file}");
            keys
        } else {
            ExportReader::new(&export_bin[..])
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        assert_eq!(streamed, keys, "{file}");

        // Signatures.
        match sample["expected_signatures"].as_array() {
            None => assert!(export_sig.is_none(), "{file}"),
            Some(expected) => {
                let signatures = sig::parse(export_sig.as_ref().unwrap()).unwrap();
                assert_eq!(signatures.len(), expected.len());
                for (found, want) in signatures.iter().zip(expected) {
                    assert_eq!(
                        found.signature_info.as_ref(),
                        Some(&expected_info(&want["signature_info"])),
                        "{file}"
                    );
                    assert_eq!(
                        found.batch_num,
                        Some(want["batch_num"].as_i64().unwrap() as i32)
                    );
                    assert_eq!(
                        found.batch_size,
                        Some(want["batch_size"].as_i64().unwrap() as i32)
                    );
                    assert_eq!(
                        bluezone::hex::Hex(&found.signature).to_string(),
                        want["signature"].as_str().unwrap()
                    );
                }
                // export.sig writes back to the same bytes.
                assert_eq!(
                    &sig::encode(&signatures),
                    export_sig.as_ref().unwrap(),
                    "{file}"
                );
                let verification = verify::verify(
                    &ExportDigests::of(&export_bin),
                    parsed.metadata().signature_infos.len(),
                    &signatures,
                    &registry_for(&sample),
                );
                assert_eq!(
                    verification.authentic,
                    sample["signature_verifies"] == true,
                    "{file}: {verification:?}"
                );
            }
        }
    }
}

#[test]
/// Checks spec §export.5, §export.5.1, §export.5.2, §export.5.3.
fn the_three_signed_samples_verify_with_their_keys_by_id_and_version() {
    let cases = [
        (
            "google-internals-sample_diagnosis_key_file.zip",
            "google-internals-310-v1.pub.pem",
            Some("310"),
            Some("v1"),
        ),
        // The pre-release file names no key id: the only registered key is used.
        (
            "google-android-sample_diagnosis_key_file-2020-05.zip",
            "google-internals-ExampleServer-v1.pub.pem",
            Some("ExampleServer"),
            Some("v1"),
        ),
        (
            "google-server-testExport-2-records-1-of-1.zip",
            "google-server-example-public.pem",
            Some("some_id"),
            Some("1"),
        ),
    ];
    for (file, pem, id, version) in cases {
        let (export_bin, export_sig) = load(file);
        let parsed = ExportBin::parse(&export_bin).unwrap();
        let signatures = sig::parse(&export_sig.unwrap()).unwrap();
        let mut registry = PublicKeyRegistry::new();
        registry
            .add_pem(
                id,
                version,
                &std::fs::read_to_string(samples().join(pem)).unwrap(),
            )
            .unwrap();
        let digests = ExportDigests::of(&export_bin);
        let infos = parsed.metadata().signature_infos.len();
        assert!(
            verify::verify(&digests, infos, &signatures, &registry).authentic,
            "{file}"
        );

        // A key registered under another name is not used, and a wrong key fails.
        let mut other = PublicKeyRegistry::new();
        other
            .add_pem(
                Some("999"),
                Some("v9"),
                &std::fs::read_to_string(samples().join(pem)).unwrap(),
            )
            .unwrap();
        other
            .add_pem(
                Some("998"),
                None,
                &std::fs::read_to_string(samples().join(pem)).unwrap(),
            )
            .unwrap();
        assert!(
            !verify::verify(&digests, infos, &signatures, &other).authentic,
            "{file}"
        );
        let mut wrong = PublicKeyRegistry::new();
        let wrong_pem = if pem.contains("310") {
            "google-server-example-public.pem"
        } else {
            "google-internals-310-v1.pub.pem"
        };
        wrong
            .add_pem(
                None,
                None,
                &std::fs::read_to_string(samples().join(wrong_pem)).unwrap(),
            )
            .unwrap();
        assert!(
            !verify::verify(&digests, infos, &signatures, &wrong).authentic,
            "{file}"
        );
    }
}

#[test]
/// Checks spec §export.5.1.
fn every_single_byte_change_of_a_signed_export_fails_verification() {
    for sample in manifest()
        .iter()
        .filter(|s| s["signature_verifies"] == true)
    {
        let file = sample["file"].as_str().unwrap();
        let (export_bin, export_sig) = load(file);
        let signatures = sig::parse(&export_sig.unwrap()).unwrap();
        let registry = registry_for(sample);
        let infos = ExportBin::parse(&export_bin)
            .unwrap()
            .metadata()
            .signature_infos
            .len();
        for position in 0..export_bin.len() {
            let mut changed = export_bin.clone();
            changed[position] ^= 1 << (position % 8);
            let verification =
                verify::verify(&ExportDigests::of(&changed), infos, &signatures, &registry);
            assert!(
                !verification.authentic,
                "{file}: byte {position} changed and still verifies"
            );
        }
    }
}

#[test]
fn truncation_at_every_offset_is_an_error_or_a_visible_prefix_never_a_panic() {
    for sample in manifest() {
        let file = sample["file"].as_str().unwrap();
        let raw = std::fs::read(samples().join(file)).unwrap();
        let (export_bin, _) = load(file);
        let all: Vec<ExportedKey> = ExportBin::parse(&export_bin)
            .unwrap()
            .keys()
            .collect::<Result<_, _>>()
            .unwrap();
        if file.ends_with(".zip") {
            // A zip's directory is at its end: every cut is an error.
            for cut in 0..raw.len() {
                let outcome = ExportArchive::open(Cursor::new(raw[..cut].to_vec()))
                    .and_then(|mut a| a.read_export_bin());
                assert!(outcome.is_err(), "{file} cut at {cut}");
            }
        }
        for cut in 0..export_bin.len() {
            let bytes = &export_bin[..cut];
            let in_memory =
                ExportBin::parse(bytes).and_then(|p| p.keys().collect::<Result<Vec<_>, _>>());
            let streamed = ExportReader::new(bytes)
                .map_err(|e| e.to_string())
                .and_then(|r| r.collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string()));
            match in_memory {
                // Protobuf has no end marker: a cut between two top-level fields is a valid,
                // shorter file. It must then hold exactly a prefix of the keys.
                Ok(keys) => {
                    assert!(
                        all.starts_with(&keys) && keys.len() < all.len() || all.is_empty(),
                        "{file} cut at {cut}"
                    );
                    assert_eq!(streamed.unwrap(), keys, "{file} cut at {cut}");
                }
                Err(_) => assert!(
                    streamed.is_err(),
                    "{file} cut at {cut}: only the streaming reader accepted it"
                ),
            }
        }
    }
}

fn keys_json() -> Vec<DiagnosisKey> {
    let text =
        std::fs::read_to_string(samples().join("google-server-testExport-keys.json")).unwrap();
    bluezone::export::publish::parse_keys(&text).unwrap()
}

#[test]
fn the_writer_reproduces_the_reference_servers_bytes() {
    let sample = manifest()
        .into_iter()
        .find(|s| s["file"] == "google-server-testExport-2-records-1-of-1.zip")
        .unwrap();
    let metadata = expected_metadata(&sample["expected_metadata"]);
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    let built = bin::build(&metadata, keys_json(), 0, &mut rng);
    let (export_bin, _) = load("google-server-testExport-2-records-1-of-1.zip");
    assert_eq!(built, export_bin);
    // The streaming writer gives the same bytes for the same (sorted) keys.
    let mut writer = ExportWriter::new(Vec::new(), &metadata).unwrap();
    for key in ExportBin::parse(&export_bin).unwrap().keys() {
        writer.write_key(&key.unwrap().key, false).unwrap();
    }
    assert_eq!(writer.finish().unwrap(), export_bin);
}

use rand_chacha::rand_core::SeedableRng;

#[test]
fn padding_sign_zip_and_verify_round_trip() {
    let metadata = ExportMetadata {
        start_timestamp: Some(1_600_000_000),
        end_timestamp: Some(1_600_086_400),
        region: Some("VN".into()),
        batch_num: Some(1),
        batch_size: Some(1),
        signature_infos: vec![SignatureInfo {
            verification_key_version: Some("v1".into()),
            verification_key_id: Some("452".into()),
            signature_algorithm: Some(verify::ECDSA_WITH_SHA256.into()),
            ..SignatureInfo::default()
        }],
    };
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
    let mut keys = keys_json();
    keys[0].report_type = ReportType::ConfirmedTest;
    keys[0].days_since_onset_of_symptoms = Some(-3);
    let export_bin = bin::build(&metadata, keys.clone(), 1000, &mut rng);
    let parsed = ExportBin::parse(&export_bin).unwrap();
    assert_eq!(parsed.key_count(), 1000);
    let read: Vec<DiagnosisKey> = parsed.keys().map(|k| k.unwrap().key).collect();
    assert!(
        read.windows(2).all(|w| w[0].key_data <= w[1].key_data),
        "sorted by key bytes"
    );
    for key in &keys {
        assert!(
            read.contains(key),
            "real key {key:?} kept with its metadata"
        );
    }

    let signing = verify::p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
    let signature = verify::sign(
        &export_bin,
        &signing,
        metadata.signature_infos[0].clone(),
        1,
        1,
    );
    let export_sig = sig::encode(std::slice::from_ref(&signature));
    assert_eq!(sig::parse(&export_sig).unwrap(), vec![signature]);
    let zip =
        bluezone::export::archive::write(Cursor::new(Vec::new()), &export_bin, Some(&export_sig))
            .unwrap()
            .into_inner();
    let (bin_back, sig_back) = ExportArchive::open(Cursor::new(zip))
        .unwrap()
        .read_signed()
        .unwrap();
    assert_eq!(bin_back, export_bin);
    let mut registry = PublicKeyRegistry::new();
    registry.add(Some("452"), Some("v1"), *signing.verifying_key());
    let signatures = sig::parse(&sig_back).unwrap();
    assert!(verify::verify(&ExportDigests::of(&bin_back), 1, &signatures, &registry).authentic);
    // The count of signatures must equal the count of signature infos.
    assert!(!verify::verify(&ExportDigests::of(&bin_back), 2, &signatures, &registry).authentic);
}

#[test]
/// Checks spec §export.1.
fn a_zip_bomb_and_a_missing_signature_are_refused() {
    let zeros = vec![0u8; 8 << 20];
    let zip = bluezone::export::archive::write(Cursor::new(Vec::new()), &zeros, None)
        .unwrap()
        .into_inner();
    assert!(
        zip.len() < 64 << 10,
        "8 MiB of zeros compresses to {} bytes",
        zip.len()
    );
    let mut archive = ExportArchive::open(Cursor::new(zip)).unwrap();
    assert!(matches!(
        archive.read_export_bin(),
        Err(ArchiveError::TooLarge {
            member: "export.bin",
            ..
        })
    ));
    assert!(matches!(
        archive.read_signed(),
        Err(ArchiveError::MissingMember("export.sig"))
    ));
    assert!(matches!(
        ExportArchive::open(Cursor::new(b"EK Export v1    ".to_vec())),
        Err(ArchiveError::Zip(_))
    ));
}

#[test]
/// Checks spec §export.2.
fn malformed_fields_have_typed_errors() {
    use bluezone::export::ExportError;
    let header = bluezone::export::EXPORT_HEADER.to_vec();
    let with = |body: &[u8]| [header.clone(), body.to_vec()].concat();
    let first_key = |bytes: &[u8]| ExportBin::parse(bytes).and_then(|p| p.keys().next().unwrap());
    assert_eq!(
        ExportBin::parse(b"EK Export v2    ").unwrap_err(),
        ExportError::Header
    );
    assert_eq!(
        ExportBin::parse(&with(&[0x3a, 0x05, 0x0a]))
            .unwrap_err()
            .class(),
        "length"
    );
    assert_eq!(
        ExportBin::parse(&with(&[0x20, 0x80])).unwrap_err().class(),
        "varint"
    );
    assert_eq!(
        ExportBin::parse(&with(&[0x0b])).unwrap_err().class(),
        "wire-type"
    );
    assert_eq!(
        ExportBin::parse(&with(&[0x08, 0x01])).unwrap_err().class(),
        "field-type"
    );
    assert_eq!(
        ExportBin::parse(&with(&[0x1a, 0x01, 0xff]))
            .unwrap_err()
            .class(),
        "utf8"
    );
    // A key of 15 bytes; rolling period 0 and 145; TRL 9; report type 6.
    let key = |extra: &[u8], len: u8| {
        let mut message = vec![0x0a, len];
        message.extend(std::iter::repeat_n(0xAB, len as usize));
        message.extend_from_slice(&[0x18, 0x80, 0x01]);
        message.extend_from_slice(extra);
        let mut body = vec![0x3a, message.len() as u8];
        body.extend(message);
        with(&body)
    };
    assert_eq!(first_key(&key(&[], 15)).unwrap_err().class(), "key-length");
    assert_eq!(
        first_key(&key(&[0x20, 0x00], 16)).unwrap_err().class(),
        "rolling-window"
    );
    assert_eq!(
        first_key(&key(&[0x20, 0x91, 0x01], 16))
            .unwrap_err()
            .class(),
        "rolling-window"
    );
    assert_eq!(
        first_key(&key(&[0x10, 0x09], 16)).unwrap_err().class(),
        "transmission-risk-level"
    );
    assert_eq!(
        first_key(&key(&[0x28, 0x06], 16)).unwrap_err().class(),
        "report-type"
    );
    // Unknown fields, including the server's variant_of_concern (8 in the key), are skipped.
    let ok = first_key(&key(&[0x40, 0x02, 0x30, 0x03, 0x78, 0x01], 16)).unwrap();
    assert_eq!(ok.key.days_since_onset_of_symptoms, Some(-2));
    assert_eq!(ok.key.window.period().get(), 144);
}

/// §export.8: every sample opens from its first bytes, streams exactly its manifest's key
/// counts and size, and — with its authority's key — verifies from the same single pass, as
/// the manifest says it must.
#[test]
fn export_file_streams_and_verifies_every_sample_in_one_pass_spec_export_8() {
    use bluezone::export::{ExportFile, ExportFormat};
    for sample in manifest() {
        let file = sample["file"].as_str().unwrap();
        let mut registry = PublicKeyRegistry::new();
        for pem in sample["public_keys"].as_array().into_iter().flatten() {
            let text = std::fs::read_to_string(samples().join(pem.as_str().unwrap())).unwrap();
            registry.add_pem(None, None, &text).unwrap();
        }
        let bytes = std::fs::read(samples().join(file)).unwrap();
        let mut opened = ExportFile::open(Cursor::new(bytes)).unwrap();
        let zipped = file.ends_with(".zip");
        let expected_format = if zipped {
            ExportFormat::Zip
        } else {
            ExportFormat::Bare
        };
        assert_eq!(opened.format(), expected_format, "{file}");
        let mut stream = opened.keys(Some(&registry)).unwrap();
        let mut streamed = 0u64;
        for key in stream.by_ref() {
            key.unwrap();
            streamed += 1;
        }
        let summary = stream.finish().unwrap();
        assert_eq!(streamed, summary.keys + summary.revised_keys, "{file}");
        assert_eq!(summary.keys, sample["num_keys"].as_u64().unwrap(), "{file}");
        assert_eq!(
            summary.revised_keys,
            sample["num_revised_keys"].as_u64().unwrap(),
            "{file}"
        );
        assert_eq!(
            summary.export_bin_bytes,
            sample["export_bin_size"].as_u64().unwrap(),
            "{file}"
        );
        let verifies = sample["signature_verifies"].as_bool().unwrap_or(false);
        assert_eq!(summary.authentic(), verifies, "{file}");
    }
}

/// §export.8: `write_signed` names its signers in `export.bin`, and a file so written verifies
/// only against its own key; a file that is neither container is refused.
#[test]
fn write_signed_round_trips_through_export_file_spec_export_8() {
    use bluezone::export::verify::p256::ecdsa::SigningKey;
    use bluezone::export::{ExportFile, ExportFileError, Signer, write_signed};
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::SeedableRng;
    let signing = SigningKey::from_slice(&[5u8; 32]).unwrap();
    let other = SigningKey::from_slice(&[6u8; 32]).unwrap();
    let key = DiagnosisKey::new(
        [1; 16],
        bluezone::RollingWindow::day_of(bluezone::EnIntervalNumber::new(2_650_032)),
    );
    let signer = Signer {
        key: &signing,
        key_id: "452",
        key_version: "v1",
    };
    let written = write_signed(
        Cursor::new(Vec::new()),
        &ExportMetadata::default(),
        vec![key],
        20,
        &mut ChaCha20Rng::seed_from_u64(1),
        &[signer],
    )
    .unwrap();
    assert_eq!(written.keys, 20);
    let zip = written.out.into_inner();
    let check = |verifying: &SigningKey, id: &str| {
        let mut registry = PublicKeyRegistry::new();
        registry.add(Some(id), Some("v1"), *verifying.verifying_key());
        let mut file = ExportFile::open(Cursor::new(zip.clone())).unwrap();
        let stream = file.keys(Some(&registry)).unwrap();
        let summary = stream.finish().unwrap();
        assert_eq!(summary.metadata.signature_infos, vec![signer.info()]);
        assert_eq!(summary.metadata.batch_num, Some(1));
        summary.authentic()
    };
    assert!(check(&signing, "452"));
    assert!(!check(&other, "452"));
    // A registered key under another name does not answer: no signature is from a known key.
    assert!(!check(&signing, "310"));
    let refused = ExportFile::open(Cursor::new(b"not an export file".to_vec())).unwrap_err();
    assert!(
        matches!(refused, ExportFileError::Unrecognised),
        "{refused}"
    );
    assert_eq!(refused.class(), "unrecognised");
}

/// §export.3: a key that breaks a rule is that key's error; both readers go on with the next
/// key, and the signature over every byte is still checked (§export.8).
#[test]
fn a_bad_key_is_its_own_error_and_the_file_still_verifies_spec_export_3() {
    use bluezone::export::ExportFile;
    use bluezone::export::verify::p256::ecdsa::SigningKey;
    let good = DiagnosisKey::new(
        [2; 16],
        bluezone::RollingWindow::day_of(bluezone::EnIntervalNumber::new(2_650_032)),
    );
    let info = SignatureInfo {
        verification_key_id: Some("452".into()),
        verification_key_version: Some("v1".into()),
        signature_algorithm: Some(verify::ECDSA_WITH_SHA256.into()),
        ..SignatureInfo::default()
    };
    let metadata = ExportMetadata {
        signature_infos: vec![info.clone()],
        ..ExportMetadata::default()
    };
    let valid = bin::encode(&metadata, &[good], &[]);
    // Field 7 holding a key whose key_data is 5 bytes, before the metadata and the good key.
    let mut bytes = valid[..16].to_vec();
    bytes.extend_from_slice(&[0x3a, 0x07, 0x0a, 0x05, 1, 2, 3, 4, 5]);
    bytes.extend_from_slice(&valid[16..]);

    let streamed: Vec<_> = ExportReader::new(&bytes[..]).unwrap().collect();
    let in_memory: Vec<_> = ExportBin::parse(&bytes).unwrap().keys().collect();
    for items in [
        streamed
            .iter()
            .map(|r| r.as_ref().map_err(|e| e.is_per_key()))
            .collect::<Vec<_>>(),
        in_memory
            .iter()
            .map(|r| r.as_ref().map_err(|e| e.is_per_key()))
            .collect(),
    ] {
        assert_eq!(items.len(), 2, "{items:?}");
        assert_eq!(items[0], Err(true));
        assert_eq!(items[1].unwrap().key, good);
    }

    let signing = SigningKey::from_slice(&[8u8; 32]).unwrap();
    let export_sig = sig::encode(&[verify::sign(&bytes, &signing, info, 1, 1)]);
    let zip = bluezone::export::archive::write(Cursor::new(Vec::new()), &bytes, Some(&export_sig))
        .unwrap()
        .into_inner();
    let mut registry = PublicKeyRegistry::new();
    registry.add(Some("452"), Some("v1"), *signing.verifying_key());
    let mut file = ExportFile::open(Cursor::new(zip)).unwrap();
    let summary = file.keys(Some(&registry)).unwrap().finish().unwrap();
    assert!(summary.authentic());
    assert_eq!(summary.keys, 2);
}

/// A stored (uncompressed) zip of `members`, in order.
fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in members {
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn replace_all(haystack: &mut [u8], from: &[u8], to: &[u8]) {
    let mut at = 0;
    while let Some(found) = haystack[at..].windows(from.len()).position(|w| w == from) {
        haystack[at + found..at + found + to.len()].copy_from_slice(to);
        at += found + from.len();
    }
}

/// `zip` with `junk` bytes inserted before the local header of its member `index`, every
/// offset of the central directory and its end record moved to match: a member a reader of
/// local headers could find and the central directory does not list.
fn with_hidden_bytes(zip: &[u8], index: usize, junk: &[u8]) -> Vec<u8> {
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let u16_at = |b: &[u8], at: usize| usize::from(u16::from_le_bytes([b[at], b[at + 1]]));
    let eocd = zip.len() - 22;
    assert_eq!(u32_at(zip, eocd), 0x0605_4b50);
    let cd_start = u32_at(zip, eocd + 16) as usize;
    let mut entries = Vec::new();
    let mut at = cd_start;
    while u32_at(zip, at) == 0x0201_4b50 {
        entries.push(at);
        at += 46 + u16_at(zip, at + 28) + u16_at(zip, at + 30) + u16_at(zip, at + 32);
    }
    let insert_at = u32_at(zip, entries[index] + 42) as usize;
    let mut out = zip[..insert_at].to_vec();
    out.extend_from_slice(junk);
    out.extend_from_slice(&zip[insert_at..]);
    let shift = junk.len() as u32;
    for entry in entries {
        let entry = entry + junk.len();
        let offset = u32_at(&out, entry + 42);
        if offset as usize >= insert_at {
            out[entry + 42..entry + 46].copy_from_slice(&(offset + shift).to_le_bytes());
        }
    }
    let eocd = out.len() - 22;
    let moved = (cd_start as u32 + shift).to_le_bytes();
    out[eocd + 16..eocd + 20].copy_from_slice(&moved);
    out
}

#[test]
/// Checks spec §export.1 and §sec.11: an archive is read one way. A repeated member name, a member other
/// than export.bin and export.sig, and bytes no listed member accounts for are each refused,
/// so a reader that walks local headers (as Google's does) cannot see another file than this
/// one; a zip of the same members, as they are, still opens and verifies.
fn export_1_repeated_extra_and_hidden_members_are_refused() {
    let (bin, sig) = load("google-internals-sample_diagnosis_key_file.zip");
    let sig = sig.unwrap();
    let (tampered, _) = load("google-internals-cpp-testdata-export.bin");
    // The audit's archive: a tampered export.bin, the real signature, then the real export.bin.
    let mut repeated = zip_of(&[
        ("export.bin", &tampered),
        ("export.sig", &sig),
        ("export.biX", &bin),
    ]);
    replace_all(&mut repeated, b"export.biX", b"export.bin");
    assert!(matches!(
        ExportArchive::open(Cursor::new(repeated)),
        Err(ArchiveError::DuplicateMember)
    ));
    let extra = zip_of(&[
        ("export.bin", &bin),
        ("export.sig", &sig),
        ("notes.txt", b"hello"),
    ]);
    match ExportArchive::open(Cursor::new(extra)) {
        Err(e @ ArchiveError::UnexpectedMember(_)) => {
            assert_eq!(e.class(), "unexpected-member");
            assert!(e.to_string().contains("\"notes.txt\""), "{e}");
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    let good = zip_of(&[("export.bin", &bin), ("export.sig", &sig)]);
    let hidden = with_hidden_bytes(&good, 1, &[0x55; 40]);
    assert!(matches!(
        ExportArchive::open(Cursor::new(hidden)),
        Err(ArchiveError::HiddenBytes { bytes: 40, .. })
    ));
    // Within one data descriptor's length a gap is allowed; a local header never fits there.
    let small = with_hidden_bytes(&good, 1, &[0; 12]);
    assert!(ExportArchive::open(Cursor::new(small)).is_ok());
    let mut archive = ExportArchive::open(Cursor::new(good)).unwrap();
    let (read_bin, read_sig) = archive.read_signed().unwrap();
    assert_eq!((read_bin, read_sig), (bin, sig));
}

#[test]
/// Checks spec §export.5.2 and §export.5.3: Google's policy. A file co-signed by a key the
/// phone does not know is authentic through the key it knows, under its exact name or a
/// wildcard; a cosign set needs every member; rotation alternatives need one set; a failing
/// signature no set needs changes nothing.
fn export_5_3_cosign_sets_rotation_and_unknown_co_signers() {
    use bluezone::export::verify::PolicyError;
    use bluezone::export::verify::p256::ecdsa::SigningKey;
    use bluezone::export::{ExportFile, Signer, write_signed};
    use rand_chacha::ChaCha20Rng;
    use rand_chacha::rand_core::SeedableRng;
    let a = SigningKey::from_slice(&[11u8; 32]).unwrap();
    let b = SigningKey::from_slice(&[12u8; 32]).unwrap();
    let c = SigningKey::from_slice(&[13u8; 32]).unwrap();
    let signer = |key, key_id| Signer {
        key,
        key_id,
        key_version: "v1",
    };
    let key = DiagnosisKey::new(
        [3; 16],
        bluezone::RollingWindow::day_of(bluezone::EnIntervalNumber::new(2_650_032)),
    );
    let file_signed_by = |signers: &[Signer<'_>]| {
        write_signed(
            Cursor::new(Vec::new()),
            &ExportMetadata::default(),
            vec![key],
            0,
            &mut ChaCha20Rng::seed_from_u64(1),
            signers,
        )
        .unwrap()
        .out
        .into_inner()
    };
    let authentic = |zip: &[u8], registry: &PublicKeyRegistry| {
        let mut file = ExportFile::open(Cursor::new(zip.to_vec())).unwrap();
        let summary = file.keys(Some(registry)).unwrap().finish().unwrap();
        summary.verification.unwrap()
    };
    let a_and_unknown = file_signed_by(&[signer(&a, "310"), signer(&c, "999")]);
    let only_a = file_signed_by(&[signer(&a, "310")]);
    let only_b = file_signed_by(&[signer(&b, "311")]);
    let a_and_b = file_signed_by(&[signer(&a, "310"), signer(&b, "311")]);

    // The audit's case: co-signed by an unknown key, trusted key by name or as a wildcard.
    for (id, version) in [(Some("310"), Some("v1")), (None, None)] {
        let mut registry = PublicKeyRegistry::new();
        registry.add(id, version, *a.verifying_key());
        let verdict = authentic(&a_and_unknown, &registry);
        assert!(verdict.authentic, "{id:?}: {verdict}");
        assert_eq!(verdict.by_set, Some(0));
    }

    // A cosign set: A and B together.
    let mut together = PublicKeyRegistry::new();
    let ia = together.add(Some("310"), Some("v1"), *a.verifying_key());
    let ib = together.add(Some("311"), Some("v1"), *b.verifying_key());
    together.add_cosign_set(&[ia, ib]).unwrap();
    assert!(!authentic(&only_a, &together).authentic);
    assert!(authentic(&a_and_b, &together).authentic);

    // Rotation in Google's notation: A and B, or B alone.
    let mut rotation = together.clone();
    rotation.set_policy("310-v1&311-v1|311-v1").unwrap();
    assert_eq!(rotation.sets(), vec![vec![0, 1], vec![1]]);
    assert!(!authentic(&only_a, &rotation).authentic);
    let verdict = authentic(&only_b, &rotation);
    assert!(verdict.authentic);
    assert_eq!(verdict.by_set, Some(1));
    assert_eq!(
        rotation.set_policy("310-v1&999-v1"),
        Err(PolicyError::UnknownKey("999-v1".into()))
    );
    assert_eq!(rotation.set_policy("310-v1|"), Err(PolicyError::EmptySet));

    // Exact names: the trusted key under another version verifies nothing.
    let mut renamed = PublicKeyRegistry::new();
    renamed.add(Some("310"), Some("v2"), *a.verifying_key());
    assert!(!authentic(&only_a, &renamed).authentic);
}
