//! The Amazon RDS certificate authorities, embedded from the workspace's `certs/`.

/// Every RDS root CA this crate trusts by default, as PEM: AWS's global bundle (all
/// commercial regions) followed by the GovCloud bundle. RDS server certificates chain to
/// these roots, which are not in the Mozilla / webpki store.
///
/// See `certs/SOURCES.md` in the repository for where they come from.
///
/// # Example
///
/// ```
/// let pem = sqlx_rds_iam::RDS_CA_BUNDLE_PEM;
/// assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
/// ```
pub const RDS_CA_BUNDLE_PEM: &str = concat!(
    include_str!("../../../certs/global-bundle.pem"),
    include_str!("../../../certs/govcloud-bundle.pem"),
);
