#!/usr/bin/env bash
# The study's cluster benchmark: the same sweep on a local Dask cluster of one worker, then
# of two (each a separate process of one thread, started with Dask's own command line), and
# the throughput of each in person-days a second: of the sweep on the running cluster (the
# target's figure), and of the whole command with its start-up. Run it after
# `bash python/study/run.sh`, which makes the environment. Arguments go to the sweep.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=target/study-venv
[ -x "$venv/bin/dask" ] || { echo "run bash python/study/run.sh first"; exit 1; }
out=target/study-bench
mkdir -p "$out"
sweep=("$@")
[ ${#sweep[@]} -gt 0 ] || sweep=(--people 100000 --days 60 --adoption 0.6 --seeds 4)
source python/study/cluster.sh
trap stop_cluster EXIT
declare -A seconds
for workers in 1 2; do
  start_cluster "$venv" "$out/cluster-$workers" "$workers"
  begun=$(date +%s%N)
  "$venv/bin/python" -m bluezone.study "${sweep[@]}" --scheduler "$scheduler_file" \
    --json "$out/workers-$workers.json" > /dev/null 2> "$out/workers-$workers.log"
  elapsed=$(($(date +%s%N) - begun))
  seconds[$workers]="$((elapsed / 1000000000)).$(printf '%09d' $((elapsed % 1000000000)))"
  stop_cluster
done
"$venv/bin/python" - "$out" "${seconds[1]}" "${seconds[2]}" "${sweep[*]}" <<'PY'
import json, os, platform, sys
out, one, two, sweep = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
documents = [json.load(open(os.path.join(out, f"workers-{n}.json"))) for n in (1, 2)]
runs = documents[0]["runs"]
person_days = sum(r["people"] * r["days"] for r in runs)
print(f"sweep: {sweep} ({len(runs)} tasks, {person_days:,} person-days); "
      f"machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}")
sweeps = [d["throughput"]["wall_seconds"] for d in documents]
tasks = [d["throughput"]["task_seconds"] for d in documents]
for n, (command, sweep_s, task_s) in enumerate(zip((one, two), sweeps, tasks), start=1):
    print(f"{n} worker{'s' if n > 1 else ' '}: sweep {sweep_s:6.1f} s, "
          f"{person_days / sweep_s:9,.0f} person-days/s; tasks {task_s:6.1f} s; "
          f"the command {command:6.1f} s")
print(f"two workers against one: {sweeps[0] / sweeps[1]:.2f}x the sweep's throughput "
      f"(target: at least 1.8x), {one / two:.2f}x the command's")
PY
