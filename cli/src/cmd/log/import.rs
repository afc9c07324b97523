//! `log import`: every line checked first, then only the records the log does not hold yet,
//! through a journal, so that an import can be repeated and one that was cut is finished by the
//! next.

use std::io::Write;
use std::path::PathBuf;

use bluezone::blid::{HistoryLine, TimeUnit};
use bluezone::encounter::Sighting;
use bluezone::encounter::csv::{CsvLine, NoSightings};
use bluezone::encounter::frame::Damage;
use bluezone::encounter::log::{EncounterLog, LogItem};
use serde::Serialize;

use super::ImportArgs;
use crate::cmd::Outcome;
use crate::error::{CliError, Context};
use crate::input::{
    EmptyCsv, IMPORT_JOURNAL, history_sighting, history_sightings, numbered_csv_sightings,
    plausible_time,
};
use crate::output::{Progress, Report, Status, emit};

#[derive(Serialize)]
struct Repaired {
    segment: PathBuf,
    removed: Damage,
}

#[derive(Serialize)]
struct ImportReport {
    log: PathBuf,
    gaen_sightings: usize,
    bluezone_sightings: usize,
    /// Records of the input the log held already: not added again.
    already_in_log: usize,
    /// Records of an import that was cut, added now.
    finished_cut_import: usize,
    /// Bytes after the last intact frame of a segment, removed before appending.
    repairs: Vec<Repaired>,
}

impl Report for ImportReport {
    const COMMAND: &'static str = "log import";

    fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for repair in &self.repairs {
            writeln!(
                out,
                "removed from {} before appending: {}",
                repair.segment.display(),
                repair.removed
            )?;
        }
        if self.finished_cut_import > 0 {
            writeln!(
                out,
                "finished an import that was cut: {} records added",
                self.finished_cut_import
            )?;
        }
        writeln!(
            out,
            "imported {} GAEN and {} Bluezone sightings into {}",
            self.gaen_sightings,
            self.bluezone_sightings,
            self.log.display()
        )?;
        if self.already_in_log > 0 {
            writeln!(
                out,
                "{} records were in the log already and were not added again",
                self.already_in_log
            )?;
        }
        Ok(())
    }
}

/// A journal that is not one this tool wrote.
#[derive(Debug, thiserror::Error)]
#[error("line {0}: not a journal line of `bluezone log import`")]
struct BadJournal(usize);

/// The journal's line of one record: `g,` and a CSV line, or `b,` and a history line in
/// milliseconds.
fn journal_line(sighting: &Sighting) -> String {
    match sighting {
        Sighting::Gaen(s) => format!("g,{}", CsvLine(s)),
        Sighting::Bluezone(s) => format!("b,{}", HistoryLine::from(s)),
    }
}

/// The records of a journal; `None` when it is not whole (then nothing of it was appended).
pub(super) fn read_journal(path: &std::path::Path) -> Result<Option<Vec<Sighting>>, CliError> {
    let text = std::fs::read_to_string(path).in_file(path)?;
    let mut records = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if let Some(count) = line.strip_prefix("end,") {
            return Ok((count.parse::<usize>().ok() == Some(records.len())).then_some(records));
        }
        let record = if let Some(csv) = line.strip_prefix("g,") {
            Sighting::Gaen(
                bluezone::encounter::csv::parse_csv_line(csv)
                    .map_err(|_| BadJournal(number))
                    .in_file(path)?,
            )
        } else if let Some(history) = line.strip_prefix("b,") {
            history_sighting(number, history, TimeUnit::Milliseconds)
                .map_err(|_| BadJournal(number))
                .in_file(path)?
        } else {
            return Err(BadJournal(number)).in_file(path);
        };
        records.push(record);
    }
    Ok(None)
}

