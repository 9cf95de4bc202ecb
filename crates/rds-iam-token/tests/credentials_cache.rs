//! The credentials cache: temporary credentials (with an expiry) are reused until five
//! minutes before they expire, then fetched again; credentials without an expiry are
//! fetched for every token.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{self, ProvideCredentials};
use aws_smithy_async::time::TimeSource;
use rds_iam_token::{AuthTokenSigner, ErrorKind};

const T0: u64 = 1_724_709_600;

/// A clock the test moves by hand.
#[derive(Debug, Clone)]
struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    fn at(unix_time: u64) -> Self {
        Self(Arc::new(AtomicU64::new(unix_time)))
    }
    fn set(&self, unix_time: u64) {
        self.0.store(unix_time, Ordering::SeqCst);
    }
}

impl TimeSource for ManualClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.0.load(Ordering::SeqCst))
    }
}

/// Counts calls, and hands out `AKID<n>` credentials that expire `lifetime` after the
/// clock's time (or never), or fails while `fail` is set.
#[derive(Debug, Clone)]
struct CountingProvider {
    calls: Arc<AtomicUsize>,
    clock: ManualClock,
    lifetime: Option<Duration>,
    fail: Arc<Mutex<bool>>,
}

impl CountingProvider {
    fn new(clock: &ManualClock, lifetime: Option<Duration>) -> Self {
        Self {
            calls: Arc::default(),
            clock: clock.clone(),
            lifetime,
            fail: Arc::default(),
        }
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl ProvideCredentials for CountingProvider {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if *self.fail.lock().unwrap() {
            return provider::future::ProvideCredentials::ready(Err(
                CredentialsError::provider_timed_out(Duration::from_secs(1)),
            ));
        }
        let expiry = self.lifetime.map(|lifetime| self.clock.now() + lifetime);
        provider::future::ProvideCredentials::ready(Ok(Credentials::new(
            format!("AKID{n}"),
            format!("secret{n}"),
            Some(format!("session{n}")),
            expiry,
            "counting",
        )))
    }
}

fn access_key_of(token: &rds_iam_token::AuthToken) -> String {
    let credential = token
        .expose()
        .split('&')
        .find_map(|p| p.strip_prefix("X-Amz-Credential="))
        .unwrap();
    credential.split("%2F").next().unwrap().to_owned()
}

#[tokio::test]
async fn temporary_credentials_are_reused_until_five_minutes_before_expiry() {
    let clock = ManualClock::at(T0);
    // Credentials valid for one hour from each fetch.
    let provider = CountingProvider::new(&clock, Some(Duration::from_secs(3600)));
    let signer = AuthTokenSigner::rds("mydb.c9akciq32abc.us-east-1.rds.amazonaws.com", 5432, "app")
        .credentials_provider(provider.clone())
        .time_source(clock.clone())
        .build()
        .unwrap();
    assert_eq!(provider.calls(), 0, "building does not fetch");

    let first = signer.sign().await.unwrap();
    assert_eq!(provider.calls(), 1);
    assert_eq!(access_key_of(&first), "AKID1");

    // Reused for many tokens, up to the last second before the five-minute margin.
    for t in [T0, T0 + 1, T0 + 900, T0 + 3600 - 301] {
        clock.set(t);
        let token = signer.sign().await.unwrap();
        assert_eq!(access_key_of(&token), "AKID1", "at +{}", t - T0);
    }
    assert_eq!(provider.calls(), 1);

    // Five minutes before expiry: fetched again, and the new ones are then reused.
    clock.set(T0 + 3600 - 300);
    let refreshed = signer.sign().await.unwrap();
    assert_eq!(provider.calls(), 2);
    assert_eq!(access_key_of(&refreshed), "AKID2");
    clock.set(T0 + 3600 + 60);
    assert_eq!(access_key_of(&signer.sign().await.unwrap()), "AKID2");
    assert_eq!(provider.calls(), 2);

    // Clones share the cache.
    let clone = signer.clone();
    assert_eq!(access_key_of(&clone.sign().await.unwrap()), "AKID2");
    assert_eq!(provider.calls(), 2);

    // Long past expiry: fetched again.
    clock.set(T0 + 10 * 3600);
    assert_eq!(access_key_of(&signer.sign().await.unwrap()), "AKID3");
    assert_eq!(provider.calls(), 3);
}

#[tokio::test]
async fn credentials_that_expire_within_the_margin_are_fetched_every_time() {
    let clock = ManualClock::at(T0);
    let provider = CountingProvider::new(&clock, Some(Duration::from_secs(240)));
    let signer = AuthTokenSigner::dsql("abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws")
        .credentials_provider(provider.clone())
        .time_source(clock.clone())
        .build()
        .unwrap();
    for n in 1..=3 {
        assert_eq!(
            access_key_of(&signer.sign().await.unwrap()),
            format!("AKID{n}")
        );
    }
    assert_eq!(provider.calls(), 3);
}

#[tokio::test]
async fn credentials_without_expiry_are_fetched_for_every_token() {
    let clock = ManualClock::at(T0);
    let provider = CountingProvider::new(&clock, None);
    let signer = AuthTokenSigner::rds("mydb.c9akciq32abc.us-east-1.rds.amazonaws.com", 5432, "app")
        .credentials_provider(provider.clone())
        .time_source(clock.clone())
        .build()
        .unwrap();
    for n in 1..=5 {
        let token = signer.sign().await.unwrap();
        // A rotated key is picked up at once.
        assert_eq!(access_key_of(&token), format!("AKID{n}"));
    }
    assert_eq!(provider.calls(), 5);
}

#[tokio::test]
async fn a_failed_fetch_is_reported_and_retried_next_time() {
    let clock = ManualClock::at(T0);
    let provider = CountingProvider::new(&clock, Some(Duration::from_secs(3600)));
    let signer = AuthTokenSigner::rds("mydb.c9akciq32abc.us-east-1.rds.amazonaws.com", 5432, "app")
        .credentials_provider(provider.clone())
        .time_source(clock.clone())
        .build()
        .unwrap();
    *provider.fail.lock().unwrap() = true;
    let err = signer.sign().await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::CredentialsUnavailable);
    *provider.fail.lock().unwrap() = false;
    assert_eq!(access_key_of(&signer.sign().await.unwrap()), "AKID2");
    assert_eq!(access_key_of(&signer.sign().await.unwrap()), "AKID2");
    assert_eq!(provider.calls(), 2);

