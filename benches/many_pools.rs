//! Many pools in one process (a multi-tenant service: one pool per tenant database):
//! `BENCH_POOLS` (default 1,000) lazy IAM pools against as many lazy password pools, with
//! the same pool settings (sqlx's defaults) and the same TLS options (the adapter's: the
//! password pools get a copy of an IAM pool's connect options with the control user's
//! password), no connection open. Each kind runs in a child process of its own (this
//! program with `--child iam|password`), at the same time.
//!
//! Measured per child:
//! - resident memory (VmRSS) after the pools are made, over the same process just before
//!   (runtime started, one IAM pool made and closed, so that the libraries' one-time
//!   set-up is in both);
//! - idle CPU: this process's CPU time (user + system, all threads) over
//!   `BENCH_IDLE_SECONDS` (default 60) of doing nothing, as a share of one core;
//! - IAM only: the pools share one `IamAuth`, whose credentials source counts fetches and
//!   hands out temporary credentials that expire an hour later by the pools' clock (the
//!   system clock plus an offset the benchmark moves). The clock jumps 56 minutes (the
//!   credentials are then within 5 minutes of expiry, and every token is past its refresh
//!   point): fetches for that rotation, and the time until every pool's connect options
//!   carry a token from after the jump. Then a jump of 3 minutes and
//!   `IamPoolHandle::ensure_fresh_token` on every pool, one after the other: the time and
//!   CPU to sign and swap in a token for all of them.
//!
//! Needs the test bed's env file (no server is contacted). Run with
//! `cargo bench -p rds-iam-benches --bench many_pools`; results go to
//! `target/bench-results/many-pools.json`, a summary to stderr.

#[path = "testbed.rs"]
mod testbed;

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, future};
use aws_smithy_async::time::TimeSource;
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx_rds_iam::{IamAuth, IamAuthExt, IamPoolHandle};
use testbed::{Bed, env_number, process_cpu, results_path};

/// The system clock plus an offset the benchmark moves.
#[derive(Debug, Clone, Default)]
struct ShiftedClock(Arc<AtomicU64>);

impl ShiftedClock {
    fn shift(&self, by: Duration) {
        self.0.fetch_add(by.as_secs(), Ordering::SeqCst);
    }
}

impl TimeSource for ShiftedClock {
    fn now(&self) -> SystemTime {
        SystemTime::now() + Duration::from_secs(self.0.load(Ordering::SeqCst))
    }
}

/// Temporary credentials that expire an hour after each fetch (by the clock); counts
/// fetches.
#[derive(Debug, Clone)]
struct CountingSource {
    clock: ShiftedClock,
    key: (String, String),
    fetches: Arc<AtomicUsize>,
}

impl ProvideCredentials for CountingSource {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        future::ProvideCredentials::ready(Ok(Credentials::new(
            self.key.0.clone(),
            self.key.1.clone(),
            Some("a-session-token".to_owned()),
            Some(self.clock.now() + Duration::from_secs(3600)),
            "many-pools",
        )))
    }
}

/// This process's resident memory, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .expect("/proc/self/status")
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--child") {
        let result = child(&args[at + 1]);
        println!("{result}");
        return;
    }
    parent();
}

