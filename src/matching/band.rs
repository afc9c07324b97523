//! Matching with no allocator (spec §match.8): a wristband's log in a buffer the caller owns,
//! and diagnosis keys checked one at a time as they stream in over BLE or a serial line, with
//! the rules and the outcome of [`super::MatchRun`].

use aes::cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use aes::{Aes128Dec, Aes128Enc};

use super::hkdf::KeySchedule;
use super::{MatchConfig, MatchedSighting, Rejections, apply_copy, apply_rules};
use crate::encounter::GaenSighting;
use crate::gaen::{
    AEMK_INFO, AssociatedEncryptedMetadataKey, DiagnosisKey, RPIK_INFO, ReportType,
    RollingProximityIdentifier, padded_data, padded_interval,
};
use crate::time::{EnIntervalNumber, INTERVAL_SECONDS, INTERVALS_PER_DAY, RollingWindow};

/// The order of a log: by identifier, then time and the other fields, as the index keeps it.
fn log_order(s: &GaenSighting) -> (RollingProximityIdentifier, u64, i8, [u8; 4], u64) {
    (
        s.rpi,
        s.unix_seconds,
        s.rssi,
        s.aem.to_bytes(),
        s.previous_scan_unix_seconds,
    )
}

/// An identifier as two big-endian integers: their order is the bytes' order.
fn halves(rpi: &RollingProximityIdentifier) -> (u64, u64) {
    let (high, low) = super::split_halves(rpi.to_bytes());
    (u64::from_be_bytes(high), u64::from_be_bytes(low))
}

/// A log in a buffer the caller owns, sorted once for lookups.
#[derive(Debug)]
pub struct BandLog<'a> {
    sightings: &'a [GaenSighting],
}

impl<'a> BandLog<'a> {
    /// Sorts `buffer` in place (no allocation) and keeps it for matching.
    pub fn new(buffer: &'a mut [GaenSighting]) -> Self {
        buffer.sort_unstable_by_key(log_order);
        Self { sightings: buffer }
    }

    /// Every sighting of `rpi`, in time order. The search compares the identifiers' halves
    /// as integers, which orders them as their bytes do, without a call to `memcmp` per step.
    fn sightings_of(&self, rpi: &RollingProximityIdentifier) -> &'a [GaenSighting] {
        let wanted = halves(rpi);
        let first = self.sightings.partition_point(|s| halves(&s.rpi) < wanted);
        let (_, rest) = self.sightings.split_at(first);
        let (of_rpi, _) = rest.split_at(rest.partition_point(|s| s.rpi == *rpi));
        of_rpi
    }
}

/// A key the matcher matched, kept so that a later copy of it is recognised (spec §match.6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoredKey {
    /// The key bytes.
    pub key_data: [u8; 16],
    /// Its report type now.
    pub report_type: ReportType,
    /// The report type it was matched with.
    pub first_report_type: ReportType,
    /// How many copies changed its report type.
    pub transitions: u8,
}

/// What checking one key did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BandOutcome {
    /// Matched and stored; its accepted sightings went to the caller.
    Matched {
        /// Accepted sightings.
        sightings: u32,
    },
    /// A copy of a matched key: its report type changed (`changed`) or it was counted.
    Copy {
        /// Whether the stored report type changed.
        changed: bool,
    },
    /// Not matched because of its report type.
    Gated,
    /// Not seen, or seen only in sightings the rules turn away.
    NotMatched,
}

/// The table of matched keys is full: the key matched, but a later copy of it could not be
/// recognised. The matcher is as it was before the key; give a larger table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the table of matched keys is full ({capacity} keys)")]
pub struct TableFull {
    /// Keys the table holds.
    pub capacity: usize,
}

/// The counts of a run, as [`super::MatchOutcome`] gives them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BandCounts {
    /// Keys checked.
    pub keys_total: u64,
    /// Keys matched.
    pub keys_matched: u64,
    /// Report-type changes applied.
    pub report_type_transitions: u64,
    /// What each rule turned away.
    pub rejected: Rejections,
}

/// Blocks given to AES together (the software backend works on several at once).
const BATCH: usize = 16;

/// The most identifiers of one key that can hit: one per interval of its window.
const MAX_HITS: usize = INTERVALS_PER_DAY as usize;

/// Matches keys one at a time against a [`BandLog`], with no allocator: matched keys go into
/// a table the caller owns (one per key the phone really met: a few dozen at most).
pub struct BandMatcher<'l, 't> {
    log: BandLog<'l>,
    config: MatchConfig,
    schedule: KeySchedule,
    table: &'t mut [StoredKey],
    stored: usize,
    counts: BandCounts,
}

impl core::fmt::Debug for BandMatcher<'_, '_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BandMatcher")
            .field("sightings", &self.log.sightings.len())
            .field("matched", &self.stored)
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}

/// The hits of one key: (interval, identifier), ordered.
struct Hits {
    items: [(u32, RollingProximityIdentifier); MAX_HITS],
    len: usize,
}

