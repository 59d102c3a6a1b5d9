//! Date values of DAT files: the forms producers write, parsed with chrono.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// Date-and-time forms accepted, US month-first as Relativity reads them.
const DATE_TIME_FORMATS: [&str; 8] = [
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
];

/// Date-only forms accepted.
const DATE_FORMATS: [&str; 3] = ["%m/%d/%Y", "%Y-%m-%d", "%Y%m%d"];

/// Parses a date value: M/D/YYYY with an optional 12- or 24-hour time,
/// ISO 8601 dates and date-times (with or without an offset), or YYYYMMDD.
/// Surrounding spaces are ignored. Returns `None` for an impossible date
/// such as `13/21/2001`.
pub fn parse_date(value: &str) -> Option<NaiveDateTime> {
    let value = value.trim();
    if let Ok(with_offset) = DateTime::parse_from_rfc3339(value) {
        return Some(with_offset.naive_utc());
    }
    for format in DATE_TIME_FORMATS {
        if let Ok(parsed) = NaiveDateTime::parse_from_str(value, format) {
            return Some(parsed);
        }
    }
    for format in DATE_FORMATS {
        if let Ok(parsed) = NaiveDate::parse_from_str(value, format) {
            return parsed.and_hms_opt(0, 0, 0);
        }
    }
    None
}

/// Returns whether a column holds dates: its header contains "date".
pub fn is_date_column(header: &str) -> bool {
    header.to_ascii_lowercase().contains("date")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(value: &str) -> bool {
        parse_date(value).is_some()
    }

    #[test]
    fn parse_date_us_forms() {
        assert!(accepted("5/21/2001"));
        assert!(accepted("05/21/2001"));
        assert!(accepted("5/21/2001 3:48 PM"));
        assert!(accepted("5/21/2001 03:48:10 am"));
        assert!(accepted("5/21/2001 15:48"));
    }

    #[test]
    fn parse_date_iso_forms() {
        assert!(accepted("2001-05-21"));
        assert!(accepted("2001-05-21T15:48:00"));
        assert!(accepted("2001-05-21T15:48:00Z"));
        assert!(accepted("2001-05-21 15:48:00"));
        assert!(accepted("20010521"));
    }

    #[test]
    fn parse_date_rejects_impossible() {
        assert!(!accepted("13/21/2001"));
        assert!(!accepted("13/21/2001 3:48 PM"));
        assert!(!accepted("2/30/2001"));
        assert!(!accepted("5/21/2001 13:48 PM"));
        assert!(!accepted("yesterday"));
    }

    #[test]
    fn date_column_by_header() {
        assert!(is_date_column("Date Sent"));
        assert!(is_date_column("DATECREATED"));
        assert!(!is_date_column("Custodian"));
    }
}
