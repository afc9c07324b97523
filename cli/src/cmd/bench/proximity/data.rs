//! The experiment's databases: every advertisement, and each phone's model.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{CliError, Context};

/// One advertisement of a scenario.
#[derive(Clone, Copy, Debug)]
pub(super) struct Advertisement {
    pub(super) scenario: u8,
    pub(super) receiver: u16,
    pub(super) transmitter: u16,
    pub(super) unix_seconds: f64,
    pub(super) rssi: i8,
    /// The camera's distance, metres; `None` where the pair was not tracked.
    pub(super) distance_m: Option<f64>,
}

/// The experiment: advertisements, and each phone's model.
pub(super) struct Experiment {
    pub(super) advertisements: Vec<Advertisement>,
    pub(super) models: HashMap<u16, String>,
}

/// The files of `dir` whose names start with `prefix` and end in `.extension`, sorted (the
/// scenarios' order).
pub(super) fn files_in(
    dir: &Path,
    prefix: &str,
    extension: &str,
) -> Result<Vec<PathBuf>, CliError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .in_file(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == extension)
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    files.sort();
    Ok(files)
}

pub(super) fn load(dir: &Path) -> Result<Experiment, CliError> {
    let files = files_in(dir, "scenario", "sqlite")?;
    if files.is_empty() {
        return Err(NoScenarios).in_file(dir);
    }
    let mut advertisements = Vec::new();
    let mut models = HashMap::new();
    for (scenario, path) in (1u8..).zip(&files) {
        let db =
            rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .in_file(path)?;
        let mut statement = db
            .prepare(
                "SELECT receiver_id, receiver_model, transmitter_id, timestamp, rssi, \
                 ground_truth_distance FROM results",
            )
            .in_file(path)?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, f64>(3)?,
                    row.get::<_, i64>(4)?,
                    row.get::<_, Option<f64>>(5)?,
                ))
            })
            .in_file(path)?;
        for row in rows {
            let (receiver, model, transmitter, at, rssi, distance) = row.in_file(path)?;
            let (Ok(receiver), Ok(transmitter), Ok(rssi)) = (
                receiver.parse::<u16>(),
                transmitter.parse::<u16>(),
                i8::try_from(rssi),
            ) else {
                return Err(BadRow).in_file(path);
            };
            // A phone's model is its own, as a receiver: the transmitter column is not
            // reliable (the dataset's provenance, quirk of §7).
            models.entry(receiver).or_insert(model);
            advertisements.push(Advertisement {
                scenario,
                receiver,
                transmitter,
                unix_seconds: at,
                rssi,
                distance_m: distance,
            });
        }
    }
    Ok(Experiment {
        advertisements,
        models,
    })
}

/// A folder without scenario databases.
#[derive(Debug, thiserror::Error)]
#[error("no scenario0N-*.sqlite files: give the folder of DP-3T's experiment 34 with --data")]
pub(super) struct NoScenarios;

/// A row whose phone numbers or RSSI are not what the dataset holds.
#[derive(Debug, thiserror::Error)]
#[error("a row with a phone number that is not a number or an RSSI outside −128..127")]
pub(super) struct BadRow;
