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
mod fast_args;
mod guard;
mod logging;
mod mycnf;
mod run;
mod time;
mod token;
mod url;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // `rds-iam token ...` as scripts write it is read without clap (see `fast_args`);
    // clap reads everything else, and gives every error and help text.
    let words: Vec<OsString> = std::env::args_os().collect();
    let args = fast_args::parse(&words).unwrap_or_else(|| args::Args::parse_from(words));
    logging::init(args.verbose);
    match run::run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("rds-iam: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
