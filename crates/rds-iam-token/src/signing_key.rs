//! The SigV4 signing key (four chained HMACs), cached per secret key, date, region and service.

use std::fmt;
use std::sync::Mutex;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// HMAC-SHA256, the only MAC SigV4 uses.
pub(crate) type HmacSha256 = Hmac<Sha256>;

/// Remembers the last signing key derived, so that every token signed on the same day,
/// with the same secret key, for the same region and service costs one HMAC instead of five.
///
/// What is kept is the HMAC already keyed with the signing key (its inner and outer pad
/// blocks hashed), so a token does not even pay for keying it.
#[derive(Default)]
pub(crate) struct SigningKeyCache {
    last: Mutex<Option<CachedKey>>,
}

struct CachedKey {
    secret_access_key: String,
    date: String,
    region: String,
    service: &'static str,
    mac: HmacSha256,
}

impl SigningKeyCache {
    /// An HMAC keyed with the signing key for these inputs: from the cache, or derived and
    /// then cached.
    ///
    /// `date` is the `YYYYMMDD` of the signing time.
    pub(crate) fn signing_mac(
        &self,
        secret_access_key: &str,
        date: &str,
        region: &str,
        service: &'static str,
    ) -> HmacSha256 {
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
            return cached.mac.clone();
        }
        let mac = keyed(&derive(secret_access_key, date, region, service));
        *last = Some(CachedKey {
            secret_access_key: secret_access_key.to_owned(),
            date: date.to_owned(),
            region: region.to_owned(),
            service,
            mac: mac.clone(),
        });
        mac
    }
}

/// Derives the signing key without looking at any cache:
/// `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
pub(crate) fn derive(secret_access_key: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let mut k_secret = Vec::with_capacity(4 + secret_access_key.len());
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret_access_key.as_bytes());
    let k_date = hmac(&k_secret, date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

fn keyed(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length (longer ones are hashed first); this cannot fail.
    <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = keyed(key);
    mac.update(message);
    mac.finalize().into_bytes().into()
}

impl fmt::Debug for SigningKeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyCache").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(mac: HmacSha256, message: &[u8]) -> [u8; 32] {
        let mut mac = mac;
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    #[test]
    fn derives_aws_published_example_key() {
        // "Derive a signing key" example of the AWS SigV4 documentation.
        let key = derive(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            key.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn cache_returns_the_same_key_as_derivation_and_tracks_its_inputs() {
        let cache = SigningKeyCache::default();
        let message = b"string to sign";
        let first = sign(
            cache.signing_mac("secret", "20240826", "us-east-1", "rds-db"),
            message,
        );
        assert_eq!(
            first,
            hmac(
                &derive("secret", "20240826", "us-east-1", "rds-db"),
                message
            )
        );
        assert_eq!(
            sign(
                cache.signing_mac("secret", "20240826", "us-east-1", "rds-db"),
                message
            ),
            first
        );
        for (secret, date, region, service) in [
            ("secret", "20240827", "us-east-1", "rds-db"),
            ("other", "20240826", "us-east-1", "rds-db"),
            ("secret", "20240826", "us-west-2", "rds-db"),
            ("secret", "20240826", "us-east-1", "dsql"),
        ] {
            assert_ne!(
                sign(cache.signing_mac(secret, date, region, service), message),
                first
            );
        }
        // And back: the cache follows the latest inputs.
        assert_eq!(
            sign(
                cache.signing_mac("secret", "20240826", "us-east-1", "rds-db"),
                message
            ),
            first
        );
    }

    #[test]
    fn debug_shows_no_key_material() {
        let cache = SigningKeyCache::default();
        cache.signing_mac("very-secret", "20240826", "us-east-1", "rds-db");
        let shown = format!("{cache:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
    }
}
