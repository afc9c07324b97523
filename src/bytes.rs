//! The two shapes every fixed-size byte string of the protocol takes.
//!
//! * [`public_bytes!`] for values that are broadcast or published (identifiers, encrypted
//!   metadata, published keys): `Copy`, ordered, hashable, shown as hex.
//! * [`secret_bytes!`] for keys that must stay on the device: no `Copy`, a redacted `Debug`,
//!   zeroized on drop and compared in constant time.

/// A byte string of the wrong length was given where a fixed length is required.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected} bytes, found {found}")]
pub struct LengthError {
    /// Bytes required.
    pub expected: usize,
    /// Bytes given.
    pub found: usize,
}

/// Defines a public fixed-size byte string with hex `Display`/`FromStr` and optional serde.
macro_rules! public_bytes {
    ($(#[$meta:meta])* $name:ident, $len:expr, upper_hex = $upper:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        #[repr(transparent)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// Wraps raw bytes.
            #[must_use]
            pub const fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// The raw bytes.
            #[must_use]
            pub const fn to_bytes(self) -> [u8; $len] {
                self.0
            }

            /// The raw bytes, borrowed.
            #[must_use]
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Reads exactly [`Self::LEN`] bytes from a slice.
            ///
            /// # Errors
            /// [`crate::LengthError`] when the slice has another length.
            pub fn try_from_slice(bytes: &[u8]) -> Result<Self, crate::LengthError> {
                <[u8; $len]>::try_from(bytes)
                    .map(Self)
                    .map_err(|_| crate::LengthError { expected: $len, found: bytes.len() })
            }
        }

        impl From<[u8; $len]> for $name {
            fn from(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }
        }

        impl From<$name> for [u8; $len] {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                crate::hex::write(f, &self.0, $upper)
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl core::str::FromStr for $name {
            type Err = crate::hex::ParseHexError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                crate::hex::decode_array(text).map(Self)
            }
        }

        #[cfg(feature = "serde")]
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                crate::bytes::serialize_hex(&self.0, $upper, serializer)
            }
        }

        #[cfg(feature = "serde")]
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                crate::bytes::deserialize_hex(deserializer).map(Self)
            }
        }
    };
}

// spec §sec.1: secrets are not `Copy`, print redacted, compare in constant time and are
// zeroized on drop.
/// Defines a secret fixed-size key: private bytes, redacted `Debug`, zeroized on drop,
/// equality in constant time.
macro_rules! secret_bytes {
    ($(#[$meta:meta])* $name:ident, $len:expr) => {
        $(#[$meta])*
        #[derive(Clone)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// Wraps key bytes that were obtained elsewhere (a test vector, secure storage).
            #[must_use]
            pub const fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// The key bytes. Handle with care: the copy you make is not zeroized for you.
            #[must_use]
            pub const fn expose_secret(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(concat!(stringify!($name), " { .. }"))
            }
        }

        impl Drop for $name {
            fn drop(&mut self) {
                zeroize::Zeroize::zeroize(&mut self.0);
            }
        }

        impl zeroize::ZeroizeOnDrop for $name {}

        impl subtle::ConstantTimeEq for $name {
            fn ct_eq(&self, other: &Self) -> subtle::Choice {
                self.0.ct_eq(&other.0)
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                subtle::ConstantTimeEq::ct_eq(self, other).into()
            }
        }

        impl Eq for $name {}
    };
}

pub(crate) use public_bytes;
pub(crate) use secret_bytes;

#[cfg(feature = "serde")]
pub(crate) fn serialize_hex<S: serde::Serializer>(
    bytes: &[u8],
    upper: bool,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        struct Text<'a>(&'a [u8], bool);
        impl core::fmt::Display for Text<'_> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                crate::hex::write(f, self.0, self.1)
            }
        }
        serializer.collect_str(&Text(bytes, upper))
    } else {
        serializer.serialize_bytes(bytes)
    }
}

#[cfg(feature = "serde")]
pub(crate) fn deserialize_hex<'de, D: serde::Deserializer<'de>, const N: usize>(
    deserializer: D,
) -> Result<[u8; N], D::Error> {
    struct Visitor<const N: usize>;
    impl<const N: usize> serde::de::Visitor<'_> for Visitor<N> {
        type Value = [u8; N];

        fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            write!(f, "{N} bytes as {} hex digits or a byte string", N * 2)
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
            crate::hex::decode_array(text).map_err(E::custom)
        }

        fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Self::Value, E> {
            <[u8; N]>::try_from(bytes).map_err(|_| E::invalid_length(bytes.len(), &self))
        }
    }
    if deserializer.is_human_readable() {
        deserializer.deserialize_str(Visitor::<N>)
    } else {
        deserializer.deserialize_bytes(Visitor::<N>)
    }
}
