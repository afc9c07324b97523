"""Exposure Notification (GAEN v1.2) and Bluezone 2020 proximity tracing, for Python.

A binding of the Rust library ``bluezone``: the same code that the ``bluezone`` command-line
tool runs. Derive a key's identifiers, read key export files with their signature verdict,
and match export files against a phone's sightings for the risk report and the F1 verdict
(a close contact: about 2 m for 15 minutes in one day).

Every error is a :class:`bluezone.Error`; its subclasses name the library's error types.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, List, Optional, Sequence, Tuple, Union

from . import _bluezone
from ._bluezone import (
    CheckError,
    Error,
    ExportFileError,
    LengthError,
    NotAuthenticError,
    PublicKeyError,
    RiskConfigError,
    SourceError,
    TimeError,
)

__version__: str = _bluezone.__version__

__all__ = [
    "CheckError",
    "Error",
    "Export",
    "ExportFileError",
    "ExportMetadata",
    "Key",
    "LengthError",
    "Match",
    "MatchedSighting",
    "NotAuthenticError",
    "PublicKeyError",
    "Report",
    "RiskConfigError",
    "SourceError",
    "TimeError",
    "match",
    "read_export",
    "rolling_proximity_identifiers",
]

PathLike = Union[str, "os.PathLike[str]"]
#: A sighting given as a row: (unix_seconds, rpi, aem, rssi); rpi and aem as bytes or hex.
Row = Tuple[int, Union[bytes, str], Union[bytes, str], int]


def rolling_proximity_identifiers(
    tek: bytes, rolling_start_interval_number: int, rolling_period: int = 144
) -> List[bytes]:
    """The rolling proximity identifiers of a temporary exposure key, one per 10-minute
    interval of its window, in order (16 bytes each).

    Raises :class:`LengthError` unless ``tek`` is 16 bytes, and :class:`TimeError` for an
    interval number outside 0..2**32 or a rolling period outside 1..144.
    """
    start = _integer(rolling_start_interval_number, 0, 2**32 - 1, TimeError, "rolling start")
    period = _integer(rolling_period, 1, 144, TimeError, "rolling period")
    try:
        tek = bytes(tek)
    except TypeError as error:
        raise LengthError(f"tek must be 16 bytes: {error}") from None
    return _bluezone.rolling_proximity_identifiers(tek, start, period)


def _integer(value: Any, low: int, high: int, error: type, what: str) -> int:
    """``value`` as an int in ``low..=high``; anything else (a float, a bool, a string, out of
    range) raises ``error`` naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(f"{what} must be an integer, found {type(value).__name__} {value!r}")
    if not low <= value <= high:
        raise error(f"{what} must lie in {low}..={high}, found {value}")
    return value


@dataclass(frozen=True)
class Key:
    """A diagnosis key as an export file publishes it."""

    #: The 16 key bytes.
    key_data: bytes
    #: The first 10-minute interval of its window.
    rolling_start_interval_number: int
    #: Intervals in its window (144 for a day).
    rolling_period: int
    #: Transmission risk level, 0..8 (0: not set).
    transmission_risk_level: int
    #: 0 unknown, 1 confirmed test, 2 confirmed clinical diagnosis, 3 self report,
    #: 4 recursive, 5 revoked.
    report_type: int
    #: Days from symptom onset to the key's day, when published.
    days_since_onset_of_symptoms: Optional[int]
    #: Whether it came from the file's revised keys.
    revised: bool = False

    @classmethod
    def _of(cls, fields: dict) -> "Key":
        return cls(
            key_data=bytes.fromhex(fields.get("key_data") or fields["tek"]),
            rolling_start_interval_number=fields["rolling_start_interval_number"],
            rolling_period=fields["rolling_period"],
            transmission_risk_level=fields["transmission_risk_level"],
            report_type=fields["report_type"],
            days_since_onset_of_symptoms=fields.get("days_since_onset_of_symptoms"),
            revised=fields.get("revised", False),
        )


@dataclass(frozen=True)
class ExportMetadata:
    """The header fields of an ``export.bin``; ``None`` where the file leaves one out."""

    start_timestamp: Optional[int]
    end_timestamp: Optional[int]
    region: Optional[str]
    batch_num: Optional[int]
    batch_size: Optional[int]
    #: Each signature info: verification_key_id, verification_key_version, signature_algorithm.
    signature_infos: List[dict]


@dataclass(frozen=True)
class Export:
    """An export file, read whole."""

    #: The file.
    path: str
    #: ``"zip"`` (export.zip) or ``"bare"`` (export.bin).
    format: str
    metadata: ExportMetadata
    #: Its keys and revised keys, in file order.
    keys: List[Key]
    #: True or False when public keys were given; None when nothing was checked.
    authentic: Optional[bool]
    #: The verdict for people, with each signature's status (None when nothing was checked).
    verification: Optional[str]
    #: Signatures in export.sig.
    signatures: int
    #: Why each key the protocol does not allow was left out (counted, never silently).
    invalid_keys: List[str]


