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

/// The most 8-byte chunks [`matching`] reads, and the most keys it makes: every rule is
/// reached with a few keys, and the reference matcher's cost grows with keys × sightings
/// (review-fuzz-3 §5: 841 runs a second uncapped).
const MATCHING_CHUNKS: usize = 96;
const MATCHING_KEYS: usize = 16;

/// Matching: the production matcher returns exactly the reference matcher's outcome on keys
/// and sightings made from arbitrary bytes (a few keys with sightings of their own identifiers
/// near their window, so that there is something to find). At most [`MATCHING_CHUNKS`] chunks
/// and [`MATCHING_KEYS`] keys are read.
pub fn matching(data: &[u8]) {
    use bluezone::encounter::GaenSighting;
    use bluezone::gaen::{
        AssociatedEncryptedMetadata, DiagnosisKey, Metadata, RollingProximityIdentifier,
    };
    use bluezone::{EnIntervalNumber, RollingPeriod, RollingWindow};
    let data = &data[..data.len().min(8 * (MATCHING_CHUNKS + 1))];
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
        if keys.is_empty() || (chunk[0] % 4 == 0 && keys.len() < MATCHING_KEYS) {
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
        } else if chunk[0] % 4 == 1 && keys.len() < MATCHING_KEYS {
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

/// The registry the export targets verify with: one P-256 key made from a fixed secret, named
/// `452-v1` as the demo's authority is. The seeds of `export_file` are signed with it.
pub fn test_registry() -> bluezone::export::verify::PublicKeyRegistry {
    use bluezone::export::verify::p256::ecdsa::SigningKey;
    let signing = SigningKey::from_slice(&FUZZ_SIGNING_SECRET).expect("a valid scalar");
    let mut registry = bluezone::export::verify::PublicKeyRegistry::new();
    registry.add(Some("452"), Some("v1"), *signing.verifying_key());
    registry
}

/// The fixed secret of [`test_registry`]'s key (a test key: it signs only fuzz seeds).
pub const FUZZ_SIGNING_SECRET: [u8; 32] = [0x42; 32];

/// Small limits, so that the fuzzer reaches the over-limit branches of the zip reader.
const SMALL_LIMITS: bluezone::export::archive::ZipLimits = bluezone::export::archive::ZipLimits {
    max_export_bin: 16 * 1024,
    max_export_sig: 2 * 1024,
    max_ratio: 100,
};

/// The path the tool reads export files with (`ExportFile::open` → keys → finish, spec
/// §export.8): no panic; the keys streamed from the member are the keys the in-memory reader
/// finds in the same bytes; the verdict is the one `verify` gives over those bytes.
pub fn export_file(data: &[u8]) {
    use bluezone::export::ExportFile;
    use bluezone::export::verify::{ExportDigests, verify};
    let registry = test_registry();
    let Ok(mut file) = ExportFile::open_with_limits(std::io::Cursor::new(data), SMALL_LIMITS)
    else {
        return;
    };
    let signatures = file.signatures().to_vec();
    let Ok(mut stream) = file.keys(Some(&registry)) else {
        return;
    };
    let mut streamed = Vec::new();
    for key in stream.by_ref() {
        match key {
            Ok(key) => streamed.push(key),
            Err(_) => return,
        }
    }
    let Ok(summary) = stream.finish() else { return };
    // The same bytes, read whole: the member of an archive, or the input itself.
    let bin = match ExportArchive::open_with_limits(std::io::Cursor::new(data), SMALL_LIMITS) {
        Ok(mut archive) => archive.read_export_bin().expect("a member the stream read"),
        Err(_) => data.to_vec(),
    };
    let parsed = ExportBin::parse(&bin).expect("bytes the stream read parse in memory");
    let keys: Vec<_> = parsed
        .keys()
        .collect::<Result<_, _>>()
        .expect("keys the stream read decode in memory");
    assert_eq!(streamed, keys, "streamed and in-memory keys differ");
    assert_eq!(summary.keys + summary.revised_keys, keys.len() as u64);
    assert_eq!(&summary.metadata, parsed.metadata());
    let expected = verify(
        &ExportDigests::of(&bin),
        parsed.metadata().signature_infos.len(),
        &signatures,
        &registry,
    );
    assert_eq!(summary.verification.as_ref(), Some(&expected));
}

/// A valid archive around fuzzed members (structure-aware, review-fuzz-3 §2): the first byte
/// picks stored or deflated members, whether `export.sig` and a third member are present and
/// whether names change case; two bytes give the length of `export.bin`; the rest is its bytes
/// and then `export.sig`'s. The archive goes through [`export_zip`] and [`export_file`], so
/// mutations reach the decoders behind the container's CRC.
pub fn export_zip_members(data: &[u8]) {
    use std::io::Write;
    use zip::write::SimpleFileOptions;
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Some((len, rest)) = rest.split_first_chunk::<2>() else {
        return;
    };
    let (bin, sig) = rest.split_at(usize::from(u16::from_le_bytes(*len)).min(rest.len()));
    let method = |bit: u8| {
        if flags & bit == 0 {
            zip::CompressionMethod::Stored
        } else {
            zip::CompressionMethod::Deflated
        }
    };
    let name = |plain: &'static str| {
        if flags & 16 == 0 {
            plain.to_string()
        } else {
            plain.to_uppercase()
        }
    };
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut add = |name: String, method, bytes: &[u8]| {
        zip.start_file(
            name,
            SimpleFileOptions::default().compression_method(method),
        )
        .expect("a new member");
        zip.write_all(bytes).expect("written in memory");
    };
    add(name("export.bin"), method(1), bin);
    if flags & 4 == 0 {
        add(name("export.sig"), method(2), sig);
    }
    if flags & 8 != 0 {
        add("README".to_string(), method(1), sig);
    }
    let archive = zip.finish().expect("written in memory").into_inner();
    export_zip(&archive);
    export_file(&archive);
}

/// The key server's publish JSON that `bluezone export build` reads (spec §export.7): no
/// panic, and never more keys than the text could hold (each needs its base64 key data).
pub fn publish_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(keys) = bluezone::export::publish::parse_keys(text) {
        assert!(
            keys.len() * 22 <= text.len(),
            "more keys than the text holds"
        );
    }
}

