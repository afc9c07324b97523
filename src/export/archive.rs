//! The `export.zip` container (spec §export.1): members found by name, decompression bounded.

use std::io::{self, Read, Seek, Write};
use std::string::{String, ToString};
use std::vec::Vec;

use zip::ZipArchive;
use zip::write::SimpleFileOptions;

/// The member holding the keys.
pub const EXPORT_BIN: &str = "export.bin";
/// The member holding the signatures.
pub const EXPORT_SIG: &str = "export.sig";

/// How much decompression an archive may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZipLimits {
    /// The most bytes `export.bin` may decompress to (1 GiB: 25 million keys).
    pub max_export_bin: u64,
    /// The most bytes `export.sig` may decompress to (64 KiB).
    pub max_export_sig: u64,
    /// The most a member may grow by decompression. Keys are random bytes and barely
    /// compress (the samples shrink by less than 2:1); a zip bomb grows by 1000:1.
    pub max_ratio: u64,
}

impl Default for ZipLimits {
    fn default() -> Self {
        Self {
            max_export_bin: 1 << 30,
            max_export_sig: 64 << 10,
            max_ratio: 20,
        }
    }
}

/// Why an archive could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// Not a readable zip file.
    #[error("not a readable zip archive: {0}")]
    Zip(String),
    /// A member the caller needs is missing.
    #[error("the archive has no {0}")]
    MissingMember(&'static str),
    /// A member name appears more than once in the central directory.
    #[error(
        "the archive holds a member name more than once: refused, as Google's reader refuses it"
    )]
    DuplicateMember,
    /// A member other than `export.bin` and `export.sig`.
    #[error("the archive holds {0:?}, which is neither export.bin nor export.sig: refused")]
    UnexpectedMember(String),
    /// Bytes between or before the members that no central-directory entry accounts for: a
    /// reader that walks the local headers (as Google's does) could see another member there.
    #[error(
        "the archive has {bytes} bytes at offset {offset} that belong to no listed member: refused"
    )]
    HiddenBytes {
        /// Where they start.
        offset: u64,
        /// How many.
        bytes: u64,
    },
    /// A member decompresses to more than the limits allow.
    #[error("{member} decompresses to more than {limit} bytes: refused")]
    TooLarge {
        /// The member.
        member: &'static str,
        /// The limit that was reached.
        limit: u64,
    },
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl ArchiveError {
    /// A stable kebab-case label for the kind of failure (spec §export.1).
    #[must_use]
    pub const fn class(&self) -> &'static str {
        match self {
            Self::Zip(_) => "zip",
            Self::MissingMember(_) => "missing-member",
            Self::DuplicateMember => "duplicate-member",
            Self::UnexpectedMember(_) => "unexpected-member",
            Self::HiddenBytes { .. } => "hidden-bytes",
            Self::TooLarge { .. } => "too-large",
            Self::Io(_) => "io",
        }
    }
}

impl From<zip::result::ZipError> for ArchiveError {
    fn from(error: zip::result::ZipError) -> Self {
        match error {
            zip::result::ZipError::Io(e) => Self::Io(e),
            other => Self::Zip(other.to_string()),
        }
    }
}

/// A data descriptor after a member's data takes at most this many bytes (ZIP64, with its
/// optional signature).
const MAX_DESCRIPTOR: u64 = 24;

/// Every byte from the start of the archive to its central directory belongs to a listed
/// member (local header, data, data descriptor), so that the members the central directory
/// names are the only ones a reader of local headers can find.
fn check_contiguous<R: Read + Seek>(zip: &mut ZipArchive<R>) -> Result<(), ArchiveError> {
    let mut spans = Vec::with_capacity(zip.len());
    for index in 0..zip.len() {
        let file = zip.by_index_raw(index)?;
        let data = file
            .data_start()
            .ok_or_else(|| ArchiveError::Zip(String::from("a member has no data offset")))?;
        spans.push((
            file.header_start(),
            data.saturating_add(file.compressed_size()),
        ));
    }
    spans.sort_unstable();
    let mut at = zip.offset();
    for (start, end) in spans.into_iter().chain(core::iter::once((
        zip.central_directory_start(),
        zip.central_directory_start(),
    ))) {
        // A gap up to one data descriptor is allowed after a member (not before the first).
        let allowed = if at == zip.offset() {
            0
        } else {
            MAX_DESCRIPTOR
        };
        if start < at || start - at > allowed {
            return Err(ArchiveError::HiddenBytes {
                offset: at.min(start),
                bytes: start.abs_diff(at),
            });
        }
        at = end;
    }
    Ok(())
}

/// Whether a member's name, as the zip crate decodes it, is `wanted`.
fn names<E>(name: &Result<impl AsRef<str>, E>, wanted: &str) -> bool {
    name.as_ref().is_ok_and(|n| n.as_ref() == wanted)
}

