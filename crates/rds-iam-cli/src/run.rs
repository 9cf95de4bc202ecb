//! Dispatch: one runtime, one command.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::args::{Args, Command};
use crate::client::{self, Client};
use crate::{ca, token};

/// Runs the command and returns the exit status to leave with: success for the token and
/// bundle commands, the client's own status for `psql` and `mysql`.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Command::CaBundle(args) = &args.command {
        ca::write_bundle(args)?;
        return Ok(ExitCode::SUCCESS);
    }
    // One thread is plenty for one token; it also keeps start-up cheap.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(async move {
        match args.command {
            Command::Token(args) => token::rds(args).await.map(|()| ExitCode::SUCCESS),
            Command::DsqlToken(args) => token::dsql(args).await.map(|()| ExitCode::SUCCESS),
            Command::Psql(args) => client::run(Client::Psql, args).await,
            Command::Mysql(args) => client::run(Client::MySql, args).await,
            Command::CaBundle(_) => unreachable!("handled above"),
        }
    })
}
