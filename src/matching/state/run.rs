//! One run over a state: what is final, what is pending, feeding files, starting over and the
//! commit (spec §state.2 to §state.7).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::string::ToString;
use std::vec::Vec;

use aes::Aes128Enc;

use super::format::{ENTRY, FileRecord, Manifest, Pending, SegmentRef};

use crate::export::{ExportFile, ExportFileError, ExportSummary};
use crate::gaen::DiagnosisKey;
use crate::matching::run::Applied;
use crate::matching::stream::{Authenticity, Chunks, MatchStreamError};
use crate::matching::{Checkpoint, MatchOutcome, MatchRun};

use super::coverage::is_final;
use super::disk::hash_reader;
use super::error::StateError;
use super::fingerprints::{fingerprint, fingerprints_into};
use super::segments::{entry_of, join_segment, probe_of};
use super::{FRESH_LIMIT, Fed, MatchState, Rebuild, Rebuilt, WINDOW, empty_manifest};

/// What a run keeps beside one stored result (spec §state.1.1, §state.2, §state.3.1).
#[derive(Clone, Copy, Debug)]
pub(super) struct Kept {
    /// The coverage its sightings were found against.
    pub(super) computed_until: u64,
    /// Whether the file that brought it, and every file that changed it, was authentic.
    pub(super) authentic: bool,
    /// What its last evaluation added to the counts that depend on the log.
    pub(super) counted: [u64; 4],
}

/// One run over a state: begun by [`MatchState::begin`], fed export files in publication
/// order, and committed at once. Dropped without [`Self::commit`], it leaves the state as it
/// was.
pub struct StateRun<'s, 'm, 'a> {
    pub(super) state: &'s mut MatchState,
    pub(super) run: MatchRun<'m, 'a>,
    pub(super) cipher: Aes128Enc,
    pub(super) tolerance: u32,
    /// "Now": what ages out ages against it.
    pub(super) now: u64,
    /// The log is complete up to here: [`LATE_RECORDS_SECONDS`] before `now`.
    pub(super) covered: u64,
    /// What the state keeps beside each stored result, by key bytes.
    pub(super) stored: BTreeMap<[u8; 16], Kept>,
    /// The keyed hash of each sighting of the log, in its order (spec §state.2.1).
    pub(super) log_hashes: Vec<u64>,
    /// Where in `pending` the keys of each key bytes are.
    pub(super) pending_at: std::collections::HashMap<[u8; 16], Vec<usize>>,
    /// Whether the file being fed is authentic (as far as the run requires).
    pub(super) authentic: bool,
    /// Segments written by this run, not yet named by the manifest.
    pub(super) new_segments: Vec<SegmentRef>,
    pub(super) next_segment: u64,
    /// Keys checked with a final "no match", not yet in a segment.
    pub(super) fresh: Vec<[u8; ENTRY]>,
    /// Keys whose result is not final, in the order they were applied.
    pub(super) pending: Vec<Pending>,
    pub(super) files: Vec<FileRecord>,
    pub(super) rechecked: u64,
    pub(super) rebuilt: Option<Rebuilt>,
    /// Segments of the state before it started over: removed once the run commits.
    pub(super) obsolete: Vec<SegmentRef>,
    /// The manifest before the run started over: put back when the run does not commit.
    pub(super) previous: Option<Manifest>,
    pub(super) committed: bool,
}

impl core::fmt::Debug for StateRun<'_, '_, '_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StateRun")
            .field("dir", &self.state.dir)
            .field("now", &self.now)
            .field("files", &self.files.len())
            .finish_non_exhaustive()
    }
}

impl Drop for StateRun<'_, '_, '_> {
    fn drop(&mut self) {
        if !self.committed {
            for segment in &self.new_segments {
                let _ = fs::remove_file(self.state.dir.join(segment.file_name()));
            }
            if let Some(previous) = self.previous.take() {
                self.state.manifest = previous;
            }
        }
    }
}

