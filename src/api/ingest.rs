//! Reading published events off the wire: Ferry's JSON, CloudEvents (structured and
//! binary), and batches as a JSON array or NDJSON. Everything is validated here, before
//! anything is stored; a batch with one bad event is refused whole.

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use base64::Engine;
use ferry_domain::event::{validate_event_id, validate_key, validate_topic};
use ferry_domain::{Priority, Timestamp};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::{ApiError, json_error};
use crate::hub::PublishRequest;

/// The most events one batch may carry.
pub const MAX_BATCH: usize = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventJson<'a> {
    id: Option<String>,
    topic: Option<String>,
    key: Option<String>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    attributes: Option<BTreeMap<String, String>>,
    priority: Option<String>,
    created_at: Option<String>,
}

/// Data must read back as a JSON value, not only pass the grammar: numbers out of range
/// (`1e400`) and lone surrogates (`"\ud800"`) are refused here rather than turning into
/// something else on the way out.
fn check_data(prefix: &str, raw: &str) -> Result<(), ApiError> {
    serde_json::from_str::<serde_json::Value>(raw)
        .map(drop)
        .map_err(|e| invalid(prefix, format!("data: {e}")))
}

fn invalid(prefix: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::invalid(format!("{prefix}{message}"))
}

fn validated(prefix: &str, raw: EventJson<'_>) -> Result<PublishRequest, ApiError> {
    let topic = raw
        .topic
        .ok_or_else(|| invalid(prefix, "topic: is required"))?;
    validate_topic(&topic).map_err(|e| invalid(prefix, e))?;
    if let Some(id) = &raw.id {
        validate_event_id(id).map_err(|e| invalid(prefix, e))?;
    }
    if let Some(key) = &raw.key {
        validate_key(key).map_err(|e| invalid(prefix, e))?;
    }
    let priority = match raw.priority.as_deref() {
        None => Priority::Normal,
        Some(p) => p.parse().map_err(|e| invalid(prefix, e))?,
    };
    let created_at = raw
        .created_at
        .map(|t| {
            t.parse::<Timestamp>().map_err(|e| {
                invalid(
                    prefix,
                    format!("created_at: {t:?} is not an RFC 3339 time ({e})"),
                )
            })
        })
        .transpose()?;
    if let Some(data) = raw.data {
        check_data(prefix, data.get())?;
    }
    Ok(PublishRequest {
        id: raw.id,
        topic,
        key: raw.key,
        data: raw
            .data
            .map_or_else(|| "null".to_owned(), |d| d.get().to_owned()),
        attributes: raw.attributes.unwrap_or_default(),
        priority,
        created_at,
    })
}

/// One event in Ferry's own JSON.
pub fn json_event(body: &[u8]) -> Result<PublishRequest, ApiError> {
    let raw: EventJson<'_> =
        serde_json::from_slice(body).map_err(|e| json_error("the event", &e))?;
    validated("", raw)
}

/// A batch: NDJSON when the content type says so, otherwise a JSON array.
pub fn batch(content_type: Option<&str>, body: &[u8]) -> Result<Vec<PublishRequest>, ApiError> {
    let ndjson = content_type.is_some_and(|ct| {
        let ct = ct.split(';').next().unwrap_or_default().trim();
        ct.eq_ignore_ascii_case("application/x-ndjson")
            || ct.eq_ignore_ascii_case("application/ndjson")
    });
    let events = if ndjson {
        ndjson_batch(body)?
    } else {
        array_batch(body)?
    };
    if events.is_empty() {
        return Err(ApiError::invalid("the batch has no events"));
    }
    Ok(events)
}

fn check_size(count: usize) -> Result<(), ApiError> {
    if count > MAX_BATCH {
        return Err(ApiError::invalid(format!(
            "a batch carries at most {MAX_BATCH} events"
        )));
    }
    Ok(())
}

fn array_batch(body: &[u8]) -> Result<Vec<PublishRequest>, ApiError> {
    let items: Vec<&RawValue> = serde_json::from_slice(body).map_err(|e| {
        if e.classify() == serde_json::error::Category::Data {
            ApiError::invalid(
                "a batch is a JSON array of events, or NDJSON sent as application/x-ndjson",
            )
        } else {
            json_error("the batch", &e)
        }
    })?;
    check_size(items.len())?;
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let prefix = format!("events[{i}]: ");
            let raw: EventJson<'_> = serde_json::from_str(item.get())
                .map_err(|e| json_error(&format!("events[{i}]"), &e))?;
            validated(&prefix, raw)
        })
        .collect()
}

