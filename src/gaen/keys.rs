//! The secret keys of the schedule: TEK, RPIK and AEMK.

use aes::Aes128;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
use hkdf::Hkdf;
use rand_core::CryptoRng;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::diagnosis::{DiagnosisKey, ReportType};
use super::identifier::{AssociatedEncryptedMetadata, RollingProximityIdentifier, padded_data};
use super::metadata::Metadata;
use crate::bytes::secret_bytes;
use crate::time::{EnIntervalNumber, RollingWindow, TimeError};

/// HKDF `info` for the RPIK: the 7 ASCII bytes `"EN-RPIK"`, no terminator (spec §gaen.3).
pub const RPIK_INFO: &[u8; 7] = b"EN-RPIK";
/// HKDF `info` for the AEMK: the 7 ASCII bytes `"EN-AEMK"`, no terminator (spec §gaen.3).
pub const AEMK_INFO: &[u8; 7] = b"EN-AEMK";

/// Identifiers encrypted per AES call when filling a buffer: enough to keep an 8-wide AES-NI
/// pipeline busy, small enough to sit on a Cortex-M stack (256 bytes).
const BATCH_BLOCKS: usize = 16;

/// `HKDF-SHA256(IKM = key, salt = none, info, L = 16)` (RFC 5869; spec §gaen.3).
///
/// The PRK lives only in the HKDF state, whose SHA-256 states are zeroized when it is dropped
/// (the `sha2` crate's `zeroize` feature), and the output buffer is wiped once copied out
/// (spec §sec.1).
pub(crate) fn hkdf_sha256_16(key: &[u8; 16], info: &[u8]) -> [u8; 16] {
    let mut okm = zeroize::Zeroizing::new([0u8; 16]);
    let expanded = Hkdf::<Sha256>::new(None, key).expand(info, okm.as_mut_slice());
    // HKDF-SHA256 can expand up to 8160 bytes; 16 always succeeds.
    debug_assert!(expanded.is_ok());
    *okm
}

/// `TEK`: the 16 random bytes a phone creates for each rolling window (spec §gaen.2).
///
/// Secret until the owner reports it; then [`Self::release`] turns it into a public
/// [`DiagnosisKey`]. Zeroized on drop, `Debug` shows only the window, equality is constant-time.
#[derive(Clone)]
pub struct TemporaryExposureKey {
    key_data: [u8; 16],
    window: RollingWindow,
}

impl TemporaryExposureKey {
    /// Length of the key in bytes.
    pub const LEN: usize = 16;

    /// A key with known bytes, valid for `window` (from storage or a test vector).
    #[must_use]
    pub const fn from_bytes(key_data: [u8; 16], window: RollingWindow) -> Self {
        Self { key_data, window }
    }

    // spec §sec.2: the caller's cryptographically secure generator.
    /// A fresh key from the caller's cryptographic random number generator.
    pub fn generate_with_rng<R: CryptoRng + ?Sized>(rng: &mut R, window: RollingWindow) -> Self {
        let mut key_data = [0u8; 16];
        rng.fill_bytes(&mut key_data);
        Self { key_data, window }
    }

    /// A fresh key from the operating system's random number generator.
    ///
    /// # Errors
    /// The operating system could not provide randomness.
    #[cfg(feature = "getrandom")]
    pub fn generate(window: RollingWindow) -> Result<Self, getrandom::Error> {
        let mut key_data = [0u8; 16];
        getrandom::fill(&mut key_data)?;
        Ok(Self { key_data, window })
    }

    /// The key bytes. Handle with care: the copy you make is not zeroized for you.
    #[must_use]
    pub const fn expose_secret(&self) -> &[u8; 16] {
        &self.key_data
    }

    /// The intervals this key is valid for.
    #[must_use]
    pub const fn window(&self) -> RollingWindow {
        self.window
    }

    /// `RPIK = HKDF(TEK, salt = none, "EN-RPIK", 16)`.
    #[must_use]
    pub fn rolling_proximity_identifier_key(&self) -> RollingProximityIdentifierKey {
        RollingProximityIdentifierKey::derive(&self.key_data)
    }

