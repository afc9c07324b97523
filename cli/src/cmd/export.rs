//! `bluezone export inspect|verify|build`: key export files.

use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use bluezone::ReportType;
use bluezone::export::bin::ExportMetadata;
use bluezone::export::verify::{self, PublicKeyRegistry, Verification};
use bluezone::export::{ExportFile, ExportFormat, Signer, write_signed};
use rand_chacha::rand_core::SeedableRng;
use serde::Serialize;

use super::Outcome;
use crate::error::{CliError, Context};
use crate::files::write_atomically;
use crate::input::{KeyArgs, bounded, read_text};
use crate::output::{Progress, Report, Status, emit, instant};

/// Key export files.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Print a file's metadata, key counts and signature status.
    Inspect(FileArgs),
    /// Exit 0 only when the file carries a valid signature by the given key.
    #[command(mut_arg("public_key", |a| a.required(true)))]
    Verify(FileArgs),
    /// Write a signed export.zip from the key server's publish JSON.
    Build(BuildArgs),
    /// The TEK HMAC of a publish request's keys under its `hmackey`, as the verification
    /// certificate carries it (spec §export.9), with and without the transmission risk.
    Hmac(HmacArgs),
}

/// `export hmac`.
#[derive(clap::Args)]
pub struct HmacArgs {
    /// The publish request: `{"temporaryExposureKeys":[…],"hmackey":"<base64>",…}`.
    #[arg(long)]
    keys: PathBuf,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct HmacReport {
    keys: usize,
    /// Base64, over `key.rollingStart.rollingPeriod.transmissionRisk`.
    hmac: String,
    /// Base64, over `key.rollingStart.rollingPeriod`.
    hmac_without_transmission_risk: String,
}

impl Report for HmacReport {
    const COMMAND: &'static str = "export hmac";

    fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "keys: {}", self.keys)?;
        writeln!(out, "TEK HMAC: {}", self.hmac)?;
        writeln!(
            out,
            "TEK HMAC without transmission risk: {}",
            self.hmac_without_transmission_risk
        )
    }
}

fn hmac(args: &HmacArgs, out: &mut dyn Write) -> Outcome {
    use bluezone::export::{publish, upload};
    let text = read_text(&args.keys)?;
    let keys = publish::parse_keys(&text).in_file(&args.keys)?;
    let secret = upload::parse_hmac_key(&text).in_file(&args.keys)?;
    let report = HmacReport {
        keys: keys.len(),
        hmac: upload::tek_hmac_base64(&secret, &keys, true),
        hmac_without_transmission_risk: upload::tek_hmac_base64(&secret, &keys, false),
    };
    emit(out, &report, args.json)?;
    Ok(Status::Success)
}

