//! The bytes of a match state's files (spec §state.1): the manifest and the checked-key
//! segments. Decoding never panics, never allocates more than the bytes given can fill, and
//! names what is wrong.

use alloc::vec::Vec;

use sha2::{Digest, Sha256};

use super::fingerprints::{hmac_sha256, secret_from_key};
use crate::codec::{Reader, Short};
use crate::gaen::RollingProximityIdentifier;
use crate::gaen::{AssociatedEncryptedMetadata, DiagnosisKey, Metadata, ReportType};
use crate::matching::{KeyMatch, MatchConfig, MatchedSighting, Rejections};
use crate::time::{EnIntervalNumber, RollingPeriod, RollingWindow};

/// The first bytes of a manifest.
pub(crate) const MANIFEST_MAGIC: [u8; 8] = *b"BZSTATE\0";
/// The first bytes of a segment of checked keys.
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"BZCHECK\0";
/// The manifest version this crate writes and reads (version 1 lacked the log's binding, the
/// files' paths and every authenticity mark: such a state is rebuilt).
pub(crate) const VERSION: u16 = 2;
/// The segment version (unchanged since version 1 of the manifest).
pub(crate) const SEGMENT_VERSION: u16 = 1;
/// The manifest's flag: its trailer is an HMAC under the caller's key (§state.1.3).
const KEYED: u8 = 1;
/// A segment's header: magic, version, entry count.
pub(crate) const SEGMENT_HEADER: usize = 8 + 2 + 8;
/// One checked key in a segment: 12 bytes of fingerprint, then the window's start interval.
pub(crate) const ENTRY: usize = 16;
const KEY: usize = 16 + 4 + 4 + 1 + 1 + 1 + 4;
const SIGHTING: usize = 8 + 4 + 16 + 1 + 4 + 4 + 1 + 1 + 8;

/// What is wrong with a state file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DamageReason {
    /// The file does not start as a state file of its kind.
    #[error("not a match-state file (wrong magic)")]
    Magic,
    /// Written by a version of the format this crate does not read.
    #[error("format version {0} (this build reads manifest version 2 and segment version 1)")]
    Version(u16),
    /// The bytes end before the structure does.
    #[error("cut short")]
    Truncated,
    /// Bytes follow the end of the structure.
    #[error("bytes after the end")]
    Trailing,
    /// The checksum does not match the bytes.
    #[error("checksum mismatch")]
    Checksum,
    /// A value no writer produces (named).
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// Checked keys not in strictly increasing order.
    #[error("entries out of order")]
    Order,
    /// A file the manifest names is missing.
    #[error("missing")]
    Missing,
    /// The file could not be read.
    #[error("unreadable")]
    Unreadable,
    /// The manifest's MAC does not verify under the key given: it was changed by someone
    /// without the key, or written under another key.
    #[error("its MAC does not verify under the state key given (edited, or another key)")]
    Mac,
    /// The manifest is authenticated with a state key and none was given.
    #[error("it is authenticated with a state key: give the key")]
    KeyNeeded,
    /// A state key was given but the manifest carries no MAC: it was not written with the key.
    #[error("it carries no MAC, but a state key was given: it was not written with that key")]
    NotKeyed,
}

/// A segment of checked keys, as the manifest names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SegmentRef {
    /// Its number: the file is `checked-<number as 16 hex digits>.seg`.
    pub(crate) number: u64,
    /// Its entries.
    pub(crate) entries: u64,
    /// CRC-32 (IEEE) of the whole file.
    pub(crate) crc32: u32,
}

impl SegmentRef {
    pub(crate) fn file_name(&self) -> alloc::string::String {
        alloc::format!("checked-{:016x}.seg", self.number)
    }
}

/// An export file already read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FileRecord {
    /// SHA-256 of its bytes.
    pub(crate) sha256: [u8; 32],
    /// When it was read ("now" of that check), Unix seconds.
    pub(crate) read_at: u64,
    /// Its valid keys.
    pub(crate) keys: u64,
    /// Whether it was authentic under the registry of the run that read it.
    pub(crate) authentic: bool,
    /// Where it was read from (absolute, UTF-8; empty when the path was not UTF-8): the file
    /// is read again from there when the state is rebuilt (§state.7).
    pub(crate) path: alloc::string::String,
}

