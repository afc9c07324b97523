"""The Python package against independent evidence: Google's official vectors, every shared
export sample against its manifest, the companion matching sample, and bad input."""

import json
import pathlib

import pytest

import bluezone
from conftest import ROOT, SAMPLES, load

COMPANION_EXPORT = "test-vectors/export-samples/companion-demo_dks.zip"
COMPANION_CSV = "test-vectors/export-samples/companion-demo-encounters.csv"


@pytest.fixture(autouse=True)
def at_root(monkeypatch):
    """Paths as the tool is given them, relative to the repository."""
    monkeypatch.chdir(ROOT)


def test_official_vectors_give_every_identifier():
    vectors = load("gaen-official-v1.2.json")["vectors"]
    first = vectors[0]
    rpis = bluezone.rolling_proximity_identifiers(
        bytes.fromhex(first["tek"]), first["rolling_start_interval_number"]
    )
    assert len(rpis) == 144
    for v in vectors:
        at = v["en_interval_number"] - v["rolling_start_interval_number"]
        assert rpis[at].hex() == v["rpi"], v["name"]


def test_a_shorter_window_gives_fewer_identifiers():
    v = load("gaen-official-v1.2.json")["vectors"][0]
    rpis = bluezone.rolling_proximity_identifiers(
        bytes.fromhex(v["tek"]), v["rolling_start_interval_number"], rolling_period=6
    )
    assert [r.hex() for r in rpis] == [x["rpi"] for x in load("gaen-official-v1.2.json")["vectors"][:6]]


SAMPLES_MANIFEST = load("export-samples/manifest.json")["samples"]


@pytest.mark.parametrize("sample", SAMPLES_MANIFEST, ids=lambda s: s["file"])
def test_every_export_sample_reads_as_its_manifest_says(sample):
    keys = [SAMPLES / k for k in sample.get("public_keys", [])]
    export = bluezone.read_export(SAMPLES / sample["file"], public_keys=keys or None)
    assert len([k for k in export.keys if not k.revised]) == sample["num_keys"]
    assert len([k for k in export.keys if k.revised]) == sample["num_revised_keys"]
    assert export.invalid_keys == []
    meta = sample["expected_metadata"]
    for name in ("start_timestamp", "end_timestamp", "region", "batch_num", "batch_size"):
        if name in meta:
            assert getattr(export.metadata, name) == meta[name], name
    assert len(export.metadata.signature_infos) == len(meta["signature_infos"])
    if sample.get("signature_verifies") is None:
        assert export.authentic is None
    else:
        assert export.authentic is sample["signature_verifies"], export.verification
    expected = sample.get("expected_keys") or (
        sample.get("expected_keys_first3", []) + [sample["expected_keys_last"]]
        if "expected_keys_last" in sample
        else []
    )
    got = export.keys if "expected_keys" in sample else export.keys[:3] + export.keys[-1:]
    assert len(got) == len(expected)
    for key, want in zip(got, expected):
        assert key.key_data.hex() == want["key_data"]
        assert key.transmission_risk_level == want["transmission_risk_level"]
        assert key.rolling_start_interval_number == want["rolling_start_interval_number"]
        assert key.rolling_period == want.get("rolling_period", 144)
        assert key.report_type == want.get("report_type", 0)


def test_a_signed_sample_under_another_key_is_not_authentic():
    export = bluezone.read_export(
        SAMPLES / "google-internals-sample_diagnosis_key_file.zip",
        public_keys=SAMPLES / "google-server-example-public.pem",
    )
    assert export.authentic is False


def companion_expectation():
    """Matched keys and their sightings, from the sample's independent extraction."""
    counts = {}
    for m in load("export-samples/companion-demo-matches.json")["matched_sightings"]:
        counts[m["tek"]] = counts.get(m["tek"], 0) + len(m["scan_records"])
    return counts


def test_the_companion_sample_matches_its_independent_extraction():
    report = bluezone.match([COMPANION_EXPORT], COMPANION_CSV, allow_unsigned=True)
    assert {m.key.key_data.hex(): len(m.sightings) for m in report.matches} == companion_expectation()
    assert report.keys_total == 2392
    assert report.f1 is True


def test_to_dict_is_the_document_of_bluezone_match(cli):
    report = bluezone.match(COMPANION_EXPORT, COMPANION_CSV, allow_unsigned=True)
    expected = cli(
        "match", "--keys", COMPANION_EXPORT, "--encounters", COMPANION_CSV, "--allow-unsigned", "--json"
    )
    assert report.to_dict() == expected


