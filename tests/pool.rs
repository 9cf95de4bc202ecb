//! `sqlx-rds-iam` pools against the test bed's PostgreSQL and MariaDB, which check every
//! token the way RDS does (tests/rds-emulator).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, error::CredentialsError, future};
use integration_tests::{AwsKey, Engine, Testbed, VerifierEntry, VerifierLog};
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::pool::PoolOptions;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, Database, MySql, Pool, Postgres, Row};
use sqlx_rds_iam::{ErrorKind, IamAuth, IamAuthExt, IamDatabase};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn credentials(key: &AwsKey) -> Credentials {
    Credentials::new(
        key.access_key_id.clone(),
        key.secret_access_key.clone(),
        key.session_token.clone(),
        None,
        "test-bed",
    )
}

/// IAM settings that trust the test bed's CA; no region, as on AWS: it comes from the
/// endpoint name.
fn iam(bed: &Testbed, provider: impl ProvideCredentials + 'static) -> IamAuth {
    IamAuth::from_credentials_provider(provider)
        .add_root_certificates_file(&bed.ca_file)
        .expect("test CA")
}

/// [`iam`] with the bed's region set explicitly, for names that carry none
/// (`localhost`, addresses).
fn iam_with_region(bed: &Testbed, provider: impl ProvideCredentials + 'static) -> IamAuth {
    iam(bed, provider).region(bed.region.clone())
}

/// `engine`'s URL for `user` at its instance endpoint name.
fn url(bed: &Testbed, engine: Engine, user: &str) -> String {
    url_at(bed, engine, user, bed.endpoint(engine))
}

fn url_at(bed: &Testbed, engine: Engine, user: &str, host: &str) -> String {
    let scheme = match engine {
        Engine::Postgres => "postgres",
        Engine::MySql => "mysql",
    };
    format!(
        "{scheme}://{user}@{host}:{}/{}",
        bed.port(engine),
        bed.database
    )
}

fn accepted_fingerprints(
    entries: &[VerifierEntry],
    engine: Engine,
    user: &str,
) -> BTreeSet<String> {
    entries
        .iter()
        .filter(|e| e.verdict && e.user == user && e.engine() == Some(engine))
        .filter_map(|e| e.fingerprint.clone())
        .collect()
}

/// A key the verifier has never heard of: any token signed with it is refused, and its id
/// marks every log line it causes, so a test can tell whether a token reached the server.
fn unknown_key(tag: &str) -> AwsKey {
    AwsKey {
        access_key_id: format!("AKIAUNKNOWN{tag}"),
        secret_access_key: "not-a-known-secret-key-at-all-000000000".to_owned(),
        session_token: None,
    }
}

/// A credentials provider the test steers: it can switch keys or fail, and counts calls.
#[derive(Debug, Clone)]
struct SteeredProvider {
    state: Arc<Mutex<Option<Credentials>>>,
    calls: Arc<AtomicUsize>,
}

impl SteeredProvider {
    fn new(key: &AwsKey) -> Self {
        Self {
            state: Arc::new(Mutex::new(Some(credentials(key)))),
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }
    fn switch_to(&self, key: &AwsKey) {
        *self.state.lock().unwrap() = Some(credentials(key));
    }
    fn fail(&self) {
        *self.state.lock().unwrap() = None;
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl ProvideCredentials for SteeredProvider {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let state = self.state.lock().unwrap().clone();
        future::ProvideCredentials::ready(
            state.ok_or_else(|| CredentialsError::provider_error("metadata endpoint is down")),
        )
    }
}

/// Opens a new physical connection, checks it works, and closes it for good, so that the
/// next acquire has to open another one.
async fn open_fresh<DB: Database>(pool: &Pool<DB>) -> Result<(), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    conn.ping().await?;
    conn.close_on_drop();
    Ok(())
}

/// A loopback TCP forwarder to `target`, listening on `listen_ip`. With
/// `strip_mysql_tls`, it clears the CLIENT_SSL capability in the MySQL server greeting:
/// the client then sees a server that offers no TLS.
async fn forwarder(listen_ip: &str, target: SocketAddr, strip_mysql_tls: bool) -> SocketAddr {
    let listener = TcpListener::bind((listen_ip, 0))
        .await
        .expect("bind forwarder");
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(target).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let upstream = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                });
                if strip_mysql_tls {
                    let mut header = [0u8; 4];
                    if server_read.read_exact(&mut header).await.is_err() {
                        return;
                    }
                    let len = usize::from(header[0])
                        | usize::from(header[1]) << 8
                        | usize::from(header[2]) << 16;
                    let mut greeting = vec![0u8; len];
                    if server_read.read_exact(&mut greeting).await.is_err() {
                        return;
                    }
                    // protocol version, NUL-terminated server version, thread id (4),
                    // auth data part 1 (8), filler (1), then capability flags (low 2 bytes).
                    if let Some(nul) = greeting.iter().skip(1).position(|b| *b == 0) {
                        let caps = 1 + nul + 1 + 4 + 8 + 1;
                        if caps + 1 < greeting.len() {
                            greeting[caps + 1] &= !0x08; // CLIENT_SSL = 0x0800
                        }
                    }
                    let _ = client_write.write_all(&header).await;
                    let _ = client_write.write_all(&greeting).await;
                }
                let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                upstream.abort();
            });
        }
    });
    addr
}

