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

    fn example(self) -> &'static str {
        match self {
            Self::Postgres => "postgres://USER@HOST:5432/DB",
            Self::MySql => "mysql://USER@HOST:3306/DB",
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
    let example = scheme.example();
    // Errors show the URL without its password, wherever the parse stopped.
    let shown = redacted(url);
    let Some((given_scheme, rest)) = url.split_once("://") else {
        bail!("invalid URL {shown:?}: expected {example}");
    };
    if !scheme.accepts(&given_scheme.to_ascii_lowercase()) {
        bail!("invalid URL {shown:?}: the scheme is not for this client; expected {example}");
    }
    if rest.contains('?') || rest.contains('#') {
        bail!(
            "invalid URL {shown:?}: query parameters are not supported; pass client options after `--`"
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
        Some(userinfo) => {
            if userinfo.contains(':') {
                bail!(
                    "invalid URL: it has a password; remove it, rds-iam passes an IAM token as the password"
                );
            }
            Some(decode(userinfo, "user")?)
        }
        None => None,
    };
    if hostport.starts_with('[') {
        bail!(
            "invalid URL {shown:?}: IPv6 addresses cannot be signed for; use the RDS endpoint name"
        );
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((host, port)) => {
            // The port text is not echoed: with a `/` in a password, it is part of it.
            let port = port
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .with_context(|| {
                    format!("invalid URL {shown:?}: the port is not a number from 1 to 65535")
                })?;
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

/// `url` with anything that may be a password replaced by `***`: from the first `:` of
/// the user part to the last `@` (a password may itself hold `@`, `/` or `?`).
fn redacted(url: &str) -> Cow<'_, str> {
    let Some(at) = url.rfind('@') else {
        return Cow::Borrowed(url);
    };
    let user_start = url[..at].find("://").map_or(0, |i| i + 3);
    match url[user_start..at].find(':') {
        Some(colon) => Cow::Owned(format!("{}:***{}", &url[..user_start + colon], &url[at..])),
        None => Cow::Borrowed(url),
    }
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
    fn refuses_with_a_reason() {
        for (url, scheme, needle) in [
            ("mysql://u@h/db", Scheme::Postgres, "scheme"),
            ("postgres://u@h/db", Scheme::MySql, "scheme"),
            ("u@h/db", Scheme::Postgres, "expected"),
            ("postgres://u:pw@h/db", Scheme::Postgres, "password"),
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
            // Found by fuzzing (fuzz/corpus/cli_url/regression-*): passwords that reached
            // an error message through the echoed URL or the port.
            ("u:pw@h/db", Scheme::Postgres, "expected"),
            ("mysql://u:pw@h/db", Scheme::Postgres, "scheme"),
            ("pg:pw@h://x", Scheme::Postgres, "scheme"),
            (
                "postgres://u:pw@h/db?sslmode=disable",
                Scheme::Postgres,
                "after `--`",
            ),
            ("postgres://u:pw/x@h/db", Scheme::Postgres, "port"),
            ("postgres://u:pw@[::1]/db", Scheme::Postgres, "password"),
        ] {
            let err = parse(url, scheme).unwrap_err().to_string();
            assert!(err.contains(needle), "{url}: {err}");
            assert!(!err.contains("pw"), "{url}: the password leaked: {err}");
        }
    }
}
