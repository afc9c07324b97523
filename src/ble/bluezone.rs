//! The Bluezone 2020 app on the air (spec §blid.5).
//!
//! Android phones advertise the identifier in manufacturer data:
//!
//! ```text
//! 02 01 FL          Flags (added by the Android stack; not relied on)
//! 03 03 56 4E       Complete List of 16-bit Service UUIDs: 0x4E56 ("VN")
//! 0F FF B5 22       Manufacturer Specific Data, company 0x22B5, followed by
//!       BLID (12)
//! ```
//!
//! iPhones advertise only a GATT service (or, in the background, a bit in Apple's overflow
//! area); the identifier is the 12-byte value of a readable characteristic.

use super::AdvertisementError;
use super::ad::{
    AD_TYPE_COMPLETE_UUID16_LIST, AD_TYPE_FLAGS, AD_TYPE_INCOMPLETE_UUID16_LIST,
    AD_TYPE_MANUFACTURER_DATA, AdStructure,
};
use crate::blid::BluezoneId;

/// The 16-bit service UUID Android Bluezone phones list, `0x4E56`.
pub const BLUEZONE_UUID16: u16 = 0x4E56;
/// The company identifier in Android Bluezone manufacturer data, `0x22B5` (8885).
pub const BLUEZONE_COMPANY_ID: u16 = 0x22B5;
/// The GATT service of iOS Bluezone phones, `00004E56-73F5-4BC4-A12F-17D1AD07A667`.
pub const IOS_SERVICE_UUID: u128 = 0x0000_4E56_73F5_4BC4_A12F_17D1_AD07_A667;
/// Its readable characteristic, whose value is the current identifier,
/// `00004E56-73F5-4BC4-A12F-17D1AD07A689`.
pub const IOS_CHARACTERISTIC_UUID: u128 = 0x0000_4E56_73F5_4BC4_A12F_17D1_AD07_A689;
/// Apple's company identifier.
pub const APPLE_COMPANY_ID: u16 = 0x004C;
/// The manufacturer data (after Apple's company identifier) the Android app filtered on to
/// find background iPhones: overflow-area type `01`, then a 16-byte bitmap whose byte 0 has
/// Bluezone's bit `0x08`. The app matched these 17 bytes exactly.
pub const APPLE_OVERFLOW_FILTER: [u8; 17] =
    [0x01, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
/// AD type: Incomplete List of 128-bit Service UUIDs.
pub const AD_TYPE_INCOMPLETE_UUID128_LIST: u8 = 0x06;
/// AD type: Complete List of 128-bit Service UUIDs.
pub const AD_TYPE_COMPLETE_UUID128_LIST: u8 = 0x07;
/// Length of the Android advertisement this crate encodes.
pub const ANDROID_ADVERTISEMENT_LEN: usize = 23;

// spec §blid.5.1: the Android advertisement.
/// Encodes the Android advertisement for `id`.
#[must_use]
pub fn encode_android(id: &BluezoneId, flags: u8) -> [u8; ANDROID_ADVERTISEMENT_LEN] {
    let [uuid_lo, uuid_hi] = BLUEZONE_UUID16.to_le_bytes();
    let [company_lo, company_hi] = BLUEZONE_COMPANY_ID.to_le_bytes();
    let mut out = [0u8; ANDROID_ADVERTISEMENT_LEN];
    let (head, tail) = out.split_at_mut(ANDROID_ADVERTISEMENT_LEN - BluezoneId::LEN);
    head.copy_from_slice(&[
        2,
        AD_TYPE_FLAGS,
        flags,
        3,
        AD_TYPE_COMPLETE_UUID16_LIST,
        uuid_lo,
        uuid_hi,
        // Type + company + identifier = 15 bytes follow this length byte.
        15,
        AD_TYPE_MANUFACTURER_DATA,
        company_lo,
        company_hi,
    ]);
    tail.copy_from_slice(id.as_bytes());
    out
}

/// The GATT characteristic value an iOS Bluezone phone serves: the 12 identifier bytes.
#[must_use]
pub const fn characteristic_value(id: &BluezoneId) -> [u8; 12] {
    id.to_bytes()
}

// spec §blid.5.2: iOS phones serve the identifier over GATT.
/// Reads a GATT characteristic value; the app accepted exactly 12 bytes.
///
/// # Errors
/// [`crate::LengthError`] for any other length.
pub fn parse_characteristic_value(value: &[u8]) -> Result<BluezoneId, crate::LengthError> {
    BluezoneId::try_from_slice(value)
}

/// How an advertisement from an iPhone running Bluezone was recognised. Its identifier is not
/// in the advertisement: connect and read [`IOS_CHARACTERISTIC_UUID`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IosRecognition {
    /// The 128-bit service UUID was listed (an app in the foreground).
    ServiceUuid,
    /// Bluezone's bit was set in Apple's overflow area (an app in the background).
    OverflowArea,
}

