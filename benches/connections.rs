//! Opening new physical connections: an IAM pool (`sqlx_rds_iam`) against a plain sqlx pool
//! with the control user's password, on the same TLS server of the test bed, PostgreSQL
//! and MariaDB. Not a criterion benchmark: a connection takes milliseconds and goes
//! through a server, so each round opens `BENCH_CONNECTIONS` (default 50) connections one
//! after the other per mode, and the rounds (`BENCH_ROUNDS`, default 5) give the median
//! and spread.
//!
//! Needs the test bed (`tests/rds-emulator/setup`). Run with
//! `cargo bench -p rds-iam-benches --bench connections`; results go to
//! `target/bench-results/connections.json` and a summary to stderr.
//!
//! Per mode (see `testbed.rs`) and round: wall time, this process's CPU time (user +
//! system, all threads) and that of the bed's server processes (PostgreSQL, MariaDB, the
//! token verifier, with the short-lived children each login forks: backends, PAM helpers)
//! over the N connects. `password+adapter-tls` isolates the adapter's client-side TLS
//! settings (its root store: the signing region's RDS roots, parsed for every connection).
//!
//! `BENCH_CONNECTIONS_RESULTS` names the results file (default `connections`);
//! `BENCH_LOOPBACK_QUICKACK=1` records that the caller turned delayed ACKs off on the
//! loopback route (`scripts/bench` does, for a second run: sqlx 0.9.0 does not set
//! `TCP_NODELAY`, so Nagle's algorithm meets delayed ACKs in every connect).

#[path = "testbed.rs"]
mod testbed;

use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime};

use rds_iam_token::AuthTokenSigner;
use serde_json::json;
use sqlx::mysql::MySqlPoolOptions;
use sqlx::postgres::PgPoolOptions;
use sqlx::{MySql, Pool, Postgres};
use testbed::{Bed, Mode, env_number, median, process_cpu, results_path, server_processes_cpu};

const MODES: [Mode; 3] = [Mode::Password, Mode::Iam, Mode::PasswordAdapterTls];

#[derive(Debug, Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: Duration,
    /// The bed's server processes' CPU time.
    server_cpu: Duration,
}

/// Opens `n` new physical connections one after the other; returns the distinct server
/// session ids seen (each connection must be new).
async fn open_pg(pool: &Pool<Postgres>, n: usize) -> HashSet<i64> {
    let mut ids = HashSet::new();
    for _ in 0..n {
        let mut conn = pool.acquire().await.expect("acquire");
        let id: i32 = sqlx::query_scalar("select pg_backend_pid()")
            .fetch_one(&mut *conn)
            .await
            .expect("query");
        ids.insert(i64::from(id));
        conn.close_on_drop();
    }
    ids
}

async fn open_mysql(pool: &Pool<MySql>, n: usize) -> HashSet<i64> {
    let mut ids = HashSet::new();
    for _ in 0..n {
        let mut conn = pool.acquire().await.expect("acquire");
        let id: u64 = sqlx::query_scalar("select connection_id()")
            .fetch_one(&mut *conn)
            .await
            .expect("query");
        ids.insert(i64::try_from(id).expect("a session id"));
        conn.close_on_drop();
    }
    ids
}

async fn measure(bed: &Bed, engine: &str, mode: Mode, n: usize) -> Sample {
    // One connection at a time, none kept: every acquire opens a new one.
    let (ids, sample) = match engine {
        "postgres" => {
            let pool = bed
                .pg_pool(mode, PgPoolOptions::new().max_connections(1))
                .await;
            open_pg(&pool, 1).await; // warm-up: the first connection, DNS, TLS config
            // The /proc scans stay outside the client's CPU window.
            let servers_before = server_processes_cpu();
            let cpu_before = process_cpu();
            let started = Instant::now();
            let ids = open_pg(&pool, n).await;
            let sample = Sample {
                wall: started.elapsed(),
                cpu: process_cpu() - cpu_before,
                server_cpu: server_processes_cpu().saturating_sub(servers_before),
            };
            pool.close().await;
            (ids, sample)
        }
        _ => {
            let pool = bed
                .mysql_pool(mode, MySqlPoolOptions::new().max_connections(1))
                .await;
            open_mysql(&pool, 1).await;
            // The /proc scans stay outside the client's CPU window.
            let servers_before = server_processes_cpu();
            let cpu_before = process_cpu();
            let started = Instant::now();
            let ids = open_mysql(&pool, n).await;
            let sample = Sample {
                wall: started.elapsed(),
                cpu: process_cpu() - cpu_before,
                server_cpu: server_processes_cpu().saturating_sub(servers_before),
            };
            pool.close().await;
            (ids, sample)
        }
    };
    assert_eq!(ids.len(), n, "every connection is a new server session");
    sample
}

