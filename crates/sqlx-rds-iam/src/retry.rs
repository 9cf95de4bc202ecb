//! Transactions retried on serialization failures (SQLSTATE 40001): Aurora DSQL's
//! optimistic concurrency (OC000, OC001), SERIALIZABLE on any PostgreSQL, deadlocks on
//! MySQL.

use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::pin::Pin;
use std::time::Duration;

use sqlx::{Database, Pool, Transaction};

/// The SQLSTATE of a serialization failure: the transaction lost a conflict and may
/// succeed if run again.
const SERIALIZATION_FAILURE: &str = "40001";

/// Whether `err` is a serialization failure, SQLSTATE 40001: what Aurora DSQL returns
/// when optimistic concurrency aborts a transaction (messages OC000, OC001), what
/// PostgreSQL returns for SERIALIZABLE conflicts, and what MySQL returns for deadlocks.
/// Running the whole transaction again may succeed; [`TransactionRetry`] does that.
///
/// # Example
///
/// ```
/// let err = sqlx::Error::RowNotFound;
/// assert!(!sqlx_rds_iam::is_serialization_failure(&err));
/// ```
pub fn is_serialization_failure(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.code().as_deref() == Some(SERIALIZATION_FAILURE))
}

/// An error type a [`TransactionRetry`] can return: made from sqlx errors (those of
/// `BEGIN` and `COMMIT`), and able to show the sqlx error it holds, if any, so that a
/// serialization failure inside it is seen and retried.
///
/// Implemented for `sqlx::Error` and `Box<dyn Error + Send + Sync>`; implement it for your
/// own error type.
///
/// # Example
///
/// ```
/// #[derive(Debug)]
/// enum AppError {
///     Db(sqlx::Error),
///     OutOfStock,
/// }
///
/// impl From<sqlx::Error> for AppError {
///     fn from(err: sqlx::Error) -> Self {
///         AppError::Db(err)
///     }
/// }
///
/// impl sqlx_rds_iam::RetryableError for AppError {
///     fn as_sqlx_error(&self) -> Option<&sqlx::Error> {
///         match self {
///             AppError::Db(err) => Some(err),
///             AppError::OutOfStock => None,
///         }
///     }
/// }
/// ```
pub trait RetryableError: From<sqlx::Error> {
    /// The sqlx error this error is or holds, if any.
    ///
    /// # Example
    ///
    /// ```
    /// use sqlx_rds_iam::RetryableError;
    /// let err = sqlx::Error::RowNotFound;
    /// assert!(err.as_sqlx_error().is_some());
    /// ```
    fn as_sqlx_error(&self) -> Option<&sqlx::Error>;
}

impl RetryableError for sqlx::Error {
    fn as_sqlx_error(&self) -> Option<&sqlx::Error> {
        Some(self)
    }
}

impl RetryableError for Box<dyn std::error::Error + Send + Sync> {
    fn as_sqlx_error(&self) -> Option<&sqlx::Error> {
        self.downcast_ref()
    }
}

/// The future a transaction body returns: boxed, borrowing the transaction.
///
/// # Example
///
/// ```
/// use sqlx::{Postgres, Transaction};
/// use sqlx_rds_iam::TransactionFuture;
///
/// fn count_users<'t>(tx: &'t mut Transaction<'static, Postgres>) -> TransactionFuture<'t, i64, sqlx::Error> {
///     Box::pin(async move {
///         sqlx::query_scalar("select count(*) from users").fetch_one(&mut **tx).await
///     })
/// }
/// ```
pub type TransactionFuture<'t, T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 't>>;

