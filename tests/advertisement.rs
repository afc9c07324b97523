//! Properties of the advertisement codec over arbitrary and mutated payloads.
#![cfg(all(feature = "json", feature = "export"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]

#[path = "../fuzz/checks.rs"]
mod checks;

use bluezone::ble::ExposureNotificationAdvertisement;
use bluezone::gaen::{AssociatedEncryptedMetadata, RollingProximityIdentifier};
use proptest::prelude::*;

fn valid_payload() -> [u8; 31] {
    ExposureNotificationAdvertisement::new(
        RollingProximityIdentifier::from_bytes([0xAB; 16]),
        AssociatedEncryptedMetadata::from_bytes([1, 2, 3, 4]),
    )
    .encode(0x1A)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// Random bytes of every length from 0 to 64 never panic, and what is accepted re-encodes.
    #[test]
    fn random_payloads_never_panic(data in prop::collection::vec(any::<u8>(), 0..=64)) {
        checks::advertisement(&data);
    }

    /// A valid payload cut or extended to every length from 0 to 64, with one byte changed.
    #[test]
    fn mutated_payloads_never_panic(
        len in 0usize..=64,
        fill in any::<u8>(),
        position in 0usize..64,
        value in any::<u8>(),
    ) {
        let mut data = valid_payload().to_vec();
        data.resize(len, fill);
        if let Some(byte) = data.get_mut(position) {
            *byte = value;
        }
        checks::advertisement(&data);
    }

    /// Encoding then parsing returns what was encoded, for every flags byte.
    #[test]
    fn encode_then_parse(rpi in any::<[u8; 16]>(), aem in any::<[u8; 4]>(), flags in any::<u8>()) {
        let advertisement = ExposureNotificationAdvertisement::new(
            RollingProximityIdentifier::from_bytes(rpi),
            AssociatedEncryptedMetadata::from_bytes(aem),
        );
        let parsed = ExposureNotificationAdvertisement::parse(&advertisement.encode(flags)).unwrap();
        prop_assert_eq!(parsed.advertisement, advertisement);
        prop_assert_eq!(parsed.flags, Some(flags));
        let alone = ExposureNotificationAdvertisement::parse_service_data(&advertisement.service_data());
        prop_assert_eq!(alone, Ok(advertisement));
    }
}

/// Every proper prefix of a valid payload is refused, and every extension past 31 bytes too.
#[test]
/// Checks spec §adv.1, §adv.3.
fn every_truncation_and_extension_is_refused() {
    let payload = valid_payload();
    for len in 0..payload.len() {
        let error = ExposureNotificationAdvertisement::parse(&payload[..len]).unwrap_err();
        assert!(
            ["truncated", "missing-service-data"].contains(&error.class()),
            "{len}: {error}"
        );
    }
    for extra in 1..=33 {
        let mut long = payload.to_vec();
        long.resize(31 + extra, 0);
        assert_eq!(
            ExposureNotificationAdvertisement::parse(&long)
                .unwrap_err()
                .class(),
            "too-long"
        );
    }
}
