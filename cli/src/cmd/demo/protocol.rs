//! The protocols run over the town at one adoption level: the cases that run the app publish
//! a signed `export.zip` and an F0 list; every app user's phone logs what it heard, matches
//! what was published and decides F1, all with the library's own code.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use bluezone::blid::f1::{self, F1Rule, RssiThresholds};
use bluezone::blid::matching::F0Table;
use bluezone::blid::{F0Entry, F0List, HistoryLine, SlotsPerDay, TimeUnit};
use bluezone::encounter::frame::{self, ScanItem};
use bluezone::encounter::log::EncounterLog;
use bluezone::encounter::{BluezoneSighting, GaenSighting, Sighting};
use bluezone::export::ExportFile;
use bluezone::export::bin::ExportMetadata;
use bluezone::export::verify::PublicKeyRegistry;
use bluezone::export::verify::p256::ecdsa::SigningKey;
use bluezone::export::verify::p256::pkcs8::{EncodePublicKey, LineEnding};
use bluezone::export::{Signer, write_signed};
use bluezone::gaen::ReportType;
use bluezone::matching::{KeyTable, LogIndex, MatchConfig, MatchRun, Matcher};
use bluezone::risk::{RiskConfig, assess};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::Rng;
use serde::Serialize;

use super::people::{Kind, Losses, Person, TX_POWER, hear_each_other};
use super::town::{Contact, Encounters, FIRST_DAY, Noise, attenuation};
use crate::error::{CliError, Context};
use crate::files::write_atomically;

/// Seconds between two scans of a phone.
pub const SCAN_SECONDS: u64 = 300;

/// The region and key names of the demo's health authority.
pub const KEY_ID: &str = "452";
pub const KEY_VERSION: &str = "v1";

/// The RSSI at or above which the demo's Bluezone phones count a sighting as close, dBm
/// (`blid match --close-rssi` reproduces it).
pub const BLUEZONE_CLOSE_RSSI: i8 = -70;

/// The health authority: its signing key, and the key every phone trusts.
pub struct Authority {
    signing: SigningKey,
    pub registry: PublicKeyRegistry,
}

impl Authority {
    pub fn new(rng: &mut ChaCha20Rng) -> Result<Self, CliError> {
        let signing = SigningKey::from_slice(&{
            let mut secret = [0u8; 32];
            rng.fill_bytes(&mut secret);
            secret[0] |= 1;
            secret
        })
        .in_environment("the demo's signing key")?;
        let mut registry = PublicKeyRegistry::new();
        registry.add(Some(KEY_ID), Some(KEY_VERSION), *signing.verifying_key());
        Ok(Self { signing, registry })
    }
}

/// What the health authority published at one level, as every phone reads it.
pub struct Publication {
    /// The export's keys, verified once and derived once (every phone would verify the same
    /// file; spec §demo.4).
    pub table: KeyTable,
    /// Keys in the export, padding included.
    pub export_keys: u64,
    /// The F0 list's identifiers for the simulated days.
    pub f0: F0Table,
    pub f0_entries: usize,
    /// Whose each published TEK is, and whose each F0 entry.
    pub tek_owner: HashMap<[u8; 16], u32>,
    pub f0_owner: Vec<u32>,
    /// Cases that run the app (and so published).
    pub cases_with_app: usize,
}

