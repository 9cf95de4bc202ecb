//! `PoolOptions::iam_auth`: the one call that turns IAM authentication on.

use std::fmt;
use std::sync::Arc;

use sqlx::pool::{Pool, PoolOptions};

use crate::config::IamAuth;
use crate::database::{IamDatabase, Options};
use crate::dsql;
use crate::error::{ConnectContext, Engine, Error};
use crate::handle::IamPoolHandle;
use crate::refresh;

/// Adds [`iam_auth`](IamAuthExt::iam_auth) to sqlx's `PgPoolOptions` and
/// `MySqlPoolOptions`.
///
/// # Example
///
/// ```no_run
/// # async fn demo(auth: sqlx_rds_iam::IamAuth) -> Result<(), sqlx_rds_iam::Error> {
/// use sqlx::mysql::MySqlPoolOptions;
/// use sqlx_rds_iam::IamAuthExt;
///
/// let pool = MySqlPoolOptions::new()
///     .max_connections(5)
///     .iam_auth(auth)
///     .connect("mysql://app_user@mydb.abc123.us-east-1.rds.amazonaws.com:3306/app")
///     .await?;
/// # let _ = pool; Ok(()) }
/// ```
pub trait IamAuthExt<DB: IamDatabase> {
    /// Every new physical connection of the pool authenticates with a fresh IAM token over
    /// verified TLS. All other pool settings and callbacks stay as they are.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn demo(auth: sqlx_rds_iam::IamAuth) -> Result<(), sqlx_rds_iam::Error> {
    /// use sqlx::postgres::PgPoolOptions;
    /// use sqlx_rds_iam::IamAuthExt;
    ///
    /// let pool = PgPoolOptions::new()
    ///     .iam_auth(auth)
    ///     .connect("postgres://app_user@mydb.abc123.us-east-1.rds.amazonaws.com/app")
    ///     .await?;
    /// # let _ = pool; Ok(()) }
    /// ```
    fn iam_auth(self, auth: IamAuth) -> IamPoolOptions<DB>;
}

impl<DB: IamDatabase> IamAuthExt<DB> for PoolOptions<DB> {
    fn iam_auth(self, auth: IamAuth) -> IamPoolOptions<DB> {
        IamPoolOptions {
            pool_options: self,
            auth,
            handle: IamPoolHandle::new(),
        }
    }
}

/// Pool options with IAM authentication; connect as with sqlx's own `PoolOptions`.
///
/// # Example
///
/// ```no_run
/// # async fn demo(auth: sqlx_rds_iam::IamAuth) -> Result<(), sqlx_rds_iam::Error> {
/// use sqlx::postgres::PgPoolOptions;
/// use sqlx_rds_iam::IamAuthExt;
///
/// // Signs the first token now; opens connections only when the pool is used.
/// let pool = PgPoolOptions::new()
///     .iam_auth(auth)
///     .connect_lazy("postgres://app_user@mydb.abc123.us-east-1.rds.amazonaws.com/app")
///     .await?;
/// # let _ = pool; Ok(()) }
/// ```
#[must_use = "nothing connects until `connect`, `connect_with` or `connect_lazy` is called"]
pub struct IamPoolOptions<DB: IamDatabase> {
    pool_options: PoolOptions<DB>,
    auth: IamAuth,
    handle: IamPoolHandle,
}

