//! The broadcast values: rolling proximity identifiers and encrypted metadata.

use crate::bytes::public_bytes;
use crate::time::EnIntervalNumber;

/// The six ASCII bytes `"EN-RPI"` that open every `PaddedData` block (spec §gaen.4).
pub const RPI_PADDING_PREFIX: &[u8; 6] = b"EN-RPI";

public_bytes!(
    /// `RPI`: the 16-byte identifier a phone broadcasts during one interval (spec §gaen.4).
    ///
    /// Public: it is on the air for anyone to hear.
    RollingProximityIdentifier,
    16,
    upper_hex = false
);

public_bytes!(
    /// `AEM`: the 4 bytes of [`crate::gaen::Metadata`] encrypted under the AEMK with the RPI
    /// as counter block (spec §gaen.6). It carries no integrity check.
    AssociatedEncryptedMetadata,
    4,
    upper_hex = false
);

/// `PaddedData_j = "EN-RPI" ‖ 0x00 × 6 ‖ LE32(ENIN_j)`, the block the RPIK encrypts (spec §gaen.4).
#[must_use]
#[inline]
pub const fn padded_data(interval: EnIntervalNumber) -> [u8; 16] {
    let n = interval.to_le_bytes();
    let p = RPI_PADDING_PREFIX;
    [
        p[0], p[1], p[2], p[3], p[4], p[5], 0, 0, 0, 0, 0, 0, n[0], n[1], n[2], n[3],
    ]
}

/// The interval number a decrypted identifier was padded data for, or `None` when the block
/// does not open with `"EN-RPI"` and six zero bytes (spec §gaen.4): the one test of whether a
/// logged identifier decrypts to one of a key's.
#[must_use]
#[inline]
pub(crate) fn padded_interval(block: &[u8; 16]) -> Option<u32> {
    let (prefix, number) = block.split_last_chunk::<4>()?;
    let (rpi, zeros) = prefix.split_at_checked(RPI_PADDING_PREFIX.len())?;
    (rpi == RPI_PADDING_PREFIX && zeros.iter().all(|&b| b == 0))
        .then(|| u32::from_le_bytes(*number))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    /// Checks spec §gaen.4.
    fn padded_data_matches_the_live_device_capture() {
        // corona-warn-app/cwa-app-android#75: interval 2652091 padded as below.
        let expected = *b"EN-RPI\0\0\0\0\0\0\xbb\x77\x28\x00";
        assert_eq!(padded_data(EnIntervalNumber::new(2_652_091)), expected);
        assert_eq!(padded_interval(&expected), Some(2_652_091));
        for at in 0..12 {
            let mut other = expected;
            other[at] ^= 1;
            assert_eq!(padded_interval(&other), None, "byte {at} changed");
        }
    }
}
