"""The adoption study (spec §study): its phones against the production check on whole logs,
its refusals, and the sweep's determinism. Needs ``pip install './python[study]'``."""

import base64
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import bluezone
from bluezone._bluezone import StudyPhones
from bluezone.phone import EncounterLog

from conftest import ROOT

FIRST_DAY = 18_322  # 2020-03-01, Covasim's default start
RADIO = (54.3, 11.8, 7.6)


def u32(values):
    return np.asarray(values, dtype="<u4").tobytes()


def town(seed=7, people=60, days=3):
    """Phones with random encounters over `days` days: close and far, short and long."""
    rng = np.random.default_rng(seed)
    phones = StudyPhones(seed, people, FIRST_DAY, *RADIO)
    for day in range(days):
        n = 150
        a = rng.integers(0, people, n)
        b = (a + rng.integers(1, people, n)) % people
        start = rng.integers(6 * 3600, 20 * 3600, n)
        seconds = rng.choice([120, 600, 1200, 2400, 7200], n)
        centimetres = rng.choice([50, 150, 400, 1500, 4000], n)
        phones.record(day, u32(a), u32(b), u32(start), u32(seconds), u32(centimetres))
    return phones


def export_of(phones, uploaders, key_days, tmp_path, cli_tool):
    """The uploaders' keys in a signed export file, built by the command-line tool."""
    keys = [{"key": base64.b64encode(phones.tek(u, d)).decode(),
             "rollingStartNumber": (FIRST_DAY + d) * 144, "rollingPeriod": 144,
             "reportType": 1, "transmissionRisk": 0}
            for u in uploaders for d in key_days]
    (tmp_path / "keys.json").write_text(json.dumps({"temporaryExposureKeys": keys}))
    pem = tmp_path / "signing.pem"
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
                    str(pem)], check=True, capture_output=True)
    out = tmp_path / "export.zip"
    subprocess.run([cli_tool, "export", "build", "--keys", str(tmp_path / "keys.json"),
                    "--private-key", str(pem), "--key-id", "452", "--key-version", "v1",
                    "--out", str(out)], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def cli_tool():
    tool = os.environ.get("BLUEZONE_CLI", str(ROOT / "target" / "release" / "bluezone"))
    if not os.path.exists(tool) or shutil.which("openssl") is None:
        pytest.fail("the study's check needs the command-line tool (BLUEZONE_CLI) and openssl")
    return tool


def test_study_4_the_check_warns_exactly_whom_the_production_check_of_whole_logs_warns(
        tmp_path, cli_tool):
    """§study.4: the study makes again only the sightings of encounters with uploaders; the
    production check of each phone's whole log (every encounter, through an export file the
    tool signed) must warn the same phones."""
    days = 3
    phones = town(days=days)
    uploaders = [0, 1, 2]
    found = phones.check(days, u32(uploaders))
    assert found.published_keys == len(uploaders) * days
    export = export_of(phones, uploaders, range(days), tmp_path, cli_tool)
    now = (FIRST_DAY + days) * 86_400 + 86_399
    warned_by_production = []
    heard_anything = 0
    for person in range(60):
        rows = [row for day in range(days) for row in phones.log(person, day)]
        heard_anything += bool(rows)
        if not rows:
            continue
        # The whole log through the encounter log's own format, as a phone keeps it.
        log = EncounterLog(tmp_path / f"phone-{person}")
        log.append([{"gaen": {"unix_seconds": t, "rpi": rpi.hex(), "aem": aem.hex(),
                              "rssi": rssi, "previous_scan_unix_seconds": previous}}
                    for (t, rpi, aem, rssi, previous) in rows])
        report = bluezone.match(str(export), log.path, allow_unsigned=True, now=now)
        if report.f1:
            warned_by_production.append(person)
    assert heard_anything > 40
    assert warned_by_production, "the town must give the comparison something to agree on"
    assert sorted(found.warned) == warned_by_production
    assert found.phones_checked >= len(found.warned)
    assert found.matched_keys >= len(found.warned)


def test_study_5_ground_truth_counts_close_encounters_that_both_phones_heard():
    """§study.5: an encounter is close when it lasts 15 minutes within 2 m."""
    phones = StudyPhones(1, 10, FIRST_DAY, *RADIO)
    # Person 0 uploads; 1 met them close, 2 far, 3 briefly; 4 met someone else.
    phones.record(0, u32([0, 0, 0, 5]), u32([1, 2, 3, 4]), u32([36_000] * 4),
                  u32([1800, 1800, 300, 3600]), u32([100, 3000, 100, 100]))
    found = phones.check(1, u32([0]))
    assert found.phones_checked == 3
    assert found.observable_close == 1
    assert 1 in found.warned and 4 not in found.warned and 3 not in found.warned
    assert found.warned_close == 1


def test_study_3_phones_keep_14_days_and_keys_come_from_the_seed():
    """§study.3: a phone keeps 14 days of encounters; keys depend on the seed alone."""
    phones = StudyPhones(3, 4, FIRST_DAY, *RADIO)
    for day in range(20):
        kept = phones.record(day, u32([0]), u32([1]), u32([3600]), u32([1200]), u32([100]))
    assert kept == 2 * 14
    assert phones.log(1, 5) == [] and len(phones.log(1, 19)) == 4
    same = StudyPhones(3, 4, FIRST_DAY, *RADIO)
    other = StudyPhones(4, 4, FIRST_DAY, *RADIO)
    assert phones.tek(2, 9) == same.tek(2, 9) != other.tek(2, 9)
    # The logged identifiers are the key's, as the library derives them (spec §gaen.4).
    rpis = bluezone.rolling_proximity_identifiers(phones.tek(0, 19), (FIRST_DAY + 19) * 144)
    assert all(row[1] in rpis for row in phones.log(1, 19))


@pytest.mark.parametrize("call", [
    lambda p: p.record(0, u32([1]), u32([1, 2]), u32([0]), u32([60]), u32([100])),
    lambda p: p.record(0, u32([1]), u32([1]), u32([0]), u32([60]), u32([100])),
    lambda p: p.record(0, u32([1]), u32([99]), u32([0]), u32([60]), u32([100])),
    lambda p: p.record(0, u32([1]), u32([2]), u32([86_400]), u32([60]), u32([100])),
    lambda p: p.record(0, b"\x01\x00\x00", u32([2]), u32([0]), u32([60]), u32([100])),
    lambda p: p.record(400, u32([1]), u32([2]), u32([0]), u32([60]), u32([100])),
    lambda p: p.check(1, u32([10])),
])
def test_study_2_malformed_encounters_and_uploaders_are_refused(call):
    """§study.2: the phones take only what they can model, and a refusal records nothing."""
    phones = StudyPhones(1, 10, FIRST_DAY, *RADIO)
    with pytest.raises(ValueError):
        call(phones)
    assert phones.record(0, u32([1]), u32([2]), u32([0]), u32([60]), u32([100])) == 2


def test_study_2_a_radio_without_numbers_is_refused():
    with pytest.raises(ValueError):
        StudyPhones(1, 10, FIRST_DAY, float("nan"), 11.8, 7.6)


def test_study_1_runs_repeat_and_levels_share_the_town():
    """§study.1: the same task gives the same figures; a level's app users include a lower
    level's."""
    from bluezone.study import Task, run

    task = Task(people=3000, days=25, adoption=0.6, seed=2)
    first, again = run(task), run(task)
    from bluezone.study import TIMINGS

    for name in TIMINGS:
        first.pop(name), again.pop(name)
    assert first == again
    assert first["uploaders"] > 0 and first["notifications"] > 0
    assert first["warned_close_encounters"] <= first["observable_close_encounters"]
    assert first["observable_close_encounters"] <= first["close_encounters_of_cases"]
    assert 0.0 <= first["detection"] <= 1.0


def test_study_8_outputs_are_checked_before_any_work(tmp_path):
    """§study.8: an output that cannot be written stops the command before the sweep."""
    taken = tmp_path / "file"
    taken.write_text("x")
    for argument in (["--json", str(tmp_path / "missing" / "out.json")],
                     ["--report", str(taken)]):
        done = subprocess.run([sys.executable, "-m", "bluezone.study", "--people", "1000",
                               "--days", "5", "--adoption", "0.5", "--seeds", "1", *argument],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, done.stderr
        assert "tasks" not in done.stderr
    bad = subprocess.run([sys.executable, "-m", "bluezone.study", "--adoption", "1.5"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "within [0, 1]" in bad.stderr
    # §study.1: the Bluezone 2020 scheme is refused with its reason, before any work.
    refused = subprocess.run([sys.executable, "-m", "bluezone.study", "--protocol", "bluezone"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "raw RSSI" in refused.stderr


def test_study_6_a_sweep_is_every_region_level_and_seed_and_dask_gives_the_same_numbers():
    """§study.6: level 0 is always in the sweep; a Dask cluster of two worker processes gives
    the in-process numbers."""
    from distributed import LocalCluster

    from bluezone.study import TIMINGS
    from bluezone.study.__main__ import VIETNAM_PEOPLE, _projection
    from bluezone.study.sweep import execute, tasks

    work = tasks(0, 10, [0.5, 0.2], 2, {"A": 2000, "B": 3000})
    assert len(work) == 12
    assert sorted({t.adoption for t in work}) == [0.0, 0.2, 0.5]
    assert {(t.region, t.people) for t in work} == {("A", 2000), ("B", 3000)}
    small = tasks(2000, 12, [0.6], 1)
    here = execute(small)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        there = execute(small, cluster.scheduler_address)
    strip = lambda runs: [{k: v for k, v in r.items() if k not in TIMINGS} for r in runs]
    assert strip(here) == strip(there)
    projection = _projection(1e6, 90, 10)
    assert projection["seconds_one_worker"] == pytest.approx(VIETNAM_PEOPLE * 90 / 1e6)
    assert projection["seconds_on_workers"] == pytest.approx(projection["seconds_one_worker"] / 10)


def _row(adoption, averted, new=None, region="town"):
    cell = lambda v: {"mean": v, "sd": 0.0, "n": 1}
    return {"region": region, "adoption": adoption, "averted": cell(averted),
            "new_infections": new or [10] * 14, "notifications_per_index_case": cell(3.0),
            "secondary_attack_rate_notified": cell(0.05), "detection": cell(0.1)}


def test_study_7_anchors_read_the_sweep_at_their_levels():
    """§study.7: each anchor gets our figures at its level, the growth of the last week and
    the marginal effect between the levels that bracket it."""
    from bluezone.study.anchors import ANCHORS, compare, growth, marginal

    summary = [_row(0.0, 0.0), _row(0.15, 0.05), _row(0.28, 0.10, [10] * 7 + [5] * 7),
               _row(0.6, 0.30)]
    compared = {a["name"]: a["ours"] for a in compare(summary, "town")}
    assert set(compared) == {a["name"] for a in ANCHORS}
    assert compared["Hinch et al. 2020"]["level_in_sweep"] is False
    assert compared["Wymant et al. 2021"]["growth_last_week"] == pytest.approx(0.5)
    assert compared["Abueg et al. 2021"]["infections_averted"]["mean"] == 0.05
    # Between 28 % and 60 %: 20 points of averted infections over 32 points of adoption.
    assert marginal(summary, 0.28, "town") == pytest.approx(20 / 32)
    assert marginal(summary, 0.56, "town") == pytest.approx(20 / 32)
    assert growth({"new_infections": [1] * 10}) is None
