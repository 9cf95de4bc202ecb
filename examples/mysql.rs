//! Connects to RDS / Aurora MySQL (or MariaDB) with IAM authentication and runs a few
//! queries.
//!
//! ```text
//! DATABASE_URL=mysql://app_user@mydb.abc123.us-east-1.rds.amazonaws.com:3306/app \
//!     cargo run -p rds-iam-examples --example mysql
//! ```
//! Credentials and region come from the standard AWS chain; see `support.rs` for the
//! optional `RDS_IAM_CA_FILE` and `RDS_IAM_SIGNING_HOST`.

use sqlx::mysql::MySqlPoolOptions;
use sqlx_rds_iam::IamAuthExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    rds_iam_examples::init_logging();
    let url = rds_iam_examples::database_url(
        "mysql://app_user@mydb.abc123.us-east-1.rds.amazonaws.com:3306/app",
    )?;
    let pool = MySqlPoolOptions::new()
        .max_connections(5)
        .iam_auth(rds_iam_examples::iam_auth_from_env().await?)
        .connect(&url)
        .await?;

    let user: String = sqlx::query_scalar("select current_user()")
        .fetch_one(&pool)
        .await?;
    let (_, cipher): (String, String) = sqlx::query_as("show session status like 'Ssl_cipher'")
        .fetch_one(&pool)
        .await?;
    println!("connected to MySQL as {user} over TLS ({cipher}), with an IAM token");

    let answer: i64 = sqlx::query_scalar("select 6 * 7").fetch_one(&pool).await?;
    println!("select 6 * 7 = {answer}");

    pool.close().await;
    Ok(())
}
