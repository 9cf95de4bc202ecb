//! The SigV4 signing key (four chained HMACs), cached per secret key, date, region and service.

use std::fmt;
use std::sync::Mutex;
use std::time::SystemTime;

use aws_sigv4::sign::v4::generate_signing_key;

/// Remembers the last signing key derived, so that every token signed on the same day,
/// with the same secret key, for the same region and service costs one HMAC instead of five.
#[derive(Default)]
pub(crate) struct SigningKeyCache {
    last: Mutex<Option<CachedKey>>,
}

struct CachedKey {
    secret_access_key: String,
    date: String,
    region: String,
    service: &'static str,
    key: [u8; 32],
}

impl SigningKeyCache {
    /// The signing key for these inputs: from the cache, or derived and then cached.
    ///
    /// `date` must be the `YYYYMMDD` form of `time`.
    pub(crate) fn signing_key(
        &self,
        secret_access_key: &str,
        time: SystemTime,
        date: &str,
        region: &str,
        service: &'static str,
    ) -> [u8; 32] {
        // A poisoned lock only means another thread panicked mid-update; the entry is
        // overwritten whole, so it is still either valid or absent.
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(cached) = last.as_ref().filter(|cached| {
            cached.date == date
                && cached.service == service
                && cached.region == region
                && cached.secret_access_key == secret_access_key
        }) {
            return cached.key;
        }
        let key = derive(secret_access_key, time, region, service);
        *last = Some(CachedKey {
            secret_access_key: secret_access_key.to_owned(),
            date: date.to_owned(),
            region: region.to_owned(),
            service,
            key,
        });
        key
    }
}

/// Derives the key without looking at any cache.
pub(crate) fn derive(
    secret_access_key: &str,
    time: SystemTime,
    region: &str,
    service: &str,
) -> [u8; 32] {
    let derived = generate_signing_key(secret_access_key, time, region, service);
    let mut key = [0u8; 32];
    key.copy_from_slice(derived.as_ref());
    key
}

impl fmt::Debug for SigningKeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyCache").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn cache_returns_the_same_key_as_derivation_and_tracks_its_inputs() {
        let cache = SigningKeyCache::default();
        let day1 = UNIX_EPOCH + Duration::from_secs(1_724_709_600);
        let day2 = day1 + Duration::from_secs(86_400);
        let first = cache.signing_key("secret", day1, "20240826", "us-east-1", "rds-db");
        assert_eq!(first, derive("secret", day1, "us-east-1", "rds-db"));
        assert_eq!(
            cache.signing_key("secret", day1, "20240826", "us-east-1", "rds-db"),
            first
        );
        assert_ne!(
            cache.signing_key("secret", day2, "20240827", "us-east-1", "rds-db"),
            first
        );
        assert_ne!(
            cache.signing_key("other", day1, "20240826", "us-east-1", "rds-db"),
            first
        );
        assert_ne!(
            cache.signing_key("secret", day1, "20240826", "us-west-2", "rds-db"),
            first
        );
        assert_ne!(
            cache.signing_key("secret", day1, "20240826", "us-east-1", "dsql"),
            first
        );
    }

    #[test]
    fn debug_shows_no_key_material() {
        let cache = SigningKeyCache::default();
        let time = UNIX_EPOCH + Duration::from_secs(1_724_709_600);
        cache.signing_key("very-secret", time, "20240826", "us-east-1", "rds-db");
        let shown = format!("{cache:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
    }
}
