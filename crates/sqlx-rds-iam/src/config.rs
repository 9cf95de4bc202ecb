//! `IamAuth`: what IAM authentication needs beyond the ordinary sqlx connect options.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_async::time::{SharedTimeSource, TimeSource};
use aws_types::SdkConfig;
use rds_iam_token::{AuthTokenSigner, DsqlEndpoint, SignerBuilder};

use crate::credentials::SharedCredentialsCache;
use crate::error::Error;
use crate::tls::TlsPolicy;

/// Tokens are valid for 15 minutes, but a new connection should never carry one near
/// that edge: clocks drift, connects queue, and a failed refresh needs room to retry.
/// Five minutes leaves ten minutes of margin and mints a token every 2.5 minutes.
const DEFAULT_MAX_TOKEN_AGE: Duration = Duration::from_secs(5 * 60);
/// The shortest `max_token_age`: a token is signed every half of it, and anything shorter
/// is a refresh loop, not a setting (tokens carry whole seconds).
const MIN_TOKEN_AGE: Duration = Duration::from_secs(1);
/// A token older than this is rejected by RDS; DSQL pool tokens are signed for as long
/// (the pool signs a new one every half `max_token_age` anyway).
const TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// IAM authentication settings for a pool: where credentials come from, what to sign for,
/// how fresh tokens must be, and which certificate authorities to trust.
///
/// Host, port, user and database come from the ordinary sqlx URL or connect options.
///
/// # Example
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use sqlx::postgres::PgPoolOptions;
/// use sqlx_rds_iam::{IamAuth, IamAuthExt};
///
/// let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
/// let pool = PgPoolOptions::new()
///     .max_connections(10)
///     .iam_auth(IamAuth::from_sdk_config(&sdk))
///     .connect("postgres://app_user@mydb.cluster-abc.us-east-1.rds.amazonaws.com:5432/app")
///     .await?;
/// # let _ = pool; Ok(()) }
/// ```
#[derive(Clone)]
#[must_use]
pub struct IamAuth {
    pub(crate) credentials_provider: Option<SharedCredentialsProvider>,
    pub(crate) sdk_config: Option<SdkConfig>,
    pub(crate) time_source: Option<SharedTimeSource>,
    pub(crate) region: Option<Cow<'static, str>>,
    pub(crate) signing_host: Option<String>,
    pub(crate) signing_port: Option<u16>,
    pub(crate) max_token_age: Duration,
    pub(crate) tls: TlsPolicy,
    /// Sign Aurora DSQL tokens whatever the host name ([`IamAuth::dsql`]).
    pub(crate) dsql: bool,
    /// Shared by clones: the pools of one `IamAuth` fetch credentials once per rotation.
    pub(crate) credentials_cache: Arc<SharedCredentialsCache>,
}

impl IamAuth {
    /// Credentials, region fallback and clock from an `SdkConfig` (what
    /// `aws_config::load_defaults` returns): the standard AWS credential chain.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # async fn demo() {
    /// let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    /// let auth = sqlx_rds_iam::IamAuth::from_sdk_config(&sdk);
    /// # let _ = auth; }
    /// ```
    pub fn from_sdk_config(sdk_config: &SdkConfig) -> Self {
        Self {
            sdk_config: Some(sdk_config.clone()),
            ..Self::empty()
        }
    }

    /// Credentials from any provider (`Credentials` itself, for static keys in tests).
    /// The region must then be set or readable from the endpoint name.
    ///
    /// # Example
    ///
    /// ```
    /// use aws_credential_types::Credentials;
    /// let auth = sqlx_rds_iam::IamAuth::from_credentials_provider(
    ///     Credentials::from_keys("AKIDEXAMPLE", "secret", None),
    /// );
    /// # let _ = auth;
    /// ```
    pub fn from_credentials_provider(provider: impl ProvideCredentials + 'static) -> Self {
        Self {
            credentials_provider: Some(SharedCredentialsProvider::new(provider)),
            ..Self::empty()
        }
    }

    fn empty() -> Self {
        Self {
            credentials_provider: None,
            sdk_config: None,
            time_source: None,
            region: None,
            signing_host: None,
            signing_port: None,
            max_token_age: DEFAULT_MAX_TOKEN_AGE,
            tls: TlsPolicy::default(),
            dsql: false,
            credentials_cache: Arc::default(),
        }
    }

