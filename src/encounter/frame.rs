//! Segment files: a checksummed header, then one checksummed frame per record (spec §enc.2).
//!
//! ```text
//! header:  "BZENCLOG" (8) | version u16 LE = 1 | reserved u16 = 0 | CRC-32 of bytes 0..12 (4)
//! frame:   0xB2 | record (kind byte + fixed payload) | CRC-32 of the record, LE (4)
//! ```
//!
//! The scanner recovers every intact frame whatever happened around it: a frame whose checksum
//! fails is skipped by searching for the next position where a valid frame starts, and an
//! incomplete frame at the end of the data is a torn tail.

use super::record::{MAX_RECORD_LEN, RecordError, Sighting, record_len};

/// The 8 magic bytes that open a segment file.
pub const MAGIC: &[u8; 8] = b"BZENCLOG";
/// The segment format version this crate writes and reads.
pub const VERSION: u16 = 1;
/// Header length in bytes.
pub const HEADER_LEN: usize = 16;
/// The byte that opens every frame.
pub const FRAME_SYNC: u8 = 0xB2;
/// Bytes a frame adds around its record: the sync byte and the checksum.
pub const FRAME_OVERHEAD: usize = 5;
/// The longest frame.
pub const MAX_FRAME_LEN: usize = MAX_RECORD_LEN + FRAME_OVERHEAD;

fn crc32(bytes: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(bytes);
    hasher.finalize()
}

/// The header of a version-1 segment.
#[must_use]
pub fn header() -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    let (body, check) = out.split_at_mut(12);
    let (magic, rest) = body.split_at_mut(8);
    magic.copy_from_slice(MAGIC);
    rest.copy_from_slice(&[VERSION.to_le_bytes()[0], VERSION.to_le_bytes()[1], 0, 0]);
    check.copy_from_slice(&crc32(body).to_le_bytes());
    out
}

/// What the first bytes of a segment say about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderCheck {
    /// A valid version-1 header.
    Valid,
    /// Fewer than 16 bytes, all equal to the start of a valid header: cut off while written.
    Torn,
    /// 16 bytes whose magic is recognisable (at most one byte differs) but which fail the
    /// checksum: damaged. The frames after it are still read.
    Damaged,
    /// A valid header of another version.
    UnsupportedVersion(u16),
    /// Not a segment file.
    NotASegment,
}

/// Judges the first bytes of a file (at most [`HEADER_LEN`] of them are looked at).
#[must_use]
pub fn check_header(bytes: &[u8]) -> HeaderCheck {
    let expected = header();
    let Some(found) = bytes.first_chunk::<HEADER_LEN>() else {
        return if expected.starts_with(bytes) {
            HeaderCheck::Torn
        } else {
            HeaderCheck::NotASegment
        };
    };
    if *found == expected {
        return HeaderCheck::Valid;
    }
    let [m0, m1, m2, m3, m4, m5, m6, m7, v0, v1, f0, f1, check @ ..] = *found;
    let body = [m0, m1, m2, m3, m4, m5, m6, m7, v0, v1, f0, f1];
    let magic_errors = body
        .iter()
        .zip(MAGIC.iter())
        .filter(|(a, b)| a != b)
        .count();
    if magic_errors == 0 && check == crc32(&body).to_le_bytes() {
        return HeaderCheck::UnsupportedVersion(u16::from_le_bytes([v0, v1]));
    }
    if magic_errors <= 1 {
        HeaderCheck::Damaged
    } else {
        HeaderCheck::NotASegment
    }
}

/// Encodes `sighting` as a frame into `out`, returning the frame's length.
///
/// # Errors
/// [`RecordError::BufferTooSmall`] when `out` is shorter than the frame.
pub fn encode_frame(sighting: &Sighting, out: &mut [u8]) -> Result<usize, RecordError> {
    let len = sighting.encoded_len() + FRAME_OVERHEAD;
    let available = out.len();
    let frame = out.get_mut(..len).ok_or(RecordError::BufferTooSmall {
        needed: len,
        available,
    })?;
    let (sync, rest) = frame.split_at_mut(1);
    let (record, check) = rest.split_at_mut(len - FRAME_OVERHEAD);
    sync.copy_from_slice(&[FRAME_SYNC]);
    sighting.encode_into(record)?;
    check.copy_from_slice(&crc32(record).to_le_bytes());
    Ok(len)
}

/// The frame starting at `bytes[0]`, if the bytes hold a whole valid one.
fn valid_frame(bytes: &[u8]) -> Option<(Sighting, usize)> {
    let (&sync, rest) = bytes.split_first()?;
    let record_len = record_len(*rest.first()?)?;
    let record = rest.get(..record_len)?;
    let check = rest.get(record_len..record_len + 4)?;
    if sync != FRAME_SYNC || check != crc32(record).to_le_bytes() {
        return None;
    }
    Some((Sighting::decode(record).ok()?, record_len + FRAME_OVERHEAD))
}

