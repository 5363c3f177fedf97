//! `sluice config reference`: the config file reference, generated from the config types' doc
//! comments and defaults (through their JSON schema). README's "Configuration reference" section is
//! this output, and a test keeps the two equal.

use serde_json::Value;

/// The reference as Markdown: one table per section, one row per field.
pub fn markdown() -> String {
    let schema = serde_json::to_value(schemars::schema_for!(crate::config::Config))
        .expect("a schema is JSON");
    let defs = schema.get("$defs").cloned().unwrap_or(Value::Null);
    let mut out = String::new();
    let mut top = Vec::new();
    for (name, prop) in props(&schema) {
        let (target, array) = resolve(prop, &defs);
        match target {
            Some(obj) if is_object(obj) => {
                let title = if array {
                    format!("[[{name}]]")
                } else {
                    format!("[{name}]")
                };
                section(&mut out, &title, name, obj, &defs);
            }
            _ => top.push((name.to_string(), prop.clone())),
        }
    }
    assert!(
        top.is_empty(),
        "top-level config fields must be sections: {top:?}"
    );
    out
}

/// The properties of an object schema, in a fixed order whatever map serde_json was built with:
/// the sections in the order of the config file, fields alphabetically.
fn props(schema: &Value) -> Vec<(&str, &Value)> {
    const SECTIONS: [&str; 7] = [
        "listen",
        "decoder",
        "aggregator",
        "output",
        "clickhouse",
        "metrics",
        "reports",
    ];
    let mut v: Vec<(&str, &Value)> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.as_str(), v)).collect())
        .unwrap_or_default();
    let rank = |k: &str| {
        SECTIONS
            .iter()
            .position(|s| *s == k)
            .unwrap_or(SECTIONS.len())
    };
    v.sort_by(|a, b| rank(a.0).cmp(&rank(b.0)).then(a.0.cmp(b.0)));
    v
}

fn is_object(v: &Value) -> bool {
    v.get("properties").is_some()
}

/// Follow `$ref`, `Option` (`anyOf` with null) and arrays to the schema of the value; the flag says
/// whether it was an array.
fn resolve<'a>(v: &'a Value, defs: &'a Value) -> (Option<&'a Value>, bool) {
    if let Some(r) = v.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/$defs/");
        return (defs.get(name), false);
    }
    if let Some(any) = v.get("anyOf").and_then(Value::as_array) {
        for a in any {
            if a.get("type").and_then(Value::as_str) != Some("null") {
                return resolve(a, defs);
            }
        }
    }
    if v.get("type").and_then(Value::as_str) == Some("array")
        && let Some(items) = v.get("items")
    {
        let (t, _) = resolve(items, defs);
        return (t, true);
    }
    (Some(v), false)
}

fn section(out: &mut String, title: &str, path: &str, obj: &Value, defs: &Value) {
    out.push_str(&format!("#### `{title}`\n\n"));
    if let Some(d) = obj.get("description").and_then(Value::as_str) {
        out.push_str(&one_line(d));
        out.push_str("\n\n");
    }
    out.push_str("| field | type | default | meaning |\n|---|---|---|---|\n");
    let mut nested = Vec::new();
    for (name, prop) in props(obj) {
        let (target, array) = resolve(prop, defs);
        let target = target.unwrap_or(prop);
        if is_object(target) {
            nested.push((name, target, array));
        }
        let ty = type_name(prop, defs);
        let default = prop
            .get("default")
            .map(|d| format!("`{}`", d.to_string().replace('|', "\\|")))
            .unwrap_or_else(|| "—".to_string());
        let doc = prop
            .get("description")
            .or_else(|| target.get("description"))
            .and_then(Value::as_str)
            .map(one_line)
            .unwrap_or_default();
        out.push_str(&format!("| `{name}` | {ty} | {default} | {doc} |\n"));
    }
    out.push('\n');
    for (name, target, array) in nested {
        let p = format!("{path}.{name}");
        let t = if array { format!("{p}[]") } else { p.clone() };
        section(out, &t, &p, target, defs);
    }
}

fn type_name(v: &Value, defs: &Value) -> String {
    if let Some(r) = v.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/$defs/");
        return match defs.get(name) {
            Some(d) if !is_object(d) => type_name(d, defs),
            _ => "table".to_string(),
        };
    }
    if let Some(any) = v.get("anyOf").and_then(Value::as_array) {
        let inner: Vec<String> = any
            .iter()
            .filter(|a| a.get("type").and_then(Value::as_str) != Some("null"))
            .map(|a| type_name(a, defs))
            .collect();
        return format!("{} (optional)", inner.join(" or "));
    }
    if let Some(one) = v.get("oneOf").and_then(Value::as_array) {
        let vals: Vec<String> = one.iter().map(|a| type_name(a, defs)).collect();
        return vals.join(" \\| ");
    }
    if let Some(c) = v.get("const") {
        return format!("`{c}`");
    }
    if let Some(e) = v.get("enum").and_then(Value::as_array) {
        let vals: Vec<String> = e.iter().map(|x| format!("`{x}`")).collect();
        return vals.join(" \\| ");
    }
    match v.get("type") {
        Some(Value::String(t)) if t == "array" => {
            let item = v
                .get("items")
                .map_or("?".to_string(), |i| type_name(i, defs));
            format!("list of {item}")
        }
        Some(Value::String(t)) => match t.as_str() {
            "integer" => "integer".to_string(),
            other => other.to_string(),
        },
        Some(Value::Array(ts)) => {
            ts.iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .collect::<Vec<_>>()
                .join(" or ")
                + " (optional)"
        }
        _ => "value".to_string(),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_section_and_documented_field_is_in_the_reference() {
        let md = markdown();
        for s in [
            "`[listen]`",
            "`[decoder]`",
            "`[aggregator]`",
            "`[output]`",
            "`[clickhouse]`",
            "`[metrics]`",
            "`[[reports]]`",
        ] {
            assert!(md.contains(s), "{s} missing:\n{md}");
        }
        for f in [
            "`template_ttl_secs`",
            "`allowed_exporters`",
            "`window_secs`",
            "`spool_max_bytes`",
            "`flows_days`",
        ] {
            assert!(md.contains(f), "{f} missing");
        }
        // No field without a meaning: every row ends in a non-empty description.
        for row in md.lines().filter(|l| l.starts_with("| `")) {
            assert!(!row.ends_with("|  |"), "undocumented field: {row}");
        }
    }
}
