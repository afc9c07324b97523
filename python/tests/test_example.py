"""The pandas example runs on the companion sample (pandas is installed only for this test)."""

import runpy

from conftest import ROOT, load


def test_the_dataframe_example_holds_every_matched_sighting(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    example = runpy.run_path(str(ROOT / "python" / "examples" / "matches_dataframe.py"))
    frame = example["main"](
        "test-vectors/export-samples/companion-demo_dks.zip",
        "test-vectors/export-samples/companion-demo-encounters.csv",
    )
    expected = sum(len(m["scan_records"]) for m in load("export-samples/companion-demo-matches.json")["matched_sightings"])
    assert len(frame) == expected
    assert frame["tek"].nunique() == 4
    assert "F1: yes" in capsys.readouterr().out
