//! `sqlx-rds-iam` pools against the test bed's Aurora DSQL look-alike (tests/rds-emulator:
//! its own PostgreSQL cluster, TLS only, a certificate for the DSQL endpoint name, and a
//! verifier that checks tokens the way DSQL does: service `dsql`, host without port,
//! `DbConnectAdmin` for `admin` only, `DbConnect` for other roles).

use std::time::Duration;

use aws_credential_types::Credentials;
use integration_tests::{AwsKey, Testbed, VerifierLog};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};
use sqlx_rds_iam::{ErrorKind, IamAuth, IamAuthExt, TransactionRetry};

/// The DSQL look-alike, from the bed's env file (`RDS_TESTBED_DSQL_*`).
struct Dsql {
    endpoint: String,
    port: u16,
    /// The non-admin role (`DbConnect` tokens).
    role: String,
}

impl Dsql {
    fn load(bed: &Testbed) -> Dsql {
        let text = std::fs::read_to_string(&bed.env_file).expect("the bed's env file");
        let get = |key: &str| {
            text.lines()
                .filter_map(|line| line.trim().split_once('='))
                .find(|(k, _)| k.trim() == key)
                .map(|(_, v)| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| {
                    panic!(
                        "{}: {key} is missing; the DSQL look-alike comes with \
                         `sudo tests/rds-emulator/setup`",
                        bed.env_file.display()
                    )
                })
        };
        Dsql {
            endpoint: get("RDS_TESTBED_DSQL_ENDPOINT"),
            port: get("RDS_TESTBED_DSQL_PORT").parse().expect("a port"),
            role: get("RDS_TESTBED_DSQL_ROLE"),
        }
    }

    fn url(&self, role: &str) -> String {
        format!("postgres://{role}@{}:{}/postgres", self.endpoint, self.port)
    }
}

fn credentials(key: &AwsKey) -> Credentials {
    Credentials::new(
        key.access_key_id.clone(),
        key.secret_access_key.clone(),
        key.session_token.clone(),
        None,
        "test-bed",
    )
}

/// The bed's CA (it signed the look-alike's certificate) and nothing else: no region.
fn auth(bed: &Testbed, key: &AwsKey) -> IamAuth {
    IamAuth::from_credentials_provider(credentials(key))
        .add_root_certificates_file(&bed.ca_file)
        .expect("test CA")
}

async fn whoami_over_tls(pool: &PgPool) -> (String, bool) {
    let row =
        sqlx::query("select current_user::text, ssl from pg_stat_ssl where pid = pg_backend_pid()")
            .fetch_one(pool)
            .await
            .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn admin_and_another_role_connect_with_the_endpoint_name_alone() {
    let bed = Testbed::load();
    let dsql = Dsql::load(&bed);
    let log = VerifierLog::open(&bed);
    for role in ["admin", dsql.role.as_str()] {
        let mark = log.mark();
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .iam_auth(auth(&bed, &bed.temp_key))
            .connect(&dsql.url(role))
            .await
            .unwrap_or_else(|err| panic!("{role}: {err}"));
        assert_eq!(whoami_over_tls(&pool).await, (role.to_owned(), true));
        pool.close().await;

        let accepted = log.wait_for(mark, Duration::from_secs(5), |e| {
            e.verdict && e.user == role && e.service == "rds-iam-dsql"
        });
        assert!(
            accepted.is_some(),
            "the DSQL verifier did not accept a token for {role}: {:?}",
            log.entries_since(mark)
        );
    }
}

#[tokio::test]
async fn another_name_is_dsql_when_told() {
    let bed = Testbed::load();
    let dsql = Dsql::load(&bed);
    // localhost is in the look-alike's certificate and its verifier's host list, but
    // not a DSQL name: `dsql()` says what it is, `region` where.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .iam_auth(
            auth(&bed, &bed.access_key)
                .dsql()
                .region(bed.region.clone()),
        )
        .connect(&format!(
            "postgres://{}@localhost:{}/postgres",
            dsql.role, dsql.port
        ))
        .await
        .expect("a DSQL pool on localhost");
    assert_eq!(whoami_over_tls(&pool).await, (dsql.role.clone(), true));
    pool.close().await;

    // Without it, the adapter signs an rds-db token for localhost, which DSQL refuses;
    // the advice is then RDS's, as the adapter cannot know better.
    let err = PgPoolOptions::new()
        .max_connections(1)
        .iam_auth(auth(&bed, &bed.access_key).region(bed.region.clone()))
        .connect(&format!(
            "postgres://{}@localhost:{}/postgres",
            dsql.role, dsql.port
        ))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TokenRefused, "{err}");
}

