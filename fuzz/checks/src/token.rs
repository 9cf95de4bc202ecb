//! The token crate: endpoint, port, user, region and expiry as users type them.
//!
//! Input: UTF-8 text (lossily decoded), fields on lines:
//! `KIND\nHOST\nPORT\nREGION\nEXPIRES\nUSER`, where KIND is `rds`, `dsql` or
//! `dsql-admin` (with `+session` for temporary credentials), an empty REGION means none,
//! EXPIRES is whole seconds (empty: not set), and USER is the rest (newlines included).
//! Missing fields are empty; a PORT that is not a number is 5432.

use std::time::{Duration, UNIX_EPOCH};

use aws_smithy_async::time::StaticTimeSource;
use rds_iam_token::{AuthTokenSigner, ErrorKind};

use crate::secrets::{
    ACCESS_KEY_ID, SESSION_TOKEN, assert_clean_message, assert_no_secret, credentials,
    mentions_secret, sigv4_encode,
};

/// AWS's reference time, 2024-08-26T22:00:00Z.
const SIGNING_TIME: u64 = 1_724_709_600;

/// DNS suffixes of the AWS partitions, as the token crate's docs list them.
const PARTITION_SUFFIXES: &[&str] = &[
    ".amazonaws.com.cn",
    ".amazonaws.com",
    ".amazonaws.eu",
    ".csp.hci.ic.gov",
    ".sc2s.sgov.gov",
    ".cloud.adc-e.uk",
    ".c2s.ic.gov",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Rds,
    Dsql { admin: bool },
}

/// Builds a signer from fuzzed fields and checks it against the documented rules (an
/// oracle written from the docs, not from the code): which inputs build and with which
/// error kind, that the region agrees with the endpoint name, that letter case in the
/// host changes nothing, and that the token is exactly the SigV4 presigned URL with no
/// secret in it, nor in any Debug output or error.
pub fn token_endpoint(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut fields = text.splitn(6, '\n');
    let mut next = || fields.next().unwrap_or_default();
    let (kind_text, host, port_text, region, expires_text, user) =
        (next(), next(), next(), next(), next(), next());
    let kind = if kind_text.starts_with("dsql-admin") {
        Kind::Dsql { admin: true }
    } else if kind_text.starts_with("dsql") {
        Kind::Dsql { admin: false }
    } else {
        Kind::Rds
    };
    let temporary = kind_text.contains("+session");
    let port = port_text.parse::<u16>().unwrap_or(5432);
    let region = (!region.is_empty()).then_some(region);
    let expires = expires_text.parse::<u64>().ok().map(Duration::from_secs);
    let secret_in_input = mentions_secret(&text);

    let build = |host: &str| {
        let mut builder = match kind {
            Kind::Rds => AuthTokenSigner::rds(host, port, user),
            Kind::Dsql { admin: false } => AuthTokenSigner::dsql(host),
            Kind::Dsql { admin: true } => AuthTokenSigner::dsql_admin(host),
        };
        if let Some(region) = region {
            builder = builder.region(region.to_owned());
        }
        if let Some(expires) = expires {
            builder = builder.expires_in(expires);
        }
        let builder = builder
            .credentials_provider(credentials(temporary))
            .time_source(StaticTimeSource::from_secs(SIGNING_TIME));
        if !secret_in_input {
            assert_no_secret(&format!("{builder:?}"), "SignerBuilder's Debug");
        }
        builder.build()
    };

    let expected = expected_outcome(kind, host, port, user, region, expires);
    let built = build(host);
    // Host names are case-insensitive: another spelling builds the same signer.
    let other_case = build(&swap_case(host));
    match (&built, &other_case) {
        (Ok(a), Ok(b)) => assert_eq!(
            (a.hostname(), a.region()),
            (b.hostname(), b.region()),
            "letter case in {host:?} changed the signer"
        ),
        (Err(a), Err(b)) => assert_eq!(a.kind(), b.kind(), "letter case in {host:?}"),
        _ => panic!("letter case in {host:?} changed whether the signer builds"),
    }

    let signer = match (built, expected) {
        (Err(err), Err(kind)) => {
            assert_eq!(err.kind(), &kind, "{text:?}: {err}");
            let message = err.to_string();
            assert_clean_message(&message, "token crate error");
            assert!(
                message.contains(field_named_by(kind)),
                "{kind:?} must name its field: {message}"
            );
            if !secret_in_input {
                assert_no_secret(&message, "a token crate error");
                assert_no_secret(&format!("{err:?}"), "a token crate error's Debug");
            }
            return;
        }
        (Ok(signer), Ok(region)) => {
            assert_eq!(signer.region(), region, "{text:?}: region");
            signer
        }
        (Ok(signer), Err(kind)) => {
            panic!("{text:?} built ({signer:?}), but the rules say {kind:?}")
        }
        (Err(err), Ok(region)) => {
            panic!(
                "{text:?} was refused ({:?}: {err}), but the rules allow it, region {region}",
                err.kind()
            )
        }
    };

    let host = host.to_ascii_lowercase();
    assert_eq!(signer.hostname(), host);
    let credentials = credentials(temporary);
    let token = signer
        .sign_with(&credentials, UNIX_EPOCH + Duration::from_secs(SIGNING_TIME))
        .expect("signing at 2024-08-26 cannot fail");
    let value = token.expose();
    let (host_header, leading, service, expires_in) = match kind {
        Kind::Rds => (
            format!("{host}:{port}"),
            format!("Action=connect&DBUser={}", sigv4_encode(user)),
            "rds-db",
            900,
        ),
        Kind::Dsql { admin } => (
            host.clone(),
            format!(
                "Action={}",
                if admin { "DbConnectAdmin" } else { "DbConnect" }
            ),
            "dsql",
            expires.map_or(900, |e| e.as_secs()),
        ),
    };
    let mut expected = format!(
        "{host_header}/?{leading}&X-Amz-Algorithm=AWS4-HMAC-SHA256\
         &X-Amz-Credential={ACCESS_KEY_ID}%2F20240826%2F{region}%2F{service}%2Faws4_request\
         &X-Amz-Date=20240826T220000Z&X-Amz-Expires={expires_in}&X-Amz-SignedHeaders=host",
        region = signer.region(),
    );
    if temporary {
        expected.push_str("&X-Amz-Security-Token=");
        expected.push_str(&sigv4_encode(SESSION_TOKEN));
    }
    expected.push_str("&X-Amz-Signature=");
    let signature = value
        .strip_prefix(expected.as_str())
        .unwrap_or_else(|| panic!("token\n{value}\ndoes not start with\n{expected}"));
    assert!(
        signature.len() == 64
            && signature
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "signature {signature:?}"
    );
    assert_eq!(
        token.expires_at(),
        token.signed_at() + Duration::from_secs(expires_in)
    );
    assert_eq!(token.is_from_temporary_credentials(), temporary);
    if !secret_in_input {
        assert_no_secret(
            value.replace(&sigv4_encode(SESSION_TOKEN), "").as_str(),
            "the token",
        );
        assert_no_secret(&format!("{signer:?}"), "AuthTokenSigner's Debug");
    }
    let debug = format!("{token:?}");
    assert!(
        !debug.contains(signature),
        "AuthToken's Debug shows the token: {debug}"
    );
}

