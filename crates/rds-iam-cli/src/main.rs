//! `rds-iam`: mints Amazon RDS and Aurora DSQL IAM auth tokens, and starts `psql` or
//! `mysql` with one over verified TLS.
//!
//! Only the token goes to stdout; logs and errors go to stderr. See `rds-iam --help`.

mod args;
mod aws;
mod ca;
mod client;
mod run;
mod time;
mod token;
mod url;

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = args::Args::parse();
    init_logging(args.verbose);
    match run::run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("rds-iam: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr: `-v` (info), `-vv` (debug) or `-vvv` (trace) if given, else what
/// `RUST_LOG` says, else warnings only.
fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let filter = match verbose {
        0 => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        1 => EnvFilter::new("info"),
        2 => EnvFilter::new("debug"),
        _ => EnvFilter::new("trace"),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .without_time()
        .with_target(verbose >= 2)
        .init();
}
