//! `bluezone state`: what a match-state folder holds (spec/state.md).

use std::io::Write;
use std::path::PathBuf;

use bluezone::matching::state::{MatchState, StateInspection};
use serde::Serialize;

use super::Outcome;
use crate::output::{Report, Status, date, emit, instant};

/// Match-state folders.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Read every file of a state without changing it: counts, log coverage, damage, and
    /// what a cut run left behind. Exits 1 when something is damaged.
    Inspect(InspectArgs),
}

/// `state inspect`.
#[derive(clap::Args)]
pub struct InspectArgs {
    /// The state folder.
    dir: PathBuf,
    /// The state's key file, for a state made with one (see `match --state-key-file`).
    #[arg(long)]
    state_key_file: Option<PathBuf>,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct InspectReport {
    dir: PathBuf,
    #[serde(flatten)]
    inspection: StateInspection,
}

impl Report for InspectReport {
    const COMMAND: &'static str = "state inspect";

    fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let i = &self.inspection;
        match &i.summary {
            None => writeln!(out, "{}: no readable manifest", self.dir.display())?,
            Some(s) => {
                writeln!(
                    out,
                    "match state {}: {} runs, results kept {} days",
                    self.dir.display(),
                    s.generation,
                    s.keep_days
                )?;
                if s.coverage_until == 0 {
                    writeln!(out, "log coverage: never checked")?;
                } else {
                    writeln!(out, "log complete up to {}", instant(s.coverage_until))?;
                }
                for (day, count) in &s.log_days {
                    writeln!(out, "  {}: {count} sightings", date(u64::from(*day)))?;
                }
                writeln!(
                    out,
                    "files read: {}; keys {} (every copy counted), {} report-type changes",
                    s.files_read, s.keys_total, s.report_type_transitions
                )?;
                writeln!(
                    out,
                    "checked with no match: {} keys in {} segments; matched: {} keys ({} not final); not final and not matched: {} keys",
                    s.keys_checked, s.segments, s.keys_matched, s.matches_pending, s.keys_pending,
                )?;
                if s.unauthentic_files > 0 {
                    writeln!(
                        out,
                        "read without a valid signature: {} files, which brought {} matched keys",
                        s.unauthentic_files, s.unauthentic_matches
                    )?;
                }
                writeln!(
                    out,
                    "manifest: {}",
                    if s.keyed {
                        "authenticated with the state key"
                    } else {
                        "checksummed, not authenticated (anyone who can write the folder can change it)"
                    }
                )?;
            }
        }
        if i.damage.is_empty() {
            writeln!(out, "damage: none")?;
        }
        for d in &i.damage {
            writeln!(
                out,
                "damaged: {}: {} (rebuild with `bluezone match --state DIR --rebuild-state`)",
                d.file.display(),
                d.reason
            )?;
        }
        for file in &i.leftovers {
            writeln!(
                out,
                "left by a cut run (removed by the next run): {}",
                file.display()
            )?;
        }
        Ok(())
    }
}

/// Runs `state`.
pub fn run(command: &Command, out: &mut dyn Write) -> Outcome {
    match command {
        Command::Inspect(args) => {
            let key = args
                .state_key_file
                .as_deref()
                .map(crate::input::state_key)
                .transpose()?;
            let inspection = MatchState::inspect(&args.dir, key.as_ref())
                .map_err(bluezone::risk::CheckError::State)?;
            let ok = inspection.damage.is_empty();
            let report = InspectReport {
                dir: args.dir.clone(),
                inspection,
            };
            emit(out, &report, args.json)?;
            Ok(Status::from_ok(ok))
        }
    }
}
