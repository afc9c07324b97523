#!/usr/bin/env python3
"""Independent reference for the GAEN v1.2 key schedule and advertisement (spec/gaen-*.md).

Written from the specification text, not from the Rust crate, with the `cryptography`
package for HKDF and AES (AES-CTR in a real CTR mode, not the XOR shortcut the crate takes).

It first proves itself against evidence the crate never produced (Google's official vectors,
a live-device vector, a captured iPhone advertisement, all copied under test-vectors/upstream/),
then writes the vector files under test-vectors/:

  gaen-official-v1.2.json    Google's 144 official vectors in the project's format
  gaen-thirdparty.json       the live-device and mh- vectors in the project's format
  gaen-reference.json        edge cases only this reference computes
  gaen-advertisement.json    payloads with the outcome this reference's parser gives

Usage: python3 spec/reference/gaen_reference.py [--check]
  --check  write nothing; exit 1 if any file would change.
"""

import hashlib
import json
import struct
import sys
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "test-vectors"
UPSTREAM = VECTORS / "upstream"

ENIN_MAX = 0xFFFFFFFF
UUID_EN = 0xFD6F


# --- key schedule (spec/gaen-key-schedule.md) -------------------------------------------------

def hkdf16(ikm: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=16, salt=None, info=info).derive(ikm)


def rpik(tek: bytes) -> bytes:
    return hkdf16(tek, b"EN-RPIK")


def aemk(tek: bytes) -> bytes:
    return hkdf16(tek, b"EN-AEMK")


def rpi(rpik_: bytes, enin: int) -> bytes:
    assert 0 <= enin <= ENIN_MAX
    padded = b"EN-RPI" + bytes(6) + struct.pack("<I", enin)
    enc = Cipher(algorithms.AES(rpik_), modes.ECB()).encryptor()
    return enc.update(padded) + enc.finalize()


def aem(aemk_: bytes, rpi_: bytes, metadata: bytes) -> bytes:
    enc = Cipher(algorithms.AES(aemk_), modes.CTR(rpi_)).encryptor()
    return enc.update(metadata) + enc.finalize()


def advertisement(flags: int, rpi_: bytes, aem_: bytes) -> bytes:
    uuid = struct.pack("<H", UUID_EN)
    return (bytes([2, 0x01, flags]) + bytes([3, 0x03]) + uuid
            + bytes([1 + 2 + 20, 0x16]) + uuid + rpi_ + aem_)


def crypto_entry(name, tek, enin, metadata, start, period, flags=0x1A, rpi_=None, aem_=None):
    """One gaen-crypto vector; rpi_/aem_ given from evidence are checked, not recomputed."""
    assert start <= enin <= start + period - 1 <= ENIN_MAX and 1 <= period <= 144
    k = rpik(tek)
    e = aemk(tek)
    r = rpi(k, enin)
    a = aem(e, r, metadata)
    if rpi_ is not None:
        assert r == rpi_, f"{name}: reference RPI {r.hex()} != evidence {rpi_.hex()}"
    if aem_ is not None:
        assert a == aem_, f"{name}: reference AEM {a.hex()} != evidence {aem_.hex()}"
    assert aem(e, r, a) == metadata  # CTR is its own inverse
    return {
        "name": name,
        "tek": tek.hex(),
        "rpik": k.hex(),
        "aemk": e.hex(),
        "en_interval_number": enin,
        "rolling_start_interval_number": start,
        "rolling_period": period,
        "rpi": r.hex(),
        "metadata": metadata.hex(),
        "aem": a.hex(),
        "flags": f"{flags:02x}",
        "advertisement": advertisement(flags, r, a).hex(),
    }


# --- advertisement parser (spec/advertisement.md) ---------------------------------------------

class Reject(Exception):
    def __init__(self, label):
        super().__init__(label)
        self.label = label


