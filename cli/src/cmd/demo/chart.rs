//! The report page of `demo --report DIR`: `index.html` with SVG charts drawn inline (no
//! JavaScript, nothing fetched), and the data behind them as CSV.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use plotters::style::RGBColor;

use super::report::DemoReport;
use crate::error::{CliError, Context};
use crate::files::write_atomically;
use crate::output::date;
use crate::plot::{self, Series};

const WARNED: RGBColor = RGBColor(200, 50, 40);
const MISSED: RGBColor = RGBColor(240, 160, 30);
const UNOBSERVABLE: RGBColor = RGBColor(130, 130, 130);
const CURVE: RGBColor = RGBColor(40, 90, 180);

/// The circular's goal: 60 % of adults run the app.
const CIRCULAR_GOAL: f64 = 0.6;

fn write_text(path: &Path, text: &str) -> Result<(), CliError> {
    write_atomically(path, |file| file.write_all(text.as_bytes()).in_file(path))
}

/// Writes `index.html`, `levels.csv`, `days.csv` and `pairs.csv` into `dir`.
pub fn write(dir: &Path, report: &DemoReport) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).in_file(dir)?;
    let mut levels = String::from(
        "adoption,adoption_squared,app_users,cases_with_app,close_contacts,observable_close_contacts,warned_close_contacts,missed_close_contacts,unobservable_close_contacts,detection,false_warnings,people_without_contact\n",
    );
    for l in &report.levels {
        let _ = writeln!(
            levels,
            "{},{},{},{},{},{},{},{},{},{},{},{}",
            l.adoption,
            l.adoption_squared,
            l.app_users,
            l.cases_with_app,
            l.close_contacts,
            l.observable_close_contacts,
            l.warned_close_contacts,
            l.missed_close_contacts,
            l.unobservable_close_contacts,
            l.detection,
            l.false_warnings,
            l.people_without_contact
        );
    }
    write_text(&dir.join("levels.csv"), &levels)?;
    let top = report.levels.last();
    let mut days = String::from("unix_day,date,warned,missed,unobservable\n");
    for d in top.map(|l| l.by_day.as_slice()).unwrap_or_default() {
        let _ = writeln!(
            days,
            "{},{},{},{},{}",
            d.unix_day,
            date(d.unix_day),
            d.warned,
            d.missed,
            d.unobservable
        );
    }
    write_text(&dir.join("days.csv"), &days)?;
    let mut pairs =
        String::from("person,case,unix_day,true_close_seconds,measured_close_seconds,warned\n");
    for p in &report.pairs {
        let _ = writeln!(
            pairs,
            "{},{},{},{},{},{}",
            p.person, p.case, p.unix_day, p.true_close_seconds, p.measured_close_seconds, p.warned
        );
    }
    write_text(&dir.join("pairs.csv"), &pairs)?;

    // Detection against adoption, with adoption² and the circular's 60 %.
    let measured: Vec<(f64, f64)> = report
        .levels
        .iter()
        .map(|l| (l.adoption, l.detection))
        .collect();
    let observable: Vec<(f64, f64)> = report
        .levels
        .iter()
        .map(|l| {
            let share = if l.close_contacts == 0 {
                0.0
            } else {
                l.observable_close_contacts as f64 / l.close_contacts as f64
            };
            (l.adoption, share)
        })
        .collect();
    let square: Vec<(f64, f64)> = (0..=50)
        .map(|i| f64::from(i) / 50.0)
        .map(|a| (a, a * a))
        .collect();
    let detection = plot::lines(
        "Close contacts warned, by adoption",
        "adoption (share of people who run the app)",
        "share of close contacts",
        (1.0, 1.0),
        &[
            Series {
                name: "warned (measured)",
                color: WARNED,
                points: measured,
                markers: true,
            },
            Series {
                name: "observable",
                color: UNOBSERVABLE,
                points: observable,
                markers: true,
            },
            Series {
                name: "adoption²",
                color: CURVE,
                points: square,
                markers: false,
            },
        ],
        Some((CIRCULAR_GOAL, "60 %: the circular's goal")),
    )?;

    // Warned, missed and unobservable close contacts per day, at the highest level.
    let by_day = top.map(|l| l.by_day.clone()).unwrap_or_default();
    let names: Vec<String> = by_day
        .iter()
        .map(|d| format!("{}", date(d.unix_day)).chars().skip(5).collect())
        .collect();
    let per_day = plot::bars(
        &format!(
            "People with a close contact, per day, at {:.0} % adoption",
            100.0 * top.map_or(1.0, |l| l.adoption)
        ),
        "people",
        &names,
        &[
            ("warned", WARNED),
            ("missed", MISSED),
            ("unobservable", UNOBSERVABLE),
        ],
        &[
            by_day.iter().map(|d| d.warned as f64).collect(),
            by_day.iter().map(|d| d.missed as f64).collect(),
            by_day.iter().map(|d| d.unobservable as f64).collect(),
        ],
    )?;

    // True minutes within 1.2 m against measured minutes at the threshold.
    let minutes = |s: u64| s as f64 / 60.0;
    let (warned, not_warned): (Vec<_>, Vec<_>) = report.pairs.iter().partition(|p| p.warned);
    let points = |list: &[&super::report::Pair]| {
        list.iter()
            .map(|p| {
                (
                    minutes(p.true_close_seconds),
                    minutes(p.measured_close_seconds),
                )
            })
            .collect::<Vec<_>>()
    };
    let max = report
        .pairs
        .iter()
        .map(|p| minutes(p.true_close_seconds.max(p.measured_close_seconds)))
        .fold(30.0, f64::max)
        * 1.05;
    let scatter = plot::scatter(
        "Per person, case and day: true against measured close time",
        "true minutes within 1.2 m",
        "measured minutes at the F1 threshold",
        (max, max),
        &[
            ("warned", WARNED, points(&warned)),
            ("not warned", UNOBSERVABLE, points(&not_warned)),
        ],
        &[
            (25.0, 0.0, "25 min: a close contact"),
            (0.0, 15.0, "15 min: the F1 rule"),
        ],
    )?;

    let mut table = String::from(
        "<table><tr><th>adoption</th><th>adoption²</th><th>close contacts</th><th>observable</th><th>warned</th><th>missed</th><th>detection</th><th>false warnings</th></tr>",
    );
    for l in &report.levels {
        let _ = write!(
            table,
            "<tr><td>{:.0} %</td><td>{:.1} %</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1} %</td><td>{}</td></tr>",
            100.0 * l.adoption,
            100.0 * l.adoption_squared,
            l.close_contacts,
            l.observable_close_contacts,
            l.warned_close_contacts,
            l.missed_close_contacts,
            100.0 * l.detection,
            l.false_warnings
        );
    }
    table.push_str("</table><p>Data: <a href=\"levels.csv\">levels.csv</a>, <a href=\"days.csv\">days.csv</a>, <a href=\"pairs.csv\">pairs.csv</a>.</p>");
    let s = &report.settings;
    let intro = format!(
        "A town of {} people for {} days (seed {}), {} of them cases. Who installs the app is drawn once, so each level adds phones to the one below. App users speak Bluezone with probability {:.2}, the rest GAEN; Bluetooth is off on {:.0} % of app-user days, phones stay home on {:.0} %, {:.0} % of Bluezone phones are iPhones, in the foreground {:.0} % of the time. Every phone ran the real protocol: logs, signed export, F0 list, matching and the F1 rule.",
        report.people,
        report.days,
        report.seed,
        report.positives,
        s.bluezone_share,
        100.0 * s.bluetooth_off,
        100.0 * s.phone_at_home,
        100.0 * s.ios_share,
        100.0 * s.ios_foreground
    );
    let html = plot::page(
        "How many phones must run the app?",
        &intro,
        &[
            (
                "Detection grows with the square of adoption".into(),
                "A close contact (25 minutes within 1.2 m of a case in one day) is seen only when both phones run the app and speak the same protocol, so the share warned follows adoption²: 36 % at the circular's 60 %, less when app users are split between two protocols that do not hear each other.".into(),
                format!("{detection}\n{table}"),
            ),
            (
                "Who was warned, missed or could not be seen".into(),
                "Missed: both phones could see the contact and the app did not warn (0 when the protocol works). Unobservable: one of the two had no app, spoke the other protocol, or lost the contact.".into(),
                per_day,
            ),
            (
                "Measured against true closeness".into(),
                "Each point is a person, a case and a day. The F1 rule warns at 15 measured minutes at the attenuation threshold; the truth counts minutes within 1.2 m.".into(),
                scatter,
            ),
        ],
    );
    write_text(&dir.join("index.html"), &html)?;
    Ok(())
}
