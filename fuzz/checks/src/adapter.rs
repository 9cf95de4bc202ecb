//! The adapter: from a sqlx URL to the connect options and first token a pool starts with.

use std::error::Error as _;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_async::time::StaticTimeSource;
use aws_types::SdkConfig;
use aws_types::region::Region;
use sqlx::mysql::MySqlSslMode;
use sqlx::postgres::PgSslMode;
use sqlx_rds_iam::{__prepare_url, IamAuth};

use crate::secrets::{
    PASSWORD_MARKER, assert_clean_message, assert_no_secret, credentials, mentions_secret,
    sigv4_encode,
};

thread_local! {
    /// One runtime per thread: the path is async (it signs through the credentials
    /// provider, under a timeout) but never waits on I/O here.
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime");
}

/// Runs the input (UTF-8; other bytes are skipped) through the adapter's URL path for
/// PostgreSQL and MySQL, and checks that: nothing panics; errors are clean lines that show
/// no secret, no password from the URL and no token; prepared options connect where the
/// token is signed for (host lowercased, port, user), verify TLS fully, and carry the
/// token, never the URL's password, as password.
///
/// The credentials come through an `SdkConfig` whose region (eu-west-1) is the fallback:
/// RDS and DSQL endpoint names still sign for their own region, and any other host signs
/// too (a bare DSQL cluster id is a host: only `IamAuth::dsql` makes it an endpoint), so
/// one run covers all. (Each prepared pool picks its region's CA roots out of the
/// 114-certificate bundle, which libFuzzer's comparison hooks make slow: runs are kept
/// to one per URL.)
pub fn adapter_url(data: &[u8]) {
    let Ok(url) = std::str::from_utf8(data) else {
        return;
    };
    if mentions_secret(url) {
        return;
    }
    let sdk_config = SdkConfig::builder()
        .region(Region::new("eu-west-1"))
        .credentials_provider(SharedCredentialsProvider::new(credentials(true)))
        .time_source(StaticTimeSource::from_secs(1_724_709_600))
        .build();
    let auth = IamAuth::from_sdk_config(&sdk_config);
    // The same URL with a password, where sqlx reads one: right after `SCHEME://`.
    let with_password = url
        .find("://")
        .filter(|&i| url.find(':') == Some(i))
        .map(|i| format!("{}u:{PASSWORD_MARKER}@{}", &url[..i + 3], &url[i + 3..]));
    for url in std::iter::once(url).chain(with_password.as_deref()) {
        check_postgres(&auth, url);
        check_mysql(&auth, url);
    }
}

fn check_postgres(auth: &IamAuth, url: &str) {
    let prepared = RUNTIME.with(|rt| rt.block_on(__prepare_url::<sqlx::Postgres>(auth, url)));
    let (options, token) = match prepared {
        Ok(prepared) => prepared,
        Err(err) => return check_error(&err, url),
    };
    check_prepared(
        url,
        (
            options.get_host(),
            options.get_port(),
            options.get_username(),
        ),
        &format!("{options:?}"),
        token.expose(),
    );
    assert!(
        matches!(options.get_ssl_mode(), PgSslMode::VerifyFull),
        "{url:?}: sslmode {:?}",
        options.get_ssl_mode()
    );
}

fn check_mysql(auth: &IamAuth, url: &str) {
    let prepared = RUNTIME.with(|rt| rt.block_on(__prepare_url::<sqlx::MySql>(auth, url)));
    let (options, token) = match prepared {
        Ok(prepared) => prepared,
        Err(err) => return check_error(&err, url),
    };
    check_prepared(
        url,
        (
            options.get_host(),
            options.get_port(),
            options.get_username(),
        ),
        &format!("{options:?}"),
        token.expose(),
    );
    assert!(
        matches!(options.get_ssl_mode(), MySqlSslMode::VerifyIdentity),
        "{url:?}: ssl-mode {:?}",
        options.get_ssl_mode()
    );
}

fn check_prepared(url: &str, (host, port, user): (&str, u16, &str), debug: &str, token: &str) {
    let host = host.to_ascii_lowercase();
    // Aurora DSQL (a DSQL endpoint name): no port, no user, DbConnectAdmin for the admin
    // role only.
    let signed_for = if is_dsql_endpoint(&host) {
        let action = if user == "admin" {
            "DbConnectAdmin"
        } else {
            "DbConnect"
        };
        format!("{host}/?Action={action}&")
    } else {
        format!(
            "{host}:{port}/?Action=connect&DBUser={}&",
            sigv4_encode(user)
        )
    };
    assert!(
        token.starts_with(&signed_for),
        "{url:?}: connects to {host}:{port} as {user:?}, but the token is for {token}"
    );
    assert!(
        debug.contains(&format!("password: Some({token:?})")),
        "{url:?}: the token is not the password"
    );
    assert!(
        !debug.contains(&format!("password: Some(\"{PASSWORD_MARKER}")),
        "{url:?}: the URL's password survived"
    );
}

/// `ID.dsql.REGION.on.aws` or `ID.dsql-fips.REGION.on.aws` (lowercase, as prepared
/// options hold it after the check above lowercases it), as rds-iam-token's `DsqlEndpoint`
/// documents it: one cluster-id label of letters, digits and dashes, a region name.
fn is_dsql_endpoint(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    let Some(prefix) = host.strip_suffix(".on.aws") else {
        return false;
    };
    let labels: Vec<&str> = prefix.split('.').collect();
    labels.len() == 3
        && ["dsql", "dsql-fips"].contains(&labels[1])
        && (1..=63).contains(&labels[0].len())
        && labels[0]
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && is_region_name(labels[2])
}

/// `us-east-1`, `us-gov-west-1`: 2+ lowercase letters, 1+ lowercase words, a number.
fn is_region_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    let lower = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    parts.len() >= 3
        && parts[0].len() >= 2
        && lower(&parts[0])
        && parts[1..parts.len() - 1].iter().all(lower)
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

fn check_error(err: &sqlx_rds_iam::Error, url: &str) {
    let mut chain = err.to_string();
    assert_clean_message(&chain, "an adapter error");
    let mut source = err.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    assert_no_secret(&chain, &format!("the adapter's error for {url:?}"));
    assert!(
        !chain.contains("X-Amz-Signature"),
        "{url:?}: an error shows a token: {chain}"
    );
}
