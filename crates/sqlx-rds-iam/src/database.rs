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

        /// Whether the options name a CA of the user's own (`sslrootcert` / `ssl-ca`: the
        /// URL, the connect options or `PGSSLROOTCERT`).
        fn names_user_roots(options: &Options<Self>) -> bool;

        /// The same options with `password`.
        fn with_password(options: &Options<Self>, password: &str) -> Options<Self>;

        /// The same options connecting to `host` (a bare DSQL cluster id made whole).
        fn with_host(options: Options<Self>, host: &str) -> Options<Self>;
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
    // libpq and sqlx read a host that starts with '/' as a Unix-socket directory (sqlx's
    // default host when a local server's socket exists, or PGHOST=/var/run/postgresql).
    let socket = socket
        .map(|path| path.display().to_string())
        .or_else(|| host.starts_with('/').then(|| host.to_owned()));
    if let Some(socket) = socket {
        return Err(format!(
            "the connect options use the Unix socket {socket:?}; IAM tokens go over TCP with \
             TLS only, so give the endpoint host name instead (PostgreSQL: PGHOST, which \
             sqlx reads, may name a socket directory)"
        ));
    }
    Ok((host.to_owned(), port, user.to_owned()))
}

/// `roots_pem` plus the root certificates the user's own options name (`sslrootcert` /
/// `ssl-ca`: from the URL, the connect options or `PGSSLROOTCERT`), so that setting the
/// RDS roots never silently drops the user's CA.
///
/// sqlx has no getter for them; `to_url_lossy` writes them as `file: PATH` or as the
/// inline PEM text. It panics on a user or host name that does not fit in a URL
/// unencoded (it formats them into one and parses it), so it is called on `url_safe`: the
/// same options with a plain user and host.
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
fn with_user_roots<O: sqlx::ConnectOptions>(
    mut roots_pem: Vec<u8>,
    url_safe: &O,
    key: &str,
) -> Result<Vec<u8>, String> {
    let Some(value) = user_roots_setting(url_safe, key) else {
        return Ok(roots_pem);
    };
    let user_pem = match value.strip_prefix("file: ") {
        Some(path) => std::fs::read(path).map_err(|err| {
            // sqlx reads PGSSLROOTCERT for PostgreSQL; MySQL has no such variable.
            let origin = if key == "sslrootcert" {
                "the URL, the connect options or PGSSLROOTCERT"
            } else {
                "the URL or the connect options"
            };
            format!(
                "cannot read the {key} file {path:?} (from {origin}): {err}; fix the path, or \
                 remove it and add the CA with `IamAuth::add_root_certificates_file`"
            )
        })?,
        None => value.into_bytes(),
    };
    if !roots_pem.is_empty() && !roots_pem.ends_with(b"\n") {
        roots_pem.push(b'\n');
    }
    roots_pem.extend_from_slice(&user_pem);
    Ok(roots_pem)
}

/// The `key` (`sslrootcert` / `ssl-ca`) setting of `url_safe`, as `to_url_lossy` writes it
/// (`file: PATH` or the PEM text), if the user's options name one (see [`with_user_roots`]).
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
fn user_roots_setting<O: sqlx::ConnectOptions>(url_safe: &O, key: &str) -> Option<String> {
    url_safe
        .to_url_lossy()
        .query_pairs()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.into_owned())
}

#[cfg(feature = "postgres")]
mod postgres {
    use sqlx::Postgres;
    use sqlx::postgres::{PgConnectOptions, PgSslMode};

