//! The NHS COVID-19 app's risk score (England and Wales, from September 2020; spec §nhs): the
//! scan instances of a window become a series of observations one sample apart, an unscented
//! Kalman smoother estimates the distance at each sample through a path-loss observation
//! model, and the score adds up the sample durations weighted by how close each estimate is.
//!
//! [`NhsConfig::default`] is the app's example configuration
//! (`RiskScoreCalculatorConfiguration.exampleConfiguration` of riskscore-swift-public).

use alloc::vec::Vec;

use statrs::distribution::{ContinuousCDF, Gamma};

/// How an attenuation relates to distance in the observation model (spec §nhs.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum ObservationType {
    /// `ln(attenuation) = weight · ln(distance) + intercept`: the example configuration.
    #[default]
    Log,
    /// `ln(attenuation) = weight · ln(−friis(distance)) + intercept`, with the peer's Friis
    /// function.
    Gen,
}

/// The regression of log attenuation on log distance (spec §nhs.2).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", deny_unknown_fields)
)]
pub struct RssiParameters {
    /// The slope.
    pub weight_coefficient: f64,
    /// The intercept.
    pub intercept: f64,
    /// The observation noise's variance.
    pub covariance: f64,
}

/// The Friis path-loss parameters of the `gen` observation type (spec §nhs.2).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", deny_unknown_fields)
)]
pub struct PowerLossParameters {
    /// Metres.
    pub wavelength: f64,
    /// The path-loss factor.
    pub path_loss_factor: f64,
    /// The reference device's loss, dB.
    pub ref_device_loss: f64,
}

/// The distance estimate before the first observation.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", deny_unknown_fields)
)]
pub struct InitialData {
    /// Metres.
    pub mean: f64,
    /// Square metres.
    pub covariance: f64,
}

/// The unscented transform's spread of sigma points.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", deny_unknown_fields)
)]
#[allow(missing_docs, reason = "the standard unscented-transform parameters")]
pub struct SmootherParameters {
    pub alpha: f64,
    pub beta: f64,
    pub kappa: f64,
}

/// The NHS app's risk-score parameters, named as the peer names them (spec §nhs.5).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", deny_unknown_fields)
)]
pub struct NhsConfig {
    /// Seconds per sample of the smoothed series.
    pub sample_resolution: f64,
    /// Metres the distance is expected to change per sample (the transition noise's standard
    /// deviation).
    pub expected_distance: f64,
    /// Metres at or within which a sample counts in full.
    pub minimum_distance: f64,
    #[allow(missing_docs, reason = "described by its type")]
    pub rssi_parameters: RssiParameters,
    #[allow(missing_docs, reason = "described by its type")]
    pub power_loss_parameters: PowerLossParameters,
    #[allow(missing_docs, reason = "described by its type")]
    pub observation_type: ObservationType,
    #[allow(missing_docs, reason = "described by its type")]
    pub initial_data: InitialData,
    #[allow(missing_docs, reason = "described by its type")]
    pub smoother_parameters: SmootherParameters,
}

impl Default for NhsConfig {
    /// The peer's `exampleConfiguration`.
    fn default() -> Self {
        Self {
            sample_resolution: 1.0,
            expected_distance: 0.1,
            minimum_distance: 1.0,
            rssi_parameters: RssiParameters {
                weight_coefficient: 0.127_054_753_108_205_1,
                intercept: 4.230_933_365_785_694_5,
                covariance: 0.494_761_436_102_777_3,
            },
            power_loss_parameters: PowerLossParameters {
                wavelength: 0.125,
                path_loss_factor: 20.0,
                ref_device_loss: 0.0,
            },
            observation_type: ObservationType::Log,
            initial_data: InitialData {
                mean: 2.0,
                covariance: 10.0,
            },
            smoother_parameters: SmootherParameters {
                alpha: 1.0,
                beta: 0.0,
                kappa: 0.0,
            },
        }
    }
}

