//! `rds-iam psql` and `rds-iam mysql`: start the real client with a fresh token.
//!
//! The token goes in the client's password environment variable (`PGPASSWORD`,
//! `MYSQL_PWD`), never on its command line, where `ps` would show it to every user. Host,
//! port, user, database and verified TLS go on the command line, where they win over the
//! user's service and option files and environment; client arguments that would change
//! them are refused (`guard`). TLS is verified against the embedded bundle, the RDS
//! roots and Amazon Root CA 1-4 (or `--ca-file`), written to a private temp directory
//! that is removed when the client exits. The client's exit status becomes ours. An
//! Aurora DSQL endpoint gets a DSQL token (`dsql`).

use std::ffi::OsString;
use std::io;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::{ChildStderr, Command};
use tokio::signal::unix::{SignalKind, signal};

use crate::args::ClientArgs;
use crate::aws;
use crate::ca::PrivateDir;
use crate::dsql;
use crate::guard;
use crate::url::{self, Scheme};

/// How long to wait for the client's stderr to close after the client exits (a process
/// it started in the background may hold it open).
const STDERR_DRAIN: Duration = Duration::from_millis(500);

/// Which client to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Client {
    /// `psql`.
    Psql,
    /// `mysql` (MySQL or MariaDB).
    MySql,
}

impl Client {
    fn default_port(self) -> u16 {
        match self {
            Self::Psql => 5432,
            Self::MySql => 3306,
        }
    }

    fn scheme(self) -> Scheme {
        match self {
            Self::Psql => Scheme::Postgres,
            Self::MySql => Scheme::MySql,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Psql => "psql",
            Self::MySql => "mysql",
        }
    }

    fn install_hint(self) -> &'static str {
        match self {
            Self::Psql => {
                "install the PostgreSQL client (Debian/Ubuntu: apt install postgresql-client)"
            }
            Self::MySql => {
                "install the MySQL or MariaDB client (Debian/Ubuntu: apt install mariadb-client)"
            }
        }
    }
}

/// Where to connect and what to sign for, from the URL and the flags (flags win).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    host: String,
    port: u16,
    user: String,
    database: Option<String>,
}

impl Target {
    fn resolve(client: Client, args: &ClientArgs) -> anyhow::Result<Self> {
        let from_url = match &args.url {
            Some(text) => url::parse(text, client.scheme())?,
            None => url::ConnectionUrl::default(),
        };
        let example = match client {
            Client::Psql => "postgres://USER@HOST:5432/DB",
            Client::MySql => "mysql://USER@HOST:3306/DB",
        };
        let host = args.hostname.clone().or(from_url.host).with_context(|| {
            format!("no database host: give --hostname or a URL such as {example}")
        })?;
        let user = args.username.clone().or(from_url.user).with_context(|| {
            format!("no database user: give --username or a URL such as {example}")
        })?;
        let mut database = args.dbname.clone().or(from_url.database);
        if dsql::is_dsql_host(&host) {
            if client == Client::MySql {
                bail!(dsql::NOT_MYSQL);
            }
            database.get_or_insert_with(|| dsql::DATABASE.to_owned());
        }
        Ok(Self {
            host,
            port: args.port.or(from_url.port).unwrap_or(client.default_port()),
            user,
            database,
        })
    }
}

/// Which dialect a `mysql` binary speaks for verified TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MySqlFlavor {
    /// MariaDB's client: `--ssl-verify-server-cert`.
    MariaDb,
    /// Oracle MySQL 5.7 and later: `--ssl-mode=VERIFY_IDENTITY`.
    MySql,
}

