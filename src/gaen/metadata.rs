//! The 4-byte metadata each advertisement carries, encrypted as the AEM (spec §gaen.5).

use core::fmt;

/// How much a transmitter trusts its own TX power calibration (metadata v1.1, bits 3:2 of
/// byte 0). Two bits hold four values, so every byte decodes to one of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[repr(u8)]
pub enum CalibrationConfidence {
    /// No calibration data: fleet-wide defaults. Also what v1.0 metadata (bits zero) means.
    #[default]
    Lowest = 0,
    /// Some calibration data.
    Low = 1,
    /// Calibrated for the device model.
    Medium = 2,
    /// Calibrated for this device.
    High = 3,
}

impl CalibrationConfidence {
    /// The value of a two-bit field (higher bits are ignored).
    #[must_use]
    pub const fn from_bits(bits: u8) -> Self {
        match bits & 0b11 {
            0 => Self::Lowest,
            1 => Self::Low,
            2 => Self::Medium,
            _ => Self::High,
        }
    }
}

/// The plaintext metadata: version, calibration confidence, TX power (spec §gaen.5).
///
/// | byte | bits | meaning |
/// |---|---|---|
/// | 0 | 7:6 | major version (`01`) |
/// | 0 | 5:4 | minor version (`00` for v1.0, `01` for v1.1) |
/// | 0 | 3:2 | calibration confidence (v1.1; reserved in v1.0) |
/// | 0 | 1:0 | reserved |
/// | 1 | | TX power in dBm, signed |
/// | 2–3 | | reserved |
///
/// Every byte is preserved as received, reserved bits included, so that decrypting and
/// re-encrypting is lossless.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Metadata([u8; 4]);

impl Metadata {
    /// Version byte of metadata v1.0.
    pub const VERSION_1_0: u8 = 0x40;
    /// Version byte of metadata v1.1 with calibration confidence `Lowest`.
    pub const VERSION_1_1: u8 = 0x50;

    /// Metadata from its four bytes, kept as they are.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 4]) -> Self {
        Self(bytes)
    }

    /// The four bytes.
    #[must_use]
    pub const fn to_bytes(self) -> [u8; 4] {
        self.0
    }

    /// Version 1.0 metadata with the given TX power.
    #[must_use]
    pub const fn v1_0(tx_power_dbm: i8) -> Self {
        Self([Self::VERSION_1_0, tx_power_dbm.to_le_bytes()[0], 0, 0])
    }

    /// Version 1.1 metadata with the given TX power and calibration confidence.
    #[must_use]
    pub const fn v1_1(tx_power_dbm: i8, confidence: CalibrationConfidence) -> Self {
        Self([
            Self::VERSION_1_1 | ((confidence as u8) << 2),
            tx_power_dbm.to_le_bytes()[0],
            0,
            0,
        ])
    }

    /// Major version, bits 7:6 of byte 0 (1 for every version so far).
    #[must_use]
    pub const fn major_version(self) -> u8 {
        self.0[0] >> 6
    }

    /// Minor version, bits 5:4 of byte 0.
    #[must_use]
    pub const fn minor_version(self) -> u8 {
        (self.0[0] >> 4) & 0b11
    }

    /// Calibration confidence, bits 3:2 of byte 0, decoded whatever the minor version (as
    /// Google's engine does; v1.0 senders leave the bits zero, which reads as `Lowest`).
    #[must_use]
    pub const fn calibration_confidence(self) -> CalibrationConfidence {
        CalibrationConfidence::from_bits(self.0[0] >> 2)
    }

    /// Transmit power in dBm (byte 1, signed).
    #[must_use]
    pub const fn tx_power_dbm(self) -> i8 {
        i8::from_le_bytes([self.0[1]])
    }

    /// The reserved bits 1:0 of byte 0 and the reserved bytes 2–3, as received.
    #[must_use]
    pub const fn reserved(self) -> (u8, [u8; 2]) {
        (self.0[0] & 0b11, [self.0[2], self.0[3]])
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metadata")
            .field(
                "version",
                &format_args!("{}.{}", self.major_version(), self.minor_version()),
            )
            .field("calibration_confidence", &self.calibration_confidence())
            .field("tx_power_dbm", &self.tx_power_dbm())
            .field("bytes", &crate::hex::Hex(&self.0))
            .finish()
    }
}

impl fmt::Display for Metadata {
    /// The four bytes as hex, as vector files write them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::hex::write(f, &self.0, false)
    }
}

impl core::str::FromStr for Metadata {
    type Err = crate::hex::ParseHexError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        crate::hex::decode_array(text).map(Self)
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Metadata {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::bytes::serialize_hex(&self.0, false, serializer)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Metadata {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::bytes::deserialize_hex(deserializer).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    /// Checks spec §gaen.5.
    fn fields_of_real_metadata() {
        // Official vector: v1.0, +8 dBm.
        let official = Metadata::from_bytes([0x40, 0x08, 0, 0]);
        assert_eq!((official.major_version(), official.minor_version()), (1, 0));
        assert_eq!(official.tx_power_dbm(), 8);
        assert_eq!(official, Metadata::v1_0(8));
        // Live GMS device: v1.0, -14 dBm.
        assert_eq!(Metadata::from_bytes([0x40, 0xf2, 0, 0]).tx_power_dbm(), -14);
        let v11 = Metadata::v1_1(-128, CalibrationConfidence::High);
        assert_eq!(v11.to_bytes(), [0x5c, 0x80, 0, 0]);
        assert_eq!(v11.calibration_confidence(), CalibrationConfidence::High);
        assert_eq!(v11.minor_version(), 1);
        assert_eq!(
            Metadata::from_bytes([0x43, 0, 0xaa, 0x55]).reserved(),
            (3, [0xaa, 0x55])
        );
    }
}
