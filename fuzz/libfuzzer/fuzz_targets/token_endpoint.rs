//! Fuzz target: see `fuzz_checks::token_endpoint` for what it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::token_endpoint(data));
