//! Support code for the integration tests: where the test bed is and what it knows.
//!
//! The test bed (`tests/rds-emulator/`, see its README) turns the local PostgreSQL
//! and MariaDB into servers that check IAM auth tokens the way RDS does. Its setup
//! script writes one env file describing it; [`Testbed::load`] reads that file so
//! tests never hard-code hosts, ports, users, keys or paths.
//!
//! ```no_run
//! use integration_tests::{Engine, Testbed, Tls, VerifierLog};
//!
//! let bed = Testbed::load();
//! let log = VerifierLog::open(&bed);
//! let mark = log.mark();
//! let token = bed.mint_token(Engine::Postgres, &bed.iam_user);
//! let out = bed.client(Engine::Postgres, &bed.iam_user, &token).run("select 1");
//! assert!(out.success, "{out:?}");
//! let entry = log
//!     .wait_for_login(mark, &bed.iam_user, &token, std::time::Duration::from_secs(5))
//!     .expect("the verifier logged this login");
//! assert!(entry.verdict);
//! # let _ = Tls::Verified;
//! ```

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Environment variable that points to the test bed's env file.
pub const ENV_VAR: &str = "RDS_TESTBED_ENV";

/// Where `tests/rds-emulator/setup` writes the env file.
pub const DEFAULT_ENV_FILE: &str = "/var/lib/rds-emulator/testbed.env";

/// The directory with the test bed's scripts (`tests/rds-emulator`).
pub fn rds_emulator_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rds-emulator")
}

/// One of the two database engines of the test bed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    /// PostgreSQL 15.
    Postgres,
    /// MariaDB 10.11 (the MySQL protocol).
    MySql,
}

impl Engine {
    /// Both engines, for tests that run the same check on each.
    pub const ALL: [Engine; 2] = [Engine::Postgres, Engine::MySql];

    /// The PAM service the engine's server uses; it is the `service` field of
    /// the verifier's log lines.
    pub fn pam_service(self) -> &'static str {
        match self {
            Engine::Postgres => "rds-iam-postgres",
            Engine::MySql => "rds-iam-mysql",
        }
    }
}

/// The PAM service of the Aurora DSQL look-alike: the `service` field of the
/// verifier's log lines for its logins.
pub const DSQL_PAM_SERVICE: &str = "rds-iam-dsql";

/// An AWS access key of the test bed's key table (fixed, test-only strings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsKey {
    /// The access key id (`AKIA...` long-term, `ASIA...` temporary).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The session token of temporary credentials.
    pub session_token: Option<String>,
}

/// The AWS-style names of one server of the test bed, all resolving to 127.0.0.1 and
/// all in its certificate. The verifier accepts a token signed for any of them (with
/// that name's region), as an Aurora instance accepts its instance, cluster, reader and
/// proxy endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Instance endpoint, `NAME.ID.us-east-1.rds.amazonaws.com`.
    pub instance: String,
    /// Cluster (writer) endpoint, `NAME.cluster-ID.us-east-1.rds.amazonaws.com`.
    pub cluster: String,
    /// Reader endpoint, `NAME.cluster-ro-ID.us-east-1.rds.amazonaws.com`.
    pub reader: String,
    /// RDS Proxy-style endpoint, `NAME-proxy.proxy-ID.us-east-1.rds.amazonaws.com`.
    pub proxy: String,
    /// A GovCloud name, `NAME.ID.us-gov-west-1.rds.amazonaws.com`
    /// (region [`Testbed::govcloud_region`]).
    pub govcloud: String,
    /// A China-partition name, `NAME.ID.cn-north-1.rds.amazonaws.com.cn`
    /// (region [`Testbed::china_region`]).
    pub china: String,
}

impl Endpoints {
    /// Every name: instance, cluster, reader, proxy, GovCloud, China.
    pub fn all(&self) -> [&str; 6] {
        [
            &self.instance,
            &self.cluster,
            &self.reader,
            &self.proxy,
            &self.govcloud,
            &self.china,
        ]
    }
}

