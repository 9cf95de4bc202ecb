//! Fuzz target: see `fuzz_checks::adapter_url` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::adapter_url(data));
