//! UTC timestamps as protobuf stores them and RFC 3339 text as Go's `time.Time` JSON writes it.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const SECS_PER_DAY: i64 = 86_400;
const NANOS_PER_SEC: i32 = 1_000_000_000;

/// A point in time: seconds and nanoseconds since the Unix epoch, UTC
/// (`google.protobuf.Timestamp`). `nanos` is in `0..1_000_000_000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub seconds: i64,
    /// Nanoseconds within the second.
    pub nanos: i32,
}

impl Timestamp {
    /// Go's zero `time.Time`, `0001-01-01T00:00:00Z`: what HEAD reports as `created_at` for keys
    /// read from legacy records.
    pub const GO_ZERO: Timestamp = Timestamp {
        seconds: -62_135_596_800,
        nanos: 0,
    };

    /// The current system time.
    pub fn now() -> Timestamp {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp {
                seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
            },
            Err(_) => Timestamp {
                seconds: 0,
                nanos: 0,
            },
        }
    }

    /// RFC 3339 in UTC, like Go's JSON encoding of `time.Time`: `2024-01-01T00:00:00Z`, with a
    /// fraction (trailing zeros trimmed) only when `nanos` is non-zero.
    pub fn to_rfc3339(&self) -> String {
        let days = self.seconds.div_euclid(SECS_PER_DAY);
        let secs = self.seconds.rem_euclid(SECS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        let mut out = format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        );
        if self.nanos != 0 {
            let frac = format!("{:09}", self.nanos.rem_euclid(NANOS_PER_SEC));
            out.push('.');
            out.push_str(frac.trim_end_matches('0'));
        }
        out.push('Z');
        out
    }

    /// Parses RFC 3339 text (`YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`), as Go's
    /// `time.RFC3339` does, converting to UTC.
    pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
        let b = s.as_bytes();
        let num = |range: std::ops::Range<usize>| -> Option<i64> {
            let digits = b.get(range)?;
            digits.iter().try_fold(0i64, |acc, c| {
                c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
            })
        };
        let sep = |i: usize, c: u8| b.get(i) == Some(&c);
        if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
            return None;
        }
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || min > 59
            || sec > 59
        {
            return None;
        }
        let mut rest = b.get(19..)?;
        let mut nanos = 0i32;
        if let Some((b'.', frac)) = rest.split_first() {
            let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 || n > 9 {
                return None;
            }
            let (digits, tail) = frac.split_at_checked(n)?;
            for (i, c) in digits.iter().enumerate() {
                nanos += i32::from(c - b'0') * 10i32.pow(8 - i as u32);
            }
            rest = tail;
        }
        let offset = match rest {
            [b'Z'] => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let d = |c: &u8| c.is_ascii_digit().then(|| i64::from(c - b'0'));
                let (oh, om) = (d(h1)? * 10 + d(h2)?, d(m1)? * 10 + d(m2)?);
                if oh > 23 || om > 59 {
                    return None;
                }
                let off = oh * 3600 + om * 60;
                if *sign == b'-' {
                    -off
                } else {
                    off
                }
            }
            _ => return None,
        };
        let days = days_from_civil(year, month, day);
        let seconds = days * SECS_PER_DAY + hour * 3600 + min * 60 + sec - offset;
        Some(Timestamp { seconds, nanos })
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse_rfc3339(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid RFC 3339 time '{s}'")))
    }
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ts(seconds: i64, nanos: i32) -> Timestamp {
        Timestamp { seconds, nanos }
    }

    #[test]
    fn formats_like_go() {
        let table = [
            (ts(0, 0), "1970-01-01T00:00:00Z"),
            (ts(1_704_067_200, 0), "2024-01-01T00:00:00Z"),
            (ts(1_704_067_200, 500_000_000), "2024-01-01T00:00:00.5Z"),
            (
                ts(1_709_164_800, 123_456_789),
                "2024-02-29T00:00:00.123456789Z",
            ),
            (ts(951_782_399, 1000), "2000-02-28T23:59:59.000001Z"),
            (ts(-1, 0), "1969-12-31T23:59:59Z"),
            (Timestamp::GO_ZERO, "0001-01-01T00:00:00Z"),
            (ts(253_402_300_799, 0), "9999-12-31T23:59:59Z"),
        ];
        for (t, text) in table {
            assert_eq!(t.to_rfc3339(), text);
            assert_eq!(Timestamp::parse_rfc3339(text), Some(t), "{text}");
        }
    }

    #[test]
    fn parses_offsets_and_rejects_junk() {
        let utc = Timestamp::parse_rfc3339("2024-01-01T00:00:00Z").unwrap();
        assert_eq!(
            Timestamp::parse_rfc3339("2024-01-01T02:00:00+02:00"),
            Some(utc)
        );
        assert_eq!(
            Timestamp::parse_rfc3339("2023-12-31T23:30:00-00:30"),
            Some(utc)
        );
        for bad in [
            "",
            "2024-01-01",
            "2024-01-01T00:00:00",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:60Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00.1234567890Z",
            "2024-01-01 00:00:00Z",
            "2024-01-01T00:00:00Zx",
            "+024-01-01T00:00:00Z",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn civil_round_trip() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn now_is_recent() {
        assert!(Timestamp::now().seconds > 1_704_067_200);
    }
}
