//! What the database benchmarks share: the test bed's env file, the pools to compare, and
//! a clock for the process's own CPU time.
//!
//! Three ways to open a connection to the same TLS server (tests/rds-emulator):
//! - `password`: sqlx with the control user's password, verified TLS against the test CA
//!   only (what a user without this project writes);
//! - `iam`: `sqlx_rds_iam` with `iam_user` (token, PAM verifier on the server);
//! - `password+adapter-tls`: the control user's password with the IAM pool's own connect
//!   options (the RDS bundle + test CA as roots, verify-full / VERIFY_IDENTITY, MySQL
//!   cleartext plugin allowed): the adapter's client-side TLS work without the server's
//!   token verification.

// Shared by several benchmark targets, each of which uses a part.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_credential_types::Credentials;
use rustix::time::{ClockId, clock_gettime};
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions, MySqlSslMode};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::{MySql, Pool, Postgres};
use sqlx_rds_iam::{IamAuth, IamAuthExt};

/// The test bed's settings (`/var/lib/rds-emulator/testbed.env` or `$RDS_TESTBED_ENV`).
#[derive(Debug, Clone)]
pub(crate) struct Bed {
    vars: HashMap<String, String>,
    dir: PathBuf,
}

impl Bed {
    /// Reads the env file, or says how to create it.
    pub(crate) fn load() -> Self {
        let path = std::env::var_os("RDS_TESTBED_ENV").map_or_else(
            || PathBuf::from("/var/lib/rds-emulator/testbed.env"),
            PathBuf::from,
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|err| {
            panic!(
                "cannot read {}: {err}; run tests/rds-emulator/setup (as root) first",
                path.display()
            )
        });
        let vars = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let dir = path.parent().unwrap_or(Path::new(".")).to_owned();
        Self { vars, dir }
    }

    /// One `RDS_TESTBED_*` value.
    pub(crate) fn get(&self, key: &str) -> &str {
        self.vars
            .get(&format!("RDS_TESTBED_{key}"))
            .unwrap_or_else(|| panic!("RDS_TESTBED_{key} missing from the test bed's env file"))
    }

    /// The test CA, resolved against the env file's directory.
    pub(crate) fn ca_file(&self) -> PathBuf {
        self.dir.join(self.get("CA_FILE"))
    }

    fn credentials(&self) -> Credentials {
        Credentials::new(
            self.get("ACCESS_KEY_ID"),
            self.get("SECRET_ACCESS_KEY"),
            None,
            None,
            "test-bed",
        )
    }

    fn iam(&self) -> IamAuth {
        IamAuth::from_credentials_provider(self.credentials())
            .region(self.get("REGION").to_owned())
            .add_root_certificates_file(self.ca_file())
            .expect("the test bed's CA file")
    }

    fn url(&self, scheme: &str, host_key: &str, port_key: &str) -> String {
        format!(
            "{scheme}://{}@{}:{}/{}",
            self.get("IAM_USER"),
            self.get(host_key),
            self.get(port_key),
            self.get("DATABASE")
        )
    }

    /// The PostgreSQL pool for `mode`, built from `options` (size, lifetime...).
    pub(crate) async fn pg_pool(&self, mode: Mode, options: PgPoolOptions) -> Pool<Postgres> {
        let url = self.url("postgres", "PG_HOST", "PG_PORT");
        let control = self.get("CONTROL_USER");
        let password = self.get("CONTROL_PASSWORD");
        match mode {
            Mode::Password => {
                let connect: PgConnectOptions = url.parse().expect("a valid URL");
                let connect = connect
                    .username(control)
                    .password(password)
                    .ssl_mode(PgSslMode::VerifyFull)
                    .ssl_root_cert(self.ca_file());
                options.connect_with(connect).await.expect("password pool")
            }
            Mode::Iam => options
                .iam_auth(self.iam())
                .connect(&url)
                .await
                .expect("IAM pool"),
            Mode::PasswordAdapterTls => {
                let connect = self.adapter_options_pg().await;
                options
                    .connect_with(connect.username(control).password(password))
                    .await
                    .expect("password pool with the adapter's TLS settings")
            }
        }
    }

