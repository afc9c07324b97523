//! The on-device encounter log: a folder of append-only segment files, one per UTC day
//! (spec §enc.3).
//!
//! Each segment is the header and frames of [`super::frame`]. A record goes to the segment of
//! its own UTC day, so dropping old records deletes whole files and rewrites at most the one
//! segment that straddles the cut-off. Reading streams one segment at a time through a fixed
//! 64 KiB buffer, whatever the size of the log.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::vec::Vec;
use std::{boxed::Box, format};

use super::frame::{
    self, Damage, DamageKind, Feed, HEADER_LEN, MAX_FRAME_LEN, ScanItem, Scanner, SegmentError,
};
use super::record::{BluezoneSighting, GaenSighting, Sighting};
use crate::time::SECONDS_PER_DAY;

/// How long records are kept by default: 14 days.
pub const DEFAULT_RETENTION_DAYS: u64 = 14;
/// File-name extension of segments.
pub const SEGMENT_EXTENSION: &str = "bzlog";
const READ_BUFFER: usize = 64 * 1024;

/// Why the log could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// An I/O error, with the file it concerns.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A segment file is not a readable segment.
    #[error("{}: {error}", path.display())]
    Segment {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        error: SegmentError,
    },
    /// A file with the segment extension whose name is not `day-N.bzlog`.
    #[error("{}: a .bzlog file whose name is not day-<number>.bzlog", .0.display())]
    SegmentName(PathBuf),
    /// A folder with no segment at all, read as a log: a typo, a parent folder or another
    /// folder, not an empty log (spec §enc.3).
    #[error("not an encounter log: the folder holds no day-<number>.bzlog segment")]
    NotALog(PathBuf),
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> LogError + '_ {
    move |source| LogError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Appends `sighting` to `out` as one frame. A frame is at most [`MAX_FRAME_LEN`] bytes, so
/// encoding it into a buffer of that length cannot fail.
fn push_frame(out: &mut Vec<u8>, sighting: &Sighting) {
    let mut frame = [0u8; MAX_FRAME_LEN];
    let encoded = frame::encode_frame(sighting, &mut frame);
    debug_assert!(encoded.is_ok());
    if let Ok(len) = encoded {
        out.extend_from_slice(frame.split_at(len.min(MAX_FRAME_LEN)).0);
    }
}

/// Reads one segment from any byte stream in constant memory.
#[derive(Debug)]
pub struct SegmentReader<R> {
    reader: R,
    buffer: Box<[u8]>,
    start: usize,
    end: usize,
    at_end: bool,
    scanner: Scanner,
    pending: Option<Damage>,
}

