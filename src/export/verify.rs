//! ECDSA P-256 signatures over `export.bin` (spec §export.5).
//!
//! A signature covers every byte of `export.bin`, header included, hashed with SHA-256 (or
//! SHA-512 when the algorithm says so) and is DER-encoded. Which public key checks it is
//! decided by the `verification_key_id` and `verification_key_version` of its
//! `SignatureInfo`, looked up in a [`PublicKeyRegistry`].

use std::io::{self, Read};
use std::string::{String, ToString};
use std::vec::Vec;

use p256::ecdsa::signature::Signer;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey};
use sha2::{Digest, Sha256, Sha512};

use super::bin::SignatureInfo;
use super::sig::TekSignature;

pub use p256;

/// The algorithm OID for ECDSA with SHA-256: what every deployed server wrote.
pub const ECDSA_WITH_SHA256: &str = "1.2.840.10045.4.3.2";
/// The algorithm OID for ECDSA with SHA-512, which Google's engine also accepted.
pub const ECDSA_WITH_SHA512: &str = "1.2.840.10045.4.3.4";
/// The algorithm string of Google's pre-release sample files, read as ECDSA with SHA-256.
pub const LEGACY_ECDSA_P256_SHA256: &str = "ECDSA p-256 SHA-256";

/// A key that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a P-256 {what} key in {format}")]
pub struct KeyError {
    /// "public" or "private".
    pub what: &'static str,
    /// The format tried.
    pub format: &'static str,
}

/// Both digests of an `export.bin`, so that any signature can be checked from one pass over
/// the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportDigests {
    /// SHA-256 of the file.
    pub sha256: [u8; 32],
    /// SHA-512 of the file.
    pub sha512: [u8; 64],
}

impl ExportDigests {
    /// Hashes bytes in memory.
    #[must_use]
    pub fn of(export_bin: &[u8]) -> Self {
        Self {
            sha256: Sha256::digest(export_bin).into(),
            sha512: Sha512::digest(export_bin).into(),
        }
    }

    /// Hashes a stream in constant memory.
    ///
    /// # Errors
    /// The reader's I/O error.
    pub fn of_reader(mut reader: impl Read) -> io::Result<Self> {
        let mut hashers = Hashers::new(true, true);
        let mut buffer = [0u8; 16 * 1024];
        loop {
            match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => hashers.update(
                    buffer
                        .get(..n)
                        .ok_or_else(|| io::Error::other(crate::codec::OVER_READ))?,
                ),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(hashers.digests())
    }
}

/// The digests of [`ExportDigests`] computed incrementally, each only when asked for.
#[derive(Clone, Debug, Default)]
pub(crate) struct Hashers {
    sha256: Option<Sha256>,
    sha512: Option<Sha512>,
}

impl Hashers {
    /// Hashers for the digests wanted.
    pub(crate) fn new(sha256: bool, sha512: bool) -> Self {
        Self {
            sha256: sha256.then(Sha256::new),
            sha512: sha512.then(Sha512::new),
        }
    }

    /// Hashes the next bytes.
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        if let Some(h) = self.sha256.as_mut() {
            h.update(bytes);
        }
        if let Some(h) = self.sha512.as_mut() {
            h.update(bytes);
        }
    }

    /// The digests so far. One not asked for is all zeros: only a caller that knows no
    /// signature needs it may skip it.
    pub(crate) fn digests(&self) -> ExportDigests {
        ExportDigests {
            sha256: self.sha256.clone().map_or([0; 32], |h| h.finalize().into()),
            sha512: self.sha512.clone().map_or([0; 64], |h| h.finalize().into()),
        }
    }
}

/// A public key and the names signatures use for it.
#[derive(Clone, Debug)]
pub struct RegisteredKey {
    /// `verification_key_id` it answers to; `None` answers to any.
    pub id: Option<String>,
    /// `verification_key_version` it answers to; `None` answers to any.
    pub version: Option<String>,
    /// The key.
    pub key: VerifyingKey,
}

