#!/usr/bin/env python3
"""Independent reference for the encounter record and segment formats (spec/encounter.md).

Written from the byte tables in the specification with `struct` and `zlib.crc32`; it writes
test-vectors/encounter-records.json: records, their frames, a whole segment, and byte strings
that are not records, each labelled with the error class a decoder must give.

Usage: python3 spec/reference/encounter_reference.py [--check]
"""

import hashlib
import json
import struct
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test-vectors" / "encounter-records.json"

MAGIC = b"BZENCLOG"
SYNC = 0xB2


def gaen_record(unix_seconds, rpi, aem, rssi, previous_scan):
    return struct.pack("<BQ16s4sbQ", 0x01, unix_seconds, rpi, aem, rssi, previous_scan)


def bluezone_record(unix_ms, contact_id, own_id, rssi):
    return struct.pack("<BQ12s12sb", 0x02, unix_ms, contact_id, own_id, rssi)


def frame(record):
    return bytes([SYNC]) + record + struct.pack("<I", zlib.crc32(record))


def header():
    body = MAGIC + struct.pack("<HH", 1, 0)
    return body + struct.pack("<I", zlib.crc32(body))


def h(label, n):
    return hashlib.sha256(label.encode()).digest()[:n]


def vectors():
    out = []
    for name, t, rssi, prev in [
        ("GAEN sighting, iPhone capture's identifier", 1596866191, -63, 1596865951),
        ("GAEN sighting, previous scan unknown", 1600000000, -90, 0),
        ("GAEN sighting, extremes", 2**64 - 1, -128, 2**64 - 1),
        ("GAEN sighting, epoch", 0, 127, 0),
    ]:
        rpi = bytes.fromhex("e23f352fa09307a85d4194912443180d") if "iPhone" in name else h(name, 16)
        aem = bytes.fromhex("484dc151") if "iPhone" in name else h(name + " aem", 4)
        record = gaen_record(t, rpi, aem, rssi, prev)
        assert len(record) == 38
        out.append({
            "name": name, "expect": "ok", "sighting": "gaen",
            "unix_seconds": t, "rpi": rpi.hex(), "aem": aem.hex(), "rssi": rssi,
            "previous_scan_unix_seconds": prev,
            "record": record.hex(), "frame": frame(record).hex(),
        })
    for name, t, rssi in [
        ("Bluezone sighting, captured history line", 1596866191387, -71),
        ("Bluezone sighting, extremes", 2**64 - 1, -128),
    ]:
        contact = bytes.fromhex("7C3DEC4246EA6F90E38EA254") if "captured" in name else h(name, 12)
        own = bytes.fromhex("B9A665D754FE65E665D76A45") if "captured" in name else h(name + " own", 12)
        record = bluezone_record(t, contact, own, rssi)
        assert len(record) == 34
        out.append({
            "name": name, "expect": "ok", "sighting": "bluezone",
            "unix_ms": t, "contact_id": contact.hex().upper(), "own_id": own.hex().upper(),
            "rssi": rssi, "record": record.hex(), "frame": frame(record).hex(),
        })
    first = bytes.fromhex(out[0]["record"])
    second = bytes.fromhex(out[4]["record"])
    out.append({
        "name": "segment with two frames",
        "expect": "ok",
        "segment": (header() + frame(first) + frame(second)).hex(),
        "records": [first.hex(), second.hex()],
    })
    for name, data, expect in [
        ("empty", b"", "empty"),
        ("unknown kind 0x00", b"\x00" + first[1:], "unknown-kind"),
        ("unknown kind 0x03", b"\x03" + second[1:], "unknown-kind"),
        ("GAEN record one byte short", first[:-1], "length"),
        ("GAEN record with a trailing byte", first + b"\x00", "length"),
        ("Bluezone record one byte short", second[:-1], "length"),
    ]:
        out.append({"name": name, "expect": expect, "record": data.hex()})
    return {
        "kind": "encounter-record",
        "name": "Encounter records, frames and a segment (format version 1)",
        "source": {
            "evidence": "computed by spec/reference/encounter_reference.py from the byte "
                        "tables in spec/encounter.md, with Python's struct and zlib.crc32",
        },
        "vectors": out,
    }


def main(argv):
    text = json.dumps(vectors(), indent=1) + "\n"
    if OUT.exists() and OUT.read_text() == text:
        return 0
    if "--check" in argv:
        print("would change: " + OUT.name)
        return 1
    OUT.write_text(text)
    print("wrote: " + OUT.name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
