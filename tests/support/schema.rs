//! The JSON Schemas of docs/schema/, compiled with the `jsonschema` crate, and the
//! assertion that a command's real document is valid for its schema.

use serde_json::Value;

/// The compiled schema of `command`'s document (`docs/schema/COMMAND.schema.json`).
pub fn validator(command: &str) -> jsonschema::Validator {
    let path = format!(
        "{}/docs/schema/{command}.schema.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    jsonschema::validator_for(&value).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Asserts `doc` is valid for `command`'s schema, listing every violation.
pub fn assert_valid(command: &str, doc: &Value) {
    let v = validator(command);
    let errors: Vec<String> = v.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{command}: {errors:#?}\n{doc:#}");
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
    assert_eq!(doc["schema"], format!("hostwall/{command}/1"));
    doc
}
