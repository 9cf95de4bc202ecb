//! The signer: a validated target plus credentials, a clock and a signing-key cache.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_async::time::{SharedTimeSource, TimeSource};
use aws_types::SdkConfig;
use aws_types::region::Region;

use crate::amz_date::AmzDate;
use crate::credentials::CredentialsSource;
use crate::endpoint;
use crate::error::{Error, ErrorKind};
use crate::percent;
use crate::presign::{PresignTarget, SigningIdentity, presign};
use crate::signing_key::SigningKeyCache;
use crate::token::AuthToken;

/// Every RDS token lives 15 minutes; the SDKs do not let callers change it.
const RDS_EXPIRES_IN: Duration = Duration::from_secs(900);
/// https's default port, which the SDKs leave out of the signed `host` header.
const HTTPS_DEFAULT_PORT: u16 = 443;
/// The AWS SDKs' default for DSQL tokens.
const DSQL_DEFAULT_EXPIRES_IN: Duration = Duration::from_secs(900);
/// The longest DSQL token the service accepts: one week.
const DSQL_MAX_EXPIRES_IN: Duration = Duration::from_secs(604_800);

/// The database role Aurora DSQL creates with every cluster, and the only one whose tokens
/// are signed with `Action=DbConnectAdmin` (every other role's with `DbConnect`). Role names
/// are case-sensitive: `Admin` is another role.
///
/// [`AuthTokenSigner::dsql_for_role`] picks the action by comparing with it.
///
/// # Example
///
/// ```
/// use rds_iam_token::DSQL_ADMIN_ROLE;
///
/// let user = "admin";
/// let action = if user == DSQL_ADMIN_ROLE { "dsql:DbConnectAdmin" } else { "dsql:DbConnect" };
/// assert_eq!(action, "dsql:DbConnectAdmin");
/// ```
pub const DSQL_ADMIN_ROLE: &str = "admin";

/// Signs IAM auth tokens for one database endpoint and user.
///
/// Build one per endpoint with [`AuthTokenSigner::rds`], [`AuthTokenSigner::dsql`],
/// [`AuthTokenSigner::dsql_admin`] or [`AuthTokenSigner::dsql_for_role`] and keep it: it caches the SigV4 signing key for the
/// day and temporary credentials until shortly before they expire, so each further token
/// costs one HMAC. Cloning is cheap and clones share those caches.
///
/// # Example
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
/// let signer = rds_iam_token::AuthTokenSigner::rds(
///     "mydb.abc123.us-east-1.rds.amazonaws.com",
///     5432,
///     "app_user",
/// )
/// .sdk_config(&sdk)
/// .build()?;
/// let token = signer.sign().await?;
/// // Hand `token.expose()` to the driver as the password.
/// # let _ = token; Ok(()) }
/// ```
#[derive(Clone)]
pub struct AuthTokenSigner {
    inner: Arc<Inner>,
}

struct Inner {
    target: Target,
    /// `HOST:PORT` for RDS, `HOST` for DSQL: what the token text starts with.
    url_host: String,
    /// The signed `host` header: `url_host`, but without `:443` (https's default port).
    host_header: String,
    /// `Action=...` and, for RDS, `&DBUser=...`, encoded.
    leading_query: String,
    region: String,
    expires_in: Duration,
    credentials: CredentialsSource,
    time_source: SharedTimeSource,
    signing_keys: SigningKeyCache,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Rds {
        hostname: String,
        port: u16,
        username: String,
    },
    Dsql {
        hostname: String,
        admin: bool,
    },
}

impl Target {
    fn hostname(&self) -> &str {
        match self {
            Self::Rds { hostname, .. } | Self::Dsql { hostname, .. } => hostname,
        }
    }

    fn service(&self) -> &'static str {
        match self {
            Self::Rds { .. } => "rds-db",
            Self::Dsql { .. } => "dsql",
        }
    }

    fn region_from_endpoint(&self) -> Option<&str> {
        match self {
            Self::Rds { hostname, .. } => endpoint::rds_region(hostname),
            Self::Dsql { hostname, .. } => endpoint::dsql_region(hostname),
        }
    }
}

