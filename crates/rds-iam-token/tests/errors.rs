//! Typed errors: every bad input fails with the right [`ErrorKind`] and a message that names
//! the field; region resolution (explicit, endpoint name, `SdkConfig`) and its warning.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{self, ProvideCredentials, SharedCredentialsProvider};
use aws_types::SdkConfig;
use aws_types::region::Region;
use rds_iam_token::{AuthTokenSigner, Error, ErrorKind, SignerBuilder};

const RDS_HOST: &str = "mydb.c9akciq32abc.us-east-1.rds.amazonaws.com";
const DSQL_HOST: &str = "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws";

fn keys() -> Credentials {
    Credentials::from_keys("AKIDEXAMPLE", "secret", None)
}

fn build_err(builder: SignerBuilder) -> Error {
    builder.credentials_provider(keys()).build().unwrap_err()
}

/// Asserts the kind, and that the message contains every one of `words`.
#[track_caller]
fn assert_error(err: &Error, kind: ErrorKind, words: &[&str]) {
    assert_eq!(err.kind(), &kind, "{err}");
    let message = err.to_string();
    for word in words {
        assert!(
            message.contains(word),
            "{message:?} should mention {word:?}"
        );
    }
    // Display style: lowercase start, no trailing period.
    assert!(!message.ends_with('.'), "{message:?}");
    assert!(
        message.starts_with(|c: char| c.is_lowercase()),
        "{message:?}"
    );
}

#[test]
fn bad_hostnames_are_refused() {
    for (host, hint) in [
        ("", "empty"),
        (
            "postgres://mydb.c9akciq32abc.us-east-1.rds.amazonaws.com",
            "scheme",
        ),
        (
            "https://mydb.c9akciq32abc.us-east-1.rds.amazonaws.com",
            "scheme",
        ),
        ("mydb.c9akciq32abc.us-east-1.rds.amazonaws.com/app", "path"),
        ("mydb.c9akciq32abc.us-east-1.rds.amazonaws.com:5432", "port"),
        ("my db.example.com", "not allowed"),
        // Each of these gets its own accurate reason, not a generic one.
        ("::1", "IPv6"),
        ("[2001:db8::7]", "IPv6"),
        (
            "mydb.c9akciq32abc.us-east-1.rds.amazonaws.com.",
            "trailing dot",
        ),
        ("/var/run/postgresql", "Unix-socket"),
        ("a..b.example.com", "empty label"),
    ] {
        for builder in [
            AuthTokenSigner::rds(host, 5432, "app"),
            AuthTokenSigner::dsql(host),
            AuthTokenSigner::dsql_admin(host),
        ] {
            let err = build_err(builder.region("us-east-1"));
            assert_error(&err, ErrorKind::InvalidHostname, &["hostname", hint]);
        }
    }
}

#[test]
fn port_zero_is_refused() {
    let err = build_err(AuthTokenSigner::rds(RDS_HOST, 0, "app"));
    assert_error(&err, ErrorKind::InvalidPort, &["port", "0"]);
}

#[test]
fn an_empty_user_is_refused() {
    let err = build_err(AuthTokenSigner::rds(RDS_HOST, 5432, ""));
    assert_error(&err, ErrorKind::InvalidUsername, &["username", "empty"]);
}

#[test]
fn dsql_expiry_must_be_1_to_604800_whole_seconds() {
    for bad in [
        Duration::ZERO,
        Duration::from_millis(500),
        Duration::from_secs(604_801),
        Duration::from_secs(u64::MAX),
        Duration::from_millis(1500),
    ] {
        for builder in [
            AuthTokenSigner::dsql(DSQL_HOST),
            AuthTokenSigner::dsql_admin(DSQL_HOST),
        ] {
            let err = build_err(builder.expires_in(bad));
            assert_error(&err, ErrorKind::InvalidExpiry, &["expires_in", "604800"]);
        }
    }
    for good in [1, 900, 3600, 604_800] {
        let signer = AuthTokenSigner::dsql(DSQL_HOST)
            .expires_in(Duration::from_secs(good))
            .credentials_provider(keys())
            .build()
            .unwrap();
        assert_eq!(signer.expires_in(), Duration::from_secs(good));
    }
    let default = AuthTokenSigner::dsql_admin(DSQL_HOST)
        .credentials_provider(keys())
        .build()
        .unwrap();
    assert_eq!(default.expires_in(), Duration::from_secs(900));
}

