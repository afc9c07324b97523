//! HKDF-SHA256 for the key schedule with the fixed salt's work done once (spec §match.4).
//!
//! `HKDF(IKM = key, salt = none, info, L = 16)` is `HMAC(PRK, info ‖ 01)[0..16]` with
//! `PRK = HMAC(0x00 × 32, key)`. The HMAC key of the extract step is always 32 zero bytes, so
//! the compressions of its two pad blocks are constants: computed once, they leave 6 SHA-256
//! compressions per key instead of 8. The AEMK reuses the PRK and its pad states, so once the
//! RPIK is known it costs 2 more.
//!
//! [`KeySchedule::rpiks`] derives the RPIKs of [`LANES`] keys together: each of the 6 steps
//! runs for every key at once through a kernel of `super::kernels` (spec §match.4.1).

use sha2::block_api::compress256;

#[cfg(feature = "alloc")]
use super::kernels::{LANES, Path};
#[cfg(feature = "alloc")]
use crate::gaen::RPIK_INFO;

const IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

fn state_after(block: &[u8; 64]) -> [u32; 8] {
    let mut state = IV;
    compress256(&mut state, core::slice::from_ref(block));
    state
}

fn digest_bytes(state: &[u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// One final block: `message` (at most 55 bytes) after `prefix_len` bytes already hashed,
/// padded as SHA-256 requires.
fn final_block(message: &[u8], prefix_len: u64) -> [u8; 64] {
    let mut block = [0u8; 64];
    let (head, _) = block.split_at_mut(message.len());
    head.copy_from_slice(message);
    if let Some(b) = block.get_mut(message.len()) {
        *b = 0x80;
    }
    let bits = (prefix_len + message.len() as u64) * 8;
    if let Some(tail) = block.get_mut(56..) {
        tail.copy_from_slice(&bits.to_be_bytes());
    }
    block
}

fn compress_final(mut state: [u32; 8], message: &[u8]) -> [u8; 32] {
    compress256(&mut state, &[final_block(message, 64)]);
    digest_bytes(&state)
}

fn pad_block(key: &[u8; 32], pad: u8) -> [u8; 64] {
    let mut block = [pad; 64];
    for (b, k) in block.iter_mut().zip(key) {
        *b ^= k;
    }
    block
}

/// HMAC-SHA256 pad states of a 32-byte key.
#[derive(Clone, Copy)]
struct HmacKey {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl HmacKey {
    fn new(key: &[u8; 32]) -> Self {
        Self {
            inner: state_after(&pad_block(key, 0x36)),
            outer: state_after(&pad_block(key, 0x5c)),
        }
    }

    /// HMAC of a message of at most 55 bytes: 2 compressions.
    fn mac(&self, message: &[u8]) -> [u8; 32] {
        let inner = compress_final(self.inner, message);
        compress_final(self.outer, &inner)
    }
}

/// The extract step's constant HMAC key, precomputed, and the SHA-256 path this CPU runs.
#[derive(Clone, Copy)]
pub(crate) struct KeySchedule {
    zero_salt: HmacKey,
    /// The multi-key derivation serves the production matcher, which needs `alloc`.
    #[cfg(feature = "alloc")]
    path: Path,
}

/// A diagnosis key's PRK with its HMAC pad states: what both RPIK and AEMK are expanded from.
pub(crate) struct Prk(HmacKey);

impl KeySchedule {
    pub(crate) fn new() -> Self {
        #[cfg(feature = "alloc")]
        return Self::on(Path::detect());
        #[cfg(not(feature = "alloc"))]
        Self {
            zero_salt: HmacKey::new(&[0u8; 32]),
        }
    }

    /// A schedule whose multi-key derivation runs on `path`.
    #[cfg(feature = "alloc")]
    pub(crate) fn on(path: Path) -> Self {
        Self {
            zero_salt: HmacKey::new(&[0u8; 32]),
            path,
        }
    }

    /// The RPIKs of [`LANES`] keys, equal to `prk(key).expand16(RPIK_INFO)` of each: the same 6
    /// compressions, each done for all the keys at once.
    #[cfg(feature = "alloc")]
    pub(crate) fn rpiks(&self, keys: &[[u8; 16]; LANES]) -> [[u8; 16]; LANES] {
        let compress = |states: &mut [[u32; 8]; LANES], blocks: &[[u8; 64]; LANES]| {
            self.path.compress(states, blocks);
        };
        // Extract: PRK = HMAC(0 × 32, key).
        let mut inner = [self.zero_salt.inner; LANES];
        compress(&mut inner, &keys.map(|key| final_block(&key, 64)));
        let mut prk = [self.zero_salt.outer; LANES];
        compress(
            &mut prk,
            &inner.map(|state| final_block(&digest_bytes(&state), 64)),
        );
        let prk = prk.map(|state| digest_bytes(&state));
        // Expand: HMAC(PRK, info ‖ 01), keyed by the PRK's two pad states.
        let mut inner = [IV; LANES];
        compress(&mut inner, &prk.map(|key| pad_block(&key, 0x36)));
        let mut outer = [IV; LANES];
        compress(&mut outer, &prk.map(|key| pad_block(&key, 0x5c)));
        let mut message = [1u8; 8];
        message[..7].copy_from_slice(RPIK_INFO);
        compress(&mut inner, &[final_block(&message, 64); LANES]);
        compress(
            &mut outer,
            &inner.map(|state| final_block(&digest_bytes(&state), 64)),
        );
        outer.map(|state| {
            let mut rpik = [0u8; 16];
            rpik.copy_from_slice(&digest_bytes(&state)[..16]);
            rpik
        })
    }

    /// `PRK = HMAC(0x00 × 32, key)`, and its pad states: 4 compressions.
    pub(crate) fn prk(&self, key: &[u8; 16]) -> Prk {
        Prk(HmacKey::new(&self.zero_salt.mac(key)))
    }
}

impl Prk {
    /// `HMAC(PRK, info ‖ 01)[0..16]`: 2 compressions.
    pub(crate) fn expand16(&self, info: &[u8; 7]) -> [u8; 16] {
        let mut message = [1u8; 8];
        message[..7].copy_from_slice(info);
        let mac = self.0.mac(&message);
        let mut out = [0u8; 16];
        out.copy_from_slice(&mac[..16]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gaen::{AEMK_INFO, RPIK_INFO};
    use proptest::prelude::*;
    use std::string::ToString;

    proptest! {
        #[test]
        fn equals_the_hkdf_crate(key in any::<[u8; 16]>()) {
            let schedule = KeySchedule::new();
            let prk = schedule.prk(&key);
            let rpik = crate::gaen::RollingProximityIdentifierKey::derive(&key);
            let aemk = crate::gaen::AssociatedEncryptedMetadataKey::derive(&key);
            prop_assert_eq!(&prk.expand16(RPIK_INFO), rpik.expose_secret());
            prop_assert_eq!(&prk.expand16(AEMK_INFO), aemk.expose_secret());
        }
    }

    #[cfg(feature = "alloc")]
    proptest! {
        /// Checks spec §match.4.1: on every SHA-256 path this CPU runs, the RPIKs of keys
        /// derived together are those each key gives alone.
        #[test]
        fn match_4_1_keys_derived_together_equal_keys_derived_alone(
            keys in any::<[[u8; 16]; LANES]>(),
        ) {
            for path in Path::available() {
                let schedule = KeySchedule::on(path);
                let alone = keys.map(|key| schedule.prk(&key).expand16(RPIK_INFO));
                prop_assert_eq!(schedule.rpiks(&keys), alone, "{:?}", path);
            }
        }
    }

    #[test]
    fn official_vector() {
        let key: [u8; 16] = crate::hex::decode_array("75c734c6dd1a782de7a965da5eb93125").unwrap();
        let prk = KeySchedule::new().prk(&key);
        assert_eq!(
            crate::hex::Hex(&prk.expand16(RPIK_INFO)).to_string(),
            "185ad91db69ec7dd048960f1f3ba6175"
        );
    }
}
