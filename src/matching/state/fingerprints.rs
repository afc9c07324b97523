//! The state's keyed hashes (spec §state.1.2, §state.1.3, §state.2.1): its secret, the
//! fingerprints of checked keys, the hashes that bind the log, and the HMAC of a keyed state.
//! Each is a MAC under the state's secret, so that whoever can write the folder but does not
//! hold the secret cannot choose what collides.

use std::vec::Vec;

use aes::Aes128Enc;
use aes::cipher::{Array, BlockCipherEncrypt};
use hmac::{KeyInit, Mac};
use sha2::Sha256;

use crate::encounter::GaenSighting;
use crate::gaen::DiagnosisKey;

/// A fresh secret for a state without a key, from the process's random hash seeds.
pub(super) fn random_secret() -> [u8; 16] {
    use core::hash::BuildHasher;
    let seeds = std::collections::hash_map::RandomState::new();
    let mut secret = [0u8; 16];
    for (n, chunk) in (0u64..).zip(secret.chunks_exact_mut(8)) {
        chunk.copy_from_slice(&seeds.hash_one(n).to_le_bytes());
    }
    secret
}

/// The fingerprint secret of a state authenticated with `key`: HMAC-SHA256 of a fixed label
/// under the key, first 16 bytes (§state.1.3). Not written anywhere: whoever can write the
/// folder but does not hold the key cannot compute fingerprints.
pub(crate) fn secret_from_key(key: &[u8; 32]) -> [u8; 16] {
    let tag = hmac_sha256(key, b"bluezone state fingerprint secret");
    let mut secret = [0u8; 16];
    for (s, t) in secret.iter_mut().zip(tag) {
        *s = t;
    }
    secret
}

/// HMAC-SHA256 of `message` under the state key.
pub(super) fn hmac_sha256(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// The two-block CBC-MAC of the fingerprints (§state.1.2) and the log's sighting hashes
/// (§state.2.1) under the state's secret, `AES(AES(first) ⊕ second)`, over many items: the
/// blocks are encrypted 64 at a time, as the AES backends pipeline them.
pub(super) fn two_block_macs<T>(
    cipher: &Aes128Enc,
    items: &[T],
    first: impl Fn(&T) -> [u8; 16],
    second: impl Fn(&T) -> [u8; 16],
    mut out: impl FnMut([u8; 16]),
) {
    let mut batch = [Array::default(); 64];
    for chunk in items.chunks(64) {
        let (batch, _) = batch.split_at_mut(chunk.len());
        for (block, item) in batch.iter_mut().zip(chunk) {
            *block = Array::from(first(item));
        }
        cipher.encrypt_blocks(batch);
        for (block, item) in batch.iter_mut().zip(chunk) {
            for (b, x) in block.iter_mut().zip(second(item)) {
                *b ^= x;
            }
        }
        cipher.encrypt_blocks(batch);
        for block in batch.iter() {
            out((*block).into());
        }
    }
}

/// The fingerprint of a key's bytes and window under the state's secret (spec §state.1.2):
/// AES-128 over the key bytes, XOR the window, AES-128 again; the first 12 bytes.
pub(super) fn fingerprint(cipher: &Aes128Enc, key: &DiagnosisKey) -> [u8; 12] {
    let mut out = [[0u8; 12]];
    fingerprints_into(cipher, core::slice::from_ref(key), &mut out);
    out[0]
}

/// [`fingerprint`] of many keys, their AES blocks encrypted together (the backends pipeline
/// several blocks at once).
pub(super) fn fingerprints_into(cipher: &Aes128Enc, keys: &[DiagnosisKey], out: &mut [[u8; 12]]) {
    let mut out = out.iter_mut();
    two_block_macs(
        cipher,
        keys,
        |key| key.key_data,
        |key| {
            let mut window = [0u8; 16];
            window[..4].copy_from_slice(&key.window.start().get().to_le_bytes());
            window[4..8].copy_from_slice(&key.window.period().get().to_le_bytes());
            window
        },
        |mac| {
            if let (Some(o), Some(head)) = (out.next(), mac.first_chunk()) {
                *o = *head;
            }
        },
    );
}

/// The keyed hash of every sighting of the log, in its order (spec §state.2.1): a two-block
/// CBC-MAC under the state's secret, of the identifier, then the time, AEM and RSSI; the first
/// 8 bytes. A run hashes its log once, to compare it and to record it.
pub(super) fn hash_log(cipher: &Aes128Enc, sightings: &[GaenSighting]) -> Vec<u64> {
    let mut out = Vec::with_capacity(sightings.len());
    two_block_macs(
        cipher,
        sightings,
        |s| s.rpi.to_bytes(),
        |s| {
            let mut second = [0u8; 16];
            second[..8].copy_from_slice(&s.unix_seconds.to_le_bytes());
            second[8..12].copy_from_slice(&s.aem.to_bytes());
            second[12..13].copy_from_slice(&s.rssi.to_le_bytes());
            second[15] = 1;
            second
        },
        |mac| {
            if let Some(first) = mac.first_chunk() {
                out.push(u64::from_le_bytes(*first));
            }
        },
    );
    out
}
