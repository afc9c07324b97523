//! `bluezone risk score`, and `match --risk-model`: one deployment's risk model on exposure
//! windows (spec §risk, §cwa, §nhs).

use std::io::Write;
use std::path::{Path, PathBuf};

use bluezone::risk::api::parse_api_windows;
use bluezone::risk::cwa::CwaRiskLevel;
use bluezone::risk::model::{DeploymentModel, ModelResult, NhsWindowScore};
use bluezone::risk::nhs::{NhsConfig, parse_scans};
use bluezone::risk::scoring::daily_summaries;
use bluezone::risk::{DailySummary, ExposureWindow, F1Verdict, RiskConfig};
use serde::Serialize;

use super::Outcome;
use crate::error::{CliError, Context};
use crate::input::read_text;
use crate::output::{Report, Status, emit};

/// Risk models.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Score exposure windows, or one series of NHS scan instances, by one deployment's model.
    Score(ScoreArgs),
}

/// Whose rules: Google's v2 daily summaries and this crate's F1 rule (spec §risk.2,
/// §risk.4), the Corona-Warn-App's risk levels (§cwa) or the NHS COVID-19 app's risk score
/// (§nhs). The values carry no help of their own, so that `--help` stays in its short form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs, reason = "described above")]
pub enum Model {
    Google,
    Cwa,
    Nhs,
}

/// The models `match --risk-model` adds, the CWA's and the NHS app's: Google's results are the
/// match report itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
#[allow(missing_docs, reason = "described above")]
pub enum Deployment {
    Cwa,
    Nhs,
}

impl From<Deployment> for Model {
    fn from(deployment: Deployment) -> Self {
        match deployment {
            Deployment::Cwa => Self::Cwa,
            Deployment::Nhs => Self::Nhs,
        }
    }
}

/// `risk score`.
#[derive(clap::Args)]
pub struct ScoreArgs {
    /// Whose rules: google (daily summaries and the F1 rule), cwa (the Corona-Warn-App) or
    /// nhs (the NHS COVID-19 app).
    #[arg(long, value_enum)]
    model: Model,
    /// The model's parameters as JSON: for google the fields of `bluezone::risk::RiskConfig`,
    /// for cwa the shape of the app's `defaultRiskCalculationConfiguration`, for nhs the
    /// peer's configuration names. Omitted: google's defaults, the CWA's production
    /// configuration, the NHS app's example configuration.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Exposure windows as the GAEN API gives them:
    /// `{"exposureWindows":[{"ageInDays","reportType","infectiousness","calibrationConfidence","scanInstances":[{"minAttenuation","typicalAttenuation","secondsSinceLastScan"}]}]}`.
    #[arg(long, required_unless_present = "scans", conflicts_with = "scans")]
    windows: Option<PathBuf>,
    /// One series of scan instances for the NHS model, `secondsSinceLastScan,attenuation`
    /// per line.
    #[arg(long)]
    scans: Option<PathBuf>,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

/// A day of the Google model: its age and summary.
#[derive(Serialize)]
pub struct GoogleDay {
    age_in_days: u64,
    #[serde(flatten)]
    summary: DailySummary,
}

/// Google's daily summaries and this crate's F1 rule on the windows.
#[derive(Serialize)]
pub struct GoogleReport {
    model: &'static str,
    daily_summaries: Vec<GoogleDay>,
    f1: F1Verdict,
}

/// What a model decided: Google's (here) or a deployment's (the library's [`ModelResult`]).
#[derive(Serialize)]
#[serde(untagged)]
pub enum ModelReport {
    /// Daily summaries and the F1 verdict.
    Google(GoogleReport),
    /// The CWA's or the NHS app's own results.
    Deployment(ModelResult),
}

impl ModelReport {
    /// The human lines.
    pub fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        match self {
            Self::Google(google) => {
                for day in &google.daily_summaries {
                    writeln!(
                        out,
                        "google: day {} days ago: score sum {:.1}, maximum {:.1}, weighted minutes {:.1}",
                        day.age_in_days,
                        day.summary.score_sum,
                        day.summary.maximum_score,
                        day.summary.weighted_duration_sum / 60.0
                    )?;
                }
                writeln!(
                    out,
                    "google: F1 (this crate's rule on the windows): {}",
                    if google.f1.f1 { "yes" } else { "no" }
                )
            }
            Self::Deployment(ModelResult::Cwa(result)) => {
                let level = |l: CwaRiskLevel| {
                    if l == CwaRiskLevel::High {
                        "high"
                    } else {
                        "low"
                    }
                };
                let age = |a: Option<u64>| {
                    a.map_or_else(|| "none".to_string(), |a| format!("{a} days ago"))
                };
                writeln!(
                    out,
                    "cwa: total risk level {}",
                    level(result.total_risk_level)
                )?;
                writeln!(
                    out,
                    "cwa: most recent day with low risk {}, with high risk {}",
                    age(result.age_of_most_recent_date_with_low_risk),
                    age(result.age_of_most_recent_date_with_high_risk)
                )?;
                writeln!(
                    out,
                    "cwa: days with low risk {}, with high risk {}; minimum distinct encounters with low risk {}, with high risk {}",
                    result.number_of_days_with_low_risk,
                    result.number_of_days_with_high_risk,
                    result.total_minimum_distinct_encounters_with_low_risk,
                    result.total_minimum_distinct_encounters_with_high_risk
                )
            }
            Self::Deployment(ModelResult::Nhs { scores }) => {
                for score in scores {
                    match score.age_in_days {
                        Some(age) => {
                            writeln!(out, "nhs: window {age} days ago: score {:.3}", score.score)?;
                        }
                        None => writeln!(out, "nhs: score {:.3}", score.score)?,
                    }
                }
                Ok(())
            }
        }
    }
}

