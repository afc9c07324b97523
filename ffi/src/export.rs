//! Export files: open one, verify it, and hand out its keys.

use std::boxed::Box;
use std::ffi::c_char;
use std::fs::File;
use std::io::BufReader;
use std::vec::Vec;

use bluezone::export::ExportFile;
use bluezone::export::verify::PublicKeyRegistry;
use bluezone::export::{ExportError, ExportFileError, ExportSummary};
use bluezone::gaen::DiagnosisKey;

use crate::diagnosis::BzDiagnosisKey;
use crate::keys::write_text;
use crate::ptr::{input, optional_text, output, put, slice_mut, text};
use crate::status::{BzStatus, Failure, guard};

/// The signature verdict of an export file.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BzVerification {
    /// No public key was given: nothing was checked.
    NotChecked = 0,
    /// Authentic under the public key given.
    Authentic = 1,
    /// Not authentic: unsigned, signed by another key, or a signature that does not verify.
    NotAuthentic = 2,
}

/// What an opened export file holds.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BzExportInfo {
    /// Keys handed out by `bz_export_next_key`: field 7 and revised keys (field 8).
    pub keys: u64,
    /// Of them, revised keys.
    pub revised_keys: u64,
    /// Keys the protocol does not allow (a bad window, risk level or report type): counted
    /// and not handed out.
    pub invalid_keys: u64,
    /// Signatures in `export.sig`.
    pub signatures: u32,
    /// The verdict.
    pub verification: BzVerification,
    /// Whether the keys are handed out: the file is authentic, or opened with
    /// `allow_unauthentic`.
    pub keys_released: bool,
    /// Whether the file is a zip (`export.zip`) rather than a bare `export.bin`.
    pub zip: bool,
    /// `start_timestamp`, Unix seconds (0 when absent).
    pub start_timestamp: u64,
    /// `end_timestamp`, Unix seconds (0 when absent).
    pub end_timestamp: u64,
    /// `batch_num` (0 when absent).
    pub batch_num: i32,
    /// `batch_size` (0 when absent).
    pub batch_size: i32,
}

/// An opened export file (opaque). Free it with `bz_export_free`.
#[derive(Debug)]
pub struct BzExport {
    keys: Vec<DiagnosisKey>,
    next: usize,
    summary: ExportSummary,
    /// Why each key the protocol does not allow was refused, in file order.
    invalid_keys: Vec<ExportError>,
    zip: bool,
    released: bool,
}

impl BzExport {
    /// The keys, when the file's verdict releases them.
    pub(crate) fn released_keys(&self) -> Result<(&[DiagnosisKey], &[ExportError]), Failure> {
        if self.released {
            Ok((&self.keys, &self.invalid_keys))
        } else {
            Err(withheld())
        }
    }
}

fn withheld() -> Failure {
    Failure::new(
        BzStatus::NotAuthentic,
        "its keys are withheld: give the health authority's public key, or open it with allow_unauthentic",
    )
}

fn file_error(path: &str, error: ExportFileError) -> Failure {
    let status = match error {
        ExportFileError::Io(_) => BzStatus::Io,
        _ => BzStatus::Malformed,
    };
    Failure::new(status, format_args!("{path}: {error}"))
}

fn open(path: &str, pem: Option<&str>, allow_unauthentic: bool) -> Result<BzExport, Failure> {
    let file =
        File::open(path).map_err(|e| Failure::new(BzStatus::Io, format_args!("{path}: {e}")))?;
    read(BufReader::new(file), path, pem, allow_unauthentic)
}

/// Reads an export file from `reader`; `name` says which in errors.
fn read<R: std::io::Read + std::io::Seek>(
    reader: R,
    name: &str,
    pem: Option<&str>,
    allow_unauthentic: bool,
) -> Result<BzExport, Failure> {
    let path = name;
    let registry = match pem {
        Some(pem) => {
            let mut registry = PublicKeyRegistry::new();
            registry.add_pem(None, None, pem).map_err(|e| {
                Failure::new(BzStatus::InvalidArgument, format_args!("public key: {e}"))
            })?;
            Some(registry)
        }
        None => None,
    };
    let mut export = ExportFile::open(reader).map_err(|e| file_error(path, e))?;
    let zip = export.format() == bluezone::export::ExportFormat::Zip;
    let mut stream = export
        .keys(registry.as_ref())
        .map_err(|e| file_error(path, e))?;
    let (mut keys, mut invalid_keys) = (Vec::new(), Vec::new());
    for item in stream.by_ref() {
        match item {
            Ok(exported) => keys.push(exported.key),
            Err(ExportFileError::Bin(e)) if e.is_per_key() => invalid_keys.push(e),
            Err(e) => return Err(file_error(path, e)),
        }
    }
    let summary = stream.finish().map_err(|e| file_error(path, e))?;
    let released = summary.authentic() || allow_unauthentic;
    Ok(BzExport {
        keys,
        next: 0,
        summary,
        invalid_keys,
        zip,
        released,
    })
}

