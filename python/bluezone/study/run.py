"""One simulation: Covasim with the protocol in the loop (spec §study.1, §study.3, §study.4)."""

import datetime
import time
from dataclasses import dataclass
from typing import Dict, List, Optional

import covasim as cv
import numpy as np
import starsim as ss

from .._bluezone import StudyPhones
from .parameters import Parameters


@dataclass(frozen=True)
class Task:
    """One cell of a sweep: a region's people at one adoption level with one seed."""

    people: int
    days: int
    adoption: float
    seed: int
    region: str = "town"
    protocol: str = "gaen"
    imports: float = 0.0


def _u32(values: np.ndarray) -> bytes:
    return np.ascontiguousarray(values, dtype="<u4").tobytes()


class BluezoneApp(cv.Intervention):
    """Gives app users phones; every day turns Covasim's contacts between running phones into
    BLE encounters, lets diagnosed app users upload their keys, has every phone that heard an
    uploader check the published keys with the library's matcher and F1 rule, and quarantines
    the warned (spec §study.1)."""

    def __init__(self, adoption: float, seed: int, parameters: Parameters, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= adoption <= 1.0:
            raise ValueError(f"adoption {adoption} is not within [0, 1]")
        self.adoption = adoption
        self.study_seed = seed
        self.parameters = parameters
        self.counts: Dict[str, int] = {}
        # The intervention's time: drawing the encounters, and the protocol proper (recording,
        # uploads, checks, quarantine).
        self.draw_seconds = 0.0
        self.protocol_seconds = 0.0

    def init_post(self):
        super().init_post()
        sim = self.sim
        n = len(sim.people)
        self.n = n
        # Draws that do not depend on the level, so that the levels are nested (spec §study.1):
        # each person's rank and consent once, and each day's draws from a generator of that
        # day, so that they do not shift when another level has more or fewer cases.
        self.rank = np.random.default_rng([self.study_seed, 1]).random(n)
        self.app = self.rank < self.adoption
        p = self.parameters
        self.consents = np.random.default_rng([self.study_seed, 2]).random(n) < p.upload_share
        start = datetime.date.fromisoformat(str(sim.pars["start"])[:10].replace(".", "-"))
        first_unix_day = (start - datetime.date(1970, 1, 1)).days
        self.phones = StudyPhones(self.study_seed, n, first_unix_day, p.path_loss_at_1m_db,
                                  p.path_loss_per_decade_db, p.path_loss_spread_db)
        # Close encounters (spec §study.5) per person and day, for the last 15 days.
        self.close = np.zeros((15, n), dtype=np.uint16)
        self.notified_day = np.full(n, -1, dtype=np.int32)
        for key in ("uploaders", "cases", "notifications", "first_notifications",
                    "published_keys", "matched_keys", "sightings", "phones_checked",
                    "observable_close", "warned_close", "case_close", "encounters"):
            self.counts[key] = 0

    def _encounters(self, ti: int):
        """The day's contacts as encounters: each layer's durations and distances drawn for
        every contact (the ground truth), kept for the pairs of running phones."""
        p = self.parameters
        draws = np.random.default_rng([self.study_seed, 3, ti])
        running = self.app & (draws.random(self.n) >= p.bluetooth_off)
        close_today = np.zeros(self.n, dtype=np.int64)
        for name, network in self.sim.networks.items():
            layer = p.layers[name]
            a = np.asarray(network.edges.p1, dtype=np.int64)
            b = np.asarray(network.edges.p2, dtype=np.int64)
            m = len(a)
            # Single precision: a second and a centimetre are far coarser than its error.
            f32 = np.float32
            normal = draws.standard_normal(m, dtype=f32)
            minutes = np.exp(normal * f32(layer.sigma) + f32(np.log(layer.median_minutes)))
            seconds = np.clip(minutes * f32(60.0), 60.0, 18 * 3600.0).astype(np.int64)
            low, high = layer.metres
            metres = draws.random(m, dtype=f32) * f32(high - low) + f32(low)
            latest = np.maximum(86_400 - seconds, p.earliest_start_hour * 3600)
            start = (p.earliest_start_hour * 3600
                     + draws.random(m) * (latest - p.earliest_start_hour * 3600))
            start = np.minimum(start.astype(np.int64), 86_399)
            close = (seconds >= 15 * 60) & (metres <= 2.0)
            close_today += np.bincount(a[close], minlength=self.n)
            close_today += np.bincount(b[close], minlength=self.n)
            heard = running[a] & running[b] & (a != b)
            if heard.any():
                centimetres = np.round(metres[heard] * 100.0)
                arrays = (_u32(a[heard]), _u32(b[heard]), _u32(start[heard]),
                          _u32(seconds[heard]), _u32(centimetres))
                recording = time.perf_counter()
                self.phones.record(ti, *arrays)
                self.protocol_seconds += time.perf_counter() - recording
                self.counts["encounters"] += int(heard.sum())
        self.close[ti % 15] = np.minimum(close_today, np.iinfo(np.uint16).max)

    def step(self):
        ti = int(self.ti)
        begun = time.perf_counter()
        recorded = self.protocol_seconds
        self._encounters(ti)
        self.draw_seconds += (time.perf_counter() - begun) - (self.protocol_seconds - recorded)
        begun = time.perf_counter()
        covid = self.sim.diseases.covid
        p = self.parameters
        diagnosed = np.asarray(covid.date_diagnosed.raw[: self.n], dtype=float)
        cases = np.flatnonzero(diagnosed == ti - p.upload_delay_days)
        # The close encounters of every case in the 14 days its keys cover: the denominator
        # of detection, whether or not the case runs the app.
        if len(cases):
            window = [(ti - k) % 15 for k in range(1, 15) if ti - k >= 0]
            self.counts["case_close"] += int(self.close[window][:, cases].sum())
            self.counts["cases"] += len(cases)
        uploaders = cases[self.app[cases] & self.consents[cases]]
        if len(uploaders):
            found = self.phones.check(ti, _u32(uploaders))
            warned = np.asarray(found.warned, dtype=np.int64)
            self.counts["uploaders"] += len(uploaders)
            self.counts["notifications"] += len(warned)
            for key in ("published_keys", "matched_keys", "sightings", "phones_checked",
                        "observable_close", "warned_close"):
                self.counts[key] += int(getattr(found, key))
            first = warned[self.notified_day[warned] < 0]
            self.notified_day[first] = ti
            self.counts["first_notifications"] += len(first)
            alive = warned[~np.asarray(covid.dead.raw[warned], dtype=bool)]
            draws = np.random.default_rng([self.study_seed, 4, ti])
            comply = alive[draws.random(len(alive)) < p.quarantine_compliance]
            if len(comply):
                covid.known_contact[ss.uids(comply)] = True
                covid.schedule_quarantine(ss.uids(comply), start_date=ti + 1,
                                          period=p.quarantine_days)
        self.protocol_seconds += time.perf_counter() - begun


def run(task: Task, parameters: Optional[Parameters] = None) -> dict:
    """Runs one task and returns its figures (spec §study.5)."""
    if task.protocol != "gaen":
        raise ValueError(f"protocol {task.protocol!r}: the study runs GAEN (spec §study.1)")
    p = parameters or Parameters()
    begun = time.perf_counter()
    app = BluezoneApp(task.adoption, task.seed, p)
    testing = cv.test_prob(symp_prob=p.symptomatic_test_probability,
                           asymp_prob=p.asymptomatic_test_probability,
                           symp_quar_prob=p.quarantined_test_probability,
                           asymp_quar_prob=p.quarantined_test_probability,
                           test_delay=p.test_delay_days)
    sim = cv.Sim(pop_size=task.people, pop_type="hybrid", n_days=task.days,
                 rand_seed=task.seed, n_imports=task.imports, interventions=[testing, app], verbose=0)
    sim.run()
    # The simulation runs its own copy of the intervention.
    app = next(i for i in sim.interventions.values() if isinstance(i, BluezoneApp))
    seconds = time.perf_counter() - begun
    c = app.counts
    new = np.asarray(sim.results["new_infections"], dtype=float)
    diagnosed = np.asarray(sim.diseases.covid.date_diagnosed.raw[: app.n], dtype=float)
    notified = np.flatnonzero(app.notified_day >= 0)
    # Secondary attack among the notified: diagnosed within 14 days after the notification,
    # among those notified at least 14 days before the end (spec §study.5).
    followed = notified[app.notified_day[notified] + 14 <= task.days]
    after = diagnosed[followed] - app.notified_day[followed]
    positive = int(np.count_nonzero((after > 0) & (after <= 14)))
    return {
        "region": task.region,
        "adoption": task.adoption,
        "seed": task.seed,
        "people": task.people,
        "days": task.days,
        "infections": int(round(float(np.asarray(sim.results["cum_infections"])[-1]))),
        "new_infections": [int(round(x)) for x in new],
        "diagnoses": int(np.count_nonzero(~np.isnan(diagnosed))),
        "uploaders": c["uploaders"],
        "notifications": c["notifications"],
        "notified_people": c["first_notifications"],
        "notifications_per_index_case": c["notifications"] / c["uploaders"] if c["uploaders"] else None,
        "notified_followed": int(len(followed)),
        "notified_positive": positive,
        "secondary_attack_rate_notified": positive / len(followed) if len(followed) else None,
        "close_encounters_of_cases": c["case_close"],
        "observable_close_encounters": c["observable_close"],
        "warned_close_encounters": c["warned_close"],
        "detection": c["warned_close"] / c["case_close"] if c["case_close"] else None,
        "encounters": c["encounters"],
        "published_keys": c["published_keys"],
        "matched_keys": c["matched_keys"],
        "sightings": c["sightings"],
        "phones_checked": c["phones_checked"],
        "seconds": seconds,
        "draw_seconds": app.draw_seconds,
        "protocol_seconds": app.protocol_seconds,
    }


#: Fields that vary from machine to machine and are left out of comparisons.
TIMINGS: List[str] = ["seconds", "draw_seconds", "protocol_seconds"]
