//! Canonical JSON: object keys sorted, two-space indentation, one trailing
//! newline. Sorting is done here rather than relying on `serde_json`'s map
//! type, whose order changes if any crate in the build enables its
//! `preserve_order` feature: scripts and diffs must see the same bytes for
//! the same plan.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

pub fn to_canonical<T: Serialize>(value: &T) -> serde_json::Result<String> {
    let value = serde_json::to_value(value)?;
    let mut out = String::new();
    write_value(&mut out, &value, 0);
    out.push('\n');
    Ok(out)
}

fn write_value(out: &mut String, value: &Value, depth: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, v)) in entries.into_iter().enumerate() {
                out.push_str(if i == 0 { "\n" } else { ",\n" });
                indent(out, depth + 1);
                // A string always serializes.
                let _ = write!(out, "{}: ", Value::String(key.clone()));
                write_value(out, v, depth + 1);
            }
            out.push('\n');
            indent(out, depth);
            out.push('}');
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                out.push_str(if i == 0 { "\n" } else { ",\n" });
                indent(out, depth + 1);
                write_value(out, v, depth + 1);
            }
            out.push('\n');
            indent(out, depth);
            out.push(']');
        }
        // Scalars, `{}` and `[]`: serde_json's own compact form.
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted_at_every_level() {
        let v = serde_json::json!({"b": 1, "a": {"z": [], "y": {}, "x": ["q\"", 2.5]}});
        assert_eq!(
            to_canonical(&v).unwrap(),
            "{\n  \"a\": {\n    \"x\": [\n      \"q\\\"\",\n      2.5\n    ],\n    \"y\": {},\n    \"z\": []\n  },\n  \"b\": 1\n}\n"
        );
    }

    #[test]
    fn output_parses_back_to_the_same_value() {
        let v = serde_json::json!({"switches": [{"name": "leaf1", "entries": 3}], "ok": true, "n": null});
        let text = to_canonical(&v).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v);
    }
}
