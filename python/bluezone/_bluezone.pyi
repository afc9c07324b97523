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
) -> str:
    """The JSON document of ``bluezone match --json`` for the same input."""
