//! F0 lists and InfoF uploads: the JSON the Bluezone app and server exchanged (spec §blid.7).

#[cfg(feature = "json")]
use alloc::format;
use alloc::string::String;
#[cfg(feature = "json")]
use alloc::string::ToString;
use alloc::vec::Vec;

#[cfg(feature = "json")]
use parse::{field, integer, key, object, parse_json, time};

use super::keys::{BaseKey, DAY_MS, DailyKey, SlotsPerDay};
#[cfg(feature = "json")]
use crate::hex::Hex;
use crate::hex::ParseHexError;

/// The latest instant accepted in these files: 9999-12-31T23:59:59Z. Keeps every derived
/// millisecond value far from overflow.
pub const MAX_UNIX_SECONDS: u64 = 253_402_300_799;

/// Why an F0 list or InfoF document was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum F0Error {
    /// Not JSON.
    #[error("not JSON (line {line}, column {column}): {message}")]
    Json {
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// The parser's description.
        message: String,
    },
    /// A value is missing or has the wrong JSON type.
    #[error("{path}: expected {expected}")]
    Shape {
        /// Where, as a path such as `data[3].max`.
        path: String,
        /// What was expected there.
        expected: &'static str,
    },
    /// A key is not 64 hex digits.
    #[error("{path}: not a 32-byte key: {error}")]
    Key {
        /// Where.
        path: String,
        /// What was wrong with the hex.
        error: ParseHexError,
    },
    /// `max` outside 1..=1440.
    #[error("data[{entry}].max: {max} slots per day is outside 1..=1440")]
    Max {
        /// 0-based entry.
        entry: usize,
        /// The value found.
        max: u64,
    },
    /// A time after 9999-12-31.
    #[error("{path}: {value} s is after year 9999")]
    TimeRange {
        /// Where.
        path: String,
        /// The value found.
        value: u64,
    },
    /// `time_start` after `time_end`.
    #[error("data[{entry}]: time_start {start} is after time_end {end}")]
    TimeOrder {
        /// 0-based entry.
        entry: usize,
        /// `time_start`.
        start: u64,
        /// `time_end`.
        end: u64,
    },
}

impl F0Error {
    /// A stable kebab-case label for the kind of failure.
    #[must_use]
    pub const fn class(&self) -> &'static str {
        match self {
            Self::Json { .. } => "json",
            Self::Shape { .. } => "shape",
            Self::Key { .. } => "key",
            Self::Max { .. } => "max",
            Self::TimeRange { .. } => "time-range",
            Self::TimeOrder { .. } => "time-order",
        }
    }
}

/// Typed access to JSON values, each failure naming where it happened.
#[cfg(feature = "json")]
mod parse {
    use alloc::format;
    use alloc::string::{String, ToString};

    use serde_json::{Map, Value};

    use super::{F0Error, MAX_UNIX_SECONDS};

    pub(super) fn parse_json(text: &str) -> Result<Value, F0Error> {
        serde_json::from_str(text).map_err(|e| F0Error::Json {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })
    }

    pub(super) fn field<'a>(
        object: &'a Map<String, Value>,
        name: &str,
        path: &str,
    ) -> Result<&'a Value, F0Error> {
        object.get(name).ok_or_else(|| F0Error::Shape {
            path: format!("{path}{name}"),
            expected: "a value",
        })
    }

    /// A non-negative integer; an integral float (as iOS may write) is accepted too.
    pub(super) fn integer(value: &Value, path: String) -> Result<u64, F0Error> {
        if let Some(n) = value.as_u64() {
            return Ok(n);
        }
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "`as` saturates, so the round trip holds only for integral values in range: \
                      every value the casts would change is refused"
        )]
        match value.as_f64() {
            Some(x)
                if (0.0..18_446_744_073_709_551_616.0).contains(&x) && (x as u64) as f64 == x =>
            {
                Ok(x as u64)
            }
            _ => Err(F0Error::Shape {
                path,
                expected: "a non-negative integer",
            }),
        }
    }

    pub(super) fn time(value: &Value, path: String) -> Result<u64, F0Error> {
        let seconds = integer(value, path.clone())?;
        if seconds > MAX_UNIX_SECONDS {
            return Err(F0Error::TimeRange {
                path,
                value: seconds,
            });
        }
        Ok(seconds)
    }

    pub(super) fn key(value: &Value, path: String) -> Result<[u8; 32], F0Error> {
        let text = value.as_str().ok_or_else(|| F0Error::Shape {
            path: path.clone(),
            expected: "a hex string",
        })?;
        crate::hex::decode_array(text).map_err(|error| F0Error::Key { path, error })
    }

    pub(super) fn object<'a>(
        value: &'a Value,
        path: &str,
    ) -> Result<&'a Map<String, Value>, F0Error> {
        value.as_object().ok_or_else(|| F0Error::Shape {
            path: if path.is_empty() {
                "document".to_string()
            } else {
                path.to_string()
            },
            expected: "an object",
        })
    }
}