/// The public keys a phone trusts, by key id and version, and which of them must sign
/// together (spec §export.5.2).
///
/// Google's `SignatureVerifier` takes keys as *cosign sets* joined by *rotation
/// alternatives*: `A&B|C` accepts a file that both A and B signed, or that C signed. Here the
/// sets are declared with [`Self::add_cosign_set`] or [`Self::set_policy`]; a registry that
/// declares none treats every key as an alternative of its own.
#[derive(Clone, Debug, Default)]
pub struct PublicKeyRegistry {
    keys: Vec<RegisteredKey>,
    sets: Vec<Vec<usize>>,
}

/// A signature policy that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A cosign set with no key.
    #[error("a cosign set names no key")]
    EmptySet,
    /// A set names a key the registry does not hold.
    #[error("the policy names {0:?}, which no registered key is called (id-version)")]
    UnknownKey(String),
}

impl PublicKeyRegistry {
    /// An empty registry.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            keys: Vec::new(),
            sets: Vec::new(),
        }
    }

    /// Adds a key and returns its index (for [`Self::add_cosign_set`]).
    pub fn add(&mut self, id: Option<&str>, version: Option<&str>, key: VerifyingKey) -> usize {
        self.keys.push(RegisteredKey {
            id: id.map(ToString::to_string),
            version: version.map(ToString::to_string),
            key,
        });
        self.keys.len() - 1
    }

    /// Declares that the keys at `members` sign together: through this set a file is
    /// authentic only when each of them verified one of its signatures. Sets are alternatives
    /// of each other (key rotation).
    ///
    /// # Errors
    /// [`PolicyError`] for an empty set or an index no key has.
    pub fn add_cosign_set(&mut self, members: &[usize]) -> Result<(), PolicyError> {
        if members.is_empty() {
            return Err(PolicyError::EmptySet);
        }
        if let Some(bad) = members.iter().find(|m| **m >= self.keys.len()) {
            return Err(PolicyError::UnknownKey(std::format!("key #{bad}")));
        }
        self.sets.push(members.to_vec());
        Ok(())
    }

    /// Declares the sets in Google's notation over the keys' names `id-version`:
    /// `310-v1&311-v1|312-v1` (cosign with `&`, alternatives with `|`). Replaces any sets
    /// declared before.
    ///
    /// # Errors
    /// [`PolicyError`] for an empty set or a name no registered key has.
    pub fn set_policy(&mut self, policy: &str) -> Result<(), PolicyError> {
        let mut sets = Vec::new();
        for alternative in policy.split('|') {
            let mut set = Vec::new();
            for name in alternative.split('&').map(str::trim) {
                if name.is_empty() {
                    return Err(PolicyError::EmptySet);
                }
                let index = self
                    .keys
                    .iter()
                    .position(|k| {
                        let full = std::format!(
                            "{}-{}",
                            k.id.as_deref().unwrap_or(""),
                            k.version.as_deref().unwrap_or("")
                        );
                        full == name
                    })
                    .ok_or_else(|| PolicyError::UnknownKey(name.to_string()))?;
                set.push(index);
            }
            sets.push(set);
        }
        self.sets = sets;
        Ok(())
    }

    /// The cosign sets in force: those declared, or every key on its own.
    #[must_use]
    pub fn sets(&self) -> Vec<Vec<usize>> {
        if self.sets.is_empty() {
            (0..self.keys.len()).map(|k| std::vec![k]).collect()
        } else {
            self.sets.clone()
        }
    }

    /// Adds a key from a PEM `PUBLIC KEY` (X.509 SubjectPublicKeyInfo) block.
    ///
    /// # Errors
    /// [`KeyError`] when the text is not a P-256 public key.
    pub fn add_pem(
        &mut self,
        id: Option<&str>,
        version: Option<&str>,
        pem: &str,
    ) -> Result<(), KeyError> {
        let key = VerifyingKey::from_public_key_pem(pem.trim()).map_err(|_| KeyError {
            what: "public",
            format: "PEM SubjectPublicKeyInfo",
        })?;
        self.add(id, version, key);
        Ok(())
    }

    /// Adds a key from DER SubjectPublicKeyInfo bytes (what health authorities publish as
    /// base64).
    ///
    /// # Errors
    /// [`KeyError`] when the bytes are not a P-256 public key.
    pub fn add_der(
        &mut self,
        id: Option<&str>,
        version: Option<&str>,
        der: &[u8],
    ) -> Result<(), KeyError> {
        let key = VerifyingKey::from_public_key_der(der).map_err(|_| KeyError {
            what: "public",
            format: "DER SubjectPublicKeyInfo",
        })?;
        self.add(id, version, key);
        Ok(())
    }

    /// The registered keys.
    #[must_use]
    pub fn keys(&self) -> &[RegisteredKey] {
        &self.keys
    }

    /// The keys that may have made a signature with `info` (spec §export.5.2): those whose id
    /// and version are unset or equal to the signature's; a signature that names no key id
    /// is checked against the only registered key when it is also the file's only signature
    /// (Google's rule for early files).
    fn candidates<'a>(
        &'a self,
        info: Option<&'a SignatureInfo>,
        only_signature: bool,
    ) -> impl Iterator<Item = (usize, &'a RegisteredKey)> {
        let id = info.and_then(|i| i.verification_key_id.as_deref());
        let version = info.and_then(|i| i.verification_key_version.as_deref());
        let only_one = self.keys.len() == 1 && only_signature;
        self.keys.iter().enumerate().filter(move |(_, k)| {
            if id.is_none() && only_one {
                return true;
            }
            let id_ok = k.id.is_none() || k.id.as_deref() == id;
            let version_ok = k.version.is_none() || k.version.as_deref() == version;
            id.is_some() && id_ok && version_ok
        })
    }
}

