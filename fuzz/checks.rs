//! The properties the fuzz targets check, shared with `tests/fuzz_corpus.rs`, which replays the
//! committed seed corpus through the same functions on every `cargo test`.
//!
//! Each function must never panic on any input except through a failed assertion.

#![allow(
    clippy::expect_used,
    reason = "a fuzz check reports a broken property by panicking"
)]

use bluezone::ble::gaen::{DEFAULT_FLAGS, SERVICE_DATA_LEN};
use bluezone::ble::{AdStructures, ExposureNotificationAdvertisement, LEGACY_PAYLOAD_MAX};

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