impl<R: Read> SegmentReader<R> {
    /// Reads and checks the header.
    ///
    /// # Errors
    /// An I/O error, or a stream that is not a segment of version 1 (as [`io::Error`] of kind
    /// `InvalidData` wrapping the [`SegmentError`]).
    pub fn new(mut reader: R) -> io::Result<Self> {
        let mut buffer = std::vec![0u8; READ_BUFFER].into_boxed_slice();
        let mut filled = 0;
        let (header, _) = buffer.split_at_mut(HEADER_LEN);
        while filled < HEADER_LEN {
            let (_, unread) = header.split_at_mut(filled);
            let n = match reader.read(unread) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                break;
            }
            filled = filled.saturating_add(n).min(HEADER_LEN);
        }
        let (seen, _) = header.split_at(filled);
        let (start, pending) = frame::after_header(frame::check_header(seen), filled)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(Self {
            reader,
            buffer,
            start,
            end: filled,
            at_end: filled < HEADER_LEN,
            scanner: Scanner::at(start as u64),
            pending,
        })
    }

    /// Offset of the next unread byte of the segment: after a record, the end of its frame.
    #[must_use]
    pub const fn position(&self) -> u64 {
        self.scanner.offset()
    }

    /// Moves unread bytes to the front and reads more; sets `at_end` at end of stream.
    fn refill(&mut self) -> io::Result<()> {
        self.buffer.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        while self.end < MAX_FRAME_LEN * 2 && !self.at_end {
            match self.reader.read(self.buffer.split_at_mut(self.end).1) {
                Ok(0) => self.at_end = true,
                Ok(n) => self.end = self.end.saturating_add(n).min(self.buffer.len()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl<R: Read> Iterator for SegmentReader<R> {
    type Item = io::Result<ScanItem>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(damage) = self.pending.take() {
            return Some(Ok(ScanItem::Damage(damage)));
        }
        loop {
            let (filled, _) = self.buffer.split_at(self.end);
            let (_, available) = filled.split_at(self.start);
            match self.scanner.feed(available, self.at_end) {
                Feed::Item { item, consumed } => {
                    self.start += consumed;
                    return Some(Ok(item));
                }
                Feed::NeedMore { consumed } => {
                    self.start += consumed;
                    if let Err(e) = self.refill() {
                        self.at_end = true;
                        self.start = self.end;
                        return Some(Err(e));
                    }
                }
                Feed::End => return None,
            }
        }
    }
}

/// A log's intact sightings by protocol, from [`EncounterLog::sightings`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogSightings {
    /// GAEN sightings, in log order.
    pub gaen: Vec<GaenSighting>,
    /// Bluezone 2020 sightings, in log order.
    pub bluezone: Vec<BluezoneSighting>,
}

/// Something found while reading the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogItem {
    /// An intact record.
    Record(Sighting),
    /// A damaged stretch of a segment.
    Damage {
        /// The segment file.
        segment: PathBuf,
        /// Where and what.
        damage: Damage,
    },
}

/// What the writer removed from the end of a segment before appending to it: bytes after the
/// last intact frame, which hold no record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repair {
    /// The segment file.
    pub segment: PathBuf,
    /// The bytes removed.
    pub removed: Damage,
}

/// What [`EncounterLog::retain`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Segments deleted whole (their UTC days).
    pub deleted_days: Vec<u64>,
    /// The segment rewritten because it straddled the cut-off: its day, records kept and
    /// records dropped.
    pub rewritten: Option<(u64, u64, u64)>,
    /// Damage found in the rewritten segment (not carried into the new file).
    pub damage: Vec<Damage>,
}

/// The encounter log: a folder of daily segments.
#[derive(Debug)]
pub struct EncounterLog {
    dir: PathBuf,
    open: Option<(u64, File)>,
    repairs: Vec<Repair>,
}

