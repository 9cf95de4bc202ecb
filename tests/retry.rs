//! `TransactionRetry` against real serialization failures (SQLSTATE 40001) on the test
//! bed's PostgreSQL (SERIALIZABLE transactions that really conflict) and MariaDB (a
//! deadlock), ordered with barriers and channels, through IAM pools.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_credential_types::Credentials;
use integration_tests::{Engine, Testbed};
use sqlx::mysql::MySqlPoolOptions;
use sqlx::postgres::PgPoolOptions;
use sqlx::{MySqlPool, PgPool, Row};
use sqlx_rds_iam::{
    IamAuth, IamAuthExt, RetryableError, TransactionRetry, is_serialization_failure,
};
use tokio::sync::{Barrier, mpsc, oneshot};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::util::SubscriberInitExt;

const SERIALIZABLE: &str = "BEGIN ISOLATION LEVEL SERIALIZABLE";

/// IAM settings for the bed's servers.
fn auth(bed: &Testbed) -> IamAuth {
    let key = &bed.access_key;
    IamAuth::from_credentials_provider(Credentials::from_keys(
        key.access_key_id.clone(),
        key.secret_access_key.clone(),
        None,
    ))
    .region(bed.region.clone())
    .add_root_certificates_file(&bed.ca_file)
    .expect("test CA")
}

/// An IAM pool on the bed's PostgreSQL, as `iam_user`.
async fn pool(bed: &Testbed) -> PgPool {
    PgPoolOptions::new()
        .max_connections(4)
        .iam_auth(auth(bed))
        .connect(&format!(
            "postgres://{}@{}:{}/{}",
            bed.iam_user,
            bed.host(Engine::Postgres),
            bed.port(Engine::Postgres),
            bed.database
        ))
        .await
        .expect("IAM pool connects")
}

/// A fresh table of this test's own, `(id int primary key, n int)`, with `rows` rows of
/// `n = 0`, dropped when the guard is.
struct Table {
    pool: PgPool,
    name: String,
}

impl Table {
    async fn new(pool: &PgPool, test: &str, rows: i32) -> Table {
        let name = format!("retry_{test}_{}", std::process::id());
        sqlx::query(sqlx::AssertSqlSafe(format!("drop table if exists {name}")))
            .execute(pool)
            .await
            .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "create table {name} (id int primary key, n int not null)"
        )))
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "insert into {name} select g, 0 from generate_series(1, $1) g"
        )))
        .bind(rows)
        .execute(pool)
        .await
        .unwrap();
        Table {
            pool: pool.clone(),
            name,
        }
    }

    async fn values(&self) -> Vec<i32> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "select n from {} order by id",
            self.name
        )))
        .fetch_all(&self.pool)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
    }

    async fn drop_table(self) {
        sqlx::query(sqlx::AssertSqlSafe(format!("drop table {}", self.name)))
            .execute(&self.pool)
            .await
            .unwrap();
    }
}

fn sql(text: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(text)
}

/// Collects everything a tracing subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// How often a task's body ran, and how often it came back `Ok`.
#[derive(Default)]
struct Counts {
    runs: AtomicU32,
    finished: AtomicU32,
}

impl Counts {
    fn runs(&self) -> u32 {
        self.runs.load(Ordering::SeqCst)
    }
    fn finished(&self) -> u32 {
        self.finished.load(Ordering::SeqCst)
    }
}

/// Two SERIALIZABLE transactions read the same row, meet at a barrier, then both update
/// it: the second update waits for the first transaction, which commits, and then fails
/// with 40001 ("could not serialize access due to concurrent update"). The helper runs
/// that transaction again, and both increments land.
#[tokio::test]
async fn a_conflict_in_a_statement_is_retried_and_both_succeed() {
    // One runtime thread: the spawned transactions log to this subscriber.
    let logs = Captured::default();
    let writer = logs.clone();
    let _guard = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::INFO)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .set_default();
    let bed = Testbed::load();
    let pool = pool(&bed).await;
    let table = Table::new(&pool, "statement", 1).await;
    let barrier = Arc::new(Barrier::new(2));
    let counts = Arc::new(Counts::default());

    let increment = |pool: PgPool| {
        let (barrier, counts, name) = (barrier.clone(), counts.clone(), table.name.clone());
        tokio::spawn(async move {
            TransactionRetry::new()
                .run_with(&pool, SERIALIZABLE, |tx| {
                    let (barrier, counts, name) = (barrier.clone(), counts.clone(), name.clone());
                    let first = counts.runs.fetch_add(1, Ordering::SeqCst) < 2;
                    Box::pin(async move {
                        let n: i32 =
                            sqlx::query_scalar(sql(format!("select n from {name} where id = 1")))
                                .fetch_one(&mut **tx)
                                .await?;
                        if first {
                            barrier.wait().await;
                        }
                        sqlx::query(sql(format!("update {name} set n = $1 where id = 1")))
                            .bind(n + 1)
                            .execute(&mut **tx)
                            .await?;
                        counts.finished.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, sqlx::Error>(n + 1)
                    })
                })
                .await
        })
    };
    let a = increment(pool.clone());
    let b = increment(pool.clone());
    let mut results = [a.await.unwrap().unwrap(), b.await.unwrap().unwrap()];
    results.sort_unstable();

    assert_eq!(results, [1, 2], "each saw the other's increment or none");
    assert_eq!(table.values().await, [2]);
    assert_eq!(counts.runs(), 3, "one transaction ran twice");
    assert_eq!(
        counts.finished(),
        2,
        "the retried attempt failed inside the body (at the UPDATE)"
    );
    let logs = logs.text();
    let retries: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("running the transaction again"))
        .collect();
    assert_eq!(retries.len(), 1, "one event per retry: {logs}");
    assert!(
        retries[0].contains(" INFO ")
            && retries[0].contains("attempt=1")
            && retries[0].contains("max_attempts=5")
            && retries[0].contains("could not serialize access"),
        "{}",
        retries[0]
    );
    table.drop_table().await;
    pool.close().await;
}

