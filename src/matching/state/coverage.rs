//! What a state's coverage decides (spec §state.2): when the log covers enough for a key's
//! result to be final, and when a window is past keeping.

use crate::gaen::DiagnosisKey;
use crate::time::{INTERVAL_SECONDS, SECONDS_PER_DAY};

/// The first interval whose sightings no longer count for `key`: its result is final once
/// the log covers the time before it (spec §state.2).
pub(super) fn final_at(key: &DiagnosisKey, tolerance: u32) -> u64 {
    (u64::from(key.window.start().get())
        + u64::from(key.window.period().get())
        + u64::from(tolerance))
        * INTERVAL_SECONDS
}

/// Whether the result of `key` is final once the log covers the time before `until`.
pub(super) fn is_final(key: &DiagnosisKey, tolerance: u32, until: u64) -> bool {
    until >= final_at(key, tolerance)
}

/// When a window ending at interval `end` (exclusive) is past keeping at `now`.
pub(super) fn aged(end_interval: u64, keep_days: u32, now: u64) -> bool {
    end_interval * INTERVAL_SECONDS + u64::from(keep_days) * SECONDS_PER_DAY < now
}
