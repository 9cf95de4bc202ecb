//! Fuzz target: see `fuzz_checks::signing_time` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::signing_time(data));
