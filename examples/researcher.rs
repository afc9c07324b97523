//! A researcher's run: match a real export file against an encounter CSV and look at every
//! match, the rules' rejections and the risk assessment.
//!
//! Run: `cargo run --features export --example researcher [EXPORT_ZIP] [ENCOUNTERS_CSV]`. With no
//! arguments it uses the companion demo sample in `test-vectors/export-samples/`.

use std::path::PathBuf;

use bluezone::encounter::csv::parse_csv;
use bluezone::risk::{CheckSettings, check_exposure};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("test-vectors/export-samples");
    let mut args = std::env::args().skip(1);
    let export = args
        .next()
        .map_or_else(|| samples.join("companion-demo_dks.zip"), PathBuf::from);
    let csv = args.next().map_or_else(
        || samples.join("companion-demo-encounters.csv"),
        PathBuf::from,
    );

    let sightings = parse_csv(&std::fs::read_to_string(&csv)?).collect::<Result<Vec<_>, _>>()?;
    // The companion sample is not signed: a researcher says so explicitly, and the report
    // still names each file that was matched without being authentic.
    let settings = CheckSettings {
        allow_unauthentic: true,
        ..CheckSettings::default()
    };
    let report = check_exposure(&[&export], sightings, &settings, |_, _| {})?;
    for file in report.files.iter().filter(|f| !f.summary.authentic()) {
        println!("matched without a valid signature: {}", file.path.display());
    }
    let outcome = &report.outcome;
    let r = &outcome.rejected;
    println!(
        "{} keys, {} matched; rejected: {} outside the tolerance, {} replayed, {} by TX power",
        outcome.keys_total,
        outcome.keys_matched,
        r.outside_tolerance,
        r.replayed,
        r.tx_power_out_of_range
    );
    for m in &outcome.matches {
        println!(
            "key {} from interval {}: {} sightings",
            bluezone::hex::Hex(&m.key.key_data),
            m.key.window.start(),
            m.sightings.len()
        );
        for s in m.sightings.iter().take(3) {
            println!(
                "  {} rpi {} interval {} rssi {} tx {} attenuation {} dB",
                s.unix_seconds, s.rpi, s.en_interval_number, s.rssi, s.tx_power, s.attenuation
            );
        }
    }
    let risk = &report.risk;
    println!(
        "{} exposure windows; F1 at {} dB / 15 min: {}",
        risk.exposure_windows.len(),
        bluezone::risk::F1Rule::default().attenuation_threshold_db,
        risk.f1.f1
    );
    Ok(())
}