impl Hits {
    fn push(&mut self, hit: (u32, RollingProximityIdentifier)) {
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = hit;
            self.len += 1;
        }
    }

    fn as_slice(&self) -> &[(u32, RollingProximityIdentifier)] {
        let (held, _) = self.items.split_at(self.len.min(self.items.len()));
        held
    }
}

/// What the rules made of one key's hits (spec §match.2), without keeping the sightings.
#[derive(Default)]
struct Tally {
    seen: bool,
    accepted: u32,
    v1_scans: u32,
    rejected: Rejections,
}

impl<'l, 't> BandMatcher<'l, 't> {
    /// A matcher over `log` with `config`, remembering matched keys in `table`.
    pub fn new(log: BandLog<'l>, config: MatchConfig, table: &'t mut [StoredKey]) -> Self {
        Self {
            log,
            config,
            schedule: KeySchedule::new(),
            table,
            stored: 0,
            counts: BandCounts::default(),
        }
    }

    /// The counts so far.
    #[must_use]
    pub const fn counts(&self) -> &BandCounts {
        &self.counts
    }

    /// The keys matched so far, in the order they matched.
    #[must_use]
    pub fn matched(&self) -> &[StoredKey] {
        let (matched, _) = self.table.split_at(self.stored.min(self.table.len()));
        matched
    }

    // spec §match.8: one key, in publication order, as MatchRun applies it.
    /// Checks the next key of the publication (keys in publication order). A matched key's
    /// accepted sightings go to `sighting`, in the order of its identifiers' intervals, each
    /// identifier's in time order.
    ///
    /// # Errors
    /// [`TableFull`] when the key matched and the table has no room; nothing changed.
    pub fn check(
        &mut self,
        key: &DiagnosisKey,
        mut sighting: impl FnMut(&MatchedSighting),
    ) -> Result<BandOutcome, TableFull> {
        let config = self.config;
        if let Some(at) = self
            .matched()
            .iter()
            .position(|k| k.key_data == key.key_data)
            .filter(|_| self.logged_anywhere(key))
        {
            self.counts.keys_total += 1;
            let Some(stored) = self.table.get_mut(at) else {
                return Ok(BandOutcome::Copy { changed: false });
            };
            let changed = apply_copy(
                &config,
                &mut stored.report_type,
                &mut stored.transitions,
                key.report_type,
                &mut self.counts.rejected,
            );
            if changed {
                self.counts.report_type_transitions += 1;
            }
            return Ok(BandOutcome::Copy { changed });
        }
        if !config.matches_report_type(key.report_type) {
            self.counts.keys_total += 1;
            self.counts.rejected.report_type_keys += 1;
            return Ok(BandOutcome::Gated);
        }
        let prk = self.schedule.prk(&key.key_data);
        let rpik = prk.expand16(RPIK_INFO);
        let hits = self.hits(&rpik, key.window);
        if hits.len == 0 {
            self.counts.keys_total += 1;
            return Ok(BandOutcome::NotMatched);
        }
        let aemk = AssociatedEncryptedMetadataKey::from_bytes(prk.expand16(AEMK_INFO));
        let tally = self.evaluate(hits.as_slice(), &aemk, &mut |_| {});
        if !tally.seen || tally.v1_scans == 0 {
            self.counts.keys_total += 1;
            if tally.seen {
                self.counts.rejected.add_sightings(&tally.rejected);
            }
            return Ok(BandOutcome::NotMatched);
        }
        let capacity = self.table.len();
        let Some(slot) = self.table.get_mut(self.stored) else {
            return Err(TableFull { capacity });
        };
        *slot = StoredKey {
            key_data: key.key_data,
            report_type: key.report_type,
            first_report_type: key.report_type,
            transitions: 0,
        };
        self.stored += 1;
        self.counts.keys_total += 1;
        self.counts.keys_matched += 1;
        self.counts.rejected.add_sightings(&tally.rejected);
        self.evaluate(hits.as_slice(), &aemk, &mut |s| sighting(s));
        Ok(BandOutcome::Matched {
            sightings: tally.accepted,
        })
    }

