//! Durations on the command line: `10s`, `500ms`, `1.5s`, `2m`, `1m30s`.

use std::time::Duration;

/// Parses a duration: one or more `NUMBER UNIT` terms, units `us`, `ms`,
/// `s`, `m`, `h`; a bare number is seconds. Numbers may have a fraction
/// (`1.5s`); they may not be negative.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".to_owned());
    }
    if let Ok(seconds) = text.parse::<f64>() {
        return seconds_to_duration(seconds, text);
    }
    let mut rest = text;
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after_number) = rest.split_at(number_len);
        let unit_len = after_number
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after_number.len());
        let (unit, after_unit) = after_number.split_at(unit_len);
        let value: f64 = number.parse().map_err(|_| {
            format!("{text:?}: expected a number before {unit:?} (like 10s or 500ms)")
        })?;
        let seconds_per_unit = match unit.trim() {
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            other => {
                return Err(format!(
                    "{text:?}: unknown unit {other:?} (use us, ms, s, m or h)"
                ));
            }
        };
        total = total
            .checked_add(seconds_to_duration(value * seconds_per_unit, text)?)
            .ok_or_else(|| format!("{text:?}: too long"))?;
        rest = after_unit;
    }
    Ok(total)
}

fn seconds_to_duration(seconds: f64, text: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| format!("{text:?}: not a duration (negative or too long)"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Duration {
        parse_duration(text).expect("valid duration")
    }

    #[test]
    fn units_parse() {
        assert_eq!(parsed("10s"), Duration::from_secs(10));
        assert_eq!(parsed("500ms"), Duration::from_millis(500));
        assert_eq!(parsed("250us"), Duration::from_micros(250));
        assert_eq!(parsed("2m"), Duration::from_secs(120));
        assert_eq!(parsed("1h"), Duration::from_secs(3600));
        assert_eq!(parsed("1.5s"), Duration::from_millis(1500));
        assert_eq!(parsed("0s"), Duration::ZERO);
    }

    #[test]
    fn bare_numbers_are_seconds() {
        assert_eq!(parsed("3"), Duration::from_secs(3));
        assert_eq!(parsed("0.25"), Duration::from_millis(250));
    }

    #[test]
    fn terms_add_up() {
        assert_eq!(parsed("1m30s"), Duration::from_secs(90));
        assert_eq!(parsed("1s500ms"), Duration::from_millis(1500));
    }

    #[test]
    fn nonsense_is_refused() {
        for bad in [
            "",
            "s",
            "10x",
            "-1s",
            "-1",
            "1.2.3s",
            "ms10",
            "1e400",
            "10 seconds",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
