//! The tool's errors: each names the file, option or line at fault, and keeps its cause.

use std::error::Error;
use std::io;
use std::path::{Path, PathBuf};

/// A boxed cause.
pub type Source = Box<dyn Error + Send + Sync + 'static>;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A file (or folder) could not be read or written, or its content is wrong.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong (for a text file, the library's error names the line and column).
        source: Source,
    },
    /// A command-line value is out of its range or malformed.
    #[error("{option}: {source}")]
    Option {
        /// The option, for example `--tek`.
        option: &'static str,
        /// What is wrong.
        source: Source,
    },
    /// Something outside the input failed (the clock, the randomness, the thread pool).
    #[error("{what}: {source}")]
    Environment {
        /// What was needed.
        what: &'static str,
        /// The error.
        source: Source,
    },
    /// An exposure check stopped; the error names the file at fault.
    #[error(transparent)]
    Check(#[from] bluezone::risk::CheckError),
    /// Writing the output failed.
    #[error("cannot write output: {0}")]
    Output(#[source] io::Error),
}

impl From<io::Error> for CliError {
    fn from(error: io::Error) -> Self {
        Self::Output(error)
    }
}

/// Attaches the file or option at fault to an error.
pub trait Context<T> {
    /// The error concerns the file at `path`.
    fn in_file(self, path: &Path) -> Result<T, CliError>;
    /// The error concerns the command-line option `option`.
    fn in_option(self, option: &'static str) -> Result<T, CliError>;
    /// The error comes from the environment (`what` names what was needed).
    fn in_environment(self, what: &'static str) -> Result<T, CliError>;
}

impl<T, E: Into<Source>> Context<T> for Result<T, E> {
    fn in_file(self, path: &Path) -> Result<T, CliError> {
        self.map_err(|e| CliError::File {
            path: path.to_path_buf(),
            source: e.into(),
        })
    }

    fn in_option(self, option: &'static str) -> Result<T, CliError> {
        self.map_err(|e| CliError::Option {
            option,
            source: e.into(),
        })
    }

    fn in_environment(self, what: &'static str) -> Result<T, CliError> {
        self.map_err(|e| CliError::Environment {
            what,
            source: e.into(),
        })
    }
}
