//! Time as the protocols count it: GAEN interval numbers, rolling windows and UTC days.
//!
//! Specified in `spec/time.md`. Every conversion that could leave the range of its type is
//! checked and returns [`TimeError`]; nothing wraps silently.

use core::fmt;

/// Length of one GAEN interval in seconds (10 minutes).
pub const INTERVAL_SECONDS: u64 = 600;
/// Intervals in one UTC day, the `TEKRollingPeriod` of the cryptography specification.
pub const INTERVALS_PER_DAY: u32 = 144;
/// Seconds in one UTC day (no leap seconds: Unix time).
pub const SECONDS_PER_DAY: u64 = 86_400;

/// Why a time value could not be represented.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeError {
    /// The instant lies past the last interval a `u32` interval number can name.
    #[error("{unix_seconds} s lies beyond interval number 0xFFFFFFFF")]
    OutOfRange {
        /// The instant that was given, in Unix seconds.
        unix_seconds: u64,
    },
    /// A rolling period outside `1..=144`.
    #[error("rolling period {0} is outside 1..=144")]
    RollingPeriod(u32),
    /// A window whose last interval would lie past interval number 0xFFFFFFFF.
    #[error("a window of {period} intervals from interval {start} ends past 0xFFFFFFFF")]
    WindowOverflow {
        /// First interval of the window.
        start: u32,
        /// Number of intervals asked for.
        period: u32,
    },
}

/// `ENIntervalNumber`: the number of 10-minute intervals since the Unix epoch (spec §time.1).
///
/// `ENIN(t) = floor(t / 600)` for `t` in Unix seconds. On the wire it is a `u32` in
/// little-endian order. Java implementations hold it in a signed `int`; the bytes are the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct EnIntervalNumber(u32);

impl EnIntervalNumber {
    /// Interval 0, starting at the Unix epoch.
    pub const MIN: Self = Self(0);
    /// The last interval a `u32` can name.
    pub const MAX: Self = Self(u32::MAX);

    /// Wraps a raw interval number.
    #[must_use]
    pub const fn new(value: u32) -> Self {
        Self(value)
    }

    /// The raw interval number.
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The interval holding the instant `unix_seconds`: `floor(unix_seconds / 600)`.
    ///
    /// # Errors
    /// [`TimeError::OutOfRange`] past interval 0xFFFFFFFF (the year 83 000 or so).
    pub const fn from_unix_seconds(unix_seconds: u64) -> Result<Self, TimeError> {
        let interval = unix_seconds / INTERVAL_SECONDS;
        if interval > u32::MAX as u64 {
            Err(TimeError::OutOfRange { unix_seconds })
        } else {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "checked to be at most u32::MAX just above"
            )]
            Ok(Self(interval as u32))
        }
    }

    /// The Unix time at which this interval begins.
    #[must_use]
    pub const fn start_unix_seconds(self) -> u64 {
        self.0 as u64 * INTERVAL_SECONDS
    }

    /// The four bytes the key schedule feeds to AES: little-endian.
    #[must_use]
    pub const fn to_le_bytes(self) -> [u8; 4] {
        self.0.to_le_bytes()
    }

    /// `self + intervals`, or `None` past 0xFFFFFFFF.
    #[must_use]
    pub const fn checked_add(self, intervals: u32) -> Option<Self> {
        match self.0.checked_add(intervals) {
            Some(value) => Some(Self(value)),
            None => None,
        }
    }

    /// `self - intervals`, or `None` below 0.
    #[must_use]
    pub const fn checked_sub(self, intervals: u32) -> Option<Self> {
        match self.0.checked_sub(intervals) {
            Some(value) => Some(Self(value)),
            None => None,
        }
    }

    /// `self + intervals`, stopping at [`Self::MAX`].
    #[must_use]
    pub const fn saturating_add(self, intervals: u32) -> Self {
        Self(self.0.saturating_add(intervals))
    }

    /// `self - intervals`, stopping at [`Self::MIN`].
    #[must_use]
    pub const fn saturating_sub(self, intervals: u32) -> Self {
        Self(self.0.saturating_sub(intervals))
    }

    /// The UTC day (days since the epoch) this interval falls in.
    #[must_use]
    pub const fn unix_day(self) -> u32 {
        self.0 / INTERVALS_PER_DAY
    }

    /// The first interval of this interval's UTC day: `floor(i / 144) * 144`, the rolling
    /// start a phone gives a key it creates during this interval.
    #[must_use]
    pub const fn day_start(self) -> Self {
        Self(self.0 - self.0 % INTERVALS_PER_DAY)
    }

    /// Whether this interval starts a UTC day. Published keys need not: see
    /// [`RollingWindow`].
    #[must_use]
    pub const fn is_day_aligned(self) -> bool {
        self.0.is_multiple_of(INTERVALS_PER_DAY)
    }
}

