//! Errors a user can act on: each says what to check.

use std::error::Error as StdError;
use std::fmt;
use std::path::Path;

/// Why an IAM-authenticated pool could not be set up or could not connect.
///
/// The message says what to check; [`std::error::Error::source`] carries the underlying
/// sqlx or token error. No message contains a token or a secret.
///
/// # Example
///
/// ```no_run
/// # async fn demo(options: sqlx::postgres::PgConnectOptions, auth: sqlx_rds_iam::IamAuth) {
/// use sqlx::postgres::PgPoolOptions;
/// use sqlx_rds_iam::{ErrorKind, IamAuthExt};
///
/// match PgPoolOptions::new().iam_auth(auth).connect_with(options).await {
///     Ok(pool) => { let _ = pool; }
///     Err(err) if err.kind() == ErrorKind::TokenRefused => eprintln!("{err}"),
///     Err(err) => eprintln!("cannot connect: {err}"),
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

/// What went wrong, for programs that react to it.
///
/// # Example
///
/// ```
/// # fn demo(err: sqlx_rds_iam::Error) {
/// use sqlx_rds_iam::ErrorKind;
/// let retry = matches!(err.kind(), ErrorKind::Connect);
/// # let _ = retry; }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The settings are wrong: bad host, port, user, region, max token age or CA file.
    Config,
    /// Credentials could not be had to sign a token.
    Credentials,
    /// The connect options would send the token without verified TLS (a Unix socket, or
    /// TLS verification turned off) and insecure transport was not opted into.
    InsecureTransport,
    /// The TLS handshake failed: the server's certificate is not from a trusted CA or does
    /// not match the host name.
    Tls,
    /// The server refused the token.
    TokenRefused,
    /// Any other failure to connect (network, server down, timeouts).
    Connect,
}

impl Error {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    fn with_source(mut self, source: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        self.source = Some(source.into());
        self
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    pub(crate) fn ca_file(path: &Path, problem: &str) -> Self {
        Self::config(format!(
            "invalid CA file {}: {problem}; give a PEM file of CA certificates",
            path.display()
        ))
    }

    pub(crate) fn credentials_timeout(waited: std::time::Duration) -> Self {
        Self::new(
            ErrorKind::Credentials,
            format!(
                "no AWS credentials after {}s: the credentials provider did not answer; check \
                 the credential source (container or instance metadata endpoint, STS, SSO)",
                waited.as_secs()
            ),
        )
    }

    /// No usable token could be had: credentials missing or expired.
    pub(crate) fn credentials(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Credentials, message)
    }

    pub(crate) fn insecure(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InsecureTransport, message)
    }

    /// From the token crate: a configuration mistake, or credentials that could not be had.
    ///
    /// The token crate's message is already the right one, so it becomes this error's
    /// message and its cause (the credentials provider's error, if any) this error's
    /// source: a chain reporter then prints each text once.
    pub(crate) fn signer(err: rds_iam_token::Error) -> Self {
        let kind = match err.kind() {
            rds_iam_token::ErrorKind::CredentialsUnavailable
            | rds_iam_token::ErrorKind::NoCredentialsProvider => ErrorKind::Credentials,
            _ => ErrorKind::Config,
        };
        let message = err.to_string();
        Self {
            kind,
            message,
            source: Some(Box::new(SignerCause(err))),
        }
    }

    /// From sqlx, when connecting with a token for `user` signed for `signed_host` in
    /// `region`, to `host`.
    pub(crate) fn connect(err: sqlx::Error, context: &ConnectContext<'_>) -> Self {
        let (kind, message) = match &err {
            sqlx::Error::Tls(tls) => (ErrorKind::Tls, tls_hint(&tls.to_string(), context)),
            // rustls reports certificate failures through the socket, as I/O errors.
            sqlx::Error::Io(io) if io.to_string().contains("peer certificate") => {
                (ErrorKind::Tls, tls_hint(&io.to_string(), context))
            }
            sqlx::Error::Database(db)
                if matches!(db.code().as_deref(), Some("28000" | "28P01"))
                    // DSQL's own refusals say "access denied".
                    || (matches!(context.engine, Engine::Dsql)
                        && db.message().to_ascii_lowercase().contains("access denied")) =>
            {
                (ErrorKind::TokenRefused, refused_hint(context))
            }
            other => (
                ErrorKind::Connect,
                format!("could not connect to {}: {other}", context.host),
            ),
        };
        Self::new(kind, message).with_source(err)
    }

    /// What went wrong.
    ///
    /// # Example
    ///
    /// ```
    /// # fn demo(err: sqlx_rds_iam::Error) {
    /// if err.kind() == sqlx_rds_iam::ErrorKind::Tls {
    ///     eprintln!("check the CA: {err}");
    /// }
    /// # }
    /// ```
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

