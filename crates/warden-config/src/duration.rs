//! Durations written as `"500ms"`, `"60s"`, `"5m"`, `"1h30m"`, `"2d"`.

use std::time::Duration;

/// What a duration looks like, for messages.
pub(crate) const DURATION_HINT: &str =
    r#"write a number and a unit (ms, s, m, h, d), e.g. "500ms", "60s", "5m" or "1h30m""#;

/// Parses one or more `<number><unit>` parts, summed. Units: `ms`, `s`, `m`,
/// `h`, `d`. No spaces, no fractions, no bare numbers (a unit is never
/// guessed).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    if text.is_empty() {
        return Err(format!("empty duration; {DURATION_HINT}"));
    }
    let mut total: u64 = 0; // milliseconds
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("{text:?} is not a duration; {DURATION_HINT}"));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{text:?} is too long a duration"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        let scale: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => {
                return Err(format!(
                    "{text:?} has no unit; {DURATION_HINT} (\"{number}s\" for seconds)"
                ));
            }
            other => {
                return Err(format!(
                    "{text:?} has an unknown unit {other:?}; {DURATION_HINT}"
                ));
            }
        };
        rest = &rest[unit_len..];
        total = number
            .checked_mul(scale)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| format!("{text:?} is too long a duration"))?;
    }
    Ok(Duration::from_millis(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_sums() {
        let ms = |t: &str| parse_duration(t).map(|d| d.as_millis());
        assert_eq!(ms("500ms"), Ok(500));
        assert_eq!(ms("60s"), Ok(60_000));
        assert_eq!(ms("5m"), Ok(300_000));
        assert_eq!(ms("1h30m"), Ok(5_400_000));
        assert_eq!(ms("2d"), Ok(172_800_000));
        assert_eq!(ms("0s"), Ok(0));
    }

    #[test]
    fn refuses_what_it_would_have_to_guess() {
        for bad in [
            "",
            "60",
            "1.5s",
            "5 m",
            "s",
            "10x",
            "-1s",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
