//! Token freshness follows the wall clock (the signer's time source), not Tokio's
//! monotonic timers; the explicit handle (`IamPoolHandle`); many pools share one
//! credentials fetch per rotation.
//!
//! These tests need no server: lazy pools open no connection, and their connect options
//! (password included) are read back. Tokio's time is paused, so every wait is exact.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, error::CredentialsError, future};
use aws_smithy_async::time::TimeSource;
use sqlx::mysql::MySqlPoolOptions;
use sqlx::postgres::PgPoolOptions;
use sqlx::{ConnectOptions, Database, Pool};
use sqlx_rds_iam::{ErrorKind, IamAuth, IamAuthExt, IamPoolHandle};

/// 2026-12-03T09:00:00Z.
const START: u64 = 1_796_288_400;
const PG_URL: &str = "postgres://app@mydb.abc123.us-east-1.rds.amazonaws.com:5432/app";
const MYSQL_URL: &str = "mysql://app@mydb.abc123.us-east-1.rds.amazonaws.com:3306/app";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// A wall clock that stands still until the test moves it (and can be made to panic once).
#[derive(Debug, Clone)]
struct Clock(Arc<Mutex<SystemTime>>, Arc<AtomicBool>);

impl Clock {
    fn new() -> Self {
        Self(
            Arc::new(Mutex::new(UNIX_EPOCH + Duration::from_secs(START))),
            Arc::default(),
        )
    }
    fn jump(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
    /// The next read of the clock panics.
    fn panic_once(&self) {
        self.1.store(true, Ordering::SeqCst);
    }
}

impl TimeSource for Clock {
    fn now(&self) -> SystemTime {
        assert!(
            !self.1.swap(false, Ordering::SeqCst),
            "a time source that panics"
        );
        *self.0.lock().unwrap()
    }
}

/// Temporary credentials that expire `lifetime` (an hour) after each fetch (by `clock`), a
/// new key each time (or long-term keys, without an expiry); it counts fetches and can be
/// made to fail, hang, panic, answer slowly, or freeze the process (jump the wall clock)
/// in mid-fetch.
#[derive(Debug, Clone)]
struct Source {
    clock: Clock,
    expires: bool,
    lifetime: Duration,
    fetches: Arc<AtomicUsize>,
    down: Arc<Mutex<bool>>,
    hangs: Arc<AtomicBool>,
    panics: Arc<AtomicBool>,
    freeze: Arc<Mutex<Option<Duration>>>,
    slow: Arc<Mutex<Option<Duration>>>,
}

impl Source {
    fn new(clock: &Clock) -> Self {
        Self {
            clock: clock.clone(),
            expires: true,
            lifetime: Duration::from_secs(3600),
            fetches: Arc::default(),
            down: Arc::default(),
            hangs: Arc::default(),
            panics: Arc::default(),
            freeze: Arc::default(),
            slow: Arc::default(),
        }
    }
    fn long_term(clock: &Clock) -> Self {
        Self {
            expires: false,
            ..Self::new(clock)
        }
    }
    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
    fn set_down(&self, down: bool) {
        *self.down.lock().unwrap() = down;
    }
    /// The next fetch freezes the process for `by`: the wall clock jumps before it answers.
    fn freeze_next_fetch(&self, by: Duration) {
        *self.freeze.lock().unwrap() = Some(by);
    }
    /// The next fetch answers after `after` of Tokio time.
    fn slow_next_fetch(&self, after: Duration) {
        *self.slow.lock().unwrap() = Some(after);
    }
}

impl ProvideCredentials for Source {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let n = self.fetches.fetch_add(1, Ordering::SeqCst);
        assert!(
            !self.panics.load(Ordering::SeqCst),
            "a credentials provider that panics"
        );
        if self.hangs.load(Ordering::SeqCst) {
            return future::ProvideCredentials::new(std::future::pending());
        }
        if let Some(by) = self.freeze.lock().unwrap().take() {
            self.clock.jump(by);
        }
        if *self.down.lock().unwrap() {
            return future::ProvideCredentials::ready(Err(CredentialsError::provider_error(
                "the instance metadata endpoint is down",
            )));
        }
        let credentials = if self.expires {
            Credentials::new(
                format!("ASIAFRESHNESS{n:07}"),
                SECRET,
                Some("session-token-of-the-test".to_owned()),
                Some(self.clock.now() + self.lifetime),
                "test",
            )
        } else {
            Credentials::from_keys("AKIAFRESHNESS0000001", SECRET, None)
        };
        if let Some(after) = self.slow.lock().unwrap().take() {
            return future::ProvideCredentials::new(async move {
                tokio::time::sleep(after).await;
                Ok(credentials)
            });
        }
        future::ProvideCredentials::ready(Ok(credentials))
    }
}

