//! The tool's output as data: every command's `--help`, text and JSON output on the sample
//! files, and each error path, in `tests/cmd/*.md`. A change of output shows as a diff there;
//! regenerate with `TRYCMD=overwrite cargo test -p bluezone-cli --test snapshots` and review.

#[test]
fn cli_snapshots() {
    trycmd::TestCases::new()
        .default_bin_name("bluezone")
        .case("tests/cmd/*.md");
}
