//! Parsing `--signing-time`: RFC 3339 date-times, without a date library.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses an RFC 3339 date-time such as `2024-08-26T22:00:00Z`,
/// `2024-08-26 22:00:00.250Z` or `2024-08-27T00:00:00+02:00`.
///
/// Fractional seconds are kept (the token's `X-Amz-Date` drops them, as the SDKs do).
/// Times before 1970 are refused: no token can carry them.
pub(crate) fn parse_rfc3339(text: &str) -> Result<SystemTime, String> {
    parse(text).ok_or_else(|| {
        format!(
            "expected an RFC 3339 time at or after 1970, such as 2024-08-26T22:00:00Z, got {text:?}"
        )
    })
}

fn parse(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        // 60 is a leap second; SigV4 clocks never show one, so it is refused.
        || second > 59
    {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos = 0u32;
    if let Some((b'.', after)) = rest.split_first() {
        let count = after.iter().take_while(|c| c.is_ascii_digit()).count();
        if count == 0 {
            return None;
        }
        for (i, digit) in after[..count].iter().enumerate() {
            if i < 9 {
                nanos += u32::from(digit - b'0') * 10u32.pow(8 - u32::try_from(i).ok()?);
            }
        }
        rest = &after[count..];
    }
    let offset_secs: i64 = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let hours = digits(rest, 1, 2)?;
            let minutes = digits(rest, 4, 2)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = i64::from(hours * 3600 + minutes * 60);
            if *sign == b'-' { -offset } else { offset }
        }
        _ => return None,
    };
    let local = days_from_civil(i64::from(year), month, day) * 86_400
        + i64::from(hour * 3600 + minute * 60 + second);
    let utc = u64::try_from(local - offset_secs).ok()?;
    UNIX_EPOCH.checked_add(Duration::new(utc, nanos))
}

/// `len` ASCII digits at `at`, as a number.
fn digits(b: &[u8], at: usize, len: usize) -> Option<u32> {
    b.get(at..at + len)?.iter().try_fold(0u32, |n, c| {
        c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
    })
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(text: &str) -> u64 {
        parse_rfc3339(text)
            .unwrap()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[test]
    fn the_aws_reference_time() {
        assert_eq!(secs("2024-08-26T22:00:00Z"), 1_724_709_600);
        assert_eq!(secs("2024-08-26t22:00:00z"), 1_724_709_600);
        assert_eq!(secs("2024-08-26 22:00:00Z"), 1_724_709_600);
    }

    #[test]
    fn offsets_and_fractions() {
        assert_eq!(secs("2024-08-27T00:00:00+02:00"), 1_724_709_600);
        assert_eq!(secs("2024-08-26T21:30:00-00:30"), 1_724_709_600);
        let t = parse_rfc3339("2024-08-26T22:00:00.123456789Z").unwrap();
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap(),
            Duration::new(1_724_709_600, 123_456_789)
        );
    }

    #[test]
    fn calendar_edges() {
        assert_eq!(secs("1970-01-01T00:00:00Z"), 0);
        assert_eq!(secs("2000-02-29T00:00:00Z"), 951_782_400);
        assert_eq!(secs("2038-01-19T03:14:08Z"), 2_147_483_648);
        assert_eq!(secs("9999-12-31T23:59:59Z"), 253_402_300_799);
    }

    #[test]
    fn refuses_what_is_not_rfc3339() {
        for bad in [
            "",
            "2024-08-26",
            "2024-08-26T22:00:00",
            "2024-08-26T22:00Z",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-08-26T24:00:00Z",
            "2024-08-26T22:00:60Z",
            "2024-08-26T22:00:00.Z",
            "2024-08-26T22:00:00+0200",
            "1969-12-31T23:59:59Z",
            "20240826T220000Z",
            "2024-08-26T22:00:00Z ",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
