//! Property tests: the builder and signer never panic on arbitrary input, and every token
//! they sign passes an independent SigV4 check.
//!
//! The verifier below is written from the SigV4 specification with `hmac` and `sha2` only:
//! it does not call aws-sigv4 or this crate. It parses the token, rebuilds the canonical
//! request from the parsed query, derives the signing key and recomputes the signature,
//! the way the database's authentication does. It is itself checked against every botocore
//! vector, so a shared mistake between it and the signer would also have to be botocore's.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_smithy_async::time::StaticTimeSource;
use hmac::{KeyInit, Mac};
use proptest::prelude::*;
use rds_iam_token::AuthTokenSigner;
use sha2::{Digest, Sha256};

/// What the verifier expects a token to say, besides a valid signature.
#[derive(Debug, Clone)]
struct Expected<'a> {
    /// The host part of the token text (`HOST:PORT` for RDS, `HOST` for DSQL).
    host_header: &'a str,
    action: &'a str,
    user: Option<&'a str>,
    region: &'a str,
    service: &'a str,
    access_key_id: &'a str,
    session_token: Option<&'a str>,
    unix_time: u64,
    expires_in: u64,
}

/// The parts of a token the verifier read.
#[derive(Debug)]
struct Parsed {
    host: String,
    /// Decoded query parameters in URL order, the signature included.
    params: Vec<(String, String)>,
}

impl Parsed {
    fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Independent SigV4 presigned-URL verification; returns the parsed token.
fn verify(token: &str, secret: &str, expected: &Expected<'_>) -> Result<Parsed, String> {
    let (host, query) = token
        .split_once("/?")
        .ok_or_else(|| "no `/?` in the token".to_owned())?;
    if host != expected.host_header {
        return Err(format!("host {host:?} != {:?}", expected.host_header));
    }
    let mut params = Vec::new();
    for pair in query.split('&') {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("parameter without `=`: {pair:?}"))?;
        let decoded = (decode(key)?, decode(value)?);
        // The URL must already carry the canonical encoding of each key and value.
        if encode(&decoded.0) != key || encode(&decoded.1) != value {
            return Err(format!("not canonically encoded: {pair:?}"));
        }
        params.push(decoded);
    }
    let parsed = Parsed {
        host: host.to_owned(),
        params,
    };

    // The order the AWS SDKs write the parameters in.
    let mut order = vec!["Action"];
    if expected.user.is_some() {
        order.push("DBUser");
    }
    order.extend([
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
    ]);
    if expected.session_token.is_some() {
        order.push("X-Amz-Security-Token");
    }
    order.push("X-Amz-Signature");
    let keys: Vec<&str> = parsed.params.iter().map(|(k, _)| k.as_str()).collect();
    if keys != order {
        return Err(format!("parameters {keys:?}, expected {order:?}"));
    }

    let amz_date = amz_date(expected.unix_time);
    let expires = expected.expires_in.to_string();
    let want = |key: &str, value: &str| -> Result<(), String> {
        match parsed.get(key) {
            Some(found) if found == value => Ok(()),
            found => Err(format!("{key} = {found:?}, expected {value:?}")),
        }
    };
    want("Action", expected.action)?;
    if let Some(user) = expected.user {
        want("DBUser", user)?;
    }
    want("X-Amz-Algorithm", "AWS4-HMAC-SHA256")?;
    want("X-Amz-Date", &amz_date)?;
    want("X-Amz-Expires", &expires)?;
    want("X-Amz-SignedHeaders", "host")?;
    if let Some(session_token) = expected.session_token {
        want("X-Amz-Security-Token", session_token)?;
    }
    let credential = parsed.get("X-Amz-Credential").unwrap_or_default();
    // The access key ID may itself contain '/', so the scope is split from the right.
    let mut scope: Vec<&str> = credential.rsplitn(5, '/').collect();
    scope.reverse();
    let [access_key_id, date, region, service, terminator] = scope[..] else {
        return Err(format!("malformed credential {credential:?}"));
    };
    if access_key_id != expected.access_key_id
        || date != &amz_date[..8]
        || region != expected.region
        || service != expected.service
        || terminator != "aws4_request"
    {
        return Err(format!("unexpected credential {credential:?}"));
    }

