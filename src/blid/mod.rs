//! The Bluezone 2020 identifier scheme (BLID), byte for byte as the Vietnamese app shipped it.
//!
//! Specified in `spec/bluezone.md`. Kept so that existing devices, logs and F0 lists can be
//! read, matched and migrated; its weaknesses (hash-chained daily keys, identifiers not bound
//! to time, unsigned F0 lists, an uploaded root key) are listed in spec §blid.9. New
//! deployments should use [`crate::gaen`].
//!
//! ```text
//! base key = DK_0 ──SHA-256──▶ DK_1 ──SHA-256──▶ DK_2 …           one per UTC day
//! DK_n ‖ "bluzonesubkey" ──SHA-256──▶ SK_0 ──SHA-256──▶ SK_1 …   one per slot (96 a day)
//! SK_i ──pick bytes 0,4,8,12,16,18,…,30──▶ BLID_i (12 bytes)
//! ```
//!
//! The key schedule and history lines need no allocator; F0 lists, InfoF uploads, matching and
//! the F1 decision need `alloc`; reading and writing their JSON needs the `json` feature.

#[cfg(feature = "alloc")]
mod f0;
#[cfg(feature = "alloc")]
pub mod f1;
mod history;
mod keys;
#[cfg(feature = "alloc")]
pub mod matching;

#[cfg(feature = "alloc")]
pub use f0::{F0Entry, F0Error, F0List, InfoF, MAX_UNIX_SECONDS};
pub use history::{HistoryError, HistoryLine, HistoryLineError, TimeUnit, parse_history};
pub use keys::{
    BaseKey, BluezoneId, DAY_MS, DailyKey, ID_BYTE_POSITIONS, MAX_CHAIN_DAYS, SUBKEY_SALT,
    SlotsPerDay, SubKey, SubKeys,
};

/// Why a Bluezone identifier could not be derived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlidError {
    /// A slot count outside 1..=1440.
    #[error("{0} slots per day is outside 1..=1440")]
    SlotsPerDay(u32),
    /// The instant lies in the leftover piece of a day whose slot length does not divide it.
    #[error("slot {slot} does not exist in a day of {slots} slots")]
    SlotOutOfRange {
        /// The slot the arithmetic gave.
        slot: u64,
        /// Slots per day.
        slots: u32,
    },
    /// The day lies before the key's base day: the phone had no identifiers then.
    #[error("day {day} is before the base day {base_day}")]
    BeforeBaseDay {
        /// The day asked for (days since the epoch).
        day: u32,
        /// The key's base day.
        base_day: u32,
    },
    /// The day lies more than `MAX_CHAIN_DAYS` after the base day.
    #[error("{days} days after the base day is beyond the 36525 this crate follows")]
    TooFarFromBase {
        /// Days after the base day.
        days: u32,
    },
    /// The instant's day does not fit a `u32`.
    #[error("{unix_ms} ms is out of range")]
    InstantOutOfRange {
        /// The instant given.
        unix_ms: u64,
    },
    /// A caller's buffer is shorter than the day's slots.
    #[error("buffer holds {available} identifiers, the day has {needed}")]
    BufferTooSmall {
        /// Identifiers needed.
        needed: usize,
        /// Identifiers the buffer holds.
        available: usize,
    },
}
