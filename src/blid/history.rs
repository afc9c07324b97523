//! The contact history the app uploaded, `data_trace.txt` (spec §blid.6).
//!
//! One line per sighting, four fields separated by tabs:
//! `OWN_ID \t CONTACT_ID \t RSSI \t TIMESTAMP`, identifiers in hex (the app wrote upper case),
//! RSSI in dBm, and the timestamp in the writing platform's unit: milliseconds on Android,
//! seconds on iOS. The unit is not in the file, so every reader names it.

use core::fmt;

use super::keys::BluezoneId;
use crate::hex::ParseHexError;

/// The unit of the timestamps in a history file or an F0 comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum TimeUnit {
    /// Milliseconds since the epoch: what the Android app wrote.
    Milliseconds,
    /// Seconds since the epoch: what the iOS app wrote.
    Seconds,
}

impl TimeUnit {
    /// Units in one second.
    #[must_use]
    pub const fn per_second(self) -> u64 {
        match self {
            Self::Milliseconds => 1000,
            Self::Seconds => 1,
        }
    }

    /// Units in one UTC day.
    #[must_use]
    pub const fn per_day(self) -> u64 {
        86_400 * self.per_second()
    }
}

/// One row of the contact history: who I was, whom I heard, how loud, when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct HistoryLine {
    /// The identifier this phone was broadcasting.
    pub own_id: BluezoneId,
    /// The identifier it heard.
    pub contact_id: BluezoneId,
    /// Received signal strength in dBm.
    pub rssi: i8,
    /// When, in the file's [`TimeUnit`].
    pub timestamp: u64,
}

/// Which field of a history line was wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryLineError {
    /// Not four tab-separated fields.
    #[error("expected 4 tab-separated fields, found {found}")]
    FieldCount {
        /// Fields found.
        found: usize,
    },
    /// An identifier field is not 24 hex digits.
    #[error("field {field} is not a 12-byte identifier: {error}")]
    Identifier {
        /// 1 for the own identifier, 2 for the contact.
        field: u8,
        /// What was wrong with the hex.
        error: ParseHexError,
    },
    /// The RSSI is not an integer in −128..=127.
    #[error("field 3 is not an RSSI in -128..=127 dBm")]
    Rssi,
    /// The timestamp is not a non-negative integer that fits 64 bits.
    #[error("field 4 is not a non-negative integer timestamp")]
    Timestamp,
}

impl HistoryLineError {
    /// The 1-based field (column) the error is in, or `None` when the line has the wrong shape.
    #[must_use]
    pub const fn field(&self) -> Option<u8> {
        match self {
            Self::FieldCount { .. } => None,
            Self::Identifier { field, .. } => Some(*field),
            Self::Rssi => Some(3),
            Self::Timestamp => Some(4),
        }
    }
}

/// A history line that could not be read, with its 1-based line number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {error}")]
pub struct HistoryError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub error: HistoryLineError,
}

impl HistoryLine {
    /// Reads one line (without its line ending; a trailing `\r` is tolerated).
    ///
    /// # Errors
    /// [`HistoryLineError`] naming the field that is wrong.
    pub fn parse(line: &str) -> Result<Self, HistoryLineError> {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let mut fields = line.split('\t');
        let mut next = || fields.next();
        let (Some(own), Some(contact), Some(rssi), Some(timestamp), None) =
            (next(), next(), next(), next(), next())
        else {
            return Err(HistoryLineError::FieldCount {
                found: line.split('\t').count(),
            });
        };
        let id = |text: &str, field| {
            text.parse::<BluezoneId>()
                .map_err(|error| HistoryLineError::Identifier { field, error })
        };
        Ok(Self {
            own_id: id(own, 1)?,
            contact_id: id(contact, 2)?,
            rssi: rssi.parse().map_err(|_| HistoryLineError::Rssi)?,
            timestamp: parse_timestamp(timestamp)?,
        })
    }

    /// The timestamp in Unix milliseconds, given the file's unit (`None` on overflow).
    #[must_use]
    pub const fn unix_ms(&self, unit: TimeUnit) -> Option<u64> {
        self.timestamp.checked_mul(1000 / unit.per_second())
    }
}

fn parse_timestamp(text: &str) -> Result<u64, HistoryLineError> {
    // `u64::from_str` accepts a leading '+'; the app never wrote one, so refuse it.
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HistoryLineError::Timestamp);
    }
    text.parse().map_err(|_| HistoryLineError::Timestamp)
}

impl fmt::Display for HistoryLine {
    /// The line as the app wrote it, without the newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\t{}\t{}\t{}",
            self.own_id, self.contact_id, self.rssi, self.timestamp
        )
    }
}

/// Reads a whole history file: one [`HistoryLine`] per line, or the first error with its line
/// number. A final line ending is allowed; an empty line anywhere else is an error, so no line
/// is ever skipped.
pub fn parse_history(text: &str) -> impl Iterator<Item = Result<HistoryLine, HistoryError>> + '_ {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let lines = if text.is_empty() {
        None
    } else {
        Some(body.split('\n'))
    };
    lines
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(index, line)| {
            HistoryLine::parse(line).map_err(|error| HistoryError {
                line: index.saturating_add(1),
                error,
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;
    use std::vec::Vec;

    #[test]
    /// Checks spec §blid.6.
    fn the_captured_line_round_trips() {
        let text = "B9A665D754FE65E665D76A45\t7C3DEC4246EA6F90E38EA254\t-71\t1596866191387";
        let line = HistoryLine::parse(text).unwrap();
        assert_eq!(line.rssi, -71);
        assert_eq!(
            line.unix_ms(TimeUnit::Milliseconds),
            Some(1_596_866_191_387)
        );
        assert_eq!(line.to_string(), text);
    }

    #[test]
    /// Checks spec §blid.6.
    fn errors_name_the_line_and_field() {
        let good = "B9A665D754FE65E665D76A45\t7C3DEC4246EA6F90E38EA254\t-71\t1596866191387";
        let text = std::format!("{good}\n{good}\r\n{good}\t9\n");
        let parsed: Vec<_> = parse_history(&text).collect();
        assert_eq!(parsed.len(), 3);
        assert!(parsed[0].is_ok() && parsed[1].is_ok());
        assert_eq!(
            parsed[2],
            Err(HistoryError {
                line: 3,
                error: HistoryLineError::FieldCount { found: 5 }
            })
        );
        let bad_rssi = good.replace("-71", "-129");
        assert_eq!(HistoryLine::parse(&bad_rssi), Err(HistoryLineError::Rssi));
        assert_eq!(
            HistoryLine::parse(&good.replace("1596866191387", "+1")),
            Err(HistoryLineError::Timestamp)
        );
        assert_eq!(
            HistoryLine::parse(&good.replace("B9A6", "B9AZ"))
                .unwrap_err()
                .field(),
            Some(1)
        );
        let blank_inside: Vec<_> = parse_history(&std::format!("{good}\n\n{good}\n")).collect();
        assert_eq!(blank_inside[1].unwrap_err().line, 2);
        assert_eq!(parse_history("").count(), 0);
    }
}