impl From<u32> for EnIntervalNumber {
    fn from(value: u32) -> Self {
        Self(value)
    }
}

impl From<EnIntervalNumber> for u32 {
    fn from(value: EnIntervalNumber) -> Self {
        value.0
    }
}

impl fmt::Display for EnIntervalNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

// spec §time.2: a rolling period of 1 to 144 intervals.
/// `TEKRollingPeriod` of one key: how many intervals it is valid for, `1..=144`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "u32", into = "u32"))]
pub struct RollingPeriod(u8);

impl RollingPeriod {
    /// A whole day, 144 intervals: the default in export files (proto2 default).
    pub const FULL_DAY: Self = Self(144);

    /// Checks `1..=144`.
    ///
    /// # Errors
    /// [`TimeError::RollingPeriod`] outside that range.
    pub const fn new(intervals: u32) -> Result<Self, TimeError> {
        if intervals >= 1 && intervals <= INTERVALS_PER_DAY {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "checked to be at most 144 just above"
            )]
            Ok(Self(intervals as u8))
        } else {
            Err(TimeError::RollingPeriod(intervals))
        }
    }

    /// Number of intervals.
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0 as u32
    }
}

impl Default for RollingPeriod {
    fn default() -> Self {
        Self::FULL_DAY
    }
}

impl TryFrom<u32> for RollingPeriod {
    type Error = TimeError;

    fn try_from(value: u32) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<RollingPeriod> for u32 {
    fn from(value: RollingPeriod) -> Self {
        value.get()
    }
}

/// The intervals a key is valid for: `start .. start + period`, every one of them a valid
/// interval number (spec §time.3).
///
/// The start need not be aligned to a UTC day: Google's own sample data holds a key starting at
/// interval 2646801 (81 intervals into its day) with a period of 89.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RollingWindow {
    start: EnIntervalNumber,
    period: RollingPeriod,
}

impl RollingWindow {
    /// A window of `period` intervals from `start`.
    ///
    /// # Errors
    /// [`TimeError::WindowOverflow`] when the last interval would lie past 0xFFFFFFFF.
    pub const fn new(start: EnIntervalNumber, period: RollingPeriod) -> Result<Self, TimeError> {
        match start.checked_add(period.get() - 1) {
            Some(_) => Ok(Self { start, period }),
            None => Err(TimeError::WindowOverflow {
                start: start.get(),
                period: period.get(),
            }),
        }
    }

    /// The whole UTC day holding `interval` (a start aligned to 144, period 144).
    #[must_use]
    pub const fn day_of(interval: EnIntervalNumber) -> Self {
        let start = interval.day_start();
        match start.checked_add(INTERVALS_PER_DAY - 1) {
            Some(_) => Self {
                start,
                period: RollingPeriod::FULL_DAY,
            },
            // The final, partial day of the u32 range: keep every interval that exists.
            #[expect(
                clippy::cast_possible_truncation,
                reason = "the window passed the last interval, so fewer than 144 remain"
            )]
            None => Self {
                start,
                period: RollingPeriod((u32::MAX - start.get() + 1) as u8),
            },
        }
    }

    /// First interval.
    #[must_use]
    pub const fn start(self) -> EnIntervalNumber {
        self.start
    }

    /// Number of intervals.
    #[must_use]
    pub const fn period(self) -> RollingPeriod {
        self.period
    }

    /// Last interval (inclusive).
    #[must_use]
    pub const fn last(self) -> EnIntervalNumber {
        // Cannot overflow: checked in `new`.
        EnIntervalNumber(self.start.0 + (self.period.0 as u32 - 1))
    }

    /// Whether `interval` is one of this window's intervals.
    #[must_use]
    pub const fn contains(self, interval: EnIntervalNumber) -> bool {
        interval.0 >= self.start.0 && interval.0 <= self.last().0
    }

    /// The position of `interval` in the window, if it is one of its intervals.
    #[must_use]
    pub const fn offset_of(self, interval: EnIntervalNumber) -> Option<usize> {
        if self.contains(interval) {
            Some((interval.0 - self.start.0) as usize)
        } else {
            None
        }
    }

    /// The window's intervals in order.
    pub fn intervals(self) -> impl ExactSizeIterator<Item = EnIntervalNumber> + Clone {
        (0..self.period.get()).map(move |k| EnIntervalNumber(self.start.0 + k))
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for RollingWindow {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        struct Raw {
            start: EnIntervalNumber,
            period: RollingPeriod,
        }
        let raw = Raw::deserialize(deserializer)?;
        Self::new(raw.start, raw.period).map_err(serde::de::Error::custom)
    }
}

