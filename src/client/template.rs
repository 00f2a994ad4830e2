//! The HTTP client's templates (minijinja), compiled once per client.
//!
//! Where a rendered value lands decides how it is written:
//! - in the **URL**, every inserted value is percent-encoded (all but RFC 3986's unreserved
//!   characters), so an event key such as `a/../b?x=1` stays one path segment and cannot
//!   steer the request elsewhere; `| safe` inserts a value as it is, and `| urlencode`
//!   is not encoded twice;
//! - in the URL, the **method** and **headers**, a null or missing value is an error rather
//!   than the text `none` (an event without a key must not reach `/crm/none`);
//! - in the **body**, values are written as they are (`{{ event.data | tojson }}`).

use minijinja::{Environment, Error, ErrorKind, Output, State, UndefinedBehavior, Value};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but `A-Z a-z 0-9 - . _ ~` is encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Url,
    /// Method and header values.
    Text,
    Body,
}

#[derive(Debug, Clone)]
pub enum Part {
    Fixed(String),
    Template { place: Place, name: String },
}

impl Part {
    pub fn is_template(&self) -> bool {
        matches!(self, Part::Template { .. })
    }
}

pub struct Templates {
    url: Environment<'static>,
    text: Environment<'static>,
    body: Environment<'static>,
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

fn null_error(place: &str) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("a value inserted in the {place} is null (an event without a key?)"),
    )
}

fn write_failed(_: std::fmt::Error) -> Error {
    Error::new(
        ErrorKind::WriteFailure,
        "could not write the rendered value",
    )
}

impl Default for Templates {
    fn default() -> Self {
        Templates::new()
    }
}

impl Templates {
    pub fn new() -> Templates {
        let mut url = environment();
        url.set_formatter(|out: &mut Output, _: &mut State, value: &Value| {
            if value.is_none() {
                return Err(null_error("URL"));
            }
            if value.is_safe() {
                return write!(out, "{value}").map_err(write_failed);
            }
            write!(
                out,
                "{}",
                utf8_percent_encode(&value.to_string(), COMPONENT)
            )
            .map_err(write_failed)
        });
        // `urlencode` already encodes: mark its result safe so it is not encoded again.
        url.add_filter("urlencode", |value: &Value| {
            minijinja::filters::urlencode(value)
                .map(|text| Value::from_safe_string(text.to_string()))
        });
        let mut text = environment();
        text.set_formatter(|out: &mut Output, _: &mut State, value: &Value| {
            if value.is_none() {
                return Err(null_error("method or a header"));
            }
            write!(out, "{value}").map_err(write_failed)
        });
        Templates {
            url,
            text,
            body: environment(),
        }
    }

    fn env(&self, place: Place) -> &Environment<'static> {
        match place {
            Place::Url => &self.url,
            Place::Text => &self.text,
            Place::Body => &self.body,
        }
    }

    /// Compiles `source` (or keeps it as fixed text when it has no template syntax).
    pub fn add(&mut self, place: Place, name: String, source: &str) -> Result<Part, Error> {
        if !source.contains("{{") && !source.contains("{%") {
            return Ok(Part::Fixed(source.to_owned()));
        }
        let env = match place {
            Place::Url => &mut self.url,
            Place::Text => &mut self.text,
            Place::Body => &mut self.body,
        };
        env.add_template_owned(name.clone(), source.to_owned())?;
        Ok(Part::Template { place, name })
    }

    pub fn render(&self, part: &Part, ctx: &Value) -> Result<String, String> {
        match part {
            Part::Fixed(text) => Ok(text.clone()),
            Part::Template { place, name } => self
                .env(*place)
                .get_template(name)
                .and_then(|t| t.render(ctx))
                .map_err(|e| format!("template {name} failed: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use minijinja::context;

    use super::*;

    fn render(place: Place, source: &str, key: Option<&str>) -> Result<String, String> {
        let mut t = Templates::new();
        let part = t
            .add(place, "t".into(), source)
            .map_err(|e| e.to_string())?;
        t.render(
            &part,
            &context! { event => context! { key => key, topic => "customer.updated" } },
        )
    }

    #[test]
    fn url_values_are_one_encoded_segment_each() {
        let url = "http://x/crm/{{ event.topic }}/{{ event.key }}";
        assert_eq!(
            render(Place::Url, url, Some("c-42")).unwrap(),
            "http://x/crm/customer.updated/c-42"
        );
        assert_eq!(
            render(Place::Url, url, Some("../../admin?delete=1#")).unwrap(),
            "http://x/crm/customer.updated/..%2F..%2Fadmin%3Fdelete%3D1%23"
        );
        assert_eq!(
            render(Place::Url, url, Some("Ada Lovelace")).unwrap(),
            "http://x/crm/customer.updated/Ada%20Lovelace"
        );
        assert_eq!(
            render(Place::Url, "http://api{{ event.key }}", Some("@evil.com")).unwrap(),
            "http://api%40evil.com"
        );
    }

    #[test]
    fn safe_and_urlencode_are_not_encoded_twice() {
        assert_eq!(
            render(Place::Url, "http://x/{{ event.key | safe }}", Some("a/b")).unwrap(),
            "http://x/a/b"
        );
        assert_eq!(
            render(
                Place::Url,
                "http://x/{{ event.key | urlencode }}",
                Some("a b")
            )
            .unwrap(),
            "http://x/a%20b"
        );
    }

    #[test]
    fn null_values_are_errors_in_urls_and_headers_but_not_bodies() {
        assert!(
            render(Place::Url, "http://x/{{ event.key }}", None)
                .unwrap_err()
                .contains("null")
        );
        assert!(
            render(Place::Text, "{{ event.key }}", None)
                .unwrap_err()
                .contains("null")
        );
        assert_eq!(
            render(Place::Body, "{{ event.key | tojson }}", None).unwrap(),
            "null"
        );
        assert!(
            render(Place::Url, "http://x/{{ event.nope }}", Some("k")).is_err(),
            "undefined is an error"
        );
    }

    #[test]
    fn text_without_template_syntax_is_fixed() {
        let mut t = Templates::new();
        assert!(matches!(
            t.add(Place::Url, "u".into(), "http://x/a%20b").unwrap(),
            Part::Fixed(_)
        ));
    }
}
