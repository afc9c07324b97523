//! What a state holds and what `inspect` found (spec §state.7).

use std::path::{Path, PathBuf};
use std::vec::Vec;

use super::format::DamageReason;
use super::format::Manifest;

use crate::matching::Rejections;

use super::coverage::is_final;
use super::error::StateError;
use super::segments::join_segment;
use super::{MANIFEST, MANIFEST_TMP, StateKey, read_manifest, state_files};

/// What a state holds (`bluezone state inspect`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct StateSummary {
    /// Runs committed.
    pub generation: u64,
    /// Days results, checked keys and file hashes are kept.
    pub keep_days: u32,
    /// The log was complete up to this time at the last check, Unix seconds (0: never checked).
    pub coverage_until: u64,
    /// Sightings the last check saw per UTC day, up to `coverage_until`.
    pub log_days: Vec<(u32, u64)>,
    /// Keys checked with no match and a final result, on disk.
    pub keys_checked: u64,
    /// Segments they are in.
    pub segments: usize,
    /// Keys matched (final or not).
    pub keys_matched: usize,
    /// Keys matched whose window the log did not cover yet at their last evaluation.
    pub matches_pending: usize,
    /// Keys not matched whose window the log did not cover yet: evaluated again next time.
    pub keys_pending: usize,
    /// Export files read.
    pub files_read: usize,
    /// Of those, files that were not authentic (read with unsigned files allowed).
    pub unauthentic_files: usize,
    /// Matched keys that files which were not authentic brought.
    pub unauthentic_matches: usize,
    /// Whether the manifest is authenticated with a state key (spec §state.1.3).
    pub keyed: bool,
    /// Valid keys every file brought (copies counted).
    pub keys_total: u64,
    /// Report-type changes applied.
    pub report_type_transitions: u64,
    /// What the rules turned away, over every file read.
    pub rejected: Rejections,
}

/// What `inspect` found: the summary when the manifest could be read, and every damage.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct StateInspection {
    /// The state's counts (`None`: no manifest, or a damaged one).
    pub summary: Option<StateSummary>,
    /// Damaged or missing files.
    pub damage: Vec<StateDamage>,
    /// Files a cut run left behind; the next run removes them.
    pub leftovers: Vec<PathBuf>,
}

/// One damaged file of a state.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct StateDamage {
    /// The file.
    pub file: PathBuf,
    /// What is wrong.
    #[cfg_attr(feature = "serde", serde(serialize_with = "as_text"))]
    pub reason: DamageReason,
}

#[cfg(feature = "serde")]
pub(super) fn as_text<S: serde::Serializer>(
    reason: &DamageReason,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_str(reason)
}

/// One pass of [`MatchState::inspect`].
pub(super) fn inspect_once(
    dir: &Path,
    key: Option<&StateKey>,
) -> Result<StateInspection, StateError> {
    let names = state_files(dir)?;
    let mut damage = Vec::new();
    let manifest = match read_manifest(dir, key) {
        Ok(manifest) => manifest,
        Err(StateError::Damaged { file, reason }) => {
            damage.push(StateDamage { file, reason });
            None
        }
        Err(e) => return Err(e),
    };
    let segments_left = names.iter().any(|n| n.ends_with(".seg"));
    if manifest.is_none() && damage.is_empty() {
        if !segments_left {
            return Err(StateError::NoState {
                dir: dir.to_path_buf(),
            });
        }
        damage.push(StateDamage {
            file: dir.join(MANIFEST),
            reason: DamageReason::Missing,
        });
    }
    let mut leftovers = Vec::new();
    if let Some(manifest) = &manifest {
        for segment in &manifest.segments {
            let path = dir.join(segment.file_name());
            if let Err(StateError::Damaged { file, reason }) =
                join_segment(&path, segment, &[], &mut [])
            {
                damage.push(StateDamage { file, reason });
            }
        }
    }
    for name in names {
        let referenced = manifest
            .as_ref()
            .is_some_and(|m| m.segments.iter().any(|s| s.file_name() == name));
        if name == MANIFEST_TMP || (name.ends_with(".seg") && !referenced && manifest.is_some()) {
            leftovers.push(dir.join(name));
        }
    }
    Ok(StateInspection {
        summary: manifest.as_ref().map(|m| summary_of(m, key.is_some())),
        damage,
        leftovers,
    })
}

pub(super) fn summary_of(m: &Manifest, keyed: bool) -> StateSummary {
    StateSummary {
        generation: m.generation,
        keep_days: m.keep_days,
        coverage_until: m.coverage_until,
        log_days: m
            .log_days
            .iter()
            .map(|d| (d.day, d.hashes.len() as u64))
            .collect(),
        keys_checked: m.segments.iter().map(|s| s.entries).sum(),
        segments: m.segments.len(),
        keys_matched: m.matches.len(),
        matches_pending: m
            .matches
            .iter()
            .filter(|s| {
                !is_final(
                    &s.result.key,
                    m.config.tolerance_intervals,
                    s.computed_until,
                )
            })
            .count(),
        keys_pending: m.pending.len(),
        files_read: m.files.len(),
        unauthentic_files: m.files.iter().filter(|f| !f.authentic).count(),
        unauthentic_matches: m.matches.iter().filter(|s| !s.authentic).count(),
        keyed,
        keys_total: m.keys_total,
        report_type_transitions: m.transitions,
        rejected: m.rejected,
    }
}