    /// The identifiers of the key's window that the log holds, by the cheaper path: decrypt
    /// each logged identifier seen near the window (a sparse log), or encrypt each interval's
    /// padded data and look it up (a busy one). Both give the same hits (spec §match.4).
    #[inline(never)]
    fn hits(&self, rpik: &[u8; 16], window: RollingWindow) -> Hits {
        let mut hits = Hits {
            items: [(0, RollingProximityIdentifier::default()); MAX_HITS],
            len: 0,
        };
        let tolerance = self.config.tolerance_intervals;
        let first = window.start().get();
        let last = window.last().get();
        let (from, to) = (
            first.saturating_sub(tolerance),
            last.saturating_add(tolerance),
        );
        // Seen in an interval of [from, to]: compared in seconds, since a 64-bit division is
        // a library call on a 32-bit core.
        let (since, until) = (
            u64::from(from) * INTERVAL_SECONDS,
            (u64::from(to) + 1) * INTERVAL_SECONDS,
        );
        let near = |s: &GaenSighting| (since..until).contains(&s.unix_seconds);
        // Distinct identifiers seen near the window (the log is sorted by identifier).
        // Counted only as far as the choice needs: up to the window's length.
        let period = window.period().get() as usize;
        let mut distinct = 0usize;
        let mut previous = None;
        for s in self.log.sightings.iter().filter(|s| near(s)) {
            if previous != Some(s.rpi) {
                distinct += 1;
                previous = Some(s.rpi);
                if distinct >= period {
                    break;
                }
            }
        }
        if distinct == 0 {
            return hits;
        }
        let mut blocks = [Array::<u8, aes::cipher::consts::U16>::default(); BATCH];
        if distinct < period {
            let cipher = Aes128Dec::new(&Array::from(*rpik));
            let mut logged = [RollingProximityIdentifier::default(); BATCH];
            let mut pending = 0;
            let mut previous = None;
            let flush = |logged: &[RollingProximityIdentifier],
                         blocks: &mut [Array<u8, _>],
                         hits: &mut Hits| {
                for (block, rpi) in blocks.iter_mut().zip(logged) {
                    *block = Array::from(rpi.to_bytes());
                }
                cipher.decrypt_blocks(blocks);
                for (block, rpi) in blocks.iter().zip(logged) {
                    if let Some(j) = padded_interval(&block.0)
                        && (first..=last).contains(&j)
                    {
                        hits.push((j, *rpi));
                    }
                }
            };
            for s in self.log.sightings.iter().filter(|s| near(s)) {
                if previous == Some(s.rpi) {
                    continue;
                }
                previous = Some(s.rpi);
                if let Some(slot) = logged.get_mut(pending) {
                    *slot = s.rpi;
                    pending += 1;
                }
                if pending == BATCH {
                    flush(&logged, &mut blocks, &mut hits);
                    pending = 0;
                }
            }
            // `pending` < BATCH, the length of both buffers: each is flushed when full.
            let (logged, _) = logged.split_at(pending);
            let (blocks, _) = blocks.split_at_mut(pending);
            flush(logged, blocks, &mut hits);
            let (held, _) = hits.items.split_at_mut(hits.len.min(MAX_HITS));
            held.sort_unstable();
        } else {
            let cipher = Aes128Enc::new(&Array::from(*rpik));
            // The window is valid, so `first + offset` never passes the last interval number.
            for from in (0..period).step_by(BATCH) {
                let (batch, _) = blocks.split_at_mut((period - from).min(BATCH));
                let intervals = (first..=last).skip(from);
                for (block, j) in batch.iter_mut().zip(intervals.clone()) {
                    *block = Array::from(padded_data(EnIntervalNumber::new(j)));
                }
                cipher.encrypt_blocks(batch);
                for (block, j) in batch.iter().zip(intervals) {
                    let rpi = RollingProximityIdentifier::from_bytes((*block).into());
                    if !self.log.sightings_of(&rpi).is_empty() {
                        hits.push((j, rpi));
                    }
                }
            }
        }
        hits
    }

    /// Applies §match.2 to the sightings of each hit, giving each accepted one to `accepted`
    /// (one copy of the code for both passes: flash is scarce on a wristband).
    #[inline(never)]
    fn evaluate(
        &self,
        hits: &[(u32, RollingProximityIdentifier)],
        aemk: &AssociatedEncryptedMetadataKey,
        accepted: &mut dyn FnMut(&MatchedSighting),
    ) -> Tally {
        let mut tally = Tally::default();
        for &(j, rpi) in hits {
            let Tally {
                seen,
                accepted: count,
                v1_scans,
                rejected,
            } = &mut tally;
            *seen |= apply_rules(
                &self.config,
                j,
                rpi,
                self.log.sightings_of(&rpi),
                aemk,
                rejected,
                |s| {
                    *count += 1;
                    accepted(&s);
                },
                |_| *v1_scans += 1,
            );
        }
        tally
    }

    /// Whether any of the 144 identifiers from the key's rolling start is in the log at all
    /// (Google's prefilter, which a copy of a matched key must pass, spec §match.6).
    fn logged_anywhere(&self, key: &DiagnosisKey) -> bool {
        let rpik = self.schedule.prk(&key.key_data).expand16(RPIK_INFO);
        let cipher = Aes128Enc::new(&Array::from(rpik));
        let start = key.window.start().get();
        (0..INTERVALS_PER_DAY)
            .map_while(|k| start.checked_add(k))
            .any(|j| {
                let mut block = Array::from(padded_data(EnIntervalNumber::new(j)));
                cipher.encrypt_block(&mut block);
                !self
                    .log
                    .sightings_of(&RollingProximityIdentifier::from_bytes(block.into()))
                    .is_empty()
            })
    }
}
