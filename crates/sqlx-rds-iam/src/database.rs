//! What differs between PostgreSQL and MySQL: TLS modes, the cleartext plugin, reading the
//! endpoint out of connect options, and setting the password.

use sqlx::{Connection, Database};

/// The connect options type of a database.
pub(crate) type Options<DB> = <<DB as Database>::Connection as Connection>::Options;

/// A database whose sqlx pools can use IAM authentication: [`sqlx::Postgres`] and
/// [`sqlx::MySql`]. Sealed: the behaviour per engine lives in this crate.
///
/// # Example
///
/// ```
/// fn takes_iam_database<DB: sqlx_rds_iam::IamDatabase>() {}
/// takes_iam_database::<sqlx::Postgres>();
/// takes_iam_database::<sqlx::MySql>();
/// ```
pub trait IamDatabase: Database + sealed::Engine {}

pub(crate) mod sealed {
    // The sealed-trait pattern: public so it can bound a public trait, in a private
    // module so no one else can implement it.
    #![allow(unreachable_pub)]

    use super::Options;

    /// Per-engine operations on connect options.
    pub trait Engine: sqlx::Database {
        /// MySQL or MariaDB (rather than PostgreSQL), for hints in error messages.
        const IS_MYSQL: bool;

        /// `(host, port, user)` the options connect to, or why IAM cannot use them.
        fn endpoint(options: &Options<Self>) -> Result<(String, u16, String), String>;

        /// Verified TLS against `roots_pem` (verify-full / VERIFY_IDENTITY), or, when
        /// `insecure`, the options' own TLS mode; plus whatever else IAM needs.
        ///
        /// The default mode (prefer) is raised to full verification; a weaker mode the
        /// user chose on purpose (disable, require, verify-ca...) is an error unless
        /// `insecure`, rather than silently changed.
        fn secure(
            options: Options<Self>,
            roots_pem: Vec<u8>,
            insecure: bool,
        ) -> Result<Options<Self>, String>;

        /// The same options with `password`.
        fn with_password(options: &Options<Self>, password: &str) -> Options<Self>;
    }
}

/// `(host, port, user)` of a TCP endpoint; a Unix socket cannot carry an IAM login.
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
fn tcp_endpoint(
    socket: Option<&std::path::PathBuf>,
    host: &str,
    port: u16,
    user: &str,
) -> Result<(String, u16, String), String> {
    if let Some(socket) = socket {
        return Err(format!(
            "the connect options use the Unix socket {socket:?}; IAM tokens go over TCP with \
             TLS only, so give the endpoint host name instead"
        ));
    }
    Ok((host.to_owned(), port, user.to_owned()))
}

#[cfg(feature = "postgres")]
mod postgres {
    use sqlx::Postgres;
    use sqlx::postgres::{PgConnectOptions, PgSslMode};

    use super::{IamDatabase, sealed::Engine, tcp_endpoint};

    impl IamDatabase for Postgres {}

    impl Engine for Postgres {
        const IS_MYSQL: bool = false;

        fn endpoint(options: &PgConnectOptions) -> Result<(String, u16, String), String> {
            tcp_endpoint(
                options.get_socket(),
                options.get_host(),
                options.get_port(),
                options.get_username(),
            )
        }

        fn secure(
            options: PgConnectOptions,
            roots_pem: Vec<u8>,
            insecure: bool,
        ) -> Result<PgConnectOptions, String> {
            match options.get_ssl_mode() {
                _ if insecure => Ok(options),
                PgSslMode::Prefer | PgSslMode::VerifyFull => Ok(options
                    .ssl_mode(PgSslMode::VerifyFull)
                    .ssl_root_cert_from_pem(roots_pem)),
                weaker => Err(format!(
                    "sslmode={} would send the IAM token without verifying the server; remove \
                     the sslmode setting (verify-full is used) or, for local tests only, call \
                     `IamAuth::danger_accept_insecure_transport`",
                    pg_mode_name(weaker)
                )),
            }
        }

        fn with_password(options: &PgConnectOptions, password: &str) -> PgConnectOptions {
            options.clone().password(password)
        }
    }

