//! The wristband firmware's test: Google's official vectors, then the no-allocator matcher on
//! two days of a wristband's log, held to the outcome the library's main matcher gives the same
//! data (computed by `build.rs`), with the instructions each key costs. Run by `run.sh` under
//! `qemu-system-arm -M mps2-an386 -icount shift=0`; it prints `N passed, M failed`.

#![no_std]
#![no_main]

use bluezone::encounter::GaenSighting;
use bluezone::gaen::{
    AssociatedEncryptedMetadata, DiagnosisKey, Metadata, ReportType, RollingProximityIdentifier,
    TemporaryExposureKey,
};
use bluezone::matching::{BandLog, BandMatcher, BandOutcome, MatchConfig, StoredKey};
use bluezone::{EnIntervalNumber, ExposureNotificationAdvertisement, RollingPeriod, RollingWindow};
use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};

/// One official vector.
struct Official {
    tek: [u8; 16],
    start: u32,
    interval: u32,
    rpi: [u8; 16],
    metadata: [u8; 4],
    aem: [u8; 4],
    advertisement: [u8; 31],
}

/// (Unix seconds, RPI, AEM, RSSI, previous scan).
type Sighting = (u64, [u8; 16], [u8; 4], i8, u64);
/// (key bytes, rolling start, rolling period, transmission risk level).
type Key = ([u8; 16], u32, u32, u8);

/// What the main matcher gives a day.
struct Expected {
    keys_total: u64,
    keys_matched: u64,
    transitions: u64,
    /// outside tolerance, replayed, TX power, report type, duplicates, invalid transitions.
    rejected: [u64; 6],
    /// (key bytes, sightings, checksum of the sightings).
    matches: &'static [([u8; 16], usize, u64)],
}

include!(concat!(env!("OUT_DIR"), "/data.rs"));

struct Tally {
    passed: u32,
    failed: u32,
}

impl Tally {
    fn check(&mut self, ok: bool, what: &str) {
        if ok {
            self.passed += 1;
        } else {
            self.failed += 1;
            hprintln!("FAILED: {}", what);
        }
    }
}

fn key(k: &Key) -> DiagnosisKey {
    let start = EnIntervalNumber::new(k.1);
    let window = RollingPeriod::new(k.2)
        .and_then(|period| RollingWindow::new(start, period))
        .unwrap_or(RollingWindow::day_of(start));
    let mut key = DiagnosisKey::new(k.0, window);
    key.transmission_risk_level = k.3;
    key.report_type = ReportType::ConfirmedTest;
    key
}

fn official(tally: &mut Tally) {
    for v in &OFFICIAL {
        let tek = TemporaryExposureKey::from_bytes(
            v.tek,
            RollingWindow::day_of(EnIntervalNumber::new(v.start)),
        );
        let rpi = tek
            .rolling_proximity_identifier_key()
            .identifier(EnIntervalNumber::new(v.interval));
        tally.check(rpi.to_bytes() == v.rpi, "official RPI");
        let aem = tek
            .associated_encrypted_metadata_key()
            .encrypt(&rpi, Metadata::from_bytes(v.metadata));
        tally.check(aem.to_bytes() == v.aem, "official AEM");
        let payload = ExposureNotificationAdvertisement::new(rpi, aem).encode(0x1a);
        tally.check(payload == v.advertisement, "official advertisement");
    }
}

/// Runs 2 000 002 instructions: 1 000 001 iterations of `subs` and `bne`. Its own loop, not
/// `cortex_m::asm::delay`, whose iterations per cycle asked for changed between releases (0.7.10
/// runs `cycles + 1` of them), which once made every count here half the true one. The C
/// firmware (`c/main.c`) runs the same loop.
fn two_million_instructions() {
    // SAFETY: a countdown in one register: no memory, no stack, and the flags it sets are
    // declared clobbered by default.
    unsafe {
        core::arch::asm!(
            "2:",
            "subs {0}, #1",
            "bne 2b",
            inout(reg) 1_000_001u32 => _,
            options(nomem, nostack)
        );
    }
}

/// SysTick ticks since `start` (it counts down, 24 bits).
fn ticks_since(start: u32) -> u32 {
    start.wrapping_sub(SYST::get_current()) & 0x00FF_FFFF
}