/// Everything tests need to know about the test bed, read from its env file.
#[derive(Debug, Clone)]
pub struct Testbed {
    /// The env file this was read from.
    pub env_file: PathBuf,
    /// The region of `localhost` and of the us-east-1 endpoint names (`us-east-1`).
    pub region: String,
    /// `localhost`: tokens for it must be signed for [`Testbed::region`], given
    /// explicitly (the name names no region). Most tests use [`Testbed::pg_endpoint`].
    pub pg_host: String,
    /// Port of the PostgreSQL server (tokens must be signed for this port).
    pub pg_port: u16,
    /// `localhost`, for MariaDB (see [`Testbed::pg_host`]).
    pub mysql_host: String,
    /// Port of the MariaDB server.
    pub mysql_port: u16,
    /// The PostgreSQL server's instance endpoint name
    /// (`rdsiam-pg.c0ffee123456.us-east-1.rds.amazonaws.com`).
    pub pg_endpoint: String,
    /// The MariaDB server's instance endpoint name
    /// (`rdsiam-mysql.c0ffee123456.us-east-1.rds.amazonaws.com`).
    pub mysql_endpoint: String,
    /// Every name of the PostgreSQL server.
    pub pg_endpoints: Endpoints,
    /// Every name of the MariaDB server.
    pub mysql_endpoints: Endpoints,
    /// The region of the GovCloud names (`us-gov-west-1`).
    pub govcloud_region: String,
    /// The region of the China names (`cn-north-1`).
    pub china_region: String,
    /// The Aurora DSQL look-alike's endpoint name
    /// (`abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws`); it also answers to
    /// `localhost` (signed with [`Testbed::dsql_region`]).
    pub dsql_endpoint: String,
    /// Port of the DSQL look-alike (its own PostgreSQL cluster; DSQL tokens carry no port).
    pub dsql_port: u16,
    /// The DSQL look-alike's non-admin role (`app_role`): `DbConnect` tokens.
    pub dsql_role: String,
    /// The DSQL look-alike's admin role (`admin`): `DbConnectAdmin` tokens.
    pub dsql_admin_role: String,
    /// The region of [`Testbed::dsql_endpoint`] (`us-east-1`).
    pub dsql_region: String,
    /// The DSQL look-alike's database (`postgres`, as on DSQL).
    pub dsql_database: String,
    /// The database (PostgreSQL) / schema (MariaDB) the test users may use.
    pub database: String,
    /// The test CA that signed the servers' certificates (for their endpoint names,
    /// `localhost`, `127.0.0.1` and `::1`; the DSQL look-alike's for its own name).
    pub ca_file: PathBuf,
    /// The IAM user, on both servers.
    pub iam_user: String,
    /// A second IAM user, for wrong-user tests.
    pub other_iam_user: String,
    /// An IAM user whose tokens the verifier accepts for only a few seconds.
    pub short_iam_user: String,
    /// A user with an ordinary password (over TLS), the baseline for benchmarks.
    pub control_user: String,
    /// The control user's password.
    pub control_password: String,
    /// The long-term key.
    pub access_key: AwsKey,
    /// A second long-term key, for rotation tests.
    pub rotated_key: AwsKey,
    /// Temporary credentials: the verifier requires their session token.
    pub temp_key: AwsKey,
    /// The verifier's decision log.
    pub verifier_log: PathBuf,
    /// Directory whose `*.json` key tables the verifier also reads.
    pub keys_dir: PathBuf,
}

/// Maximum token age the verifier allows for [`Testbed::short_iam_user`].
pub const SHORT_MAX_AGE: Duration = Duration::from_secs(5);

impl Testbed {
    /// Reads the env file (`$RDS_TESTBED_ENV`, else [`DEFAULT_ENV_FILE`]).
    ///
    /// # Panics
    /// When the file is missing or incomplete, with a message telling to run
    /// `tests/rds-emulator/setup`.
    pub fn load() -> Testbed {
        match Testbed::try_load() {
            Ok(bed) => bed,
            Err(e) => panic!(
                "{e}\nThe integration tests need the local RDS look-alike servers: \
                 run `sudo tests/rds-emulator/setup` (or set {ENV_VAR} to the env file \
                 of another test bed, e.g. the docker-compose one)."
            ),
        }
    }

