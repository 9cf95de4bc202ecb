//! The CLI's parsers: connection URLs and `--signing-time`.

use std::time::{Duration, UNIX_EPOCH};

use aws_smithy_types::date_time::{DateTime, Format};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use rds_iam_token::{AuthTokenSigner, ErrorKind};

use crate::cli_time::parse_rfc3339;
use crate::cli_url_parser::{ConnectionUrl, Scheme, parse, scheme_of};
use crate::secrets::{PASSWORD_MARKER, assert_no_secret, credentials, mentions_secret};

/// Parses the input (UTF-8; other bytes are skipped, as the shell hands the CLI UTF-8
/// only) as a `postgres://` and as a `mysql://` URL, and checks that: nothing panics; an
/// error never shows a password, wherever the parse stops (the input is tried again with
/// a marker password put where a user would type one); a URL with a password is always
/// refused; a parsed URL's parts are sane and survive a round trip through the URL
/// syntax.
pub fn cli_url(data: &[u8]) {
    let Ok(url) = std::str::from_utf8(data) else {
        return;
    };
    // `rds-iam url` / `exec` pick the parser by the scheme: it agrees with what each
    // parser accepts, and its error shows nothing of the URL.
    match scheme_of(url) {
        Ok(scheme) => {
            assert!(
                matches!(scheme.default_port(), 5432 | 3306),
                "{url:?}: default port"
            );
            let other = match scheme {
                Scheme::Postgres => Scheme::MySql,
                Scheme::MySql => Scheme::Postgres,
            };
            if let Err(err) = parse(url, other) {
                assert_no_secret(&format!("{err:#}"), "a URL error");
            } else {
                panic!("{url:?}: scheme_of says {scheme:?}, but the other parser took it");
            }
        }
        Err(err) => {
            assert_no_secret(&format!("{err:#}"), "a URL error");
            for scheme in [Scheme::Postgres, Scheme::MySql] {
                assert!(
                    parse(url, scheme).is_err(),
                    "{url:?}: scheme_of refused it, but the {scheme:?} parser took it"
                );
            }
        }
    }
    for scheme in [Scheme::Postgres, Scheme::MySql] {
        check_url(url, scheme);
        if mentions_secret(url) {
            continue;
        }
        // A marker at both ends of the password: a parse that stops inside it (a `/` or
        // `?` in a password) must not show either end.
        if let Some(at) = url.rfind('@') {
            let user_start = url[..at].find("://").map_or(0, |i| i + 3);
            let with_password = match url[user_start..at].find(':') {
                Some(colon) => {
                    let pw_start = user_start + colon + 1;
                    format!(
                        "{}{PASSWORD_MARKER}{}{PASSWORD_MARKER}{}",
                        &url[..pw_start],
                        &url[pw_start..at],
                        &url[at..]
                    )
                }
                None => format!("{}:{PASSWORD_MARKER}{}", &url[..at], &url[at..]),
            };
            if let Err(err) = parse(&with_password, scheme) {
                assert_no_secret(&format!("{err:#}"), "a URL error");
            }
        } else if let Some(i) = url.find("://") {
            let with_password = format!("{}u:{PASSWORD_MARKER}@{}", &url[..i + 3], &url[i + 3..]);
            match parse(&with_password, scheme) {
                Ok(parsed) => panic!("{with_password:?} has a password but parsed: {parsed:?}"),
                Err(err) => assert_no_secret(&format!("{err:#}"), "a URL error"),
            }
        }
    }
}

