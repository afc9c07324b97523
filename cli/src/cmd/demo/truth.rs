//! The simulation's ground truth, and the warnings compared with it (spec §risk.4.2).

use std::collections::HashMap;

use serde::Serialize;

use super::phones::Phone;
use super::town::Contact;

/// "Planted": at least 25 minutes (15, plus two scan periods of duration uncertainty) this
/// close to one case in one day.
pub const PLANTED_METERS: f64 = 1.2;
pub const PLANTED_SECONDS: u64 = 25 * 60;
/// "No contact": less than 10 minutes (15, less one scan period) within this distance of all
/// cases together in every day. Between the two, a warning or its absence is explained by the
/// documented uncertainties (spec §risk.4.1): distance from attenuation, duration from scans.
pub const UNCERTAIN_METERS: f64 = 4.0;
pub const NO_CONTACT_SECONDS: u64 = 10 * 60;

/// Seconds each person spent near each case on each day: (within [`PLANTED_METERS`], within
/// [`UNCERTAIN_METERS`]), by (person, case, UTC day).
pub type Exposure = HashMap<(usize, usize, u64), (u64, u64)>;

/// What really happened between the cases and everyone else.
pub fn exposure(contacts: &[Contact], is_positive: &[bool]) -> Exposure {
    let positive = |p: usize| is_positive.get(p).copied().unwrap_or(false);
    let mut close = Exposure::new();
    for c in contacts {
        for (scanner, advertiser) in [(c.a, c.b), (c.b, c.a)] {
            if positive(advertiser) && !positive(scanner) {
                let entry = close
                    .entry((scanner, advertiser, c.start / 86_400))
                    .or_default();
                if c.meters <= PLANTED_METERS {
                    entry.0 += c.seconds;
                }
                if c.meters <= UNCERTAIN_METERS {
                    entry.1 += c.seconds;
                }
            }
        }
    }
    close
}

/// The verdict classes of the comparison with ground truth.
#[derive(Default, Serialize)]
pub struct Tally {
    pub planted: usize,
    pub planted_found: usize,
    pub planted_missed: usize,
    pub planted_unobservable: usize,
    pub borderline: usize,
    pub borderline_warned: usize,
    pub no_contact: usize,
    pub false_warnings: usize,
}

impl Tally {
    /// Whether the warnings agree with the truth: no planted contact missed, no false warning,
    /// and at least one planted contact that could be observed, so that something was tested.
    pub const fn agrees(&self) -> bool {
        self.planted_missed == 0 && self.false_warnings == 0 && self.planted_found > 0
    }

    /// Whether the town held nothing to test: no observable close contact with a case.
    pub const fn tested_nothing(&self) -> bool {
        self.planted_found + self.planted_missed == 0
    }
}

/// Classifies everyone who is not a case by their true exposure and compares with `warned`.
pub fn compare(phones: &[Phone], is_positive: &[bool], warned: &[bool], close: &Exposure) -> Tally {
    let flag = |list: &[bool], p: usize| list.get(p).copied().unwrap_or(false);
    let kind = |p: usize| phones.get(p).map(|phone| phone.kind);
    let mut tally = Tally::default();
    for person in (0..phones.len()).filter(|&p| !flag(is_positive, p)) {
        let per_case = close.iter().filter(|((s, _, _), _)| *s == person);
        let planted_by: Vec<usize> = per_case
            .clone()
            .filter(|(_, (near, _))| *near >= PLANTED_SECONDS)
            .map(|((_, c, _), _)| *c)
            .collect();
        let mut by_day: HashMap<u64, u64> = HashMap::new();
        for ((_, _, day), (_, within)) in per_case {
            *by_day.entry(*day).or_default() += within;
        }
        let uncertain = by_day.values().any(|s| *s >= NO_CONTACT_SECONDS);
        let was_warned = flag(warned, person);
        if !planted_by.is_empty() {
            tally.planted += 1;
            if was_warned {
                tally.planted_found += 1;
            } else if planted_by.iter().all(|&c| kind(c) != kind(person)) {
                tally.planted_unobservable += 1;
            } else {
                tally.planted_missed += 1;
            }
        } else if uncertain {
            tally.borderline += 1;
            tally.borderline_warned += usize::from(was_warned);
        } else {
            tally.no_contact += 1;
            tally.false_warnings += usize::from(was_warned);
        }
    }
    tally
}
