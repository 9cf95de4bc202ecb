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

use std::collections::{HashMap, HashSet};
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

    /// IAM settings for the bed: its long-term key, region and CA.
    pub(crate) fn iam(&self) -> IamAuth {
        IamAuth::from_credentials_provider(self.credentials())
            .region(self.get("REGION").to_owned())
            .add_root_certificates_file(self.ca_file())
            .expect("the test bed's CA file")
    }

    fn url(&self, scheme: &str, host_key: &str, port_key: &str) -> String {
        self.url_for(scheme, host_key, port_key, "IAM_USER")
    }

    /// A URL for the user named by `RDS_TESTBED_{user_key}` (no password).
    pub(crate) fn url_for(
        &self,
        scheme: &str,
        host_key: &str,
        port_key: &str,
        user_key: &str,
    ) -> String {
        format!(
            "{scheme}://{}@{}:{}/{}",
            self.get(user_key),
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

/// CPU time (user + system) used so far by the test bed's servers: every process in the
/// trees of the PostgreSQL postmaster, `mariadbd` and the bed's token verifier daemon,
/// with the exited children each has reaped (`/proc/<pid>/stat` fields 14–17). A
/// PostgreSQL backend or a PAM helper that lives for one login is counted: its time lands
/// in its parent's counters when it exits. Unlike the ticks of `/proc/stat`, which are
/// sampled and miss work that starts and ends between two ticks (wake-ups on a
/// delayed-ACK timer), the kernel scales these to each process's measured run time; the
/// unit is the clock tick (10 ms) per process. Other work on the machine is not counted.
pub(crate) fn server_processes_cpu() -> Duration {
    let processes: Vec<ProcessStat> = std::fs::read_dir("/proc")
        .expect("/proc (Linux)")
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        // A process may exit between the listing and the read: it is then skipped, and
        // its time is in its parent's counters (unless the parent was read before it
        // reaped it: then one short-lived process per snapshot goes uncounted).
        .filter_map(ProcessStat::read)
        .collect();
    let comm_of = |pid: u32| {
        processes
            .iter()
            .find(|p| p.pid == pid)
            .map(|p| p.comm.as_str())
    };
    let is_root = |p: &ProcessStat| match p.comm.as_str() {
        "postgres" => comm_of(p.ppid) != Some("postgres"),
        "mariadbd" | "mysqld" => true,
        _ => p.pid == verifier_daemon_pid(),
    };
    let mut tree: Vec<u32> = processes
        .iter()
        .filter(|p| is_root(p))
        .map(|p| p.pid)
        .collect();
    // A stale verifier pid file could name a process inside another root's tree.
    let mut counted = HashSet::new();
    let mut ticks = 0;
    while let Some(pid) = tree.pop() {
        if !counted.insert(pid) {
            continue;
        }
        for p in &processes {
            if p.pid == pid {
                ticks += p.ticks;
            }
            if p.ppid == pid {
                tree.push(p.pid);
            }
        }
    }
    let per_second = rustix::param::clock_ticks_per_second();
    Duration::from_nanos(ticks * 1_000_000_000 / per_second)
}

/// The bed's verifier daemon (`tests/rds-emulator`), from its pid file; 0 when not running.
fn verifier_daemon_pid() -> u32 {
    std::fs::read_to_string("/run/rds-emulator/verifier.pid")
        .ok()
        .and_then(|pid| pid.trim().parse().ok())
        .unwrap_or(0)
}

/// The parts of `/proc/<pid>/stat` that [`server_processes_cpu`] needs.
struct ProcessStat {
    pid: u32,
    comm: String,
    ppid: u32,
    /// utime + stime + cutime + cstime, in clock ticks.
    ticks: u64,
}

impl ProcessStat {
    fn read(pid: u32) -> Option<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name (field 2) is in parentheses and may hold spaces or
        // parentheses: the fields after the last `)` start at field 3 (state).
        let (head, rest) = stat.rsplit_once(')')?;
        let comm = head.split_once('(')?.1.to_owned();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ppid = fields.get(1)?.parse().ok()?; // field 4
        let ticks = fields
            .get(11..15)? // fields 14..=17: utime, stime, cutime, cstime
            .iter()
            .filter_map(|field| field.parse::<u64>().ok())
            .sum();
        Some(Self {
            pid,
            comm,
            ppid,
            ticks,
        })
    }
}

/// An environment variable parsed as a number, or `default`.
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
