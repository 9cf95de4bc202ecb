//! `rds-iam token` and `rds-iam dsql-token`: print one token and a newline.

use std::io::Write as _;
use std::time::Duration;

use anyhow::Context as _;
use rds_iam_token::AuthTokenSigner;

use crate::args::{DsqlTokenArgs, TokenArgs};
use crate::aws;

/// Prints an RDS token, byte for byte what `aws rds generate-db-auth-token` prints.
pub(crate) async fn rds(args: TokenArgs) -> anyhow::Result<()> {
    let signer = aws::signer(
        || AuthTokenSigner::rds(&args.hostname, args.port, &args.username),
        &args.aws,
        args.signing_time,
    )
    .await?;
    print_token(&aws::sign(&signer, &args.aws).await?)
}

/// Prints an Aurora DSQL token (`DbConnect`, or `DbConnectAdmin` with `--admin`).
pub(crate) async fn dsql(args: DsqlTokenArgs) -> anyhow::Result<()> {
    let expires_in = Duration::from_secs(args.expires_in);
    let signer = aws::signer(
        || {
            let builder = if args.admin {
                AuthTokenSigner::dsql_admin(&args.hostname)
            } else {
                AuthTokenSigner::dsql(&args.hostname)
            };
            builder.expires_in(expires_in)
        },
        &args.aws,
        args.signing_time,
    )
    .await?;
    print_token(&aws::sign(&signer, &args.aws).await?)
}

/// The token and a newline, in one write, and nothing else on stdout.
fn print_token(token: &str) -> anyhow::Result<()> {
    let mut line = String::with_capacity(token.len() + 1);
    line.push_str(token);
    line.push('\n');
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(line.as_bytes())
        .and_then(|()| stdout.flush())
        .context("could not write the token to stdout")
}
