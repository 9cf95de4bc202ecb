//! `rds-iam url` and `rds-iam exec`: a fresh token for the tools a user already runs
//! (sqlx-cli, psql, pg_dump, mysql, mysqldump), over verified TLS.

use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};

use anyhow::{Context as _, bail};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use tokio::process::Command;

use crate::args::{AwsOpts, ExecArgs, UrlArgs};
use crate::ca::{self, PrivateDir};
use crate::client;
use crate::dsql;
use crate::mycnf::{self, Pinned};
use crate::url::{self, Scheme};

/// What a URL component may hold unencoded: RFC 3986's unreserved characters.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Where to connect, from the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    scheme: Scheme,
    host: String,
    port: u16,
    user: String,
    database: Option<String>,
}

impl Target {
    fn parse(text: &str) -> anyhow::Result<Self> {
        let scheme = url::scheme_of(text)?;
        let parts = url::parse(text, scheme)?;
        let host = parts
            .host
            .context("invalid URL: no host; expected SCHEME://USER@HOST:PORT/DB")?;
        let user = parts
            .user
            .context("invalid URL: no user; expected SCHEME://USER@HOST:PORT/DB")?;
        let mut database = parts.database;
        if dsql::is_dsql_host(&host) {
            if scheme == Scheme::MySql {
                bail!(dsql::NOT_MYSQL);
            }
            database.get_or_insert_with(|| dsql::DATABASE.to_owned());
        }
        Ok(Self {
            scheme,
            port: parts.port.unwrap_or(scheme.default_port()),
            host,
            user,
            database,
        })
    }

    async fn sign(&self, aws: &AwsOpts) -> anyhow::Result<String> {
        let (_, token) = crate::aws::signer_and_token(
            &|| dsql::signer_for(&self.host, self.port, &self.user),
            aws,
            None,
        )
        .await?;
        Ok(token)
    }

    /// The URL with the token as the password and the TLS settings libpq and sqlx read.
    fn database_url(&self, token: &str, ca_file: &Path) -> String {
        let (scheme, tls) = match self.scheme {
            Scheme::Postgres => ("postgres", "sslmode=verify-full&sslrootcert="),
            Scheme::MySql => ("mysql", "ssl-mode=VERIFY_IDENTITY&ssl-ca="),
        };
        format!(
            "{scheme}://{}:{}@{}:{}/{}?{tls}{}",
            utf8_percent_encode(&self.user, COMPONENT),
            utf8_percent_encode(token, COMPONENT),
            self.host,
            self.port,
            utf8_percent_encode(self.database.as_deref().unwrap_or(""), COMPONENT),
            utf8_percent_encode(&ca_file.to_string_lossy(), COMPONENT),
        )
    }
}

/// Checks that `--ca-file` can be read.
fn check_ca_file(ca_file: Option<&Path>) -> anyhow::Result<()> {
    if let Some(path) = ca_file {
        std::fs::File::open(path)
            .with_context(|| format!("cannot read --ca-file {}", path.display()))?;
    }
    Ok(())
}

/// `$XDG_CACHE_HOME/rds-iam/rds-ca-bundle.pem`, else `$HOME/.cache/rds-iam/...`.
fn default_ca_output() -> anyhow::Result<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|dir| Path::new(dir).is_absolute())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
        .context("neither XDG_CACHE_HOME nor HOME is set: give --ca-output FILE")?;
    Ok(cache.join("rds-iam").join("rds-ca-bundle.pem"))
}

/// `rds-iam url`: prints the URL, and writes the CA bundle it names.
pub(crate) async fn url(args: UrlArgs) -> anyhow::Result<ExitCode> {
    let target = Target::parse(&args.url)?;
    check_ca_file(args.ca_file.as_deref())?;
    let (ca_file, write) = match (&args.ca_file, &args.ca_output) {
        (Some(path), _) => (path.clone(), None),
        (None, Some(path)) => (path.clone(), Some(false)),
        (None, None) => (default_ca_output()?, Some(true)),
    };
    let token = target.sign(&args.aws).await?;
    if let Some(create_parent) = write {
        ca::write_bundle_to(&ca_file, create_parent)?;
    }
    let ca_file = std::path::absolute(&ca_file)
        .with_context(|| format!("cannot resolve {}", ca_file.display()))?;
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{}", target.database_url(&token, &ca_file))
        .and_then(|()| stdout.flush())
        .context("could not write the URL to stdout")?;
    Ok(ExitCode::SUCCESS)
}

