//! `bluezone match`: diagnosis keys from export files against an encounter log or CSV, with
//! the risk assessment.

use std::io::Write;
use std::path::PathBuf;

use bluezone::export::verify::PublicKeyRegistry;
use bluezone::matching::MatchConfig;
use bluezone::risk::{CheckSettings, MatchDocument, RiskConfig, check_exposure};
use serde::Serialize;

use super::Outcome;
use crate::error::{CliError, Context};
use crate::input::{
    DamagedLog, MAX_THREADS, bounded, gaen_log, read_text, registry_file, state_key,
};
use crate::output::{Elapsed, Progress, Report, Status, date, emit, instant};

/// `match`.
#[derive(clap::Args)]
pub struct Args {
    /// export.zip or bare export.bin files, in publication order.
    #[arg(long, required = true, num_args = 1..)]
    keys: Vec<PathBuf>,
    /// An encounter log folder, or a CSV `unix_seconds,rpi,aem,rssi`.
    #[arg(long)]
    encounters: PathBuf,
    /// Health authority public keys (PEM), the option repeated for each: every file must be
    /// authentic under one of them (a file co-signed by other keys too is); only authentic
    /// keys are matched.
    #[arg(long)]
    public_key: Vec<PathBuf>,
    /// The verification_key_id the key answers to (with one --public-key); any when omitted.
    #[arg(long, requires = "public_key")]
    key_id: Option<String>,
    /// The verification_key_version the key answers to (with one --public-key); any when
    /// omitted.
    #[arg(long, requires = "public_key")]
    key_version: Option<String>,
    /// A registry file instead of --public-key: several named keys and the policy they sign
    /// under (`{"keys":[{"id":…,"version":…,"pem":…}],"policy":"A&B|C"}`).
    #[arg(long, conflicts_with = "public_key")]
    registry: Option<PathBuf>,
    /// Match files that are not authentic too: unsigned, signed by none of the keys given, or
    /// read without --public-key. The output names every file matched this way.
    #[arg(long)]
    allow_unsigned: bool,
    /// Threads (0: all cores; at most 256).
    #[arg(long, default_value_t = 0, value_parser = bounded(0, MAX_THREADS))]
    threads: usize,
    /// Risk settings as JSON (`{"windows":…,"daily_summaries":…,"v1":…,"f1":…}`, the fields
    /// of `bluezone::risk::RiskConfig`; missing fields take their defaults, unknown ones are
    /// an error; v1 scores are computed when a `v1` section is present).
    #[arg(long)]
    risk_config: Option<PathBuf>,
    /// Also judge the matched windows by a deployment's model: cwa (the Corona-Warn-App,
    /// spec §cwa) or nhs (the NHS COVID-19 app, spec §nhs).
    #[arg(long, value_enum)]
    risk_model: Option<super::risk::Deployment>,
    /// That model's parameters (as `risk score --config` reads them).
    #[arg(long, requires = "risk_model")]
    risk_model_config: Option<PathBuf>,
    /// "Now" for look-back periods, Unix seconds (from 2020 to this machine's clock plus an
    /// hour); when omitted, the newest sighting that is not later than the clock. With
    /// --state the log must be complete up to an hour before it.
    #[arg(long)]
    now: Option<u64>,
    /// Go on when the encounter log is damaged (or an import into it was cut): the intact
    /// records are matched and the damage is listed in the report. Without it such a log is
    /// refused, since a check against part of a log can miss an exposure.
    #[arg(long)]
    allow_damaged_log: bool,
    /// A match-state folder, made when missing (spec/state.md): files and keys checked in
    /// earlier runs are not read or derived again, later copies still revise or revoke what
    /// was stored, and the report covers every result stored, not only these files'.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Start the state over: read again every export file it knows (from the paths it read
    /// them from), then the files given. A damaged state starts empty, from the files given.
    #[arg(long, requires = "state")]
    rebuild_state: bool,
    /// A file holding the state's key (32 bytes, or 64 hex digits): the state's manifest is
    /// authenticated with it, and an edited state is refused (spec §state.1.3). An app keeps
    /// the key in the platform keystore.
    #[arg(long, requires = "state")]
    state_key_file: Option<PathBuf>,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct MatchReport {
    #[serde(flatten)]
    document: MatchDocument,
    /// Damaged stretches of the log, and a cut import: the check saw only the intact records.
    log_damage: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    risk_model: Option<super::risk::ModelReport>,
    #[serde(skip)]
    elapsed: std::time::Duration,
    /// The newest sighting of the log, for the note when the look-back holds none.
    #[serde(skip)]
    newest_sighting: Option<u64>,
}

impl Report for MatchReport {
    const COMMAND: &'static str = "match";

    fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let document = &self.document;
        writeln!(
            out,
            "{} keys, {} matched, in {} ({} sightings indexed)",
            document.keys_total,
            document.keys_matched,
            Elapsed(self.elapsed),
            document.sightings
        )?;
        for damage in &self.log_damage {
            writeln!(
                out,
                "log damaged (only intact records were matched): {damage}"
            )?;
        }
        for file in &document.repeated_files {
            writeln!(out, "given more than once, read once: {}", file.display())?;
        }
        let lookback = document.f1.lookback_days.saturating_mul(86_400);
        if let Some(newest) = self.newest_sighting
            && newest.saturating_add(lookback) < document.now_unix_seconds
        {
            writeln!(
                out,
                "note: the newest sighting ({}) is more than {} days before now ({}): no look-back period holds any sighting",
                instant(newest),
                document.f1.lookback_days,
                instant(document.now_unix_seconds)
            )?;
        }
        if document.sightings_after_now > 0 {
            writeln!(
                out,
                "note: {} sightings are later than now ({}): no look-back period of this report counts them",
                document.sightings_after_now,
                instant(document.now_unix_seconds)
            )?;
        }
        if let Some(state) = &document.state {
            let s = &state.summary;
            if let Some(rebuilt) = &state.rebuilt {
                writeln!(
                    out,
                    "state started over ({}): {} files read again",
                    rebuilt.why,
                    rebuilt.read_again.len()
                )?;
                for file in &rebuilt.dropped_unauthentic {
                    writeln!(
                        out,
                        "dropped from the state, read without a valid signature: {}",
                        file.display()
                    )?;
                }
                if rebuilt.files_unknown {
                    writeln!(
                        out,
                        "the state was damaged: the files it knew are unknown, only the files given were read"
                    )?;
                }
            }
            writeln!(
                out,
                "state {}: {} files already read, {} keys checked before, {} results re-checked; it holds {} matched keys ({} not final), {} keys checked with no match, {} not final, from {} files",
                state.dir.display(),
                state.already_read.len(),
                state.keys_skipped,
                state.rechecked,
                s.keys_matched,
                s.matches_pending,
                s.keys_checked,
                s.keys_pending,
                s.files_read
            )?;
            for file in &state.already_read {
                writeln!(out, "already read: {}", file.display())?;
            }
            for key in &state.unauthentic_matches {
                writeln!(
                    out,
                    "stored from a file without a valid signature (--allow-unsigned): key {key}"
                )?;
            }
        }
        for file in &document.unauthentic_files {
            writeln!(
                out,
                "matched without a valid signature (--allow-unsigned): {}",
                file.display()
            )?;
        }
        for m in &document.matches {
            let first = m.sightings.first().map_or(0, |s| s.unix_seconds);
            let last = m.sightings.last().map_or(0, |s| s.unix_seconds);
            writeln!(
                out,
                "key {} (start {}, period {}, report type {}{}): {} sightings {} .. {}, min attenuation {} dB",
                bluezone::hex::Hex(&m.key.key_data),
                m.key.window.start(),
                m.key.window.period().get(),
                m.key.report_type as u8,
                if m.report_type_transitions > 0 {
                    format!(", first {}", m.first_report_type as u8)
                } else {
                    String::new()
                },
                m.sightings.len(),
                instant(first),
                instant(last),
                m.sightings.iter().map(|s| s.attenuation).min().unwrap_or(0)
            )?;
        }
        let r = &document.rejected;
        writeln!(
            out,
            "rejected: {} sightings outside the tolerance, {} replayed, {} with TX power out of range; {} keys for their report type, {} copies of matched keys, {} invalid report-type changes",
            r.outside_tolerance,
            r.replayed,
            r.tx_power_out_of_range,
            r.report_type_keys,
            r.duplicate_keys,
            r.invalid_transitions
        )?;
        let bad = &r.invalid_keys;
        if bad.total() > 0 {
            writeln!(
                out,
                "invalid keys skipped: {} with a wrong key length, {} with a bad rolling window, {} with a bad risk level, {} with an unknown report type",
                bad.key_length, bad.rolling_window, bad.transmission_risk_level, bad.report_type
            )?;
        }
        if document.report_type_transitions > 0 {
            writeln!(
                out,
                "report-type changes applied: {}",
                document.report_type_transitions
            )?;
        }
        writeln!(out, "exposure windows: {}", document.exposure_windows.len())?;
        for day in &document.daily_summaries {
            writeln!(
                out,
                "daily summary {}: score sum {:.1}, maximum {:.1}, weighted duration {:.0} s",
                date(day.unix_day),
                day.score_sum,
                day.maximum_score,
                day.weighted_duration_sum
            )?;
        }
        if let Some(v1) = &document.v1 {
            let s = &v1.summary;
            writeln!(
                out,
                "v1: {} keys with exposures, maximum risk {}, summed risk {}, {} days since the last, attenuation durations {}/{}/{} min",
                s.matched_key_count,
                s.maximum_risk_score,
                s.summation_risk_score,
                s.days_since_last_exposure,
                s.attenuation_durations_minutes[0],
                s.attenuation_durations_minutes[1],
                s.attenuation_durations_minutes[2]
            )?;
            for key in &v1.keys {
                writeln!(
                    out,
                    "v1 key {}: {} exposure{}, maximum risk {}, total {}",
                    bluezone::hex::Hex(&key.tek),
                    key.exposures.len(),
                    if key.exposures.len() == 1 { "" } else { "s" },
                    key.maximum_risk_score,
                    key.total_risk_score
                )?;
            }
        }
        let f1 = &document.f1;
        for day in &f1.days {
            writeln!(
                out,
                "close contact {} with key {}: {} s at or below {} dB of {} s, closest {} dB",
                date(day.unix_day),
                bluezone::hex::Hex(&day.tek),
                day.close_seconds,
                f1.attenuation_threshold_db,
                day.total_seconds,
                day.closest_attenuation_db
            )?;
        }
        writeln!(
            out,
            "F1 (at most {} dB for {} min in one day, last {} days): {}",
            f1.attenuation_threshold_db,
            f1.min_daily_seconds / 60,
            f1.lookback_days,
            if f1.f1 { "yes" } else { "no" }
        )?;
        if !document.zero_weights.is_empty() && !document.exposure_windows.is_empty() {
            writeln!(
                out,
                "note: these daily-summary weights are 0, the API's default when not set, so windows they apply to score 0 (the F1 rule does not use them): {}",
                document.zero_weights.join(", ")
            )?;
        }
        if let Some(model) = &self.risk_model {
            model.human(out)?;
        }
        Ok(())
    }
}