fn auth(clock: &Clock, provider: impl ProvideCredentials + 'static) -> IamAuth {
    IamAuth::from_credentials_provider(provider).time_source(clock.clone())
}

/// The password new connections of `pool` present (sqlx has no password getter; the
/// lossy URL carries it, percent-encoded).
fn password<DB: Database>(pool: &Pool<DB>) -> String {
    let url = pool.connect_options().to_url_lossy();
    let encoded = url.password().expect("the pool has a password").as_bytes();
    let mut decoded = Vec::with_capacity(encoded.len());
    let mut i = 0;
    while i < encoded.len() {
        if encoded[i] == b'%' {
            let hex = std::str::from_utf8(&encoded[i + 1..i + 3]).unwrap();
            decoded.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            decoded.push(encoded[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).unwrap()
}

/// The `X-Amz-Date` of the token new connections of `pool` present.
fn token_date<DB: Database>(pool: &Pool<DB>) -> String {
    let password = password(pool);
    let at = password.find("X-Amz-Date=").expect("a token") + "X-Amz-Date=".len();
    password[at..at + 16].to_owned()
}

/// Polls `check` every 10 ms of (paused) Tokio time until it holds, failing once more than
/// `within` has passed without it.
async fn holds_within(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let started = tokio::time::Instant::now();
    while !check() {
        assert!(
            started.elapsed() <= within,
            "{what}: not within {within:?} of Tokio time"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_wall_clock_jump_puts_a_new_token_in_place_within_one_second() {
    let clock = Clock::new();
    let static_keys = Credentials::from_keys("AKIAFRESHNESS0000001", SECRET, None);
    let pg = PgPoolOptions::new()
        .iam_auth(auth(&clock, static_keys.clone()))
        .connect_lazy(PG_URL)
        .await
        .unwrap();
    let mysql = MySqlPoolOptions::new()
        .iam_auth(auth(&clock, static_keys))
        .connect_lazy(MYSQL_URL)
        .await
        .unwrap();
    assert_eq!(token_date(&pg), "20261203T090000Z");
    assert_eq!(token_date(&mysql), "20261203T090000Z");
    // Minutes of Tokio time with the wall clock standing still: nothing is due.
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(token_date(&pg), "20261203T090000Z");

    // The process was frozen (or the machine suspended) for 20 minutes: the monotonic
    // clock did not move, the wall clock did.
    clock.jump(Duration::from_secs(20 * 60));
    holds_within(Duration::from_secs(1), "new PostgreSQL token", || {
        token_date(&pg) == "20261203T092000Z"
    })
    .await;
    holds_within(Duration::ZERO, "new MySQL token", || {
        token_date(&mysql) == "20261203T092000Z"
    })
    .await;
    pg.close().await;
    mysql.close().await;
}

#[tokio::test(start_paused = true)]
async fn a_wall_clock_that_goes_back_also_gets_a_new_token() {
    let clock = Clock::new();
    let pool = PgPoolOptions::new()
        .iam_auth(auth(
            &clock,
            Credentials::from_keys("AKIAFRESHNESS0000001", SECRET, None),
        ))
        .connect_lazy(PG_URL)
        .await
        .unwrap();
    // A clock that was 10 minutes fast is set right: the token in place is dated in the
    // future for the server.
    *clock.0.lock().unwrap() -= Duration::from_secs(10 * 60);
    holds_within(Duration::from_secs(1), "re-signed token", || {
        token_date(&pool) == "20261203T085000Z"
    })
    .await;
    pool.close().await;
}

#[tokio::test(start_paused = true)]
async fn ensure_fresh_token_signs_only_when_the_token_is_stale() {
    let clock = Clock::new();
    let source = Source::new(&clock);
    let options = PgPoolOptions::new().iam_auth(auth(&clock, source.clone()));
    let iam = options.handle();
    assert!(iam.status().is_none(), "no pool yet");
    assert_eq!(
        iam.ensure_fresh_token().await.unwrap_err().kind(),
        ErrorKind::Config,
        "a handle without a pool says so"
    );
    let pool = options.connect_lazy(PG_URL).await.unwrap();
    let first = password(&pool);

    // Fresh: nothing happens, not even a clock tick of Tokio time.
    clock.jump(Duration::from_secs(60));
    iam.ensure_fresh_token().await.unwrap();
    assert_eq!(password(&pool), first);
    assert_eq!(source.fetches(), 1);

    // Half the maximum age (5 minutes by default) has passed by the wall clock, and the
    // driver has not looked yet: the call signs and swaps in a token before returning,
    // with no Tokio time passing.
    clock.jump(Duration::from_secs(90));
    let before = tokio::time::Instant::now();
    iam.ensure_fresh_token().await.unwrap();
    assert_eq!(tokio::time::Instant::now(), before);
    assert_eq!(token_date(&pool), "20261203T090230Z");
    let status = iam.status().unwrap();
    assert_eq!(status.token_age, Duration::ZERO);
    assert_eq!(
        status.token_signed_at,
        UNIX_EPOCH + Duration::from_secs(START + 150)
    );
    assert_eq!(
        status.credentials_expire_at,
        Some(UNIX_EPOCH + Duration::from_secs(START + 3600))
    );
    assert_eq!(
        status.token_expires_at,
        status.token_signed_at + Duration::from_secs(900)
    );
    assert_eq!(status.max_token_age, Duration::from_secs(300));
    assert_eq!(status.last_refresh_error, None);
    // Credentials are cached: the second token needed no fetch.
    assert_eq!(source.fetches(), 1);
    pool.close().await;
}

#[tokio::test(start_paused = true)]
async fn the_handle_reports_a_failed_refresh_without_secrets_and_recovers() {
    let clock = Clock::new();
    let source = Source::new(&clock);
    let options = MySqlPoolOptions::new().iam_auth(auth(&clock, source.clone()));
    let iam = options.handle();
    let pool = options.connect_lazy(MYSQL_URL).await.unwrap();
    let token = password(&pool);

    source.set_down(true);
    // 70 minutes frozen: the token in place and the credentials that signed it have
    // expired, and the source is down.
    clock.jump(Duration::from_secs(70 * 60));
    holds_within(Duration::from_secs(1), "the failed refresh", || {
        iam.status().unwrap().refresh_failures >= 1
    })
    .await;
    let status = iam.status().unwrap();
    let error = status.last_refresh_error.clone().unwrap();
    assert!(
        error.contains("the instance metadata endpoint is down"),
        "{error}"
    );
    assert_eq!(status.token_age, Duration::from_secs(70 * 60));
    let err = iam.ensure_fresh_token().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Credentials, "{err}");
    assert!(err.to_string().contains("credentials"), "{err}");
    for shown in [format!("{iam:?}"), format!("{status:?}"), err.to_string()] {
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(!shown.contains("X-Amz-Signature"), "{shown}");
        assert!(!shown.contains(&token), "{shown}");
    }

    source.set_down(false);
    // A failed fetch is the answer for a second to every pool of this `IamAuth`.
    tokio::time::sleep(Duration::from_secs(1)).await;
    iam.ensure_fresh_token().await.unwrap();
    let status = iam.status().unwrap();
    assert_eq!(status.last_refresh_error, None);
    assert_eq!(status.refresh_failures, 0);
    assert_eq!(token_date(&pool), "20261203T101000Z");
    pool.close().await;
}

#[tokio::test(start_paused = true)]
async fn many_pools_sharing_one_provider_fetch_once_per_rotation() {
    let clock = Clock::new();
    let source = Source::new(&clock);
    let auth = auth(&clock, source.clone());
    let mut pools = Vec::new();
    for n in 0..50 {
        let url = format!("postgres://tenant{n}@db{n}.abc123.us-east-1.rds.amazonaws.com/app");
        let pool = PgPoolOptions::new()
            .iam_auth(auth.clone())
            .connect_lazy(&url)
            .await
            .unwrap();
        pools.push(pool);
    }
    assert_eq!(source.fetches(), 1, "one fetch for 50 pools");
    // 56 minutes later the hour's credentials are within 5 minutes of expiry: every pool
    // needs a token from new ones, and the source is asked once.
    clock.jump(Duration::from_secs(56 * 60));
    holds_within(Duration::from_secs(1), "every pool re-signed", || {
        pools
            .iter()
            .all(|pool| token_date(pool) == "20261203T095600Z")
    })
    .await;
    assert_eq!(source.fetches(), 2, "one fetch for the rotation");
    assert!(
        pools
            .iter()
            .all(|pool| password(pool).contains("ASIAFRESHNESS0000001")),
        "every pool signs with the new credentials"
    );
    for pool in pools {
        pool.close().await;
    }
}

/// Pools of one `IamAuth` whose refreshes wait for credentials for different times share
/// one request: the refresh that gives up first does not cancel it for the other.
#[tokio::test(start_paused = true)]
async fn a_refresh_that_gives_up_leaves_the_credentials_request_to_the_others() {
    let clock = Clock::new();
    let source = Source::new(&clock);
    let auth = auth(&clock, source.clone());
    // Registered first, so its refresh starts the request; it waits 1 s for credentials
    // (max_token_age 2 s).
    let options = PgPoolOptions::new().iam_auth(auth.clone().max_token_age(Duration::from_secs(2)));
    let impatient_iam = options.handle();
    let impatient = options.connect_lazy(PG_URL).await.unwrap();
    // Waits 30 s.
    let patient = MySqlPoolOptions::new()
        .iam_auth(auth)
        .connect_lazy(MYSQL_URL)
        .await
        .unwrap();
    assert_eq!(source.fetches(), 1);
    // 56 minutes later the hour's credentials are due, and the source takes 5 s to answer.
    source.slow_next_fetch(Duration::from_secs(5));
    clock.jump(Duration::from_secs(56 * 60));
    let renewed = |password: String| password.contains("ASIAFRESHNESS0000001");
    let mut gave_up = false;
    for _ in 0..100 {
        if renewed(password(&impatient)) && renewed(password(&patient)) {
            break;
        }
        gave_up |= impatient_iam.status().unwrap().refresh_failures > 0;
        clock.jump(Duration::from_millis(100));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gave_up, "the impatient pool's refresh never timed out");
    assert_eq!(source.fetches(), 2, "one request for the rotation");
    // Both signed with what that request answered.
    assert!(
        renewed(password(&impatient)),
        "the impatient pool was not re-signed"
    );
    assert!(
        renewed(password(&patient)),
        "the patient pool was not re-signed"
    );
    impatient.close().await;
    patient.close().await;
}

#[tokio::test(start_paused = true)]
async fn a_closed_pool_is_let_go_and_never_signed_for_again() {
    let clock = Clock::new();
    let source = Source::long_term(&clock);
    let options = PgPoolOptions::new()
        .iam_auth(auth(&clock, source.clone()).max_token_age(Duration::from_secs(2)));
    let iam: IamPoolHandle = options.handle();
    let pool = options.connect_lazy(PG_URL).await.unwrap();
    // max_token_age 2 s: a token a second while the wall clock moves.
    for _ in 0..8 {
        clock.jump(Duration::from_millis(500));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let signed = source.fetches();
    assert!(signed >= 2, "the pool never refreshed: {signed} fetches");
    pool.close().await;
    assert!(iam.status().unwrap().pool_closed);
    for _ in 0..10 {
        clock.jump(Duration::from_secs(1));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(source.fetches(), signed, "signed after pool.close()");
    assert_eq!(
        iam.ensure_fresh_token().await.unwrap_err().kind(),
        ErrorKind::Config
    );
}

/// `count` callers of `ensure_fresh_token` at once; their results, and the Tokio time they
/// took.
async fn callers_at_once(
    iam: &IamPoolHandle,
    count: usize,
) -> (Vec<Result<(), sqlx_rds_iam::Error>>, Duration) {
    let before = tokio::time::Instant::now();
    let callers: Vec<_> = (0..count)
        .map(|_| {
            let iam = iam.clone();
            tokio::spawn(async move { iam.ensure_fresh_token().await })
        })
        .collect();
    let mut results = Vec::new();
    for caller in callers {
        results.push(caller.await.unwrap());
    }
    (results, before.elapsed())
}

#[tokio::test(start_paused = true)]
async fn ensure_fresh_token_neither_waits_nor_piles_up_while_the_token_in_place_is_usable() {
    let clock = Clock::new();
    // Credentials valid 6 minutes: within 5 minutes of their expiry, signing fetches anew.
    let source = Source {
        lifetime: Duration::from_secs(360),
        ..Source::new(&clock)
    };
    let options = PgPoolOptions::new().iam_auth(auth(&clock, source.clone()));
    let iam = options.handle();
    let pool = options.connect_lazy(PG_URL).await.unwrap();
    let first = password(&pool);

    // The credentials source hangs (IMDS black-holed), and the refresh point (150 s) has
    // passed: the driver's refresh waits for credentials, up to its 30 s timeout.
    source.hangs.store(true, Ordering::SeqCst);
    clock.jump(Duration::from_secs(160));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The token in place is 161 s old (the maximum is 300 s) and valid for 199 s more:
    // callers neither wait for the driver's attempt nor start their own.
    let (results, took) = callers_at_once(&iam, 5).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(took, Duration::ZERO, "a usable token: no wait");
    // After the driver's attempt timed out (it retries, backing off), the same.
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert_eq!(iam.status().unwrap().refresh_failures, 1);
    let (results, took) = callers_at_once(&iam, 5).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(took, Duration::ZERO, "a usable token: no wait");
    assert_eq!(password(&pool), first);

    // 296 s old: within the margin of the maximum age. Callers at once share one attempt
    // (at most 30 s, or the driver's that is running), and say no token is guaranteed.
    clock.jump(Duration::from_secs(135));
    let (results, took) = callers_at_once(&iam, 5).await;
    assert!(
        results.iter().all(|r| r
            .as_ref()
            .is_err_and(|e| e.kind() == ErrorKind::Credentials)),
        "{results:?}"
    );
    assert!(
        took <= Duration::from_secs(60),
        "callers piled up: {took:?}"
    );
    pool.close().await;
}

#[tokio::test(start_paused = true)]
async fn ensure_fresh_token_fails_for_a_token_about_to_expire() {
    let clock = Clock::new();
    // Credentials valid 30 s: the token dies with them.
    let source = Source {
        lifetime: Duration::from_secs(30),
        ..Source::new(&clock)
    };
    let options = MySqlPoolOptions::new().iam_auth(auth(&clock, source.clone()));
    let iam = options.handle();
    let pool = options.connect_lazy(MYSQL_URL).await.unwrap();
    source.set_down(true);
    // 28 s later the token is young (the maximum is 300 s) but dies in 2 s: a connection
    // opened with it now would likely be refused.
    clock.jump(Duration::from_secs(28));
    let err = iam.ensure_fresh_token().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Credentials, "{err}");
    source.set_down(false);
    tokio::time::sleep(Duration::from_secs(2)).await;
    iam.ensure_fresh_token().await.unwrap();
    let status = iam.status().unwrap();
    assert!(
        status.token_expires_at > clock.now() + Duration::from_secs(20),
        "{status:?}"
    );
    pool.close().await;
}

#[tokio::test(start_paused = true)]
async fn a_token_signed_before_a_freeze_is_replaced_at_once_after_the_thaw() {
    let clock = Clock::new();
    let source = Source::new(&clock);
    // The process is frozen for 20 minutes while the first credentials are fetched: the
    // pool's first token is dated before the freeze.
    source.freeze_next_fetch(Duration::from_secs(20 * 60));
    let pool = PgPoolOptions::new()
        .iam_auth(auth(&clock, source.clone()))
        .connect_lazy(PG_URL)
        .await
        .unwrap();
    assert_eq!(token_date(&pool), "20261203T090000Z");
    holds_within(Duration::from_secs(1), "the first token replaced", || {
        token_date(&pool) == "20261203T092000Z"
    })
    .await;

    // 56 minutes later the credentials are due, and the process is frozen for 20 minutes
    // while new ones are fetched: the refresh swaps in a token dated before that freeze.
    source.freeze_next_fetch(Duration::from_secs(20 * 60));
    clock.jump(Duration::from_secs(56 * 60));
    holds_within(
        Duration::from_secs(2),
        "the refreshed token replaced",
        || token_date(&pool) == "20261203T103600Z",
    )
    .await;
    pool.close().await;
}

#[tokio::test(start_paused = true)]
async fn the_shared_credentials_cache_forgets_a_result_the_wall_clock_left_behind() {
    let clock = Clock::new();
    let source = Source::new(&clock);
    let auth = auth(&clock, source.clone());
    let first = PgPoolOptions::new()
        .iam_auth(auth.clone())
        .connect_lazy(PG_URL)
        .await
        .unwrap();
    assert_eq!(source.fetches(), 1);
    // Frozen for 2 hours within a second of monotonic time after the fetch: the hour's
    // credentials have expired. A new pool of the same IamAuth does not get them.
    clock.jump(Duration::from_secs(2 * 3600));
    let options = MySqlPoolOptions::new().iam_auth(auth.clone());
    let iam = options.handle();
    let second = options.connect_lazy(MYSQL_URL).await.unwrap();
    assert_eq!(source.fetches(), 2, "expired credentials handed out");
    let status = iam.status().unwrap();
    assert!(
        status.credentials_expire_at.unwrap() > clock.now() + Duration::from_secs(3000),
        "{status:?}"
    );

    // A failed fetch, then a 20-minute freeze within a second of monotonic time, and the
    // source is back: the cached error is not the answer any more.
    source.set_down(true);
    clock.jump(Duration::from_secs(2 * 3600));
    assert!(iam.ensure_fresh_token().await.is_err());
    source.set_down(false);
    clock.jump(Duration::from_secs(20 * 60));
    iam.ensure_fresh_token().await.unwrap();
    first.close().await;
    second.close().await;
}

#[tokio::test(start_paused = true)]
async fn a_panicking_provider_or_time_source_does_not_stop_the_refresh() {
    let clock = Clock::new();
    let source = Source::new(&clock);
    let options = PgPoolOptions::new().iam_auth(auth(&clock, source.clone()));
    let iam = options.handle();
    let pool = options.connect_lazy(PG_URL).await.unwrap();
    // The credentials are due and the provider panics in the credentials request: the
    // refresh fails like any other (an error, not a panic), and is retried after a
    // second of wall time.
    source.panics.store(true, Ordering::SeqCst);
    clock.jump(Duration::from_secs(56 * 60));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(token_date(&pool), "20261203T090000Z");
    let status = iam.status().unwrap();
    assert_eq!(status.refresh_failures, 1, "{status:?}");
    let error = status.last_refresh_error.unwrap();
    assert!(
        error.contains("the credentials provider panicked"),
        "{error}"
    );
    source.panics.store(false, Ordering::SeqCst);
    clock.jump(Duration::from_secs(1));
    holds_within(
        Duration::from_secs(2),
        "refreshed after a provider panic",
        || token_date(&pool) == "20261203T095601Z",
    )
    .await;

    // The time source panics in the driver's look at the pool.
    clock.panic_once();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!clock.1.load(Ordering::SeqCst), "the clock was read");
    clock.jump(Duration::from_secs(20 * 60));
    holds_within(
        Duration::from_secs(2),
        "refreshed after a time source panic",
        || token_date(&pool) == "20261203T101601Z",
    )
    .await;
    pool.close().await;
}

/// A pool created on one runtime and used on the next (a global pool across
/// `#[tokio::test]`s): its refresh moves to the runtime that calls `ensure_fresh_token`.
#[test]
fn a_pool_whose_runtime_ended_is_refreshed_again_after_ensure_fresh_token() {
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap()
    };
    let clock = Clock::new();
    let source = Source::new(&clock);
    let options = PgPoolOptions::new().iam_auth(auth(&clock, source.clone()));
    let iam = options.handle();
    let pool = runtime().block_on(async { options.connect_lazy(PG_URL).await.unwrap() });
    // That runtime is gone, and its driver with it.
    runtime().block_on(async {
        iam.ensure_fresh_token().await.unwrap();
        clock.jump(Duration::from_secs(20 * 60));
        holds_within(
            Duration::from_secs(1),
            "refreshed on the new runtime",
            || token_date(&pool) == "20261203T092000Z",
        )
        .await;
        pool.close().await;
    });
}