/// Applies `model` to `windows` as of `today` (days since the epoch). `config` is the model's
/// parameter file; for google, `risk` stands when there is none.
///
/// # Errors
/// The parameters cannot be read or are not valid.
pub fn apply(
    model: Model,
    config: Option<&Path>,
    windows: &[ExposureWindow],
    today: u64,
    risk: &RiskConfig,
) -> Result<ModelReport, CliError> {
    let option = "--risk-model-config";
    let text = config.map(read_text).transpose()?;
    let name = match model {
        Model::Google => {
            let risk: RiskConfig = match (&text, config) {
                (Some(text), Some(path)) => serde_json::from_str(text).in_file(path)?,
                _ => *risk,
            };
            risk.validate().in_option(option)?;
            // The API's windows carry no key: each window is its own case.
            let f1 = risk.f1.decide(
                windows.iter().map(|w| (&[0; 16], std::slice::from_ref(w))),
                today,
            );
            return Ok(ModelReport::Google(GoogleReport {
                model: "google",
                daily_summaries: daily_summaries(windows, &risk.daily_summaries, today)
                    .into_iter()
                    .map(|summary| GoogleDay {
                        age_in_days: today.saturating_sub(summary.unix_day),
                        summary,
                    })
                    .collect(),
                f1,
            }));
        }
        Model::Cwa => "cwa",
        Model::Nhs => "nhs",
    };
    let chosen = DeploymentModel::from_name(name, text.as_deref());
    let chosen = match config {
        Some(path) => chosen.in_file(path)?,
        None => chosen.in_option(option)?,
    };
    Ok(ModelReport::Deployment(
        chosen.assess(windows, today).in_option(option)?,
    ))
}

/// `match --risk-model`: the deployment's model on the windows the match built, as of its
/// "now".
///
/// # Errors
/// The model's parameters cannot be read or are not valid.
pub fn for_match(
    deployment: Option<Deployment>,
    config: Option<&Path>,
    document: &bluezone::risk::MatchDocument,
) -> Result<Option<ModelReport>, CliError> {
    deployment
        .map(|model| {
            let today = document.now_unix_seconds / 86_400;
            apply(
                model.into(),
                config,
                &document.exposure_windows,
                today,
                &RiskConfig::default(),
            )
        })
        .transpose()
}

#[derive(Serialize)]
struct ScoreReport {
    input: PathBuf,
    /// Windows read (`--windows`), or scan instances (`--scans`).
    #[serde(skip_serializing_if = "Option::is_none")]
    windows: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scan_instances: Option<usize>,
    #[serde(flatten)]
    result: ModelReport,
}

impl Report for ScoreReport {
    const COMMAND: &'static str = "risk score";

    fn human(&self, out: &mut dyn Write) -> std::io::Result<()> {
        match (self.windows, self.scan_instances) {
            (Some(n), _) => writeln!(out, "{}: {n} windows", self.input.display())?,
            (None, n) => writeln!(
                out,
                "{}: {} scan instances",
                self.input.display(),
                n.unwrap_or(0)
            )?,
        }
        self.result.human(out)
    }
}

/// Runs `risk …`.
pub fn run(command: &Command, out: &mut dyn Write) -> Outcome {
    let Command::Score(args) = command;
    // The windows' ages are counted back from today; every result is given as ages again.
    let today = bluezone::time::wall_clock() / 86_400;
    let report = match (&args.windows, &args.scans) {
        (Some(path), _) => {
            let windows = parse_api_windows(&read_text(path)?, today).in_file(path)?;
            let result = apply(
                args.model,
                args.config.as_deref(),
                &windows,
                today,
                &RiskConfig::default(),
            )
            .map_err(|e| rename_option(e, "--config"))?;
            ScoreReport {
                input: path.clone(),
                windows: Some(windows.len()),
                scan_instances: None,
                result,
            }
        }
        (None, scans) => {
            let Some(path) = scans else {
                return Err(CliError::Option {
                    option: "--windows",
                    source: "or --scans is needed".into(),
                });
            };
            if args.model != Model::Nhs {
                return Err(CliError::Option {
                    option: "--scans",
                    source: "is the NHS model's input; the google and cwa models read --windows"
                        .into(),
                });
            }
            let text = args.config.as_deref().map(read_text).transpose()?;
            let config: NhsConfig = match (&text, &args.config) {
                (Some(text), Some(path)) => serde_json::from_str(text).in_file(path)?,
                _ => NhsConfig::default(),
            };
            let scans = parse_scans(&read_text(path)?).in_file(path)?;
            ScoreReport {
                input: path.clone(),
                windows: None,
                scan_instances: Some(scans.len()),
                result: ModelReport::Deployment(ModelResult::Nhs {
                    scores: vec![NhsWindowScore {
                        age_in_days: None,
                        score: config.score(&scans).in_file(path)?,
                    }],
                }),
            }
        }
    };
    emit(out, &report, args.json)?;
    Ok(Status::Success)
}

/// `risk score` names its parameter file `--config`.
fn rename_option(error: CliError, option: &'static str) -> CliError {
    match error {
        CliError::Option { source, .. } => CliError::Option { option, source },
        other => other,
    }
}
