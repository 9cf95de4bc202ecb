//! Credentials and region: from the command line, the environment or the AWS config chain.

use std::time::SystemTime;

use anyhow::Context as _;
use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
use aws_config::profile::ProfileFileCredentialsProvider;
use aws_credential_types::Credentials;
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

/// Signs one token now (or at the signer's fixed time), with a message that says where
/// credentials are looked for when none are found.
pub(crate) async fn sign(signer: &AuthTokenSigner, opts: &AwsOpts) -> anyhow::Result<String> {
    let token = signer.sign().await.with_context(|| match &opts.profile {
        Some(profile) => format!(
            "no usable credentials in profile {profile:?}: check ~/.aws/config and \
             ~/.aws/credentials (or AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE), or run \
             `aws sso login --profile {profile}`"
        ),
        None => "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
                 or give --profile / AWS_PROFILE, or run on AWS with a role"
            .to_owned(),
    })?;
    Ok(token.into_exposed())
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