def parse_payload(payload: bytes):
    """Returns {'rpi','aem','flags','lists_service_uuid'} or raises Reject(class)."""
    if len(payload) > 31:
        raise Reject("too-long")
    pos = 0
    found = None
    flags = None
    listed = False
    while pos < len(payload):
        length = payload[pos]
        if length == 0:
            if any(payload[pos + 1:]):
                raise Reject("non-zero-padding")
            break
        if pos + 1 + length > len(payload):
            raise Reject("truncated")
        ad_type = payload[pos + 1]
        data = payload[pos + 2:pos + 1 + length]
        if ad_type == 0x01 and flags is None and data:
            flags = data[0]
        elif ad_type in (0x02, 0x03):
            uuids = [data[i] | data[i + 1] << 8 for i in range(0, len(data) - 1, 2)]
            listed = listed or UUID_EN in uuids
        elif ad_type == 0x16:
            if len(data) < 2:
                raise Reject("malformed")
            if data[0] | data[1] << 8 == UUID_EN:
                if found is not None:
                    raise Reject("duplicate-service-data")
                found = parse_service_data(data[2:])
        pos += 1 + length
    if found is None:
        raise Reject("missing-service-data")
    found.update(flags=flags, lists_service_uuid=listed)
    return found


def parse_service_data(data: bytes):
    if len(data) != 20:
        raise Reject("service-data-length")
    return {"rpi": data[:16], "aem": data[16:]}


def advertisement_entry(name, expect, payload=None, service_data=None, note=None):
    """One gaen-advertisement vector; `expect` is the hand label, checked by the parser."""
    try:
        if payload is not None:
            got = parse_payload(payload)
        else:
            got = parse_service_data(service_data)
        outcome = "ok"
    except Reject as reject:
        got, outcome = None, reject.label
    assert outcome == expect, f"{name}: labelled {expect}, reference parser says {outcome}"
    entry = {"name": name}
    if note:
        entry["note"] = note
    if payload is not None:
        entry["payload"] = payload.hex()
    else:
        entry["service_data"] = service_data.hex()
    entry["expect"] = outcome
    if got is not None:
        entry["rpi"] = got["rpi"].hex()
        entry["aem"] = got["aem"].hex()
        if payload is not None:
            entry["flags"] = None if got["flags"] is None else f"{got['flags']:02x}"
            entry["lists_service_uuid"] = got["lists_service_uuid"]
    return entry


# --- the files ---------------------------------------------------------------------------------

def official():
    up = json.loads((UPSTREAM / "gaen-test-vectors-v1.2.json").read_text())
    tek = bytes.fromhex(up["tek"])
    assert rpik(tek).hex() == up["rpik"] and aemk(tek).hex() == up["aemk"]
    start = up["first_en_interval_number"]
    metadata = bytes.fromhex(up["metadata"])
    vectors = [
        crypto_entry(f"official interval {iv['index']}", tek, iv["en_interval_number"], metadata,
                     start, up["rolling_period"],
                     rpi_=bytes.fromhex(iv["rpi"]), aem_=bytes.fromhex(iv["aem"]))
        for iv in up["intervals"]
    ]
    assert len(vectors) == 144
    return {
        "kind": "gaen-crypto",
        "name": up["name"],
        "source": {
            "evidence": "Google's official test vectors, Cryptography Specification v1.2",
            "repo": up["source"]["repo"],
            "path": up["source"]["path"],
            "commit": up["source"]["commit"],
            "copy": "test-vectors/upstream/gaen-test-vectors-v1.2.json",
            "converted_by": "spec/reference/gaen_reference.py (values verbatim; the "
                            "advertisement and flags fields are built by the reference)",
        },
        "vectors": vectors,
    }


def thirdparty():
    up = json.loads((UPSTREAM / "gaen-thirdparty-vectors.json").read_text())
    vectors = []
    for cv in up["crypto_vectors"]:
        tek = bytes.fromhex(cv["tek"])
        assert rpik(tek).hex() == cv["rpik"] and aemk(tek).hex() == cv["aemk"]
        enin = cv["en_interval_number"]
        entry = crypto_entry(cv["name"], tek, enin, bytes.fromhex(cv["metadata"]),
                             enin - enin % 144, 144,
                             rpi_=bytes.fromhex(cv["rpi"]), aem_=bytes.fromhex(cv["aem"]))
        entry["provenance"] = cv["provenance"]
        entry["source"] = cv["source"]
        vectors.append(entry)
    return {
        "kind": "gaen-crypto",
        "name": "Third-party GAEN vectors: a live Android GMS 20.18.17 device and an "
                "independent Python implementation",
        "source": {
            "evidence": "see each vector's provenance and source",
            "copy": "test-vectors/upstream/gaen-thirdparty-vectors.json",
            "converted_by": "spec/reference/gaen_reference.py (values verbatim; the rolling "
                            "window is the key's UTC day, the advertisement is built by the "
                            "reference)",
        },
        "vectors": vectors,
    }


