//! The PostgreSQL quickstart (`examples/postgres.rs`) with IAM, but with credentials given
//! directly (no aws-config, no credentials chain): the middle point of the memory benchmark
//! (`benches/memory.sh`), which separates what aws-config costs from what the adapter costs.
//!
//! ```text
//! AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... AWS_REGION=us-east-1 RDS_IAM_CA_FILE=ca.pem \
//! DATABASE_URL=postgres://iam_user@host:5432/db \
//!     cargo run --release -p rds-iam-benches --bin quickstart-iam-static
//! ```

use aws_credential_types::Credentials;
use sqlx::postgres::PgPoolOptions;
use sqlx_rds_iam::{IamAuth, IamAuthExt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let url = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL")?;
    let credentials = Credentials::new(
        std::env::var("AWS_ACCESS_KEY_ID")?,
        std::env::var("AWS_SECRET_ACCESS_KEY")?,
        std::env::var("AWS_SESSION_TOKEN").ok(),
        None,
        "environment",
    );
    let mut auth =
        IamAuth::from_credentials_provider(credentials).region(std::env::var("AWS_REGION")?);
    if let Ok(ca_file) = std::env::var("RDS_IAM_CA_FILE") {
        auth = auth.add_root_certificates_file(ca_file)?;
    }
    let pool = PgPoolOptions::new()
        .max_connections(5)
        .iam_auth(auth)
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
