"""``python -m bluezone.study``: the adoption sweep (spec §study)."""

import argparse
import datetime
import json
import os
import shlex
import sys
import time
from typing import Dict, List, Optional

from .. import __version__
from . import anchors, report
from .parameters import Parameters, describe
from .sweep import execute, summarise, tasks

#: Vietnam's resident population on 1 April 2019 (General Statistics Office, 2019 Population
#: and Housing Census), and its least populous province.
VIETNAM_PEOPLE = 96_208_984
BAC_KAN_PEOPLE = 313_905


def _levels(text: str) -> List[float]:
    try:
        levels = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of shares")
    if not levels or any(not 0.0 <= a <= 1.0 for a in levels):
        raise argparse.ArgumentTypeError(f"{text!r}: each level must be within [0, 1]")
    return levels


def _region(text: str):
    name, _, people = text.rpartition("=")
    try:
        size = int(people)
    except ValueError:
        size = 0
    if not name or size < 1000:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=PEOPLE with at least 1000 people")
    return name, size


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bluezone.study",
        description="The real protocol inside Covasim: infections, notifications and "
                    "detection against adoption, next to the published anchors.")
    p.add_argument("--people", type=_positive, default=20_000,
                   help="people in the town (without --region); default 20000")
    p.add_argument("--days", type=_positive, default=60, help="simulated days; default 60")
    p.add_argument("--adoption", type=_levels, default=[0.15, 0.28, 0.56, 0.6],
                   help="adoption levels, comma-separated shares (0 is always added); "
                        "default 0.15,0.28,0.56,0.6")
    p.add_argument("--seeds", type=_positive, default=3, help="seeds per level; default 3")
    p.add_argument("--protocol", choices=["gaen", "bluezone"], default="gaen",
                   help="the protocol the phones speak: GAEN v1.2 (Bluezone 2020 is refused, "
                        "spec §study.1)")
    p.add_argument("--region", type=_region, action="append", metavar="NAME=PEOPLE",
                   help="a region and its people, repeatable; each is its own population "
                        "(spec §study.6). Without it, one town of --people")
    p.add_argument("--bac-kan", action="store_true",
                   help=f"the province of Bắc Kạn at full size ({BAC_KAN_PEOPLE:,} people)")
    p.add_argument("--imports", type=float, default=0.0,
                   help="infections arriving from other regions a day (Covasim's n_imports); "
                        "default 0")
    p.add_argument("--project-workers", type=_positive, default=16,
                   help="workers for the projection of all Vietnam; default 16")
    p.add_argument("--scheduler", help="a Dask scheduler's address or scheduler file: run "
                                       "the tasks there instead of in this process")
    p.add_argument("--json", help="write the whole result as JSON to this file")
    p.add_argument("--report", help="write the report page (index.html, study.csv) here")
    return p


def _check_outputs(args) -> Optional[str]:
    """Every output is checked before any work (spec §study.8)."""
    if args.json:
        folder = os.path.dirname(os.path.abspath(args.json))
        if os.path.isdir(args.json):
            return f"--json {args.json}: is a folder"
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            return f"--json {args.json}: cannot write into {folder}"
    if args.report:
        if os.path.exists(args.report) and not os.path.isdir(args.report):
            return f"--report {args.report}: exists and is not a folder"
        parent = os.path.dirname(os.path.abspath(args.report))
        target = args.report if os.path.isdir(args.report) else parent
        if not os.path.isdir(target) or not os.access(target, os.W_OK):
            return f"--report {args.report}: cannot write into {target}"
    return None


def answer(summary: List[dict], days: int) -> str:
    """The circular's claim answered at the level nearest 60 %."""
    rows = [r for r in summary if r["adoption"] > 0]
    if not rows:
        return "No adoption level above 0 was run."
    row = min(rows, key=lambda r: abs(r["adoption"] - 0.6))
    a = row["averted"]
    d = row["detection"]
    averted = (f'{a["mean"]:.1%} (standard deviation {a["sd"]:.1%} over {a["n"]} seeds)'
               if a["mean"] is not None else "an unknown share")
    detected = f'{d["mean"]:.1%}' if d["mean"] is not None else "an unknown share"
    growth = anchors.growth(row)
    trend = ("still growing in the last week" if growth is not None and growth >= 1
             else "shrinking in the last week" if growth is not None else "of unknown trend")
    return (f"The circular's claim at {row['adoption']:.0%} adoption ({row['region']}, "
            f"{days} days): the app with the real protocol averted {averted} of infections "
            f"against no app, the epidemic was {trend}, and the phones were warned for "
            f"{detected} of the cases' close encounters. \"Effective\" here means fewer "
            f"infections; whether that suffices to suppress the epidemic depends on the other "
            f"measures, as the anchors below show.")


