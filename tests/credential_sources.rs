//! Where AWS workloads get their credentials, and an IAM pool on the test bed using each,
//! through aws-config's own providers (the default chain users get from
//! `aws_config::load_defaults`) and the real protocols, served on 127.0.0.1:
//!
//! | where | source | test |
//! |---|---|---|
//! | Lambda | environment variables with a session token | `lambda_*` |
//! | anywhere | shared config / credentials files, a named profile | `a_named_profile_*` |
//! | anywhere | an assume-role profile (`role_arn` + `source_profile`), STS | `an_assume_role_profile_*` |
//! | ECS, EKS Pod Identity | the container credentials endpoint | `ecs_*` |
//! | EC2 | instance metadata, IMDSv2 | `ec2_*` |
//! | EKS IRSA | web identity token file + role, STS | `eks_web_identity_*` |
//!
//! Each test hands the chain its own environment (`ConfigLoader::env`, aws-config's
//! `test-util`), never the process's, so tests run in parallel under `cargo test` too.
//! The endpoints issue keys the token verifier knows (`credential_sources/keys.rs`), with
//! expirations; STS is moto's server mode (`pip install 'moto[server]'`).

#[path = "credential_sources/endpoints.rs"]
mod endpoints;
#[path = "credential_sources/http.rs"]
mod http;
#[path = "credential_sources/keys.rs"]
mod keys;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_types::SdkConfig;
use aws_types::os_shim_internal::Env;
use integration_tests::{Engine, Testbed, VerifierEntry, VerifierLog};
use sqlx::mysql::MySqlPoolOptions;
use sqlx::postgres::PgPoolOptions;
use sqlx::{MySql, Pool, Postgres};
use sqlx_rds_iam::{ErrorKind, IamAuth, IamAuthExt};

use endpoints::{ContainerEndpoint, INSTANCE_ROLE, InstanceMetadata, Issued, Sts};
use keys::KeyTable;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A scratch directory for profile files and token files; removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "rds-iam-credential-sources-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write scratch file");
        path
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The environment of a machine with no AWS configuration at all: no profile files (HOME
/// is the scratch directory), no instance metadata, only the region. Tests add what
/// their platform provides.
fn bare_environment(bed: &Testbed, scratch: &Scratch) -> Vec<(&'static str, String)> {
    vec![
        ("HOME", scratch.path("")),
        ("AWS_CONFIG_FILE", scratch.path("no-config")),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            scratch.path("no-credentials"),
        ),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ("AWS_REGION", bed.region.clone()),
    ]
}