impl AuthTokenSigner {
    /// Starts a signer for an RDS or Aurora (MySQL, PostgreSQL, MariaDB) endpoint or an
    /// RDS Proxy: `Action=connect`, service `rds-db`, 900 seconds.
    ///
    /// `hostname` is the name the token is signed for. It must be the RDS endpoint
    /// (instance, cluster, reader or proxy), even when you connect through a tunnel or a
    /// custom DNS name: RDS refuses tokens signed for any other name. Letter case does not
    /// matter: the name is signed and written lowercased, as botocore signs it.
    ///
    /// # Example
    ///
    /// ```
    /// use aws_credential_types::Credentials;
    /// use rds_iam_token::AuthTokenSigner;
    ///
    /// let signer = AuthTokenSigner::rds("mydb.abc123.eu-west-1.rds.amazonaws.com", 3306, "app")
    ///     .credentials_provider(Credentials::from_keys("AKIDEXAMPLE", "secret", None))
    ///     .build()?;
    /// assert_eq!(signer.region(), "eu-west-1");
    /// # Ok::<(), rds_iam_token::Error>(())
    /// ```
    pub fn rds(
        hostname: impl Into<String>,
        port: u16,
        username: impl Into<String>,
    ) -> SignerBuilder {
        SignerBuilder::new(Target::Rds {
            hostname: hostname.into(),
            port,
            username: username.into(),
        })
    }

    /// Starts a signer for an Aurora DSQL cluster endpoint, `Action=DbConnect`, for
    /// database roles other than `admin`.
    ///
    /// # Example
    ///
    /// ```
    /// use aws_credential_types::Credentials;
    /// use rds_iam_token::AuthTokenSigner;
    ///
    /// let signer = AuthTokenSigner::dsql("abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws")
    ///     .credentials_provider(Credentials::from_keys("AKIDEXAMPLE", "secret", None))
    ///     .build()?;
    /// assert_eq!(signer.region(), "us-east-1");
    /// # Ok::<(), rds_iam_token::Error>(())
    /// ```
    pub fn dsql(hostname: impl Into<String>) -> SignerBuilder {
        SignerBuilder::new(Target::Dsql {
            hostname: hostname.into(),
            admin: false,
        })
    }

    /// Starts a signer for an Aurora DSQL cluster endpoint, `Action=DbConnectAdmin`, for
    /// the `admin` role.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use aws_credential_types::Credentials;
    /// use rds_iam_token::AuthTokenSigner;
    ///
    /// let signer = AuthTokenSigner::dsql_admin("abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws")
    ///     .expires_in(Duration::from_secs(3600))
    ///     .credentials_provider(Credentials::from_keys("AKIDEXAMPLE", "secret", None))
    ///     .build()?;
    /// # let _ = signer;
    /// # Ok::<(), rds_iam_token::Error>(())
    /// ```
    pub fn dsql_admin(hostname: impl Into<String>) -> SignerBuilder {
        SignerBuilder::new(Target::Dsql {
            hostname: hostname.into(),
            admin: true,
        })
    }

    /// Starts a signer for an Aurora DSQL cluster endpoint and a database role:
    /// [`AuthTokenSigner::dsql_admin`] (`Action=DbConnectAdmin`) for the role
    /// [`DSQL_ADMIN_ROLE`] (`admin`, exactly: role names are case-sensitive), and
    /// [`AuthTokenSigner::dsql`] (`Action=DbConnect`) for any other role.
    ///
    /// Like those, it takes any host name (a DSQL endpoint under another name needs an
    /// explicit region); use [`DsqlEndpoint::parse`](crate::DsqlEndpoint::parse) to decide
    /// whether a host is a DSQL endpoint name.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use aws_credential_types::Credentials;
    /// use rds_iam_token::AuthTokenSigner;
    ///
    /// let credentials = Credentials::from_keys("AKIDEXAMPLE", "secret", None);
    /// let at = UNIX_EPOCH + Duration::from_secs(1_724_709_600);
    /// let host = "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws";
    /// for (role, action) in [("admin", "DbConnectAdmin"), ("app_reader", "DbConnect")] {
    ///     let signer = AuthTokenSigner::dsql_for_role(host, role)
    ///         .credentials_provider(credentials.clone())
    ///         .build()?;
    ///     let token = signer.sign_with(&credentials, at)?;
    ///     assert!(token.expose().starts_with(&format!("{host}/?Action={action}&")));
    /// }
    /// # Ok::<(), rds_iam_token::Error>(())
    /// ```
    pub fn dsql_for_role(hostname: impl Into<String>, role: &str) -> SignerBuilder {
        SignerBuilder::new(Target::Dsql {
            hostname: hostname.into(),
            admin: role == DSQL_ADMIN_ROLE,
        })
    }