/// Why a score was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NhsError {
    /// A parameter is not finite, or a resolution, distance or variance is not positive.
    #[error("an NHS risk-score parameter is not finite, or not positive where it must be")]
    Config,
    /// A scan's seconds or attenuation is not finite.
    #[error("scan {0}: seconds or attenuation is not a finite number")]
    Scan(usize),
    /// The scans span more samples than [`MAX_SAMPLES`].
    #[error("the scans span more than {MAX_SAMPLES} samples")]
    TooLong,
}

/// The most samples one score covers: 12 days at one-second resolution, far beyond a window.
pub const MAX_SAMPLES: usize = 1 << 20;

/// One scan instance: seconds since the previous scan, and its attenuation in dB.
pub type NhsScan = (f64, f64);

impl NhsConfig {
    /// Checks every parameter.
    ///
    /// # Errors
    /// [`NhsError::Config`].
    pub fn validate(&self) -> Result<(), NhsError> {
        let all = [
            self.sample_resolution,
            self.expected_distance,
            self.minimum_distance,
            self.rssi_parameters.weight_coefficient,
            self.rssi_parameters.intercept,
            self.rssi_parameters.covariance,
            self.power_loss_parameters.wavelength,
            self.power_loss_parameters.path_loss_factor,
            self.power_loss_parameters.ref_device_loss,
            self.initial_data.mean,
            self.initial_data.covariance,
            self.smoother_parameters.alpha,
            self.smoother_parameters.beta,
            self.smoother_parameters.kappa,
        ];
        let positive = [
            self.sample_resolution,
            self.expected_distance,
            self.minimum_distance,
            self.rssi_parameters.covariance,
            self.initial_data.covariance,
            self.power_loss_parameters.wavelength,
            self.smoother_parameters.alpha,
        ];
        if all.iter().all(|v| v.is_finite()) && positive.iter().all(|v| *v > 0.0) {
            Ok(())
        } else {
            Err(NhsError::Config)
        }
    }

    /// The expected log attenuation at `distance` metres, noise-free (spec §nhs.2).
    fn observe(&self, distance: f64) -> f64 {
        let x = match self.observation_type {
            ObservationType::Log => distance.ln(),
            ObservationType::Gen => {
                let p = &self.power_loss_parameters;
                let d = if distance > 0.0 { distance } else { 1e-3 };
                let friis = -d.log10()
                    + p.path_loss_factor * (p.wavelength / (4.0 * core::f64::consts::PI)).log10()
                    + p.ref_device_loss;
                (-(if friis < 0.0 { friis } else { -1e-3 })).ln()
            }
        };
        self.rssi_parameters.weight_coefficient * x + self.rssi_parameters.intercept
    }

    /// The observation series (spec §nhs.1): one slot per sample from the first scan to the
    /// last, holding the log attenuation of each scan at its sample and nothing between.
    fn observations(&self, scans: &[NhsScan]) -> Result<Vec<Option<f64>>, NhsError> {
        let mut series: Vec<Option<f64>> = Vec::new();
        let mut sample = 0.0;
        for (index, &(seconds, attenuation)) in scans.iter().enumerate() {
            if !(seconds.is_finite() && attenuation.is_finite()) {
                return Err(NhsError::Scan(index));
            }
            // The first scan starts the series; negative gaps count as none.
            let gap = if index == 0 { 0.0 } else { seconds.max(0.0) };
            sample += gap / self.sample_resolution;
            #[allow(clippy::cast_precision_loss, reason = "2^20 is exact")]
            let limit = MAX_SAMPLES as f64;
            if sample >= limit {
                return Err(NhsError::TooLong);
            }
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "in 0..MAX_SAMPLES"
            )]
            let at = sample as usize;
            while series.len() < at {
                series.push(None);
            }
            if series.len() >= MAX_SAMPLES {
                return Err(NhsError::TooLong);
            }
            series.push(Some(attenuation.ln()).filter(|v| v.is_finite()));
        }
        Ok(series)
    }

    /// The risk score of one series of scan instances (spec §nhs.4): minutes, each sample
    /// weighted by `min(1, (minimum distance / estimated distance)²)`. An empty series scores 0.
    ///
    /// # Errors
    /// [`NhsError`] for a configuration or scan that is not usable, or a span too long.
    pub fn score(&self, scans: &[NhsScan]) -> Result<f64, NhsError> {
        self.validate()?;
        let observations = self.observations(scans)?;
        let smoothed = Smoother::new(self).smooth(&observations);
        let minutes_per_sample = self.sample_resolution / 60.0;
        Ok(smoothed
            .iter()
            .map(|&(mean, variance)| {
                let distance = gamma_median(mean * mean / variance, variance / mean);
                let closeness = (self.minimum_distance * self.minimum_distance
                    / (distance * distance))
                    .clamp(0.0, 1.0);
                minutes_per_sample * closeness
            })
            .sum())
    }
}

