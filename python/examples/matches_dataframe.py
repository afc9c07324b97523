"""Matches of an export file against a phone's sightings, as a pandas DataFrame: one row per
sighting of a matched key, ready for grouping by day or plotting attenuation over time.

Run from the repository: python python/examples/matches_dataframe.py
"""

import sys

import pandas as pd

import bluezone


def sightings_frame(report: bluezone.Report) -> pd.DataFrame:
    """One row per accepted sighting of every matched key."""
    rows = [
        {
            "tek": m.key.key_data.hex(),
            "report_type": m.key.report_type,
            "time": pd.Timestamp(s.unix_seconds, unit="s", tz="UTC"),
            "rssi": s.rssi,
            "attenuation": s.attenuation,
        }
        for m in report.matches
        for s in m.sightings
    ]
    return pd.DataFrame(rows, columns=["tek", "report_type", "time", "rssi", "attenuation"])


def main(export: str, encounters: str) -> pd.DataFrame:
    report = bluezone.match(export, encounters, allow_unsigned=True)
    frame = sightings_frame(report)
    per_key = frame.groupby("tek").agg(
        sightings=("time", "size"), first=("time", "min"), closest_db=("attenuation", "min")
    )
    print(per_key.to_string())
    print(f"F1: {'yes' if report.f1 else 'no'}")
    return frame


if __name__ == "__main__":
    main(
        *(sys.argv[1:3] or [
            "test-vectors/export-samples/companion-demo_dks.zip",
            "test-vectors/export-samples/companion-demo-encounters.csv",
        ])
    )
