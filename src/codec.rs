//! The one bounded byte reader every decoder of the crate reads with.
//!
//! A [`Reader`] hands out the bytes of its input front to back and fails with [`Short`] when
//! the input ends first: no decoder reads past its input, and none invents zeros for bytes
//! that are not there. [`Reader::count`] refuses a record count the bytes left cannot hold,
//! so that no allocation sized by a count is larger than the input. Each format turns
//! [`Short`] into its own error (`DamageReason::Truncated`, `ExportError::Length`, …).

#![cfg_attr(
    not(feature = "export"),
    allow(
        dead_code,
        reason = "without `export` the state format, which reads the widest range of values, is not built"
    )
)]

/// What an I/O path reports when a `Read` implementation claims to have read more bytes than
/// the buffer it was given holds (a broken reader): an error, never a panic or a guess.
#[cfg(feature = "export")]
pub(crate) const OVER_READ: &str = "the reader reported more bytes read than its buffer holds";

/// The input ended before the structure being read did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Short;

/// Reads a byte slice front to back.
#[derive(Clone, Debug)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    used: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub(crate) const fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, used: 0 }
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Short> {
        let (head, tail) = self.bytes.split_at_checked(n).ok_or(Short)?;
        self.bytes = tail;
        self.used += n;
        Ok(head)
    }

    /// The next `N` bytes as an array.
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], Short> {
        let (head, tail) = self.bytes.split_first_chunk::<N>().ok_or(Short)?;
        self.bytes = tail;
        self.used += N;
        Ok(*head)
    }

    /// One byte.
    pub(crate) fn u8(&mut self) -> Result<u8, Short> {
        let [b] = self.array()?;
        Ok(b)
    }

    /// One signed byte.
    pub(crate) fn i8(&mut self) -> Result<i8, Short> {
        Ok(i8::from_le_bytes(self.array()?))
    }

    /// A little-endian `u16`.
    pub(crate) fn u16(&mut self) -> Result<u16, Short> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    /// A little-endian `u32`.
    pub(crate) fn u32(&mut self) -> Result<u32, Short> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// A little-endian `i32`.
    pub(crate) fn i32(&mut self) -> Result<i32, Short> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    /// A little-endian `u64`.
    pub(crate) fn u64(&mut self) -> Result<u64, Short> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A little-endian `u32` count of records of `size` bytes each, refused when the bytes
    /// left cannot hold that many: a count never sizes an allocation beyond the input.
    pub(crate) fn count(&mut self, size: usize) -> Result<usize, Short> {
        let n = usize::try_from(self.u32()?).map_err(|_| Short)?;
        if n.checked_mul(size)
            .is_none_or(|total| total > self.bytes.len())
        {
            return Err(Short);
        }
        Ok(n)
    }

    /// The bytes not read yet, without consuming them.
    pub(crate) const fn rest(&self) -> &'a [u8] {
        self.bytes
    }

    /// How many bytes have been read.
    pub(crate) const fn used(&self) -> usize {
        self.used
    }

    /// Whether every byte has been read.
    pub(crate) const fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_read_past_the_end_is_short_and_consumes_nothing() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16(), Ok(0x0201));
        assert_eq!(r.u32(), Err(Short));
        assert_eq!(r.array::<2>(), Err(Short));
        assert_eq!(r.take(2), Err(Short));
        assert_eq!(r.used(), 2);
        assert_eq!(r.u8(), Ok(3));
        assert!(r.is_empty());
        assert_eq!(r.u8(), Err(Short));
    }

    #[test]
    fn a_count_the_input_cannot_hold_is_refused() {
        let mut bytes = [0u8; 4 + 32];
        bytes[..4].copy_from_slice(&2u32.to_le_bytes());
        assert_eq!(Reader::new(&bytes).count(16), Ok(2));
        assert_eq!(Reader::new(&bytes).count(17), Err(Short));
        bytes[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Reader::new(&bytes).count(1), Err(Short));
        assert_eq!(Reader::new(&bytes).count(0), Ok(u32::MAX as usize));
    }
}
