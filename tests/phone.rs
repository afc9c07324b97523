//! The phone's loop (`bluezone::phone`), one call per step, held to evidence from elsewhere:
//! Google's official vectors for the payloads and what the radio hears, the exporter's own
//! parser and the verification server's HMAC for the upload, and a log read back whole or
//! refused whole.
#![cfg(all(feature = "json", feature = "export"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]

use bluezone::encounter::Sighting;
use bluezone::export::{publish, upload};
use bluezone::gaen::{
    AssociatedEncryptedMetadata, CalibrationConfidence, DiagnosisKey, Metadata, ReportType,
    RollingProximityIdentifier, TemporaryExposureKey,
};
use bluezone::phone::{self, ReadLogError, Reception};
use bluezone::{EnIntervalNumber, RollingPeriod, RollingWindow};
use serde_json::Value;

fn hex<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

fn official() -> Vec<Value> {
    let text = std::fs::read_to_string("test-vectors/gaen-official-v1.2.json").unwrap();
    let file: Value = serde_json::from_str(&text).unwrap();
    file["vectors"].as_array().unwrap().clone()
}

fn official_tek(v: &Value) -> TemporaryExposureKey {
    let start = EnIntervalNumber::new(v["rolling_start_interval_number"].as_u64().unwrap() as u32);
    let period = RollingPeriod::new(v["rolling_period"].as_u64().unwrap() as u32).unwrap();
    TemporaryExposureKey::from_bytes(
        hex(v["tek"].as_str().unwrap()),
        RollingWindow::new(start, period).unwrap(),
    )
}

#[test]
fn adv_1_the_day_s_payloads_carry_the_official_identifiers_and_the_calibrated_metadata() {
    let vectors = official();
    let tek = official_tek(&vectors[0]);
    let payloads = phone::day_payloads(&tek, -7, CalibrationConfidence::from_bits(2), 0x1a);
    assert_eq!(payloads.len(), 144);
    let aemk = tek.associated_encrypted_metadata_key();
    for v in &vectors {
        let at = (v["en_interval_number"].as_u64().unwrap()
            - v["rolling_start_interval_number"].as_u64().unwrap()) as usize;
        let official: [u8; 31] = hex(v["advertisement"].as_str().unwrap());
        // Flags, the service UUID list, the service data header and the identifier are the
        // official bytes; the metadata is this device's, version 1.1.
        assert_eq!(payloads[at][..27], official[..27], "interval {at}");
        let rpi = RollingProximityIdentifier::from_bytes(hex(v["rpi"].as_str().unwrap()));
        let aem = AssociatedEncryptedMetadata::from_bytes(payloads[at][27..].try_into().unwrap());
        assert_eq!(
            aemk.decrypt(&rpi, aem),
            Metadata::v1_1(-7, CalibrationConfidence::from_bits(2))
        );
    }
}

#[test]
fn cal_3_what_the_radio_heard_is_the_official_advertisement_with_the_corrected_rssi() {
    for v in official() {
        let payload: [u8; 31] = hex(v["advertisement"].as_str().unwrap());
        let reception = Reception {
            raw_rssi_dbm: -80,
            rssi_correction_db: 5,
            unix_seconds: 1_590_000_000,
            ..Reception::default()
        };
        let Some(Sighting::Gaen(s)) = phone::heard(&payload, &reception).unwrap() else {
            panic!("not a GAEN sighting");
        };
        assert_eq!(s.rpi.to_bytes(), hex::<16>(v["rpi"].as_str().unwrap()));
        assert_eq!(s.aem.to_bytes(), hex::<4>(v["aem"].as_str().unwrap()));
        assert_eq!((s.rssi, s.unix_seconds), (-75, 1_590_000_000));
    }
    // Google's engine clamps the corrected RSSI to −127..=126.
    let payload: [u8; 31] = hex(official()[0]["advertisement"].as_str().unwrap());
    let low = Reception {
        raw_rssi_dbm: -120,
        rssi_correction_db: -20,
        ..Reception::default()
    };
    let Some(Sighting::Gaen(s)) = phone::heard(&payload, &low).unwrap() else {
        panic!("not a GAEN sighting");
    };
    assert_eq!(s.rssi, -127);
    // Neither protocol: nothing; a structure that runs past the end: an error.
    assert_eq!(phone::heard(&[2, 1, 0x1a], &low).unwrap(), None);
    assert!(phone::heard(&[0x40, 1], &low).is_err());
}