fn set(env: &mut Vec<(&'static str, String)>, name: &'static str, value: impl Into<String>) {
    env.retain(|(k, _)| *k != name);
    env.push((name, value.into()));
}

fn unset(env: &mut Vec<(&'static str, String)>, name: &str) {
    env.retain(|(k, _)| *k != name);
}

/// What `aws_config::load_defaults(BehaviorVersion::latest())` returns on a machine with
/// exactly this environment.
async fn load_defaults(env: &[(&'static str, String)]) -> SdkConfig {
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    aws_config::defaults(BehaviorVersion::latest())
        .env(Env::from_slice(&pairs))
        .load()
        .await
}

/// The one line users write, plus the test bed's CA (the adapter trusts RDS's already).
fn iam_auth(bed: &Testbed, sdk: &SdkConfig) -> IamAuth {
    IamAuth::from_sdk_config(sdk)
        .add_root_certificates_file(&bed.ca_file)
        .expect("test CA")
}

/// `engine`'s URL for `user` at `host` (the endpoint name, or `localhost`).
fn url(bed: &Testbed, engine: Engine, user: &str, host: &str) -> String {
    let scheme = match engine {
        Engine::Postgres => "postgres",
        Engine::MySql => "mysql",
    };
    format!(
        "{scheme}://{user}@{host}:{}/{}",
        bed.port(engine),
        bed.database
    )
}

/// An IAM pool on either engine.
enum AnyPool {
    Pg(Pool<Postgres>),
    My(Pool<MySql>),
}

impl AnyPool {
    /// A pool on `engine`'s endpoint name (the region comes from it).
    async fn connect(
        bed: &Testbed,
        engine: Engine,
        auth: IamAuth,
    ) -> Result<AnyPool, sqlx_rds_iam::Error> {
        AnyPool::connect_at(bed, engine, auth, bed.endpoint(engine)).await
    }

    async fn connect_at(
        bed: &Testbed,
        engine: Engine,
        auth: IamAuth,
        host: &str,
    ) -> Result<AnyPool, sqlx_rds_iam::Error> {
        let url = url(bed, engine, &bed.iam_user, host);
        Ok(match engine {
            Engine::Postgres => AnyPool::Pg(
                PgPoolOptions::new()
                    .max_connections(2)
                    .iam_auth(auth)
                    .connect(&url)
                    .await?,
            ),
            Engine::MySql => AnyPool::My(
                MySqlPoolOptions::new()
                    .max_connections(2)
                    .iam_auth(auth)
                    .connect(&url)
                    .await?,
            ),
        })
    }

    /// The database user the pool's connections are logged in as.
    async fn current_user(&self) -> String {
        match self {
            AnyPool::Pg(pool) => sqlx::query_scalar("select current_user::text")
                .fetch_one(pool)
                .await
                .expect("query"),
            AnyPool::My(pool) => {
                let user: String = sqlx::query_scalar("select current_user()")
                    .fetch_one(pool)
                    .await
                    .expect("query");
                user.split('@').next().unwrap_or_default().to_owned()
            }
        }
    }

    /// Opens a new physical connection (so a new token is presented), uses it and closes
    /// it for good.
    async fn fresh_connection(&self) -> Result<(), sqlx::Error> {
        match self {
            AnyPool::Pg(pool) => {
                let mut conn = pool.acquire().await?;
                sqlx::query("select 1").execute(&mut *conn).await?;
                conn.close_on_drop();
            }
            AnyPool::My(pool) => {
                let mut conn = pool.acquire().await?;
                sqlx::query("select 1").execute(&mut *conn).await?;
                conn.close_on_drop();
            }
        }
        Ok(())
    }

    async fn close(self) {
        match self {
            AnyPool::Pg(pool) => pool.close().await,
            AnyPool::My(pool) => pool.close().await,
        }
    }
}

/// Connects, checks who the session is, and closes.
async fn connect_and_check(bed: &Testbed, engine: Engine, auth: IamAuth) {
    connect_and_check_at(bed, engine, auth, bed.endpoint(engine)).await;
}

async fn connect_and_check_at(bed: &Testbed, engine: Engine, auth: IamAuth, host: &str) {
    let pool = AnyPool::connect_at(bed, engine, auth, host)
        .await
        .unwrap_or_else(|e| panic!("{engine:?}: the IAM pool does not connect: {e}"));
    assert_eq!(pool.current_user().await, bed.iam_user, "{engine:?}");
    pool.close().await;
}

/// The verifier's decisions since `mark` on tokens signed with `key_id`.
fn decisions(
    log: &VerifierLog,
    mark: integration_tests::LogMark,
    key_id: &str,
) -> Vec<VerifierEntry> {
    log.entries_since(mark)
        .into_iter()
        .filter(|e| e.key_id.as_deref() == Some(key_id))
        .collect()
}

/// Asserts that the verifier accepted a token signed with `key_id` on `engine` since
/// `mark`, and refused none.
fn assert_accepted(
    log: &VerifierLog,
    mark: integration_tests::LogMark,
    key_id: &str,
    engine: Engine,
) {
    // The server logs before it answers, but give a slow disk a moment.
    let _ = log.wait_for(mark, Duration::from_secs(5), |e| {
        e.key_id.as_deref() == Some(key_id) && e.engine() == Some(engine)
    });
    let entries = decisions(log, mark, key_id);
    assert!(
        entries
            .iter()
            .any(|e| e.verdict && e.engine() == Some(engine)),
        "the verifier did not accept a {engine:?} token signed with {key_id}: {entries:?}"
    );
    assert!(
        entries.iter().all(|e| e.verdict),
        "the verifier refused tokens signed with {key_id}: {entries:?}"
    );
}

/// Expiry of the credentials the endpoints serve in refresh tests: the token crate
/// refreshes temporary credentials 5 minutes before they expire, so these are due for
/// refresh a few seconds after they are fetched, long before they expire.
const SHORT_LIFETIME: Duration = Duration::from_secs(5 * 60 + 5);
/// Lifetime of credentials in the other tests: an hour, like a role session.
const HOUR: Duration = Duration::from_secs(3600);

/// Runs a pool that signs a token every second on credentials from an endpoint that
/// serves them with [`SHORT_LIFETIME`], until tokens signed with a second key log in;
/// checks that the second key was fetched ahead of the first one's expiry, that the first
/// key signed several tokens in between (credentials are cached, not fetched per token),
/// and that no new connection failed.
async fn assert_refreshed_before_expiry(
    bed: &Testbed,
    engine: Engine,
    auth: IamAuth,
    issued: impl Fn() -> Vec<Issued>,
) {
    let log = VerifierLog::open(bed);
    let mark = log.mark();
    let pool = AnyPool::connect(bed, engine, auth.max_token_age(Duration::from_secs(2)))
        .await
        .unwrap_or_else(|e| panic!("the IAM pool does not connect: {e}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut connections = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        pool.fresh_connection().await.unwrap_or_else(|e| {
            panic!("new connection {connections} failed while credentials rotated: {e}")
        });
        connections += 1;
        let keys = issued();
        if keys.len() >= 2
            && decisions(&log, mark, &keys[1].key.access_key_id)
                .iter()
                .any(|e| e.verdict)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no token signed with refreshed credentials within 30 s; keys issued: {}",
            keys.len()
        );
    }
    pool.close().await;

    let keys = issued();
    let (first, second) = (&keys[0], &keys[1]);
    // The token crate reuses temporary credentials until 5 minutes before they expire.
    let due = first.expires - Duration::from_secs(5 * 60);
    let left = first.expires.duration_since(second.at).unwrap_or_default();
    assert!(
        second.at >= due,
        "credentials were fetched again {:?} before they were due for refresh: they should \
         be reused until 5 minutes before they expire",
        due.duration_since(second.at).unwrap_or_default()
    );
    assert!(
        left >= Duration::from_secs(4 * 60 + 50),
        "credentials were refreshed only {left:?} before they expired"
    );
    let first_tokens: BTreeSet<String> = decisions(&log, mark, &first.key.access_key_id)
        .into_iter()
        .filter(|e| e.verdict)
        .filter_map(|e| e.fingerprint)
        .collect();
    assert!(
        first_tokens.len() >= 2,
        "the first credentials signed {} token(s); expected one per second until the refresh",
        first_tokens.len()
    );
    for issued in &keys {
        let entries = decisions(&log, mark, &issued.key.access_key_id);
        assert!(
            entries.iter().all(|e| e.verdict),
            "refused tokens: {entries:?}"
        );
    }
}

/// Connecting with credentials from `env` fails fast with a credentials error that says
/// so; returns the error's full text (message and sources).
async fn assert_credentials_error(bed: &Testbed, env: &[(&'static str, String)]) -> String {
    let started = Instant::now();
    let sdk = load_defaults(env).await;
    let result = AnyPool::connect(bed, Engine::Postgres, iam_auth(bed, &sdk)).await;
    let elapsed = started.elapsed();
    let err = match result {
        Ok(pool) => {
            pool.close().await;
            panic!("the pool connected without credentials")
        }
        Err(err) => err,
    };
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    assert_eq!(err.kind(), ErrorKind::Credentials, "{text}");
    assert!(err.to_string().contains("credentials"), "{text}");
    assert!(
        elapsed < Duration::from_secs(10),
        "the error took {elapsed:?} (a hang, not a clear error): {text}"
    );
    text
}

// ---------------------------------------------------------------------------------------
// Lambda: environment variables with a session token
// ---------------------------------------------------------------------------------------

/// Lambda puts the function role's temporary credentials in the environment
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) with the region.
#[tokio::test]
async fn lambda_environment_credentials_with_a_session_token() {
    let bed = Testbed::load();
    let scratch = Scratch::new("lambda");
    let key = &bed.temp_key;
    let mut env = bare_environment(&bed, &scratch);
    for (name, value) in [
        ("AWS_ACCESS_KEY_ID", key.access_key_id.clone()),
        ("AWS_SECRET_ACCESS_KEY", key.secret_access_key.clone()),
        (
            "AWS_SESSION_TOKEN",
            key.session_token.clone().expect("temp key"),
        ),
        ("AWS_DEFAULT_REGION", bed.region.clone()),
        ("AWS_LAMBDA_FUNCTION_NAME", "rds-app".to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512".to_owned()),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".to_owned()),
        ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001".to_owned()),
        ("LAMBDA_TASK_ROOT", "/var/task".to_owned()),
    ] {
        set(&mut env, name, value);
    }
    let sdk = load_defaults(&env).await;
    let log = VerifierLog::open(&bed);
    for engine in Engine::ALL {
        let mark = log.mark();
        // No `.region(...)`: `localhost` names no region, so it comes from AWS_REGION
        // (the explicit-region path; the other tests use the endpoint names).
        connect_and_check_at(&bed, engine, iam_auth(&bed, &sdk), bed.host(engine)).await;
        assert_accepted(&log, mark, &key.access_key_id, engine);
    }
}

// ---------------------------------------------------------------------------------------
// Shared config and credentials files
// ---------------------------------------------------------------------------------------

/// `AWS_PROFILE=RDSCreds` picks the profile's keys (the default profile's are unknown to
/// the verifier) and its region.
#[tokio::test]
async fn a_named_profile_in_shared_files_signs_the_tokens() {
    let bed = Testbed::load();
    let scratch = Scratch::new("profile");
    let key = &bed.access_key;
    let credentials = scratch.write(
        "credentials",
        &format!(
            "[default]\naws_access_key_id = AKIAUNKNOWNDEFAULT01\n\
             aws_secret_access_key = not-a-key-the-verifier-knows-0000000000\n\n\
             [RDSCreds]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            key.access_key_id, key.secret_access_key
        ),
    );
    let config = scratch.write(
        "config",
        &format!(
            "[default]\nregion = eu-west-3\n\n[profile RDSCreds]\nregion = {}\n",
            bed.region
        ),
    );
    let mut env = bare_environment(&bed, &scratch);
    unset(&mut env, "AWS_REGION");
    set(&mut env, "AWS_CONFIG_FILE", config.display().to_string());
    set(
        &mut env,
        "AWS_SHARED_CREDENTIALS_FILE",
        credentials.display().to_string(),
    );
    let log = VerifierLog::open(&bed);

    // Selected by the environment, as `AWS_PROFILE=RDSCreds cargo run` does.
    let mut by_env = env.clone();
    set(&mut by_env, "AWS_PROFILE", "RDSCreds");
    let sdk = load_defaults(&by_env).await;
    assert_eq!(sdk.region().map(|r| r.as_ref()), Some(bed.region.as_str()));
    let mark = log.mark();
    connect_and_check(&bed, Engine::Postgres, iam_auth(&bed, &sdk)).await;
    assert_accepted(&log, mark, &key.access_key_id, Engine::Postgres);
    assert!(decisions(&log, mark, "AKIAUNKNOWNDEFAULT01").is_empty());

    // Selected in code.
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .env(Env::from_slice(&pairs))
        .profile_name("RDSCreds")
        .load()
        .await;
    let mark = log.mark();
    connect_and_check(&bed, Engine::MySql, iam_auth(&bed, &sdk)).await;
    assert_accepted(&log, mark, &key.access_key_id, Engine::MySql);
    assert!(decisions(&log, mark, "AKIAUNKNOWNDEFAULT01").is_empty());
}

/// A profile with `role_arn` and `source_profile`: the SDK signs `AssumeRole` with the
/// source profile's keys and the tokens with the role session's temporary credentials.
#[tokio::test]
async fn an_assume_role_profile_gets_role_credentials_from_sts() {
    let bed = Testbed::load();
    let scratch = Scratch::new("assume-role");
    let keys = Arc::new(KeyTable::new(&bed, "assume-role"));
    let sts = Sts::start(keys.clone()).await;
    let base = &bed.access_key;
    let role_arn = "arn:aws:iam::123456789012:role/rds-app";
    let credentials = scratch.write(
        "credentials",
        &format!(
            "[base]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            base.access_key_id, base.secret_access_key
        ),
    );
    let config = scratch.write(
        "config",
        &format!(
            "[profile base]\nregion = {region}\n\n[profile RDSRole]\nrole_arn = {role_arn}\n\
             source_profile = base\nrole_session_name = rds-iam-tests\nregion = {region}\n",
            region = bed.region
        ),
    );
    let mut env = bare_environment(&bed, &scratch);
    set(&mut env, "AWS_CONFIG_FILE", config.display().to_string());
    set(
        &mut env,
        "AWS_SHARED_CREDENTIALS_FILE",
        credentials.display().to_string(),
    );
    set(&mut env, "AWS_PROFILE", "RDSRole");
    set(&mut env, "AWS_ENDPOINT_URL_STS", sts.endpoint());
    let sdk = load_defaults(&env).await;

    let log = VerifierLog::open(&bed);
    let mark = log.mark();
    connect_and_check(&bed, Engine::Postgres, iam_auth(&bed, &sdk)).await;

    let calls = sts.calls();
    assert_eq!(calls.len(), 1, "one AssumeRole per pool: {calls:?}");
    let call = &calls[0];
    assert_eq!(call.action, "AssumeRole");
    assert_eq!(call.role_arn.as_deref(), Some(role_arn));
    assert_eq!(
        call.signed_by.as_deref(),
        Some(base.access_key_id.as_str()),
        "AssumeRole must be signed with the source profile's key"
    );
    let role_key = call.issued_key_id.clone().expect("STS issued credentials");
    assert!(role_key.starts_with("ASIA"), "{role_key}");
    assert_accepted(&log, mark, &role_key, Engine::Postgres);
    assert!(
        decisions(&log, mark, &base.access_key_id).is_empty(),
        "tokens must be signed with the role's credentials, not the source profile's"
    );
}

// ---------------------------------------------------------------------------------------
// ECS (and EKS Pod Identity): the container credentials endpoint
// ---------------------------------------------------------------------------------------

/// What ECS (and the EKS Pod Identity agent) sets in the container: the endpoint's full
/// URI and a file holding the authorization token to send.
fn container_environment(
    bed: &Testbed,
    scratch: &Scratch,
    endpoint_uri: String,
    token_file: &Path,
) -> Vec<(&'static str, String)> {
    let mut env = bare_environment(bed, scratch);
    set(&mut env, "AWS_CONTAINER_CREDENTIALS_FULL_URI", endpoint_uri);
    set(
        &mut env,
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        token_file.display().to_string(),
    );
    env
}

const CONTAINER_TOKEN: &str = "ecs-agent-authorization-token-4f9e2c";

#[tokio::test]
async fn ecs_container_credentials_endpoint_with_an_authorization_token_file() {
    let bed = Testbed::load();
    let scratch = Scratch::new("ecs");
    let keys = Arc::new(KeyTable::new(&bed, "ecs"));
    let endpoint = ContainerEndpoint::start(keys, CONTAINER_TOKEN, HOUR).await;
    let token_file = scratch.write("token", CONTAINER_TOKEN);
    let env = container_environment(&bed, &scratch, endpoint.full_uri(), &token_file);
    let sdk = load_defaults(&env).await;

    let log = VerifierLog::open(&bed);
    let mark = log.mark();
    connect_and_check(&bed, Engine::MySql, iam_auth(&bed, &sdk)).await;
    let issued = endpoint.record().issued();
    assert_eq!(issued.len(), 1, "credentials are fetched once and reused");
    assert!(
        endpoint.record().refused().is_empty(),
        "{:?}",
        endpoint.record().refused()
    );
    assert_accepted(&log, mark, &issued[0].key.access_key_id, Engine::MySql);
}

#[tokio::test]
async fn ecs_credentials_are_refreshed_before_they_expire() {
    let bed = Testbed::load();
    let scratch = Scratch::new("ecs-refresh");
    let keys = Arc::new(KeyTable::new(&bed, "ecs-refresh"));
    let endpoint = ContainerEndpoint::start(keys, CONTAINER_TOKEN, SHORT_LIFETIME).await;
    let token_file = scratch.write("token", CONTAINER_TOKEN);
    let env = container_environment(&bed, &scratch, endpoint.full_uri(), &token_file);
    let sdk = load_defaults(&env).await;
    assert_refreshed_before_expiry(&bed, Engine::Postgres, iam_auth(&bed, &sdk), || {
        endpoint.record().issued()
    })
    .await;
    assert!(endpoint.record().refused().is_empty());
}

#[tokio::test]
async fn ecs_endpoint_that_is_down_is_a_clear_credentials_error() {
    let bed = Testbed::load();
    let scratch = Scratch::new("ecs-down");
    let down = http::closed_port().await;
    let token_file = scratch.write("token", CONTAINER_TOKEN);
    let uri = format!("http://{down}/v2/credentials/gone");
    let env = container_environment(&bed, &scratch, uri, &token_file);
    let text = assert_credentials_error(&bed, &env).await;
    assert!(text.contains("Connection refused"), "{text}");
}

#[tokio::test]
async fn ecs_wrong_authorization_token_is_a_clear_credentials_error() {
    let bed = Testbed::load();
    let scratch = Scratch::new("ecs-wrong-token");
    let keys = Arc::new(KeyTable::new(&bed, "ecs-wrong-token"));
    let endpoint = ContainerEndpoint::start(keys, CONTAINER_TOKEN, HOUR).await;
    let token_file = scratch.write("token", "a-stale-token");
    let env = container_environment(&bed, &scratch, endpoint.full_uri(), &token_file);
    let text = assert_credentials_error(&bed, &env).await;
    assert!(text.contains("401"), "{text}");
    assert!(endpoint.record().issued().is_empty());
    assert!(
        endpoint
            .record()
            .refused()
            .iter()
            .all(|why| why == "wrong Authorization header"),
        "{:?}",
        endpoint.record().refused()
    );
}

// ---------------------------------------------------------------------------------------
// EC2: instance metadata, IMDSv2
// ---------------------------------------------------------------------------------------

fn instance_environment(
    bed: &Testbed,
    scratch: &Scratch,
    endpoint: String,
) -> Vec<(&'static str, String)> {
    let mut env = bare_environment(bed, scratch);
    unset(&mut env, "AWS_EC2_METADATA_DISABLED");
    set(&mut env, "AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint);
    env
}

/// The instance profile's role credentials through IMDSv2, refreshed ahead of expiry.
#[tokio::test]
async fn ec2_instance_profile_credentials_through_imdsv2_are_refreshed_before_they_expire() {
    let bed = Testbed::load();
    let scratch = Scratch::new("imds");
    let keys = Arc::new(KeyTable::new(&bed, "imds"));
    let imds = InstanceMetadata::start(keys, SHORT_LIFETIME).await;
    let env = instance_environment(&bed, &scratch, imds.endpoint());
    let sdk = load_defaults(&env).await;
    assert_refreshed_before_expiry(&bed, Engine::MySql, iam_auth(&bed, &sdk), || {
        imds.record().issued()
    })
    .await;
    assert!(
        imds.token_puts() >= 1,
        "no IMDSv2 session token was asked for"
    );
    assert!(
        imds.record().refused().is_empty(),
        "the SDK broke the IMDSv2 protocol: {:?}",
        imds.record().refused()
    );
}

#[tokio::test]
async fn ec2_metadata_endpoint_that_is_down_is_a_clear_credentials_error() {
    let bed = Testbed::load();
    let scratch = Scratch::new("imds-down");
    let down = http::closed_port().await;
    let env = instance_environment(&bed, &scratch, format!("http://{down}"));
    let text = assert_credentials_error(&bed, &env).await;
    assert!(text.contains("could not communicate with IMDS"), "{text}");
}

#[tokio::test]
async fn ec2_metadata_endpoint_that_never_answers_is_a_clear_credentials_error() {
    let bed = Testbed::load();
    let scratch = Scratch::new("imds-hang");
    let hole = http::black_hole().await;
    let env = instance_environment(&bed, &scratch, hole.base_url());
    let text = assert_credentials_error(&bed, &env).await;
    assert!(text.contains("IMDS") && text.contains("timeout"), "{text}");
}

// ---------------------------------------------------------------------------------------
// EKS IRSA: web identity
// ---------------------------------------------------------------------------------------

/// What EKS injects for a service account bound to a role: a projected token file and the
/// role ARN; the SDK trades the token for role credentials with
/// `AssumeRoleWithWebIdentity` (unsigned).
#[tokio::test]
async fn eks_web_identity_token_is_exchanged_at_sts() {
    let bed = Testbed::load();
    let scratch = Scratch::new("irsa");
    let keys = Arc::new(KeyTable::new(&bed, "irsa"));
    let sts = Sts::start(keys).await;
    let jwt = "eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3QifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6YXBwOnJkcy1hcHAifQ.c2lnbmF0dXJl";
    let token_file = scratch.write("token", jwt);
    let role_arn = "arn:aws:iam::123456789012:role/rds-app-irsa";
    let mut env = bare_environment(&bed, &scratch);
    set(
        &mut env,
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        token_file.display().to_string(),
    );
    set(&mut env, "AWS_ROLE_ARN", role_arn);
    set(&mut env, "AWS_ROLE_SESSION_NAME", "rds-app-pod");
    set(&mut env, "AWS_ENDPOINT_URL_STS", sts.endpoint());
    let sdk = load_defaults(&env).await;

    let log = VerifierLog::open(&bed);
    let mark = log.mark();
    connect_and_check(&bed, Engine::Postgres, iam_auth(&bed, &sdk)).await;
    let calls = sts.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let call = &calls[0];
    assert_eq!(call.action, "AssumeRoleWithWebIdentity");
    assert_eq!(call.role_arn.as_deref(), Some(role_arn));
    assert_eq!(call.web_identity_token.as_deref(), Some(jwt));
    assert_eq!(
        call.signed_by, None,
        "AssumeRoleWithWebIdentity is unsigned"
    );
    let role_key = call.issued_key_id.clone().expect("STS issued credentials");
    assert_accepted(&log, mark, &role_key, Engine::Postgres);
}

#[tokio::test]
async fn eks_web_identity_with_sts_down_is_a_clear_credentials_error() {
    let bed = Testbed::load();
    let scratch = Scratch::new("irsa-down");
    let down = http::closed_port().await;
    let token_file = scratch.write("token", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln");
    let mut env = bare_environment(&bed, &scratch);
    set(
        &mut env,
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        token_file.display().to_string(),
    );
    set(&mut env, "AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/x");
    set(&mut env, "AWS_ENDPOINT_URL_STS", format!("http://{down}"));
    let text = assert_credentials_error(&bed, &env).await;
    assert!(text.contains("Connection refused"), "{text}");
}

// ---------------------------------------------------------------------------------------
// The loopback endpoints hold clients to the protocol
// ---------------------------------------------------------------------------------------

/// What the SDK passes in the tests above, the endpoints check: requests that break the
/// protocol are refused.
#[tokio::test]
async fn loopback_endpoints_refuse_requests_that_break_the_protocol() {
    let bed = Testbed::load();
    let keys = Arc::new(KeyTable::new(&bed, "protocol"));

    let ecs = ContainerEndpoint::start(keys.clone(), CONTAINER_TOKEN, HOUR).await;
    let get = |auth: &str| {
        format!(
            "GET {} HTTP/1.1\r\nhost: {}\r\n{auth}\r\n",
            ecs.path(),
            ecs.addr()
        )
    };
    let (status, _) = http::raw_exchange(ecs.addr(), &get("")).await;
    assert_eq!(status, 401, "no Authorization");
    let (status, _) = http::raw_exchange(ecs.addr(), &get("authorization: nope\r\n")).await;
    assert_eq!(status, 401, "wrong Authorization");
    let (status, body) = http::raw_exchange(
        ecs.addr(),
        &get(&format!("authorization: {CONTAINER_TOKEN}\r\n")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"Expiration\""), "{body}");

    let imds = InstanceMetadata::start(keys, HOUR).await;
    let role_path = format!("/latest/meta-data/iam/security-credentials/{INSTANCE_ROLE}");
    let (status, _) =
        http::raw_exchange(imds.addr(), &format!("GET {role_path} HTTP/1.1\r\n\r\n")).await;
    assert_eq!(status, 401, "IMDSv1 (no session token) is refused");
    let (status, _) =
        http::raw_exchange(imds.addr(), "PUT /latest/api/token HTTP/1.1\r\n\r\n").await;
    assert_eq!(status, 400, "a token request needs a TTL");
    let (status, _) = http::raw_exchange(
        imds.addr(),
        "PUT /latest/api/token HTTP/1.1\r\nx-aws-ec2-metadata-token-ttl-seconds: 60\r\n\
         x-forwarded-for: 10.0.0.1\r\n\r\n",
    )
    .await;
    assert_eq!(status, 403, "a proxied token request is refused");
    let (status, response) = http::raw_exchange(
        imds.addr(),
        "PUT /latest/api/token HTTP/1.1\r\nx-aws-ec2-metadata-token-ttl-seconds: 60\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200);
    let token = response.rsplit("\r\n\r\n").next().unwrap().to_owned();
    let (status, body) = http::raw_exchange(
        imds.addr(),
        &format!("GET {role_path} HTTP/1.1\r\nx-aws-ec2-metadata-token: {token}\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"Code\":\"Success\""), "{body}");
    let (status, _) = http::raw_exchange(
        imds.addr(),
        &format!("GET {role_path} HTTP/1.1\r\nx-aws-ec2-metadata-token: forged\r\n\r\n"),
    )
    .await;
    assert_eq!(status, 401, "an unknown session token is refused");
}

/// Hands out `first` (expiring at `first_expires`) once, then `second` (an hour's
/// credentials): temporary credentials about to expire, then their replacement, as a
/// container or instance endpoint serves them.
#[derive(Debug)]
struct ExpiringThenFresh {
    first: integration_tests::AwsKey,
    first_expires: std::time::SystemTime,
    second: integration_tests::AwsKey,
    calls: std::sync::atomic::AtomicUsize,
}

impl aws_credential_types::provider::ProvideCredentials for ExpiringThenFresh {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let call = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let (key, expires) = if call == 0 {
            (&self.first, self.first_expires)
        } else {
            (&self.second, std::time::SystemTime::now() + HOUR)
        };
        aws_credential_types::provider::future::ProvideCredentials::ready(Ok(
            aws_credential_types::Credentials::new(
                key.access_key_id.clone(),
                key.secret_access_key.clone(),
                key.session_token.clone(),
                Some(expires),
                "expiring-then-fresh",
            ),
        ))
    }
}

/// A token is no better than the credentials that signed it. With `max_token_age` near its
/// maximum (a token every 7 minutes) and credentials that expire 4 seconds after the pool
/// starts, the pool signs again with credentials fetched anew before they expire: new
/// connections every 250 ms across the expiry are never refused, and the verifier never
/// sees a token signed with the expired key after its expiry.
#[tokio::test]
async fn tokens_follow_credentials_that_expire_before_the_token_would() {
    let bed = Testbed::load();
    let table = KeyTable::new(&bed, "expiring-credentials");
    for engine in [Engine::Postgres, Engine::MySql] {
        // Keys of its own per engine: the verifier knows when each expires.
        let first = keys::fresh_temporary_key();
        let second = keys::fresh_temporary_key();
        let first_expires = std::time::SystemTime::now() + Duration::from_secs(4);
        table.register(&first, Some(first_expires));
        table.register(&second, Some(std::time::SystemTime::now() + 2 * HOUR));
        let log = VerifierLog::open(&bed);
        let mark = log.mark();
        let provider = ExpiringThenFresh {
            first: first.clone(),
            first_expires,
            second: second.clone(),
            calls: Default::default(),
        };
        let auth = IamAuth::from_credentials_provider(provider)
            .add_root_certificates_file(&bed.ca_file)
            .expect("test CA")
            .max_token_age(Duration::from_secs(14 * 60));
        let pool = AnyPool::connect(&bed, engine, auth)
            .await
            .unwrap_or_else(|e| panic!("{engine:?}: the IAM pool does not connect: {e}"));
        let until = Instant::now() + Duration::from_secs(7);
        let (mut connections, mut after_expiry) = (0, 0);
        while Instant::now() < until {
            pool.fresh_connection().await.unwrap_or_else(|e| {
                panic!("{engine:?}: new connection {connections} was refused: {e}")
            });
            connections += 1;
            if std::time::SystemTime::now() > first_expires {
                after_expiry += 1;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        pool.close().await;
        // However slow the machine, connections were opened on both sides of the expiry.
        assert!(
            connections > after_expiry && after_expiry >= 3,
            "{engine:?}: {connections} connections, {after_expiry} after the first key expired"
        );
        let refused: Vec<_> = [&first, &second]
            .iter()
            .flat_map(|key| decisions(&log, mark, &key.access_key_id))
            .filter(|e| !e.verdict)
            .collect();
        assert!(
            refused.is_empty(),
            "{engine:?}: refused tokens: {refused:?}"
        );
        assert!(
            decisions(&log, mark, &second.access_key_id)
                .iter()
                .any(|e| e.verdict),
            "{engine:?}: no token signed with the fresh credentials was presented"
        );
    }
}
