"""The phone's own loop: today's key and advertisements, what the radio heard, the encounter
log, releasing keys for upload, and the Bluezone 2020 check. The daily check itself is
:func:`bluezone.match`.

Sightings are dictionaries in the library's JSON form: ``{"gaen": {"unix_seconds", "rpi",
"aem", "rssi", "previous_scan_unix_seconds"}}`` (identifiers in hex) or ``{"bluezone":
{"unix_ms", "contact_id", "own_id", "rssi"}}``. Every error is a :class:`bluezone.Error`.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from . import _bluezone

PathLike = Union[str, "os.PathLike[str]"]
Sighting = Dict[str, Dict[str, Any]]
#: A key to release: (key, rolling_start, rolling_period, transmission_risk, report_type).
ReleasedKey = Tuple[bytes, int, int, int, int]

__all__ = [
    "EncounterLog",
    "advertisements",
    "blid_match",
    "calibration",
    "classify",
    "encode_advertisement",
    "new_tek",
    "publish_request",
    "read_segment",
    "tek_hmac",
]


def new_tek(unix_seconds: int, entropy: Optional[bytes] = None) -> Tuple[bytes, int]:
    """A new temporary exposure key for the UTC day holding ``unix_seconds``: ``(key,
    rolling_start)``. ``entropy`` (16 bytes from the caller's generator) becomes the key;
    without it the operating system's randomness is used."""
    return _bluezone.new_tek(unix_seconds, entropy)


_CONFIDENCE = {"lowest": 0, "low": 1, "medium": 2, "high": 3}


def advertisements(
    tek: bytes, rolling_start: int, tx_power: int, confidence: Union[int, str] = 3
) -> List[bytes]:
    """The 31-byte advertising payloads of a key's day, one per 10-minute interval, with the
    phone's calibrated TX power and calibration confidence (0 to 3, or its name as
    :func:`calibration` gives it) in version-1.1 metadata."""
    if isinstance(confidence, str):
        if confidence not in _CONFIDENCE:
            raise _error(f"confidence {confidence!r} is not one of {sorted(_CONFIDENCE)}")
        confidence = _CONFIDENCE[confidence]
    return _bluezone.advertisements(tek, rolling_start, tx_power, confidence)


def _error(message: str) -> Exception:
    return _bluezone.Error(message)


def encode_advertisement(rpi: bytes, aem: bytes) -> bytes:
    """The advertising payload of one identifier and its encrypted metadata."""
    return _bluezone.encode_advertisement(rpi, aem)


def calibration(
    manufacturer: str, model: str, device: Optional[str] = None, table: str = "2020-12-14"
) -> Dict[str, Any]:
    """A phone's TX power, RSSI correction and calibration confidence in one of Google's
    tables, with the fallback level that answered."""
    return json.loads(_bluezone.calibration(manufacturer, model, device, table))


def classify(
    payload: bytes,
    rssi: int,
    unix_seconds: int,
    rssi_correction: int = 0,
    previous_scan_unix_seconds: int = 0,
    own_id: Optional[bytes] = None,
) -> Optional[Sighting]:
    """The sighting an advertising payload makes, or ``None`` for neither protocol. The raw
    ``rssi`` gets the receiver's ``rssi_correction``. Raises :class:`bluezone.SourceError` for a
    malformed payload."""
    text = _bluezone.classify(
        payload, rssi, unix_seconds, rssi_correction, previous_scan_unix_seconds, own_id
    )
    return None if text is None else json.loads(text)


class EncounterLog:
    """The crash-safe encounter log in a folder (made when missing)."""

    def __init__(self, path: PathLike) -> None:
        self.path = os.fspath(path)

    def append(self, sightings: Sequence[Sighting]) -> int:
        """Appends sightings and makes them durable; returns how many were written."""
        return _bluezone.log_append(self.path, json.dumps(list(sightings)))

    def read(self) -> List[Sighting]:
        """Every sighting, oldest first; a damaged log raises :class:`bluezone.SourceError`."""
        return json.loads(_bluezone.log_read(self.path))


def read_segment(data: bytes) -> List[Sighting]:
    """The sightings of one log segment held in memory (a segment file's bytes)."""
    return json.loads(_bluezone.read_segment(data))


def publish_request(keys: Sequence[ReleasedKey], hmac_secret: bytes) -> str:
    """The publish request a phone uploads, with its ``hmackey``: JSON text."""
    return _bluezone.publish_request(list(keys), hmac_secret)


def tek_hmac(
    keys: Sequence[ReleasedKey], hmac_secret: bytes, with_transmission_risk: bool = True
) -> str:
    """The TEK HMAC the verification certificate carries, standard base64."""
    return _bluezone.tek_hmac(list(keys), hmac_secret, with_transmission_risk)


def blid_match(
    f0: str, history: str, now: int, unit: str = "ms", close_rssi: Optional[int] = None
) -> Dict[str, Any]:
    """Bluezone 2020: an F0 list (JSON text) against a contact history (``data_trace.txt``
    text), with the app's F1 rule: ``{"contact", "matches", "f1"}``."""
    return json.loads(_bluezone.blid_match(f0, history, now, unit, close_rssi))