/// Write skew: each SERIALIZABLE transaction reads both rows and updates a different one;
/// no row lock conflicts, both bodies finish, and the second COMMIT fails with 40001
/// ("could not serialize access due to read/write dependencies"). The helper retries
/// from the COMMIT failure.
#[tokio::test]
async fn a_conflict_at_commit_is_retried_and_both_succeed() {
    let bed = Testbed::load();
    let pool = pool(&bed).await;
    let table = Table::new(&pool, "commit", 2).await;
    let read = Arc::new(Barrier::new(2));
    let written = Arc::new(Barrier::new(2));
    let counts = Arc::new(Counts::default());

    let write_skew = |pool: PgPool, row: i32| {
        let (read, written, counts, name) = (
            read.clone(),
            written.clone(),
            counts.clone(),
            table.name.clone(),
        );
        tokio::spawn(async move {
            TransactionRetry::new()
                .run_with(&pool, SERIALIZABLE, |tx| {
                    let (read, written, counts, name) =
                        (read.clone(), written.clone(), counts.clone(), name.clone());
                    let first = counts.runs.fetch_add(1, Ordering::SeqCst) < 2;
                    Box::pin(async move {
                        let total: i64 =
                            sqlx::query_scalar(sql(format!("select sum(n) from {name}")))
                                .fetch_one(&mut **tx)
                                .await?;
                        if first {
                            read.wait().await;
                        }
                        sqlx::query(sql(format!("update {name} set n = $1 where id = $2")))
                            .bind(i32::try_from(total).unwrap() + 1)
                            .bind(row)
                            .execute(&mut **tx)
                            .await?;
                        if first {
                            // Both have written before either commits.
                            written.wait().await;
                        }
                        counts.finished.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, sqlx::Error>(())
                    })
                })
                .await
        })
    };
    let a = write_skew(pool.clone(), 1);
    let b = write_skew(pool.clone(), 2);
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();

    // Serial outcomes only: one wrote 1 from an empty sum, the other 2 after seeing it.
    let mut values = table.values().await;
    values.sort_unstable();
    assert_eq!(values, [1, 2]);
    assert!(counts.runs() >= 3, "no transaction was retried");
    assert_eq!(
        counts.finished(),
        counts.runs(),
        "every body finished, so the retries came from COMMIT"
    );
    table.drop_table().await;
    pool.close().await;
}

