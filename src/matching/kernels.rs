//! SHA-256 compressions of several independent messages at once (spec §match.4.1): the one
//! module of the library that may use `unsafe`, and only to call a kernel compiled for a CPU
//! feature after detecting that feature at run time.
//!
//! One SHA-256 compression is a chain of 64 dependent rounds, so a single stream leaves the
//! SHA units of a core idle most of the time. The kernels below run the rounds of [`LANES`]
//! independent states interleaved, so the core works on one lane while the others wait on their
//! latencies:
//! - x86-64 with the SHA extensions (`sha`, with SSE4.1), detected with CPUID;
//! - aarch64 with the ARMv8 SHA-256 instructions (`sha2`), detected through the operating
//!   system (Linux, Android and Apple platforms);
//! - everywhere else, and when detection says no, the portable path: the lanes one after
//!   another through `sha2`'s own compression function.
//!
//! The kernels use only intrinsics that take and return values (no pointers), so their bodies
//! are safe code; the one `unsafe` operation is the call from code not compiled for the
//! feature, made only after the detection said the CPU has it. Every kernel is tested against
//! the portable path.

#![allow(unsafe_code)]

use sha2::block_api::compress256;

/// States compressed at once.
pub(crate) const LANES: usize = 4;

/// Proof that run-time detection found the instructions a kernel is compiled for. Its field
/// is private to this module and only [`Path::detect`] makes one, so no code elsewhere in the
/// crate can name a fast path on a CPU without it, safe as that code is.
/// Targets without a fast path (32-bit ARM, RISC-V, ...) have no use for it.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Detected(());

/// A way of compressing [`LANES`] states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Path {
    /// One lane after another through `sha2::block_api::compress256`.
    Portable,
    /// The x86-64 SHA extensions, lanes interleaved.
    #[cfg(target_arch = "x86_64")]
    ShaNi(Detected),
    /// The ARMv8 SHA-256 instructions, lanes interleaved.
    #[cfg(target_arch = "aarch64")]
    Armv8(Detected),
}

#[cfg(target_arch = "x86_64")]
cpufeatures::new!(sha_ni, "sha", "sse2", "ssse3", "sse4.1");
#[cfg(target_arch = "aarch64")]
cpufeatures::new!(armv8_sha2, "sha2");

impl Path {
    /// The fastest path this CPU can run (detected once, then cached).
    pub(crate) fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if sha_ni::get() {
            return Self::ShaNi(Detected(()));
        }
        #[cfg(target_arch = "aarch64")]
        if armv8_sha2::get() {
            return Self::Armv8(Detected(()));
        }
        Self::Portable
    }

    /// Every path this CPU can run, the portable one first (for the tests).
    #[cfg(test)]
    pub(crate) fn available() -> impl Iterator<Item = Self> {
        let detected = Self::detect();
        core::iter::once(Self::Portable).chain((detected != Self::Portable).then_some(detected))
    }

    /// Compresses one 64-byte block into each of the [`LANES`] states.
    #[inline]
    pub(crate) fn compress(self, states: &mut [[u32; 8]; LANES], blocks: &[[u8; 64]; LANES]) {
        match self {
            Self::Portable => {
                for (state, block) in states.iter_mut().zip(blocks) {
                    compress256(state, core::slice::from_ref(block));
                }
            }
            #[cfg(target_arch = "x86_64")]
            // SAFETY: a `ShaNi` holds a `Detected`, which only `detect` makes, when CPUID
            // reports the SHA extensions and SSE2, SSSE3 and SSE4.1, every feature the kernel
            // is compiled for.
            Self::ShaNi(_) => unsafe { x86::compress(states, blocks) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: an `Armv8` holds a `Detected`, which only `detect` makes, when the
            // operating system reports the SHA-256 instructions, the one feature the kernel is
            // compiled for.
            Self::Armv8(_) => unsafe { arm::compress(states, blocks) },
        }
    }
}

/// SHA-256 round constants (FIPS 180-4 §4.2.2).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const K: [u32; 64] = [
    0x428a_2f98,
    0x7137_4491,
    0xb5c0_fbcf,
    0xe9b5_dba5,
    0x3956_c25b,
    0x59f1_11f1,
    0x923f_82a4,
    0xab1c_5ed5,
    0xd807_aa98,
    0x1283_5b01,
    0x2431_85be,
    0x550c_7dc3,
    0x72be_5d74,
    0x80de_b1fe,
    0x9bdc_06a7,
    0xc19b_f174,
    0xe49b_69c1,
    0xefbe_4786,
    0x0fc1_9dc6,
    0x240c_a1cc,
    0x2de9_2c6f,
    0x4a74_84aa,
    0x5cb0_a9dc,
    0x76f9_88da,
    0x983e_5152,
    0xa831_c66d,
    0xb003_27c8,
    0xbf59_7fc7,
    0xc6e0_0bf3,
    0xd5a7_9147,
    0x06ca_6351,
    0x1429_2967,
    0x27b7_0a85,
    0x2e1b_2138,
    0x4d2c_6dfc,
    0x5338_0d13,
    0x650a_7354,
    0x766a_0abb,
    0x81c2_c92e,
    0x9272_2c85,
    0xa2bf_e8a1,
    0xa81a_664b,
    0xc24b_8b70,
    0xc76c_51a3,
    0xd192_e819,
    0xd699_0624,
    0xf40e_3585,
    0x106a_a070,
    0x19a4_c116,
    0x1e37_6c08,
    0x2748_774c,
    0x34b0_bcb5,
    0x391c_0cb3,
    0x4ed8_aa4a,
    0x5b9c_ca4f,
    0x682e_6ff3,
    0x748f_82ee,
    0x78a5_636f,
    0x84c8_7814,
    0x8cc7_0208,
    0x90be_fffa,
    0xa450_6ceb,
    0xbef9_a3f7,
    0xc671_78f2,
];