/// What became of one signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "status", rename_all = "snake_case"))]
pub enum SignatureStatus {
    /// A registered key verified it (its index in the registry).
    Verified {
        /// Index of the key in the registry.
        key: usize,
    },
    /// Registered keys answer to its name, and none verifies it.
    Invalid,
    /// No registered key answers to its name: another authority's, ignored.
    NoKey,
    /// The algorithm is neither ECDSA with SHA-256 nor with SHA-512.
    UnsupportedAlgorithm,
    /// The signature bytes are not a DER ECDSA signature.
    Malformed,
}

impl core::fmt::Display for SignatureStatus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Verified { key } => write!(f, "verified by registered key #{}", key + 1),
            Self::Invalid => f.write_str("invalid"),
            Self::NoKey => f.write_str("no registered key of that name (ignored)"),
            Self::UnsupportedAlgorithm => f.write_str("unsupported algorithm"),
            Self::Malformed => f.write_str("not a DER ECDSA signature"),
        }
    }
}

/// The verification of one `export.bin` against its `export.sig`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Verification {
    /// Each signature's outcome, in `export.sig` order.
    pub signatures: Vec<SignatureStatus>,
    /// Whether `export.sig` has as many signatures as `export.bin` has `signature_infos`.
    pub counts_match: bool,
    /// The verdict (spec §export.5.3): the counts match and, for some cosign set of the
    /// registry, every key of the set verified one of the signatures.
    pub authentic: bool,
    /// The cosign set that made the file authentic (its index in
    /// [`PublicKeyRegistry::sets`]).
    pub by_set: Option<usize>,
}