/// What a connection attempt was for, to explain its failure.
#[derive(Debug)]
pub(crate) struct ConnectContext<'a> {
    pub(crate) host: &'a str,
    pub(crate) user: &'a str,
    pub(crate) signed_host: &'a str,
    pub(crate) region: &'a str,
    pub(crate) engine: Engine,
}

/// Which server family, for engine-specific hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Engine {
    Postgres,
    MySql,
    /// Aurora DSQL (PostgreSQL protocol, its own IAM actions and certificates).
    Dsql,
}

fn tls_hint(detail: &str, context: &ConnectContext<'_>) -> String {
    let dsql = context.engine == Engine::Dsql;
    let hint = if detail.contains("UnknownIssuer") || detail.contains("unknown issuer") {
        if dsql {
            "the server's certificate is not signed by a trusted CA; Aurora DSQL's \
             certificates chain to the public Amazon roots, which are trusted, so for a \
             proxy or a test server add its CA with `IamAuth::add_root_certificates_pem` or \
             `add_root_certificates_file`"
        } else {
            "the server's certificate is not signed by a trusted CA; RDS's CAs are built in, \
             so for a proxy, LocalStack or a test server add its CA with \
             `IamAuth::add_root_certificates_pem` or `add_root_certificates_file`"
        }
    } else if detail.contains("NotValidForName") || detail.contains("not valid for name") {
        if dsql {
            "the server's certificate does not match the host name; connect with the name the \
             certificate is for (the cluster endpoint ID.dsql.REGION.on.aws, not an IP \
             address or a custom DNS name)"
        } else {
            "the server's certificate does not match the host name; connect with the endpoint \
             name the certificate is for (the RDS endpoint, not an IP address or a custom DNS \
             name)"
        }
    } else {
        "check that the server speaks TLS and its certificate is valid"
    };
    // A tunnel on another name (a user CA that does not vouch for it was given): the
    // recipe that works, as the refusal before signing gives it.
    let tunnel = if (detail.contains("NotValidForName") || detail.contains("not valid for name"))
        && !context.signed_host.eq_ignore_ascii_case(context.host)
    {
        format!(
            "; for a tunnel, connect to {signed} itself and make that name resolve to the \
             tunnel (a hosts-file line, SSM port forwarding), with `IamAuth::signing_port` \
             when the local port differs",
            signed = context.signed_host
        )
    } else {
        String::new()
    };
    format!(
        "TLS handshake with {host} failed ({detail}): {hint}{tunnel}",
        host = context.host
    )
}

fn refused_hint(context: &ConnectContext<'_>) -> String {
    let grant = match context.engine {
        Engine::Dsql => return dsql_refused_hint(context),
        Engine::Postgres => format!("the database user has `GRANT rds_iam TO {}`", context.user),
        Engine::MySql => format!(
            "the database user was created `IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'` \
             ({})",
            context.user
        ),
    };
    format!(
        "{host} refused the IAM token for user {user:?}; check that {grant}, that the IAM \
         policy allows `rds-db:connect` on \
         arn:aws:rds-db:{region}:ACCOUNT:dbuser:RESOURCE_ID/{user}, and that the token is \
         signed for the endpoint name ({signed}) in the right region ({region})",
        host = context.host,
        user = context.user,
        signed = context.signed_host,
        region = context.region,
    )
}

