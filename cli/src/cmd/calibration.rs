//! `bluezone calibration`: a phone's TX power and RSSI correction in Google's tables of 2020
//! (spec §cal).

use std::io::Write;

use bluezone::calibration::{CalibrationTable, DeviceCalibration, lookup};
use bluezone::gaen::Metadata;
use serde::Serialize;

use super::Outcome;
use crate::output::{Report, Status, emit};

/// `calibration`.
#[derive(clap::Args)]
pub struct Args {
    /// The phone's manufacturer, as Android reports it (`Build.MANUFACTURER`: `samsung`).
    #[arg(long)]
    manufacturer: String,
    /// The phone's model (`Build.MODEL`: `SM-G973F`; a variant suffix such as `/DS` is cut off).
    #[arg(long)]
    model: String,
    /// The phone's device name (`Build.DEVICE`: `beyond1`), when known: it tells models of the
    /// same name apart and finds sister devices.
    #[arg(long)]
    device: Option<String>,
    /// The table's version.
    #[arg(long, default_value = "2020-12-14", value_parser = parse_table)]
    table: CalibrationTable,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

fn parse_table(text: &str) -> Result<CalibrationTable, String> {
    CalibrationTable::from_name(text).ok_or_else(|| {
        let names: Vec<&str> = CalibrationTable::ALL.iter().map(|t| t.name()).collect();
        format!("`{text}` is not a table: one of {}", names.join(", "))
    })
}

#[derive(Serialize)]
struct CalibrationReport {
    manufacturer: String,
    model: String,
    device: Option<String>,
    #[serde(flatten)]
    calibration: DeviceCalibration,
    /// The metadata the phone advertises (version 1.1, its TX power and confidence), in hex.
    metadata: Metadata,
}

impl Report for CalibrationReport {
    const COMMAND: &'static str = "calibration";

    fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let c = &self.calibration;
        writeln!(
            out,
            "{} {}{} in the {} table:",
            self.manufacturer,
            self.model,
            self.device
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default(),
            c.table
        )?;
        writeln!(out, "TX power:        {} dBm", c.tx_power_dbm)?;
        writeln!(out, "RSSI correction: {:+} dB", c.rssi_correction_db)?;
        writeln!(out, "confidence:      {:?}", c.confidence)?;
        let rows = if c.rows == 1 { "row" } else { "rows" };
        writeln!(
            out,
            "answered by:     {} ({} {rows})",
            c.fallback.name(),
            c.rows
        )?;
        writeln!(out, "metadata:        {}", self.metadata)
    }
}

/// Runs `calibration`.
///
/// # Errors
/// The output cannot be written.
pub fn run(args: &Args, out: &mut dyn Write) -> Outcome {
    let calibration = lookup(
        args.table,
        &args.manufacturer,
        args.device.as_deref(),
        &args.model,
    );
    let report = CalibrationReport {
        manufacturer: args.manufacturer.clone(),
        model: args.model.clone(),
        device: args.device.clone(),
        calibration,
        metadata: calibration.metadata(),
    };
    emit(out, &report, args.json)?;
    Ok(Status::Success)
}
