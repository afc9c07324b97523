//! The properties the fuzz targets check, shared with `tests/fuzz_corpus.rs`, which replays the
//! committed seed corpus through the same functions on every `cargo test`.
//!
//! Each function must never panic on any input except through a failed assertion.

#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a fuzz check reports a broken property by panicking"
)]
#![allow(
    dead_code,
    reason = "each fuzz target and test uses some of these checks"
)]

use bluezone::ble::bluezone::{encode_android, parse_android};
use bluezone::ble::gaen::{DEFAULT_FLAGS, SERVICE_DATA_LEN};
use bluezone::ble::{
    AdStructures, AdvertisementKind, ExposureNotificationAdvertisement, LEGACY_PAYLOAD_MAX,
    classify,
};
use bluezone::blid::{F0List, HistoryLine, InfoF, parse_history};
use bluezone::encounter::Sighting;
use bluezone::encounter::csv::{CsvLine, parse_csv};
use bluezone::encounter::frame::{self, ScanItem};
use bluezone::encounter::log::SegmentReader;
use bluezone::export::archive::ExportArchive;
use bluezone::export::bin::{self as export_bin_codec, ExportBin};
use bluezone::export::stream::ExportReader;
use bluezone::matching::{LogIndex, MatchConfig, Matcher, reference};

/// Advertising payload parser: no panic; what it accepts re-encodes to a payload that parses
/// to the same identifier and metadata; the AD walk stays inside the payload and terminates.
pub fn advertisement(data: &[u8]) {
    match ExposureNotificationAdvertisement::parse(data) {
        Ok(parsed) => {
            assert!(data.len() <= LEGACY_PAYLOAD_MAX);
            let flags = parsed.flags.unwrap_or(DEFAULT_FLAGS);
            let encoded = parsed.advertisement.encode(flags);
            let again = ExposureNotificationAdvertisement::parse(&encoded)
                .expect("an encoded advertisement parses");
            assert_eq!(again.advertisement, parsed.advertisement);
            assert_eq!(again.flags, Some(flags));
            assert!(again.lists_service_uuid);
        }
        Err(error) => assert!(!error.class().is_empty()),
    }

    match ExposureNotificationAdvertisement::parse_service_data(data) {
        Ok(found) => assert_eq!(&found.service_data()[..], data),
        Err(_) => assert_ne!(data.len(), SERVICE_DATA_LEN),
    }

    if let Ok(walk) = AdStructures::new(data) {
        let mut previous_end = 0;
        let mut steps = 0;
        for structure in walk {
            let Ok(structure) = structure else { break };
            assert!(structure.offset >= previous_end);
            previous_end = structure.offset + 2 + structure.data.len();
            assert!(previous_end <= data.len());
            steps += 1;
            assert!(steps <= LEGACY_PAYLOAD_MAX);
        }
    }
}

/// Payload classifier: no panic; its verdict agrees with the specific parsers.
pub fn classify_payload(data: &[u8]) {
    match classify(data) {
        Ok(AdvertisementKind::Gaen(parsed)) => {
            assert_eq!(ExposureNotificationAdvertisement::parse(data), Ok(parsed));
        }
        Ok(AdvertisementKind::BluezoneAndroid(id)) => {
            assert_eq!(parse_android(data), Ok(id));
            assert_eq!(parse_android(&encode_android(&id, 0x1a)), Ok(id));
        }
        Ok(AdvertisementKind::BluezoneIos(_) | AdvertisementKind::Unknown) => {
            assert!(parse_android(data).is_err());
        }
        Err(error) => assert!(!error.class().is_empty()),
        Ok(_) => {}
    }
}

/// History lines: no panic; every line read prints back to text that reads the same.
pub fn history(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let mut lines = 0;
    for (index, line) in parse_history(text).enumerate() {
        lines += 1;
        match line {
            Ok(line) => assert_eq!(HistoryLine::parse(&line.to_string()), Ok(line)),
            Err(error) => assert_eq!(error.line, index + 1),
        }
    }
    assert!(lines <= text.split('\n').count());
}

/// F0 lists: no panic; what is read writes back to JSON that reads the same.
pub fn f0_list(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    match F0List::from_json(text) {
        Ok(list) => assert_eq!(F0List::from_json(&list.to_json()), Ok(list)),
        Err(error) => assert!(!error.class().is_empty()),
    }
}

/// InfoF uploads: no panic; what is read writes back to JSON that reads the same.
pub fn info_f(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    match InfoF::from_json(text) {
        Ok(info) => assert_eq!(InfoF::from_json(&info.to_json()), Ok(info)),
        Err(error) => assert!(!error.class().is_empty()),
    }
}

