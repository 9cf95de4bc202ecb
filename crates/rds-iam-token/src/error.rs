//! The one error type of this crate.

use std::error::Error as StdError;
use std::fmt;

/// Why a signer could not be built or a token could not be signed.
///
/// The message names the field at fault and says how to fix it. The source chain
/// (`std::error::Error::source`) carries the underlying credentials error, if any.
/// No message ever contains a token, a secret key or a session token.
///
/// # Example
///
/// ```
/// use rds_iam_token::{AuthTokenSigner, ErrorKind};
///
/// let err = AuthTokenSigner::rds("db.example.internal", 5432, "app")
///     .build()
///     .unwrap_err();
/// assert_eq!(err.kind(), &ErrorKind::RegionNotFound);
/// assert!(err.to_string().contains("region"));
/// ```
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

/// What went wrong, for programs that react to it.
///
/// # Example
///
/// ```
/// use rds_iam_token::{AuthTokenSigner, ErrorKind};
///
/// let err = AuthTokenSigner::rds("db.us-east-1.rds.amazonaws.com", 0, "app").build().unwrap_err();
/// assert_eq!(err.kind(), &ErrorKind::InvalidPort);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The hostname is empty or is not a bare host name (scheme, path, port or bad characters).
    InvalidHostname,
    /// The port is 0.
    InvalidPort,
    /// The database user name is empty.
    InvalidUsername,
    /// The region is malformed.
    InvalidRegion,
    /// No region was given, none could be read from the endpoint name and no fallback was set.
    RegionNotFound,
    /// The token lifetime is out of the range the service accepts.
    InvalidExpiry,
    /// No credentials provider was configured.
    NoCredentialsProvider,
    /// The credentials provider failed to provide credentials.
    CredentialsUnavailable,
    /// The signing time cannot be represented (before 1970 or after 9999).
    InvalidSigningTime,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn with_source(
        mut self,
        source: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        self.source = Some(source.into());
        self
    }

    /// What went wrong.
    ///
    /// # Example
    ///
    /// ```
    /// use rds_iam_token::{AuthTokenSigner, ErrorKind};
    ///
    /// let err = AuthTokenSigner::rds("", 5432, "app").build().unwrap_err();
    /// assert_eq!(err.kind(), &ErrorKind::InvalidHostname);
    /// ```
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}
