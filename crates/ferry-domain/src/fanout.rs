//! Fan-out: which subscriptions an event goes to. One job is made per match.

use std::collections::BTreeMap;

/// A subscription's topic: an exact topic, or a prefix ending in `*` (`customer.*`, `*`).
/// `*` is outside the topic alphabet, so a pattern can never be mistaken for a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicPattern {
    Exact(String),
    Prefix(String),
}

impl TopicPattern {
    pub fn parse(pattern: &str) -> TopicPattern {
        match pattern.strip_suffix('*') {
            Some(prefix) => TopicPattern::Prefix(prefix.to_owned()),
            None => TopicPattern::Exact(pattern.to_owned()),
        }
    }

    pub fn matches(&self, topic: &str) -> bool {
        match self {
            TopicPattern::Exact(t) => t == topic,
            TopicPattern::Prefix(p) => topic.starts_with(p.as_str()),
        }
    }
}

/// Every listed attribute must be present with exactly that value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttributeFilter {
    pub equals: BTreeMap<String, String>,
}

impl AttributeFilter {
    pub fn matches(&self, attributes: &BTreeMap<String, String>) -> bool {
        self.equals
            .iter()
            .all(|(name, want)| attributes.get(name) == Some(want))
    }
}

/// The routing part of a subscription: what it listens to and where it delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub name: String,
    pub topics: Vec<TopicPattern>,
    pub client: String,
    pub filter: AttributeFilter,
    /// One delivery at a time per key, in publish order.
    pub ordered: bool,
    /// A newer pending event for a key supersedes older pending ones.
    pub coalesce: bool,
}

impl Subscription {
    pub fn matches(&self, topic: &str, attributes: &BTreeMap<String, String>) -> bool {
        self.topics.iter().any(|t| t.matches(topic)) && self.filter.matches(attributes)
    }
}

/// The subscriptions an event fans out to, in the order given.
pub fn matching<'a>(
    subscriptions: &'a [Subscription],
    topic: &'a str,
    attributes: &'a BTreeMap<String, String>,
) -> impl Iterator<Item = &'a Subscription> + 'a {
    subscriptions
        .iter()
        .filter(move |s| s.matches(topic, attributes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(name: &str, topics: &[&str], filter: &[(&str, &str)]) -> Subscription {
        Subscription {
            name: name.into(),
            topics: topics.iter().map(|t| TopicPattern::parse(t)).collect(),
            client: "c".into(),
            filter: AttributeFilter {
                equals: filter
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            },
            ordered: false,
            coalesce: false,
        }
    }

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn one_match_per_subscription_on_its_topics() {
        let subs = [
            sub("a", &["customer.created", "customer.updated"], &[]),
            sub("b", &["order.created"], &[]),
            sub("c", &["customer.*"], &[]),
            sub("all", &["*"], &[]),
        ];
        let names = |topic| {
            matching(&subs, topic, &attrs(&[]))
                .map(|s| s.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names("customer.updated"), ["a", "c", "all"]);
        assert_eq!(names("order.created"), ["b", "all"]);
        assert_eq!(
            names("customer"),
            ["all"],
            "a prefix pattern needs the prefix itself"
        );
    }

    #[test]
    fn attribute_filters_need_every_value() {
        let eu = sub("eu", &["t"], &[("region", "eu")]);
        assert!(eu.matches("t", &attrs(&[("region", "eu"), ("tier", "gold")])));
        assert!(!eu.matches("t", &attrs(&[("region", "us")])));
        assert!(!eu.matches("t", &attrs(&[])));
    }
}