#[test]
fn enc_2_a_log_reads_back_whole_or_not_at_all() {
    let dir = std::env::temp_dir().join(format!("bluezone-phone-log-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let heard: Vec<Sighting> = official()
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let payload: [u8; 31] = hex(v["advertisement"].as_str().unwrap());
            let reception = Reception {
                raw_rssi_dbm: -60,
                unix_seconds: 1_590_000_000 + i as u64 * 60,
                ..Reception::default()
            };
            phone::heard(&payload, &reception).unwrap().unwrap()
        })
        .collect();
    phone::append_log(&dir, &heard).unwrap();
    assert_eq!(phone::read_log(&dir).unwrap(), heard);
    // One segment file, read from its bytes, gives the same; spoiled in the middle, the log
    // and the segment are refused, not read in part.
    let segment = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "bzlog"))
        .expect("a segment file");
    let mut bytes = std::fs::read(&segment).unwrap();
    assert_eq!(phone::read_segment(&bytes).unwrap(), heard);
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xFF;
    assert!(matches!(
        phone::read_segment(&bytes),
        Err(ReadLogError::Damaged { .. })
    ));
    std::fs::write(&segment, &bytes).unwrap();
    let refused = phone::read_log(&dir).unwrap_err();
    assert!(refused.to_string().contains("damaged"), "{refused}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn export_9_the_publish_request_reads_back_through_the_exporter_with_its_hmac() {
    let vectors = official();
    let mut key = DiagnosisKey::new(
        official_tek(&vectors[0]).expose_secret().to_owned(),
        official_tek(&vectors[0]).window(),
    );
    key.transmission_risk_level = 4;
    key.report_type = ReportType::ConfirmedTest;
    let secret = [0x17u8; 32];
    let request = phone::publish_request(std::slice::from_ref(&key), &secret).unwrap();
    let keys = publish::parse_keys(&request).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(
        (
            keys[0].key_data,
            keys[0].window,
            keys[0].transmission_risk_level
        ),
        (key.key_data, key.window, 4)
    );
    assert_eq!(&*upload::parse_hmac_key(&request).unwrap(), &secret[..]);
    let mac = phone::tek_hmac(&secret, &keys, true);
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&mac)
        .unwrap();
    assert!(upload::verify_tek_hmac(&secret, &[key], true, &raw));
    assert!(phone::publish_request(&keys, &[0u8; 15]).is_err());
}

#[test]
fn risk_5_a_check_of_files_in_memory_is_the_check_of_the_same_files_on_disk() {
    use bluezone::risk::{CheckError, CheckSettings, InMemoryExport};
    let export = "test-vectors/export-samples/companion-demo_dks.zip";
    let csv = std::path::Path::new("test-vectors/export-samples/companion-demo-encounters.csv");
    let sightings = bluezone::encounter::source::gaen_sightings(csv).unwrap();
    let settings = CheckSettings {
        allow_unauthentic: true,
        ..CheckSettings::default()
    };
    let on_disk = phone::daily_check(&[export], sightings.clone(), &settings, None).unwrap();
    let data = std::fs::read(export).unwrap();
    let files = [InMemoryExport {
        name: export,
        data: &data,
    }];
    let in_memory =
        phone::daily_check_in_memory(&files, sightings.clone(), &settings, None).unwrap();
    assert_eq!(in_memory, on_disk);
    // A state reads its files from disk.
    let dir = std::env::temp_dir().join(format!("bluezone-phone-state-{}", std::process::id()));
    let with_state = CheckSettings {
        state: Some(&dir),
        ..settings
    };
    let refused = phone::daily_check_in_memory(&files, sightings, &with_state, None).unwrap_err();
    assert!(matches!(
        refused,
        phone::DailyError::Check(CheckError::StateNeedsFiles)
    ));
    assert!(!dir.exists());
}