/// Runs every key against one day's log and checks the outcome; returns the SysTick ticks
/// the keys took and the bytes of stack the matcher used beyond the caller's frame.
fn day<const N: usize>(
    tally: &mut Tally,
    name: &str,
    data: &[Sighting; N],
    expected: &Expected,
) -> (u32, usize) {
    let mut buffer = [GaenSighting {
        unix_seconds: 0,
        rpi: RollingProximityIdentifier::default(),
        aem: AssociatedEncryptedMetadata::default(),
        rssi: 0,
        previous_scan_unix_seconds: 0,
    }; N];
    for (slot, s) in buffer.iter_mut().zip(data) {
        *slot = GaenSighting {
            unix_seconds: s.0,
            rpi: RollingProximityIdentifier::from_bytes(s.1),
            aem: AssociatedEncryptedMetadata::from_bytes(s.2),
            rssi: s.3,
            previous_scan_unix_seconds: s.4,
        };
    }
    let mut table = [StoredKey::default(); 16];
    let mut matcher = BandMatcher::new(
        BandLog::new(&mut buffer),
        MatchConfig::default(),
        &mut table,
    );
    let mut found = [([0u8; 16], 0usize, 0u64); 16];
    let mut matched = 0;
    let painted = paint_stack();
    let start = SYST::get_current();
    for k in &KEYS {
        let key = key(k);
        let (mut count, mut checksum) = (0usize, 0u64);
        let outcome = matcher.check(&key, |s| {
            count += 1;
            checksum +=
                s.unix_seconds + u64::from(s.attenuation) + u64::from(s.en_interval_number.get());
        });
        if let (Ok(BandOutcome::Matched { .. }), Some(slot)) = (outcome, found.get_mut(matched)) {
            *slot = (key.key_data, count, checksum);
            matched += 1;
        }
        tally.check(outcome.is_ok(), name);
    }
    let ticks = ticks_since(start);
    let stack = stack_used(painted);
    let c = matcher.counts();
    let r = &c.rejected;
    tally.check(c.keys_total == expected.keys_total, name);
    tally.check(c.keys_matched == expected.keys_matched, name);
    tally.check(c.report_type_transitions == expected.transitions, name);
    tally.check(
        [
            r.outside_tolerance,
            r.replayed,
            r.tx_power_out_of_range,
            r.report_type_keys,
            r.duplicate_keys,
            r.invalid_transitions,
        ] == expected.rejected,
        name,
    );
    tally.check(matched == expected.matches.len() && matched > 0, name);
    for m in expected.matches {
        let same = found.iter().take(matched).any(|f| f == m);
        tally.check(same, name);
    }
    (ticks, stack)
}

/// Bytes painted below the stack pointer to find how deep the matcher goes.
const PAINT: usize = 16 * 1024;
const PATTERN: u32 = 0xA5A5_5A5A;

/// Paints the `PAINT` bytes below the stack pointer; returns the painted range's top.
fn paint_stack() -> usize {
    let top = cortex_m::register::msp::read() as usize - 64;
    let bottom = top - PAINT;
    for address in (bottom..top).step_by(4) {
        // SAFETY: below the stack pointer, in the board's RAM, not in use by any frame yet.
        unsafe { core::ptr::write_volatile(address as *mut u32, PATTERN) };
    }
    top
}

/// How many bytes below `top` were written since `paint_stack`.
fn stack_used(top: usize) -> usize {
    let bottom = top - PAINT;
    let untouched = (bottom..top)
        .step_by(4)
        // SAFETY: the same painted range, read back.
        .take_while(
            |&address| unsafe { core::ptr::read_volatile(address as *const u32) } == PATTERN,
        )
        .count();
    PAINT - untouched * 4 + 64
}

#[entry]
fn main() -> ! {
    let mut tally = Tally {
        passed: 0,
        failed: 0,
    };
    let Some(mut peripherals) = cortex_m::Peripherals::take() else {
        hprintln!("no peripherals");
        debug::exit(debug::EXIT_FAILURE);
        halt()
    };
    let syst = &mut peripherals.SYST;
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(0x00FF_FFFF);
    syst.clear_current();
    syst.enable_counter();
    // Instructions per SysTick tick: QEMU's virtual clock counts one nanosecond per instruction
    // (-icount shift=0), and `two_million_instructions` runs a known number of them.
    let start = SYST::get_current();
    two_million_instructions();
    let calibration = ticks_since(start).max(1);

    official(&mut tally);
    let (sparse, sparse_stack) = day(&mut tally, "sparse day", &SPARSE, &SPARSE_EXPECTED);
    let (full, full_stack) = day(&mut tally, "full day", &FULL, &FULL_EXPECTED);
    let per_key =
        |ticks: u32| u64::from(ticks) * 2_000_000 / u64::from(calibration) / KEYS.len() as u64;
    hprintln!("{} passed, {} failed", tally.passed, tally.failed);
    hprintln!(
        "instructions per key: full day {}, sparse day {}",
        per_key(full),
        per_key(sparse)
    );
    hprintln!(
        "sightings: full day {}, sparse day {}; keys {}; matcher stack: {} bytes; the caller's log: {} bytes a sighting, table: {} bytes a matched key",
        FULL.len(),
        SPARSE.len(),
        KEYS.len(),
        full_stack.max(sparse_stack),
        core::mem::size_of::<GaenSighting>(),
        core::mem::size_of::<StoredKey>()
    );
    debug::exit(if tally.failed == 0 {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    halt()
}

/// After the exit request (which QEMU honours at once).
fn halt() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    hprintln!("panic: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    halt()
}