/// Opens an export file (`export.zip` or a bare `export.bin`), reads it whole and, when
/// `public_key_pem` is not NULL, verifies its signatures against that key (a PEM
/// SubjectPublicKeyInfo, P-256). Keys are handed out only from an authentic file, or from any
/// file when `allow_unauthentic` is not 0; `bz_export_inspect` tells the verdict. A file that is
/// malformed anywhere is refused whole. Memory is about 40 bytes a key.
///
/// # Safety
/// `path` and (when not NULL) `public_key_pem` are NUL-terminated UTF-8 strings; `out` points
/// to a writable `bz_export *`, which receives the handle (NULL on failure).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_export_open(
    path: *const c_char,
    public_key_pem: *const c_char,
    allow_unauthentic: u8,
    out: *mut *mut BzExport,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { output(out, "out") }?;
        *out = core::ptr::null_mut();
        // SAFETY: the caller's contract.
        let path = unsafe { text(path, "path") }?;
        // SAFETY: the caller's contract.
        let pem = unsafe { optional_text(public_key_pem, "public_key_pem") }?;
        let export = open(path, pem, allow_unauthentic != 0)?;
        put(out, Box::into_raw(Box::new(export)))
    })
}

/// Opens an export file held in memory (`len` bytes, as downloaded), as `bz_export_open` opens
/// one on disk; the bytes are read during the call and not kept.
///
/// # Safety
/// `data` points to `len` readable bytes; `public_key_pem` is NULL or a NUL-terminated UTF-8
/// string; `out` points to a writable `bz_export *`, which receives the handle (NULL on
/// failure).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_export_open_bytes(
    data: *const u8,
    len: usize,
    public_key_pem: *const c_char,
    allow_unauthentic: u8,
    out: *mut *mut BzExport,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { output(out, "out") }?;
        *out = core::ptr::null_mut();
        // SAFETY: the caller's contract.
        let data = unsafe { crate::ptr::bytes(data, len, "data") }?;
        // SAFETY: the caller's contract.
        let pem = unsafe { optional_text(public_key_pem, "public_key_pem") }?;
        let export = read(
            std::io::Cursor::new(data),
            "the export file",
            pem,
            allow_unauthentic != 0,
        )?;
        put(out, Box::into_raw(Box::new(export)))
    })
}

/// What the file holds and the verdict on it.
///
/// # Safety
/// `export` is a handle from `bz_export_open`; `out` points to a writable `bz_export_info`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_export_inspect(
    export: *const BzExport,
    out: *mut BzExportInfo,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (export, out) = unsafe { (input(export, "export")?, output(out, "out")?) };
        let s = &export.summary;
        let verification = match &s.verification {
            None => BzVerification::NotChecked,
            Some(v) if v.authentic => BzVerification::Authentic,
            Some(_) => BzVerification::NotAuthentic,
        };
        let m = &s.metadata;
        put(
            out,
            BzExportInfo {
                keys: export.keys.len() as u64,
                revised_keys: s.revised_keys,
                invalid_keys: export.invalid_keys.len() as u64,
                signatures: u32::try_from(s.signatures).unwrap_or(u32::MAX),
                verification,
                keys_released: export.released,
                zip: export.zip,
                start_timestamp: m.start_timestamp.unwrap_or(0),
                end_timestamp: m.end_timestamp.unwrap_or(0),
                batch_num: m.batch_num.unwrap_or(0),
                batch_size: m.batch_size.unwrap_or(0),
            },
        )
    })
}

/// Writes the file's region (for example "US") as a NUL-terminated string into `out`, which
/// holds `out_len` bytes, and its length without the NUL to `len` (an empty string when the
/// file names none).
///
/// # Safety
/// `export` is a handle from `bz_export_open`; `out` points to `out_len` writable bytes;
/// `len` to a `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_export_region(
    export: *const BzExport,
    out: *mut c_char,
    out_len: usize,
    len: *mut usize,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (export, out, len) = unsafe {
            (
                input(export, "export")?,
                slice_mut(out.cast::<u8>(), out_len, "out")?,
                output(len, "len")?,
            )
        };
        let region = export.summary.metadata.region.as_deref().unwrap_or("");
        write_text(region, out)?;
        put(len, region.len())
    })
}

/// Writes the next key of the file to `out`: `BZ_STATUS_OK`, or `BZ_STATUS_END` after the
/// last, or `BZ_STATUS_NOT_AUTHENTIC` when the file's keys are withheld.
///
/// # Safety
/// `export` is a handle from `bz_export_open`, not used by another thread during the call;
/// `out` points to a writable `bz_diagnosis_key`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_export_next_key(
    export: *mut BzExport,
    out: *mut BzDiagnosisKey,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (export, out) = unsafe { (output(export, "export")?, output(out, "out")?) };
        let next = export.next;
        let Some(key) = export.released_keys()?.0.get(next) else {
            return Ok(BzStatus::End);
        };
        *out = BzDiagnosisKey::of(key);
        export.next = next + 1;
        Ok(BzStatus::Ok)
    })
}

/// Frees an export handle; NULL is ignored.
///
/// # Safety
/// `export` is NULL or a handle from `bz_export_open` not freed before and not used after.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_export_free(export: *mut BzExport) {
    if !export.is_null() {
        // SAFETY: a handle from `Box::into_raw` in `bz_export_open`, freed once.
        drop(unsafe { Box::from_raw(export) });
    }
}