/// Whether `bytes` (all that is left) could be the beginning of a frame cut short.
fn could_be_cut_frame(bytes: &[u8]) -> bool {
    match bytes {
        [] => false,
        [sync] => *sync == FRAME_SYNC,
        [sync, kind, ..] => {
            *sync == FRAME_SYNC
                && record_len(*kind).is_some_and(|len| bytes.len() < len + FRAME_OVERHEAD)
        }
    }
}

/// One step of the scanner over the bytes from the current position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A valid frame of `len` bytes holding `sighting`.
    Record {
        /// The record.
        sighting: Sighting,
        /// Bytes consumed.
        len: usize,
    },
    /// `len` bytes that are not (the start of) a valid frame.
    Damaged {
        /// Bytes consumed.
        len: usize,
    },
    /// The bytes left are the beginning of a frame that ends at the end of the data.
    Torn {
        /// Bytes consumed (all that is left).
        len: usize,
    },
    /// More bytes are needed to decide (only when not at the end of the data).
    NeedMore,
    /// Nothing is left.
    End,
}

/// Decides what the bytes at the current position are. `at_end` says whether `bytes` runs to
/// the end of the data; when it does not, `bytes` must hold at least [`MAX_FRAME_LEN`] bytes
/// or the scanner may ask for more.
#[must_use]
pub fn step(bytes: &[u8], at_end: bool) -> Step {
    if bytes.is_empty() {
        return if at_end { Step::End } else { Step::NeedMore };
    }
    if let Some((sighting, len)) = valid_frame(bytes) {
        return Step::Record { sighting, len };
    }
    if could_be_cut_frame(bytes) {
        return if at_end {
            Step::Torn { len: bytes.len() }
        } else {
            Step::NeedMore
        };
    }
    // Not a frame here: skip to the next place where one starts, or might start once more
    // bytes arrive.
    let resume = (1..bytes.len())
        .find(|&p| {
            let (_, rest) = bytes.split_at(p);
            rest.first() == Some(&FRAME_SYNC)
                && (valid_frame(rest).is_some() || could_be_cut_frame(rest))
        })
        .unwrap_or(bytes.len());
    Step::Damaged { len: resume }
}

/// What a scan of segment data finds, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanItem {
    /// An intact record.
    Record(Sighting),
    /// Bytes that hold no intact record.
    Damage(Damage),
}

/// A stretch of a segment that holds no intact record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Damage {
    /// Offset of the first byte, from the start of the segment.
    pub offset: u64,
    /// Number of bytes.
    pub len: u64,
    /// What kind of damage.
    pub kind: DamageKind,
}

impl core::fmt::Display for Damage {
    /// For people, for example `torn tail (incomplete last write): 7 bytes at offset 4096`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let what = match self.kind {
            DamageKind::Header => "damaged header",
            DamageKind::Frames => "damaged frames",
            DamageKind::TornTail => "torn tail (incomplete last write)",
            DamageKind::Segment => "not a readable segment, skipped whole",
            DamageKind::Empty => "empty segment",
        };
        write!(f, "{what}: {} bytes at offset {}", self.len, self.offset)
    }
}

/// The kinds of [`Damage`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum DamageKind {
    /// The header fails its checksum (the frames after it are still read).
    Header,
    /// Bytes in the middle that are not valid frames: bit rot, overwritten data.
    Frames,
    /// An incomplete frame (or header) at the end: a write cut off by a crash or power loss.
    TornTail,
    /// A whole segment file that does not start with a segment header (its magic is
    /// damaged, or it is another file under a segment's name): that segment is lost, the
    /// others are read (spec §enc.3).
    Segment,
    /// A segment file of zero bytes: nothing was ever written to it.
    Empty,
}

/// The scanning state shared by the in-memory and the streaming readers: where it is, and
/// the damaged stretch it is in the middle of, if any.
#[derive(Clone, Copy, Debug, Default)]
pub struct Scanner {
    offset: u64,
    damage: Option<Damage>,
}

/// What [`Scanner::feed`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    /// An item, after consuming `consumed` bytes from the start of the input.
    Item {
        /// The item.
        item: ScanItem,
        /// Bytes to drop from the input.
        consumed: usize,
    },
    /// Give the remaining input again with more bytes after it, having dropped `consumed`.
    NeedMore {
        /// Bytes to drop from the input.
        consumed: usize,
    },
    /// The data is exhausted.
    End,
}

impl Scanner {
    /// A scanner at `offset` bytes into the segment.
    #[must_use]
    pub const fn at(offset: u64) -> Self {
        Self {
            offset,
            damage: None,
        }
    }

    /// The offset of the next byte to be read.
    #[must_use]
    pub const fn offset(&self) -> u64 {
        self.offset
    }

