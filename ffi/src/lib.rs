//! A C ABI for the `bluezone` library (header: `include/bluezone.h`).
//!
//! Every function is prefixed `bz_`, returns a [`BzStatus`] and writes its results into
//! buffers the caller owns; [`bz_error_message`] says what went wrong. Handles (an opened
//! export file, a matcher) are opaque and freed with their `_free` function. No panic crosses
//! the boundary: each entry point runs under `catch_unwind` and a caught panic is
//! `BZ_STATUS_PANIC`.
//!
//! Without the default `std` feature the crate is the core subset: `no_std`, no allocator
//! (keys, identifiers, metadata, advertisements, sighting records, and the band matcher
//! over a log and a table in the caller's memory), for firmware:
//! `cargo rustc -p bluezone-ffi --release --no-default-features --features panic-handler
//! --target thumbv7em-none-eabihf --crate-type staticlib` (the feature gives a C firmware the
//! panic handler a bare-metal library needs; a Rust firmware keeps its own).

#![cfg_attr(not(feature = "std"), no_std)]

mod band;
mod diagnosis;
mod keys;
mod ptr;
mod status;

#[cfg(feature = "std")]
mod export;
#[cfg(feature = "std")]
mod matcher;
#[cfg(feature = "std")]
mod phone;

pub use band::*;
pub use diagnosis::BzDiagnosisKey;
pub use keys::*;
pub use status::{BzStatus, bz_error_message, bz_status_text};

#[cfg(feature = "std")]
pub use export::*;
#[cfg(feature = "std")]
pub use matcher::*;
#[cfg(feature = "std")]
pub use phone::*;

/// The library's major version, as `bz_version()` gives it: code built against this header
/// can check it at compile time.
pub const BLUEZONE_VERSION_MAJOR: u32 = 0;
/// The library's minor version.
pub const BLUEZONE_VERSION_MINOR: u32 = 1;
/// The library's patch version.
pub const BLUEZONE_VERSION_PATCH: u32 = 0;

/// The library's version, for example "0.1.0". Never NULL; static.
#[unsafe(no_mangle)]
pub extern "C" fn bz_version() -> *const core::ffi::c_char {
    const VERSION: &core::ffi::CStr = match core::ffi::CStr::from_bytes_with_nul(
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
    ) {
        Ok(version) => version,
        Err(_) => c"unknown",
    };
    VERSION.as_ptr()
}

/// A C firmware build has no unwinding: a panic (a bug) stops the program here. Only with the
/// `panic-handler` feature: a Rust firmware brings its own.
#[cfg(all(
    feature = "panic-handler",
    not(feature = "std"),
    not(test),
    target_os = "none"
))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    #[test]
    fn the_version_macros_are_the_crates_version() {
        let parts = [
            BLUEZONE_VERSION_MAJOR,
            BLUEZONE_VERSION_MINOR,
            BLUEZONE_VERSION_PATCH,
        ]
        .map(|p| p.to_string());
        assert_eq!(parts.join("."), env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn a_keys_debug_print_hides_its_bytes() {
        let tek = BzTek {
            key_data: [0xAB; 16],
            rolling_start_interval_number: 2_650_000,
            rolling_period: 144,
        };
        let printed = format!("{tek:?}");
        assert!(!printed.contains("171"), "{printed}");
        assert!(printed.contains("[redacted]") && printed.contains("2650000"));
    }
}