    // Canonical request, from the parsed (decoded) parameters.
    let mut canonical_query: Vec<(String, String)> = parsed
        .params
        .iter()
        .filter(|(k, _)| k != "X-Amz-Signature")
        .map(|(k, v)| (encode(k), encode(v)))
        .collect();
    canonical_query.sort();
    let canonical_query = canonical_query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let empty_payload = hex_string(&Sha256::digest(b""));
    // The `host` header a server reads from the URL: host names are case-insensitive (the
    // SDKs sign them lowercased), and https's default port is not written.
    let lowercase_host = host.to_ascii_lowercase();
    let signed_host = lowercase_host
        .strip_suffix(":443")
        .unwrap_or(&lowercase_host);
    let canonical_request =
        format!("GET\n/\n{canonical_query}\nhost:{signed_host}\n\nhost\n{empty_payload}");
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex_string(&Sha256::digest(canonical_request.as_bytes()))
    );
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    let signature = hex_string(&hmac(&k_signing, string_to_sign.as_bytes()));
    want("X-Amz-Signature", &signature)?;
    Ok(parsed)
}

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// RFC 3986: unreserved characters stay, every other byte becomes `%XX` (uppercase).
fn encode(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Strict percent-decoding: `%XX` sequences, and no byte that should have been encoded.
fn decode(value: &str) -> Result<String, String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value
                .get(i + 1..i + 3)
                .ok_or_else(|| format!("truncated escape in {value:?}"))?;
            out.push(u8::from_str_radix(hex, 16).map_err(|e| format!("{hex:?}: {e}"))?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|e| format!("not UTF-8 after decoding: {e}"))
}

/// `YYYYMMDD'T'HHMMSS'Z'`, counted day by day from 1970 (deliberately naive).
fn amz_date(unix_time: u64) -> String {
    let is_leap = |y: u64| (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let mut days = unix_time / 86_400;
    let mut year = 1970;
    loop {
        let in_year = if is_leap(year) { 366 } else { 365 };
        if days < in_year {
            break;
        }
        days -= in_year;
        year += 1;
    }
    let month_lengths = [
        31,
        if is_leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let mut month = 1;
    for length in month_lengths {
        if days < length {
            break;
        }
        days -= length;
        month += 1;
    }
    let second = unix_time % 86_400;
    format!(
        "{year:04}{month:02}{:02}T{:02}{:02}{:02}Z",
        days + 1,
        second / 3600,
        second % 3600 / 60,
        second % 60
    )
}

/// Polls a future that must be ready at once (static credentials, fixed time).
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a static credentials provider never waits"),
    }
}

fn at(unix_time: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix_time)
}

/// The last second `X-Amz-Date` can express: 9999-12-31T23:59:59Z.
const LAST_SECOND: u64 = 253_402_300_799;

#[test]
fn the_verifier_accepts_every_botocore_vector_and_nothing_else() {
    let document: serde_json::Value =
        serde_json::from_str(include_str!("vectors/botocore.json")).unwrap();
    let cases = document["cases"].as_array().unwrap();
    assert!(cases.len() >= 30);
    for case in cases {
        let s = |field: &str| case[field].as_str();
        let host_header = match case["port"].as_u64() {
            Some(port) => format!("{}:{port}", s("host").unwrap()),
            None => s("host").unwrap().to_owned(),
        };
        let (action, service) = match s("kind").unwrap() {
            "rds" => ("connect", "rds-db"),
            "dsql" => ("DbConnect", "dsql"),
            _ => ("DbConnectAdmin", "dsql"),
        };
        let expected = Expected {
            host_header: &host_header,
            action,
            user: s("user"),
            region: s("region").unwrap(),
            service,
            access_key_id: s("access_key_id").unwrap(),
            session_token: s("session_token"),
            unix_time: case["unix_time"].as_u64().unwrap(),
            expires_in: case["expires_in"].as_u64().unwrap_or(900),
        };
        let token = s("token").unwrap();
        let secret = s("secret_access_key").unwrap();
        let name = s("name").unwrap();
        verify(token, secret, &expected).unwrap_or_else(|e| panic!("{name}: {e}"));

        // Negative controls: the verifier is not vacuous.
        assert!(verify(token, "wrong-secret", &expected).is_err(), "{name}");
        let tampered = token.replacen("X-Amz-Expires=", "X-Amz-Expires=1", 1);
        let tampered_expected = Expected {
            expires_in: format!("1{}", expected.expires_in).parse().unwrap(),
            ..expected.clone()
        };
        let err = verify(&tampered, secret, &tampered_expected).unwrap_err();
        assert!(err.contains("X-Amz-Signature"), "{name}: {err}");
        let later = Expected {
            unix_time: expected.unix_time + 1,
            ..expected.clone()
        };
        assert!(verify(token, secret, &later).is_err(), "{name}");
    }
}

