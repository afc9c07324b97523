//! One-shot verbs for the two flows every caller of the export layer repeats (spec §export.8):
//! writing a signed `export.zip` in one call, and opening an export file (zip or bare
//! `export.bin`) to stream its keys and verify its signatures in one pass over its bytes.
//!
//! The layered pieces ([`super::bin`], [`super::sig`], [`super::verify`], [`super::archive`])
//! stay available; these functions only give the common path a name, so that the number of
//! signature infos is always read from the file and never passed by hand.

use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::string::ToString;
use std::vec::Vec;

use rand_core::CryptoRng;

use super::archive::{self, ArchiveError, Bounded, ExportArchive, ZipLimits};
use super::bin::{self, ExportMetadata, ExportedKey, SignatureInfo};
use super::sig::{self, TekSignature};
use super::stream::{ExportReader, StreamError};
use super::verify::{self, Hashers, PublicKeyRegistry, Verification};
use super::{EXPORT_HEADER, ExportError};
use crate::gaen::DiagnosisKey;
use p256::ecdsa::SigningKey;

/// The zip local-file-header magic that opens every `export.zip`.
const ZIP_MAGIC: &[u8; 4] = b"PK\x03\x04";

/// One signature to put on a file: the key, and how the file names it.
#[derive(Clone, Copy, Debug)]
pub struct Signer<'k> {
    /// The health authority's signing key.
    pub key: &'k SigningKey,
    /// `verification_key_id`, for example the region's MCC `452`.
    pub key_id: &'k str,
    /// `verification_key_version`, for example `v1`.
    pub key_version: &'k str,
}

impl Signer<'_> {
    /// The signature info this signer writes into `export.bin` and `export.sig`.
    #[must_use]
    pub fn info(&self) -> SignatureInfo {
        SignatureInfo {
            verification_key_version: Some(self.key_version.to_string()),
            verification_key_id: Some(self.key_id.to_string()),
            signature_algorithm: Some(verify::ECDSA_WITH_SHA256.to_string()),
            ..SignatureInfo::default()
        }
    }
}

/// What [`write_signed`] wrote.
#[derive(Debug)]
pub struct Written<W> {
    /// The writer, after the archive's last byte.
    pub out: W,
    /// Keys in `export.bin`, padding included.
    pub keys: u64,
}

/// Writes a signed `export.zip` in one call: `export.bin` from `metadata` and `keys` (padded
/// with random keys up to `pad_to`, spec §export.5), one ECDSA P-256 SHA-256 signature per
/// signer in `export.sig`, both DEFLATE-compressed in that order, as the reference server does.
///
/// The signature infos of `metadata` are replaced by the signers' own, so that `export.bin`
/// names exactly the signatures `export.sig` holds. `batch_num` and `batch_size` default to 1.
///
/// # Errors
/// [`ArchiveError`] from the writer.
pub fn write_signed<W: Write + Seek, R: CryptoRng + ?Sized>(
    out: W,
    metadata: &ExportMetadata,
    mut keys: Vec<DiagnosisKey>,
    pad_to: usize,
    rng: &mut R,
    signers: &[Signer<'_>],
) -> Result<Written<W>, ArchiveError> {
    let (batch_num, batch_size) = (
        metadata.batch_num.unwrap_or(1),
        metadata.batch_size.unwrap_or(1),
    );
    let metadata = ExportMetadata {
        batch_num: Some(batch_num),
        batch_size: Some(batch_size),
        signature_infos: signers.iter().map(Signer::info).collect(),
        ..metadata.clone()
    };
    bin::pad(&mut keys, pad_to, rng);
    let written_keys = keys.len() as u64;
    let export_bin = bin::build(&metadata, keys, 0, rng);
    let signatures: Vec<TekSignature> = signers
        .iter()
        .map(|s| verify::sign(&export_bin, s.key, s.info(), batch_num, batch_size))
        .collect();
    let out = archive::write(out, &export_bin, Some(&sig::encode(&signatures)))?;
    Ok(Written {
        out,
        keys: written_keys,
    })
}

/// Why an export file could not be opened, read or verified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportFileError {
    /// The file starts neither with the zip magic nor with `"EK Export v1    "`.
    #[error(
        "neither an export.zip nor a bare export.bin (it starts with neither \"PK\" nor \"EK Export v1\")"
    )]
    Unrecognised,
    /// The zip container is unreadable, incomplete or over its limits.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// `export.sig` is malformed.
    #[error("export.sig: {0}")]
    Signatures(ExportError),
    /// `export.bin` is malformed.
    #[error("export.bin: {0}")]
    Bin(ExportError),
    /// Reading failed.
    #[error("read error: {0}")]
    Io(io::Error),
}