/// `export inspect` and `export verify`.
#[derive(clap::Args)]
pub struct FileArgs {
    /// An export.zip or a bare export.bin.
    file: PathBuf,
    #[command(flatten)]
    key: KeyArgs,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

/// `export build`.
#[derive(clap::Args)]
pub struct BuildArgs {
    /// `{"temporaryExposureKeys":[{"key":"<base64>","rollingStartNumber":…,…}]}`.
    #[arg(long)]
    keys: PathBuf,
    /// The signing key, PEM (PKCS#8 or SEC1).
    #[arg(long)]
    private_key: PathBuf,
    /// verification_key_id written into the signature info.
    #[arg(long)]
    key_id: String,
    /// verification_key_version written into the signature info.
    #[arg(long)]
    key_version: String,
    /// Region, for example an MCC such as 452.
    #[arg(long, default_value = "")]
    region: String,
    /// Pad with random keys up to this many keys (the reference server uses 1000; at most
    /// 1 000 000, twice the reference server's largest file).
    #[arg(long, default_value_t = 0, value_parser = bounded(0, 1_000_000))]
    pad_to: usize,
    /// Where to write the archive.
    #[arg(long)]
    out: PathBuf,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

/// Runs `export …`.
pub fn run(command: &Command, out: &mut dyn Write) -> Outcome {
    match command {
        Command::Inspect(args) => {
            let registry = args.key.registry()?;
            let report = read(&args.file, registry.as_ref(), Keys::Decode)?;
            emit(out, &report, args.json)?;
            Ok(Status::Success)
        }
        Command::Verify(args) => {
            let registry = args.key.registry()?;
            let report = VerifyReport(read(&args.file, registry.as_ref(), Keys::Skip)?);
            emit(out, &report, args.json)?;
            Ok(Status::from_ok(report.0.authentic))
        }
        Command::Build(args) => build(args, out),
        Command::Hmac(args) => hmac(args, out),
    }
}

/// Keys by report type: entry `n` counts report type `n` (0 unknown, 1 confirmed test,
/// 2 clinical diagnosis, 3 self report, 4 recursive, 5 revoked; spec §export.3).
#[derive(Clone, Copy, Default, Serialize)]
#[serde(transparent)]
struct ReportTypes([u64; 6]);

impl ReportTypes {
    fn count(&mut self, report_type: ReportType) {
        if let Some(n) = self.0.get_mut(report_type as usize) {
            *n += 1;
        }
    }
}

#[derive(Serialize)]
struct InspectReport {
    file: PathBuf,
    format: ExportFormat,
    export_bin_bytes: u64,
    metadata: ExportMetadata,
    keys: u64,
    revised_keys: u64,
    /// Only when every key was decoded (`export inspect`).
    #[serde(skip_serializing_if = "Option::is_none")]
    report_types: Option<ReportTypes>,
    signatures: usize,
    /// The verdict, when a public key was given.
    verification: Option<Verification>,
    authentic: bool,
}

/// Whether [`read`] decodes every key or only checks the signatures.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keys {
    /// Every key decoded: a bad key is an error here, not later (`export inspect`).
    Decode,
    /// Only the signatures, which cover the bytes whatever keys they hold (`export verify`).
    Skip,
}

/// Reads a whole file once, the signatures verified from the same bytes when a registry is
/// given.
fn read(
    path: &Path,
    registry: Option<&PublicKeyRegistry>,
    keys_wanted: Keys,
) -> Result<InspectReport, CliError> {
    let reader = std::fs::File::open(path).in_file(path)?;
    let mut file = ExportFile::open(BufReader::new(reader)).in_file(path)?;
    let format = file.format();
    let mut keys = file.keys(registry).in_file(path)?;
    let report_types = match keys_wanted {
        Keys::Decode => {
            let mut counts = ReportTypes::default();
            for key in keys.by_ref() {
                counts.count(key.in_file(path)?.key.report_type);
            }
            Some(counts)
        }
        Keys::Skip => None,
    };
    let summary = keys.finish().in_file(path)?;
    Ok(InspectReport {
        file: path.to_path_buf(),
        format,
        export_bin_bytes: summary.export_bin_bytes,
        keys: summary.keys,
        revised_keys: summary.revised_keys,
        report_types,
        signatures: summary.signatures,
        authentic: summary.authentic(),
        verification: summary.verification,
        metadata: summary.metadata,
    })
}

impl InspectReport {
    /// The signature verdict in words.
    fn signature(&self) -> String {
        match (&self.verification, self.signatures) {
            (_, 0) => "no export.sig".to_string(),
            (None, n) => format!("{n} signature(s), not checked (no --public-key)"),
            (Some(v), _) => v.to_string(),
        }
    }
}

impl Report for InspectReport {
    const COMMAND: &'static str = "export inspect";

    fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let meta = &self.metadata;
        let show =
            |t: Option<u64>| t.map_or_else(|| "-".to_string(), |t| format!("{t} ({})", instant(t)));
        let number = |n: Option<i32>| n.map_or_else(|| "-".to_string(), |n| n.to_string());
        let text = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".to_string());
        let container = match self.format {
            ExportFormat::Zip => "zip",
            ExportFormat::Bare => "bare export.bin",
        };
        writeln!(out, "file: {} ({container})", self.file.display())?;
        writeln!(out, "start: {}", show(meta.start_timestamp))?;
        writeln!(out, "end: {}", show(meta.end_timestamp))?;
        writeln!(out, "region: {}", text(&meta.region))?;
        writeln!(
            out,
            "batch: {}/{}",
            number(meta.batch_num),
            number(meta.batch_size)
        )?;
        for info in &meta.signature_infos {
            writeln!(
                out,
                "signature info: key id {}, version {}, algorithm {}",
                text(&info.verification_key_id),
                text(&info.verification_key_version),
                text(&info.signature_algorithm)
            )?;
        }
        writeln!(out, "keys: {}", self.keys)?;
        writeln!(out, "revised keys: {}", self.revised_keys)?;
        if let Some(ReportTypes([unknown, test, clinical, self_report, recursive, revoked])) =
            self.report_types
        {
            writeln!(
                out,
                "report types: unknown {unknown}, confirmed test {test}, clinical diagnosis {clinical}, self report {self_report}, recursive {recursive}, revoked {revoked}",
            )?;
        }
        writeln!(out, "signature: {}", self.signature())
    }
}

#[derive(Serialize)]
#[serde(transparent)]
struct VerifyReport(InspectReport);

impl Report for VerifyReport {
    const COMMAND: &'static str = "export verify";

    fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "{}: {}", self.0.file.display(), self.0.signature())
    }
}

#[derive(Serialize)]
struct BuildReport {
    file: PathBuf,
    keys: usize,
    keys_with_padding: u64,
    key_id: String,
    key_version: String,
}

impl Report for BuildReport {
    const COMMAND: &'static str = "export build";

    fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "wrote {} ({} keys, {} with padding), signed by {} {}",
            self.file.display(),
            self.keys,
            self.keys_with_padding,
            self.key_id,
            self.key_version
        )
    }
}

fn build(args: &BuildArgs, out: &mut dyn Write) -> Outcome {
    let progress = Progress::new("export build");
    progress.phase("reading the keys");
    let keys =
        bluezone::export::publish::parse_keys(&read_text(&args.keys)?).in_file(&args.keys)?;
    let signing =
        verify::signing_key_from_pem(&read_text(&args.private_key)?).in_file(&args.private_key)?;
    // The keys arrived between the start of the earliest key and the end of the latest one.
    let start = keys
        .iter()
        .map(|k| k.window.start().start_unix_seconds())
        .min();
    let end = keys
        .iter()
        .map(|k| (u64::from(k.window.last().get()) + 1) * 600)
        .max();
    let metadata = ExportMetadata {
        start_timestamp: Some(start.unwrap_or(0)),
        end_timestamp: Some(end.unwrap_or(0)),
        region: Some(args.region.clone()),
        ..ExportMetadata::default()
    };
    let count = keys.len();
    let mut rng = rand_from_os()?;
    progress.phase("signing and writing");
    let signer = Signer {
        key: &signing,
        key_id: &args.key_id,
        key_version: &args.key_version,
    };
    // Beside the target, synced and renamed: an interrupted or disk-full run leaves the old
    // file or none.
    let padded = write_atomically(&args.out, |file| {
        let written = write_signed(file, &metadata, keys, args.pad_to, &mut rng, &[signer])
            .in_file(&args.out)?;
        Ok(written.keys)
    })?;
    drop(progress);
    let report = BuildReport {
        file: args.out.clone(),
        keys: count,
        keys_with_padding: padded,
        key_id: args.key_id.clone(),
        key_version: args.key_version.clone(),
    };
    emit(out, &report, args.json)?;
    Ok(Status::Success)
}

/// A cryptographic RNG seeded from the operating system, for padding keys.
fn rand_from_os() -> Result<rand_chacha::ChaCha20Rng, CliError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).in_environment("randomness from the operating system")?;
    Ok(rand_chacha::ChaCha20Rng::from_seed(seed))
}
