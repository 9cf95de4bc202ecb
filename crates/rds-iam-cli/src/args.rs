//! The command line, as clap types.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::SystemTime;

use clap::{Args as ClapArgs, Parser, Subcommand};

/// Examples shown at the end of `rds-iam --help`.
const EXAMPLES: &str = "\
Examples:
  # A token for an RDS / Aurora endpoint (same output as `aws rds generate-db-auth-token`)
  rds-iam token --hostname mydb.abc123.us-east-1.rds.amazonaws.com --port 5432 --username app
  # Put it in a variable, with credentials from a named profile
  PGPASSWORD=\"$(rds-iam token --hostname mydb.abc123.us-east-1.rds.amazonaws.com \\
      --port 5432 --username app --profile prod)\"
  # Aurora DSQL, admin role, valid one hour
  rds-iam dsql-token --hostname abc.dsql.us-east-1.on.aws --admin --expires-in 3600
  # Start psql / mysql with a fresh token over verified TLS
  rds-iam psql postgres://app@mydb.abc123.us-east-1.rds.amazonaws.com/appdb -- -c 'select 1'
  rds-iam mysql --hostname mydb.abc123.us-east-1.rds.amazonaws.com --username app -- -e 'select 1'
  # A URL for sqlx / libpq, or a command run with the token in its environment
  export DATABASE_URL=\"$(rds-iam url postgres://app@mydb.abc123.us-east-1.rds.amazonaws.com/appdb)\"
  rds-iam exec postgres://app@mydb.abc123.us-east-1.rds.amazonaws.com/appdb -- pg_dump -f app.sql
  # Save the CA bundle (RDS roots, Amazon Root CA 1-4) for other tools
  rds-iam ca-bundle --output rds-ca.pem";

/// Mint Amazon RDS / Aurora / Aurora DSQL IAM auth tokens, and start psql or mysql with one.
///
/// Credentials come from the standard AWS chain: environment, --profile / AWS_PROFILE,
/// SSO, web identity, container and instance metadata. Only the token goes to stdout.
#[derive(Debug, Parser)]
#[command(name = "rds-iam", version, after_help = EXAMPLES)]
pub(crate) struct Args {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,

    /// More logging on stderr: -v info, -vv debug, -vvv trace in debug builds (default: RUST_LOG as LEVEL or TARGET=LEVEL,... directives, else warnings)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
}

/// The subcommands. Each one's arguments are built only when it is the one chosen
/// (`defer`): building every subcommand's arguments was most of clap's start-up cost.
/// The argument structs below carry plain comments, not doc comments: with `defer`, a
/// struct's doc comment would replace the subcommand's description in its `--help`.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub(crate) enum Command {
    /// Print an IAM auth token for an RDS or Aurora endpoint (or RDS Proxy)
    #[command(
        visible_alias = "generate-db-auth-token",
        after_help = "Examples:\n  \
            rds-iam token --hostname mydb.abc123.us-east-1.rds.amazonaws.com --port 5432 --username app\n  \
            rds-iam token --hostname localhost --port 5432 --username app --region us-east-1 \\\n      \
            --signing-time 2024-08-26T22:00:00Z"
    )]
    Token(TokenArgs),

    /// Print an IAM auth token for an Aurora DSQL cluster endpoint
    #[command(
        visible_alias = "generate-db-connect-auth-token",
        after_help = "Examples:\n  \
            rds-iam dsql-token --hostname abc.dsql.us-east-1.on.aws\n  \
            rds-iam dsql-token --hostname abc.dsql.us-east-1.on.aws --admin --expires-in 3600\n  \
            rds-iam generate-db-connect-auth-token --hostname abc.dsql.us-east-1.on.aws --region us-east-1"
    )]
    DsqlToken(DsqlTokenArgs),

    /// Print an Aurora DSQL token for the admin role: `dsql-token --admin`, under the AWS CLI's name
    #[command(
        name = "generate-db-connect-admin-auth-token",
        after_help = "Examples:\n  \
            rds-iam generate-db-connect-admin-auth-token --hostname abc.dsql.us-east-1.on.aws \\\n      \
            --region us-east-1 --expires-in 3600"
    )]
    DsqlAdminToken(DsqlTarget),

    /// Start psql with a fresh token (PGPASSWORD) and sslmode=verify-full
    #[command(
        after_help = "An Aurora DSQL endpoint (ID.dsql.REGION.on.aws) gets a DSQL token: \
            DbConnectAdmin for the admin role, DbConnect for others; the database defaults to postgres.\n\n\
            Examples:\n  \
            rds-iam psql postgres://app@mydb.abc123.us-east-1.rds.amazonaws.com:5432/appdb\n  \
            rds-iam psql postgres://admin@abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws/postgres\n  \
            rds-iam psql --hostname mydb.abc123.us-east-1.rds.amazonaws.com --username app \\\n      \
            --dbname appdb -- -c 'select 1'"
    )]
    Psql(ClientArgs),

    /// Start mysql with a fresh token (MYSQL_PWD), verified TLS and the cleartext plugin
    #[command(after_help = "Examples:\n  \
            rds-iam mysql mysql://app@mydb.abc123.us-east-1.rds.amazonaws.com:3306/appdb\n  \
            rds-iam mysql --hostname mydb.abc123.us-east-1.rds.amazonaws.com --username app \\\n      \
            -- -e 'select 1'")]
    Mysql(ClientArgs),

    /// Print a connection URL with a fresh token and verified-TLS settings, for sqlx and libpq
    #[command(after_help = URL_HELP)]
    Url(UrlArgs),

    /// Run a command with DATABASE_URL and the client variables (PGPASSWORD, MYSQL_PWD, ...) set
    #[command(after_help = EXEC_HELP)]
    Exec(ExecArgs),

    /// Write the embedded CA bundle as PEM: the RDS roots (global, GovCloud) and Amazon Root CA 1-4 (DSQL, RDS Proxy)
    #[command(after_help = "Examples:\n  \
            rds-iam ca-bundle --output /etc/ssl/rds-ca.pem\n  \
            rds-iam ca-bundle | openssl storeutl -noout -text -certs /dev/stdin")]
    CaBundle(CaBundleArgs),
}

