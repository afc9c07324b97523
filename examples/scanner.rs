//! An app-style scanner: hear advertisements, keep them in the encounter log, then download a
//! signed export file and match it.
//!
//! Run: `cargo run --features cli --example scanner`. A neighbour's phone is simulated with a
//! seeded key; its advertisements reach the scanner as raw payloads, as a Bluetooth stack hands
//! them over, next to an unrelated Bluezone phone and some noise.

use std::io::Cursor;

use bluezone::ble::{AdvertisementKind, bluezone::encode_android, classify};
use bluezone::blid::BluezoneId;
use bluezone::encounter::log::{EncounterLog, LogItem};
use bluezone::encounter::{GaenSighting, Sighting};
use bluezone::export::archive::{self, ExportArchive};
use bluezone::export::bin::{ExportMetadata, SignatureInfo};
use bluezone::export::verify::{self, ExportDigests, PublicKeyRegistry};
use bluezone::export::{bin, sig};
use bluezone::gaen::{Metadata, ReportType, TemporaryExposureKey};
use bluezone::matching::{LogIndex, MatchConfig, Matcher};
use bluezone::{EnIntervalNumber, ExposureNotificationAdvertisement, RollingWindow};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    let day_start = EnIntervalNumber::new(2_662_560); // 2020-08-15T00:00:00Z
    let neighbour =
        TemporaryExposureKey::generate_with_rng(&mut rng, RollingWindow::day_of(day_start));

    // Scanning: every 5 minutes from 12:00 to 12:30 the stack hands over three payloads.
    let dir = std::env::temp_dir().join(format!("bluezone-scanner-{}", std::process::id()));
    let mut log = EncounterLog::open(&dir)?;
    let noon = day_start.start_unix_seconds() + 12 * 3600;
    for k in 0..7u64 {
        let t = noon + k * 300;
        let interval = EnIntervalNumber::from_unix_seconds(t)?;
        let rpi = neighbour
            .rolling_proximity_identifier_key()
            .identifier(interval);
        let aem = neighbour
            .associated_encrypted_metadata_key()
            .encrypt(&rpi, Metadata::v1_0(-15));
        let payloads: [&[u8]; 3] = [
            &ExposureNotificationAdvertisement::new(rpi, aem).encode(0x1a),
            &encode_android(&BluezoneId::from_bytes([7; 12]), 0x02),
            &[0x02, 0x01, 0x06, 0x03, 0xff, 0x4c, 0x00],
        ];
        for payload in payloads {
            match classify(payload)? {
                AdvertisementKind::Gaen(heard) => log.append(&Sighting::Gaen(GaenSighting {
                    unix_seconds: t,
                    rpi: heard.advertisement.rpi,
                    aem: heard.advertisement.aem,
                    rssi: -62,
                    previous_scan_unix_seconds: t - 300,
                }))?,
                other => println!("{t}: not logged as GAEN: {other:?}"),
            }
        }
    }
    log.sync()?;

    // The neighbour tests positive; the health authority publishes a signed export file.
    let signing = verify::p256::ecdsa::SigningKey::from_slice(&[3u8; 32])?;
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
    let export_bin = bin::build(
        &metadata,
        vec![neighbour.release(ReportType::ConfirmedTest)],
        100,
        &mut rng,
    );
    let export_sig = sig::encode(&[verify::sign(&export_bin, &signing, info, 1, 1)]);
    let zip = archive::write(Cursor::new(Vec::new()), &export_bin, Some(&export_sig))?.into_inner();

    // The app downloads it, verifies it and matches its own log.
    let (bin_bytes, sig_bytes) = ExportArchive::open(Cursor::new(zip))?.read_signed()?;
    let mut registry = PublicKeyRegistry::new();
    registry.add(Some("452"), Some("v1"), *signing.verifying_key());
    let signatures = sig::parse(&sig_bytes)?;
    let verification = verify::verify(&ExportDigests::of(&bin_bytes), 1, &signatures, &registry);
    println!("signature valid: {}", verification.authentic);
    let sightings: Vec<GaenSighting> = log
        .read()?
        .filter_map(|item| match item {
            Ok(LogItem::Record(Sighting::Gaen(s))) => Some(s),
            _ => None,
        })
        .collect();
    let index = LogIndex::new(sightings, 12);
    let keys: Vec<_> = bin::ExportBin::parse(&bin_bytes)?
        .keys()
        .map(|k| k.map(|k| k.key))
        .collect::<Result<_, _>>()?;
    let outcome = Matcher::new(&index, MatchConfig::default()).match_keys(&keys);
    println!(
        "{} keys downloaded, {} matched",
        outcome.keys_total, outcome.keys_matched
    );
    for m in &outcome.matches {
        println!(
            "  {} sightings, least attenuation {} dB",
            m.sightings.len(),
            m.sightings.iter().map(|s| s.attenuation).min().unwrap_or(0)
        );
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