/// 2020-01-01T00:00:00Z: no exposure-notification app ran before, so no sighting, check or
/// file of this crate's protocols is older (spec §time.4).
pub const EARLIEST_PLAUSIBLE_UNIX_SECONDS: u64 = 1_577_836_800;

/// How far a time may run ahead of the wall clock of the device that checks it: one hour, for
/// a wristband's drifting clock or a clock set by hand (spec §time.4).
pub const CLOCK_MARGIN_SECONDS: u64 = 3_600;

/// The system's wall clock, Unix seconds (0 on a clock set before 1970).
#[cfg(feature = "std")]
#[must_use]
pub fn wall_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A "now" or a record time that cannot be true on the device checking it (spec §time.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImplausibleTime {
    /// Before 2020.
    #[error(
        "{0} s is before 2020-01-01, when no exposure-notification app ran (seconds since 1970 expected; a day or an interval number given instead?)"
    )]
    BeforeEarliest(u64),
    /// Later than the wall clock plus [`CLOCK_MARGIN_SECONDS`].
    #[error(
        "{time} s is {ahead} s later than this device's clock ({wall} s) (milliseconds read as seconds?)"
    )]
    AfterWallClock {
        /// The time given.
        time: u64,
        /// The wall clock.
        wall: u64,
        /// How far ahead.
        ahead: u64,
    },
}

/// Checks that `time` (Unix seconds) can be true on a device whose wall clock reads `wall`:
/// from 2020 to `wall` plus [`CLOCK_MARGIN_SECONDS`] (spec §time.4).
///
/// ```
/// use bluezone::time::{ImplausibleTime, plausible_time};
/// let wall = 1_607_126_400; // 2020-12-05
/// assert!(plausible_time(wall - 600, wall).is_ok());
/// assert!(matches!(
///     plausible_time(wall * 1000, wall),
///     Err(ImplausibleTime::AfterWallClock { .. })
/// ));
/// assert_eq!(plausible_time(18_600, wall), Err(ImplausibleTime::BeforeEarliest(18_600)));
/// ```
///
/// # Errors
/// [`ImplausibleTime`], naming the likely cause.
pub const fn plausible_time(time: u64, wall: u64) -> Result<(), ImplausibleTime> {
    if time < EARLIEST_PLAUSIBLE_UNIX_SECONDS {
        return Err(ImplausibleTime::BeforeEarliest(time));
    }
    if time > wall.saturating_add(CLOCK_MARGIN_SECONDS) {
        return Err(ImplausibleTime::AfterWallClock {
            time,
            wall,
            ahead: time - wall,
        });
    }
    Ok(())
}

/// A calendar date and time of day in UTC, for display (proleptic Gregorian calendar).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcDateTime {
    /// Year, for example 2020.
    pub year: u32,
    /// Month, 1..=12.
    pub month: u8,
    /// Day of the month, 1..=31.
    pub day: u8,
    /// Hour, 0..=23.
    pub hour: u8,
    /// Minute, 0..=59.
    pub minute: u8,
    /// Second, 0..=59.
    pub second: u8,
}

impl UtcDateTime {
    /// The calendar date, without the time of day.
    #[must_use]
    pub const fn date(&self) -> UtcDate {
        UtcDate {
            year: self.year,
            month: self.month,
            day: self.day,
        }
    }

    /// The date and time of `unix_seconds` (non-negative Unix time).
    #[must_use]
    #[expect(
        clippy::cast_possible_truncation,
        reason = "day, month, hour, minute and second are below 60; a year past u32::MAX, \
                  after the year 4 294 967 295, keeps its low 32 bits"
    )]
    pub const fn from_unix_seconds(unix_seconds: u64) -> Self {
        let days = unix_seconds / SECONDS_PER_DAY;
        let secs = unix_seconds % SECONDS_PER_DAY;
        // Days to civil date, after Howard Hinnant's "days_from_civil" inverse, restricted to
        // dates on or after 1970-01-01 so that every quantity is unsigned.
        let z = days + 719_468;
        let era = z / 146_097;
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
        Self {
            year: year as u32,
            month,
            day,
            hour: (secs / 3_600) as u8,
            minute: (secs % 3_600 / 60) as u8,
            second: (secs % 60) as u8,
        }
    }
}

