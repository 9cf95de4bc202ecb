//! The client arguments after `--` that would send the token elsewhere or weaken TLS,
//! refused before any token exists.
//!
//! `rds-iam` decides where the client connects (the host the token is signed for) and how
//! (verified TLS against the chosen roots); the user's own arguments pick everything
//! else. An argument that names another host, port, user or database, or a connection
//! string (which can carry any setting, `sslmode=disable` included), is refused with the
//! `rds-iam` flag to use instead.

use std::ffi::OsString;

use anyhow::bail;

/// psql 15's options that take a value (`-c SQL`, `--command=SQL`); the others take none
/// (`--help[=topic]` takes an optional one, attached only).
const PSQL_VALUE_SHORT: &str = "cdfFhLopPRTUv";
const PSQL_VALUE_LONG: &[&str] = &[
    "command",
    "dbname",
    "file",
    "field-separator",
    "host",
    "log-file",
    "output",
    "port",
    "pset",
    "record-separator",
    "table-attr",
    "username",
    "set",
    "variable",
];
const PSQL_FLAG_LONG: &[&str] = &[
    "echo-all",
    "no-align",
    "echo-queries",
    "echo-errors",
    "echo-hidden",
    "field-separator-zero",
    "html",
    "list",
    "no-readline",
    "single-transaction",
    "quiet",
    "record-separator-zero",
    "single-step",
    "single-line",
    "tuples-only",
    "version",
    "no-password",
    "password",
    "expanded",
    "no-psqlrc",
    "help",
    "csv",
];

/// The psql options that choose the connection, short and long, with the `rds-iam` flag
/// to use instead.
const PSQL_REFUSED: &[(char, &str, &str)] = &[
    ('h', "host", "--hostname"),
    ('p', "port", "--port"),
    ('U', "username", "--username"),
    ('d', "dbname", "--dbname"),
];

/// Refuses psql arguments that choose the host, port, user or database, or name a
/// database or connection string as a positional argument.
///
/// Long options may be abbreviated, as psql's `getopt_long` allows (`--ho` is `--host`).
pub(crate) fn check_psql(args: &[OsString]) -> anyhow::Result<()> {
    let mut args = args.iter().map(|a| a.to_string_lossy());
    while let Some(arg) = args.next() {
        if arg == "--" {
            if args.next().is_some() {
                bail!(positional_psql());
            }
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (long, None),
            };
            let exact = PSQL_VALUE_LONG
                .iter()
                .chain(PSQL_FLAG_LONG)
                .find(|known| **known == name);
            let candidates: Vec<&str> = match exact {
                Some(known) => vec![known],
                None => PSQL_VALUE_LONG
                    .iter()
                    .chain(PSQL_FLAG_LONG)
                    .filter(|known| known.starts_with(name))
                    .copied()
                    .collect(),
            };
            if let Some((_, long, ours)) = PSQL_REFUSED
                .iter()
                .find(|(_, long, _)| candidates.contains(long))
            {
                bail!(refused_psql(&format!("--{long}"), ours));
            }
            // A value-taking option (unambiguous) without `=` takes the next argument.
            if value.is_none()
                && let [only] = candidates[..]
                && PSQL_VALUE_LONG.contains(&only)
            {
                args.next();
            }
        } else if let Some(cluster) = arg.strip_prefix('-')
            && !cluster.is_empty()
        {
            for (i, c) in cluster.char_indices() {
                if let Some((short, _, ours)) = PSQL_REFUSED.iter().find(|(s, ..)| *s == c) {
                    bail!(refused_psql(&format!("-{short}"), ours));
                }
                if PSQL_VALUE_SHORT.contains(c) {
                    // The rest of the cluster is the value, else the next argument.
                    if i + c.len_utf8() == cluster.len() {
                        args.next();
                    }
                    break;
                }
            }
        } else {
            bail!(positional_psql());
        }
    }
    Ok(())
}

fn refused_psql(option: &str, ours: &str) -> String {
    format!(
        "psql option {option} after `--` is refused: rds-iam chooses the connection the token \
         is signed for; give {ours} to rds-iam instead"
    )
}

fn positional_psql() -> String {
    "a psql database name or connection string after `--` is refused: it would replace the \
     connection rds-iam chooses, the one the token is signed for; give --dbname to rds-iam \
     instead"
        .to_owned()
}