fn ndjson_batch(body: &[u8]) -> Result<Vec<PublishRequest>, ApiError> {
    let mut events = Vec::new();
    for (i, line) in body.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let raw: EventJson<'_> =
            serde_json::from_slice(line).map_err(|e| json_error(&format!("line {}", i + 1), &e))?;
        events.push(validated(&format!("line {}: ", i + 1), raw)?);
        check_size(events.len())?;
    }
    Ok(events)
}

fn is_json_media_type(content_type: &str) -> bool {
    let ct = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    ct == "application/json" || ct.ends_with("+json") || ct == "text/json"
}

/// A CloudEvents `data` payload as JSON text: JSON stays JSON, text becomes a string.
fn cloudevent_data(content_type: Option<&str>, body: &[u8]) -> Result<String, ApiError> {
    if body.is_empty() {
        return Ok("null".to_owned());
    }
    match content_type {
        None => json_text(body),
        Some(ct) if is_json_media_type(ct) => json_text(body),
        Some(ct) if ct.trim_start().to_ascii_lowercase().starts_with("text/") => {
            let text = std::str::from_utf8(body)
                .map_err(|_| ApiError::malformed("the text data is not UTF-8"))?;
            Ok(serde_json::to_string(text).unwrap_or_default())
        }
        Some(ct) => Err(ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("CloudEvents data of type {ct:?} is not supported; send JSON or text"),
        )),
    }
}

fn json_text(body: &[u8]) -> Result<String, ApiError> {
    let raw: &RawValue = serde_json::from_slice(body).map_err(|e| json_error("the data", &e))?;
    Ok(raw.get().to_owned())
}

/// The context attributes CloudEvents defines, and where Ferry puts them.
const CE_CONSUMED: [&str; 5] = ["specversion", "type", "id", "subject", "time"];

fn from_cloudevent(
    attrs: BTreeMap<String, String>,
    data: String,
) -> Result<PublishRequest, ApiError> {
    let get = |name: &str| attrs.get(name).cloned();
    let need = |name: &str| {
        get(name)
            .ok_or_else(|| ApiError::invalid(format!("CloudEvents attribute {name} is required")))
    };
    let specversion = need("specversion")?;
    if !specversion.starts_with("1.") {
        return Err(ApiError::invalid(format!(
            "CloudEvents specversion {specversion:?} is not supported (1.0 is)"
        )));
    }
    need("source")?;
    let topic = need("type")?;
    validate_topic(&topic)
        .map_err(|e| ApiError::invalid(format!("type (the topic): {}", e.message)))?;
    let id = need("id")?;
    validate_event_id(&id).map_err(|e| ApiError::invalid(format!("id: {}", e.message)))?;
    let key = get("subject");
    if let Some(key) = &key {
        validate_key(key)
            .map_err(|e| ApiError::invalid(format!("subject (the key): {}", e.message)))?;
    }
    let created_at = get("time")
        .map(|t| {
            t.parse::<Timestamp>().map_err(|e| {
                ApiError::invalid(format!("time: {t:?} is not an RFC 3339 time ({e})"))
            })
        })
        .transpose()?;
    let priority = match get("priority") {
        Some(p) => p
            .parse()
            .map_err(|e: ferry_domain::ValidationError| ApiError::invalid(e.to_string()))?,
        None => Priority::Normal,
    };
    let attributes = attrs
        .into_iter()
        .filter(|(name, _)| !CE_CONSUMED.contains(&name.as_str()) && name != "priority")
        .collect();
    check_data("", &data)?;
    Ok(PublishRequest {
        id: Some(id),
        topic,
        key,
        data,
        attributes,
        priority,
        created_at,
    })
}

/// CloudEvents structured mode (`application/cloudevents+json`).
pub fn structured_cloudevent(body: &[u8]) -> Result<PublishRequest, ApiError> {
    let fields: BTreeMap<String, &RawValue> =
        serde_json::from_slice(body).map_err(|e| json_error("the CloudEvent", &e))?;
    let mut attrs = BTreeMap::new();
    let mut data = None;
    let mut data_base64 = None;
    for (name, value) in fields {
        match name.as_str() {
            "data" => data = Some(value.get().to_owned()),
            "data_base64" => data_base64 = Some(value.get().to_owned()),
            _ => {
                // Attributes are strings; other JSON scalars keep their text (`true`, `3`).
                let text = match serde_json::from_str::<serde_json::Value>(value.get()) {
                    Ok(serde_json::Value::String(s)) => s,
                    Ok(serde_json::Value::Null) => continue,
                    Ok(serde_json::Value::Bool(_) | serde_json::Value::Number(_)) => {
                        value.get().to_owned()
                    }
                    _ => {
                        return Err(ApiError::invalid(format!(
                            "CloudEvents attribute {name} must be a string"
                        )));
                    }
                };
                attrs.insert(name, text);
            }
        }
    }
    let data = match (data, data_base64) {
        (Some(data), _) => data,
        // Binary data travels base64-encoded; decoded, it is read like a binary-mode body.
        (None, Some(encoded)) => {
            let text: String = serde_json::from_str(&encoded)
                .map_err(|_| ApiError::invalid("CloudEvents data_base64 must be a string"))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|e| {
                    ApiError::invalid(format!("CloudEvents data_base64 is not base64: {e}"))
                })?;
            cloudevent_data(attrs.get("datacontenttype").map(String::as_str), &bytes)?
        }
        (None, None) => "null".to_owned(),
    };
    from_cloudevent(attrs, data)
}

