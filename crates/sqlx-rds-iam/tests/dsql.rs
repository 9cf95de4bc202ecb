//! Aurora DSQL pools as the adapter prepares them, without a server: lazy pools sign their
//! first token without connecting. (tests/dsql.rs in the workspace connects to the test
//! bed's DSQL look-alike.) DSQL speaks the PostgreSQL protocol: most tests need the
//! `postgres` feature; the one that checks MySQL pools refuse DSQL needs `mysql`.

#[cfg(feature = "postgres")]
use std::io::Write;
#[cfg(feature = "postgres")]
use std::sync::{Arc, Mutex};
#[cfg(feature = "postgres")]
use std::time::Duration;

use aws_credential_types::Credentials;
#[cfg(feature = "postgres")]
use sqlx::ConnectOptions;
#[cfg(feature = "mysql")]
use sqlx::mysql::MySqlPoolOptions;
#[cfg(feature = "postgres")]
use sqlx::postgres::{PgPoolOptions, PgSslMode};
use sqlx_rds_iam::{ErrorKind, IamAuth, IamAuthExt};

const ENDPOINT: &str = "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws";
#[cfg(feature = "postgres")]
const CLUSTER_ID: &str = "abcdefghijklmnopqrstuvwxyz";

fn auth() -> IamAuth {
    IamAuth::from_credentials_provider(Credentials::from_keys("AKIDEXAMPLE", "secret", None))
}