    /// `AEMK = HKDF(TEK, salt = none, "EN-AEMK", 16)`.
    #[must_use]
    pub fn associated_encrypted_metadata_key(&self) -> AssociatedEncryptedMetadataKey {
        AssociatedEncryptedMetadataKey::derive(&self.key_data)
    }

    /// Publishes the key: it becomes a [`DiagnosisKey`] with the given report type and no
    /// other export metadata (set the public fields of the result to add some). This does not
    /// check the time: a key released while its window runs lets anyone follow the phone for
    /// the rest of it. Prefer [`Self::release_at`].
    #[must_use]
    pub fn release(self, report_type: ReportType) -> DiagnosisKey {
        let mut key = DiagnosisKey::new(self.key_data, self.window);
        key.report_type = report_type;
        key
    }

    /// [`Self::release`], only once the key's window has ended at `now` (spec §sec.1): `now`
    /// must lie after the window's last interval.
    ///
    /// # Errors
    /// [`StillInUse`], with the key given back, while `now` lies within or before the window.
    pub fn release_at(
        self,
        report_type: ReportType,
        now: EnIntervalNumber,
    ) -> Result<DiagnosisKey, StillInUse> {
        if now <= self.window.last() {
            return Err(StillInUse {
                last: self.window.last(),
                key: self,
            });
        }
        Ok(self.release(report_type))
    }
}

/// A key asked to be released while its window still runs (see
/// [`TemporaryExposureKey::release_at`]).
#[derive(Debug, thiserror::Error)]
#[error("the key is still in use until the end of interval {last}")]
pub struct StillInUse {
    /// The window's last interval.
    pub last: EnIntervalNumber,
    /// The key, unreleased.
    pub key: TemporaryExposureKey,
}

impl TemporaryExposureKey {}

impl core::fmt::Debug for TemporaryExposureKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TemporaryExposureKey")
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl Drop for TemporaryExposureKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key_data);
    }
}

impl zeroize::ZeroizeOnDrop for TemporaryExposureKey {}

impl ConstantTimeEq for TemporaryExposureKey {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.key_data.ct_eq(&other.key_data)
            & subtle::Choice::from(u8::from(self.window == other.window))
    }
}

impl PartialEq for TemporaryExposureKey {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for TemporaryExposureKey {}

secret_bytes!(
    /// `RPIK`: the AES-128 key that turns interval numbers into identifiers (spec §gaen.3–4).
    RollingProximityIdentifierKey,
    16
);

impl RollingProximityIdentifierKey {
    /// `HKDF(key_data, salt = none, "EN-RPIK", 16)` for a TEK's or diagnosis key's bytes.
    #[must_use]
    pub fn derive(key_data: &[u8; 16]) -> Self {
        Self(hkdf_sha256_16(key_data, RPIK_INFO))
    }

    fn cipher(&self) -> Aes128 {
        Aes128::new(&Array::from(self.0))
    }

    /// `RPI_j = AES-128(RPIK, PaddedData_j)` for one interval.
    #[must_use]
    pub fn identifier(&self, interval: EnIntervalNumber) -> RollingProximityIdentifier {
        let mut block = Array::from(padded_data(interval));
        self.cipher().encrypt_block(&mut block);
        RollingProximityIdentifier::from_bytes(block.into())
    }

