//! The presigned URL itself: canonical request, string to sign, signature and token text.
//!
//! Written out by hand rather than through a URL parser or an HTTP request type: the shape
//! of an auth token is fixed, so the canonical request is streamed straight into SHA-256
//! and the token is written once into a string of the right capacity.

use aws_sigv4::sign::v4::calculate_signature;
use sha2::{Digest, Sha256};

use crate::amz_date::AmzDate;
use crate::percent;

/// The SigV4 algorithm name, as it appears in the query and the string to sign.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The hex SHA-256 of the empty body, which the SDKs sign for a token's GET request.
const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// What is being presigned; everything but the credentials and the time.
#[derive(Debug)]
pub(crate) struct PresignTarget<'a> {
    /// The signed `host` header: `HOST:PORT` for RDS, `HOST` for DSQL.
    pub(crate) host: &'a str,
    /// The query parameters that sort before `X-Amz-*`, already encoded:
    /// `Action=connect&DBUser=...` or `Action=DbConnect`.
    pub(crate) leading_query: &'a str,
    pub(crate) service: &'static str,
    pub(crate) region: &'a str,
    pub(crate) expires_in_secs: u32,
}

/// The credential parts that go into the token.
#[derive(Clone, Copy)]
pub(crate) struct SigningIdentity<'a> {
    pub(crate) access_key_id: &'a str,
    pub(crate) session_token: Option<&'a str>,
}

/// Presigns `target` and returns the token text (the URL without `https://`).
///
/// `signing_key` must be derived for the same secret key, date, region and service.
pub(crate) fn presign(
    target: &PresignTarget<'_>,
    identity: SigningIdentity<'_>,
    date: &AmzDate,
    signing_key: &[u8; 32],
) -> String {
    let session_token_len = identity.session_token.map_or(0, percent::encoded_len_bound);
    let mut token = String::with_capacity(
        target.host.len()
            + target.leading_query.len()
            + percent::encoded_len_bound(identity.access_key_id)
            + session_token_len
            + 300,
    );
    token.push_str(target.host);
    token.push_str("/?");
    let query_start = token.len();

    // Every parameter up to `X-Amz-Expires` is in the same order in the canonical query
    // and in the URL.
    token.push_str(target.leading_query);
    token.push_str("&X-Amz-Algorithm=");
    token.push_str(ALGORITHM);
    token.push_str("&X-Amz-Credential=");
    percent::encode_into(&mut token, identity.access_key_id);
    for part in [date.date(), target.region, target.service, "aws4_request"] {
        token.push_str("%2F");
        token.push_str(part);
    }
    token.push_str("&X-Amz-Date=");
    token.push_str(date.date_time());
    token.push_str("&X-Amz-Expires=");
    token.push_str(&target.expires_in_secs.to_string());
    let shared_end = token.len();

    // The canonical query sorts `X-Amz-Security-Token` before `X-Amz-SignedHeaders`;
    // the AWS SDKs' URLs put it after. Write the URL's order and hash the canonical one.
    token.push_str("&X-Amz-SignedHeaders=host");
    let security_token_start = token.len();
    if let Some(session_token) = identity.session_token {
        token.push_str("&X-Amz-Security-Token=");
        percent::encode_into(&mut token, session_token);
    }
    let security_token_end = token.len();

    let mut canonical = Sha256::new();
    canonical.update(b"GET\n/\n");
    canonical.update(&token.as_bytes()[query_start..shared_end]);
    canonical.update(&token.as_bytes()[security_token_start..security_token_end]);
    canonical.update(b"&X-Amz-SignedHeaders=host\nhost:");
    canonical.update(target.host.as_bytes());
    canonical.update(b"\n\nhost\n");
    canonical.update(EMPTY_PAYLOAD_SHA256.as_bytes());
    let canonical_hash = hex::encode(canonical.finalize());

    let string_to_sign = format!(
        "{ALGORITHM}\n{}\n{}/{}/{}/aws4_request\n{canonical_hash}",
        date.date_time(),
        date.date(),
        target.region,
        target.service,
    );
    token.push_str("&X-Amz-Signature=");
    token.push_str(&calculate_signature(signing_key, string_to_sign.as_bytes()));
    token
}
