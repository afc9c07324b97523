//! `bluezone demo`: a town for a fortnight, end to end, at one or more adoption levels.
//!
//! People live in households, work in groups and meet strangers in shops and on transport
//! ([`town`]). Some run the app: who installs is drawn once, so that a higher adoption level
//! adds phones to a lower one's; app users speak GAEN or the Bluezone 2020 scheme and lose
//! what real deployments lose ([`people`]). At each level the cases that run the app publish a
//! signed `export.zip` and an F0 list, and every app user's phone logs what it heard through
//! the encounter log's format, matches and decides F1 ([`protocol`]); the result is compared
//! with the simulation's ground truth ([`truth`]), told ([`report`]) and drawn ([`chart`]).
//! The town is held as encounters, not logs: each phone's log is made, matched and dropped in
//! turn, so memory grows with the encounters and not with the sightings.

mod chart;
mod people;
mod protocol;
mod publish;
mod report;
mod town;
mod truth;
mod workers;

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Instant;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

use super::Outcome;
use crate::error::{CliError, Context};
use crate::files;
use crate::input::bounded;
use crate::output::{Progress, Status, emit};
use people::{Kind, Losses, Person};
use report::{DemoReport, Settings, scatter, tally};
use town::{FIRST_DAY, uniform};
use truth::Truth;
use workers::{INTERRUPTED, with_progress};

/// A share in [0, 1].
fn share(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("{text} is not a number"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{text} is not a share between 0 and 1"))
    }
}

/// An adoption level in (0, 1].
fn level(text: &str) -> Result<f64, String> {
    let value = share(text)?;
    if value > 0.0 {
        Ok(value)
    } else {
        Err("an adoption level must be above 0".into())
    }
}

/// `demo`.
#[derive(clap::Args)]
pub struct Args {
    /// People in the town (2 to 100 000).
    #[arg(long, default_value_t = 2000, value_parser = bounded(2, 100_000))]
    people: usize,
    /// Days simulated (1 to 14).
    #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(u64).range(1..=14))]
    days: u64,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 2021)]
    seed: u64,
    /// Adoption levels, comma-separated shares of people who run the app (each above 0, at
    /// most 1; at most 20 levels). Who installs is drawn once: a higher level adds phones.
    #[arg(long, value_delimiter = ',', default_value = "1", value_parser = level)]
    adoption: Vec<f64>,
    /// Share of app users on the Bluezone 2020 scheme; the rest speak GAEN [default: a third]
    #[arg(long, default_value_t = 1.0 / 3.0, hide_default_value = true, value_parser = share)]
    bluezone_share: f64,
    /// Share of app-user days with Bluetooth or tracing off; 20 % of NHS COVID-19 app users
    /// had it off (YouGov, July 2021).
    #[arg(long, default_value_t = 0.2, value_parser = share)]
    bluetooth_off: f64,
    /// Share of app-user days with the phone left at home: it still sees the household (no
    /// published figure found).
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    phone_at_home: f64,
    /// Share of Bluezone app users on iPhones; iOS held 36 % of Vietnam's phones in 2020
    /// (Statista).
    #[arg(long, default_value_t = 0.36, value_parser = share)]
    ios_share: f64,
    /// Share of time a Bluezone iPhone app is in the foreground; two iPhones in the background
    /// do not see each other, and iOS suspends apps in the background.
    #[arg(long, default_value_t = 0.0, value_parser = share)]
    ios_foreground: f64,
    /// Keep the highest level's logs, export.zip and f0.json in this folder (new or empty).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write a self-contained index.html with charts, and the data as CSV, to this folder.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

/// `--out` names a folder that already holds something.
#[derive(Debug, thiserror::Error)]
#[error(
    "not empty: the demo writes a fresh town's logs and files, so --out must be a new or empty folder"
)]
struct OutNotEmpty;

/// More adoption levels than a run takes.
#[derive(Debug, thiserror::Error)]
#[error("at most 20 adoption levels")]
struct TooManyLevels;

