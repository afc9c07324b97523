//! The protocols run over the town: every sighting through each phone's encounter log, the
//! cases' signed export and F0 list, and every phone's own verify, match and F1 decision, all
//! with the library's one-shot verbs.

use std::io::Write;
use std::path::{Path, PathBuf};

use bluezone::blid::f1::{self, F1Rule, RssiThresholds};
use bluezone::blid::matching::ContactIndex;
use bluezone::blid::{F0Entry, F0List, HistoryLine, SlotsPerDay, TimeUnit};
use bluezone::encounter::log::EncounterLog;
use bluezone::encounter::{BluezoneSighting, GaenSighting, Sighting};
use bluezone::export::bin::ExportMetadata;
use bluezone::export::verify::PublicKeyRegistry;
use bluezone::export::verify::p256::ecdsa::SigningKey;
use bluezone::export::verify::p256::pkcs8::{EncodePublicKey, LineEnding};
use bluezone::export::{Signer, write_signed};
use bluezone::gaen::ReportType;
use bluezone::risk::{CheckSettings, check_exposure};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::Rng;
use serde::Serialize;

use super::phones::{Kind, Phone, TX_POWER};
use super::town::{Contact, FIRST_DAY, attenuation};
use crate::error::{CliError, Context};
use crate::files::write_atomically;

/// Seconds between two scans of a phone.
pub const SCAN_SECONDS: u64 = 300;

/// Every phone's sightings: a phone scans every five minutes, at its own phase, and hears
/// the phones of its own kind it is in contact with.
pub fn sightings(
    phones: &[Phone],
    contacts: &[Contact],
    rng: &mut ChaCha20Rng,
) -> Vec<Vec<Sighting>> {
    let mut logs: Vec<Vec<Sighting>> = phones.iter().map(|_| Vec::new()).collect();
    for c in contacts {
        for (scanner, advertiser) in [(c.a, c.b), (c.b, c.a)] {
            let (Some(listener), Some(sender)) = (phones.get(scanner), phones.get(advertiser))
            else {
                continue;
            };
            if listener.kind != sender.kind {
                continue;
            }
            let phase = (scanner as u64 * 37) % SCAN_SECONDS;
            let mut t = c.start - c.start % SCAN_SECONDS + phase;
            while t < c.start + c.seconds {
                if t >= c.start {
                    let rssi =
                        (i16::from(TX_POWER) - attenuation(c.meters, rng)).clamp(-127, 126) as i8;
                    let sighting = match listener.kind {
                        Kind::Gaen => {
                            let (rpi, aem) = sender.gaen_rpi(t);
                            Sighting::Gaen(GaenSighting {
                                unix_seconds: t,
                                rpi,
                                aem,
                                rssi,
                                previous_scan_unix_seconds: t - SCAN_SECONDS,
                            })
                        }
                        Kind::Bluezone => Sighting::Bluezone(BluezoneSighting {
                            unix_ms: t * 1000,
                            contact_id: sender.blid(t),
                            own_id: listener.blid(t),
                            rssi,
                        }),
                    };
                    if let Some(log) = logs.get_mut(scanner) {
                        log.push(sighting);
                    }
                }
                t += SCAN_SECONDS;
            }
        }
    }
    logs
}

/// The log folder of one person.
pub fn log_folder(logs: &Path, person: usize) -> PathBuf {
    logs.join(format!("phone-{person:05}"))
}

/// Writes every phone's sightings, in time order, into its own encounter log.
pub fn write_logs(logs: &Path, sightings: &mut [Vec<Sighting>]) -> Result<(), CliError> {
    for (person, phone) in sightings.iter_mut().enumerate() {
        super::check_interrupt()?;
        phone.sort_by_key(Sighting::unix_seconds);
        let folder = log_folder(logs, person);
        let mut log = EncounterLog::open(&folder).in_file(&folder)?;
        log.append_all(phone.iter()).in_file(&folder)?;
    }
    Ok(())
}

/// What the health authority published.
pub struct Publication {
    pub export_path: PathBuf,
    /// Keys in the export, padding included.
    pub export_keys: u64,
    pub f0: F0List,
    /// The key every phone trusts.
    pub registry: PublicKeyRegistry,
}

/// The region and key names of the demo's health authority.
pub const KEY_ID: &str = "452";
pub const KEY_VERSION: &str = "v1";

/// The RSSI at or above which the demo's Bluezone phones count a sighting as close, dBm
/// (`blid match --close-rssi` reproduces it).
pub const BLUEZONE_CLOSE_RSSI: i8 = -70;