impl EncounterLog {
    /// Opens the log in `dir`, creating the folder if it does not exist.
    ///
    /// # Errors
    /// [`LogError::Io`] when the folder cannot be created.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, LogError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        Ok(Self {
            dir,
            open: None,
            repairs: Vec::new(),
        })
    }

    /// Opens an existing log for reading: the folder must hold at least one segment. A log
    /// that was never written has none and cannot be told from any other folder, so it is
    /// refused too (spec §enc.3).
    ///
    /// # Errors
    /// [`LogError::NotALog`] for a folder without segments; [`LogError`] when it cannot be
    /// listed.
    pub fn open_existing(dir: impl Into<PathBuf>) -> Result<Self, LogError> {
        let log = Self {
            dir: dir.into(),
            open: None,
            repairs: Vec::new(),
        };
        if log.segments()?.is_empty() {
            return Err(LogError::NotALog(log.dir));
        }
        Ok(log)
    }

    /// The folder.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of the segment of UTC day `day`.
    #[must_use]
    pub fn segment_path(&self, day: u64) -> PathBuf {
        self.dir.join(format!("day-{day}.{SEGMENT_EXTENSION}"))
    }

    /// What the writer removed from segment ends so far.
    #[must_use]
    pub fn repairs(&self) -> &[Repair] {
        &self.repairs
    }

    /// The segments, as (UTC day, path) in day order.
    ///
    /// # Errors
    /// [`LogError::Io`] when the folder cannot be listed; [`LogError::SegmentName`] for a
    /// `.bzlog` file with another name (never skipped silently).
    pub fn segments(&self) -> Result<Vec<(u64, PathBuf)>, LogError> {
        let mut found = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io_error(&self.dir))? {
            let path = entry.map_err(io_error(&self.dir))?.path();
            if path.extension().is_none_or(|e| e != SEGMENT_EXTENSION) {
                continue;
            }
            let day = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.strip_prefix("day-"))
                .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|d| d.parse::<u64>().ok())
                .ok_or_else(|| LogError::SegmentName(path.clone()))?;
            found.push((day, path));
        }
        found.sort();
        Ok(found)
    }

    /// Appends one record to its day's segment with one write. It survives a crash once
    /// this returns and survives power loss once [`Self::sync`] returns.
    ///
    /// # Errors
    /// [`LogError`] when the segment cannot be opened, repaired or written.
    pub fn append(&mut self, sighting: &Sighting) -> Result<(), LogError> {
        self.append_all(core::iter::once(sighting))
    }

    /// Appends records in order, writing each day's frames in as few writes as possible.
    ///
    /// # Errors
    /// As [`Self::append`]; records before the failing write are in the log.
    pub fn append_all<'a>(
        &mut self,
        sightings: impl IntoIterator<Item = &'a Sighting>,
    ) -> Result<(), LogError> {
        let mut batch: Vec<u8> = Vec::with_capacity(READ_BUFFER);
        let mut batch_day = None;
        for sighting in sightings {
            let day = sighting.unix_seconds() / SECONDS_PER_DAY;
            if batch_day.is_some_and(|d| d != day) || batch.len() + MAX_FRAME_LEN > READ_BUFFER {
                self.write_frames(batch_day.unwrap_or(day), &batch)?;
                batch.clear();
            }
            batch_day = Some(day);
            push_frame(&mut batch, sighting);
        }
        if let Some(day) = batch_day {
            self.write_frames(day, &batch)?;
        }
        Ok(())
    }

    fn write_frames(&mut self, day: u64, frames: &[u8]) -> Result<(), LogError> {
        let path = self.segment_path(day);
        if self.open.as_ref().is_none_or(|(d, _)| *d != day) {
            self.sync()?;
            let file = self.open_for_append(&path)?;
            self.open = Some((day, file));
        }
        if let Some((_, file)) = self.open.as_mut() {
            file.write_all(frames).map_err(io_error(&path))?;
        }
        Ok(())
    }

    /// Opens a segment for appending: creates it with a header, or cuts off whatever follows
    /// its last intact frame (a torn tail holds no record) so new frames follow intact ones.
    fn open_for_append(&mut self, path: &Path) -> Result<File, LogError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io_error(path))?;
        let len = file.metadata().map_err(io_error(path))?.len();
        if len == 0 {
            file.write_all(&frame::header()).map_err(io_error(path))?;
            return Ok(file);
        }
        let mut intact_end = HEADER_LEN as u64;
        let mut reader = SegmentReader::new(&mut file).map_err(|e| segment_error(path, e))?;
        let mut torn_header = false;
        while let Some(item) = reader.next() {
            match item.map_err(io_error(path))? {
                ScanItem::Record(_) => intact_end = reader.position(),
                ScanItem::Damage(d) if d.kind == DamageKind::TornTail && d.offset == 0 => {
                    torn_header = true;
                }
                ScanItem::Damage(_) => {}
            }
        }
        drop(reader);
        if torn_header {
            // Cut off while the header was written: start the segment again.
            intact_end = 0;
        }
        if intact_end < len {
            file.set_len(intact_end).map_err(io_error(path))?;
            self.repairs.push(Repair {
                segment: path.to_path_buf(),
                removed: Damage {
                    offset: intact_end,
                    len: len - intact_end,
                    kind: DamageKind::TornTail,
                },
            });
        }
        file.seek_to_end(path)?;
        if intact_end == 0 {
            file.write_all(&frame::header()).map_err(io_error(path))?;
        }
        Ok(file)
    }

    /// Flushes the open segment to stable storage.
    ///
    /// # Errors
    /// [`LogError::Io`] from the file system.
    pub fn sync(&mut self) -> Result<(), LogError> {
        if let Some((day, file)) = self.open.as_ref() {
            file.sync_data()
                .map_err(io_error(&self.segment_path(*day)))?;
        }
        Ok(())
    }

    /// Reads the whole log, oldest segment first, in constant memory.
    ///
    /// # Errors
    /// [`LogError`] when the folder cannot be listed.
    pub fn read(&self) -> Result<LogReader, LogError> {
        let mut segments = self.segments()?;
        segments.reverse();
        Ok(LogReader {
            segments,
            current: None,
        })
    }

    /// Every intact sighting, split by protocol and in log order. Each damaged stretch is
    /// passed to `on_damage` with its segment as it is met, so that a caller reports damage
    /// rather than skipping it unseen; the records around it are still returned.
    ///
    /// # Errors
    /// [`LogError`] when the folder cannot be listed or a segment cannot be read at all.
    pub fn sightings(
        &self,
        mut on_damage: impl FnMut(&Path, &Damage),
    ) -> Result<LogSightings, LogError> {
        let mut found = LogSightings::default();
        for item in self.read()? {
            match item? {
                LogItem::Record(Sighting::Gaen(s)) => found.gaen.push(s),
                LogItem::Record(Sighting::Bluezone(s)) => found.bluezone.push(s),
                LogItem::Damage { segment, damage } => on_damage(&segment, &damage),
            }
        }
        Ok(found)
    }

    /// Drops records older than `keep_days` days before `now_unix_s`: deletes whole
    /// segments, and rewrites only the segment of the cut-off day if it holds older records.
    ///
    /// # Errors
    /// [`LogError`] from the file system or an unreadable segment.
    pub fn retain(&mut self, now_unix_s: u64, keep_days: u64) -> Result<RetentionReport, LogError> {
        let cutoff = now_unix_s.saturating_sub(keep_days.saturating_mul(86_400));
        let cutoff_day = cutoff / 86_400;
        let mut report = RetentionReport::default();
        self.sync()?;
        self.open = None;
        for (day, path) in self.segments()? {
            if day < cutoff_day {
                fs::remove_file(&path).map_err(io_error(&path))?;
                report.deleted_days.push(day);
            } else if day == cutoff_day
                && let Some((kept, dropped)) =
                    self.rewrite_from(&path, cutoff, &mut report.damage)?
            {
                report.rewritten = Some((day, kept, dropped));
            }
        }
        Ok(report)
    }

    /// Rewrites `path` keeping records at or after `cutoff`, through a temporary file and a
    /// rename, so a crash leaves either the old or the new segment. Returns `None` when
    /// nothing had to be dropped (the file is left alone).
    fn rewrite_from(
        &self,
        path: &Path,
        cutoff: u64,
        damage: &mut Vec<Damage>,
    ) -> Result<Option<(u64, u64)>, LogError> {
        let file = File::open(path).map_err(io_error(path))?;
        let reader =
            SegmentReader::new(io::BufReader::new(file)).map_err(|e| segment_error(path, e))?;
        let mut kept: Vec<u8> = Vec::from(frame::header());
        let (mut kept_count, mut dropped) = (0u64, 0u64);
        for item in reader {
            match item.map_err(io_error(path))? {
                ScanItem::Record(s) if s.unix_seconds() >= cutoff => {
                    push_frame(&mut kept, &s);
                    kept_count += 1;
                }
                ScanItem::Record(_) => dropped += 1,
                ScanItem::Damage(d) => damage.push(d),
            }
        }
        if dropped == 0 && damage.is_empty() {
            return Ok(None);
        }
        let temporary = path.with_extension(format!("{SEGMENT_EXTENSION}.tmp"));
        let mut out = File::create(&temporary).map_err(io_error(&temporary))?;
        out.write_all(&kept).map_err(io_error(&temporary))?;
        out.sync_all().map_err(io_error(&temporary))?;
        fs::rename(&temporary, path).map_err(io_error(path))?;
        Ok(Some((kept_count, dropped)))
    }
}