fn server_addr(bed: &Testbed, engine: Engine) -> SocketAddr {
    format!("127.0.0.1:{}", bed.port(engine)).parse().unwrap()
}

// ---------------------------------------------------------------------------------------
// A pool connects over verified TLS
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn postgres_pool_queries_over_verified_tls() {
    let bed = Testbed::load();
    let log = VerifierLog::open(&bed);
    let mark = log.mark();
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .iam_auth(iam(&bed, credentials(&bed.temp_key)))
        .connect(&url(&bed, Engine::Postgres, &bed.iam_user))
        .await
        .expect("IAM pool connects");

    let row = sqlx::query(
        "select ssl, version, current_user::text from pg_stat_ssl where pid = pg_backend_pid()",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        row.get::<bool, _>("ssl"),
        "the server says the session is not encrypted"
    );
    assert!(row.get::<String, _>("version").starts_with("TLSv1."));
    assert_eq!(row.get::<String, _>("current_user"), bed.iam_user);

    let entries = log.entries_since(mark);
    assert!(
        entries.iter().any(|e| e.verdict
            && e.engine() == Some(Engine::Postgres)
            && e.key_id.as_deref() == Some(bed.temp_key.access_key_id.as_str())),
        "the verifier did not accept a token signed with the temporary key: {entries:?}"
    );
    pool.close().await;
}

#[tokio::test]
async fn mysql_pool_queries_over_verified_tls() {
    let bed = Testbed::load();
    let pool = MySqlPoolOptions::new()
        .max_connections(2)
        .iam_auth(iam(&bed, credentials(&bed.temp_key)))
        .connect(&url(&bed, Engine::MySql, &bed.iam_user))
        .await
        .expect("IAM pool connects");

    let cipher: (String, String) = sqlx::query_as("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        !cipher.1.is_empty(),
        "the server says the session is not encrypted"
    );
    let user: String = sqlx::query_scalar("select current_user()")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(user.starts_with(&format!("{}@", bed.iam_user)), "{user}");
    pool.close().await;
}

/// Opens a one-connection IAM pool on `url` and returns `select 42` through it.
async fn select_42(engine: Engine, auth: IamAuth, url: &str) -> i64 {
    match engine {
        Engine::Postgres => {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .iam_auth(auth)
                .connect(url)
                .await
                .unwrap_or_else(|err| panic!("{url}: {err}"));
            let answer = sqlx::query_scalar("select 42::bigint")
                .fetch_one(&pool)
                .await;
            pool.close().await;
            answer.unwrap()
        }
        Engine::MySql => {
            let pool = MySqlPoolOptions::new()
                .max_connections(1)
                .iam_auth(auth)
                .connect(url)
                .await
                .unwrap_or_else(|err| panic!("{url}: {err}"));
            let answer = sqlx::query_scalar("select 42").fetch_one(&pool).await;
            pool.close().await;
            answer.unwrap()
        }
    }
}

