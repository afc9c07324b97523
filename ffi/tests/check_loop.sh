#!/usr/bin/env bash
# Holds what a phone-loop example printed (its output in $1, its folder in $2) to what the
# bluezone tool says of the same files: the daily check (`match --risk-model cwa`), the TEK
# HMAC of the publish request the example wrote (`export hmac`), and the Bluezone 2020 check
# (`blid match`). Run from the repository's root after `cargo build --release -p bluezone-cli`.
set -euo pipefail
printed=$1 folder=$2
tool=target/release/bluezone
samples=test-vectors/export-samples
match=$("$tool" match --keys "$samples/companion-demo_dks.zip" 2>/dev/null \
  --encounters "$samples/companion-demo-encounters.csv" --allow-unsigned --risk-model cwa --json)
hmac=$("$tool" export hmac --keys "$folder/publish.json" --json)
blid=$("$tool" blid match --f0 cli/tests/cmd/samples.in/f0.json \
  --history cli/tests/cmd/samples.in/data_trace.txt --now 1596990000 --close-rssi -70 --json)
expected=$(python3 - "$match" "$hmac" "$blid" "$folder/publish.json" <<'PY'
import json, sys
match, hmac, blid = (json.loads(a) for a in sys.argv[1:4])
request = open(sys.argv[4]).read()
yes = lambda b: "yes" if b else "no"
print(f"{match['keys_matched']} keys matched, F1: {yes(match['f1']['f1'])}")
level = match["risk_model"]["total_risk_level"]
print(f"Corona-Warn-App rules: {'high' if level in (2, 'high', 'High') else 'low'} risk")
print(f"upload: {len(request)} bytes, TEK HMAC {hmac['hmac']}")
print(f"Bluezone 2020: contact {yes(blid['contact'])}, F1 {yes(blid['f1']['f1'])}")
PY
)
if [ "$expected" != "$(cat "$printed")" ]; then
  echo "the loop printed:"; cat "$printed"
  echo "the tool says:"; echo "$expected"
  exit 1
fi
echo "the loop's verdicts are the tool's"
