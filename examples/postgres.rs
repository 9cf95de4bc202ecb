//! Connects to RDS / Aurora PostgreSQL with IAM authentication and runs a few queries.
//!
//! ```text
//! DATABASE_URL=postgres://app_user@mydb.abc123.us-east-1.rds.amazonaws.com:5432/app \
//!     cargo run -p rds-iam-examples --example postgres
//! ```
//!
//! Environment: `DATABASE_URL` (endpoint, port, user, database; no password);
//! credentials and region from the standard AWS chain; optional `RDS_IAM_CA_FILE` (an
//! extra CA to trust: a proxy, LocalStack, a test server) and `RDS_IAM_SIGNING_HOST` (the
//! RDS endpoint to sign for when connecting to a proxy whose certificate that CA signs;
//! for a tunnel, put the endpoint name in `DATABASE_URL` and make it resolve to the
//! tunnel).
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

use sqlx::postgres::PgPoolOptions;
use sqlx_rds_iam::{IamAuth, IamAuthExt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    init_logging();
    let url = std::env::var("DATABASE_URL").map_err(|_| {
        "set DATABASE_URL, e.g. DATABASE_URL=postgres://app_user@mydb.abc123.us-east-1.rds.amazonaws.com:5432/app"
    })?;
    let pool = PgPoolOptions::new()
        .max_connections(5)
        .iam_auth(iam_auth_from_env().await?)
        .connect(&url)
        .await?;

    let (user, tls_version): (String, String) = sqlx::query_as(
        "select current_user::text, version from pg_stat_ssl where pid = pg_backend_pid()",
    )
    .fetch_one(&pool)
    .await?;
    println!("connected to PostgreSQL as {user} over {tls_version}, with an IAM token");

    let answer: i32 = sqlx::query_scalar("select 6 * 7").fetch_one(&pool).await?;
    println!("select 6 * 7 = {answer}");

    pool.close().await;
    Ok(())
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

/// Logs to stderr, `RUST_LOG` deciding how much (default: the adapter's events at debug).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,sqlx_rds_iam=debug"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
