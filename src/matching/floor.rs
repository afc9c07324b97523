//! The crypto floor and the limit of the matcher, for the `bluezone bench match` tool and the
//! benches (see `BENCHMARKING.md`): they reach the matcher's private key schedule, so they live
//! here, and are reachable only through the hidden `matching::__bench`. Beside them, the
//! hostile-copies workload that `bluezone bench copies` times and the matcher's own test counts.

use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};

use super::engine::{PADDED, padded_len};
use super::hkdf::KeySchedule;
use super::kernels::LANES;
use crate::gaen::{DiagnosisKey, RPIK_INFO, padded_data};

/// The crypto floor: for every key, the RPIK (with the precomputed salt) and all its
/// identifiers in batches, and nothing else. Returns a checksum so the work is not optimised
/// away.
#[must_use]
pub fn crypto_floor(keys: &[DiagnosisKey]) -> u8 {
    let schedule = KeySchedule::new();
    let mut blocks = [Array::<u8, aes::cipher::consts::U16>::default(); 144];
    let mut checksum = 0u8;
    for key in keys {
        let rpik = schedule.prk(&key.key_data).expand16(RPIK_INFO);
        let cipher = aes::Aes128Enc::new(&Array::from(rpik));
        // A period is at most 144, the buffer's length.
        let (blocks, _) = blocks.split_at_mut(key.window.period().get() as usize);
        for (block, interval) in blocks.iter_mut().zip(key.window.intervals()) {
            *block = Array::from(padded_data(interval));
        }
        cipher.encrypt_blocks(blocks);
        checksum ^= blocks.iter().fold(0, |acc, b| acc ^ b.0[0]);
    }
    checksum
}

/// The limit: the crypto the production matcher cannot avoid, done its way and nothing else.
/// The RPIKs of four keys at a time through the SHA-256 kernels (spec §match.4.1), then each
/// key's identifiers in one AES call from a prefilled template, rounded up to the backend's
/// width as the matcher rounds them.
/// No filter, no probe, no sort. Returns a checksum so the work is not optimised away.
#[must_use]
pub fn multi_key_limit(keys: &[DiagnosisKey]) -> u8 {
    type Block = Array<u8, aes::cipher::consts::U16>;
    let schedule = KeySchedule::new();
    let template = Array::from(padded_data(crate::time::EnIntervalNumber::new(0)));
    let width = super::engine::aes_width();
    let mut plain = [template; PADDED];
    let mut blocks = [Block::default(); PADDED];
    let mut checksum = 0u8;
    for group in keys.chunks(LANES) {
        let mut key_data = [[0u8; 16]; LANES];
        for (data, key) in key_data.iter_mut().zip(group) {
            *data = key.key_data;
        }
        let rpiks = schedule.rpiks(&key_data);
        for (key, rpik) in group.iter().zip(&rpiks) {
            let cipher = aes::Aes128Enc::new(&Array::from(*rpik));
            let n = key.window.period().get() as usize;
            let padded = padded_len(n, width);
            let (Some(plain), Some(blocks)) = (plain.get_mut(..padded), blocks.get_mut(..padded))
            else {
                continue;
            };
            for (block, interval) in plain.iter_mut().zip(key.window.intervals()) {
                if let Some(number) = block.get_mut(12..) {
                    number.copy_from_slice(&interval.get().to_le_bytes());
                }
            }
            if cipher.encrypt_blocks_b2b(plain, blocks).is_ok() {
                checksum ^= blocks.iter().take(n).fold(0, |acc, b| acc ^ b.0[0]);
            }
        }
    }
    checksum
}

/// The third audit's hostile file (finding A6; spec §sec.11) around the key `key_data` of the
/// day that starts at interval `start`: ten sightings of the key in every interval of its day
/// (RSSI −40 dBm, TX power 8 dBm: 48 dB), and the key under every start from 155 intervals
/// before its own to 12 after and every period, 24 192 keys, its own window last so that every
/// other window comes first. `None` when a window would leave the interval range.
#[must_use]
pub fn hostile_copies(
    key_data: [u8; 16],
    start: u32,
) -> Option<(
    alloc::vec::Vec<crate::encounter::GaenSighting>,
    alloc::vec::Vec<DiagnosisKey>,
)> {
    use crate::encounter::GaenSighting;
    use crate::gaen::Metadata;
    use crate::time::{EnIntervalNumber, RollingPeriod, RollingWindow};
    let under = |s: u32, p: u32| {
        let window = RollingWindow::new(EnIntervalNumber::new(s), RollingPeriod::new(p).ok()?);
        Some(DiagnosisKey::new(key_data, window.ok()?))
    };
    let key = under(start, 144)?;
    let (rpik, aemk) = (
        key.rolling_proximity_identifier_key(),
        key.associated_encrypted_metadata_key(),
    );
    let mut sightings = alloc::vec::Vec::with_capacity(1440);
    for j in start..start.checked_add(144)? {
        let interval = EnIntervalNumber::new(j);
        let rpi = rpik.identifier(interval);
        let aem = aemk.encrypt(&rpi, Metadata::v1_0(8));
        for m in 0..10 {
            sightings.push(GaenSighting {
                unix_seconds: interval.start_unix_seconds() + 30 + 55 * m,
                rpi,
                aem,
                rssi: -40,
                previous_scan_unix_seconds: 0,
            });
        }
    }
    let mut copies = alloc::vec::Vec::with_capacity(168 * 144);
    for s in start.checked_sub(155)?..=start.checked_add(12)? {
        for p in 1..=144 {
            if (s, p) != (start, 144) {
                copies.push(under(s, p)?);
            }
        }
    }
    copies.push(key);
    Some((sightings, copies))
}
