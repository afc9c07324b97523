#!/usr/bin/env python3
"""Recomputes test-vectors/export-samples/manifest.json from the sample files (spec/export.md).

Every value a parser must produce — the zip members, the size and SHA-256 of export.bin, its
header, the key counts, the metadata, the keys and the signatures, and whether each signature
verifies under the sample's published key — is read here from the bytes with a protobuf reader
written for this script (no protobuf library, nothing of the Rust crate) and `cryptography` for
ECDSA. The descriptive fields of each sample (where it came from, its public key's source, the
notes) are provenance and are kept as they are; only the values are recomputed, in place.

Usage: python3 spec/reference/export_manifest.py [--check]
  --check  write nothing; exit 1 if the manifest would change.
"""

import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "test-vectors" / "export-samples"
MANIFEST = SAMPLES / "manifest.json"
HEADER = b"EK Export v1    "


# --- protobuf wire format, by hand ------------------------------------------------------------

def read_varint(data, at):
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def fields(data):
    """(field number, wire type, value) in order; value is an int or bytes."""
    at = 0
    while at < len(data):
        key, at = read_varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = read_varint(data, at)
        elif wire == 2:
            length, at = read_varint(data, at)
            value, at = data[at:at + length], at + length
        elif wire == 1:
            value, at = int.from_bytes(data[at:at + 8], "little"), at + 8
        elif wire == 5:
            value, at = int.from_bytes(data[at:at + 4], "little"), at + 4
        else:
            raise ValueError(f"wire type {wire}")
        yield number, wire, value


def int32(v):
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


SIGNATURE_INFO = {1: "app_bundle_id (reserved 1)", 2: "android_package (reserved 2)",
                  3: "verification_key_version", 4: "verification_key_id", 5: "signature_algorithm"}
KEY = {1: "key_data", 2: "transmission_risk_level", 3: "rolling_start_interval_number",
       4: "rolling_period", 5: "report_type", 6: "days_since_onset_of_symptoms"}
METADATA = {1: "start_timestamp", 2: "end_timestamp", 3: "region", 4: "batch_num", 5: "batch_size"}


def signature_info(data):
    return {SIGNATURE_INFO[n]: v.decode() for n, _, v in fields(data) if n in SIGNATURE_INFO}


def key(data):
    out = {}
    for n, _, v in fields(data):
        if n == 1:
            out["key_data"] = v.hex()
        elif n == 6:
            v &= 0xFFFFFFFF
            out[KEY[n]] = (v >> 1) ^ -(v & 1)
        elif n in KEY:
            out[KEY[n]] = int32(v)
    return out


def export_bin(data):
    assert data[:16] == HEADER
    metadata = {"signature_infos": []}
    keys, revised = [], []
    for n, _, v in fields(data[16:]):
        if n in (1, 2):
            metadata[METADATA[n]] = v
        elif n == 3:
            metadata["region"] = v.decode()
        elif n in (4, 5):
            metadata[METADATA[n]] = int32(v)
        elif n == 6:
            metadata["signature_infos"].append(signature_info(v))
        elif n == 7:
            keys.append(key(v))
        elif n == 8:
            revised.append(key(v))
    return metadata, keys, revised


def export_sig(data):
    out = []
    for n, _, v in fields(data):
        if n != 1:
            continue
        s = {}
        for m, _, w in fields(v):
            if m == 1:
                s["signature_info"] = signature_info(w)
            elif m in (2, 3):
                s["batch_num" if m == 2 else "batch_size"] = int32(w)
            elif m == 4:
                s["signature"] = w.hex()
        out.append(s)
    return out


def verifies(pem_paths, message, signatures):
    """Whether every signature verifies under one of the sample's keys (SHA-256 or SHA-512 by
    the algorithm's OID)."""
    keys = [serialization.load_pem_public_key(p.read_bytes()) for p in pem_paths]
    for s in signatures:
        algorithm = s["signature_info"].get("signature_algorithm", "")
        digest = hashes.SHA512() if algorithm == "1.2.840.10045.4.3.4" else hashes.SHA256()
        ok = False
        for k in keys:
            try:
                k.verify(bytes.fromhex(s["signature"]), message, ec.ECDSA(digest))
                ok = True
            except InvalidSignature:
                pass
        if not ok:
            return False
    return True


# --- the manifest -------------------------------------------------------------------------------

def recompute(sample):
    raw = (SAMPLES / sample["file"]).read_bytes()
    values = {}
    sig = None
    if raw[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            values["zip_entries"] = [{"name": i.filename, "size": i.file_size,
                                      "compress_type": i.compress_type} for i in z.infolist()]
            bin_bytes = z.read("export.bin")
            if "export.sig" in z.namelist():
                sig = z.read("export.sig")
    else:
        bin_bytes = raw
    metadata, keys, revised = export_bin(bin_bytes)
    values["export_bin_size"] = len(bin_bytes)
    values["export_bin_sha256"] = hashlib.sha256(bin_bytes).hexdigest()
    values["header_hex"] = bin_bytes[:16].hex()
    values["num_keys"] = len(keys)
    values["num_revised_keys"] = len(revised)
    values["expected_metadata"] = metadata
    values["expected_keys"] = keys
    values["expected_keys_first3"] = keys[:3]
    values["expected_keys_last"] = keys[-1] if keys else None
    if sig is not None:
        values["expected_signatures"] = export_sig(sig)
        values["signature_verifies"] = verifies([SAMPLES / p for p in sample.get("public_keys", [])],
                                                bin_bytes, values["expected_signatures"])
    else:
        values["signature_verifies"] = None
    # Only the values the manifest carries are replaced, where they are.
    return {k: (values[k] if k in values else v) for k, v in sample.items()}


def main(argv):
    manifest = json.loads(MANIFEST.read_text())
    manifest["samples"] = [recompute(s) for s in manifest["samples"]]
    text = json.dumps(manifest, indent=1, ensure_ascii=False) + "\n"
    if MANIFEST.read_text() == text:
        return 0
    if "--check" in argv:
        print("would change: " + str(MANIFEST.relative_to(ROOT)))
        return 1
    MANIFEST.write_text(text)
    print("wrote: " + str(MANIFEST.relative_to(ROOT)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