    /// Fills `out` with the identifiers of `out.len()` consecutive intervals from `first`,
    /// with one AES key schedule and no allocation.
    ///
    /// # Errors
    /// [`TimeError::WindowOverflow`] when the last interval would lie past 0xFFFFFFFF; `out`
    /// is then left untouched.
    pub fn identifiers_into(
        &self,
        first: EnIntervalNumber,
        out: &mut [RollingProximityIdentifier],
    ) -> Result<(), TimeError> {
        let fits = match out.len().checked_sub(1) {
            None => true,
            Some(extra) => u32::try_from(extra)
                .ok()
                .and_then(|extra| first.checked_add(extra))
                .is_some(),
        };
        if !fits {
            return Err(TimeError::WindowOverflow {
                start: first.get(),
                period: u32::try_from(out.len()).unwrap_or(u32::MAX),
            });
        }
        let cipher = self.cipher();
        let mut blocks = [Array::<u8, _>::default(); BATCH_BLOCKS];
        let mut interval = first.get();
        for chunk in out.chunks_mut(BATCH_BLOCKS) {
            let (used, _) = blocks.split_at_mut(chunk.len());
            for block in used.iter_mut() {
                *block = Array::from(padded_data(EnIntervalNumber::new(interval)));
                // Wraps only after the last identifier, whose interval was checked above.
                interval = interval.wrapping_add(1);
            }
            cipher.encrypt_blocks(used);
            for (rpi, block) in chunk.iter_mut().zip(used.iter()) {
                *rpi = RollingProximityIdentifier::from_bytes((*block).into());
            }
        }
        Ok(())
    }

    /// Fills `out` with the identifiers of every interval of `window`, returning the filled
    /// part (`window.period()` identifiers).
    pub fn window_identifiers<'a>(
        &self,
        window: RollingWindow,
        out: &'a mut [RollingProximityIdentifier; 144],
    ) -> &'a [RollingProximityIdentifier] {
        // A period is at most 144, the buffer's length.
        let (filled, _) = out.split_at_mut(window.period().get() as usize);
        // A `RollingWindow` never ends past 0xFFFFFFFF, so this cannot fail.
        let generated = self.identifiers_into(window.start(), filled);
        debug_assert!(generated.is_ok());
        filled
    }
}

secret_bytes!(
    /// `AEMK`: the AES-128 key that encrypts and decrypts the metadata (spec §gaen.3, §gaen.6).
    AssociatedEncryptedMetadataKey,
    16
);

impl AssociatedEncryptedMetadataKey {
    /// `HKDF(key_data, salt = none, "EN-AEMK", 16)` for a TEK's or diagnosis key's bytes.
    #[must_use]
    pub fn derive(key_data: &[u8; 16]) -> Self {
        Self(hkdf_sha256_16(key_data, AEMK_INFO))
    }

    /// The first 4 bytes of the AES-CTR keystream with counter block `rpi`:
    /// `AES-128(AEMK, RPI)[0..4]`. With 4-byte metadata, CTR never reaches a second block, so
    /// the counter-increment convention does not matter.
    /// The keystream block is wiped once its 4 bytes are taken (spec §sec.1).
    fn keystream(&self, rpi: &RollingProximityIdentifier) -> [u8; 4] {
        let mut block = Array::from(rpi.to_bytes());
        Aes128::new(&Array::from(self.0)).encrypt_block(&mut block);
        let bytes = zeroize::Zeroizing::new(<[u8; 16]>::from(block));
        zeroize::Zeroize::zeroize(block.as_mut_slice());
        let [a, b, c, d, ..] = *bytes;
        [a, b, c, d]
    }

    /// `AEM = AES-128-CTR(AEMK, IV = RPI, Metadata)` (spec §gaen.6).
    #[must_use]
    pub fn encrypt(
        &self,
        rpi: &RollingProximityIdentifier,
        metadata: Metadata,
    ) -> AssociatedEncryptedMetadata {
        AssociatedEncryptedMetadata::from_bytes(xor4(metadata.to_bytes(), self.keystream(rpi)))
    }

    /// The inverse of [`Self::encrypt`]. Any 4 bytes decrypt: there is no integrity check, so a
    /// receiver judges the result by its plausibility (for example the TX power range).
    #[must_use]
    pub fn decrypt(
        &self,
        rpi: &RollingProximityIdentifier,
        aem: AssociatedEncryptedMetadata,
    ) -> Metadata {
        Metadata::from_bytes(xor4(aem.to_bytes(), self.keystream(rpi)))
    }
}

