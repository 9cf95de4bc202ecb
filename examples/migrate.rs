//! Runs the database migrations over an IAM-authenticated pool, as a deploy step does
//! (a CI job, an ECS task or Kubernetes Job before the new version starts): no migration
//! password to store, the deploy role only needs `rds-db:connect` for the migration user.
//!
//! ```text
//! DATABASE_URL=postgres://migrator@mydb.abc123.us-east-1.rds.amazonaws.com:5432/app \
//!     cargo run -p rds-iam-examples --example migrate
//! DATABASE_URL=mysql://migrator@mydb.abc123.us-east-1.rds.amazonaws.com:3306/app \
//!     cargo run -p rds-iam-examples --example migrate
//! ```
//!
//! The migrations are embedded at build time by `sqlx::migrate!` from
//! `migrations/postgres/` or `migrations/mysql/` (paths relative to the package's
//! `Cargo.toml`); the URL's scheme picks which set runs. Safe to run again, and from
//! several deploy jobs at once: sqlx's migrator takes a database lock (PostgreSQL
//! `pg_advisory_lock`, MySQL `GET_LOCK`), records each applied migration with its
//! checksum in `_sqlx_migrations`, applies only those not recorded yet, and refuses to
//! run if an applied migration's file has changed since.
//!
//! The database user needs to create tables: on PostgreSQL `CREATE` on the schema (e.g.
//! `GRANT CREATE ON SCHEMA public TO migrator`, or own it), on MySQL `CREATE`, `ALTER`,
//! `INDEX`, `INSERT`, `UPDATE`, `DELETE` and `SELECT` on the database. Give migrations
//! their own database user, so that the service's user can keep fewer privileges.
//!
//! Environment: `DATABASE_URL` (endpoint, port, user, database; no password);
//! credentials and region from the standard AWS chain; optional `RDS_IAM_CA_FILE` (an
//! extra CA to trust) and `RDS_IAM_SIGNING_HOST` (the RDS endpoint to sign for when
//! connecting to a proxy whose certificate that CA signs; for a tunnel, put the endpoint
//! name in `DATABASE_URL` and make it resolve to the tunnel).
//!
//! To copy this file into your project, it needs (`Cargo.toml`; drop the engine you do
//! not use, here and in `main`):
//!
//! ```toml
//! [dependencies]
//! aws-config = { version = "1.13", default-features = false, features = ["behavior-version-latest", "default-https-client", "rt-tokio", "credentials-process", "sso"] }
//! sqlx = { version = "0.9", default-features = false, features = ["postgres", "mysql", "runtime-tokio", "tls-rustls-ring-webpki", "macros", "migrate"] }
//! sqlx-rds-iam = { version = "0.1", default-features = false, features = ["postgres", "mysql"] }
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::mysql::MySqlPoolOptions;
use sqlx::postgres::PgPoolOptions;
use sqlx_rds_iam::{IamAuth, IamAuthExt};

/// The PostgreSQL migrations, embedded in the binary.
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");
/// The MySQL migrations, embedded in the binary.
static MYSQL_MIGRATIONS: Migrator = sqlx::migrate!("migrations/mysql");

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL").map_err(|_| {
        "set DATABASE_URL, e.g. DATABASE_URL=postgres://migrator@mydb.abc123.us-east-1.rds.amazonaws.com:5432/app"
    })?;
    let auth = iam_auth_from_env().await?;
    // One connection: the migrator holds it, with the lock, for the whole run.
    let versions: Vec<i64> = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .iam_auth(auth)
            .connect(&url)
            .await?;
        POSTGRES_MIGRATIONS.run(&pool).await?;
        let versions = sqlx::query_scalar(
            "select version from _sqlx_migrations where success order by version",
        )
        .fetch_all(&pool)
        .await?;
        pool.close().await;
        versions
    } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
        let pool = MySqlPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .iam_auth(auth)
            .connect(&url)
            .await?;
        MYSQL_MIGRATIONS.run(&pool).await?;
        let versions = sqlx::query_scalar(
            "select version from _sqlx_migrations where success order by version",
        )
        .fetch_all(&pool)
        .await?;
        pool.close().await;
        versions
    } else {
        return Err("DATABASE_URL must start with postgres:// or mysql://".into());
    };
    let list: Vec<String> = versions.iter().map(i64::to_string).collect();
    println!("migrations applied: {}", list.join(" "));
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
