//! Hexadecimal text for the byte strings of the protocol.
//!
//! Identifiers and keys are shown and parsed as hex in vector files, CSV logs and the
//! command-line tool. Parsing accepts both cases; formatting is lower case unless a type says
//! otherwise (the Bluezone app used upper case).

use core::fmt;

/// Why a hexadecimal string could not be read as a fixed number of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseHexError {
    /// The string does not have exactly twice as many digits as the bytes expected.
    #[error("expected {expected} hex digits, found {found}")]
    Length {
        /// Digits expected.
        expected: usize,
        /// Characters found.
        found: usize,
    },
    /// A character that is not a hex digit.
    #[error("character {index} is not a hex digit")]
    Digit {
        /// Zero-based position of the offending character.
        index: usize,
    },
}

const fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes `text` into exactly `out.len()` bytes.
pub(crate) fn decode_into(text: &str, out: &mut [u8]) -> Result<(), ParseHexError> {
    let digits = text.as_bytes();
    let expected = out.len().saturating_mul(2);
    if digits.len() != expected {
        return Err(ParseHexError::Length {
            expected,
            found: digits.len(),
        });
    }
    for (index, (byte, pair)) in out.iter_mut().zip(digits.chunks_exact(2)).enumerate() {
        let [hi, lo] = pair else {
            return Err(ParseHexError::Digit { index: index * 2 });
        };
        let hi = nibble(*hi).ok_or(ParseHexError::Digit { index: index * 2 })?;
        let lo = nibble(*lo).ok_or(ParseHexError::Digit {
            index: index * 2 + 1,
        })?;
        *byte = (hi << 4) | lo;
    }
    Ok(())
}

/// Decodes `text` (either case) into exactly `N` bytes.
///
/// # Errors
/// [`ParseHexError`] for a wrong length or a character that is not a hex digit.
pub fn decode_array<const N: usize>(text: &str) -> Result<[u8; N], ParseHexError> {
    let mut out = [0u8; N];
    decode_into(text, &mut out)?;
    Ok(out)
}

/// Writes `bytes` as hex digits, lower or upper case.
pub(crate) fn write(f: &mut fmt::Formatter<'_>, bytes: &[u8], upper: bool) -> fmt::Result {
    for byte in bytes {
        if upper {
            write!(f, "{byte:02X}")?;
        } else {
            write!(f, "{byte:02x}")?;
        }
    }
    Ok(())
}

/// Displays a byte slice as lower-case hex without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write(f, self.0, false)
    }
}

impl fmt::UpperHex for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write(f, self.0, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_both_cases_and_rejects_bad_input() {
        assert_eq!(decode_array::<2>("aB0f"), Ok([0xab, 0x0f]));
        assert_eq!(
            decode_array::<2>("ab0"),
            Err(ParseHexError::Length {
                expected: 4,
                found: 3
            })
        );
        assert_eq!(
            decode_array::<2>("ab0g"),
            Err(ParseHexError::Digit { index: 3 })
        );
        // A multi-byte character must not be split or accepted.
        assert!(decode_array::<2>("é00").is_err());
    }
}