/// Runs `demo`.
pub fn run(args: &Args, out: &mut dyn Write) -> Outcome {
    let progress = Progress::new("demo");
    let started = Instant::now();
    let mut levels = args.adoption.clone();
    levels.sort_by(f64::total_cmp);
    levels.dedup();
    if levels.len() > 20 {
        return Err(TooManyLevels).in_environment("--adoption");
    }
    let losses = Losses {
        bluetooth_off: args.bluetooth_off,
        phone_at_home: args.phone_at_home,
        ios_share: args.ios_share,
        ios_foreground: args.ios_foreground,
    };
    let folder = match &args.out {
        Some(out) => {
            // Old logs in the folder would be mixed with this run's.
            if std::fs::read_dir(out).is_ok_and(|mut entries| entries.next().is_some()) {
                return Err(OutNotEmpty).in_file(out);
            }
            out.clone()
        }
        None => std::env::temp_dir().join(format!("bluezone-demo-{}", std::process::id())),
    };
    // A temporary folder of our own is removed however the run ends: done, failed or
    // interrupted (the phases check for an interrupt and unwind to here).
    let _temporary = args
        .out
        .is_none()
        .then(|| crate::files::TemporaryFolder(folder.clone()));
    ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst))
        .in_environment("the interrupt handler")?;
    std::fs::create_dir_all(&folder).in_file(&folder)?;

    progress.phase("deriving every phone's keys");
    let (people_count, days, seed) = (args.people, args.days, args.seed);
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let authority = publish::Authority::new(&mut rng)?;
    let mut people: Vec<Person> = (0..people_count)
        .map(|_| Person::generate(days, args.bluezone_share, &losses, &mut rng))
        .collect();
    for person in &mut people {
        person.positive = uniform(&mut rng) < 0.02;
    }
    let people = people;

    progress.phase("simulating encounters");
    let contacts = town::simulate(people_count, days, &mut rng);
    let encounters = town::Encounters::new(people_count, &contacts);
    progress.phase("finding the ground truth");
    let truths: Vec<Truth> = with_progress(&progress, people_count, |p| {
        Ok(truth::of(p, &people, &contacts, &encounters, seed, &losses))
    })?;
    let simulated = started.elapsed();

    let now = (FIRST_DAY + days) * 86_400 - 1;
    let mut reports = Vec::new();
    let mut warnings = Vec::new();
    let mut pairs = Vec::new();
    let mut warned_top = Vec::new();
    let matching_started = Instant::now();
    for (n, &level) in levels.iter().enumerate() {
        let top = n + 1 == levels.len();
        progress.phase(&format!(
            "adoption {:.0} %: publishing, then every phone logs, matches and decides",
            100.0 * level
        ));
        let level_started = Instant::now();
        let published = publish::publish(&people, level, days, &folder, &authority, &mut rng)?;
        let keep = (top && args.out.is_some()).then(|| folder.join("logs"));
        let decisions = with_progress(&progress, people_count, |p| {
            let person = people.get(p);
            if person.is_none_or(|q| q.positive || !q.has_app(level)) {
                return Ok(None);
            }
            let keep = keep.as_ref().map(|logs| protocol::log_folder(logs, p));
            protocol::decide(
                p,
                &people,
                &contacts,
                &encounters,
                &published,
                level,
                now,
                seed,
                &losses,
                keep.as_deref(),
            )
            .map(Some)
        })?;
        let mut report = tally(&people, &truths, &decisions, level, days);
        report.cases_with_app = published.cases_with_app;
        report.export_keys = published.export_keys;
        report.f0_entries = published.f0_entries;
        report.matching_seconds = level_started.elapsed().as_secs_f64();
        if top {
            warned_top = decisions
                .iter()
                .map(|d| d.as_ref().is_some_and(|d| d.evidence.is_some()))
                .collect();
            pairs = scatter(&people, &truths, &decisions, level);
            warnings = decisions
                .into_iter()
                .flatten()
                .filter_map(|d| d.evidence)
                .collect();
        }
        reports.push(report);
    }
    let matching = matching_started.elapsed();
    if args.out.is_some() {
        write_truth(args, &folder, &people, &warned_top)?;
    }
    drop(progress);
    let found_some = reports.iter().any(|l| l.warned_close_contacts > 0);
    let report = DemoReport {
        people: people_count,
        days,
        seed,
        settings: Settings {
            bluezone_share: args.bluezone_share,
            bluetooth_off: args.bluetooth_off,
            phone_at_home: args.phone_at_home,
            ios_share: args.ios_share,
            ios_foreground: args.ios_foreground,
        },
        gaen_phones: people.iter().filter(|p| p.kind == Kind::Gaen).count(),
        positives: people.iter().filter(|p| p.positive).count(),
        contacts: contacts.len(),
        agrees_with_ground_truth: found_some && reports.iter().all(|l| l.agrees_with_ground_truth),
        levels: reports,
        warnings,
        simulation_seconds: simulated.as_secs_f64(),
        matching_seconds: matching.as_secs_f64(),
        folder: args.out.clone(),
        report: args.report.clone(),
        pairs,
    };
    if let Some(dir) = &args.report {
        chart::write(dir, &report)?;
    }
    emit(out, &report, args.json)?;
    Ok(Status::from_ok(report.agrees_with_ground_truth))
}

/// What a reader of the kept files needs to check them against the run.
fn write_truth(
    args: &Args,
    folder: &std::path::Path,
    people: &[Person],
    warned: &[bool],
) -> Result<(), CliError> {
    let top = args.adoption.iter().copied().fold(0.0, f64::max);
    let truth_path = folder.join("truth.json");
    let truth = serde_json::json!({
        "seed": args.seed,
        "people": args.people,
        "days": args.days,
        "adoption": top,
        "positives": people.iter().enumerate().filter(|(_, p)| p.positive).map(|(i, _)| i).collect::<Vec<_>>(),
        "app_users": people.iter().enumerate().filter(|(_, p)| p.has_app(top)).map(|(i, _)| i).collect::<Vec<_>>(),
        "protocols": people
            .iter()
            .map(|p| if p.kind == Kind::Gaen { "gaen" } else { "bluezone" })
            .collect::<Vec<_>>(),
        "warned": warned
            .iter()
            .enumerate()
            .filter(|(_, w)| **w)
            .map(|(person, _)| person)
            .collect::<Vec<_>>(),
        "key_id": publish::KEY_ID,
        "key_version": publish::KEY_VERSION,
        "bluezone_close_rssi_dbm": protocol::BLUEZONE_CLOSE_RSSI,
        "gaen_close_attenuation_db": protocol::GAEN_CLOSE_ATTENUATION_DB,
    });
    files::write_atomically(&truth_path, |file| {
        serde_json::to_writer_pretty(&mut *file, &truth).in_file(&truth_path)
    })?;
    let risk_path = folder.join("risk.json");
    let risk = protocol::gaen_risk();
    files::write_atomically(&risk_path, |file| {
        serde_json::to_writer_pretty(&mut *file, &risk).in_file(&risk_path)
    })
}
