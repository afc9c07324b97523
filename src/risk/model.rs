//! Deployments' models by name, as an app or a tool chooses one: the Corona-Warn-App's
//! (spec §cwa) or the NHS app's (spec §nhs), applied to the exposure windows a check built.

use alloc::vec::Vec;

use crate::risk::ExposureWindow;
use crate::risk::cwa::{CwaConfig, CwaConfigError, CwaResult};
use crate::risk::nhs::{NhsConfig, NhsError};

/// A deployment's model with its parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum DeploymentModel {
    /// The Corona-Warn-App's risk levels (spec §cwa).
    Cwa(CwaConfig),
    /// The NHS COVID-19 app's risk score (spec §nhs).
    Nhs(NhsConfig),
}

/// Why a model could not be chosen or applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The name is not `cwa` or `nhs`.
    #[error("`{0}` is not a deployment's model: cwa or nhs")]
    Name(alloc::string::String),
    /// The parameters are not the model's JSON.
    #[cfg(feature = "json")]
    #[error("the model's parameters: {0}")]
    Json(#[from] serde_json::Error),
    /// The CWA's parameters are not valid.
    #[error(transparent)]
    Cwa(#[from] CwaConfigError),
    /// The NHS parameters or a window's scans are not usable.
    #[error(transparent)]
    Nhs(#[from] NhsError),
}

/// The NHS score of one window.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct NhsWindowScore {
    /// The window's age in days as of "today"; none for a series that is not a window.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Option::is_none"))]
    pub age_in_days: Option<u64>,
    /// Its score.
    pub score: f64,
}

/// What a deployment's model decided, by the deployment's own names.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "model", rename_all = "lowercase"))]
pub enum ModelResult {
    /// The CWA's result.
    Cwa(CwaResult),
    /// The NHS score of each window, from its minimum attenuations as the app read it.
    Nhs {
        /// One per window, in input order.
        scores: Vec<NhsWindowScore>,
    },
}

impl DeploymentModel {
    /// The model called `name` (`cwa` or `nhs`) with its parameters as JSON text (the CWA
    /// app's `defaultRiskCalculationConfiguration` shape, or the NHS library's names), or its
    /// named default: the CWA's production configuration, the NHS example configuration.
    ///
    /// # Errors
    /// [`ModelError`] for another name or parameters that do not read.
    #[cfg(feature = "json")]
    pub fn from_name(name: &str, parameters: Option<&str>) -> Result<Self, ModelError> {
        match (name, parameters) {
            ("cwa", None) => Ok(Self::Cwa(CwaConfig::production())),
            ("cwa", Some(text)) => Ok(Self::Cwa(serde_json::from_str(text)?)),
            ("nhs", None) => Ok(Self::Nhs(NhsConfig::default())),
            ("nhs", Some(text)) => Ok(Self::Nhs(serde_json::from_str(text)?)),
            (other, _) => Err(ModelError::Name(other.into())),
        }
    }

    /// Applies the model to `windows` as of `today` (days since the epoch).
    ///
    /// # Errors
    /// [`ModelError`] for parameters that are not valid or scans the NHS model refuses.
    pub fn assess(
        &self,
        windows: &[ExposureWindow],
        today: u64,
    ) -> Result<ModelResult, ModelError> {
        Ok(match self {
            Self::Cwa(config) => ModelResult::Cwa(config.assess(windows, today)?),
            Self::Nhs(config) => ModelResult::Nhs {
                scores: windows
                    .iter()
                    .map(|w| {
                        Ok(NhsWindowScore {
                            age_in_days: Some(today.saturating_sub(w.unix_day)),
                            score: config.score_window(w)?,
                        })
                    })
                    .collect::<Result<_, NhsError>>()?,
            },
        })
    }
}
