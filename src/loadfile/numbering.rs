//! Bates and control numbers split into prefix, number and suffix, so that
//! consecutive numbering can be checked.

use std::fmt;

/// A number such as `ABC-000000123` or `X_0001_REV`: the last run of ASCII
/// digits is the number, the text before it the prefix and after it the
/// suffix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Numbered {
    pub prefix: String,
    pub number: u64,
    /// Digits as written, zero padding included.
    pub width: usize,
    pub suffix: String,
}

impl Numbered {
    /// Splits `value` at its last digit run; `None` when it has no digits or
    /// the number does not fit in 64 bits.
    pub fn parse(value: &str) -> Option<Numbered> {
        let bytes = value.as_bytes();
        let end = bytes.iter().rposition(u8::is_ascii_digit)? + 1;
        let start = bytes[..end]
            .iter()
            .rposition(|byte| !byte.is_ascii_digit())
            .map_or(0, |index| index + 1);

        Some(Numbered {
            prefix: value[..start].to_string(),
            number: value[start..end].parse().ok()?,
            width: end - start,
            suffix: value[end..].to_string(),
        })
    }

    /// Returns whether `other` is numbered in the same series: same prefix,
    /// suffix and width.
    pub fn same_series(&self, other: &Numbered) -> bool {
        self.prefix == other.prefix && self.suffix == other.suffix && self.width == other.width
    }

    /// Returns the value with the same prefix, width and suffix and another
    /// number.
    pub fn with_number(&self, number: u64) -> Numbered {
        Numbered {
            number,
            ..self.clone()
        }
    }
}

impl fmt::Display for Numbered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{:0width$}{}",
            self.prefix,
            self.number,
            self.suffix,
            width = self.width
        )
    }
}

/// Describes the numbers missing between two values of one series, such as
/// `X0004` or `X0004..X0006`.
pub fn missing_between(before: &Numbered, after: &Numbered) -> String {
    let first = before.with_number(before.number + 1);
    let last = after.with_number(after.number - 1);
    if first == last {
        first.to_string()
    } else {
        format!("{first}..{last}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn parse_splits_prefix_number_suffix() {
        let parsed = Numbered::parse("SYM-00011001_0002_REV").unwrap();
        assert_eq!(parsed.prefix, "SYM-00011001_");
        assert_eq!(parsed.number, 2);
        assert_eq!(parsed.width, 4);
        assert_eq!(parsed.suffix, "_REV");
    }

    #[test]
    fn parse_rejects_no_digits() {
        assert_eq!(Numbered::parse("ABC-"), None);
    }

    #[test]
    fn display_keeps_padding() {
        let parsed = Numbered::parse("ABC-000000123").unwrap();
        assert_eq!(parsed.to_string(), "ABC-000000123");
    }

    #[test]
    fn missing_between_one_and_many() {
        let a = Numbered::parse("S0003").unwrap();
        let b = Numbered::parse("S0005").unwrap();
        let c = Numbered::parse("S0008").unwrap();
        assert_eq!(missing_between(&a, &b), "S0004");
        assert_eq!(missing_between(&a, &c), "S0004..S0007");
    }

    #[test]
    fn same_series_needs_same_width() {
        let a = Numbered::parse("S0003").unwrap();
        let b = Numbered::parse("S003").unwrap();
        assert!(!a.same_series(&b));
    }
}