def _pems(public_keys: Union[None, PathLike, Iterable[PathLike]]) -> List[str]:
    """PEM texts from a PEM text, a path to a PEM file, or an iterable of either."""
    if public_keys is None:
        return []
    if isinstance(public_keys, (str, os.PathLike)):
        public_keys = [public_keys]
    texts = []
    for key in public_keys:
        try:
            text = os.fspath(key)
            if "-----BEGIN" not in text:
                with open(text, encoding="utf-8") as file:
                    text = file.read()
        except (OSError, TypeError, UnicodeDecodeError) as error:
            raise PublicKeyError(f"{key!r}: {error}") from None
        texts.append(text)
    return texts


def read_export(
    path: PathLike, public_keys: Union[None, PathLike, Iterable[PathLike]] = None
) -> Export:
    """Reads an ``export.zip`` or a bare ``export.bin``: its metadata, its keys and, with
    ``public_keys`` (PEM texts or paths to PEM files), whether it is authentic.

    Keys are returned whatever the verdict; check :attr:`Export.authentic` before acting on
    them (:func:`match` does). Raises :class:`ExportFileError` for a file that cannot be read
    or is malformed, :class:`PublicKeyError` for a bad key.
    """
    raw = json.loads(_bluezone.read_export(os.fspath(path), _pems(public_keys)))
    m = raw["metadata"]
    return Export(
        path=os.fspath(path),
        format=raw["format"],
        metadata=ExportMetadata(
            start_timestamp=m.get("start_timestamp"),
            end_timestamp=m.get("end_timestamp"),
            region=m.get("region"),
            batch_num=m.get("batch_num"),
            batch_size=m.get("batch_size"),
            signature_infos=m.get("signature_infos", []),
        ),
        keys=[Key._of(k) for k in raw["keys"]],
        authentic=raw["authentic"],
        verification=raw["verification"],
        signatures=raw["signatures"],
        invalid_keys=raw["invalid_keys"],
    )


@dataclass(frozen=True)
class MatchedSighting:
    """One sighting of a matched key's identifier."""

    unix_seconds: int
    en_interval_number: int
    rpi: bytes
    aem: bytes
    #: The decrypted metadata.
    metadata: bytes
    #: Calibrated RSSI, dBm.
    rssi: int
    #: TX power from the metadata, dBm.
    tx_power: int
    #: TX power minus RSSI, dB.
    attenuation: int


@dataclass(frozen=True)
class Match:
    """A diagnosis key heard by the phone, with its sightings in time order."""

    key: Key
    first_report_type: int
    report_type_transitions: int
    sightings: List[MatchedSighting] = field(default_factory=list)


class Report:
    """The result of :func:`match`: matches, risk figures and the F1 verdict.

    :meth:`to_dict` is the JSON document ``bluezone match --json`` prints for the same input.
    """

    def __init__(self, document: dict) -> None:
        self._document = document
        #: Every matched key, ordered by key bytes.
        self.matches: List[Match] = [
            Match(
                key=Key._of(m),
                first_report_type=m["first_report_type"],
                report_type_transitions=m["report_type_transitions"],
                sightings=[
                    MatchedSighting(
                        unix_seconds=s["unix_seconds"],
                        en_interval_number=s["en_interval_number"],
                        rpi=bytes.fromhex(s["rpi"]),
                        aem=bytes.fromhex(s["aem"]),
                        metadata=bytes.fromhex(s["metadata"]),
                        rssi=s["rssi"],
                        tx_power=s["tx_power"],
                        attenuation=s["attenuation"],
                    )
                    for s in m["sightings"]
                ],
            )
            for m in document["matches"]
        ]
        #: Whether the phone's user is a close contact (F1).
        self.f1: bool = document["f1"]["f1"]
        #: Each (day, case) the F1 rule looked at: unix_day, tek, close_seconds, ...
        self.f1_days: List[dict] = document["f1"]["days"]
        #: Every key's 30-minute exposure windows, as Google's engine builds them.
        self.exposure_windows: List[dict] = document["exposure_windows"]
        #: v2 daily summaries.
        self.daily_summaries: List[dict] = document["daily_summaries"]
        #: v1 scores, when the risk configuration has a ``v1`` section.
        self.v1: Optional[dict] = document.get("v1")
        #: Keys read and keys matched.
        self.keys_total: int = document["keys_total"]
        self.keys_matched: int = document["keys_matched"]
        #: Sightings indexed.
        self.sightings: int = document["sightings"]
        #: "Now" as used for the look-back, Unix seconds.
        self.now_unix_seconds: int = document["now_unix_seconds"]
        #: What each rule turned away.
        self.rejected: dict = document["rejected"]
        #: A deployment's verdict, when :func:`match` was given ``risk_model``: the CWA's
        #: results by their names, or the NHS score of each window.
        self.risk_model: Optional[dict] = document.get("risk_model")

    def to_dict(self) -> dict:
        """The report as ``bluezone match --json`` prints it (a fresh copy)."""
        return json.loads(json.dumps(self._document))

    def __repr__(self) -> str:
        return (
            f"Report(keys_total={self.keys_total}, keys_matched={self.keys_matched}, "
            f"f1={self.f1})"
        )


