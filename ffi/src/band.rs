//! The no-allocator matcher for firmware (spec §match.8) in C. The log, the table of matched
//! keys and the matcher itself live in memory the caller owns: on its stack or in statics.
//! The log is an array of `bz_gaen_sighting`, which has the library's own layout, so it is
//! sorted and matched in place. The table and the matcher are opaque storage that only this
//! module writes: C-written memory is never read as an enum or a `bool`.

use core::ffi::c_void;
use core::mem::{align_of, offset_of, size_of};

use bluezone::encounter::GaenSighting;
use bluezone::gaen::ReportType;
use bluezone::matching::{
    BandCounts, BandLog, BandMatcher, BandOutcome, MatchConfig, MatchedSighting, StoredKey,
};

use crate::diagnosis::BzDiagnosisKey;
use crate::keys::BzGaenSighting;
use crate::ptr::{input, output, put};
use crate::status::{BzStatus, Failure, guard};

// A `bz_gaen_sighting` is a `GaenSighting` field for field, and every bit pattern of either is
// valid: an array of one is an array of the other.
const _: () = {
    assert!(size_of::<BzGaenSighting>() == size_of::<GaenSighting>());
    assert!(align_of::<BzGaenSighting>() == align_of::<GaenSighting>());
    assert!(offset_of!(BzGaenSighting, unix_seconds) == offset_of!(GaenSighting, unix_seconds));
    assert!(offset_of!(BzGaenSighting, rpi) == offset_of!(GaenSighting, rpi));
    assert!(offset_of!(BzGaenSighting, aem) == offset_of!(GaenSighting, aem));
    assert!(offset_of!(BzGaenSighting, rssi) == offset_of!(GaenSighting, rssi));
    assert!(
        offset_of!(BzGaenSighting, previous_scan_unix_seconds)
            == offset_of!(GaenSighting, previous_scan_unix_seconds)
    );
};

/// Bytes of one slot of the table of matched keys.
pub const BZ_STORED_KEY_BYTES: usize = 19;
/// 64-bit words of a band matcher's storage.
pub const BZ_BAND_MATCHER_WORDS: usize = 64;

/// One slot of the table of matched keys (opaque): `bz_band_matcher_matched` reads it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BzStoredKey {
    /// The library's record of the key; not to be written by the caller.
    pub opaque: [u8; BZ_STORED_KEY_BYTES],
}

/// Storage for a band matcher (opaque), set up by `bz_band_matcher_init`. It refers to the log
/// and the table it was set up with, which stay in place, unchanged by the caller, while it
/// is used. It may be copied bytewise; it needs no freeing.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BzBandMatcher {
    /// The library's state; not to be written by the caller.
    pub opaque: [u64; BZ_BAND_MATCHER_WORDS],
}

/// What the storage holds once set up: a mark, then the matcher.
#[repr(C)]
struct State {
    mark: u64,
    matcher: BandMatcher<'static, 'static>,
}

/// The first word of a set-up matcher ("bzband01").
const MARK: u64 = 0x627A_6261_6E64_3031;

const _: () = {
    assert!(size_of::<StoredKey>() == size_of::<BzStoredKey>());
    assert!(align_of::<StoredKey>() <= align_of::<BzStoredKey>());
    assert!(size_of::<State>() <= size_of::<BzBandMatcher>());
    assert!(align_of::<State>() <= align_of::<BzBandMatcher>());
    assert!(offset_of!(State, mark) == 0);
};

/// The matching rules (spec §match.2, §match.6), as integers: 0 or 1 for a yes-or-no.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BzMatchRules {
    /// A sighting counts when its interval is within this many intervals of the identifier's
    /// (12: two hours).
    pub tolerance_intervals: u32,
    /// Sightings more than this many seconds after an identifier's first are replays (1200).
    pub replay_window_seconds: u64,
    /// Sightings whose decrypted TX power is below this are dropped (−50 dBm).
    pub tx_power_min_dbm: i8,
    /// Sightings whose decrypted TX power is above this are dropped (+20 dBm).
    pub tx_power_max_dbm: i8,
    /// 1: match keys whose report type is REVOKED (Google's engine does); 0: do not.
    pub match_revoked: u8,
    /// 1: match keys whose report type is RECURSIVE; 0: do not (Google's default).
    pub match_recursive: u8,
    /// How many times a later copy of a matched key may change its report type (1).
    pub allowed_report_type_transitions: u8,
    /// The report type, 1 to 5, given to a key published without one (1, confirmed test).
    pub report_type_when_missing: u8,
}

