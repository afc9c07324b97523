//! Properties of the key schedule: the batch generator against one-at-a-time derivation, and
//! metadata encryption against its inverse.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]

use bluezone::gaen::{Metadata, RollingProximityIdentifier, TemporaryExposureKey};
use bluezone::{EnIntervalNumber, RollingPeriod, RollingWindow, TimeError};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

proptest! {
    /// Any window, aligned or not, up to the last interval a u32 can name.
    #[test]
    fn batch_equals_single(key in any::<[u8; 16]>(), start in any::<u32>(), period in 1u32..=144) {
        let period = RollingPeriod::new(period).unwrap();
        let Ok(window) = RollingWindow::new(EnIntervalNumber::new(start), period) else {
            prop_assert!(start.checked_add(period.get() - 1).is_none());
            return Ok(());
        };
        let rpik = TemporaryExposureKey::from_bytes(key, window).rolling_proximity_identifier_key();
        let mut buffer = [RollingProximityIdentifier::default(); 144];
        let batch = rpik.window_identifiers(window, &mut buffer);
        prop_assert_eq!(batch.len() as u32, period.get());
        for (interval, rpi) in window.intervals().zip(batch) {
            prop_assert_eq!(*rpi, rpik.identifier(interval));
        }
    }

    /// Buffers of any length, refused exactly when they would run past interval 0xFFFFFFFF.
    #[test]
    fn identifiers_into_checks_the_end(key in any::<[u8; 16]>(), from_end in 0u32..300, len in 0usize..300) {
        let first = EnIntervalNumber::new(u32::MAX - from_end);
        let window = RollingWindow::day_of(first);
        let rpik = TemporaryExposureKey::from_bytes(key, window).rolling_proximity_identifier_key();
        let mut out = vec![RollingProximityIdentifier::default(); len];
        let result = rpik.identifiers_into(first, &mut out);
        if len as u64 <= u64::from(from_end) + 1 {
            prop_assert_eq!(result, Ok(()));
            if let Some(last) = out.last() {
                let last_interval = first.checked_add(len as u32 - 1).unwrap();
                prop_assert_eq!(*last, rpik.identifier(last_interval));
            }
        } else {
            let refused = matches!(result, Err(TimeError::WindowOverflow { .. }));
            prop_assert!(refused);
        }
    }

    /// Decrypting an encrypted metadata block returns it, reserved bits included.
    #[test]
    fn metadata_round_trips(key in any::<[u8; 16]>(), rpi in any::<[u8; 16]>(), metadata in any::<[u8; 4]>()) {
        let window = RollingWindow::day_of(EnIntervalNumber::new(2_650_000));
        let aemk = TemporaryExposureKey::from_bytes(key, window).associated_encrypted_metadata_key();
        let rpi = RollingProximityIdentifier::from_bytes(rpi);
        let metadata = Metadata::from_bytes(metadata);
        prop_assert_eq!(aemk.decrypt(&rpi, aemk.encrypt(&rpi, metadata)), metadata);
    }
}

#[test]
/// Checks spec §sec.2, §gaen.2.
fn keys_from_a_seeded_rng_are_reproducible_and_distinct() {
    let window = RollingWindow::day_of(EnIntervalNumber::new(2_650_000));
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let first = TemporaryExposureKey::generate_with_rng(&mut rng, window);
    let second = TemporaryExposureKey::generate_with_rng(&mut rng, window);
    assert_ne!(first, second);
    let again = TemporaryExposureKey::generate_with_rng(&mut ChaCha20Rng::seed_from_u64(7), window);
    assert_eq!(first, again);
    assert_eq!(first.window(), window);
}
