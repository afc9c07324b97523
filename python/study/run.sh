#!/usr/bin/env bash
# The adoption study as a user runs it: `pip install './python[study]'` (Covasim and Dask)
# into a fresh virtual environment, the study's tests, then one sweep in this process and on
# a local Dask cluster (a scheduler and two workers, separate processes): the two must give
# the same numbers. The in-process run writes the report page, opened in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/../.."
started=$(date +%s)
lap() { echo "[$(($(date +%s) - started)) s] $*"; }
venv=target/study-venv
out=target/study
rm -rf "$venv" "$out" target/report-study
mkdir -p "$out"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
cargo build --quiet --release -p bluezone-cli
CARGO_TARGET_DIR="$PWD/target" "$venv/bin/pip" install --quiet "./python[study,test]"
# Covasim's first import prints its banner (and matplotlib's font cache notice): the last line.
versions=$("$venv/bin/python" -c 'import covasim, dask; print(f"Covasim {covasim.__version__} and Dask {dask.__version__}")' 2>/dev/null | tail -n 1)
lap "installed bluezone with $versions"

export BLUEZONE_CLI="$PWD/target/release/bluezone"
(cd python/tests && "../../$venv/bin/python" -m pytest -q -p no:cacheprovider test_study.py)
lap "the study's tests passed"

sweep=(--people 10000 --days 40 --adoption 0.15,0.28,0.56,0.6 --seeds 2)
"$venv/bin/python" -m bluezone.study "${sweep[@]}" --json "$out/in-process.json" \
  --report target/report-study
lap "the sweep in this process"

source python/study/cluster.sh
trap stop_cluster EXIT
start_cluster "$venv" "$out/cluster" 2
"$venv/bin/python" -m bluezone.study "${sweep[@]}" --scheduler "$scheduler_file" \
  --json "$out/cluster.json" > /dev/null
stop_cluster
lap "the sweep on the cluster"

"$venv/bin/python" - "$out/in-process.json" "$out/cluster.json" <<'PY'
import json, sys
from bluezone.study import TIMINGS
here, there = (json.load(open(path)) for path in sys.argv[1:])
strip = lambda runs: [{k: v for k, v in r.items() if k not in TIMINGS} for r in runs]
if strip(here["runs"]) != strip(there["runs"]):
    sys.exit("the cluster's numbers differ from the in-process run's")
print(f"the cluster's {len(there['runs'])} runs equal the in-process run's, number for number")
PY
.ci/check-report target/report-study
lap "done"