fn check_url(url: &str, scheme: Scheme) {
    let parsed = match parse(url, scheme) {
        Ok(parsed) => parsed,
        Err(err) => {
            assert!(!format!("{err:#}").is_empty());
            return;
        }
    };
    let ConnectionUrl {
        host,
        port,
        user,
        database,
    } = &parsed;
    assert_ne!(*port, Some(0), "{url:?}: port 0 accepted");
    assert_ne!(user.as_deref(), Some(""), "{url:?}: empty user kept");
    assert_ne!(
        database.as_deref(),
        Some(""),
        "{url:?}: empty database kept"
    );
    if let Some(host) = host {
        assert!(!host.is_empty(), "{url:?}: empty host kept");
        assert!(
            !host.contains(['@', '/', '?', '#']) && !host.starts_with('['),
            "{url:?}: host {host:?}"
        );
        if host.contains(':') {
            // `postgres://a:b:5432`: the host `a:b` goes on to the signer, which refuses
            // it by name; no round trip for it.
            return;
        }
    }
    // Written back with every part encoded, the URL parses to the same parts.
    let encode = |text: &str| utf8_percent_encode(text, NON_ALPHANUMERIC).to_string();
    let name = match scheme {
        Scheme::Postgres => "postgres",
        Scheme::MySql => "mysql",
    };
    let mut again = format!("{name}://");
    if let Some(user) = user {
        again.push_str(&encode(user));
        again.push('@');
    }
    again.push_str(host.as_deref().unwrap_or_default());
    if let Some(port) = port {
        again.push_str(&format!(":{port}"));
    }
    if let Some(database) = database {
        again.push('/');
        again.push_str(&encode(database));
    }
    match parse(&again, scheme) {
        Ok(reparsed) => assert_eq!(reparsed, parsed, "{url:?} -> {again:?}"),
        Err(err) => panic!("{url:?} parsed, but its round trip {again:?} did not: {err:#}"),
    }
}

/// Parses the input as `--signing-time` and checks that: nothing panics; an accepted time
/// is at or after 1970, agrees with the AWS SDK's own RFC 3339 parser (aws-smithy-types)
/// whenever that parser accepts the text too, and comes back unchanged from its canonical
/// form; and a token signed at it carries that time as `X-Amz-Date` (or, past 9999, is
/// refused as an invalid signing time).
pub fn signing_time(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(time) = parse_rfc3339(text) else {
        return;
    };
    let since = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_else(|_| panic!("{text:?} parsed to a time before 1970"));
    if let Ok(oracle) = DateTime::from_str(text, Format::DateTime) {
        assert_eq!(
            (oracle.secs(), oracle.subsec_nanos()),
            (
                i64::try_from(since.as_secs()).unwrap(),
                since.subsec_nanos()
            ),
            "{text:?}: aws-smithy-types reads another time"
        );
    }
    let canonical = rfc3339(since);
    // Past 9999 (9999-12-31T23:30:00-01:00) there is no four-digit form to go back to.
    if !canonical.starts_with('+') {
        assert_eq!(
            parse_rfc3339(&canonical),
            Ok(time),
            "{text:?}: its canonical form {canonical:?} reads differently"
        );
    }

    let credentials = credentials(false);
    let signer = AuthTokenSigner::rds("mydb.abc123.us-east-1.rds.amazonaws.com", 5432, "app")
        .credentials_provider(credentials.clone())
        .build()
        .expect("a valid signer");
    match signer.sign_with(&credentials, time) {
        Ok(token) => {
            let amz_date: String = canonical[..19]
                .chars()
                .filter(char::is_ascii_digit)
                .collect();
            let amz_date = format!("{}T{}Z", &amz_date[..8], &amz_date[8..]);
            assert!(
                token.expose().contains(&format!("&X-Amz-Date={amz_date}&")),
                "{text:?}: the token does not carry X-Amz-Date={amz_date}"
            );
            assert!(
                token
                    .expose()
                    .contains(&format!("%2F{}%2Fus-east-1", &amz_date[..8])),
                "{text:?}: the credential scope does not carry the date"
            );
            assert_eq!(
                token.signed_at(),
                UNIX_EPOCH + Duration::from_secs(since.as_secs())
            );
        }
        Err(err) => {
            assert_eq!(
                err.kind(),
                &ErrorKind::InvalidSigningTime,
                "{text:?}: {err}"
            );
            assert!(
                canonical.as_bytes()[0] == b'+',
                "{text:?} ({canonical}) is before 10000 yet was refused: {err}"
            );
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.NNNNNNNNN]Z` (or `+YYYYY-...` past 9999), from the civil
/// calendar (Howard Hinnant's `civil_from_days`, written here again).
fn rfc3339(since: Duration) -> String {
    let secs = since.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap() + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let second_of_day = secs % 86_400;
    let year = if year > 9999 {
        format!("+{year}")
    } else {
        format!("{year:04}")
    };
    let mut out = format!(
        "{year}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    );
    if since.subsec_nanos() != 0 {
        out.push_str(&format!(".{:09}", since.subsec_nanos()));
    }
    out.push('Z');
    out
}
