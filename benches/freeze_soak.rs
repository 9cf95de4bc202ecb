//! Freeze and thaw: what a frozen process (a Lambda environment between invocations) sees
//! at resume. Not a speed benchmark: it counts refused logins.
//!
//! Each engine gets two child processes (this program with `--child ENGINE MODE`), each
//! with an IAM pool (one connection) on the bed's short-lived user, whose tokens the bed
//! refuses once older than 5 s (`RDS_TESTBED_SHORT_IAM_USER`), `max_token_age` 2 s. Each
//! child opens a new physical connection every 200 ms (acquire, `select 1`, close). The
//! parent freezes all children with SIGSTOP for `BENCH_FREEZE_SECONDS` (default 8: longer
//! than the 5 s window), resumes them with SIGCONT, lets them run 1.5 s, and does that
//! `BENCH_FREEZES` times (default 20). The children tell a resume by the wall clock (more
//! than 2 s since their last connection) and report whether the first connection started
//! after it was refused. A connection the freeze caught in the middle of its login is
//! counted apart: its token was fresh when it started and is old when the server reads
//! it, so the server refuses it whatever the client does. Other connections must all
//! succeed. Modes:
//! - `plain`: connections only, as a service that does nothing special; the pool's
//!   refresh and the first connection race at resume;
//! - `explicit`: `IamPoolHandle::ensure_fresh_token()` before each connection (the start of
//!   each unit of work), as `examples/lambda.rs` does per invocation.
//!
//! Needs the test bed (`tests/rds-emulator/setup`). Run with
//! `cargo bench -p rds-iam-benches --bench freeze_soak`; results go to
//! `target/bench-results/freeze-soak.json`, a summary to stderr.

#[path = "testbed.rs"]
mod testbed;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;
use sqlx::mysql::MySqlPoolOptions;
use sqlx::pool::PoolOptions;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Database, Pool};
use sqlx_rds_iam::{IamAuthExt, IamDatabase, IamPoolHandle};
use testbed::{Bed, env_number, results_path};

const ENGINES: [&str; 2] = ["postgres", "mysql"];
const MODES: [&str; 2] = ["plain", "explicit"];
/// How often a child opens a new connection.
const EVERY: Duration = Duration::from_millis(200);
/// A gap this long between two connections (by the wall clock) is a freeze.
const RESUME_GAP: Duration = Duration::from_secs(2);
/// Running time between freezes.
const RUN_BETWEEN: Duration = Duration::from_millis(1500);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--child") {
        let engine = args[at + 1].clone();
        let mode = args[at + 2].clone();
        child(&engine, &mode);
        return;
    }
    parent();
}

// ---------------------------------------------------------------------------------------
// Child: a pool, a new connection every 200 ms, one line per connection on stdout
// ---------------------------------------------------------------------------------------

fn child(engine: &str, mode: &str) {
    let bed = Bed::load();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let explicit = mode == "explicit";
    runtime.block_on(async {
        if engine == "postgres" {
            run_child(&bed, PgPoolOptions::new(), "postgres", "PG", explicit).await;
        } else {
            run_child(&bed, MySqlPoolOptions::new(), "mysql", "MYSQL", explicit).await;
        }
    });
}

