//! The Amazon RDS / Aurora root certificate authorities, and the Amazon Trust Services
//! roots, embedded as PEM text.
//!
//! RDS and Aurora server certificates chain to AWS's RDS roots, which are not in the
//! Mozilla / webpki store. Aurora DSQL and RDS Proxy certificates chain to the public
//! Amazon Root CA 1-4 instead, which are in that store but not in a file that every
//! client can be handed (psql 15 has no `sslrootcert=system`). This crate holds both so
//! that a client can verify the server (PostgreSQL `sslmode=verify-full`, MySQL
//! `VERIFY_IDENTITY`) with nothing to download:
//!
//! ```
//! // Hand the bundle to any TLS stack or database client that reads PEM roots.
//! let pem: &str = rds_iam_certs::RDS_CA_BUNDLE_PEM;
//! assert_eq!(pem.matches("-----BEGIN CERTIFICATE-----").count(), 114);
//! // RDS, RDS Proxy and Aurora DSQL endpoints, in one file.
//! let all: &str = rds_iam_certs::RDS_AND_AMAZON_CA_BUNDLE_PEM;
//! assert_eq!(all.matches("-----BEGIN CERTIFICATE-----").count(), 118);
//! ```
//!
//! The bundles are data, not code: where each comes from, its checksum and how to check a
//! copy is in `certs/SOURCES.md` (also in the repository's top-level `certs/`, which the
//! workspace tests keep byte-identical to this crate's copy). A new release of this crate
//! follows every change AWS makes to the bundles.

/// AWS's global RDS bundle: for every commercial region, its RSA2048, RSA4096 and ECC384
/// G1 root CAs (108 certificates), as published at
/// `https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem`.
///
/// # Example
///
/// ```
/// let pem = rds_iam_certs::RDS_GLOBAL_BUNDLE_PEM;
/// assert!(pem.contains("-----BEGIN CERTIFICATE-----"));
/// assert_eq!(pem.matches("-----END CERTIFICATE-----").count(), 108);
/// ```
pub const RDS_GLOBAL_BUNDLE_PEM: &str = include_str!("../certs/global-bundle.pem");

/// The AWS GovCloud (US) RDS roots (us-gov-west-1 and us-gov-east-1, RSA2048, RSA4096 and
/// ECC384 G1: 6 certificates), which AWS publishes apart from the global bundle.
///
/// # Example
///
/// ```
/// let pem = rds_iam_certs::RDS_GOVCLOUD_BUNDLE_PEM;
/// assert_eq!(pem.matches("-----END CERTIFICATE-----").count(), 6);
/// ```
pub const RDS_GOVCLOUD_BUNDLE_PEM: &str = include_str!("../certs/govcloud-bundle.pem");

/// Every RDS root CA, as PEM: [`RDS_GLOBAL_BUNDLE_PEM`] followed by
/// [`RDS_GOVCLOUD_BUNDLE_PEM`] (114 certificates). This is what `sqlx-rds-iam` and the
/// `rds-iam` tool trust for RDS endpoints.
///
/// # Example
///
/// ```
/// use rds_iam_certs::{RDS_CA_BUNDLE_PEM, RDS_GLOBAL_BUNDLE_PEM, RDS_GOVCLOUD_BUNDLE_PEM};
///
/// assert!(RDS_CA_BUNDLE_PEM.starts_with("-----BEGIN CERTIFICATE-----"));
/// assert_eq!(
///     RDS_CA_BUNDLE_PEM.len(),
///     RDS_GLOBAL_BUNDLE_PEM.len() + RDS_GOVCLOUD_BUNDLE_PEM.len()
/// );
/// ```
pub const RDS_CA_BUNDLE_PEM: &str = concat!(
    include_str!("../certs/global-bundle.pem"),
    include_str!("../certs/govcloud-bundle.pem"),
);

/// The four Amazon Trust Services roots, Amazon Root CA 1 (RSA 2048), 2 (RSA 4096), 3
/// (ECDSA P-256) and 4 (ECDSA P-384), in that order: the roots that Aurora DSQL and RDS
/// Proxy server certificates chain to. They are in the Mozilla store (and so in
/// `webpki-roots`); this copy is byte-identical to Debian's `ca-certificates` files and
/// its certificates to those in `webpki-roots` (see `certs/SOURCES.md`).
///
/// # Example
///
/// ```
/// let pem = rds_iam_certs::AMAZON_ROOT_CA_BUNDLE_PEM;
/// assert_eq!(pem.matches("-----END CERTIFICATE-----").count(), 4);
/// ```
pub const AMAZON_ROOT_CA_BUNDLE_PEM: &str = include_str!("../certs/amazon-root-ca.pem");

/// Every root an AWS database endpoint's certificate chains to: [`RDS_CA_BUNDLE_PEM`]
/// (RDS and Aurora) followed by [`AMAZON_ROOT_CA_BUNDLE_PEM`] (Aurora DSQL, RDS Proxy), 118
/// certificates. This is the file the `rds-iam` tool hands `psql` and `mysql`.
///
/// # Example
///
/// ```
/// use rds_iam_certs::{AMAZON_ROOT_CA_BUNDLE_PEM, RDS_AND_AMAZON_CA_BUNDLE_PEM, RDS_CA_BUNDLE_PEM};
///
/// assert!(RDS_AND_AMAZON_CA_BUNDLE_PEM.starts_with(RDS_CA_BUNDLE_PEM));
/// assert!(RDS_AND_AMAZON_CA_BUNDLE_PEM.ends_with(AMAZON_ROOT_CA_BUNDLE_PEM));
/// ```
pub const RDS_AND_AMAZON_CA_BUNDLE_PEM: &str = concat!(
    include_str!("../certs/global-bundle.pem"),
    include_str!("../certs/govcloud-bundle.pem"),
    include_str!("../certs/amazon-root-ca.pem"),
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundles_end_with_a_newline_so_they_concatenate() {
        for pem in [
            RDS_GLOBAL_BUNDLE_PEM,
            RDS_GOVCLOUD_BUNDLE_PEM,
            AMAZON_ROOT_CA_BUNDLE_PEM,
        ] {
            assert!(pem.ends_with("-----END CERTIFICATE-----\n"));
        }
    }

    #[test]
    fn every_block_is_a_certificate() {
        for (pem, count) in [
            (RDS_CA_BUNDLE_PEM, 114),
            (AMAZON_ROOT_CA_BUNDLE_PEM, 4),
            (RDS_AND_AMAZON_CA_BUNDLE_PEM, 118),
        ] {
            assert_eq!(pem.matches("-----BEGIN ").count(), count);
            assert_eq!(pem.matches("-----BEGIN CERTIFICATE-----").count(), count);
        }
    }

    #[test]
    fn the_combined_bundle_is_the_two_in_order() {
        assert_eq!(
            RDS_AND_AMAZON_CA_BUNDLE_PEM,
            [RDS_CA_BUNDLE_PEM, AMAZON_ROOT_CA_BUNDLE_PEM].concat()
        );
    }
}
