//! The Exposure Notification advertisement (Bluetooth Specification v1.2; spec §adv).
//!
//! ```text
//! 02 01 FL          Flags
//! 03 03 6F FD       Complete List of 16-bit Service UUIDs: 0xFD6F
//! 17 16 6F FD       Service Data – 16-bit UUID 0xFD6F, followed by
//!       RPI (16) ‖ AEM (4)
//! ```

use super::AdvertisementError;
use super::ad::{
    AD_TYPE_COMPLETE_UUID16_LIST, AD_TYPE_FLAGS, AD_TYPE_INCOMPLETE_UUID16_LIST,
    AD_TYPE_SERVICE_DATA_UUID16, AdStructures,
};
use crate::gaen::{AssociatedEncryptedMetadata, RollingProximityIdentifier};

/// The 16-bit service UUID of Exposure Notification, `0xFD6F`.
pub const EXPOSURE_NOTIFICATION_UUID16: u16 = 0xFD6F;
/// Length of the service data after the UUID: RPI ‖ AEM.
pub const SERVICE_DATA_LEN: usize = 20;
/// Length of the whole advertisement this crate encodes.
pub const ADVERTISEMENT_LEN: usize = 31;
/// The Flags value iPhones send: LE General Discoverable, simultaneous LE and BR/EDR
/// (controller and host). The specification requires only bit 1 (General Discoverable).
pub const DEFAULT_FLAGS: u8 = 0x1A;

/// What an Exposure Notification advertisement carries: the identifier and encrypted metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ExposureNotificationAdvertisement {
    /// The rolling proximity identifier.
    pub rpi: RollingProximityIdentifier,
    /// The associated encrypted metadata.
    pub aem: AssociatedEncryptedMetadata,
}

/// A parsed advertising payload: the Exposure Notification content plus what else was seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedExposureNotification {
    /// RPI and AEM.
    pub advertisement: ExposureNotificationAdvertisement,
    /// The first byte of the Flags structure, if the payload had one.
    pub flags: Option<u8>,
    /// Whether a 16-bit service UUID list named `0xFD6F`.
    pub lists_service_uuid: bool,
}

impl ExposureNotificationAdvertisement {
    /// Pairs an identifier with its encrypted metadata.
    #[must_use]
    pub const fn new(rpi: RollingProximityIdentifier, aem: AssociatedEncryptedMetadata) -> Self {
        Self { rpi, aem }
    }

    /// The 20 bytes of service data: RPI ‖ AEM.
    #[must_use]
    pub fn service_data(&self) -> [u8; SERVICE_DATA_LEN] {
        let mut out = [0u8; SERVICE_DATA_LEN];
        let (rpi, aem) = out.split_at_mut(RollingProximityIdentifier::LEN);
        rpi.copy_from_slice(self.rpi.as_bytes());
        aem.copy_from_slice(self.aem.as_bytes());
        out
    }

    // spec §adv.2: the advertisement as the Bluetooth Specification v1.2 lays it out.
    /// The 31-byte legacy advertising payload, Flags first, the UUID list before the service
    /// data as the specification requires.
    #[must_use]
    pub fn encode(&self, flags: u8) -> [u8; ADVERTISEMENT_LEN] {
        let [uuid_lo, uuid_hi] = EXPOSURE_NOTIFICATION_UUID16.to_le_bytes();
        let mut out = [0u8; ADVERTISEMENT_LEN];
        let (head, data) = out.split_at_mut(ADVERTISEMENT_LEN - SERVICE_DATA_LEN);
        head.copy_from_slice(&[
            2,
            AD_TYPE_FLAGS,
            flags,
            3,
            AD_TYPE_COMPLETE_UUID16_LIST,
            uuid_lo,
            uuid_hi,
            // Type + UUID + RPI + AEM = 23 bytes follow this length byte.
            23,
            AD_TYPE_SERVICE_DATA_UUID16,
            uuid_lo,
            uuid_hi,
        ]);
        data.copy_from_slice(&self.service_data());
        out
    }

