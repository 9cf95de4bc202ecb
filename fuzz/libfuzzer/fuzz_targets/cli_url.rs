//! Fuzz target: see `fuzz_checks::cli_url` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::cli_url(data));
