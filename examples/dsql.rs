//! Connects to Aurora DSQL with IAM authentication and runs concurrent transactions that
//! retry on optimistic-concurrency conflicts.
//!
//! ```text
//! DATABASE_URL=postgres://admin@abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws/postgres \
//!     cargo run -p rds-iam-examples --example dsql
//! ```
//!
//! Environment: `DATABASE_URL` (the cluster endpoint, role and database `postgres`; no
//! password; a role other than `admin` must be mapped to your IAM identity with
//! `AWS IAM GRANT`); credentials from the standard AWS chain (the region is read from the
//! endpoint name); optional `RDS_IAM_CA_FILE` (an extra CA to trust: a test server) and
//! `RDS_IAM_SIGNING_HOST` (the cluster endpoint to sign for when connecting to a proxy
//! whose certificate the `RDS_IAM_CA_FILE` CA signs; for a tunnel, put the endpoint name
//! in `DATABASE_URL` and make it resolve to the tunnel).
//!
//! The role needs `CREATE` on schema `public`, or the use of the table the example makes
//! (`examples_dsql_counters`; it adds one row and deletes it at the end): run it as
//! `admin` first.
//!
//! To copy this file into your project, it needs (`Cargo.toml`):
//!
//! ```toml
//! [dependencies]
//! aws-config = { version = "1.13", default-features = false, features = ["behavior-version-latest", "default-https-client", "rt-tokio", "credentials-process", "sso"] }
//! sqlx = { version = "0.9", default-features = false, features = ["postgres", "runtime-tokio", "tls-rustls-ring-webpki"] }
//! sqlx-rds-iam = { version = "0.1", default-features = false, features = ["postgres"] }
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! tracing-subscriber = { version = "0.3", features = ["env-filter", "fmt"] }
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use sqlx_rds_iam::{IamAuth, IamAuthExt, TransactionRetry};

/// How many tasks add one to the same counter at the same time.
const TASKS: u32 = 8;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    init_logging();
    let url = std::env::var("DATABASE_URL").map_err(|_| {
        "set DATABASE_URL, e.g. DATABASE_URL=postgres://admin@abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws/postgres"
    })?;
    // The one line: a DSQL endpoint name is enough for DSQL tokens (DbConnectAdmin for
    // `admin`, DbConnect for other roles), its region, verify-full TLS and a
    // max_lifetime under DSQL's 60-minute limit.
    let pool = PgPoolOptions::new()
        .max_connections(TASKS)
        .iam_auth(iam_auth_from_env().await?)
        .connect(&url)
        .await?;

    let user: String = sqlx::query_scalar("select current_user::text")
        .fetch_one(&pool)
        .await?;
    println!("connected to Aurora DSQL as {user}, with an IAM token");

    // DDL runs in a transaction of its own on DSQL (here: one statement, autocommit).
    sqlx::query(
        "create table if not exists examples_dsql_counters (id bigint primary key, n bigint not null)",
    )
    .execute(&pool)
    .await?;
    let id = i64::from(std::process::id());
    sqlx::query(
        "insert into examples_dsql_counters (id, n) values ($1, 0) \
         on conflict (id) do update set n = 0",
    )
    .bind(id)
    .execute(&pool)
    .await?;

    let attempts = Arc::new(AtomicU32::new(0));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (pool, attempts) = (pool.clone(), attempts.clone());
        tasks.push(tokio::spawn(async move {
            increment(&pool, id, &attempts).await
        }));
    }
    for task in tasks {
        task.await??;
    }
    let n: i64 = sqlx::query_scalar("select n from examples_dsql_counters where id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await?;
    println!(
        "{TASKS} concurrent increments: counter = {n}, in {} transaction attempts",
        attempts.load(Ordering::Relaxed)
    );

    sqlx::query("delete from examples_dsql_counters where id = $1")
        .bind(id)
        .execute(&pool)
        .await?;
    pool.close().await;
    if n != i64::from(TASKS) {
        return Err(format!("expected the counter at {TASKS}, found {n}").into());
    }
    Ok(())
}

/// Adds one to counter `id`. Two transactions that read and write the same row conflict:
/// DSQL aborts one with SQLSTATE 40001 (OC000), often at COMMIT, and the retry runs it
/// again from BEGIN. `for update` makes the read count as a write on DSQL, and locks the
/// row on PostgreSQL, whose default isolation (read committed) would otherwise lose an
/// update here.
async fn increment(
    pool: &PgPool,
    id: i64,
    attempts: &AtomicU32,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    TransactionRetry::new()
        .max_attempts(20)
        .run(pool, |tx| {
            attempts.fetch_add(1, Ordering::Relaxed);
            Box::pin(async move {
                let n: i64 = sqlx::query_scalar(
                    "select n from examples_dsql_counters where id = $1 for update",
                )
                .bind(id)
                .fetch_one(&mut **tx)
                .await?;
                sqlx::query("update examples_dsql_counters set n = $1 where id = $2")
                    .bind(n + 1)
                    .bind(id)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            })
        })
        .await
}

/// IAM settings: credentials and region from the standard AWS chain, plus the optional
/// `RDS_IAM_CA_FILE` and `RDS_IAM_SIGNING_HOST`.
async fn iam_auth_from_env() -> Result<IamAuth, sqlx_rds_iam::Error> {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let mut auth = IamAuth::from_sdk_config(&sdk);
    if let Ok(ca_file) = std::env::var("RDS_IAM_CA_FILE") {
        auth = auth.add_root_certificates_file(ca_file)?;
    }
    if let Ok(host) = std::env::var("RDS_IAM_SIGNING_HOST") {
        auth = auth.signing_host(host);
    }
    Ok(auth)
}

/// Logs to stderr, `RUST_LOG` deciding how much (default: the adapter's events at info,
/// which include each retry).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,sqlx_rds_iam=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
