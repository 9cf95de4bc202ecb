//! IAM database auth tokens for Amazon RDS, Aurora and Aurora DSQL.
//!
//! A token is a SigV4 presigned URL that the database accepts as a password for 15 minutes
//! (RDS) or up to a week (DSQL). This crate signs the same bytes as the AWS SDKs (boto3,
//! the AWS CLI, Go, .NET), checked byte for byte against botocore, with no HTTP client,
//! no database driver and no AWS service client in its dependencies.
//!
//! ```no_run
//! use rds_iam_token::AuthTokenSigner;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
//! let signer = AuthTokenSigner::rds("mydb.abc123.us-east-1.rds.amazonaws.com", 5432, "app_user")
//!     .sdk_config(&sdk)
//!     .build()?;
//! let token = signer.sign().await?;
//! // `token.expose()` is the password; Debug output never shows it.
//! println!("{token:?}");
//! # Ok(()) }
//! ```
//!
//! # What it does for you
//! - **Region**: an explicit region wins; otherwise it is read from the endpoint name, in
//!   every partition (`*.REGION.rds.amazonaws.com`, `.amazonaws.com.cn`, GovCloud, ISO,
//!   `rds-fips`, DSQL's `ID.dsql.REGION.on.aws`); otherwise an `SdkConfig`'s region;
//!   otherwise an error. Never a silent `us-east-1`.
//! - **Aurora DSQL**: [`DsqlEndpoint::parse`] tells a DSQL cluster endpoint name from any
//!   other host (and gives its cluster id and region);
//!   [`AuthTokenSigner::dsql_for_role`] signs `DbConnectAdmin` for the `admin` role and
//!   `DbConnect` for any other.
//! - **Validation**: bad hosts, port 0, empty users and out-of-range expiries fail in
//!   [`SignerBuilder::build`] with a message that names the field and the fix.
//! - **Speed**: the signing key (four chained HMACs) is cached per secret key, day,
//!   region and service, and the token is written without a URL parser, so a token
//!   costs a few microseconds.
//! - **Secrets**: [`AuthToken`]'s `Debug` shows `token: _`; the text comes out only
//!   through [`AuthToken::expose`].
//!
//! # Features
// Linked by anchor: an intra-doc link is broken (a warning) in docs built without the feature.
//! - `default-chain`: [`SignerBuilder::load_default_chain`](SignerBuilder#method.load_default_chain),
//!   which reads the standard AWS credential chain through `aws-config` (and so brings in
//!   its HTTP client).

// docs.rs builds with `--cfg docsrs` on nightly: mark feature-gated items there.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod amz_date;
mod credentials;
mod endpoint;
mod error;
mod percent;
mod presign;
mod signer;
mod signing_key;
mod token;

pub use endpoint::DsqlEndpoint;
pub use error::{Error, ErrorKind};
pub use signer::{AuthTokenSigner, DSQL_ADMIN_ROLE, SignerBuilder};
pub use token::AuthToken;

/// Re-exported so that callers can name a region without depending on `aws-types`.
pub use aws_types::region::Region;
