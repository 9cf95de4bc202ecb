//! Conformance: every token in `tests/vectors/botocore.json` (signed by botocore, the AWS SDK
//! for Python, see `tests/vectors/generate.py`) is signed again here and compared byte for
//! byte, through `sign_with` and through `sign()` with a fixed time source.

use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_smithy_async::time::StaticTimeSource;
use rds_iam_token::{AuthTokenSigner, SignerBuilder};
use serde_json::Value;

const VECTORS: &str = include_str!("vectors/botocore.json");

/// One case of the vector file.
struct Case {
    name: String,
    kind: String,
    host: String,
    port: Option<u16>,
    user: Option<String>,
    region: String,
    signer_region: Option<String>,
    expires_in: Option<u64>,
    credentials: Credentials,
    unix_time: u64,
    token: String,
}

fn str_field(case: &Value, field: &str) -> Option<String> {
    case[field].as_str().map(str::to_owned)
}

fn cases() -> Vec<Case> {
    let document: Value = serde_json::from_str(VECTORS).expect("botocore.json is JSON");
    document["cases"]
        .as_array()
        .expect("a `cases` array")
        .iter()
        .map(|case| {
            let name = str_field(case, "name").expect("name");
            Case {
                kind: str_field(case, "kind").expect("kind"),
                host: str_field(case, "host").expect("host"),
                port: case["port"]
                    .as_u64()
                    .map(|port| u16::try_from(port).expect("port fits u16")),
                user: str_field(case, "user"),
                region: str_field(case, "region").expect("region"),
                signer_region: str_field(case, "signer_region"),
                expires_in: case["expires_in"].as_u64(),
                credentials: Credentials::new(
                    str_field(case, "access_key_id").expect("access_key_id"),
                    str_field(case, "secret_access_key").expect("secret_access_key"),
                    str_field(case, "session_token"),
                    None,
                    "botocore-vectors",
                ),
                unix_time: case["unix_time"].as_u64().expect("unix_time"),
                token: str_field(case, "token").expect("token"),
                name,
            }
        })
        .collect()
}

impl Case {
    /// What this crate signs: botocore's token with the host part lowercased. botocore
    /// signs the lowercased host but keeps the caller's spelling in the text; this crate
    /// writes the lowercased host in both, so the signature is botocore's.
    fn expected_token(&self) -> String {
        let (host, rest) = self.token.split_once("/?").expect("HOST/?QUERY");
        format!("{}/?{rest}", host.to_ascii_lowercase())
    }

    fn builder(&self) -> SignerBuilder {
        let mut builder = match self.kind.as_str() {
            "rds" => AuthTokenSigner::rds(
                self.host.as_str(),
                self.port.expect("RDS cases have a port"),
                self.user.as_deref().expect("RDS cases have a user"),
            ),
            "dsql" => AuthTokenSigner::dsql(self.host.as_str()),
            "dsql_admin" => AuthTokenSigner::dsql_admin(self.host.as_str()),
            other => panic!("{}: unknown kind {other}", self.name),
        };
        if let Some(region) = &self.signer_region {
            builder = builder.region(region.clone());
        }
        if let Some(expires_in) = self.expires_in {
            builder = builder.expires_in(Duration::from_secs(expires_in));
        }
        builder.credentials_provider(self.credentials.clone())
    }

    fn signer(&self) -> AuthTokenSigner {
        let signer = self
            .builder()
            .build()
            .unwrap_or_else(|err| panic!("{}: {err}", self.name));
        assert_eq!(signer.region(), self.region, "{}: region", self.name);
        signer
    }
}