impl<DB: IamDatabase> IamPoolOptions<DB> {
    /// A handle on the token of the pool these options will create: make sure it is fresh
    /// at the start of a unit of work (a Lambda invocation), and read the pool's IAM state.
    /// Take it before `connect*`, which consume the options; it works once the pool is
    /// created. See [`IamPoolHandle`].
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn demo(auth: sqlx_rds_iam::IamAuth) -> Result<(), sqlx_rds_iam::Error> {
    /// use sqlx::postgres::PgPoolOptions;
    /// use sqlx_rds_iam::IamAuthExt;
    ///
    /// let options = PgPoolOptions::new().iam_auth(auth);
    /// let iam = options.handle();
    /// let pool = options
    ///     .connect_lazy("postgres://app_user@mydb.abc123.us-east-1.rds.amazonaws.com/app")
    ///     .await?;
    /// iam.ensure_fresh_token().await?;
    /// # let _ = pool; Ok(()) }
    /// ```
    pub fn handle(&self) -> IamPoolHandle {
        self.handle.clone()
    }

    /// Parses `url`, signs a token and opens the pool's first connection.
    ///
    /// # Errors
    ///
    /// A bad URL or setting, no credentials, a TLS failure, or the server refusing the
    /// token; each message says what to check.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn demo(auth: sqlx_rds_iam::IamAuth) -> Result<(), sqlx_rds_iam::Error> {
    /// # use sqlx::postgres::PgPoolOptions; use sqlx_rds_iam::IamAuthExt;
    /// let pool = PgPoolOptions::new()
    ///     .iam_auth(auth)
    ///     .connect("postgres://app_user@mydb.abc123.us-east-1.rds.amazonaws.com/app")
    ///     .await?;
    /// # let _ = pool; Ok(()) }
    /// ```
    pub async fn connect(self, url: &str) -> Result<Pool<DB>, Error> {
        let options = parse_url::<DB>(url)?;
        self.connect_with(options).await
    }

    /// Signs a token and opens the pool's first connection with these options.
    ///
    /// # Errors
    ///
    /// As [`IamPoolOptions::connect`].
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn demo(auth: sqlx_rds_iam::IamAuth) -> Result<(), sqlx_rds_iam::Error> {
    /// use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
    /// use sqlx_rds_iam::IamAuthExt;
    ///
    /// let options = PgConnectOptions::new()
    ///     .host("mydb.abc123.us-east-1.rds.amazonaws.com")
    ///     .username("app_user")
    ///     .database("app");
    /// let pool = PgPoolOptions::new().iam_auth(auth).connect_with(options).await?;
    /// # let _ = pool; Ok(()) }
    /// ```
    pub async fn connect_with(self, options: Options<DB>) -> Result<Pool<DB>, Error> {
        let prepared = Prepared::<DB>::new(&self.auth, options).await?;
        let pool = prepared
            .pool_options(self.pool_options)
            .connect_with(prepared.options)
            .await
            .map_err(|err| {
                Error::connect(
                    err,
                    &ConnectContext {
                        host: &prepared.host,
                        user: &prepared.user,
                        signed_host: prepared.signer.hostname(),
                        region: prepared.signer.region(),
                        engine: prepared.engine,
                    },
                )
            })?;
        keep_fresh(
            &pool,
            prepared.signer,
            prepared.token,
            &self.auth,
            &self.handle,
        );
        Ok(pool)
    }

    /// Parses `url` and signs a token, but opens no connection until the pool is used.
    ///
    /// # Errors
    ///
    /// A bad URL or setting, or no credentials.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn demo(auth: sqlx_rds_iam::IamAuth) -> Result<(), sqlx_rds_iam::Error> {
    /// # use sqlx::postgres::PgPoolOptions; use sqlx_rds_iam::IamAuthExt;
    /// let pool = PgPoolOptions::new()
    ///     .iam_auth(auth)
    ///     .connect_lazy("postgres://app_user@mydb.abc123.us-east-1.rds.amazonaws.com/app")
    ///     .await?;
    /// # let _ = pool; Ok(()) }
    /// ```
    pub async fn connect_lazy(self, url: &str) -> Result<Pool<DB>, Error> {
        let options = parse_url::<DB>(url)?;
        self.connect_lazy_with(options).await
    }

    /// Signs a token for these options, but opens no connection until the pool is used.
    ///
    /// # Errors
    ///
    /// A bad setting, or no credentials.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn demo(auth: sqlx_rds_iam::IamAuth) -> Result<(), sqlx_rds_iam::Error> {
    /// use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
    /// use sqlx_rds_iam::IamAuthExt;
    ///
    /// let options = MySqlConnectOptions::new()
    ///     .host("mydb.abc123.us-east-1.rds.amazonaws.com")
    ///     .username("app_user");
    /// let pool = MySqlPoolOptions::new().iam_auth(auth).connect_lazy_with(options).await?;
    /// # let _ = pool; Ok(()) }
    /// ```
    pub async fn connect_lazy_with(self, options: Options<DB>) -> Result<Pool<DB>, Error> {
        let prepared = Prepared::<DB>::new(&self.auth, options).await?;
        let pool = prepared
            .pool_options(self.pool_options)
            .connect_lazy_with(prepared.options);
        keep_fresh(
            &pool,
            prepared.signer,
            prepared.token,
            &self.auth,
            &self.handle,
        );
        Ok(pool)
    }
}

/// Hands a new pool to the token refresh, and ties its handle to it.
fn keep_fresh<DB: IamDatabase>(
    pool: &Pool<DB>,
    signer: rds_iam_token::AuthTokenSigner,
    token: rds_iam_token::AuthToken,
    auth: &IamAuth,
    handle: &IamPoolHandle,
) {
    let refresher = refresh::Refresher::new(
        pool.clone(),
        signer,
        auth.clock(),
        token,
        auth.max_token_age,
    );
    handle.attach(Arc::clone(&refresher));
    refresh::register(refresher);
}

impl<DB: IamDatabase> fmt::Debug for IamPoolOptions<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IamPoolOptions")
            .field("pool_options", &self.pool_options)
            .field("auth", &self.auth)
            .finish()
    }
}