/// A whole encounter-log folder as the tool reads it (`EncounterLog::open_existing`, then its
/// sightings, and `gaen_sightings` of the folder): the first byte is the number of segment
/// files (1 to 4), each then a two-byte length and its bytes, named for days in order. No
/// panic; the folder's records are the records of its segments read one by one, oldest first,
/// and its damage theirs, an empty file or one that is not a segment counting once;
/// the tool's reader refuses the folder exactly when some segment is damaged, and otherwise
/// returns every GAEN record.
pub fn log_folder(data: &[u8]) {
    use bluezone::encounter::log::EncounterLog;
    let Some((&count, mut rest)) = data.split_first() else {
        return;
    };
    let dir = scratch_dir("log");
    for day in 0..u64::from(count % 4 + 1) {
        let Some((len, tail)) = rest.split_first_chunk::<2>() else {
            break;
        };
        let (bytes, tail) = tail.split_at(usize::from(u16::from_le_bytes(*len)).min(tail.len()));
        rest = tail;
        std::fs::write(dir.join(format!("day-{}.bzlog", 18_600 + day)), bytes).expect("scratch");
    }
    let Ok(log) = EncounterLog::open_existing(&dir) else {
        return;
    };
    let mut damaged = 0usize;
    let Ok(found) = log.sightings(|_, _| damaged += 1) else {
        return;
    };
    let mut expected = (Vec::new(), Vec::new(), 0usize);
    // `segments` lists them oldest first, the order the folder is read in.
    for (_, path) in log.segments().expect("listed once already") {
        let bytes = std::fs::read(&path).expect("a segment just read");
        // An empty file, or one that is not a segment, is one damaged stretch (spec §enc.3).
        let Some(reader) = SegmentReader::new(bytes.as_slice())
            .ok()
            .filter(|_| !bytes.is_empty())
        else {
            expected.2 += 1;
            continue;
        };
        for item in reader {
            match item.expect("a file just read") {
                ScanItem::Record(Sighting::Gaen(s)) => expected.0.push(s),
                ScanItem::Record(Sighting::Bluezone(s)) => expected.1.push(s),
                ScanItem::Damage(_) => expected.2 += 1,
            }
        }
    }
    assert_eq!((found.gaen.clone(), found.bluezone, damaged), expected);
    match bluezone::encounter::source::gaen_sightings(&dir) {
        Ok(gaen) => {
            assert_eq!(damaged, 0, "a damaged log was read whole");
            assert_eq!(gaen, found.gaen);
        }
        Err(bluezone::encounter::source::SourceError::Damaged { .. }) => assert!(damaged > 0),
        Err(_) => {}
    }
}