    // A failure when the cached credentials need refreshing is reported too; the stale
    // credentials are not used.
    clock.set(T0 + 3600 - 299);
    *provider.fail.lock().unwrap() = true;
    let err = signer.sign().await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::CredentialsUnavailable);
    assert_eq!(provider.calls(), 3);
}

/// A token is no better than the credentials that signed it: it expires when they do, if
/// that comes before the end of its own 15 minutes.
#[test]
fn a_token_expires_with_the_credentials_that_signed_it() {
    let signed = UNIX_EPOCH + Duration::from_secs(T0);
    let signer = AuthTokenSigner::rds("mydb.abc123.us-east-1.rds.amazonaws.com", 5432, "app")
        .credentials_provider(Credentials::from_keys("AKIDEXAMPLE", "secret", None))
        .build()
        .unwrap();
    for (lifetime, expected) in [
        (Duration::from_secs(60), Duration::from_secs(60)),
        (Duration::from_secs(899), Duration::from_secs(899)),
        (Duration::from_secs(900), Duration::from_secs(900)),
        (Duration::from_secs(3600), Duration::from_secs(900)),
    ] {
        let credentials = Credentials::new(
            "ASIAEXAMPLE",
            "secret",
            Some("session".into()),
            Some(signed + lifetime),
            "test",
        );
        let token = signer.sign_with(&credentials, signed).unwrap();
        assert_eq!(token.expires_at(), signed + expected, "{lifetime:?}");
        assert_eq!(token.credentials_expire_at(), Some(signed + lifetime));
        assert!(!token.is_expired_at(signed + expected - Duration::from_secs(1)));
        assert!(token.is_expired_at(signed + expected));
    }
    let long_term = Credentials::from_keys("AKIDEXAMPLE", "secret", None);
    let token = signer.sign_with(&long_term, signed).unwrap();
    assert_eq!(token.credentials_expire_at(), None);
    assert_eq!(token.expires_at(), signed + Duration::from_secs(900));
}