def reference_tek(label: str) -> bytes:
    return hashlib.sha256(b"bluezone reference TEK " + label.encode()).digest()[:16]


def reference():
    v = []
    for enin in (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF):
        v.append(crypto_entry(f"interval {enin:#010x}, one-interval key",
                              reference_tek(f"edge {enin}"), enin, bytes.fromhex("40080000"),
                              enin, 1))
    tek = reference_tek("signed boundary")
    for enin in (0x7FFFFFFF - 1, 0x7FFFFFFF, 0x80000000, 0x80000000 + 1):
        v.append(crypto_entry(f"window across the signed 32-bit boundary, interval {enin:#x}",
                              tek, enin, bytes.fromhex("40000000"), 0x7FFFFFFF - 71, 144))
    tek = reference_tek("last day")
    for enin in (ENIN_MAX - 143, ENIN_MAX):
        v.append(crypto_entry(f"last possible window, interval {enin:#x}", tek, enin,
                              bytes.fromhex("40080000"), ENIN_MAX - 143, 144))
    # Google's RoundTripTests key starts 81 intervals into its day with period 89.
    tek = reference_tek("unaligned 2646801/89")
    for enin in (2646801, 2646801 + 62, 2646801 + 63, 2646801 + 88):
        v.append(crypto_entry(f"unaligned start 2646801, period 89, interval {enin}", tek,
                              enin, bytes.fromhex("40f60000"), 2646801, 89))
    tek = reference_tek("unaligned 2652007/1")
    v.append(crypto_entry("unaligned start, period 1", tek, 2652007, bytes.fromhex("40000000"),
                          2652007, 1))
    tek = reference_tek("metadata")
    base = 2652048
    for k, (what, meta) in enumerate([
        ("v1.0, TX -128 dBm", bytes([0x40, 0x80, 0, 0])),
        ("v1.0, TX -1 dBm", bytes([0x40, 0xFF, 0, 0])),
        ("v1.0, TX -14 dBm", bytes([0x40, 0xF2, 0, 0])),
        ("v1.0, TX 0 dBm", bytes([0x40, 0x00, 0, 0])),
        ("v1.0, TX +127 dBm", bytes([0x40, 0x7F, 0, 0])),
        ("v1.1, confidence lowest, TX -15 dBm", bytes([0x50, 0xF1, 0, 0])),
        ("v1.1, confidence low, TX -15 dBm", bytes([0x54, 0xF1, 0, 0])),
        ("v1.1, confidence medium, TX -7 dBm", bytes([0x58, 0xF9, 0, 0])),
        ("v1.1, confidence high, TX -50 dBm", bytes([0x5C, 0xCE, 0, 0])),
        ("reserved bits and bytes set, kept as they are", bytes([0x43, 0x08, 0xA5, 0x5A])),
    ]):
        v.append(crypto_entry(f"metadata {what}", tek, base + k, meta, base, 144))
    for flags in (0x02, 0x06, 0x1A):
        v.append(crypto_entry(f"flags byte {flags:#04x}", reference_tek("flags"), base + 3,
                              bytes.fromhex("40f20000"), base, 144, flags=flags))
    return {
        "kind": "gaen-crypto",
        "name": "GAEN v1.2 edge cases from the independent reference implementation",
        "source": {
            "evidence": "computed by spec/reference/gaen_reference.py (Python, `cryptography` "
                        "package), which first reproduces the official and live-device vectors",
            "tek_rule": "tek = SHA-256('bluezone reference TEK ' + label)[0:16]",
        },
        "vectors": v,
    }


