//! A database server restarts under a running IAM pool: the pool recovers by itself. And
//! the test bed's token verifier daemon is down: logins still work (the bed's PAM client
//! checks the token itself).
//!
//! These tests restart or stop shared test-bed services, so they are named
//! `disruptive_*` and run alone (`cargo nextest run --profile disruptive`, see
//! .config/nextest.toml).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use integration_tests::{Testbed, rds_emulator_dir};
use sqlx::mysql::MySqlPoolOptions;
use sqlx::postgres::PgPoolOptions;
use sqlx_rds_iam::{IamAuth, IamAuthExt};

fn iam(bed: &Testbed) -> IamAuth {
    let key = &bed.access_key;
    IamAuth::from_credentials_provider(Credentials::new(
        key.access_key_id.clone(),
        key.secret_access_key.clone(),
        None,
        None,
        "test-bed",
    ))
    .max_token_age(Duration::from_secs(2))
    .add_root_certificates_file(&bed.ca_file)
    .expect("test CA")
}

fn pg_url(bed: &Testbed) -> String {
    format!(
        "postgres://{}@{}:{}/{}",
        bed.iam_user, bed.pg_endpoint, bed.pg_port, bed.database
    )
}

fn mysql_url(bed: &Testbed) -> String {
    format!(
        "mysql://{}@{}:{}/{}",
        bed.iam_user, bed.mysql_endpoint, bed.mysql_port, bed.database
    )
}

fn run(program: &str, args: &[&str]) {
    let status = Command::new(program)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(status.success(), "{program} {args:?} failed: {status}");
}

fn restart_postgres() {
    let version = std::fs::read_dir("/etc/postgresql")
        .expect("/etc/postgresql")
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .max()
        .expect("a PostgreSQL cluster");
    run(
        "pg_ctlcluster",
        &["--skip-systemctl-redirect", &version, "main", "restart"],
    );
}

fn restart_mariadb() {
    run("mariadb-admin", &["shutdown"]);
    run(
        "start-stop-daemon",
        &[
            "--start",
            "--oknodo",
            "--background",
            "--exec",
            "/usr/sbin/mariadbd",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while !Command::new("mariadb-admin")
        .arg("ping")
        .output()
        .is_ok_and(|out| out.status.success())
    {
        assert!(Instant::now() < deadline, "MariaDB did not come back");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test]
async fn disruptive_postgres_restart_mid_run() {
    let bed = Testbed::load();
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .iam_auth(iam(&bed))
        .connect(&pg_url(&bed))
        .await
        .unwrap();
    let before: i32 = sqlx::query_scalar("select 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(before, 1);

    tokio::task::spawn_blocking(restart_postgres).await.unwrap();

    // Every pooled connection died with the server; the pool notices on acquire, opens
    // new ones with a fresh token, and queries work again without the caller doing
    // anything.
    for i in 0..10 {
        let after: i32 = sqlx::query_scalar("select $1")
            .bind(i)
            .fetch_one(&pool)
            .await
            .unwrap_or_else(|e| panic!("query {i} after the restart failed: {e}"));
        assert_eq!(after, i);
    }
    pool.close().await;
}

#[tokio::test]
async fn disruptive_mariadb_restart_mid_run() {
    let bed = Testbed::load();
    let pool = MySqlPoolOptions::new()
        .max_connections(4)
        .iam_auth(iam(&bed))
        .connect(&mysql_url(&bed))
        .await
        .unwrap();
    let before: i64 = sqlx::query_scalar("select 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(before, 1);

    tokio::task::spawn_blocking(restart_mariadb).await.unwrap();

    for i in 0..10_i64 {
        let after: i64 = sqlx::query_scalar("select ?")
            .bind(i)
            .fetch_one(&pool)
            .await
            .unwrap_or_else(|e| panic!("query {i} after the restart failed: {e}"));
        assert_eq!(after, i);
    }
    pool.close().await;
}

/// Where the bed's verifier daemon listens (tests/rds-emulator/lib.sh).
const VERIFIER_SOCKET: &str = "/run/rds-emulator/verifier.sock";

/// The bed's verifier daemon, stopped for the guard's life and started again (by setup,
/// which is idempotent and only restarts what is missing) when it drops, whatever the
/// test's outcome.
struct VerifierDaemonStopped;

impl VerifierDaemonStopped {
    fn stop() -> Self {
        let lib = rds_emulator_dir().join("lib.sh");
        run(
            "bash",
            &["-c", &format!(". '{}' && verifier_stop", lib.display())],
        );
        Self
    }
}

impl Drop for VerifierDaemonStopped {
    fn drop(&mut self) {
        let setup = rds_emulator_dir().join("setup");
        match Command::new(&setup).output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "{} failed: {}",
                setup.display(),
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("cannot run {}: {e}", setup.display()),
        }
    }
}

#[tokio::test]
async fn disruptive_logins_work_while_the_verifier_daemon_is_down() {
    let bed = Testbed::load();
    let daemon = VerifierDaemonStopped::stop();
    assert!(
        !Path::new(VERIFIER_SOCKET).exists(),
        "verifier_stop left {VERIFIER_SOCKET}"
    );

    // With no socket, the PAM client runs verifier.py itself for each login.
    let pg = PgPoolOptions::new()
        .max_connections(1)
        .iam_auth(iam(&bed))
        .connect(&pg_url(&bed))
        .await
        .expect("a PostgreSQL IAM login without the verifier daemon");
    let user: String = sqlx::query_scalar("select current_user::text")
        .fetch_one(&pg)
        .await
        .unwrap();
    assert_eq!(user, bed.iam_user);
    pg.close().await;

    let mysql = MySqlPoolOptions::new()
        .max_connections(1)
        .iam_auth(iam(&bed))
        .connect(&mysql_url(&bed))
        .await
        .expect("a MariaDB IAM login without the verifier daemon");
    let user: String = sqlx::query_scalar("select substring_index(current_user(), '@', 1)")
        .fetch_one(&mysql)
        .await
        .unwrap();
    assert_eq!(user, bed.iam_user);
    mysql.close().await;

    // Nothing started the daemon behind the test's back: those were fallback logins.
    assert!(!Path::new(VERIFIER_SOCKET).exists());
    drop(daemon);
    assert!(
        Path::new(VERIFIER_SOCKET).exists(),
        "setup did not start the verifier daemon again"
    );
}
