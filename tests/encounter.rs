//! The encounter log loses nothing: every complete, undamaged record is recovered after a
//! power cut at any byte or a bit flip in any block, and the damage is reported.
#![cfg(feature = "std")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]

use std::io::Read;
use std::path::PathBuf;

use bluezone::blid::BluezoneId;
use bluezone::encounter::frame::{self, Damage, DamageKind, HEADER_LEN, ScanItem};
use bluezone::encounter::log::{EncounterLog, LogItem, SegmentReader};
use bluezone::encounter::{BluezoneSighting, GaenSighting, Sighting};
use bluezone::gaen::{AssociatedEncryptedMetadata, RollingProximityIdentifier};
use proptest::prelude::*;

fn sightings(count: u64, day: u64) -> Vec<Sighting> {
    (0..count)
        .map(|n| {
            let t = day * 86_400 + 3_600 + n * 211;
            if n % 3 == 2 {
                Sighting::Bluezone(BluezoneSighting {
                    unix_ms: t * 1000 + n,
                    contact_id: BluezoneId::from_bytes([n as u8; 12]),
                    own_id: BluezoneId::from_bytes([0xB2; 12]),
                    rssi: -(n as i8),
                })
            } else {
                Sighting::Gaen(GaenSighting {
                    unix_seconds: t,
                    // Sync bytes inside payloads make resynchronisation work for its living.
                    rpi: RollingProximityIdentifier::from_bytes([
                        0xB2, n as u8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 0xB2,
                    ]),
                    aem: AssociatedEncryptedMetadata::from_bytes([n as u8, 0xB2, 0x01, 0x02]),
                    rssi: -60 - (n % 30) as i8,
                    previous_scan_unix_seconds: if n == 0 { 0 } else { t - 211 },
                })
            }
        })
        .collect()
}

/// A segment in memory and the byte range of each frame.
fn segment(records: &[Sighting]) -> (Vec<u8>, Vec<(usize, usize)>) {
    let mut bytes = frame::header().to_vec();
    let mut ranges = Vec::new();
    for s in records {
        let mut buffer = [0u8; frame::MAX_FRAME_LEN];
        let len = frame::encode_frame(s, &mut buffer).unwrap();
        ranges.push((bytes.len(), len));
        bytes.extend_from_slice(&buffer[..len]);
    }
    (bytes, ranges)
}

/// A reader that hands out at most a few bytes per call, to cross every buffer boundary.
struct Trickle<'a>(&'a [u8], usize);

