//! Checked keys on disk: fingerprints, segments, the join of a window of keys against them,
//! and their merge (spec §state.1.2, §state.3, §state.6).

use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::vec::Vec;

use super::format::DamageReason;
use super::format::{ENTRY, SEGMENT_HEADER, SegmentRef, read_segment_header, segment_header};

use super::disk;
use super::error::{StateError, io_error};

/// The length of a segment of `entries` entries: its header and 16 bytes an entry (`None` past
/// `u64`).
pub(super) const fn segment_len(entries: u64) -> Option<u64> {
    match entries.checked_mul(ENTRY as u64) {
        Some(body) => body.checked_add(SEGMENT_HEADER as u64),
        None => None,
    }
}

pub(super) fn entry_of(fingerprint: [u8; 12], start: u32) -> [u8; ENTRY] {
    let mut entry = [0u8; ENTRY];
    entry[..12].copy_from_slice(&fingerprint);
    entry[12..].copy_from_slice(&start.to_le_bytes());
    entry
}

/// A fingerprint as a number whose order is the fingerprint's bytewise order, in the top 96
/// bits; the low 32 are free (an entry's start, a probe's index).
pub(super) const FINGERPRINT_BITS: u128 = !0xFFFF_FFFF;

pub(super) fn probe_of(fingerprint: [u8; 12], index: u32) -> u128 {
    let mut bytes = [0u8; 16];
    bytes[..12].copy_from_slice(&fingerprint);
    bytes[12..].copy_from_slice(&index.to_be_bytes());
    u128::from_be_bytes(bytes)
}

/// Streams one segment: checks its header, order, length and CRC, and marks `known[i]` for
/// every probe ([`probe_of`]: fingerprint and index `i`, sorted) whose fingerprint it holds.
pub(super) fn join_segment(
    path: &Path,
    segment: &SegmentRef,
    probes: &[u128],
    known: &mut [bool],
) -> Result<(), StateError> {
    let damaged = |reason| StateError::Damaged {
        file: path.to_path_buf(),
        reason,
    };
    let file = File::open(path).map_err(|e| {
        damaged(if e.kind() == io::ErrorKind::NotFound {
            DamageReason::Missing
        } else {
            DamageReason::Unreadable
        })
    })?;
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut crc = crc32fast::Hasher::new();
    let mut header = [0u8; SEGMENT_HEADER];
    read_full(&mut reader, &mut header).map_err(damaged)?;
    crc.update(&header);
    let entries = read_segment_header(&header).map_err(damaged)?;
    if entries != segment.entries {
        return Err(damaged(DamageReason::Invalid("entry count")));
    }
    let mut buffer = std::vec![0u8; 4096 * ENTRY];
    let mut left = entries;
    let mut probes = probes.iter().peekable();
    let mut last: Option<u128> = None;
    while left > 0 {
        let take = usize::try_from(left.min(4096)).unwrap_or(4096) * ENTRY;
        let (chunk, _) = buffer.split_at_mut(take);
        read_full(&mut reader, chunk).map_err(damaged)?;
        crc.update(chunk);
        for entry in chunk.chunks_exact(ENTRY) {
            let mut bytes = [0u8; ENTRY];
            bytes.copy_from_slice(entry);
            let fp = u128::from_be_bytes(bytes) & FINGERPRINT_BITS;
            if last.is_some_and(|l| l >= fp) {
                return Err(damaged(DamageReason::Order));
            }
            last = Some(fp);
            while let Some(&&probe) = probes.peek() {
                let p = probe & FINGERPRINT_BITS;
                if p > fp {
                    break;
                }
                if p == fp
                    && let Some(k) = known.get_mut((probe & 0xFFFF_FFFF) as usize)
                {
                    *k = true;
                }
                probes.next();
            }
        }
        left -= (take / ENTRY) as u64;
    }
    let mut extra = [0u8; 1];
    if reader
        .read(&mut extra)
        .map_err(|_| damaged(DamageReason::Unreadable))?
        != 0
    {
        return Err(damaged(DamageReason::Trailing));
    }
    if crc.finalize() != segment.crc32 {
        return Err(damaged(DamageReason::Checksum));
    }
    Ok(())
}

pub(super) fn read_full(reader: &mut impl Read, out: &mut [u8]) -> Result<(), DamageReason> {
    reader.read_exact(out).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            DamageReason::Truncated
        } else {
            DamageReason::Unreadable
        }
    })
}