    /// The region to sign for. Needed when the host is not an RDS or DSQL endpoint name
    /// (a proxy or custom DNS name with your own CA, a local test server); otherwise it is read from the
    /// endpoint name, then from the `SdkConfig`. With [`IamAuth::dsql`], a bare DSQL
    /// cluster id as the host is the cluster's endpoint in this region (or the
    /// `SdkConfig`'s).
    ///
    /// # Example
    ///
    /// ```
    /// # use aws_credential_types::Credentials;
    /// let auth = sqlx_rds_iam::IamAuth::from_credentials_provider(Credentials::from_keys("AKIDEXAMPLE", "secret", None))
    ///     .region("eu-west-1");
    /// # let _ = auth;
    /// ```
    pub fn region(mut self, region: impl Into<Cow<'static, str>>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Signs tokens for this host instead of the host you connect to (RDS and DSQL refuse
    /// tokens signed for any name but the endpoint's).
    ///
    /// TLS still verifies the host you connect to, and sqlx has no separate TLS name: an
    /// AWS certificate names the endpoint, so connecting to `localhost` (a tunnel) or a
    /// custom DNS name can never pass verify-full against AWS's roots. The pool refuses
    /// that set-up before it signs anything, with this recipe instead: **connect to the
    /// endpoint name itself and make it resolve to the tunnel** (a hosts-file line
    /// `127.0.0.1 ENDPOINT`; with SSM, `aws ssm start-session --document-name
    /// AWS-StartPortForwardingSessionToRemoteHost --parameters
    /// host=ENDPOINT,portNumber=5432,localPortNumber=15432` plus that line), with
    /// [`IamAuth::signing_port`] when the local port differs. Then no `signing_host` is
    /// needed at all. It is for a host whose certificate comes from a CA you add
    /// ([`IamAuth::add_root_certificates_file`], `sslrootcert` / `ssl-ca`): a proxy of your
    /// own in front of the database, or a test server.
    ///
    /// # Example
    ///
    /// ```
    /// # use aws_credential_types::Credentials;
    /// // A proxy at db-proxy.internal whose certificate is signed by your own CA.
    /// let auth = sqlx_rds_iam::IamAuth::from_credentials_provider(Credentials::from_keys("AKIDEXAMPLE", "secret", None))
    ///     .signing_host("mydb.abc123.us-east-1.rds.amazonaws.com")
    ///     .add_root_certificates_pem(b"-----BEGIN CERTIFICATE-----\n...".as_slice());
    /// # let _ = auth;
    /// ```
    pub fn signing_host(mut self, host: impl Into<String>) -> Self {
        self.signing_host = Some(host.into());
        self
    }

    /// Signs tokens for this port instead of the port you connect to: a tunnel that maps
    /// local port `15432` to the endpoint's `5432`, reached as
    /// `postgres://app@ENDPOINT:15432/app` with `ENDPOINT` resolving to the tunnel (see
    /// [`IamAuth::signing_host`]).
    ///
    /// # Example
    ///
    /// ```
    /// # use aws_credential_types::Credentials;
    /// // /etc/hosts: 127.0.0.1 mydb.abc123.us-east-1.rds.amazonaws.com; the tunnel listens
    /// // on 15432: connect to postgres://app@mydb.abc123.us-east-1.rds.amazonaws.com:15432/app
    /// let auth = sqlx_rds_iam::IamAuth::from_credentials_provider(Credentials::from_keys("AKIDEXAMPLE", "secret", None))
    ///     .signing_port(5432);
    /// # let _ = auth;
    /// ```
    pub fn signing_port(mut self, port: u16) -> Self {
        self.signing_port = Some(port);
        self
    }

    /// The oldest a token may be when a new connection presents it; 5 minutes unless set.
    /// A new token is signed every half of this. Must be at least 1 second and less than
    /// the token's 15-minute life.
    ///
    /// # Example
    ///
    /// ```
    /// # use aws_credential_types::Credentials;
    /// use std::time::Duration;
    /// let auth = sqlx_rds_iam::IamAuth::from_credentials_provider(Credentials::from_keys("AKIDEXAMPLE", "secret", None))
    ///     .max_token_age(Duration::from_secs(60));
    /// # let _ = auth;
    /// ```
    pub fn max_token_age(mut self, max_age: Duration) -> Self {
        self.max_token_age = max_age;
        self
    }

    /// The clock that dates tokens; the system clock unless set (or set by the
    /// `SdkConfig`).
    ///
    /// # Example
    ///
    /// ```
    /// # use aws_credential_types::Credentials;
    /// use aws_smithy_async::time::SystemTimeSource;
    /// let auth = sqlx_rds_iam::IamAuth::from_credentials_provider(Credentials::from_keys("AKIDEXAMPLE", "secret", None))
    ///     .time_source(SystemTimeSource::new());
    /// # let _ = auth;
    /// ```
    pub fn time_source(mut self, time_source: impl TimeSource + 'static) -> Self {
        self.time_source = Some(SharedTimeSource::new(time_source));
        self
    }

    /// Also trusts the certificate authorities in this PEM text (for a proxy, LocalStack
    /// or a test server), on top of the embedded RDS bundle.
    ///
    /// # Example
    ///
    /// ```
    /// # use aws_credential_types::Credentials;
    /// # let pem = sqlx_rds_iam::RDS_CA_BUNDLE_PEM;
    /// let auth = sqlx_rds_iam::IamAuth::from_credentials_provider(Credentials::from_keys("AKIDEXAMPLE", "secret", None))
    ///     .add_root_certificates_pem(pem);
    /// # let _ = auth;
    /// ```
    pub fn add_root_certificates_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.tls.add_roots_pem(pem.as_ref());
        self
    }

