//! The state's tests: the helpers that build a world of keys, logs and files, and the runs
//! (`runs`) and damage (`damage`) checked against it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]

use std::path::{Path, PathBuf};
use std::vec::Vec;

use aes::cipher::{Array, KeyInit};
use sha2::{Digest, Sha256};
use std::string::ToString;

use super::disk::{CUT, CUT_AFTER};
use super::*;

mod damage;
mod format;
mod runs;
use crate::encounter::GaenSighting;
use crate::export::bin::{ExportMetadata, encode};
use crate::gaen::DiagnosisKey;
use crate::gaen::{Metadata, ReportType};
use crate::matching::{LogIndex, Matcher};
use crate::time::{EnIntervalNumber, RollingWindow};
pub(super) const DAY: u32 = 18_600;

pub(super) fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(std::format!("bluezone-state-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

pub(super) fn key(n: u32, day: u32, report_type: ReportType) -> DiagnosisKey {
    let mut key_data = [0u8; 16];
    key_data[..4].copy_from_slice(&n.to_le_bytes());
    key_data[4] = 0xA5;
    let mut key = DiagnosisKey::new(
        key_data,
        RollingWindow::day_of(EnIntervalNumber::new(day * 144)),
    );
    key.report_type = report_type;
    key.transmission_risk_level = 3;
    key
}

/// Three sightings of one identifier of `key`, at noon of its day.
pub(super) fn seen(key: &DiagnosisKey) -> Vec<GaenSighting> {
    let interval = EnIntervalNumber::new(key.window.start().get() + 72);
    let rpi = key.rolling_proximity_identifier_key().identifier(interval);
    let aem = key
        .associated_encrypted_metadata_key()
        .encrypt(&rpi, Metadata::v1_0(-10));
    (0..3)
        .map(|m| GaenSighting {
            unix_seconds: interval.start_unix_seconds() + 60 + m * 120,
            rpi,
            aem,
            rssi: -70,
            previous_scan_unix_seconds: 0,
        })
        .collect()
}

/// Ten daily files: each holds 20 keys of its own, one of them logged as a self report; the
/// last also confirms the first file's logged key by a test and revokes the second's.
pub(super) struct World {
    pub(super) files: Vec<PathBuf>,
    pub(super) sightings: Vec<GaenSighting>,
    pub(super) now: u64,
}

pub(super) fn world(dir: &Path) -> World {
    let mut files = Vec::new();
    let mut sightings = Vec::new();
    for f in 0..10u32 {
        let mut keys: Vec<DiagnosisKey> = (0..20)
            .map(|n| key(f * 100 + n, DAY + f, ReportType::ConfirmedTest))
            .collect();
        keys[0].report_type = ReportType::SelfReport;
        sightings.extend(seen(&keys[0]));
        if f == 9 {
            let mut confirmed = key(0, DAY, ReportType::ConfirmedTest);
            confirmed.transmission_risk_level = 3;
            keys.push(confirmed);
            keys.push(key(100, DAY + 1, ReportType::Revoked));
        }
        let metadata = ExportMetadata {
            start_timestamp: Some(u64::from(f)),
            ..ExportMetadata::default()
        };
        let path = dir.join(std::format!("{f}.bin"));
        fs::write(&path, encode(&metadata, &keys, &[])).unwrap();
        files.push(path);
    }
    World {
        files,
        sightings,
        now: u64::from(DAY + 12) * 86_400,
    }
}

pub(super) fn check(
    dir: &Path,
    world: &World,
    files: &[PathBuf],
) -> Result<MatchOutcome, StateError> {
    run_with(
        dir,
        &world.sightings,
        world.now,
        StateOptions::default(),
        Authenticity::Unchecked,
        files,
    )
}

/// Opens the state in `dir` with `options`, begins a run against `sightings` at `now` under
/// `authenticity`, and hands it to `then`.
pub(super) fn with_run<T>(
    dir: &Path,
    sightings: &[GaenSighting],
    now: u64,
    options: StateOptions,
    authenticity: Authenticity<'_>,
    then: impl FnOnce(StateRun<'_, '_, '_>) -> Result<T, StateError>,
) -> Result<T, StateError> {
    let config = MatchConfig::default();
    let index = LogIndex::new(sightings.to_vec(), config.tolerance_intervals);
    let matcher = Matcher::new(&index, config);
    let mut opened = MatchState::open(dir, config, options)?;
    then(opened.begin(MatchRun::new(&matcher), &RunOptions::at(now, authenticity))?)
}

pub(super) fn outcome_of(dir: &Path) -> MatchOutcome {
    MatchState::open(dir, MatchConfig::default(), StateOptions::default())
        .unwrap()
        .outcome()
}

pub(super) fn copy_dir(from: &Path, to: &Path) {
    let _ = fs::remove_dir_all(to);
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// A stateless check of `files` against the world's log at its "now": what a state must
/// always agree with.
pub(super) fn fresh(world: &World, files: &[PathBuf]) -> MatchOutcome {
    static N: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    let dir = scratch(&std::format!("fresh-{n}"));
    let outcome = check(&dir.join("state"), world, files).unwrap();
    fs::remove_dir_all(&dir).unwrap();
    outcome
}

/// One file holding `keys`, in `dir`.
pub(super) fn file_of(dir: &Path, name: &str, keys: &[DiagnosisKey]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, encode(&ExportMetadata::default(), keys, &[])).unwrap();
    path
}

/// A run of `files` against `sightings` at `now`, with `options` and `authenticity`.
pub(super) fn run_with(
    state: &Path,
    sightings: &[GaenSighting],
    now: u64,
    options: StateOptions,
    authenticity: Authenticity<'_>,
    files: &[PathBuf],
) -> Result<MatchOutcome, StateError> {
    with_run(state, sightings, now, options, authenticity, |mut run| {
        for path in files {
            run.feed(path, authenticity, |_| {})?;
        }
        run.commit()
    })
}
