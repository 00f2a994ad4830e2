//! Outcome classification (contract section 3): what one attempt's result means for the
//! job and for the client. Per-client rules come first; the defaults follow.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeClass {
    /// Delivered.
    Success,
    /// The destination or the network failed; retried with backoff for a long window.
    Transient,
    /// The destination rejected the request; retried only briefly, in case a race heals.
    Permanent,
    /// Our credentials were refused; never retried in a loop.
    Unauthorized,
    /// The destination asked us to slow down; retried, honouring `Retry-After`.
    Throttled,
}

impl OutcomeClass {
    pub const ALL: [OutcomeClass; 5] = [
        OutcomeClass::Success,
        OutcomeClass::Transient,
        OutcomeClass::Permanent,
        OutcomeClass::Unauthorized,
        OutcomeClass::Throttled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeClass::Success => "success",
            OutcomeClass::Transient => "transient",
            OutcomeClass::Permanent => "permanent",
            OutcomeClass::Unauthorized => "unauthorized",
            OutcomeClass::Throttled => "throttled",
        }
    }
}

impl fmt::Display for OutcomeClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OutcomeClass {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OutcomeClass::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| {
            ValidationError::new(
                "class",
                format!("must be one of success, transient, permanent, unauthorized, throttled, not {s:?}"),
            )
        })
    }
}

/// One way of naming HTTP statuses in a `classify` rule: `409`, `"409"`, `"4xx"` or
/// `"500-504"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusPattern {
    Exact(u16),
    /// `"4xx"`: every status of that hundred.
    Hundred(u16),
    /// `"500-504"`, both ends included.
    Range(u16, u16),
}

impl StatusPattern {
    pub fn matches(self, status: u16) -> bool {
        match self {
            StatusPattern::Exact(s) => s == status,
            StatusPattern::Hundred(h) => status / 100 == h,
            StatusPattern::Range(lo, hi) => (lo..=hi).contains(&status),
        }
    }
}

fn parse_status_code(s: &str) -> Option<u16> {
    s.parse::<u16>().ok().filter(|n| (100..=599).contains(n))
}

impl FromStr for StatusPattern {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let s = raw.trim();
        let bad =
            || format!("{raw:?} is not a status, a class like \"4xx\" or a range like \"500-504\"");
        if let Some(hundred) = s.strip_suffix("xx").or_else(|| s.strip_suffix("XX")) {
            let h: u16 = hundred.parse().map_err(|_| bad())?;
            return if (1..=5).contains(&h) {
                Ok(StatusPattern::Hundred(h))
            } else {
                Err(bad())
            };
        }
        if let Some((lo, hi)) = s.split_once('-') {
            let (lo, hi) = (
                parse_status_code(lo.trim()).ok_or_else(bad)?,
                parse_status_code(hi.trim()).ok_or_else(bad)?,
            );
            return if lo <= hi {
                Ok(StatusPattern::Range(lo, hi))
            } else {
                Err(bad())
            };
        }
        parse_status_code(s)
            .map(StatusPattern::Exact)
            .ok_or_else(bad)
    }
}

/// A per-client rule: when the status matches (any of the patterns) and the body contains
/// the text, the attempt gets `class`. Absent conditions match everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassifyRule {
    pub status: Vec<StatusPattern>,
    pub body_contains: Option<String>,
    pub class: OutcomeClass,
}

impl ClassifyRule {
    fn matches(&self, status: u16, body: &[u8]) -> bool {
        let status_ok = self.status.is_empty() || self.status.iter().any(|p| p.matches(status));
        status_ok
            && self
                .body_contains
                .as_deref()
                .is_none_or(|needle| contains(body, needle.as_bytes()))
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// The contract's defaults for a response status.
pub fn default_class(status: u16) -> OutcomeClass {
    match status {
        200..=299 => OutcomeClass::Success,
        401 | 403 => OutcomeClass::Unauthorized,
        408 | 425 | 429 => OutcomeClass::Throttled,
        500..=599 => OutcomeClass::Transient,
        // Other 4xx, and also 1xx/3xx: redirects are not followed (following one would get
        // around the network deny list), so a 3xx means the URL is wrong.
        _ => OutcomeClass::Permanent,
    }
}

/// Classifies a response: the first matching client rule wins, then the defaults.
pub fn classify_response(rules: &[ClassifyRule], status: u16, body: &[u8]) -> OutcomeClass {
    rules
        .iter()
        .find(|rule| rule.matches(status, body))
        .map_or_else(|| default_class(status), |rule| rule.class)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(status: &[&str], body: Option<&str>, class: OutcomeClass) -> ClassifyRule {
        ClassifyRule {
            status: status.iter().map(|s| s.parse().unwrap()).collect(),
            body_contains: body.map(str::to_owned),
            class,
        }
    }

    #[test]
    fn defaults_follow_the_contract() {
        use OutcomeClass::*;
        let cases = [
            (200, Success),
            (201, Success),
            (204, Success),
            (299, Success),
            (429, Throttled),
            (408, Throttled),
            (425, Throttled),
            (500, Transient),
            (502, Transient),
            (503, Transient),
            (599, Transient),
            (401, Unauthorized),
            (403, Unauthorized),
            (400, Permanent),
            (404, Permanent),
            (409, Permanent),
            (422, Permanent),
            (301, Permanent),
        ];
        for (status, class) in cases {
            assert_eq!(
                classify_response(&[], status, b""),
                class,
                "status {status}"
            );
        }
    }

    #[test]
    fn client_rules_come_first_in_order() {
        let rules = [
            rule(&["409"], None, OutcomeClass::Transient),
            rule(&["4xx"], Some("duplicate"), OutcomeClass::Success),
        ];
        assert_eq!(
            classify_response(&rules, 409, b"duplicate"),
            OutcomeClass::Transient
        );
        assert_eq!(
            classify_response(&rules, 422, b"a duplicate key"),
            OutcomeClass::Success
        );
        assert_eq!(
            classify_response(&rules, 422, b"bad field"),
            OutcomeClass::Permanent
        );
        assert_eq!(
            classify_response(&rules, 500, b"duplicate"),
            OutcomeClass::Transient
        );
    }

    #[test]
    fn a_body_only_rule_matches_any_status() {
        let rules = [rule(&[], Some("maintenance"), OutcomeClass::Transient)];
        assert_eq!(
            classify_response(&rules, 400, b"down for maintenance"),
            OutcomeClass::Transient
        );
        assert_eq!(
            classify_response(&rules, 400, b"other"),
            OutcomeClass::Permanent
        );
    }

    #[test]
    fn status_patterns_parse() {
        assert_eq!("409".parse(), Ok(StatusPattern::Exact(409)));
        assert_eq!("4xx".parse(), Ok(StatusPattern::Hundred(4)));
        assert_eq!("500-504".parse(), Ok(StatusPattern::Range(500, 504)));
        for bad in ["", "6xx", "0xx", "abc", "99", "600", "504-500", "4x"] {
            assert!(
                bad.parse::<StatusPattern>().is_err(),
                "{bad:?} should not parse"
            );
        }
        assert!(StatusPattern::Range(500, 504).matches(504));
        assert!(!StatusPattern::Range(500, 504).matches(505));
    }

    #[test]
    fn classes_round_trip_through_text() {
        for c in OutcomeClass::ALL {
            assert_eq!(c.as_str().parse::<OutcomeClass>().unwrap(), c);
        }
    }
}