/// Adds to the log the records it does not hold yet (counting repeats: a record the input
/// holds twice and the log once is added once), through the journal; returns how many were
/// added.
fn add_new(
    log: &mut EncounterLog,
    dir: &std::path::Path,
    records: Vec<Sighting>,
) -> Result<usize, CliError> {
    let mut held: std::collections::HashMap<Sighting, u64> = std::collections::HashMap::new();
    if !log.segments().in_file(dir)?.is_empty() {
        for item in log.read().in_file(dir)? {
            if let LogItem::Record(record) = item.in_file(dir)? {
                *held.entry(record).or_insert(0) += 1;
            }
        }
    }
    let new: Vec<Sighting> = records
        .into_iter()
        .filter(|record| match held.get_mut(record) {
            Some(count) if *count > 0 => {
                *count -= 1;
                false
            }
            _ => true,
        })
        .collect();
    if new.is_empty() {
        return Ok(0);
    }
    // The journal is whole before anything is appended: written aside, synced, renamed.
    let journal = dir.join(IMPORT_JOURNAL);
    let tmp = dir.join(format!("{IMPORT_JOURNAL}.tmp"));
    {
        let mut text = String::new();
        for record in &new {
            text.push_str(&journal_line(record));
            text.push('\n');
        }
        text.push_str(&format!("end,{}\n", new.len()));
        let mut file = std::fs::File::create(&tmp).in_file(&tmp)?;
        file.write_all(text.as_bytes()).in_file(&tmp)?;
        file.sync_all().in_file(&tmp)?;
    }
    std::fs::rename(&tmp, &journal).in_file(&journal)?;
    for batch in new.chunks(4096) {
        log.append_all(batch.iter()).in_file(dir)?;
    }
    log.sync().in_file(dir)?;
    std::fs::remove_file(&journal).in_file(&journal)?;
    Ok(new.len())
}

/// Finishes an import into `dir` that was cut: a whole journal's records are added (those not
/// in the log yet); a journal cut while it was written never reached the log and is dropped.
fn finish_cut_import(log: &mut EncounterLog, dir: &std::path::Path) -> Result<usize, CliError> {
    let tmp = dir.join(format!("{IMPORT_JOURNAL}.tmp"));
    if tmp.exists() {
        std::fs::remove_file(&tmp).in_file(&tmp)?;
    }
    let journal = dir.join(IMPORT_JOURNAL);
    if !journal.exists() {
        return Ok(0);
    }
    let added = match read_journal(&journal)? {
        Some(records) => add_new(log, dir, records)?,
        None => 0,
    };
    if journal.exists() {
        std::fs::remove_file(&journal).in_file(&journal)?;
    }
    Ok(added)
}

/// Every sighting of the inputs, in order: the CSV file's, then the history's.
///
/// Each sighting's time must lie between 2020 and `now` plus a day (spec §enc.3): a time
/// outside is refused with its line, since it is almost always milliseconds read as seconds.
fn sightings(
    args: &ImportArgs,
    unit: TimeUnit,
    now: u64,
) -> impl Iterator<Item = Result<Sighting, CliError>> + '_ {
    let csv = args.csv.iter().flat_map(move |path| {
        numbered_csv_sightings(path).map(move |item| {
            let (line, s) = item?;
            plausible_time(line, s.unix_seconds, now).in_file(path)?;
            Ok(Sighting::Gaen(s))
        })
    });
    let history = args.history.iter().flat_map(move |path| {
        history_sightings(path, unit).map(move |item| {
            let (line, s) = item?;
            plausible_time(line, s.unix_seconds(), now).in_file(path)?;
            Ok(s)
        })
    });
    csv.chain(history)
}

pub(super) fn import(args: &ImportArgs, out: &mut dyn Write) -> Outcome {
    let unit = TimeUnit::from(args.unit);
    let now = bluezone::time::wall_clock();
    let progress = Progress::new("log import");
    // First pass: check every line, so a bad file writes nothing.
    progress.phase("checking every line");
    if let Some(path) = &args.csv
        && std::fs::metadata(path).in_file(path)?.len() == 0
    {
        return Err(EmptyCsv).in_file(path);
    }
    let (mut gaen, mut bluezone) = (0usize, 0usize);
    for sighting in sightings(args, unit, now) {
        match sighting? {
            Sighting::Gaen(_) => gaen += 1,
            Sighting::Bluezone(_) => bluezone += 1,
        }
        progress.count((gaen + bluezone) as u64);
    }
    if let Some(path) = &args.csv
        && gaen == 0
    {
        return Err(NoSightings).in_file(path);
    }
    // Second pass: the records, added through the journal.
    progress.phase("appending");
    let mut log = EncounterLog::open(&args.out).in_file(&args.out)?;
    let finished_cut_import = finish_cut_import(&mut log, &args.out)?;
    let records = sightings(args, unit, now).collect::<Result<Vec<_>, _>>()?;
    let total = records.len();
    let added = add_new(&mut log, &args.out, records)?;
    progress.count(added as u64);
    let report = ImportReport {
        log: args.out.clone(),
        gaen_sightings: gaen,
        bluezone_sightings: bluezone,
        already_in_log: total - added,
        finished_cut_import,
        repairs: log
            .repairs()
            .iter()
            .map(|r| Repaired {
                segment: r.segment.clone(),
                removed: r.removed,
            })
            .collect(),
    };
    drop(progress);
    emit(out, &report, args.json)?;
    Ok(Status::Success)
}