    /// Like [`Testbed::load`], but returns an error instead of panicking.
    ///
    /// A relative `$RDS_TESTBED_ENV` is taken relative to the current directory
    /// or, failing that, to the workspace root (test binaries run in their
    /// package's directory, so `tests/rds-emulator/generated/testbed.env` works).
    pub fn try_load() -> Result<Testbed, String> {
        let mut path = std::env::var_os(ENV_VAR)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_ENV_FILE));
        if path.is_relative() && !path.exists() {
            let from_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(&path);
            if from_root.exists() {
                path = from_root;
            }
        }
        Testbed::from_file(&path)
    }

    /// Reads a test bed env file. Relative paths in it are relative to its directory.
    pub fn from_file(path: &Path) -> Result<Testbed, String> {
        let text = fs::read_to_string(path)
            .map_err(|e| format!("cannot read test bed env file {}: {e}", path.display()))?;
        let vars = parse_env(&text);
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        let get = |key: &str| -> Result<String, String> {
            vars.get(key)
                .filter(|v| !v.is_empty())
                .cloned()
                .ok_or_else(|| format!("{}: {key} is missing", path.display()))
        };
        let port = |key: &str| -> Result<u16, String> {
            get(key)?
                .parse()
                .map_err(|e| format!("{}: {key}: {e}", path.display()))
        };
        let file = |key: &str| -> Result<PathBuf, String> { Ok(base.join(get(key)?)) };
        let key = |prefix: &str, session: bool| -> Result<AwsKey, String> {
            Ok(AwsKey {
                access_key_id: get(&format!("RDS_TESTBED_{prefix}ACCESS_KEY_ID"))?,
                secret_access_key: get(&format!("RDS_TESTBED_{prefix}SECRET_ACCESS_KEY"))?,
                session_token: if session {
                    Some(get(&format!("RDS_TESTBED_{prefix}SESSION_TOKEN"))?)
                } else {
                    None
                },
            })
        };
        let endpoints = |engine: &str| -> Result<Endpoints, String> {
            let name = |kind: &str| get(&format!("RDS_TESTBED_{engine}_{kind}ENDPOINT"));
            Ok(Endpoints {
                instance: name("")?,
                cluster: name("CLUSTER_")?,
                reader: name("READER_")?,
                proxy: name("PROXY_")?,
                govcloud: name("GOVCLOUD_")?,
                china: name("CHINA_")?,
            })
        };
        let pg_endpoints = endpoints("PG")?;
        let mysql_endpoints = endpoints("MYSQL")?;
        Ok(Testbed {
            env_file: path.to_path_buf(),
            region: get("RDS_TESTBED_REGION")?,
            pg_host: get("RDS_TESTBED_PG_HOST")?,
            pg_port: port("RDS_TESTBED_PG_PORT")?,
            mysql_host: get("RDS_TESTBED_MYSQL_HOST")?,
            mysql_port: port("RDS_TESTBED_MYSQL_PORT")?,
            pg_endpoint: pg_endpoints.instance.clone(),
            mysql_endpoint: mysql_endpoints.instance.clone(),
            pg_endpoints,
            mysql_endpoints,
            govcloud_region: get("RDS_TESTBED_GOVCLOUD_REGION")?,
            china_region: get("RDS_TESTBED_CHINA_REGION")?,
            dsql_endpoint: get("RDS_TESTBED_DSQL_ENDPOINT")?,
            dsql_port: port("RDS_TESTBED_DSQL_PORT")?,
            dsql_role: get("RDS_TESTBED_DSQL_ROLE")?,
            dsql_admin_role: get("RDS_TESTBED_DSQL_ADMIN_ROLE")?,
            dsql_region: get("RDS_TESTBED_DSQL_REGION")?,
            dsql_database: get("RDS_TESTBED_DSQL_DATABASE")?,
            database: get("RDS_TESTBED_DATABASE")?,
            ca_file: file("RDS_TESTBED_CA_FILE")?,
            iam_user: get("RDS_TESTBED_IAM_USER")?,
            other_iam_user: get("RDS_TESTBED_OTHER_IAM_USER")?,
            short_iam_user: get("RDS_TESTBED_SHORT_IAM_USER")?,
            control_user: get("RDS_TESTBED_CONTROL_USER")?,
            control_password: get("RDS_TESTBED_CONTROL_PASSWORD")?,
            access_key: key("", false)?,
            rotated_key: key("ROTATED_", false)?,
            temp_key: key("TEMP_", true)?,
            verifier_log: file("RDS_TESTBED_VERIFIER_LOG")?,
            keys_dir: file("RDS_TESTBED_KEYS_DIR")?,
        })
    }

    /// `localhost` for `engine`'s server (the explicit-region path).
    pub fn host(&self, engine: Engine) -> &str {
        match engine {
            Engine::Postgres => &self.pg_host,
            Engine::MySql => &self.mysql_host,
        }
    }

    /// The instance endpoint name of `engine`'s server: connect to it with no region
    /// set anywhere, as a service on AWS does (the region is in the name).
    pub fn endpoint(&self, engine: Engine) -> &str {
        match engine {
            Engine::Postgres => &self.pg_endpoint,
            Engine::MySql => &self.mysql_endpoint,
        }
    }

    /// Every name of `engine`'s server.
    pub fn endpoints(&self, engine: Engine) -> &Endpoints {
        match engine {
            Engine::Postgres => &self.pg_endpoints,
            Engine::MySql => &self.mysql_endpoints,
        }
    }

    /// The region the verifier wants tokens for `host` (any spelling) signed for: that of
    /// the GovCloud or China names, else [`Testbed::region`].
    pub fn region_of(&self, host: &str) -> &str {
        let host = host.to_ascii_lowercase();
        if [&self.pg_endpoints.govcloud, &self.mysql_endpoints.govcloud].contains(&&host) {
            &self.govcloud_region
        } else if [&self.pg_endpoints.china, &self.mysql_endpoints.china].contains(&&host) {
            &self.china_region
        } else {
            &self.region
        }
    }

    /// Port of `engine`'s server.
    pub fn port(&self, engine: Engine) -> u16 {
        match engine {
            Engine::Postgres => self.pg_port,
            Engine::MySql => self.mysql_port,
        }
    }

    /// A request for a token the server accepts: `user` at `engine`'s instance
    /// endpoint and port, its region, the long-term key, signed now. Change its
    /// fields (or use [`TokenRequest::for_host`]) to get other tokens.
    pub fn token_request(&self, engine: Engine, user: &str) -> TokenRequest {
        TokenRequest {
            host: self.endpoint(engine).to_owned(),
            port: self.port(engine),
            user: user.to_owned(),
            region: self.region.clone(),
            key: self.access_key.clone(),
            signing_time: None,
        }
    }

    /// A valid token for `user` on `engine`, minted by botocore.
    pub fn mint_token(&self, engine: Engine, user: &str) -> String {
        self.token_request(engine, user).mint()
    }

    /// A request for a DSQL token the DSQL look-alike accepts for `role`: its endpoint
    /// and region, `DbConnectAdmin` for the admin role and `DbConnect` for any other,
    /// 900 s, the long-term key, signed now.
    pub fn dsql_token_request(&self, role: &str) -> DsqlTokenRequest {
        DsqlTokenRequest {
            host: self.dsql_endpoint.clone(),
            region: self.dsql_region.clone(),
            admin: role == self.dsql_admin_role,
            expires_in: 900,
            key: self.access_key.clone(),
            signing_time: None,
        }
    }

    /// A valid DSQL token for `role`, minted by botocore.
    pub fn mint_dsql_token(&self, role: &str) -> String {
        self.dsql_token_request(role).mint()
    }

    /// A psql call as `role` with `password` over verified TLS to the DSQL
    /// look-alike's endpoint, in its database.
    pub fn dsql_client(&self, role: &str, password: &str) -> ClientCall {
        ClientCall {
            engine: Engine::Postgres,
            host: self.dsql_endpoint.clone(),
            port: self.dsql_port,
            user: role.to_owned(),
            password: password.to_owned(),
            database: self.dsql_database.clone(),
            tls: Tls::Verified,
            ca_file: self.ca_file.clone(),
        }
    }

    /// A command-line client call (psql / mariadb) as `user` with `password`,
    /// over verified TLS to `engine`'s instance endpoint, in the test database.
    pub fn client(&self, engine: Engine, user: &str, password: &str) -> ClientCall {
        ClientCall {
            engine,
            host: self.endpoint(engine).to_owned(),
            port: self.port(engine),
            user: user.to_owned(),
            password: password.to_owned(),
            database: self.database.clone(),
            tls: Tls::Verified,
            ca_file: self.ca_file.clone(),
        }
    }
}

