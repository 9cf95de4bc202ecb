//! `rds-iam token` and `rds-iam dsql-token`: print one token and a newline.

use std::io::Write as _;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use rds_iam_token::{AuthTokenSigner, SignerBuilder};

use crate::args::{AwsOpts, DsqlTarget, TokenArgs};
use crate::aws::{self, Plan};

/// `rds-iam token` or `rds-iam dsql-token`: the target, and where credentials come from.
#[derive(Debug)]
pub(crate) struct TokenCommand {
    target: Target,
    aws: AwsOpts,
    signing_time: Option<SystemTime>,
}

#[derive(Debug)]
enum Target {
    Rds(TokenArgs),
    Dsql { target: DsqlTarget, admin: bool },
}

impl TokenCommand {
    /// `rds-iam token`: byte for byte what `aws rds generate-db-auth-token` prints.
    pub(crate) fn rds(args: TokenArgs) -> Self {
        Self {
            aws: args.aws.clone(),
            signing_time: args.signing_time,
            target: Target::Rds(args),
        }
    }

    /// `rds-iam dsql-token` (`generate-db-connect-auth-token`): `DbConnect`, or
    /// `DbConnectAdmin` when `admin` (`--admin`, `generate-db-connect-admin-auth-token`);
    /// byte for byte what botocore's `generate_db_connect_auth_token` and
    /// `generate_db_connect_admin_auth_token` return.
    pub(crate) fn dsql(target: DsqlTarget, admin: bool) -> Self {
        Self {
            aws: target.aws.clone(),
            signing_time: target.signing_time,
            target: Target::Dsql { target, admin },
        }
    }

    fn builder(&self) -> SignerBuilder {
        match &self.target {
            Target::Rds(args) => AuthTokenSigner::rds(&args.hostname, args.port, &args.username),
            Target::Dsql { target, admin } => {
                let builder = if *admin {
                    AuthTokenSigner::dsql_admin(&target.hostname)
                } else {
                    AuthTokenSigner::dsql(&target.hostname)
                };
                builder.expires_in(Duration::from_secs(target.expires_in))
            }
        }
    }

    /// Prints the token at once when the environment's keys are all it needs, without an
    /// async runtime or any config file; otherwise returns the region known so far for
    /// [`TokenCommand::run_with_chain`].
    pub(crate) fn try_without_chain(&self) -> anyhow::Result<Result<(), Option<String>>> {
        match aws::plan(&|| self.builder(), &self.aws, self.signing_time)? {
            Plan::Environment {
                signer,
                credentials,
            } => {
                print_token(&aws::sign_now(&signer, &credentials, self.signing_time)?)?;
                Ok(Ok(()))
            }
            Plan::Chain { known_region } => Ok(Err(known_region)),
        }
    }

    /// Prints the token with credentials from the standard chain.
    pub(crate) async fn run_with_chain(&self, known_region: Option<String>) -> anyhow::Result<()> {
        let builder = || self.builder();
        let signer = aws::from_chain(&builder, &self.aws, self.signing_time, known_region).await?;
        print_token(&aws::sign_with_chain(&signer, &self.aws).await?)
    }
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
