//! The bytes of the manifest and the segments read back, and every damage refused (spec
//! §state.1).
#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]

use std::vec::Vec;

use sha2::{Digest, Sha256};

use super::super::fingerprints::secret_from_key;
use super::super::format::*;
use crate::gaen::{
    AssociatedEncryptedMetadata, DiagnosisKey, Metadata, ReportType, RollingProximityIdentifier,
};
use crate::matching::{KeyMatch, MatchConfig, MatchedSighting, Rejections};
use crate::time::{EnIntervalNumber, RollingPeriod, RollingWindow};

fn sighting(n: u8) -> MatchedSighting {
    MatchedSighting {
        unix_seconds: 1_600_000_000 + u64::from(n),
        en_interval_number: EnIntervalNumber::new(2_666_666),
        rpi: RollingProximityIdentifier::from_bytes([n; 16]),
        rssi: -70,
        aem: AssociatedEncryptedMetadata::from_bytes([1, 2, 3, n]),
        metadata: Metadata::v1_0(-12),
        tx_power: -12,
        attenuation: 58,
        previous_scan_unix_seconds: 7,
    }
}

fn key(n: u8, onset: Option<i32>) -> DiagnosisKey {
    DiagnosisKey {
        key_data: [n; 16],
        window: RollingWindow::new(
            EnIntervalNumber::new(2_666_592),
            RollingPeriod::new(100).unwrap(),
        )
        .unwrap(),
        transmission_risk_level: 4,
        report_type: ReportType::SelfReport,
        days_since_onset_of_symptoms: onset,
    }
}