/// What `rds-iam url --help` ends with.
const URL_HELP: &str = "\
The URL is postgres://USER:TOKEN@HOST:PORT/DB?sslmode=verify-full&sslrootcert=CA or
mysql://USER:TOKEN@HOST:PORT/DB?ssl-mode=VERIFY_IDENTITY&ssl-ca=CA (token and names
percent-encoded); nothing else goes to stdout. The token lives 15 minutes. An Aurora DSQL
endpoint (ID.dsql.REGION.on.aws, postgres:// only) gets a DSQL token (DbConnectAdmin for
the admin role, DbConnect for others) and the database postgres unless the URL names one.

Careful: a URL with a token on a command line (psql \"$DATABASE_URL\") is visible to other
local users in the process list (ps). Prefer rds-iam exec, which hands tools the
environment variables they read (PGPASSWORD, MYSQL_PWD), or rds-iam psql / mysql.

sqlx 0.9 cannot enable MySQL's cleartext plugin from a URL: sqlx-cli cannot log in to RDS
MySQL with a token (run migrations in-process over the IAM pool instead).

Examples:
  export DATABASE_URL=\"$(rds-iam url postgres://app@mydb.abc123.us-east-1.rds.amazonaws.com/appdb)\"
  rds-iam url mysql://app@mydb.abc123.us-east-1.rds.amazonaws.com/appdb --ca-output ./rds-ca.pem";

/// What `rds-iam exec --help` ends with.
const EXEC_HELP: &str = "\
COMMAND gets DATABASE_URL (as `rds-iam url` prints it) and, for PostgreSQL, PGPASSWORD,
PGHOST, PGPORT, PGUSER, PGDATABASE, PGSSLMODE=verify-full and PGSSLROOTCERT (PGSERVICE,
PGSERVICEFILE, PGSYSCONFDIR and PGHOSTADDR removed, so no service file can redirect it);
for MySQL, MYSQL_PWD, LIBMYSQL_ENABLE_CLEARTEXT_PLUGIN=1, MYSQL_HOST, MYSQL_TCP_PORT and
MYSQL_HOME / MARIADB_HOME naming an option file of rds-iam's own (host, port, user,
verified TLS). ~/.my.cnf is read after that file, so exec refuses to run when it sets
host, port, socket, protocol, user, database, any ssl / tls key or the auth plugin (or
~/.mylogin.cnf exists), and when COMMAND's own arguments say --no-defaults or
--defaults-file (a --defaults-extra-file=FILE there is checked like ~/.my.cnf). The
CA bundle is in a private temporary directory removed when COMMAND exits. Signals are
passed on; COMMAND's exit status is rds-iam's.