/// Runs a transaction and, when it fails with a serialization failure (SQLSTATE 40001)
/// from any statement or from `COMMIT`, runs it again from `BEGIN`, up to a number of
/// attempts, with exponential backoff and full jitter between them.
///
/// Any other error is returned at once; when the attempts run out, the last serialization
/// failure is returned. Each retry logs an info event (target `sqlx_rds_iam::retry`) with
/// the attempt, the wait and the server's message.
///
/// Aurora DSQL uses optimistic concurrency: a transaction that conflicts with another is
/// aborted with SQLSTATE 40001 (OC000 for data, OC001 for schema), usually at `COMMIT`,
/// and is meant to be retried. The same helps with SERIALIZABLE transactions on any
/// PostgreSQL, and with deadlocks on MySQL. It works with any sqlx pool, IAM or not.
///
/// The body runs once per attempt, so it must be safe to run again: it should do its
/// work through the transaction only (no e-mail sent, no counter bumped outside it).
/// The transaction begins with `BEGIN` (the server's default isolation level), or with
/// your own statement ([`TransactionRetry::run_with`]); the isolation level is yours.
///
/// Defaults: 5 attempts; waits drawn at random up to 10 ms, 20 ms, 40 ms... capped at 1 s.
///
/// Cancelling a run (dropping its future, as a timeout does) drops the open transaction:
/// sqlx rolls it back as the connection goes back to the pool, in a task of its own, so
/// its locks are released shortly after the drop rather than at it.
///
/// # Example
///
/// ```no_run
/// # async fn demo(pool: sqlx::PgPool) -> Result<(), sqlx::Error> {
/// use sqlx_rds_iam::TransactionRetry;
///
/// let (from, to, amount) = (1_i64, 2_i64, 100_i64);
/// let balance: i64 = TransactionRetry::new()
///     .run(&pool, |tx| {
///         Box::pin(async move {
///             sqlx::query("update accounts set balance = balance - $1 where id = $2")
///                 .bind(amount)
///                 .bind(from)
///                 .execute(&mut **tx)
///                 .await?;
///             sqlx::query("update accounts set balance = balance + $1 where id = $2")
///                 .bind(amount)
///                 .bind(to)
///                 .execute(&mut **tx)
///                 .await?;
///             sqlx::query_scalar("select balance from accounts where id = $1")
///                 .bind(from)
///                 .fetch_one(&mut **tx)
///                 .await
///         })
///     })
///     .await?;
/// # let _ = balance; Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct TransactionRetry {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
}

impl Default for TransactionRetry {
    fn default() -> Self {
        Self::new()
    }
}

impl TransactionRetry {
    /// The defaults: 5 attempts, backoff from 10 ms doubling up to 1 s.
    ///
    /// # Example
    ///
    /// ```
    /// let retry = sqlx_rds_iam::TransactionRetry::new();
    /// # let _ = retry;
    /// ```
    pub fn new() -> Self {
        Self {
            // A few retries absorb ordinary contention; a transaction that loses five
            // times in a row is better reported than retried forever.
            max_attempts: 5,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_secs(1),
        }
    }