const HOST: &str = "give --hostname to rds-iam instead";
const TLS: &str = "rds-iam insists on verified TLS; give --ca-file to rds-iam for other roots";
const LOGIN: &str = "rds-iam sets what the IAM login needs";

/// MySQL / MariaDB client options (without `--`, after `skip-`, `enable-`, `disable-`,
/// `loose-` or `maximum-`) that choose the server, the user, the database, TLS, the
/// option files or the authentication plugin, with what to do instead. A name is refused
/// when it is one of these, starts with one, or abbreviates one (the clients accept
/// unambiguous prefixes).
const MYSQL_REFUSED: &[(&str, &str)] = &[
    ("host", HOST),
    // Oracle MySQL 8.0.22+: a DNS SRV name, which wins over --host.
    ("dns-srv-name", HOST),
    ("port", "give --port to rds-iam instead"),
    ("socket", HOST),
    ("protocol", HOST),
    ("pipe", HOST),
    ("shared-memory-base-name", HOST),
    ("user", "give --username to rds-iam instead"),
    ("database", "give --dbname to rds-iam instead"),
    ("ssl", TLS),
    ("tls", TLS),
    (
        "defaults",
        "option files must come before rds-iam's options, which win over them",
    ),
    (
        "no-defaults",
        "option files must come before rds-iam's options, which win over them",
    ),
    (
        "print-defaults",
        "option files must come before rds-iam's options, which win over them",
    ),
    (
        "login-path",
        "option files must come before rds-iam's options, which win over them",
    ),
    ("default-auth", LOGIN),
    ("plugin-dir", LOGIN),
];

/// Short options: `-h` host, `-P` port, `-S` socket, `-W` pipe, `-u` user, `-D` database.
const MYSQL_REFUSED_SHORT: &[(char, &str)] = &[
    ('h', "host"),
    ('P', "port"),
    ('S', "socket"),
    ('W', "pipe"),
    ('u', "user"),
    ('D', "database"),
];

/// Short options whose value follows in the same argument or the next: `-e SQL`; `-p`
/// and `-#` take theirs attached only.
const MYSQL_VALUE_SHORT: &str = "ep#";