    /// Reads the 20 bytes of service data (RPI ‖ AEM), as a scanning API hands them over.
    ///
    /// # Errors
    /// [`AdvertisementError::ServiceDataLength`] unless `data` is exactly 20 bytes long.
    pub fn parse_service_data(data: &[u8]) -> Result<Self, AdvertisementError> {
        let bytes: [u8; SERVICE_DATA_LEN] =
            data.try_into()
                .map_err(|_| AdvertisementError::ServiceDataLength {
                    uuid: EXPOSURE_NOTIFICATION_UUID16,
                    len: data.len(),
                    expected: SERVICE_DATA_LEN,
                })?;
        let [rpi @ .., a0, a1, a2, a3] = bytes;
        Ok(Self {
            rpi: RollingProximityIdentifier::from_bytes(rpi),
            aem: AssociatedEncryptedMetadata::from_bytes([a0, a1, a2, a3]),
        })
    }

    // spec §adv.3: reading an advertisement, with its error classes.
    /// Finds the Exposure Notification service data in any legacy advertising payload.
    ///
    /// Structures may come in any order; Flags and the UUID list may be missing (some Android
    /// stacks omit Flags); unrelated structures are skipped. Rejected: a payload over 31 bytes,
    /// a truncated structure, non-zero bytes after a zero-length terminator, a service data
    /// structure too short for its UUID, no `0xFD6F` service data, two of them, or one that
    /// is not exactly 20 bytes.
    ///
    /// # Errors
    /// The [`AdvertisementError`] of the first problem found.
    pub fn parse(payload: &[u8]) -> Result<ParsedExposureNotification, AdvertisementError> {
        let mut found = None;
        let mut flags = None;
        let mut lists_service_uuid = false;
        for structure in AdStructures::new(payload)? {
            let structure = structure?;
            match structure.ad_type {
                AD_TYPE_FLAGS => flags = flags.or(structure.data.first().copied()),
                AD_TYPE_COMPLETE_UUID16_LIST | AD_TYPE_INCOMPLETE_UUID16_LIST => {
                    lists_service_uuid |= structure
                        .uuid16_list()
                        .any(|uuid| uuid == EXPOSURE_NOTIFICATION_UUID16);
                }
                AD_TYPE_SERVICE_DATA_UUID16 => {
                    let (uuid, data) = structure.service_data_uuid16()?;
                    if uuid != EXPOSURE_NOTIFICATION_UUID16 {
                        continue;
                    }
                    if found.is_some() {
                        return Err(AdvertisementError::DuplicateServiceData {
                            uuid,
                            offset: structure.offset,
                        });
                    }
                    found = Some(Self::parse_service_data(data)?);
                }
                _ => {}
            }
        }
        let advertisement = found.ok_or(AdvertisementError::MissingServiceData {
            uuid: EXPOSURE_NOTIFICATION_UUID16,
        })?;
        Ok(ParsedExposureNotification {
            advertisement,
            flags,
            lists_service_uuid,
        })
    }
}

impl core::fmt::Display for ExposureNotificationAdvertisement {
    /// `rpi <hex> aem <hex>`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "rpi {} aem {}", self.rpi, self.aem)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    /// Checks spec §adv.2, §adv.3.
    fn captured_iphone_advertisement_round_trips() {
        // secdev/scapy test/contrib/exposure_notification.uts, iOS 13.5.
        let payload: [u8; 31] = crate::hex::decode_array(
            "02011a03036ffd17166ffde23f352fa09307a85d4194912443180d484dc151",
        )
        .unwrap();
        let parsed = ExposureNotificationAdvertisement::parse(&payload).unwrap();
        assert_eq!(parsed.flags, Some(0x1a));
        assert!(parsed.lists_service_uuid);
        assert_eq!(
            parsed.advertisement.rpi.to_string(),
            "e23f352fa09307a85d4194912443180d"
        );
        assert_eq!(parsed.advertisement.aem.to_string(), "484dc151");
        assert_eq!(parsed.advertisement.encode(0x1a), payload);
    }
}
