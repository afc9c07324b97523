//! CSV for GAEN sightings: `unix_seconds,rpi,aem,rssi` (spec §enc.4).
//!
//! The header line is exactly `unix_seconds,rpi,aem,rssi`; each following line holds a
//! decimal Unix time, the RPI as 32 hex digits, the AEM as 8 hex digits and the RSSI as a
//! decimal integer in dBm. Hex is read in either case and written in lower case. The CSV does
//! not carry the previous-scan time; it reads as 0 (unknown).

use core::fmt;

use super::record::GaenSighting;
use crate::gaen::{AssociatedEncryptedMetadata, RollingProximityIdentifier};
use crate::hex::ParseHexError;

/// The header line.
pub const CSV_HEADER: &str = "unix_seconds,rpi,aem,rssi";

/// What is wrong with a CSV line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CsvLineError {
    /// The first line is not the header.
    #[error("the first line must be exactly `unix_seconds,rpi,aem,rssi`")]
    Header,
    /// Not four comma-separated fields.
    #[error("expected 4 comma-separated fields, found {found}")]
    FieldCount {
        /// Fields found.
        found: usize,
    },
    /// Column 1 is not a non-negative decimal integer.
    #[error("column 1 (unix_seconds) is not a non-negative integer")]
    UnixSeconds,
    /// Column 2 is not 32 hex digits.
    #[error("column 2 (rpi) is not 16 bytes of hex: {0}")]
    Rpi(ParseHexError),
    /// Column 3 is not 8 hex digits.
    #[error("column 3 (aem) is not 4 bytes of hex: {0}")]
    Aem(ParseHexError),
    /// Column 4 is not an integer in −128..=127.
    #[error("column 4 (rssi) is not an integer in -128..=127")]
    Rssi,
}

impl CsvLineError {
    /// The 1-based column at fault, if the error is in one column.
    #[must_use]
    pub const fn column(&self) -> Option<usize> {
        match self {
            Self::Header | Self::FieldCount { .. } => None,
            Self::UnixSeconds => Some(1),
            Self::Rpi(_) => Some(2),
            Self::Aem(_) => Some(3),
            Self::Rssi => Some(4),
        }
    }
}

/// A CSV error with its 1-based line number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {error}")]
pub struct CsvError {
    /// 1-based line number (the header is line 1).
    pub line: usize,
    /// What was wrong.
    pub error: CsvLineError,
}

/// Checks the header line (a trailing `\r` is tolerated).
///
/// # Errors
/// [`CsvLineError::Header`] for anything else.
pub fn check_csv_header(line: &str) -> Result<(), CsvLineError> {
    if line.strip_suffix('\r').unwrap_or(line) == CSV_HEADER {
        Ok(())
    } else {
        Err(CsvLineError::Header)
    }
}

/// Reads one data line (a trailing `\r` is tolerated).
///
/// # Errors
/// [`CsvLineError`] naming the column at fault.
pub fn parse_csv_line(line: &str) -> Result<GaenSighting, CsvLineError> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut fields = line.split(',');
    let mut next = || fields.next();
    let (Some(time), Some(rpi), Some(aem), Some(rssi), None) =
        (next(), next(), next(), next(), next())
    else {
        return Err(CsvLineError::FieldCount {
            found: line.split(',').count(),
        });
    };
    if time.is_empty() || !time.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CsvLineError::UnixSeconds);
    }
    Ok(GaenSighting {
        unix_seconds: time.parse().map_err(|_| CsvLineError::UnixSeconds)?,
        rpi: rpi
            .parse::<RollingProximityIdentifier>()
            .map_err(CsvLineError::Rpi)?,
        aem: aem
            .parse::<AssociatedEncryptedMetadata>()
            .map_err(CsvLineError::Aem)?,
        rssi: rssi.parse().map_err(|_| CsvLineError::Rssi)?,
        previous_scan_unix_seconds: 0,
    })
}

/// Reads a whole CSV text: the header, then one sighting per line. A final line ending is
/// allowed; an empty line anywhere else is an error, so no line is skipped.
pub fn parse_csv(text: &str) -> impl Iterator<Item = Result<GaenSighting, CsvError>> + '_ {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let mut lines = body.split('\n').enumerate();
    // Default: never taken, splitting yields at least one (possibly empty) line.
    let header = lines.next().map(|(_, line)| line).unwrap_or_default();
    let header_error = check_csv_header(header)
        .err()
        .map(|error| Err(CsvError { line: 1, error }));
    let data = header_error
        .is_none()
        .then_some(lines)
        .into_iter()
        .flatten()
        .map(|(index, line)| {
            parse_csv_line(line).map_err(|error| CsvError {
                line: index.saturating_add(1),
                error,
            })
        });
    header_error.into_iter().chain(data)
}

/// A CSV file with its header and no sighting: not an encounter log, since a check against it
/// could only ever say "not exposed" (spec §enc.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("holds the header and no sighting: not an encounter log")]
pub struct NoSightings;

/// Formats a sighting as one CSV data line, without the line ending.
#[derive(Clone, Copy, Debug)]
pub struct CsvLine<'a>(pub &'a GaenSighting);

impl fmt::Display for CsvLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{},{},{},{}",
            self.0.unix_seconds, self.0.rpi, self.0.aem, self.0.rssi
        )
    }
}