def test_a_risk_configuration_gives_the_tool_s_v1_scores(cli, tmp_path):
    config = {"v1": {}, "f1": {"attenuation_threshold_db": 50}}
    path = tmp_path / "risk.json"
    path.write_text(json.dumps(config))
    report = bluezone.match(COMPANION_EXPORT, COMPANION_CSV, allow_unsigned=True, risk_config=config)
    expected = cli(
        "match", "--keys", COMPANION_EXPORT, "--encounters", COMPANION_CSV, "--allow-unsigned",
        "--risk-config", str(path), "--json",
    )
    assert report.v1 is not None
    assert report.to_dict() == expected


def test_rows_give_what_the_csv_gives():
    lines = (ROOT / COMPANION_CSV).read_text().splitlines()[1:]
    rows = []
    for n, line in enumerate(lines):
        seconds, rpi, aem, rssi = line.split(",")
        # Half as bytes, half as hex: both are rows.
        rows.append((int(seconds), bytes.fromhex(rpi) if n % 2 else rpi, aem, int(rssi)))
    from_rows = bluezone.match(COMPANION_EXPORT, rows, allow_unsigned=True).to_dict()
    from_csv = bluezone.match(COMPANION_EXPORT, COMPANION_CSV, allow_unsigned=True).to_dict()
    assert from_rows == from_csv


def test_a_log_folder_is_read_like_its_csv(cli, tmp_path):
    log = tmp_path / "log"
    imported = cli("log", "import", "--csv", COMPANION_CSV, "--out", str(log), "--json")
    assert imported["command"] == "log import"
    from_log = bluezone.match(COMPANION_EXPORT, log, allow_unsigned=True)
    assert {m.key.key_data.hex(): len(m.sightings) for m in from_log.matches} == companion_expectation()


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: bluezone.rolling_proximity_identifiers(b"\x00" * 15, 2642976), bluezone.LengthError),
        (lambda: bluezone.rolling_proximity_identifiers(b"\x00" * 16, 2642976, 0), bluezone.TimeError),
        (lambda: bluezone.rolling_proximity_identifiers(b"\x00" * 16, 2642976, 145), bluezone.TimeError),
        (lambda: bluezone.read_export("no such file.zip"), bluezone.ExportFileError),
        (lambda: bluezone.read_export(COMPANION_CSV), bluezone.ExportFileError),
        (lambda: bluezone.read_export(COMPANION_EXPORT, public_keys="-----BEGIN nonsense"), bluezone.PublicKeyError),
        (lambda: bluezone.match(COMPANION_EXPORT, COMPANION_CSV), bluezone.CheckError),
        (
            lambda: bluezone.match(
                COMPANION_EXPORT, COMPANION_CSV, public_keys=SAMPLES / "google-server-example-public.pem"
            ),
            bluezone.NotAuthenticError,
        ),
        (lambda: bluezone.match(COMPANION_EXPORT, "no such.csv", allow_unsigned=True), bluezone.SourceError),
        (lambda: bluezone.match(COMPANION_EXPORT, COMPANION_EXPORT, allow_unsigned=True), bluezone.SourceError),
        (lambda: bluezone.match(COMPANION_EXPORT, [(1, b"short", b"aem4", -50)], allow_unsigned=True), bluezone.SourceError),
        (lambda: bluezone.match(COMPANION_EXPORT, [(1, 2)], allow_unsigned=True), bluezone.SourceError),
        (
            lambda: bluezone.match(COMPANION_EXPORT, COMPANION_CSV, allow_unsigned=True, risk_config={"typo": 1}),
            bluezone.RiskConfigError,
        ),
        (lambda: bluezone.match(COMPANION_CSV, COMPANION_CSV, allow_unsigned=True), bluezone.ExportFileError),
    ],
    ids=[
        "15-byte key", "period 0", "period 145", "missing export", "csv as export", "bad pem",
        "no public key", "not authentic", "missing csv", "zip as csv", "short rpi", "short row",
        "unknown risk field", "csv as keys",
    ],
)
def test_bad_input_raises_the_right_error(call, error):
    with pytest.raises(error) as raised:
        call()
    assert isinstance(raised.value, bluezone.Error)
    assert str(raised.value)


def test_every_error_class_is_a_bluezone_error():
    for name in ("LengthError", "TimeError", "PublicKeyError", "ExportFileError", "SourceError",
                 "RiskConfigError", "CheckError", "NotAuthenticError"):
        assert issubclass(getattr(bluezone, name), bluezone.Error)
    assert issubclass(bluezone.NotAuthenticError, bluezone.CheckError)