/// A key whose result is not final yet, kept whole to be evaluated again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pending {
    pub(crate) key: DiagnosisKey,
    /// The log coverage it was last evaluated against, Unix seconds.
    pub(crate) computed_until: u64,
    /// Whether the file that brought it was authentic.
    pub(crate) authentic: bool,
    /// What its last application added to the counters that depend on the log (§state.2).
    pub(crate) counted: [u64; 4],
    /// A later key with the same bytes was applied while this one was pending (§state.2).
    pub(crate) later_copy: bool,
    /// Its bytes were stored when it was applied: a copy whose identifiers were not logged
    /// yet (§state.2).
    pub(crate) copy: bool,
}

/// A matched key and the coverage its sightings were found against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoredMatch {
    pub(crate) result: KeyMatch,
    pub(crate) computed_until: u64,
    /// Whether the file that brought it was authentic.
    pub(crate) authentic: bool,
    /// What its last evaluation added to the counters that depend on the log (§state.2).
    pub(crate) counted: [u64; 4],
}

/// The log as one UTC day of it was checked: the keyed hash of each sighting with a time up to
/// the coverage, in increasing order (§state.2.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LogDay {
    pub(crate) day: u32,
    pub(crate) hashes: Vec<u64>,
}

/// Everything a manifest holds (spec §state.1.1).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub(crate) generation: u64,
    /// The fingerprint secret; with a state key it is derived from the key and not written.
    pub(crate) secret: [u8; 16],
    pub(crate) config: MatchConfig,
    pub(crate) keep_days: u32,
    pub(crate) coverage_until: u64,
    pub(crate) log_days: Vec<LogDay>,
    pub(crate) keys_total: u64,
    pub(crate) transitions: u64,
    pub(crate) rejected: Rejections,
    pub(crate) next_segment: u64,
    pub(crate) segments: Vec<SegmentRef>,
    pub(crate) files: Vec<FileRecord>,
    pub(crate) matches: Vec<StoredMatch>,
    pub(crate) pending: Vec<Pending>,
}

impl Drop for Manifest {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret);
    }
}

fn report_type(code: u8) -> Result<ReportType, DamageReason> {
    ReportType::try_from(i32::from(code)).map_err(|_| DamageReason::Invalid("report type"))
}

const fn report_code(report_type: ReportType) -> u8 {
    report_type as u8
}

struct Writer(Vec<u8>);

impl Writer {
    fn bytes(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    fn count(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    fn key(&mut self, key: &DiagnosisKey) {
        self.bytes(&key.key_data);
        self.u32(key.window.start().get());
        self.u32(key.window.period().get());
        self.u8(key.transmission_risk_level);
        self.u8(report_code(key.report_type));
        match key.days_since_onset_of_symptoms {
            Some(days) => {
                self.u8(1);
                self.bytes(&days.to_le_bytes());
            }
            None => {
                self.u8(0);
                self.bytes(&[0; 4]);
            }
        }
    }
    fn sighting(&mut self, s: &MatchedSighting) {
        self.u64(s.unix_seconds);
        self.u32(s.en_interval_number.get());
        self.bytes(&s.rpi.to_bytes());
        self.bytes(&s.rssi.to_le_bytes());
        self.bytes(&s.aem.to_bytes());
        self.bytes(&s.metadata.to_bytes());
        self.bytes(&s.tx_power.to_le_bytes());
        self.u8(s.attenuation);
        self.u64(s.previous_scan_unix_seconds);
    }
}

impl From<Short> for DamageReason {
    fn from(_: Short) -> Self {
        Self::Truncated
    }
}

/// A flag byte: 0 or 1, anything else named as invalid.
fn flag(r: &mut Reader<'_>, what: &'static str) -> Result<bool, DamageReason> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(DamageReason::Invalid(what)),
    }
}