exec adds no arguments to COMMAND. Prefer the environment variables where the tool reads
them: a URL with a token on a command line (psql \"$DATABASE_URL\") is visible to other
local users in the process list.

Examples:
  rds-iam exec postgres://app@mydb.abc123.us-east-1.rds.amazonaws.com/appdb -- pg_dump -Fc -f app.dump
  rds-iam exec postgres://app@mydb.abc123.us-east-1.rds.amazonaws.com/appdb -- sqlx migrate run
  rds-iam exec mysql://app@mydb.abc123.us-east-1.rds.amazonaws.com/appdb -- mysqldump appdb";

// `rds-iam url`.
#[derive(Debug, ClapArgs)]
pub(crate) struct UrlArgs {
    /// Connection URL without a password: postgres://USER@HOST:PORT/DB or mysql://USER@HOST:PORT/DB
    #[arg(value_name = "URL")]
    pub(crate) url: String,

    /// CA certificates (PEM) to verify the server with, used as is, instead of the embedded bundle (RDS roots, Amazon Root CA 1-4)
    #[arg(long, value_name = "FILE", conflicts_with = "ca_output")]
    pub(crate) ca_file: Option<PathBuf>,

    /// Where to write the embedded CA bundle that the URL names [default: $XDG_CACHE_HOME/rds-iam/rds-ca-bundle.pem, else ~/.cache/rds-iam/rds-ca-bundle.pem]
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_output: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) aws: AwsOpts,
}

// `rds-iam exec`.
#[derive(Debug, ClapArgs)]
pub(crate) struct ExecArgs {
    /// Connection URL without a password: postgres://USER@HOST:PORT/DB or mysql://USER@HOST:PORT/DB
    #[arg(value_name = "URL")]
    pub(crate) url: String,

    /// CA certificates (PEM) to verify the server with, instead of the embedded bundle (RDS roots, Amazon Root CA 1-4)
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_file: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) aws: AwsOpts,

    /// The command to run and its arguments, after `--`
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub(crate) command: Vec<OsString>,
}

// Where credentials and the region come from; shared by every command that signs.
#[derive(Debug, Clone, Default, ClapArgs)]
pub(crate) struct AwsOpts {
    /// Region to sign for [default: read from the endpoint name, else AWS_REGION, the profile, ...]
    #[arg(long, value_name = "REGION")]
    pub(crate) region: Option<String>,

    /// Named profile from ~/.aws/config and ~/.aws/credentials (wins over environment keys)
    #[arg(long, value_name = "NAME")]
    pub(crate) profile: Option<String>,
}

// `rds-iam token`.
#[derive(Debug, ClapArgs)]
pub(crate) struct TokenArgs {
    /// The RDS endpoint the token is for (instance, cluster, reader or proxy); not a custom DNS name
    #[arg(long, value_name = "HOST")]
    pub(crate) hostname: String,

    /// Database port (the token is only valid for it)
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) port: u16,

    /// Database user the token is for
    #[arg(long, value_name = "USER")]
    pub(crate) username: String,

    #[command(flatten)]
    pub(crate) aws: AwsOpts,

    /// Sign as of this time (RFC 3339, e.g. 2024-08-26T22:00:00Z) instead of now, to reproduce a token
    #[arg(long, value_name = "TIME", value_parser = crate::time::parse_rfc3339)]
    pub(crate) signing_time: Option<SystemTime>,
}

// `rds-iam dsql-token` (`generate-db-connect-auth-token`).
#[derive(Debug, ClapArgs)]
pub(crate) struct DsqlTokenArgs {
    #[command(flatten)]
    pub(crate) target: DsqlTarget,

    /// Token for the admin role (Action=DbConnectAdmin) instead of other roles (DbConnect)
    #[arg(long)]
    pub(crate) admin: bool,
}

// The cluster, expiry, credentials and signing time of a DSQL token.
#[derive(Debug, ClapArgs)]
pub(crate) struct DsqlTarget {
    /// The DSQL cluster endpoint, e.g. abc123.dsql.us-east-1.on.aws
    #[arg(long, value_name = "HOST")]
    pub(crate) hostname: String,

