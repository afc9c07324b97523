"""The published figures the study is held against, point by point (spec §study.7). Their
numbers are the papers'; ours are read at the same adoption level when the sweep has it."""

from typing import Dict, List, Optional

#: Each anchor: who, where, at which adoption, what they found, and what differs here.
ANCHORS: List[dict] = [
    {
        "name": "Hinch et al. 2020",
        "citation": "Hinch et al., report to NHSX, April 2020 (Oxford BDI, OpenABM-Covid19)",
        "adoption": 0.56,
        "theirs": "the epidemic is suppressed with app use by 56 % of the population "
                  "(about 80 % of smartphone users); lower uptake still slows spread",
        "figure": "growth",
        "differs": "a 1 M-person UK city with lockdown exit scenarios; the app is a "
                   "probability (80 % of interactions traceable when both have it); "
                   "tracing on symptoms as well as on positive tests",
    },
    {
        "name": "Wymant et al. 2021",
        "citation": "Wymant et al., Nature 594:408 (2021), the NHS COVID-19 app, "
                    "24 Sept - Dec 2020",
        "adoption": 0.28,
        "theirs": "28 % of the population used the app; 4.2 notifications per consenting "
                  "index case; secondary attack rate 6 % among the notified; each extra "
                  "point of uptake cut cases by 0.8 % (model) to 2.3 % (statistics)",
        "figure": "notifications_per_index_case",
        "value": 4.2,
        "sar": 0.06,
        "marginal_percent_per_point": [0.8, 2.3],
        "differs": "England and Wales with their other measures, a risk score with "
                   "infectiousness weights (not the F1 rule), notification only above a "
                   "score threshold, and real testing rates",
    },
    {
        "name": "Abueg et al. 2021",
        "citation": "Abueg et al., npj Digital Medicine 4:49 (2021), three Washington "
                    "counties, with other measures",
        "adoption": 0.15,
        "theirs": "15 % participation: infections -8 %, deaths -6 %",
        "figure": "averted",
        "value": 0.08,
        "differs": "an agent-based model of real Washington counties with their "
                   "non-pharmaceutical measures and an abstract app",
    },
]


def _row(summary: List[dict], level: float, region: str) -> Optional[dict]:
    for row in summary:
        if row["region"] == region and abs(row["adoption"] - level) < 1e-9:
            return row
    return None


def growth(row: dict) -> Optional[float]:
    """Infections in the last 7 days over the 7 before: below 1, the epidemic shrinks."""
    new = row["new_infections"]
    if len(new) < 14:
        return None
    before = sum(new[-14:-7])
    return sum(new[-7:]) / before if before else None


def marginal(summary: List[dict], level: float, region: str) -> Optional[float]:
    """Infections averted per extra point of adoption around ``level``, in percent: the slope
    between the two sweep levels that bracket it (or the nearest two)."""
    rows = sorted((r for r in summary if r["region"] == region), key=lambda r: r["adoption"])
    if len(rows) < 2:
        return None
    below = [r for r in rows if r["adoption"] <= level]
    above = [r for r in rows if r["adoption"] > level]
    pair = (below[-1], above[0]) if below and above else (rows[-2], rows[-1])
    (a, b) = pair
    if a["averted"]["mean"] is None or b["averted"]["mean"] is None:
        return None
    points = (b["adoption"] - a["adoption"]) * 100
    return (b["averted"]["mean"] - a["averted"]["mean"]) * 100 / points if points else None


def compare(summary: List[dict], region: str) -> List[dict]:
    """Each anchor with our figures at its level (None when the sweep lacks the level)."""
    out = []
    for anchor in ANCHORS:
        row = _row(summary, anchor["adoption"], region)
        ours: Dict[str, object] = {"level_in_sweep": row is not None}
        if row is not None:
            ours.update({
                "infections_averted": row["averted"],
                "growth_last_week": growth(row),
                "notifications_per_index_case": row["notifications_per_index_case"],
                "secondary_attack_rate_notified": row["secondary_attack_rate_notified"],
                "detection": row["detection"],
            })
        ours["marginal_percent_per_point"] = marginal(summary, anchor["adoption"], region)
        out.append({**{k: v for k, v in anchor.items()}, "ours": ours})
    return out