/// A unique violation (23505) is not a serialization failure: returned after one run.
#[tokio::test]
async fn a_non_retryable_error_is_returned_after_one_attempt() {
    let bed = Testbed::load();
    let pool = pool(&bed).await;
    let table = Table::new(&pool, "unique", 1).await;
    let runs = AtomicU32::new(0);

    let err = TransactionRetry::new()
        .run(&pool, |tx| {
            runs.fetch_add(1, Ordering::SeqCst);
            let name = table.name.clone();
            Box::pin(async move {
                sqlx::query(sql(format!("update {name} set n = 7 where id = 1")))
                    .execute(&mut **tx)
                    .await?;
                sqlx::query(sql(format!("insert into {name} (id, n) values (1, 0)")))
                    .execute(&mut **tx)
                    .await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .await
        .unwrap_err();

    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let sqlx_err = err.as_sqlx_error().expect("a sqlx error");
    let code = match sqlx_err {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        other => panic!("not a database error: {other}"),
    };
    assert_eq!(code.as_deref(), Some("23505"), "{err}");
    assert!(!is_serialization_failure(sqlx_err));
    assert_eq!(table.values().await, [0], "the transaction was rolled back");
    table.drop_table().await;
    pool.close().await;
}

/// Cancellation: a `run` dropped while its body holds a row lock (as a timeout around it
/// would) leaves no transaction open: the row lock is released for another pool's
/// connection, the update is gone, and the pool's one connection is out of the
/// transaction.
#[tokio::test]
async fn a_cancelled_run_leaves_no_transaction_open() {
    let bed = Testbed::load();
    let one = PgPoolOptions::new()
        .max_connections(1)
        .iam_auth(auth(&bed))
        .connect(&format!(
            "postgres://{}@{}:{}/{}",
            bed.iam_user,
            bed.host(Engine::Postgres),
            bed.port(Engine::Postgres),
            bed.database
        ))
        .await
        .expect("IAM pool connects");
    let other = pool(&bed).await;
    let table = Table::new(&other, "cancelled", 1).await;
    let (locked_tx, locked) = oneshot::channel::<()>();
    let mut locked_tx = Some(locked_tx);

    // (A future of its own, kept across the select: `run` takes the settings by value.)
    let run = TransactionRetry::new().run(&one, |tx| {
        let name = table.name.clone();
        let locked_tx = locked_tx.take();
        Box::pin(async move {
            sqlx::query(sql(format!("update {name} set n = 42 where id = 1")))
                .execute(&mut **tx)
                .await?;
            if let Some(locked_tx) = locked_tx {
                let _ = locked_tx.send(());
            }
            std::future::pending::<()>().await;
            Ok::<_, sqlx::Error>(())
        })
    });
    // Cancel the run as soon as its body holds the row lock.
    tokio::select! {
        _ = run => panic!("the body never returns"),
        _ = locked => {}
    }

    // Another connection gets the same row lock (sqlx rolls the dropped transaction back
    // as the connection returns to the pool, in a task of its own: a short wait, never a
    // lock held by an idle connection) and sees the update undone.
    let mut conn = other.acquire().await.unwrap();
    sqlx::query("begin").execute(&mut *conn).await.unwrap();
    sqlx::query("set local lock_timeout = '10s'")
        .execute(&mut *conn)
        .await
        .unwrap();
    let n: i32 = sqlx::query_scalar(sql(format!(
        "select n from {} where id = 1 for update",
        table.name
    )))
    .fetch_one(&mut *conn)
    .await
    .expect("the cancelled transaction released its row lock");
    assert_eq!(n, 0, "the cancelled update was rolled back");
    sqlx::query("rollback").execute(&mut *conn).await.unwrap();
    drop(conn);

    // The pool's one connection is free and not in a transaction: SAVEPOINT works only
    // inside one.
    let err = sqlx::query("savepoint probe")
        .execute(&one)
        .await
        .expect_err("the connection is still in a transaction");
    let code = match &err {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        other => panic!("{other}"),
    };
    assert_eq!(code.as_deref(), Some("25P01"), "{err}");
    one.close().await;
    table.drop_table().await;
    other.close().await;
}

/// The caller's own error type: a business error inside it is returned at once; a
/// serialization failure inside it is retried.
#[derive(Debug)]
enum AppError {
    Db { attempt: u32, source: sqlx::Error },
    OutOfStock,
}

impl From<sqlx::Error> for AppError {
    fn from(source: sqlx::Error) -> Self {
        AppError::Db { attempt: 0, source }
    }
}

impl RetryableError for AppError {
    fn as_sqlx_error(&self) -> Option<&sqlx::Error> {
        match self {
            AppError::Db { source, .. } => Some(source),
            AppError::OutOfStock => None,
        }
    }
}

/// Every attempt reads the row, then an adversary (another connection, in autocommit)
/// updates it, then the attempt updates it too: 40001 every time. With 3 attempts the
/// helper gives up and returns the error of the third.
#[tokio::test]
async fn attempts_exhausted_return_the_last_serialization_failure() {
    let bed = Testbed::load();
    let pool = pool(&bed).await;
    let table = Table::new(&pool, "exhausted", 1).await;

    // The adversary: on each request, increments the row and answers when committed.
    let (to_adversary, mut requests) = mpsc::channel::<oneshot::Sender<()>>(1);
    let adversary = {
        let (pool, name) = (pool.clone(), table.name.clone());
        tokio::spawn(async move {
            while let Some(done) = requests.recv().await {
                sqlx::query(sql(format!("update {name} set n = n + 100 where id = 1")))
                    .execute(&pool)
                    .await
                    .unwrap();
                let _ = done.send(());
            }
        })
    };

    let runs = AtomicU32::new(0);
    let err = TransactionRetry::new()
        .max_attempts(3)
        .run_with(&pool, SERIALIZABLE, |tx| {
            let attempt = runs.fetch_add(1, Ordering::SeqCst) + 1;
            let (name, to_adversary) = (table.name.clone(), to_adversary.clone());
            Box::pin(async move {
                let tag = |source| AppError::Db { attempt, source };
                let n: i32 = sqlx::query_scalar(sql(format!("select n from {name} where id = 1")))
                    .fetch_one(&mut **tx)
                    .await
                    .map_err(tag)?;
                let (done, committed) = oneshot::channel();
                to_adversary.send(done).await.unwrap();
                committed.await.unwrap();
                sqlx::query(sql(format!("update {name} set n = $1 where id = 1")))
                    .bind(n + 1)
                    .execute(&mut **tx)
                    .await
                    .map_err(tag)?;
                Ok::<_, AppError>(())
            })
        })
        .await
        .unwrap_err();

    assert_eq!(runs.load(Ordering::SeqCst), 3);
    match &err {
        AppError::Db { attempt, source } => {
            assert_eq!(*attempt, 3, "the error of the last attempt");
            assert!(is_serialization_failure(source), "{source}");
        }
        AppError::OutOfStock => panic!("{err:?}"),
    }
    assert_eq!(
        table.values().await,
        [300],
        "only the adversary's updates landed"
    );
    drop(to_adversary);
    adversary.await.unwrap();
    table.drop_table().await;
    pool.close().await;
}

#[tokio::test]
async fn the_callers_own_error_is_returned_at_once() {
    let bed = Testbed::load();
    let pool = pool(&bed).await;
    let table = Table::new(&pool, "own_error", 1).await;
    let runs = AtomicU32::new(0);

    let err = TransactionRetry::new()
        .run(&pool, |tx| {
            runs.fetch_add(1, Ordering::SeqCst);
            let name = table.name.clone();
            Box::pin(async move {
                sqlx::query(sql(format!("update {name} set n = n - 1 where id = 1")))
                    .execute(&mut **tx)
                    .await?;
                let n: i32 = sqlx::query_scalar(sql(format!("select n from {name} where id = 1")))
                    .fetch_one(&mut **tx)
                    .await?;
                if n < 0 {
                    return Err(AppError::OutOfStock);
                }
                Ok(())
            })
        })
        .await
        .unwrap_err();

    assert!(matches!(err, AppError::OutOfStock), "{err:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(table.values().await, [0], "the transaction was rolled back");
    table.drop_table().await;
    pool.close().await;
}

/// Not tied to PostgreSQL: on MariaDB, two transactions that lock two rows in opposite
/// orders deadlock; InnoDB rolls one back with 1213 / SQLSTATE 40001, and the helper runs
/// it again.
#[tokio::test]
async fn a_mysql_deadlock_is_retried_and_both_succeed() {
    let bed = Testbed::load();
    let pool: MySqlPool = MySqlPoolOptions::new()
        .max_connections(4)
        .iam_auth(auth(&bed))
        .connect(&format!(
            "mysql://{}@{}:{}/{}",
            bed.iam_user,
            bed.host(Engine::MySql),
            bed.port(Engine::MySql),
            bed.database
        ))
        .await
        .expect("IAM pool connects");
    let table = format!("retry_deadlock_{}", std::process::id());
    for statement in [
        format!("drop table if exists {table}"),
        format!("create table {table} (id int primary key, n int not null) engine = InnoDB"),
        format!("insert into {table} values (1, 0), (2, 0)"),
    ] {
        sqlx::query(sql(statement)).execute(&pool).await.unwrap();
    }
    let locked = Arc::new(Barrier::new(2));
    let counts = Arc::new(Counts::default());

    // Each locks its first row, waits until the other has too, then takes the other row.
    let cross = |pool: MySqlPool, first_row: i32| {
        let (locked, counts, table) = (locked.clone(), counts.clone(), table.clone());
        tokio::spawn(async move {
            TransactionRetry::new()
                .run(&pool, |tx| {
                    let (locked, counts, table) = (locked.clone(), counts.clone(), table.clone());
                    let first = counts.runs.fetch_add(1, Ordering::SeqCst) < 2;
                    Box::pin(async move {
                        for (step, row) in [first_row, 3 - first_row].into_iter().enumerate() {
                            sqlx::query(sql(format!("update {table} set n = n + 1 where id = ?")))
                                .bind(row)
                                .execute(&mut **tx)
                                .await?;
                            if step == 0 && first {
                                locked.wait().await;
                            }
                        }
                        counts.finished.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, sqlx::Error>(())
                    })
                })
                .await
        })
    };
    let a = cross(pool.clone(), 1);
    let b = cross(pool.clone(), 2);
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();

    let values: Vec<i32> = sqlx::query_scalar(sql(format!("select n from {table} order by id")))
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(values, [2, 2], "both transactions landed once");
    assert_eq!(counts.runs(), 3, "the deadlock victim ran twice");
    assert_eq!(counts.finished(), 2);
    sqlx::query(sql(format!("drop table {table}")))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}