/// The token and the options a pool for `url` starts with.
#[cfg(feature = "postgres")]
async fn prepare(auth: &IamAuth, url: &str) -> (sqlx::postgres::PgConnectOptions, String) {
    let (options, token) = sqlx_rds_iam::__prepare_url::<sqlx::Postgres>(auth, url)
        .await
        .unwrap_or_else(|err| panic!("{url}: {err}"));
    (options, token.expose().to_owned())
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_dsql_endpoint_name_is_enough() {
    let (options, admin) = prepare(&auth(), &format!("postgres://admin@{ENDPOINT}/postgres")).await;
    assert!(
        admin.starts_with(&format!("{ENDPOINT}/?Action=DbConnectAdmin&")),
        "{admin}"
    );
    assert!(
        admin.contains("%2Fus-east-1%2Fdsql%2Faws4_request"),
        "{admin}"
    );
    assert!(admin.contains("X-Amz-Expires=900&"), "{admin}");
    assert!(matches!(options.get_ssl_mode(), PgSslMode::VerifyFull));
    // The public Amazon roots are in sqlx's webpki set: no RDS bundle is added for DSQL.
    let url = options.to_url_lossy();
    assert!(
        !url.query_pairs().any(|(key, _)| key == "sslrootcert"),
        "{url}"
    );

    // Any other role signs DbConnect; letter case of the name does not matter.
    let shouting = ENDPOINT.to_ascii_uppercase();
    let (_, reader) = prepare(
        &auth(),
        &format!("postgres://app_reader@{shouting}:5432/postgres"),
    )
    .await;
    assert!(
        reader.starts_with(&format!("{ENDPOINT}/?Action=DbConnect&")),
        "{reader}"
    );
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn rds_endpoints_keep_the_rds_bundle_and_rds_tokens() {
    let host = "mydb.c9akciq32.us-east-1.rds.amazonaws.com";
    let (options, token) = prepare(&auth(), &format!("postgres://admin@{host}/app")).await;
    assert!(token.starts_with(&format!("{host}:5432/?Action=connect&DBUser=admin&")));
    let url = options.to_url_lossy();
    assert!(
        url.query_pairs().any(|(key, _)| key == "sslrootcert"),
        "{url}"
    );
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn another_name_is_dsql_when_told_and_keeps_the_users_roots() {
    let ca = "-----BEGIN CERTIFICATE-----\nbed\n-----END CERTIFICATE-----\n";
    let auth = auth()
        .dsql()
        .region("eu-west-1")
        .add_root_certificates_pem(ca);
    let (options, token) = prepare(&auth, "postgres://admin@localhost:15432/postgres").await;
    assert!(
        token.starts_with("localhost/?Action=DbConnectAdmin&"),
        "{token}"
    );
    assert!(token.contains("%2Feu-west-1%2Fdsql%2F"), "{token}");
    let url = options.to_url_lossy();
    let roots: Vec<_> = url
        .query_pairs()
        .filter(|(key, _)| key == "sslrootcert")
        .map(|(_, value)| value.into_owned())
        .collect();
    assert_eq!(roots, [ca], "only the user's root is added");

    // A server whose certificate the user's CA signs, at another name: sign for the
    // cluster endpoint (DSQL by its name).
    let proxy = crate::auth()
        .signing_host(ENDPOINT)
        .add_root_certificates_pem(ca);
    let (_, token) = prepare(&proxy, "postgres://app@localhost:15432/postgres").await;
    assert!(
        token.starts_with(&format!("{ENDPOINT}/?Action=DbConnect&")),
        "{token}"
    );

    // A tunnel on localhost with only the public roots: DSQL's certificate names the
    // endpoint, so verify-full cannot pass; refused before signing, with the recipe (DSQL
    // listens on 5432; its tokens carry no port).
    let err = PgPoolOptions::new()
        .iam_auth(crate::auth().signing_host(ENDPOINT))
        .connect_lazy("postgres://app@localhost:15432/postgres")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("127.0.0.1 {ENDPOINT}")),
        "{message}"
    );
    assert!(message.contains("portNumber=5432,"), "{message}");
    assert!(!message.contains("signing_port"), "{message}");
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_bare_cluster_id_is_the_endpoint_in_the_region_when_told_dsql() {
    let (options, token) = prepare(
        &auth().dsql().region("us-west-2"),
        &format!("postgres://admin@{CLUSTER_ID}/postgres"),
    )
    .await;
    let endpoint = format!("{CLUSTER_ID}.dsql.us-west-2.on.aws");
    assert_eq!(options.get_host(), endpoint);
    assert!(token.starts_with(&format!("{endpoint}/?Action=DbConnectAdmin&")));

    let err = PgPoolOptions::new()
        .iam_auth(auth().dsql())
        .connect_lazy(&format!("postgres://admin@{CLUSTER_ID}/postgres"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        err.to_string().contains("bare Aurora DSQL cluster id")
            && err.to_string().contains("IamAuth::region"),
        "{err}"
    );

    // The region becomes part of the host name: one that is not a region name is refused
    // before any host is made of it.
    let err = sqlx_rds_iam::__prepare_url::<sqlx::Postgres>(
        &auth().dsql().region("us-east-1.on.aws.evil.example"),
        &format!("postgres://admin@{CLUSTER_ID}/postgres"),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("invalid region"), "{err}");
}

/// A host of 26 lowercase letters and digits (a docker-compose service, a DNS alias) is
/// a host: without `dsql()` it is never rewritten to a DSQL endpoint in AWS, even with a
/// region configured (as every `SdkConfig` in AWS has).
#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_26_letter_host_is_a_host_unless_told_dsql() {
    let host = "postgresprimarydatabase001";
    assert_eq!(host.len(), CLUSTER_ID.len());
    for url in [
        format!("postgres://app@{host}:5432/app"),
        format!("postgres://admin@{CLUSTER_ID}:5432/postgres"),
    ] {
        let (options, token) = prepare(&auth().region("us-west-2"), &url).await;
        let named = url.split(['@', ':']).nth(2).unwrap();
        assert_eq!(options.get_host(), named, "{url}: the host was rewritten");
        assert!(
            token.starts_with(&format!("{named}:5432/?Action=connect&")),
            "{url}: {token}"
        );
    }
}

#[cfg(feature = "mysql")]
#[tokio::test]
async fn mysql_with_dsql_is_a_configuration_error() {
    for (auth, url) in [
        (auth(), format!("mysql://admin@{ENDPOINT}:3306/postgres")),
        (
            auth().dsql().region("us-east-1"),
            "mysql://admin@localhost:3306/app".to_owned(),
        ),
    ] {
        let err = MySqlPoolOptions::new()
            .iam_auth(auth)
            .connect_lazy(&url)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        assert!(
            err.to_string().contains("PostgreSQL protocol only")
                && err.to_string().contains("PgPoolOptions"),
            "{err}"
        );
    }
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
#[tokio::test]
async fn max_lifetime_stays_under_dsqls_hour() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let url = format!("postgres://admin@{ENDPOINT}/postgres");
    let fifty_five = Duration::from_secs(55 * 60);

    for (requested, expected, logged) in [
        (None, fifty_five, true),
        (Some(Duration::from_secs(2 * 3600)), fifty_five, true),
        (Some(fifty_five), fifty_five, false),
        (
            Some(Duration::from_secs(600)),
            Duration::from_secs(600),
            false,
        ),
    ] {
        let before = String::from_utf8_lossy(&captured.0.lock().unwrap()).len();
        let pool = PgPoolOptions::new()
            .max_lifetime(requested)
            .iam_auth(auth())
            .connect_lazy(&url)
            .await
            .unwrap();
        assert_eq!(
            pool.options().get_max_lifetime(),
            Some(expected),
            "{requested:?}"
        );
        pool.close().await;
        let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
        let new = &logs[before..];
        assert_eq!(
            new.contains(" INFO ") && new.contains("max_lifetime is set to 55 minutes"),
            logged,
            "{requested:?}: {new}"
        );
    }

    // RDS pools keep what they were given.
    let pool = PgPoolOptions::new()
        .max_lifetime(None)
        .iam_auth(auth())
        .connect_lazy("postgres://app@mydb.c9akciq32.us-east-1.rds.amazonaws.com/app")
        .await
        .unwrap();
    assert_eq!(pool.options().get_max_lifetime(), None);
    pool.close().await;
}
