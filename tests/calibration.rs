//! Google's calibration tables against evidence nobody on the team wrote (spec §cal): every
//! published row read back by the lookup, DP-3T's transcription of the December table, and
//! the values MIT-LL read off phones in the field with `dumpsys`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]

use std::collections::HashSet;
use std::path::Path;

use bluezone::calibration::{CalibrationTable, Fallback, lookup};
use bluezone::gaen::CalibrationConfidence;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// Checks spec §cal.1 and §cal.2: each published row, read here with a plain split (the five
/// quoted June rows aside), is what an exact lookup of its manufacturer, device and model
/// answers, unless an earlier row already has that key.
#[test]
fn cal_2_every_published_row_is_its_own_exact_lookup() {
    for (table, file, with_device) in [
        (
            CalibrationTable::June2020,
            "data/calibration/google-en-calibration-2020-06-13.csv",
            false,
        ),
        (
            CalibrationTable::September2020,
            "data/calibration/google-en-calibration-2020-09-30.from-microg.csv",
            true,
        ),
        (
            CalibrationTable::December2020,
            "data/calibration/google-en-calibration-2020-12-14.from-microg.csv",
            true,
        ),
    ] {
        let text = read(file);
        let mut seen = HashSet::new();
        let mut checked = 0;
        for line in text.lines().skip(1).map(|l| l.trim_end_matches('\r')) {
            if line.contains('"') {
                continue;
            }
            let f: Vec<&str> = line.split(',').collect();
            let (oem, device, model, rest) = if with_device {
                (f[0], Some(f[1]), f[2], &f[3..])
            } else {
                (f[0], None, f[1], &f[2..])
            };
            let key = (
                oem.to_ascii_lowercase(),
                device.map(str::to_ascii_lowercase),
                bluezone::calibration::normalise_model(model).to_ascii_lowercase(),
            );
            if !seen.insert(key) {
                continue;
            }
            let confidence = match rest[2] {
                "yes" | "3" => CalibrationConfidence::High,
                "no" => CalibrationConfidence::Low,
                other => panic!("{file}: confidence {other}"),
            };
            let found = lookup(table, oem, device, model);
            assert_eq!(found.fallback, Fallback::Exact, "{file}: {line}");
            assert_eq!(
                (
                    found.rssi_correction_db,
                    found.tx_power_dbm,
                    found.confidence
                ),
                (
                    rest[0].parse().unwrap(),
                    rest[1].parse().unwrap(),
                    confidence
                ),
                "{file}: {line}"
            );
            checked += 1;
        }
        assert!(checked > 450, "{file}: {checked} rows checked");
    }
}

/// Checks spec §cal.2 against DP-3T's `measurements.py`, which lists Google's December values
/// for the phones of experiment 34 (transcribed in `incoming/PROVENANCE.md` §1).
#[test]
fn cal_2_dp3t_lists_the_december_values() {
    for (model, rssi, tx) in [
        ("SM-G973F", 2, -29),
        ("SM-A405FN", 2, -23),
        ("SM-A515F", 2, -28),
    ] {
        let found = lookup(CalibrationTable::December2020, "samsung", None, model);
        assert_eq!(
            (found.rssi_correction_db, found.tx_power_dbm, found.fallback),
            (rssi, tx, Fallback::Exact),
            "{model}"
        );
    }
}

