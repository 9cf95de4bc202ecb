//! `postgres://` and `mysql://` connection URLs: host, port, user and database.

use std::borrow::Cow;

use anyhow::{Context as _, bail};
use percent_encoding::percent_decode_str;

/// Which URL schemes a client accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// `postgres://` or `postgresql://`.
    Postgres,
    /// `mysql://` or `mariadb://`.
    MySql,
}

impl Scheme {
    fn accepts(self, scheme: &str) -> bool {
        match self {
            Self::Postgres => matches!(scheme, "postgres" | "postgresql"),
            Self::MySql => matches!(scheme, "mysql" | "mariadb"),
        }
    }

    /// The port when the URL gives none.
    pub(crate) fn default_port(self) -> u16 {
        match self {
            Self::Postgres => 5432,
            Self::MySql => 3306,
        }
    }

    fn example(self) -> &'static str {
        match self {
            Self::Postgres => "postgres://USER@HOST:5432/DB",
            Self::MySql => "mysql://USER@HOST:3306/DB",
        }
    }
}

/// The scheme of a URL for `rds-iam url` and `exec`, which take both kinds.
pub(crate) fn scheme_of(url: &str) -> anyhow::Result<Scheme> {
    let given = url
        .split_once("://")
        .map(|(scheme, _)| scheme.to_ascii_lowercase());
    match given.as_deref() {
        Some(scheme) if Scheme::Postgres.accepts(scheme) => Ok(Scheme::Postgres),
        Some(scheme) if Scheme::MySql.accepts(scheme) => Ok(Scheme::MySql),
        // Not quoted: the URL may hold a password.
        _ => {
            bail!("invalid URL: expected postgres://USER@HOST:5432/DB or mysql://USER@HOST:3306/DB")
        }
    }
}

/// The parts of a connection URL that `rds-iam` uses; each is optional.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ConnectionUrl {
    /// Host name.
    pub(crate) host: Option<String>,
    /// Port.
    pub(crate) port: Option<u16>,
    /// User name, percent-decoded.
    pub(crate) user: Option<String>,
    /// Database name, percent-decoded.
    pub(crate) database: Option<String>,
}

/// Parses `SCHEME://[USER@]HOST[:PORT][/DATABASE]`.
///
/// A password or query parameters are refused with a message saying what to do instead:
/// the token is the password, and client options go after `--`.
pub(crate) fn parse(url: &str, scheme: Scheme) -> anyhow::Result<ConnectionUrl> {
    // No error here quotes the URL: it may hold a password (it is refused, but a message
    // printed before that check would show it), or one in a query parameter.
    let example = scheme.example();
    let Some((given_scheme, rest)) = url.split_once("://") else {
        bail!("invalid URL: expected {example}");
    };
    // Everything up to the last `@` is user information, even with a `/`, `?` or `#` in
    // it (an unencoded password may hold any of them).
    if rest
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
    {
        bail!(
            "invalid URL: it has a password; remove it, rds-iam passes an IAM token as the password"
        );
    }
    let scheme_is_plain = given_scheme
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_is_plain {
        bail!("invalid URL: expected {example}");
    }
    if !scheme.accepts(&given_scheme.to_ascii_lowercase()) {
        bail!(
            "invalid URL: the scheme {given_scheme:?} is not for this client; expected {example}"
        );
    }
    if rest.contains('?') || rest.contains('#') {
        bail!(
            "invalid URL: query parameters are not supported; rds-iam sets the TLS ones, other \
             client options go after `--`"
        );
    }
    let (authority, path) = match rest.split_once('/') {
        Some((authority, path)) => (authority, Some(path)),
        None => (rest, None),
    };
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => (Some(userinfo), hostport),
        None => (None, authority),
    };
    let user = match userinfo {
        Some(userinfo) => Some(decode(userinfo, "user")?),
        None => None,
    };
    if hostport.starts_with('[') {
        bail!("invalid URL: IPv6 addresses cannot be signed for; use the RDS endpoint name");
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((host, port)) => {
            let port = port
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                // Not quoted: in `postgres://user:password` (no `@`) it is the password.
                .context("invalid URL: the port is not a number from 1 to 65535")?;
            (host, Some(port))
        }
        None => (hostport, None),
    };
    let database = match path {
        Some(path) if !path.is_empty() => Some(decode(path, "database")?),
        _ => None,
    };
    Ok(ConnectionUrl {
        host: (!host.is_empty()).then(|| host.to_owned()),
        port,
        user: user.filter(|u| !u.is_empty()),
        database,
    })
}

