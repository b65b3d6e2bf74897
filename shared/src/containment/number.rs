//! JSON numbers kept exact, compared by value as PostgreSQL's `numeric` compares them.

/// A number as sign, significant digits and a power of ten: `-12.50` is `-, "125", -1`.
/// Normalized (no leading or trailing zeros; zero has no digits and no sign), so two numbers
/// are equal exactly when their values are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number {
    negative: bool,
    digits: String,
    exponent: i64,
}

impl Number {
    /// Reads a JSON number (`-?int(.frac)?([eE][+-]?exp)?`); `None` when `text` is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
            Some(at) => (&unsigned[..at], exponent_of(&unsigned[at + 1..])?),
            None => (unsigned, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || !all_digits(int) || !all_digits(frac) || mantissa.ends_with('.') {
            return None;
        }
        let frac_len = i64::try_from(frac.len()).ok()?;
        Some(Self::normalized(
            negative,
            format!("{int}{frac}"),
            exponent.saturating_sub(frac_len),
        ))
    }

    fn normalized(negative: bool, digits: String, exponent: i64) -> Self {
        let significant = digits.trim_start_matches('0');
        let trimmed = significant.trim_end_matches('0');
        let dropped = i64::try_from(significant.len() - trimmed.len()).unwrap_or(i64::MAX);
        if trimmed.is_empty() {
            return Self {
                negative: false,
                digits: String::new(),
                exponent: 0,
            };
        }
        Self {
            negative,
            digits: trimmed.to_owned(),
            exponent: exponent.saturating_add(dropped),
        }
    }
}

/// An exponent's value, saturated: past `i64`, no number PostgreSQL stores is equal anyway.
fn exponent_of(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude = digits.bytes().fold(0i64, |n, b| {
        n.saturating_mul(10).saturating_add(i64::from(b - b'0'))
    });
    Some(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> Number {
        Number::parse(text).expect("a number")
    }

    #[test]
    fn equal_values_are_equal_numbers_whatever_their_spelling() {
        assert_eq!(n("1"), n("1.0"));
        assert_eq!(n("1"), n("0.1e1"));
        assert_eq!(n("1200"), n("12e2"));
        assert_eq!(n("1200"), n("12E+2"));
        assert_eq!(n("0.012"), n("12e-3"));
        assert_eq!(n("0"), n("-0.0e7"));
        assert_eq!(n("-5"), n("-5.000"));
    }

    #[test]
    fn different_values_differ_however_close() {
        assert_ne!(n("1"), n("-1"));
        assert_ne!(n("1"), n("10"));
        assert_ne!(n("0.1"), n("0.10000000000000000001"));
        assert_ne!(n("12345678901234567890123"), n("12345678901234567890124"));
    }

    #[test]
    fn text_that_is_not_a_json_number_is_refused() {
        for text in ["", "-", "1.", ".5", "1e", "1e+", "a", "1x", "--1"] {
            assert_eq!(Number::parse(text), None, "{text:?}");
        }
    }
}