/// Connect options made ready for IAM: secured, with a first token as password.
struct Prepared<DB: IamDatabase> {
    options: Options<DB>,
    host: String,
    user: String,
    signer: rds_iam_token::AuthTokenSigner,
    token: rds_iam_token::AuthToken,
    engine: Engine,
}

impl<DB: IamDatabase> Prepared<DB> {
    async fn new(auth: &IamAuth, options: Options<DB>) -> Result<Self, Error> {
        let (host, port, user) = DB::endpoint(&options).map_err(Error::insecure)?;
        // A bare DSQL cluster id, as AWS's connectors take it: the endpoint in the region,
        // only when told the endpoint is DSQL (a 26-letter host is otherwise a host, such
        // as a docker service; DSQL speaks PostgreSQL only, so a MySQL host is a host).
        let bare_cluster_id =
            auth.dsql && !DB::IS_MYSQL && auth.signing_host.is_none() && dsql::is_cluster_id(&host);
        let (options, host) = if bare_cluster_id {
            let endpoint = dsql::expand_cluster_id(&host, auth.configured_region())?;
            tracing::debug!(
                cluster_id = %host,
                endpoint = %endpoint,
                "the host is a bare Aurora DSQL cluster id: connecting to its endpoint"
            );
            (DB::with_host(options, &endpoint), endpoint)
        } else {
            (options, host)
        };
        let engine = match (auth.is_dsql(&host), DB::IS_MYSQL) {
            (true, true) => return Err(dsql::mysql_refused(&host)),
            (true, false) => Engine::Dsql,
            (false, true) => Engine::MySql,
            (false, false) => Engine::Postgres,
        };
        crate::tunnel::check_signing_host(
            &host,
            auth.signing_host.as_deref(),
            auth.signing_port.unwrap_or(port),
            auth.tls.has_user_roots() || DB::names_user_roots(&options),
            auth.tls.insecure,
            engine == Engine::Dsql,
        )?;
        let signer = auth.signer(&host, port, &user, engine == Engine::Dsql)?;
        let roots = match engine {
            Engine::Dsql => auth.tls.dsql_roots_pem(),
            Engine::Postgres | Engine::MySql => auth.tls.roots_pem(signer.region()),
        };
        let options = DB::secure(options, roots, auth.tls.insecure).map_err(Error::insecure)?;
        if auth.tls.insecure {
            tracing::warn!(
                host = %host,
                user = %user,
                "IAM tokens for this pool may be sent without verified TLS \
                 (danger_accept_insecure_transport); anyone on the path can reuse them"
            );
        }
        let token = refresh::first_token(&signer).await?;
        let options = DB::with_password(&options, token.expose());
        Ok(Self {
            options,
            host,
            user,
            signer,
            token,
            engine,
        })
    }

    /// The user's pool options, with what the endpoint needs: DSQL's connection lifetime.
    fn pool_options(&self, options: PoolOptions<DB>) -> PoolOptions<DB> {
        match self.engine {
            Engine::Dsql => dsql::cap_max_lifetime(options, &self.host),
            Engine::Postgres | Engine::MySql => options,
        }
    }
}

/// Not public API (hidden, may change at any time): the path from a URL to the connect
/// options and first token a pool starts with, without connecting. The fuzz harness
/// (`fuzz/checks` in the repository) drives it; use [`IamPoolOptions::connect`].
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # use aws_credential_types::Credentials;
/// let auth = sqlx_rds_iam::IamAuth::from_credentials_provider(Credentials::from_keys("AKIDEXAMPLE", "secret", None));
/// let (options, token) = sqlx_rds_iam::__prepare_url::<sqlx::Postgres>(
///     &auth,
///     "postgres://app@mydb.abc123.us-east-1.rds.amazonaws.com/app",
/// )
/// .await
/// .unwrap();
/// assert!(matches!(options.get_ssl_mode(), sqlx::postgres::PgSslMode::VerifyFull));
/// assert!(token.expose().starts_with("mydb.abc123.us-east-1.rds.amazonaws.com:5432/?"));
/// # }
/// ```
#[doc(hidden)]
pub async fn __prepare_url<DB: IamDatabase>(
    auth: &IamAuth,
    url: &str,
) -> Result<(Options<DB>, rds_iam_token::AuthToken), Error> {
    let prepared = Prepared::<DB>::new(auth, parse_url::<DB>(url)?).await?;
    Ok((prepared.options, prepared.token))
}

fn parse_url<DB: IamDatabase>(url: &str) -> Result<Options<DB>, Error> {
    url.parse::<Options<DB>>().map_err(|err| {
        Error::config(format!(
            "invalid database URL: {err}; expected e.g. \
             postgres://USER@ENDPOINT:5432/DB or mysql://USER@ENDPOINT:3306/DB"
        ))
    })
}
