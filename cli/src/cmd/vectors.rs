//! `bluezone vectors verify`: check vector files against this crate.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;

use super::Outcome;
use crate::output::{Report, Status, emit};

/// Test-vector files.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Check vector files against this crate; prints each failure and `N passed, M failed`.
    Verify(VerifyArgs),
}

/// `vectors verify`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// JSON vector files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct FileResult {
    file: PathBuf,
    kind: Option<String>,
    passed: usize,
    failures: Vec<bluezone::vectors::Failure>,
    /// Why the file is not a vector file.
    error: Option<String>,
}

#[derive(Serialize)]
struct VerifyReport {
    files: Vec<FileResult>,
    passed: usize,
    failed: usize,
    bad_files: usize,
}

impl Report for VerifyReport {
    const COMMAND: &'static str = "vectors verify";

    fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for file in &self.files {
            for failure in &file.failures {
                writeln!(
                    out,
                    "FAIL {}: {}: {}",
                    file.file.display(),
                    failure.vector,
                    failure.message
                )?;
            }
            if let Some(error) = &file.error {
                writeln!(out, "ERROR {}: {error}", file.file.display())?;
            }
        }
        if self.bad_files > 0 {
            writeln!(out, "{} file(s) are not valid vector files", self.bad_files)?;
        }
        writeln!(out, "{} passed, {} failed", self.passed, self.failed)
    }
}

/// Runs `vectors …`.
pub fn run(command: &Command, out: &mut dyn Write) -> Outcome {
    let Command::Verify(args) = command;
    let files: Vec<FileResult> = args
        .files
        .iter()
        .map(|file| match bluezone::vectors::check_file(file) {
            Ok(report) => FileResult {
                file: file.clone(),
                kind: Some(report.kind),
                passed: report.passed,
                failures: report.failures,
                error: None,
            },
            Err(e) => FileResult {
                file: file.clone(),
                kind: None,
                passed: 0,
                failures: Vec::new(),
                error: Some(e.to_string()),
            },
        })
        .collect();
    let report = VerifyReport {
        passed: files.iter().map(|f| f.passed).sum(),
        failed: files.iter().map(|f| f.failures.len()).sum(),
        bad_files: files.iter().filter(|f| f.error.is_some()).count(),
        files,
    };
    emit(out, &report, args.json)?;
    Ok(Status::from_ok(report.failed == 0 && report.bad_files == 0))
}
