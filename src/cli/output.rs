//! Human output: tables and short lines. `--json` prints the hub's JSON instead.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use serde_json::Value;

pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    t
}

/// A JSON field as table text: strings bare, null as "-".
pub fn cell(value: &Value, pointer: &str) -> String {
    match value.pointer(pointer) {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// `transient 503` / `success 200` / `transient (timed out…)`.
pub fn outcome(value: &Value, pointer: &str) -> String {
    let Some(o) = value.pointer(pointer).filter(|o| !o.is_null()) else {
        return "-".to_owned();
    };
    let class = cell(o, "/class");
    match (
        o.get("status").and_then(Value::as_u64),
        o.get("error").and_then(Value::as_str),
    ) {
        (Some(status), _) => format!("{class} {status}"),
        (None, Some(error)) => format!("{class} ({})", shorten(error, 48)),
        (None, None) => class,
    }
}

pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

pub fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}
