//! `rds-iam`: mints Amazon RDS and Aurora DSQL IAM auth tokens, and starts `psql` or
//! `mysql` with one over verified TLS.
//!
//! Only the token goes to stdout; logs and errors go to stderr. See `rds-iam --help`.

mod args;
mod aws;
mod ca;
mod client;
mod dsql;
mod exec;
mod guard;
mod mycnf;
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
    use tracing::level_filters::LevelFilter;
    use tracing_subscriber::EnvFilter;
    let ansi = std::io::stderr().is_terminal();
    let level = match verbose {
        0 => LevelFilter::WARN,
        1 => LevelFilter::INFO,
        2 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .without_time()
        .with_target(verbose >= 2);
    match std::env::var_os("RUST_LOG") {
        // RUST_LOG's directives, parsed only when it is set: starting up cheaply matters
        // for a command that runs in a couple of milliseconds.
        Some(_) if verbose == 0 => builder
            .with_env_filter(
                EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
            )
            .init(),
        _ => builder.with_max_level(level).init(),
    }
}
