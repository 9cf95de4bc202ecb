//! Cold start, as a Lambda function sees it: one process, from start to the first query
//! result. `benches/cold-start.sh` runs it many times, both ways, and compares.
//!
//! ```text
//! cold_start iam        # aws_config::load_defaults + .iam_auth(...) (credentials from the
//!                       # environment, as on Lambda); DATABASE_URL has no password
//! cold_start password   # the same pool with a static password (DATABASE_PASSWORD), no AWS
//! ```
//! Both verify the server's certificate (`RDS_IAM_CA_FILE` adds a CA). Prints one line to
//! stdout: the wall-clock time of the first result (UNIX seconds, microseconds), then the
//! milliseconds each phase took since `main` began.

use std::str::FromStr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx_rds_iam::IamAuthExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mode = std::env::args().nth(1).unwrap_or_default();
    let url = rds_iam_examples::database_url("postgres://app_user@localhost:5432/app")?;
    let (pool, config_ms) = match mode.as_str() {
        "iam" => {
            let auth = rds_iam_examples::iam_auth_from_env().await?;
            let config_ms = started.elapsed().as_secs_f64() * 1000.0;
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .iam_auth(auth)
                .connect(&url)
                .await?;
            (pool, config_ms)
        }
        "password" => {
            let password = std::env::var("DATABASE_PASSWORD")
                .map_err(|_| "set DATABASE_PASSWORD for the password mode")?;
            let mut options = PgConnectOptions::from_str(&url)?
                .password(&password)
                .ssl_mode(PgSslMode::VerifyFull);
            if let Ok(ca_file) = std::env::var("RDS_IAM_CA_FILE") {
                options = options.ssl_root_cert(ca_file);
            }
            let config_ms = started.elapsed().as_secs_f64() * 1000.0;
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await?;
            (pool, config_ms)
        }
        _ => return Err("usage: cold_start iam|password".into()),
    };
    let connected_ms = started.elapsed().as_secs_f64() * 1000.0;
    let one: i32 = sqlx::query_scalar("select 1").fetch_one(&pool).await?;
    let at = SystemTime::now().duration_since(UNIX_EPOCH)?;
    let first_result_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(one, 1);
    println!(
        "{}.{:06} config_ms={config_ms:.2} connected_ms={connected_ms:.2} first_result_ms={first_result_ms:.2}",
        at.as_secs(),
        at.subsec_micros()
    );
    pool.close().await;
    Ok(())
}