    /// How many times the transaction runs at most, the first included; at least 1
    /// (1: no retry).
    ///
    /// # Example
    ///
    /// ```
    /// let retry = sqlx_rds_iam::TransactionRetry::new().max_attempts(10);
    /// # let _ = retry;
    /// ```
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// The wait before the first retry (`initial`, doubled for each further retry up to
    /// `max`); each actual wait is drawn at random between zero and that. `initial` must
    /// not exceed `max`.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// let retry = sqlx_rds_iam::TransactionRetry::new()
    ///     .backoff(Duration::from_millis(5), Duration::from_millis(200));
    /// # let _ = retry;
    /// ```
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max;
        self
    }

    /// Runs `body` in a transaction begun with `BEGIN` on a connection of `pool`, commits
    /// it, and retries the whole on a serialization failure.
    ///
    /// # Errors
    ///
    /// The first error that is not a serialization failure (from `BEGIN`, the body or
    /// `COMMIT`); the last serialization failure when the attempts run out; a
    /// configuration error (`sqlx::Error::Configuration`) for 0 attempts or an initial
    /// backoff above the maximum.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn demo(pool: sqlx::PgPool) -> Result<(), sqlx::Error> {
    /// let id: i64 = sqlx_rds_iam::TransactionRetry::new()
    ///     .run(&pool, |tx| {
    ///         Box::pin(async move {
    ///             sqlx::query_scalar("insert into orders (item) values ('book') returning id")
    ///                 .fetch_one(&mut **tx)
    ///                 .await
    ///         })
    ///     })
    ///     .await?;
    /// # let _ = id; Ok(()) }
    /// ```
    pub async fn run<DB, T, E, F>(self, pool: &Pool<DB>, body: F) -> Result<T, E>
    where
        DB: Database,
        E: RetryableError,
        F: for<'t> FnMut(&'t mut Transaction<'static, DB>) -> TransactionFuture<'t, T, E>,
    {
        self.run_inner(pool, None, body).await
    }

    /// As [`TransactionRetry::run`], with the transaction begun by `begin`, such as
    /// `BEGIN ISOLATION LEVEL SERIALIZABLE` on PostgreSQL.
    ///
    /// # Errors
    ///
    /// As [`TransactionRetry::run`]; sqlx refuses a `begin` statement that does not open a
    /// transaction.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn demo(pool: sqlx::PgPool) -> Result<(), sqlx::Error> {
    /// sqlx_rds_iam::TransactionRetry::new()
    ///     .run_with(&pool, "BEGIN ISOLATION LEVEL SERIALIZABLE", |tx| {
    ///         Box::pin(async move {
    ///             sqlx::query("update stock set count = count - 1 where item = 'book'")
    ///                 .execute(&mut **tx)
    ///                 .await?;
    ///             Ok::<_, sqlx::Error>(())
    ///         })
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn run_with<DB, T, E, F>(
        self,
        pool: &Pool<DB>,
        begin: &'static str,
        body: F,
    ) -> Result<T, E>
    where
        DB: Database,
        E: RetryableError,
        F: for<'t> FnMut(&'t mut Transaction<'static, DB>) -> TransactionFuture<'t, T, E>,
    {
        self.run_inner(pool, Some(begin), body).await
    }

    async fn run_inner<DB, T, E, F>(
        self,
        pool: &Pool<DB>,
        begin: Option<&'static str>,
        mut body: F,
    ) -> Result<T, E>
    where
        DB: Database,
        E: RetryableError,
        F: for<'t> FnMut(&'t mut Transaction<'static, DB>) -> TransactionFuture<'t, T, E>,
    {
        self.check().map_err(E::from)?;
        let mut attempt: u32 = 1;
        loop {
            let outcome = attempt_once(pool, begin, &mut body).await;
            let err = match outcome {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            let Some(failure) = err
                .as_sqlx_error()
                .filter(|sqlx_err| is_serialization_failure(sqlx_err))
            else {
                return Err(err);
            };
            let message = server_message(failure);
            if attempt >= self.max_attempts {
                tracing::warn!(
                    attempts = attempt,
                    error = %message,
                    "transaction failed with a serialization failure (SQLSTATE 40001) on \
                     every attempt; returning the last one"
                );
                return Err(err);
            }
            let wait = self.backoff_for(attempt, random_fraction());
            tracing::info!(
                attempt,
                max_attempts = self.max_attempts,
                retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                error = %message,
                "serialization failure (SQLSTATE 40001); running the transaction again"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// A configuration error for settings that cannot work.
    fn check(&self) -> Result<(), sqlx::Error> {
        let problem = if self.max_attempts == 0 {
            "max_attempts is 0: it must be at least 1 (1 runs the transaction once, without \
             retries)"
                .to_owned()
        } else if self.initial_backoff > self.max_backoff {
            format!(
                "backoff: the initial wait {:?} exceeds the maximum {:?}; give an initial \
                 wait no longer than the maximum",
                self.initial_backoff, self.max_backoff
            )
        } else {
            return Ok(());
        };
        Err(sqlx::Error::Configuration(
            format!("invalid TransactionRetry: {problem}").into(),
        ))
    }

    /// The wait after failed attempt `attempt` (1 for the first): `fraction` (in [0, 1))
    /// of the initial backoff doubled `attempt - 1` times, capped at the maximum.
    fn backoff_for(&self, attempt: u32, fraction: f64) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        let ceiling = self
            .initial_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff);
        ceiling.mul_f64(fraction.clamp(0.0, 1.0))
    }
}

/// One attempt: begin, run the body, commit. The transaction is rolled back when the body
/// fails (and by sqlx when it is dropped unfinished).
async fn attempt_once<DB, T, E, F>(
    pool: &Pool<DB>,
    begin: Option<&'static str>,
    body: &mut F,
) -> Result<T, E>
where
    DB: Database,
    E: RetryableError,
    F: for<'t> FnMut(&'t mut Transaction<'static, DB>) -> TransactionFuture<'t, T, E>,
{
    let mut tx = match begin {
        Some(statement) => pool.begin_with(statement).await?,
        None => pool.begin().await?,
    };
    match body(&mut tx).await {
        Ok(value) => {
            tx.commit().await?;
            Ok(value)
        }
        Err(err) => {
            if let Err(rollback) = tx.rollback().await {
                tracing::debug!(error = %rollback, "rolling back the failed transaction failed");
            }
            Err(err)
        }
    }
}

/// The server's message of a database error (DSQL's carries OC000 / OC001); never data.
fn server_message(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Database(db) => db.message().to_owned(),
        other => other.to_string(),
    }
}

