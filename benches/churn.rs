//! Connection churn: a pool whose connections are recycled all the time (`max_lifetime`
//! 1 s, 8 connections) under a steady load (16 tasks running `select 1` in a loop) for a
//! fixed time; an IAM pool against the control user's password pool on the same TLS
//! server, PostgreSQL and MariaDB.
//!
//! Needs the test bed (`tests/rds-emulator/setup`). Run with
//! `cargo bench -p rds-iam-benches --bench churn`; settings from the environment:
//! `BENCH_CHURN_SECONDS` (default 20 per engine, mode and round), `BENCH_ROUNDS` (3).
//! Results go to `target/bench-results/churn.json`, a summary to stderr.
//!
//! Per run: queries per second, acquire latency (from the `acquire()` call to holding a
//! connection) p50 / p99, errors (failed acquires or queries), connections opened.

#[path = "testbed.rs"]
mod testbed;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::mysql::MySqlPoolOptions;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Database, Pool};
use testbed::{Bed, Mode, env_number, median, quantile, results_path};

const TASKS: usize = 16;
const MAX_CONNECTIONS: u32 = 8;
const MAX_LIFETIME: Duration = Duration::from_secs(1);
const MODES: [Mode; 3] = [Mode::Password, Mode::Iam, Mode::PasswordAdapterTls];

#[derive(Debug, Default)]
struct TaskResult {
    queries: u64,
    errors: u64,
    acquire_us: Vec<f64>,
}

/// One task's loop: acquire, `select 1`, release, until `deadline`.
async fn worker<DB: Database>(pool: Pool<DB>, deadline: Instant) -> TaskResult
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments: sqlx::IntoArguments<DB>,
{
    let mut result = TaskResult::default();
    while Instant::now() < deadline {
        let started = Instant::now();
        match pool.acquire().await {
            Ok(mut conn) => {
                result
                    .acquire_us
                    .push(started.elapsed().as_secs_f64() * 1e6);
                match sqlx::query("select 1").execute(&mut *conn).await {
                    Ok(_) => result.queries += 1,
                    Err(err) => {
                        result.errors += 1;
                        eprintln!("query failed: {err}");
                    }
                }
            }
            Err(err) => {
                result.errors += 1;
                eprintln!("acquire failed: {err}");
            }
        }
    }
    result
}

async fn run<DB: Database>(pool: Pool<DB>, seconds: f64, opened: &AtomicU64) -> serde_json::Value
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> <DB as Database>::Arguments: sqlx::IntoArguments<DB>,
{
    let opened_before = opened.load(Ordering::Relaxed);
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| tokio::spawn(worker(pool.clone(), deadline)))
        .collect();
    let mut total = TaskResult::default();
    for task in tasks {
        let result = task.await.expect("worker task");
        total.queries += result.queries;
        total.errors += result.errors;
        total.acquire_us.extend(result.acquire_us);
    }
    let elapsed = started.elapsed().as_secs_f64();
    pool.close().await;
    let opened = opened.load(Ordering::Relaxed) - opened_before;
    let queries = total.queries;
    json!({
        "seconds": elapsed,
        "queries": queries,
        "qps": f64::from(u32::try_from(queries).unwrap_or(u32::MAX)) / elapsed,
        "errors": total.errors,
        "connections_opened": opened,
        "acquire_p50_us": quantile(&mut total.acquire_us, 0.5),
        "acquire_p99_us": quantile(&mut total.acquire_us, 0.99),
    })
}

fn stats(runs: &[serde_json::Value], key: &str) -> serde_json::Value {
    let mut values: Vec<f64> = runs.iter().filter_map(|r| r[key].as_f64()).collect();
    let all = values.clone();
    let m = median(&mut values);
    json!({"median": m, "min": values.first(), "max": values.last(), "runs": all})
}

fn main() {
    let seconds: f64 = env_number("BENCH_CHURN_SECONDS", 20.0);
    let rounds: usize = env_number("BENCH_ROUNDS", 3);
    let bed = Bed::load();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");

    let mut engines = serde_json::Map::new();
    for engine in ["postgres", "mysql"] {
        let mut runs: Vec<Vec<serde_json::Value>> = vec![Vec::new(); MODES.len()];
        for round in 0..rounds {
            for k in 0..MODES.len() {
                let i = (round + k) % MODES.len();
                let mode = MODES[i];
                let opened = Arc::new(AtomicU64::new(0));
                let result = runtime.block_on(async {
                    let count = opened.clone();
                    if engine == "postgres" {
                        let options = PgPoolOptions::new()
                            .max_connections(MAX_CONNECTIONS)
                            .max_lifetime(MAX_LIFETIME)
                            .acquire_timeout(Duration::from_secs(30))
                            .after_connect(move |_, _| {
                                count.fetch_add(1, Ordering::Relaxed);
                                Box::pin(async { Ok(()) })
                            });
                        run(bed.pg_pool(mode, options).await, seconds, &opened).await
                    } else {
                        let options = MySqlPoolOptions::new()
                            .max_connections(MAX_CONNECTIONS)
                            .max_lifetime(MAX_LIFETIME)
                            .acquire_timeout(Duration::from_secs(30))
                            .after_connect(move |_, _| {
                                count.fetch_add(1, Ordering::Relaxed);
                                Box::pin(async { Ok(()) })
                            });
                        run(bed.mysql_pool(mode, options).await, seconds, &opened).await
                    }
                });
                eprintln!(
                    "{engine:<8} round {round} {:<20} {:>8.0} qps  acquire p50 {:>7.1} us  p99 {:>8.1} us  {} errors  {} connections opened",
                    mode.name(),
                    result["qps"].as_f64().unwrap_or(0.0),
                    result["acquire_p50_us"].as_f64().unwrap_or(0.0),
                    result["acquire_p99_us"].as_f64().unwrap_or(0.0),
                    result["errors"],
                    result["connections_opened"],
                );
                runs[i].push(result);
            }
        }
        let mut modes = serde_json::Map::new();
        for (i, mode) in MODES.iter().enumerate() {
            let r = &runs[i];
            modes.insert(
                mode.name().to_owned(),
                json!({
                    "qps": stats(r, "qps"),
                    "acquire_p50_us": stats(r, "acquire_p50_us"),
                    "acquire_p99_us": stats(r, "acquire_p99_us"),
                    "connections_opened": stats(r, "connections_opened"),
                    "errors": r.iter().filter_map(|x| x["errors"].as_u64()).sum::<u64>(),
                }),
            );
        }
        engines.insert(engine.to_owned(), serde_json::Value::Object(modes));
    }
    let result = json!({
        "seconds_per_run": seconds,
        "rounds": rounds,
        "tasks": TASKS,
        "max_connections": MAX_CONNECTIONS,
        "max_lifetime_s": MAX_LIFETIME.as_secs_f64(),
        "engines": engines,
    });
    let path = results_path("churn");
    std::fs::write(&path, serde_json::to_string_pretty(&result).expect("JSON"))
        .expect("write results");
    eprintln!("results: {}", path.display());
}