def main(argv: Optional[List[str]] = None) -> int:
    args = parser().parse_args(argv)
    problem = _check_outputs(args)
    if args.protocol == "bluezone":
        problem = ("--protocol bluezone: Bluezone 2020 decides on raw RSSI thresholds of "
                   "uncalibrated phones, which the calibrated radio model cannot give without "
                   "per-phone offsets no source states (spec §study.1); the town demo runs it")
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    regions: Optional[Dict[str, int]] = dict(args.region) if args.region else None
    if args.bac_kan:
        regions = {**(regions or {}), "Bắc Kạn": BAC_KAN_PEOPLE}
    work = tasks(args.people, args.days, args.adoption, args.seeds, regions, args.protocol,
                 args.imports)
    parameters = Parameters()
    started = time.perf_counter()
    where = f"on the cluster at {args.scheduler}" if args.scheduler else "in this process"
    print(f"{len(work)} tasks {where}", file=sys.stderr)

    def progress(r: dict) -> None:
        print(f"  {r['region']} adoption {r['adoption']:.0%} seed {r['seed']}: "
              f"{r['infections']} infections, {r['notifications']} notifications, "
              f"{r['seconds']:.1f} s (drawing encounters {r['draw_seconds'] / r['seconds']:.0%}, "
              f"the protocol {r['protocol_seconds'] / r['seconds']:.0%})",
              file=sys.stderr)

    runs = execute(work, args.scheduler, parameters, progress)
    wall = time.perf_counter() - started
    summary = summarise(runs)
    first = summary[0]["region"]
    person_days = sum(r["people"] * r["days"] for r in runs)
    task_seconds = sum(r["seconds"] for r in runs)
    rate = person_days / task_seconds if task_seconds else None
    document = {
        "command": "python -m bluezone.study " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])),
        "version": __version__,
        "covasim": _covasim_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "answer": answer(summary, args.days),
        "summary": summary,
        "anchors": anchors.compare(summary, first),
        "parameters": describe(parameters),
        "throughput": {
            "person_days": person_days,
            "task_seconds": task_seconds,
            "wall_seconds": wall,
            "person_days_per_task_second": rate,
            "protocol_share": (sum(r["protocol_seconds"] for r in runs) / task_seconds
                               if task_seconds else None),
            "draw_share": (sum(r["draw_seconds"] for r in runs) / task_seconds
                           if task_seconds else None),
            "vietnam_projection": _projection(rate, args.days, args.project_workers),
        },
        "runs": runs,
    }
    if args.json:
        report.write_atomically(args.json, json.dumps(document, indent=1))
    if args.report:
        report.write(args.report, document)
    print(document["answer"])
    for row in summary:
        print(f"{row['region']} adoption {row['adoption']:.0%}: infections "
              f"{row['infections']['mean']:,.0f} ± {row['infections']['sd']:,.0f}, averted "
              + (f"{row['averted']['mean']:.1%}" if row["averted"]["mean"] is not None else "n/a")
              + f", notifications per index case "
              + (f"{row['notifications_per_index_case']['mean']:.1f}"
                 if row["notifications_per_index_case"]["mean"] is not None else "n/a")
              + ", detection "
              + (f"{row['detection']['mean']:.1%}" if row["detection"]["mean"] is not None else "n/a"))
    t = document["throughput"]
    if t["protocol_share"] is not None:
        print(f"{person_days:,} person-days in {wall:.1f} s ({task_seconds:.1f} s of tasks: "
              f"drawing encounters {t['draw_share']:.0%}, the protocol {t['protocol_share']:.0%}, "
              f"Covasim the rest)")
    return 0


def _projection(rate: Optional[float], days: int, workers: int) -> Optional[dict]:
    """All Vietnam at this machine's measured rate: each province a task, the provinces
    spread over ``workers`` (spec §study.6)."""
    if not rate:
        return None
    seconds = VIETNAM_PEOPLE * days / rate
    return {"people": VIETNAM_PEOPLE, "days": days, "workers": workers,
            "seconds_one_worker": seconds, "seconds_on_workers": seconds / workers,
            "source": "2019 Population and Housing Census (General Statistics Office of Viet Nam)"}


def _covasim_version() -> str:
    import covasim

    return str(covasim.__version__)


if __name__ == "__main__":
    sys.exit(main())