/// What Aurora DSQL checks: the IAM action for the role on the cluster ARN, the role's
/// `AWS IAM GRANT` mapping (other roles than `admin`), the signed host and region.
fn dsql_refused_hint(context: &ConnectContext<'_>) -> String {
    let admin = context.user == rds_iam_token::DSQL_ADMIN_ROLE;
    let action = if admin {
        "dsql:DbConnectAdmin"
    } else {
        "dsql:DbConnect"
    };
    let cluster = rds_iam_token::DsqlEndpoint::parse(context.signed_host)
        .map_or_else(|| "CLUSTER_ID".to_owned(), |e| e.cluster_id().to_owned());
    let mapping = if admin {
        String::new()
    } else {
        format!(
            ", that the role is mapped to the IAM identity that signs (connected as admin: \
             `AWS IAM GRANT {role} TO 'arn:aws:iam::ACCOUNT:role/NAME'`)",
            role = sql_identifier(context.user)
        )
    };
    format!(
        "{host} refused the IAM token for role {user:?}; Aurora DSQL checks that the IAM \
         policy allows `{action}` on arn:aws:dsql:{region}:ACCOUNT:cluster/{cluster}\
         {mapping}, and that the token is signed for the cluster endpoint ({signed}) in its \
         region ({region})",
        host = context.host,
        user = context.user,
        signed = context.signed_host,
        region = context.region,
    )
}

/// `name` as an SQL identifier: as it is when plain, else double-quoted (escaped, so a line
/// break in it cannot start a new log line).
fn sql_identifier(name: &str) -> String {
    let plain = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if plain {
        name.to_owned()
    } else {
        format!("{name:?}")
    }
}

/// The token crate's error seen through to its own cause: its message is already ours.
#[derive(Debug)]
struct SignerCause(rds_iam_token::Error);

impl fmt::Display for SignerCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match StdError::source(&self.0) {
            Some(cause) => fmt::Display::fmt(cause, f),
            None => f.write_str("invalid IAM auth settings"),
        }
    }
}

impl StdError for SignerCause {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        StdError::source(&self.0).and_then(StdError::source)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context<'a>(engine: Engine, user: &'a str, signed_host: &'a str) -> ConnectContext<'a> {
        ConnectContext {
            host: signed_host,
            user,
            signed_host,
            region: "us-east-1",
            engine,
        }
    }

    const RDS_ONLY: [&str; 4] = ["rds_iam", "rds-db", "dbuser", "AWSAuthenticationPlugin"];
    const DSQL_ONLY: [&str; 4] = ["dsql", "DSQL", "DbConnect", "AWS IAM GRANT"];

    #[test]
    fn dsql_refusals_name_what_dsql_checks_for_admin() {
        let host = "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws";
        let message = refused_hint(&context(Engine::Dsql, "admin", host));
        for expected in [
            "role \"admin\"",
            "`dsql:DbConnectAdmin`",
            "arn:aws:dsql:us-east-1:ACCOUNT:cluster/abcdefghijklmnopqrstuvwxyz",
            "signed for the cluster endpoint (abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws)",
            "region (us-east-1)",
        ] {
            assert!(message.contains(expected), "{expected:?} not in {message}");
        }
        // The admin role needs no mapping; no RDS advice.
        assert!(!message.contains("AWS IAM GRANT"), "{message}");
        assert!(!message.contains("DbConnect`"), "{message}");
        for rds in RDS_ONLY {
            assert!(!message.contains(rds), "{rds:?} in {message}");
        }
        assert!(!message.contains("  "), "a run of spaces: {message:?}");
    }