/// Parses `KEY=VALUE` lines; `#` comments and blank lines are skipped.
fn parse_env(text: &str) -> HashMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// What to ask botocore for (`tests/rds-emulator/mint_token.py`).
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// Host name the token is signed for.
    pub host: String,
    /// Port the token is signed for.
    pub port: u16,
    /// The `DBUser` of the token.
    pub user: String,
    /// Signing region.
    pub region: String,
    /// Credentials to sign with (a session token, if any, goes into the token).
    pub key: AwsKey,
    /// Signing time; `None` means now.
    pub signing_time: Option<SystemTime>,
}

impl TokenRequest {
    /// Signs for `host` (spelled as given) with the region the bed wants for it.
    pub fn for_host(mut self, bed: &Testbed, host: &str) -> TokenRequest {
        self.region = bed.region_of(host).to_owned();
        self.host = host.to_owned();
        self
    }

    /// Signs at `time` instead of now (e.g. 20 minutes ago, for an expired token).
    pub fn signed_at(mut self, time: SystemTime) -> TokenRequest {
        self.signing_time = Some(time);
        self
    }

    /// Mints the token with botocore.
    ///
    /// # Panics
    /// When the helper fails (no python3/botocore: run `tests/rds-emulator/setup`).
    pub fn mint(&self) -> String {
        let port = self.port.to_string();
        mint_with_botocore(
            &[
                "--host",
                &self.host,
                "--port",
                &port,
                "--user",
                &self.user,
                "--region",
                &self.region,
            ],
            &self.key,
            self.signing_time,
        )
    }
}

