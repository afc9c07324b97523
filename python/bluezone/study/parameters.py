"""Every parameter of the adoption study, with its source or marked as an assumption (spec
§study.2). Covasim's own parameters (transmission, disease course, population) are Covasim's
calibrated defaults and are not repeated here."""

from dataclasses import dataclass, field
from typing import Dict, List, Tuple


@dataclass(frozen=True)
class Layer:
    """How Covasim's contacts in one layer become BLE encounters: a log-normal duration and a
    uniform distance."""

    median_minutes: float
    sigma: float
    metres: Tuple[float, float]


ASSUMED_LAYERS = (
    "assumption: no published distribution of BLE-range distance and duration per contact "
    "layer was found. POLYMOD (Mossong et al., PLoS Med 2008) reports durations in bands by "
    "place, not distances; these values only order the layers (homes longest and closest, the "
    "community shortest and farthest)"
)

#: Covasim's four layers of its "hybrid" population.
LAYERS: Dict[str, Layer] = {
    "h": Layer(median_minutes=240, sigma=0.5, metres=(0.5, 3.0)),
    "s": Layer(median_minutes=120, sigma=0.5, metres=(1.0, 4.0)),
    "w": Layer(median_minutes=60, sigma=0.8, metres=(1.0, 5.0)),
    "c": Layer(median_minutes=10, sigma=1.0, metres=(1.0, 10.0)),
}


@dataclass(frozen=True)
class Parameters:
    """The intervention's parameters. Each field's source is in :data:`SOURCES`."""

    path_loss_at_1m_db: float = 54.3
    path_loss_per_decade_db: float = 11.8
    path_loss_spread_db: float = 7.6
    bluetooth_off: float = 0.20
    upload_share: float = 1.0
    upload_delay_days: int = 1
    quarantine_compliance: float = 0.9
    quarantine_days: int = 14
    symptomatic_test_probability: float = 0.1
    asymptomatic_test_probability: float = 0.001
    quarantined_test_probability: float = 0.5
    test_delay_days: int = 1
    earliest_start_hour: int = 6
    layers: Dict[str, Layer] = field(default_factory=lambda: dict(LAYERS))


SOURCES: Dict[str, str] = {
    "path_loss_at_1m_db": "DP-3T experiment 34 (18 phones, camera distances) through Google's "
    "calibration table of 2020-12-14: least-squares line of attenuation over log10 distance "
    "(`bluezone bench proximity`, spec §risk.4.1)",
    "path_loss_per_decade_db": "the same fit",
    "path_loss_spread_db": "the same fit: standard deviation of the advertisements about the "
    "line; drawn independently for each scan (assumption: the fit's spread mixes pairs, "
    "orientations and time)",
    "bluetooth_off": "YouGov survey of British adults, July 2021: 20 % of NHS COVID-19 app "
    "users had contact tracing or Bluetooth off (as in the town demo, spec §demo.2); drawn "
    "per phone and day",
    "upload_share": "assumption: every diagnosed app user uploads (an upper bound; Wymant et "
    "al. count notifications per consenting index case, which this share does not change); "
    "drawn once per person",
    "upload_delay_days": "assumption: the case enters the result's code in the app the day "
    "after the result arrives (the result itself comes test_delay_days after the test)",
    "quarantine_compliance": "OpenABM-Covid19 baseline parameters: "
    "quarantine_compliance_traced_positive = 0.9; drawn for each warning",
    "quarantine_days": "OpenABM-Covid19 baseline parameters: "
    "quarantine_length_traced_positive = 14",
    "symptomatic_test_probability": "assumption: daily probability that a symptomatic person "
    "is tested (Covasim's test_prob symp_prob)",
    "asymptomatic_test_probability": "assumption: Covasim's test_prob asymp_prob",
    "quarantined_test_probability": "assumption: Covasim's test_prob symp_quar_prob and "
    "asymp_quar_prob for people in quarantine",
    "test_delay_days": "OpenABM-Covid19 baseline parameters: test_result_wait = 1 day",
    "earliest_start_hour": "assumption: encounters start between 06:00 and the latest time "
    "that ends them by midnight (UTC days, as keys roll)",
    "layers": ASSUMED_LAYERS,
    "f1_rule": "the library's F1 rule (spec §risk.4): 15 minutes in one day at or below 70 dB, "
    "14 days of look-back",
    "scan_interval": "Google's engine: a scan about every 5 minutes, each phone at its own phase",
    "keys_published": "GAEN v1.2: the 14 daily keys before the upload; the day's own key is "
    "not yet released (spec §study.4)",
    "close_contact": "Bluezone's operators' F1: within 2 m for more than 15 minutes in a day "
    "(spec §blid.8.3); here one encounter of at least 15 minutes within 2 m",
    "covasim": "Covasim 4's own defaults for the population ('hybrid': households, schools, "
    "workplaces, community), transmission, disease course and quarantine's effect, as "
    "calibrated by its authors; 20 people infected on day 0",
}


def describe(parameters: Parameters) -> List[dict]:
    """Every parameter with its value and source, for the JSON and the report."""
    rows = []
    for name, value in parameters.__dict__.items():
        if name == "layers":
            value = {k: {"median_minutes": l.median_minutes, "sigma": l.sigma,
                         "metres": list(l.metres)} for k, l in value.items()}
        source = SOURCES[name]
        rows.append({"name": name, "value": value, "source": source,
                     "assumption": source.startswith("assumption")})
    for name in ("f1_rule", "scan_interval", "keys_published", "close_contact", "covasim"):
        rows.append({"name": name, "value": None, "source": SOURCES[name], "assumption": False})
    return rows