/// One published daily key of a confirmed case and the time it covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct F0Entry {
    /// The case's daily key for the UTC day starting at `time_start`.
    pub daily_key: DailyKey,
    /// Start of the window, Unix seconds (the key's UTC midnight).
    pub time_start: u64,
    /// Slots per day of the case's phone.
    pub max: SlotsPerDay,
    /// End of the window, Unix seconds (inclusive).
    pub time_end: u64,
}

// spec §blid.7.2: the F0 list pushed to every phone.
/// The F0 list pushed to every phone: `{"data":[{"daily_key","time_start","max","time_end"}]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct F0List {
    /// The entries, in file order.
    pub entries: Vec<F0Entry>,
}

impl F0List {
    #[cfg(feature = "json")]
    /// Reads an F0 list: either the list object itself, or the push's `DataContent` object
    /// whose `"InfoF"` field holds the list as a JSON string.
    ///
    /// Unknown fields are ignored; a repeated field keeps its last value (JSON leaves this
    /// open; it is what `serde_json` does).
    ///
    /// # Errors
    /// [`F0Error`] naming the entry and field at fault. Every entry is checked; none is skipped.
    pub fn from_json(text: &str) -> Result<Self, F0Error> {
        let document = parse_json(text)?;
        let root = object(&document, "")?;
        if let Some(inner) = root.get("InfoF") {
            let inner = inner.as_str().ok_or_else(|| F0Error::Shape {
                path: "InfoF".to_string(),
                expected: "a JSON string holding the F0 list",
            })?;
            return Self::from_json(inner);
        }
        let data = field(root, "data", "")?
            .as_array()
            .ok_or_else(|| F0Error::Shape {
                path: "data".to_string(),
                expected: "an array",
            })?;
        let entries = data
            .iter()
            .enumerate()
            .map(|(entry, value)| {
                let path = format!("data[{entry}].");
                let item = object(value, &format!("data[{entry}]"))?;
                let time_start = time(
                    field(item, "time_start", &path)?,
                    format!("{path}time_start"),
                )?;
                let time_end = time(field(item, "time_end", &path)?, format!("{path}time_end"))?;
                let max = integer(field(item, "max", &path)?, format!("{path}max"))?;
                let max = u32::try_from(max)
                    .ok()
                    .and_then(|m| SlotsPerDay::new(m).ok())
                    .ok_or(F0Error::Max { entry, max })?;
                if time_start > time_end {
                    return Err(F0Error::TimeOrder {
                        entry,
                        start: time_start,
                        end: time_end,
                    });
                }
                Ok(F0Entry {
                    daily_key: DailyKey::from_bytes(key(
                        field(item, "daily_key", &path)?,
                        format!("{path}daily_key"),
                    )?),
                    time_start,
                    max,
                    time_end,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { entries })
    }

    #[cfg(feature = "json")]
    /// The list as the server sent it: upper-case hex, fields in the app's order.
    #[must_use]
    pub fn to_json(&self) -> String {
        let items: Vec<String> = self
            .entries
            .iter()
            .map(|e| {
                format!(
                    "{{\"daily_key\":\"{:X}\",\"time_start\":{},\"max\":{},\"time_end\":{}}}",
                    Hex(e.daily_key.expose_secret()),
                    e.time_start,
                    e.max.get(),
                    e.time_end
                )
            })
            .collect();
        format!("{{\"data\":[{}]}}", items.join(","))
    }
}

// spec §blid.7.1: InfoF, what a confirmed case uploaded.
/// What a phone uploaded when reporting: its base key and base time, and the daily key and
/// start of the oldest day it reports (spec §blid.7). The base key in it lets the receiver
/// compute every identifier the phone ever sent or will send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InfoF {
    /// `base_id` and `time`.
    pub base_key: BaseKey,
    /// `daily_key`: the key of the first reported day.
    pub daily_key: DailyKey,
    /// `time_start`: that day's UTC midnight, Unix seconds.
    pub time_start: u64,
}

impl InfoF {
    /// The upload the app built at `now_ms`: the daily key of the UTC day `days_back` days
    /// before now (14 in the app), or the base key itself if the phone is younger than that.
    ///
    /// # Errors
    /// The errors of [`BaseKey::daily_key`].
    pub fn for_upload(
        base_key: &BaseKey,
        now_ms: u64,
        days_back: u32,
    ) -> Result<Self, super::BlidError> {
        let today = u32::try_from(now_ms / DAY_MS)
            .map_err(|_| super::BlidError::InstantOutOfRange { unix_ms: now_ms })?;
        let first = today.saturating_sub(days_back).max(base_key.base_day());
        Ok(Self {
            base_key: base_key.clone(),
            daily_key: base_key.daily_key(first)?,
            time_start: u64::from(first) * 86_400,
        })
    }

    #[cfg(feature = "json")]
    /// Reads `{"base_id","time","daily_key","time_start"}`.
    ///
    /// # Errors
    /// [`F0Error`] naming the field at fault.
    pub fn from_json(text: &str) -> Result<Self, F0Error> {
        let document = parse_json(text)?;
        let root = object(&document, "")?;
        let base_time = time(field(root, "time", "")?, "time".to_string())?;
        let base_day = u32::try_from(base_time / 86_400).map_err(|_| F0Error::TimeRange {
            path: "time".to_string(),
            value: base_time,
        })?;
        Ok(Self {
            base_key: BaseKey::from_bytes(
                key(field(root, "base_id", "")?, "base_id".to_string())?,
                base_day,
            ),
            daily_key: DailyKey::from_bytes(key(
                field(root, "daily_key", "")?,
                "daily_key".to_string(),
            )?),
            time_start: time(field(root, "time_start", "")?, "time_start".to_string())?,
        })
    }

    #[cfg(feature = "json")]
    /// The upload as the app wrote it.
    #[must_use]
    pub fn to_json(&self) -> String {
        format!(
            "{{\"base_id\":\"{:X}\",\"time\":{},\"daily_key\":\"{:X}\",\"time_start\":{}}}",
            Hex(self.base_key.expose_secret()),
            self.base_key.base_time_s(),
            Hex(self.daily_key.expose_secret()),
            self.time_start
        )
    }
}

#[cfg(all(test, feature = "json"))]
mod tests {
    use super::*;

    const CAPTURED_INFO_F: &str = "{\"base_id\":\"4C5224B397F8AB3896781D5AA0F3119F280513F1B592CA280EBDED6357E21084\",\"time\":1596844800,\"daily_key\":\"4C5224B397F8AB3896781D5AA0F3119F280513F1B592CA280EBDED6357E21084\",\"time_start\":1596844800}";

    #[test]
    /// Checks spec §blid.7, §blid.7.1.
    fn captured_info_f_round_trips() {
        let info = InfoF::from_json(CAPTURED_INFO_F).unwrap();
        assert_eq!(info.base_key.base_time_s(), 1_596_844_800);
        assert_eq!(info.to_json(), CAPTURED_INFO_F);
        // The phone was installed that day, so its upload starts at the base key.
        let rebuilt = InfoF::for_upload(&info.base_key, 1_596_866_191_387, 14).unwrap();
        assert_eq!(rebuilt, info);
    }

    #[test]
    /// Checks spec §blid.7, §blid.7.2.
    fn f0_lists_read_write_and_refuse_with_paths() {
        let key = "AB".repeat(32);
        let text = std::format!(
            "{{\"data\": [{{\"daily_key\": \"{key}\", \"time_start\": 1596844800, \"time_end\": 1600000000, \"max\": 96}}]}}"
        );
        let list = F0List::from_json(&text).unwrap();
        assert_eq!(list.entries.len(), 1);
        assert_eq!(F0List::from_json(&list.to_json()).unwrap(), list);
        // Nested in the push's DataContent, as a JSON string.
        let nested =
            serde_json::json!({"FindGUID": "x", "Numberdays": 14, "InfoF": text}).to_string();
        assert_eq!(F0List::from_json(&nested).unwrap(), list);
        // A float that is integral is fine (iOS); a fraction is not.
        assert!(F0List::from_json(&text.replace("1596844800", "1596844800.0")).is_ok());
        let errors = [
            (text.replace("\"max\": 96", "\"max\": 0"), "max"),
            (text.replace("\"max\": 96", "\"max\": 1441"), "max"),
            (text.replace("1600000000", "1500000000"), "time-order"),
            (text.replace("1596844800", "1596844800.5"), "shape"),
            (text.replace("1596844800", "-1"), "shape"),
            (text.replace("1600000000", "253402300800"), "time-range"),
            (text.replace(&key, &key[2..]), "key"),
            (text.replace(", \"max\": 96", ""), "shape"),
            (text[..text.len() - 3].to_string(), "json"),
            ("[]".into(), "shape"),
            ("{\"data\": [1]}".into(), "shape"),
            ("{\"InfoF\": 3}".into(), "shape"),
        ];
        for (bad, class) in errors {
            let error = F0List::from_json(&bad).unwrap_err();
            assert_eq!(error.class(), class, "{bad}: {error}");
        }
        let error = F0List::from_json(&text.replace("\"max\": 96", "\"max\": 0")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "data[0].max: 0 slots per day is outside 1..=1440"
        );
    }
}