    /// The MySQL (MariaDB) pool for `mode`, built from `options`.
    pub(crate) async fn mysql_pool(&self, mode: Mode, options: MySqlPoolOptions) -> Pool<MySql> {
        let url = self.url("mysql", "MYSQL_HOST", "MYSQL_PORT");
        let control = self.get("CONTROL_USER");
        let password = self.get("CONTROL_PASSWORD");
        match mode {
            Mode::Password => {
                let connect: MySqlConnectOptions = url.parse().expect("a valid URL");
                let connect = connect
                    .username(control)
                    .password(password)
                    .ssl_mode(MySqlSslMode::VerifyIdentity)
                    .ssl_ca(self.ca_file());
                options.connect_with(connect).await.expect("password pool")
            }
            Mode::Iam => options
                .iam_auth(self.iam())
                .connect(&url)
                .await
                .expect("IAM pool"),
            Mode::PasswordAdapterTls => {
                let connect = self.adapter_options_mysql().await;
                options
                    .connect_with(connect.username(control).password(password))
                    .await
                    .expect("password pool with the adapter's TLS settings")
            }
        }
    }

    /// The connect options the adapter gives an IAM pool (taken from a lazy one).
    async fn adapter_options_pg(&self) -> PgConnectOptions {
        let pool = PgPoolOptions::new()
            .iam_auth(self.iam())
            .connect_lazy(&self.url("postgres", "PG_HOST", "PG_PORT"))
            .await
            .expect("lazy IAM pool");
        let options = (*pool.connect_options()).clone();
        pool.close().await;
        options
    }

    async fn adapter_options_mysql(&self) -> MySqlConnectOptions {
        let pool = MySqlPoolOptions::new()
            .iam_auth(self.iam())
            .connect_lazy(&self.url("mysql", "MYSQL_HOST", "MYSQL_PORT"))
            .await
            .expect("lazy IAM pool");
        let options = (*pool.connect_options()).clone();
        pool.close().await;
        options
    }
}

/// How a pool authenticates; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Mode {
    /// The control user's password, TLS against the test CA only.
    Password,
    /// `sqlx_rds_iam` with an IAM token.
    Iam,
    /// The control user's password with the IAM pool's TLS settings.
    PasswordAdapterTls,
}

impl Mode {
    /// The name used in results.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Iam => "iam",
            Self::PasswordAdapterTls => "password+adapter-tls",
        }
    }
}

/// CPU time (user + system) this process has used so far, all threads.
pub(crate) fn process_cpu() -> Duration {
    let t = clock_gettime(ClockId::ProcessCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// An environment variable parsed as a number, or `default`.
/// Busy CPU time of the whole machine so far (all CPUs: user, nice, system, irq,
/// softirq from the first line of `/proc/stat`), in the kernel's clock ticks (`USER_HZ`,
/// 100 per second on Linux).
pub(crate) fn machine_busy_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").expect("/proc/stat (Linux)");
    let ticks: u64 = stat
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("cpu "))
        .expect("the cpu line of /proc/stat")
        .split_whitespace()
        .map(|field| field.parse::<u64>().expect("a tick count"))
        .enumerate()
        // user, nice, system, (idle, iowait,) irq, softirq
        .filter(|(i, _)| matches!(i, 0 | 1 | 2 | 5 | 6))
        .map(|(_, t)| t)
        .sum();
    Duration::from_millis(ticks * 10)
}

pub(crate) fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Where a benchmark writes its JSON results: `$BENCH_RESULTS_DIR/<name>.json`
/// (default `target/bench-results`).
pub(crate) fn results_path(name: &str) -> PathBuf {
    let dir = std::env::var_os("BENCH_RESULTS_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-results"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).expect("create the results directory");
    dir.join(format!("{name}.json"))
}

/// Median of `values` (sorted in place); 0 when empty.
pub(crate) fn median(values: &mut [f64]) -> f64 {
    quantile(values, 0.5)
}

/// The `q` quantile (nearest rank) of `values` (sorted in place); 0 when empty.
pub(crate) fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let last = values.len() - 1;
    // Nearest rank: round(q * last), within bounds.
    let rank = (q * f64::from(u32::try_from(last).unwrap_or(u32::MAX))).round();
    let index = values
        .iter()
        .enumerate()
        .map(|(i, _)| i)
        .find(|&i| f64::from(u32::try_from(i).unwrap_or(u32::MAX)) >= rank)
        .unwrap_or(last);
    values[index]
}
