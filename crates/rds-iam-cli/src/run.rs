//! Dispatch: one runtime, one command.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::args::{Args, ClientArgs, Command, ExecArgs, UrlArgs};
use crate::ca;
use crate::client::{self, Client};
use crate::exec;
use crate::token::TokenCommand;

/// Runs the command and returns the exit status to leave with: success for the token and
/// bundle commands, the client's (or command's) own status for `psql`, `mysql` and `exec`.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let command = match args.command {
        Command::CaBundle(args) => {
            ca::write_bundle(&args)?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Token(args) => Async::Token(TokenCommand::rds(args)),
        Command::DsqlToken(args) => Async::Token(TokenCommand::dsql(args.target, args.admin)),
        Command::DsqlAdminToken(target) => Async::Token(TokenCommand::dsql(target, true)),
        Command::Psql(args) => Async::Client(Client::Psql, args),
        Command::Mysql(args) => Async::Client(Client::MySql, args),
        Command::Url(args) => Async::Url(args),
        Command::Exec(args) => Async::Exec(args),
    };
    // The common case, environment keys and a known region, needs no runtime at all.
    let known_region = match &command {
        Async::Token(token) => match token.try_without_chain()? {
            Ok(()) => return Ok(ExitCode::SUCCESS),
            Err(known_region) => known_region,
        },
        Async::Client(..) | Async::Url(_) | Async::Exec(_) => None,
    };
    // One thread is plenty for one token; it also keeps start-up cheap.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(async move {
        match command {
            Async::Token(token) => token
                .run_with_chain(known_region)
                .await
                .map(|()| ExitCode::SUCCESS),
            Async::Client(client, args) => client::run(client, args).await,
            Async::Url(args) => exec::url(args).await,
            Async::Exec(args) => exec::exec(args).await,
        }
    })
}

/// The commands that may need the async runtime.
enum Async {
    Token(TokenCommand),
    Client(Client, ClientArgs),
    Url(UrlArgs),
    Exec(ExecArgs),
}