impl StateRun<'_, '_, '_> {
    /// Results evaluated again when the run began because they were not final.
    #[must_use]
    pub const fn rechecked(&self) -> u64 {
        self.rechecked
    }

    /// When the run started over: why, and which files it read again.
    #[must_use]
    pub const fn rebuilt(&self) -> Option<&Rebuilt> {
        self.rebuilt.as_ref()
    }

    /// The outcome so far: every stored result and the counts over every file read.
    #[must_use]
    pub fn outcome(&self) -> MatchOutcome {
        self.run.outcome()
    }

    /// Evaluates again every result that was not final, against the log as it is now.
    /// Returns whether the run must start over instead: a pending key whose later copy was
    /// stored meanwhile would now be stored itself.
    pub(super) fn recheck(&mut self) -> bool {
        let until = self.covered;
        let tolerance = self.tolerance;
        let stale: Vec<(DiagnosisKey, [u64; 4])> = self
            .run
            .state()
            .results
            .values()
            .filter(|m| {
                let computed = self
                    .stored
                    .get(&m.key.key_data)
                    .map_or(0, |k| k.computed_until);
                !is_final(&m.key, tolerance, computed) && until > computed
            })
            .map(|m| {
                let counted = self
                    .stored
                    .get(&m.key.key_data)
                    .map_or([0; 4], |k| k.counted);
                (m.key, counted)
            })
            .collect();
        let contributions = self.run.refresh(&stale);
        for ((key, _), counted) in stale.iter().zip(contributions) {
            let kept = self.stored.entry(key.key_data).or_insert(Kept {
                computed_until: until,
                authentic: true,
                counted,
            });
            kept.computed_until = until;
            kept.counted = counted;
        }
        // Pending keys were evaluated against a log complete up to the last coverage: not
        // before it grows are they evaluated again.
        if until <= self.state.manifest.coverage_until {
            self.rechecked = stale.len() as u64;
            self.pending.clone_from(&self.state.manifest.pending);
            self.index_pending();
            return false;
        }
        let pending = core::mem::take(&mut self.state.manifest.pending);
        let run = &self.run;
        let (keys, copied): (Vec<Pending>, Vec<Pending>) = pending
            .iter()
            .partition(|p| p.copy || !run.is_stored(&p.key.key_data));
        // A key whose bytes were stored since, by a later copy: if it would now be stored
        // itself, the copy was stored out of publication order and the run starts over.
        // Otherwise it stays a key that was not stored, counted as its evaluation now says.
        for p in &copied {
            let (would_store, now) = self.run.evaluate_alone(&p.key);
            if would_store {
                self.state.manifest.pending = pending;
                return true;
            }
            self.run.rejected_mut().replace_counts(p.counted, now);
        }
        self.rechecked = (stale.len() + keys.len()) as u64;
        // The keys were counted when their files were read: only what they change now counts,
        // and each one's sighting counts are those of its evaluation now.
        let before = (self.run.state().keys_total, self.run.state().rejected);
        let mut outcomes = Vec::with_capacity(keys.len());
        let plain: Vec<DiagnosisKey> = keys.iter().map(|p| p.key).collect();
        self.run
            .add_filtered(&plain, |_| false, |i, what| outcomes.push((i, what)));
        let (total, rejected) = self.run.counts_mut();
        *total = before.0;
        let (duplicates, invalid) = (rejected.duplicate_keys, rejected.invalid_transitions);
        *rejected = before.1;
        rejected.duplicate_keys = duplicates;
        rejected.invalid_transitions = invalid;
        // A pending key now stored, or now applied as a copy (which may change the stored
        // report type), while a later key of its bytes was applied meanwhile against what was
        // stored before it: publication order is broken, start over.
        if outcomes.iter().any(|&(i, what)| {
            matches!(what, Applied::Stored { .. } | Applied::Copy)
                && keys.get(i).is_some_and(|p| p.later_copy)
        }) {
            self.state.manifest.pending = pending;
            return true;
        }
        for (i, what) in outcomes {
            if let Some(p) = keys.get(i) {
                let now = match what {
                    Applied::Stored { counted } | Applied::NotStored { counted, .. } => counted,
                    Applied::Gated { .. } => [0, 0, 0, 1],
                    Applied::Copy => [0; 4],
                };
                self.run.rejected_mut().replace_counts(p.counted, now);
                self.authentic = p.authentic;
                self.flag_later_copy(&p.key);
                let before = self.pending.len();
                self.record(&p.key, what, fingerprint(&self.cipher, &p.key));
                // Still pending: it keeps its flag.
                if let Some(again) = self.pending.get_mut(before) {
                    again.later_copy |= p.later_copy;
                }
            }
        }
        self.authentic = true;
        self.state.manifest.pending = pending;
        false
    }

    /// Rebuilds [`Self::pending_at`] from `pending`.
    fn index_pending(&mut self) {
        self.pending_at.clear();
        for (at, p) in self.pending.iter().enumerate() {
            self.pending_at.entry(p.key.key_data).or_default().push(at);
        }
    }

    /// A key applied after the pending keys of its bytes: they are flagged (§state.2).
    fn flag_later_copy(&mut self, key: &DiagnosisKey) {
        if let Some(positions) = self.pending_at.get(&key.key_data) {
            for &at in positions {
                if let Some(p) = self.pending.get_mut(at) {
                    p.later_copy = true;
                }
            }
        }
    }

    /// Starts the run over (spec §state.7): every result and count is dropped, and every file
    /// the state knew is read again, in the order it was first read; each must still hold
    /// the bytes it held then. Under [`Authenticity::Required`], files that were not authentic
    /// are dropped and named. The old state stays on disk until the run commits.
    pub(super) fn start_over(
        &mut self,
        why: Rebuild,
        authenticity: Authenticity<'_>,
    ) -> Result<(), StateError> {
        let old = &self.state.manifest;
        let mut fresh = empty_manifest(old.config, old.keep_days, old.secret);
        // The new manifest goes on from the old generation and segment numbers: it replaces
        // the old one, and no new segment takes an old one's name.
        fresh.generation = old.generation;
        fresh.next_segment = old.next_segment;
        let old = core::mem::replace(&mut self.state.manifest, fresh);
        self.next_segment = old.next_segment;
        self.obsolete.clone_from(&old.segments);
        self.run.restore(Checkpoint::default());
        self.stored.clear();
        self.pending.clear();
        self.pending_at.clear();
        self.rechecked = 0;
        let required = matches!(authenticity, Authenticity::Required(_));
        let mut rebuilt = Rebuilt {
            why: why.clone(),
            read_again: Vec::new(),
            dropped_unauthentic: Vec::new(),
            files_unknown: self.state.files_unknown,
        };
        let files = old.files.clone();
        self.previous = Some(old);
        for file in files {
            let path = PathBuf::from(&file.path);
            let again = |problem| StateError::ReadAgain {
                path: path.clone(),
                why: why.clone(),
                problem,
            };
            if required && !file.authentic {
                rebuilt.dropped_unauthentic.push(path);
                continue;
            }
            if file.path.is_empty() {
                return Err(again("its path was not recorded (not UTF-8)"));
            }
            match self.feed_expecting(&path, authenticity, Some((file.sha256, &why)), &mut |_| {}) {
                Ok(Fed::Read { summary, .. }) if required && !summary.authentic() => {
                    return Err(again("it is no longer authentic under the keys given"));
                }
                Ok(_) => rebuilt.read_again.push(path),
                Err(StateError::Open { .. }) => return Err(again("it cannot be opened")),
                Err(e) => return Err(e),
            }
        }
        self.rebuilt = Some(rebuilt);
        Ok(())
    }

    /// Remembers what became of one evaluated key (spec §state.2, §state.3): every key is
    /// decided (a final result) or remembered whole (pending), so that a file is recorded as
    /// read only when nothing of it is left undecided and forgotten.
    fn record(&mut self, key: &DiagnosisKey, what: Applied, fingerprint: [u8; 12]) {
        let until = self.covered;
        let (seen, counted, copy) = match what {
            Applied::Stored { counted } => {
                self.stored.insert(
                    key.key_data,
                    Kept {
                        computed_until: until,
                        authentic: self.authentic,
                        counted,
                    },
                );
                return;
            }
            Applied::Copy | Applied::Gated { copy: false } => return,
            Applied::Gated { copy: true } => (true, [0, 0, 0, 1], true),
            Applied::NotStored {
                seen,
                counted,
                copy,
            } => (seen, counted, copy),
        };
        // A key whose bytes were stored when it was applied was not a copy only because none
        // of the 144 identifiers from its start was logged (§match.6). A sighting of one of
        // them, however late (a replay days after its interval), makes it a copy in one run
        // over the whole log, so that decision never becomes final: it stays pending until it
        // ages out (§state.2 item 4).
        let decided = !copy && is_final(key, self.tolerance, until);
        if !decided {
            // Not final: a window the log does not cover yet (or not wholly), even one that
            // starts after it. Kept whole, applied again as the log grows.
            self.pending_at
                .entry(key.key_data)
                .or_default()
                .push(self.pending.len());
            self.pending.push(Pending {
                key: *key,
                computed_until: until,
                authentic: self.authentic,
                counted,
                later_copy: false,
                copy,
            });
        } else if !seen && !copy {
            self.fresh
                .push(entry_of(fingerprint, key.window.start().get()));
        }
        // A key seen but not stored is final and decided, but not remembered, so that its
        // sightings are counted as one run counts them when a file brings it again; so is a
        // decided copy candidate, so that it is applied again as one run applies it.
    }

    /// Feeds one export file (zip or bare `export.bin`), after every file fed before: a file
    /// whose bytes the state has read is skipped whole; every other key is skipped when the
    /// state checked it against this log before, and matched otherwise, verifying the file in
    /// the same pass (spec §state.3). The file is opened once: the bytes hashed are the bytes
    /// verified and matched.
    ///
    /// # Errors
    /// The file cannot be opened or read, or a state segment is damaged; the state is as
    /// before the file.
    pub fn feed(
        &mut self,
        path: impl AsRef<Path>,
        authenticity: Authenticity<'_>,
        mut progress: impl FnMut(u64),
    ) -> Result<Fed, StateError> {
        self.feed_expecting(path.as_ref(), authenticity, None, &mut progress)
    }

    fn feed_expecting(
        &mut self,
        path: &Path,
        authenticity: Authenticity<'_>,
        expected: Option<([u8; 32], &Rebuild)>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Fed, StateError> {
        let open_error = |source| StateError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut reader = File::open(path).map_err(open_error)?;
        let sha256 = hash_reader(&mut reader).map_err(open_error)?;
        reader.rewind().map_err(open_error)?;
        if let Some((recorded, why)) = expected
            && recorded != sha256
        {
            return Err(StateError::ReadAgain {
                path: path.to_path_buf(),
                why: why.clone(),
                problem: "its bytes changed since it was read",
            });
        }
        let known = self
            .state
            .manifest
            .files
            .iter()
            .chain(self.files.iter())
            .find(|f| f.sha256 == sha256);
        if let Some(known) = known {
            return Ok(Fed::AlreadyRead {
                authentic: known.authentic,
            });
        }
        let in_file = |source: MatchStreamError| StateError::File {
            path: path.to_path_buf(),
            source,
        };
        let mut file = ExportFile::open(BufReader::new(reader))
            .map_err(|e| in_file(MatchStreamError::File(e)))?;
        let format = file.format();
        let marks = (
            self.run.checkpoint(),
            self.fresh.len(),
            self.pending.len(),
            self.new_segments.len(),
            self.stored.clone(),
        );
        // Authenticity is known only once the whole file is read: until then its results are
        // marked as the run requires, and corrected below when it allowed a file that was not.
        self.authentic = true;
        let result = self
            .feed_keys(&mut file, authenticity, progress)
            .map_err(|e| match e {
                StateError::File { source, .. } => in_file(source),
                other => other,
            });
        let required = matches!(authenticity, Authenticity::Required(_));
        match result {
            Ok((summary, keys_skipped)) if summary.authentic() || !required => {
                let authentic = summary.authentic();
                if !authentic {
                    self.mark_unauthentic(marks.2, &marks.4, &marks.0);
                }
                self.files.push(FileRecord {
                    sha256,
                    read_at: self.now,
                    keys: summary.keys + summary.revised_keys,
                    authentic,
                    // Default: a path that cannot be resolved, or is not UTF-8, is kept empty;
                    // a start-over then names the file as one it cannot read again (§state.7).
                    path: fs::canonicalize(path)
                        .ok()
                        .and_then(|p| p.to_str().map(ToString::to_string))
                        .unwrap_or_default(),
                });
                Ok(Fed::Read {
                    format,
                    summary,
                    keys_skipped,
                })
            }
            other => {
                let (checkpoint, fresh, pending, segments, stored) = marks;
                self.run.restore(checkpoint);
                self.fresh.truncate(fresh);
                self.pending.truncate(pending);
                self.index_pending();
                self.stored = stored;
                for segment in self.new_segments.drain(segments..) {
                    let _ = fs::remove_file(self.state.dir.join(segment.file_name()));
                }
                other.map(|(summary, _)| Fed::Read {
                    format,
                    summary,
                    keys_skipped: 0,
                })
            }
        }
    }

    /// Marks what the file just read stored, changed or left pending as coming from a file
    /// that was not authentic: a stored match whose report type it changed included.
    fn mark_unauthentic(
        &mut self,
        pending_from: usize,
        stored_before: &BTreeMap<[u8; 16], Kept>,
        before: &Checkpoint,
    ) {
        for p in self.pending.iter_mut().skip(pending_from) {
            p.authentic = false;
        }
        let results = &self.run.state().results;
        for (key, kept) in &mut self.stored {
            let changed = before
                .results
                .get(key)
                .map(|m| (m.key.report_type, m.report_type_transitions))
                != results
                    .get(key)
                    .map(|m| (m.key.report_type, m.report_type_transitions));
            if !stored_before.contains_key(key) || changed {
                kept.authentic = false;
            }
        }
    }

    fn feed_keys<R: Read + io::Seek>(
        &mut self,
        file: &mut ExportFile<R>,
        authenticity: Authenticity<'_>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(ExportSummary, u64), StateError> {
        let registry = match authenticity {
            Authenticity::Required(r) | Authenticity::Reported(r) => Some(r),
            Authenticity::Unchecked => None,
        };
        // The caller names the file.
        let file_error = |e: ExportFileError| StateError::File {
            path: PathBuf::new(),
            source: MatchStreamError::File(e),
        };
        let mut keys = file.keys(registry).map_err(file_error)?;
        let mut windows = Chunks::new(keys.by_ref(), WINDOW);
        let mut skipped = 0u64;
        let in_file = |source| StateError::File {
            path: PathBuf::new(),
            source,
        };
        while let Some((window, read)) = windows
            .next_chunk(|f| self.run.reject(f))
            .map_err(in_file)?
        {
            skipped += self.match_window(window)?;
            progress(read);
        }
        let summary = keys.finish().map_err(file_error)?;
        Ok((summary, skipped))
    }

    /// Joins one window of keys against the checked keys on disk and matches the rest;
    /// returns how many were skipped.
    fn match_window(&mut self, window: &[DiagnosisKey]) -> Result<u64, StateError> {
        let mut fingerprints = std::vec![[0u8; 12]; window.len()];
        fingerprints_into(&self.cipher, window, &mut fingerprints);
        let mut known = std::vec![false; window.len()];
        let segments = || {
            self.state
                .manifest
                .segments
                .iter()
                .chain(self.new_segments.iter())
        };
        // A state with no checked keys yet (the first run) has nothing to join against.
        if segments().next().is_some() {
            let mut probes: Vec<u128> = fingerprints
                .iter()
                .zip(0u32..)
                .map(|(&fp, i)| probe_of(fp, i))
                .collect();
            probes.sort_unstable();
            for segment in segments() {
                let path = self.state.dir.join(segment.file_name());
                join_segment(&path, segment, &probes, &mut known)?;
            }
        }
        // A key checked before whose bytes are stored now is applied as one run applies it: as
        // a copy, or as a copy candidate whose identifiers are not logged yet.
        for (k, key) in known.iter_mut().zip(window) {
            if *k && self.run.is_stored(&key.key_data) {
                *k = false;
            }
        }
        let skipped = known.iter().filter(|&&k| k).count() as u64;
        let mut outcomes = Vec::new();
        self.run.add_filtered(
            window,
            |i| known.get(i).copied().unwrap_or(false),
            |i, what| outcomes.push((i, what)),
        );
        let mut outcomes = outcomes.into_iter().peekable();
        for (i, key) in window.iter().enumerate() {
            if !self.pending_at.is_empty() {
                self.flag_later_copy(key);
            }
            let Some((_, what)) = outcomes.next_if(|&(at, _)| at == i) else {
                continue;
            };
            // A known key is remembered already, unless its bytes were stored meanwhile in
            // this window and it is a copy candidate now.
            let candidate = matches!(
                what,
                Applied::Gated { copy: true } | Applied::NotStored { copy: true, .. }
            );
            if (!known.get(i).copied().unwrap_or(false) || candidate)
                && let Some(&fp) = fingerprints.get(i)
            {
                self.record(key, what, fp);
            }
        }
        if self.fresh.len() >= FRESH_LIMIT {
            self.flush()?;
        }
        Ok(skipped)
    }
}