async fn run_child<DB: IamDatabase>(
    bed: &Bed,
    options: PoolOptions<DB>,
    scheme: &str,
    key: &str,
    explicit: bool,
) {
    let options = options
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .iam_auth(bed.iam().max_token_age(Duration::from_secs(2)));
    let iam = options.handle();
    let url = bed.url_for(
        scheme,
        &format!("{key}_HOST"),
        &format!("{key}_PORT"),
        "SHORT_IAM_USER",
    );
    let pool = options.connect(&url).await.expect("IAM pool");
    let mut ticks = tokio::time::interval(EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = SystemTime::now();
    loop {
        ticks.tick().await;
        let now = SystemTime::now();
        let resumed = now.duration_since(last).unwrap_or_default() > RESUME_GAP;
        last = now;
        let outcome = connect_once(&pool, explicit.then_some(&iam)).await;
        // A connection the freeze caught in the middle of its login sends a token that
        // was fresh when it started and is old when the server reads it: whatever the
        // client does, it is refused (counted apart).
        let spanned = SystemTime::now().duration_since(now).unwrap_or_default() > RESUME_GAP;
        let kind = if spanned {
            "S"
        } else if resumed {
            "R"
        } else {
            "N"
        };
        match outcome {
            Ok(()) => println!("{kind} ok"),
            Err(err) => println!("{kind} fail {}", err.replace('\n', " ")),
        }
    }
}

/// One unit of work: (the explicit call, then) a new physical connection and a query.
async fn connect_once<DB: Database>(
    pool: &Pool<DB>,
    iam: Option<&IamPoolHandle>,
) -> Result<(), String> {
    if let Some(iam) = iam {
        iam.ensure_fresh_token().await.map_err(|e| e.to_string())?;
    }
    let mut conn = pool.acquire().await.map_err(|e| e.to_string())?;
    conn.ping().await.map_err(|e| e.to_string())?;
    conn.close_on_drop();
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Parent: children, freezes, tallies
// ---------------------------------------------------------------------------------------

#[derive(Debug, Default, Clone)]
struct Tally {
    resumes: u64,
    resumes_failed: u64,
    spanning: u64,
    spanning_failed: u64,
    others: u64,
    others_failed: u64,
    errors: Vec<String>,
}

fn signal(children: &[Child], name: &str) {
    let pids: Vec<String> = children.iter().map(|c| c.id().to_string()).collect();
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .args(&pids)
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{name} {pids:?} failed");
}

fn parent() {
    let freezes: u32 = env_number("BENCH_FREEZES", 20);
    let freeze_s: f64 = env_number("BENCH_FREEZE_SECONDS", 8.0);
    let exe = std::env::current_exe().expect("this program's path");
    let (lines_tx, lines) = mpsc::channel::<(usize, String)>();
    let mut children = Vec::new();
    let mut labels = Vec::new();
    for engine in ENGINES {
        for mode in MODES {
            let mut child = Command::new(&exe)
                .args(["--child", engine, mode])
                .stdout(Stdio::piped())
                .stdin(Stdio::null())
                .spawn()
                .expect("start a child");
            let stdout = child.stdout.take().expect("piped stdout");
            let index = labels.len();
            let tx = lines_tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if tx.send((index, line)).is_err() {
                        break;
                    }
                }
            });
            children.push(child);
            labels.push((engine, mode));
        }
    }
    drop(lines_tx);
    let mut tallies = vec![Tally::default(); labels.len()];
    let drain = |tallies: &mut [Tally], for_at_least: Duration| {
        let until = Instant::now() + for_at_least;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            let Ok((index, line)) = lines.recv_timeout(left) else {
                continue;
            };
            let tally = &mut tallies[index];
            let failed = line.contains(" fail ");
            if line.starts_with('R') {
                tally.resumes += 1;
                tally.resumes_failed += u64::from(failed);
            } else if line.starts_with('S') {
                tally.spanning += 1;
                tally.spanning_failed += u64::from(failed);
            } else {
                tally.others += 1;
                tally.others_failed += u64::from(failed);
            }
            if failed && tally.errors.len() < 5 {
                tally.errors.push(line);
            }
        }
    };
    // Warm up: every child connects a few times.
    drain(&mut tallies, Duration::from_secs(3));
    for (i, t) in tallies.iter().enumerate() {
        assert!(
            t.others >= 3 && t.others_failed == 0,
            "{:?} does not connect: {t:?}",
            labels[i]
        );
    }
    let started = Instant::now();
    for n in 0..freezes {
        signal(&children, "STOP");
        std::thread::sleep(Duration::from_secs_f64(freeze_s));
        signal(&children, "CONT");
        drain(&mut tallies, RUN_BETWEEN);
        let summary: Vec<String> = tallies
            .iter()
            .zip(&labels)
            .map(|(t, (e, m))| format!("{e}/{m} {}/{}", t.resumes_failed, t.resumes))
            .collect();
        eprintln!(
            "freeze {:>2}: refused first connections after resume: {}",
            n + 1,
            summary.join(", ")
        );
    }
    for child in &mut children {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut engines = serde_json::Map::new();
    for engine in ENGINES {
        let mut modes = serde_json::Map::new();
        for (i, (e, mode)) in labels.iter().enumerate() {
            if *e == engine {
                let t = &tallies[i];
                modes.insert(
                    (*mode).to_owned(),
                    json!({
                        "resumes": t.resumes,
                        "first_after_resume_refused": t.resumes_failed,
                        "frozen_mid_login": t.spanning,
                        "frozen_mid_login_refused": t.spanning_failed,
                        "other_connections": t.others,
                        "other_connections_failed": t.others_failed,
                        "sample_errors": t.errors,
                    }),
                );
            }
        }
        engines.insert(engine.to_owned(), serde_json::Value::Object(modes));
    }
    let result = json!({
        "freezes": freezes,
        "freeze_s": freeze_s,
        "window_s": 5,
        "max_token_age_s": 2,
        "connect_every_ms": u64::try_from(EVERY.as_millis()).unwrap_or(0),
        "seconds": started.elapsed().as_secs_f64(),
        "engines": engines,
    });
    let path = results_path("freeze-soak");
    std::fs::write(&path, serde_json::to_string_pretty(&result).expect("JSON"))
        .expect("write results");
    eprintln!("{}", serde_json::to_string_pretty(&result).expect("JSON"));
    eprintln!("results: {}", path.display());
}
