//! `bluezone demo`: a small town for a fortnight, end to end.
//!
//! People live in households, work in groups and meet strangers in shops and on transport
//! ([`town`]). Two thirds of the phones speak GAEN, the rest the Bluezone 2020 scheme
//! ([`phones`]); a phone only hears phones of its own kind. Every sighting goes through the
//! real encounter log; confirmed cases publish a signed `export.zip` (GAEN) and an F0 list
//! (Bluezone); every phone verifies, matches and decides F1 ([`protocol`]); and the result is
//! compared with the simulation's ground truth ([`truth`]) and told ([`report`]).

mod phones;
mod protocol;
mod report;
mod town;
mod truth;

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

use super::Outcome;
use crate::error::{CliError, Context};
use crate::files;
use crate::input::bounded;
use crate::output::{Progress, Status, emit};
use phones::{Kind, Phone};
use report::DemoReport;
use town::{FIRST_DAY, uniform};

/// `demo`.
#[derive(clap::Args)]
pub struct Args {
    /// People in the town (2 to 20 000).
    #[arg(long, default_value_t = 2000, value_parser = bounded(2, 20_000))]
    people: usize,
    /// Days simulated (1 to 14).
    #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(u64).range(1..=14))]
    days: u64,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 2021)]
    seed: u64,
    /// Keep the generated logs, export.zip and f0.json in this folder (new or empty).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

/// Set by the interrupt handler; the demo's loops check it and stop.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Stops the run when it was interrupted.
pub(crate) fn check_interrupt() -> Result<(), CliError> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        return Err(Interrupted).in_environment("the demo");
    }
    Ok(())
}

/// The user interrupted the run.
#[derive(Debug, thiserror::Error)]
#[error("interrupted; the temporary folder was removed")]
struct Interrupted;

/// `--out` names a folder that already holds something.
#[derive(Debug, thiserror::Error)]
#[error(
    "not empty: the demo writes a fresh town's logs and files, so --out must be a new or empty folder"
)]
struct OutNotEmpty;

/// Runs `demo`.
pub fn run(args: &Args, out: &mut dyn Write) -> Outcome {
    let progress = Progress::new("demo");
    let started = Instant::now();
    progress.phase("deriving every phone's keys and identifiers");
    let mut rng = ChaCha20Rng::seed_from_u64(args.seed);
    let (people, days) = (args.people, args.days);
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

    let phones: Vec<Phone> = (0..people)
        .map(|_| Phone::generate(days, &mut rng))
        .collect();
    let positives: Vec<usize> = (0..people).filter(|_| uniform(&mut rng) < 0.02).collect();
    let is_positive: Vec<bool> = (0..people).map(|p| positives.contains(&p)).collect();

    progress.phase("simulating encounters and writing the encounter logs");
    let contacts = town::simulate(people, days, &mut rng);
    let close = truth::exposure(&contacts, &is_positive);
    let mut logs = protocol::sightings(&phones, &contacts, &mut rng);
    let total_sightings: usize = logs.iter().map(Vec::len).sum();
    let logs_folder = folder.join("logs");
    protocol::write_logs(&logs_folder, &mut logs)?;
    drop(logs);
    let simulated = started.elapsed();

    progress.phase("publishing the cases' keys");
    let publication = protocol::publish(&phones, &positives, days, &folder, &mut rng)?;

    progress.phase("every phone verifies, matches and decides");
    let matching_started = Instant::now();
    let now = (FIRST_DAY + days) * 86_400 - 1;
    let mut warned = vec![false; people];
    let mut warnings = Vec::new();
    for (person, phone) in phones.iter().enumerate() {
        check_interrupt()?;
        if is_positive.get(person).copied().unwrap_or(false) {
            continue;
        }
        if let Some(evidence) = protocol::decide(person, phone, &logs_folder, &publication, now)? {
            if let Some(flag) = warned.get_mut(person) {
                *flag = true;
            }
            warnings.push(evidence);
        }
        progress.count(person as u64 + 1);
    }
    let matching = matching_started.elapsed();
    let ground_truth = truth::compare(&phones, &is_positive, &warned, &close);
    if args.out.is_some() {
        // What a reader of the kept files needs to check them against the run.
        let truth_path = folder.join("truth.json");
        let truth = serde_json::json!({
            "seed": args.seed,
            "people": people,
            "days": days,
            "positives": positives,
            "protocols": phones
                .iter()
                .map(|p| if p.kind == Kind::Gaen { "gaen" } else { "bluezone" })
                .collect::<Vec<_>>(),
            "warned": warned
                .iter()
                .enumerate()
                .filter(|(_, w)| **w)
                .map(|(person, _)| person)
                .collect::<Vec<_>>(),
            "key_id": protocol::KEY_ID,
            "key_version": protocol::KEY_VERSION,
            "bluezone_close_rssi_dbm": protocol::BLUEZONE_CLOSE_RSSI,
        });
        files::write_atomically(&truth_path, |file| {
            serde_json::to_writer_pretty(&mut *file, &truth).in_file(&truth_path)
        })?;
    }
    drop(progress);
    let report = DemoReport {
        people,
        days,
        seed: args.seed,
        gaen_phones: phones.iter().filter(|p| p.kind == Kind::Gaen).count(),
        positives: positives.len(),
        contacts: contacts.len(),
        sightings: total_sightings,
        export_keys: publication.export_keys,
        f0_entries: publication.f0.entries.len(),
        warned: warnings.len(),
        warnings,
        agrees_with_ground_truth: ground_truth.agrees(),
        ground_truth,
        simulation_seconds: simulated.as_secs_f64(),
        matching_seconds: matching.as_secs_f64(),
        folder: args.out.clone(),
    };
    emit(out, &report, args.json)?;
    Ok(Status::from_ok(report.agrees_with_ground_truth))
}
