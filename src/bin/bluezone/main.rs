//! `bluezone`: the command-line tool of the `bluezone` crate.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use bluezone::ble::gaen::DEFAULT_FLAGS;
use bluezone::gaen::{Metadata, RollingProximityIdentifier, TemporaryExposureKey};
use bluezone::time::UtcDateTime;
use bluezone::{EnIntervalNumber, ExposureNotificationAdvertisement, RollingPeriod, RollingWindow};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "bluezone",
    version,
    about = "Proximity-tracing protocols: GAEN v1.2 and Bluezone 2020"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Test-vector files.
    #[command(subcommand)]
    Vectors(VectorsCommand),
    /// Exposure Notification (GAEN v1.2) key schedule.
    #[command(subcommand)]
    Gaen(GaenCommand),
}

#[derive(Subcommand)]
enum VectorsCommand {
    /// Check vector files against this crate; prints each failure and `N passed, M failed`.
    Verify {
        /// JSON vector files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum GaenCommand {
    /// Derive a key's identifiers and advertisements for every interval of its rolling window.
    Day {
        /// The TEK as 32 hex digits; a fresh random key when omitted.
        #[arg(long)]
        tek: Option<String>,
        /// First interval number of the key; the start of the current UTC day when omitted.
        #[arg(long)]
        rolling_start: Option<u32>,
        /// Number of intervals, 1..=144.
        #[arg(long, default_value_t = 144)]
        rolling_period: u32,
        /// TX power in dBm written into the metadata (v1.0).
        #[arg(long, default_value_t = -15, allow_negative_numbers = true)]
        tx_power: i8,
        /// Flags byte of the advertisement, in hex.
        #[arg(long, default_value = "1a")]
        flags: String,
    },
}

/// A failed command: a message for the user, or an output error.
enum Failure {
    Usage(String),
    Io(io::Error),
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self::Usage(message)
    }
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

type Outcome = Result<ExitCode, Failure>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = BufWriter::new(io::stdout().lock());
    let result = match cli.command {
        Command::Vectors(VectorsCommand::Verify { files }) => verify(&mut out, &files),
        Command::Gaen(GaenCommand::Day {
            tek,
            rolling_start,
            rolling_period,
            tx_power,
            flags,
        }) => gaen_day(
            &mut out,
            tek.as_deref(),
            rolling_start,
            rolling_period,
            tx_power,
            &flags,
        ),
    }
    .and_then(|code| out.flush().map(|()| code).map_err(Failure::Io));
    match result {
        Ok(code) => code,
        // A reader that stopped early (`| head`) is not an error of ours.
        Err(Failure::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(Failure::Io(e)) => {
            eprintln!("bluezone: cannot write output: {e}");
            ExitCode::FAILURE
        }
        Err(Failure::Usage(message)) => {
            eprintln!("bluezone: {message}");
            ExitCode::FAILURE
        }
    }
}

fn verify(out: &mut impl Write, files: &[PathBuf]) -> Outcome {
    let (mut passed, mut failed, mut bad_files) = (0usize, 0usize, 0usize);
    for file in files {
        match bluezone::vectors::check_file(file) {
            Ok(report) => {
                passed += report.passed;
                failed += report.failures.len();
                for failure in &report.failures {
                    writeln!(
                        out,
                        "FAIL {}: {}: {}",
                        file.display(),
                        failure.vector,
                        failure.message
                    )?;
                }
            }
            Err(e) => {
                bad_files += 1;
                writeln!(out, "ERROR {}: {e}", file.display())?;
            }
        }
    }
    if bad_files > 0 {
        writeln!(out, "{bad_files} file(s) are not valid vector files")?;
    }
    writeln!(out, "{passed} passed, {failed} failed")?;
    Ok(if failed == 0 && bad_files == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn gaen_day(
    out: &mut impl Write,
    tek: Option<&str>,
    rolling_start: Option<u32>,
    rolling_period: u32,
    tx_power: i8,
    flags: &str,
) -> Outcome {
    let flags = u8::from_str_radix(flags, 16).map_err(|e| format!("--flags {flags:?}: {e}"))?;
    let start = match rolling_start {
        Some(start) => EnIntervalNumber::new(start),
        None => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_err(|e| format!("system clock before 1970: {e}"))?;
            EnIntervalNumber::from_unix_seconds(now.as_secs())
                .map_err(|e| e.to_string())?
                .day_start()
        }
    };
    let period =
        RollingPeriod::new(rolling_period).map_err(|e| format!("--rolling-period: {e}"))?;
    let window = RollingWindow::new(start, period).map_err(|e| e.to_string())?;
    let tek = match tek {
        Some(hex) => {
            let bytes: RollingProximityIdentifier =
                hex.parse().map_err(|e| format!("--tek: {e}"))?;
            TemporaryExposureKey::from_bytes(bytes.to_bytes(), window)
        }
        None => TemporaryExposureKey::generate(window)
            .map_err(|e| format!("no randomness from the operating system: {e}"))?,
    };
    let rpik = tek.rolling_proximity_identifier_key();
    let aemk = tek.associated_encrypted_metadata_key();
    let metadata = Metadata::v1_0(tx_power);
    let mut buffer = [RollingProximityIdentifier::default(); 144];
    let identifiers = rpik.window_identifiers(window, &mut buffer);

    writeln!(
        out,
        "# TEK {} (secret until reported), rolling start {} ({}), period {}",
        bluezone::hex::Hex(tek.expose_secret()),
        start,
        UtcDateTime::from_unix_seconds(start.start_unix_seconds()),
        period.get()
    )?;
    writeln!(
        out,
        "# metadata {metadata} (v1.0, TX power {tx_power} dBm), flags {flags:02x}"
    )?;
    writeln!(out, "interval,utc_start,rpi,aem,advertisement")?;
    for (interval, rpi) in window.intervals().zip(identifiers) {
        let aem = aemk.encrypt(rpi, metadata);
        let payload = ExposureNotificationAdvertisement::new(*rpi, aem).encode(flags);
        writeln!(
            out,
            "{},{},{},{},{}",
            interval,
            UtcDateTime::from_unix_seconds(interval.start_unix_seconds()),
            rpi,
            aem,
            bluezone::hex::Hex(&payload)
        )?;
    }
    if flags != DEFAULT_FLAGS && flags & 0x02 == 0 {
        eprintln!(
            "note: flags {flags:02x} lack LE General Discoverable (bit 1), which the specification requires"
        );
    }
    Ok(ExitCode::SUCCESS)
}
