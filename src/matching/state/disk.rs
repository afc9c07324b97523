//! Every change the state makes to its folder, in one place, so that a test can cut a run at
//! each of them (spec §state.6).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;
use std::string::ToString;
use std::vec::Vec;

use sha2::{Digest, Sha256};

use super::StateKey;
use super::error::{StateError, io_error};
use super::format::Manifest;

/// The manifest's name.
pub(super) const MANIFEST: &str = "MANIFEST";
/// The manifest being written, renamed over [`MANIFEST`] when complete.
pub(super) const MANIFEST_TMP: &str = "MANIFEST.tmp";
/// The lock a run holds.
pub(super) const LOCK: &str = "lock";

#[cfg(test)]
std::thread_local! {
    /// Changes left before the simulated power cut (`None`: no cut); from the cut on,
    /// every change fails, as after a real one.
    pub(super) static CUT_AFTER: core::cell::Cell<Option<usize>> =
        const { core::cell::Cell::new(None) };
    /// Whether the simulated cut fell.
    pub(super) static CUT: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

/// Counts one change; `Err` when the simulated cut falls on it.
#[cfg(test)]
fn step() -> io::Result<()> {
    CUT_AFTER.with(|cut| match cut.get() {
        Some(0) => {
            CUT.with(|c| c.set(true));
            Err(io::Error::other("simulated power cut"))
        }
        Some(n) => {
            cut.set(Some(n - 1));
            Ok(())
        }
        None => Ok(()),
    })
}

#[cfg(not(test))]
#[allow(clippy::unnecessary_wraps)]
const fn step() -> io::Result<()> {
    Ok(())
}

/// A new file, written through a buffer and synced by [`Self::finish`].
pub(super) struct Create {
    out: io::BufWriter<File>,
    written: u64,
}

impl Create {
    pub(super) fn new(path: &Path) -> io::Result<Self> {
        Ok(Self {
            out: io::BufWriter::with_capacity(256 * 1024, File::create(path)?),
            written: 0,
        })
    }

    pub(super) fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.written += bytes.len() as u64;
        self.out.write_all(bytes)
    }

    /// Flushes and syncs the file. A cut here leaves half of it on disk.
    pub(super) fn finish(self) -> io::Result<()> {
        let file = self
            .out
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        if let Err(e) = step() {
            file.set_len(self.written / 2)?;
            return Err(e);
        }
        file.sync_all()
    }
}

pub(super) fn rename(from: &Path, to: &Path) -> io::Result<()> {
    step()?;
    fs::rename(from, to)
}

pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    step()?;
    // Directories cannot be opened for syncing on every platform; where they can, the
    // rename is made durable.
    match File::open(dir) {
        Ok(d) => d.sync_all().or(Ok(())),
        Err(_) => Ok(()),
    }
}

pub(super) fn remove(path: &Path) -> io::Result<()> {
    step()?;
    fs::remove_file(path)
}

/// Whether `name` is a file a state writes.
fn is_state_file(name: &str) -> bool {
    name == MANIFEST
        || name == MANIFEST_TMP
        || name == LOCK
        || (name.starts_with("checked-") && name.ends_with(".seg"))
}

/// The state files in `dir`; any other file makes it not a state.
pub(super) fn state_files(dir: &Path) -> Result<Vec<std::string::String>, StateError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if !is_state_file(&name) {
            return Err(StateError::NotAState {
                dir: dir.to_path_buf(),
                other: entry.path(),
            });
        }
        names.push(name);
    }
    names.sort();
    Ok(names)
}

/// The manifest of the state in `dir`, `None` when there is none.
pub(super) fn read_manifest(
    dir: &Path,
    key: Option<&StateKey>,
) -> Result<Option<Manifest>, StateError> {
    let path = dir.join(MANIFEST);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StateError::Io { path, source }),
    };
    Manifest::decode(&bytes, key.map(StateKey::bytes))
        .map(Some)
        .map_err(|reason| StateError::Damaged { file: path, reason })
}

/// Replaces the manifest in one rename (spec §state.6, steps 3 to 5).
pub(super) fn write_manifest(
    dir: &Path,
    manifest: &Manifest,
    key: Option<&StateKey>,
) -> Result<(), StateError> {
    let tmp = dir.join(MANIFEST_TMP);
    let mut out = Create::new(&tmp).map_err(io_error(&tmp))?;
    out.write_all(&manifest.encode(key.map(StateKey::bytes)))
        .map_err(io_error(&tmp))?;
    out.finish().map_err(io_error(&tmp))?;
    let path = dir.join(MANIFEST);
    rename(&tmp, &path).map_err(io_error(&path))
}

/// The SHA-256 of a file read to its end.
pub(super) fn hash_reader(file: &mut File) -> io::Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    let mut buffer = std::vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(hasher.finalize().into());
        }
        hasher.update(
            buffer
                .get(..n)
                .ok_or_else(|| io::Error::other(crate::codec::OVER_READ))?,
        );
    }
}