/// The facts about a payload that decide its kind, gathered in one walk.
#[derive(Default)]
pub(super) struct BluezoneFacts<'a> {
    pub(super) lists_uuid16: bool,
    pub(super) manufacturer_data: Option<AdStructure<'a>>,
    pub(super) duplicate_manufacturer_data: Option<usize>,
    pub(super) ios_service: bool,
    pub(super) overflow_bit: bool,
}

impl<'a> BluezoneFacts<'a> {
    /// Takes in one structure.
    ///
    /// # Errors
    /// [`AdvertisementError::Malformed`] for manufacturer data without a company identifier.
    pub(super) fn observe(&mut self, structure: AdStructure<'a>) -> Result<(), AdvertisementError> {
        match structure.ad_type {
            AD_TYPE_COMPLETE_UUID16_LIST | AD_TYPE_INCOMPLETE_UUID16_LIST => {
                self.lists_uuid16 |= structure.uuid16_list().any(|u| u == BLUEZONE_UUID16);
            }
            AD_TYPE_COMPLETE_UUID128_LIST | AD_TYPE_INCOMPLETE_UUID128_LIST => {
                let wanted = IOS_SERVICE_UUID.to_le_bytes();
                self.ios_service |= structure.data.chunks_exact(16).any(|u| u == wanted);
            }
            AD_TYPE_MANUFACTURER_DATA => {
                let [lo, hi, rest @ ..] = structure.data else {
                    return Err(AdvertisementError::Malformed {
                        offset: structure.offset,
                        ad_type: structure.ad_type,
                    });
                };
                match u16::from_le_bytes([*lo, *hi]) {
                    BLUEZONE_COMPANY_ID => {
                        if self.manufacturer_data.is_some() {
                            self.duplicate_manufacturer_data
                                .get_or_insert(structure.offset);
                        } else {
                            self.manufacturer_data = Some(structure);
                        }
                    }
                    APPLE_COMPANY_ID => {
                        self.overflow_bit |=
                            matches!(rest, [0x01, bitmap0, ..] if bitmap0 & 0x08 != 0);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The identifier of an Android Bluezone advertisement.
    pub(super) fn android_id(&self) -> Result<BluezoneId, AdvertisementError> {
        if let Some(offset) = self.duplicate_manufacturer_data {
            return Err(AdvertisementError::DuplicateManufacturerData {
                company: BLUEZONE_COMPANY_ID,
                offset,
            });
        }
        let data = self
            .manufacturer_data
            // Default: data too short for its company identifier is empty, then refused below
            // as the wrong length.
            .map(|s| s.data.get(2..).unwrap_or_default())
            .ok_or(AdvertisementError::MissingManufacturerData {
                company: BLUEZONE_COMPANY_ID,
            })?;
        BluezoneId::try_from_slice(data).map_err(|_| AdvertisementError::ManufacturerDataLength {
            company: BLUEZONE_COMPANY_ID,
            len: data.len(),
            expected: BluezoneId::LEN,
        })
    }

    pub(super) fn ios(&self) -> Option<IosRecognition> {
        if self.ios_service {
            Some(IosRecognition::ServiceUuid)
        } else if self.overflow_bit {
            Some(IosRecognition::OverflowArea)
        } else {
            None
        }
    }
}

// spec §blid.5.3: reading the Android advertisement.
/// Reads the identifier from an Android Bluezone advertisement: the `0x4E56` UUID must be
/// listed and the `0x22B5` manufacturer data must hold exactly 12 bytes; Flags and other
/// structures are ignored.
///
/// # Errors
/// The malformed-payload errors of [`super::AdStructures`];
/// [`AdvertisementError::MissingServiceUuid`], [`AdvertisementError::MissingManufacturerData`],
/// [`AdvertisementError::DuplicateManufacturerData`] or
/// [`AdvertisementError::ManufacturerDataLength`].
pub fn parse_android(payload: &[u8]) -> Result<BluezoneId, AdvertisementError> {
    let mut facts = BluezoneFacts::default();
    for structure in super::AdStructures::new(payload)? {
        facts.observe(structure?)?;
    }
    if !facts.lists_uuid16 {
        return Err(AdvertisementError::MissingServiceUuid {
            uuid: BLUEZONE_UUID16,
        });
    }
    facts.android_id()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    /// Checks spec §blid.5, §blid.5.1, §blid.5.3.
    fn the_documented_android_payload() {
        let id: BluezoneId = "B9A665D754FE65E665D76A45".parse().unwrap();
        let payload = encode_android(&id, 0x02);
        let expected: [u8; 23] =
            crate::hex::decode_array("0201020303564E0FFFB522B9A665D754FE65E665D76A45").unwrap();
        assert_eq!(payload, expected);
        assert_eq!(parse_android(&payload), Ok(id));
        // Without Flags it still parses.
        assert_eq!(parse_android(&payload[3..]), Ok(id));
        assert_eq!(
            parse_android(&payload[..22]).unwrap_err().class(),
            "truncated"
        );
    }

    #[test]
    /// Checks spec §blid.5.2, §blid.5.4.
    fn classification() {
        use crate::ble::{AdvertisementKind, classify};
        let id: BluezoneId = "B9A665D754FE65E665D76A45".parse().unwrap();
        assert_eq!(
            classify(&encode_android(&id, 0x1a)),
            Ok(AdvertisementKind::BluezoneAndroid(id))
        );
        let iphone: [u8; 31] = crate::hex::decode_array(
            "02011a03036ffd17166ffde23f352fa09307a85d4194912443180d484dc151",
        )
        .unwrap();
        assert!(matches!(classify(&iphone), Ok(AdvertisementKind::Gaen(_))));
        // iOS in the foreground: a 128-bit UUID list and the local name.
        let mut foreground = std::vec![17, AD_TYPE_COMPLETE_UUID128_LIST];
        foreground.extend_from_slice(&IOS_SERVICE_UUID.to_le_bytes());
        foreground.extend_from_slice(b"\x09\x09Bluezone");
        assert_eq!(
            classify(&foreground),
            Ok(AdvertisementKind::BluezoneIos(IosRecognition::ServiceUuid))
        );
        // iOS in the background: Apple's overflow area, exactly the app's filter bytes.
        let mut background = std::vec![20, AD_TYPE_MANUFACTURER_DATA, 0x4c, 0x00];
        background.extend_from_slice(&APPLE_OVERFLOW_FILTER);
        assert_eq!(
            classify(&background),
            Ok(AdvertisementKind::BluezoneIos(IosRecognition::OverflowArea))
        );
        assert_eq!(classify(&[2, 1, 6]), Ok(AdvertisementKind::Unknown));
        // Claims to be Android Bluezone but has no identifier.
        assert_eq!(
            classify(&[3, 3, 0x56, 0x4e]).unwrap_err().class(),
            "missing-manufacturer-data"
        );
        let mut short = encode_android(&id, 0x1a).to_vec();
        short[7] = 14;
        short.pop();
        assert_eq!(
            classify(&short).unwrap_err().class(),
            "manufacturer-data-length"
        );
    }

    #[test]
    /// Checks spec §blid.5.2.
    fn uuids_are_little_endian_on_air() {
        let on_air = IOS_SERVICE_UUID.to_le_bytes();
        assert_eq!(on_air[0], 0x67);
        assert_eq!(on_air[15], 0x00);
        assert_eq!(on_air[13], 0x4E);
    }
}