    /// Signs a token with current credentials from the provider, at the time source's
    /// current time.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::CredentialsUnavailable`] when the provider fails;
    /// [`ErrorKind::InvalidSigningTime`] when the time source is before 1970.
    ///
    /// # Example
    ///
    /// ```
    /// # async fn demo(signer: rds_iam_token::AuthTokenSigner) -> Result<(), rds_iam_token::Error> {
    /// let token = signer.sign().await?;
    /// assert!(!token.is_expired_at(token.signed_at()));
    /// # Ok(()) }
    /// ```
    pub async fn sign(&self) -> Result<AuthToken, Error> {
        let now = self.inner.time_source.now();
        let credentials = self.inner.credentials.current(now).await?;
        self.sign_with(&credentials, now)
    }

    /// Signs a token with the given credentials and time, without calling the provider or
    /// the time source. This is the whole signing work; [`AuthTokenSigner::sign`] only adds
    /// the lookups.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidSigningTime`] when `time` is before 1970 or after 9999.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use aws_credential_types::Credentials;
    /// use rds_iam_token::AuthTokenSigner;
    ///
    /// let credentials = Credentials::from_keys("akid", "secret", None);
    /// let signer = AuthTokenSigner::rds("prod-instance.us-east-1.rds.amazonaws.com", 3306, "peccy")
    ///     .credentials_provider(credentials.clone())
    ///     .build()?;
    /// let token = signer.sign_with(&credentials, UNIX_EPOCH + Duration::from_secs(1_724_709_600))?;
    /// assert!(token.expose().ends_with(
    ///     "X-Amz-Signature=dd0cba843009474347af724090233265628ace491ea17ce3eb3da098b983ad89"
    /// ));
    /// # Ok::<(), rds_iam_token::Error>(())
    /// ```
    pub fn sign_with(
        &self,
        credentials: &Credentials,
        time: SystemTime,
    ) -> Result<AuthToken, Error> {
        let inner = &self.inner;
        let date = AmzDate::new(time)?;
        let service = inner.target.service();
        let signing_mac = inner.signing_keys.signing_mac(
            credentials.secret_access_key(),
            time,
            date.date(),
            &inner.region,
            service,
        );
        let target = PresignTarget {
            url_host: &inner.url_host,
            host: &inner.host_header,
            leading_query: &inner.leading_query,
            service,
            region: &inner.region,
            expires_in_secs: u32::try_from(inner.expires_in.as_secs()).unwrap_or(u32::MAX),
        };
        let identity = SigningIdentity {
            access_key_id: credentials.access_key_id(),
            session_token: credentials.session_token(),
        };
        let value = presign(&target, identity, &date, signing_mac);
        // The token's clock starts at the whole second written into X-Amz-Date.
        let signed_at = time
            .duration_since(UNIX_EPOCH)
            .map(|since| UNIX_EPOCH + Duration::from_secs(since.as_secs()))
            .unwrap_or(time);
        Ok(AuthToken::new(
            value,
            signed_at,
            inner.expires_in,
            credentials.access_key_id(),
            credentials.session_token().is_some(),
            credentials.expiry(),
        ))
    }

    /// The region tokens are signed for.
    ///
    /// # Example
    ///
    /// ```
    /// # fn demo(signer: rds_iam_token::AuthTokenSigner) {
    /// println!("signing for {}", signer.region());
    /// # }
    /// ```
    pub fn region(&self) -> &str {
        &self.inner.region
    }

    /// The host name tokens are signed for, lowercased (host names are case-insensitive;
    /// tokens carry the lowercase spelling).
    ///
    /// # Example
    ///
    /// ```
    /// # fn demo(signer: rds_iam_token::AuthTokenSigner) {
    /// println!("signing for {}", signer.hostname());
    /// # }
    /// ```
    pub fn hostname(&self) -> &str {
        self.inner.target.hostname()
    }