impl core::fmt::Display for Verification {
    /// For people: `valid` or `INVALID`, a count mismatch, then each signature's status.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(if self.authentic { "valid" } else { "INVALID" })?;
        let verified_some = self
            .signatures
            .iter()
            .any(|s| matches!(s, SignatureStatus::Verified { .. }));
        if !self.authentic && self.counts_match && verified_some {
            f.write_str(
                " (no cosign set is complete: a set needs a valid signature from each of its keys)",
            )?;
        }
        if !self.counts_match {
            write!(
                f,
                " ({} signature(s), not as many as export.bin's signature infos)",
                self.signatures.len()
            )?;
        }
        if self.signatures.is_empty() {
            f.write_str("; no signature")?;
        }
        for (n, status) in self.signatures.iter().enumerate() {
            write!(f, "; signature {}: {status}", n + 1)?;
        }
        Ok(())
    }
}

/// Checks the signatures of an `export.bin` whose digests are `digests` and which declares
/// `signature_infos_in_bin` signature infos.
#[must_use]
pub fn verify(
    digests: &ExportDigests,
    signature_infos_in_bin: usize,
    signatures: &[TekSignature],
    registry: &PublicKeyRegistry,
) -> Verification {
    let only_signature = signatures.len() == 1;
    let statuses: Vec<SignatureStatus> = signatures
        .iter()
        .map(|s| check_one(digests, s, registry, only_signature))
        .collect();
    let counts_match = signature_infos_in_bin == signatures.len();
    let verified = |key: usize| statuses.contains(&SignatureStatus::Verified { key });
    // Signatures no set needs are ignored, valid or not: they neither help nor hurt.
    let by_set = registry
        .sets()
        .iter()
        .position(|set| !set.is_empty() && set.iter().all(|k| verified(*k)))
        .filter(|_| counts_match);
    Verification {
        signatures: statuses,
        counts_match,
        authentic: by_set.is_some(),
        by_set,
    }
}

fn check_one(
    digests: &ExportDigests,
    signature: &TekSignature,
    registry: &PublicKeyRegistry,
    only_signature: bool,
) -> SignatureStatus {
    let info = signature.signature_info.as_ref();
    let mut candidates = registry.candidates(info, only_signature).peekable();
    if candidates.peek().is_none() {
        return SignatureStatus::NoKey;
    }
    // spec §export.5.1: which digest the signature covers, by the algorithm named.
    let digest: &[u8] = match info.and_then(|i| i.signature_algorithm.as_deref()) {
        None | Some(ECDSA_WITH_SHA256 | LEGACY_ECDSA_P256_SHA256) => &digests.sha256,
        Some(ECDSA_WITH_SHA512) => &digests.sha512,
        Some(_) => return SignatureStatus::UnsupportedAlgorithm,
    };
    let Ok(parsed) = Signature::from_der(&signature.signature) else {
        return SignatureStatus::Malformed;
    };
    candidates
        .find(|(_, k)| k.key.verify_prehash(digest, &parsed).is_ok())
        .map_or(SignatureStatus::Invalid, |(index, _)| {
            SignatureStatus::Verified { key: index }
        })
}

/// Reads a private signing key from PEM: PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`.
///
/// # Errors
/// [`KeyError`] when the text is neither.
pub fn signing_key_from_pem(pem: &str) -> Result<SigningKey, KeyError> {
    let pem = pem.trim();
    SigningKey::from_pkcs8_pem(pem)
        .or_else(|_| p256::SecretKey::from_sec1_pem(pem).map(SigningKey::from))
        .map_err(|_| KeyError {
            what: "private",
            format: "PEM (PKCS#8 or SEC1)",
        })
}

/// Signs an `export.bin` with ECDSA P-256 and SHA-256 (deterministic, RFC 6979), as the
/// reference server does.
#[must_use]
pub fn sign(
    export_bin: &[u8],
    key: &SigningKey,
    info: SignatureInfo,
    batch_num: i32,
    batch_size: i32,
) -> TekSignature {
    let signature: Signature = key.sign(export_bin);
    TekSignature {
        signature_info: Some(info),
        batch_num: Some(batch_num),
        batch_size: Some(batch_size),
        signature: signature.to_der().as_bytes().to_vec(),
    }
}
