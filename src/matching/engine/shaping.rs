//! The AES work of one key, shaped to the backend (spec §match.4, steps 3 and 4): its needed
//! identifiers encrypted in one call rounded up to whole parallel batches and probed in the
//! day filters, or the logged identifiers near its window decrypted in batches.

use alloc::vec::Vec;

use aes::cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use aes::{Aes128Dec, Aes128Enc};

use super::super::index::LogIndex;
use crate::gaen::{RollingProximityIdentifier, padded_interval};
use crate::time::INTERVALS_PER_DAY;

/// One AES block.
pub(crate) type Block = Array<u8, aes::cipher::consts::U16>;

/// Logged identifiers decrypted per AES call on the decrypting path.
pub(crate) const BATCH: usize = 64;
/// The most identifiers a key has: a window is at most one day.
pub(crate) const WINDOW: usize = INTERVALS_PER_DAY as usize;
/// Blocks a key's encryption may take once rounded up to the AES backend's width.
pub(crate) const PADDED: usize = 192;

/// The AES backend's parallel width, asked of the backend this CPU runs (64 blocks with
/// VAES-512, 30 with VAES-256, 8 with AES-NI or ARMv8, a few in software): a call encrypts
/// whole batches of it in parallel and the rest one block at a time.
pub(crate) fn aes_width() -> usize {
    use aes::cipher::typenum::Unsigned;
    use aes::cipher::{BlockCipherEncBackend, BlockCipherEncClosure, BlockSizeUser};
    struct Width<'w>(&'w mut usize);
    impl BlockSizeUser for Width<'_> {
        type BlockSize = aes::cipher::consts::U16;
    }
    impl BlockCipherEncClosure for Width<'_> {
        fn call<B: BlockCipherEncBackend<BlockSize = Self::BlockSize>>(self, _: &B) {
            *self.0 = B::ParBlocksSize::USIZE;
        }
    }
    let mut width = 1;
    Aes128Enc::new(&Array::default()).encrypt_with_backend(Width(&mut width));
    width.clamp(1, PADDED)
}

/// How many blocks to encrypt for `n` identifiers with a backend `width` wide: `n` rounded up
/// to whole batches when the remainder is more than a quarter of a batch, since one batch costs
/// about as much as a quarter of it one block at a time (spec §match.4, step 4).
pub(crate) const fn padded_len(n: usize, width: usize) -> usize {
    let rest = n % width;
    if rest * 4 > width {
        let up = n - rest + width;
        if up <= PADDED { up } else { n }
    } else {
        n
    }
}

/// The interval number of a padded-data block.
#[inline]
fn interval_in(block: &Block) -> u32 {
    let [.., n0, n1, n2, n3] = block.0;
    u32::from_le_bytes([n0, n1, n2, n3])
}

/// Encrypts the needed intervals' padded data (`padded`, of which the first `n` are needed and
/// the rest fill the last batch) under `rpik` in one call, and probes each identifier in the
/// filter of its day; identifiers the log holds go to `hits` with their interval.
pub(crate) fn generate_and_probe(
    index: &LogIndex,
    rpik: &[u8; 16],
    (padded, n): (&[Block], usize),
    blocks: &mut [Block; PADDED],
    hits: &mut Vec<(u32, RollingProximityIdentifier)>,
) {
    let cipher = Aes128Enc::new(&Array::from(*rpik));
    let Some(all) = blocks.get_mut(..padded.len()) else {
        return;
    };
    if cipher.encrypt_blocks_b2b(padded, all).is_err() {
        return;
    }
    // Only the first `n` are identifiers to look for; the rest filled the last batch.
    let (Some(plain), Some(blocks)) = (padded.get(..n), blocks.get(..n)) else {
        return;
    };
    // A key's intervals fall in at most two UTC days: one run per day, one filter each.
    let Some(day) = plain.first().map(|b| interval_in(b) / INTERVALS_PER_DAY) else {
        return;
    };
    let split = plain.partition_point(|b| interval_in(b) / INTERVALS_PER_DAY == day);
    let (first_plain, second_plain) = plain.split_at(split);
    let (first_blocks, second_blocks) = blocks.split_at(split);
    for (day, blocks, plain) in [
        (day, first_blocks, first_plain),
        (day.saturating_add(1), second_blocks, second_plain),
    ] {
        if blocks.is_empty() {
            continue;
        }
        let Some(filter) = index.day_filter(day) else {
            continue;
        };
        for (block, padded) in blocks.iter().zip(plain) {
            if filter.may_contain(&block.0) {
                let rpi = RollingProximityIdentifier::from_bytes(block.0);
                if !index.sightings_of(&rpi).is_empty() {
                    hits.push((interval_in(padded), rpi));
                }
            }
        }
    }
}

/// Decrypts each logged identifier of `logged` (seen near the window `first..=last`) under
/// `rpik`: it belongs to the key exactly when the plaintext is the padded data of one of the
/// key's intervals within `tolerance` of the interval it was seen in (a false accept has
/// probability about 2^-96).
pub(crate) fn decrypt_logged(
    rpik: &[u8; 16],
    (first, last, tolerance): (u32, u32, u32),
    logged: &[(u32, RollingProximityIdentifier)],
    hits: &mut Vec<(u32, RollingProximityIdentifier)>,
) {
    let cipher = Aes128Dec::new(&Array::from(*rpik));
    let mut buffer = [Block::default(); BATCH];
    for chunk in logged.chunks(BATCH) {
        let (blocks, _) = buffer.split_at_mut(chunk.len());
        for (block, (_, rpi)) in blocks.iter_mut().zip(chunk) {
            *block = Array::from(rpi.to_bytes());
        }
        cipher.decrypt_blocks(blocks);
        for (block, &(seen, rpi)) in blocks.iter().zip(chunk) {
            if let Some(j) = padded_interval(&block.0)
                && (first..=last).contains(&j)
                && seen.abs_diff(j) <= tolerance
            {
                hits.push((j, rpi));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks spec §match.4: a call is rounded up to whole batches of the backend's width when
    /// more than a quarter of a batch would go one block at a time, never past the buffer.
    #[test]
    fn match_4_blocks_are_rounded_up_to_whole_batches() {
        assert_eq!(padded_len(120, 64), 128);
        assert_eq!(padded_len(144, 64), 144);
        assert_eq!(padded_len(80, 64), 80);
        assert_eq!(padded_len(81, 64), 128);
        assert_eq!(padded_len(190, 64), 192);
        assert_eq!(padded_len(144, 30), 150);
        assert_eq!(padded_len(11, 8), 16);
        assert_eq!(padded_len(10, 8), 10);
        assert_eq!(padded_len(0, 8), 0);
        assert!((1..=WINDOW).all(|n| (n..=PADDED).contains(&padded_len(n, aes_width()))));
    }
}
