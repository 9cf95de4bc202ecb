//! IAM database authentication for sqlx pools on Amazon RDS and Aurora.

mod ca_bundle;

pub use ca_bundle::RDS_CA_BUNDLE_PEM;
