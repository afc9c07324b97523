"""The phone's loop through the package, compared with the command-line tool on the same data."""

import json
import runpy

import pytest

import bluezone
from bluezone import phone
from conftest import ROOT, SAMPLES


def test_the_loop_example_gives_the_tools_verdicts(monkeypatch, capsys, cli):
    monkeypatch.chdir(ROOT)
    example = runpy.run_path(str(ROOT / "python" / "examples" / "phone_loop.py"))
    report, blid = example["main"]()
    tool = cli(
        "match", "--allow-unsigned", "--keys", str(SAMPLES / "companion-demo_dks.zip"),
        "--encounters", str(SAMPLES / "companion-demo-encounters.csv"), "--json",
    )
    assert len(report.matches) == tool["keys_matched"] == 4
    assert report.f1 == tool["f1"]["f1"]
    samples = ROOT / "cli" / "tests" / "cmd" / "samples.in"
    tool_blid = cli(
        "blid", "match", "--f0", str(samples / "f0.json"), "--history", str(samples / "data_trace.txt"),
        "--now", "1596990000", "--close-rssi", "-70", "--json",
    )
    assert blid["contact"] == tool_blid["contact"]
    assert blid["f1"]["f1"] == tool_blid["f1"]["f1"]
    assert len(blid["matches"]) == len(tool_blid["matches"])
    assert "4 keys matched, F1: yes" in capsys.readouterr().out


def test_keys_from_the_callers_entropy_and_their_advertisements():
    tek, start = phone.new_tek(1_590_000_000, entropy=bytes(range(16)))
    assert tek == bytes(range(16)) and start % 144 == 0
    payloads = phone.advertisements(tek, start, -20)
    rpis = bluezone.rolling_proximity_identifiers(tek, start)
    for payload, rpi in zip(payloads, rpis):
        heard = phone.classify(payload, -60, 1_590_000_000, rssi_correction=5)
        assert bytes.fromhex(heard["gaen"]["rpi"]) == rpi
        assert heard["gaen"]["rssi"] == -55
    with pytest.raises(bluezone.LengthError):
        phone.new_tek(1_590_000_000, entropy=b"short")
    with pytest.raises(bluezone.TimeError):
        phone.new_tek(2**63)


def test_classify_refuses_a_malformed_payload_and_ignores_others():
    with pytest.raises(bluezone.SourceError):
        phone.classify(b"\x05\x16", -60, 0)
    assert phone.classify(bytes([2, 1, 6]), -60, 0) is None


def test_a_segment_in_memory_reads_as_the_log_does(tmp_path):
    sighting = {"gaen": {"unix_seconds": 1_590_000_000, "rpi": "00" * 16, "aem": "00" * 4,
                         "rssi": -50, "previous_scan_unix_seconds": 0}}
    log = phone.EncounterLog(tmp_path / "log")
    assert log.append([sighting]) == 1
    assert log.read() == [sighting]
    segment = next((tmp_path / "log").glob("day-*.bzlog"))
    assert phone.read_segment(segment.read_bytes()) == [sighting]
    with pytest.raises(bluezone.SourceError):
        phone.read_segment(b"not a segment")


def test_the_upload_hmac_is_the_verification_servers():
    vectors = json.loads((ROOT / "test-vectors" / "verification" / "tek-hmac-vectors.json").read_text())
    import base64

    for vector in vectors["vectors"]:
        keys = [
            (base64.b64decode(k["key"]), k["rolling_start_interval_number"], k["rolling_period"],
             k.get("transmission_risk", 0), 1)
            for k in vector["keys"]
        ]
        secret = bytes.fromhex(vector["secret_hex"])
        got = phone.tek_hmac(keys, secret, vector["include_transmission_risk"])
        assert got == vector["expected_hmac_b64"], vector["name"]
    request = json.loads(phone.publish_request(keys, secret))
    assert base64.b64decode(request["hmackey"]) == secret
    assert len(request["temporaryExposureKeys"]) == 2
    with pytest.raises(bluezone.LengthError):
        phone.publish_request(keys, b"short")


def test_the_daily_check_with_a_state_and_a_deployments_model(tmp_path, cli):
    export = str(SAMPLES / "companion-demo_dks.zip")
    encounters = str(SAMPLES / "companion-demo-encounters.csv")
    state = tmp_path / "state"
    first = bluezone.match(export, encounters, allow_unsigned=True, now=1_590_000_000,
                           state=state, risk_model="cwa")
    again = bluezone.match(export, encounters, allow_unsigned=True, now=1_590_000_000,
                           state=state, risk_model="cwa")
    assert state.is_dir()
    assert first.f1 == again.f1 and len(first.matches) == len(again.matches) == 4
    tool = cli("match", "--allow-unsigned", "--keys", export, "--encounters", encounters,
               "--now", "1590000000", "--risk-model", "cwa", "--json")
    assert first.risk_model == tool["risk_model"]
    assert first.risk_model["model"] == "cwa" and first.risk_model["total_risk_level"] == 2
    nhs = bluezone.match(export, encounters, allow_unsigned=True, now=1_590_000_000, risk_model="nhs")
    assert len(nhs.risk_model["scores"]) == len(nhs.exposure_windows)
    with pytest.raises(bluezone.RiskConfigError):
        bluezone.match(export, encounters, allow_unsigned=True, risk_model="google")
    with pytest.raises(bluezone.RiskConfigError):
        bluezone.match(export, encounters, allow_unsigned=True, risk_model="cwa",
                       risk_model_config={"typo": 1})


def test_export_files_held_in_memory_give_the_report_their_paths_give(tmp_path):
    export = SAMPLES / "companion-demo_dks.zip"
    encounters = str(SAMPLES / "companion-demo-encounters.csv")
    on_disk = bluezone.match(str(export), encounters, allow_unsigned=True, risk_model="cwa")
    in_memory = bluezone.match([export.read_bytes()], encounters, allow_unsigned=True, risk_model="cwa")
    assert in_memory.f1 == on_disk.f1 and in_memory.keys_matched == on_disk.keys_matched
    assert in_memory.to_dict()["exposure_windows"] == on_disk.to_dict()["exposure_windows"]
    assert in_memory.risk_model == on_disk.risk_model
    # A state reads its files from disk; paths and bytes are not mixed.
    with pytest.raises(bluezone.CheckError, match="on disk"):
        bluezone.match(export.read_bytes(), encounters, allow_unsigned=True, state=str(tmp_path / "s"))
    with pytest.raises(bluezone.ExportFileError, match="not both"):
        bluezone.match([str(export), export.read_bytes()], encounters, allow_unsigned=True)
    with pytest.raises(bluezone.ExportFileError):
        bluezone.match([b"not an export file"], encounters, allow_unsigned=True)