fn child(mode: &str) -> serde_json::Value {
    let pools: usize = env_number("BENCH_POOLS", 1000);
    let idle_s: u64 = env_number("BENCH_IDLE_SECONDS", 60);
    let bed = Bed::load();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    runtime.block_on(async {
        let clock = ShiftedClock::default();
        let source = CountingSource {
            clock: clock.clone(),
            key: (
                bed.get("ACCESS_KEY_ID").to_owned(),
                bed.get("SECRET_ACCESS_KEY").to_owned(),
            ),
            fetches: Arc::default(),
        };
        let auth = IamAuth::from_credentials_provider(source.clone())
            .region(bed.get("REGION").to_owned())
            .add_root_certificates_file(bed.ca_file())
            .expect("the test bed's CA file")
            .time_source(clock.clone());
        let url = bed.url_for("postgres", "PG_HOST", "PG_PORT", "IAM_USER");
        // One IAM pool made and closed in both children: its connect options are the
        // password pools' template, and the one-time set-up is in the baseline.
        let first = PgPoolOptions::new()
            .iam_auth(auth.clone())
            .connect_lazy(&url)
            .await
            .expect("a lazy IAM pool");
        let template: PgConnectOptions = (*first.connect_options())
            .clone()
            .username(bed.get("CONTROL_USER"))
            .password(bed.get("CONTROL_PASSWORD"));
        first.close().await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let fetches_before = source.fetches.load(Ordering::SeqCst);
        let rss_before = rss_kib();

        let started = Instant::now();
        let mut handles: Vec<IamPoolHandle> = Vec::new();
        let mut kept = Vec::new();
        for _ in 0..pools {
            if mode == "iam" {
                let options = PgPoolOptions::new().iam_auth(auth.clone());
                handles.push(options.handle());
                kept.push(options.connect_lazy(&url).await.expect("a lazy IAM pool"));
            } else {
                kept.push(PgPoolOptions::new().connect_lazy_with(template.clone()));
            }
        }
        let make_ms = started.elapsed().as_secs_f64() * 1e3;
        let fetches_at_start = source.fetches.load(Ordering::SeqCst) - fetches_before;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss_after = rss_kib();

        let cpu = process_cpu();
        let wall = Instant::now();
        tokio::time::sleep(Duration::from_secs(idle_s)).await;
        let idle_cpu = process_cpu() - cpu;
        let idle_wall = wall.elapsed();
        let mut result = json!({
            "pools": pools,
            "make_ms": make_ms,
            "rss_before_kib": rss_before,
            "rss_after_kib": rss_after,
            "idle_seconds": idle_wall.as_secs_f64(),
            "idle_cpu_ms": idle_cpu.as_secs_f64() * 1e3,
            "idle_cpu_percent_of_one_core": idle_cpu.as_secs_f64() / idle_wall.as_secs_f64() * 100.0,
        });
        if mode == "iam" {
            result["fetches_at_start"] = json!(fetches_at_start);
            // Rotation: 56 minutes later the credentials are within 5 minutes of expiry.
            let fetches = source.fetches.load(Ordering::SeqCst);
            clock.shift(Duration::from_secs(56 * 60));
            let jumped_to = clock.now() - Duration::from_secs(1);
            let cpu = process_cpu();
            let started = Instant::now();
            loop {
                let swapped = handles
                    .iter()
                    .filter(|h| h.status().is_some_and(|s| s.token_signed_at >= jumped_to))
                    .count();
                if swapped == handles.len() {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "only {swapped} of {pools} pools re-signed after the jump"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            result["rotation"] = json!({
                "fetches": source.fetches.load(Ordering::SeqCst) - fetches,
                "all_swapped_ms": started.elapsed().as_secs_f64() * 1e3,
                "cpu_ms_with_polling": (process_cpu() - cpu).as_secs_f64() * 1e3,
            });
            // Explicit: every token stale by age (3 minutes), credentials still valid.
            clock.shift(Duration::from_secs(3 * 60));
            let cpu = process_cpu();
            let started = Instant::now();
            for handle in &handles {
                handle.ensure_fresh_token().await.expect("a fresh token");
            }
            let elapsed = started.elapsed();
            let cpu = process_cpu() - cpu;
            result["explicit"] = json!({
                "all_ms": elapsed.as_secs_f64() * 1e3,
                "cpu_ms": cpu.as_secs_f64() * 1e3,
                "us_per_pool": elapsed.as_secs_f64() * 1e6 / f64::from(u32::try_from(pools).unwrap_or(u32::MAX)),
            });
        }
        for pool in kept {
            pool.close().await;
        }
        result
    })
}

fn parent() {
    let exe = std::env::current_exe().expect("this program's path");
    let children: Vec<_> = ["iam", "password"]
        .into_iter()
        .map(|mode| {
            let child = Command::new(&exe)
                .args(["--child", mode])
                .stdout(Stdio::piped())
                .spawn()
                .expect("start a child");
            (mode, child)
        })
        .collect();
    let mut result = serde_json::Map::new();
    for (mode, mut child) in children {
        let mut out = String::new();
        child
            .stdout
            .take()
            .expect("piped stdout")
            .read_to_string(&mut out)
            .expect("the child's output");
        let status = child.wait().expect("the child");
        assert!(status.success(), "the {mode} child failed: {status}");
        let value: serde_json::Value = serde_json::from_str(out.trim()).expect("the child's JSON");
        result.insert(mode.to_owned(), value);
    }
    let growth = |mode: &str| {
        let r = &result[mode];
        r["rss_after_kib"].as_f64().unwrap_or(0.0) - r["rss_before_kib"].as_f64().unwrap_or(0.0)
    };
    let ratio = growth("iam") / growth("password").max(1.0);
    result.insert(
        "rss_growth_ratio_iam_over_password".to_owned(),
        json!(ratio),
    );
    let result = serde_json::Value::Object(result);
    let path = results_path("many-pools");
    std::fs::write(&path, serde_json::to_string_pretty(&result).expect("JSON"))
        .expect("write results");
    eprintln!("{}", serde_json::to_string_pretty(&result).expect("JSON"));
    eprintln!("results: {}", path.display());
}
