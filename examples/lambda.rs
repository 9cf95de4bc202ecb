//! A Lambda function (API Gateway HTTP API or function URL) that queries RDS PostgreSQL
//! with IAM authentication.
//!
//! The pool is built once per execution environment, on the first invocation, and reused
//! by every later invocation of that environment; if building it fails (no route to the
//! database, a missing grant), that invocation returns an error and the next one tries
//! again, instead of the environment failing its init for good.
//!
//! Deploy with cargo-lambda (`cargo lambda build --release --example lambda`, then
//! `cargo lambda deploy`), with:
//! - `DATABASE_URL=postgres://app_user@mydb.abc123.us-east-1.rds.amazonaws.com:5432/app`
//!   (no password) in the function's environment;
//! - an execution role allowed `rds-db:connect` on
//!   `arn:aws:rds-db:REGION:ACCOUNT:dbuser:RESOURCE_ID/app_user`;
//! - the function in the database's VPC (or reaching it through RDS Proxy).
//!
//! Credentials need no code: Lambda puts the execution role's temporary credentials in
//! `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, and `AWS_REGION`,
//! which the standard chain reads. Locally, `cargo lambda watch --example lambda` runs it
//! with your own credentials.

use std::time::Duration;

use lambda_http::{Body, Error, Request, Response, run, service_fn};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use sqlx_rds_iam::IamAuthExt;
use tokio::sync::OnceCell;

/// The execution environment's pool: created by the first invocation, reused after.
static POOL: OnceCell<PgPool> = OnceCell::const_new();

/// The pool, built on first use.
async fn pool() -> Result<&'static PgPool, Error> {
    POOL.get_or_try_init(|| async {
        let url = rds_iam_examples::database_url(
            "postgres://app_user@mydb.abc123.us-east-1.rds.amazonaws.com:5432/app",
        )?;
        let pool = PgPoolOptions::new()
            // An execution environment handles one invocation at a time: one connection
            // is enough, and keeps the database's connection count at one per
            // environment.
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .iam_auth(rds_iam_examples::iam_auth_from_env().await?)
            .connect(&url)
            .await?;
        Ok::<_, Error>(pool)
    })
    .await
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
    rds_iam_examples::init_logging();
    run(service_fn(handler)).await
}
