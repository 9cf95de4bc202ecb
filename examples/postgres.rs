//! Connects to RDS / Aurora PostgreSQL with IAM authentication and runs a few queries.
//!
//! ```text
//! DATABASE_URL=postgres://app_user@mydb.abc123.us-east-1.rds.amazonaws.com:5432/app \
//!     cargo run -p rds-iam-examples --example postgres
//! ```
//! Credentials and region come from the standard AWS chain; see `support.rs` for the
//! optional `RDS_IAM_CA_FILE` and `RDS_IAM_SIGNING_HOST`.

use sqlx::postgres::PgPoolOptions;
use sqlx_rds_iam::IamAuthExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    rds_iam_examples::init_logging();
    let url = rds_iam_examples::database_url(
        "postgres://app_user@mydb.abc123.us-east-1.rds.amazonaws.com:5432/app",
    )?;
    let pool = PgPoolOptions::new()
        .max_connections(5)
        .iam_auth(rds_iam_examples::iam_auth_from_env().await?)
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
