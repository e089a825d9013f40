//! Timestamps: stored as milliseconds since the epoch, shown as `YYYY-MM-DDThh:mm:ss.SSSZ`.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub fn format_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, s, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    if !(0..=9999).contains(&y) {
        return format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z");
    }
    // Digit by digit: `format!` with widths was ~1.5 % of PostMessage's instructions (every
    // message document carries its time).
    let mut out = String::with_capacity(24);
    for (value, width, after) in [(y, 4, '-'), (mo as i64, 2, '-'), (d as i64, 2, 'T'), (h, 2, ':'), (mi, 2, ':'), (s, 2, '.'), (milli, 3, 'Z')] {
        for place in (0..width).rev() {
            out.push(char::from(b'0' + (value / 10i64.pow(place) % 10) as u8));
        }
        out.push(after);
    }
    out
}

/// Parses an ISO 8601 UTC or offset datetime (`2020-06-26T14:33:47Z`, `…47.120Z`,
/// `…47+02:00`) into epoch milliseconds.
pub fn parse_iso(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) { part.parse().ok() } else { None }
    };
    let (y, mo, d, h, mi, sec) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let padded: String = frac[..digits].chars().chain("000".chars()).take(3).collect();
        millis = padded.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset_min = match rest {
        "Z" | "z" | "" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] { b'+' => 1, b'-' => -1, _ => return None };
            let body = &rest[1..];
            // `get`, not indexing: the offset may hold any text (`+aéb` is 4 bytes).
            let part = |r: std::ops::Range<usize>| body.get(r).filter(|p| p.bytes().all(|c| c.is_ascii_digit())).and_then(|p| p.parse::<i64>().ok());
            let (oh, om) = match body.len() {
                5 if body.as_bytes()[2] == b':' => (part(0..2)?, part(3..5)?),
                4 => (part(0..2)?, part(2..4)?),
                2 => (part(0..2)?, 0),
                _ => return None,
            };
            sign * (oh * 60 + om)
        }
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    Some(((days * 24 + h) * 60 + mi - offset_min) * 60_000 + sec * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_milliseconds_and_z() {
        assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_ms(1_593_182_027_120), "2020-06-26T14:33:47.120Z");
        assert_eq!(format_ms(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
        assert_eq!(format_ms(253_402_300_800_000), "10000-01-01T00:00:00.000Z");
        assert_eq!(format_ms(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn parses_what_it_formats_and_offsets() {
        assert_eq!(parse_iso("2020-06-26T14:33:47.120Z"), Some(1_593_182_027_120));
        assert_eq!(parse_iso("2020-06-26T14:33:47Z"), Some(1_593_182_027_000));
        assert_eq!(parse_iso("2020-06-26T16:33:47.12+02:00"), Some(1_593_182_027_120));
        assert_eq!(parse_iso("2020-13-26T14:33:47Z"), None);
        assert_eq!(parse_iso("yesterday"), None);
        for ms in [0, 86_399_999, 951_782_400_000, 4_102_444_800_001] {
            assert_eq!(parse_iso(&format_ms(ms)), Some(ms));
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn every_formatted_time_parses_back(ms in 0i64..253_402_300_799_999) {
                prop_assert_eq!(parse_iso(&format_ms(ms)), Some(ms));
            }

            #[test]
            fn parsing_any_text_never_panics(s in "\\PC{0,40}") {
                let _ = parse_iso(&s);
            }

            #[test]
            fn parsing_a_date_with_any_suffix_never_panics(suffix in "\\PC{0,8}|[+-][a-z0-9:é]{1,6}") {
                let _ = parse_iso(&format!("2020-06-26T14:33:47{suffix}"));
            }
        }
    }
}
