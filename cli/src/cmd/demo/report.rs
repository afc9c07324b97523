//! What the demo tells: the town, each adoption level's protocol run, and the comparison with
//! the truth.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use super::people::{Kind, Person};
use super::protocol::{self, Evidence};
use super::town::FIRST_DAY;
use super::truth::{NO_CONTACT_SECONDS, PLANTED_METERS, PLANTED_SECONDS, Truth, UNCERTAIN_METERS};
use crate::output::{Elapsed, Report, date};

/// The knobs of the run, as used.
#[derive(Serialize)]
pub struct Settings {
    pub bluezone_share: f64,
    pub bluetooth_off: f64,
    pub phone_at_home: f64,
    pub ios_share: f64,
    pub ios_foreground: f64,
}

/// Counts of one protocol's people at one level.
#[derive(Default, Serialize)]
pub struct ProtocolSplit {
    pub people: usize,
    pub app_users: usize,
    pub close_contacts: usize,
    pub observable_close_contacts: usize,
    pub warned_close_contacts: usize,
}

/// Both protocols.
#[derive(Default, Serialize)]
pub struct Protocols {
    pub gaen: ProtocolSplit,
    pub bluezone: ProtocolSplit,
}

/// The people with a close contact on one day, by what became of them: warned (at the end),
/// missed (that day's contact was observable and they were not warned), or unobservable.
#[derive(Default, Serialize, Clone)]
pub struct DaySplit {
    pub unix_day: u64,
    pub warned: usize,
    pub missed: usize,
    pub unobservable: usize,
}

/// One (person, case, day) with time within 1.2 m: the truth against what the phone measured.
#[derive(Serialize, Clone)]
pub struct Pair {
    pub person: usize,
    pub case: u32,
    pub unix_day: u64,
    pub true_close_seconds: u64,
    pub measured_close_seconds: u64,
    pub warned: bool,
}

/// One adoption level, end to end.
#[derive(Default, Serialize)]
pub struct Level {
    pub adoption: f64,
    pub adoption_squared: f64,
    pub app_users: usize,
    /// Cases that run the app and so published their keys.
    pub cases_with_app: usize,
    pub export_keys: u64,
    pub f0_entries: usize,
    pub sightings: usize,
    /// Ground truth: people (not cases) at least 25 minutes within 1.2 m of one case in one day.
    pub close_contacts: usize,
    /// Of them, those whose close contact both phones could see: both run the app, speak the
    /// same protocol, and nothing of it was lost.
    pub observable_close_contacts: usize,
    pub warned_close_contacts: usize,
    /// Observable and not warned: the protocol failed them (0 when it works).
    pub missed_close_contacts: usize,
    pub unobservable_close_contacts: usize,
    /// warned_close_contacts / close_contacts.
    pub detection: f64,
    pub borderline: usize,
    pub borderline_warned: usize,
    pub people_without_contact: usize,
    pub false_warnings: usize,
    pub warned: usize,
    pub protocols: Protocols,
    pub by_day: Vec<DaySplit>,
    pub agrees_with_ground_truth: bool,
    pub matching_seconds: f64,
}

#[derive(Serialize)]
pub struct DemoReport {
    pub people: usize,
    pub days: u64,
    pub seed: u64,
    pub settings: Settings,
    pub gaen_phones: usize,
    pub positives: usize,
    pub contacts: usize,
    pub levels: Vec<Level>,
    /// The warnings of the highest level.
    pub warnings: Vec<Evidence>,
    /// Every level agrees with the ground truth, and some close contact was found.
    pub agrees_with_ground_truth: bool,
    pub simulation_seconds: f64,
    pub matching_seconds: f64,
    /// Where the highest level's logs and files were kept (`--out`).
    pub folder: Option<PathBuf>,
    /// Where the pictures were written (`--report`).
    pub report: Option<PathBuf>,
    /// The highest level's (person, case, day) pairs, for the report's scatter plot.
    #[serde(skip)]
    pub pairs: Vec<Pair>,
}

fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

impl Report for DemoReport {
    const COMMAND: &'static str = "demo";

    fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let s = &self.settings;
        writeln!(
            out,
            "A town of {} people for {} days (seed {}): {} GAEN phones, {} Bluezone phones; {} encounters.",
            self.people,
            self.days,
            self.seed,
            self.gaen_phones,
            self.people - self.gaen_phones,
            self.contacts
        )?;
        writeln!(
            out,
            "Losses: Bluetooth off {:.0} % of app-user days, phone left at home {:.0} %, Bluezone iPhones {:.0} % (in the foreground {:.0} % of the time).",
            100.0 * s.bluetooth_off,
            100.0 * s.phone_at_home,
            100.0 * s.ios_share,
            100.0 * s.ios_foreground
        )?;
        writeln!(
            out,
            "{} people tested positive; {} people spent {} minutes within {PLANTED_METERS} m of one of them in one day (close contacts).",
            self.positives,
            self.levels.first().map_or(0, |l| l.close_contacts),
            PLANTED_SECONDS / 60
        )?;
        writeln!(out)?;
        writeln!(
            out,
            "adoption  adoption²  app users  published  warned  observable  missed  detection  false warnings"
        )?;
        for l in &self.levels {
            writeln!(
                out,
                "{:>7.0} % {:>8.1} % {:>10} {:>10} {:>7} {:>11} {:>7} {:>8.1} % {:>15}",
                100.0 * l.adoption,
                100.0 * l.adoption_squared,
                l.app_users,
                l.cases_with_app,
                l.warned_close_contacts,
                l.observable_close_contacts,
                l.missed_close_contacts,
                100.0 * l.detection,
                l.false_warnings
            )?;
        }
        writeln!(out)?;
        if let Some(top) = self.levels.last() {
            writeln!(
                out,
                "At {:.0} % adoption every phone logged, matched and decided in {}: {} warned (F1).",
                100.0 * top.adoption,
                Elapsed(std::time::Duration::from_secs_f64(top.matching_seconds)),
                top.warned
            )?;
            for e in self.warnings.iter().take(5) {
                let closest = match (e.closest_attenuation_db, e.strongest_rssi) {
                    (Some(db), _) => format!("{db} dB attenuation"),
                    (None, Some(dbm)) => format!("{dbm} dBm RSSI"),
                    (None, None) => "-".to_string(),
                };
                writeln!(
                    out,
                    "  person {:>5} ({}): {} min of close contact on {}, closest {closest}",
                    e.person,
                    e.protocol,
                    e.close_seconds / 60,
                    date(e.unix_day),
                )?;
            }
            if self.warnings.len() > 5 {
                writeln!(
                    out,
                    "  … and {} more (all of them with --json)",
                    self.warnings.len() - 5
                )?;
            }
            writeln!(
                out,
                "  {} close contacts: {} warned ({:.1} %), {} missed, {} unobservable (no app, the other protocol, or lost).",
                top.close_contacts,
                top.warned_close_contacts,
                percent(top.warned_close_contacts, top.close_contacts),
                top.missed_close_contacts,
                top.unobservable_close_contacts
            )?;
            writeln!(
                out,
                "  {} people were within {UNCERTAIN_METERS} m of cases for {} minutes or more in a day without a close contact: {} warned (the uncertainty of distance from attenuation and of duration from scans, spec §risk.4.1).",
                top.borderline,
                NO_CONTACT_SECONDS / 60,
                top.borderline_warned
            )?;
            writeln!(
                out,
                "  {} people had no such contact: {} false warnings.",
                top.people_without_contact, top.false_warnings
            )?;
        }
        writeln!(
            out,
            "{}",
            if self.agrees_with_ground_truth {
                "The warnings agree with the ground truth at every level: every observable close contact was warned, and no one without contact."
            } else if self
                .levels
                .iter()
                .all(|l| l.warned_close_contacts == 0 && l.missed_close_contacts == 0)
            {
                "Nothing was tested: no one had an observable close contact with a case in this town (try another --seed, more people or days, or a higher --adoption)."
            } else {
                "The warnings DISAGREE with the ground truth."
            }
        )?;
        if let Some(path) = &self.folder {
            writeln!(
                out,
                "Files of the highest level kept in {}: logs/, export.zip, public-key.pem, f0.json, truth.json, risk.json (check them with export verify, match --public-key --risk-config risk.json, blid match --close-rssi -70).",
                path.display()
            )?;
        }
        if let Some(path) = &self.report {
            writeln!(
                out,
                "Pictures and data: {}",
                path.join("index.html").display()
            )?;
        }
        Ok(())
    }
}