/// Segment scanner: no panic on any bytes; the streaming reader agrees with the in-memory one;
/// every record found re-encodes to a frame that scans back to it; damage never overlaps.
pub fn segment(data: &[u8]) {
    let Ok(scan) = frame::scan(data) else {
        assert!(SegmentReader::new(data).is_err());
        return;
    };
    let items: Vec<ScanItem> = scan.collect();
    let streamed: Vec<ScanItem> = SegmentReader::new(data)
        .expect("the streaming reader accepts what the scanner accepts")
        .map(|item| item.expect("reading a slice cannot fail"))
        .collect();
    assert_eq!(items, streamed);
    let mut end = 0u64;
    for item in &items {
        match item {
            ScanItem::Record(s) => {
                let mut buffer = [0u8; frame::MAX_FRAME_LEN];
                let len = frame::encode_frame(s, &mut buffer).expect("a frame fits");
                let mut again = frame::header().to_vec();
                again.extend_from_slice(&buffer[..len]);
                let back: Vec<ScanItem> = frame::scan(&again).expect("a valid segment").collect();
                assert_eq!(back, [ScanItem::Record(*s)]);
            }
            ScanItem::Damage(d) => {
                assert!(d.offset >= end || d.offset == 0, "damage overlaps");
                end = d.offset + d.len;
                assert!(end <= data.len() as u64);
            }
        }
    }
}

/// Record decoder: no panic; what decodes encodes back to the same bytes.
pub fn record(data: &[u8]) {
    if let Ok(sighting) = Sighting::decode(data) {
        let mut buffer = [0u8; 64];
        let len = sighting.encode_into(&mut buffer).expect("a record fits");
        assert_eq!(&buffer[..len], data);
    }
}

/// CSV reader: no panic; what is read writes back to lines that read the same.
pub fn csv(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    for sighting in parse_csv(text).flatten() {
        let line = CsvLine(&sighting).to_string();
        assert_eq!(
            bluezone::encounter::csv::parse_csv_line(&line),
            Ok(sighting)
        );
    }
}

/// export.bin: no panic; the streaming reader agrees with the in-memory one; valid keys
/// re-encode to bytes that read back the same.
pub fn export_bin(data: &[u8]) {
    let in_memory = ExportBin::parse(data).and_then(|p| {
        let keys = p.keys().collect::<Result<Vec<_>, _>>()?;
        Ok((p.metadata().clone(), keys))
    });
    let streamed = ExportReader::new(data)
        .map_err(|e| e.to_string())
        .and_then(|mut r| {
            let keys = r
                .by_ref()
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            Ok((r.metadata().clone(), keys))
        });
    match (&in_memory, &streamed) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(_), Err(_)) => {}
        // The streaming reader refuses fields over 64 KiB that the in-memory one accepts.
        (Ok(_), Err(e)) => assert!(e.contains("streaming reader"), "{e}"),
        (Err(e), Ok(_)) => panic!("only the streaming reader accepted it: {e}"),
    }
    if let Ok((metadata, keys)) = in_memory {
        let (keys, revised): (Vec<_>, Vec<_>) = keys.into_iter().partition(|k| !k.revised);
        let plain: Vec<_> = keys.iter().map(|k| k.key).collect();
        let revised: Vec<_> = revised.iter().map(|k| k.key).collect();
        let again = export_bin_codec::encode(&metadata, &plain, &revised);
        let back = ExportBin::parse(&again).expect("written bytes parse");
        assert_eq!(back.metadata(), &metadata);
        let read: Vec<_> = back
            .keys()
            .map(|k| k.expect("written keys decode").key)
            .collect();
        assert_eq!(read, [plain, revised].concat());
    }
}

/// export.sig: no panic; what is read writes back to bytes that read the same.
pub fn export_sig(data: &[u8]) {
    if let Ok(signatures) = bluezone::export::sig::parse(data) {
        let again = bluezone::export::sig::encode(&signatures);
        assert_eq!(bluezone::export::sig::parse(&again), Ok(signatures));
    }
}

/// export.zip: no panic and no unbounded allocation on any bytes.
pub fn export_zip(data: &[u8]) {
    if let Ok(mut archive) = ExportArchive::open(std::io::Cursor::new(data)) {
        if let Ok(bin) = archive.read_export_bin() {
            export_bin(&bin);
        }
        let _ = archive.read_export_sig();
    }
}

