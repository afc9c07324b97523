//! Firmware-style advertiser: derive the identifiers of one key and build each interval's
//! 31-byte advertising payload with no allocator, as a Cortex-M beacon would.
//!
//! Run: `cargo run --example advertiser`. On a device, `generate_with_rng` takes the
//! hardware TRNG; here a seeded generator stands in so the output is reproducible.
#![allow(clippy::expect_used, reason = "an example stops on the impossible")]

use bluezone::ble::gaen::DEFAULT_FLAGS;
use bluezone::gaen::{Metadata, RollingProximityIdentifier, TemporaryExposureKey};
use bluezone::hex::Hex;
use bluezone::{EnIntervalNumber, ExposureNotificationAdvertisement, RollingWindow};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

fn main() {
    // 2020-08-08T00:00:00Z; a real device reads its RTC here.
    let now = EnIntervalNumber::from_unix_seconds(1_596_844_800).expect("a 2020 date is in range");
    let window = RollingWindow::day_of(now);
    let mut trng = ChaCha20Rng::seed_from_u64(0xB1E);
    let tek = TemporaryExposureKey::generate_with_rng(&mut trng, window);

    // Everything below uses fixed-size stack buffers only.
    let rpik = tek.rolling_proximity_identifier_key();
    let aemk = tek.associated_encrypted_metadata_key();
    let metadata = Metadata::v1_0(-15);
    let mut identifiers = [RollingProximityIdentifier::default(); 144];
    let identifiers = rpik.window_identifiers(window, &mut identifiers);

    for (interval, rpi) in window.intervals().zip(identifiers).take(6) {
        let aem = aemk.encrypt(rpi, metadata);
        let payload: [u8; 31] =
            ExposureNotificationAdvertisement::new(*rpi, aem).encode(DEFAULT_FLAGS);
        // Hand `payload` to the radio and rotate the random address with it.
        println!("interval {interval}: {}", Hex(&payload));
    }
    println!(
        "... {} advertisements in all for this key",
        identifiers.len()
    );
}