/// A reader that refuses to produce more than `limit` bytes.
#[derive(Debug)]
pub struct Bounded<R> {
    inner: R,
    remaining: u64,
    member: &'static str,
    limit: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Ask for one byte more than allowed, to notice a member that goes past the limit.
        let allowed = usize::try_from(self.remaining.saturating_add(1)).unwrap_or(usize::MAX);
        let window = buf.len().min(allowed);
        let (window, _) = buf.split_at_mut(window);
        let n = self.inner.read(window)?;
        if n as u64 > self.remaining {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                ArchiveError::TooLarge {
                    member: self.member,
                    limit: self.limit,
                },
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// An opened `export.zip`.
#[derive(Debug)]
pub struct ExportArchive<R> {
    zip: ZipArchive<R>,
    limits: ZipLimits,
}

impl<R: Read + Seek> ExportArchive<R> {
    /// Opens an archive with the default limits.
    ///
    /// # Errors
    /// [`ArchiveError`] for a file that is not a zip archive or holds a member twice.
    pub fn open(reader: R) -> Result<Self, ArchiveError> {
        Self::open_with_limits(reader, ZipLimits::default())
    }

    // spec §export.1: members by name, each at most once, decompression bounded.
    /// Opens an archive with the given limits.
    ///
    /// # Errors
    /// As [`Self::open`].
    pub fn open_with_limits(reader: R, limits: ZipLimits) -> Result<Self, ArchiveError> {
        let mut zip = ZipArchive::new(reader)?;
        // The zip crate keeps one entry per name, so a repeated name must be asked for.
        if zip.has_duplicate_names() {
            return Err(ArchiveError::DuplicateMember);
        }
        if let Some(other) = zip
            .file_names()
            .find(|n| !names(n, EXPORT_BIN) && !names(n, EXPORT_SIG))
        {
            let shown = match other {
                Ok(name) => name.chars().take(64).collect(),
                Err(_) => String::from("a name that is not UTF-8"),
            };
            return Err(ArchiveError::UnexpectedMember(shown));
        }
        check_contiguous(&mut zip)?;
        Ok(Self { zip, limits })
    }

    /// Whether the archive has an `export.sig`.
    #[must_use]
    pub fn has_signature(&self) -> bool {
        self.zip.file_names().any(|n| names(&n, EXPORT_SIG))
    }

    fn member(
        &mut self,
        name: &'static str,
        max: u64,
    ) -> Result<Bounded<zip::read::ZipFile<'_, R>>, ArchiveError> {
        let file = match self.zip.by_name(name) {
            Ok(file) => file,
            Err(zip::result::ZipError::FileNotFound) => {
                return Err(ArchiveError::MissingMember(name));
            }
            Err(e) => return Err(e.into()),
        };
        let by_ratio = file
            .compressed_size()
            .saturating_mul(self.limits.max_ratio)
            .saturating_add(64 << 10);
        let limit = max.min(by_ratio);
        if file.size() > limit {
            return Err(ArchiveError::TooLarge {
                member: name,
                limit,
            });
        }
        Ok(Bounded {
            inner: file,
            remaining: limit,
            member: name,
            limit,
        })
    }

    /// `export.bin` as a stream, decompressed on the fly within the limits.
    ///
    /// # Errors
    /// [`ArchiveError::MissingMember`], or a member whose declared size is over the limits.
    /// A member that grows past them while read fails with an `InvalidData` I/O error wrapping
    /// [`ArchiveError::TooLarge`].
    pub fn export_bin(&mut self) -> Result<Bounded<zip::read::ZipFile<'_, R>>, ArchiveError> {
        let max = self.limits.max_export_bin;
        self.member(EXPORT_BIN, max)
    }

    /// `export.bin`, read whole.
    ///
    /// # Errors
    /// As [`Self::export_bin`], with a member over the limits as [`ArchiveError::TooLarge`].
    pub fn read_export_bin(&mut self) -> Result<Vec<u8>, ArchiveError> {
        let max = self.limits.max_export_bin;
        read_all(self.member(EXPORT_BIN, max)?)
    }

    /// Both members, for a caller that requires a signature.
    ///
    /// # Errors
    /// [`ArchiveError::MissingMember`] when either is missing, or as [`Self::read_export_bin`].
    pub fn read_signed(&mut self) -> Result<(Vec<u8>, Vec<u8>), ArchiveError> {
        let sig = self
            .read_export_sig()?
            .ok_or(ArchiveError::MissingMember(EXPORT_SIG))?;
        Ok((self.read_export_bin()?, sig))
    }

    /// `export.sig`, read whole, or `None` when the archive has none.
    ///
    /// # Errors
    /// As [`Self::read_export_bin`].
    pub fn read_export_sig(&mut self) -> Result<Option<Vec<u8>>, ArchiveError> {
        if !self.has_signature() {
            return Ok(None);
        }
        let max = self.limits.max_export_sig;
        read_all(self.member(EXPORT_SIG, max)?).map(Some)
    }
}

fn read_all(mut reader: impl Read) -> Result<Vec<u8>, ArchiveError> {
    let mut out = Vec::new();
    reader
        .read_to_end(&mut out)
        .map_err(|e| unwrap_too_large(e).unwrap_or_else(ArchiveError::Io))?;
    Ok(out)
}

/// The [`ArchiveError::TooLarge`] that a [`Bounded`] reader wrapped in an I/O error, or the
/// I/O error itself when it is another.
pub(crate) fn unwrap_too_large(error: io::Error) -> Result<ArchiveError, io::Error> {
    let too_large = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<ArchiveError>())
        .and_then(|inner| match inner {
            ArchiveError::TooLarge { member, limit } => Some((*member, *limit)),
            _ => None,
        });
    match too_large {
        Some((member, limit)) => Ok(ArchiveError::TooLarge { member, limit }),
        None => Err(error),
    }
}

/// Writes `export.bin` and, if given, `export.sig` into a zip archive, in that order and
/// DEFLATE-compressed, as the reference server does.
///
/// # Errors
/// [`ArchiveError`] from the writer.
pub fn write<W: Write + Seek>(
    out: W,
    export_bin: &[u8],
    export_sig: Option<&[u8]>,
) -> Result<W, ArchiveError> {
    let mut zip = zip::ZipWriter::new(out);
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file(EXPORT_BIN, options)?;
    zip.write_all(export_bin)?;
    if let Some(sig) = export_sig {
        zip.start_file(EXPORT_SIG, options)?;
        zip.write_all(sig)?;
    }
    Ok(zip.finish()?)
}
