//! `bluezone gaen day`: a key's identifiers and advertisements over its rolling window.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use bluezone::ble::gaen::DEFAULT_FLAGS;
use bluezone::gaen::{Metadata, RollingProximityIdentifier, TemporaryExposureKey};
use bluezone::hex::Hex;
use bluezone::{EnIntervalNumber, ExposureNotificationAdvertisement, RollingPeriod, RollingWindow};
use serde::Serialize;

use super::Outcome;
use crate::error::Context;
use crate::output::{Report, Status, emit, instant};

/// Exposure Notification key schedule.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Derive a key's identifiers and advertisements for every interval of its rolling window.
    Day(DayArgs),
}

/// `gaen day`.
#[derive(clap::Args)]
pub struct DayArgs {
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
    /// Flags byte of the advertisement, in hex (`1a` or `0x1a`).
    #[arg(long, default_value = "1a", value_parser = parse_flags)]
    flags: u8,
    /// Print one JSON document instead of CSV.
    #[arg(long)]
    json: bool,
}

fn parse_flags(text: &str) -> Result<u8, String> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    u8::from_str_radix(digits, 16).map_err(|_| format!("`{text}` is not a byte in hex"))
}

#[derive(Serialize)]
struct Interval {
    en_interval_number: u32,
    utc_start: String,
    rpi: RollingProximityIdentifier,
    aem: bluezone::AssociatedEncryptedMetadata,
    advertisement: String,
}

#[derive(Serialize)]
struct DayReport {
    /// Printed because the user asked for the key's identifiers: it is the user's own secret.
    tek: String,
    rolling_start_interval_number: u32,
    rolling_period: u32,
    utc_start: String,
    metadata: Metadata,
    /// dBm.
    tx_power: i8,
    flags: String,
    intervals: Vec<Interval>,
}

impl Report for DayReport {
    const COMMAND: &'static str = "gaen day";

    fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "# TEK {} (secret until reported), rolling start {} ({}), period {}",
            self.tek, self.rolling_start_interval_number, self.utc_start, self.rolling_period
        )?;
        writeln!(
            out,
            "# metadata {} (v1.0, TX power {} dBm), flags {}",
            self.metadata, self.tx_power, self.flags
        )?;
        writeln!(out, "interval,utc_start,rpi,aem,advertisement")?;
        for i in &self.intervals {
            writeln!(
                out,
                "{},{},{},{},{}",
                i.en_interval_number, i.utc_start, i.rpi, i.aem, i.advertisement
            )?;
        }
        Ok(())
    }
}

/// Runs `gaen …`.
pub fn run(command: &Command, out: &mut dyn Write) -> Outcome {
    let Command::Day(args) = command;
    let start = match args.rolling_start {
        Some(start) => EnIntervalNumber::new(start),
        None => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .in_environment("the system clock")?;
            EnIntervalNumber::from_unix_seconds(now.as_secs())
                .in_environment("the system clock")?
                .day_start()
        }
    };
    let period = RollingPeriod::new(args.rolling_period).in_option("--rolling-period")?;
    let window = RollingWindow::new(start, period).in_option("--rolling-start")?;
    let tek = match &args.tek {
        Some(hex) => TemporaryExposureKey::from_bytes(
            bluezone::hex::decode_array(hex).in_option("--tek")?,
            window,
        ),
        None => TemporaryExposureKey::generate(window)
            .in_environment("randomness from the operating system")?,
    };
    let rpik = tek.rolling_proximity_identifier_key();
    let aemk = tek.associated_encrypted_metadata_key();
    let metadata = Metadata::v1_0(args.tx_power);
    let mut buffer = [RollingProximityIdentifier::default(); 144];
    let identifiers = rpik.window_identifiers(window, &mut buffer);
    let report = DayReport {
        tek: Hex(tek.expose_secret()).to_string(),
        rolling_start_interval_number: start.get(),
        rolling_period: period.get(),
        utc_start: instant(start.start_unix_seconds()).to_string(),
        metadata,
        tx_power: args.tx_power,
        flags: format!("{:02x}", args.flags),
        intervals: window
            .intervals()
            .zip(identifiers)
            .map(|(interval, rpi)| {
                let aem = aemk.encrypt(rpi, metadata);
                let payload = ExposureNotificationAdvertisement::new(*rpi, aem).encode(args.flags);
                Interval {
                    en_interval_number: interval.get(),
                    utc_start: instant(interval.start_unix_seconds()).to_string(),
                    rpi: *rpi,
                    aem,
                    advertisement: Hex(&payload).to_string(),
                }
            })
            .collect(),
    };
    emit(out, &report, args.json)?;
    if args.flags != DEFAULT_FLAGS && args.flags & 0x02 == 0 {
        eprintln!(
            "note: flags {:02x} lack LE General Discoverable (bit 1), which the specification requires",
            args.flags
        );
    }
    Ok(Status::Success)
}
