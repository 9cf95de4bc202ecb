//! Time per IAM auth token: this workspace's `rds-iam-token` against aws-sdk-rds's
//! `AuthTokenGenerator`, aws-sigv4's generic presigning, and the bare cryptographic floor of
//! each path, all in the same run.
//!
//! Run with `cargo bench -p rds-iam-benches --bench token`, then
//! `python3 benches/ratios.py` for the ratios (see `crates/rds-iam-token/README.md`).
//!
//! Every contender signs the same token: an RDS endpoint, port 5432, user `app_user`,
//! static long-term credentials from a provider, the system clock.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_rds::auth_token::{AuthTokenGenerator, Config as RdsTokenConfig};
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_async::time::{SharedTimeSource, TimeSource};
use aws_smithy_runtime_api::client::identity::Identity;
use aws_types::SdkConfig;
use aws_types::region::Region;
use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rds_iam_token::AuthTokenSigner;
use sha2::{Digest, Sha256};

const HOST: &str = "mydb.c9akciq32abc.us-east-1.rds.amazonaws.com";
const PORT: u16 = 5432;
const USER: &str = "app_user";
const REGION: &str = "us-east-1";

fn credentials() -> Credentials {
    Credentials::from_keys(
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        None,
    )
}

/// Polls a future that is ready at once (static credentials), without an executor's cost.
fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future)
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("static credentials never make signing wait"),
    }
}

/// A clock that moves one day per reading: every token is the first of its day, so no
/// signing key can come from a cache.
#[derive(Debug, Default)]
struct NewDayEveryTime(AtomicU64);

impl TimeSource for NewDayEveryTime {
    fn now(&self) -> SystemTime {
        // 2024-08-26 plus up to ~2700 years, then around again: consecutive days always differ.
        let day = self.0.fetch_add(1, Ordering::Relaxed) % 1_000_000;
        UNIX_EPOCH + Duration::from_secs(1_724_709_600 + day * 86_400)
    }
}

/// RFC 3986 unreserved characters stay, everything else is encoded.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// aws-sigv4's generic presigning, as a caller without aws-sdk-rds would write it.
fn sigv4_presign(identity: &Identity, now: SystemTime) -> String {
    let mut settings = SigningSettings::default();
    settings.expires_in = Some(Duration::from_secs(900));
    settings.signature_location = SignatureLocation::QueryParams;
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region(REGION)
        .name("rds-db")
        .time(now)
        .settings(settings)
        .build()
        .expect("complete signing params");
    let url = format!("https://{HOST}:{PORT}/?Action=connect&DBUser={USER}");
    let request = SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::empty())
        .expect("a valid request");
    let (instructions, _signature) = sign(request, &params.into())
        .expect("signing succeeds")
        .into_parts();
    let mut token = url["https://".len()..].to_owned();
    for (name, value) in instructions.params() {
        token.push('&');
        token.push_str(name);
        token.push('=');
        token.extend(utf8_percent_encode(value, QUERY));
    }
    token
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// The canonical request and string-to-sign prefix of the benchmark's token, for the floors.
struct FloorInputs {
    secret: Vec<u8>,
    canonical_request: Vec<u8>,
    string_to_sign_prefix: Vec<u8>,
}

impl FloorInputs {
    fn new() -> Self {
        let canonical_request = format!(
            "GET\n/\nAction=connect&DBUser={USER}&X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20240826%2F{REGION}%2Frds-db%2Faws4_request\
             &X-Amz-Date=20240826T220000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host\n\
             host:{HOST}:{PORT}\n\nhost\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        Self {
            secret: b"AWS4wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".to_vec(),
            canonical_request: canonical_request.into_bytes(),
            string_to_sign_prefix: format!(
                "AWS4-HMAC-SHA256\n20240826T220000Z\n20240826/{REGION}/rds-db/aws4_request\n"
            )
            .into_bytes(),
        }
    }

