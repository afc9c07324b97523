//! The crypto floor and the limit of the matcher, for the `bluezone bench match` tool and the
//! benches (see `BENCHMARKING.md`): they reach the matcher's private key schedule, so they live
//! here, and are reachable only through the hidden `matching::__bench`.

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
        let blocks = blocks
            .get_mut(..key.window.period().get() as usize)
            .unwrap_or_default();
        for (block, interval) in blocks.iter_mut().zip(key.window.intervals()) {
            *block = Array::from(padded_data(interval));
        }
        cipher.encrypt_blocks(blocks);
        checksum ^= blocks
            .iter()
            .fold(0, |acc, b| acc ^ b.first().copied().unwrap_or(0));
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
                checksum ^= blocks
                    .iter()
                    .take(n)
                    .fold(0, |acc, b| acc ^ b.first().copied().unwrap_or(0));
            }
        }
    }
    checksum
}