/// CloudEvents binary mode: attributes in `ce-*` headers, the data as the body.
pub fn binary_cloudevent(headers: &HeaderMap, body: &[u8]) -> Result<PublishRequest, ApiError> {
    let mut attrs = BTreeMap::new();
    for (name, value) in headers {
        if let Some(attr) = name.as_str().strip_prefix("ce-") {
            // The HTTP binding percent-encodes what a header cannot carry.
            let text = value
                .to_str()
                .ok()
                .and_then(|v| percent_encoding::percent_decode_str(v).decode_utf8().ok())
                .ok_or_else(|| {
                    ApiError::malformed(format!("header {name} is not percent-encoded UTF-8"))
                })?;
            attrs.insert(attr.to_owned(), text.into_owned());
        }
    }
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if let Some(ct) = content_type {
        attrs.insert("datacontenttype".to_owned(), ct.to_owned());
    }
    let data = cloudevent_data(content_type, body)?;
    from_cloudevent(attrs, data)
}

/// `Prefer: wait=N` (RFC 7240), N in seconds, at most [`MAX_WAIT_SECS`].
pub fn prefer_wait(headers: &HeaderMap) -> Result<Option<std::time::Duration>, ApiError> {
    for value in headers.get_all("prefer") {
        let text = value
            .to_str()
            .map_err(|_| ApiError::malformed("the Prefer header is not visible ASCII"))?;
        for preference in text.split([',', ';']) {
            let Some((name, n)) = preference.split_once('=') else {
                continue;
            };
            if !name.trim().eq_ignore_ascii_case("wait") {
                continue;
            }
            let n = n.trim().trim_matches('"');
            let secs: u64 = n.parse().map_err(|_| {
                ApiError::malformed(format!("Prefer: wait={n} is not a whole number of seconds"))
            })?;
            return Ok(Some(std::time::Duration::from_secs(
                secs.min(MAX_WAIT_SECS),
            )));
        }
    }
    Ok(None)
}