impl NhsConfig {
    /// The score of one exposure window from its minimum attenuations, as the NHS app read
    /// each window (spec §nhs).
    ///
    /// # Errors
    /// As [`NhsConfig::score`].
    pub fn score_window(&self, window: &crate::risk::ExposureWindow) -> Result<f64, NhsError> {
        let scans: Vec<NhsScan> = window
            .scan_instances
            .iter()
            .map(|s| {
                (
                    f64::from(s.seconds_since_last_scan),
                    f64::from(s.min_attenuation_db),
                )
            })
            .collect();
        self.score(&scans)
    }
}

/// The median of a gamma distribution with this shape and scale, as the peer computes it:
/// 0.001 when undefined, the largest finite number when infinite.
fn gamma_median(shape: f64, scale: f64) -> f64 {
    let median = Gamma::new(shape, 1.0 / scale).map_or(f64::NAN, |g| g.inverse_cdf(0.5));
    if median.is_nan() {
        1e-3
    } else if median.is_infinite() {
        f64::MAX.copysign(median)
    } else {
        median
    }
}

/// A one-dimensional augmented unscented Kalman smoother: state, transition noise and
/// observation noise make three dimensions and seven sigma points (spec §nhs.3).
struct Smoother<'c> {
    config: &'c NhsConfig,
    /// `n + λ` with `n = 3`.
    scale: f64,
    mean_first: f64,
    covariance_first: f64,
    /// The weight of every other point, `1 / (2 (n + λ))`.
    rest: f64,
    transition_variance: f64,
}

type Points = [f64; 7];

impl<'c> Smoother<'c> {
    fn new(config: &'c NhsConfig) -> Self {
        let SmootherParameters { alpha, beta, kappa } = config.smoother_parameters;
        let n = 3.0;
        let lambda = alpha * alpha * (n + kappa) - n;
        let scale = n + lambda;
        Self {
            config,
            scale,
            mean_first: lambda / scale,
            covariance_first: lambda / scale + (1.0 - alpha * alpha + beta),
            rest: 1.0 / (2.0 * scale),
            transition_variance: config.expected_distance * config.expected_distance,
        }
    }

    /// The state's points: the mean, then ±√(scale·P) in the state's own dimension (the
    /// first of the three).
    fn state_points(&self, (mean, variance): (f64, f64)) -> Points {
        let s = (self.scale * variance).sqrt();
        let m = mean;
        [m, m + s, m, m, m - s, m, m]
    }

    /// The transition noise's points: ±√(scale·Q) in the second dimension.
    fn transition_points(&self) -> Points {
        let s = (self.scale * self.transition_variance).sqrt();
        [0.0, 0.0, s, 0.0, 0.0, -s, 0.0]
    }

    /// The observation noise's points: ±√(scale·R) in the third dimension.
    fn observation_points(&self) -> Points {
        let s = (self.scale * self.config.rssi_parameters.covariance).sqrt();
        [0.0, 0.0, 0.0, s, 0.0, 0.0, -s]
    }

    fn mean(&self, points: &Points) -> f64 {
        let [first, rest @ ..] = points;
        self.mean_first * first + self.rest * rest.iter().sum::<f64>()
    }

    fn covariance(&self, a: &Points, a_mean: f64, b: &Points, b_mean: f64) -> f64 {
        let mut terms = a.iter().zip(b).map(|(x, y)| (x - a_mean) * (y - b_mean));
        let first = terms.next().unwrap_or(0.0);
        self.covariance_first * first + self.rest * terms.sum::<f64>()
    }