#[test]
fn rds_expiry_other_than_900_is_refused() {
    for bad in [0, 1, 899, 901, 3600] {
        let err = build_err(
            AuthTokenSigner::rds(RDS_HOST, 5432, "app").expires_in(Duration::from_secs(bad)),
        );
        assert_error(&err, ErrorKind::InvalidExpiry, &["expires_in", "900"]);
    }
    let signer = AuthTokenSigner::rds(RDS_HOST, 5432, "app")
        .expires_in(Duration::from_secs(900))
        .credentials_provider(keys())
        .build()
        .unwrap();
    assert_eq!(signer.expires_in(), Duration::from_secs(900));
}

#[test]
fn no_credentials_provider_is_refused() {
    let err = AuthTokenSigner::rds(RDS_HOST, 5432, "app")
        .build()
        .unwrap_err();
    assert_error(
        &err,
        ErrorKind::NoCredentialsProvider,
        &["credentials provider"],
    );
    // An SdkConfig without credentials does not count either.
    let sdk = SdkConfig::builder()
        .region(Region::new("us-east-1"))
        .build();
    let err = AuthTokenSigner::dsql(DSQL_HOST)
        .sdk_config(&sdk)
        .build()
        .unwrap_err();
    assert_error(
        &err,
        ErrorKind::NoCredentialsProvider,
        &["credentials provider"],
    );
}

/// A provider that always fails.
#[derive(Debug)]
struct FailingProvider;

impl ProvideCredentials for FailingProvider {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::ready(Err(CredentialsError::provider_error(
            io::Error::other("the instance metadata service timed out"),
        )))
    }
}

#[tokio::test]
async fn a_failing_provider_gives_credentials_unavailable_with_the_cause_as_source() {
    let signer = AuthTokenSigner::rds(RDS_HOST, 5432, "app")
        .credentials_provider(FailingProvider)
        .build()
        .unwrap();
    let err = signer.sign().await.unwrap_err();
    assert_error(&err, ErrorKind::CredentialsUnavailable, &["credentials"]);
    // The cause is in the source chain, not repeated in the message.
    assert!(!err.to_string().contains("timed out"), "{err}");
    let source = std::error::Error::source(&err).expect("the provider's error");
    assert!(source.downcast_ref::<CredentialsError>().is_some());
    let mut chain = String::new();
    let mut next = Some(source);
    while let Some(error) = next {
        chain.push_str(&error.to_string());
        next = error.source();
    }
    assert!(chain.contains("timed out"), "{chain}");
}

#[test]
fn custom_dns_without_a_region_asks_for_an_explicit_region() {
    for builder in [
        AuthTokenSigner::rds("db.internal.example.com", 5432, "app"),
        AuthTokenSigner::rds("localhost", 5432, "app"),
        AuthTokenSigner::dsql("dsql.internal.example.com"),
        AuthTokenSigner::dsql_admin("mydb.c9akciq32abc.us-east-1.rds.amazonaws.com"),
    ] {
        let err = build_err(builder);
        assert_error(
            &err,
            ErrorKind::RegionNotFound,
            &["region", "custom DNS", "set the region explicitly"],
        );
    }
}

#[test]
fn malformed_regions_are_refused() {
    for bad in [
        "",
        "US-EAST-1",
        "us east 1",
        "us-east-1/",
        "https://us-east-1",
    ] {
        let err = build_err(AuthTokenSigner::rds(RDS_HOST, 5432, "app").region(bad));
        assert_error(&err, ErrorKind::InvalidRegion, &["region"]);
        let sdk = SdkConfig::builder().region(Region::new(bad)).build();
        let err = build_err(AuthTokenSigner::rds("db.internal", 5432, "app").sdk_config(&sdk));
        assert_error(&err, ErrorKind::InvalidRegion, &["region"]);
    }
}

#[test]
fn error_kinds_compare_and_errors_are_send_sync() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<Error>();
    assert_ne!(ErrorKind::InvalidPort, ErrorKind::InvalidHostname);
}

/// Captures what a tracing subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// Runs `f` with a subscriber that records warnings and above, and returns them.
fn warnings_of<T>(f: impl FnOnce() -> T) -> (T, String) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let result = tracing::subscriber::with_default(subscriber, f);
    (result, captured.text())
}