    fn pg_mode_name(mode: PgSslMode) -> &'static str {
        match mode {
            PgSslMode::Disable => "disable",
            PgSslMode::Allow => "allow",
            PgSslMode::Prefer => "prefer",
            PgSslMode::Require => "require",
            PgSslMode::VerifyCa => "verify-ca",
            PgSslMode::VerifyFull => "verify-full",
        }
    }
}

#[cfg(feature = "mysql")]
mod mysql {
    use sqlx::MySql;
    use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};

    use super::{IamDatabase, sealed::Engine, tcp_endpoint};

    impl IamDatabase for MySql {}

    impl Engine for MySql {
        const IS_MYSQL: bool = true;

        fn endpoint(options: &MySqlConnectOptions) -> Result<(String, u16, String), String> {
            tcp_endpoint(
                options.get_socket(),
                options.get_host(),
                options.get_port(),
                options.get_username(),
            )
        }

        fn secure(
            options: MySqlConnectOptions,
            roots_pem: Vec<u8>,
            insecure: bool,
        ) -> Result<MySqlConnectOptions, String> {
            // The server asks for the token in clear text (mysql_clear_password), so the
            // plugin must be allowed; VERIFY_IDENTITY makes sqlx refuse a server without
            // TLS before it gets that far.
            let options = options.enable_cleartext_plugin(true);
            match options.get_ssl_mode() {
                _ if insecure => Ok(options),
                MySqlSslMode::Preferred | MySqlSslMode::VerifyIdentity => Ok(options
                    .ssl_mode(MySqlSslMode::VerifyIdentity)
                    .ssl_ca_from_pem(roots_pem)),
                weaker => Err(format!(
                    "ssl-mode={} would send the IAM token without verifying the server; remove \
                     the ssl-mode setting (VERIFY_IDENTITY is used) or, for local tests only, \
                     call `IamAuth::danger_accept_insecure_transport`",
                    mysql_mode_name(weaker)
                )),
            }
        }

        fn with_password(options: &MySqlConnectOptions, password: &str) -> MySqlConnectOptions {
            options.clone().password(password)
        }
    }

    fn mysql_mode_name(mode: MySqlSslMode) -> &'static str {
        match mode {
            MySqlSslMode::Disabled => "DISABLED",
            MySqlSslMode::Preferred => "PREFERRED",
            MySqlSslMode::Required => "REQUIRED",
            MySqlSslMode::VerifyCa => "VERIFY_CA",
            MySqlSslMode::VerifyIdentity => "VERIFY_IDENTITY",
        }
    }
}

#[cfg(all(test, feature = "postgres", feature = "mysql"))]
mod tests {
    use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};
    use sqlx::postgres::{PgConnectOptions, PgSslMode};

    use super::sealed::Engine;
    use super::tcp_endpoint;

    /// Found by the fuzz harness (fuzz/corpus/adapter_url/regression-sslmode-*): the
    /// messages carried two runs of 21 spaces, from string literals continued without `\`.
    #[test]
    fn weaker_tls_modes_are_refused_in_one_clean_sentence() {
        let pg = PgConnectOptions::new().ssl_mode(PgSslMode::Require);
        let pg = sqlx::Postgres::secure(pg, Vec::new(), false).unwrap_err();
        let my = MySqlConnectOptions::new().ssl_mode(MySqlSslMode::Required);
        let my = sqlx::MySql::secure(my, Vec::new(), false).unwrap_err();
        for (message, mode) in [(pg, "sslmode=require"), (my, "ssl-mode=REQUIRED")] {
            assert!(message.starts_with(mode), "{message}");
            assert!(
                message.contains("danger_accept_insecure_transport"),
                "{message}"
            );
            assert!(!message.contains("  "), "{message}");
        }
    }

    /// Found by the fuzz harness (fuzz/corpus/adapter_url/regression-socket-path-*): the
    /// socket path, the user's text, was shown raw, so a line break in it could forge a
    /// log line.
    #[test]
    fn a_socket_path_is_shown_quoted() {
        let path = std::path::PathBuf::from("/tmp/a\nFATAL forged  line");
        let message = tcp_endpoint(Some(&path), "", 5432, "app").unwrap_err();
        assert!(
            message.contains(r#""/tmp/a\nFATAL forged  line""#),
            "{message}"
        );
        assert!(!message.contains('\n'), "{message}");
    }
}
