//! Length-type-value AD structures (Bluetooth Core Specification, Vol 3, Part C, §11).
//!
//! Each structure is `length (1 byte) ‖ AD type (1 byte) ‖ data (length − 1 bytes)`. A length
//! of zero ends the significant part early; the rest of the payload must then be zero.

use super::AdvertisementError;

/// The most bytes a legacy advertisement (or scan response) payload holds.
pub const LEGACY_PAYLOAD_MAX: usize = 31;

/// AD type: Flags.
pub const AD_TYPE_FLAGS: u8 = 0x01;
/// AD type: Incomplete List of 16-bit Service UUIDs.
pub const AD_TYPE_INCOMPLETE_UUID16_LIST: u8 = 0x02;
/// AD type: Complete List of 16-bit Service UUIDs.
pub const AD_TYPE_COMPLETE_UUID16_LIST: u8 = 0x03;
/// AD type: Complete Local Name.
pub const AD_TYPE_COMPLETE_LOCAL_NAME: u8 = 0x09;
/// AD type: Service Data – 16-bit UUID.
pub const AD_TYPE_SERVICE_DATA_UUID16: u8 = 0x16;
/// AD type: Manufacturer Specific Data.
pub const AD_TYPE_MANUFACTURER_DATA: u8 = 0xFF;

/// One AD structure, borrowed from the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdStructure<'a> {
    /// Offset of the structure's length byte in the payload.
    pub offset: usize,
    /// The AD type.
    pub ad_type: u8,
    /// The data after the type byte.
    pub data: &'a [u8],
}

impl<'a> AdStructure<'a> {
    /// The 16-bit UUIDs of a 16-bit UUID list structure (little-endian on air); an odd final
    /// byte is ignored.
    pub fn uuid16_list(&self) -> impl Iterator<Item = u16> + 'a {
        self.data
            .chunks_exact(2)
            .filter_map(|pair| <[u8; 2]>::try_from(pair).ok().map(u16::from_le_bytes))
    }

    /// For a Service Data – 16-bit UUID structure, the UUID and the data after it.
    ///
    /// # Errors
    /// [`AdvertisementError::Malformed`] when the data is shorter than a UUID.
    pub fn service_data_uuid16(&self) -> Result<(u16, &'a [u8]), AdvertisementError> {
        match self.data {
            [lo, hi, rest @ ..] => Ok((u16::from_le_bytes([*lo, *hi]), rest)),
            _ => Err(AdvertisementError::Malformed {
                offset: self.offset,
                ad_type: self.ad_type,
            }),
        }
    }
}

/// An iterator over the AD structures of a payload. It yields an error at most once and then
/// stops.
#[derive(Clone, Debug)]
pub struct AdStructures<'a> {
    payload: &'a [u8],
    offset: usize,
    finished: bool,
}

impl<'a> AdStructures<'a> {
    // spec §adv.1: AD structures, walked strictly.
    /// Starts walking `payload`.
    ///
    /// # Errors
    /// [`AdvertisementError::TooLong`] for more than [`LEGACY_PAYLOAD_MAX`] bytes.
    pub fn new(payload: &'a [u8]) -> Result<Self, AdvertisementError> {
        if payload.len() > LEGACY_PAYLOAD_MAX {
            return Err(AdvertisementError::TooLong { len: payload.len() });
        }
        Ok(Self {
            payload,
            offset: 0,
            finished: false,
        })
    }

    fn step(&mut self) -> Option<Result<AdStructure<'a>, AdvertisementError>> {
        let offset = self.offset;
        let (&length, rest) = self.payload.get(offset..)?.split_first()?;
        if length == 0 {
            // Early termination: only zero padding may follow.
            let padding_start = offset.saturating_add(1);
            return rest.iter().position(|&b| b != 0).map(|k| {
                Err(AdvertisementError::NonZeroPadding {
                    offset: padding_start.saturating_add(k),
                })
            });
        }
        let declared = usize::from(length);
        let Some(body) = rest.get(..declared) else {
            return Some(Err(AdvertisementError::Truncated {
                offset,
                declared,
                available: rest.len(),
            }));
        };
        let (&ad_type, data) = body.split_first()?;
        self.offset = offset.saturating_add(1).saturating_add(declared);
        Some(Ok(AdStructure {
            offset,
            ad_type,
            data,
        }))
    }
}

impl<'a> Iterator for AdStructures<'a> {
    type Item = Result<AdStructure<'a>, AdvertisementError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let item = self.step();
        if !matches!(item, Some(Ok(_))) {
            self.finished = true;
        }
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(
        payload: &[u8],
    ) -> Result<std::vec::Vec<(u8, std::vec::Vec<u8>)>, AdvertisementError> {
        AdStructures::new(payload)?
            .map(|s| s.map(|s| (s.ad_type, s.data.to_vec())))
            .collect()
    }

    #[test]
    /// Checks spec §adv.1.
    fn walks_terminates_and_rejects() {
        assert_eq!(collect(&[]), Ok(std::vec![]));
        assert_eq!(
            collect(&[2, 1, 6, 1, 0xff, 0, 0, 0]),
            Ok(std::vec![(1, std::vec![6]), (0xff, std::vec![])])
        );
        assert_eq!(
            collect(&[2, 1, 6, 0, 0, 7]),
            Err(AdvertisementError::NonZeroPadding { offset: 5 })
        );
        assert_eq!(
            collect(&[2, 1, 6, 3, 3]),
            Err(AdvertisementError::Truncated {
                offset: 3,
                declared: 3,
                available: 1
            })
        );
        assert_eq!(
            collect(&[0; 32]),
            Err(AdvertisementError::TooLong { len: 32 })
        );
    }
}
