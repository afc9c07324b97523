//! The simulation's ground truth for each person, and the rule that judges warnings against it
//! (spec §risk.4.2, §demo.3).

use std::collections::HashMap;

use super::people::{Losses, Person, hear_each_other};
use super::town::{Contact, Encounters};

/// "Close contact": at least 25 minutes (15, plus two scan periods of duration uncertainty)
/// this close to one case in one day.
pub const PLANTED_METERS: f32 = 1.2;
pub const PLANTED_SECONDS: u64 = 25 * 60;
/// "No contact": less than 10 minutes (15, less one scan period) within this distance of all
/// cases together in every day. Between the two, a warning or its absence is explained by the
/// documented uncertainties (spec §risk.4.1): distance from attenuation, duration from scans.
pub const UNCERTAIN_METERS: f32 = 4.0;
pub const NO_CONTACT_SECONDS: u64 = 10 * 60;

/// What really happened between one person who is not a case and the cases.
#[derive(Default)]
pub struct Truth {
    /// A close contact with some case on some day.
    pub planted: bool,
    /// Each day with a close contact, and the adoption level above which one of that day's
    /// is observable (infinite when none is).
    pub planted_days: Vec<(usize, f64)>,
    /// A close contact is observable (both run the app, speak the same protocol, and none of
    /// its encounters was lost) at every adoption level above this; infinite when never.
    pub observable_from: f64,
    /// Within 4 m of cases for 10 minutes or more on some day, all cases together.
    pub near: bool,
    /// Per (case, day): seconds within 1.2 m.
    pub close: Vec<(u32, usize, u64)>,
}

impl Truth {
    /// Whether a close contact is observable at `level`.
    pub fn observable_at(&self, level: f64) -> bool {
        self.planted && self.observable_from < level
    }
}

/// The truth for `person`, from their encounters with cases.
pub fn of(
    person: usize,
    people: &[Person],
    contacts: &[Contact],
    encounters: &Encounters,
    seed: u64,
    losses: &Losses,
) -> Truth {
    let Some(me) = people.get(person) else {
        return Truth::default();
    };
    let me_id = person as u32;
    // (case, day) → (within 1.2 m, within 1.2 m and observable, within 4 m).
    let mut per_case: HashMap<(u32, usize), (u64, u64, u64)> = HashMap::new();
    for &index in encounters.of(person) {
        let Some(c) = contacts.get(index as usize) else {
            continue;
        };
        let other = c.other(me_id);
        let Some(case) = people.get(other as usize).filter(|p| p.positive) else {
            continue;
        };
        let entry = per_case.entry((other, c.day())).or_default();
        let seconds = u64::from(c.seconds);
        if c.meters <= PLANTED_METERS {
            entry.0 += seconds;
            if hear_each_other(me, case, c, index, seed, losses) {
                entry.1 += seconds;
            }
        }
        if c.meters <= UNCERTAIN_METERS {
            entry.2 += seconds;
        }
    }
    let mut truth = Truth {
        observable_from: f64::INFINITY,
        ..Truth::default()
    };
    let mut by_day: HashMap<usize, u64> = HashMap::new();
    for (&(case, day), &(close, observable, within)) in &per_case {
        *by_day.entry(day).or_default() += within;
        if close > 0 {
            truth.close.push((case, day, close));
        }
        let from = if observable >= PLANTED_SECONDS {
            let rank = people.get(case as usize).map_or(f64::INFINITY, |p| p.rank);
            rank.max(me.rank)
        } else {
            f64::INFINITY
        };
        truth.observable_from = truth.observable_from.min(from);
        if close >= PLANTED_SECONDS {
            truth.planted = true;
            match truth.planted_days.iter_mut().find(|(d, _)| *d == day) {
                Some(entry) => entry.1 = entry.1.min(from),
                None => truth.planted_days.push((day, from)),
            }
        }
    }
    truth.close.sort_unstable();
    truth.planted_days.sort_by_key(|(d, _)| *d);
    truth.near = by_day.values().any(|s| *s >= NO_CONTACT_SECONDS);
    truth
}