/// Runs `psql` or `mysql` against the target with a fresh token, and returns its exit
/// status.
pub(crate) async fn run(client: Client, args: ClientArgs) -> anyhow::Result<ExitCode> {
    let target = Target::resolve(client, &args)?;
    match client {
        Client::Psql => guard::check_psql(&args.client_args)?,
        Client::MySql => guard::check_mysql(&args.client_args)?,
    }
    // Find the program before signing, so that a missing client fails first.
    let (program, flavor) = find_program(client, args.client.as_deref()).await?;
    if let Some(path) = &args.ca_file {
        std::fs::File::open(path)
            .with_context(|| format!("cannot read --ca-file {}", path.display()))?;
    }
    let (signer, token) = aws::signer_and_token(
        &|| dsql::signer_for(&target.host, target.port, &target.user),
        &args.aws,
        None,
    )
    .await?;

    let private = PrivateDir::create()?;
    let ca_file = match &args.ca_file {
        Some(path) => path.clone(),
        None => private.write_bundle()?,
    };
    let mut command = Command::new(&program);
    match client {
        Client::Psql => {
            for var in PSQL_UNSAFE_ENV {
                command.env_remove(var);
            }
            // The same TLS settings as defaults for any later connection psql makes
            // (`\connect` in ~/.psqlrc, PSQLRC or typed): PGPASSWORD goes with it.
            command
                .arg(psql_conninfo_arg(&target, &ca_file))
                .env("PGSSLMODE", "verify-full")
                .env("PGSSLROOTCERT", &ca_file)
                .env("PGGSSENCMODE", "disable")
                .env("PGPASSWORD", &token);
        }
        Client::MySql => {
            command
                .args(mysql_args(&target, &ca_file, &private.empty_dir()?, flavor))
                .env_remove("MYSQL_HOST")
                .env("MYSQL_PWD", &token);
        }
    }
    command
        .args(&args.client_args)
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .kill_on_drop(false);
    tracing::info!(
        program = %program.display(),
        host = %target.host,
        port = target.port,
        user = %target.user,
        region = signer.region(),
        "starting the client"
    );
    let mut signals = Signals::catch()?;
    let mut child = command
        .spawn()
        .with_context(|| format!("could not start {}", program.display()))?;
    let stderr = child
        .stderr
        .take()
        .context("the client's stderr was not piped")?;
    let pump = tokio::spawn(pump_stderr(stderr));
    let status = signals.wait(&mut child).await?;
    let seen = match tokio::time::timeout(STDERR_DRAIN, pump).await {
        Ok(Ok(seen)) => seen,
        _ => Seen::default(),
    };
    if !status.success()
        && let Some(hint) = hint(
            client,
            &seen,
            &target,
            signer.region(),
            args.ca_file.is_some(),
        )
    {
        eprintln!("rds-iam: hint: {hint}");
    }
    Ok(exit_code(status))
}

/// The libpq variables that could send psql elsewhere or weaken TLS. The conninfo string
/// on the command line beats them (and service files), but a service would still be
/// read for the settings it does not name: remove them all, for a connection that
/// depends on nothing but `rds-iam`'s arguments.
pub(crate) const PSQL_UNSAFE_ENV: &[&str] = &[
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGSYSCONFDIR",
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
    "PGSSLMODE",
    "PGREQUIRESSL",
    "PGSSLROOTCERT",
    "PGSSLNEGOTIATION",
    "PGGSSENCMODE",
];

/// psql's `--dbname=CONNINFO` for the target and verified TLS: settings in a conninfo
/// string on the command line win over service files and `PG*` variables (libpq's
/// precedence). `hostaddr=''` keeps any other source from naming an address, and
/// `gssencmode=disable` keeps GSSAPI encryption from standing in for TLS. Never the
/// password: command lines are visible to every local user.
fn psql_conninfo_arg(target: &Target, ca_file: &Path) -> OsString {
    let mut conninfo = format!(
        "host={} port={} user={}",
        conninfo_quote(&target.host),
        target.port,
        conninfo_quote(&target.user)
    );
    if let Some(database) = &target.database {
        conninfo.push_str(&format!(" dbname={}", conninfo_quote(database)));
    }
    conninfo.push_str(&format!(
        " hostaddr='' sslmode=verify-full gssencmode=disable sslrootcert={}",
        conninfo_quote(&ca_file.to_string_lossy())
    ));
    let mut arg = OsString::from("--dbname=");
    arg.push(conninfo);
    arg
}