#[test]
fn the_vector_file_covers_what_the_issue_asks_for() {
    let cases = cases();
    assert!(cases.len() >= 30, "only {} cases", cases.len());
    let has = |predicate: &dyn Fn(&Case) -> bool| cases.iter().any(predicate);

    let reference = cases
        .iter()
        .find(|case| case.name == "aws-reference")
        .expect("AWS's reference case");
    assert_eq!(reference.host, "prod-instance.us-east-1.rds.amazonaws.com");
    assert_eq!(reference.port, Some(3306));
    assert_eq!(reference.user.as_deref(), Some("peccy"));
    assert_eq!(reference.unix_time, 1_724_709_600); // 2024-08-26T22:00:00Z
    assert!(reference.token.ends_with(
        "&X-Amz-Signature=dd0cba843009474347af724090233265628ace491ea17ce3eb3da098b983ad89"
    ));

    for user in ["user+tag@example.com", " ", "&", "=", "/"] {
        assert!(
            has(&|c| c.user.as_deref().is_some_and(|u| u.contains(user))),
            "a user with {user:?}"
        );
    }
    assert!(has(&|c| c.user.as_deref().is_some_and(|u| !u.is_ascii())));
    assert!(has(&|c| c.credentials.session_token().is_some()));
    for region in [
        "us-east-1",
        "cn-north-1",
        "us-gov-west-1",
        "us-iso-east-1",
        "us-isob-east-1",
    ] {
        assert!(has(&|c| c.region == region), "region {region}");
    }
    for endpoint in [
        ".cluster-",
        ".cluster-ro-",
        ".proxy-",
        ".rds.amazonaws.com.cn",
    ] {
        assert!(has(&|c| c.host.contains(endpoint)), "endpoint {endpoint}");
    }
    assert!(has(&|c| c.kind == "dsql"));
    assert!(has(&|c| c.kind == "dsql_admin"));
    assert!(has(&|c| c.kind == "dsql" && c.expires_in == Some(604_800)));
    assert!(has(
        &|c| c.kind == "dsql_admin" && c.expires_in == Some(604_800)
    ));
    assert!(has(&|c| c.kind == "rds" && c.signer_region.is_none()));
    // Capitalised hosts (region read from them too) and https's default port.
    let capitals = |c: &Case| c.host.bytes().any(|b| b.is_ascii_uppercase());
    assert!(has(&|c| c.kind == "rds"
        && capitals(c)
        && c.signer_region.is_none()));
    assert!(has(&|c| c.kind != "rds"
        && capitals(c)
        && c.signer_region.is_none()));
    assert!(has(&|c| c.port == Some(443)));
    assert!(has(&|c| c.kind != "rds" && c.signer_region.is_none()));
}

#[test]
fn sign_with_matches_botocore_byte_for_byte() {
    for case in cases() {
        let signer = case.signer();
        let time = UNIX_EPOCH + Duration::from_secs(case.unix_time);
        let token = signer
            .sign_with(&case.credentials, time)
            .unwrap_or_else(|err| panic!("{}: {err}", case.name));
        assert_eq!(token.expose(), case.expected_token(), "{}", case.name);
        assert_eq!(token.signed_at(), time, "{}", case.name);
        let expires_in = Duration::from_secs(case.expires_in.unwrap_or(900));
        assert_eq!(token.expires_at(), time + expires_in, "{}", case.name);
    }
}

#[test]
fn sign_with_a_sub_second_time_writes_the_whole_second() {
    for case in cases() {
        let signer = case.signer();
        let time = UNIX_EPOCH + Duration::from_secs(case.unix_time) + Duration::from_millis(999);
        let token = signer.sign_with(&case.credentials, time).unwrap();
        assert_eq!(token.expose(), case.expected_token(), "{}", case.name);
    }
}

#[tokio::test]
async fn sign_with_a_static_time_source_matches_botocore() {
    for case in cases() {
        let signer = case
            .builder()
            .time_source(StaticTimeSource::from_secs(case.unix_time))
            .build()
            .unwrap_or_else(|err| panic!("{}: {err}", case.name));
        let token = signer
            .sign()
            .await
            .unwrap_or_else(|err| panic!("{}: {err}", case.name));
        assert_eq!(token.expose(), case.expected_token(), "{}", case.name);
        // Again, now from the signing-key cache (and, for static keys, a second provider call).
        let again = signer.sign().await.unwrap();
        assert_eq!(
            again.expose(),
            case.expected_token(),
            "{}: cached key",
            case.name
        );
    }
}

#[test]
fn a_signer_that_signed_for_other_keys_and_days_still_matches() {
    // Primes the signing-key cache with a key for other inputs before every case, so that a
    // cache that failed to track the secret key or the day would be caught.
    let other = Credentials::new("AKIDOTHER", "other-secret", None, None, "test");
    for case in cases() {
        let signer = case.signer();
        let time = UNIX_EPOCH + Duration::from_secs(case.unix_time);
        signer.sign_with(&other, time).unwrap();
        assert_eq!(
            signer.sign_with(&case.credentials, time).unwrap().expose(),
            case.expected_token(),
            "{}: after another key",
            case.name
        );
        signer
            .sign_with(&case.credentials, time + Duration::from_secs(86_400))
            .unwrap();
        assert_eq!(
            signer.sign_with(&case.credentials, time).unwrap().expose(),
            case.expected_token(),
            "{}: after another day",
            case.name
        );
    }
}
