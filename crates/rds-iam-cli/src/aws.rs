//! Credentials and region: from the command line, the environment or the AWS config chain.

use std::error::Error as StdError;
use std::time::SystemTime;

use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
use aws_config::profile::ProfileFileCredentialsProvider;
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_async::time::StaticTimeSource;
use rds_iam_token::{AuthTokenSigner, ErrorKind, SignerBuilder};

use crate::args::AwsOpts;

/// Builds a signer for the target that `target` starts, with credentials and region from
/// `opts` and the standard chain.
///
/// - `--profile NAME` takes credentials from that profile, even when environment keys
///   are set (as the AWS CLI does).
/// - Otherwise, when `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` are set and the region
///   is known (`--region`, the endpoint name, `AWS_REGION` or `AWS_DEFAULT_REGION`), the
///   environment keys are used directly: they come first in the chain anyway, and no
///   config file is read.
/// - Otherwise the whole chain is loaded through `aws-config`. A region known from
///   `--region` or the endpoint name is handed to it, so it never asks the instance
///   metadata service for one.
///
/// The target is checked (host name, port, user, expiry) before any credentials are looked
/// up, so that bad input fails fast with the signer's own message.
pub(crate) async fn signer(
    target: impl Fn() -> SignerBuilder,
    opts: &AwsOpts,
    signing_time: Option<SystemTime>,
) -> anyhow::Result<AuthTokenSigner> {
    let with_opts = || {
        let mut builder = target();
        if let Some(region) = &opts.region {
            builder = builder.region(region.clone());
        }
        if let Some(time) = signing_time {
            builder = builder.time_source(StaticTimeSource::new(time));
        }
        builder
    };

    // Check the target, and learn whether the region is known without any AWS config.
    let probe = with_opts()
        .credentials_provider(Credentials::new("probe", "probe", None, None, "probe"))
        .build();
    let known_region = match probe {
        Ok(signer) => Some(signer.region().to_owned()),
        Err(err) if err.kind() == &ErrorKind::RegionNotFound => None,
        Err(err) => return Err(err.into()),
    };

    if opts.profile.is_none()
        && environment_has_keys()
        && let Some(region) = known_region.clone().or_else(environment_region)
    {
        tracing::debug!(region, "credentials from environment variables");
        let signer = with_opts()
            .region(region)
            .credentials_provider(EnvironmentVariableCredentialsProvider::new())
            .build()?;
        return Ok(signer);
    }

    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = known_region {
        loader = loader.region(rds_iam_token::Region::new(region));
    }
    let mut builder = with_opts();
    if let Some(profile) = &opts.profile {
        tracing::debug!(profile, "credentials from the named profile");
        loader = loader.profile_name(profile);
        builder = builder.credentials_provider(
            ProfileFileCredentialsProvider::builder()
                .profile_name(profile)
                .build(),
        );
    }
    let sdk_config = loader.load().await;
    let signer = builder.sdk_config(&sdk_config).build();
    signer.map_err(|err| {
        if err.kind() == &ErrorKind::RegionNotFound {
            anyhow::Error::new(err).context("give --region (or set AWS_REGION)")
        } else {
            err.into()
        }
    })
}

/// Signs one token now (or at the signer's fixed time). When no credentials can be
/// had, says in one or two lines where they are looked for; `-v` logs the whole chain.
pub(crate) async fn sign(signer: &AuthTokenSigner, opts: &AwsOpts) -> anyhow::Result<String> {
    match signer.sign().await {
        Ok(token) => Ok(token.into_exposed()),
        Err(err) if err.kind() == &ErrorKind::CredentialsUnavailable => {
            tracing::info!("credentials lookup failed: {}", causes(&err, usize::MAX));
            Err(anyhow::anyhow!(credentials_message(&err, opts)))
        }
        Err(err) => Err(err.into()),
    }
}

/// What to fix when the provider gave no credentials: where they are looked for when none
/// were found, else the provider's own reason, shortened to one line.
fn credentials_message(err: &rds_iam_token::Error, opts: &AwsOpts) -> String {
    let not_found = err
        .source()
        .and_then(|source| source.downcast_ref::<CredentialsError>())
        .is_some_and(|source| matches!(source, CredentialsError::CredentialsNotLoaded(_)));
    match (&opts.profile, not_found) {
        (Some(profile), true) => format!(
            "no credentials in profile {profile:?}: check that it exists in ~/.aws/config or \
             ~/.aws/credentials (or AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE) and has keys, \
             SSO, a role or a credential_process (-v shows what was tried)"
        ),
        (None, true) => "no AWS credentials found: set AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY, give --profile (or AWS_PROFILE), or run on AWS with a role \
             (-v shows what was tried)"
            .to_owned(),
        (Some(profile), false) => format!(
            "could not load credentials from profile {profile:?}: {}",
            causes(err, 1)
        ),
        (None, false) => format!("could not load AWS credentials: {}", causes(err, 1)),
    }
}

/// The error's causes (not the error itself) joined with ": " on one line, or only the
/// first `limit` lines of that.
fn causes(err: &(dyn StdError + 'static), limit: usize) -> String {
    let mut text = String::new();
    let mut next = err.source();
    while let Some(cause) = next {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    let lines: Vec<&str> = text.lines().map(str::trim).take(limit).collect();
    lines.join("; ")
}

/// Whether both environment keys are set, so that the environment provider will succeed.
fn environment_has_keys() -> bool {
    ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
        .iter()
        .all(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

/// `AWS_REGION`, else `AWS_DEFAULT_REGION`, as `aws-config` reads them.
fn environment_region() -> Option<String> {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
}