    /// Also trusts the certificate authorities in this PEM file.
    ///
    /// # Errors
    ///
    /// When the file cannot be read or holds no certificate.
    ///
    /// # Example
    ///
    /// ```no_run
    /// # use aws_credential_types::Credentials;
    /// let auth = sqlx_rds_iam::IamAuth::from_credentials_provider(Credentials::from_keys("AKIDEXAMPLE", "secret", None))
    ///     .add_root_certificates_file("/etc/ssl/my-proxy-ca.pem")?;
    /// # let _ = auth; Ok::<(), sqlx_rds_iam::Error>(())
    /// ```
    pub fn add_root_certificates_file(mut self, path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let pem = std::fs::read(path).map_err(|err| Error::ca_file(path, &err.to_string()))?;
        if !pem
            .windows(b"-----BEGIN CERTIFICATE-----".len())
            .any(|w| w == b"-----BEGIN CERTIFICATE-----")
        {
            return Err(Error::ca_file(path, "it holds no PEM certificate"));
        }
        self.tls.add_roots_pem(&pem);
        Ok(self)
    }

    /// The endpoint is Aurora DSQL, whatever its name: for a server reached under another
    /// name whose certificate comes from a CA you add (a proxy, a test server), or a bare
    /// cluster id as the host (26 lowercase letters and digits, as
    /// AWS's connectors take it: it becomes `ID.dsql.REGION.on.aws` in the region of
    /// [`IamAuth::region`] or the `SdkConfig`). DSQL endpoint names (exactly
    /// `ID.dsql.REGION.on.aws` or `ID.dsql-fips.REGION.on.aws`, any letter case:
    /// [`rds_iam_token::DsqlEndpoint`]) are recognized without it; a bare cluster id is
    /// not, since the same 26 characters can name any host (a docker service, a DNS alias).
    ///
    /// DSQL tokens are signed with service `dsql`, `Action=DbConnectAdmin` for the `admin`
    /// role and `Action=DbConnect` for any other role, and carry no port. The server's
    /// certificate is verified against the public roots sqlx trusts (DSQL's chain to the
    /// Amazon roots) plus the ones you add, not the RDS bundle; the pool's `max_lifetime`
    /// is kept at 55 minutes or less (DSQL closes connections after 60). Set the region
    /// with [`IamAuth::region`] (or the `SdkConfig`) unless the name carries it, and
    /// [`IamAuth::signing_host`] when the cluster endpoint is another name (a server whose
    /// certificate comes from a CA you add; for a tunnel, connect to the endpoint name
    /// made to resolve to it, as [`IamAuth::signing_host`] explains).
    ///
    /// # Example
    ///
    /// ```
    /// # use aws_credential_types::Credentials;
    /// // A DSQL-compatible test server at dsql.test.internal, with a certificate of your CA.
    /// let auth = sqlx_rds_iam::IamAuth::from_credentials_provider(Credentials::from_keys("AKIDEXAMPLE", "secret", None))
    ///     .dsql()
    ///     .region("us-east-1")
    ///     .add_root_certificates_pem(b"-----BEGIN CERTIFICATE-----\n...".as_slice());
    /// // A bare cluster id: postgres://admin@abcdefghijklmnopqrstuvwxyz/postgres
    /// let by_id = sqlx_rds_iam::IamAuth::from_credentials_provider(Credentials::from_keys("AKIDEXAMPLE", "secret", None))
    ///     .dsql()
    ///     .region("us-east-1");
    /// # let _ = (auth, by_id);
    /// ```
    pub fn dsql(mut self) -> Self {
        self.dsql = true;
        self
    }

