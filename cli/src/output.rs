//! What a command prints: one report value, rendered as text or as one JSON document, and
//! progress on stderr.
//!
//! Every JSON document is one object that opens with `"schema_version"` and `"command"`. The
//! names follow one rule for every command, so that the same idea is spelled the same way:
//! instants are `unix_seconds` (or `*_unix_seconds`; `unix_ms` for Bluezone's millisecond
//! histories), days are `unix_day` (days since 1970-01-01), durations end in `_seconds`;
//! signal quantities keep the names of the GAEN API and the export format (`rssi` and
//! `tx_power` in dBm, `attenuation` and `*_attenuation_db` in dB); keys keep the export file's
//! field names (a matched key's bytes are `tek`); the F1 verdict is one object `f1` with its
//! rule and `days` in every command; byte strings are lower-case hex (Bluezone identifiers
//! upper-case, as the app wrote them).

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::error::CliError;

/// The version of every JSON document's layout; raised when a field changes meaning or goes.
pub const SCHEMA_VERSION: u32 = bluezone::risk::document::SCHEMA_VERSION;

/// A command's result, printable for people or as JSON.
pub trait Report: Serialize {
    /// The command, as its JSON document names it (for example `export inspect`).
    const COMMAND: &'static str;

    /// Writes the report for people.
    ///
    /// # Errors
    /// The writer's.
    fn human(&self, out: &mut dyn Write) -> io::Result<()>;
}

#[derive(Serialize)]
struct Document<'a, R> {
    schema_version: u32,
    command: &'static str,
    #[serde(flatten)]
    report: &'a R,
}

/// Prints `report` as text, or as one JSON document on one line.
///
/// # Errors
/// [`CliError::Output`] when writing fails.
pub fn emit<R: Report>(out: &mut dyn Write, report: &R, json: bool) -> Result<(), CliError> {
    if json {
        let document = Document {
            schema_version: SCHEMA_VERSION,
            command: R::COMMAND,
            report,
        };
        serde_json::to_writer(&mut *out, &document).map_err(io::Error::from)?;
        writeln!(out)?;
    } else {
        report.human(out)?;
    }
    Ok(())
}

/// Whether a command did what its user asked (exit 0) or found something wrong (exit 1),
/// once its report is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Exit 0.
    Success,
    /// Exit 1.
    Failure,
}

impl Status {
    /// `Success` when `ok`.
    pub const fn from_ok(ok: bool) -> Self {
        if ok { Self::Success } else { Self::Failure }
    }
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> Self {
        match status {
            Status::Success => Self::SUCCESS,
            Status::Failure => Self::FAILURE,
        }
    }
}

/// Progress of long work on stderr: a live line on a terminal, otherwise one line per phase.
#[derive(Debug)]
pub struct Progress {
    command: &'static str,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Progress for `command` (for example `match`).
    pub fn new(command: &'static str) -> Self {
        let bar = io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} bluezone {prefix}: {msg} {pos} [{elapsed}]",
                )
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(command);
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            bar
        });
        Self { command, bar }
    }

    /// A new phase begins.
    pub fn phase(&self, what: &str) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(0);
                bar.set_message(what.to_string());
            }
            None => eprintln!("bluezone {}: {what}", self.command),
        }
    }

    /// Items done so far in this phase (shown on a terminal only).
    pub fn count(&self, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `YYYY-MM-DD` of a UTC day.
pub fn date(unix_day: u64) -> bluezone::time::UtcDate {
    bluezone::time::UtcDate::from_unix_day(unix_day)
}

/// ISO 8601 of an instant.
pub fn instant(unix_seconds: u64) -> bluezone::time::UtcDateTime {
    bluezone::time::UtcDateTime::from_unix_seconds(unix_seconds)
}

/// A duration for people: milliseconds below one second, seconds above.
#[derive(Clone, Copy, Debug)]
pub struct Elapsed(pub std::time::Duration);

impl std::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seconds = self.0.as_secs_f64();
        if seconds < 1.0 {
            write!(f, "{:.2} ms", seconds * 1000.0)
        } else {
            write!(f, "{seconds:.2} s")
        }
    }
}