/// Host names are case-insensitive: a URL that spells the bed's endpoint name in capitals
/// (`RDSIAM-PG.C0FFEE123456.US-EAST-1.RDS.AMAZONAWS.COM`, as a user may copy it) connects
/// on both engines with no region set, the region read from the name and the token signed
/// for the lowercase name (the bed refuses any other spelling), TLS verified against it;
/// and so does `LoCaLhOsT` with the region given.
#[tokio::test]
async fn a_capitalised_spelling_of_the_host_connects() {
    let bed = Testbed::load();
    for engine in [Engine::Postgres, Engine::MySql] {
        let localhost: String = bed
            .host(engine)
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
        let endpoint = bed.endpoint(engine).to_ascii_uppercase();
        for (host, auth) in [
            (endpoint, iam(&bed, credentials(&bed.access_key))),
            (
                localhost,
                iam_with_region(&bed, credentials(&bed.access_key)),
            ),
        ] {
            assert_ne!(host, host.to_ascii_lowercase(), "letters to capitalise");
            let url = url_at(&bed, engine, &bed.iam_user, &host);
            // The bed refuses a token whose text names the host in capitals (and the pool
            // does not retry a refused token), so getting an answer proves the token was
            // signed and written for the lowercase name. (The verifier log is shared by
            // parallel tests and does not say which host a token named.)
            let answer = select_42(engine, auth, &url).await;
            assert_eq!(answer, 42, "{url}");
        }
    }
}

/// Every name of a server (cluster, reader, proxy-style, and the GovCloud and China ones
/// whose region is not us-east-1) connects with no region set: the adapter reads it from
/// the name, and the bed refuses a token signed for any other region or name, so an
/// answer proves both.
#[tokio::test]
async fn every_endpoint_name_connects_with_the_region_from_the_name() {
    let bed = Testbed::load();
    for engine in Engine::ALL {
        for host in bed.endpoints(engine).all() {
            let url = url_at(&bed, engine, &bed.iam_user, host);
            let answer = select_42(engine, iam(&bed, credentials(&bed.access_key)), &url).await;
            assert_eq!(answer, 42, "{url}");
        }
    }
}

#[tokio::test]
async fn connect_with_options_and_lazy_pools_work_too() {
    let bed = Testbed::load();
    let pg_options = PgConnectOptions::new()
        .host(&bed.pg_endpoint)
        .port(bed.pg_port)
        .username(&bed.iam_user)
        .database(&bed.database);
    let pg = PgPoolOptions::new()
        .max_connections(1)
        .iam_auth(iam(&bed, credentials(&bed.access_key)))
        .connect_lazy_with(pg_options)
        .await
        .expect("lazy pool");
    assert_eq!(pg.size(), 0, "a lazy pool opens no connection");
    let one: i32 = sqlx::query_scalar("select 1").fetch_one(&pg).await.unwrap();
    assert_eq!(one, 1);
    pg.close().await;

    let my_options = MySqlConnectOptions::new()
        .host(&bed.mysql_endpoint)
        .port(bed.mysql_port)
        .username(&bed.iam_user)
        .database(&bed.database);
    let my = MySqlPoolOptions::new()
        .max_connections(1)
        .iam_auth(iam(&bed, credentials(&bed.access_key)))
        .connect_with(my_options)
        .await
        .expect("pool from connect options");
    let one: i64 = sqlx::query_scalar("select 1").fetch_one(&my).await.unwrap();
    assert_eq!(one, 1);
    my.close().await;
}

#[tokio::test]
async fn user_pool_settings_and_callbacks_are_kept() {
    let bed = Testbed::load();
    let after_connect_calls = Arc::new(AtomicUsize::new(0));
    let counter = after_connect_calls.clone();
    let pool = PgPoolOptions::new()
        .max_connections(3)
        .min_connections(0)
        .after_connect(move |conn, _meta| {
            let counter = counter.clone();
            Box::pin(async move {
                counter.fetch_add(1, Ordering::SeqCst);
                sqlx::query("set application_name = 'kept-callback'")
                    .execute(conn)
                    .await?;
                Ok(())
            })
        })
        .iam_auth(iam(&bed, credentials(&bed.access_key)))
        .connect(&url(&bed, Engine::Postgres, &bed.iam_user))
        .await
        .unwrap();
    let name: String = sqlx::query_scalar("show application_name")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(name, "kept-callback");
    assert!(after_connect_calls.load(Ordering::SeqCst) >= 1);
    assert_eq!(pool.options().get_max_connections(), 3);
    pool.close().await;
}