/// The cases' keys at `level`: a signed `export.zip` for the GAEN cases that run the app
/// (padded to 1000 keys, as the reference server does), an F0 list for the Bluezone ones.
/// Both are written to `folder` and read back as a phone reads them.
pub fn publish(
    people: &[Person],
    level: f64,
    days: u64,
    folder: &Path,
    authority: &Authority,
    rng: &mut ChaCha20Rng,
) -> Result<Publication, CliError> {
    let cases = || {
        (0u32..)
            .zip(people)
            .filter(|(_, p)| p.positive && p.has_app(level))
    };
    let mut tek_owner = HashMap::new();
    let keys: Vec<_> = cases()
        .filter(|(_, p)| p.kind == Kind::Gaen)
        .flat_map(|(id, p)| {
            p.teks
                .iter()
                .map(move |t| (id, t.clone().release(ReportType::ConfirmedTest)))
        })
        .map(|(id, key)| {
            tek_owner.insert(key.key_data, id);
            key
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
        key: &authority.signing,
        key_id: KEY_ID,
        key_version: KEY_VERSION,
    };
    let export_keys = write_atomically(&export_path, |file| {
        let written =
            write_signed(file, &metadata, keys, 1000, rng, &[signer]).in_file(&export_path)?;
        Ok(written.keys)
    })?;
    let table = KeyTable::new(read_verified(&export_path, &authority.registry)?);

    let mut f0_owner = Vec::new();
    let f0 = F0List {
        entries: cases()
            .filter(|(_, p)| p.kind == Kind::Bluezone)
            .flat_map(|(id, p)| {
                (0..days).filter_map(move |d| {
                    let day = (FIRST_DAY + d) as u32;
                    Some((
                        id,
                        F0Entry {
                            daily_key: p.base.as_ref()?.daily_key(day).ok()?,
                            time_start: u64::from(day) * 86_400,
                            max: SlotsPerDay::DEFAULT,
                            time_end: u64::from(day) * 86_400 + 86_399,
                        },
                    ))
                })
            })
            .map(|(id, entry)| {
                f0_owner.push(id);
                entry
            })
            .collect(),
    };
    let f0_path = folder.join("f0.json");
    write_atomically(&f0_path, |file| {
        file.write_all(f0.to_json().as_bytes()).in_file(&f0_path)
    })?;
    let text = std::fs::read_to_string(&f0_path).in_file(&f0_path)?;
    let f0 = F0List::from_json(&text).in_file(&f0_path)?;
    let range = (FIRST_DAY * 86_400_000, (FIRST_DAY + days) * 86_400_000 - 1);
    // The health authority's public key, so that the kept files can be checked with the tool.
    let pem_path = folder.join("public-key.pem");
    let pem = authority
        .signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .in_environment("the demo's public key")?;
    write_atomically(&pem_path, |file| {
        file.write_all(pem.as_bytes()).in_file(&pem_path)
    })?;
    Ok(Publication {
        table,
        export_keys,
        f0_entries: f0.entries.len(),
        f0: F0Table::new(&f0, TimeUnit::Milliseconds, range.0, range.1),
        tek_owner,
        f0_owner,
        cases_with_app: cases().count(),
    })
}

/// A file the demo wrote does not verify: the demo's own fault.
#[derive(Debug, thiserror::Error)]
#[error("the export the demo signed is not authentic")]
struct NotAuthentic;

/// The keys of an export file, once its signature is verified.
fn read_verified(
    path: &Path,
    registry: &PublicKeyRegistry,
) -> Result<Vec<bluezone::gaen::DiagnosisKey>, CliError> {
    let file = std::fs::File::open(path).in_file(path)?;
    let mut export = ExportFile::open(std::io::BufReader::new(file)).in_file(path)?;
    let mut stream = export.keys(Some(registry)).in_file(path)?;
    let mut keys = Vec::new();
    for item in stream.by_ref() {
        keys.push(item.in_file(path)?.key);
    }
    if !stream.finish().in_file(path)?.authentic() {
        return Err(NotAuthentic).in_file(path);
    }
    Ok(keys)
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

/// What one phone did at one level.
pub struct Decision {
    pub evidence: Option<Evidence>,
    pub sightings: usize,
    /// Per (case, day): the close seconds the phone measured.
    pub measured: Vec<(u32, usize, u64)>,
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

/// The log folder of one person.
pub fn log_folder(logs: &Path, person: usize) -> PathBuf {
    logs.join(format!("phone-{person:05}"))
}

/// What the phone of `person` heard at `level`: it scans every five minutes, at its own
/// phase, and hears the app users of its own protocol it meets, unless the encounter is lost.
fn heard(
    person: usize,
    people: &[Person],
    contacts: &[Contact],
    encounters: &Encounters,
    level: f64,
    seed: u64,
    losses: &Losses,
) -> Vec<Sighting> {
    let mut log = Vec::new();
    let Some(me) = people.get(person) else {
        return log;
    };
    for &index in encounters.of(person) {
        let Some(c) = contacts.get(index as usize) else {
            continue;
        };
        let Some(sender) = people.get(c.other(person as u32) as usize) else {
            continue;
        };
        if !sender.has_app(level) || !hear_each_other(me, sender, c, index, seed, losses) {
            continue;
        }
        let direction = u64::from(c.a == person as u32);
        let mut noise = Noise::new(seed, u64::from(index), direction);
        let phase = (person as u64 * 37) % SCAN_SECONDS;
        let end = c.start + u64::from(c.seconds);
        let mut t = c.start - c.start % SCAN_SECONDS + phase;
        while t < end {
            if t >= c.start {
                let rssi = (i16::from(TX_POWER) - attenuation(c.meters, &mut noise))
                    .clamp(-127, 126) as i8;
                log.push(match me.kind {
                    Kind::Gaen => {
                        let (rpi, aem) = sender.gaen_advertised(t);
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
                        own_id: me.blid(t),
                        rssi,
                    }),
                });
            }
            t += SCAN_SECONDS;
        }
    }
    log.sort_by_key(Sighting::unix_seconds);
    log
}

/// The sightings through the encounter log's format: framed into a segment and scanned back
/// in memory, or written to the log folder `keep` and read back from it.
fn through_the_log(sightings: &[Sighting], keep: Option<&Path>) -> Result<Vec<Sighting>, CliError> {
    if let Some(folder) = keep {
        let mut log = EncounterLog::open(folder).in_file(folder)?;
        log.append_all(sightings.iter()).in_file(folder)?;
        let mut damaged = false;
        let read = log.sightings(|_, _| damaged = true).in_file(folder)?;
        if damaged {
            return Err(Damaged).in_file(folder);
        }
        let mut all: Vec<Sighting> = read.gaen.into_iter().map(Sighting::Gaen).collect();
        all.extend(read.bluezone.into_iter().map(Sighting::Bluezone));
        return Ok(all);
    }
    let mut segment = frame::header().to_vec();
    let mut buffer = [0u8; 64];
    for s in sightings {
        let n = frame::encode_frame(s, &mut buffer).in_environment("the demo's log")?;
        segment.extend_from_slice(buffer.get(..n).unwrap_or_default());
    }
    let mut read = Vec::with_capacity(sightings.len());
    for item in frame::scan(&segment).in_environment("the demo's log")? {
        match item {
            ScanItem::Record(s) => read.push(s),
            ScanItem::Damage(_) => return Err(Damaged).in_environment("the demo's log"),
        }
    }
    Ok(read)
}

/// One phone at one level: it logs what it heard, matches what was published, and decides
/// F1. `keep` writes its log to that folder.
#[expect(
    clippy::too_many_arguments,
    reason = "the town and the level, passed as they are"
)]
pub fn decide(
    person: usize,
    people: &[Person],
    contacts: &[Contact],
    encounters: &Encounters,
    published: &Publication,
    level: f64,
    now: u64,
    seed: u64,
    losses: &Losses,
    keep: Option<&Path>,
) -> Result<Decision, CliError> {
    let kind = people.get(person).map_or(Kind::Gaen, |p| p.kind);
    let heard = heard(person, people, contacts, encounters, level, seed, losses);
    let logged = through_the_log(&heard, keep)?;
    let evidence = |unix_day, close_seconds| Evidence {
        person,
        protocol: kind.name(),
        unix_day,
        close_seconds,
        closest_attenuation_db: None,
        strongest_rssi: None,
    };
    let day_of = |unix_day: u64| unix_day.saturating_sub(FIRST_DAY) as usize;
    Ok(match kind {
        Kind::Gaen => {
            let sightings: Vec<GaenSighting> = logged
                .iter()
                .filter_map(|s| match s {
                    Sighting::Gaen(g) => Some(*g),
                    Sighting::Bluezone(_) => None,
                })
                .collect();
            let count = sightings.len();
            let risk = RiskConfig::default();
            let config = risk.match_config(MatchConfig::default());
            let index = LogIndex::new(sightings, config.tolerance_intervals);
            let matcher = Matcher::new(&index, config);
            let mut run = MatchRun::new(&matcher);
            run.add_table(&published.table);
            let verdict = assess(&run.finish(), &risk, now).f1;
            Decision {
                measured: verdict
                    .days
                    .iter()
                    .filter_map(|d| {
                        let case = published.tek_owner.get(&d.tek)?;
                        Some((*case, day_of(d.unix_day), d.close_seconds))
                    })
                    .collect(),
                evidence: closest_day(&verdict.days, verdict.f1, |d| d.close_seconds).map(|d| {
                    Evidence {
                        closest_attenuation_db: Some(d.closest_attenuation_db),
                        ..evidence(d.unix_day, d.close_seconds)
                    }
                }),
                sightings: count,
            }
        }
        Kind::Bluezone => {
            let history: Vec<HistoryLine> = logged
                .iter()
                .filter_map(|s| match s {
                    Sighting::Bluezone(b) => Some(HistoryLine::from(b)),
                    Sighting::Gaen(_) => None,
                })
                .collect();
            let unit = TimeUnit::Milliseconds;
            let matches = published
                .f0
                .matches(&history)
                .in_environment("the demo's F0 table")?;
            let verdict = f1::decide(&matches, unit, &bluezone_rule(), now);
            Decision {
                measured: verdict
                    .days
                    .iter()
                    .filter_map(|d| {
                        let case = published.f0_owner.get(d.entry)?;
                        Some((*case, day_of(d.day), d.close_seconds))
                    })
                    .collect(),
                evidence: closest_day(&verdict.days, verdict.f1, |d| d.close_seconds).map(|d| {
                    Evidence {
                        strongest_rssi: Some(d.strongest_rssi),
                        ..evidence(d.day, d.close_seconds)
                    }
                }),
                sightings: history.len(),
            }
        }
    })
}

/// The day of most close contact, when the verdict is a warning.
fn closest_day<T>(days: &[T], warned: bool, close_seconds: impl Fn(&T) -> u64) -> Option<&T> {
    days.iter()
        .max_by_key(|d| close_seconds(d))
        .filter(|_| warned)
}
