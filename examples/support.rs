//! What the examples share: reading IAM settings from the environment, as a service would.

use sqlx_rds_iam::IamAuth;

/// IAM settings from the standard AWS environment plus two optional variables:
/// - `RDS_IAM_CA_FILE`: an extra CA to trust (a proxy, LocalStack, the local test bed);
/// - `RDS_IAM_SIGNING_HOST`: the RDS endpoint to sign for when connecting through a
///   tunnel or custom DNS name.
///
/// Credentials and region come from the standard chain (`AWS_ACCESS_KEY_ID`,
/// `AWS_PROFILE`, container or instance roles, `AWS_REGION`...).
///
/// # Example
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let auth = rds_iam_examples::iam_auth_from_env().await?;
/// # let _ = auth; Ok(()) }
/// ```
///
/// # Errors
///
/// When `RDS_IAM_CA_FILE` cannot be read.
pub async fn iam_auth_from_env() -> Result<IamAuth, sqlx_rds_iam::Error> {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let mut auth = IamAuth::from_sdk_config(&sdk);
    if let Ok(ca_file) = std::env::var("RDS_IAM_CA_FILE") {
        auth = auth.add_root_certificates_file(ca_file)?;
    }
    if let Ok(host) = std::env::var("RDS_IAM_SIGNING_HOST") {
        auth = auth.signing_host(host);
    }
    Ok(auth)
}

/// `DATABASE_URL`, or a message saying how to set it.
///
/// # Example
///
/// ```no_run
/// let url = rds_iam_examples::database_url("postgres://app_user@mydb.abc123.us-east-1.rds.amazonaws.com/app");
/// # let _ = url;
/// ```
///
/// # Errors
///
/// When `DATABASE_URL` is not set.
pub fn database_url(example: &str) -> Result<String, String> {
    std::env::var("DATABASE_URL")
        .map_err(|_| format!("set DATABASE_URL, e.g. DATABASE_URL={example}"))
}

/// Logs to stderr, `RUST_LOG` deciding how much (default: this crate's events at debug).
///
/// # Example
///
/// ```
/// rds_iam_examples::init_logging();
/// ```
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,sqlx_rds_iam=debug"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
