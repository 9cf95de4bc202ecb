//! Secrets stay out of Debug and Display: no token text, no secret access key and no
//! session token in anything this crate formats (tokens, signers, builders, errors).

use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{self, ProvideCredentials};
use aws_smithy_async::time::StaticTimeSource;
use rds_iam_token::{AuthToken, AuthTokenSigner, ErrorKind};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRETzz";
const SESSION_TOKEN: &str = "FwoGZXIvYXdzEBYaDzzSESSIONzzN+eO/FaKe==";

fn credentials() -> Credentials {
    Credentials::new(
        "ASIAEXAMPLEKEYID",
        SECRET,
        Some(SESSION_TOKEN.to_owned()),
        Some(UNIX_EPOCH + Duration::from_secs(1_900_000_000)),
        "redaction-test",
    )
}

/// Every formatting of `value`'s Debug (and Display, when given) leaks none of `secrets`.
#[track_caller]
fn assert_hides(shown: &[String], secrets: &[&str]) {
    for text in shown {
        for secret in secrets {
            assert!(!secret.is_empty());
            assert!(!text.contains(secret), "{text:?} shows {secret:?}");
        }
    }
}

/// Parts of a token that would let someone use or recognise it.
fn token_parts(token: &AuthToken) -> Vec<String> {
    let text = token.expose();
    let signature = text.rsplit_once("X-Amz-Signature=").unwrap().1.to_owned();
    vec![
        text.to_owned(),
        signature.clone(),
        signature[..16].to_owned(),
        "X-Amz-Signature".to_owned(),
        "X-Amz-Security-Token".to_owned(),
        "X-Amz-Credential".to_owned(),
    ]
}

#[tokio::test]
async fn tokens_signers_and_builders_show_no_secrets() {
    let builder = || {
        AuthTokenSigner::rds("mydb.c9akciq32abc.us-east-1.rds.amazonaws.com", 5432, "app")
            .credentials_provider(credentials())
            .time_source(StaticTimeSource::from_secs(1_724_709_600))
    };
    let signer = builder().build().unwrap();
    let token = signer.sign().await.unwrap();
    assert!(token.expose().contains("X-Amz-Security-Token="));
    let dsql = AuthTokenSigner::dsql_admin("abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws")
        .credentials_provider(credentials())
        .build()
        .unwrap();
    let dsql_token = dsql
        .sign_with(
            &credentials(),
            UNIX_EPOCH + Duration::from_secs(1_724_709_600),
        )
        .unwrap();

    let shown = vec![
        format!("{token:?}"),
        format!("{token:#?}"),
        format!("{dsql_token:?}"),
        format!("{signer:?}"),
        format!("{signer:#?}"),
        format!("{dsql:?}"),
        format!("{:?}", builder()),
        format!("{:#?}", builder()),
        format!("{:?}", Some(token.clone())),
        format!("{:?}", vec![signer.clone()]),
    ];
    let mut secrets: Vec<String> = vec![
        SECRET.to_owned(),
        SESSION_TOKEN.to_owned(),
        // Encoded as they appear in the token, and partial.
        "wJalrXUtnFEMI".to_owned(),
        "FwoGZXIvYXdz".to_owned(),
        "zzSECRETzz".to_owned(),
        "zzSESSIONzz".to_owned(),
    ];
    secrets.extend(token_parts(&token));
    secrets.extend(token_parts(&dsql_token));
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_hides(&shown, &secrets);

    // What Debug does show: that a token is there, and when it expires.
    assert!(shown[0].starts_with("AuthToken { token: _"), "{}", shown[0]);
    assert!(shown[0].contains("expires_at"), "{}", shown[0]);
    assert!(shown[3].contains("us-east-1"), "{}", shown[3]);
}

#[derive(Debug)]
struct LeakyNameProvider;

impl ProvideCredentials for LeakyNameProvider {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::ready(Err(
            provider::error::CredentialsError::not_loaded("no profile"),
        ))
    }
}

#[tokio::test]
async fn errors_show_no_secrets() {
    let mut errors = Vec::new();
    // Build errors, with a provider that holds secrets.
    for builder in [
        AuthTokenSigner::rds("", 5432, "app"),
        AuthTokenSigner::rds("postgres://db.example.com", 5432, "app"),
        AuthTokenSigner::rds("db.example.com", 0, "app"),
        AuthTokenSigner::rds("db.example.com", 5432, ""),
        AuthTokenSigner::rds("db.example.com", 5432, "app"),
        AuthTokenSigner::rds("db.example.com", 5432, "app").region("BAD"),
        AuthTokenSigner::dsql("x.dsql.us-east-1.on.aws").expires_in(Duration::ZERO),
        AuthTokenSigner::rds("db.us-east-1.rds.amazonaws.com", 1, "a")
            .expires_in(Duration::from_secs(1)),
    ] {
        errors.push(
            builder
                .credentials_provider(credentials())
                .build()
                .unwrap_err(),
        );
    }
    // Sign errors.
    let signer = AuthTokenSigner::rds("mydb.c9akciq32abc.us-east-1.rds.amazonaws.com", 5432, "app")
        .credentials_provider(LeakyNameProvider)
        .build()
        .unwrap();
    errors.push(signer.sign().await.unwrap_err());
    let ok_signer =
        AuthTokenSigner::rds("mydb.c9akciq32abc.us-east-1.rds.amazonaws.com", 5432, "app")
            .credentials_provider(credentials())
            .build()
            .unwrap();
    let err = ok_signer
        .sign_with(&credentials(), UNIX_EPOCH - Duration::from_secs(1))
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidSigningTime);
    errors.push(err);

    let mut shown = Vec::new();
    for err in &errors {
        shown.push(format!("{err}"));
        shown.push(format!("{err:?}"));
        shown.push(format!("{err:#?}"));
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            shown.push(format!("{cause}"));
            shown.push(format!("{cause:?}"));
            source = cause.source();
        }
    }
    assert_hides(
        &shown,
        &[SECRET, SESSION_TOKEN, "zzSECRETzz", "zzSESSIONzz"],
    );
}

#[test]
fn debug_of_a_token_shows_its_times() {
    let signer = AuthTokenSigner::dsql("abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws")
        .expires_in(Duration::from_secs(3600))
        .credentials_provider(credentials())
        .build()
        .unwrap();
    let time = UNIX_EPOCH + Duration::from_secs(1_724_709_600);
    let token = signer.sign_with(&credentials(), time).unwrap();
    let shown = format!("{token:?}");
    // The times, then perhaps non-secret fields such as the access key ID; never the text.
    let times = format!(
        "AuthToken {{ token: _, signed_at: {:?}, expires_at: {:?}",
        time,
        time + Duration::from_secs(3600)
    );
    assert!(shown.starts_with(&times), "{shown}");
}
