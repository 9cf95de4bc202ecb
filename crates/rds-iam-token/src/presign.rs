//! The presigned URL itself: canonical request, string to sign, signature and token text.
//!
//! Written out by hand rather than through a URL parser or an HTTP request type: the shape
//! of an auth token is fixed, so the canonical request is streamed straight into SHA-256,
//! the string to sign straight into the HMAC, and the token is written once into a string
//! of the right capacity. Signing allocates nothing but that string.

use hmac::Mac;
use sha2::{Digest, Sha256};

use crate::amz_date::AmzDate;
use crate::percent;
use crate::signing_key::HmacSha256;

/// Lowercase hex digits, as SigV4 writes hashes and signatures.
const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// The SigV4 algorithm name, as it appears in the query and the string to sign.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The hex SHA-256 of the empty body, which the SDKs sign for a token's GET request.
const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// What is being presigned; everything but the credentials and the time.
#[derive(Debug)]
pub(crate) struct PresignTarget<'a> {
    /// What the token text starts with: `HOST:PORT` for RDS, `HOST` for DSQL.
    pub(crate) url_host: &'a str,
    /// The signed `host` header: `url_host`, without the port when it is https's default
    /// (443), as the SDKs sign it.
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
/// `signing_mac` must be keyed with the signing key for the same secret key, date, region
/// and service.
pub(crate) fn presign(
    target: &PresignTarget<'_>,
    identity: SigningIdentity<'_>,
    date: &AmzDate,
    signing_mac: HmacSha256,
) -> String {
    let session_token_len = identity.session_token.map_or(0, percent::encoded_len_bound);
    let mut token = String::with_capacity(
        target.url_host.len()
            + target.leading_query.len()
            + percent::encoded_len_bound(identity.access_key_id)
            + session_token_len
            + 300,
    );
    token.push_str(target.url_host);
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
    push_decimal(&mut token, target.expires_in_secs);
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
    let mut canonical_hash = [0u8; 64];
    hex_into(&mut canonical_hash, &canonical.finalize());

    // The string to sign, fed to the HMAC piece by piece.
    let mut mac = signing_mac;
    for part in [
        ALGORITHM,
        "\n",
        date.date_time(),
        "\n",
        date.date(),
        "/",
        target.region,
        "/",
        target.service,
        "/aws4_request\n",
    ] {
        mac.update(part.as_bytes());
    }
    mac.update(&canonical_hash);
    token.push_str("&X-Amz-Signature=");
    for byte in mac.finalize().into_bytes() {
        token.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        token.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
    }
    token
}

/// Writes `bytes` as lowercase hex into `out`, which is twice as long.
fn hex_into(out: &mut [u8], bytes: &[u8]) {
    for (pair, byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX_DIGITS[usize::from(byte >> 4)];
        pair[1] = HEX_DIGITS[usize::from(byte & 0x0f)];
    }
}

/// Appends `value` in decimal, without the allocation of `to_string`.
fn push_decimal(out: &mut String, value: u32) {
    let mut digits = [0u8; 10];
    let mut start = digits.len();
    let mut rest = value;
    loop {
        start -= 1;
        digits[start] = b'0' + u8::try_from(rest % 10).unwrap_or_default();
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for &digit in &digits[start..] {
        out.push(char::from(digit));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_decimals() {
        for value in [0, 1, 9, 10, 900, 604_800, u32::MAX] {
            let mut out = String::from("x=");
            push_decimal(&mut out, value);
            assert_eq!(out, format!("x={value}"));
        }
    }

    #[test]
    fn writes_lowercase_hex() {
        let mut out = [0u8; 6];
        hex_into(&mut out, &[0x00, 0xab, 0xf9]);
        assert_eq!(&out, b"00abf9");
    }
}
