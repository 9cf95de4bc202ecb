//! The credentials every target signs with, and the check that none of them leaks.

use aws_credential_types::Credentials;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

pub(crate) const ACCESS_KEY_ID: &str = "ASIAFUZZEXAMPLE00001";
/// Holds `/` and `+`, so that an encoded copy would differ from the raw one.
pub(crate) const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYFUZZSECRET";
pub(crate) const SESSION_TOKEN: &str = "FwoGZXIvYXdz/FUZZSESSION+TOKEN=0123456789";
/// Put into URLs as (part of) a password; it must never come back in an error.
pub(crate) const PASSWORD_MARKER: &str = "SEKRETpw";

/// RFC 3986 unreserved characters; everything else is `%XX`-encoded (SigV4's rule),
/// written here independently of the token crate's encoder.
const SIGV4_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub(crate) fn sigv4_encode(value: &str) -> String {
    utf8_percent_encode(value, SIGV4_ENCODE).to_string()
}

pub(crate) fn credentials(temporary: bool) -> Credentials {
    Credentials::new(
        ACCESS_KEY_ID,
        SECRET,
        temporary.then(|| SESSION_TOKEN.to_owned()),
        None,
        "fuzz",
    )
}

/// Panics if `text` (an error message, a Debug output) shows a secret.
pub(crate) fn assert_no_secret(text: &str, what: &str) {
    for secret in [SECRET, SESSION_TOKEN, PASSWORD_MARKER] {
        assert!(
            !text.contains(secret) && !text.contains(&sigv4_encode(secret)),
            "{what} shows a secret ({secret:?}): {text}"
        );
    }
}

/// Panics if an error message is not one clean line: empty, or with runs of spaces (a
/// string literal continued without `\`).
/// Quoted values (`{host:?}`) are the user's own text and are not looked at.
pub(crate) fn assert_clean_message(message: &str, what: &str) {
    assert!(!message.trim().is_empty(), "{what}: empty error message");
    let mut own_text = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for c in message.chars() {
        match (quoted, escaped, c) {
            (true, false, '\\') => escaped = true,
            (true, true, _) => escaped = false,
            (false, _, '"') => quoted = true,
            // The value stands as one word.
            (true, false, '"') => {
                quoted = false;
                own_text.push('_');
            }
            (false, _, c) => own_text.push(c),
            (true, false, _) => {}
        }
    }
    assert!(
        !own_text.contains("  ") && !own_text.contains('\n'),
        "{what}: the error message has a run of spaces or a line break: {message:?}"
    );
}

/// Whether a fuzz input itself holds one of the secrets (then it may rightly come back).
pub(crate) fn mentions_secret(input: &str) -> bool {
    [SECRET, SESSION_TOKEN, PASSWORD_MARKER]
        .iter()
        .any(|secret| input.contains(secret) || input.contains(&sigv4_encode(secret)))
}
