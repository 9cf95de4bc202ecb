//! What each fuzz target checks, in plain functions that panic when an invariant breaks.
//!
//! The cargo-fuzz targets in `fuzz/fuzz_targets/` call them with the fuzzer's inputs; the
//! replay test (`tests/replay.rs`) calls them with every file of `fuzz/corpus/<target>/`
//! in an ordinary `cargo nextest run`, so CI builds no fuzzer and a fixed crash stays
//! fixed. Each function takes raw bytes, as the fuzzer gives them.

mod adapter;
mod cli;
mod secrets;
mod token;

pub use adapter::adapter_url;
pub use cli::{cli_url, signing_time};
pub use token::token_endpoint;

// The CLI is a binary crate: its parsers are compiled in from its sources, unchanged.
#[path = "../../../crates/rds-iam-cli/src/time.rs"]
mod cli_time;
#[path = "../../../crates/rds-iam-cli/src/url.rs"]
mod cli_url_parser;
