//! Fuzzes the on-disk joiner of a state's checked-key segment (see `fuzz/checks.rs`).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::state_join(data));
