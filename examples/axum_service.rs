//! A small web service with an IAM-authenticated PostgreSQL pool in its state: what runs
//! on ECS, EKS or EC2 (or anywhere) behind a load balancer.
//!
//! ```text
//! DATABASE_URL=postgres://app_user@mydb.abc123.us-east-1.rds.amazonaws.com:5432/app \
//!     cargo run -p rds-iam-examples --example axum_service
//! curl localhost:3000/healthz
//! curl localhost:3000/whoami
//! ```
//!
//! Configuration, all from the environment:
//! - `DATABASE_URL`: the endpoint, port, database user and database; no password.
//! - `BIND_ADDR` (default `127.0.0.1:3000`), `DB_MAX_CONNECTIONS` (default 10).
//! - IAM: credentials and region from the standard AWS chain. On ECS the task role, on
//!   EKS the service account's role (IRSA or Pod Identity), on EC2 the instance profile
//!   are found with nothing to configure; elsewhere `AWS_PROFILE` or `AWS_ACCESS_KEY_ID`
//!   and friends. `RDS_IAM_CA_FILE` and `RDS_IAM_SIGNING_HOST` are optional (see
//!   `support.rs`).
//!
//! The pool is built once at start-up and shared by every request; each new physical
//! connection authenticates with a fresh token, so nothing here deals with tokens.

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use sqlx_rds_iam::IamAuthExt;

/// What every request handler gets: the pool (a cheap, shared handle).
#[derive(Clone)]
struct AppState {
    pool: PgPool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    rds_iam_examples::init_logging();
    let url = rds_iam_examples::database_url(
        "postgres://app_user@mydb.abc123.us-east-1.rds.amazonaws.com:5432/app",
    )?;
    let bind = std::env::var("BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let max_connections = match std::env::var("DB_MAX_CONNECTIONS") {
        Ok(n) => n.parse()?,
        Err(_) => 10,
    };

    // Fails at start-up, with a message saying what to check, if credentials, TLS or the
    // database user are wrong: better than a service that starts and cannot answer.
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .iam_auth(rds_iam_examples::iam_auth_from_env().await?)
        .connect(&url)
        .await?;

    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/whoami", get(whoami))
        .with_state(AppState { pool: pool.clone() });

    let listener = tokio::net::TcpListener::bind(&bind).await?;
    eprintln!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;

    // Stops token refresh and closes connections cleanly.
    pool.close().await;
    Ok(())
}

/// 200 when the database answers, 503 otherwise.
async fn healthz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match sqlx::query("select 1").execute(&state.pool).await {
        Ok(_) => (StatusCode::OK, "ok\n"),
        Err(err) => {
            tracing_error(&err);
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n")
        }
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
        tracing_error(&err);
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n")
    })?;
    Ok(Json(serde_json::json!({
        "database_user": user,
        "tls": tls,
        "pool_size": state.pool.size(),
    })))
}

fn tracing_error(err: &sqlx::Error) {
    eprintln!("query failed: {err}");
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