/// The block's sixteen big-endian message words.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline]
fn words(block: &[u8; 64]) -> [u32; 16] {
    let mut words = [0u32; 16];
    let (chunks, _) = block.as_chunks::<4>();
    for (word, bytes) in words.iter_mut().zip(chunks) {
        *word = u32::from_be_bytes(*bytes);
    }
    words
}

/// The `n`th group of four consecutive entries of `array` (`4n + 4 ≤ N`).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline]
fn four<const N: usize>(array: &[u32; N], n: usize) -> [u32; 4] {
    let (groups, _) = array.as_chunks::<4>();
    debug_assert!(n < groups.len());
    groups.get(n).copied().unwrap_or([0; 4])
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{K, LANES, four, words};
    use core::arch::x86_64::{
        __m128i, _mm_add_epi32, _mm_alignr_epi8, _mm_extract_epi32, _mm_set_epi32,
        _mm_sha256msg1_epu32, _mm_sha256msg2_epu32, _mm_sha256rnds2_epu32, _mm_shuffle_epi32,
    };

    #[inline]
    #[target_feature(enable = "sse2")]
    fn vector([w0, w1, w2, w3]: [u32; 4]) -> __m128i {
        // Lane 0 holds the first word.
        _mm_set_epi32(
            w3.cast_signed(),
            w2.cast_signed(),
            w1.cast_signed(),
            w0.cast_signed(),
        )
    }

    /// SHA-256 of one block into each state; the lanes' rounds are interleaved.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    pub(super) fn compress(states: &mut [[u32; 8]; LANES], blocks: &[[u8; 64]; LANES]) {
        // The SHA extensions hold a state as (a, b, e, f) and (c, d, g, h), lane 3 first.
        let mut abef: [__m128i; LANES] =
            states.map(|[a, b, _, _, e, f, _, _]| vector([f, e, b, a]));
        let mut cdgh: [__m128i; LANES] =
            states.map(|[_, _, c, d, _, _, g, h]| vector([h, g, d, c]));
        let (abef_in, cdgh_in) = (abef, cdgh);
        let mut w: [[__m128i; 4]; LANES] = blocks.each_ref().map(|block| {
            let words = words(block);
            core::array::from_fn(|i| vector(four(&words, i)))
        });
        for group in 0..16 {
            let k = vector(four(&K, group));
            for ((abef, cdgh), w) in abef.iter_mut().zip(cdgh.iter_mut()).zip(w.iter_mut()) {
                // `w` holds the last four groups of message words, oldest first.
                let [w0, w1, w2, w3] = *w;
                let next = if group < 4 {
                    w0
                } else {
                    // W[t..t+4] from W[t−16..t]: σ0 terms by msg1, W[t−7] added, σ1 by msg2.
                    let sum =
                        _mm_add_epi32(_mm_sha256msg1_epu32(w0, w1), _mm_alignr_epi8(w3, w2, 4));
                    _mm_sha256msg2_epu32(sum, w3)
                };
                *w = [w1, w2, w3, next];
                let wk = _mm_add_epi32(next, k);
                *cdgh = _mm_sha256rnds2_epu32(*cdgh, *abef, wk);
                *abef = _mm_sha256rnds2_epu32(*abef, *cdgh, _mm_shuffle_epi32(wk, 0x0E));
            }
        }
        for (l, state) in states.iter_mut().enumerate() {
            let (Some(&abef), Some(&cdgh), Some(&abef_in), Some(&cdgh_in)) =
                (abef.get(l), cdgh.get(l), abef_in.get(l), cdgh_in.get(l))
            else {
                continue;
            };
            let abef = _mm_add_epi32(abef, abef_in);
            let cdgh = _mm_add_epi32(cdgh, cdgh_in);
            *state = [
                _mm_extract_epi32(abef, 3).cast_unsigned(),
                _mm_extract_epi32(abef, 2).cast_unsigned(),
                _mm_extract_epi32(cdgh, 3).cast_unsigned(),
                _mm_extract_epi32(cdgh, 2).cast_unsigned(),
                _mm_extract_epi32(abef, 1).cast_unsigned(),
                _mm_extract_epi32(abef, 0).cast_unsigned(),
                _mm_extract_epi32(cdgh, 1).cast_unsigned(),
                _mm_extract_epi32(cdgh, 0).cast_unsigned(),
            ];
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod arm {
    use super::{K, LANES, four, words};
    use core::arch::aarch64::{
        uint32x4_t, vaddq_u32, vdupq_n_u32, vgetq_lane_u32, vsetq_lane_u32, vsha256h2q_u32,
        vsha256hq_u32, vsha256su0q_u32, vsha256su1q_u32,
    };

    #[inline]
    #[target_feature(enable = "neon")]
    fn vector([w0, w1, w2, w3]: [u32; 4]) -> uint32x4_t {
        // Lane 0 holds the first word.
        let v = vdupq_n_u32(w0);
        let v = vsetq_lane_u32::<1>(w1, v);
        let v = vsetq_lane_u32::<2>(w2, v);
        vsetq_lane_u32::<3>(w3, v)
    }

    #[inline]
    #[target_feature(enable = "neon")]
    fn lanes(v: uint32x4_t) -> [u32; 4] {
        [
            vgetq_lane_u32::<0>(v),
            vgetq_lane_u32::<1>(v),
            vgetq_lane_u32::<2>(v),
            vgetq_lane_u32::<3>(v),
        ]
    }

    /// SHA-256 of one block into each state; the lanes' rounds are interleaved.
    #[target_feature(enable = "sha2")]
    pub(super) fn compress(states: &mut [[u32; 8]; LANES], blocks: &[[u8; 64]; LANES]) {
        let mut abcd: [uint32x4_t; LANES] = states.map(|state| vector(four(&state, 0)));
        let mut efgh: [uint32x4_t; LANES] = states.map(|state| vector(four(&state, 1)));
        let (abcd_in, efgh_in) = (abcd, efgh);
        let mut w: [[uint32x4_t; 4]; LANES] = blocks.each_ref().map(|block| {
            let words = words(block);
            core::array::from_fn(|i| vector(four(&words, i)))
        });
        for group in 0..16 {
            let k = vector(four(&K, group));
            for ((abcd, efgh), w) in abcd.iter_mut().zip(efgh.iter_mut()).zip(w.iter_mut()) {
                // `w` holds the last four groups of message words, oldest first.
                let [w0, w1, w2, w3] = *w;
                let next = if group < 4 {
                    w0
                } else {
                    // W[t..t+4] from W[t−16..t]: σ0 terms by su0, σ1 and W[t−7] by su1.
                    vsha256su1q_u32(vsha256su0q_u32(w0, w1), w2, w3)
                };
                *w = [w1, w2, w3, next];
                let wk = vaddq_u32(next, k);
                let before = *abcd;
                *abcd = vsha256hq_u32(*abcd, *efgh, wk);
                *efgh = vsha256h2q_u32(*efgh, before, wk);
            }
        }
        for (l, state) in states.iter_mut().enumerate() {
            let (Some(&abcd), Some(&efgh), Some(&abcd_in), Some(&efgh_in)) =
                (abcd.get(l), efgh.get(l), abcd_in.get(l), efgh_in.get(l))
            else {
                continue;
            };
            let [a, b, c, d] = lanes(vaddq_u32(abcd, abcd_in));
            let [e, f, g, h] = lanes(vaddq_u32(efgh, efgh_in));
            *state = [a, b, c, d, e, f, g, h];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Checks spec §match.4.1: every path this CPU runs gives each lane the compression
        /// `sha2` gives it alone.
        #[test]
        fn match_4_1_every_kernel_equals_the_portable_path(
            states in any::<[[u32; 8]; LANES]>(),
            blocks in any::<[[u8; 32]; 2 * LANES]>(),
        ) {
            let blocks: [[u8; 64]; LANES] = core::array::from_fn(|l| {
                let mut block = [0u8; 64];
                block[..32].copy_from_slice(&blocks[2 * l]);
                block[32..].copy_from_slice(&blocks[2 * l + 1]);
                block
            });
            let mut expected = states;
            for (state, block) in expected.iter_mut().zip(&blocks) {
                compress256(state, core::slice::from_ref(block));
            }
            for path in Path::available() {
                let mut got = states;
                path.compress(&mut got, &blocks);
                prop_assert_eq!(got, expected, "{:?}", path);
            }
        }
    }

    /// Checks spec §match.4.1: on the CPUs the project measures on, the fast path is the one
    /// detected (`BLUEZONE_EXPECT_SHA_KERNEL=1` makes a missing kernel an error, so a CI
    /// machine that has the instructions cannot silently test only the portable path).
    #[test]
    fn match_4_1_the_kernel_is_detected_where_expected() {
        let detected = Path::detect();
        if std::env::var_os("BLUEZONE_EXPECT_SHA_KERNEL").is_some() {
            assert_ne!(detected, Path::Portable);
        }
        std::println!("SHA-256 path: {detected:?}");
    }
}
