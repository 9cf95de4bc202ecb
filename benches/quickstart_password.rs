//! The PostgreSQL quickstart (`examples/postgres.rs`) with a static password instead of
//! IAM: the baseline of the memory benchmark (`benches/memory.sh`). Same runtime, logging,
//! pool size and queries; only the authentication differs.
//!
//! ```text
//! DATABASE_URL='postgres://user:password@host:5432/db?sslmode=verify-full&sslrootcert=ca.pem' \
//!     cargo run --release -p rds-iam-benches --bin quickstart-password
//! ```

use sqlx::postgres::PgPoolOptions;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let url = std::env::var("DATABASE_URL").map_err(|_| "set DATABASE_URL")?;
    let pool = PgPoolOptions::new()
        .max_connections(5)
        .connect(&url)
        .await?;

    let (user, tls_version): (String, String) = sqlx::query_as(
        "select current_user::text, version from pg_stat_ssl where pid = pg_backend_pid()",
    )
    .fetch_one(&pool)
    .await?;
    println!("connected to PostgreSQL as {user} over {tls_version}, with a password");

    let answer: i32 = sqlx::query_scalar("select 6 * 7").fetch_one(&pool).await?;
    println!("select 6 * 7 = {answer}");

    pool.close().await;
    Ok(())
}
