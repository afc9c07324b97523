#!/usr/bin/env python3
"""The keys a matcher must report for each key-level peer file (test-vectors/peers/).

Reads every key-level export of test-vectors/peers/checks.json with the peers' own hand-written
protobuf reader (test-vectors/peers/tools/ekparse.py, which shares no code with the crate) and
applies spec §match.6 to what it reads: a key is its 16 bytes, so the key reported for a 16-byte
`key_data` is its first copy in file order (keys, then revised keys). The peers' sighting files
plant sightings in every copy's window, so every distinct key must be matched. The result,
test-vectors/peers/expected-keys.json, is what cli/tests/peers.rs holds the CLI to.

Usage: python3 spec/reference/peer_expectations.py [--check]
"""

import hashlib
import json
import sys
from pathlib import Path

sys.dont_write_bytecode = True
ROOT = Path(__file__).resolve().parents[2]
PEERS = ROOT / "test-vectors" / "peers"
OUTPUT = PEERS / "expected-keys.json"
SMALL = 100  # files with at most this many distinct keys list them; larger ones give a digest
sys.path.insert(0, str(PEERS / "tools"))
import ekparse  # noqa: E402


def expected(export):
    _, data, _ = ekparse.load(str(PEERS / export["file"]))
    parsed = ekparse.parse_bin(data)
    first = {}
    for k in parsed["keys"] + parsed["revised_keys"]:
        if len(k["key_data"]) != 32:
            continue
        first.setdefault(k["key_data"], {
            "tek": k["key_data"],
            "rolling_start_interval_number": k.get("rolling_start_interval_number", 0),
            "rolling_period": k.get("rolling_period", 144),
            "transmission_risk_level": k.get("transmission_risk_level", 0),
            "report_type": k.get("report_type", 0),
            "days_since_onset_of_symptoms": k.get("days_since_onset_of_symptoms"),
        })
    copies = len(parsed["keys"]) + len(parsed["revised_keys"]) - len(first)
    matches = sorted(first.values(), key=lambda m: m["tek"])
    out = {"keys_total": len(parsed["keys"]) + len(parsed["revised_keys"]), "copies": copies,
           "matched": len(matches), "sha256": hashlib.sha256(canonical(matches)).hexdigest()}
    if len(matches) <= SMALL:
        out["matches"] = matches
    return out


def canonical(matches):
    """One line per key, sorted by key: `tek,start,period,risk,report,onset` (onset `-` when
    missing). Large files are held to the SHA-256 of these lines."""
    text = ""
    for m in matches:
        onset = m["days_since_onset_of_symptoms"]
        text += ",".join(str(x) for x in (
            m["tek"], m["rolling_start_interval_number"], m["rolling_period"],
            m["transmission_risk_level"], m["report_type"], "-" if onset is None else onset)) + "\n"
    return text.encode()


def main(argv):
    checks = json.loads((PEERS / "checks.json").read_text())
    document = {
        "description": "per key-level peer file, the keys a matcher must report under spec "
                       "§match.6, read by tools/ekparse.py; written by "
                       "spec/reference/peer_expectations.py",
        "files": {e["id"]: expected(e) for e in checks["exports"] if e.get("keylevel")},
    }
    text = json.dumps(document, indent=1) + "\n"
    if OUTPUT.exists() and OUTPUT.read_text() == text:
        return 0
    if "--check" in argv:
        print("would change: " + str(OUTPUT.relative_to(ROOT)))
        return 1
    OUTPUT.write_text(text)
    print("wrote: " + str(OUTPUT.relative_to(ROOT)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
