//! The signed token, which keeps its text out of logs.

use std::fmt;
use std::time::{Duration, SystemTime};

/// An IAM database auth token: the password to present when connecting.
///
/// `Debug` never shows the token; read it with [`AuthToken::expose`] at the one place that
/// hands it to the database driver.
///
/// # Example
///
/// ```
/// # async fn demo() -> Result<(), rds_iam_token::Error> {
/// use aws_credential_types::Credentials;
/// use rds_iam_token::AuthTokenSigner;
///
/// let signer = AuthTokenSigner::rds("mydb.abc123.us-east-1.rds.amazonaws.com", 5432, "app")
///     .credentials_provider(Credentials::from_keys("AKIDEXAMPLE", "secret", None))
///     .build()?;
/// let token = signer.sign().await?;
/// assert!(format!("{token:?}").starts_with("AuthToken { token: _"));
/// let password: &str = token.expose();
/// assert!(password.starts_with("mydb.abc123.us-east-1.rds.amazonaws.com:5432/?Action=connect"));
/// # Ok(()) }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct AuthToken {
    value: String,
    signed_at: SystemTime,
    expires_in: Duration,
    access_key_id: String,
    temporary_credentials: bool,
    /// When the credentials that signed the token expire: the token dies with them.
    credentials_expire_at: Option<SystemTime>,
}

impl AuthToken {
    pub(crate) fn new(
        value: String,
        signed_at: SystemTime,
        expires_in: Duration,
        access_key_id: &str,
        temporary_credentials: bool,
        credentials_expire_at: Option<SystemTime>,
    ) -> Self {
        Self {
            value,
            signed_at,
            expires_in,
            access_key_id: access_key_id.to_owned(),
            temporary_credentials,
            credentials_expire_at,
        }
    }

    /// When the temporary credentials that signed the token expire, if they do. The
    /// database refuses the token from then on, however young it is.
    ///
    /// # Example
    ///
    /// ```
    /// # fn demo(token: rds_iam_token::AuthToken) {
    /// if let Some(at) = token.credentials_expire_at() {
    ///     assert!(token.expires_at() <= at);
    /// }
    /// # }
    /// ```
    pub fn credentials_expire_at(&self) -> Option<SystemTime> {
        self.credentials_expire_at
    }

    /// The access key id that signed the token (it is part of the token, and not a
    /// secret), for logs that say which credentials were used.
    ///
    /// # Example
    ///
    /// ```
    /// # fn demo(token: rds_iam_token::AuthToken) {
    /// println!("signed with {}", token.access_key_id());
    /// # }
    /// ```
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// Whether the token was signed with temporary credentials (it then carries a session
    /// token, and stops working when those credentials expire).
    ///
    /// # Example
    ///
    /// ```
    /// # fn demo(token: rds_iam_token::AuthToken) {
    /// let kind = if token.is_from_temporary_credentials() { "temporary" } else { "long-term" };
    /// # let _ = kind; }
    /// ```
    pub fn is_from_temporary_credentials(&self) -> bool {
        self.temporary_credentials
    }

    /// The token text, to use as the database password.
    ///
    /// # Example
    ///
    /// ```
    /// # fn demo(token: rds_iam_token::AuthToken) {
    /// let password = token.expose();
    /// # let _ = password; }
    /// ```
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// The token text, taking the token apart.
    ///
    /// # Example
    ///
    /// ```
    /// # fn demo(token: rds_iam_token::AuthToken) {
    /// let password: String = token.into_exposed();
    /// # let _ = password; }
    /// ```
    pub fn into_exposed(self) -> String {
        self.value
    }

    /// When the token was signed (its `X-Amz-Date`).
    ///
    /// # Example
    ///
    /// ```
    /// # fn demo(token: rds_iam_token::AuthToken) {
    /// let age = token.signed_at().elapsed().unwrap_or_default();
    /// # let _ = age; }
    /// ```
    pub fn signed_at(&self) -> SystemTime {
        self.signed_at
    }

    /// When the server stops accepting the token for new connections: the end of its own
    /// life (`X-Amz-Expires` after [`signed_at`](Self::signed_at)) or the expiry of the
    /// temporary credentials that signed it, whichever comes first.
    ///
    /// Open sessions are not affected by expiry; the token only matters at authentication.
    ///
    /// # Example
    ///
    /// ```
    /// # fn demo(signer: rds_iam_token::AuthTokenSigner, token: rds_iam_token::AuthToken) {
    /// assert!(token.expires_at() <= token.signed_at() + signer.expires_in());
    /// # }
    /// ```
    pub fn expires_at(&self) -> SystemTime {
        let own = self.signed_at + self.expires_in;
        match self.credentials_expire_at {
            Some(credentials) if credentials < own => credentials,
            _ => own,
        }
    }

    /// Whether the token has expired at `now`.
    ///
    /// # Example
    ///
    /// ```
    /// # fn demo(token: rds_iam_token::AuthToken) {
    /// use std::time::SystemTime;
    /// if token.is_expired_at(SystemTime::now()) {
    ///     // sign a new one
    /// }
    /// # }
    /// ```
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        now >= self.expires_at()
    }
}

impl fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        /// Shows that a value is there without showing it, as tokio-postgres does.
        struct Redacted;
        impl fmt::Debug for Redacted {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("_")
            }
        }
        f.debug_struct("AuthToken")
            .field("token", &Redacted)
            .field("signed_at", &self.signed_at)
            .field("expires_at", &self.expires_at())
            .field("credentials_expire_at", &self.credentials_expire_at)
            .field("access_key_id", &self.access_key_id)
            .finish()
    }
}