/// The cases' keys: a signed `export.zip` for GAEN cases (padded to 1000 keys, as the reference
/// server does), an F0 list for Bluezone cases.
pub fn publish(
    phones: &[Phone],
    positives: &[usize],
    days: u64,
    folder: &Path,
    rng: &mut ChaCha20Rng,
) -> Result<Publication, CliError> {
    let signing = SigningKey::from_slice(&{
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        secret[0] |= 1;
        secret
    })
    .in_environment("the demo's signing key")?;
    let cases = || positives.iter().filter_map(|&p| phones.get(p));
    let keys: Vec<_> = cases()
        .filter(|p| p.kind == Kind::Gaen)
        .flat_map(|p| {
            p.teks
                .iter()
                .map(|t| t.clone().release(ReportType::ConfirmedTest))
        })
        .collect();
    let metadata = ExportMetadata {
        start_timestamp: Some(FIRST_DAY * 86_400),
        end_timestamp: Some((FIRST_DAY + days) * 86_400),
        region: Some(KEY_ID.into()),
        ..ExportMetadata::default()
    };
    let export_path = folder.join("export.zip");
    let signer = Signer {
        key: &signing,
        key_id: KEY_ID,
        key_version: KEY_VERSION,
    };
    let export_keys = write_atomically(&export_path, |file| {
        let written =
            write_signed(file, &metadata, keys, 1000, rng, &[signer]).in_file(&export_path)?;
        Ok(written.keys)
    })?;
    let f0 = F0List {
        entries: cases()
            .filter(|p| p.kind == Kind::Bluezone)
            .flat_map(|p| {
                (0..days).filter_map(move |d| {
                    let day = (FIRST_DAY + d) as u32;
                    Some(F0Entry {
                        daily_key: p.base.daily_key(day).ok()?,
                        time_start: u64::from(day) * 86_400,
                        max: SlotsPerDay::DEFAULT,
                        time_end: u64::from(day) * 86_400 + 86_399,
                    })
                })
            })
            .collect(),
    };
    let f0_path = folder.join("f0.json");
    write_atomically(&f0_path, |file| {
        file.write_all(f0.to_json().as_bytes()).in_file(&f0_path)
    })?;
    // The health authority's public key, so that the kept files can be checked with the tool
    // (`export verify`, `match --public-key`).
    let pem_path = folder.join("public-key.pem");
    let pem = signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .in_environment("the demo's public key")?;
    write_atomically(&pem_path, |file| {
        file.write_all(pem.as_bytes()).in_file(&pem_path)
    })?;
    let mut registry = PublicKeyRegistry::new();
    registry.add(Some(KEY_ID), Some(KEY_VERSION), *signing.verifying_key());
    Ok(Publication {
        export_path,
        export_keys,
        f0,
        registry,
    })
}

/// Why a phone warned: its day of most close contact.
#[derive(Serialize)]
pub struct Evidence {
    pub person: usize,
    pub protocol: &'static str,
    pub unix_day: u64,
    pub close_seconds: u64,
    /// GAEN: the least typical attenuation that day.
    pub closest_attenuation_db: Option<u8>,
    /// Bluezone: the strongest RSSI that day, dBm.
    pub strongest_rssi: Option<i8>,
}

/// A freshly written log that reads back damaged: the demo's own fault.
#[derive(Debug, thiserror::Error)]
#[error("a freshly written log is damaged")]
struct Damaged;

/// The Bluezone F1 rule calibrated to the simulated phones, which all send at −15 dBm:
/// −15 − 55 dB = −70 dBm.
fn bluezone_rule() -> F1Rule {
    F1Rule {
        thresholds: RssiThresholds::all(BLUEZONE_CLOSE_RSSI),
        ..F1Rule::bluezone(TimeUnit::Milliseconds)
    }
}

/// The day of most close contact, when the verdict is a warning.
fn closest_day<T>(days: &[T], warned: bool, close_seconds: impl Fn(&T) -> u64) -> Option<&T> {
    days.iter()
        .max_by_key(|d| close_seconds(d))
        .filter(|_| warned)
}

/// One phone reads its log, verifies and matches what was published, and decides F1: its
/// evidence when it warns, `None` when it does not.
pub fn decide(
    person: usize,
    phone: &Phone,
    logs: &Path,
    publication: &Publication,
    now: u64,
) -> Result<Option<Evidence>, CliError> {
    let folder = log_folder(logs, person);
    let log = EncounterLog::open(&folder).in_file(&folder)?;
    let mut damaged = false;
    let sightings = log.sightings(|_, _| damaged = true).in_file(&folder)?;
    if damaged {
        return Err(Damaged).in_file(&folder);
    }
    let evidence = |unix_day, close_seconds| Evidence {
        person,
        protocol: phone.kind.name(),
        unix_day,
        close_seconds,
        closest_attenuation_db: None,
        strongest_rssi: None,
    };
    Ok(match phone.kind {
        Kind::Gaen => {
            let settings = CheckSettings {
                registry: Some(&publication.registry),
                threads: 1,
                now_unix_seconds: Some(now),
                ..CheckSettings::default()
            };
            let report = check_exposure(
                &[&publication.export_path],
                sightings.gaen,
                &settings,
                |_, _| {},
            )?;
            let verdict = report.risk.f1;
            closest_day(&verdict.days, verdict.f1, |d| d.close_seconds).map(|d| Evidence {
                closest_attenuation_db: Some(d.closest_attenuation_db),
                ..evidence(d.unix_day, d.close_seconds)
            })
        }
        Kind::Bluezone => {
            let history: Vec<HistoryLine> =
                sightings.bluezone.iter().map(HistoryLine::from).collect();
            let unit = TimeUnit::Milliseconds;
            let matches = ContactIndex::new(&history).matches(&publication.f0, unit);
            let verdict = f1::decide(&matches, unit, &bluezone_rule(), now);
            closest_day(&verdict.days, verdict.f1, |d| d.close_seconds).map(|d| Evidence {
                strongest_rssi: Some(d.strongest_rssi),
                ..evidence(d.day, d.close_seconds)
            })
        }
    })
}