    use super::{IamDatabase, sealed::Engine, tcp_endpoint, user_roots_setting, with_user_roots};

    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
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
                PgSslMode::Prefer | PgSslMode::VerifyFull => {
                    let url_safe = options.clone().host("localhost").username("user");
                    let roots = with_user_roots(roots_pem, &url_safe, "sslrootcert")?;
                    let options = options.ssl_mode(PgSslMode::VerifyFull);
                    // No roots to add (DSQL, nothing of the user's): sqlx's webpki roots.
                    Ok(if roots.is_empty() {
                        options
                    } else {
                        options.ssl_root_cert_from_pem(roots)
                    })
                }
                weaker => {
                    let name = pg_mode_name(weaker);
                    let env = std::env::var("PGSSLMODE").ok();
                    Err(weak_pg_mode_message(name, env.as_deref()))
                }
            }
        }

        fn names_user_roots(options: &PgConnectOptions) -> bool {
            let url_safe = options.clone().host("localhost").username("user");
            user_roots_setting(&url_safe, "sslrootcert").is_some()
        }

        fn with_password(options: &PgConnectOptions, password: &str) -> PgConnectOptions {
            options.clone().password(password)
        }

        fn with_host(options: PgConnectOptions, host: &str) -> PgConnectOptions {
            options.host(host)
        }
    }

    /// Why `sslmode=name` is refused, and where it came from: sqlx reads `PGSSLMODE` when
    /// neither the URL nor the options set a mode.
    pub(super) fn weak_pg_mode_message(name: &str, env: Option<&str>) -> String {
        let origin = match env {
            Some(env) if env.eq_ignore_ascii_case(name) => format!(
                "PGSSLMODE={env} in the environment (sqlx reads it when the URL and the \
                 connect options set no sslmode): unset it, or"
            ),
            _ => "the URL or the connect options: remove the sslmode setting (verify-full \
                  is used), or"
                .to_owned(),
        };
        format!(
            "sslmode={name} would send the IAM token without verifying the server; it comes \
             from {origin} for local tests only call `IamAuth::danger_accept_insecure_transport`"
        )
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

    use super::{IamDatabase, sealed::Engine, tcp_endpoint, user_roots_setting, with_user_roots};

    #[cfg_attr(docsrs, doc(cfg(feature = "mysql")))]
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
                MySqlSslMode::Preferred | MySqlSslMode::VerifyIdentity => {
                    let url_safe = options.clone().host("localhost").username("user");
                    let roots = with_user_roots(roots_pem, &url_safe, "ssl-ca")?;
                    Ok(options
                        .ssl_mode(MySqlSslMode::VerifyIdentity)
                        .ssl_ca_from_pem(roots))
                }
                weaker => Err(format!(
                    "ssl-mode={} would send the IAM token without verifying the server; it \
                     comes from the URL or the connect options: remove the ssl-mode setting \
                     (VERIFY_IDENTITY is used), or for local tests only call \
                     `IamAuth::danger_accept_insecure_transport`",
                    mysql_mode_name(weaker)
                )),
            }
        }

        fn names_user_roots(options: &MySqlConnectOptions) -> bool {
            let url_safe = options.clone().host("localhost").username("user");
            user_roots_setting(&url_safe, "ssl-ca").is_some()
        }

        fn with_password(options: &MySqlConnectOptions, password: &str) -> MySqlConnectOptions {
            options.clone().password(password)
        }

        fn with_host(options: MySqlConnectOptions, host: &str) -> MySqlConnectOptions {
            options.host(host)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_directory_as_host_gets_the_unix_socket_message() {
        for host in ["/var/run/postgresql", "/tmp"] {
            let err = tcp_endpoint(None, host, 5432, "app").unwrap_err();
            assert!(err.contains("Unix socket") && err.contains(host), "{err}");
        }
        assert!(tcp_endpoint(None, "localhost", 5432, "app").is_ok());
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn weak_sslmode_messages_say_where_the_mode_came_from() {
        let from_env = postgres::weak_pg_mode_message("disable", Some("disable"));
        assert!(
            from_env.contains("PGSSLMODE=disable in the environment"),
            "{from_env}"
        );
        for other_env in [None, Some("verify-full")] {
            let from_url = postgres::weak_pg_mode_message("require", other_env);
            assert!(
                from_url.contains("the URL or the connect options"),
                "{from_url}"
            );
        }
        for text in [from_env, postgres::weak_pg_mode_message("allow", None)] {
            assert!(!text.contains("  "), "a run of spaces: {text:?}");
            assert!(text.contains("danger_accept_insecure_transport"), "{text}");
        }
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn the_users_own_root_certificates_are_kept_after_the_rds_roots() {
        use sqlx::postgres::PgConnectOptions;
        let dir = std::env::temp_dir().join(format!("sqlx-rds-iam-roots-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("own-ca.pem");
        std::fs::write(
            &file,
            "-----BEGIN CERTIFICATE-----\nown\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let rds = b"-----BEGIN CERTIFICATE-----\nrds\n-----END CERTIFICATE-----".to_vec();

        let options = PgConnectOptions::new().host("h").ssl_root_cert(&file);
        let roots =
            String::from_utf8(with_user_roots(rds.clone(), &options, "sslrootcert").unwrap())
                .unwrap();
        assert!(
            roots.starts_with("-----BEGIN CERTIFICATE-----\nrds\n"),
            "{roots}"
        );
        assert!(
            roots.ends_with("own\n-----END CERTIFICATE-----\n"),
            "{roots}"
        );

        let inline = PgConnectOptions::new().host("h").ssl_root_cert_from_pem(
            b"-----BEGIN CERTIFICATE-----\ninline\n-----END CERTIFICATE-----\n".to_vec(),
        );
        let roots =
            String::from_utf8(with_user_roots(rds.clone(), &inline, "sslrootcert").unwrap())
                .unwrap();
        assert!(roots.contains("inline"), "{roots}");

        let missing = PgConnectOptions::new()
            .host("h")
            .ssl_root_cert(dir.join("nope.pem"));
        let err = with_user_roots(rds, &missing, "sslrootcert").unwrap_err();
        assert!(
            err.contains("nope.pem") && err.contains("sslrootcert"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[cfg(all(test, feature = "postgres", feature = "mysql"))]
mod fuzz_regressions {
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