/// One level's comparison with the ground truth (spec §demo.3).
pub(super) fn tally(
    people: &[Person],
    truths: &[Truth],
    decisions: &[Option<protocol::Decision>],
    level: f64,
    days: u64,
) -> Level {
    let mut l = Level {
        adoption: level,
        adoption_squared: level * level,
        by_day: (0..days)
            .map(|d| DaySplit {
                unix_day: FIRST_DAY + d,
                ..DaySplit::default()
            })
            .collect(),
        ..Level::default()
    };
    for ((person, truth), decision) in people.iter().zip(truths).zip(decisions) {
        let split = match person.kind {
            Kind::Gaen => &mut l.protocols.gaen,
            Kind::Bluezone => &mut l.protocols.bluezone,
        };
        split.people += 1;
        let app = person.has_app(level);
        split.app_users += usize::from(app);
        l.app_users += usize::from(app);
        if person.positive {
            continue;
        }
        let warned = decision.as_ref().is_some_and(|d| d.evidence.is_some());
        l.warned += usize::from(warned);
        l.sightings += decision.as_ref().map_or(0, |d| d.sightings);
        if truth.planted {
            let observable = truth.observable_at(level);
            l.close_contacts += 1;
            split.close_contacts += 1;
            l.observable_close_contacts += usize::from(observable);
            split.observable_close_contacts += usize::from(observable);
            l.warned_close_contacts += usize::from(warned);
            split.warned_close_contacts += usize::from(warned);
            if !warned && observable {
                l.missed_close_contacts += 1;
            } else if !warned {
                l.unobservable_close_contacts += 1;
            }
            for &(day, from) in &truth.planted_days {
                let Some(split) = l.by_day.get_mut(day) else {
                    continue;
                };
                if warned {
                    split.warned += 1;
                } else if from < level {
                    split.missed += 1;
                } else {
                    split.unobservable += 1;
                }
            }
        } else if truth.near {
            l.borderline += 1;
            l.borderline_warned += usize::from(warned);
        } else {
            l.people_without_contact += 1;
            l.false_warnings += usize::from(warned);
        }
    }
    // spec §demo.5: detection, which follows adoption².
    l.detection = if l.close_contacts == 0 {
        0.0
    } else {
        l.warned_close_contacts as f64 / l.close_contacts as f64
    };
    l.agrees_with_ground_truth = l.missed_close_contacts == 0 && l.false_warnings == 0;
    l
}

/// The (person, case, day) pairs of app users whose case ran the app, with time within
/// 1.2 m: the truth against what the phone measured (at most 5000, the closest first).
pub(super) fn scatter(
    people: &[Person],
    truths: &[Truth],
    decisions: &[Option<protocol::Decision>],
    level: f64,
) -> Vec<Pair> {
    let mut pairs = Vec::new();
    for (person, (truth, decision)) in truths.iter().zip(decisions).enumerate() {
        let Some(decision) = decision else {
            continue;
        };
        let warned = decision.evidence.is_some();
        for &(case, day, seconds) in &truth.close {
            let Some(case_person) = people.get(case as usize) else {
                continue;
            };
            let me = people.get(person);
            if !case_person.has_app(level) || me.is_none_or(|m| m.kind != case_person.kind) {
                continue;
            }
            let measured = decision
                .measured
                .iter()
                .filter(|m| m.0 == case && m.1 == day)
                .map(|m| m.2)
                .sum();
            pairs.push(Pair {
                person,
                case,
                unix_day: FIRST_DAY + day as u64,
                true_close_seconds: seconds,
                measured_close_seconds: measured,
                warned,
            });
        }
    }
    pairs.sort_by_key(|p| std::cmp::Reverse(p.true_close_seconds));
    pairs.truncate(5000);
    pairs
}
