//! The GAEN sightings at a path, whichever form they are kept in: an encounter-log folder
//! (spec §enc.3) or a `unix_seconds,rpi,aem,rssi` CSV file (spec §enc.4), as spec §enc.5 reads them. This is the strict
//! reading the language bindings use: damage anywhere is an error, never a skipped record.

use std::path::{Path, PathBuf};
use std::vec::Vec;

use super::GaenSighting;
use super::csv::{CsvError, parse_csv};
use super::frame::Damage;
use super::log::{EncounterLog, LogError};

/// Why the sightings at a path could not be read whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The log folder could not be opened or read.
    #[error(transparent)]
    Log(#[from] LogError),
    /// A segment of the log is damaged; its intact records were not used either.
    #[error("{}: {damage}", segment.display())]
    Damaged {
        /// The segment.
        segment: PathBuf,
        /// The first damaged stretch found.
        damage: Damage,
    },
    /// A line of the CSV file is not a sighting.
    #[error("{}: {error}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// The line and what is wrong with it.
        error: CsvError,
    },
    /// The CSV file holds its header and no sighting.
    #[error("{}: {}", path.display(), super::csv::NoSightings)]
    NoSightings {
        /// The file.
        path: PathBuf,
    },
    /// The file is not text: not a CSV file, nor a log folder.
    #[error("{}: not a CSV file of sightings (not UTF-8 text), nor an encounter-log folder", path.display())]
    NotText {
        /// The file.
        path: PathBuf,
    },
    /// The CSV file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Every GAEN sighting at `path`: the log in the folder `path` (Bluezone sightings of the log
/// are left out), or the CSV file `path`, in order.
///
/// # Errors
/// [`SourceError`] at the first damaged segment, bad line or failed read.
pub fn gaen_sightings(path: &Path) -> Result<Vec<GaenSighting>, SourceError> {
    if path.is_dir() {
        let log = EncounterLog::open_existing(path)?;
        let mut damaged = None;
        let found = log.sightings(|segment, damage| {
            damaged.get_or_insert_with(|| (segment.to_path_buf(), *damage));
        })?;
        return match damaged {
            Some((segment, damage)) => Err(SourceError::Damaged { segment, damage }),
            None => Ok(found.gaen),
        };
    }
    let bytes = std::fs::read(path).map_err(|source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let text = std::string::String::from_utf8(bytes).map_err(|_| SourceError::NotText {
        path: path.to_path_buf(),
    })?;
    let sightings = parse_csv(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| SourceError::Csv {
            path: path.to_path_buf(),
            error,
        })?;
    if sightings.is_empty() {
        return Err(SourceError::NoSightings {
            path: path.to_path_buf(),
        });
    }
    Ok(sightings)
}