/// The longest a publisher may wait for its deliveries.
pub const MAX_WAIT_SECS: u64 = 300;

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn a_minimal_event_gets_the_defaults() {
        let e = json_event(br#"{"topic": "customer.updated"}"#).unwrap();
        assert_eq!(e.topic, "customer.updated");
        assert_eq!(e.data, "null");
        assert_eq!(e.priority, Priority::Normal);
        assert!(e.id.is_none() && e.key.is_none() && e.attributes.is_empty());
    }

    #[test]
    fn data_is_kept_byte_for_byte() {
        let e = json_event(br#"{"topic":"t","data":{"n": 1.50, "big": 12345678901234567890}}"#)
            .unwrap();
        assert_eq!(e.data, r#"{"n": 1.50, "big": 12345678901234567890}"#);
    }

    #[test]
    fn bad_events_are_422_and_bad_json_is_400() {
        for (body, status) in [
            (&br#"{"topic": "a b"}"#[..], 422),
            (br#"{"key": "k"}"#, 422),
            (br#"{"topic": "t", "priority": "urgent"}"#, 422),
            (br#"{"topic": "t", "attributes": {"a": 1}}"#, 422),
            (br#"{"topic": "t", "colour": "red"}"#, 422),
            (br#"{"topic": "t", "id": "has space"}"#, 422),
            (br#"{"topic": "t", "created_at": "yesterday"}"#, 422),
            (br#"["topic"]"#, 422),
            (br#"{"topic": "t""#, 400),
            (b"", 400),
            (b"not json", 400),
        ] {
            let err = json_event(body)
                .err()
                .unwrap_or_else(|| panic!("{} should fail", String::from_utf8_lossy(body)));
            assert_eq!(
                err.status.as_u16(),
                status,
                "{}: {}",
                String::from_utf8_lossy(body),
                err.message
            );
        }
    }

    #[test]
    fn data_that_cannot_be_read_back_is_refused() {
        for body in [
            &br#"{"topic":"t","data":{"n":1e400}}"#[..],
            br#"{"topic":"t","data":"\ud800"}"#,
        ] {
            let err = json_event(body).expect_err("refused");
            assert_eq!(err.status.as_u16(), 422, "{}", err.message);
            assert!(err.message.starts_with("data:"), "{}", err.message);
        }
        let ce = br#"{"specversion":"1.0","type":"t","source":"s","id":"1","data":{"n":-1e999}}"#;
        assert_eq!(
            structured_cloudevent(ce)
                .expect_err("refused")
                .status
                .as_u16(),
            422
        );
    }

    #[test]
    fn batches_name_the_bad_item() {
        let err = batch(None, br#"[{"topic":"a"},{"topic":"b c"}]"#)
            .err()
            .unwrap();
        assert!(
            err.message.starts_with("events[1]: topic"),
            "{}",
            err.message
        );
        let err = batch(
            Some("application/x-ndjson"),
            b"{\"topic\":\"a\"}\n\n{\"topic\":\"\"}\n",
        )
        .err()
        .unwrap();
        assert!(err.message.starts_with("line 3: topic"), "{}", err.message);
        assert_eq!(
            batch(
                Some("application/ndjson"),
                b"{\"topic\":\"a\"}\n{\"topic\":\"b\"}"
            )
            .unwrap()
            .len(),
            2
        );
        assert_eq!(batch(None, b"[]").err().unwrap().status.as_u16(), 422);
        assert_eq!(
            batch(None, br#"{"topic":"a"}"#)
                .err()
                .unwrap()
                .status
                .as_u16(),
            422
        );
    }

    #[test]
    fn structured_cloudevents_map_type_subject_and_extensions() {
        let e = structured_cloudevent(
            br#"{"specversion":"1.0","type":"customer.updated","source":"/core","id":"A-1",
                "subject":"cust-9","region":"eu","seq":3,"data":{"name":"Ada"}}"#,
        )
        .unwrap();
        assert_eq!(
            (e.topic.as_str(), e.key.as_deref(), e.id.as_deref()),
            ("customer.updated", Some("cust-9"), Some("A-1"))
        );
        assert_eq!(e.data, r#"{"name":"Ada"}"#);
        assert_eq!(e.attributes.get("region").map(String::as_str), Some("eu"));
        assert_eq!(e.attributes.get("seq").map(String::as_str), Some("3"));
        assert_eq!(
            e.attributes.get("source").map(String::as_str),
            Some("/core")
        );
        assert!(
            structured_cloudevent(br#"{"specversion":"1.0","type":"t","source":"s"}"#).is_err(),
            "id is required"
        );
        let b64 = structured_cloudevent(
            br#"{"specversion":"1.0","type":"t","source":"s","id":"2","datacontenttype":"application/json","data_base64":"eyJhIjogMX0="}"#,
        )
        .unwrap();
        assert_eq!(b64.data, r#"{"a": 1}"#);
    }

    #[test]
    fn binary_cloudevents_read_the_headers() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("ce-specversion", "1.0"),
            ("ce-type", "order.created"),
            ("ce-source", "core"),
            ("ce-id", "o-1"),
            ("ce-subject", "o1"),
            ("content-type", "application/json"),
        ] {
            h.insert(k, HeaderValue::from_static(v));
        }
        h.insert("ce-region", HeaderValue::from_static("Z%C3%BCrich"));
        let e = binary_cloudevent(&h, br#"{"total": 3}"#).unwrap();
        assert_eq!(
            e.attributes.get("region").map(String::as_str),
            Some("Zürich")
        );
        assert_eq!(
            (e.topic.as_str(), e.key.as_deref()),
            ("order.created", Some("o1"))
        );
        assert_eq!(e.data, r#"{"total": 3}"#);
        h.insert("content-type", HeaderValue::from_static("text/plain"));
        assert_eq!(binary_cloudevent(&h, b"hello").unwrap().data, r#""hello""#);
        h.insert(
            "content-type",
            HeaderValue::from_static("application/octet-stream"),
        );
        assert_eq!(
            binary_cloudevent(&h, b"\x00")
                .err()
                .unwrap()
                .status
                .as_u16(),
            415
        );
    }

    #[test]
    fn prefer_wait_is_read_and_capped() {
        let mut h = HeaderMap::new();
        assert_eq!(prefer_wait(&h).unwrap(), None);
        h.insert("prefer", HeaderValue::from_static("respond-async, wait=5"));
        assert_eq!(
            prefer_wait(&h).unwrap(),
            Some(std::time::Duration::from_secs(5))
        );
        h.insert("prefer", HeaderValue::from_static("wait=100000"));
        assert_eq!(
            prefer_wait(&h).unwrap(),
            Some(std::time::Duration::from_secs(MAX_WAIT_SECS))
        );
        h.insert("prefer", HeaderValue::from_static("wait=soon"));
        assert!(prefer_wait(&h).is_err());
    }
}
