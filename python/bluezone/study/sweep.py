"""A sweep: every (adoption, seed, region) is one task, run in process or on a Dask cluster,
and the figures over seeds (spec §study.6)."""

import math
import os
from typing import Callable, Dict, List, Optional, Sequence

from .parameters import Parameters
from .run import Task, run


def tasks(people: int, days: int, adoption: Sequence[float], seeds: int,
          regions: Optional[Dict[str, int]] = None, protocol: str = "gaen",
          imports: float = 0.0) -> List[Task]:
    """The sweep's tasks: with ``regions`` (name to people), each region at its own size;
    without, one region of ``people``. Level 0 is always included: infections averted are
    counted against it."""
    levels = sorted(set([0.0] + [float(a) for a in adoption]))
    places = regions or {"town": people}
    return [Task(people=size, days=days, adoption=level, seed=seed, region=name,
                 protocol=protocol, imports=imports)
            for name, size in places.items() for level in levels for seed in range(1, seeds + 1)]


def _client(scheduler: str):
    from distributed import Client

    if os.path.exists(scheduler):
        return Client(scheduler_file=scheduler)
    return Client(scheduler)


def execute(work: List[Task], scheduler: Optional[str] = None,
            parameters: Optional[Parameters] = None,
            progress: Optional[Callable[[dict], None]] = None) -> List[dict]:
    """Runs the tasks, on the Dask cluster at ``scheduler`` (an address or a scheduler file)
    or, without it, one after another in this process. The results are in the tasks' order
    and the same either way: every task draws from its own seed."""
    p = parameters or Parameters()
    if scheduler is None:
        results = []
        for task in work:
            results.append(run(task, p))
            if progress:
                progress(results[-1])
        return results
    from distributed import as_completed

    with _client(scheduler) as client:
        # The costliest tasks first (people × days × adoption, level 0 last), so that no
        # worker is left with a large task while the others wait at the end.
        futures = [client.submit(run, task, p, pure=False,
                                 priority=int(task.people * task.days * (1 + task.adoption)))
                   for task in work]
        if progress:
            for future in as_completed(futures):
                progress(future.result())
        return client.gather(futures)


def _mean_spread(values: List[Optional[float]]) -> dict:
    present = [v for v in values if v is not None]
    if not present:
        return {"mean": None, "sd": None, "n": 0}
    mean = sum(present) / len(present)
    sd = (math.sqrt(sum((v - mean) ** 2 for v in present) / (len(present) - 1))
          if len(present) > 1 else 0.0)
    return {"mean": mean, "sd": sd, "n": len(present)}


FIGURES = ["infections", "averted", "notifications_per_index_case",
           "secondary_attack_rate_notified", "detection", "matched_keys", "uploaders",
           "notifications"]


def summarise(results: List[dict]) -> List[dict]:
    """Per region and level: each figure's mean over seeds and its standard deviation.
    ``averted`` is 1 − infections / infections at level 0 with the same seed and region."""
    baseline = {(r["region"], r["seed"]): r["infections"] for r in results
                if r["adoption"] == 0.0}
    for r in results:
        base = baseline.get((r["region"], r["seed"]))
        r["averted"] = 1.0 - r["infections"] / base if base else None
    rows = []
    for region in sorted({r["region"] for r in results}):
        for level in sorted({r["adoption"] for r in results if r["region"] == region}):
            cell = [r for r in results if r["region"] == region and r["adoption"] == level]
            row = {"region": region, "adoption": level, "seeds": len(cell)}
            for name in FIGURES:
                row[name] = _mean_spread([r.get(name) for r in cell])
            days = len(cell[0]["new_infections"])
            row["new_infections"] = [sum(r["new_infections"][d] for r in cell) / len(cell)
                                     for d in range(days)]
            rows.append(row)
    return rows