trait SeekToEnd {
    fn seek_to_end(&mut self, path: &Path) -> Result<(), LogError>;
}

impl SeekToEnd for File {
    fn seek_to_end(&mut self, path: &Path) -> Result<(), LogError> {
        io::Seek::seek(self, io::SeekFrom::End(0))
            .map(|_| ())
            .map_err(io_error(path))
    }
}

fn segment_error(path: &Path, error: io::Error) -> LogError {
    match error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<SegmentError>())
    {
        Some(segment) => LogError::Segment {
            path: path.to_path_buf(),
            error: *segment,
        },
        None => LogError::Io {
            path: path.to_path_buf(),
            source: error,
        },
    }
}

/// Reads the log's segments one after another; see [`EncounterLog::read`].
#[derive(Debug)]
pub struct LogReader {
    segments: Vec<(u64, PathBuf)>,
    current: Option<(PathBuf, SegmentReader<File>)>,
}

impl Iterator for LogReader {
    type Item = Result<LogItem, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((path, reader)) = self.current.as_mut() {
                match reader.next() {
                    Some(Ok(ScanItem::Record(s))) => return Some(Ok(LogItem::Record(s))),
                    Some(Ok(ScanItem::Damage(damage))) => {
                        return Some(Ok(LogItem::Damage {
                            segment: path.clone(),
                            damage,
                        }));
                    }
                    Some(Err(e)) => return Some(Err(io_error(path)(e))),
                    None => self.current = None,
                }
            }
            let (_, path) = self.segments.pop()?;
            let whole = |kind, len| {
                Some(Ok(LogItem::Damage {
                    segment: path.clone(),
                    damage: Damage {
                        offset: 0,
                        len,
                        kind,
                    },
                }))
            };
            let (file, len) = match File::open(&path).and_then(|f| {
                let len = f.metadata()?.len();
                Ok((f, len))
            }) {
                Ok(opened) => opened,
                Err(e) => return Some(Err(io_error(&path)(e))),
            };
            if len == 0 {
                return whole(DamageKind::Empty, 0);
            }
            match SegmentReader::new(file).map_err(|e| segment_error(&path, e)) {
                Ok(reader) => self.current = Some((path, reader)),
                // One unreadable header loses that segment only (spec §enc.3).
                Err(LogError::Segment {
                    error: SegmentError::NotASegment,
                    ..
                }) => return whole(DamageKind::Segment, len),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// Counts and time range of a log, and every damage found: what `bluezone log check` prints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogSummary {
    /// Segment files.
    pub segments: usize,
    /// GAEN records.
    pub gaen_records: u64,
    /// Bluezone records.
    pub bluezone_records: u64,
    /// Oldest and newest record, Unix seconds.
    pub time_range: Option<(u64, u64)>,
    /// Every damaged stretch, with its segment.
    pub damage: Vec<(PathBuf, Damage)>,
}

impl LogSummary {
    /// Reads the whole log.
    ///
    /// # Errors
    /// [`LogError`] when a segment cannot be read at all.
    pub fn of(log: &EncounterLog) -> Result<Self, LogError> {
        let mut summary = Self {
            segments: log.segments()?.len(),
            ..Self::default()
        };
        for item in log.read()? {
            match item? {
                LogItem::Record(s) => {
                    match s {
                        Sighting::Gaen(_) => summary.gaen_records += 1,
                        Sighting::Bluezone(_) => summary.bluezone_records += 1,
                    }
                    let t = s.unix_seconds();
                    summary.time_range = Some(
                        summary
                            .time_range
                            .map_or((t, t), |(a, b)| (a.min(t), b.max(t))),
                    );
                }
                LogItem::Damage { segment, damage } => summary.damage.push((segment, damage)),
            }
        }
        Ok(summary)
    }
}