impl ExportFileError {
    /// A stable kebab-case label for the kind of failure.
    #[must_use]
    pub const fn class(&self) -> &'static str {
        match self {
            Self::Unrecognised => "unrecognised",
            Self::Archive(_) => "archive",
            Self::Signatures(_) => "signatures",
            Self::Bin(_) => "export-bin",
            Self::Io(_) => "io",
        }
    }
}

impl From<StreamError> for ExportFileError {
    fn from(error: StreamError) -> Self {
        match error {
            StreamError::Format(e) => Self::Bin(e),
            StreamError::Io(e) => match archive::unwrap_too_large(e) {
                Ok(too_large) => Self::Archive(too_large),
                Err(e) => Self::Io(e),
            },
        }
    }
}

/// The container an export file came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum ExportFormat {
    /// An `export.zip` holding `export.bin` and, when signed, `export.sig`.
    Zip,
    /// A bare `export.bin`, which carries no signature.
    Bare,
}

#[derive(Debug)]
enum Source<R> {
    Zip(ExportArchive<R>),
    Bare(R),
}

/// An opened export file, zip or bare; see [`ExportFile::keys`].
#[derive(Debug)]
pub struct ExportFile<R> {
    source: Source<R>,
    signatures: Vec<TekSignature>,
}

impl<R: Read + Seek> ExportFile<R> {
    /// Opens a file with the default zip limits: recognises the container from its first
    /// bytes and reads and parses `export.sig` if there is one.
    ///
    /// # Errors
    /// [`ExportFileError`] for a file that is neither container, an unreadable archive or a
    /// malformed `export.sig`.
    pub fn open(reader: R) -> Result<Self, ExportFileError> {
        Self::open_with_limits(reader, ZipLimits::default())
    }

    /// As [`Self::open`], with the given zip limits.
    ///
    /// # Errors
    /// As [`Self::open`].
    pub fn open_with_limits(mut reader: R, limits: ZipLimits) -> Result<Self, ExportFileError> {
        let mut magic = [0u8; 16];
        let got = read_up_to(&mut reader, &mut magic).map_err(ExportFileError::Io)?;
        reader
            .seek(SeekFrom::Start(0))
            .map_err(ExportFileError::Io)?;
        let (head, _) = magic.split_at(got.min(magic.len()));
        if head.starts_with(ZIP_MAGIC) {
            let mut zip = ExportArchive::open_with_limits(reader, limits)?;
            let signatures = match zip.read_export_sig()? {
                Some(bytes) => sig::parse(&bytes).map_err(ExportFileError::Signatures)?,
                None => Vec::new(),
            };
            Ok(Self {
                source: Source::Zip(zip),
                signatures,
            })
        } else if head == EXPORT_HEADER {
            Ok(Self {
                source: Source::Bare(reader),
                signatures: Vec::new(),
            })
        } else {
            Err(ExportFileError::Unrecognised)
        }
    }

    /// The container.
    #[must_use]
    pub const fn format(&self) -> ExportFormat {
        match self.source {
            Source::Zip(_) => ExportFormat::Zip,
            Source::Bare(_) => ExportFormat::Bare,
        }
    }

    /// The signatures of `export.sig` (none for a bare `export.bin` or an unsigned zip).
    #[must_use]
    pub fn signatures(&self) -> &[TekSignature] {
        &self.signatures
    }

