//! IAM database authentication for sqlx pools on Amazon RDS, Aurora and Aurora DSQL.
//!
//! One call on the pool options you already have, and every physical connection
//! authenticates with a fresh IAM auth token over verified TLS, for as long as the
//! process runs:
//!
//! ```no_run
//! use sqlx::postgres::PgPoolOptions;
//! use sqlx_rds_iam::{IamAuth, IamAuthExt};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
//! let pool = PgPoolOptions::new()
//!     .max_connections(10)
//!     .iam_auth(IamAuth::from_sdk_config(&sdk))
//!     .connect("postgres://app_user@mydb.cluster-abc.us-east-1.rds.amazonaws.com:5432/app")
//!     .await?;
//! let one: i32 = sqlx::query_scalar("select 1").fetch_one(&pool).await?;
//! # let _ = one; Ok(()) }
//! ```
//!
//! The same works with `MySqlPoolOptions` (the cleartext plugin is enabled for you).
//!
//! # Aurora DSQL
//! The same line, with a DSQL cluster endpoint: the name says it is DSQL, so tokens are
//! signed for service `dsql` (`DbConnectAdmin` for the `admin` role, `DbConnect` for any
//! other), in the region of the name, and verified against the public Amazon roots.
//!
//! ```no_run
//! use sqlx::postgres::PgPoolOptions;
//! use sqlx_rds_iam::{IamAuth, IamAuthExt, TransactionRetry};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
//! let pool = PgPoolOptions::new()
//!     .iam_auth(IamAuth::from_sdk_config(&sdk))
//!     .connect("postgres://admin@abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws/postgres")
//!     .await?;
//! // DSQL aborts conflicting transactions (SQLSTATE 40001): run them again.
//! TransactionRetry::new()
//!     .run(&pool, |tx| {
//!         Box::pin(async move {
//!             sqlx::query("update counters set n = n + 1 where id = 1")
//!                 .execute(&mut **tx)
//!                 .await?;
//!             Ok::<_, sqlx::Error>(())
//!         })
//!     })
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! DSQL closes connections after 60 minutes, so a DSQL pool's `max_lifetime` is kept at
//! 55 minutes or less (a longer one, or none, is lowered, with an info line). With
//! [`IamAuth::dsql`], a bare cluster id as the host
//! (`postgres://admin@abcdefghijklmnopqrstuvwxyz/postgres`) is the cluster's endpoint in
//! the region set with [`IamAuth::region`] or the `SdkConfig`; `dsql()` also marks
//! another name (a proxy or test server with your own CA) as DSQL. DSQL is PostgreSQL only: a MySQL pool
//! for it is a configuration error.
//!
//! # What it guarantees
//! - **Fresh tokens**: each new connection presents a token younger than
//!   [`IamAuth::max_token_age`] (5 minutes by default), signed from credentials current at
//!   that time; credential rotation and expiring role credentials are followed. Token age
//!   is wall-clock time, and the refresh follows the wall clock: within a second after a
//!   suspend, VM pause or clock step, new connections carry a new token. If credentials
//!   cannot be had for a while, the last token is kept while it is valid and signing is
//!   retried with backoff.
//! - **Frozen processes**: [`IamPoolOptions::handle`] gives an [`IamPoolHandle`] whose
//!   [`ensure_fresh_token`](IamPoolHandle::ensure_fresh_token) makes sure, at the start of
//!   a unit of work (a Lambda invocation), that new connections carry a fresh token, and
//!   whose [`status`](IamPoolHandle::status) reports the pool's IAM state.
//! - **Many pools**: the pools of one [`IamAuth`] (build it once and clone it) share one
//!   credentials cache, and one task per Tokio runtime watches all of them.
//! - **Verified TLS**: verify-full (PostgreSQL) / VERIFY_IDENTITY (MySQL) against the
//!   embedded RDS CA bundles ([`RDS_CA_BUNDLE_PEM`]) plus sqlx's webpki roots (DSQL: the
//!   webpki roots only, which hold the Amazon roots); add your own CA with
//!   [`IamAuth::add_root_certificates_pem`]. A token is never sent without
//!   verified TLS unless you call [`IamAuth::danger_accept_insecure_transport`].
//! - **Errors you can act on**: see [`ErrorKind`].
//!
//! # Closing
//! Close pools with `pool.close().await`: that stops token refresh. A pool dropped
//! without closing stays alive, and refreshed, until the runtime shuts down (sqlx 0.9 has
//! no weak pool handle); see the `refresh` module's notes in the source.

// docs.rs builds with `--cfg docsrs` on nightly: mark feature-gated items there.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod credentials;
mod database;
mod dsql;
mod error;
mod handle;
mod pool;
mod refresh;
mod retry;
mod tls;
mod tunnel;

pub use config::IamAuth;
pub use database::IamDatabase;
pub use error::{Error, ErrorKind};
pub use handle::{IamPoolHandle, IamPoolStatus};
pub use pool::{IamAuthExt, IamPoolOptions};
/// Every RDS root CA the adapter trusts by default, as PEM (re-exported from
/// [`rds_iam_certs`]): AWS's global bundle followed by the GovCloud roots.
///
/// # Example
///
/// ```
/// let pem = sqlx_rds_iam::RDS_CA_BUNDLE_PEM;
/// assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
/// ```
pub use rds_iam_certs::RDS_CA_BUNDLE_PEM;
pub use retry::{RetryableError, TransactionFuture, TransactionRetry, is_serialization_failure};
// For the fuzz harness only; not public API.
#[doc(hidden)]
pub use pool::__prepare_url;
