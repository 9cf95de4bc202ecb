//! `IamPoolHandle`: a pool's IAM token, seen from the service that owns the pool.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use crate::error::Error;
use crate::refresh::Refresher;

/// A handle on an IAM pool's token, from [`IamPoolOptions::handle`](crate::IamPoolOptions::handle):
/// make sure the token is fresh at the start of a unit of work, and read the pool's IAM
/// state for a readiness probe or a metrics exporter.
///
/// The pool refreshes its token by itself (every half of the maximum age, by the wall
/// clock). What the handle adds is for processes that are frozen between units of work,
/// such as a Lambda execution environment between invocations: after a long freeze, the
/// refresh and the first new connection race at thaw, and the connection may still carry
/// the old, expired token. Calling [`ensure_fresh_token`](Self::ensure_fresh_token) at the
/// start of each unit of work closes that window. It costs a clock read and a lock when the
/// token is fresh, and one token signature (a few microseconds, plus a credentials fetch
/// when they are due) when it is not.
///
/// Cloning is cheap; clones refer to the same pool. Like a `Pool` clone, the handle keeps
/// the pool itself alive, idle connections included, until it is dropped; close the pool
/// with `pool.close()` as usual (that closes its connections whatever handles remain).
/// `Debug` shows the status, never the token.
///
/// # Example
///
/// ```no_run
/// # async fn demo(auth: sqlx_rds_iam::IamAuth) -> Result<(), Box<dyn std::error::Error>> {
/// use sqlx::postgres::PgPoolOptions;
/// use sqlx_rds_iam::IamAuthExt;
///
/// let options = PgPoolOptions::new().max_connections(1).iam_auth(auth);
/// let iam = options.handle();
/// let pool = options
///     .connect("postgres://app_user@mydb.abc123.us-east-1.rds.amazonaws.com/app")
///     .await?;
///
/// // At the start of every unit of work (a Lambda invocation):
/// iam.ensure_fresh_token().await?;
/// let one: i32 = sqlx::query_scalar("select 1").fetch_one(&pool).await?;
/// # let _ = one; Ok(()) }
/// ```
#[derive(Clone)]
pub struct IamPoolHandle {
    refresher: Arc<OnceLock<Arc<Refresher>>>,
}

impl IamPoolHandle {
    /// A handle for a pool not created yet.
    pub(crate) fn new() -> Self {
        Self {
            refresher: Arc::default(),
        }
    }

    /// Ties the handle to the pool its options created.
    pub(crate) fn attach(&self, refresher: Arc<Refresher>) {
        // `connect*` consume the options, so a handle is attached at most once.
        let _ = self.refresher.set(refresher);
    }

    fn refresher(&self) -> Result<&Arc<Refresher>, Error> {
        self.refresher.get().ok_or_else(|| {
            Error::config(
                "this IamPoolHandle's pool has not been created: call connect, connect_with, \
                 connect_lazy or connect_lazy_with on the IamPoolOptions it came from first",
            )
        })
    }

    /// Makes sure that new connections of the pool carry a usable token: on `Ok`, the
    /// token in place was, when the call returned (by the pool's wall clock), younger than
    /// `max_token_age` minus a margin (5 s, or a quarter of `max_token_age` if less) and
    /// valid for at least 5 s more (by its own 15 minutes and by the expiry of the
    /// credentials that signed it). Connections already open are not affected.
    ///
    /// It signs a token and swaps it in before returning only when it must: when the token
    /// in place does not meet that promise, or when its refresh point (half the maximum
    /// age) has passed by the wall clock with no refresh failed since and no refresh
    /// running (after a freeze, before the pool's own refresh has looked). Otherwise it
    /// returns at once: a clock read and a lock. It never waits for a refresh while the
    /// token in place meets the promise; when it must wait, callers at once share one
    /// attempt (bounded by the refresh timeout: half the maximum age, between 1 s and
    /// 30 s) and take its outcome.
    ///
    /// Call it at the start of a unit of work in a process that may have been frozen since
    /// the last one (a Lambda invocation).
    ///
    /// The pool's refresh runs on the Tokio runtime that created the pool; if that runtime
    /// has shut down (a pool kept in a global across runtimes), this call hands the refresh
    /// to the current runtime.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Credentials`](crate::ErrorKind::Credentials) when the token in place
    /// does not meet the promise above and no token that does could be signed (the
    /// credentials source is down, hangs, or gives only credentials about to expire); new
    /// connections then use the token in place while the server accepts it, and the pool
    /// keeps retrying.
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when the pool has not been created
    /// or is closed.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn demo(iam: sqlx_rds_iam::IamPoolHandle, pool: sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
    /// iam.ensure_fresh_token().await?;
    /// sqlx::query("select 1").execute(&pool).await?;
    /// # Ok(()) }
    /// ```
    pub async fn ensure_fresh_token(&self) -> Result<(), Error> {
        self.refresher()?.ensure_fresh().await
    }

    /// The pool's IAM state now; `None` before the pool is created.
    ///
    /// # Example
    ///
    /// ```
    /// # fn demo(iam: sqlx_rds_iam::IamPoolHandle) {
    /// // A readiness probe: ready while the token in place is younger than the maximum age.
    /// let ready = iam
    ///     .status()
    ///     .is_some_and(|status| status.token_age < status.max_token_age && !status.pool_closed);
    /// # let _ = ready; }
    /// ```
    pub fn status(&self) -> Option<IamPoolStatus> {
        self.refresher.get().map(|refresher| refresher.status())
    }
}

impl fmt::Debug for IamPoolHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IamPoolHandle")
            .field("status", &self.status())
            .finish()
    }
}

/// An IAM pool's token state at one moment, from [`IamPoolHandle::status`]: for readiness
/// probes, metrics and logs. Times are by the pool's time source (the wall clock unless
/// `IamAuth::time_source` set another). Holds no token text.
///
/// # Example
///
/// ```
/// # fn demo(iam: sqlx_rds_iam::IamPoolHandle) {
/// if let Some(status) = iam.status() {
///     println!(
///         "token age {}s, refresh failures {}, last error {:?}",
///         status.token_age.as_secs(),
///         status.refresh_failures,
///         status.last_refresh_error,
///     );
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IamPoolStatus {
    /// When the token new connections present was signed.
    pub token_signed_at: SystemTime,
    /// How old that token is now (zero if it was signed in the future: the wall clock
    /// went back).
    pub token_age: Duration,
    /// When the database stops accepting that token: 15 minutes after signing, or when the
    /// credentials that signed it expire, whichever comes first.
    pub token_expires_at: SystemTime,
    /// When the temporary credentials that signed it expire; `None` for long-term keys.
    pub credentials_expire_at: Option<SystemTime>,
    /// The pool's `max_token_age`.
    pub max_token_age: Duration,
    /// Why the last refresh failed (the error and its causes, on one line, at most 1,000
    /// characters), while none has succeeded since; or why the token in place is unusable.
    /// The causes include the credentials provider's own error text, as the provider
    /// wrote it (this crate's own messages never hold a secret; a custom provider's
    /// errors should not either).
    pub last_refresh_error: Option<String>,
    /// Failed refreshes in a row (0 after a success).
    pub refresh_failures: u32,
    /// Whether the pool has been closed (its token is no longer refreshed).
    pub pool_closed: bool,
}
