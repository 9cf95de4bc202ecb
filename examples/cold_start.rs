//! Cold start, as a Lambda function sees it: one process, from start to the first query
//! result. `benches/cold-start.sh` runs it many times, each way, and compares.
//!
//! ```text
//! cold_start iam        # aws_config::load_defaults + .iam_auth(...): the whole default
//!                       # credentials chain (credentials from the environment, as on
//!                       # Lambda); DATABASE_URL has no password
//! cold_start iam-env    # aws-config's environment provider alone, as examples/lambda.rs
//!                       # does when the keys are in the environment
//! cold_start password   # the same pool with a static password (DATABASE_PASSWORD), no AWS
//! ```
//! All verify the server's certificate (`RDS_IAM_CA_FILE` adds a CA). Prints one line to
//! stdout: the wall-clock time of the first result (UNIX seconds, microseconds), then the
//! milliseconds each phase took since `main` began.
//!
//! To copy this file into your project, it needs (`Cargo.toml`):
//!
//! ```toml
//! [dependencies]
//! aws-config = { version = "1.13", default-features = false, features = ["behavior-version-latest", "default-https-client", "rt-tokio", "credentials-process", "sso"] }
//! aws-credential-types = "1.3"
//! sqlx = { version = "0.9", default-features = false, features = ["postgres", "runtime-tokio", "tls-rustls-ring-webpki"] }
//! sqlx-rds-iam = { version = "0.1", default-features = false, features = ["postgres"] }
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```

use std::str::FromStr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::{Region, SdkConfig};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx_rds_iam::{IamAuth, IamAuthExt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let mode = std::env::args().nth(1).unwrap_or_default();
    let url = std::env::var("DATABASE_URL").map_err(
        |_| "set DATABASE_URL, e.g. DATABASE_URL=postgres://app_user@localhost:5432/app",
    )?;
    let (pool, config_ms) = match mode.as_str() {
        "iam" | "iam-env" => {
            let auth = if mode == "iam" {
                let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
                IamAuth::from_sdk_config(&sdk)
            } else {
                environment_auth().await?
            };
            let auth = match std::env::var("RDS_IAM_CA_FILE") {
                Ok(ca_file) => auth.add_root_certificates_file(ca_file)?,
                Err(_) => auth,
            };
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
        _ => return Err("usage: cold_start iam|iam-env|password".into()),
    };
    let connected_ms = started.elapsed().as_secs_f64() * 1000.0;
    let one: i32 = sqlx::query_scalar("select 1").fetch_one(&pool).await?;
    let at = SystemTime::now().duration_since(UNIX_EPOCH)?;
    let first_result_ms = started.elapsed().as_secs_f64() * 1000.0;
    if one != 1 {
        return Err(format!("select 1 returned {one}").into());
    }
    println!(
        "{}.{:06} config_ms={config_ms:.2} connected_ms={connected_ms:.2} first_result_ms={first_result_ms:.2}",
        at.as_secs(),
        at.subsec_micros()
    );
    pool.close().await;
    Ok(())
}

/// What `examples/lambda.rs` does: the environment's keys through aws-config's
/// environment provider alone, the default chain only when they are absent.
async fn environment_auth() -> Result<IamAuth, Box<dyn std::error::Error>> {
    let environment = EnvironmentVariableCredentialsProvider::new();
    if environment.provide_credentials().await.is_err() {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        return Ok(IamAuth::from_sdk_config(&sdk));
    }
    // The environment's region is the fallback after the endpoint name's, as with an
    // `SdkConfig` from the default chain.
    let region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .ok()
        .filter(|region| !region.trim().is_empty())
        .map(Region::new);
    let sdk = SdkConfig::builder()
        .region(region)
        .credentials_provider(SharedCredentialsProvider::new(environment))
        .build();
    Ok(IamAuth::from_sdk_config(&sdk))
}
