//! Fuzzes the match state's manifest fields behind its digest (see `fuzz/checks.rs`).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::state_manifest_body(data));