/// Writes a segment of `count` entries, in strictly increasing order of fingerprint; an error
/// of `entries` removes what was written.
pub(super) fn write_segment(
    dir: &Path,
    number: u64,
    count: u64,
    entries: impl Iterator<Item = Result<[u8; ENTRY], StateError>>,
) -> Result<SegmentRef, StateError> {
    let path = dir.join(
        SegmentRef {
            number,
            entries: count,
            crc32: 0,
        }
        .file_name(),
    );
    let mut crc = crc32fast::Hasher::new();
    let header = segment_header(count);
    crc.update(&header);
    let mut out = disk::Create::new(&path).map_err(io_error(&path))?;
    out.write_all(&header).map_err(io_error(&path))?;
    let mut written = 0u64;
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                drop(out);
                let _ = fs::remove_file(&path);
                return Err(e);
            }
        };
        crc.update(&entry);
        out.write_all(&entry).map_err(io_error(&path))?;
        written += 1;
    }
    debug_assert_eq!(
        written, count,
        "a segment's entries are counted before it is written"
    );
    out.finish().map_err(io_error(&path))?;
    Ok(SegmentRef {
        number,
        entries: count,
        crc32: crc.finalize(),
    })
}

/// Merges segments into one, keeping the entries `keep(start)` accepts and each fingerprint
/// once. Two passes, each streaming and verifying every segment: the first counts (the header
/// holds the count), the second writes.
pub(super) fn merge_segments(
    dir: &Path,
    segments: &[SegmentRef],
    number: u64,
    keep: impl Fn(u32) -> bool,
) -> Result<SegmentRef, StateError> {
    let kept = |e: &Result<[u8; ENTRY], StateError>| e.as_ref().map_or(true, |e| keep(start_of(e)));
    let count = MergedEntries::new(dir, segments)?
        .filter(kept)
        .try_fold(0u64, |n, e| e.map(|_| n + 1))?;
    write_segment(
        dir,
        number,
        count,
        MergedEntries::new(dir, segments)?.filter(kept),
    )
}

pub(super) fn start_of(entry: &[u8; ENTRY]) -> u32 {
    let mut start = [0u8; 4];
    start.copy_from_slice(&entry[12..]);
    u32::from_le_bytes(start)
}

/// The entries of several segments in fingerprint order, each fingerprint once; each
/// segment's order, length and CRC checked as it is read.
pub(super) struct MergedEntries {
    sources: Vec<SegmentSource>,
}

pub(super) struct SegmentSource {
    path: PathBuf,
    reader: BufReader<File>,
    crc: crc32fast::Hasher,
    expected_crc: u32,
    left: u64,
    head: Option<[u8; ENTRY]>,
}

impl SegmentSource {
    fn open(path: PathBuf, segment: &SegmentRef) -> Result<Self, StateError> {
        let damaged = |reason| StateError::Damaged {
            file: path.clone(),
            reason,
        };
        let file = File::open(&path).map_err(|_| damaged(DamageReason::Missing))?;
        let mut reader = BufReader::with_capacity(64 * 1024, file);
        let mut header = [0u8; SEGMENT_HEADER];
        read_full(&mut reader, &mut header).map_err(damaged)?;
        if read_segment_header(&header).map_err(damaged)? != segment.entries {
            return Err(damaged(DamageReason::Invalid("entry count")));
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(&header);
        let mut source = Self {
            path,
            reader,
            crc,
            expected_crc: segment.crc32,
            left: segment.entries,
            head: None,
        };
        source.advance()?;
        Ok(source)
    }

    fn advance(&mut self) -> Result<(), StateError> {
        let damaged = |reason| StateError::Damaged {
            file: self.path.clone(),
            reason,
        };
        if self.left == 0 {
            self.head = None;
            let mut extra = [0u8; 1];
            let more = self
                .reader
                .read(&mut extra)
                .map_err(|_| damaged(DamageReason::Unreadable))?;
            if more != 0 {
                return Err(damaged(DamageReason::Trailing));
            }
            if self.crc.clone().finalize() != self.expected_crc {
                return Err(damaged(DamageReason::Checksum));
            }
            return Ok(());
        }
        let mut entry = [0u8; ENTRY];
        read_full(&mut self.reader, &mut entry).map_err(damaged)?;
        self.crc.update(&entry);
        if self.head.is_some_and(|h| h[..12] >= entry[..12]) {
            return Err(damaged(DamageReason::Order));
        }
        self.head = Some(entry);
        self.left -= 1;
        Ok(())
    }
}

impl MergedEntries {
    fn new(dir: &Path, segments: &[SegmentRef]) -> Result<Self, StateError> {
        let sources = segments
            .iter()
            .map(|s| SegmentSource::open(dir.join(s.file_name()), s))
            .collect::<Result<_, _>>()?;
        Ok(Self { sources })
    }
}

impl Iterator for MergedEntries {
    type Item = Result<[u8; ENTRY], StateError>;

    fn next(&mut self) -> Option<Self::Item> {
        let smallest = self
            .sources
            .iter()
            .filter_map(|s| s.head)
            .min_by(|a, b| a[..12].cmp(&b[..12]))?;
        for source in &mut self.sources {
            if source.head.is_some_and(|h| h[..12] == smallest[..12])
                && let Err(e) = source.advance()
            {
                return Some(Err(e));
            }
        }
        Some(Ok(smallest))
    }
}