def test_the_package_is_typed():
    package = pathlib.Path(bluezone.__file__).parent
    assert (package / "py.typed").exists() and (package / "_bluezone.pyi").exists()


ROW_RPI = b"\x00" * 16
ROW_AEM = b"\x00" * 4


@pytest.mark.parametrize(
    "call, error, says",
    [
        (lambda: bluezone.match(COMPANION_EXPORT, [(1, ROW_RPI, ROW_AEM, 200)], allow_unsigned=True),
         bluezone.SourceError, "row 0: rssi"),
        (lambda: bluezone.match(COMPANION_EXPORT, [(-5, ROW_RPI, ROW_AEM, -40)], allow_unsigned=True),
         bluezone.SourceError, "row 0: unix_seconds"),
        (lambda: bluezone.match(COMPANION_EXPORT, [(2**64, ROW_RPI, ROW_AEM, -40)], allow_unsigned=True),
         bluezone.SourceError, "row 0: unix_seconds"),
        (lambda: bluezone.match(COMPANION_EXPORT, [(1.5, ROW_RPI, ROW_AEM, -40)], allow_unsigned=True),
         bluezone.SourceError, "must be an integer"),
        (lambda: bluezone.match(COMPANION_EXPORT, COMPANION_CSV, allow_unsigned=True, now=-1),
         bluezone.TimeError, "now"),
        (lambda: bluezone.match(COMPANION_EXPORT, COMPANION_CSV, allow_unsigned=True, now=2**70),
         bluezone.TimeError, "now"),
        (lambda: bluezone.match(COMPANION_EXPORT, COMPANION_CSV, allow_unsigned=True, now=1590000000000),
         bluezone.TimeError, "milliseconds read as seconds"),
        (lambda: bluezone.rolling_proximity_identifiers(b"\x00" * 16, -1), bluezone.TimeError, "rolling start"),
        (lambda: bluezone.match(COMPANION_EXPORT, COMPANION_CSV, public_keys="/nonexistent.pem"),
         bluezone.PublicKeyError, "/nonexistent.pem"),
        (lambda: bluezone.match(COMPANION_EXPORT, COMPANION_CSV, allow_unsigned=True, risk_config="/nonexistent.json"),
         bluezone.RiskConfigError, "/nonexistent.json"),
        (lambda: bluezone.match(b"path", COMPANION_CSV, allow_unsigned=True), bluezone.ExportFileError, "in memory"),
        (lambda: bluezone.match(COMPANION_EXPORT, None, allow_unsigned=True), bluezone.SourceError, "encounters"),
    ],
    ids=["rssi 200", "time -5", "time 2**64", "float time", "now -1", "now 2**70", "now in ms",
         "start -1", "missing pem", "missing risk config", "bytes that are no export file", "no encounters"],
)
def test_every_bad_argument_is_a_bluezone_error_naming_what_is_wrong(call, error, says):
    """Finding A11 of the third audit: each of these raised OverflowError, FileNotFoundError
    or TypeError, outside bluezone.Error."""
    with pytest.raises(error) as raised:
        call()
    assert isinstance(raised.value, bluezone.Error)
    assert says in str(raised.value), str(raised.value)


def test_other_threads_run_while_a_log_is_read(tmp_path):
    """Finding A12 of the third audit: the log is read without the GIL, so a Python thread
    ticking every millisecond is never paused for long while a big CSV is read."""
    import threading
    import time

    rows = ["unix_seconds,rpi,aem,rssi"]
    rows += [f"{1589000000 + n},{n:032x},00000000,-60" for n in range(400_000)]
    big = tmp_path / "big.csv"
    big.write_text("\n".join(rows) + "\n")
    gaps, done = [], threading.Event()

    def tick():
        last = time.perf_counter()
        while not done.is_set():
            time.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = threading.Thread(target=tick)
    ticker.start()
    started = time.perf_counter()
    bluezone.match(COMPANION_EXPORT, big, allow_unsigned=True)
    took = time.perf_counter() - started
    done.set()
    ticker.join()
    # The ticker kept running through the call: its longest pause is a small part of it.
    assert len(gaps) > 10
    assert max(gaps) < took / 4, (max(gaps), took)


def test_a_header_only_csv_is_not_a_log(tmp_path):
    """An empty or header-only CSV could only ever be read as "not exposed": refused, as the
    tool refuses it."""
    header = tmp_path / "header.csv"
    header.write_text("unix_seconds,rpi,aem,rssi\n")
    with pytest.raises(bluezone.SourceError, match="no sighting"):
        bluezone.match(COMPANION_EXPORT, header, allow_unsigned=True)