/// Refuses mysql / mariadb arguments that choose the server, user or database, touch
/// TLS, name option files or change the authentication plugin. Every argument is
/// checked, values included: a value that looks like a refused option is refused too
/// (safe, and unlikely SQL).
pub(crate) fn check_mysql(args: &[OsString]) -> anyhow::Result<()> {
    for arg in args.iter().map(|a| a.to_string_lossy()) {
        if arg == "--" {
            bail!(
                "`--` among the mysql arguments is refused: arguments after it would not be \
                 read as options"
            );
        }
        if let Some(long) = arg.strip_prefix("--") {
            let name = long.split_once('=').map_or(long, |(name, _)| name);
            if let Some(instead) = mysql_option_refused(name) {
                bail!(refused_mysql(
                    &format!("--{}", name.replace('_', "-")),
                    instead
                ));
            }
        } else if let Some(cluster) = arg.strip_prefix('-') {
            for c in cluster.chars() {
                if let Some((short, long)) = MYSQL_REFUSED_SHORT.iter().find(|(s, _)| *s == c) {
                    let instead = MYSQL_REFUSED
                        .iter()
                        .find(|(refused, _)| refused == long)
                        .map_or(HOST, |(_, instead)| instead);
                    bail!(refused_mysql(&format!("-{short} (--{long})"), instead));
                }
                if MYSQL_VALUE_SHORT.contains(c) {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Whether a MySQL option name (from a command line without `--`, or an option file key)
/// is one `rds-iam` must decide; if so, what to do instead. `_` counts as `-`, case does
/// not count (the clients take `--HOST` and `PORT=` as `--host` and `port=`), and
/// `loose-`, `skip-`, `enable-`, `disable-` and `maximum-` prefixes are looked through.
pub(crate) fn mysql_option_refused(name: &str) -> Option<&'static str> {
    let name = name.trim().to_ascii_lowercase().replace('_', "-");
    let mut bare = name.as_str();
    for prefix in ["loose-", "skip-", "enable-", "disable-", "maximum-"] {
        bare = bare.strip_prefix(prefix).unwrap_or(bare);
    }
    if bare.is_empty() {
        return None;
    }
    MYSQL_REFUSED
        .iter()
        .find(|(refused, _)| bare.starts_with(refused) || refused.starts_with(bare))
        .map(|(_, instead)| *instead)
}

fn refused_mysql(option: &str, instead: &str) -> String {
    format!(
        "mysql option {option} after `--` is refused: rds-iam chooses the connection the \
         token is signed for; {instead}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn psql_options_that_do_not_move_the_connection_pass() {
        for args in [
            &[][..],
            &["-XAtq", "-c", "select 1"],
            &["-c", "-h looks like an option but is SQL"],
            &["-cselect 1", "-v", "ON_ERROR_STOP=1", "--set=x=1"],
            &["--command", "select 1", "--csv", "--no-psqlrc"],
            &["--comm", "-d", "-f", "/dev/null", "--echo-q"],
            &["-P", "pager=off", "--help=variables", "--"],
        ] {
            check_psql(&os(args)).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
    }

    #[test]
    fn psql_options_that_move_the_connection_are_refused() {
        for (args, needle) in [
            (&["-h", "evil"][..], "-h"),
            (&["-hevil"], "-h"),
            (&["-Xqh", "evil"], "-h"),
            (&["-p", "1"], "--port"),
            (&["-U", "other"], "--username"),
            (&["-d", "host=evil sslmode=disable"], "--dbname"),
            (&["--host=evil"], "--host"),
            (&["--ho", "evil"], "--host"),
            (&["--port", "1"], "--port"),
            (&["--db=service=evil"], "--dbname"),
            (&["--user", "other"], "--username"),
            (&["postgres://evil/db"], "connection string"),
            (&["-c", "select 1", "host=evil"], "connection string"),
            (&["--", "-c"], "connection string"),
        ] {
            let err = check_psql(&os(args)).unwrap_err().to_string();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }

    #[test]
    fn mysql_options_that_do_not_move_the_connection_pass() {
        for args in [
            &[][..],
            &["--batch", "--skip-column-names", "-e", "select 1"],
            &["-BNe", "select 1", "-p", "--delimiter=;", "rdsiam"],
            &["--execute=select 1", "--connect-timeout=3", "--pager=less"],
            &["-e-hmm"],
            &["--enable-cleartext-plugin"],
        ] {
            check_mysql(&os(args)).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
    }

    #[test]
    fn mysql_options_that_move_the_connection_or_weaken_tls_are_refused() {
        for (args, needle) in [
            (&["-h", "evil"][..], "-h"),
            (&["-hevil"], "-h"),
            (&["-BNh", "evil"], "-h"),
            (&["-P3307"], "--port"),
            (&["-uother"], "--username"),
            (&["-S", "/tmp/sock"], "--socket"),
            (&["-D", "other"], "--dbname"),
            (&["--host=evil"], "--host"),
            (&["--ho=evil"], "--ho"),
            (&["--user=other"], "--username"),
            (&["--skip-ssl"], "--skip-ssl"),
            (&["--ssl=0"], "--ssl"),
            (&["--disable-ssl-verify-server-cert"], "verified TLS"),
            (&["--ssl-mode=DISABLED"], "--ssl-mode"),
            (&["--ssl-capath=/tmp"], "--ssl-capath"),
            (&["--loose-ssl_ca=/tmp/x"], "--loose-ssl-ca"),
            (&["--tls-version=TLSv1"], "--tls"),
            // The clients read option names in any case.
            (&["--HOST=evil"], "--HOST"),
            (&["--dns-srv-name=_mysql._tcp.evil"], "--hostname"),
            (&["--Port=1"], "--port"),
            (&["--SSL-CA=/tmp/x"], "verified TLS"),
            (&["--SKIP-SSL"], "verified TLS"),
            (&["--protocol=socket"], "--protocol"),
            (&["--defaults-extra-file=/tmp/x"], "--defaults"),
            (&["--default-auth=x"], "--default-auth"),
            (&["--plugin-dir=/tmp"], "--plugin-dir"),
            (&["--", "-e"], "`--`"),
        ] {
            let err = check_mysql(&os(args)).unwrap_err().to_string();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }
}
