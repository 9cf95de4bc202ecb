//! Aurora DSQL: bare cluster ids, and what DSQL asks of a pool.
//!
//! DSQL speaks the PostgreSQL protocol and takes IAM tokens only: service `dsql`,
//! `Action=DbConnectAdmin` for the `admin` role and `Action=DbConnect` for every other role,
//! no port in the token. Telling a DSQL endpoint name from other hosts
//! (`rds_iam_token::DsqlEndpoint`) and choosing the action for a role
//! (`AuthTokenSigner::dsql_for_role`) are the token crate's. Its certificates chain to the public Amazon roots (in sqlx's
//! webpki set), and it closes every connection after 60 minutes.

use std::time::Duration;

use sqlx::Database;
use sqlx::pool::PoolOptions;

use crate::error::Error;

/// DSQL closes every connection after 60 minutes; the pool retires its own five minutes
/// earlier, so that no query is cut off by the server.
pub(crate) const MAX_LIFETIME: Duration = Duration::from_secs(55 * 60);

/// A DSQL cluster id: 26 lowercase letters and digits (what AWS's connectors accept as a
/// host on its own).
const CLUSTER_ID_LEN: usize = 26;

/// Whether `host` is a bare DSQL cluster id, as AWS's connectors accept it.
pub(crate) fn is_cluster_id(host: &str) -> bool {
    host.len() == CLUSTER_ID_LEN
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// The endpoint name of cluster `id` in `region`.
pub(crate) fn endpoint_name(id: &str, region: &str) -> String {
    format!("{id}.dsql.{region}.on.aws")
}

/// The endpoint name for a bare cluster id `host`, in `region` (the `IamAuth` region or
/// the `SdkConfig`'s); an error naming both fixes when there is none.
pub(crate) fn expand_cluster_id(host: &str, region: Option<&str>) -> Result<String, Error> {
    match region {
        Some(region) => Ok(endpoint_name(host, region)),
        None => Err(Error::config(format!(
            "the host {host:?} is a bare Aurora DSQL cluster id, and no region is set to \
             find its endpoint: set one with `IamAuth::region` (or AWS_REGION for the SDK \
             config), or give the whole endpoint name, {host}.dsql.REGION.on.aws"
        ))),
    }
}

/// The message for a DSQL pool asked of MySQL.
pub(crate) fn mysql_refused(host: &str) -> Error {
    Error::config(format!(
        "{host} is an Aurora DSQL endpoint, and DSQL speaks the PostgreSQL protocol only: \
         use `PgPoolOptions` and a postgres:// URL"
    ))
}

/// `options` with a `max_lifetime` of at most [`MAX_LIFETIME`]: a longer one, or none,
/// is lowered, with an info line.
pub(crate) fn cap_max_lifetime<DB: Database>(
    options: PoolOptions<DB>,
    host: &str,
) -> PoolOptions<DB> {
    match options.get_max_lifetime() {
        Some(lifetime) if lifetime <= MAX_LIFETIME => options,
        requested => {
            tracing::info!(
                host,
                requested_max_lifetime_s = requested.map(|l| l.as_secs()),
                max_lifetime_s = MAX_LIFETIME.as_secs(),
                "Aurora DSQL closes connections after 60 minutes; the pool's max_lifetime \
                 is set to 55 minutes"
            );
            options.max_lifetime(MAX_LIFETIME)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> crate::IamAuth {
        crate::IamAuth::from_credentials_provider(aws_credential_types::Credentials::from_keys(
            "AKIDEXAMPLE",
            "secret",
            None,
        ))
    }

    /// The pool takes a host for DSQL by the token crate's `DsqlEndpoint` rules (tested
    /// there in full): a few names each way, and the signing host deciding when set.
    #[test]
    fn knows_dsql_endpoint_names_in_any_case() {
        for host in [
            "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ.DSQL.US-EAST-1.ON.AWS",
            "abc.dsql-fips.us-west-2.on.aws",
            "abc.dsql.eu-west-1.on.aws.",
        ] {
            assert!(auth().is_dsql(host), "{host}");
        }
        for host in [
            "mydb.abc123.us-east-1.rds.amazonaws.com",
            "abc.dsql.on.aws",
            "dsql.us-east-1.on.aws",
            "abc.dsql.us-east-1.on.aws.evil.example",
            "a.abc.dsql.us-east-1.on.aws",
            "localhost",
        ] {
            assert!(!auth().is_dsql(host), "{host}");
            assert!(auth().dsql().is_dsql(host), "{host}: dsql() says so");
        }
        let endpoint = "abc.dsql.us-east-1.on.aws";
        assert!(auth().signing_host(endpoint).is_dsql("localhost"));
        assert!(
            !auth()
                .signing_host("mydb.abc123.us-east-1.rds.amazonaws.com")
                .is_dsql(endpoint)
        );
    }

    #[test]
    fn bare_cluster_ids() {
        assert!(is_cluster_id("abcdefghijklmnopqrstuvwxyz"));
        assert!(is_cluster_id("4aabugk53f6nxpo5ma5ibpy3ki"));
        for not_an_id in [
            "localhost",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "abcdefghijklmnopqrstuvwxy",
            "abcdefghijklmnopqrstuvwxyz0",
            "abcdefghijklm-opqrstuvwxyz",
        ] {
            assert!(!is_cluster_id(not_an_id), "{not_an_id}");
        }
        assert_eq!(
            expand_cluster_id("abcdefghijklmnopqrstuvwxyz", Some("eu-west-1")).unwrap(),
            "abcdefghijklmnopqrstuvwxyz.dsql.eu-west-1.on.aws"
        );
        let err = expand_cluster_id("abcdefghijklmnopqrstuvwxyz", None).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("IamAuth::region")
                && message.contains("abcdefghijklmnopqrstuvwxyz.dsql.REGION.on.aws"),
            "{message}"
        );
    }

    #[test]
    fn admin_signs_db_connect_admin_and_other_roles_db_connect() {
        use aws_credential_types::Credentials;
        use std::time::{SystemTime, UNIX_EPOCH};
        let credentials = Credentials::from_keys("AKIDEXAMPLE", "secret", None);
        let at: SystemTime = UNIX_EPOCH + Duration::from_secs(1_724_709_600);
        let sign = |role: &str| {
            auth()
                .signer(
                    "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws",
                    5432,
                    role,
                    true,
                )
                .unwrap()
                .sign_with(&credentials, at)
                .unwrap()
        };
        let admin = sign("admin");
        assert!(
            admin.expose().starts_with(
                "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws/?Action=DbConnectAdmin&"
            ),
            "{}",
            admin.expose()
        );
        for role in ["app", "Admin", "admin2"] {
            let token = sign(role);
            assert!(
                token.expose().contains("/?Action=DbConnect&"),
                "{role}: {}",
                token.expose()
            );
            assert!(token.expose().contains("X-Amz-Expires=900&"));
        }
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn max_lifetime_is_capped_at_55_minutes() {
        let options = PoolOptions::<sqlx::Postgres>::new;
        let hour = Duration::from_secs(3600);
        let thirty = Duration::from_secs(30 * 60);
        assert_eq!(
            cap_max_lifetime(options().max_lifetime(None), "h").get_max_lifetime(),
            Some(MAX_LIFETIME)
        );
        assert_eq!(
            cap_max_lifetime(options().max_lifetime(hour), "h").get_max_lifetime(),
            Some(MAX_LIFETIME)
        );
        assert_eq!(
            cap_max_lifetime(options().max_lifetime(MAX_LIFETIME), "h").get_max_lifetime(),
            Some(MAX_LIFETIME)
        );
        assert_eq!(
            cap_max_lifetime(options().max_lifetime(thirty), "h").get_max_lifetime(),
            Some(thirty)
        );
    }
}