/// A conninfo value in single quotes, with `\` and `'` escaped.
fn conninfo_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// `mysql` options for the target and verified TLS, before the user's own (which
/// `guard::check_mysql` has checked). Options on the command line win over option files
/// and `MYSQL_HOST`; `empty_dir` as `--ssl-capath` keeps an option file's CA directory
/// from adding roots to `ca_file`.
fn mysql_args(
    target: &Target,
    ca_file: &Path,
    empty_dir: &Path,
    flavor: MySqlFlavor,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        format!("--host={}", target.host).into(),
        format!("--port={}", target.port).into(),
        format!("--user={}", target.user).into(),
        // `localhost` would otherwise mean the Unix socket, without TLS.
        "--protocol=TCP".into(),
    ];
    let mut ca = OsString::from("--ssl-ca=");
    ca.push(ca_file);
    args.push(ca);
    let mut capath = OsString::from("--ssl-capath=");
    capath.push(empty_dir);
    args.push(capath);
    match flavor {
        MySqlFlavor::MariaDb => {
            // MariaDB's client always allows mysql_clear_password; it calls
            // --enable-cleartext-plugin obsolete and warns about it on stdout.
            args.push("--ssl".into());
            args.push("--ssl-verify-server-cert".into());
        }
        MySqlFlavor::MySql => {
            args.push("--ssl-mode=VERIFY_IDENTITY".into());
            args.push("--enable-cleartext-plugin".into());
        }
    }
    if let Some(database) = &target.database {
        args.push(format!("--database={database}").into());
    }
    args
}

/// The dialect of the MySQL client on PATH (`mysql`, else `mariadb`); MariaDB's when there
/// is none.
pub(crate) async fn mysql_flavor_on_path() -> MySqlFlavor {
    find_program(Client::MySql, None)
        .await
        .map_or(MySqlFlavor::MariaDb, |(_, flavor)| flavor)
}

/// The program to run, and for `mysql` which dialect it speaks.
async fn find_program(
    client: Client,
    explicit: Option<&Path>,
) -> anyhow::Result<(PathBuf, MySqlFlavor)> {
    let candidates: Vec<PathBuf> = match (explicit, client) {
        (Some(path), _) => vec![path.to_owned()],
        (None, Client::Psql) => vec!["psql".into()],
        (None, Client::MySql) => vec!["mysql".into(), "mariadb".into()],
    };
    for candidate in &candidates {
        let output = Command::new(candidate)
            .arg("--version")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .await;
        match output {
            Ok(output) => {
                let version = String::from_utf8_lossy(&output.stdout);
                tracing::debug!(program = %candidate.display(), version = %version.trim(), "found the client");
                return Ok((candidate.clone(), mysql_flavor(&version)));
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => {
                return Err(err).with_context(|| format!("could not run {}", candidate.display()));
            }
        }
    }
    match explicit {
        Some(path) => bail!(
            "--client {} not found: give the path of an existing program",
            path.display()
        ),
        None => bail!(
            "{} not found on PATH: {}, or give --client PATH",
            client.name(),
            client.install_hint()
        ),
    }
}

/// MariaDB's `--version` names MariaDB; Oracle's names MySQL or a 5.7+ version.
fn mysql_flavor(version: &str) -> MySqlFlavor {
    if version.contains("MariaDB") {
        MySqlFlavor::MariaDb
    } else if ["MySQL", "Ver 8.", "Ver 9.", "Distrib 5.7"]
        .iter()
        .any(|mark| version.contains(mark))
    {
        MySqlFlavor::MySql
    } else {
        MySqlFlavor::MariaDb
    }
}

/// The signals `rds-iam` catches while a client runs, registered before it starts (a
/// signal sent as soon as the client exists must not kill `rds-iam` and leave the temp
/// directory behind).
#[derive(Debug)]
pub(crate) struct Signals {
    interrupt: tokio::signal::unix::Signal,
    quit: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Starts catching SIGINT, SIGQUIT, SIGTERM and SIGHUP.
    pub(crate) fn catch() -> anyhow::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            quit: signal(SignalKind::quit())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// Waits for the client. SIGINT and SIGQUIT from the terminal reach the client
    /// directly (same process group), so they are only kept from killing us; SIGTERM and
    /// SIGHUP are passed on. Either way we stay to remove the temp directory and report
    /// the exit status.
    pub(crate) async fn wait(
        &mut self,
        child: &mut tokio::process::Child,
    ) -> anyhow::Result<ExitStatus> {
        loop {
            let forward = tokio::select! {
                status = child.wait() => return status.context("could not wait for the client"),
                _ = self.interrupt.recv() => None,
                _ = self.quit.recv() => None,
                _ = self.terminate.recv() => Some(rustix::process::Signal::TERM),
                _ = self.hangup.recv() => Some(rustix::process::Signal::HUP),
            };
            if let Some(sig) = forward
                && let Some(pid) = child
                    .id()
                    .and_then(|id| i32::try_from(id).ok())
                    .and_then(rustix::process::Pid::from_raw)
                && let Err(err) = rustix::process::kill_process(pid, sig)
            {
                tracing::warn!(%err, "could not pass the signal on to the client");
            }
        }
    }
}

/// What the client's stderr showed, for the hint.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Seen {
    auth_refused: bool,
    cleartext_refused: bool,
    tls_failed: bool,
}

