"""Type stubs of the extension module; use the package ``bluezone``, which wraps it."""

from typing import List, Optional, Tuple

__version__: str

class Error(Exception):
    """Every error of the bluezone package."""

class LengthError(Error):
    """A byte string has the wrong length."""

class TimeError(Error):
    """An interval number or rolling period is out of range."""

class PublicKeyError(Error):
    """A public key is not a P-256 key in PEM."""

class ExportFileError(Error):
    """An export file cannot be opened, read or parsed."""

class SourceError(Error):
    """The encounters cannot be read whole: a damaged log, a bad CSV line or a bad row."""

class RiskConfigError(Error):
    """The risk configuration is invalid."""

class CheckError(Error):
    """An exposure check stopped (no public key given, threads unavailable, ...)."""

class NotAuthenticError(CheckError):
    """An export file is not authentic; its keys were not used."""

def rolling_proximity_identifiers(
    tek: bytes, rolling_start_interval_number: int, rolling_period: int = 144
) -> List[bytes]:
    """The identifiers of a key's window, in order."""

def read_export(path: str, public_keys: List[str]) -> str:
    """An export file read whole, as JSON text."""

def match_files(
    files: List[str],
    encounters: Optional[str],
    rows: Optional[List[Tuple[int, bytes, bytes, int]]],
    public_keys: List[str],
    allow_unsigned: bool,
    risk_config: Optional[str],
    now: Optional[int],
    state: Optional[str] = None,
    risk_model: Optional[str] = None,
    risk_model_config: Optional[str] = None,
    in_memory: Optional[List[bytes]] = None,
) -> str:
    """The JSON document of ``bluezone match --json`` for the same input (the export files'
    bytes ``in_memory`` instead of ``files``, when given)."""

def new_tek(unix_seconds: int, entropy: Optional[bytes]) -> Tuple[bytes, int]:
    """A key for the day holding ``unix_seconds`` and its rolling start."""

def advertisements(
    tek: bytes, rolling_start: int, tx_power: int, confidence: int = 3,
    rolling_period: int = 144, flags: int = 0x1A,
) -> List[bytes]:
    """The advertising payloads of a key's window."""

def encode_advertisement(rpi: bytes, aem: bytes, flags: int = 0x1A) -> bytes:
    """One advertising payload."""

def calibration(manufacturer: str, model: str, device: Optional[str] = None, table: str = "2020-12-14") -> str:
    """A phone's calibration, as JSON text."""

def classify(
    payload: bytes, rssi: int, unix_seconds: int, rssi_correction: int = 0,
    previous_scan_unix_seconds: int = 0, own_id: Optional[bytes] = None,
) -> Optional[str]:
    """The sighting a payload makes, as JSON text, or None."""

def log_append(path: str, sightings: str) -> int:
    """Appends sightings (JSON text) to a log folder."""

def log_read(path: str) -> str:
    """A log folder's sightings, as JSON text."""

def read_segment(data: bytes) -> str:
    """A segment's sightings, as JSON text."""

def publish_request(keys: List[Tuple[bytes, int, int, int, int]], hmac_secret: bytes) -> str:
    """The publish request, as JSON text."""

def tek_hmac(keys: List[Tuple[bytes, int, int, int, int]], hmac_secret: bytes, with_transmission_risk: bool = True) -> str:
    """The TEK HMAC, base64."""

def blid_match(f0: str, history: str, now: int, unit: str = "ms", close_rssi: Optional[int] = None) -> str:
    """Bluezone 2020 matching and F1, as JSON text."""

class CheckResult:
    """What one daily check of the adoption study found (spec §study.4)."""

    warned: List[int]
    published_keys: int
    matched_keys: int
    sightings: int
    phones_checked: int
    observable_close: int
    warned_close: int

class StudyPhones:
    """The adoption study's phones of one region: encounters, keys from the seed, and the daily
    check with the library's matcher and F1 rule (spec §study). Arrays are little-endian
    ``u32`` bytes (numpy's ``astype("<u4").tobytes()``); malformed input raises ValueError."""

    def __init__(
        self, seed: int, people: int, first_unix_day: int, at_1m_db: float,
        per_decade_db: float, spread_db: float,
    ) -> None: ...
    def record(
        self, day: int, a: bytes, b: bytes, start: bytes, seconds: bytes, centimetres: bytes
    ) -> int:
        """Records the day's encounters between running phones; returns the encounters kept."""
    def tek(self, person: int, day: int) -> bytes:
        """The key ``person`` used on ``day``."""
    def log(self, person: int, day: int) -> List[Tuple[int, bytes, bytes, int, int]]:
        """The whole log of ``person`` on ``day``: ``(unix_seconds, rpi, aem, rssi, previous_scan)``."""
    def check(self, day: int, uploaders: bytes) -> CheckResult:
        """The daily check at the end of ``day`` of the keys ``uploaders`` publish."""
