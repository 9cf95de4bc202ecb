//! Replays every file of `fuzz/corpus/<target>/` through the checks its fuzz target runs,
//! so that CI keeps each crash the fuzzer found fixed without building a fuzzer.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

/// Runs `check` on every corpus file of `target`; fails naming each file that panics.
fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(target);
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "{}: only {} inputs; the corpus is missing",
        dir.display(),
        files.len()
    );
    let failed: Vec<String> = files
        .iter()
        .filter(|path| {
            let data = fs::read(path).expect("a readable corpus file");
            catch_unwind(AssertUnwindSafe(|| check(&data))).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} inputs fail (messages above): {failed:#?}",
        failed.len(),
        files.len()
    );
}

#[test]
fn token_endpoint_corpus() {
    replay("token_endpoint", fuzz_checks::token_endpoint);
}

#[test]
fn cli_url_corpus() {
    replay("cli_url", fuzz_checks::cli_url);
}

#[test]
fn signing_time_corpus() {
    replay("signing_time", fuzz_checks::signing_time);
}

#[test]
fn adapter_url_corpus() {
    replay("adapter_url", fuzz_checks::adapter_url);
}