/// Runs `match`.
pub fn run(args: &Args, out: &mut dyn Write) -> Outcome {
    let risk: RiskConfig = match &args.risk_config {
        Some(path) => serde_json::from_str(&read_text(path)?).in_file(path)?,
        None => RiskConfig::default(),
    };
    if args.public_key.len() > 1 && (args.key_id.is_some() || args.key_version.is_some()) {
        return Err(CliError::Option {
            option: "--key-id",
            source: "names the one key of --public-key; with several keys, leave the names open"
                .into(),
        });
    }
    let mut registry = PublicKeyRegistry::new();
    for path in &args.public_key {
        registry
            .add_pem(
                args.key_id.as_deref(),
                args.key_version.as_deref(),
                &read_text(path)?,
            )
            .in_file(path)?;
    }
    if let Some(path) = &args.registry {
        registry = registry_file(path)?;
    }
    let have_keys = !args.public_key.is_empty() || args.registry.is_some();
    if !have_keys && !args.allow_unsigned {
        return Err(CliError::Option {
            option: "--public-key",
            source: "is needed to match only authentic files: give the health authority's key, or --allow-unsigned to match files nobody verified".into(),
        });
    }
    let key = args.state_key_file.as_deref().map(state_key).transpose()?;
    let progress = Progress::new("match");
    progress.phase("reading the encounters");
    let log = gaen_log(&args.encounters)?;
    if !log.damage.is_empty() && !args.allow_damaged_log {
        return Err(DamagedLog(log.damage.len())).in_file(&args.encounters);
    }
    progress.phase("matching");
    let started = std::time::Instant::now();
    let settings = CheckSettings {
        registry: have_keys.then_some(&registry),
        allow_unauthentic: args.allow_unsigned,
        matching: MatchConfig::default(),
        risk,
        threads: args.threads,
        now_unix_seconds: args.now,
        wall_clock_unix_seconds: None,
        state: args.state.as_deref(),
        state_key: key.as_ref(),
        rebuild_state: args.rebuild_state,
    };
    let sightings = log.sightings;
    let newest_sighting = sightings.iter().map(|s| s.unix_seconds).max();
    let checked = check_exposure(&args.keys, sightings, &settings, |_, read| {
        progress.count(read);
    })?;
    drop(progress);
    let document = checked.into_document(&risk, args.state.as_deref());
    let risk_model = super::risk::for_match(
        args.risk_model,
        args.risk_model_config.as_deref(),
        &document,
    )?;
    let report = MatchReport {
        document,
        risk_model,
        log_damage: log.damage,
        elapsed: started.elapsed(),
        newest_sighting,
    };
    emit(out, &report, args.json)?;
    Ok(Status::Success)
}