    /// The SigV4 service name: `rds-db` or `dsql`.
    ///
    /// # Example
    ///
    /// ```
    /// # fn demo(signer: rds_iam_token::AuthTokenSigner) {
    /// assert!(["rds-db", "dsql"].contains(&signer.service()));
    /// # }
    /// ```
    pub fn service(&self) -> &'static str {
        self.inner.target.service()
    }

    /// How long each token is valid.
    ///
    /// # Example
    ///
    /// ```
    /// # fn demo(signer: rds_iam_token::AuthTokenSigner) {
    /// println!("tokens live {:?}", signer.expires_in());
    /// # }
    /// ```
    pub fn expires_in(&self) -> Duration {
        self.inner.expires_in
    }
}

impl fmt::Debug for AuthTokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthTokenSigner")
            .field("target", &self.inner.target)
            .field("region", &self.inner.region)
            .field("expires_in", &self.inner.expires_in)
            .finish_non_exhaustive()
    }
}

/// Configures an [`AuthTokenSigner`]; [`SignerBuilder::build`] checks everything before any
/// token is signed.
///
/// # Example
///
/// ```
/// use aws_credential_types::Credentials;
/// use rds_iam_token::AuthTokenSigner;
///
/// // A tunnel or custom DNS name: sign for the RDS endpoint name, with an explicit region.
/// let signer = AuthTokenSigner::rds("localhost", 5432, "app")
///     .region("us-east-1")
///     .credentials_provider(Credentials::from_keys("AKIDEXAMPLE", "secret", None))
///     .build()?;
/// # let _ = signer;
/// # Ok::<(), rds_iam_token::Error>(())
/// ```
#[must_use = "a builder does nothing until `build()` is called"]
pub struct SignerBuilder {
    target: Target,
    region: Option<Region>,
    fallback_region: Option<Region>,
    expires_in: Option<Duration>,
    credentials_provider: Option<SharedCredentialsProvider>,
    time_source: Option<SharedTimeSource>,
}

impl SignerBuilder {
    fn new(mut target: Target) -> Self {
        // Host names are case-insensitive and RDS / DSQL endpoint names are lowercase.
        // botocore signs the lowercased host; signing it (and writing it) lowercased gives
        // the same signature, reads the region whatever the caller's spelling, and holds
        // under any reading of the host a server can make.
        match &mut target {
            Target::Rds { hostname, .. } | Target::Dsql { hostname, .. } => {
                hostname.make_ascii_lowercase();
            }
        }
        Self {
            target,
            region: None,
            fallback_region: None,
            expires_in: None,
            credentials_provider: None,
            time_source: None,
        }
    }

    /// The region to sign for. It wins over the region in the endpoint name (a
    /// difference is logged as a warning, since RDS will refuse such a token) and over
    /// an `SdkConfig`'s region. Required when the host is not an RDS/DSQL endpoint name.
    ///
    /// # Example
    ///
    /// ```
    /// # use rds_iam_token::AuthTokenSigner;
    /// let builder = AuthTokenSigner::rds("db.internal.example.com", 5432, "app").region("eu-central-1");
    /// # let _ = builder;
    /// ```
    pub fn region(mut self, region: impl Into<Cow<'static, str>>) -> Self {
        self.region = Some(Region::new(region));
        self
    }

    /// Credentials come from this provider (`Credentials` itself is one, for static keys).
    ///
    /// # Example
    ///
    /// ```
    /// # use rds_iam_token::AuthTokenSigner;
    /// use aws_credential_types::Credentials;
    /// let builder = AuthTokenSigner::rds("mydb.abc123.us-east-1.rds.amazonaws.com", 5432, "app")
    ///     .credentials_provider(Credentials::from_keys("AKIDEXAMPLE", "secret", None));
    /// # let _ = builder;
    /// ```
    pub fn credentials_provider(mut self, provider: impl ProvideCredentials + 'static) -> Self {
        self.credentials_provider = Some(SharedCredentialsProvider::new(provider));
        self
    }