fn read_key(r: &mut Reader<'_>) -> Result<DiagnosisKey, DamageReason> {
    let key_data = r.array()?;
    let start = r.u32()?;
    let period = r.u32()?;
    let window = RollingPeriod::new(period)
        .and_then(|p| RollingWindow::new(EnIntervalNumber::new(start), p))
        .map_err(|_| DamageReason::Invalid("rolling window"))?;
    let transmission_risk_level = r.u8()?;
    if transmission_risk_level > 8 {
        return Err(DamageReason::Invalid("transmission risk level"));
    }
    let report_type = report_type(r.u8()?)?;
    let has_onset = flag(r, "onset flag")?;
    let onset = r.i32()?;
    if !has_onset && onset != 0 {
        return Err(DamageReason::Invalid("onset"));
    }
    Ok(DiagnosisKey {
        key_data,
        window,
        transmission_risk_level,
        report_type,
        days_since_onset_of_symptoms: has_onset.then_some(onset),
    })
}

fn read_sighting(r: &mut Reader<'_>) -> Result<MatchedSighting, DamageReason> {
    Ok(MatchedSighting {
        unix_seconds: r.u64()?,
        en_interval_number: EnIntervalNumber::new(r.u32()?),
        rpi: RollingProximityIdentifier::from_bytes(r.array()?),
        rssi: r.i8()?,
        aem: AssociatedEncryptedMetadata::from_bytes(r.array()?),
        metadata: Metadata::from_bytes(r.array()?),
        tx_power: r.i8()?,
        attenuation: r.u8()?,
        previous_scan_unix_seconds: r.u64()?,
    })
}

fn read_sightings(r: &mut Reader<'_>) -> Result<Vec<MatchedSighting>, DamageReason> {
    let n = r.count(SIGHTING)?;
    (0..n).map(|_| read_sighting(r)).collect()
}

fn write_config(w: &mut Writer, c: &MatchConfig) {
    w.u32(c.tolerance_intervals);
    w.u64(c.replay_window_seconds);
    w.bytes(&c.tx_power_min_dbm.to_le_bytes());
    w.bytes(&c.tx_power_max_dbm.to_le_bytes());
    w.u8(u8::from(c.match_revoked));
    w.u8(u8::from(c.match_recursive));
    w.u8(c.allowed_report_type_transitions);
    w.u8(report_code(c.report_type_when_missing));
}

fn read_config(r: &mut Reader<'_>) -> Result<MatchConfig, DamageReason> {
    Ok(MatchConfig {
        tolerance_intervals: r.u32()?,
        replay_window_seconds: r.u64()?,
        tx_power_min_dbm: r.i8()?,
        tx_power_max_dbm: r.i8()?,
        match_revoked: flag(r, "match_revoked")?,
        match_recursive: flag(r, "match_recursive")?,
        allowed_report_type_transitions: r.u8()?,
        report_type_when_missing: report_type(r.u8()?)?,
    })
}

const REJECTIONS: usize = 10;

pub(super) fn trailer(body: &[u8], key: Option<&[u8; 32]>) -> [u8; 32] {
    match key {
        None => Sha256::digest(body).into(),
        Some(key) => hmac_sha256(key, body),
    }
}

impl Manifest {
    /// The manifest's bytes, its SHA-256 last, or its HMAC-SHA256 under `key`.
    pub(crate) fn encode(&self, key: Option<&[u8; 32]>) -> Vec<u8> {
        let mut w = Writer(Vec::new());
        w.bytes(&MANIFEST_MAGIC);
        w.bytes(&VERSION.to_le_bytes());
        w.u8(if key.is_some() { KEYED } else { 0 });
        w.u64(self.generation);
        w.bytes(if key.is_some() {
            &[0; 16]
        } else {
            &self.secret
        });
        write_config(&mut w, &self.config);
        w.u32(self.keep_days);
        w.u64(self.coverage_until);
        w.count(self.log_days.len());
        for day in &self.log_days {
            w.u32(day.day);
            w.count(day.hashes.len());
            for hash in &day.hashes {
                w.u64(*hash);
            }
        }
        w.u64(self.keys_total);
        w.u64(self.transitions);
        for count in self.rejected.counts() {
            w.u64(count);
        }
        w.u64(self.next_segment);
        w.count(self.segments.len());
        for s in &self.segments {
            w.u64(s.number);
            w.u64(s.entries);
            w.u32(s.crc32);
        }
        w.count(self.files.len());
        for f in &self.files {
            w.bytes(&f.sha256);
            w.u64(f.read_at);
            w.u64(f.keys);
            w.u8(u8::from(f.authentic));
            w.count(f.path.len());
            w.bytes(f.path.as_bytes());
        }
        w.count(self.matches.len());
        for m in &self.matches {
            w.key(&m.result.key);
            w.u8(report_code(m.result.first_report_type));
            w.u8(m.result.report_type_transitions);
            w.u64(m.computed_until);
            w.u8(u8::from(m.authentic));
            for count in m.counted {
                w.u64(count);
            }
            w.count(m.result.sightings.len());
            for s in &m.result.sightings {
                w.sighting(s);
            }
            w.count(m.result.v1_scans.len());
            for s in &m.result.v1_scans {
                w.sighting(s);
            }
        }
        w.count(self.pending.len());
        for p in &self.pending {
            w.key(&p.key);
            w.u64(p.computed_until);
            w.u8(u8::from(p.authentic));
            for count in p.counted {
                w.u64(count);
            }
            w.u8(u8::from(p.later_copy));
            w.u8(u8::from(p.copy));
        }
        let trailer = trailer(&w.0, key);
        w.bytes(&trailer);
        w.0
    }