/// What to ask botocore for to get an Aurora DSQL token
/// (`generate_db_connect_auth_token` / `generate_db_connect_admin_auth_token`).
#[derive(Debug, Clone)]
pub struct DsqlTokenRequest {
    /// Host name the token is signed for (no port: DSQL tokens carry none).
    pub host: String,
    /// Signing region.
    pub region: String,
    /// `Action=DbConnectAdmin` (the admin role) rather than `DbConnect`.
    pub admin: bool,
    /// `X-Amz-Expires`, in seconds (the look-alike accepts 1..=604800).
    pub expires_in: u64,
    /// Credentials to sign with (a session token, if any, goes into the token).
    pub key: AwsKey,
    /// Signing time; `None` means now.
    pub signing_time: Option<SystemTime>,
}

impl DsqlTokenRequest {
    /// Signs at `time` instead of now (e.g. 20 minutes ago, for an expired token).
    pub fn signed_at(mut self, time: SystemTime) -> DsqlTokenRequest {
        self.signing_time = Some(time);
        self
    }

    /// Mints the token with botocore.
    ///
    /// # Panics
    /// When the helper fails (no python3/botocore: run `tests/rds-emulator/setup`).
    pub fn mint(&self) -> String {
        let expires_in = self.expires_in.to_string();
        mint_with_botocore(
            &[
                "--dsql",
                if self.admin { "admin" } else { "connect" },
                "--host",
                &self.host,
                "--region",
                &self.region,
                "--expires-in",
                &expires_in,
            ],
            &self.key,
            self.signing_time,
        )
    }
}

/// Runs `mint_token.py` with `args`, `key` in the environment (never on the command
/// line) and, if given, a fixed signing time; returns the token.
fn mint_with_botocore(args: &[&str], key: &AwsKey, signing_time: Option<SystemTime>) -> String {
    let script = rds_emulator_dir().join("mint_token.py");
    let mut cmd = Command::new("python3");
    cmd.arg(&script)
        .args(args)
        .env("AWS_ACCESS_KEY_ID", &key.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &key.secret_access_key)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    if let Some(session) = &key.session_token {
        cmd.env("AWS_SESSION_TOKEN", session);
    }
    if let Some(time) = signing_time {
        cmd.arg("--signing-time").arg(iso8601_utc(time));
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed ({}): {}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("token is UTF-8")
        .trim()
        .to_owned()
}

/// Formats a time as ISO 8601 UTC with seconds, e.g. `2024-08-26T22:00:00Z`.
pub fn iso8601_utc(time: SystemTime) -> String {
    let secs = match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).expect("time in range"),
        Err(e) => -i64::try_from(e.duration().as_secs()).expect("time in range"),
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Short fingerprint of a token as the verifier logs it: the first 12 hex
/// digits of the SHA-256 of its `X-Amz-Signature` value.
///
/// # Panics
/// When the token has no signature or `sha256sum` cannot run.
pub fn fingerprint(token: &str) -> String {
    let signature = token
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("X-Amz-Signature="))
        .expect("token has an X-Amz-Signature");
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run sha256sum");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(signature.as_bytes())
        .expect("write to sha256sum");
    let out = child.wait_with_output().expect("sha256sum");
    assert!(out.status.success(), "sha256sum failed");
    String::from_utf8_lossy(&out.stdout)[..12].to_owned()
}

/// Whether a client call uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// Verified TLS against the test CA (psql `sslmode=verify-full`, mariadb
    /// `--ssl-verify-server-cert`).
    Verified,
    /// No TLS at all (psql `sslmode=disable`, mariadb `--skip-ssl`).
    Disabled,
}

/// A psql / mariadb command-line call, built by [`Testbed::client`].
#[derive(Debug, Clone)]
pub struct ClientCall {
    /// Which client to run.
    pub engine: Engine,
    /// Host to connect to.
    pub host: String,
    /// Port to connect to.
    pub port: u16,
    /// User to log in as.
    pub user: String,
    /// Password (the token for IAM users).
    pub password: String,
    /// Database to open.
    pub database: String,
    /// TLS or not.
    pub tls: Tls,
    /// CA file for [`Tls::Verified`].
    pub ca_file: PathBuf,
}

/// What a client call did.
#[derive(Debug, Clone)]
pub struct ClientOutcome {
    /// Whether the client exited successfully (connected and ran the SQL).
    pub success: bool,
    /// Standard output (query results, tab-separated, no headers).
    pub stdout: String,
    /// Standard error (the server's refusal, if any).
    pub stderr: String,
}

impl ClientCall {
    /// Connects to `host` (verify-full checks the certificate against it).
    pub fn host(mut self, host: &str) -> ClientCall {
        self.host = host.to_owned();
        self
    }

    /// Uses or skips TLS.
    pub fn tls(mut self, tls: Tls) -> ClientCall {
        self.tls = tls;
        self
    }