/// Matching: the production matcher returns exactly the reference matcher's outcome on keys
/// and sightings made from arbitrary bytes (a few keys with sightings of their own identifiers
/// near their window, so that there is something to find).
pub fn matching(data: &[u8]) {
    use bluezone::encounter::GaenSighting;
    use bluezone::gaen::{
        AssociatedEncryptedMetadata, DiagnosisKey, Metadata, RollingProximityIdentifier,
    };
    use bluezone::{EnIntervalNumber, RollingPeriod, RollingWindow};
    let mut chunks = data.chunks_exact(8);
    let Some(head) = chunks.next() else { return };
    let config = MatchConfig {
        tolerance_intervals: u32::from(head[0] % 16),
        replay_window_seconds: u64::from(head[1]) * 10,
        match_revoked: head[2] & 1 == 1,
        match_recursive: head[2] & 2 == 2,
        ..MatchConfig::default()
    };
    let mut keys: Vec<DiagnosisKey> = Vec::new();
    let mut sightings: Vec<GaenSighting> = Vec::new();
    for chunk in chunks {
        let base = 2_650_032u32;
        if chunk[0] % 4 == 0 || keys.is_empty() {
            let mut key_data = [0u8; 16];
            key_data[..8].copy_from_slice(chunk);
            let start = base + u32::from(chunk[1]);
            let period = RollingPeriod::new(u32::from(chunk[2]) % 144 + 1).expect("1..=144");
            let window =
                RollingWindow::new(EnIntervalNumber::new(start), period).expect("in range");
            let mut key = DiagnosisKey::new(key_data, window);
            key.report_type =
                bluezone::gaen::ReportType::try_from(i32::from(chunk[3] % 6)).expect("0..=5");
            keys.push(key);
        } else if chunk[0] % 4 == 1 {
            // A copy of a key (spec §match.6): the same bytes, another report type and window.
            let mut copy = keys[usize::from(chunk[1]) % keys.len()];
            copy.report_type =
                bluezone::gaen::ReportType::try_from(i32::from(chunk[3] % 6)).expect("0..=5");
            let start = copy.window.start().get() + u32::from(chunk[2] % 8);
            let period = RollingPeriod::new(u32::from(chunk[4]) % 144 + 1).expect("1..=144");
            copy.window =
                RollingWindow::new(EnIntervalNumber::new(start), period).expect("in range");
            keys.push(copy);
        } else {
            let key = keys[usize::from(chunk[0]) % keys.len()];
            let j = key.window.start().get() + u32::from(chunk[1]) % key.window.period().get();
            let seen = i64::from(j) + i64::from(chunk[2] as i8 % 20);
            let rpi = if chunk[3] % 8 == 0 {
                RollingProximityIdentifier::from_bytes([chunk[4]; 16])
            } else {
                key.rolling_proximity_identifier_key()
                    .identifier(EnIntervalNumber::new(j))
            };
            let aem = key
                .associated_encrypted_metadata_key()
                .encrypt(&rpi, Metadata::v1_0(chunk[5] as i8));
            sightings.push(GaenSighting {
                unix_seconds: seen.max(0) as u64 * 600 + u64::from(chunk[6]) * 3,
                rpi,
                aem: if chunk[7] % 5 == 0 {
                    AssociatedEncryptedMetadata::from_bytes([chunk[7]; 4])
                } else {
                    aem
                },
                rssi: chunk[7] as i8,
                previous_scan_unix_seconds: 0,
            });
        }
    }
    let expected = reference::match_keys(&keys, &sightings, &config);
    let index = LogIndex::new(sightings, config.tolerance_intervals);
    assert_eq!(Matcher::new(&index, config).match_keys(&keys), expected);
}

/// Match-state manifest decoder: no panic, no allocation beyond the input; what decodes
/// encodes back to the same bytes (spec §state.1.1).
pub fn state_manifest(data: &[u8]) {
    if let Some(again) = bluezone::matching::state::__fuzz::manifest_round_trip(data) {
        assert_eq!(again, data, "a manifest reads back to other bytes");
    }
}

/// Match-state segment checker: no panic; what it accepts has exactly the length its header
/// says and entries in strictly increasing order (spec §state.1.2).
pub fn state_segment(data: &[u8]) {
    if let Ok(entries) = bluezone::matching::state::__fuzz::check_segment(data) {
        assert_eq!(data.len() as u64, 18 + 16 * entries);
        let body = &data[18..];
        for pair in body.chunks_exact(16).collect::<Vec<_>>().windows(2) {
            assert!(
                pair[0][..12] < pair[1][..12],
                "entries out of order accepted"
            );
        }
    }
}
