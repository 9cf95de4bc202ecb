//! A Lambda function (API Gateway HTTP API or function URL) that queries RDS PostgreSQL
//! with IAM authentication.
//!
//! The pool is built once per execution environment, on the first invocation, and reused
//! by every later invocation of that environment; if building it fails (no route to the
//! database, a missing grant), that invocation returns an error and the next one tries
//! again, instead of the environment failing its init for good.
//!
//! **Fresh tokens after a freeze.** Lambda freezes the environment between invocations,
//! for seconds or hours. The pool re-signs its token by the wall clock within a second of
//! thawing, but the invocation's first new connection can race that refresh and present
//! the old, expired token (refused: sqlx does not retry logins). So each invocation starts
//! with `IamPoolHandle::ensure_fresh_token()`: nothing happens when the token is fresh (a
//! clock read), and when it is stale a new one is signed (microseconds; credentials
//! come from the environment) and swapped in before the query.
//!
//! Deploy with cargo-lambda (`cargo lambda build --release --example lambda`, then
//! `cargo lambda deploy`), with:
//! - `DATABASE_URL=postgres://app_user@mydb.abc123.us-east-1.rds.amazonaws.com:5432/app`
//!   (no password) in the function's environment;
//! - an execution role allowed `rds-db:connect` on
//!   `arn:aws:rds-db:REGION:ACCOUNT:dbuser:RESOURCE_ID/app_user`;
//! - the function in the database's VPC (or reaching it through RDS Proxy).
//!
//! Optional: `RDS_IAM_CA_FILE` (an extra CA to trust: RDS Proxy needs none, LocalStack
//! or a test server does) and `RDS_IAM_SIGNING_HOST` (the RDS endpoint to sign for when
//! the URL names a proxy whose certificate the `RDS_IAM_CA_FILE` CA signs).
//!
//! **Credentials, and why this does not load the whole default chain.** Lambda puts the
//! execution role's temporary credentials in `AWS_ACCESS_KEY_ID` /
//! `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, and the region in `AWS_REGION`. When
//! those keys are there, [`iam_auth_from_env`] reads them with aws-config's environment
//! provider alone: that is the provider the default chain would pick anyway (it is the
//! chain's first), but without building the chain (profile files, STS, the container
//! and instance-metadata clients, an HTTPS client and its root store), which is most of
//! the IAM configuration time in a cold start (`benches/cold-start.sh`, mode `iam-env`
//! against `iam`). When the keys are absent, it loads the default chain instead, so
//! the same code stays right where Lambda provides credentials another way:
//! - Lambda SnapStart (a snapshot of the initialized environment is resumed later; AWS
//!   offers it for some managed runtimes, such as Java, Python and .NET): Lambda then
//!   provides no key variables but the container credentials endpoint
//!   (`AWS_CONTAINER_CREDENTIALS_FULL_URI` + `AWS_CONTAINER_AUTHORIZATION_TOKEN`), which
//!   only the default chain reads. An environment-only provider there fails at the first
//!   token; this one falls back.
//! - Anywhere else the program runs without key variables (`cargo lambda watch` with an
//!   `AWS_PROFILE`, ECS, EC2).
//!
//! Using the environment provider *without* that fallback is safe only where the key
//! variables are guaranteed: a Lambda function without SnapStart, or a process you start
//! with them yourself. The environment provider re-reads the variables for every token
//! (they carry no expiry here), which costs microseconds.
//!
//! To copy this file into your project, it needs (`Cargo.toml`):
//!
//! ```toml
//! [dependencies]
//! aws-config = { version = "1.13", default-features = false, features = ["behavior-version-latest", "default-https-client", "rt-tokio"] }
//! aws-credential-types = "1.3"
//! lambda_http = { version = "1.3", default-features = false, features = ["apigw_http"] }
//! serde_json = "1"
//! sqlx = { version = "0.9", default-features = false, features = ["postgres", "runtime-tokio", "tls-rustls-ring-webpki"] }
//! sqlx-rds-iam = { version = "0.1", default-features = false, features = ["postgres"] }
//! tokio = { version = "1", features = ["macros", "rt-multi-thread", "sync"] }
//! tracing-subscriber = { version = "0.3", features = ["env-filter", "fmt"] }
//! ```

use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::{Region, SdkConfig};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use lambda_http::{Body, Error, Request, Response, run, service_fn};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use sqlx_rds_iam::{IamAuth, IamAuthExt, IamPoolHandle};
use tokio::sync::OnceCell;

/// The execution environment's pool and its IAM handle: created by the first invocation,
/// reused after.
static POOL: OnceCell<(PgPool, IamPoolHandle)> = OnceCell::const_new();

/// The pool, built on first use, with a token younger than the maximum age in place.
async fn pool() -> Result<&'static PgPool, Error> {
    let (pool, iam) = POOL
        .get_or_try_init(|| async {
            let url = std::env::var("DATABASE_URL").map_err(|_| {
                "set DATABASE_URL, e.g. DATABASE_URL=postgres://app_user@mydb.abc123.us-east-1.rds.amazonaws.com:5432/app"
            })?;
            let options = PgPoolOptions::new()
                // An execution environment handles one invocation at a time: one
                // connection is enough, and keeps the database's connection count at one
                // per environment.
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(5))
                .iam_auth(iam_auth_from_env().await?);
            let iam = options.handle();
            let pool = options.connect(&url).await?;
            Ok::<_, Error>((pool, iam))
        })
        .await?;
    // The environment may have been frozen since the last invocation: make sure the
    // token new connections present is fresh (see the top of this file).
    iam.ensure_fresh_token().await?;
    Ok(pool)
}

/// IAM settings for Lambda: the credentials in the environment when Lambda put them
/// there, else the standard chain (see the top of this file); plus the optional
/// `RDS_IAM_CA_FILE` and `RDS_IAM_SIGNING_HOST`.
async fn iam_auth_from_env() -> Result<IamAuth, sqlx_rds_iam::Error> {
    let environment = EnvironmentVariableCredentialsProvider::new();
    let mut auth = if environment.provide_credentials().await.is_ok() {
        // The function's region (`AWS_REGION`) is only the fallback, as in an `SdkConfig`
        // the default chain loads: the endpoint name's region comes first, so a database
        // in another region than the function is signed for its own region.
        let region = std::env::var("AWS_REGION")
            .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
            .ok()
            .filter(|region| !region.trim().is_empty())
            .map(Region::new);
        let sdk = SdkConfig::builder()
            .region(region)
            .credentials_provider(SharedCredentialsProvider::new(environment))
            .build();
        IamAuth::from_sdk_config(&sdk)
    } else {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        IamAuth::from_sdk_config(&sdk)
    };
    if let Ok(ca_file) = std::env::var("RDS_IAM_CA_FILE") {
        auth = auth.add_root_certificates_file(ca_file)?;
    }
    if let Ok(host) = std::env::var("RDS_IAM_SIGNING_HOST") {
        auth = auth.signing_host(host);
    }
    Ok(auth)
}

async fn handler(_event: Request) -> Result<Response<Body>, Error> {
    let pool = pool().await?;
    let (user, now): (String, String) = sqlx::query_as("select current_user::text, now()::text")
        .fetch_one(pool)
        .await?;
    let body = serde_json::json!({ "database_user": user, "database_time": now });
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    run(service_fn(handler)).await
}

/// Logs to stderr (CloudWatch Logs on Lambda), `RUST_LOG` deciding how much (default:
/// warnings, and the adapter's events at debug).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,sqlx_rds_iam=debug"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