#[test]
fn the_verifier_catches_a_changed_user() {
    let token = "prod-instance.us-east-1.rds.amazonaws.com:3306/?Action=connect&DBUser=peccy\
        &X-Amz-Algorithm=AWS4-HMAC-SHA256\
        &X-Amz-Credential=akid%2F20240826%2Fus-east-1%2Frds-db%2Faws4_request\
        &X-Amz-Date=20240826T220000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host\
        &X-Amz-Signature=dd0cba843009474347af724090233265628ace491ea17ce3eb3da098b983ad89";
    let expected = Expected {
        host_header: "prod-instance.us-east-1.rds.amazonaws.com:3306",
        action: "connect",
        user: Some("peccy"),
        region: "us-east-1",
        service: "rds-db",
        access_key_id: "akid",
        session_token: None,
        unix_time: 1_724_709_600,
        expires_in: 900,
    };
    verify(token, "secret", &expected).unwrap();
    let admin = token.replace("DBUser=peccy", "DBUser=admin");
    let err = verify(
        &admin,
        "secret",
        &Expected {
            user: Some("admin"),
            ..expected.clone()
        },
    )
    .unwrap_err();
    assert!(err.contains("X-Amz-Signature"), "{err}");
    let not_encoded = token.replace("DBUser=peccy", "DBUser=pe+cy");
    assert!(verify(&not_encoded, "secret", &expected).is_err());
}

#[test]
fn the_naive_date_agrees_with_known_dates() {
    assert_eq!(amz_date(0), "19700101T000000Z");
    assert_eq!(amz_date(1_724_709_600), "20240826T220000Z");
    assert_eq!(amz_date(951_868_799), "20000229T235959Z");
    assert_eq!(amz_date(LAST_SECOND), "99991231T235959Z");
}

/// `host` with the letters at the positions `upper` marks capitalised (host names are
/// case-insensitive; tokens must not depend on the spelling).
fn respell(host: &str, upper: &[bool]) -> String {
    host.chars()
        .zip(upper.iter().copied().chain(std::iter::repeat(false)))
        .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c })
        .collect()
}

/// DNS-looking names: labels of letters, digits and inner dashes.
fn custom_hostname() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-z0-9]([a-z0-9-]{0,12}[a-z0-9])?", 1..5).prop_map(|l| l.join("."))
}

fn region() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("us-east-1".to_owned()),
        Just("cn-northwest-1".to_owned()),
        Just("us-gov-west-1".to_owned()),
        Just("us-iso-east-1".to_owned()),
        "[a-z]{2,4}(-[a-z]{2,9}){1,2}-[0-9]{1,2}",
    ]
}

/// An RDS endpoint (region read from the name) or a custom name with an explicit region.
fn rds_host() -> impl Strategy<Value = (String, Option<String>, String)> {
    prop_oneof![
        (
            "[a-z][a-z0-9-]{0,20}",
            prop_oneof![
                Just(""),
                Just("cluster-"),
                Just("cluster-ro-"),
                Just("proxy-")
            ],
            "[a-z0-9]{12}",
            region(),
        )
            .prop_map(|(name, kind, id, region)| {
                let suffix = if region.starts_with("cn-") {
                    "amazonaws.com.cn"
                } else if region.starts_with("us-iso-") {
                    "c2s.ic.gov"
                } else {
                    "amazonaws.com"
                };
                (
                    format!("{name}.{kind}{id}.{region}.rds.{suffix}"),
                    None,
                    region,
                )
            }),
        (custom_hostname(), region()).prop_map(|(host, region)| (
            host,
            Some(region.clone()),
            region
        )),
    ]
}

fn dsql_host() -> impl Strategy<Value = (String, Option<String>, String)> {
    prop_oneof![
        ("[a-z0-9]{26}", region()).prop_map(|(id, region)| (
            format!("{id}.dsql.{region}.on.aws"),
            None,
            region
        )),
        (custom_hostname(), region()).prop_map(|(host, region)| (
            host,
            Some(region.clone()),
            region
        )),
    ]
}

