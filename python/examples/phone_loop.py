"""The whole on-device loop from memory, on the shipped companion sample:

1. the phone's calibration and today's key and advertisements;
2. what the radio heard (the sample's sightings, as the payloads they came from) classified
   into sightings with the phone's RSSI correction;
3. the sightings appended to the crash-safe encounter log and read back;
4. the daily check of the downloaded export file against the log, with the F1 rule and the
   Corona-Warn-App's model;
5. the phone's own keys released for upload: the publish request and its TEK HMAC;
6. Bluezone 2020: an F0 list against the contact history.

Run from the repository's root: ``python python/examples/phone_loop.py``.
"""

import csv
import os
import sys
import tempfile

import bluezone
from bluezone import phone

SAMPLES = "test-vectors/export-samples"


def main(export=f"{SAMPLES}/companion-demo_dks.zip", heard=f"{SAMPLES}/companion-demo-encounters.csv"):
    # 1. This phone and today's key: TX power from Google's December 2020 table.
    me = phone.calibration("samsung", "SM-G973F")
    now = 1_590_000_000
    tek, rolling_start = phone.new_tek(now, entropy=os.urandom(16))
    payloads = phone.advertisements(tek, rolling_start, me["tx_power_dbm"], me["confidence"])
    assert len(payloads) == 144 and all(len(p) == 31 for p in payloads)

    # 2. What the radio heard. The sample's RSSIs are already calibrated, so the correction
    # added here is 0; a phone passes its own (me["rssi_correction_db"]).
    sightings = []
    with open(heard, newline="") as rows:
        for row in csv.DictReader(rows):
            payload = phone.encode_advertisement(bytes.fromhex(row["rpi"]), bytes.fromhex(row["aem"]))
            sighting = phone.classify(payload, int(row["rssi"]), int(row["unix_seconds"]))
            sightings.append(sighting)

    # 3. The encounter log, written and read back.
    with tempfile.TemporaryDirectory() as folder:
        log = phone.EncounterLog(os.path.join(folder, "log"))
        log.append(sightings)
        logged = log.read()
    assert sorted(map(str, logged)) == sorted(map(str, sightings))

    # 4. The daily check, as the tool runs it on the same sightings.
    rows = [
        (s["gaen"]["unix_seconds"], s["gaen"]["rpi"], s["gaen"]["aem"], s["gaen"]["rssi"])
        for s in logged
    ]
    # The app chooses its deployment's model beside the F1 rule; with `state=` the check
    # remembers across days what it has read (`bluezone match --state`).
    report = bluezone.match(export, rows, allow_unsigned=True, risk_model="cwa")
    print(f"{len(report.matches)} keys matched, F1: {'yes' if report.f1 else 'no'}")
    cwa = report.risk_model
    print(f"Corona-Warn-App rules: {'high' if cwa['total_risk_level'] == 2 else 'low'} risk")

    # 5. This phone's key released for upload, with the HMAC the verification server certifies.
    secret = os.urandom(32)
    released = [(tek, rolling_start, 144, 0, 1)]
    request = phone.publish_request(released, secret)
    print(f"upload: {len(request)} bytes, TEK HMAC {phone.tek_hmac(released, secret)}")

    # 6. Bluezone 2020: the shipped F0 list against the shipped history.
    samples = "cli/tests/cmd/samples.in"
    with open(f"{samples}/f0.json") as f0, open(f"{samples}/data_trace.txt") as history:
        blid = phone.blid_match(f0.read(), history.read(), now=1_596_990_000, close_rssi=-70)
    print(f"Bluezone 2020: contact {'yes' if blid['contact'] else 'no'}, F1 {'yes' if blid['f1']['f1'] else 'no'}")
    return report, blid


if __name__ == "__main__":
    main(*sys.argv[1:])
