//! The F1 decision the app never made on the phone: close enough, long enough (spec §blid.8.3).
//!
//! Bluezone's operators described an F1 as someone "within 2 m of an F0 for more than 15
//! minutes in a day"; the rule ran on their server and was never published. This module makes
//! it on the device from the matches of [`super::matching`]: a sighting is *close* when its
//! RSSI reaches the threshold for the scanner and advertiser platforms (the thresholds the app
//! used to count close contacts in its interface), and the time near an F0 is summed per UTC
//! day from consecutive close sightings.

use alloc::vec::Vec;

use super::history::TimeUnit;
use super::matching::BlidMatch;

/// A phone platform, which decides the RSSI calibration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Platform {
    /// An Android phone.
    Android,
    /// An iPhone.
    Ios,
}

impl Platform {
    /// The platform that wrote a history in `unit`: Android wrote milliseconds, iOS seconds.
    #[must_use]
    pub const fn of_history(unit: TimeUnit) -> Self {
        match unit {
            TimeUnit::Milliseconds => Self::Android,
            TimeUnit::Seconds => Self::Ios,
        }
    }
}

// spec §blid.8.2: the app's closeness thresholds.
/// The weakest RSSI (dBm) still counted as close, per scanner → advertiser pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RssiThresholds {
    /// Android scanner, Android advertiser.
    pub android_to_android: i8,
    /// Android scanner, iPhone advertiser.
    pub android_to_ios: i8,
    /// iPhone scanner, Android advertiser.
    pub ios_to_android: i8,
    /// iPhone scanner, iPhone advertiser.
    pub ios_to_ios: i8,
}

impl Default for RssiThresholds {
    /// The app's values (`app/configuration.js`): −86, −69, −88 and −74 dBm.
    fn default() -> Self {
        Self {
            android_to_android: -86,
            android_to_ios: -69,
            ios_to_android: -88,
            ios_to_ios: -74,
        }
    }
}

impl RssiThresholds {
    /// One threshold for every scanner → advertiser pair.
    #[must_use]
    pub const fn all(dbm: i8) -> Self {
        Self {
            android_to_android: dbm,
            android_to_ios: dbm,
            ios_to_android: dbm,
            ios_to_ios: dbm,
        }
    }

    /// The threshold for a pair. With the advertiser unknown (the history file does not say),
    /// the lower of the scanner's two thresholds, so that a close contact with either kind of
    /// phone counts: the rule errs towards warning.
    #[must_use]
    pub fn threshold(&self, scanner: Platform, advertiser: Option<Platform>) -> i8 {
        let (to_android, to_ios) = match scanner {
            Platform::Android => (self.android_to_android, self.android_to_ios),
            Platform::Ios => (self.ios_to_android, self.ios_to_ios),
        };
        match advertiser {
            Some(Platform::Android) => to_android,
            Some(Platform::Ios) => to_ios,
            None => to_android.min(to_ios),
        }
    }
}

/// The F1 rule: how close, how long, how far back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct F1Rule {
    /// RSSI thresholds for "within about 2 m".
    pub thresholds: RssiThresholds,
    /// The platform of the phone whose history is checked.
    pub scanner: Platform,
    /// The F0's platform, when known.
    pub advertiser: Option<Platform>,
    /// Close time in one UTC day that makes an F1, in seconds (15 minutes).
    pub min_daily_exposure_s: u64,
    /// Two close sightings at most this far apart count as continuous contact, in seconds
    /// (300: the app scanned for 40 s every 300 s in the background).
    pub max_gap_s: u64,
    /// Only sightings in the last this many days count.
    pub lookback_days: u64,
}

impl F1Rule {
    /// "Within about 2 m for at least 15 minutes in one day in the last 14 days", for a
    /// history written in `unit` (which gives the scanner's platform).
    #[must_use]
    pub fn bluezone(unit: TimeUnit) -> Self {
        Self {
            thresholds: RssiThresholds::default(),
            scanner: Platform::of_history(unit),
            advertiser: None,
            min_daily_exposure_s: 15 * 60,
            max_gap_s: 300,
            lookback_days: 14,
        }
    }
}