impl BzMatchRules {
    fn of(config: &MatchConfig) -> Self {
        Self {
            tolerance_intervals: config.tolerance_intervals,
            replay_window_seconds: config.replay_window_seconds,
            tx_power_min_dbm: config.tx_power_min_dbm,
            tx_power_max_dbm: config.tx_power_max_dbm,
            match_revoked: u8::from(config.match_revoked),
            match_recursive: u8::from(config.match_recursive),
            allowed_report_type_transitions: config.allowed_report_type_transitions,
            report_type_when_missing: config.report_type_when_missing as u8,
        }
    }

    pub(crate) fn config(&self) -> Result<MatchConfig, Failure> {
        let invalid = |detail: &str| Failure::new(BzStatus::InvalidArgument, detail);
        let flag = |value: u8, name: &str| match value {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(invalid(name)),
        };
        let report_type_when_missing =
            match ReportType::try_from(i32::from(self.report_type_when_missing)) {
                Ok(ReportType::Unknown) | Err(_) => {
                    return Err(invalid("report_type_when_missing is not 1 to 5"));
                }
                Ok(report_type) => report_type,
            };
        if self.tx_power_min_dbm > self.tx_power_max_dbm {
            return Err(invalid("tx_power_min_dbm is above tx_power_max_dbm"));
        }
        Ok(MatchConfig {
            tolerance_intervals: self.tolerance_intervals,
            replay_window_seconds: self.replay_window_seconds,
            tx_power_min_dbm: self.tx_power_min_dbm,
            tx_power_max_dbm: self.tx_power_max_dbm,
            match_revoked: flag(self.match_revoked, "match_revoked is not 0 or 1")?,
            match_recursive: flag(self.match_recursive, "match_recursive is not 0 or 1")?,
            allowed_report_type_transitions: self.allowed_report_type_transitions,
            report_type_when_missing,
        })
    }
}

/// One accepted sighting of a matched key.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BzMatchedSighting {
    /// When it was received, Unix seconds.
    pub unix_seconds: u64,
    /// When the scan before it ran, Unix seconds (0: unknown).
    pub previous_scan_unix_seconds: u64,
    /// The interval of the identifier (not of the sighting).
    pub en_interval_number: u32,
    /// The identifier.
    pub rpi: [u8; 16],
    /// The encrypted metadata as received.
    pub aem: [u8; 4],
    /// The metadata decrypted with the key's AEMK.
    pub metadata: [u8; 4],
    /// Calibrated RSSI, dBm.
    pub rssi: i8,
    /// The TX power of the metadata, dBm.
    pub tx_power: i8,
    /// `max(tx_power − rssi, 0)`, dB.
    pub attenuation: u8,
}

impl BzMatchedSighting {
    fn of(s: &MatchedSighting) -> Self {
        Self {
            unix_seconds: s.unix_seconds,
            previous_scan_unix_seconds: s.previous_scan_unix_seconds,
            en_interval_number: s.en_interval_number.get(),
            rpi: s.rpi.to_bytes(),
            aem: s.aem.to_bytes(),
            metadata: s.metadata.to_bytes(),
            rssi: s.rssi,
            tx_power: s.tx_power,
            attenuation: s.attenuation,
        }
    }
}

/// Receives each accepted sighting of a key that matched, with the caller's `context`.
pub type BzBandSightingFn =
    Option<unsafe extern "C" fn(context: *mut c_void, sighting: *const BzMatchedSighting)>;

/// What checking one key did.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BzBandResult {
    /// Matched and stored; its accepted sightings went to the callback.
    Matched = 0,
    /// A later copy of a matched key: counted, and it may have changed the report type.
    Copy = 1,
    /// Not matched because of its report type.
    Gated = 2,
    /// Not heard, or heard only in sightings the rules turn away.
    NotMatched = 3,
}

/// The outcome of `bz_band_matcher_check`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BzBandOutcome {
    /// What happened to the key.
    pub result: BzBandResult,
    /// With `BZ_BAND_RESULT_MATCHED`: its accepted sightings.
    pub sightings: u32,
    /// With `BZ_BAND_RESULT_COPY`: whether the stored report type changed.
    pub changed: bool,
}

