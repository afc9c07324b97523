//! Every change the state makes to its folder, in one place, so that a test can cut a run at
//! each of them (spec §state.6).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

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