/// `Ok(region)` or `Err(kind)` by the documented rules, checked in the builder's order:
/// host, then (RDS) port, user and expiry, or (DSQL) expiry, then region.
fn expected_outcome(
    kind: Kind,
    host: &str,
    port: u16,
    user: &str,
    region: Option<&str>,
    expires: Option<Duration>,
) -> Result<String, ErrorKind> {
    let host = host.to_ascii_lowercase();
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        && host.split('.').all(|label| !label.is_empty());
    if !host_ok {
        return Err(ErrorKind::InvalidHostname);
    }
    match kind {
        Kind::Rds => {
            if port == 0 {
                return Err(ErrorKind::InvalidPort);
            }
            if user.is_empty() {
                return Err(ErrorKind::InvalidUsername);
            }
            if expires.is_some_and(|e| e.as_secs() != 900) {
                return Err(ErrorKind::InvalidExpiry);
            }
        }
        Kind::Dsql { .. } => {
            if expires.is_some_and(|e| !(1..=604_800).contains(&e.as_secs())) {
                return Err(ErrorKind::InvalidExpiry);
            }
        }
    }
    match region {
        Some(region) if is_region_name(region) => Ok(region.to_owned()),
        Some(_) => Err(ErrorKind::InvalidRegion),
        None => endpoint_region(kind, &host)
            .map(str::to_owned)
            .ok_or(ErrorKind::RegionNotFound),
    }
}

/// The region in an endpoint name: `NAME[.ID].REGION.rds[-fips].SUFFIX`,
/// `NAME[.ID].rds-fips.REGION.SUFFIX` or `ID.dsql[-fips].REGION.on.aws`.
fn endpoint_region(kind: Kind, host: &str) -> Option<&str> {
    match kind {
        Kind::Rds => rds_region(host),
        Kind::Dsql { .. } => dsql_region(host),
    }
}

fn rds_region(host: &str) -> Option<&str> {
    let suffix = PARTITION_SUFFIXES.iter().find(|s| host.ends_with(*s))?;
    let labels: Vec<&str> = host[..host.len() - suffix.len()].split('.').collect();
    if labels.len() < 3 {
        return None;
    }
    let (last, second_last) = (labels[labels.len() - 1], labels[labels.len() - 2]);
    let candidate = match (second_last, last) {
        (region, "rds" | "rds-fips") | ("rds-fips", region) => region,
        _ => return None,
    };
    is_region_name(candidate).then_some(candidate)
}

/// Exactly one cluster-id label (letters, digits, dashes), as `DsqlEndpoint` documents:
/// no extra labels before it.
fn dsql_region(host: &str) -> Option<&str> {
    let labels: Vec<&str> = host.strip_suffix(".on.aws")?.split('.').collect();
    match labels.as_slice() {
        [id, "dsql" | "dsql-fips", region]
            if (1..=63).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && is_region_name(region) =>
        {
            Some(region)
        }
        _ => None,
    }
}

/// `us-east-1`, `us-gov-west-1`: 2+ lowercase letters, 1+ lowercase words, a number.
fn is_region_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    let lower = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    parts.len() >= 3
        && parts[0].len() >= 2
        && lower(&parts[0])
        && parts[1..parts.len() - 1].iter().all(lower)
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

fn field_named_by(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidHostname => "hostname",
        ErrorKind::InvalidPort => "port",
        ErrorKind::InvalidUsername => "username",
        ErrorKind::InvalidRegion | ErrorKind::RegionNotFound => "region",
        ErrorKind::InvalidExpiry => "expires_in",
        _ => "",
    }
}

fn swap_case(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}