/// The counts of the keys checked so far, as the hosted matcher reports them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BzBandCounts {
    /// Keys checked.
    pub keys_total: u64,
    /// Keys matched.
    pub keys_matched: u64,
    /// Report-type changes applied by later copies.
    pub report_type_transitions: u64,
    /// Sightings outside the tolerance window.
    pub outside_tolerance: u64,
    /// Sightings after the replay window.
    pub replayed: u64,
    /// Sightings whose TX power is out of bounds.
    pub tx_power_out_of_range: u64,
    /// Keys not matched because of their report type.
    pub report_type_keys: u64,
    /// Later copies that left a matched key as it was.
    pub duplicate_keys: u64,
    /// Later copies whose report-type change is not allowed.
    pub invalid_transitions: u64,
}

impl BzBandCounts {
    fn of(c: &BandCounts) -> Self {
        let r = &c.rejected;
        Self {
            keys_total: c.keys_total,
            keys_matched: c.keys_matched,
            report_type_transitions: c.report_type_transitions,
            outside_tolerance: r.outside_tolerance,
            replayed: r.replayed,
            tx_power_out_of_range: r.tx_power_out_of_range,
            report_type_keys: r.report_type_keys,
            duplicate_keys: r.duplicate_keys,
            invalid_transitions: r.invalid_transitions,
        }
    }
}

/// A matched key as the table keeps it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BzStoredKeyInfo {
    /// The key bytes.
    pub key_data: [u8; 16],
    /// Its report type now (0 to 5, as in `bz_diagnosis_key`).
    pub report_type: u8,
    /// The report type it matched with.
    pub first_report_type: u8,
    /// Report-type changes applied to it.
    pub transitions: u8,
}

/// The default matching rules: Google's engine's.
///
/// # Safety
/// `out` points to a writable `bz_match_rules`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_match_rules_default(out: *mut BzMatchRules) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { output(out, "out")? };
        put(out, BzMatchRules::of(&MatchConfig::default()))
    })
}

/// Sets up `matcher` over a wristband's log: sorts the `log_len` sightings of `log` in place
/// and keeps the log and the `table_len` slots of `table` (one per key that may match: a few
/// dozen) until the matcher is set up again or no longer used. `rules` NULL: the default
/// rules. Allocates nothing.
///
/// # Safety
/// `matcher` points to a writable `bz_band_matcher`; `log` to `log_len` writable
/// `bz_gaen_sighting` and `table` to `table_len` writable `bz_stored_key`, both staying valid
/// and written by nothing else while the matcher is used; `rules` is NULL or points to a
/// `bz_match_rules`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_band_matcher_init(
    matcher: *mut BzBandMatcher,
    log: *mut BzGaenSighting,
    log_len: usize,
    table: *mut BzStoredKey,
    table_len: usize,
    rules: *const BzMatchRules,
) -> BzStatus {
    guard(|| {
        let config = if rules.is_null() {
            MatchConfig::default()
        } else {
            // SAFETY: the caller's contract: a readable `bz_match_rules`.
            unsafe { input(rules, "rules")? }.config()?
        };
        // SAFETY: the caller's contract: a writable `bz_band_matcher`.
        let storage = unsafe { output(matcher, "matcher")? };
        let log = if log_len == 0 {
            &mut []
        } else if log.is_null() {
            return Err(Failure::new(BzStatus::NullPointer, "`log` is NULL"));
        } else {
            // SAFETY: `log` points to `log_len` writable `bz_gaen_sighting` (the caller's
            // contract), which are `GaenSighting` by layout (the assertions above) with every
            // bit pattern valid; nothing else uses them while the matcher does.
            unsafe { core::slice::from_raw_parts_mut(log.cast::<GaenSighting>(), log_len) }
        };
        let table = if table_len == 0 {
            &mut []
        } else if table.is_null() {
            return Err(Failure::new(BzStatus::NullPointer, "`table` is NULL"));
        } else {
            let slots = table.cast::<StoredKey>();
            for i in 0..table_len {
                // SAFETY: the caller's contract gives `table_len` writable slots of the size
                // and alignment of a `StoredKey` (the assertions above); each is written with
                // a valid value before any is read, so C's bytes are never read as one.
                unsafe { slots.add(i).write(StoredKey::default()) };
            }
            // SAFETY: the same slots, each now a valid `StoredKey`, used by nothing else.
            unsafe { core::slice::from_raw_parts_mut(slots, table_len) }
        };
        let state = State {
            mark: MARK,
            matcher: BandMatcher::new(BandLog::new(log), config, table),
        };
        // SAFETY: the storage is writable, and large and aligned enough for a `State` (the
        // assertions above); what it held before is bytes that need no dropping.
        unsafe { core::ptr::from_mut(storage).cast::<State>().write(state) };
        Ok(BzStatus::Ok)
    })
}