fn decode(text: &str, what: &str) -> anyhow::Result<String> {
    percent_decode_str(text)
        .decode_utf8()
        .map(Cow::into_owned)
        .with_context(|| format!("invalid URL: the {what} is not UTF-8 after percent-decoding"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_postgres_url() {
        let url = parse(
            "postgres://app%2Ba%40b@mydb.abc.us-east-1.rds.amazonaws.com:6432/my%20db",
            Scheme::Postgres,
        )
        .unwrap();
        assert_eq!(
            url,
            ConnectionUrl {
                host: Some("mydb.abc.us-east-1.rds.amazonaws.com".into()),
                port: Some(6432),
                user: Some("app+a@b".into()),
                database: Some("my db".into()),
            }
        );
    }

    #[test]
    fn parts_are_optional() {
        assert_eq!(
            parse("postgresql://h", Scheme::Postgres).unwrap(),
            ConnectionUrl {
                host: Some("h".into()),
                ..ConnectionUrl::default()
            }
        );
        assert_eq!(
            parse("mariadb://u@h/", Scheme::MySql).unwrap(),
            ConnectionUrl {
                host: Some("h".into()),
                user: Some("u".into()),
                ..ConnectionUrl::default()
            }
        );
        assert_eq!(
            parse("mysql:///db", Scheme::MySql).unwrap(),
            ConnectionUrl {
                database: Some("db".into()),
                ..ConnectionUrl::default()
            }
        );
    }

    #[test]
    fn schemes_for_url_and_exec() {
        assert_eq!(scheme_of("PostgreSQL://h").unwrap(), Scheme::Postgres);
        assert_eq!(scheme_of("mariadb://h").unwrap(), Scheme::MySql);
        for url in ["redis://u:pw@h", "u:pw@h", "u:pw://h"] {
            let err = scheme_of(url).unwrap_err().to_string();
            assert!(err.contains("expected") && !err.contains("pw"), "{err}");
        }
    }

    #[test]
    fn refuses_with_a_reason() {
        for (url, scheme, needle) in [
            ("mysql://u@h/db", Scheme::Postgres, "scheme"),
            ("postgres://u@h/db", Scheme::MySql, "scheme"),
            ("u@h/db", Scheme::Postgres, "expected"),
            ("postgres://u:pw@h/db", Scheme::Postgres, "password"),
            // Unencoded `/`, `?`, `#` or `@` in a password.
            ("postgres://u:p/w@h/db", Scheme::Postgres, "password"),
            ("postgres://u:p?w@h/db", Scheme::Postgres, "password"),
            ("postgres://u:p#w@h/db", Scheme::Postgres, "password"),
            ("postgres://u:p@w@h/db", Scheme::Postgres, "password"),
            // The scheme and query checks used to quote the whole URL.
            ("mysql://u:pw@h/db", Scheme::Postgres, "password"),
            ("u:pw://x@h/db", Scheme::Postgres, "expected"),
            ("u:pw@h/db", Scheme::Postgres, "expected"),
            (
                "postgres://u@h/db?password=pw",
                Scheme::Postgres,
                "after `--`",
            ),
            (
                "postgres://u@h/db?sslmode=disable",
                Scheme::Postgres,
                "after `--`",
            ),
            ("postgres://u@h:0/db", Scheme::Postgres, "port"),
            ("postgres://u@h:x/db", Scheme::Postgres, "port"),
            ("postgres://u@[::1]:5432/db", Scheme::Postgres, "IPv6"),
            ("postgres://u@[::1]/db", Scheme::Postgres, "IPv6"),
            ("postgres://%ff@h/db", Scheme::Postgres, "UTF-8"),
            // No `@`: the password reads as a port.
            ("postgres://u:pw", Scheme::Postgres, "port"),
            ("mysql://u:pw/db", Scheme::MySql, "port"),
        ] {
            let err = parse(url, scheme).unwrap_err().to_string();
            assert!(err.contains(needle), "{url}: {err}");
            assert!(!err.contains("pw"), "{url}: the password leaked: {err}");
        }
    }
}