    /// Runs `sql` and returns what happened.
    ///
    /// # Panics
    /// When the client program cannot be started.
    pub fn run(&self, sql: &str) -> ClientOutcome {
        let mut cmd = match self.engine {
            Engine::Postgres => {
                let mut conninfo = format!(
                    "host={} port={} dbname={} user={} connect_timeout=10",
                    self.host, self.port, self.database, self.user
                );
                match self.tls {
                    Tls::Verified => conninfo.push_str(&format!(
                        " sslmode=verify-full sslrootcert={}",
                        self.ca_file.display()
                    )),
                    Tls::Disabled => conninfo.push_str(" sslmode=disable"),
                }
                let mut cmd = Command::new("psql");
                cmd.args(["-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1"])
                    .arg(conninfo)
                    .arg("-c")
                    .arg(sql)
                    .env("PGPASSWORD", &self.password)
                    .env_remove("PGSERVICE")
                    .env("PGPASSFILE", "/dev/null");
                cmd
            }
            Engine::MySql => {
                let mut cmd = Command::new("mariadb");
                cmd.arg("--no-defaults")
                    .arg("--protocol=tcp")
                    .arg(format!("--host={}", self.host))
                    .arg(format!("--port={}", self.port))
                    .arg(format!("--user={}", self.user))
                    .arg("--connect-timeout=10")
                    .args(["--batch", "--skip-column-names"]);
                match self.tls {
                    Tls::Verified => {
                        cmd.arg(format!("--ssl-ca={}", self.ca_file.display()))
                            .arg("--ssl-verify-server-cert")
                            .arg("--enable-cleartext-plugin");
                    }
                    Tls::Disabled => {
                        cmd.arg("--skip-ssl");
                    }
                }
                cmd.arg(&self.database)
                    .arg("-e")
                    .arg(sql)
                    // The password through the environment keeps it out of `ps`.
                    .env("MYSQL_PWD", &self.password);
                cmd
            }
        };
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()));
        // MariaDB's client accepts --enable-cleartext-plugin (MySQL's spelling) but
        // says on stdout that it is obsolete (it always allows the plugin).
        let stdout: String = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !(l.starts_with("WARNING: option") && l.contains("obsolete")))
            .flat_map(|l| [l, "\n"])
            .collect();
        ClientOutcome {
            success: out.status.success(),
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// One decision of the token verifier (one line of its log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierEntry {
    /// When the verifier decided (ISO 8601 UTC with milliseconds).
    pub time: String,
    /// The PAM service: `rds-iam-postgres` or `rds-iam-mysql`.
    pub service: String,
    /// The database user that logged in (the PAM user).
    pub user: String,
    /// The access key id in the token's credential, if the token got that far.
    pub key_id: Option<String>,
    /// The token's `X-Amz-Date`, if present.
    pub signed_at: Option<String>,
    /// `true` when the token was accepted.
    pub verdict: bool,
    /// Why: `ok`, or the check that failed (`signature`, `expired`, `user`, `host`, ...).
    pub reason: String,
    /// First 12 hex digits of the SHA-256 of the token's signature (see [`fingerprint`]).
    pub fingerprint: Option<String>,
}

impl VerifierEntry {
    /// Parses one log line; `None` if it is not one.
    pub fn parse(line: &str) -> Option<VerifierEntry> {
        let mut words = line.split_whitespace();
        let time = words.next()?.to_owned();
        let mut fields = HashMap::new();
        for word in words {
            let (k, v) = word.split_once('=')?;
            fields.insert(k, v);
        }
        let text = |k: &str| -> Option<String> { fields.get(k).map(|v| percent_decode(v)) };
        let optional = |k: &str| text(k).filter(|v| v != "-");
        Some(VerifierEntry {
            time,
            service: text("service")?,
            user: text("user")?,
            key_id: optional("key_id"),
            signed_at: optional("signed_at"),
            verdict: match *fields.get("verdict")? {
                "accept" => true,
                "refuse" => false,
                _ => return None,
            },
            reason: text("reason")?,
            fingerprint: optional("fp"),
        })
    }

