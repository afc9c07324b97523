#!/usr/bin/env bash
# The Python package's tests: a fresh virtual environment, `pip install ./python` (maturin
# builds the extension), pytest on the suite, then pandas for the example's test alone. The
# adoption study's tests need its extra and run in python/study/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/python-venv
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
cargo build --quiet --release -p bluezone-cli
# The extension is built into the workspace's target folder, so later runs reuse it.
CARGO_TARGET_DIR="$PWD/target" "$venv/bin/pip" install --quiet "./python[test]"
export BLUEZONE_CLI="$PWD/target/release/bluezone"
# Run from outside the source tree, so the installed package is the one imported.
(cd python/tests && "../../$venv/bin/python" -m pytest -q -p no:cacheprovider --ignore=test_example.py --ignore=test_study.py .)
"$venv/bin/pip" install --quiet pandas
(cd python/tests && "../../$venv/bin/python" -m pytest -q -p no:cacheprovider test_example.py)

echo "the README's Python example:"
sed -n '/^```python$/,/^```$/p' README.md | sed '1d;$d' > target/readme_example.py
# The whole output first: a pipe into `head` would close early and break the script's writes.
output=$("$venv/bin/python" target/readme_example.py)
printed=$(head -n 1 <<<"$output")
echo "$printed"
[ "$printed" = "4 keys matched, F1: yes" ] || { echo "the README's Python example printed something else"; exit 1; }
