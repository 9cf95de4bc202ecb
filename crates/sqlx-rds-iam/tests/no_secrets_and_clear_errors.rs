//! What the adapter shows in Debug, logs and errors (no database needed: lazy pools sign
//! their first token without connecting). Each test needs the engine it uses (features
//! `postgres`, `mysql`); the rest run with either.

#[cfg(feature = "postgres")]
use std::io::Write;
#[cfg(feature = "postgres")]
use std::sync::{Arc, Mutex};
#[cfg(feature = "postgres")]
use std::time::Duration;

use aws_credential_types::Credentials;
#[cfg(feature = "mysql")]
use aws_credential_types::provider::{ProvideCredentials, error::CredentialsError, future};
#[cfg(feature = "mysql")]
use sqlx::mysql::MySqlPoolOptions;
#[cfg(feature = "postgres")]
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx_rds_iam::{ErrorKind, IamAuth, IamAuthExt};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY";
const SESSION_TOKEN: &str = "FwoGZXIvYXdzSESSIONTOKENVALUE0123456789";
const ENDPOINT: &str = "mydb.c9akciq32.us-east-1.rds.amazonaws.com";

fn temporary_credentials() -> Credentials {
    Credentials::new(
        "ASIAEXAMPLEKEYID0001",
        SECRET,
        Some(SESSION_TOKEN.to_owned()),
        None,
        "test",
    )
}

/// Collects everything the tracing subscriber writes.
#[cfg(feature = "postgres")]
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

#[cfg(feature = "postgres")]
impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(feature = "postgres")]
impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn assert_no_secret(shown: &str) {
    for secret in [
        SECRET,
        SESSION_TOKEN,
        "X-Amz-Signature",
        "X-Amz-Security-Token",
    ] {
        assert!(!shown.contains(secret), "{secret:?} shown in: {shown}");
    }
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn logs_name_each_token_but_never_show_it() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let pool = PgPoolOptions::new()
        .iam_auth(IamAuth::from_credentials_provider(temporary_credentials()))
        .connect_lazy(&format!("postgres://app_user@{ENDPOINT}:5432/app"))
        .await
        .expect("a lazy pool signs its first token without connecting");
    pool.close().await;

    let logs = captured.text();
    assert!(logs.contains("signed an IAM auth token"), "{logs}");
    assert!(logs.contains(ENDPOINT), "{logs}");
    assert!(logs.contains("us-east-1"), "{logs}");
    assert!(logs.contains("ASIAEXAMPLEKEYID0001"), "{logs}");
    assert!(logs.contains("temporary"), "{logs}");
    assert_no_secret(&logs);
}

#[tokio::test]
async fn debug_output_shows_no_secret() {
    let auth = IamAuth::from_credentials_provider(temporary_credentials()).region("us-east-1");
    assert_no_secret(&format!("{auth:?}"));
    #[cfg(feature = "postgres")]
    {
        let options = PgPoolOptions::new().iam_auth(auth.clone());
        assert_no_secret(&format!("{options:?}"));
    }
    #[cfg(feature = "mysql")]
    {
        let options = MySqlPoolOptions::new().iam_auth(auth);
        assert_no_secret(&format!("{options:?}"));
    }
}

#[cfg(feature = "mysql")]
#[derive(Debug)]
struct DownProvider;

#[cfg(feature = "mysql")]
impl ProvideCredentials for DownProvider {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::ready(Err(CredentialsError::provider_error(
            "connection refused (instance metadata)",
        )))
    }
}

#[cfg(feature = "mysql")]
#[tokio::test]
async fn no_credentials_is_a_credentials_error() {
    let err = MySqlPoolOptions::new()
        .iam_auth(IamAuth::from_credentials_provider(DownProvider))
        .connect_lazy(&format!("mysql://app_user@{ENDPOINT}:3306/app"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Credentials);
    assert!(err.to_string().contains("credentials"), "{err}");
    assert!(std::error::Error::source(&err).is_some());
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn configuration_mistakes_name_the_setting() {
    let cases: Vec<(IamAuth, &str, &str)> = vec![
        (
            IamAuth::from_credentials_provider(temporary_credentials())
                .max_token_age(Duration::from_secs(20 * 60)),
            "postgres://app_user@mydb.c9akciq32.us-east-1.rds.amazonaws.com/app",
            "max_token_age",
        ),
        (
            IamAuth::from_credentials_provider(temporary_credentials())
                .max_token_age(Duration::from_millis(999)),
            "postgres://app_user@mydb.c9akciq32.us-east-1.rds.amazonaws.com/app",
            "at least 1 second",
        ),
        (
            IamAuth::from_credentials_provider(temporary_credentials())
                .max_token_age(Duration::ZERO),
            "postgres://app_user@mydb.c9akciq32.us-east-1.rds.amazonaws.com/app",
            "max_token_age",
        ),
        (
            IamAuth::from_credentials_provider(temporary_credentials()),
            "postgres://app_user@db.internal.example.com/app",
            "region",
        ),
        (
            IamAuth::from_credentials_provider(temporary_credentials()).region("US-EAST-1"),
            "postgres://app_user@db.internal.example.com/app",
            "region",
        ),
        (
            IamAuth::from_credentials_provider(temporary_credentials()),
            "postgres://mydb.c9akciq32.us-east-1.rds.amazonaws.com:0/app",
            "port",
        ),
    ];
    for (auth, url, field) in cases {
        let err = PgPoolOptions::new()
            .iam_auth(auth)
            .connect_lazy(url)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{url}: {err}");
        assert!(err.to_string().contains(field), "{field:?} not in: {err}");
    }
    let err = PgPoolOptions::new()
        .iam_auth(IamAuth::from_credentials_provider(temporary_credentials()))
        .connect_lazy("not a url")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("URL"), "{err}");
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn unix_sockets_are_refused() {
    let err = PgPoolOptions::new()
        .iam_auth(IamAuth::from_credentials_provider(temporary_credentials()).region("us-east-1"))
        .connect_lazy_with(PgConnectOptions::new().socket("/var/run/postgresql"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InsecureTransport);
    assert!(err.to_string().contains("Unix socket"), "{err}");
}

#[test]
fn a_missing_ca_file_is_named() {
    let err = IamAuth::from_credentials_provider(temporary_credentials())
        .add_root_certificates_file("/nonexistent/ca.pem")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}

#[test]
fn the_embedded_bundle_holds_every_rds_root() {
    let count = sqlx_rds_iam::RDS_CA_BUNDLE_PEM
        .matches("-----BEGIN CERTIFICATE-----")
        .count();
    // 108 global roots (36 regions x 3 key types) + 6 GovCloud roots; see certs/SOURCES.md.
    assert_eq!(count, 114);
}
