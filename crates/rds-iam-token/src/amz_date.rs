//! The `X-Amz-Date` format: `YYYYMMDD'T'HHMMSS'Z'`, in UTC.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, ErrorKind};

/// A signing time, formatted once: `20240826T220000Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AmzDate([u8; 16]);

impl AmzDate {
    /// Formats `time`, which must fall between 1970 and 9999.
    pub(crate) fn new(time: SystemTime) -> Result<Self, Error> {
        let secs = time
            .duration_since(UNIX_EPOCH)
            .ok()
            .map(|elapsed| elapsed.as_secs())
            .filter(|secs| *secs < 253_402_300_800) // 10000-01-01T00:00:00Z
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidSigningTime,
                    "invalid signing time: it must fall between 1970 and 9999 (check the time source)",
                )
            })?;
        let days = secs / 86_400;
        let second_of_day = secs % 86_400;
        let (year, month, day) = civil_from_days(days);
        let mut out = [b'0'; 16];
        write_digits(&mut out[0..4], year);
        write_digits(&mut out[4..6], month);
        write_digits(&mut out[6..8], day);
        out[8] = b'T';
        write_digits(&mut out[9..11], second_of_day / 3600);
        write_digits(&mut out[11..13], second_of_day % 3600 / 60);
        write_digits(&mut out[13..15], second_of_day % 60);
        out[15] = b'Z';
        Ok(Self(out))
    }

    /// The whole timestamp, `20240826T220000Z`.
    pub(crate) fn date_time(&self) -> &str {
        // Only ASCII digits, 'T' and 'Z' are ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The date part, `20240826`.
    pub(crate) fn date(&self) -> &str {
        &self.date_time()[..8]
    }
}

fn write_digits(out: &mut [u8], mut value: u64) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + u8::try_from(value % 10).unwrap_or_default();
        value /= 10;
    }
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> String {
        AmzDate::new(UNIX_EPOCH + Duration::from_secs(secs))
            .unwrap()
            .date_time()
            .to_owned()
    }

    #[test]
    fn formats_known_times() {
        assert_eq!(at(0), "19700101T000000Z");
        assert_eq!(at(1_724_709_600), "20240826T220000Z");
        assert_eq!(at(951_782_400), "20000229T000000Z");
        assert_eq!(at(4_102_444_799), "20991231T235959Z");
        assert_eq!(at(253_402_300_799), "99991231T235959Z");
        assert_eq!(
            AmzDate::new(UNIX_EPOCH + Duration::from_secs(1_724_709_600))
                .unwrap()
                .date(),
            "20240826"
        );
    }

    #[test]
    fn refuses_times_it_cannot_write() {
        let before_epoch = UNIX_EPOCH - Duration::from_secs(1);
        let after_9999 = UNIX_EPOCH + Duration::from_secs(253_402_300_800);
        for time in [before_epoch, after_9999] {
            let err = AmzDate::new(time).unwrap_err();
            assert_eq!(err.kind(), &ErrorKind::InvalidSigningTime);
        }
    }
}