impl Seen {
    fn scan(&mut self, text: &str) {
        const AUTH: &[&str] = &[
            "PAM authentication failed for user",
            "password authentication failed for user",
            "ERROR 1045",
            "Access denied for user",
        ];
        const CLEARTEXT: &[&str] = &["ERROR 2059", "mysql_clear_password"];
        const TLS: &[&str] = &[
            "certificate verify failed",
            "does not match host name",
            "root certificate file",
            "ERROR 2026",
            "SSL connection error",
        ];
        let any = |marks: &[&str]| marks.iter().any(|mark| text.contains(mark));
        self.auth_refused |= any(AUTH);
        self.cleartext_refused |= any(CLEARTEXT);
        self.tls_failed |= any(TLS);
    }
}

/// Copies the client's stderr to ours as it comes, watching for known failures.
async fn pump_stderr(mut from: ChildStderr) -> Seen {
    /// Enough to hold any marker split across two reads.
    const KEEP: usize = 64;
    let mut to = tokio::io::stderr();
    let mut seen = Seen::default();
    let mut window: Vec<u8> = Vec::with_capacity(8192 + KEEP);
    let mut buf = [0u8; 8192];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // Our stderr going away must not stop the client: keep draining its pipe.
        let _ = to.write_all(&buf[..n]).await;
        let _ = to.flush().await;
        window.extend_from_slice(&buf[..n]);
        seen.scan(&String::from_utf8_lossy(&window));
        let start = window.len().saturating_sub(KEEP);
        window.drain(..start);
    }
    seen
}

/// One or two lines on what to check, when the client failed in a way we recognise.
fn hint(
    client: Client,
    seen: &Seen,
    target: &Target,
    region: &str,
    own_ca: bool,
) -> Option<String> {
    let Target {
        host, port, user, ..
    } = target;
    if seen.auth_refused
        && let Some(endpoint) = rds_iam_token::DsqlEndpoint::parse(host)
    {
        return Some(dsql::refusal_hint(&endpoint, user, region));
    }
    if seen.auth_refused {
        let grant = match client {
            Client::Psql => format!("\"{user}\" is granted rds_iam (GRANT rds_iam TO \"{user}\")"),
            Client::MySql => {
                format!("'{user}' is created IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'")
            }
        };
        return Some(format!(
            "the server refused the IAM token for user \"{user}\", signed for {host}:{port} in {region}. \
             Check that {grant}; that the IAM policy allows rds-db:connect on \
             arn:aws:rds-db:{region}:ACCOUNT:dbuser:RESOURCE_ID/{user}; and that {host} is the \
             RDS endpoint name (not a custom DNS name or tunnel) and {region} its region."
        ));
    }
    if seen.cleartext_refused {
        return Some(
            "the client refused to send the token in clear text: use a client that allows \
             --enable-cleartext-plugin (mysql_clear_password)"
                .to_owned(),
        );
    }
    if seen.tls_failed {
        let roots = if own_ca {
            "the --ca-file given"
        } else {
            "the embedded RDS and Amazon root CAs (give --ca-file for a server with another CA)"
        };
        return Some(format!(
            "TLS verification failed: the server's certificate must chain to {roots} and name {host}."
        ));
    }
    None
}

