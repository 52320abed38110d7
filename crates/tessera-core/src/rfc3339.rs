//! RFC 3339 date-times to and from Unix seconds, for the configuration (e.g. `basic_sunset`)
//! and for messages to people. The `time` crate does the calendar; this file only fixes
//! which inputs Tessera accepts and the one form it prints.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::UnixSeconds;

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` (RFC 3339 §5.6), or a bare `YYYY-MM-DD` meaning
/// midnight UTC. Fractions of a second are dropped. `None` if it does not parse.
pub fn parse_rfc3339(raw: &str) -> Option<UnixSeconds> {
    let raw = raw.trim();
    if raw.len() == 10 {
        return parse_rfc3339(&format!("{raw}T00:00:00Z"));
    }
    // RFC 3339 §5.6 separates date and time with "T" (any case) and allows a space; the
    // crate takes any byte there, which would let a typo through.
    if !matches!(raw.as_bytes().get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    OffsetDateTime::parse(raw, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
}

/// `YYYY-MM-DDTHH:MM:SSZ`. An instant outside the years 0000–9999 (which no configuration
/// or clock reading yields) is shown as plain Unix seconds rather than not at all.
pub fn format_rfc3339(t: UnixSeconds) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{t} (Unix seconds)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utc_offsets_fractions_and_bare_dates() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2023-06-15T00:00:00Z"), Some(1_686_787_200));
        assert_eq!(parse_rfc3339("2023-06-15"), Some(1_686_787_200));
        assert_eq!(parse_rfc3339(" 2023-06-15 "), Some(1_686_787_200));
        assert_eq!(parse_rfc3339("2023-06-15t00:00:00z"), Some(1_686_787_200));
        assert_eq!(parse_rfc3339("2023-06-15 00:00:00Z"), Some(1_686_787_200));
        assert_eq!(
            parse_rfc3339("2023-06-15T02:00:00.123+02:00"),
            Some(1_686_787_200)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T12:00:00-01:30"),
            Some(1_709_213_400)
        );
        // RFC 3339 §5.7: a leap second is a valid time; it counts as the second before.
        assert_eq!(parse_rfc3339("2016-12-31T23:59:60Z"), Some(1_483_228_799));
        for bad in [
            "",
            "2023-13-01",
            "2023-02-29",
            "2023-6-15",
            "20230615",
            "2023-06-15T25:00:00Z",
            "2023-06-15T00:00:00",
            "2023-06-15T00:00:00+0200",
            "2023-06-15T00:00:00+24:00",
            "2023-06-15X00:00:00Z",
            "2023-06-15T00:00:00Z trailing",
            "yesterday",
            "2023-06-15T00:00:00.Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_back() {
        for t in [0, 1_686_787_200, 1_709_213_400, 4_102_444_799, -86_400] {
            assert_eq!(parse_rfc3339(&format_rfc3339(t)), Some(t));
        }
        assert_eq!(format_rfc3339(1_709_213_400), "2024-02-29T13:30:00Z");
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_rfc3339(i64::MAX),
            format!("{} (Unix seconds)", i64::MAX)
        );
    }
}
