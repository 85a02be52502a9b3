//! Durations written with their unit (`24h`, `86400s`, `90m`, `7d`, `1h30m`), for settings such
//! as `CACHE_TTL` and `echome token --ttl`. A bare number is refused: the same setting once meant
//! hours in one place and seconds in another, and a unit makes it mean one thing.

use chrono::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("a duration is required (e.g. 24h, 90m, 86400s or 7d)")]
    Empty,
    #[error("{0:?} has no unit: add one (s, m, h or d), e.g. {0}h or {0}s")]
    NoUnit(String),
    #[error("{0:?} is not a duration: write a number and a unit (s, m, h or d), e.g. 24h, 90m, 1h30m")]
    Malformed(String),
    #[error("{0:?} is not more than zero")]
    NotPositive(String),
    #[error("{0:?} is too long")]
    TooLong(String),
}

/// Parses `<number><unit>` pieces (units `s`, `m`, `h`, `d`; spaces between pieces allowed) into
/// a positive duration.
pub fn parse_duration(raw: &str) -> Result<Duration, DurationError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DurationError::NoUnit(text.to_owned()));
    }
    let malformed = || DurationError::Malformed(text.to_owned());
    let too_long = || DurationError::TooLong(text.to_owned());
    let mut total: i64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(malformed());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| too_long())?;
        let after = rest[digits..].trim_start();
        let unit_len = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let seconds_per: i64 = match after[..unit_len].to_ascii_lowercase().as_str() {
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86_400,
            _ => return Err(malformed()),
        };
        let piece = n.checked_mul(seconds_per).ok_or_else(too_long)?;
        total = total.checked_add(piece).ok_or_else(too_long)?;
        rest = after[unit_len..].trim_start();
    }
    if total == 0 {
        return Err(DurationError::NotPositive(text.to_owned()));
    }
    // chrono panics above about 292 billion years; nothing sensible is that long.
    Duration::try_seconds(total).ok_or_else(too_long)
}

/// `24h`, `90m`, `45s`, `7d` or `1h30m`: the shortest way to write `d` back.
pub fn format_duration(d: Duration) -> String {
    let mut s = d.num_seconds();
    if s <= 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if s >= size {
            out.push_str(&format!("{}{unit}", s / size));
            s %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_a_user_writes_is_understood() {
        assert_eq!(parse_duration("24h"), Ok(Duration::hours(24)));
        assert_eq!(parse_duration("86400s"), Ok(Duration::hours(24)));
        assert_eq!(parse_duration("90m"), Ok(Duration::minutes(90)));
        assert_eq!(parse_duration("7d"), Ok(Duration::days(7)));
        assert_eq!(parse_duration(" 1h30m "), Ok(Duration::minutes(90)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::minutes(90)));
        assert_eq!(parse_duration("15 min"), Ok(Duration::minutes(15)));
        assert_eq!(parse_duration("30S"), Ok(Duration::seconds(30)));
    }

    #[test]
    fn a_bare_number_is_refused_with_a_message_saying_to_add_a_unit() {
        let err = parse_duration("24").unwrap_err();
        assert_eq!(err, DurationError::NoUnit("24".into()));
        let msg = err.to_string();
        assert!(msg.contains("no unit") && msg.contains("24h") && msg.contains("24s"), "{msg}");
    }

    #[test]
    fn nonsense_zero_and_overflow_are_refused() {
        for bad in ["", "   ", "h", "-5m", "5x", "1.5h", "5m3", "m5"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(parse_duration("0s"), Err(DurationError::NotPositive(_))));
        assert!(matches!(parse_duration("99999999999999999999d"), Err(DurationError::TooLong(_))));
        assert!(matches!(parse_duration("9223372036854775807d"), Err(DurationError::TooLong(_))));
    }

    #[test]
    fn durations_print_back_in_the_same_notation() {
        for s in ["24h", "90m", "7d", "45s", "1d1h1m1s"] {
            let d = parse_duration(s).unwrap();
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{s}");
        }
        assert_eq!(format_duration(Duration::minutes(90)), "1h30m");
    }
}