/// The client's exit status as ours: its code, or 128 + the signal that killed it.
pub(crate) fn exit_code(status: ExitStatus) -> ExitCode {
    let code = status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(1);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::AwsOpts;

    fn client_args(url: Option<&str>) -> ClientArgs {
        ClientArgs {
            url: url.map(str::to_owned),
            hostname: None,
            port: None,
            username: None,
            dbname: None,
            ca_file: None,
            client: None,
            aws: AwsOpts::default(),
            client_args: Vec::new(),
        }
    }

    #[test]
    fn flags_win_over_the_url_and_ports_default_by_client() {
        let mut args = client_args(Some("mysql://u@h/db"));
        args.username = Some("other".into());
        let target = Target::resolve(Client::MySql, &args).unwrap();
        assert_eq!(
            target,
            Target {
                host: "h".into(),
                port: 3306,
                user: "other".into(),
                database: Some("db".into()),
            }
        );
        let err = Target::resolve(Client::Psql, &client_args(Some("postgres://h")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("--username"), "{err}");
    }

    #[test]
    fn mysql_args_verify_tls_and_allow_cleartext() {
        let target = Target {
            host: "localhost".into(),
            port: 3306,
            user: "iam_user".into(),
            database: Some("rdsiam".into()),
        };
        let empty = Path::new("/tmp/empty");
        let args = mysql_args(
            &target,
            Path::new("/tmp/ca.pem"),
            empty,
            MySqlFlavor::MariaDb,
        );
        for expected in [
            "--host=localhost",
            "--protocol=TCP",
            "--ssl-ca=/tmp/ca.pem",
            "--ssl-capath=/tmp/empty",
            "--ssl-verify-server-cert",
            "--database=rdsiam",
        ] {
            assert!(
                args.iter().any(|a| a == expected),
                "{expected} missing: {args:?}"
            );
        }
        let args = mysql_args(&target, Path::new("/tmp/ca.pem"), empty, MySqlFlavor::MySql);
        assert!(args.iter().any(|a| a == "--ssl-mode=VERIFY_IDENTITY"));
        assert!(args.iter().any(|a| a == "--enable-cleartext-plugin"));
    }

    #[test]
    fn the_psql_conninfo_pins_the_target_and_verified_tls() {
        let target = Target {
            host: "db.x.us-east-1.rds.amazonaws.com".into(),
            port: 5432,
            user: "o'brien".into(),
            database: Some(r"a\b c".into()),
        };
        assert_eq!(
            psql_conninfo_arg(&target, Path::new("/tmp/x/ca.pem")),
            r"--dbname=host='db.x.us-east-1.rds.amazonaws.com' port=5432 user='o\'brien' dbname='a\\b c' hostaddr='' sslmode=verify-full gssencmode=disable sslrootcert='/tmp/x/ca.pem'"
        );
    }

    #[test]
    fn mysql_flavors() {
        assert_eq!(
            mysql_flavor("mysql  Ver 15.1 Distrib 10.11.6-MariaDB, for debian-linux-gnu"),
            MySqlFlavor::MariaDb
        );
        assert_eq!(
            mysql_flavor("mysql  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)"),
            MySqlFlavor::MySql
        );
    }

    #[test]
    fn markers_split_across_reads_are_seen() {
        let mut seen = Seen::default();
        seen.scan("psql: error: connection to server at \"localhost\" (127.0.0.1), port 5432 failed: FATAL:  PAM authentication failed for user \"x\"");
        assert!(seen.auth_refused && !seen.tls_failed);
    }

    #[test]
    fn exit_codes_pass_through() {
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), ExitCode::from(3));
        assert_eq!(exit_code(ExitStatus::from_raw(9)), ExitCode::from(137));
    }
}