    /// Token lifetime in seconds, 1 to 604800 (one week)
    #[arg(long, value_name = "SECONDS", default_value_t = 900)]
    pub(crate) expires_in: u64,

    #[command(flatten)]
    pub(crate) aws: AwsOpts,

    /// Sign as of this time (RFC 3339, e.g. 2024-08-26T22:00:00Z) instead of now, to reproduce a token
    #[arg(long, value_name = "TIME", value_parser = crate::time::parse_rfc3339)]
    pub(crate) signing_time: Option<SystemTime>,
}

// `rds-iam psql` and `rds-iam mysql`.
#[derive(Debug, ClapArgs)]
pub(crate) struct ClientArgs {
    /// Connection URL (postgres://USER@HOST:PORT/DB or mysql://USER@HOST:PORT/DB); flags override its parts
    #[arg(value_name = "URL")]
    pub(crate) url: Option<String>,

    /// The RDS or Aurora DSQL endpoint to connect to and sign the token for
    #[arg(long, visible_alias = "host", value_name = "HOST")]
    pub(crate) hostname: Option<String>,

    /// Database port [default: 5432 for psql, 3306 for mysql]
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) port: Option<u16>,

    /// Database user (an IAM-enabled user)
    #[arg(long, visible_alias = "user", value_name = "USER")]
    pub(crate) username: Option<String>,

    /// Database to open
    #[arg(long, visible_alias = "database", value_name = "DB")]
    pub(crate) dbname: Option<String>,

    /// CA certificates (PEM) to verify the server with, instead of the embedded bundle (RDS roots, Amazon Root CA 1-4)
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_file: Option<PathBuf>,

    /// The client program to run [default: psql; mysql, else mariadb]
    #[arg(long, value_name = "PROGRAM")]
    pub(crate) client: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) aws: AwsOpts,

    /// Arguments for the client, after `--`
    #[arg(last = true, value_name = "CLIENT ARGS")]
    pub(crate) client_args: Vec<OsString>,
}

// `rds-iam ca-bundle`.
#[derive(Debug, ClapArgs)]
pub(crate) struct CaBundleArgs {
    /// Write to this file instead of stdout
    #[arg(long, short, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Args::command().debug_assert();
    }

    /// Each subcommand's `--help` starts with the description the top-level help lists
    /// for it, once its deferred arguments are built.
    #[test]
    fn each_subcommand_keeps_its_description() {
        let mut command = Args::command();
        let listed: Vec<String> = command
            .get_subcommands()
            .map(|sub| sub.get_about().map(ToString::to_string).unwrap_or_default())
            .collect();
        command.build();
        let built: Vec<String> = command
            .get_subcommands()
            .map(|sub| sub.get_about().map(ToString::to_string).unwrap_or_default())
            .collect();
        // `build` adds the `help` subcommand at the end.
        assert_eq!(built[..listed.len()], listed[..]);
        assert!(listed.iter().all(|about| !about.is_empty()));
    }

    #[test]
    fn client_args_follow_the_double_dash() {
        let args = Args::try_parse_from([
            "rds-iam",
            "psql",
            "postgres://u@h/db",
            "--region",
            "us-east-1",
            "--",
            "-c",
            "select 1",
        ])
        .unwrap();
        let Command::Psql(client) = args.command else {
            panic!("not psql")
        };
        assert_eq!(client.url.as_deref(), Some("postgres://u@h/db"));
        assert_eq!(client.aws.region.as_deref(), Some("us-east-1"));
        assert_eq!(client.client_args, ["-c", "select 1"]);
    }

    #[test]
    fn the_aws_cli_name_is_an_alias() {
        let args = Args::try_parse_from([
            "rds-iam",
            "generate-db-auth-token",
            "--hostname",
            "h",
            "--port",
            "5432",
            "--username",
            "u",
        ])
        .unwrap();
        assert!(matches!(args.command, Command::Token(_)));
    }

    #[test]
    fn port_zero_is_refused_by_the_parser() {
        let err = Args::try_parse_from([
            "rds-iam",
            "token",
            "--hostname",
            "h",
            "--port",
            "0",
            "--username",
            "u",
        ])
        .unwrap_err();
        assert!(err.to_string().contains("--port"), "{err}");
    }
}