// ---------------------------------------------------------------------------------------
// Fresh tokens for every new connection
// ---------------------------------------------------------------------------------------

/// The verifier accepts `iam_short`'s tokens for only 5 s; for three times that span a pool
/// keeps opening new physical connections, and every one must succeed with a new token.
async fn new_connections_always_carry_a_fresh_token<DB: IamDatabase>(engine: Engine) {
    let bed = Testbed::load();
    let log = VerifierLog::open(&bed);
    let mark = log.mark();
    let pool = PoolOptions::<DB>::new()
        .max_connections(1)
        .iam_auth(iam(&bed, credentials(&bed.access_key)).max_token_age(Duration::from_secs(2)))
        .connect(&url(&bed, engine, &bed.short_iam_user))
        .await
        .unwrap();
    let span = integration_tests::SHORT_MAX_AGE * 3;
    let started = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_millis(250));
    let mut connections = 0;
    while started.elapsed() < span {
        ticks.tick().await;
        open_fresh(&pool).await.unwrap_or_else(|e| {
            panic!(
                "{engine:?}: connection {connections} failed after {:?}: {e}",
                started.elapsed()
            )
        });
        connections += 1;
    }
    pool.close().await;
    let tokens = accepted_fingerprints(&log.entries_since(mark), engine, &bed.short_iam_user);
    assert!(
        connections >= 30,
        "{engine:?}: only {connections} connections"
    );
    assert!(
        tokens.len() >= 6,
        "{engine:?}: expected a new token every second over {span:?}, the verifier saw {} \
         distinct tokens",
        tokens.len()
    );
}

#[tokio::test]
async fn postgres_new_connections_always_carry_a_fresh_token() {
    new_connections_always_carry_a_fresh_token::<Postgres>(Engine::Postgres).await;
}

