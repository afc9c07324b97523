//! Every worked example in `spec/` equals the test vector it names.
//!
//! An example is a Markdown table right after a comment `<!-- vector: FILE / NAME -->`; each
//! row `| field | `value` |` must equal that field of the vector called NAME in
//! `test-vectors/FILE`; a field that starts with `/` is a JSON pointer into the vector.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code"
)]

use std::path::Path;

use serde_json::Value;

#[test]
fn worked_examples_equal_their_vectors() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked_rows = 0;
    let mut examples = 0;
    for entry in std::fs::read_dir(root.join("spec")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            let Some(marker) = line
                .trim()
                .strip_prefix("<!-- vector: ")
                .and_then(|rest| rest.strip_suffix(" -->"))
            else {
                continue;
            };
            let (file, name) = marker.split_once(" / ").expect("FILE / NAME");
            let document: Value = serde_json::from_str(
                &std::fs::read_to_string(root.join("test-vectors").join(file)).unwrap(),
            )
            .unwrap();
            // Vector files list `vectors` by `name`; the Corona-Warn-App's file lists
            // `testCases` by `description`.
            let vector = document["vectors"]
                .as_array()
                .or_else(|| document["testCases"].as_array())
                .unwrap()
                .iter()
                .find(|v| v["name"] == name || v["description"] == name)
                .unwrap_or_else(|| panic!("{}: no vector {name:?} in {file}", path.display()));
            examples += 1;
            let rows: Vec<&str> = lines
                .by_ref()
                .take_while(|l| l.starts_with('|'))
                .skip(2)
                .collect();
            assert!(
                !rows.is_empty(),
                "{}: example {name:?} has no rows",
                path.display()
            );
            for row in rows {
                let cells: Vec<&str> = row.split('|').map(str::trim).collect();
                let (field, value) = (cells[1], cells[2].trim_matches('`'));
                // A field is a key of the vector, or a JSON pointer into it (`/expect/f1/f1`).
                let found = if field.starts_with('/') {
                    vector.pointer(field).unwrap_or(&Value::Null)
                } else {
                    &vector[field]
                };
                let expected = match found {
                    Value::String(s) => s.clone(),
                    Value::Null => panic!("{}: {name:?} has no field {field}", path.display()),
                    other => other.to_string(),
                };
                assert_eq!(
                    value,
                    expected,
                    "{}: {name:?} field {field}",
                    path.display()
                );
                checked_rows += 1;
            }
        }
    }
    assert!(examples >= 15, "only {examples} worked examples found");
    assert!(checked_rows >= 45, "only {checked_rows} rows checked");
}
