//! The only place raw pointers from C become Rust references and slices. Each function checks
//! for NULL and leaves the rest of the contract (valid, aligned, long enough, not aliased) to
//! the caller, as every function of the header documents.

use crate::status::{BzStatus, Failure};

fn null(name: &str) -> Failure {
    Failure::new(BzStatus::NullPointer, format_args!("`{name}` is NULL"))
}

/// A shared reference to `*pointer`.
///
/// # Safety
/// `pointer` is NULL or points to a valid, aligned `T` that nothing writes to during `'a`.
pub(crate) unsafe fn input<'a, T>(pointer: *const T, name: &str) -> Result<&'a T, Failure> {
    // SAFETY: the caller's contract; NULL is turned into an error.
    unsafe { pointer.as_ref() }.ok_or_else(|| null(name))
}

/// An exclusive reference to `*pointer`.
///
/// # Safety
/// `pointer` is NULL or points to a valid, aligned `T` that nothing else reads or writes
/// during `'a`.
pub(crate) unsafe fn output<'a, T>(pointer: *mut T, name: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: the caller's contract; NULL is turned into an error.
    unsafe { pointer.as_mut() }.ok_or_else(|| null(name))
}

/// `N` bytes at `pointer`, copied.
///
/// # Safety
/// `pointer` is NULL or points to `N` readable bytes.
pub(crate) unsafe fn array<const N: usize>(
    pointer: *const u8,
    name: &str,
) -> Result<[u8; N], Failure> {
    // SAFETY: the caller's contract: N readable bytes; `[u8; N]` has alignment 1.
    unsafe { input(pointer.cast::<[u8; N]>(), name) }.copied()
}

/// `len` bytes at `pointer` (any pointer, even NULL, when `len` is 0).
///
/// # Safety
/// When `len` > 0, `pointer` is NULL or points to `len` readable bytes that nothing writes to
/// during `'a`.
pub(crate) unsafe fn bytes<'a>(
    pointer: *const u8,
    len: usize,
    name: &str,
) -> Result<&'a [u8], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if pointer.is_null() {
        return Err(null(name));
    }
    // SAFETY: non-NULL, and the caller's contract gives `len` readable bytes; u8 needs no
    // alignment.
    Ok(unsafe { core::slice::from_raw_parts(pointer, len) })
}

/// `len` writable values at `pointer` (any pointer when `len` is 0).
///
/// # Safety
/// When `len` > 0, `pointer` is NULL or points to `len` valid, aligned `T` that nothing else
/// reads or writes during `'a`.
pub(crate) unsafe fn slice_mut<'a, T>(
    pointer: *mut T,
    len: usize,
    name: &str,
) -> Result<&'a mut [T], Failure> {
    if len == 0 {
        return Ok(&mut []);
    }
    if pointer.is_null() {
        return Err(null(name));
    }
    // SAFETY: non-NULL, and the caller's contract gives `len` valid, aligned, unaliased values.
    Ok(unsafe { core::slice::from_raw_parts_mut(pointer, len) })
}

#[cfg(feature = "std")]
/// `len` values at `pointer` (any pointer when `len` is 0).
///
/// # Safety
/// When `len` > 0, `pointer` is NULL or points to `len` valid, aligned `T` that nothing writes
/// to during `'a`.
pub(crate) unsafe fn slice<'a, T>(
    pointer: *const T,
    len: usize,
    name: &str,
) -> Result<&'a [T], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if pointer.is_null() {
        return Err(null(name));
    }
    // SAFETY: non-NULL, and the caller's contract gives `len` valid, aligned values.
    Ok(unsafe { core::slice::from_raw_parts(pointer, len) })
}

#[cfg(feature = "std")]
/// A NUL-terminated UTF-8 string.
///
/// # Safety
/// `pointer` is NULL or points to a NUL-terminated string that nothing writes to during `'a`.
pub(crate) unsafe fn text<'a>(
    pointer: *const core::ffi::c_char,
    name: &str,
) -> Result<&'a str, Failure> {
    if pointer.is_null() {
        return Err(null(name));
    }
    // SAFETY: non-NULL, and the caller's contract gives a NUL-terminated string.
    let text = unsafe { core::ffi::CStr::from_ptr(pointer) };
    text.to_str().map_err(|_| {
        Failure::new(
            BzStatus::InvalidArgument,
            format_args!("`{name}` is not UTF-8"),
        )
    })
}

#[cfg(feature = "std")]
/// A NUL-terminated UTF-8 string, or `None` for NULL.
///
/// # Safety
/// `pointer` is NULL or points to a NUL-terminated string that nothing writes to during `'a`.
pub(crate) unsafe fn optional_text<'a>(
    pointer: *const core::ffi::c_char,
    name: &str,
) -> Result<Option<&'a str>, Failure> {
    if pointer.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller's contract, and not NULL.
    unsafe { text(pointer, name) }.map(Some)
}

/// Writes `value` to `out` and returns `Ok`.
pub(crate) fn put<T>(out: &mut T, value: T) -> Result<BzStatus, Failure> {
    *out = value;
    Ok(BzStatus::Ok)
}
