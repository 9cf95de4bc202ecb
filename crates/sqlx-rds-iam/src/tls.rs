//! Which certificate authorities a pool trusts, and whether it may skip verification.

use std::fmt;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use rds_iam_certs::RDS_CA_BUNDLE_PEM;

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

    /// Whether the user added roots of their own.
    pub(crate) fn has_user_roots(&self) -> bool {
        !self.extra_roots_pem.is_empty()
    }

    /// The PEM text of every trusted root: the RDS roots of `region`, then the user's.
    ///
    /// sqlx adds these to its webpki (Mozilla) roots; it offers no way to trust these alone.
    /// It also parses them again for every connection, so only the region's roots are
    /// passed (AWS publishes the same per-region bundles); a region the bundle does not
    /// name (China, a new region) gets the whole bundle.
    pub(crate) fn roots_pem(&self, region: &str) -> Vec<u8> {
        let rds_roots = region_roots_pem(region);
        let mut pem = Vec::with_capacity(rds_roots.len() + self.extra_roots_pem.len() + 1);
        pem.extend_from_slice(rds_roots.as_bytes());
        if !pem.ends_with(b"\n") {
            pem.push(b'\n');
        }
        pem.extend_from_slice(&self.extra_roots_pem);
        pem
    }
}

impl TlsPolicy {
    /// The PEM text of the roots to add for an Aurora DSQL endpoint: only the user's.
    ///
    /// DSQL's certificates chain to the public Amazon Root CAs, which are in sqlx's webpki
    /// roots; the RDS bundle signs none of them, so it is not trusted for DSQL.
    pub(crate) fn dsql_roots_pem(&self) -> Vec<u8> {
        self.extra_roots_pem.clone()
    }
}

/// The certificates of the embedded bundle whose subject is `Amazon RDS <region> Root CA ...`,
/// as PEM text; the whole bundle if there are none.
fn region_roots_pem(region: &str) -> String {
    let marker = format!("Amazon RDS {region} Root CA");
    let mut selected = String::new();
    for block in RDS_CA_BUNDLE_PEM.split_inclusive("-----END CERTIFICATE-----") {
        let Ok(der) = CertificateDer::from_pem_slice(block.as_bytes()) else {
            continue;
        };
        // The subject's common name is stored as plain ASCII in the DER encoding.
        if der
            .as_ref()
            .windows(marker.len())
            .any(|window| window == marker.as_bytes())
        {
            selected.push_str(block.trim_start());
            selected.push('\n');
        }
    }
    if selected.is_empty() {
        RDS_CA_BUNDLE_PEM.to_owned()
    } else {
        selected
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

#[cfg(test)]
mod tests {
    use super::*;

    fn count(pem: &str) -> usize {
        pem.matches("-----BEGIN CERTIFICATE-----").count()
    }

    #[test]
    fn keeps_the_three_roots_of_the_region() {
        for region in ["us-east-1", "eu-west-3", "us-gov-west-1", "ap-southeast-2"] {
            let pem = region_roots_pem(region);
            assert_eq!(count(&pem), 3, "{region}");
            let parsed: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes())
                .collect::<Result<_, _>>()
                .expect("valid PEM");
            assert_eq!(parsed.len(), 3);
        }
    }

    #[test]
    fn a_region_the_bundle_does_not_name_gets_every_root() {
        assert_eq!(count(&region_roots_pem("cn-north-1")), 114);
    }

    #[test]
    fn dsql_trusts_only_the_users_roots_on_top_of_webpki() {
        let mut policy = TlsPolicy::default();
        assert!(policy.dsql_roots_pem().is_empty());
        policy.add_roots_pem(b"-----BEGIN CERTIFICATE-----\nextra\n-----END CERTIFICATE-----\n");
        let pem = String::from_utf8(policy.dsql_roots_pem()).unwrap();
        assert_eq!(count(&pem), 1);
        assert!(pem.contains("extra"));
    }

    #[test]
    fn user_roots_come_after_the_region_roots() {
        let mut policy = TlsPolicy::default();
        policy.add_roots_pem(b"-----BEGIN CERTIFICATE-----\nextra\n-----END CERTIFICATE-----\n");
        let pem = String::from_utf8(policy.roots_pem("us-east-1")).unwrap();
        assert_eq!(count(&pem), 4);
        assert!(pem.ends_with("extra\n-----END CERTIFICATE-----\n"));
    }
}