/// Whether `bz_band_matcher_init` set up `storage`.
fn set_up(storage: &BzBandMatcher) -> Result<(), Failure> {
    if storage.opaque.first() == Some(&MARK) {
        Ok(())
    } else {
        Err(Failure::new(
            BzStatus::InvalidState,
            "the matcher was not set up by bz_band_matcher_init",
        ))
    }
}

/// The matcher in `storage`, if `bz_band_matcher_init` set it up.
fn state(storage: &mut BzBandMatcher) -> Result<&mut State, Failure> {
    set_up(storage)?;
    // SAFETY: the mark is there, so `bz_band_matcher_init` wrote a `State` here, which the
    // caller has not written since (the header's contract); the borrow is the storage's.
    Ok(unsafe { &mut *core::ptr::from_mut(storage).cast::<State>() })
}

/// The matcher in `storage`, read only.
fn state_ref(storage: &BzBandMatcher) -> Result<&State, Failure> {
    set_up(storage)?;
    // SAFETY: as in `state`, shared.
    Ok(unsafe { &*core::ptr::from_ref(storage).cast::<State>() })
}

/// Checks the next key of a publication (keys in publication order, as the hosted matcher
/// takes them). When it matches, each accepted sighting goes to `on_sighting` (may be NULL)
/// with `context`, in the order of its identifiers' intervals. A full table is
/// `BZ_STATUS_BUFFER_TOO_SMALL` and changes nothing.
///
/// # Safety
/// `matcher` was set up by `bz_band_matcher_init` and its log and table are still valid;
/// `key` points to a `bz_diagnosis_key`; `out` to a writable `bz_band_outcome`;
/// `on_sighting`, when not NULL, may be called with `context` and does not unwind.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_band_matcher_check(
    matcher: *mut BzBandMatcher,
    key: *const BzDiagnosisKey,
    on_sighting: BzBandSightingFn,
    context: *mut c_void,
    out: *mut BzBandOutcome,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (storage, key, out) = unsafe {
            (
                output(matcher, "matcher")?,
                input(key, "key")?,
                output(out, "out")?,
            )
        };
        let key = key.key()?;
        let matcher = &mut state(storage)?.matcher;
        let outcome = matcher
            .check(&key, |s| {
                if let Some(call) = on_sighting {
                    let sighting = BzMatchedSighting::of(s);
                    // SAFETY: the caller's contract for `on_sighting` and `context`; the
                    // sighting lives until the call returns.
                    unsafe { call(context, &raw const sighting) };
                }
            })
            .map_err(|full| Failure::new(BzStatus::BufferTooSmall, full))?;
        let (result, sightings, changed) = match outcome {
            BandOutcome::Matched { sightings } => (BzBandResult::Matched, sightings, false),
            BandOutcome::Copy { changed } => (BzBandResult::Copy, 0, changed),
            BandOutcome::Gated => (BzBandResult::Gated, 0, false),
            BandOutcome::NotMatched => (BzBandResult::NotMatched, 0, false),
        };
        put(
            out,
            BzBandOutcome {
                result,
                sightings,
                changed,
            },
        )
    })
}

/// The counts of the keys checked so far.
///
/// # Safety
/// `matcher` was set up by `bz_band_matcher_init`; `out` points to a writable
/// `bz_band_counts`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_band_matcher_counts(
    matcher: *const BzBandMatcher,
    out: *mut BzBandCounts,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (storage, out) = unsafe { (input(matcher, "matcher")?, output(out, "out")?) };
        let counts = BzBandCounts::of(state_ref(storage)?.matcher.counts());
        put(out, counts)
    })
}

/// The `index`-th key matched so far (in the order they matched); `BZ_STATUS_END` past the
/// last.
///
/// # Safety
/// `matcher` was set up by `bz_band_matcher_init`; `out` points to a writable
/// `bz_stored_key_info`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_band_matcher_matched(
    matcher: *const BzBandMatcher,
    index: usize,
    out: *mut BzStoredKeyInfo,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (storage, out) = unsafe { (input(matcher, "matcher")?, output(out, "out")?) };
        let Some(stored) = state_ref(storage)?.matcher.matched().get(index) else {
            return Ok(BzStatus::End);
        };
        put(
            out,
            BzStoredKeyInfo {
                key_data: stored.key_data,
                report_type: stored.report_type as u8,
                first_report_type: stored.first_report_type as u8,
                transitions: stored.transitions,
            },
        )
    })
}
