//! One credentials cache for every pool built from one `IamAuth`.
//!
//! Each pool has a token signer of its own (its host, port and user), and each signer
//! keeps the temporary credentials it fetched. A multi-tenant service builds many pools
//! from one `IamAuth`; without a shared cache, every pool would ask the credentials
//! source (instance or container metadata, STS) for itself at every rotation, and a
//! thousand pools would make a thousand requests where one does. So the signers of one
//! `IamAuth` (and its clones) ask this cache, which:
//! - reuses temporary credentials until 5 minutes before they expire (the token crate's
//!   own margin, so both agree on when credentials are due);
//! - lets one request to the source be in flight at a time, and hands its result (or its
//!   error) to everyone who asked meanwhile or within a second after it, by both the
//!   monotonic and the wall clock (a freeze right after a fetch makes it old); never
//!   credentials that expire within those 5 minutes, however recent;
//! - reads credentials without an expiry (environment, static keys, profile files) again
//!   when asked more than a second after the last read, so a rotated key is picked up.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use aws_smithy_async::time::SharedTimeSource;

/// Temporary credentials are fetched again once they are this close to expiry (the
/// token crate's `REFRESH_BEFORE_EXPIRY`).
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);
/// A result fetched this recently is handed out again rather than fetched anew.
const REUSE_RECENT: Duration = Duration::from_secs(1);

/// A result of the source, and when it came (by the wall and the monotonic clock).
type Fetched = (
    SystemTime,
    tokio::time::Instant,
    Result<Credentials, String>,
);

/// The cache an `IamAuth` and its clones share.
#[derive(Default)]
pub(crate) struct SharedCredentialsCache {
    /// The last result: when it was fetched (wall, monotonic), and the credentials or the
    /// error's text.
    last: Mutex<Option<Fetched>>,
    /// Held while a request to the source is in flight.
    fetching: tokio::sync::Mutex<()>,
}

impl SharedCredentialsCache {
    /// A provider for one signer: `provider` behind this cache, judging expiry by `time`.
    pub(crate) fn provider(
        self: &Arc<Self>,
        provider: SharedCredentialsProvider,
        time: SharedTimeSource,
    ) -> CachedProvider {
        CachedProvider {
            cache: Arc::clone(self),
            provider,
            time,
        }
    }

    /// The last result, if it may be handed out again at `now` (wall) / `at` (monotonic).
    fn reusable(
        &self,
        now: SystemTime,
        at: tokio::time::Instant,
    ) -> Option<Result<Credentials, CredentialsError>> {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let (fetched_wall, fetched_at, result) = last.as_ref()?;
        // Recent by both clocks: the monotonic clock may stand still through a freeze,
        // and the wall clock may be stepped.
        let recent = at.saturating_duration_since(*fetched_at) < REUSE_RECENT
            && now
                .duration_since(*fetched_wall)
                .is_ok_and(|since| since < REUSE_RECENT);
        match result {
            Ok(credentials) => {
                let usable = match credentials.expiry() {
                    // Never credentials about to expire, however recent.
                    Some(expiry) => now + REFRESH_BEFORE_EXPIRY < expiry,
                    // Keys without an expiry are read again after a second.
                    None => recent,
                };
                usable.then(|| Ok(credentials.clone()))
            }
            Err(text) if recent => Some(Err(CredentialsError::provider_error(text.clone()))),
            _ => None,
        }
    }
}

impl fmt::Debug for SharedCredentialsCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedCredentialsCache")
            .finish_non_exhaustive()
    }
}

/// A credentials provider behind the shared cache.
#[derive(Clone)]
pub(crate) struct CachedProvider {
    cache: Arc<SharedCredentialsCache>,
    provider: SharedCredentialsProvider,
    time: SharedTimeSource,
}

impl CachedProvider {
    async fn credentials(&self) -> Result<Credentials, CredentialsError> {
        let now = || (self.time.now(), tokio::time::Instant::now());
        let (wall, mono) = now();
        if let Some(result) = self.cache.reusable(wall, mono) {
            return result;
        }
        let _fetching = self.cache.fetching.lock().await;
        // Someone else may have fetched while this one waited.
        let (wall, mono) = now();
        if let Some(result) = self.cache.reusable(wall, mono) {
            return result;
        }
        let result = self.provider.provide_credentials().await;
        let kept = match &result {
            Ok(credentials) => Ok(credentials.clone()),
            Err(err) => Err(crate::refresh::error_chain(err)),
        };
        let (wall, mono) = now();
        *self.cache.last.lock().unwrap_or_else(|p| p.into_inner()) = Some((wall, mono, kept));
        result
    }
}

impl ProvideCredentials for CachedProvider {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.credentials())
    }
}

impl fmt::Debug for CachedProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedProvider").finish_non_exhaustive()
    }
}