#[tokio::test]
async fn mysql_new_connections_always_carry_a_fresh_token() {
    new_connections_always_carry_a_fresh_token::<MySql>(Engine::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_queries_on_a_cold_pool_of_twenty() {
    let bed = Testbed::load();
    for engine in Engine::ALL {
        let auth = iam(&bed, credentials(&bed.access_key));
        let results: Vec<Result<i64, sqlx::Error>> = match engine {
            Engine::Postgres => {
                let pool = PgPoolOptions::new()
                    .max_connections(20)
                    .acquire_timeout(Duration::from_secs(60))
                    .iam_auth(auth)
                    .connect_lazy(&url(&bed, engine, &bed.iam_user))
                    .await
                    .unwrap();
                let tasks: Vec<_> = (0..200)
                    .map(|i| {
                        let pool = pool.clone();
                        tokio::spawn(async move {
                            sqlx::query_scalar::<_, i64>("select $1::int8 from pg_sleep(0.02)")
                                .bind(i64::from(i))
                                .fetch_one(&pool)
                                .await
                        })
                    })
                    .collect();
                let mut results = Vec::new();
                for task in tasks {
                    results.push(task.await.unwrap());
                }
                assert!(pool.size() > 1, "the pool never grew");
                pool.close().await;
                results
            }
            Engine::MySql => {
                let pool = MySqlPoolOptions::new()
                    .max_connections(20)
                    .acquire_timeout(Duration::from_secs(60))
                    .iam_auth(auth)
                    .connect_lazy(&url(&bed, engine, &bed.iam_user))
                    .await
                    .unwrap();
                let tasks: Vec<_> = (0..200)
                    .map(|i| {
                        let pool = pool.clone();
                        tokio::spawn(async move {
                            sqlx::query_scalar::<_, i64>("select ? + 0 * sleep(0.02)")
                                .bind(i64::from(i))
                                .fetch_one(&pool)
                                .await
                        })
                    })
                    .collect();
                let mut results = Vec::new();
                for task in tasks {
                    results.push(task.await.unwrap());
                }
                assert!(pool.size() > 1, "the pool never grew");
                pool.close().await;
                results
            }
        };
        let failures: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        assert!(
            failures.is_empty(),
            "{engine:?}: {} failed: {:?}",
            failures.len(),
            failures.first()
        );
        let values: BTreeSet<i64> = results.into_iter().map(Result::unwrap).collect();
        assert_eq!(values.len(), 200, "{engine:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Credentials that rotate, and credentials that go away for a while
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn tokens_follow_rotated_keys() {
    let bed = Testbed::load();
    let log = VerifierLog::open(&bed);
    let provider = SteeredProvider::new(&bed.access_key);
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .iam_auth(iam(&bed, provider.clone()).max_token_age(Duration::from_secs(1)))
        .connect(&url(&bed, Engine::Postgres, &bed.other_iam_user))
        .await
        .unwrap();
    let mark = log.mark();
    provider.switch_to(&bed.rotated_key);
    // Within a few refresh periods the rotated key signs the tokens new connections use.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut ticks = tokio::time::interval(Duration::from_millis(200));
    let rotated = loop {
        ticks.tick().await;
        open_fresh(&pool)
            .await
            .expect("connections keep working across rotation");
        let entries = log.entries_since(mark);
        if let Some(entry) = entries.iter().find(|e| {
            e.verdict
                && e.user == bed.other_iam_user
                && e.key_id.as_deref() == Some(bed.rotated_key.access_key_id.as_str())
        }) {
            break entry.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no token signed with the rotated key: {entries:?}"
        );
    };
    assert_eq!(rotated.engine(), Some(Engine::Postgres));
    pool.close().await;
}

#[tokio::test]
async fn pool_rides_out_a_credentials_outage_and_recovers() {
    let bed = Testbed::load();
    let log = VerifierLog::open(&bed);
    let provider = SteeredProvider::new(&bed.access_key);
    let pool = MySqlPoolOptions::new()
        .max_connections(1)
        .iam_auth(iam(&bed, provider.clone()).max_token_age(Duration::from_secs(1)))
        .connect(&url(&bed, Engine::MySql, &bed.other_iam_user))
        .await
        .unwrap();

    provider.fail();
    let calls_at_outage = provider.calls();
    let outage = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_millis(200));
    // During the outage the last good token keeps new connections working, and signing
    // is retried.
    while outage.elapsed() < Duration::from_secs(3) {
        ticks.tick().await;
        open_fresh(&pool)
            .await
            .expect("the last good token keeps working while credentials are down");
    }
    assert!(
        provider.calls() >= calls_at_outage + 2,
        "signing was not retried during the outage"
    );

    let mark = log.mark();
    provider.switch_to(&bed.rotated_key);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        ticks.tick().await;
        open_fresh(&pool)
            .await
            .expect("connections work after recovery");
        let recovered = log.entries_since(mark).iter().any(|e| {
            e.verdict
                && e.user == bed.other_iam_user
                && e.key_id.as_deref() == Some(bed.rotated_key.access_key_id.as_str())
        });
        if recovered {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the pool did not pick up credentials again"
        );
    }
    pool.close().await;
}

#[tokio::test]
async fn closing_the_pool_stops_all_signing() {
    let bed = Testbed::load();
    let provider = SteeredProvider::new(&bed.access_key);
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .iam_auth(iam(&bed, provider.clone()).max_token_age(Duration::from_secs(1)))
        .connect_lazy(&url(&bed, Engine::Postgres, &bed.iam_user))
        .await
        .unwrap();
    // The refresh task signs (and so asks for credentials) every 500 ms while open.
    let before = provider.calls();
    let deadline = Instant::now() + Duration::from_secs(5);
    while provider.calls() < before + 2 {
        assert!(
            Instant::now() < deadline,
            "the pool never refreshed its token"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pool.close().await;
    let at_close = provider.calls();
    // Four refresh periods of silence.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        provider.calls(),
        at_close,
        "tokens were signed after pool.close()"
    );
}

// ---------------------------------------------------------------------------------------
// What must be refused
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_server_certificate_from_an_unknown_ca_is_refused_before_any_token_is_sent() {
    let bed = Testbed::load();
    let log = VerifierLog::open(&bed);
    let mark = log.mark();
    let key = unknown_key("WRONGCA00");
    // No test CA: only the RDS bundle (and webpki roots) are trusted.
    let auth = IamAuth::from_credentials_provider(credentials(&key));
    let err = PgPoolOptions::new()
        .iam_auth(auth.clone())
        .connect(&url(&bed, Engine::Postgres, &bed.iam_user))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(err.to_string().contains("add_root_certificates"), "{err}");
    let err = MySqlPoolOptions::new()
        .iam_auth(auth)
        .connect(&url(&bed, Engine::MySql, &bed.iam_user))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    let leaked: Vec<_> = log
        .entries_since(mark)
        .into_iter()
        .filter(|e| e.key_id.as_deref() == Some(key.access_key_id.as_str()))
        .collect();
    assert!(
        leaked.is_empty(),
        "the server received the token: {leaked:?}"
    );
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused_before_any_token_is_sent() {
    let bed = Testbed::load();
    let log = VerifierLog::open(&bed);
    let mark = log.mark();
    let key = unknown_key("WRONGNAME");
    for engine in Engine::ALL {
        // 127.0.0.2 reaches the same server, but its certificate names its endpoints,
        // localhost and 127.0.0.1 only.
        let addr = forwarder("127.0.0.2", server_addr(&bed, engine), false).await;
        let auth = iam(&bed, credentials(&key)).signing_host(bed.endpoint(engine).to_owned());
        let err = match engine {
            Engine::Postgres => PgPoolOptions::new()
                .iam_auth(auth)
                .connect_with(
                    PgConnectOptions::new()
                        .host(&addr.ip().to_string())
                        .port(addr.port())
                        .username(&bed.iam_user),
                )
                .await
                .unwrap_err(),
            Engine::MySql => MySqlPoolOptions::new()
                .iam_auth(auth)
                .connect_with(
                    MySqlConnectOptions::new()
                        .host(&addr.ip().to_string())
                        .port(addr.port())
                        .username(&bed.iam_user),
                )
                .await
                .unwrap_err(),
        };
        assert_eq!(err.kind(), ErrorKind::Tls, "{engine:?}: {err}");
        assert!(err.to_string().contains("does not match"), "{err}");
    }
    let leaked: Vec<_> = log
        .entries_since(mark)
        .into_iter()
        .filter(|e| e.key_id.as_deref() == Some(key.access_key_id.as_str()))
        .collect();
    assert!(
        leaked.is_empty(),
        "the server received the token: {leaked:?}"
    );
}

/// Issue 12 section 5, what works: a tunnel (here a loopback forwarder on another port)
/// reached through the endpoint name, which resolves to it (the bed's hosts block), with
/// `signing_port` naming the endpoint's port; verify-full against the name, no region and
/// no `signing_host`. Without `signing_port` the token names the tunnel's port and the
/// server refuses it, which shows the setting is what makes it work.
#[tokio::test]
async fn a_tunnel_reached_through_the_endpoint_name_works_with_verify_full() {
    let bed = Testbed::load();
    for engine in [Engine::Postgres, Engine::MySql] {
        let tunnel = forwarder("127.0.0.1", server_addr(&bed, engine), false).await;
        let scheme = match engine {
            Engine::Postgres => "postgres",
            Engine::MySql => "mysql",
        };
        let url = format!(
            "{scheme}://{}@{}:{}/{}",
            bed.iam_user,
            bed.endpoint(engine),
            tunnel.port(),
            bed.database
        );
        let auth = iam(&bed, credentials(&bed.access_key)).signing_port(bed.port(engine));
        assert_eq!(select_42(engine, auth, &url).await, 42, "{engine:?}");

        let unsigned_port = iam(&bed, credentials(&bed.access_key));
        let err = match engine {
            Engine::Postgres => PgPoolOptions::new()
                .iam_auth(unsigned_port)
                .connect(&url)
                .await
                .map(|_| ()),
            Engine::MySql => MySqlPoolOptions::new()
                .iam_auth(unsigned_port)
                .connect(&url)
                .await
                .map(|_| ()),
        }
        .expect_err("a token signed for the tunnel's port is refused");
        assert_eq!(err.kind(), ErrorKind::TokenRefused, "{engine:?}: {err}");
    }
}

/// Issue 12 section 5, what cannot work: connecting to `localhost` with `signing_host` set
/// to the endpoint, trusting only AWS's roots (as against real RDS, whose certificate
/// names the endpoint only), is refused before anything is signed or sent, with the
/// recipe that works. The listener behind `localhost:PORT` is never even connected to.
#[tokio::test]
async fn a_tunnel_on_localhost_with_signing_host_is_refused_with_the_recipe() {
    let bed = Testbed::load();
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let provider = SteeredProvider::new(&bed.access_key);
    for engine in [Engine::Postgres, Engine::MySql] {
        let endpoint = bed.endpoint(engine).to_owned();
        let auth = IamAuth::from_credentials_provider(provider.clone())
            .signing_host(endpoint.clone())
            .signing_port(bed.port(engine));
        let url = url_at(&bed, engine, &bed.iam_user, "localhost")
            .replace(&format!(":{}/", bed.port(engine)), &format!(":{port}/"));
        let err = match engine {
            Engine::Postgres => PgPoolOptions::new()
                .iam_auth(auth)
                .connect_lazy(&url)
                .await
                .map(|_| ()),
            Engine::MySql => MySqlPoolOptions::new()
                .iam_auth(auth)
                .connect_lazy(&url)
                .await
                .map(|_| ()),
        }
        .expect_err("refused before signing");
        assert_eq!(err.kind(), ErrorKind::Config, "{engine:?}: {err}");
        let message = err.to_string();
        for needed in [
            format!("127.0.0.1 {endpoint}"),
            "AWS-StartPortForwardingSessionToRemoteHost".to_owned(),
            format!("signing_port({})", bed.port(engine)),
            "no token was signed or sent".to_owned(),
        ] {
            assert!(
                message.contains(&needed),
                "{needed:?} missing from: {message}"
            );
        }
    }
    assert_eq!(
        provider.calls(),
        0,
        "no credentials fetched, nothing signed"
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "nothing connected");
}

#[tokio::test]
async fn a_signing_host_lets_you_connect_through_another_address() {
    let bed = Testbed::load();
    // A tunnel on another port of 127.0.0.1 (which the certificate covers); the token
    // is signed for the endpoint name and port the verifier expects (region from the name).
    let addr = forwarder("127.0.0.1", server_addr(&bed, Engine::Postgres), false).await;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .iam_auth(
            iam(&bed, credentials(&bed.access_key))
                .signing_host(bed.pg_endpoint.clone())
                .signing_port(bed.pg_port),
        )
        .connect_with(
            PgConnectOptions::new()
                .host("127.0.0.1")
                .port(addr.port())
                .username(&bed.iam_user)
                .database(&bed.database),
        )
        .await
        .expect("connects through the tunnel");
    let one: i32 = sqlx::query_scalar("select 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(one, 1);
    pool.close().await;

    // Without it, the token is signed for 127.0.0.1:PORT (in the region given: the
    // address names none) and the server refuses it.
    let err = PgPoolOptions::new()
        .iam_auth(iam_with_region(&bed, credentials(&bed.access_key)))
        .connect_with(
            PgConnectOptions::new()
                .host("127.0.0.1")
                .port(addr.port())
                .username(&bed.iam_user)
                .database(&bed.database),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TokenRefused, "{err}");
    let message = err.to_string();
    for hint in [
        "rds_iam",
        "rds-db:connect",
        "arn:aws:rds-db:us-east-1",
        "signed for",
    ] {
        assert!(message.contains(hint), "{hint:?} missing from: {message}");
    }
}

#[tokio::test]
async fn weak_tls_settings_are_refused_unless_insecure_is_opted_into() {
    let bed = Testbed::load();
    let log = VerifierLog::open(&bed);
    let mark = log.mark();
    let key = unknown_key("NOTLS0000");
    for (engine, suffix) in [
        (Engine::Postgres, "?sslmode=disable"),
        (Engine::Postgres, "?sslmode=require"),
        (Engine::MySql, "?ssl-mode=DISABLED"),
        (Engine::MySql, "?ssl-mode=REQUIRED"),
    ] {
        let target = format!("{}{suffix}", url(&bed, engine, &bed.iam_user));
        let auth = iam(&bed, credentials(&key));
        let err = match engine {
            Engine::Postgres => PgPoolOptions::new()
                .iam_auth(auth)
                .connect(&target)
                .await
                .unwrap_err(),
            Engine::MySql => MySqlPoolOptions::new()
                .iam_auth(auth)
                .connect(&target)
                .await
                .unwrap_err(),
        };
        assert_eq!(err.kind(), ErrorKind::InsecureTransport, "{target}: {err}");
        let message = err.to_string();
        assert!(
            message.contains("danger_accept_insecure_transport"),
            "{message}"
        );
        assert!(
            message.contains("the URL or the connect options"),
            "{message}"
        );
        assert!(!message.contains("  "), "a run of spaces: {message:?}");
    }
    assert!(
        log.entries_since(mark)
            .iter()
            .all(|e| e.key_id.as_deref() != Some(key.access_key_id.as_str())),
        "a token reached a server"
    );
}

/// A CA the user names in the URL (`sslrootcert` / `ssl-ca`) is trusted alongside the RDS
/// roots, not replaced by them: with the bed's CA only in the URL (nothing added to
/// `IamAuth`), both engines connect over verified TLS.
#[tokio::test]
async fn a_ca_named_in_the_url_is_kept_and_trusted() {
    let bed = Testbed::load();
    let ca = bed.ca_file.display().to_string();
    for engine in [Engine::Postgres, Engine::MySql] {
        let auth = IamAuth::from_credentials_provider(credentials(&bed.access_key));
        let url = match engine {
            Engine::Postgres => format!("{}?sslrootcert={ca}", url(&bed, engine, &bed.iam_user)),
            Engine::MySql => format!("{}?ssl-ca={ca}", url(&bed, engine, &bed.iam_user)),
        };
        let answer = select_42(engine, auth, &url).await;
        assert_eq!(answer, 42, "{url}");
    }
}

#[tokio::test]
async fn mysql_server_without_tls_never_gets_the_token() {
    let bed = Testbed::load();
    let log = VerifierLog::open(&bed);
    let mark = log.mark();
    let key = unknown_key("PLAINTEXT");
    // The forwarder hides the server's TLS support, as a MySQL server without TLS (or an
    // attacker in the middle) would.
    let addr = forwarder("127.0.0.1", server_addr(&bed, Engine::MySql), true).await;
    let err = MySqlPoolOptions::new()
        .iam_auth(iam(&bed, credentials(&key)).signing_host(bed.mysql_endpoint.clone()))
        .connect_with(
            MySqlConnectOptions::new()
                .host("127.0.0.1")
                .port(addr.port())
                .username(&bed.iam_user),
        )
        .await
        .unwrap_err();
    assert_ne!(err.kind(), ErrorKind::TokenRefused, "{err}");
    // The plain sqlx connection shows the stripping works: without verification required,
    // a client goes ahead and sends its password in the clear.
    let plain = MySqlConnectOptions::new()
        .host("127.0.0.1")
        .port(addr.port())
        .username(&bed.iam_user)
        .password("not-a-token")
        .ssl_mode(sqlx::mysql::MySqlSslMode::Preferred)
        .enable_cleartext_plugin(true);
    let plain_err = sqlx::MySqlConnection::connect_with(&plain)
        .await
        .unwrap_err();
    assert!(
        !matches!(plain_err, sqlx::Error::Tls(_)),
        "the forwarder should make TLS look unavailable, yet: {plain_err}"
    );
    assert!(
        log.entries_since(mark)
            .iter()
            .all(|e| e.key_id.as_deref() != Some(key.access_key_id.as_str())),
        "the token reached the server without TLS"
    );
}

#[tokio::test]
async fn a_refused_token_says_what_to_check() {
    let bed = Testbed::load();
    let err = MySqlPoolOptions::new()
        .iam_auth(iam(&bed, credentials(&unknown_key("REFUSED00"))))
        .connect(&url(&bed, Engine::MySql, &bed.iam_user))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TokenRefused, "{err}");
    let message = err.to_string();
    assert!(message.contains("AWSAuthenticationPlugin"), "{message}");
    assert!(message.contains("rds-db:connect"), "{message}");
    assert!(
        !message.contains("X-Amz-Signature"),
        "the token leaked: {message}"
    );
}

#[tokio::test]
async fn custom_dns_without_a_region_is_a_clear_error() {
    let bed = Testbed::load();
    // `localhost` names no region, as a custom DNS name would not.
    let err = PgPoolOptions::new()
        .iam_auth(
            IamAuth::from_credentials_provider(credentials(&bed.access_key))
                .add_root_certificates_file(&bed.ca_file)
                .unwrap(),
        )
        .connect(&url_at(&bed, Engine::Postgres, &bed.iam_user, &bed.pg_host))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("set the region"), "{err}");
}