/// Tokens the adapter never signs, presented as a plain password: `DbConnect` for
/// `admin`, `DbConnectAdmin` for another role, and an `rds-db` token are refused at
/// login, before any query, for the reason the verifier logs; the right action for each
/// role, signed the same way, logs in (so the refusals are the action's doing).
#[tokio::test]
async fn the_wrong_action_for_the_role_and_rds_tokens_are_refused_at_login() {
    use rds_iam_token::AuthTokenSigner;
    use sqlx::postgres::{PgConnectOptions, PgSslMode};
    use sqlx::{ConnectOptions, Connection};

    let bed = Testbed::load();
    let dsql = Dsql::load(&bed);
    let log = VerifierLog::open(&bed);
    let role = dsql.role.as_str();
    let endpoint = dsql.endpoint.as_str();
    let cases = [
        ("admin", AuthTokenSigner::dsql(endpoint), false),
        (role, AuthTokenSigner::dsql_admin(endpoint), false),
        (role, AuthTokenSigner::rds(endpoint, dsql.port, role), false),
        ("admin", AuthTokenSigner::dsql_admin(endpoint), true),
        (role, AuthTokenSigner::dsql(endpoint), true),
    ];
    for (user, builder, accepted) in cases {
        let token = builder
            .region(bed.region.clone())
            .credentials_provider(credentials(&bed.access_key))
            .build()
            .unwrap()
            .sign()
            .await
            .unwrap();
        let described = token
            .expose()
            .split('&')
            .next()
            .unwrap_or_default()
            .to_owned();
        let mark = log.mark();
        let connected = PgConnectOptions::new()
            .host(endpoint)
            .port(dsql.port)
            .username(user)
            .database("postgres")
            .password(token.expose())
            .ssl_mode(PgSslMode::VerifyFull)
            .ssl_root_cert(&bed.ca_file)
            .connect()
            .await;
        // This token's entry (other tests log in as the same roles at the same time).
        let fingerprint = integration_tests::fingerprint(token.expose());
        let entry = log
            .wait_for(mark, Duration::from_secs(5), |e| {
                e.user == user && e.fingerprint.as_deref() == Some(fingerprint.as_str())
            })
            .unwrap_or_else(|| panic!("{user} {described}: no verifier entry"));
        assert_eq!(entry.verdict, accepted, "{user} {described}: {entry:?}");
        match connected {
            Ok(conn) => {
                assert!(accepted, "{user} {described} logged in");
                conn.close().await.unwrap();
            }
            Err(err) => {
                assert!(!accepted, "{user} {described}: {err}");
                assert!(
                    matches!(entry.reason.as_str(), "action" | "service"),
                    "{user} {described}: refused for {:?}, not the action",
                    entry.reason
                );
            }
        }
    }
}

/// A refused token names what DSQL checks, and gives no RDS advice.
#[tokio::test]
async fn refusals_name_what_dsql_checks() {
    let bed = Testbed::load();
    let dsql = Dsql::load(&bed);
    let stranger = AwsKey {
        access_key_id: "AKIAUNKNOWNDSQLROLE1".to_owned(),
        secret_access_key: "not-a-known-secret-key-at-all-000000000".to_owned(),
        session_token: None,
    };
    // A key the bed does not know, for each role; a role that does not exist (its token
    // passes, the server has no such role).
    for (role, key, action) in [
        (dsql.role.as_str(), &stranger, "`dsql:DbConnect`"),
        ("admin", &stranger, "`dsql:DbConnectAdmin`"),
        ("no_such_role", &bed.access_key, "`dsql:DbConnect`"),
    ] {
        let err = PgPoolOptions::new()
            .max_connections(1)
            .iam_auth(auth(&bed, key))
            .connect(&dsql.url(role))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TokenRefused, "{role}: {err}");
        let message = err.to_string();
        for expected in [
            action,
            "arn:aws:dsql:us-east-1:ACCOUNT:cluster/abcdefghijklmnopqrstuvwxyz",
            &format!("signed for the cluster endpoint ({})", dsql.endpoint),
            "region (us-east-1)",
        ] {
            assert!(message.contains(expected), "{expected:?} not in {message}");
        }
        assert_eq!(
            message.contains(&format!("AWS IAM GRANT {role} TO")),
            role != "admin",
            "{message}"
        );
        for rds in ["rds_iam", "rds-db", "dbuser", "AWSAuthenticationPlugin"] {
            assert!(!message.contains(rds), "{rds:?} in {message}");
        }
        assert!(!message.contains("X-Amz-Signature"), "{message}");
    }
}

