//! Matching keys streamed from export files, in bounded memory (spec §match.5).
//!
//! Keys are read one at a time and added to a [`MatchRun`] in chunks; only the chunk and the
//! matches are held, whatever the number of keys. A key the protocol does not allow is counted
//! by class and skipped; the rest of its file is matched (spec §export.3).

#[cfg(feature = "export")]
use std::io::Seek;
use std::io::{BufReader, Read};
use std::vec::Vec;

use super::MatchRun;
use crate::export::bin::ExportedKey;
use crate::export::stream::{ExportReader, StreamError};
#[cfg(feature = "export")]
use crate::export::verify::PublicKeyRegistry;
#[cfg(feature = "export")]
use crate::export::{ExportFile, ExportFileError, ExportSummary};
use crate::gaen::DiagnosisKey;

/// Keys matched together. Bigger chunks sort better by day; 64 Ki keys take 2.5 MB.
pub const CHUNK_KEYS: usize = 64 * 1024;

/// Why a stream of keys could not be matched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MatchStreamError {
    /// An export file could not be read.
    #[error(transparent)]
    Export(#[from] StreamError),
    /// An export file could not be opened, read or verified.
    #[cfg(feature = "export")]
    #[error(transparent)]
    File(#[from] ExportFileError),
}

impl MatchStreamError {
    /// The format error, when the failure is one.
    const fn format(&self) -> Option<&crate::export::ExportError> {
        match self {
            Self::Export(StreamError::Format(e)) => Some(e),
            #[cfg(feature = "export")]
            Self::File(ExportFileError::Bin(e)) => Some(e),
            _ => None,
        }
    }
}

/// Keys in chunks of at most a given size, in order; a key the protocol does not allow is
/// counted and skipped. What [`match_keys`] and the match state read files with.
pub(crate) struct Chunks<I> {
    keys: I,
    size: usize,
    chunk: Vec<DiagnosisKey>,
    read: u64,
    failure: Option<MatchStreamError>,
}

impl<I, E> Chunks<I>
where
    I: Iterator<Item = Result<ExportedKey, E>>,
    MatchStreamError: From<E>,
{
    pub(crate) fn new(keys: I, size: usize) -> Self {
        Self {
            keys,
            size,
            chunk: Vec::with_capacity(size.min(CHUNK_KEYS)),
            read: 0,
            failure: None,
        }
    }

    /// Reads the next chunk into `buffer` (its old contents are replaced), counting invalid
    /// keys in `invalid`; returns the keys read so far, `None` at the end.
    ///
    /// # Errors
    /// As [`Self::next_chunk`].
    pub(crate) fn next_chunk_into(
        &mut self,
        buffer: &mut Vec<DiagnosisKey>,
        invalid: &mut super::InvalidKeys,
    ) -> Result<Option<u64>, MatchStreamError> {
        let read = match self.next_chunk(|f| invalid.count(f))? {
            Some((_, read)) => read,
            None => return Ok(None),
        };
        core::mem::swap(buffer, &mut self.chunk);
        Ok(Some(read))
    }

    /// The next chunk and the number of keys read so far; `None` at the end. `reject` counts
    /// a key the protocol does not allow and says whether the error was one. The first error
    /// that is not about one key comes after the chunk of the keys before it.
    ///
    /// # Errors
    /// Structural damage or a read error.
    pub(crate) fn next_chunk(
        &mut self,
        mut reject: impl FnMut(&crate::export::ExportError) -> bool,
    ) -> Result<Option<(&[DiagnosisKey], u64)>, MatchStreamError> {
        if let Some(e) = self.failure.take() {
            return Err(e);
        }
        self.chunk.clear();
        for item in self.keys.by_ref() {
            self.read += 1;
            match item.map_err(MatchStreamError::from) {
                Ok(key) => self.chunk.push(key.key),
                Err(e) if e.format().is_some_and(&mut reject) => {}
                Err(e) => {
                    self.failure = Some(e);
                    break;
                }
            }
            if self.chunk.len() == self.size {
                break;
            }
        }
        if self.chunk.is_empty() {
            return self.failure.take().map_or(Ok(None), Err);
        }
        Ok(Some((&self.chunk, self.read)))
    }
}

/// Adds the keys of `keys` to `run` in chunks of [`CHUNK_KEYS`], calling `progress` with the
/// number of keys read so far after each chunk. A key the protocol does not allow is counted in
/// the run's rejections and skipped. With threads, the next chunk is read while the run's pool
/// matches the current one, so reading is not serial in front of matching (spec §match.5).
///
/// # Errors
/// The first error of `keys` that is not about one key: structural damage or a read error.
/// The keys before it have been added.
pub fn match_keys<I, E>(
    run: &mut MatchRun<'_, '_>,
    keys: I,
    mut progress: impl FnMut(u64),
) -> Result<(), MatchStreamError>
where
    I: IntoIterator<Item = Result<ExportedKey, E>>,
    MatchStreamError: From<E>,
{
    let mut chunks = Chunks::new(keys.into_iter(), CHUNK_KEYS);
    let mut current = Vec::with_capacity(CHUNK_KEYS);
    let mut invalid = super::InvalidKeys::default();
    let mut read = chunks.next_chunk_into(&mut current, &mut invalid);
    let mut next = Vec::with_capacity(CHUNK_KEYS);
    loop {
        run.rejected_mut().invalid_keys.add(&invalid);
        invalid = super::InvalidKeys::default();
        let Some(so_far) = read? else {
            return Ok(());
        };
        read = run.add_while(&current, || chunks.next_chunk_into(&mut next, &mut invalid));
        progress(so_far);
        core::mem::swap(&mut current, &mut next);
    }
}

/// Whether the keys of a file count only when it is authentic (spec §match.5).
#[cfg(feature = "export")]
#[derive(Clone, Copy, Debug)]
pub enum Authenticity<'r> {
    /// Verified against the registry, and a file that is not authentic leaves nothing in the
    /// run: only authentic keys are matched. What a phone does.
    Required(&'r PublicKeyRegistry),
    /// Verified against the registry and reported in the summary; the keys count either way.
    Reported(&'r PublicKeyRegistry),
    /// Not verified: the caller vouches for the file (a test, or a file checked elsewhere).
    Unchecked,
}

#[cfg(feature = "export")]
/// Matches every key and revised key of one opened export file (zip or bare `export.bin`), in
/// file order, verifying its signatures from the same bytes in the same pass (spec §export.8).
///
/// With [`Authenticity::Required`], a file that turns out not to be authentic once its last
/// byte is read leaves nothing in the run: the run is as it was before the file, and the
/// summary says why.
///
/// # Errors
/// A member is missing or malformed; the run is then as it was before the file.
pub fn match_export<R: Read + Seek>(
    run: &mut MatchRun<'_, '_>,
    file: &mut ExportFile<R>,
    authenticity: Authenticity<'_>,
    progress: impl FnMut(u64),
) -> Result<ExportSummary, MatchStreamError> {
    let registry = match authenticity {
        Authenticity::Required(r) | Authenticity::Reported(r) => Some(r),
        Authenticity::Unchecked => None,
    };
    let before = run.checkpoint();
    let result = (|| {
        let mut keys = file.keys(registry)?;
        match_keys(run, keys.by_ref(), progress)?;
        Ok(keys.finish()?)
    })();
    match result {
        Ok(summary)
            if summary.authentic() || !matches!(authenticity, Authenticity::Required(_)) =>
        {
            Ok(summary)
        }
        other => {
            run.restore(before);
            other
        }
    }
}

/// Matches every key and revised key of a bare `export.bin` stream, in file order.
///
/// # Errors
/// A malformed file or a read error.
pub fn match_bin<R: Read>(
    run: &mut MatchRun<'_, '_>,
    export_bin: R,
    progress: impl FnMut(u64),
) -> Result<(), MatchStreamError> {
    let reader = ExportReader::new(BufReader::with_capacity(64 * 1024, export_bin))?;
    match_keys(run, reader, progress)
}