/// The on-disk joiner of a state's checked-key segment (spec §state.3): the first byte holds
/// the number of probes (0 to 15) and whether to spoil the recorded CRC; then 16 bytes per
/// probe; the rest is the segment, whose entry count and CRC-32 are recorded as a manifest
/// would record them. No panic; the joiner accepts exactly what the in-memory checker accepts
/// (with the right CRC), and marks a probe known exactly when its fingerprint is an entry's.
pub fn state_join(data: &[u8]) {
    use bluezone::matching::state::__fuzz;
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let probes_len = usize::from(head & 15) * 16;
    if rest.len() < probes_len {
        return;
    }
    let (probe_bytes, segment) = rest.split_at(probes_len);
    let probes: Vec<[u8; 16]> = probe_bytes
        .chunks_exact(16)
        .map(|c| c.try_into().expect("16 bytes"))
        .collect();
    let spoil = head & 16 != 0;
    let path = scratch_dir("state").join("checked-0.seg");
    std::fs::write(&path, segment).expect("scratch");
    let joined = __fuzz::join_segment(&path, segment, &probes, spoil);
    match (__fuzz::check_segment(segment), joined) {
        (Ok(_), Ok(known)) => {
            assert!(!spoil, "a wrong CRC was accepted");
            let entries: Vec<&[u8]> = segment[18..].chunks_exact(16).map(|e| &e[..12]).collect();
            for (probe, known) in probes.iter().zip(known) {
                assert_eq!(known, entries.contains(&&probe[..12]), "probe {probe:02x?}");
            }
        }
        (Ok(_), Err(_)) => assert!(spoil, "the joiner refused a segment the checker accepts"),
        (Err(_), Ok(_)) => panic!("the joiner accepted a segment the checker refuses"),
        (Err(_), Err(_)) => {}
    }
}

/// The manifest's fields behind its digest (review-fuzz-3 §1): the input is a manifest's body,
/// whose trailer (a SHA-256, or the HMAC under the fuzz key when the body's flag says keyed)
/// is computed here, so that mutations reach the decoder of every field. What decodes encodes
/// back to the same bytes.
pub fn state_manifest_body(data: &[u8]) {
    if let Some((sealed, again)) = bluezone::matching::state::__fuzz::manifest_body_round_trip(data)
    {
        assert_eq!(again, sealed, "a manifest reads back to other bytes");
    }
}

/// The small text parsers the tool feeds user input to; the first byte picks one: metadata
/// (`Metadata::from_str`), a hex identifier (`FromStr` of the byte types), the infectiousness
/// map, and the signature policy. No panic; what parses displays as text that parses back the
/// same.
pub fn text(data: &[u8]) {
    use bluezone::gaen::{Metadata, RollingProximityIdentifier};
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match pick % 4 {
        0 => {
            if let Ok(m) = text.parse::<Metadata>() {
                assert_eq!(m.to_string().parse::<Metadata>(), Ok(m));
            }
        }
        1 => {
            if let Ok(rpi) = text.parse::<RollingProximityIdentifier>() {
                assert_eq!(
                    rpi.to_string().parse::<RollingProximityIdentifier>(),
                    Ok(rpi)
                );
            }
        }
        2 => {
            let mut config = bluezone::risk::RiskConfig::default();
            let _ = config.windows.set_infectiousness_map(text);
        }
        _ => {
            let mut registry = test_registry();
            let _ = registry.set_policy(text);
        }
    }
}

/// A scratch folder of this process and thread for the targets that read folders, emptied.
fn scratch_dir(kind: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "bluezone-fuzz-{kind}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

/// Exposure windows in the GAEN API's JSON shape, scored by the CWA's production model and
/// the NHS model (spec §cwa, §nhs): no panic; a document that reads gives one result per
/// window, and the NHS score of each window is finite and at most its minutes plus a slot per
/// scan.
pub fn risk_windows(data: &[u8]) {
    use bluezone::risk::api::parse_api_windows;
    use bluezone::risk::cwa::CwaConfig;
    use bluezone::risk::nhs::NhsConfig;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(windows) = parse_api_windows(text, 19_000) else {
        return;
    };
    let cwa = CwaConfig::production()
        .assess(&windows, 19_000)
        .expect("the production configuration is valid");
    assert_eq!(cwa.windows.len(), windows.len());
    for window in &windows {
        let seconds: f64 = window
            .scan_instances
            .iter()
            .skip(1)
            .map(|s| f64::from(s.seconds_since_last_scan))
            .sum();
        let slots = seconds + window.scan_instances.len() as f64;
        if let Ok(score) = NhsConfig::default().score_window(window) {
            assert!(score.is_finite() && score >= 0.0);
            assert!(score <= slots / 60.0 + 1e-6);
        }
    }
}

/// The NHS scenario format and a configuration read from the same bytes (the first line is
/// the configuration's JSON, the rest the scans): no panic, and no allocation beyond
/// `MAX_SAMPLES` whatever the gaps claim.
pub fn nhs_scans(data: &[u8]) {
    use bluezone::risk::nhs::{NhsConfig, parse_scans};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let config = serde_json::from_str::<NhsConfig>(first).unwrap_or_default();
    if let Ok(scans) = parse_scans(rest)
        && let Ok(score) = config.score(&scans)
    {
        assert!(!score.is_nan() || config.validate().is_err());
    }
}
