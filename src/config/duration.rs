//! Human-readable durations in config files: `"10s"`, `"500ms"`, `"14days"`, `"1h 30m"`.
//!
//! A small hand-written parser in the spirit of `humantime`: one or more `<integer><unit>` groups,
//! optionally separated by spaces. A bare number is refused, because a unit-less duration in a
//! config file is a bug waiting to happen. [`HumanDuration`] is the other direction, for logs
//! and messages: `150ms`, `1.5s`, `2m30s`, `14d`.

use std::fmt;
use std::time::Duration;

/// Parses a duration such as `"10s"`, `"500ms"`, `"14days"` or `"1h 30min"`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration; expected something like \"10s\" or \"500ms\"".into());
    }
    let bytes = s.as_bytes();
    let mut total: u128 = 0;
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(format!(
                "invalid duration {text:?}: expected a number at {:?}",
                &s[start..]
            ));
        }
        let number: u128 = s[start..i]
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: number too large"))?;
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        let unit_start = i;
        while i < bytes.len() && !bytes[i].is_ascii_digit() && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let unit = &s[unit_start..i];
        if unit.is_empty() {
            return Err(format!(
                "invalid duration {text:?}: missing unit (use ms, s, min, h, days, …)"
            ));
        }
        let nanos_per_unit = unit_nanos(unit).ok_or_else(|| {
            format!(
                "invalid duration {text:?}: unknown unit {unit:?} (use ns, us, ms, s, min, h, days or weeks)"
            )
        })?;
        total = number
            .checked_mul(nanos_per_unit)
            .and_then(|n| total.checked_add(n))
            .ok_or_else(|| format!("invalid duration {text:?}: too large"))?;
    }
    let secs = u64::try_from(total / 1_000_000_000)
        .map_err(|_| format!("invalid duration {text:?}: too large"))?;
    // The remainder is < 1e9, so it always fits in a u32.
    let nanos = (total % 1_000_000_000) as u32;
    Ok(Duration::new(secs, nanos))
}

fn unit_nanos(unit: &str) -> Option<u128> {
    const S: u128 = 1_000_000_000;
    Some(match unit {
        "ns" | "nsec" | "nanos" => 1,
        "us" | "µs" | "usec" | "micros" => 1_000,
        "ms" | "msec" | "millis" => 1_000_000,
        "s" | "sec" | "secs" | "second" | "seconds" => S,
        "m" | "min" | "mins" | "minute" | "minutes" => 60 * S,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600 * S,
        "d" | "day" | "days" => 86_400 * S,
        "w" | "week" | "weeks" => 604_800 * S,
        _ => return None,
    })
}

/// Formats a duration compactly for messages, e.g. `1h30m`, `500ms`, `14days`.
#[cfg(any(test, feature = "devnet"))]
pub(crate) fn format_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".into();
    }
    if d.subsec_nanos() != 0 {
        if d.as_nanos().is_multiple_of(1_000_000) {
            return format!("{}ms", d.as_millis());
        }
        return format!("{}ns", d.as_nanos());
    }
    let mut secs = d.as_secs();
    let mut out = String::new();
    for (unit, len) in [("days", 86_400), ("h", 3_600), ("min", 60), ("s", 1)] {
        if secs >= len {
            out.push_str(&format!("{}{unit}", secs / len));
            secs %= len;
        }
    }
    out
}

/// A duration as logs and messages show it, rounded to what a reader needs: `0s`, `850us`,
/// `150ms`, `1.5s`, `12.25s`, `2m30s`, `1h5m`, `14d`. Log fields take it with `%`
/// (`delay = %HumanDuration(d)`), never the `Debug` form (`1.234567891s`, `1209600s`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HumanDuration(pub(crate) Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        let micros = d.as_micros();
        if micros == 0 {
            return if d.is_zero() {
                f.write_str("0s")
            } else {
                write!(f, "{}ns", d.as_nanos())
            };
        }
        if micros < 1_000 {
            return write!(f, "{micros}us");
        }
        // Milliseconds below a second, rounded; 999.6ms reads as 1s.
        let millis = (micros + 500) / 1_000;
        if millis < 1_000 {
            return write!(f, "{millis}ms");
        }
        // Seconds with up to two decimals below a minute; 59.996s reads as 1m.
        let centis = (micros + 5_000) / 10_000;
        if centis < 6_000 {
            let (whole, frac) = (centis / 100, centis % 100);
            return match frac {
                0 => write!(f, "{whole}s"),
                f2 if f2 % 10 == 0 => write!(f, "{whole}.{}s", f2 / 10),
                f2 => write!(f, "{whole}.{f2:02}s"),
            };
        }
        // Whole units from a minute on, zero ones left out: 2m30s, 1h, 14d, 1d2h.
        let mut secs = (micros + 500_000) / 1_000_000;
        for (unit, len) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
            if secs >= len {
                write!(f, "{}{unit}", secs / len)?;
                secs %= len;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_show_durations_as_people_write_them() {
        let show = |d: Duration| HumanDuration(d).to_string();
        assert_eq!(show(Duration::ZERO), "0s");
        assert_eq!(show(Duration::from_nanos(300)), "300ns");
        assert_eq!(show(Duration::from_micros(850)), "850us");
        assert_eq!(show(Duration::from_millis(150)), "150ms");
        assert_eq!(show(Duration::from_micros(999_600)), "1s");
        assert_eq!(show(Duration::from_millis(1_500)), "1.5s");
        assert_eq!(show(Duration::from_nanos(1_234_567_891)), "1.23s");
        assert_eq!(show(Duration::from_millis(12_250)), "12.25s");
        assert_eq!(show(Duration::from_secs(10)), "10s");
        assert_eq!(show(Duration::from_millis(59_996)), "1m");
        assert_eq!(show(Duration::from_secs(150)), "2m30s");
        assert_eq!(show(Duration::from_millis(150_400)), "2m30s");
        assert_eq!(show(Duration::from_secs(3_900)), "1h5m");
        assert_eq!(show(Duration::from_secs(14 * 86_400)), "14d");
        assert_eq!(show(Duration::from_secs(93_784)), "1d2h3m4s");
        // From a minute on, what the log shows is a valid config duration.
        for secs in [60, 150, 3_600, 93_784, 14 * 86_400] {
            let d = Duration::from_secs(secs);
            assert_eq!(parse_duration(&show(d)), Ok(d), "{secs}s");
        }
    }

    #[test]
    fn parses_common_forms() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(
            parse_duration("14days"),
            Ok(Duration::from_secs(14 * 86_400))
        );
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("2min5s"), Ok(Duration::from_secs(125)));
        assert_eq!(
            parse_duration(" 3 days "),
            Ok(Duration::from_secs(3 * 86_400))
        );
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn refuses_bad_forms() {
        for bad in [
            "",
            "10",
            "s",
            "10 parsecs",
            "1.5s",
            "-1s",
            "99999999999999999999999999999days",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn formats_round_trip() {
        for d in ["10s", "500ms", "14days", "1h30min", "1days1h1min1s"] {
            let parsed = parse_duration(d).unwrap();
            assert_eq!(parse_duration(&format_duration(parsed)).unwrap(), parsed);
        }
    }
}