/// Arbitrary credentials; the secret and key ID are any text, as the signer must not care.
fn credentials() -> impl Strategy<Value = Credentials> {
    (
        any::<String>(),
        any::<String>(),
        proptest::option::of(any::<String>()),
    )
        .prop_map(|(akid, secret, session_token)| {
            Credentials::new(akid, secret, session_token, None, "proptest")
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Nothing panics, whatever the strings, port, region, expiry, credentials or time.
    #[test]
    fn builder_and_sign_never_panic(
        kind in 0u8..3,
        host in prop_oneof![any::<String>(), custom_hostname(), rds_host().prop_map(|h| h.0)],
        port in any::<u16>(),
        user in any::<String>(),
        region in proptest::option::of(prop_oneof![any::<String>(), region()]),
        expiry in proptest::option::of((any::<u64>(), 0u32..1_000_000_000)),
        credentials in credentials(),
        secs in any::<u64>(),
        nanos in 0u32..1_000_000_000,
    ) {
        let mut builder = match kind {
            0 => AuthTokenSigner::rds(host, port, user),
            1 => AuthTokenSigner::dsql(host),
            _ => AuthTokenSigner::dsql_admin(host),
        };
        if let Some(region) = region {
            builder = builder.region(region);
        }
        if let Some((secs, nanos)) = expiry {
            builder = builder.expires_in(Duration::new(secs, nanos));
        }
        let static_secs = secs % (LAST_SECOND + 1);
        let builder = builder
            .credentials_provider(credentials.clone())
            .time_source(StaticTimeSource::from_secs(static_secs));
        let _ = format!("{builder:?}");
        if let Ok(signer) = builder.build() {
            let _ = format!("{signer:?}");
            let time = UNIX_EPOCH.checked_add(Duration::new(secs, nanos));
            if let Some(time) = time {
                let _ = signer.sign_with(&credentials, time);
            }
            let token = ready(signer.sign()).expect("times up to 9999 sign");
            prop_assert!(!token.is_expired_at(token.signed_at()));
        }
    }

    /// RDS tokens: DBUser round-trips through percent-decoding and the signature verifies.
    #[test]
    fn rds_tokens_verify_independently(
        (host, explicit_region, region) in rds_host(),
        upper in prop::collection::vec(any::<bool>(), 0..80),
        port in prop_oneof![9 => 1u16.., 1 => Just(443u16)],
        user in any::<String>().prop_filter("non-empty", |u| !u.is_empty()),
        credentials in credentials(),
        unix_time in 0..=LAST_SECOND,
    ) {
        // Any spelling of the host signs the same token, written lowercase.
        let spelled = respell(&host, &upper);
        let mut builder = AuthTokenSigner::rds(spelled, port, user.clone());
        if let Some(explicit) = explicit_region {
            builder = builder.region(explicit);
        }
        let signer = builder.credentials_provider(credentials.clone()).build().unwrap();
        prop_assert_eq!(signer.region(), region.as_str());
        let token = signer.sign_with(&credentials, at(unix_time)).unwrap();
        let host_header = format!("{host}:{port}");
        let expected = Expected {
            host_header: &host_header,
            action: "connect",
            user: Some(&user),
            region: &region,
            service: "rds-db",
            access_key_id: credentials.access_key_id(),
            session_token: credentials.session_token(),
            unix_time,
            expires_in: 900,
        };
        let parsed = verify(token.expose(), credentials.secret_access_key(), &expected)
            .map_err(TestCaseError::fail)?;
        prop_assert_eq!(parsed.get("DBUser"), Some(user.as_str()));
        prop_assert_eq!(&parsed.host, &host_header);
        // The Debug output shows none of it.
        let shown = format!("{token:?}");
        prop_assert!(!shown.contains(parsed.get("X-Amz-Signature").unwrap()));
    }

    /// DSQL tokens, both actions, any expiry from 1 s to a week.
    #[test]
    fn dsql_tokens_verify_independently(
        (host, explicit_region, region) in dsql_host(),
        upper in prop::collection::vec(any::<bool>(), 0..80),
        admin in any::<bool>(),
        expires_in in 1u64..=604_800,
        credentials in credentials(),
        unix_time in 0..=LAST_SECOND,
    ) {
        let spelled = respell(&host, &upper);
        let builder = if admin {
            AuthTokenSigner::dsql_admin(spelled)
        } else {
            AuthTokenSigner::dsql(spelled)
        };
        let builder = match explicit_region {
            Some(explicit) => builder.region(explicit),
            None => builder,
        };
        let signer = builder
            .expires_in(Duration::from_secs(expires_in))
            .credentials_provider(credentials.clone())
            .time_source(StaticTimeSource::from_secs(unix_time))
            .build()
            .unwrap();
        let token = ready(signer.sign()).unwrap();
        let expected = Expected {
            host_header: &host,
            action: if admin { "DbConnectAdmin" } else { "DbConnect" },
            user: None,
            region: &region,
            service: "dsql",
            access_key_id: credentials.access_key_id(),
            session_token: credentials.session_token(),
            unix_time,
            expires_in,
        };
        verify(token.expose(), credentials.secret_access_key(), &expected)
            .map_err(TestCaseError::fail)?;
        prop_assert_eq!(token.expires_at(), at(unix_time + expires_in));
    }
}