    /// Scans `bytes`, which start at [`Self::offset`]; `at_end` says whether they run to the
    /// end of the data. Adjacent damaged bytes are reported as one [`Damage`].
    pub fn feed(&mut self, bytes: &[u8], at_end: bool) -> Feed {
        let mut consumed = 0usize;
        loop {
            let (_, rest) = bytes.split_at(consumed.min(bytes.len()));
            let found = match step(rest, at_end) {
                Step::Damaged { len } => {
                    let start = self.offset;
                    let damage = self.damage.get_or_insert(Damage {
                        offset: start,
                        len: 0,
                        kind: DamageKind::Frames,
                    });
                    damage.len += len as u64;
                    consumed += len;
                    self.offset += len as u64;
                    continue;
                }
                Step::NeedMore => return Feed::NeedMore { consumed },
                Step::End => None,
                Step::Record { sighting, len } => Some((ScanItem::Record(sighting), len)),
                Step::Torn { len } => Some((
                    ScanItem::Damage(Damage {
                        offset: self.offset,
                        len: len as u64,
                        kind: DamageKind::TornTail,
                    }),
                    len,
                )),
            };
            // Damage before an item is reported first; the item is found again next time.
            if let Some(damage) = self.damage.take() {
                return Feed::Item {
                    item: ScanItem::Damage(damage),
                    consumed,
                };
            }
            let Some((item, len)) = found else {
                return Feed::End;
            };
            self.offset += len as u64;
            return Feed::Item {
                item,
                consumed: consumed + len,
            };
        }
    }
}

/// Why a file is not a readable segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SegmentError {
    /// The file does not start with a (recognisable) segment header.
    #[error("not an encounter log segment (bad magic)")]
    NotASegment,
    /// A segment of a version this crate does not read.
    #[error("segment format version {0} is not supported (this crate reads version 1)")]
    UnsupportedVersion(u16),
}

/// Where frames start after a header that `check_header` judged, and the damage to report
/// for the header itself.
///
/// # Errors
/// [`SegmentError`] for a file that is not a segment or has another version.
pub fn after_header(
    check: HeaderCheck,
    available: usize,
) -> Result<(usize, Option<Damage>), SegmentError> {
    match check {
        HeaderCheck::Valid => Ok((HEADER_LEN, None)),
        HeaderCheck::Damaged => Ok((
            HEADER_LEN,
            Some(Damage {
                offset: 0,
                len: HEADER_LEN as u64,
                kind: DamageKind::Header,
            }),
        )),
        HeaderCheck::Torn => Ok((
            available,
            Some(Damage {
                offset: 0,
                len: available as u64,
                kind: DamageKind::TornTail,
            })
            .filter(|d| d.len > 0),
        )),
        HeaderCheck::UnsupportedVersion(version) => Err(SegmentError::UnsupportedVersion(version)),
        HeaderCheck::NotASegment => Err(SegmentError::NotASegment),
    }
}

/// Scans a whole segment held in memory: every intact record and every damaged stretch, in
/// order. Never panics.
///
/// # Errors
/// [`SegmentError`] when the data is not a segment or has another version.
pub fn scan(segment: &[u8]) -> Result<SegmentScan<'_>, SegmentError> {
    let (start, header_damage) = after_header(check_header(segment), segment.len())?;
    Ok(SegmentScan {
        segment,
        scanner: Scanner::at(start as u64),
        pending: header_damage,
    })
}

/// The iterator of [`scan`].
#[derive(Clone, Debug)]
pub struct SegmentScan<'a> {
    segment: &'a [u8],
    scanner: Scanner,
    pending: Option<Damage>,
}

impl Iterator for SegmentScan<'_> {
    type Item = ScanItem;

    fn next(&mut self) -> Option<ScanItem> {
        if let Some(damage) = self.pending.take() {
            return Some(ScanItem::Damage(damage));
        }
        let start = usize::try_from(self.scanner.offset()).unwrap_or(usize::MAX);
        let (_, rest) = self.segment.split_at(start.min(self.segment.len()));
        match self.scanner.feed(rest, true) {
            Feed::Item { item, .. } => Some(item),
            Feed::NeedMore { .. } | Feed::End => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    /// Checks spec §enc.2.
    fn another_version_with_a_valid_checksum_is_refused() {
        let mut v2 = header();
        v2[8] = 2;
        let check = crc32(&v2[..12]).to_le_bytes();
        v2[12..].copy_from_slice(&check);
        assert_eq!(check_header(&v2), HeaderCheck::UnsupportedVersion(2));
        assert_eq!(scan(&v2).err(), Some(SegmentError::UnsupportedVersion(2)));
        // Two wrong magic bytes: not a segment at all.
        let mut foreign = header();
        foreign[0] = b'X';
        foreign[1] = b'Y';
        assert_eq!(check_header(&foreign), HeaderCheck::NotASegment);
        assert_eq!(check_header(b"BZENC"), HeaderCheck::Torn);
        assert_eq!(check_header(b"BZENX"), HeaderCheck::NotASegment);
    }
}