fn xor4(a: [u8; 4], b: [u8; 4]) -> [u8; 4] {
    let [a0, a1, a2, a3] = a;
    let [b0, b1, b2, b3] = b;
    [a0 ^ b0, a1 ^ b1, a2 ^ b2, a3 ^ b3]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::RollingPeriod;
    use std::string::ToString;

    fn official_tek() -> TemporaryExposureKey {
        let key: [u8; 16] = crate::hex::decode_array("75c734c6dd1a782de7a965da5eb93125").unwrap();
        let window =
            RollingWindow::new(EnIntervalNumber::new(2_642_976), RollingPeriod::FULL_DAY).unwrap();
        TemporaryExposureKey::from_bytes(key, window)
    }

    #[test]
    /// Checks spec §gaen.3, §gaen.4, §gaen.6.
    fn official_vector_first_interval() {
        let tek = official_tek();
        let rpik = tek.rolling_proximity_identifier_key();
        assert_eq!(
            rpik.expose_secret(),
            &crate::hex::decode_array::<16>("185ad91db69ec7dd048960f1f3ba6175").unwrap()
        );
        let rpi = rpik.identifier(EnIntervalNumber::new(2_642_976));
        assert_eq!(rpi.to_string(), "8be6cd371c5c891604bfbe49df845096");
        let aem = tek
            .associated_encrypted_metadata_key()
            .encrypt(&rpi, Metadata::from_bytes([0x40, 0x08, 0, 0]));
        assert_eq!(aem.to_string(), "72033874");
    }

    #[test]
    /// Checks spec §gaen.4.
    fn batch_equals_one_at_a_time_across_chunk_edges() {
        let rpik = official_tek().rolling_proximity_identifier_key();
        let mut out = [RollingProximityIdentifier::default(); 37];
        rpik.identifiers_into(EnIntervalNumber::new(1000), &mut out)
            .unwrap();
        for (k, rpi) in (1000u32..).zip(out.iter()) {
            assert_eq!(*rpi, rpik.identifier(EnIntervalNumber::new(k)));
        }
    }

    #[test]
    fn batch_refuses_to_wrap_and_leaves_output_alone() {
        let rpik = official_tek().rolling_proximity_identifier_key();
        let mut out = [RollingProximityIdentifier::default(); 2];
        assert!(
            rpik.identifiers_into(EnIntervalNumber::MAX, &mut out[..1])
                .is_ok()
        );
        let before = out;
        assert_eq!(
            rpik.identifiers_into(EnIntervalNumber::MAX, &mut out),
            Err(TimeError::WindowOverflow {
                start: u32::MAX,
                period: 2
            })
        );
        assert_eq!(out[1], before[1]);
        assert!(
            rpik.identifiers_into(EnIntervalNumber::MAX, &mut [])
                .is_ok()
        );
    }

    #[test]
    /// Checks spec §sec.1: a key is released only after its window has ended.
    fn release_waits_for_the_end_of_the_window() {
        let window = RollingWindow::day_of(EnIntervalNumber::new(2_650_032));
        let key = TemporaryExposureKey::from_bytes([7; 16], window);
        let refused = key
            .release_at(ReportType::ConfirmedTest, window.last())
            .unwrap_err();
        assert_eq!(refused.last, window.last());
        let released = refused
            .key
            .release_at(
                ReportType::ConfirmedTest,
                EnIntervalNumber::new(window.last().get() + 1),
            )
            .unwrap();
        assert_eq!(released.key_data, [7; 16]);
        assert_eq!(released.report_type, ReportType::ConfirmedTest);
    }

    #[test]
    /// Checks spec §sec.1.
    fn secrets_are_redacted_and_compare_by_value() {
        let tek = official_tek();
        let shown = std::format!("{tek:?} {:?}", tek.rolling_proximity_identifier_key());
        assert!(!shown.contains("75c7"), "{shown}");
        assert!(!shown.contains("117"), "{shown}"); // 0x75 in decimal
        assert_eq!(tek.clone(), tek);
        let other = TemporaryExposureKey::from_bytes([0; 16], tek.window());
        assert_ne!(other, tek);
    }
}
