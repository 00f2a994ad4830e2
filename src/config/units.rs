//! The units configuration values are written in (contract section 7).

use std::time::Duration;

use ferry_domain::SignedDuration;

/// A humantime duration: `100ms`, `5s`, `10m`, `2h`, `7d`.
pub fn parse_duration(text: &str) -> Result<SignedDuration, String> {
    let d = humantime::parse_duration(text.trim()).map_err(|e| {
        format!("{text:?} is not a duration like \"500ms\", \"30s\", \"10m\", \"7d\" ({e})")
    })?;
    SignedDuration::try_from(d).map_err(|_| format!("{text:?} is too long"))
}

/// A size: `64KiB`, `1MiB`, `10MB`, or a plain number of bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|e| format!("{text:?} is not a size like \"64KiB\", \"1MiB\" or \"10MB\" ({e})"))
}

/// `N/s`, `N/min` or `N/h`: a count per period (rates and budgets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerPeriod {
    pub count: u32,
    pub period: Duration,
}

pub fn parse_per_period(text: &str) -> Result<PerPeriod, String> {
    let bad = || format!("{text:?} is not a rate like \"50/s\", \"600/min\" or \"10000/h\"");
    let (count, unit) = text.trim().split_once('/').ok_or_else(bad)?;
    let count: u32 = count.trim().parse().map_err(|_| bad())?;
    let period = match unit.trim() {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "m" | "min" | "minute" => Duration::from_secs(60),
        "h" | "hour" => Duration::from_secs(3600),
        _ => return Err(bad()),
    };
    if count == 0 {
        return Err(format!("{text:?} allows nothing; pause the client instead"));
    }
    Ok(PerPeriod { count, period })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_the_contract_forms() {
        assert_eq!(
            parse_duration("100ms").unwrap(),
            SignedDuration::from_millis(100)
        );
        assert_eq!(
            parse_duration("10m").unwrap(),
            SignedDuration::from_mins(10)
        );
        assert_eq!(
            parse_duration("7d").unwrap(),
            SignedDuration::from_hours(168)
        );
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn sizes_in_the_contract_forms() {
        assert_eq!(parse_size("64KiB").unwrap(), 65536);
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_size("10MB").unwrap(), 10_000_000);
        assert!(parse_size("big").is_err());
    }

    #[test]
    fn rates_per_second_minute_and_hour() {
        assert_eq!(
            parse_per_period("50/s").unwrap(),
            PerPeriod {
                count: 50,
                period: Duration::from_secs(1)
            }
        );
        assert_eq!(
            parse_per_period("600/min").unwrap().period,
            Duration::from_secs(60)
        );
        assert_eq!(parse_per_period("10000/h").unwrap().count, 10000);
        for bad in ["50", "x/s", "5/week", "0/s"] {
            assert!(parse_per_period(bad).is_err(), "{bad}");
        }
    }
}
