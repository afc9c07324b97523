//! An app-style scanner: hear advertisements, keep them in the encounter log, then download a
//! signed export file and match it.
//!
//! Run: `cargo run --features export --example scanner`. A neighbour's phone is simulated with a
//! seeded key; its advertisements reach the scanner as raw payloads, as a Bluetooth stack hands
//! them over, next to an unrelated Bluezone phone and some noise.

use bluezone::ble::{AdvertisementKind, bluezone::encode_android, classify};
use bluezone::blid::BluezoneId;
use bluezone::encounter::log::EncounterLog;
use bluezone::encounter::{GaenSighting, Sighting};
use bluezone::export::bin::ExportMetadata;
use bluezone::export::verify::PublicKeyRegistry;
use bluezone::export::verify::p256::ecdsa::SigningKey;
use bluezone::export::{Signer, write_signed};
use bluezone::gaen::{Metadata, ReportType, TemporaryExposureKey};
use bluezone::risk::{CheckSettings, check_exposure};
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
                AdvertisementKind::BluezoneAndroid(id) => {
                    println!("{t}: a Bluezone Android phone, identifier {id}: not logged as GAEN");
                }
                AdvertisementKind::BluezoneIos(_) => {
                    println!("{t}: a Bluezone iPhone (identifier over GATT): not logged as GAEN");
                }
                _ => println!("{t}: not an advertisement we know"),
            }
        }
    }
    log.sync()?;

    // The neighbour tests positive; the health authority publishes a signed export file.
    let signing = SigningKey::from_slice(&[3u8; 32])?;
    let signer = Signer {
        key: &signing,
        key_id: "452",
        key_version: "v1",
    };
    let zip_path = dir.join("export.zip");
    write_signed(
        std::fs::File::create(&zip_path)?,
        &ExportMetadata::default(),
        vec![neighbour.release(ReportType::ConfirmedTest)],
        100,
        &mut rng,
        &[signer],
    )?;

    // The app downloads it and, in one call, verifies it, matches its own log and decides.
    let mut registry = PublicKeyRegistry::new();
    registry.add(Some("452"), Some("v1"), *signing.verifying_key());
    let sightings = log.sightings(|segment, damage| {
        println!("damaged log: {}: {damage}", segment.display());
    })?;
    let settings = CheckSettings {
        registry: Some(&registry),
        ..CheckSettings::default()
    };
    let report = check_exposure(&[&zip_path], sightings.gaen, &settings, |_, _| {})?;
    let authentic = report.files.iter().all(|f| f.summary.authentic());
    println!("signature valid: {authentic}");
    println!(
        "{} keys downloaded, {} matched",
        report.outcome.keys_total, report.outcome.keys_matched
    );
    for m in &report.outcome.matches {
        println!(
            "  {} sightings, least attenuation {} dB",
            m.sightings.len(),
            m.sightings.iter().map(|s| s.attenuation).min().unwrap_or(0)
        );
    }
    println!("F1 (about 2 m for 15 minutes): {}", report.risk.f1.f1);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
