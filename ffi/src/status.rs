//! Status codes, the message of the last failure, and the guard every entry point runs in.

use core::ffi::{CStr, c_char};

/// What a call did. Every function returns one; `BZ_STATUS_OK` is 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BzStatus {
    /// Done.
    Ok = 0,
    /// A stream has no more items (not a failure).
    End = 1,
    /// A required pointer was NULL.
    NullPointer = 2,
    /// An output buffer is smaller than the result; nothing was written to it.
    BufferTooSmall = 3,
    /// An argument is out of its range (a rolling period of 0, a length other than the one
    /// required, an unknown report type).
    InvalidArgument = 4,
    /// Input bytes are not what they claim to be (a payload, a record, an export file, a log,
    /// a CSV line).
    Malformed = 5,
    /// An export file is not authentic under the public key given; its keys are withheld.
    NotAuthentic = 6,
    /// The operating system refused a file operation.
    Io = 7,
    /// The call does not fit the handle's state (sightings added after keys).
    InvalidState = 8,
    /// A bug in the library was caught at the boundary; the handle involved should be freed.
    Panic = 9,
}

impl BzStatus {
    /// The status of a code, if it is one.
    const fn from_code(code: i32) -> Option<Self> {
        Some(match code {
            0 => Self::Ok,
            1 => Self::End,
            2 => Self::NullPointer,
            3 => Self::BufferTooSmall,
            4 => Self::InvalidArgument,
            5 => Self::Malformed,
            6 => Self::NotAuthentic,
            7 => Self::Io,
            8 => Self::InvalidState,
            9 => Self::Panic,
            _ => return None,
        })
    }

    /// What the status means, for people.
    pub(crate) const fn describe(self) -> &'static CStr {
        match self {
            Self::Ok => c"ok",
            Self::End => c"no more items",
            Self::NullPointer => c"a required pointer is NULL",
            Self::BufferTooSmall => c"the output buffer is too small",
            Self::InvalidArgument => c"an argument is out of range",
            Self::Malformed => c"the input is malformed",
            Self::NotAuthentic => c"the export file is not authentic",
            Self::Io => c"a file operation failed",
            Self::InvalidState => c"the call does not fit the handle's state",
            Self::Panic => c"internal error caught at the C boundary",
        }
    }
}

/// Why a call failed: its status and, with `std`, what exactly went wrong.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: BzStatus,
    #[cfg(feature = "std")]
    detail: std::string::String,
}

impl Failure {
    /// A failure with `detail`; without `std` only the status is kept.
    pub(crate) fn new(status: BzStatus, detail: impl core::fmt::Display) -> Self {
        #[cfg(feature = "std")]
        {
            use std::string::ToString;
            Self {
                status,
                detail: detail.to_string(),
            }
        }
        #[cfg(not(feature = "std"))]
        {
            let _ = detail;
            Self { status }
        }
    }

    /// What exactly went wrong.
    #[cfg(feature = "std")]
    pub(crate) fn detail(&self) -> &str {
        &self.detail
    }
}

/// What an entry point's body returns: done, or a failure to record.
pub(crate) type Outcome = Result<BzStatus, Failure>;

#[cfg(feature = "std")]
std::thread_local! {
    static LAST: core::cell::RefCell<std::ffi::CString> =
        core::cell::RefCell::new(std::ffi::CString::from(c"no call has failed on this thread"));
}

#[cfg(not(feature = "std"))]
static LAST: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);

fn record(failure: &Failure) {
    #[cfg(feature = "std")]
    {
        let text = std::format!(
            "{}: {}",
            failure.status.describe().to_string_lossy(),
            failure.detail
        )
        .replace('\0', " ");
        let text = std::ffi::CString::new(text).unwrap_or_default();
        LAST.with(|last| *last.borrow_mut() = text);
    }
    #[cfg(not(feature = "std"))]
    LAST.store(failure.status as u8, core::sync::atomic::Ordering::Relaxed);
}

/// Runs an entry point's body: catches any panic (with `std`), records a failure for
/// `bz_error_message`, and returns the status.
pub(crate) fn guard(body: impl FnOnce() -> Outcome) -> BzStatus {
    #[cfg(feature = "std")]
    let result =
        std::panic::catch_unwind(core::panic::AssertUnwindSafe(body)).unwrap_or_else(|_| {
            Err(Failure::new(
                BzStatus::Panic,
                "please report it with the input that caused it",
            ))
        });
    #[cfg(not(feature = "std"))]
    let result = body();
    match result {
        Ok(status) => status,
        Err(failure) => {
            record(&failure);
            failure.status
        }
    }
}

/// Describes the last call on this thread that failed (any status but `BZ_STATUS_OK` and
/// `BZ_STATUS_END`), with what exactly went wrong. Never NULL; the text stays valid until the
/// next call of this library on the same thread. Without `std` (firmware builds) there is
/// one message for the whole program, the description of the last failure's status.
#[unsafe(no_mangle)]
pub extern "C" fn bz_error_message() -> *const c_char {
    #[cfg(feature = "std")]
    {
        LAST.with(|last| last.borrow().as_ptr())
    }
    #[cfg(not(feature = "std"))]
    {
        match BzStatus::from_code(i32::from(LAST.load(core::sync::atomic::Ordering::Relaxed))) {
            Some(BzStatus::Ok) | None => c"no call has failed".as_ptr(),
            Some(status) => status.describe().as_ptr(),
        }
    }
}

/// What a status code means, for people ("ok", "the input is malformed", …); "unknown
/// status" for a code that is none. Never NULL; static.
#[unsafe(no_mangle)]
pub extern "C" fn bz_status_text(status: i32) -> *const c_char {
    BzStatus::from_code(status).map_or(c"unknown status".as_ptr(), |s| s.describe().as_ptr())
}

#[cfg(all(test, feature = "std"))]
mod tests {
    #![allow(clippy::panic, reason = "the test makes a panic on purpose")]

    use super::*;

    fn message() -> std::string::String {
        // SAFETY: `bz_error_message` returns a NUL-terminated string valid until the next call.
        unsafe { CStr::from_ptr(bz_error_message()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_stops_at_the_boundary_as_a_status_with_a_message() {
        let status = guard(|| panic!("a bug"));
        assert_eq!(status, BzStatus::Panic);
        assert!(message().starts_with("internal error caught at the C boundary"));
    }

    #[test]
    fn a_failure_is_described_and_a_success_keeps_the_last_message() {
        let status = guard(|| Err(Failure::new(BzStatus::Malformed, "byte 3")));
        assert_eq!(status, BzStatus::Malformed);
        assert_eq!(message(), "the input is malformed: byte 3");
        assert_eq!(guard(|| Ok(BzStatus::Ok)), BzStatus::Ok);
        assert_eq!(message(), "the input is malformed: byte 3");
    }

    #[test]
    fn every_code_names_its_status() {
        for code in 0..10 {
            let status = BzStatus::from_code(code).unwrap_or(BzStatus::Panic);
            assert_eq!(status as i32, code);
        }
        assert!(BzStatus::from_code(10).is_none());
    }
}
