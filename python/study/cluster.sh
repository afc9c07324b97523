# Sourced by the study's scripts: a local Dask cluster as a user starts one, with Dask's own
# command line (a scheduler and N workers, each a separate process of one thread).
# `start_cluster VENV FOLDER N` sets `scheduler_file`; `stop_cluster` stops every process and
# waits for them. Call start_cluster directly, not in `$(...)`: a subshell would keep the
# processes' ids to itself.
cluster_pids=()
cluster_venv=
scheduler_file=

start_cluster() {
  local venv=$1 folder=$2 workers=$3 file
  # The workers' memory settings (see dask.yaml).
  export DASK_CONFIG="$PWD/python/study"
  file="$folder/scheduler.json"
  scheduler_file=$file
  cluster_venv=$venv
  rm -f "$file"
  mkdir -p "$folder"
  "$venv/bin/dask" scheduler --scheduler-file "$file" --port 0 --dashboard-address :0 \
    > "$folder/scheduler.log" 2>&1 &
  cluster_pids+=($!)
  for _ in $(seq 100); do [ -s "$file" ] && break; sleep 0.2; done
  [ -s "$file" ] || { cat "$folder/scheduler.log" >&2; echo "the scheduler did not start" >&2; return 1; }
  for i in $(seq "$workers"); do
    # Each worker imports the study (and Covasim) once, when it starts, not in its first task.
    "$venv/bin/dask" worker --scheduler-file "$file" --nworkers 1 --nthreads 1 \
      --preload bluezone.study.run --no-dashboard --name "worker-$i" \
      > "$folder/worker-$i.log" 2>&1 &
    cluster_pids+=($!)
  done
  "$venv/bin/python" - "$file" "$workers" <<'PY' >&2
import sys
from distributed import Client
with Client(scheduler_file=sys.argv[1], timeout="60s") as client:
    client.wait_for_workers(int(sys.argv[2]), timeout=120)
    print(f"the cluster is up: {len(client.scheduler_info()['workers'])} workers")
PY
}

stop_cluster() {
  if [ ${#cluster_pids[@]} -gt 0 ]; then
    kill "${cluster_pids[@]}" 2>/dev/null || true
    wait "${cluster_pids[@]}" 2>/dev/null || true
  fi
  cluster_pids=()
  [ -n "$cluster_venv" ] || return 0
  # A worker's process leaves its child, the worker proper, to stop on its own: give it 30 s.
  for _ in $(seq 150); do
    pgrep -f "$cluster_venv/bin/" >/dev/null || return 0
    sleep 0.2
  done
  echo "a process of the cluster outlived it:" >&2
  pgrep -af "$cluster_venv/bin/" >&2
  return 1
}