fn us_per(d: Duration, n: usize) -> f64 {
    d.as_secs_f64() * 1e6 / f64::from(u32::try_from(n).expect("a small count"))
}

fn stats(mut values: Vec<f64>) -> serde_json::Value {
    let runs = values.clone();
    let m = median(&mut values);
    json!({"median": m, "min": values[0], "max": values[values.len() - 1], "runs": runs})
}

fn summary(samples: &[Sample], n: usize) -> serde_json::Value {
    let per = |f: fn(&Sample) -> Duration| samples.iter().map(|s| us_per(f(s), n)).collect();
    json!({
        "wall_us_per_connection": stats(per(|s| s.wall)),
        "client_cpu_us_per_connection": stats(per(|s| s.cpu)),
        "server_cpu_us_per_connection": stats(per(|s| s.server_cpu)),
    })
}

/// Time per token of the signer the adapter uses (cached key, the steady state). The
/// adapter signs once per `max_token_age / 2`, not per connection; this is the upper
/// bound of what signing could add to one.
fn signing_us(bed: &Bed) -> f64 {
    let signer = AuthTokenSigner::rds(bed.get("PG_HOST"), 5432, bed.get("IAM_USER"))
        .region(bed.get("REGION").to_owned())
        .credentials_provider(aws_credential_types::Credentials::new(
            bed.get("ACCESS_KEY_ID"),
            bed.get("SECRET_ACCESS_KEY"),
            None,
            None,
            "test-bed",
        ))
        .build()
        .expect("a signer");
    let creds = aws_credential_types::Credentials::new(
        bed.get("ACCESS_KEY_ID"),
        bed.get("SECRET_ACCESS_KEY"),
        None,
        None,
        "test-bed",
    );
    let rounds = 20_000;
    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(signer.sign_with(&creds, SystemTime::now()).expect("signs"));
    }
    us_per(started.elapsed(), rounds)
}

fn main() {
    // `cargo bench` passes `--bench`; this harness takes its settings from the environment.
    let n: usize = env_number("BENCH_CONNECTIONS", 50);
    let rounds: usize = env_number("BENCH_ROUNDS", 5);
    let bed = Bed::load();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");

    let mut engines = serde_json::Map::new();
    for engine in ["postgres", "mysql"] {
        let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); MODES.len()];
        for round in 0..rounds {
            // Rotate the order, so drift on the machine does not favour one mode.
            for k in 0..MODES.len() {
                let i = (round + k) % MODES.len();
                let sample = runtime.block_on(measure(&bed, engine, MODES[i], n));
                eprintln!(
                    "{engine:<8} round {round} {:<22} {:8.0} us/conn wall {:7.0} us/conn client CPU {:7.0} us/conn server CPU",
                    MODES[i].name(),
                    us_per(sample.wall, n),
                    us_per(sample.cpu, n),
                    us_per(sample.server_cpu, n)
                );
                samples[i].push(sample);
            }
        }
        let mut modes = serde_json::Map::new();
        for (i, mode) in MODES.iter().enumerate() {
            modes.insert(mode.name().to_owned(), summary(&samples[i], n));
        }
        engines.insert(engine.to_owned(), serde_json::Value::Object(modes));
    }
    let signing = signing_us(&bed);
    let result = json!({
        "connections_per_round": n,
        "rounds": rounds,
        "signing_us_per_token": signing,
        "loopback_quickack": std::env::var("BENCH_LOOPBACK_QUICKACK").is_ok_and(|v| v == "1"),
        "engines": engines,
    });
    let name = std::env::var("BENCH_CONNECTIONS_RESULTS").unwrap_or_else(|_| "connections".into());
    let path = results_path(&name);
    std::fs::write(&path, serde_json::to_string_pretty(&result).expect("JSON"))
        .expect("write results");
    eprintln!("signing (cached key): {signing:.2} us per token");
    eprintln!("results: {}", path.display());
}
