//! Which certificate authorities a pool trusts, and whether it may skip verification.

use std::fmt;

use crate::ca_bundle::RDS_CA_BUNDLE_PEM;

/// The TLS side of [`IamAuth`](crate::IamAuth): verified TLS against the embedded RDS
/// bundle plus any roots the user adds, unless explicitly made insecure.
#[derive(Clone, Default)]
pub(crate) struct TlsPolicy {
    extra_roots_pem: Vec<u8>,
    pub(crate) insecure: bool,
}

impl TlsPolicy {
    pub(crate) fn add_roots_pem(&mut self, pem: &[u8]) {
        if !self.extra_roots_pem.is_empty() && !self.extra_roots_pem.ends_with(b"\n") {
            self.extra_roots_pem.push(b'\n');
        }
        self.extra_roots_pem.extend_from_slice(pem);
    }

    /// The PEM text of every trusted root: the RDS bundles, then the user's.
    ///
    /// sqlx adds these to its webpki (Mozilla) roots; it offers no way to trust these alone.
    pub(crate) fn roots_pem(&self) -> Vec<u8> {
        let mut pem = Vec::with_capacity(RDS_CA_BUNDLE_PEM.len() + self.extra_roots_pem.len() + 1);
        pem.extend_from_slice(RDS_CA_BUNDLE_PEM.as_bytes());
        if !pem.ends_with(b"\n") {
            pem.push(b'\n');
        }
        pem.extend_from_slice(&self.extra_roots_pem);
        pem
    }
}

impl fmt::Debug for TlsPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsPolicy")
            .field("verify", &!self.insecure)
            .field("extra_roots", &!self.extra_roots_pem.is_empty())
            .finish()
    }
}