/// A UTC calendar date, printed as `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcDate {
    /// Year, for example 2020.
    pub year: u32,
    /// Month, 1..=12.
    pub month: u8,
    /// Day of the month, 1..=31.
    pub day: u8,
}

impl UtcDate {
    /// The date of a UTC day counted from 1970-01-01 (day 0).
    #[must_use]
    pub const fn from_unix_day(unix_day: u64) -> Self {
        UtcDateTime::from_unix_seconds(unix_day.saturating_mul(SECONDS_PER_DAY)).date()
    }
}

impl fmt::Display for UtcDate {
    /// ISO 8601, for example `2020-04-02`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl fmt::Display for UtcDateTime {
    /// ISO 8601, for example `2020-04-02T00:00:00Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    /// Checks spec §time.1.
    fn interval_numbers_follow_the_specification() {
        // The official vectors' key was generated at 1585785600 s = interval 2642976.
        let enin = EnIntervalNumber::from_unix_seconds(1_585_785_600).unwrap();
        assert_eq!(enin.get(), 2_642_976);
        assert!(enin.is_day_aligned());
        assert_eq!(enin.to_le_bytes(), [0x20, 0x54, 0x28, 0x00]);
        assert_eq!(
            EnIntervalNumber::from_unix_seconds(1_585_785_599)
                .unwrap()
                .get(),
            2_642_975
        );
        let last_second = (u64::from(u32::MAX) + 1) * INTERVAL_SECONDS - 1;
        assert_eq!(
            EnIntervalNumber::from_unix_seconds(last_second),
            Ok(EnIntervalNumber::MAX)
        );
        assert_eq!(
            EnIntervalNumber::from_unix_seconds(last_second + 1),
            Err(TimeError::OutOfRange {
                unix_seconds: last_second + 1
            })
        );
    }

    #[test]
    /// Checks spec §time.2, §time.3.
    fn windows_never_name_an_interval_past_the_range() {
        let full = RollingPeriod::FULL_DAY;
        assert!(RollingWindow::new(EnIntervalNumber::new(u32::MAX - 143), full).is_ok());
        assert_eq!(
            RollingWindow::new(EnIntervalNumber::new(u32::MAX - 142), full),
            Err(TimeError::WindowOverflow {
                start: u32::MAX - 142,
                period: 144
            })
        );
        let last_day = RollingWindow::day_of(EnIntervalNumber::MAX);
        assert_eq!(last_day.last(), EnIntervalNumber::MAX);
        assert_eq!(last_day.period().get(), u32::MAX % 144 + 1);
        assert_eq!(RollingPeriod::new(0), Err(TimeError::RollingPeriod(0)));
        assert_eq!(RollingPeriod::new(145), Err(TimeError::RollingPeriod(145)));
    }

    #[test]
    /// Checks spec §time.3.
    fn unaligned_window_offsets() {
        let window = RollingWindow::new(
            EnIntervalNumber::new(2_646_801),
            RollingPeriod::new(89).unwrap(),
        )
        .unwrap();
        assert_eq!(window.last().get(), 2_646_889);
        assert_eq!(window.offset_of(EnIntervalNumber::new(2_646_801)), Some(0));
        assert_eq!(window.offset_of(EnIntervalNumber::new(2_646_889)), Some(88));
        assert_eq!(window.offset_of(EnIntervalNumber::new(2_646_890)), None);
        assert_eq!(window.intervals().len(), 89);
    }

    #[test]
    fn civil_dates() {
        assert_eq!(
            UtcDateTime::from_unix_seconds(0).to_string(),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            UtcDateTime::from_unix_seconds(1_585_785_600).to_string(),
            "2020-04-02T00:00:00Z"
        );
        assert_eq!(
            UtcDateTime::from_unix_seconds(1_596_458_096).to_string(),
            "2020-08-03T12:34:56Z"
        );
        assert_eq!(
            UtcDateTime::from_unix_seconds(951_782_400).to_string(),
            "2000-02-29T00:00:00Z"
        );
    }
}