    #[test]
    fn dsql_refusals_name_the_mapping_for_other_roles() {
        let message = refused_hint(&context(Engine::Dsql, "app_reader", "dsql.test"));
        for expected in [
            "role \"app_reader\"",
            "`dsql:DbConnect`",
            // Not a DSQL endpoint name (a proxy, the test bed): the id is a placeholder.
            "arn:aws:dsql:us-east-1:ACCOUNT:cluster/CLUSTER_ID",
            "`AWS IAM GRANT app_reader TO 'arn:aws:iam::ACCOUNT:role/NAME'`",
            "(dsql.test)",
        ] {
            assert!(message.contains(expected), "{expected:?} not in {message}");
        }
        assert!(!message.contains("DbConnectAdmin"), "{message}");
        for rds in RDS_ONLY {
            assert!(!message.contains(rds), "{rds:?} in {message}");
        }
        assert!(!message.contains("  "), "a run of spaces: {message:?}");
        // A role name that is not a plain identifier is quoted, its line breaks escaped.
        let odd = refused_hint(&context(Engine::Dsql, "App\nFATAL", "dsql.test"));
        assert!(
            odd.contains(r#"AWS IAM GRANT "App\nFATAL" TO"#) && !odd.contains('\n'),
            "{odd}"
        );
    }

    #[test]
    fn rds_refusals_give_no_dsql_advice() {
        let host = "mydb.abc123.us-east-1.rds.amazonaws.com";
        let pg = refused_hint(&context(Engine::Postgres, "app", host));
        assert!(
            pg.contains("GRANT rds_iam TO app") && pg.contains("rds-db:connect"),
            "{pg}"
        );
        let my = refused_hint(&context(Engine::MySql, "app", host));
        assert!(
            my.contains("AWSAuthenticationPlugin") && my.contains("rds-db:connect"),
            "{my}"
        );
        for message in [pg, my] {
            for dsql in DSQL_ONLY {
                assert!(!message.contains(dsql), "{dsql:?} in {message}");
            }
        }
    }

    #[test]
    fn tls_hints_name_the_right_certificate_authorities() {
        let host = "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws";
        let dsql = tls_hint(
            "invalid peer certificate: UnknownIssuer",
            &context(Engine::Dsql, "admin", host),
        );
        assert!(
            dsql.contains("Amazon roots") && dsql.contains("add_root_certificates_file"),
            "{dsql}"
        );
        assert!(!dsql.contains("RDS"), "{dsql}");
        let name = tls_hint(
            "invalid peer certificate: NotValidForName",
            &context(Engine::Dsql, "admin", host),
        );
        assert!(name.contains("ID.dsql.REGION.on.aws"), "{name}");
        let rds = tls_hint(
            "invalid peer certificate: UnknownIssuer",
            &context(
                Engine::Postgres,
                "app",
                "mydb.abc123.us-east-1.rds.amazonaws.com",
            ),
        );
        assert!(rds.contains("RDS's CAs") && !rds.contains("DSQL"), "{rds}");
        assert!(
            !name.contains("for a tunnel"),
            "same host: no tunnel recipe: {name}"
        );
        // A tunnel on localhost with `sslrootcert` naming the RDS bundle (so the refusal
        // before signing did not apply): the name mismatch gets the recipe.
        let endpoint = "mydb.abc123.us-east-1.rds.amazonaws.com";
        let tunnel = tls_hint(
            "invalid peer certificate: NotValidForName",
            &ConnectContext {
                host: "localhost",
                ..context(Engine::Postgres, "app", endpoint)
            },
        );
        assert!(
            tunnel.contains(&format!("connect to {endpoint} itself"))
                && tunnel.contains("signing_port"),
            "{tunnel}"
        );
        for text in [dsql, name, rds, tunnel] {
            assert!(!text.contains("  "), "a run of spaces: {text:?}");
        }
    }
}
