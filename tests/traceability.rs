//! Every section of `spec/` that states a rule is greppable from the code that implements it and
//! from a test that checks it (spec README: "the code cites them above the functions that
//! implement them"). A section is found in code by its id (`§match.6`), and in tests by its id or
//! by a test named after it (`match_6_…`).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::fs;
use std::path::{Path, PathBuf};

/// Sections that state no rule of their own, with the reason.
const INFORMATIONAL: &[(&str, &str)] = &[
    (
        "§adv.4",
        "a worked example, checked through its vector by tests/spec_examples.rs",
    ),
    (
        "§gaen.1",
        "a table of who may see which value; the rules are §sec.1 and §gaen.2–6",
    ),
    (
        "§gaen.7",
        "worked examples, checked through their vectors by tests/spec_examples.rs",
    ),
    (
        "§blid.9",
        "the weaknesses of the 2020 scheme, stated for deployers",
    ),
    (
        "§blid.10",
        "advice on migrating to GAEN; the code it names is §blid.8 and §match",
    ),
    (
        "§export.6",
        "limits worth knowing, each implemented and tested under its own section",
    ),
    (
        "§risk.4.2",
        "why durations from scans are uncertain; the demo's margins test it",
    ),
    (
        "§sec.3",
        "linkability: obligations of the advertiser outside the crate",
    ),
    (
        "§sec.4",
        "replay and relay: the rules are §match.2's tolerance and replay window",
    ),
    ("§sec.5", "the cost of the tolerance: an argument, no rule"),
    (
        "§sec.6",
        "the AEM is unauthenticated: the rule is §match.2's TX bounds",
    ),
    (
        "§sec.7",
        "the adversary model: each row points to the section that implements it",
    ),
    ("§sec.8", "the log at rest: the integrator's obligations"),
    (
        "§sec.9",
        "what an integrator may reveal: the integrator's obligations",
    ),
    (
        "§state.8",
        "what a run costs: the bounds of §state.2, §state.3 and §state.6 added up",
    ),
    (
        "§sec.10",
        "side channels of the backends the crate uses, and what is not defended",
    ),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The files under `dir` whose names end in one of `extensions`.
fn files_of(dir: &Path, extensions: &[&str], out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_of(&path, extensions, out);
        } else if path
            .extension()
            .is_some_and(|e| extensions.iter().any(|x| e == *x))
        {
            out.push(path);
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    files_of(dir, &["rs"], out);
}

/// The text of the Rust and Python files under `dirs`.
fn text_of(dirs: &[&str]) -> String {
    let mut files = Vec::new();
    for dir in dirs {
        files_of(&root().join(dir), &["rs", "py"], &mut files);
    }
    files
        .iter()
        .map(|f| fs::read_to_string(f).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The text of test code: test files whole, and library files from their test module on (a
/// `tests.rs`, or any file of a `tests/` folder, under `src/` whole).
fn test_text() -> String {
    // The Python package's tests name sections as `def test_study_4_…`.
    let mut text = text_of(&["tests", "cli/tests", "python/tests"]).replace("def test_", "fn ");
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    rust_files(&root().join("cli/src"), &mut files);
    for f in files {
        let source = fs::read_to_string(&f).unwrap();
        // A library's test module in a file of its own is test code whole.
        let in_tests_folder = f
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|n| n == "tests");
        if in_tests_folder || f.file_name().is_some_and(|n| n == "tests.rs") {
            text.push_str(&source);
            continue;
        }
        if let Some(at) = source
            .find("#[cfg(test)]")
            .or_else(|| source.find("#[cfg(all(test"))
        {
            text.push_str(&source[at..]);
        }
    }
    text
}

fn sections() -> Vec<String> {
    let mut out = Vec::new();
    let mut chapters: Vec<_> = fs::read_dir(root().join("spec"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    chapters.sort();
    for chapter in chapters {
        for line in fs::read_to_string(chapter).unwrap().lines() {
            let heading = line.trim_start_matches('#');
            if heading.len() < line.len()
                && let Some(id) = heading.split_whitespace().next()
                && id.starts_with('§')
            {
                out.push(id.to_string());
            }
        }
    }
    out
}

/// `§match.2.5` as a test name prefix: `match_2_5`.
fn as_name(id: &str) -> String {
    id.trim_start_matches('§').replace('.', "_")
}

fn named(text: &str, id: &str) -> bool {
    let name = as_name(id);
    let cited = text.match_indices(id).any(|(at, _)| {
        // `§match.2` is not cited by `§match.2.5`, nor `§sec.1` by `§sec.10`.
        let mut after = text[at + id.len()..].chars();
        match after.next() {
            Some(c) if c.is_ascii_digit() => false,
            Some('.') => !after.next().is_some_and(|c| c.is_ascii_digit()),
            _ => true,
        }
    });
    cited || text.contains(&format!("fn {name}_")) || text.contains(&format!("fn {name}("))
}

#[test]
fn every_rule_of_the_spec_is_cited_by_its_code_and_named_by_a_test() {
    let sections = sections();
    assert!(sections.len() > 60, "{} sections", sections.len());
    for (id, _) in INFORMATIONAL {
        assert!(sections.iter().any(|s| s == id), "{id} is not a section");
    }
    let code = text_of(&["src", "cli/src", "python/src", "python/bluezone"]);
    let tests = test_text();
    let rules = sections
        .iter()
        .filter(|s| !INFORMATIONAL.iter().any(|(id, _)| id == s));
    let mut uncited = Vec::new();
    let mut untested = Vec::new();
    for id in rules {
        if !named(&code, id) {
            uncited.push(id.as_str());
        }
        if !named(&tests, id) {
            untested.push(id.as_str());
        }
    }
    assert!(uncited.is_empty(), "no code cites {uncited:?}");
    assert!(untested.is_empty(), "no test names {untested:?}");
}