    /// Takes what is not already set from an `SdkConfig`: its credentials provider, its
    /// time source, and its region as the last resort (after an explicit region and the
    /// endpoint name).
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn demo() {
    /// # use rds_iam_token::AuthTokenSigner;
    /// let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    /// let builder = AuthTokenSigner::rds("mydb.abc123.us-east-1.rds.amazonaws.com", 5432, "app")
    ///     .sdk_config(&sdk);
    /// # let _ = builder; }
    /// ```
    pub fn sdk_config(mut self, sdk_config: &SdkConfig) -> Self {
        if self.credentials_provider.is_none() {
            self.credentials_provider = sdk_config.credentials_provider();
        }
        if self.time_source.is_none() {
            self.time_source = sdk_config.time_source();
        }
        if self.fallback_region.is_none() {
            self.fallback_region = sdk_config.region().cloned();
        }
        self
    }

    /// Where "now" comes from; the system clock unless set. Tests fix it with
    /// `aws_smithy_async::time::StaticTimeSource`.
    ///
    /// # Example
    ///
    /// ```
    /// # use rds_iam_token::AuthTokenSigner;
    /// use aws_smithy_async::time::StaticTimeSource;
    /// let builder = AuthTokenSigner::rds("mydb.abc123.us-east-1.rds.amazonaws.com", 5432, "app")
    ///     .time_source(StaticTimeSource::from_secs(1_724_709_600));
    /// # let _ = builder;
    /// ```
    pub fn time_source(mut self, time_source: impl TimeSource + 'static) -> Self {
        self.time_source = Some(SharedTimeSource::new(time_source));
        self
    }

    /// How long DSQL tokens live: 1 second to 604,800 seconds (one week), whole seconds;
    /// 900 seconds unless set. RDS tokens always live 900 seconds, and setting anything
    /// else for them is an error.
    ///
    /// # Example
    ///
    /// ```
    /// # use rds_iam_token::AuthTokenSigner;
    /// use std::time::Duration;
    /// let builder = AuthTokenSigner::dsql("abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws")
    ///     .expires_in(Duration::from_secs(3600));
    /// # let _ = builder;
    /// ```
    pub fn expires_in(mut self, expires_in: Duration) -> Self {
        self.expires_in = Some(expires_in);
        self
    }

    /// Loads the standard AWS credential chain (environment, profiles, SSO, web identity,
    /// container and instance metadata) through `aws-config`, and takes what is not
    /// already set from it, as [`SignerBuilder::sdk_config`] does.
    ///
    /// When the region is set or can be read from the endpoint name, it is handed to
    /// `aws-config`, which then does not look for one (and never waits on the instance
    /// metadata service for it).
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), rds_iam_token::Error> {
    /// # use rds_iam_token::AuthTokenSigner;
    /// let signer = AuthTokenSigner::rds("mydb.abc123.us-east-1.rds.amazonaws.com", 5432, "app")
    ///     .load_default_chain()
    ///     .await
    ///     .build()?;
    /// # let _ = signer; Ok(()) }
    /// ```
    #[cfg(feature = "default-chain")]
    #[cfg_attr(docsrs, doc(cfg(feature = "default-chain")))]
    pub async fn load_default_chain(self) -> Self {
        let known_region = self.region.clone().or_else(|| {
            self.target
                .region_from_endpoint()
                .map(|r| Region::new(r.to_owned()))
        });
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = known_region {
            loader = loader.region(region);
        }
        let sdk_config = loader.load().await;
        self.sdk_config(&sdk_config)
    }

    /// Checks the configuration and builds the signer.
    ///
    /// # Errors
    ///
    /// A message naming the field and the fix for: an empty or malformed hostname, port 0,
    /// an empty user, a malformed region, no region at all, an expiry out of range, or no
    /// credentials provider.
    ///
    /// # Example
    ///
    /// ```
    /// # use rds_iam_token::{AuthTokenSigner, ErrorKind};
    /// let err = AuthTokenSigner::rds("mydb.abc123.us-east-1.rds.amazonaws.com", 5432, "")
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), &ErrorKind::InvalidUsername);
    /// ```
    pub fn build(self) -> Result<AuthTokenSigner, Error> {
        // The host is already lowercase (`SignerBuilder::new`).
        let target = self.target;
        endpoint::validate_hostname(target.hostname())?;
        let (url_host, host_header, leading_query, expires_in) = match &target {
            Target::Rds {
                hostname,
                port,
                username,
            } => {
                if *port == 0 {
                    return Err(Error::new(
                        ErrorKind::InvalidPort,
                        "invalid port 0: give the database port (5432 for PostgreSQL, 3306 for MySQL)",
                    ));
                }
                if username.is_empty() {
                    return Err(Error::new(
                        ErrorKind::InvalidUsername,
                        "invalid username: it is empty; give the database user the token is for",
                    ));
                }
                if let Some(expires_in) = self.expires_in.filter(|e| *e != RDS_EXPIRES_IN) {
                    return Err(Error::new(
                        ErrorKind::InvalidExpiry,
                        format!(
                            "invalid expires_in {}s: RDS tokens always live 900 seconds; \
                             remove the setting",
                            expires_in.as_secs()
                        ),
                    ));
                }
                let mut query = String::from("Action=connect&DBUser=");
                percent::encode_into(&mut query, username);
                let url_host = format!("{hostname}:{port}");
                // As botocore (and every SDK that signs through a URL) does: the signed
                // `host` header leaves out https's default port, the text keeps it. RDS
                // never listens on 443 (its ports are 1150-65535), so this only matters
                // to stay byte-identical.
                let host_header = if *port == HTTPS_DEFAULT_PORT {
                    hostname.clone()
                } else {
                    url_host.clone()
                };
                (url_host, host_header, query, RDS_EXPIRES_IN)
            }
            Target::Dsql { hostname, admin } => {
                let expires_in = self.expires_in.unwrap_or(DSQL_DEFAULT_EXPIRES_IN);
                if expires_in.as_secs() == 0
                    || expires_in > DSQL_MAX_EXPIRES_IN
                    || expires_in.subsec_nanos() != 0
                {
                    return Err(Error::new(
                        ErrorKind::InvalidExpiry,
                        format!(
                            "invalid expires_in {expires_in:?}: DSQL tokens live from 1 to \
                             604800 whole seconds (one week)"
                        ),
                    ));
                }
                let action = if *admin {
                    "DbConnectAdmin"
                } else {
                    "DbConnect"
                };
                (
                    hostname.clone(),
                    hostname.clone(),
                    format!("Action={action}"),
                    expires_in,
                )
            }
        };
        let region = resolve_region(&target, self.region, self.fallback_region)?;
        let provider = self.credentials_provider.ok_or_else(|| {
            Error::new(
                ErrorKind::NoCredentialsProvider,
                "no credentials provider: set one with `credentials_provider(..)` or \
                 `sdk_config(..)`",
            )
        })?;
        Ok(AuthTokenSigner {
            inner: Arc::new(Inner {
                target,
                url_host,
                host_header,
                leading_query,
                region,
                expires_in,
                credentials: CredentialsSource::new(provider),
                time_source: self.time_source.unwrap_or_default(),
                signing_keys: SigningKeyCache::default(),
            }),
        })
    }
}