def _row(n: int, row: Sequence[Any]) -> Tuple[int, bytes, bytes, int]:
    try:
        unix_seconds, rpi, aem, rssi = row
        as_bytes = lambda v: bytes.fromhex(v) if isinstance(v, str) else bytes(v)  # noqa: E731
        rpi, aem = as_bytes(rpi), as_bytes(aem)
    except (TypeError, ValueError) as error:
        raise SourceError(
            f"row {n}: not (unix_seconds, rpi, aem, rssi) with rpi and aem as bytes or hex: {error}"
        ) from None
    unix_seconds = _integer(unix_seconds, 0, 2**64 - 1, SourceError, f"row {n}: unix_seconds")
    rssi = _integer(rssi, -128, 127, SourceError, f"row {n}: rssi")
    return unix_seconds, rpi, aem, rssi


def _json_text(value: Union[None, dict, PathLike]) -> Optional[str]:
    """Settings given as a dict or as a path to JSON, as JSON text; a file that cannot be read
    raises :class:`RiskConfigError` naming it."""
    if value is None:
        return None
    if isinstance(value, dict):
        return json.dumps(value)
    try:
        with open(os.fspath(value), encoding="utf-8") as file:
            return file.read()
    except (OSError, TypeError, UnicodeDecodeError) as error:
        raise RiskConfigError(f"{value!r}: {error}") from None


def match(
    keys: Union[PathLike, bytes, Iterable[Union[PathLike, bytes]]],
    encounters: Union[PathLike, Iterable[Row]],
    public_keys: Union[None, PathLike, Iterable[PathLike]] = None,
    allow_unsigned: bool = False,
    risk_config: Union[None, dict, PathLike] = None,
    now: Optional[int] = None,
    state: Optional[PathLike] = None,
    risk_model: Optional[str] = None,
    risk_model_config: Union[None, dict, PathLike] = None,
) -> Report:
    """Matches the keys of export files (``keys``: paths, in publication order, or the files'
    bytes as downloaded) against a phone's sightings and assesses the risk, as ``bluezone
    match`` does.

    ``encounters`` is an encounter-log folder, a CSV file ``unix_seconds,rpi,aem,rssi``, or
    rows ``(unix_seconds, rpi, aem, rssi)``. Every file must be authentic under one of
    ``public_keys`` (PEM texts or paths), unless ``allow_unsigned``. ``risk_config`` is a
    dict or a path to JSON with the fields of the tool's ``--risk-config``; ``now`` the Unix
    time of the look-back (the newest sighting by default). ``state`` is a match-state folder
    (made when missing; files and keys checked before are not read again), as ``bluezone match
    --state``; a state reads its files from disk, so it takes paths, not bytes. ``risk_model`` (``"cwa"`` or ``"nhs"``) adds that deployment's verdict as
    :attr:`Report.risk_model`, with ``risk_model_config`` (a dict or a path to JSON) or the
    model's default.

    Raises :class:`NotAuthenticError`, :class:`CheckError` (no public key and not
    ``allow_unsigned``), :class:`ExportFileError`, :class:`SourceError`,
    :class:`RiskConfigError` or :class:`PublicKeyError`.
    """
    try:
        files = [keys] if isinstance(keys, (str, os.PathLike, bytes, bytearray)) else list(keys)
    except TypeError as error:
        raise ExportFileError(f"keys: not a path, bytes, or an iterable of them: {error}") from None
    in_memory = [bytes(f) for f in files if isinstance(f, (bytes, bytearray))]
    if in_memory and len(in_memory) != len(files):
        raise ExportFileError("keys: give every file as a path, or every file as bytes, not both")
    try:
        paths = [] if in_memory else [os.fspath(f) for f in files]
    except TypeError as error:
        raise ExportFileError(f"keys: not a path, bytes, or an iterable of them: {error}") from None
    folder_or_csv: Optional[str] = None
    rows: Optional[List[Tuple[int, bytes, bytes, int]]] = None
    if isinstance(encounters, (str, os.PathLike)):
        folder_or_csv = os.fspath(encounters)
    elif encounters is None or isinstance(encounters, (bytes, bytearray)):
        raise SourceError(
            "encounters: give a log folder or CSV path, or rows (unix_seconds, rpi, aem, rssi)"
        )
    else:
        try:
            rows = [_row(n, row) for n, row in enumerate(encounters)]
        except TypeError as error:
            raise SourceError(f"encounters: not an iterable of rows: {error}") from None
    if now is not None:
        now = _integer(now, 0, 2**64 - 1, TimeError, "now")
    config = _json_text(risk_config)
    model_config = _json_text(risk_model_config)
    document = _bluezone.match_files(
        paths,
        folder_or_csv,
        rows,
        _pems(public_keys),
        allow_unsigned,
        config,
        now,
        None if state is None else os.fspath(state),
        risk_model,
        model_config,
        in_memory or None,
    )
    return Report(json.loads(document))
