//! What the demo tells: the town, the protocol run, and the comparison with the truth.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use super::protocol::Evidence;
use super::truth::{NO_CONTACT_SECONDS, PLANTED_METERS, PLANTED_SECONDS, Tally, UNCERTAIN_METERS};
use crate::output::{Elapsed, Report, date};

#[derive(Serialize)]
pub struct DemoReport {
    pub people: usize,
    pub days: u64,
    pub seed: u64,
    pub gaen_phones: usize,
    pub positives: usize,
    pub contacts: usize,
    pub sightings: usize,
    /// Keys in the signed export, padding included.
    pub export_keys: u64,
    pub f0_entries: usize,
    pub warned: usize,
    pub warnings: Vec<Evidence>,
    pub ground_truth: Tally,
    pub simulation_seconds: f64,
    pub matching_seconds: f64,
    pub agrees_with_ground_truth: bool,
    /// Where the logs and files were kept (`--out`).
    pub folder: Option<PathBuf>,
}

impl Report for DemoReport {
    const COMMAND: &'static str = "demo";

    fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let t = &self.ground_truth;
        writeln!(
            out,
            "A town of {} people for {} days (seed {}): {} GAEN phones, {} Bluezone phones.",
            self.people,
            self.days,
            self.seed,
            self.gaen_phones,
            self.people - self.gaen_phones
        )?;
        writeln!(
            out,
            "{} encounters gave {} sightings, written to {} encounter logs in {}.",
            self.contacts,
            self.sightings,
            self.people,
            Elapsed(std::time::Duration::from_secs_f64(self.simulation_seconds))
        )?;
        writeln!(
            out,
            "{} people tested positive: their keys went into a signed export.zip ({} keys with padding), their Bluezone day keys into an F0 list of {} entries.",
            self.positives, self.export_keys, self.f0_entries
        )?;
        writeln!(
            out,
            "Every phone verified, matched and decided in {}: {} warned (F1).",
            Elapsed(std::time::Duration::from_secs_f64(self.matching_seconds)),
            self.warned
        )?;
        for e in self.warnings.iter().take(10) {
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
        if self.warnings.len() > 10 {
            writeln!(
                out,
                "  … and {} more (all of them with --json)",
                self.warnings.len() - 10
            )?;
        }
        writeln!(out)?;
        writeln!(out, "Against the simulation's ground truth:")?;
        writeln!(
            out,
            "  {} people spent {} minutes within {PLANTED_METERS} m of a case in one day: {} warned, {} missed, {} unobservable (their case used the other protocol).",
            t.planted,
            PLANTED_SECONDS / 60,
            t.planted_found,
            t.planted_missed,
            t.planted_unobservable
        )?;
        writeln!(
            out,
            "  {} people were within {UNCERTAIN_METERS} m of cases for {} minutes or more in a day, but not planted: {} warned (explained by the uncertainty of distance from attenuation and of duration from scans, spec §risk.4.1).",
            t.borderline,
            NO_CONTACT_SECONDS / 60,
            t.borderline_warned
        )?;
        writeln!(
            out,
            "  {} people had no such contact: {} false warnings.",
            t.no_contact, t.false_warnings
        )?;
        writeln!(
            out,
            "{}",
            if self.agrees_with_ground_truth {
                "The warnings agree with the ground truth."
            } else if self.ground_truth.tested_nothing() {
                "Nothing was tested: no one had an observable close contact with a case in this town (try another --seed, or more people or days)."
            } else {
                "The warnings DISAGREE with the ground truth."
            }
        )?;
        if let Some(path) = &self.folder {
            writeln!(
                out,
                "Files kept in {}: logs/, export.zip, public-key.pem, f0.json, truth.json (check them with export verify, match --public-key, blid match --close-rssi -70).",
                path.display()
            )?;
        }
        Ok(())
    }
}
