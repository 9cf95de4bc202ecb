//! Credentials and region: from the command line, the environment or the AWS config chain.

use std::error::Error as StdError;
use std::time::SystemTime;

use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_async::time::StaticTimeSource;
use aws_smithy_http_client::tls;
use rds_iam_token::{AuthTokenSigner, ErrorKind, SignerBuilder};

use crate::args::AwsOpts;

/// How a token will be signed, decided without any I/O.
#[derive(Debug)]
pub(crate) enum Plan {
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` decide the credentials and the
    /// region is known: sign at once with [`sign_now`], no async runtime needed.
    Environment {
        /// The signer.
        signer: AuthTokenSigner,
        /// The environment's keys.
        credentials: Credentials,
    },
    /// Credentials (and maybe the region) come from the `aws-config` chain: [`from_chain`].
    Chain {
        /// The region from `--region` or the endpoint name, if any.
        known_region: Option<String>,
    },
}

/// Checks the target (host name, port, user, expiry) before any credentials are looked
/// up, so that bad input fails fast with the signer's own message, and picks the way to
/// credentials:
///
/// - `--profile NAME` takes credentials from that profile, even when environment keys
///   are set (as the AWS CLI does): the chain.
/// - Otherwise, when `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` are set and the region
///   is known (`--region`, the endpoint name, `AWS_REGION` or `AWS_DEFAULT_REGION`), the
///   environment keys are used directly: they come first in the chain anyway, and no
///   config file is read.
/// - Otherwise the whole chain is loaded through `aws-config`.
pub(crate) fn plan(
    target: &dyn Fn() -> SignerBuilder,
    opts: &AwsOpts,
    signing_time: Option<SystemTime>,
) -> anyhow::Result<Plan> {
    let environment = opts
        .profile
        .is_none()
        .then(environment_credentials)
        .flatten();
    // The builder's warnings (an explicit region that differs from the endpoint's) are
    // logged once: with the environment's keys the probe is the signer itself; without
    // them, `from_chain` builds the signer again from the same options (it always does
    // once this returns `Chain`) and logs them then, so the probe builds in silence.
    let build_probe = || {
        with_opts(target, opts, signing_time)
            .credentials_provider(
                environment
                    .clone()
                    .unwrap_or_else(|| Credentials::new("probe", "probe", None, None, "probe")),
            )
            .build()
    };
    let probe = if environment.is_some() {
        build_probe()
    } else {
        tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), build_probe)
    };
    let probe = match probe {
        Ok(signer) => Some(signer),
        Err(err) if err.kind() == &ErrorKind::RegionNotFound => None,
        Err(err) => return Err(err.into()),
    };
    let Some(credentials) = environment else {
        return Ok(Plan::Chain {
            known_region: probe.map(|signer| signer.region().to_owned()),
        });
    };
    let signer = match (probe, environment_region()) {
        (Some(signer), _) => signer,
        (None, Some(region)) => with_opts(target, opts, signing_time)
            .region(region)
            .credentials_provider(credentials.clone())
            .build()?,
        (None, None) => return Ok(Plan::Chain { known_region: None }),
    };
    tracing::debug!(
        region = signer.region(),
        "credentials from environment variables"
    );
    Ok(Plan::Environment {
        signer,
        credentials,
    })
}

/// Builds the signer with credentials (and, when needed, the region) from the standard
/// chain through `aws-config`. A region known from `--region` or the endpoint name is
/// handed to it, so it never asks the instance metadata service for one.
pub(crate) async fn from_chain(
    target: &dyn Fn() -> SignerBuilder,
    opts: &AwsOpts,
    signing_time: Option<SystemTime>,
    known_region: Option<String>,
) -> anyhow::Result<AuthTokenSigner> {
    // The HTTPS client of the chain (SSO, STS, containers): what aws-config's
    // `default-https-client` builds (hyper, rustls, the system's roots), with ring as
    // rustls's crypto provider instead of aws-lc (see Cargo.toml).
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http_client.clone());
    if let Some(region) = known_region {
        loader = loader.region(rds_iam_token::Region::new(region));
    }
    let mut builder = with_opts(target, opts, signing_time);
    if let Some(profile) = &opts.profile {
        tracing::debug!(profile, "credentials from the named profile");
        loader = loader.profile_name(profile);
        builder = builder.credentials_provider(
            ProfileFileCredentialsProvider::builder()
                .configure(&ProviderConfig::default().with_http_client(http_client))
                .profile_name(profile)
                .build(),
        );
    }
    let sdk_config = loader.load().await;
    builder.sdk_config(&sdk_config).build().map_err(|err| {
        if err.kind() == &ErrorKind::RegionNotFound {
            anyhow::Error::new(err).context("give --region (or set AWS_REGION)")
        } else {
            err.into()
        }
    })
}

/// Signs with the environment's keys at `signing_time`, else now.
pub(crate) fn sign_now(
    signer: &AuthTokenSigner,
    credentials: &Credentials,
    signing_time: Option<SystemTime>,
) -> anyhow::Result<String> {
    let time = signing_time.unwrap_or_else(SystemTime::now);
    Ok(signer.sign_with(credentials, time)?.into_exposed())
}

/// A signer and one token, whichever way the credentials come.
pub(crate) async fn signer_and_token(
    target: &dyn Fn() -> SignerBuilder,
    opts: &AwsOpts,
    signing_time: Option<SystemTime>,
) -> anyhow::Result<(AuthTokenSigner, String)> {
    match plan(target, opts, signing_time)? {
        Plan::Environment {
            signer,
            credentials,
        } => {
            let token = sign_now(&signer, &credentials, signing_time)?;
            Ok((signer, token))
        }
        Plan::Chain { known_region } => {
            let signer = from_chain(target, opts, signing_time, known_region).await?;
            let token = sign_with_chain(&signer, opts).await?;
            Ok((signer, token))
        }
    }
}

/// The target with `--region` and `--signing-time` applied.
fn with_opts(
    target: &dyn Fn() -> SignerBuilder,
    opts: &AwsOpts,
    signing_time: Option<SystemTime>,
) -> SignerBuilder {
    let mut builder = target();
    if let Some(region) = &opts.region {
        builder = builder.region(region.clone());
    }
    if let Some(time) = signing_time {
        builder = builder.time_source(StaticTimeSource::new(time));
    }
    builder
}

/// Signs one token now (or at the signer's fixed time). When no credentials can be
/// had, says in one or two lines where they are looked for; `-v` logs the whole chain.
pub(crate) async fn sign_with_chain(
    signer: &AuthTokenSigner,
    opts: &AwsOpts,
) -> anyhow::Result<String> {
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

/// Credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`,
/// read as `aws-config`'s environment provider reads them (empty means unset).
fn environment_credentials() -> Option<Credentials> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    Some(Credentials::new(
        var("AWS_ACCESS_KEY_ID")?,
        var("AWS_SECRET_ACCESS_KEY")?,
        var("AWS_SESSION_TOKEN"),
        None,
        "Environment",
    ))
}

/// `AWS_REGION`, else `AWS_DEFAULT_REGION`, as `aws-config` reads them.
fn environment_region() -> Option<String> {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
}