impl Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        self.1 = self.1 % 7 + 1;
        let n = self.1.min(out.len()).min(self.0.len());
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// Scans through both readers, checks they agree, and splits records from damage.
fn read_back(bytes: &[u8]) -> (Vec<Sighting>, Vec<Damage>) {
    let in_memory: Vec<ScanItem> = frame::scan(bytes).unwrap().collect();
    let streamed: Vec<ScanItem> = SegmentReader::new(Trickle(bytes, 0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(in_memory, streamed);
    let mut records = Vec::new();
    let mut damage = Vec::new();
    for item in in_memory {
        match item {
            ScanItem::Record(s) => records.push(s),
            ScanItem::Damage(d) => damage.push(d),
        }
    }
    (records, damage)
}

#[test]
/// Checks spec §enc.1, §enc.2.
fn a_cut_at_every_byte_keeps_every_complete_record() {
    let records = sightings(24, 18_500);
    let (bytes, ranges) = segment(&records);
    for cut in 0..=bytes.len() {
        let (found, damage) = read_back(&bytes[..cut]);
        let complete = ranges
            .iter()
            .filter(|(start, len)| start + len <= cut)
            .count();
        assert_eq!(found, records[..complete], "cut at {cut}");
        let boundary = cut == 0
            || cut
                == HEADER_LEN.max(
                    ranges
                        .iter()
                        .map(|(s, l)| s + l)
                        .filter(|&e| e <= cut)
                        .max()
                        .unwrap_or(HEADER_LEN),
                );
        if boundary {
            assert!(damage.is_empty(), "cut at {cut}: {damage:?}");
        } else {
            let torn_from = if cut < HEADER_LEN {
                0
            } else {
                ranges.get(complete).map_or(cut, |r| r.0)
            };
            assert_eq!(
                damage,
                vec![Damage {
                    offset: torn_from as u64,
                    len: (cut - torn_from) as u64,
                    kind: DamageKind::TornTail
                }],
                "cut at {cut}"
            );
        }
    }
}

#[test]
/// Checks spec §enc.2.
fn a_bit_flip_in_any_frame_loses_that_frame_only_and_is_reported() {
    let records = sightings(12, 18_501);
    let (bytes, ranges) = segment(&records);
    for (index, &(start, len)) in ranges.iter().enumerate() {
        for bit in 0..len * 8 {
            let mut damaged = bytes.clone();
            damaged[start + bit / 8] ^= 1 << (bit % 8);
            let (found, damage) = read_back(&damaged);
            let mut expected = records.clone();
            expected.remove(index);
            assert_eq!(found, expected, "frame {index} bit {bit}");
            assert_eq!(
                damage,
                vec![Damage {
                    offset: start as u64,
                    len: len as u64,
                    kind: DamageKind::Frames
                }],
                "frame {index} bit {bit}"
            );
        }
    }
}

#[test]
fn a_bit_flip_in_the_header_keeps_every_record() {
    let records = sightings(5, 18_502);
    let (bytes, _) = segment(&records);
    for bit in 0..HEADER_LEN * 8 {
        let mut damaged = bytes.clone();
        damaged[bit / 8] ^= 1 << (bit % 8);
        let (found, damage) = read_back(&damaged);
        assert_eq!(found, records, "header bit {bit}");
        assert_eq!(
            damage,
            vec![Damage {
                offset: 0,
                len: 16,
                kind: DamageKind::Header
            }],
            "header bit {bit}"
        );
    }
}

#[test]
fn neighbouring_damage_is_reported_once() {
    let records = sightings(6, 18_503);
    let (mut bytes, ranges) = segment(&records);
    for &(start, _) in &ranges[1..4] {
        bytes[start + 3] ^= 0x10;
    }
    let (found, damage) = read_back(&bytes);
    assert_eq!(found, [records[0], records[4], records[5]]);
    let (start, end) = (ranges[1].0, ranges[3].0 + ranges[3].1);
    assert_eq!(
        damage,
        vec![Damage {
            offset: start as u64,
            len: (end - start) as u64,
            kind: DamageKind::Frames
        }]
    );
}

#[test]
fn files_that_are_not_segments_are_refused() {
    assert!(frame::scan(b"not a log at all, certainly").is_err());
    // A changed version byte without a matching checksum is a damaged header, read on.
    let mut flipped = frame::header();
    flipped[8] = 2;
    assert_eq!(frame::check_header(&flipped), frame::HeaderCheck::Damaged);
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn records_of(log: &EncounterLog) -> (Vec<Sighting>, Vec<Damage>) {
    let mut records = Vec::new();
    let mut damage = Vec::new();
    for item in log.read().unwrap() {
        match item.unwrap() {
            LogItem::Record(s) => records.push(s),
            LogItem::Damage { damage: d, .. } => damage.push(d),
        }
    }
    (records, damage)
}

#[test]
/// Checks spec §enc.3.
fn the_log_appends_after_a_torn_tail_without_losing_anything() {
    let dir = scratch("log-torn-tail");
    let first = sightings(10, 18_600);
    let mut log = EncounterLog::open(&dir).unwrap();
    log.append_all(&first).unwrap();
    log.sync().unwrap();
    drop(log);
    // A power cut in the middle of the next frame.
    let path = EncounterLog::open(&dir).unwrap().segment_path(18_600);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&[0xB2, 0x01, 0x42, 0x42]);
    std::fs::write(&path, &bytes).unwrap();
    let (before, damage) = records_of(&EncounterLog::open(&dir).unwrap());
    assert_eq!(before, first);
    assert_eq!(damage.len(), 1);
    assert_eq!(damage[0].kind, DamageKind::TornTail);

    let mut log = EncounterLog::open(&dir).unwrap();
    let more = sightings(3, 18_600);
    for s in &more {
        log.append(s).unwrap();
    }
    assert_eq!(log.repairs().len(), 1);
    assert_eq!(log.repairs()[0].removed.len, 4);
    let (after, damage) = records_of(&log);
    assert!(damage.is_empty());
    assert_eq!(after, [first, more].concat());
}

#[test]
/// Checks spec §enc.3.
fn retention_deletes_old_days_and_rewrites_only_the_cut_off_day() {
    let dir = scratch("log-retention");
    let mut log = EncounterLog::open(&dir).unwrap();
    let first_day = 18_700u64;
    let all: Vec<Sighting> = (0..20).flat_map(|d| sightings(6, first_day + d)).collect();
    log.append_all(&all).unwrap();
    assert_eq!(log.segments().unwrap().len(), 20);
    // Now is 12:00 on the last day; keep 14 days: the cut-off is 12:00 fourteen days back.
    let now = (first_day + 19) * 86_400 + 12 * 3_600;
    let cutoff = now - 14 * 86_400;
    let report = log.retain(now, 14).unwrap();
    assert_eq!(
        report.deleted_days,
        (first_day..first_day + 5).collect::<Vec<_>>()
    );
    let (day, kept, dropped) = report.rewritten.unwrap();
    assert_eq!(day, first_day + 5);
    assert_eq!(kept + dropped, 6);
    let (left, damage) = records_of(&log);
    assert!(damage.is_empty());
    let expected: Vec<Sighting> = all
        .iter()
        .copied()
        .filter(|s| s.unix_seconds() >= cutoff)
        .collect();
    assert_eq!(left, expected);
    // Nothing more to do the second time: no file is touched.
    let again = log.retain(now, 14).unwrap();
    assert!(again.deleted_days.is_empty() && again.rewritten.is_none());
}

#[test]
fn a_stray_segment_name_is_an_error_not_a_skip() {
    let dir = scratch("log-stray");
    let log = EncounterLog::open(&dir).unwrap();
    std::fs::write(dir.join("notes.bzlog"), b"x").unwrap();
    assert!(log.read().is_err());
}

fn sighting_strategy() -> impl Strategy<Value = Sighting> {
    prop_oneof![
        (
            any::<u64>(),
            any::<[u8; 16]>(),
            any::<[u8; 4]>(),
            any::<i8>(),
            any::<u64>()
        )
            .prop_map(|(t, rpi, aem, rssi, prev)| {
                Sighting::Gaen(GaenSighting {
                    unix_seconds: t,
                    rpi: RollingProximityIdentifier::from_bytes(rpi),
                    aem: AssociatedEncryptedMetadata::from_bytes(aem),
                    rssi,
                    previous_scan_unix_seconds: prev,
                })
            }),
        (
            any::<u64>(),
            any::<[u8; 12]>(),
            any::<[u8; 12]>(),
            any::<i8>()
        )
            .prop_map(|(t, c, o, rssi)| {
                Sighting::Bluezone(BluezoneSighting {
                    unix_ms: t,
                    contact_id: BluezoneId::from_bytes(c),
                    own_id: BluezoneId::from_bytes(o),
                    rssi,
                })
            }),
    ]
}

proptest! {
    #[test]
    fn records_round_trip_through_the_encoding_and_a_segment(records in prop::collection::vec(sighting_strategy(), 0..40)) {
        for s in &records {
            let mut buffer = [0u8; 64];
            let len = s.encode_into(&mut buffer).unwrap();
            prop_assert_eq!(Sighting::decode(&buffer[..len]), Ok(*s));
        }
        let (bytes, _) = segment(&records);
        let (found, damage) = read_back(&bytes);
        prop_assert_eq!(found, records);
        prop_assert!(damage.is_empty());
    }

    #[test]
    fn gaen_records_round_trip_through_csv(records in prop::collection::vec(sighting_strategy(), 0..40)) {
        use bluezone::encounter::csv::{CSV_HEADER, CsvLine, parse_csv};
        let gaen: Vec<GaenSighting> = records
            .iter()
            .filter_map(|s| match s { Sighting::Gaen(g) => Some(GaenSighting { previous_scan_unix_seconds: 0, ..*g }), _ => None })
            .collect();
        let mut text = format!("{CSV_HEADER}\n");
        for g in &gaen {
            text.push_str(&format!("{}\n", CsvLine(g)));
        }
        let back: Vec<GaenSighting> = parse_csv(&text).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(back, gaen);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn records_round_trip_through_the_log(records in prop::collection::vec(sighting_strategy(), 0..30), case in any::<u64>()) {
        // Keep the days few so that a case writes few files.
        let records: Vec<Sighting> = records.into_iter().map(|s| match s {
            Sighting::Gaen(g) => Sighting::Gaen(GaenSighting { unix_seconds: 1_600_000_000 + g.unix_seconds % 300_000, ..g }),
            Sighting::Bluezone(b) => Sighting::Bluezone(BluezoneSighting { unix_ms: 1_600_000_000_000 + b.unix_ms % 300_000_000, ..b }),
        }).collect();
        let dir = scratch(&format!("log-prop-{case}"));
        let mut log = EncounterLog::open(&dir).unwrap();
        log.append_all(&records).unwrap();
        let (mut found, damage) = records_of(&log);
        prop_assert!(damage.is_empty());
        // The log groups by day; within a day, append order is kept.
        let mut expected = records.clone();
        expected.sort_by_key(|s| s.unix_seconds() / 86_400);
        found.sort_by_key(|s| s.unix_seconds() / 86_400);
        prop_assert_eq!(found, expected);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
/// Checks spec §enc.4.
fn csv_errors_name_line_and_column() {
    use bluezone::encounter::csv::{CsvLineError, parse_csv};
    let good = "1596866191,e23f352fa09307a85d4194912443180d,484dc151,-63";
    let text = format!(
        "unix_seconds,rpi,aem,rssi\n{good}\n{}\n",
        good.replace("-63", "-200")
    );
    let results: Vec<_> = parse_csv(&text).collect();
    assert!(results[0].is_ok());
    let error = results[1].unwrap_err();
    assert_eq!((error.line, error.error.column()), (3, Some(4)));
    let bad_header: Vec<_> = parse_csv("time,rpi,aem,rssi\n").collect();
    assert_eq!(bad_header.len(), 1);
    assert_eq!(bad_header[0].unwrap_err().error, CsvLineError::Header);
    let short_rpi = format!("unix_seconds,rpi,aem,rssi\n{}", good.replace("e23f", "e23"));
    assert_eq!(
        parse_csv(&short_rpi)
            .next()
            .unwrap()
            .unwrap_err()
            .error
            .column(),
        Some(2)
    );
    let blank_inside = format!("unix_seconds,rpi,aem,rssi\n{good}\n\n{good}\n");
    let results: Vec<_> = parse_csv(&blank_inside).collect();
    assert_eq!(results[1].unwrap_err().line, 3);
    assert_eq!(results.len(), 3);
}

#[test]
/// Checks spec §enc.3: a folder without segments is not a log; a segment whose header is
/// unreadable is lost alone, reported, and the other segments are read; an empty segment is
/// reported.
fn enc_3_a_folder_is_a_log_only_with_segments_and_one_bad_header_loses_one_segment() {
    use bluezone::encounter::log::LogError;
    let dir = scratch("not-a-log");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), b"hello").unwrap();
    assert!(matches!(
        EncounterLog::open_existing(&dir),
        Err(LogError::NotALog(_))
    ));
    let dir = scratch("one-bad-header");
    let mut log = EncounterLog::open(&dir).unwrap();
    let days = [18_400u64, 18_401, 18_402];
    let records: Vec<Sighting> = days
        .iter()
        .map(|day| {
            Sighting::Gaen(GaenSighting {
                unix_seconds: day * 86_400 + 3_600,
                rpi: RollingProximityIdentifier::from_bytes([*day as u8; 16]),
                aem: AssociatedEncryptedMetadata::from_bytes([1, 2, 3, 4]),
                rssi: -60,
                previous_scan_unix_seconds: 0,
            })
        })
        .collect();
    log.append_all(&records).unwrap();
    log.sync().unwrap();
    drop(log);
    // The magic of the middle day's segment overwritten, and an empty segment beside them.
    let middle = dir.join("day-18401.bzlog");
    let mut bytes = std::fs::read(&middle).unwrap();
    bytes[..4].copy_from_slice(&[0xff; 4]);
    std::fs::write(&middle, &bytes).unwrap();
    std::fs::write(dir.join("day-18399.bzlog"), b"").unwrap();
    let log = EncounterLog::open_existing(&dir).unwrap();
    let mut damage = Vec::new();
    let found = log
        .sightings(|segment, d| damage.push((segment.to_path_buf(), *d)))
        .unwrap();
    let days_read: Vec<u64> = found.gaen.iter().map(|s| s.unix_seconds / 86_400).collect();
    assert_eq!(days_read, vec![18_400, 18_402]);
    assert_eq!(damage.len(), 2, "{damage:?}");
    assert_eq!(damage[0].1.kind, DamageKind::Empty);
    assert!(damage[0].0.ends_with("day-18399.bzlog"));
    assert_eq!(damage[1].1.kind, DamageKind::Segment);
    assert_eq!(damage[1].1.len, bytes.len() as u64);
    assert!(damage[1].0.ends_with("day-18401.bzlog"));
}

#[test]
/// Checks spec §enc.5: a log folder gives its GAEN sightings, and damage anywhere is an error
/// that names the segment, never a skipped record.
fn enc_5_a_log_folder_is_read_strictly() {
    use bluezone::encounter::source::{SourceError, gaen_sightings};
    let dir = scratch("source-log");
    let written = sightings(30, 18_600);
    let mut log = EncounterLog::open(&dir).unwrap();
    log.append_all(&written).unwrap();
    log.sync().unwrap();
    let gaen: Vec<GaenSighting> = written
        .iter()
        .filter_map(|s| match s {
            Sighting::Gaen(g) => Some(*g),
            Sighting::Bluezone(_) => None,
        })
        .collect();
    assert_eq!(gaen_sightings(&dir).unwrap(), gaen);

    let path = log.segment_path(18_600);
    drop(log);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    match gaen_sightings(&dir) {
        Err(SourceError::Damaged { segment, .. }) => assert_eq!(segment, path),
        other => panic!("damage was not refused: {other:?}"),
    }
}

#[test]
/// Checks spec §enc.5: a file is CSV, read whole or refused at its first bad line; a file that
/// is not text, or a CSV file with no sighting, is refused as such.
fn enc_5_a_file_is_csv_read_strictly() {
    use bluezone::encounter::source::{SourceError, gaen_sightings};
    let dir = scratch("source-csv");
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("sightings.csv");
    std::fs::write(
        &csv,
        "unix_seconds,rpi,aem,rssi\n1596866191,e23f352fa09307a85d4194912443180d,484dc151,-63\n",
    )
    .unwrap();
    let read = gaen_sightings(&csv).unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].rssi, -63);

    std::fs::write(
        &csv,
        "unix_seconds,rpi,aem,rssi\n1596866191,e23f352fa09307a85d4194912443180d,484dc151,-63\n\n1,2,3,4\n",
    )
    .unwrap();
    match gaen_sightings(&csv) {
        Err(SourceError::Csv { error, .. }) => assert_eq!(error.line, 3),
        other => panic!("a bad line was not refused: {other:?}"),
    }
    std::fs::write(&csv, [0x50, 0x4b, 0x03, 0x04, 0xff, 0xfe]).unwrap();
    assert!(matches!(
        gaen_sightings(&csv),
        Err(SourceError::NotText { .. })
    ));
    assert!(matches!(
        gaen_sightings(&dir.join("missing.csv")),
        Err(SourceError::Io { .. })
    )); // A header and no sighting is not a log: the strict reader says so, as the tool does.
    std::fs::write(&csv, "unix_seconds,rpi,aem,rssi\n").unwrap();
    assert!(matches!(
        gaen_sightings(&csv),
        Err(SourceError::NoSightings { .. })
    ));
}
