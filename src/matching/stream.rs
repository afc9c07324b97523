//! Matching keys streamed from export files, in bounded memory (spec §match.5).
//!
//! Keys are read one at a time and matched in chunks; only the chunk and the matches are held,
//! whatever the number of keys. Identical keys within a chunk are matched once; a key repeated
//! in different chunks is matched in each and its match is kept once.

#[cfg(feature = "export")]
use std::io::Seek;
use std::io::{BufReader, Read};
use std::string::String;
use std::vec::Vec;

use super::{MatchOutcome, Matcher};
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
    /// The thread pool could not be built.
    #[error("cannot start the matching threads: {0}")]
    Threads(String),
}

/// Matches keys from `keys` in chunks of [`CHUNK_KEYS`] on `threads` threads, calling
/// `progress` with the number of keys read so far after each chunk.
///
/// # Errors
/// The first error of `keys`, or [`MatchStreamError::Threads`].
pub fn match_keys<I, E>(
    matcher: &Matcher<'_>,
    keys: I,
    threads: usize,
    mut progress: impl FnMut(u64),
) -> Result<MatchOutcome, MatchStreamError>
where
    I: IntoIterator<Item = Result<DiagnosisKey, E>>,
    MatchStreamError: From<E>,
{
    let mut outcome = MatchOutcome::default();
    let mut chunk: Vec<DiagnosisKey> = Vec::with_capacity(CHUNK_KEYS);
    let mut read = 0u64;
    let mut keys = keys.into_iter();
    loop {
        chunk.clear();
        for key in keys.by_ref().take(CHUNK_KEYS) {
            chunk.push(key?);
        }
        if chunk.is_empty() {
            return Ok(outcome);
        }
        read += chunk.len() as u64;
        outcome.merge(run(matcher, &chunk, threads)?);
        progress(read);
    }
}

#[cfg(feature = "parallel")]
fn run(
    matcher: &Matcher<'_>,
    chunk: &[DiagnosisKey],
    threads: usize,
) -> Result<MatchOutcome, MatchStreamError> {
    matcher
        .match_keys_parallel(chunk, threads)
        .map_err(|e| MatchStreamError::Threads(std::string::ToString::to_string(&e)))
}

#[cfg(not(feature = "parallel"))]
fn run(
    matcher: &Matcher<'_>,
    chunk: &[DiagnosisKey],
    _threads: usize,
) -> Result<MatchOutcome, MatchStreamError> {
    Ok(matcher.match_keys(chunk))
}

#[cfg(feature = "export")]
/// Matches every key and revised key of one opened export file (zip or bare `export.bin`) and,
/// when `registry` is given, verifies its signatures from the same bytes, in one pass.
///
/// The outcome is returned with the file's summary; a caller that requires authentic files
/// must discard the outcome unless [`ExportSummary::authentic`] holds.
///
/// # Errors
/// A member is missing or malformed, or the threads cannot start.
pub fn match_export<R: Read + Seek>(
    matcher: &Matcher<'_>,
    file: &mut ExportFile<R>,
    registry: Option<&PublicKeyRegistry>,
    threads: usize,
    progress: impl FnMut(u64),
) -> Result<(MatchOutcome, ExportSummary), MatchStreamError> {
    let mut keys = file.keys(registry)?;
    let outcome = match_keys(
        matcher,
        keys.by_ref().map(|item| item.map(|k| k.key)),
        threads,
        progress,
    )?;
    Ok((outcome, keys.finish()?))
}

/// Matches every key and revised key of a bare `export.bin` stream.
///
/// # Errors
/// A malformed file, or the threads cannot start.
pub fn match_bin<R: Read>(
    matcher: &Matcher<'_>,
    export_bin: R,
    threads: usize,
    progress: impl FnMut(u64),
) -> Result<MatchOutcome, MatchStreamError> {
    let reader = ExportReader::new(BufReader::with_capacity(64 * 1024, export_bin))?;
    match_keys(
        matcher,
        reader.map(|item| item.map(|k| k.key)),
        threads,
        progress,
    )
}