#[test]
fn an_explicit_region_that_differs_from_the_endpoint_wins_with_a_warning() {
    let (signer, logged) = warnings_of(|| {
        AuthTokenSigner::rds(RDS_HOST, 5432, "app")
            .region("eu-west-1")
            .credentials_provider(keys())
            .build()
            .unwrap()
    });
    assert_eq!(signer.region(), "eu-west-1");
    assert!(logged.contains("WARN"), "{logged:?}");
    assert!(
        logged.contains("eu-west-1") && logged.contains("us-east-1"),
        "{logged}"
    );
    assert!(logged.contains("region"), "{logged}");

    let (signer, logged) = warnings_of(|| {
        AuthTokenSigner::dsql(DSQL_HOST)
            .region("us-west-2")
            .credentials_provider(keys())
            .build()
            .unwrap()
    });
    assert_eq!(signer.region(), "us-west-2");
    assert!(
        logged.contains("WARN") && logged.contains("us-west-2"),
        "{logged:?}"
    );
}

#[test]
fn no_warning_when_the_regions_agree_or_the_name_has_none() {
    for builder in [
        AuthTokenSigner::rds(RDS_HOST, 5432, "app").region("us-east-1"),
        AuthTokenSigner::rds(RDS_HOST, 5432, "app"),
        AuthTokenSigner::rds("db.internal.example.com", 5432, "app").region("eu-west-1"),
        AuthTokenSigner::dsql(DSQL_HOST).region("us-east-1"),
    ] {
        let (_, logged) = warnings_of(|| builder.credentials_provider(keys()).build().unwrap());
        assert_eq!(logged, "");
    }
}

fn sdk_config(region: &str) -> SdkConfig {
    SdkConfig::builder()
        .region(Region::new(region.to_owned()))
        .credentials_provider(SharedCredentialsProvider::new(keys()))
        .build()
}

#[tokio::test]
async fn region_falls_back_to_the_sdk_config_and_an_explicit_region_wins() {
    let sdk = sdk_config("ap-south-1");

    // A custom name has no region of its own: the SdkConfig's is used, with its credentials.
    let signer = AuthTokenSigner::rds("db.internal.example.com", 5432, "app")
        .sdk_config(&sdk)
        .build()
        .unwrap();
    assert_eq!(signer.region(), "ap-south-1");
    let token = signer.sign().await.unwrap();
    assert!(token.expose().contains("%2Fap-south-1%2Frds-db%2F"));

    // An explicit region wins over the SdkConfig's, whichever is set first.
    for builder in [
        AuthTokenSigner::rds("db.internal.example.com", 5432, "app")
            .region("eu-west-1")
            .sdk_config(&sdk),
        AuthTokenSigner::rds("db.internal.example.com", 5432, "app")
            .sdk_config(&sdk)
            .region("eu-west-1"),
        AuthTokenSigner::rds(RDS_HOST, 5432, "app")
            .sdk_config(&sdk)
            .region("eu-west-1"),
    ] {
        assert_eq!(builder.build().unwrap().region(), "eu-west-1");
    }

    // The endpoint name wins over the SdkConfig (the SDK's region is often just a default).
    for (builder, region) in [
        (
            AuthTokenSigner::rds(RDS_HOST, 5432, "app").sdk_config(&sdk),
            "us-east-1",
        ),
        (
            AuthTokenSigner::dsql(DSQL_HOST).sdk_config(&sdk),
            "us-east-1",
        ),
    ] {
        assert_eq!(builder.build().unwrap().region(), region);
    }

    // An SdkConfig without a region does not help a custom name.
    let no_region = SdkConfig::builder()
        .credentials_provider(SharedCredentialsProvider::new(keys()))
        .build();
    let err = AuthTokenSigner::rds("db.internal.example.com", 5432, "app")
        .sdk_config(&no_region)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::RegionNotFound);
}

#[test]
fn an_explicit_credentials_provider_wins_over_the_sdk_configs() {
    let sdk = sdk_config("us-east-1");
    let signer = AuthTokenSigner::rds(RDS_HOST, 5432, "app")
        .credentials_provider(FailingProvider)
        .sdk_config(&sdk)
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let err = runtime.block_on(signer.sign()).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::CredentialsUnavailable);
}