    /// The final signature: SHA-256 of the canonical request, then one HMAC.
    fn signature(&self, signing_key: &[u8; 32]) -> [u8; 32] {
        let hash = Sha256::digest(&self.canonical_request);
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(signing_key).expect("any key length");
        mac.update(&self.string_to_sign_prefix);
        // The string to sign carries the hash in hex: 64 bytes, as in the real thing.
        let mut hex = [0u8; 64];
        for (pair, byte) in hex.chunks_exact_mut(2).zip(hash) {
            const DIGITS: &[u8; 16] = b"0123456789abcdef";
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 15)];
        }
        mac.update(&hex);
        mac.finalize().into_bytes().into()
    }

    /// The full chain: four HMACs for the signing key, then the signature.
    fn full(&self) -> [u8; 32] {
        let k_date = hmac_sha256(&self.secret, b"20240826");
        let k_region = hmac_sha256(&k_date, REGION.as_bytes());
        let k_service = hmac_sha256(&k_region, b"rds-db");
        let k_signing = hmac_sha256(&k_service, b"aws4_request");
        self.signature(&k_signing)
    }
}

fn tokens(c: &mut Criterion) {
    let mut group = c.benchmark_group("token");

    // This crate, signing key cached (every token after the first of the day).
    let signer = AuthTokenSigner::rds(HOST, PORT, USER)
        .credentials_provider(credentials())
        .build()
        .expect("a valid signer");
    group.bench_function("rds-iam-token/cached-key", |b| {
        b.iter(|| ready(black_box(&signer).sign()).expect("signs"));
    });

    // This crate, first token of the day: the signing key is derived every time.
    let first_of_day = AuthTokenSigner::rds(HOST, PORT, USER)
        .credentials_provider(credentials())
        .time_source(NewDayEveryTime::default())
        .build()
        .expect("a valid signer");
    group.bench_function("rds-iam-token/first-of-day", |b| {
        b.iter(|| ready(black_box(&first_of_day).sign()).expect("signs"));
    });

    // aws-sdk-rds's generator (no key cache), same provider, host, user and region.
    let sdk_config = SdkConfig::builder()
        .time_source(SharedTimeSource::default())
        .build();
    let generator = AuthTokenGenerator::new(
        RdsTokenConfig::builder()
            .hostname(HOST)
            .port(u64::from(PORT))
            .username(USER)
            .region(Region::new(REGION))
            .credentials(SharedCredentialsProvider::new(credentials()))
            .build()
            .expect("a valid generator config"),
    );
    group.bench_function("aws-sdk-rds/AuthTokenGenerator", |b| {
        b.iter(|| ready(black_box(&generator).auth_token(&sdk_config)).expect("signs"));
    });

    // aws-sigv4's generic presigned-URL path (what aws-sdk-rds does, minus its URL parser).
    let identity: Identity = credentials().into();
    group.bench_function("aws-sigv4/presign", |b| {
        b.iter(|| sigv4_presign(black_box(&identity), SystemTime::now()));
    });

    // The floors: only the HMAC-SHA256 and SHA-256 work.
    let floor = FloorInputs::new();
    group.bench_function("floor/full-key-chain", |b| {
        b.iter(|| black_box(&floor).full());
    });
    let key = floor.full();
    group.bench_function("floor/cached-key", |b| {
        b.iter(|| black_box(&floor).signature(black_box(&key)));
    });
    group.finish();
}

/// The three implementations sign the same bytes; a benchmark of different work is no
/// comparison.
fn same_tokens() {
    let time = UNIX_EPOCH + Duration::from_secs(1_724_709_600);
    let ours = AuthTokenSigner::rds(HOST, PORT, USER)
        .credentials_provider(credentials())
        .build()
        .expect("a valid signer")
        .sign_with(&credentials(), time)
        .expect("signs");
    let identity: Identity = credentials().into();
    assert_eq!(ours.expose(), sigv4_presign(&identity, time));
    let sdk_config = SdkConfig::builder()
        .time_source(SharedTimeSource::new(
            aws_smithy_async::time::StaticTimeSource::new(time),
        ))
        .build();
    let generator = AuthTokenGenerator::new(
        RdsTokenConfig::builder()
            .hostname(HOST)
            .port(u64::from(PORT))
            .username(USER)
            .region(Region::new(REGION))
            .credentials(SharedCredentialsProvider::new(credentials()))
            .build()
            .expect("a valid generator config"),
    );
    let theirs = ready(generator.auth_token(&sdk_config)).expect("signs");
    assert_eq!(ours.expose(), theirs.as_str());
    let signature = ours.expose().rsplit_once('=').expect("a signature").1;
    let floor: String = FloorInputs::new()
        .full()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(signature, floor, "the floor computes the same signature");
}

fn benches(c: &mut Criterion) {
    same_tokens();
    tokens(c);
}

criterion_group! {
    name = token;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = benches
}
criterion_main!(token);
