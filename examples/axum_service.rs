//! A small web service with an IAM-authenticated PostgreSQL pool in its state: what runs
//! on ECS, EKS or EC2 (or anywhere) behind a load balancer.
//!
//! ```text
//! DATABASE_URL=postgres://app_user@mydb.abc123.us-east-1.rds.amazonaws.com:5432/app \
//!     cargo run -p rds-iam-examples --example axum_service
//! curl localhost:3000/livez    # 200 while the process serves requests
//! curl localhost:3000/readyz   # 200 when the database answers, 503 when it does not
//! curl localhost:3000/whoami
//! ```
//!
//! Configuration, all from the environment:
//! - `DATABASE_URL`: the endpoint, port, database user and database; no password.
//! - `BIND_ADDR` (default `0.0.0.0:3000`: every interface, so that the port a container
//!   publishes reaches it; `127.0.0.1:3000` for this machine only, `[::]:3000` for IPv6).
//! - `DB_MAX_CONNECTIONS` (default 10).
//! - IAM: credentials and region from the standard AWS chain. On ECS the task role, on
//!   EKS the service account's role (IRSA or Pod Identity), on EC2 the instance profile
//!   are found with nothing to configure; elsewhere `AWS_PROFILE` or `AWS_ACCESS_KEY_ID`
//!   and friends. Optional: `RDS_IAM_CA_FILE` (an extra CA: a proxy, LocalStack, a test
//!   server) and `RDS_IAM_SIGNING_HOST`
//!   (the endpoint to sign for when connecting to a proxy whose certificate the `RDS_IAM_CA_FILE` CA signs; for a tunnel, put the endpoint name in `DATABASE_URL` and make it resolve to the tunnel).
//!
//! Probes: `/livez` says the process is up and answers without touching the database, so
//! an orchestrator restarts the service only when it is stuck, never because the
//! database is away. `/readyz` runs `select 1` (within 2 s): while the database cannot be
//! reached, the load balancer or Kubernetes stops sending traffic, and resumes when it
//! answers again. In Kubernetes, give the readiness probe `timeoutSeconds: 3` (the
//! default, 1 s, is shorter than this check's own limit). The service starts listening
//! even when the database is down (the pool connects lazily); bad settings or missing
//! credentials still stop it at start-up, with a message saying what to fix.
//!
//! The pool is built once at start-up and shared by every request; each new physical
//! connection authenticates with a fresh token, so nothing here deals with tokens.
//!
//! To copy this file into your project, it needs (`Cargo.toml`):
//!
//! ```toml
//! [dependencies]
//! aws-config = { version = "1.13", default-features = false, features = ["behavior-version-latest", "default-https-client", "rt-tokio", "credentials-process", "sso"] }
//! axum = { version = "0.8", default-features = false, features = ["tokio", "http1", "json"] }
//! serde_json = "1"
//! sqlx = { version = "0.9", default-features = false, features = ["postgres", "runtime-tokio", "tls-rustls-ring-webpki"] }
//! sqlx-rds-iam = { version = "0.1", default-features = false, features = ["postgres"] }
//! tokio = { version = "1", features = ["macros", "rt-multi-thread", "net", "signal", "time"] }
//! tracing = "0.1"
//! tracing-subscriber = { version = "0.3", features = ["env-filter", "fmt"] }
//! ```

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use sqlx_rds_iam::{IamAuth, IamAuthExt};

/// How long `/readyz` waits for the database before answering 503.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// What every request handler gets: the pool (a cheap, shared handle).
#[derive(Clone)]
struct AppState {
    pool: PgPool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    init_logging();
    let url = std::env::var("DATABASE_URL").map_err(|_| {
        "set DATABASE_URL, e.g. DATABASE_URL=postgres://app_user@mydb.abc123.us-east-1.rds.amazonaws.com:5432/app"
    })?;
    let bind = std::env::var("BIND_ADDR").unwrap_or_else(|_| "0.0.0.0:3000".to_owned());
    let max_connections: u32 = match std::env::var("DB_MAX_CONNECTIONS") {
        Ok(n) => n
            .parse()
            .map_err(|_| format!("DB_MAX_CONNECTIONS must be a whole number, not {n:?}"))?,
        Err(_) => 10,
    };

    // Checks the URL, the settings and the credentials now (a token is signed), but opens
    // no connection until a request needs one: the service comes up, and `/readyz` tells
    // whether the database answers.
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .iam_auth(iam_auth_from_env().await?)
        .connect_lazy(&url)
        .await?;

    let app = Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/whoami", get(whoami))
        .with_state(AppState { pool: pool.clone() });

    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .map_err(|err| format!("cannot listen on BIND_ADDR={bind}: {err}"))?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;

    // Stops token refresh and closes connections cleanly.
    pool.close().await;
    Ok(())
}

/// Liveness: 200 as long as the process serves requests; the database is not asked.
async fn livez() -> &'static str {
    "ok\n"
}

/// Readiness: 200 when the database answers `select 1` within [`READY_TIMEOUT`], 503
/// otherwise.
async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    let check = sqlx::query("select 1").execute(&state.pool);
    match tokio::time::timeout(READY_TIMEOUT, check).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready\n"),
        Ok(Err(err)) => {
            log_error(&err);
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n")
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "database did not answer in time\n",
        ),
    }
}

/// Who the service is logged in as, and over which TLS version.
async fn whoami(
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, (StatusCode, &'static str)> {
    let (user, tls): (String, Option<String>) = sqlx::query_as(
        "select current_user::text, (select version from pg_stat_ssl where pid = pg_backend_pid())",
    )
    .fetch_one(&state.pool)
    .await
    .map_err(|err| {
        log_error(&err);
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n")
    })?;
    Ok(Json(serde_json::json!({
        "database_user": user,
        "tls": tls,
        "pool_size": state.pool.size(),
    })))
}

fn log_error(err: &sqlx::Error) {
    tracing::warn!("query failed: {err}");
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

/// Logs to stderr, `RUST_LOG` deciding how much (default: warnings, and the adapter's
/// events at debug).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,sqlx_rds_iam=debug"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Ctrl-C, or SIGTERM (what ECS, Kubernetes and systemd send before stopping a task).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