    /// The transition: the distance moves by the noise and stays non-negative.
    fn transition(&self, state: &Points) -> Points {
        let mut moved = *state;
        for (point, noise) in moved.iter_mut().zip(self.transition_points()) {
            *point = (*point + noise).abs();
        }
        moved
    }

    /// One filter step: predict (except at the first sample), then correct by the observation.
    fn filter_step(&self, state: (f64, f64), observation: Option<f64>, first: bool) -> (f64, f64) {
        let points = self.state_points(state);
        let moved = if first {
            points
        } else {
            self.transition(&points)
        };
        let mean = self.mean(&moved);
        let variance = self.covariance(&moved, mean, &moved, mean);
        let Some(observed) = observation else {
            return (mean, variance);
        };
        let mut expected = moved;
        for (point, noise) in expected.iter_mut().zip(self.observation_points()) {
            *point = self.config.observe(point.abs()) + noise;
        }
        let expected_mean = self.mean(&expected);
        let expected_variance = self.covariance(&expected, expected_mean, &expected, expected_mean);
        let cross = self.covariance(&moved, mean, &expected, expected_mean);
        let gain = cross / expected_variance;
        (
            mean + gain * (observed - expected_mean),
            variance - cross * gain,
        )
    }

    /// Filters forward, then smooths backward (Rauch–Tung–Striebel through sigma points).
    fn smooth(&self, observations: &[Option<f64>]) -> Vec<(f64, f64)> {
        let mut states = Vec::with_capacity(observations.len());
        let mut state = (
            self.config.initial_data.mean,
            self.config.initial_data.covariance,
        );
        for (index, observation) in observations.iter().enumerate() {
            state = self.filter_step(state, *observation, index == 0);
            states.push(state);
        }
        for index in (0..states.len().saturating_sub(1)).rev() {
            let (Some(&filtered), Some(&later)) = (states.get(index), states.get(index + 1)) else {
                continue;
            };
            let points = self.state_points(filtered);
            let moved = self.transition(&points);
            let mean = self.mean(&moved);
            let variance = self.covariance(&moved, mean, &moved, mean);
            let cross = self.covariance(&moved, mean, &points, filtered.0);
            let gain = cross / variance;
            if let Some(slot) = states.get_mut(index) {
                *slot = (
                    filtered.0 + gain * (later.0 - mean),
                    filtered.1 + gain * gain * (later.1 - variance),
                );
            }
        }
        states
    }
}

/// Why a scan file was refused: the line (from 1) and what.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct ScanFileError {
    /// The line, from 1.
    pub line: usize,
    /// What is wrong.
    pub problem: alloc::string::String,
}

/// Reads the peer's scenario format: one scan per line, `secondsSinceLastScan,attenuation`,
/// both decimal numbers; blank lines are skipped, a header line (one that starts with a
/// letter) is allowed first.
///
/// # Errors
/// [`ScanFileError`] for a line that is not two finite numbers, or for no scan at all.
pub fn parse_scans(text: &str) -> Result<Vec<NhsScan>, ScanFileError> {
    let mut scans = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        let line = line.trim();
        if line.is_empty() || (index == 0 && line.starts_with(|c: char| c.is_ascii_alphabetic())) {
            continue;
        }
        let problem = |problem: &str| ScanFileError {
            line: line_number,
            problem: problem.into(),
        };
        let mut fields = line.split(',').map(str::trim);
        let (Some(seconds), Some(attenuation), None) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err(problem("expected `secondsSinceLastScan,attenuation`"));
        };
        let number = |text: &str, what: &str| {
            text.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| problem(&alloc::format!("{what} `{text}` is not a finite number")))
        };
        scans.push((
            number(seconds, "secondsSinceLastScan")?,
            number(attenuation, "attenuation")?,
        ));
    }
    if scans.is_empty() {
        return Err(ScanFileError {
            line: 0,
            problem: "no scan instance".into(),
        });
    }
    Ok(scans)
}
