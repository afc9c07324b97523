//! One module per subcommand, each with its arguments, its report and its `run`.

pub mod bench;
pub mod blid;
pub mod calibration;
pub mod demo;
pub mod export;
pub mod gaen;
pub mod log;
pub mod matching;
pub mod risk;
pub mod state;
pub mod vectors;

use crate::error::CliError;
use crate::output::Status;

/// What every command returns.
pub type Outcome = Result<Status, CliError>;
