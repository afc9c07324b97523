//! The protocols run over the town at one adoption level: the cases that run the app publish
//! a signed `export.zip` and an F0 list; every app user's phone logs what it heard, matches
//! what was published and decides F1, all with the library's own code.

use std::path::{Path, PathBuf};

use bluezone::blid::f1::{self, F1Rule, RssiThresholds};
use bluezone::blid::{HistoryLine, TimeUnit};
use bluezone::encounter::frame::{self, ScanItem};
use bluezone::encounter::log::EncounterLog;
use bluezone::encounter::{BluezoneSighting, GaenSighting, Sighting};
use bluezone::matching::{LogIndex, MatchConfig, MatchRun, Matcher};
use bluezone::risk::{RiskConfig, assess};
use serde::Serialize;

use super::people::{Kind, Losses, Person, TX_POWER, hear_each_other};
use super::publish::Publication;
use super::town::{Contact, Encounters, FIRST_DAY, Noise, attenuation};
use crate::error::{CliError, Context};

/// Seconds between two scans of a phone.
pub const SCAN_SECONDS: u64 = 300;

/// The RSSI at or above which the demo's Bluezone phones count a sighting as close, dBm
/// (`blid match --close-rssi` reproduces it).
pub const BLUEZONE_CLOSE_RSSI: i8 = -70;

/// The F1 rule's attenuation threshold for the demo's GAEN phones, dB: "about 2 m" in the
/// simulated radio (free space and 9 dB of body loss, spec §demo). The library's default
/// (spec §risk.4.1) is chosen on real phones under Google's December 2020 table, whose
/// attenuation grows 12 dB per decade of distance rather than free space's 20, so it would
/// reach 8 m here. `match --risk-config risk.json` reproduces it.
pub const GAEN_CLOSE_ATTENUATION_DB: u8 = 55;

/// The risk settings of the demo's GAEN phones: the defaults with the F1 threshold of the
/// simulated radio.
pub fn gaen_risk() -> RiskConfig {
    RiskConfig {
        f1: bluezone::risk::F1Rule {
            attenuation_threshold_db: GAEN_CLOSE_ATTENUATION_DB,
            ..bluezone::risk::F1Rule::default()
        },
        ..RiskConfig::default()
    }
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
/// −15 dBm − [`GAEN_CLOSE_ATTENUATION_DB`] = −70 dBm.
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
            let risk = gaen_risk();
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