/// A number in [0, 1), different on every call: for jitter, not for secrets. std's
/// `RandomState` is seeded at random per thread and changes with every instance.
fn random_fraction() -> f64 {
    let bits = RandomState::new().hash_one(0_u8) >> 11;
    // 53 random bits: exact in an f64.
    #[allow(clippy::cast_precision_loss)] // (2^53 fits in f64's mantissa)
    let fraction = bits as f64 / (1_u64 << 53) as f64;
    fraction
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum_scaled_by_the_jitter() {
        let retry =
            TransactionRetry::new().backoff(Duration::from_millis(10), Duration::from_millis(100));
        let ceilings: Vec<_> = (1..=6).map(|a| retry.backoff_for(a, 1.0)).collect();
        assert_eq!(
            ceilings,
            [10, 20, 40, 80, 100, 100].map(Duration::from_millis)
        );
        assert_eq!(retry.backoff_for(3, 0.5), Duration::from_millis(20));
        assert_eq!(retry.backoff_for(3, 0.0), Duration::ZERO);
        assert_eq!(retry.backoff_for(u32::MAX, 1.0), Duration::from_millis(100));
    }

    #[test]
    fn jitter_is_a_fraction_and_varies() {
        let draws: Vec<f64> = (0..64).map(|_| random_fraction()).collect();
        assert!(draws.iter().all(|f| (0.0..1.0).contains(f)), "{draws:?}");
        let distinct: std::collections::BTreeSet<u64> = draws.iter().map(|f| f.to_bits()).collect();
        assert!(distinct.len() > 32, "{draws:?}");
    }

    #[test]
    fn settings_that_cannot_work_are_configuration_errors() {
        let zero = TransactionRetry::new().max_attempts(0).check().unwrap_err();
        assert!(
            matches!(&zero, sqlx::Error::Configuration(_))
                && zero.to_string().contains("max_attempts is 0"),
            "{zero}"
        );
        let backwards = TransactionRetry::new()
            .backoff(Duration::from_secs(2), Duration::from_secs(1))
            .check()
            .unwrap_err();
        assert!(
            backwards.to_string().contains("exceeds the maximum"),
            "{backwards}"
        );
        TransactionRetry::new().max_attempts(1).check().unwrap();
    }

    #[test]
    fn only_sqlstate_40001_is_a_serialization_failure() {
        assert!(!is_serialization_failure(&sqlx::Error::RowNotFound));
        assert!(!is_serialization_failure(&sqlx::Error::PoolTimedOut));
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(sqlx::Error::RowNotFound);
        assert!(matches!(
            boxed.as_sqlx_error(),
            Some(sqlx::Error::RowNotFound)
        ));
        let other: Box<dyn std::error::Error + Send + Sync> = "not sqlx".into();
        assert!(other.as_sqlx_error().is_none());
    }
}
