//! Aurora DSQL endpoints for `psql`, `url` and `exec`: told apart from RDS ones by name,
//! signed with service `dsql` (`DbConnectAdmin` for the `admin` role, `DbConnect` for any
//! other), and explained when refused.

use rds_iam_token::{AuthTokenSigner, DSQL_ADMIN_ROLE, DsqlEndpoint, SignerBuilder};

/// The one database of a DSQL cluster, used when the URL or flags name none.
pub(crate) const DATABASE: &str = "postgres";

/// Whether `host` is an Aurora DSQL cluster endpoint name: `ID.dsql.REGION.on.aws` or
/// `ID.dsql-fips.REGION.on.aws`, in any case, with or without a trailing dot (the token
/// crate's [`DsqlEndpoint`] rules).
pub(crate) fn is_dsql_host(host: &str) -> bool {
    DsqlEndpoint::parse(host).is_some()
}

/// The signer for a connection to `host:port` as `user`: DSQL's when `host` is a DSQL
/// endpoint (its tokens carry no port; `DbConnectAdmin` for `admin`), RDS's otherwise.
pub(crate) fn signer_for(host: &str, port: u16, user: &str) -> SignerBuilder {
    if is_dsql_host(host) {
        AuthTokenSigner::dsql_for_role(host, user)
    } else {
        AuthTokenSigner::rds(host, port, user)
    }
}

/// What DSQL checks, for a refused token: the IAM action on the cluster, the role's
/// mapping (for roles other than `admin`), the signed host and region.
pub(crate) fn refusal_hint(endpoint: &DsqlEndpoint, user: &str, region: &str) -> String {
    let host = endpoint.host();
    let arn = format!(
        "arn:aws:dsql:{region}:ACCOUNT:cluster/{cluster}",
        cluster = endpoint.cluster_id()
    );
    let grant = if user == DSQL_ADMIN_ROLE {
        format!("that the IAM policy allows dsql:DbConnectAdmin on {arn}")
    } else {
        format!(
            "that the IAM policy allows dsql:DbConnect on {arn}; that role \"{user}\" is mapped \
             to your IAM identity (as admin: AWS IAM GRANT \"{user}\" TO \
             'arn:aws:iam::ACCOUNT:role/ROLE')"
        )
    };
    format!(
        "Aurora DSQL refused the IAM token for role \"{user}\", signed for {host} in {region}. \
         Check {grant}; and that {host} is the cluster endpoint name (not a custom DNS name or \
         tunnel) and {region} its region."
    )
}

/// The refusal for a MySQL client or URL: DSQL speaks PostgreSQL only.
pub(crate) const NOT_MYSQL: &str = "Aurora DSQL speaks the PostgreSQL protocol only: use rds-iam \
     psql, or a postgres:// URL with rds-iam url / exec";

#[cfg(test)]
mod tests {
    use super::*;

    /// The CLI takes a host for DSQL by the token crate's `DsqlEndpoint` rules (tested
    /// there in full).
    #[test]
    fn dsql_names_are_told_apart() {
        for host in [
            "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws",
            "ABC.DSQL.EU-WEST-1.ON.AWS.",
            "abc.dsql-fips.us-east-1.on.aws",
        ] {
            assert!(is_dsql_host(host), "{host}");
        }
        for host in [
            "mydb.abc123.us-east-1.rds.amazonaws.com",
            "localhost",
            "dsql.us-east-1.on.aws",
            "a.b.dsql.us-east-1.on.aws",
            "abc.dsql.us-east-1.on.aws.example.com",
            "abc.lambda-url.us-east-1.on.aws",
        ] {
            assert!(!is_dsql_host(host), "{host}");
        }
    }

    #[test]
    fn admin_signs_for_db_connect_admin_and_others_for_db_connect() {
        use aws_credential_types::Credentials;
        let host = "abc.dsql.us-east-1.on.aws";
        let credentials = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        let action = |user: &str| {
            let signer = signer_for(host, 5432, user)
                .credentials_provider(credentials.clone())
                .build()
                .unwrap();
            assert_eq!(signer.service(), "dsql");
            let token = signer
                .sign_with(&credentials, std::time::SystemTime::now())
                .unwrap();
            token.expose().split('&').next().unwrap().to_owned()
        };
        assert_eq!(action("admin"), format!("{host}/?Action=DbConnectAdmin"));
        assert_eq!(action("app"), format!("{host}/?Action=DbConnect"));
        assert_eq!(action("Admin"), format!("{host}/?Action=DbConnect"));
        let rds = signer_for("db.x.us-east-1.rds.amazonaws.com", 5432, "admin")
            .credentials_provider(credentials.clone())
            .build()
            .unwrap();
        assert_eq!(rds.service(), "rds-db");
    }

    #[test]
    fn the_hint_names_what_dsql_checks() {
        let endpoint = DsqlEndpoint::parse("ABC.dsql.us-east-1.on.aws").unwrap();
        let admin = refusal_hint(&endpoint, "admin", "us-east-1");
        assert!(
            admin.contains("dsql:DbConnectAdmin on arn:aws:dsql:us-east-1:ACCOUNT:cluster/abc")
        );
        assert!(
            !admin.contains("GRANT") && !admin.contains("rds"),
            "{admin}"
        );
        assert!(
            admin.contains("signed for abc.dsql.us-east-1.on.aws in us-east-1"),
            "{admin}"
        );
        let app = refusal_hint(&endpoint, "app", "us-east-1");
        assert!(app.contains("dsql:DbConnect on") && app.contains("AWS IAM GRANT \"app\""));
        assert!(!app.contains("rds_iam"), "{app}");
    }
}