    /// Reads a manifest back, checking its trailer: a SHA-256, or with `key` an HMAC-SHA256
    /// compared in constant time.
    ///
    /// # Errors
    /// What is wrong with `bytes`.
    pub(crate) fn decode(bytes: &[u8], key: Option<&[u8; 32]>) -> Result<Self, DamageReason> {
        if bytes.get(..8) != Some(&MANIFEST_MAGIC[..]) {
            return Err(DamageReason::Magic);
        }
        let mut r = Reader::new(bytes);
        r.take(8)?;
        let version = r.u16()?;
        if version != VERSION {
            return Err(DamageReason::Version(version));
        }
        let keyed = match r.u8()? {
            0 => false,
            KEYED => true,
            _ => return Err(DamageReason::Invalid("flags")),
        };
        let Some(body_len) = bytes.len().checked_sub(32) else {
            return Err(DamageReason::Truncated);
        };
        let (body, digest) = bytes.split_at(body_len);
        match (keyed, key) {
            (true, None) => return Err(DamageReason::KeyNeeded),
            (false, Some(_)) => return Err(DamageReason::NotKeyed),
            _ => {}
        }
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            &trailer(body, key)[..],
            digest,
        )) {
            return Err(if keyed {
                DamageReason::Mac
            } else {
                DamageReason::Checksum
            });
        }
        let mut r = Reader::new(body);
        r.take(11)?;
        let generation = r.u64()?;
        let stored_secret: [u8; 16] = r.array()?;
        let secret = match key {
            Some(key) if stored_secret == [0; 16] => secret_from_key(key),
            Some(_) => return Err(DamageReason::Invalid("secret of a keyed state")),
            None => stored_secret,
        };
        let config = read_config(&mut r)?;
        let keep_days = r.u32()?;
        let coverage_until = r.u64()?;
        let n = r.count(8)?;
        let mut log_days: Vec<LogDay> = Vec::with_capacity(n);
        for _ in 0..n {
            let day = r.u32()?;
            if log_days.last().is_some_and(|last| last.day >= day) {
                return Err(DamageReason::Invalid("log days"));
            }
            let count = r.count(8)?;
            let hashes = (0..count).map(|_| r.u64()).collect::<Result<Vec<_>, _>>()?;
            if !hashes.is_sorted() {
                return Err(DamageReason::Invalid("log day hashes"));
            }
            log_days.push(LogDay { day, hashes });
        }
        let keys_total = r.u64()?;
        let transitions = r.u64()?;
        let mut counts = [0u64; REJECTIONS];
        for count in &mut counts {
            *count = r.u64()?;
        }
        let next_segment = r.u64()?;
        let n = r.count(20)?;
        let mut segments: Vec<SegmentRef> = Vec::with_capacity(n);
        for _ in 0..n {
            let segment = SegmentRef {
                number: r.u64()?,
                entries: r.u64()?,
                crc32: r.u32()?,
            };
            if segment.number >= next_segment || segments.iter().any(|s| s.number == segment.number)
            {
                return Err(DamageReason::Invalid("segment number"));
            }
            segments.push(segment);
        }
        let n = r.count(53)?;
        let mut files = Vec::with_capacity(n);
        for _ in 0..n {
            let sha256 = r.array()?;
            let read_at = r.u64()?;
            let keys = r.u64()?;
            let authentic = flag(&mut r, "file authenticity")?;
            let len = r.count(1)?;
            let path = core::str::from_utf8(r.take(len)?)
                .map_err(|_| DamageReason::Invalid("file path"))?
                .into();
            files.push(FileRecord {
                sha256,
                read_at,
                keys,
                authentic,
                path,
            });
        }
        let n = r.count(KEY + 2 + 8 + 1 + 32 + 8)?;
        let mut matches: Vec<StoredMatch> = Vec::with_capacity(n);
        for _ in 0..n {
            let key = read_key(&mut r)?;
            if matches
                .last()
                .is_some_and(|m| m.result.key.key_data >= key.key_data)
            {
                return Err(DamageReason::Invalid("match order"));
            }
            let first_report_type = report_type(r.u8()?)?;
            let report_type_transitions = r.u8()?;
            let computed_until = r.u64()?;
            let authentic = flag(&mut r, "match authenticity")?;
            let counted = [r.u64()?, r.u64()?, r.u64()?, r.u64()?];
            let sightings = read_sightings(&mut r)?;
            let v1_scans = read_sightings(&mut r)?;
            matches.push(StoredMatch {
                result: KeyMatch {
                    key,
                    sightings,
                    first_report_type,
                    report_type_transitions,
                    v1_scans,
                },
                computed_until,
                authentic,
                counted,
            });
        }
        let n = r.count(KEY + 8 + 1 + 32 + 2)?;
        let mut pending = Vec::with_capacity(n);
        for _ in 0..n {
            pending.push(Pending {
                key: read_key(&mut r)?,
                computed_until: r.u64()?,
                authentic: flag(&mut r, "pending authenticity")?,
                counted: [r.u64()?, r.u64()?, r.u64()?, r.u64()?],
                later_copy: flag(&mut r, "later copy")?,
                copy: flag(&mut r, "copy")?,
            });
        }
        if !r.is_empty() {
            return Err(DamageReason::Trailing);
        }
        Ok(Self {
            generation,
            secret,
            config,
            keep_days,
            coverage_until,
            log_days,
            keys_total,
            transitions,
            rejected: Rejections::from_counts(counts),
            next_segment,
            segments,
            files,
            matches,
            pending,
        })
    }
}