fn manifest() -> Manifest {
    Manifest {
        generation: 3,
        secret: [9; 16],
        config: MatchConfig::default(),
        keep_days: 16,
        coverage_until: 1_600_000_600,
        log_days: alloc::vec![
            LogDay {
                day: 18_500,
                hashes: alloc::vec![3, 3, 9]
            },
            LogDay {
                day: 18_518,
                hashes: alloc::vec![1]
            }
        ],
        keys_total: 1234,
        transitions: 2,
        rejected: Rejections::from_counts([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
        next_segment: 5,
        segments: alloc::vec![
            SegmentRef {
                number: 1,
                entries: 10,
                crc32: 0xDEAD_BEEF
            },
            SegmentRef {
                number: 4,
                entries: 0,
                crc32: 1
            }
        ],
        files: alloc::vec![FileRecord {
            sha256: [3; 32],
            read_at: 1_600_000_600,
            keys: 99,
            authentic: false,
            path: "/data/dk/2020-12-04.zip".into(),
        }],
        matches: alloc::vec![
            StoredMatch {
                result: KeyMatch {
                    key: key(1, Some(-3)),
                    sightings: alloc::vec![sighting(1), sighting(2)],
                    first_report_type: ReportType::SelfReport,
                    report_type_transitions: 1,
                    v1_scans: alloc::vec![sighting(2)],
                },
                computed_until: 1_600_000_000,
                authentic: true,
                counted: [1, 0, 2, 0],
            },
            StoredMatch {
                result: KeyMatch {
                    key: key(2, None),
                    sightings: alloc::vec![sighting(3)],
                    first_report_type: ReportType::ConfirmedTest,
                    report_type_transitions: 0,
                    v1_scans: alloc::vec![sighting(3)],
                },
                computed_until: 1_600_000_600,
                authentic: false,
                counted: [0; 4],
            },
        ],
        pending: alloc::vec![Pending {
            key: key(5, Some(2)),
            computed_until: 1_600_000_600,
            authentic: true,
            counted: [0, 5, 0, 1],
            later_copy: true,
            copy: false,
        }],
    }
}

/// The bytes of `m` with a checksum that fits, after `edit` changed the body.
fn resealed(m: &Manifest, edit: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
    let mut bytes = m.encode(None);
    bytes.truncate(bytes.len() - 32);
    edit(&mut bytes);
    let digest: [u8; 32] = Sha256::digest(&bytes).into();
    bytes.extend_from_slice(&digest);
    bytes
}

#[test]
fn state_1_1_a_manifest_reads_back_and_every_cut_or_flip_is_refused() {
    let m = manifest();
    let bytes = m.encode(None);
    assert_eq!(Manifest::decode(&bytes, None).unwrap(), m);
    for cut in 0..bytes.len() {
        assert!(
            Manifest::decode(&bytes[..cut], None).is_err(),
            "cut at {cut}"
        );
    }
    for at in 0..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x10;
        assert!(Manifest::decode(&flipped, None).is_err(), "flip at {at}");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(Manifest::decode(&longer, None).is_err());
}

/// Checks §state.1.3 (finding A10 of the third audit): with a state key, an edit resealed
/// with a plain SHA-256 — what anyone who can write the folder can do — is refused, and so
/// is every mix of keyed and unkeyed.
#[test]
fn state_1_3_a_keyed_manifest_refuses_an_edit_resealed_without_the_key() {
    let key = [7u8; 32];
    let mut m = manifest();
    m.secret = secret_from_key(&key);
    let bytes = m.encode(Some(&key));
    assert_eq!(Manifest::decode(&bytes, Some(&key)).unwrap(), m);
    assert!(
        !bytes.windows(16).any(|w| w == m.secret.as_slice()),
        "the secret of a keyed state is not written"
    );
    assert_eq!(
        Manifest::decode(&bytes, Some(&[8u8; 32])),
        Err(DamageReason::Mac)
    );
    assert_eq!(Manifest::decode(&bytes, None), Err(DamageReason::KeyNeeded));
    // An attacker rewrites the manifest unkeyed: refused when the app gives its key.
    let unkeyed = m.encode(None);
    assert_eq!(
        Manifest::decode(&unkeyed, Some(&key)),
        Err(DamageReason::NotKeyed)
    );
    // An attacker edits one byte of the body and recomputes a SHA-256 trailer.
    let mut edited = bytes.clone();
    let body = edited.len() - 32;
    edited[body - 1] ^= 1;
    let digest: [u8; 32] = Sha256::digest(&edited[..body]).into();
    edited[body..].copy_from_slice(&digest);
    assert_eq!(
        Manifest::decode(&edited, Some(&key)),
        Err(DamageReason::Mac)
    );
}

#[test]
fn state_1_1_values_no_writer_produces_are_refused_even_with_a_good_checksum() {
    let m = manifest();
    let plain = m.encode(None);
    assert_eq!(
        Manifest::decode(&resealed(&m, |b| b[8] = 1), None),
        Err(DamageReason::Version(1))
    );
    assert_eq!(
        Manifest::decode(&resealed(&m, |b| b[10] = 2), None),
        Err(DamageReason::Invalid("flags"))
    );
    // report_type_when_missing (offset 52) outside 0..=5.
    assert_eq!(plain[52], 1);
    assert_eq!(
        Manifest::decode(&resealed(&m, |b| b[52] = 6), None),
        Err(DamageReason::Invalid("report type"))
    );
    // match_revoked (offset 49) neither 0 nor 1.
    assert_eq!(
        Manifest::decode(&resealed(&m, |b| b[49] = 2), None),
        Err(DamageReason::Invalid("match_revoked"))
    );
    // A huge count of log days: refused before anything is allocated.
    assert_eq!(
        Manifest::decode(
            &resealed(&m, |b| b[65..69].copy_from_slice(&[0xFF; 4])),
            None
        ),
        Err(DamageReason::Truncated)
    );
    // Bytes after the structure.
    assert_eq!(
        Manifest::decode(&resealed(&m, |b| b.push(0)), None),
        Err(DamageReason::Trailing)
    );
}

#[test]
fn state_1_2_a_segment_is_a_header_and_sorted_entries() {
    let mut bytes = segment_header(2).to_vec();
    bytes.extend_from_slice(&[1; ENTRY]);
    bytes.extend_from_slice(&[2; ENTRY]);
    assert_eq!(check_segment(&bytes), Ok(2));
    let mut swapped = segment_header(2).to_vec();
    swapped.extend_from_slice(&[2; ENTRY]);
    swapped.extend_from_slice(&[1; ENTRY]);
    assert_eq!(check_segment(&swapped), Err(DamageReason::Order));
    assert_eq!(
        check_segment(&bytes[..bytes.len() - 1]),
        Err(DamageReason::Truncated)
    );
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(check_segment(&longer), Err(DamageReason::Trailing));
    assert_eq!(check_segment(b"BZCHECK"), Err(DamageReason::Truncated));
    assert_eq!(check_segment(&[0; 18]), Err(DamageReason::Magic));
}
