//! Events: facts the core system publishes. Only validation lives here; the wire format
//! belongs to the API layer.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Longest topic or event id, in characters (contract section 7).
pub const MAX_NAME_LEN: usize = 200;
/// Longest entity key, in bytes.
pub const MAX_KEY_BYTES: usize = 512;

/// Delivery priority. Claims take `High` before `Normal` before `Low`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    High,
    #[default]
    Normal,
    Low,
}

impl Priority {
    pub const ALL: [Priority; 3] = [Priority::High, Priority::Normal, Priority::Low];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }

    /// Rank used for storage and ordering: lower is served first.
    pub fn rank(self) -> i64 {
        match self {
            Priority::High => 0,
            Priority::Normal => 1,
            Priority::Low => 2,
        }
    }

    pub fn from_rank(rank: i64) -> Option<Priority> {
        Priority::ALL.into_iter().find(|p| p.rank() == rank)
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Priority {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Priority::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                ValidationError::new(
                    "priority",
                    format!("must be high, normal or low, not {s:?}"),
                )
            })
    }
}

/// A field that breaks the contract's rules, named so the caller can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError {
            field: field.into(),
            message: message.into(),
        }
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')
}

fn check_name(field: &str, value: &str) -> Result<(), ValidationError> {
    let len = value.chars().count();
    if len == 0 || len > MAX_NAME_LEN {
        return Err(ValidationError::new(
            field,
            format!("must be 1 to {MAX_NAME_LEN} characters long"),
        ));
    }
    if let Some(bad) = value.chars().find(|c| !is_name_char(*c)) {
        return Err(ValidationError::new(
            field,
            format!("may only contain A-Z a-z 0-9 . _ : - (found {bad:?})"),
        ));
    }
    Ok(())
}

/// A topic: 1 to 200 characters of `[A-Za-z0-9._:-]`.
pub fn validate_topic(topic: &str) -> Result<(), ValidationError> {
    check_name("topic", topic)
}

/// A caller-given event id: 1 to 200 characters of `[A-Za-z0-9._:-]`.
pub fn validate_event_id(id: &str) -> Result<(), ValidationError> {
    check_name("id", id)
}

/// A key names the entity an event is about; at most 512 bytes.
pub fn validate_key(key: &str) -> Result<(), ValidationError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(ValidationError::new(
            "key",
            format!("must be at most {MAX_KEY_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// Names of clients and subscriptions (config keys, URL path segments).
pub fn validate_component_name(field: &str, name: &str) -> Result<(), ValidationError> {
    let len = name.chars().count();
    if len == 0 || len > 100 {
        return Err(ValidationError::new(
            field,
            "must be 1 to 100 characters long",
        ));
    }
    if let Some(bad) = name.chars().find(|c| !is_name_char(*c)) {
        return Err(ValidationError::new(
            field,
            format!("may only contain A-Z a-z 0-9 . _ : - (found {bad:?})"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_follow_the_contract_alphabet() {
        assert!(validate_topic("customer.updated").is_ok());
        assert!(validate_topic("a:b-c.D9").is_ok());
        assert!(validate_topic("").is_err());
        assert!(validate_topic(&"a".repeat(200)).is_ok());
        assert!(validate_topic(&"a".repeat(201)).is_err());
        assert!(validate_topic("customer updated").is_err());
        assert!(validate_topic("customer/updated").is_err());
        assert!(validate_topic("order_line.created").is_ok());
        assert!(validate_topic("customer.*").is_err());
    }

    #[test]
    fn keys_are_limited_in_bytes_not_characters() {
        assert!(validate_key(&"é".repeat(256)).is_ok()); // 512 bytes
        assert!(validate_key(&"é".repeat(257)).is_err());
        assert!(validate_key("").is_ok());
    }

    #[test]
    fn priorities_parse_and_rank() {
        assert_eq!("high".parse::<Priority>().unwrap(), Priority::High);
        assert!("urgent".parse::<Priority>().is_err());
        assert!(Priority::High.rank() < Priority::Normal.rank());
        assert!(Priority::Normal.rank() < Priority::Low.rank());
        for p in Priority::ALL {
            assert_eq!(Priority::from_rank(p.rank()), Some(p));
        }
    }
}