/// A segment's header for `entries` entries.
pub(crate) fn segment_header(entries: u64) -> [u8; SEGMENT_HEADER] {
    let mut out = [0u8; SEGMENT_HEADER];
    out[..8].copy_from_slice(&SEGMENT_MAGIC);
    out[8..10].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
    out[10..].copy_from_slice(&entries.to_le_bytes());
    out
}

/// Reads a segment header; returns its entry count.
///
/// # Errors
/// A wrong magic or version, or a cut header.
pub(crate) fn read_segment_header(bytes: &[u8]) -> Result<u64, DamageReason> {
    let mut r = Reader::new(bytes);
    if r.take(8)? != SEGMENT_MAGIC {
        return Err(DamageReason::Magic);
    }
    let version = r.u16()?;
    if version != SEGMENT_VERSION {
        return Err(DamageReason::Version(version));
    }
    Ok(r.u64()?)
}

/// Checks a whole segment held in memory: its header, its length and the order of its entries.
/// Returns its entry count.
///
/// # Errors
/// What is wrong with it.
pub fn check_segment(bytes: &[u8]) -> Result<u64, DamageReason> {
    let entries = read_segment_header(bytes)?;
    // The header was read, so the bytes hold at least its length.
    let (_, body) = bytes.split_at(SEGMENT_HEADER);
    if u64::try_from(body.len()).ok() != entries.checked_mul(ENTRY as u64) {
        return Err(
            if (body.len() as u64) < entries.saturating_mul(ENTRY as u64) {
                DamageReason::Truncated
            } else {
                DamageReason::Trailing
            },
        );
    }
    let mut last: Option<&[u8; 12]> = None;
    let (records, _) = body.as_chunks::<ENTRY>();
    for entry in records {
        let [fingerprint @ .., _, _, _, _] = entry;
        if last.is_some_and(|l| l >= fingerprint) {
            return Err(DamageReason::Order);
        }
        last = Some(fingerprint);
    }
    Ok(entries)
}