/// DSQL's certificate is not from the RDS CAs nor any public root: without the bed's CA
/// the handshake fails, and the hint speaks of DSQL's roots.
#[tokio::test]
async fn an_unknown_ca_is_a_tls_error_with_dsql_advice() {
    let bed = Testbed::load();
    let dsql = Dsql::load(&bed);
    let err = PgPoolOptions::new()
        .max_connections(1)
        .iam_auth(IamAuth::from_credentials_provider(credentials(
            &bed.access_key,
        )))
        .connect(&dsql.url("admin"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    let message = err.to_string();
    assert!(
        message.contains("Amazon roots") && message.contains("add_root_certificates_file"),
        "{message}"
    );
    assert!(!message.contains("RDS"), "{message}");
}

#[tokio::test]
async fn max_lifetime_stays_under_dsqls_hour() {
    let bed = Testbed::load();
    let dsql = Dsql::load(&bed);
    for (requested, expected) in [
        (None, Duration::from_secs(55 * 60)),
        (
            Some(Duration::from_secs(3 * 3600)),
            Duration::from_secs(55 * 60),
        ),
        (
            Some(Duration::from_secs(20 * 60)),
            Duration::from_secs(20 * 60),
        ),
    ] {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(requested)
            .iam_auth(auth(&bed, &bed.access_key))
            .connect(&dsql.url("admin"))
            .await
            .unwrap();
        assert_eq!(pool.options().get_max_lifetime(), Some(expected));
        pool.close().await;
    }
}

/// Repeatable read, DSQL's isolation level: two transactions that read and update the
/// same row; the second to write fails with 40001 and runs again.
#[tokio::test]
async fn conflicting_transactions_are_retried_on_the_dsql_look_alike() {
    let bed = Testbed::load();
    let dsql = Dsql::load(&bed);
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .iam_auth(auth(&bed, &bed.access_key))
        .connect(&dsql.url(&dsql.role))
        .await
        .unwrap();
    let table = format!("dsql_retry_{}", std::process::id());
    for statement in [
        format!("drop table if exists {table}"),
        format!("create table {table} (id int primary key, n int not null)"),
        format!("insert into {table} values (1, 0)"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&pool)
            .await
            .unwrap();
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let (pool, barrier, runs, table) =
                (pool.clone(), barrier.clone(), runs.clone(), table.clone());
            tokio::spawn(async move {
                TransactionRetry::new()
                    .run_with(&pool, "BEGIN ISOLATION LEVEL REPEATABLE READ", |tx| {
                        let (barrier, table) = (barrier.clone(), table.clone());
                        let first = runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2;
                        Box::pin(async move {
                            let n: i32 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                                "select n from {table} where id = 1"
                            )))
                            .fetch_one(&mut **tx)
                            .await?;
                            if first {
                                barrier.wait().await;
                            }
                            sqlx::query(sqlx::AssertSqlSafe(format!(
                                "update {table} set n = $1 where id = 1"
                            )))
                            .bind(n + 1)
                            .execute(&mut **tx)
                            .await?;
                            Ok::<_, sqlx::Error>(())
                        })
                    })
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let n: i32 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "select n from {table} where id = 1"
    )))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(n, 2);
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 3);
    sqlx::query(sqlx::AssertSqlSafe(format!("drop table {table}")))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}