    /// The engine whose server asked for this decision.
    pub fn engine(&self) -> Option<Engine> {
        Engine::ALL
            .into_iter()
            .find(|e| e.pam_service() == self.service)
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A position in the verifier log (see [`VerifierLog::mark`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogMark(u64);

/// Reads the token verifier's log.
///
/// Tests run in parallel and share the log: take a [`VerifierLog::mark`] before
/// connecting, then look only at [`VerifierLog::entries_since`] that mark *and*
/// at entries for your own token ([`fingerprint`]) or user.
#[derive(Debug, Clone)]
pub struct VerifierLog {
    path: PathBuf,
}

impl VerifierLog {
    /// The log of `testbed`.
    pub fn open(testbed: &Testbed) -> VerifierLog {
        VerifierLog {
            path: testbed.verifier_log.clone(),
        }
    }

    /// The log file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Remembers the current end of the log.
    pub fn mark(&self) -> LogMark {
        LogMark(fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0))
    }

    /// Complete lines appended since `mark`, parsed.
    ///
    /// # Panics
    /// When the log cannot be read.
    pub fn entries_since(&self, mark: LogMark) -> Vec<VerifierEntry> {
        let mut file = fs::File::open(&self.path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", self.path.display()));
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        // A shorter file was recreated (teardown + setup): read it all.
        let start = if len < mark.0 { 0 } else { mark.0 };
        file.seek(SeekFrom::Start(start)).expect("seek in log");
        let mut text = String::new();
        file.read_to_string(&mut text)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", self.path.display()));
        // Ignore a last line that is still being written.
        let complete = text.rfind('\n').map_or("", |end| &text[..=end]);
        complete.lines().filter_map(VerifierEntry::parse).collect()
    }

    /// Polls (until `timeout`) for an entry since `mark` that matches `pred`.
    pub fn wait_for(
        &self,
        mark: LogMark,
        timeout: Duration,
        pred: impl Fn(&VerifierEntry) -> bool,
    ) -> Option<VerifierEntry> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.entries_since(mark).into_iter().find(&pred) {
                return Some(e);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Polls (until `timeout`) for the entry of a login of `user` with `token`
    /// (same fingerprint and user) logged since `mark`.
    ///
    /// Identical tokens (same user, key and second) minted by parallel tests share
    /// a fingerprint; they also get the same verdict, so any of them will do.
    pub fn wait_for_login(
        &self,
        mark: LogMark,
        user: &str,
        token: &str,
        timeout: Duration,
    ) -> Option<VerifierEntry> {
        let fp = fingerprint(token);
        self.wait_for(mark, timeout, |e| {
            e.user == user && e.fingerprint.as_deref() == Some(fp.as_str())
        })
    }

    /// The whole log, raw (to check what it must never contain).
    ///
    /// # Panics
    /// When the log cannot be read.
    pub fn raw(&self) -> String {
        fs::read_to_string(&self.path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_log_line() {
        let line = "2024-08-26T22:05:00.123Z service=rds-iam-postgres user=user+a@b%20c \
                    key_id=AKIATESTBEDLONGTERM1 signed_at=20240826T220000Z verdict=refuse \
                    reason=expired fp=d2056ce3faf6";
        let e = VerifierEntry::parse(line).expect("parses");
        assert_eq!(e.time, "2024-08-26T22:05:00.123Z");
        assert_eq!(e.service, "rds-iam-postgres");
        assert_eq!(e.engine(), Some(Engine::Postgres));
        assert_eq!(e.user, "user+a@b c");
        assert_eq!(e.key_id.as_deref(), Some("AKIATESTBEDLONGTERM1"));
        assert_eq!(e.signed_at.as_deref(), Some("20240826T220000Z"));
        assert!(!e.verdict);
        assert_eq!(e.reason, "expired");
        assert_eq!(e.fingerprint.as_deref(), Some("d2056ce3faf6"));
    }

    #[test]
    fn parses_a_line_without_token_facts() {
        let line = "2024-08-26T22:05:00.123Z service=rds-iam-mysql user=x key_id=- \
                    signed_at=- verdict=refuse reason=no_token fp=-";
        let e = VerifierEntry::parse(line).expect("parses");
        assert_eq!(e.engine(), Some(Engine::MySql));
        assert_eq!(e.key_id, None);
        assert_eq!(e.fingerprint, None);
        assert_eq!(VerifierEntry::parse("garbage"), None);
    }

    #[test]
    fn formats_iso8601() {
        let t = UNIX_EPOCH + Duration::from_secs(1_724_709_600);
        assert_eq!(iso8601_utc(t), "2024-08-26T22:00:00Z");
        assert_eq!(iso8601_utc(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(iso8601_utc(leap), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn fingerprint_is_sha256_of_the_signature() {
        // sha256("dd0c...ad89") as the verifier logs it for AWS's reference token.
        let token = "prod-instance.us-east-1.rds.amazonaws.com:3306/?Action=connect&DBUser=peccy\
                     &X-Amz-Signature=dd0cba843009474347af724090233265628ace491ea17ce3eb3da098b983ad89";
        assert_eq!(fingerprint(token), "d2056ce3faf6");
    }

    #[test]
    fn reads_env_files_with_relative_paths() {
        let dir = std::env::temp_dir().join(format!("testbed-env-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("testbed.env");
        let mut text = String::from("# comment\n");
        for (k, v) in [
            ("REGION", "us-east-1"),
            ("PG_HOST", "localhost"),
            ("PG_PORT", "15432"),
            ("MYSQL_HOST", "localhost"),
            ("MYSQL_PORT", "13306"),
            ("PG_ENDPOINT", "pg.id.us-east-1.rds.amazonaws.com"),
            (
                "PG_CLUSTER_ENDPOINT",
                "pg.cluster-id.us-east-1.rds.amazonaws.com",
            ),
            (
                "PG_READER_ENDPOINT",
                "pg.cluster-ro-id.us-east-1.rds.amazonaws.com",
            ),
            (
                "PG_PROXY_ENDPOINT",
                "pg-proxy.proxy-id.us-east-1.rds.amazonaws.com",
            ),
            (
                "PG_GOVCLOUD_ENDPOINT",
                "pg.id.us-gov-west-1.rds.amazonaws.com",
            ),
            ("PG_CHINA_ENDPOINT", "pg.id.cn-north-1.rds.amazonaws.com.cn"),
            ("MYSQL_ENDPOINT", "my.id.us-east-1.rds.amazonaws.com"),
            (
                "MYSQL_CLUSTER_ENDPOINT",
                "my.cluster-id.us-east-1.rds.amazonaws.com",
            ),
            (
                "MYSQL_READER_ENDPOINT",
                "my.cluster-ro-id.us-east-1.rds.amazonaws.com",
            ),
            (
                "MYSQL_PROXY_ENDPOINT",
                "my-proxy.proxy-id.us-east-1.rds.amazonaws.com",
            ),
            (
                "MYSQL_GOVCLOUD_ENDPOINT",
                "my.id.us-gov-west-1.rds.amazonaws.com",
            ),
            (
                "MYSQL_CHINA_ENDPOINT",
                "my.id.cn-north-1.rds.amazonaws.com.cn",
            ),
            ("GOVCLOUD_REGION", "us-gov-west-1"),
            ("CHINA_REGION", "cn-north-1"),
            ("DSQL_ENDPOINT", "abc.dsql.us-east-1.on.aws"),
            ("DSQL_PORT", "15433"),
            ("DSQL_ROLE", "app_role"),
            ("DSQL_ADMIN_ROLE", "admin"),
            ("DSQL_REGION", "us-east-1"),
            ("DSQL_DATABASE", "postgres"),
            ("DATABASE", "rdsiam"),
            ("CA_FILE", "ca.pem"),
            ("IAM_USER", "iam_user"),
            ("OTHER_IAM_USER", "iam_other"),
            ("SHORT_IAM_USER", "iam_short"),
            ("CONTROL_USER", "control_user"),
            ("CONTROL_PASSWORD", "pw"),
            ("ACCESS_KEY_ID", "AKIA1"),
            ("SECRET_ACCESS_KEY", "s1"),
            ("ROTATED_ACCESS_KEY_ID", "AKIA2"),
            ("ROTATED_SECRET_ACCESS_KEY", "s2"),
            ("TEMP_ACCESS_KEY_ID", "ASIA3"),
            ("TEMP_SECRET_ACCESS_KEY", "s3"),
            ("TEMP_SESSION_TOKEN", "tok=="),
            ("VERIFIER_LOG", "log/verifier.log"),
            ("KEYS_DIR", "/abs/keys.d"),
        ] {
            text.push_str(&format!("RDS_TESTBED_{k}={v}\n"));
        }
        fs::write(&file, text).expect("write env");
        let bed = Testbed::from_file(&file).expect("loads");
        fs::remove_dir_all(&dir).ok();
        assert_eq!(bed.pg_port, 15432);
        assert_eq!(bed.port(Engine::MySql), 13306);
        assert_eq!(bed.ca_file, dir.join("ca.pem"));
        assert_eq!(bed.verifier_log, dir.join("log/verifier.log"));
        assert_eq!(bed.keys_dir, PathBuf::from("/abs/keys.d"));
        assert_eq!(bed.temp_key.session_token.as_deref(), Some("tok=="));
        assert_eq!(bed.access_key.session_token, None);
        assert_eq!(
            bed.endpoint(Engine::Postgres),
            "pg.id.us-east-1.rds.amazonaws.com"
        );
        assert_eq!(
            bed.endpoints(Engine::MySql).reader,
            "my.cluster-ro-id.us-east-1.rds.amazonaws.com"
        );
        assert_eq!(
            bed.region_of("MY.ID.US-GOV-WEST-1.RDS.AMAZONAWS.COM"),
            "us-gov-west-1"
        );
        assert_eq!(
            bed.region_of("pg.id.cn-north-1.rds.amazonaws.com.cn"),
            "cn-north-1"
        );
        assert_eq!(bed.region_of("localhost"), "us-east-1");
        assert_eq!(bed.dsql_port, 15433);
        let admin = bed.dsql_token_request(&bed.dsql_admin_role);
        assert!(admin.admin && admin.host == "abc.dsql.us-east-1.on.aws");
        assert!(!bed.dsql_token_request(&bed.dsql_role).admin);
    }
}
