//! The JSON Schemas of docs/schema/: every file loaded into one registry (by its `$id`),
//! so a document is validated against its command's schema with the shared definitions
//! of `common.schema.json` resolved offline.

use serde_json::Value;
use std::path::PathBuf;

/// Where the schemas live.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/schema")
}

/// Every schema file's stem (`check` for `check.schema.json`) and its parsed contents,
/// sorted by name.
pub fn all() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir()).expect("read docs/schema") {
        let p = e.expect("dir entry").path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some(stem) = name.strip_suffix(".schema.json") else {
            panic!(
                "{}: docs/schema holds only NAME.schema.json files",
                p.display()
            );
        };
        let text = std::fs::read_to_string(&p).expect("read schema");
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", p.display()));
        out.push((stem.to_string(), v));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The `$id` a schema named `stem` must carry.
pub fn id(stem: &str) -> String {
    format!("https://hostwall.invalid/schema/{stem}.schema.json")
}

/// Validates `doc` against the schema `stem`; every violation, one per line.
pub fn validate(stem: &str, doc: &Value) -> Result<(), String> {
    let schemas = all();
    let mut registry = jsonschema::Registry::new();
    for (name, v) in &schemas {
        registry = registry
            .add(id(name), v.clone())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let registry = registry.prepare().expect("schemas resolve");
    let schema = (schemas.iter().find(|(n, _)| n == stem))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no docs/schema/{stem}.schema.json"));
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .with_registry(&registry)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{stem}.schema.json does not compile: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

/// Asserts `doc` is valid for `command`'s schema, listing every violation.
pub fn assert_valid(command: &str, doc: &Value) {
    if let Err(errors) = validate(command, doc) {
        panic!("{command}: {errors}\n{doc:#}");
    }
}

/// Parses `stdout` as exactly one JSON document of `command`, valid for its schema,
/// whose `exit_code` and `ok` agree with the process's `code`.
pub fn document(command: &str, out: &std::process::Output) -> Value {
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{command}: stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_valid(command, &doc);
    let code = out.status.code().unwrap_or(-1);
    assert_eq!(doc["exit_code"], code, "{doc:#}");
    assert_eq!(doc["ok"], code == 0, "{doc:#}");
    assert_eq!(doc["command"], command, "{doc:#}");
    doc
}
