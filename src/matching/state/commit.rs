//! The end of a run (spec §state.6): the checked keys it holds written as a segment, the
//! segments merged when there are too many, and a new manifest that replaces the old one in
//! one rename.

use std::vec::Vec;

use crate::gaen::DiagnosisKey;
use crate::matching::MatchOutcome;
use crate::time::{INTERVALS_PER_DAY, SECONDS_PER_DAY};

use super::coverage::aged;
use super::disk::write_manifest;
use super::error::{StateError, io_error};
use super::format::{FileRecord, Manifest, Pending, SegmentRef, StoredMatch};
use super::log::{first_bound_day, log_days_of};
use super::run::StateRun;
use super::segments::{merge_segments, write_segment};
use super::{MAX_SEGMENTS, disk};

impl StateRun<'_, '_, '_> {
    /// Writes the checked keys held in memory as a new segment.
    pub(super) fn flush(&mut self) -> Result<(), StateError> {
        if self.fresh.is_empty() {
            return Ok(());
        }
        let mut entries = core::mem::take(&mut self.fresh);
        entries.sort_unstable();
        entries.dedup_by(|a, b| a[..12] == b[..12]);
        let number = self.next_segment;
        self.next_segment += 1;
        let segment = write_segment(
            &self.state.dir,
            number,
            entries.len() as u64,
            entries.iter().copied().map(Ok),
        )?;
        self.new_segments.push(segment);
        Ok(())
    }

    /// Writes the run to the state at once (spec §state.6): new segments, then a new manifest
    /// that replaces the old one in one rename. What aged out of `keep_days` is dropped.
    /// Returns every stored result and the counts over every file read.
    ///
    /// # Errors
    /// A file could not be written; the state is then as before the run.
    pub fn commit(mut self) -> Result<MatchOutcome, StateError> {
        self.flush()?;
        let keep_days = self.state.manifest.keep_days;
        let now = self.now;
        let window_end = |key: &DiagnosisKey| {
            u64::from(key.window.start().get()) + u64::from(key.window.period().get())
        };
        let mut segments: Vec<SegmentRef> = self.state.manifest.segments.clone();
        segments.extend(self.new_segments.iter().copied());
        let mut obsolete = core::mem::take(&mut self.obsolete);
        if segments.len() > MAX_SEGMENTS {
            let number = self.next_segment;
            self.next_segment += 1;
            let merged = merge_segments(&self.state.dir, &segments, number, |start| {
                !aged(
                    u64::from(start) + u64::from(INTERVALS_PER_DAY),
                    keep_days,
                    now,
                )
            })?;
            self.new_segments.push(merged);
            obsolete.extend(core::mem::replace(&mut segments, std::vec![merged]));
        }
        let checkpoint = self.run.checkpoint();
        let matches: Vec<StoredMatch> = checkpoint
            .results
            .into_values()
            .filter(|m| !aged(window_end(&m.key), keep_days, now))
            .map(|result| {
                let kept = self.stored.get(&result.key.key_data).copied();
                StoredMatch {
                    computed_until: kept.map_or(self.covered, |k| k.computed_until),
                    authentic: kept.is_none_or(|k| k.authentic),
                    counted: kept.map_or([0; 4], |k| k.counted),
                    result,
                }
            })
            .collect();
        let pending: Vec<Pending> = core::mem::take(&mut self.pending)
            .into_iter()
            .filter(|p| !aged(window_end(&p.key), keep_days, now))
            .collect();
        let keep_seconds = u64::from(keep_days) * SECONDS_PER_DAY;
        let mut files: Vec<FileRecord> = self
            .state
            .manifest
            .files
            .iter()
            .chain(self.files.iter())
            .filter(|f| f.read_at.saturating_add(keep_seconds) >= now)
            .cloned()
            .collect();
        files.dedup_by_key(|f| f.sha256);
        let until = self.covered.max(self.state.manifest.coverage_until);
        let sightings = self.run.matcher().index().all_sightings();
        let log_days = log_days_of(
            sightings,
            &self.log_hashes,
            until,
            first_bound_day(until, keep_days),
        );
        let old = &self.state.manifest;
        let manifest = Manifest {
            generation: old.generation + 1,
            secret: old.secret,
            config: old.config,
            keep_days,
            coverage_until: until,
            log_days,
            keys_total: checkpoint.keys_total,
            transitions: checkpoint.transitions,
            rejected: checkpoint.rejected,
            next_segment: self.next_segment,
            segments,
            files,
            matches,
            pending,
        };
        // The rename is the commit: before it the old manifest names only old files; after
        // it the new one names only files already written and synced.
        let dir = self.state.dir.clone();
        write_manifest(&dir, &manifest, self.state.key.as_ref())?;
        self.committed = true;
        self.state.manifest = manifest;
        self.state.start_over = None;
        self.state.files_unknown = false;
        self.previous = None;
        disk::sync_dir(&dir).map_err(io_error(&dir))?;
        // A segment left behind here is removed by the next open.
        for segment in obsolete {
            let _ = disk::remove(&dir.join(segment.file_name()));
        }
        Ok(self.state.outcome())
    }
}