/// `rds-iam exec`: runs the command with the token and TLS settings in its environment.
pub(crate) async fn exec(args: ExecArgs) -> anyhow::Result<ExitCode> {
    let target = Target::parse(&args.url)?;
    check_ca_file(args.ca_file.as_deref())?;
    let flavor = match target.scheme {
        Scheme::MySql => {
            mycnf::check_user_files(std::env::var_os("HOME").as_deref().map(Path::new))?;
            Some(client::mysql_flavor_on_path().await)
        }
        Scheme::Postgres => None,
    };
    let [program, program_args @ ..] = &args.command[..] else {
        bail!("no command to run: give it after `--`");
    };
    if flavor.is_some() {
        mycnf::check_command_args(program_args)?;
    }
    let token = target.sign(&args.aws).await?;

    let private = PrivateDir::create()?;
    let ca_file = match &args.ca_file {
        Some(path) => std::path::absolute(path)
            .with_context(|| format!("cannot resolve {}", path.display()))?,
        None => private.write_bundle()?,
    };
    let mut command = Command::new(program);
    command
        .args(program_args)
        .env("DATABASE_URL", target.database_url(&token, &ca_file));
    match flavor {
        None => {
            for var in client::PSQL_UNSAFE_ENV {
                command.env_remove(var);
            }
            command
                .env("PGHOST", &target.host)
                .env("PGPORT", target.port.to_string())
                .env("PGUSER", &target.user)
                .env("PGSSLMODE", "verify-full")
                .env("PGSSLROOTCERT", &ca_file)
                .env("PGGSSENCMODE", "disable")
                .env("PGPASSWORD", &token);
            if let Some(database) = &target.database {
                command.env("PGDATABASE", database);
            }
        }
        Some(flavor) => {
            let empty_dir = private.empty_dir()?;
            let pinned = Pinned {
                host: &target.host,
                port: target.port,
                user: &target.user,
                database: target.database.as_deref(),
                ca_file: &ca_file,
                empty_dir: &empty_dir,
            };
            private.write_file("my.cnf", &mycnf::option_file(&pinned, flavor))?;
            command
                .env("MYSQL_HOME", private.path())
                .env("MARIADB_HOME", private.path())
                .env("MYSQL_HOST", &target.host)
                .env("MYSQL_TCP_PORT", target.port.to_string())
                .env_remove("MYSQL_UNIX_PORT")
                .env_remove("MYSQL_GROUP_SUFFIX")
                // Oracle's tools read the login-path file it names instead of
                // ~/.mylogin.cnf, after rds-iam's option file.
                .env_remove("MYSQL_TEST_LOGIN_FILE")
                .env("LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN", "1")
                .env("MYSQL_PWD", &token);
        }
    }
    command
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .kill_on_drop(false);
    tracing::info!(program = %Path::new(program).display(), host = %target.host, port = target.port, user = %target.user, "starting the command");
    let mut signals = client::Signals::catch()?;
    let mut child = command.spawn().with_context(|| {
        format!(
            "could not start {}: check the command exists (on PATH) and is executable",
            Path::new(program).display()
        )
    })?;
    let status = signals.wait(&mut child).await?;
    drop(private);
    Ok(client::exit_code(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_carries_the_encoded_token_and_tls_settings() {
        let target =
            Target::parse("postgres://app%2Ba@db.x.us-east-1.rds.amazonaws.com/my%20db").unwrap();
        assert_eq!(
            target.database_url("h:5432/?Action=connect&X=a%2Fb", Path::new("/c a/ca.pem")),
            "postgres://app%2Ba:h%3A5432%2F%3FAction%3Dconnect%26X%3Da%252Fb@\
             db.x.us-east-1.rds.amazonaws.com:5432/my%20db?sslmode=verify-full&sslrootcert=%2Fc%20a%2Fca.pem"
        );
        let target = Target::parse("mariadb://app@h:3307").unwrap();
        assert_eq!(
            target.database_url("t", Path::new("/ca.pem")),
            "mysql://app:t@h:3307/?ssl-mode=VERIFY_IDENTITY&ssl-ca=%2Fca.pem"
        );
    }

    #[test]
    fn the_url_needs_a_host_and_a_user() {
        for (url, needle) in [("postgres://h/db", "no user"), ("mysql://u@/db", "no host")] {
            let err = Target::parse(url).unwrap_err().to_string();
            assert!(err.contains(needle), "{url}: {err}");
        }
    }
}