def advertisements():
    tp = json.loads((UPSTREAM / "gaen-thirdparty-vectors.json").read_text())
    iphone = bytes.fromhex(tp["adv_payloads"][0]["payload"])
    explorer = bytes.fromhex(tp["service_data_only"][0]["service_data"])
    r = bytes.fromhex("8be6cd371c5c891604bfbe49df845096")  # official RPI 0
    a = bytes.fromhex("72033874")                           # official AEM 0
    flags = bytes.fromhex("02011a")
    listing = bytes.fromhex("03036ffd")
    sd = bytes.fromhex("17166ffd") + r + a
    e = advertisement_entry
    v = [
        e("captured iPhone advertisement (iOS 13.5)", "ok", payload=iphone,
          note=tp["adv_payloads"][0]["source"]),
        e("service data copied from BluetoothExplorer", "ok", service_data=explorer,
          note=tp["service_data_only"][0]["source"]),
        e("official interval 0, as the crate encodes it", "ok", payload=flags + listing + sd),
        e("no Flags structure (Android may omit it)", "ok", payload=listing + sd),
        e("service data alone", "ok", payload=sd),
        e("structures in reverse order", "ok", payload=sd + listing + flags),
        e("unrelated manufacturer data first", "ok", payload=bytes.fromhex("03ff4c00") + sd),
        e("incomplete UUID list", "ok", payload=flags + bytes.fromhex("03026ffd") + sd),
        e("UUID list naming another service too", "ok",
          payload=bytes.fromhex("0503 0f18 6ffd".replace(" ", "")) + sd),
        e("other 16-bit service data before ours", "ok",
          payload=bytes.fromhex("0416 0f18 64".replace(" ", "")) + sd),
        e("zero-length terminator and zero padding", "ok", payload=sd + bytes(7)),
        e("Flags with an empty data field", "ok", payload=bytes.fromhex("0101") + sd),
        e("empty payload", "missing-service-data", payload=b""),
        e("Flags and UUID list only", "missing-service-data", payload=flags + listing),
        e("service data for another UUID (0xFD6E)", "missing-service-data",
          payload=bytes.fromhex("17166efd") + r + a),
        e("all-zero payload (terminator at once)", "missing-service-data", payload=bytes(31)),
        e("32 bytes", "too-long", payload=sd + bytes.fromhex("0201060000000000")),
        e("64 bytes", "too-long", payload=bytes(64)),
        e("service data cut one byte short", "truncated", payload=(flags + listing + sd)[:-1]),
        e("length byte with nothing after it", "truncated", payload=flags + bytes([2])),
        e("length 0xFF", "truncated", payload=bytes.fromhex("ff16") + bytes(29)),
        e("non-zero byte after the terminator", "non-zero-padding",
          payload=sd + bytes.fromhex("000001")),
        e("service data of 19 bytes", "service-data-length",
          payload=bytes.fromhex("16166ffd") + r + a[:3]),
        e("service data of 21 bytes", "service-data-length",
          payload=bytes.fromhex("18166ffd") + r + a + b"\x00"),
        e("RPI without AEM (16 bytes)", "service-data-length", service_data=r),
        e("service data of 21 bytes alone", "service-data-length", service_data=r + a + b"\x00"),
        e("service data structure without a full UUID", "malformed",
          payload=bytes.fromhex("02166f") + sd),
        e("our service data twice", "duplicate-service-data",
          payload=sd + bytes.fromhex("03166ffd")),
    ]
    return {
        "kind": "gaen-advertisement",
        "name": "Exposure Notification advertising payloads, valid and malformed",
        "source": {
            "evidence": "the first two payloads are captures (see each note); the rest are "
                        "constructed, each labelled by hand and checked against the "
                        "independent parser in spec/reference/gaen_reference.py",
        },
        "vectors": v,
    }


def render(document) -> str:
    return json.dumps(document, indent=1) + "\n"


def main(argv):
    check = "--check" in argv
    outputs = {
        "gaen-official-v1.2.json": official(),
        "gaen-thirdparty.json": thirdparty(),
        "gaen-reference.json": reference(),
        "gaen-advertisement.json": advertisements(),
    }
    stale = []
    for name, document in outputs.items():
        path = VECTORS / name
        text = render(document)
        if path.exists() and path.read_text() == text:
            continue
        stale.append(name)
        if not check:
            path.write_text(text)
    for name in stale:
        print(("would change: " if check else "wrote: ") + name)
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
