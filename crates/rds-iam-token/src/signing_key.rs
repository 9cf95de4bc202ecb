//! The SigV4 signing key (four chained HMACs), cached per secret key, date, region and service.

use std::fmt;
use std::sync::Mutex;
use std::time::SystemTime;

use aws_sigv4::sign::v4::generate_signing_key;
use hmac::{Hmac, KeyInit};
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
    /// `date` is the `YYYYMMDD` of the signing `time`.
    pub(crate) fn signing_mac(
        &self,
        secret_access_key: &str,
        time: SystemTime,
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
        let mac = keyed(&derive(secret_access_key, time, region, service));
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

/// Derives the signing key without looking at any cache, with aws-sigv4:
/// `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
/// This runs once per secret key, day, region and service, so its allocations do not
/// matter; the per-token work is the keyed HMAC that [`SigningKeyCache`] keeps.
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

fn keyed(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length (longer ones are hashed first); this cannot fail.
    <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

/// One HMAC-SHA256, for checking the cache against the plain derivation.
#[cfg(test)]
fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    use hmac::Mac;
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
    use hmac::Mac;
    use std::time::{Duration, UNIX_EPOCH};

    /// 2024-08-26T22:00:00Z, the day of AWS's reference token.
    fn aug26() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_724_709_600)
    }

    fn day_of(date: &str) -> SystemTime {
        match date {
            "20240826" => aug26(),
            "20240827" => aug26() + Duration::from_secs(86_400),
            other => panic!("no time for {other}"),
        }
    }

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
            UNIX_EPOCH + Duration::from_secs(1_329_264_000), // 2012-02-15
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
            cache.signing_mac("secret", aug26(), "20240826", "us-east-1", "rds-db"),
            message,
        );
        assert_eq!(
            first,
            hmac(&derive("secret", aug26(), "us-east-1", "rds-db"), message)
        );
        assert_eq!(
            sign(
                cache.signing_mac("secret", aug26(), "20240826", "us-east-1", "rds-db"),
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
                sign(
                    cache.signing_mac(secret, day_of(date), date, region, service),
                    message
                ),
                first
            );
        }
        // And back: the cache follows the latest inputs.
        assert_eq!(
            sign(
                cache.signing_mac("secret", aug26(), "20240826", "us-east-1", "rds-db"),
                message
            ),
            first
        );
    }

    #[test]
    fn debug_shows_no_key_material() {
        let cache = SigningKeyCache::default();
        cache.signing_mac("very-secret", aug26(), "20240826", "us-east-1", "rds-db");
        let shown = format!("{cache:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
    }
}