    /// Streams the keys and revised keys of `export.bin`, hashing the same bytes as they are
    /// read when `registry` is given, so that [`KeyStream::finish`] can verify the file
    /// without reading it again. Keys arrive before the verdict: a caller must not act on
    /// them until `finish` says the file is authentic.
    ///
    /// # Errors
    /// [`ExportFileError`] when `export.bin` is missing, over its limits or has a bad header.
    pub fn keys<'a>(
        &'a mut self,
        registry: Option<&'a PublicKeyRegistry>,
    ) -> Result<KeyStream<'a, R>, ExportFileError> {
        let member = match &mut self.source {
            Source::Zip(zip) => Member::Zip(zip.export_bin()?),
            Source::Bare(reader) => {
                reader
                    .seek(SeekFrom::Start(0))
                    .map_err(ExportFileError::Io)?;
                Member::Bare(reader)
            }
        };
        // Hash only what some signature can be checked with; nothing when unchecked.
        let check = registry.is_some() && !self.signatures.is_empty();
        let sha512 = check
            && self.signatures.iter().any(|s| {
                s.signature_info
                    .as_ref()
                    .and_then(|i| i.signature_algorithm.as_deref())
                    == Some(verify::ECDSA_WITH_SHA512)
            });
        let hashing = Hashing {
            inner: member,
            hashers: Hashers::new(check, sha512),
        };
        let reader = ExportReader::new(BufReader::with_capacity(64 * 1024, hashing))?;
        Ok(KeyStream {
            reader,
            signatures: &self.signatures,
            registry,
        })
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|r| !r.is_empty()) {
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "one member per stream, read through a 64 KiB buffer: boxing saves nothing"
)]
enum Member<'a, R: Read> {
    Zip(Bounded<zip::read::ZipFile<'a, R>>),
    Bare(&'a mut R),
}

impl<R: Read> Read for Member<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Zip(member) => member.read(buf),
            Self::Bare(reader) => reader.read(buf),
        }
    }
}

/// A reader that hashes what passes through it.
struct Hashing<M> {
    inner: M,
    hashers: Hashers,
}

impl<M: Read> Read for Hashing<M> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let read = buf
            .get(..n)
            .ok_or_else(|| io::Error::other(crate::codec::OVER_READ))?;
        self.hashers.update(read);
        Ok(n)
    }
}

impl<M> core::fmt::Debug for Hashing<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Hashing")
            .field("hashers", &self.hashers)
            .finish_non_exhaustive()
    }
}

/// The keys of one export file as they are read; see [`ExportFile::keys`].
#[derive(Debug)]
pub struct KeyStream<'a, R: Read> {
    reader: ExportReader<BufReader<Hashing<Member<'a, R>>>>,
    signatures: &'a [TekSignature],
    registry: Option<&'a PublicKeyRegistry>,
}

impl<R: Read> Iterator for KeyStream<'_, R> {
    type Item = Result<ExportedKey, ExportFileError>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.reader.next()?.map_err(ExportFileError::from))
    }
}

impl<R: Read> KeyStream<'_, R> {
    /// The metadata read so far (all of it once the keys are exhausted).
    #[must_use]
    pub const fn metadata(&self) -> &ExportMetadata {
        self.reader.metadata()
    }

    /// Reads what is left of `export.bin` and verifies the signatures against the registry,
    /// with the number of signature infos taken from the file itself (spec §export.5.3). A bad
    /// key in the rest is skipped here (iterate the stream to see each one): the signature
    /// covers the bytes, whatever they hold.
    ///
    /// # Errors
    /// Structural damage in the rest of `export.bin`, or a read error.
    pub fn finish(mut self) -> Result<ExportSummary, ExportFileError> {
        for item in self.reader.by_ref() {
            match item {
                Err(e) if !e.is_per_key() => return Err(e.into()),
                _ => {}
            }
        }
        let metadata = self.reader.metadata().clone();
        let (keys, revised_keys) = self.reader.keys_decoded();
        // Without signatures nothing was hashed and the digests are never read.
        let digests = self.reader.get_ref().get_ref().hashers.digests();
        let infos = metadata.signature_infos.len();
        let verification = self
            .registry
            .map(|registry| verify::verify(&digests, infos, self.signatures, registry));
        Ok(ExportSummary {
            export_bin_bytes: self.reader.bytes_read(),
            keys,
            revised_keys,
            signatures: self.signatures.len(),
            metadata,
            verification,
        })
    }
}

/// What one pass over an export file found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportSummary {
    /// The metadata of `export.bin`.
    pub metadata: ExportMetadata,
    /// Size of `export.bin`, bytes.
    pub export_bin_bytes: u64,
    /// Keys (field 7).
    pub keys: u64,
    /// Revised keys (field 8).
    pub revised_keys: u64,
    /// Signatures in `export.sig`.
    pub signatures: usize,
    /// The verdict, when a registry was given.
    pub verification: Option<Verification>,
}

impl ExportSummary {
    /// Whether the file was checked and is authentic.
    #[must_use]
    pub fn authentic(&self) -> bool {
        self.verification.as_ref().is_some_and(|v| v.authentic)
    }
}