impl fmt::Debug for SignerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignerBuilder")
            .field("target", &self.target)
            .field("region", &self.region)
            .field("fallback_region", &self.fallback_region)
            .field("expires_in", &self.expires_in)
            .field("credentials_provider", &self.credentials_provider.is_some())
            .finish_non_exhaustive()
    }
}

/// Explicit region, else the endpoint's, else the fallback (an `SdkConfig`'s), else an error.
fn resolve_region(
    target: &Target,
    explicit: Option<Region>,
    fallback: Option<Region>,
) -> Result<String, Error> {
    let from_endpoint = target.region_from_endpoint();
    if let Some(explicit) = explicit {
        endpoint::validate_region(explicit.as_ref())?;
        if let Some(from_endpoint) = from_endpoint.filter(|r| *r != explicit.as_ref()) {
            tracing::warn!(
                hostname = target.hostname(),
                region = explicit.as_ref(),
                endpoint_region = from_endpoint,
                "the explicit region differs from the region in the endpoint name; \
                 the database will refuse tokens signed for the wrong region"
            );
        }
        return Ok(explicit.as_ref().to_owned());
    }
    if let Some(from_endpoint) = from_endpoint {
        return Ok(from_endpoint.to_owned());
    }
    if let Some(fallback) = fallback {
        endpoint::validate_region(fallback.as_ref())?;
        return Ok(fallback.as_ref().to_owned());
    }
    let kind_of_endpoint = match target {
        Target::Rds { .. } => "an RDS endpoint (NAME.ID.REGION.rds.amazonaws.com)",
        Target::Dsql { .. } => "a DSQL endpoint (ID.dsql.REGION.on.aws)",
    };
    Err(Error::new(
        ErrorKind::RegionNotFound,
        format!(
            "no region for {:?}: it is not {kind_of_endpoint}, so set the region explicitly. \
             If this is a custom DNS name or a tunnel, also sign for the real endpoint name: \
             the database refuses tokens signed for any other host",
            target.hostname()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    /// Found by fuzzing (fuzz/corpus/token_endpoint/regression-uppercase-host): a host
    /// spelled in capitals had no region and, given one, a signature botocore does not
    /// make (botocore signs the lowercased host).
    #[test]
    fn the_host_letter_case_changes_nothing() {
        let credentials = Credentials::from_keys("akid", "secret", None);
        let signer =
            AuthTokenSigner::rds("PROD-Instance.US-EAST-1.rds.amazonaws.com", 3306, "peccy")
                .credentials_provider(credentials.clone())
                .build()
                .unwrap();
        assert_eq!(signer.region(), "us-east-1");
        assert_eq!(
            signer.hostname(),
            "prod-instance.us-east-1.rds.amazonaws.com"
        );
        let token = signer
            .sign_with(
                &credentials,
                UNIX_EPOCH + Duration::from_secs(1_724_709_600),
            )
            .unwrap();
        // AWS's reference signature, which botocore 1.43.11 also gives for this spelling.
        assert!(
            token
                .expose()
                .starts_with("prod-instance.us-east-1.rds.amazonaws.com:3306/?")
        );
        assert!(token.expose().ends_with(
            "X-Amz-Signature=dd0cba843009474347af724090233265628ace491ea17ce3eb3da098b983ad89"
        ));
        let dsql = AuthTokenSigner::dsql("ABC.DSQL.US-EAST-1.ON.AWS")
            .credentials_provider(credentials)
            .build()
            .unwrap();
        assert_eq!(dsql.region(), "us-east-1");
    }

    fn first_query_part(builder: SignerBuilder) -> String {
        let credentials = Credentials::from_keys("AKIDEXAMPLE", "secret", None);
        let token = builder
            .credentials_provider(credentials.clone())
            .build()
            .unwrap()
            .sign_with(
                &credentials,
                UNIX_EPOCH + Duration::from_secs(1_724_709_600),
            )
            .unwrap();
        token.expose().split('&').next().unwrap().to_owned()
    }

    /// The cases the sqlx adapter and the CLI tested on their own copies of this choice.
    #[test]
    fn only_the_admin_role_signs_db_connect_admin() {
        let host = "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws";
        assert_eq!(
            first_query_part(AuthTokenSigner::dsql_for_role(host, "admin")),
            format!("{host}/?Action=DbConnectAdmin")
        );
        for role in ["app", "Admin", "ADMIN", "admin2", " admin", ""] {
            assert_eq!(
                first_query_part(AuthTokenSigner::dsql_for_role(host, role)),
                format!("{host}/?Action=DbConnect"),
                "{role:?}"
            );
        }
        // The same tokens as the explicit constructors, expiry and region included.
        for (role, explicit) in [
            ("admin", AuthTokenSigner::dsql_admin(host)),
            ("app", AuthTokenSigner::dsql(host)),
        ] {
            let week = Duration::from_secs(604_800);
            let credentials = Credentials::from_keys("AKIDEXAMPLE", "secret", None);
            let at = UNIX_EPOCH + Duration::from_secs(1_724_709_600);
            let sign = |builder: SignerBuilder| {
                let token = builder
                    .expires_in(week)
                    .credentials_provider(credentials.clone())
                    .build()
                    .unwrap()
                    .sign_with(&credentials, at)
                    .unwrap();
                token.expose().to_owned()
            };
            assert_eq!(
                sign(AuthTokenSigner::dsql_for_role(host, role)),
                sign(explicit)
            );
        }
    }

    /// `a.b.dsql.REGION.on.aws` is not a DSQL endpoint name: no region is read from it
    /// (the signer used to read one), so it needs an explicit region like any other name.
    #[test]
    fn extra_labels_before_the_cluster_id_give_no_region() {
        let err = AuthTokenSigner::dsql("a.b.dsql.us-east-1.on.aws")
            .credentials_provider(Credentials::from_keys("AKIDEXAMPLE", "secret", None))
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::RegionNotFound);
        assert!(err.to_string().contains("ID.dsql.REGION.on.aws"), "{err}");
        let signer = AuthTokenSigner::dsql("a.b.dsql.us-east-1.on.aws")
            .region("us-east-1")
            .credentials_provider(Credentials::from_keys("AKIDEXAMPLE", "secret", None))
            .build()
            .unwrap();
        assert_eq!(signer.region(), "us-east-1");
    }
}
