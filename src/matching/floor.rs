//! The crypto floor of the matcher, for the `bluezone bench match` tool and the benches (see
//! `BENCHMARKING.md`): it reaches the matcher's private key schedule, so it lives here, and is
//! reachable only through the hidden `matching::__bench`.

use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};

use super::hkdf::KeySchedule;
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