/// The Android phones of MIT-LL's beacon study (`phone_hardware.csv`, by its `id`, which
/// `phones.csv` calls `phone_id`) as Android names them: manufacturer, `Build.DEVICE` and
/// `Build.MODEL`. The mapping from MIT-LL's descriptions ("Galaxy S5 SM-G900V", "g7") is ours.
const MITLL_PHONES: [(&str, &str, Option<&str>, &str); 16] = [
    ("1", "samsung", Some("a50"), "SM-A505U1"),
    ("2", "samsung", Some("a50"), "SM-A505U1"),
    ("3", "samsung", Some("kltevzw"), "SM-G900V"),
    ("4", "samsung", Some("kltevzw"), "SM-G900V"),
    ("5", "samsung", Some("zerofltevzw"), "SM-G920V"),
    ("6", "samsung", Some("zerofltevzw"), "SM-G920V"),
    ("7", "samsung", Some("heroqltevzw"), "SM-G930V"),
    ("8", "samsung", Some("heroqltevzw"), "SM-G930V"),
    ("9", "google", Some("sargo"), "Pixel 3a"),
    ("10", "google", Some("sargo"), "Pixel 3a"),
    ("11", "motorola", Some("surfna"), "moto e6"),
    ("12", "motorola", Some("surfna"), "moto e6"),
    ("13", "motorola", Some("river"), "moto g(7)"),
    ("14", "motorola", Some("river"), "moto g(7)"),
    ("15", "google", Some("walleye"), "Pixel 2"),
    ("16", "google", Some("walleye"), "Pixel 2"),
];

/// The table Google's engine used on a test's day: the September table until its December
/// successor reached the phones, the December one from 2021. Readings of 22–23 December 2020
/// are left out: the phones took the new RSSI correction before the new TX power (−18/4 is in
/// no table), so they show the update under way, not a table.
fn table_on(date: &str) -> Option<CalibrationTable> {
    if date < "2020-12-01" {
        Some(CalibrationTable::September2020)
    } else if date >= "2021-01-01" {
        Some(CalibrationTable::December2020)
    } else {
        None
    }
}

/// Checks spec §cal.2 against the field: every Android reading of MIT-LL's `phones.csv`
/// (TX power, RSSI offset and confidence from GMS `dumpsys`, September 2020 to March 2021) is
/// what the lookup answers for that phone under the table of its day.
#[test]
fn cal_2_the_lookup_gives_what_phones_advertised_in_the_field() {
    let tests: std::collections::HashMap<String, String> =
        read("test-vectors/calibration/tests.csv")
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f[0].to_string(), f[4][..10].to_string())
            })
            .collect();
    let extra = [
        ("21", "motorola", Some("potter"), "Moto G (5) Plus"),
        ("22", "motorola", Some("river"), "moto g(7)"),
        ("23", "motorola", Some("river"), "moto g(7)"),
    ];
    let phones: Vec<_> = MITLL_PHONES.iter().chain(extra.iter()).collect();
    let (mut checked, mut transition) = (0, 0);
    let mut levels = HashSet::new();
    for line in read("test-vectors/calibration/phones.csv").lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (phone, test, tx, confidence, offset) = (f[0], f[1], f[2], f[3], f[4]);
        let Some(&&(_, manufacturer, device, model)) = phones.iter().find(|p| p.0 == phone) else {
            continue; // iPhones: no RSSI offset.
        };
        if offset.is_empty() {
            continue; // A test whose offset was not recorded.
        }
        let date = &tests[test];
        let Some(table) = table_on(date) else {
            assert!(
                [("-18", "4"), ("-23", "4")].contains(&(tx, offset)),
                "phone {phone} on {date}: {tx}/{offset}"
            );
            transition += 1;
            continue;
        };
        let found = lookup(table, manufacturer, device, model);
        assert_eq!(
            (
                found.tx_power_dbm,
                found.rssi_correction_db,
                found.confidence as u8
            ),
            (
                tx.parse().unwrap(),
                offset.parse().unwrap(),
                confidence.parse().unwrap()
            ),
            "phone {phone} ({model}) on {date} under {table}: {found:?}"
        );
        levels.insert(found.fallback);
        checked += 1;
    }
    assert!(checked >= 140, "{checked} readings checked");
    assert_eq!(transition, 30, "the December update's readings");
    assert_eq!(
        levels.len(),
        3,
        "exact, sister device and manufacturer all met: {levels:?}"
    );
}