/// Close contact with one F0 entry on one UTC day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DailyExposure {
    /// Index of the F0 entry.
    pub entry: usize,
    /// UTC day, days since the epoch.
    #[cfg_attr(feature = "serde", serde(rename = "unix_day"))]
    pub day: u64,
    /// Seconds of close contact (whole seconds, rounded down).
    pub close_seconds: u64,
    /// Matched sightings that day (any distance).
    pub sightings: usize,
    /// Of those, the close ones.
    pub close_sightings: usize,
    /// The strongest RSSI seen that day, dBm.
    pub strongest_rssi: i8,
}

/// The outcome: F1 or not, with the evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct F1Verdict {
    /// Whether some day reaches the rule's exposure time.
    pub f1: bool,
    /// The RSSI threshold applied.
    pub threshold_dbm: i8,
    /// Every (entry, day) with a matched sighting in the look-back period, in that order.
    pub days: Vec<DailyExposure>,
}

/// Applies `rule` to the matches of one history written in `unit`, as of `now_unix_s`.
#[must_use]
pub fn decide(matches: &[BlidMatch], unit: TimeUnit, rule: &F1Rule, now_unix_s: u64) -> F1Verdict {
    let threshold = rule.thresholds.threshold(rule.scanner, rule.advertiser);
    let per_second = unit.per_second();
    let per_day = unit.per_day();
    let now = now_unix_s.saturating_mul(per_second);
    let horizon = now.saturating_sub(rule.lookback_days.saturating_mul(per_day));
    let max_gap = rule.max_gap_s.saturating_mul(per_second);

    // One sighting may fall in two slots (the windows share their ends): count it once.
    let mut sightings: Vec<(usize, u64, usize, i8)> = matches
        .iter()
        .filter(|m| horizon <= m.timestamp && m.timestamp <= now)
        .map(|m| (m.entry, m.timestamp, m.line, m.rssi))
        .collect();
    sightings.sort_unstable();
    sightings.dedup_by_key(|&mut (entry, _, line, _)| (entry, line));

    let mut days: Vec<DailyExposure> = Vec::new();
    let mut close_units: Vec<u64> = Vec::new();
    let mut previous_close: Option<(usize, u64)> = None;
    for &(entry, timestamp, _, rssi) in &sightings {
        let day = timestamp / per_day;
        let record = match days.last_mut() {
            Some(d) if d.entry == entry && d.day == day => d,
            _ => {
                days.push(DailyExposure {
                    entry,
                    day,
                    close_seconds: 0,
                    sightings: 0,
                    close_sightings: 0,
                    strongest_rssi: rssi,
                });
                close_units.push(0);
                match days.last_mut() {
                    Some(d) => d,
                    None => continue,
                }
            }
        };
        record.sightings += 1;
        record.strongest_rssi = record.strongest_rssi.max(rssi);
        if rssi < threshold {
            continue;
        }
        record.close_sightings += 1;
        // Continuous close contact since the previous close sighting of the same entry; a gap
        // that spans midnight is split between the two days. Gaps over a day never count.
        if let Some((_, last_time)) = previous_close.filter(|&(e, _)| e == entry) {
            let gap = timestamp - last_time;
            if gap <= max_gap.min(per_day) {
                let midnight = day * per_day;
                let today = timestamp - last_time.max(midnight);
                let yesterday = gap - today;
                if let Some(units) = close_units.last_mut() {
                    *units += today;
                }
                // The previous close sighting was yesterday, so yesterday's record is the one
                // before today's.
                if let Some(units) = close_units
                    .iter_mut()
                    .rev()
                    .nth(1)
                    .filter(|_| yesterday > 0)
                {
                    *units += yesterday;
                }
            }
        }
        previous_close = Some((entry, timestamp));
    }
    for (record, units) in days.iter_mut().zip(&close_units) {
        record.close_seconds = units / per_second;
    }
    F1Verdict {
        f1: days
            .iter()
            .any(|d| d.close_seconds >= rule.min_daily_exposure_s),
        threshold_dbm: threshold,
        days,
    }
}
