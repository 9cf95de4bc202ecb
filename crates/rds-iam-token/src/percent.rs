//! RFC 3986 percent-encoding, as SigV4 wants it for query keys and values.

/// Appends `value` to `out`, keeping only the unreserved characters
/// (`A-Z a-z 0-9 - _ . ~`) and writing every other byte as `%XX` in uppercase hex.
pub(crate) fn encode_into(out: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
}

/// Upper bound of the encoded length of `value`.
pub(crate) fn encoded_len_bound(value: &str) -> usize {
    value.len() * 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_reserved_and_non_ascii_bytes() {
        let mut out = String::new();
        encode_into(&mut out, "user+a@b c&=/é~._-");
        assert_eq!(out, "user%2Ba%40b%20c%26%3D%2F%C3%A9~._-");
    }
}
