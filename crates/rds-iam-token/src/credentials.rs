//! Credentials from a provider, reused while they are comfortably far from expiry.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};

use crate::error::{Error, ErrorKind};

/// Temporary credentials are fetched again once they are this close to expiry, so that a
/// token signed with them stays usable for its whole life and the fetch can fail and be
/// retried before anything breaks. The AWS SDKs' identity caches use a similar margin.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);

/// A credentials provider plus the last temporary credentials it gave.
///
/// Credentials with an expiry (STS, SSO, container and instance metadata) are reused
/// until [`REFRESH_BEFORE_EXPIRY`] before they expire: those sources are slow and
/// throttled. Credentials without an expiry (environment, static keys, profile files)
/// are cheap to read and are read again for every token, so a rotated key is picked up
/// at once.
pub(crate) struct CredentialsSource {
    provider: SharedCredentialsProvider,
    cached: Mutex<Option<Credentials>>,
}

impl CredentialsSource {
    pub(crate) fn new(provider: SharedCredentialsProvider) -> Self {
        Self {
            provider,
            cached: Mutex::new(None),
        }
    }

    /// Credentials that are valid at `now` for at least the refresh margin.
    pub(crate) async fn current(&self, now: SystemTime) -> Result<Credentials, Error> {
        if let Some(cached) = self.lock().as_ref().filter(|cached| {
            cached
                .expiry()
                .is_some_and(|expiry| now + REFRESH_BEFORE_EXPIRY < expiry)
        }) {
            return Ok(cached.clone());
        }
        let fresh = self
            .provider
            .provide_credentials()
            .await
            .map_err(|source| {
                Error::new(
                    ErrorKind::CredentialsUnavailable,
                    "could not load AWS credentials from the credentials provider; check the \
                 credential chain (environment, profile, SSO, web identity, container or \
                 instance metadata)",
                )
                .with_source(source)
            })?;
        *self.lock() = fresh.expiry().map(|_| fresh.clone());
        Ok(fresh)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Credentials>> {
        // The slot is replaced whole, so a panic elsewhere cannot leave it half-written.
        self.cached
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl fmt::Debug for CredentialsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `Credentials`' own Debug redacts the secret; the provider's is its own business,
        // so only its presence is shown.
        f.debug_struct("CredentialsSource").finish_non_exhaustive()
    }
}