    /// **Dangerous.** Sends tokens without verifying the server's certificate, and without
    /// TLS if the server offers none. Anyone on the path can then take the token and log in
    /// as this user for 15 minutes. Only for local tests and LocalStack; logged as a warning
    /// at every pool start.
    ///
    /// # Example
    ///
    /// ```
    /// # use aws_credential_types::Credentials;
    /// // LocalStack's RDS does not check tokens and serves no verifiable TLS.
    /// let auth = sqlx_rds_iam::IamAuth::from_credentials_provider(Credentials::from_keys("test", "test", None))
    ///     .region("us-east-1")
    ///     .danger_accept_insecure_transport();
    /// # let _ = auth;
    /// ```
    pub fn danger_accept_insecure_transport(mut self) -> Self {
        self.tls.insecure = true;
        self
    }

    /// Where "now" comes from: the explicit time source, else the `SdkConfig`'s, else the
    /// system clock.
    pub(crate) fn clock(&self) -> SharedTimeSource {
        self.time_source
            .clone()
            .or_else(|| self.sdk_config.as_ref()?.time_source())
            .unwrap_or_default()
    }

    /// A token signer for `host:port` and `user`, with these settings: an Aurora DSQL
    /// signer when `dsql` (see [`IamAuth::is_dsql`]).
    pub(crate) fn signer(
        &self,
        host: &str,
        port: u16,
        user: &str,
        dsql: bool,
    ) -> Result<AuthTokenSigner, Error> {
        if self.max_token_age < MIN_TOKEN_AGE || self.max_token_age >= TOKEN_LIFETIME {
            return Err(Error::config(format!(
                "invalid max_token_age {:?}: it must be at least 1 second and less than the \
                 token's 15-minute life (a few minutes is right)",
                self.max_token_age
            )));
        }
        let host = self.signing_host.as_deref().unwrap_or(host);
        let port = self.signing_port.unwrap_or(port);
        let mut builder: SignerBuilder = if dsql {
            AuthTokenSigner::dsql_for_role(host, user).expires_in(TOKEN_LIFETIME)
        } else {
            AuthTokenSigner::rds(host, port, user)
        };
        if let Some(region) = &self.region {
            builder = builder.region(region.clone());
        }
        let time_source = self.clock();
        let provider = self
            .credentials_provider
            .clone()
            .or_else(|| self.sdk_config.as_ref()?.credentials_provider());
        if let Some(provider) = provider {
            builder = builder.credentials_provider(
                self.credentials_cache
                    .provider(provider, time_source.clone()),
            );
        }
        builder = builder.time_source(time_source);
        if let Some(sdk_config) = &self.sdk_config {
            builder = builder.sdk_config(sdk_config);
        }
        builder.build().map_err(Error::signer)
    }

    /// Whether the endpoint reached at `host` is Aurora DSQL: told so, or the name tokens
    /// are signed for (the signing host, else `host`) is a DSQL endpoint name.
    pub(crate) fn is_dsql(&self, host: &str) -> bool {
        self.dsql || DsqlEndpoint::parse(self.signing_host.as_deref().unwrap_or(host)).is_some()
    }

    /// The region set here or, failing that, in the `SdkConfig`.
    pub(crate) fn configured_region(&self) -> Option<&str> {
        self.region.as_deref().or_else(|| {
            self.sdk_config
                .as_ref()
                .and_then(SdkConfig::region)
                .map(AsRef::as_ref)
        })
    }
}

impl fmt::Debug for IamAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IamAuth")
            .field("region", &self.region)
            .field("signing_host", &self.signing_host)
            .field("signing_port", &self.signing_port)
            .field("max_token_age", &self.max_token_age)
            .field("tls", &self.tls)
            .field("dsql", &self.dsql)
            .finish_non_exhaustive()
    }
}
