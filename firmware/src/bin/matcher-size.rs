//! The matcher alone, for its size: a log and keys the compiler cannot see through
//! (`black_box`), matched one key at a time, so that everything the matcher needs is linked
//! and nothing else. `run.sh` measures it with `arm-none-eabi-size`.

#![no_std]
#![no_main]

use core::hint::black_box;

use bluezone::encounter::GaenSighting;
use bluezone::gaen::{AssociatedEncryptedMetadata, DiagnosisKey, RollingProximityIdentifier};
use bluezone::matching::{BandLog, BandMatcher, MatchConfig, StoredKey};
use bluezone::{EnIntervalNumber, RollingWindow};
use cortex_m_rt::entry;

#[entry]
fn main() -> ! {
    let sighting = GaenSighting {
        unix_seconds: black_box(1_614_556_800),
        rpi: RollingProximityIdentifier::from_bytes(black_box([1; 16])),
        aem: AssociatedEncryptedMetadata::from_bytes(black_box([2; 4])),
        rssi: black_box(-60),
        previous_scan_unix_seconds: 0,
    };
    let mut log = [sighting; 8];
    let mut table = [StoredKey::default(); 8];
    let mut matcher = BandMatcher::new(BandLog::new(&mut log), MatchConfig::default(), &mut table);
    loop {
        let window = RollingWindow::day_of(EnIntervalNumber::new(black_box(2_690_928)));
        let key = DiagnosisKey::new(black_box([3; 16]), window);
        let _ = black_box(matcher.check(&key, |s| {
            black_box(s);
        }));
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
