#!/usr/bin/env python3
"""Independent transcription of Google's matching and risk rules (spec/matching.md, spec/risk.md).

Written from the published engine, google/exposure-notifications-internals (ENI), not from the
Rust crate and not from its in-crate oracle:

  matching   ExposureMatchingTracer (the tracer loop, fetchValidSightings, getValidSightingsForRpi,
             storeValidReportTransition, isValidTransition), RollingProximityIdValidator
  windows    KeyExposureEvaluator.findExposureWindows, SightingRecordWithMetadata
  v2         DailySummaryUtils
  v1         KeyExposureEvaluator.findExposures, computePeriods, weightAttenuationOfPeriods,
             getTimeBelowAndAbove, bucketizeDuration; RiskScoreCalculator;
             ExposureConfiguration's builder defaults

It also recomputes the two older hand-computed files, test-vectors/risk-windows.json and
test-vectors/risk-weighted-attenuation.json, from their inputs, so their values come from this
transcription too. And, where the rule is this project's own (the F1 rule, §risk.4; the per-class count of invalid
keys, §match.5; the v1 summary's fields, §risk.3.4), from the spec text. Each case builds its
export.bin files with a hand-written protobuf encoder and its sightings with HKDF and AES from the
`cryptography` package (through gaen_reference.py), runs the rules in the order ENI runs them, and
records what they give. The crate's test (tests/google_rules.rs) replays every case.

Usage: python3 spec/reference/matching_reference.py [--check]
  --check  write nothing; exit 1 if a file would change.
"""

import hashlib
import json
import struct
import sys
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from gaen_reference import aem, aemk, rpi, rpik  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-vectors" / "rules" / "google-rules.json"

# ContactTracingFeature defaults (ENI features/ContactTracingFeature.java) and the API's.
TOLERANCE = 12                  # tkMatchingClockDriftRollingPeriods
REPLAY_SECONDS = 2 * 10 * 60    # 2 x idRollingPeriodMinutes
TX_MIN, TX_MAX = -50, 20        # matchingTxPower{Lower,Upper}Bound
SAME_SCAN = 1.5 * (4 + 13)      # 1.5 x (scanTimeSeconds + scanTimeExtendForProfileInUseSeconds)
WINDOW_SECONDS = 30 * 60        # maxExposureWindowDurationMinutes
DEFAULT_MINUTES_SINCE = 2       # defaultMinutesSinceLastScan
MAX_MINUTES_SINCE = 5           # maxMinutesSinceLastScan
SCAN_INTERVAL = 300             # scanIntervalSeconds
MAX_INTERPOLATION = 600         # maxInterpolationDurationSeconds
MIN_BUCKETIZED = 1              # minExposureBucketizedDurationSeconds
ALLOWED_TRANSITIONS = 1         # allowedReportTypeTransitions

UNKNOWN, TEST, CLINICAL, SELF, RECURSIVE, REVOKED = range(6)
DAY0 = 18_600                   # 2020-12-04, a day number for the cases
R0 = DAY0 * 144                 # its first interval


# --- protobuf, by hand ------------------------------------------------------------------------

def varint(n):
    assert n >= 0
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def tag(field, wire):
    return varint(field << 3 | wire)


def length_delimited(field, payload):
    return tag(field, 2) + varint(len(payload)) + payload


def key_message(k):
    m = length_delimited(1, k["key_data"])
    m += tag(2, 0) + varint(k.get("trl", 0))
    m += tag(3, 0) + varint(k["rs"])
    m += tag(4, 0) + varint(k.get("rp", 144))
    m += tag(5, 0) + varint(k["rt"])
    if k.get("dso") is not None:
        d = k["dso"]
        m += tag(6, 0) + varint(((d << 1) ^ (d >> 31)) & 0xFFFFFFFF)
    return m


def export_bin(keys, revised=()):
    out = b"EK Export v1    " + length_delimited(3, b"XX")
    for k in keys:
        out += length_delimited(7, key_message(k))
    for k in revised:
        out += length_delimited(8, key_message(k))
    return out


# --- reading keys back: which ones the protocol allows (spec §export.3) -----------------------

def classify(k):
    """The class of an invalid key, or None."""
    if len(k["key_data"]) != 16:
        return "key_length"
    rp = k.get("rp", 144)
    if not 1 <= rp <= 144 or k["rs"] + rp - 1 > 0xFFFFFFFF:
        return "rolling_window"
    if not 0 <= k.get("trl", 0) <= 8:
        return "transmission_risk_level"
    if not 0 <= k["rt"] <= 5:
        return "report_type"
    return None


# --- the tracer (ENI ExposureMatchingTracer) --------------------------------------------------

def identifiers(key):
    """The 144 generated ids from the rolling start, as ENI's generator gives them."""
    k = rpik(key["key_data"])
    return [(j, rpi(k, j)) for j in range(key["rs"], min(key["rs"] + 144, 0xFFFFFFFF + 1))]


def valid(j, t):
    # RollingProximityIdValidator: [ (j - 12) * 600, (j + 13) * 600 )
    return (j - TOLERANCE) * 600 <= t < (j + TOLERANCE + 1) * 600


def clamp_rssi(r):
    return max(-127, min(126, r))


def tx_power(metadata):
    return struct.unpack("b", metadata[1:2])[0]


def decrypt_metadata(key, rpi_, aem_):
    # AES-CTR is its own inverse.
    return aem(aemk(key["key_data"]), rpi_, aem_)


def valid_sightings_for_rpi(log, j, rpi_, aggregate, stats):
    """getValidSightingsForRpi: sorted by time, tolerance, replay, optional per-scan loudest."""
    records = sorted((s for s in log if s["rpi"] == rpi_), key=lambda s: s["t"])
    kept = []
    for s in records:
        if valid(j, s["t"]):
            kept.append(s)
        elif stats is not None:
            stats["outside_tolerance"] += 1
    if not kept:
        return []
    first = kept[0]["t"]
    out = []
    for s in kept:
        if s["t"] - first > REPLAY_SECONDS:
            if stats is not None:
                stats["replayed"] += 1
        else:
            out.append(s)
    if aggregate:
        scans = [out[0]]
        previous = out[0]["t"]
        for s in out[1:]:
            if s["t"] - previous > SAME_SCAN:
                scans.append(s)
            if clamp_rssi(s["rssi"]) > clamp_rssi(scans[-1]["rssi"]):
                scans[-1] = s
            previous = s["t"]
        out = scans
    return out


def fetch_valid_sightings(key, log, ids, aggregate, stats):
    """fetchValidSightings: every id in turn, then the TX bounds, then a stable sort by time."""
    out = []
    for j, rpi_ in ids:
        for s in valid_sightings_for_rpi(log, j, rpi_, aggregate, stats):
            metadata = decrypt_metadata(key, rpi_, s["aem"])
            tx = tx_power(metadata)
            if TX_MIN <= tx <= TX_MAX:
                out.append(dict(s, j=j, tx=tx, metadata=metadata,
                                attenuation=max(tx - clamp_rssi(s["rssi"]), 0)))
            elif stats is not None:
                stats["tx_power_out_of_range"] += 1
    return sorted(out, key=lambda s: s["t"])


def valid_transition(old, new):
    if old == SELF:
        return new in (TEST, CLINICAL, REVOKED)
    if old == CLINICAL:
        return new in (TEST, REVOKED)
    return False


def effective(rt, when_missing=TEST):
    return when_missing if rt == UNKNOWN else rt


def trace(files, log, config):
    """The tracer loop over every key of every file, in publication order."""
    allowed = config.get("allowed_report_type_transitions", ALLOWED_TRANSITIONS)
    match_recursive = config.get("match_recursive", False)
    match_revoked = config.get("match_revoked", True)
    logged = {s["rpi"] for s in log}
    results = {}
    counts = {"keys_total": 0, "report_type_transitions": 0}
    rejected = {"outside_tolerance": 0, "replayed": 0, "tx_power_out_of_range": 0,
                "report_type_keys": 0, "duplicate_keys": 0, "invalid_transitions": 0,
                "invalid_keys": {"key_length": 0, "rolling_window": 0,
                                 "transmission_risk_level": 0, "report_type": 0}}
    for keys, revised in files:
        for key in list(keys) + list(revised):
            bad = classify(key)
            if bad:
                rejected["invalid_keys"][bad] += 1
                continue
            counts["keys_total"] += 1
            ids = identifiers(key)
            prefilter = any(r in logged for _, r in ids)
            kd = key["key_data"]
            if prefilter and kd in results:
                stored = results[kd]
                old, new = effective(stored["rt"]), effective(key["rt"])
                if old == new:
                    rejected["duplicate_keys"] += 1
                elif valid_transition(old, new) and stored["transitions"] < allowed:
                    stored["rt"] = new
                    stored["transitions"] += 1
                    counts["report_type_transitions"] += 1
                else:
                    rejected["invalid_transitions"] += 1
                continue
            if (key["rt"] == RECURSIVE and not match_recursive) or (key["rt"] == REVOKED and not match_revoked):
                rejected["report_type_keys"] += 1
                continue
            if not prefilter:
                continue
            own = ids[:key.get("rp", 144)]
            # Counted once, on the non-aggregated pass (the windows' sightings).
            plain = fetch_valid_sightings(key, log, own, False, rejected)
            scans = fetch_valid_sightings(key, log, own, True, None)
            if not scans:
                continue
            results[kd] = {"key": key, "rt": key["rt"], "first_rt": key["rt"], "transitions": 0,
                           "sightings": plain, "scans": scans}
    return results, counts, rejected


# --- exposure windows (ENI KeyExposureEvaluator.findExposureWindows) --------------------------

def seconds_since_last_scan(s):
    if s.get("prev", 0) == 0:
        return DEFAULT_MINUTES_SINCE * 60
    return 60 * min(MAX_MINUTES_SINCE, s["t"] // 60 - s["prev"] // 60)


def infectiousness(key, risk):
    windows = risk.get("windows", {})
    by_onset = windows.get("infectiousness_by_onset", ["standard"] * 29)
    missing = windows.get("infectiousness_when_onset_missing", "standard")
    d = key.get("dso")
    if d is None or abs(d) > 14:
        return missing
    return by_onset[d + 14]


def java_round(x):
    return int((x * 2 + 1) // 2)


def exposure_windows(result, risk):
    key = result["key"]
    inf = infectiousness(key, risk)
    windows = []
    current = None
    previous = 0
    for s in result["sightings"]:
        if current is None or s["t"] - current["start"] >= WINDOW_SECONDS:
            current = {"start": s["t"], "rt": effective(result["rt"]), "inf": inf, "scans": []}
            windows.append(current)
        if s["t"] - previous <= SAME_SCAN and current["scans"]:
            current["scans"][-1]["attenuations"].append(s["attenuation"])
        else:
            current["scans"].append({"t": s["t"], "attenuations": [s["attenuation"]],
                                     "since": seconds_since_last_scan(s)})
        previous = s["t"]
    for w in windows:
        for scan in w["scans"]:
            a = scan["attenuations"]
            scan["typical"] = java_round(sum(a) / len(a))
            scan["min"] = min(a)
    if inf == "none":
        return []
    return windows


# --- v2 daily summaries (ENI DailySummaryUtils) -----------------------------------------------

def daily_summaries(windows, risk, today):
    c = risk.get("daily_summaries", {})
    thresholds = c.get("attenuation_thresholds", [55, 63, 70])
    aw = c.get("attenuation_weights", [0.0] * 4)
    rw = c.get("report_type_weights", [0.0] * 4)
    iw = c.get("infectiousness_weights", [0.0] * 2)
    minimum = c.get("minimum_window_score", 0.0)
    since = c.get("days_since_exposure_threshold", 0)
    days = {}
    for w in windows:
        if w["rt"] not in (TEST, CLINICAL, SELF, RECURSIVE):
            continue
        day = w["start"] // 86_400
        if since > 0 and today - day > since:
            continue
        days.setdefault(day, []).append(w)
    out = []
    for day in sorted(days):
        per_type = {rt: [0.0, 0.0, 0.0] for rt in (TEST, CLINICAL, SELF, RECURSIVE)}
        for w in days[day]:
            seconds = [0, 0, 0, 0]
            for scan in w["scans"]:
                b = next((i for i, t in enumerate(thresholds) if scan["typical"] <= t), 3)
                seconds[b] += scan["since"]
            weighted = 0.0
            for b in range(4):
                weighted += seconds[b] * aw[b]
            inf_weight = 0.0 if w["inf"] == "none" else iw[0 if w["inf"] == "standard" else 1]
            score = weighted * rw[w["rt"] - 1] * inf_weight
            if score < minimum:
                continue
            s = per_type[w["rt"]]
            s[0] += score
            s[1] = max(s[1], score)
            s[2] += weighted
        total = [0.0, 0.0, 0.0]
        for rt in (TEST, CLINICAL, SELF, RECURSIVE):
            s = per_type[rt]
            total[0] += s[0]
            total[1] = max(total[1], s[1])
            total[2] += s[2]
        out.append({"unix_day": day, "score_sum": total[0], "maximum_score": total[1],
                    "weighted_duration_sum": total[2],
                    "by_report_type": [per_type[rt] for rt in (TEST, CLINICAL, SELF, RECURSIVE)]})
    return out


# --- v1 (ENI KeyExposureEvaluator.findExposures, RiskScoreCalculator) -------------------------

def compute_periods(points, scan_interval=SCAN_INTERVAL):
    margin = scan_interval // 2
    points = [(points[0][0] - margin, points[0][1])] + points + [(points[-1][0] + margin, points[-1][1])]
    periods = []
    previous = points[0]
    for p in points:
        if p[0] == previous[0]:
            continue
        periods.append((previous, p))
        previous = p
    return periods


def time_below_and_above(periods, threshold):
    below = above = 0
    for (t1, a1), (t2, _) in periods:
        # Interpolation is off (TracingParams): the cross is never inside a period.
        if a1 >= threshold:
            above += t2 - t1
        else:
            below += t2 - t1
    return below, above


def bucketize(seconds):
    estimated = seconds + SCAN_INTERVAL
    mod = estimated % SCAN_INTERVAL
    if mod <= SCAN_INTERVAL // 2:
        return estimated - mod
    return estimated + SCAN_INTERVAL - mod


def v1_defaults():
    # ExposureConfiguration.ExposureConfigurationBuilder.
    return {"minimum_risk_score": 4, "attenuation_scores": [4] * 8,
            "days_since_last_exposure_scores": [4] * 8, "duration_scores": [4] * 8,
            "transmission_risk_scores": [4] * 8, "duration_at_attenuation_thresholds": [50, 74]}


def risk_score(key, exposure, config, now):
    att = exposure["attenuation"]
    att_i = next((i for i, t in enumerate([73, 63, 51, 33, 27, 15, 10]) if att > t), 7)
    days = (now - key["rs"] * 600) // 86_400
    days_i = next((i for i, d in enumerate([14, 12, 10, 8, 6, 4, 2]) if days >= d), 7)
    minutes = exposure["duration"] // 60
    dur_i = next((i for i, m in enumerate([0, 5, 10, 15, 20, 25, 30]) if minutes <= m), 7)
    trl = key.get("trl", 0)
    tr = 1 if trl == 0 else config["transmission_risk_scores"][trl - 1]
    score = (config["attenuation_scores"][att_i] * config["days_since_last_exposure_scores"][days_i]
             * config["duration_scores"][dur_i] * tr)
    return 0 if score < config["minimum_risk_score"] else score


def find_exposures(result, config, now):
    scans = result["scans"]
    exposures = []
    first = scans[0]["t"]
    points = []
    for i, s in enumerate(scans):
        points.append((s["t"], s["attenuation"]))
        end = i + 1 == len(scans) or scans[i + 1]["t"] - s["t"] > MAX_INTERPOLATION
        if end:
            duration = bucketize(s["t"] - first)
            periods = compute_periods(points)
            total = sum(p2[0] - p1[0] for p1, p2 in periods)
            weighted = java_round(sum(p1[1] * (p2[0] - p1[0]) for p1, p2 in periods) / total)
            t0, t1 = config["duration_at_attenuation_thresholds"]
            below_low, above_low = time_below_and_above(periods, t0)
            _, above_high = time_below_and_above(periods, t1)
            durations = [below_low, below_low + above_low - below_low - above_high, above_high]
            if duration >= MIN_BUCKETIZED:
                e = {"start": first, "duration": duration, "attenuation": weighted,
                     "durations": durations}
                e["risk"] = risk_score(result["key"], e, config, now)
                exposures.append(e)
            if i + 1 < len(scans):
                first = scans[i + 1]["t"]
                points = []
    return exposures


def v1_report(results, config, now):
    keys = []
    newest = None
    totals = [0, 0, 0]
    summary = {"matched_key_count": 0, "days_since_last_exposure": 0, "maximum_risk_score": 0,
               "summation_risk_score": 0}
    for kd in sorted(results):
        r = results[kd]
        if r["rt"] == REVOKED:
            continue
        exposures = find_exposures(r, config, now)
        if not exposures:
            continue
        durations = [sum(e["durations"][b] for e in exposures) for b in range(3)]
        k = {"tek": kd.hex(), "maximum_risk_score": max(e["risk"] for e in exposures),
             "total_risk_score": sum(e["risk"] for e in exposures),
             "attenuation_durations_seconds": durations,
             "exposures": [[e["start"], e["duration"], e["attenuation"], e["durations"], e["risk"]]
                           for e in exposures]}
        keys.append(k)
        summary["matched_key_count"] += 1
        summary["maximum_risk_score"] = max(summary["maximum_risk_score"], k["maximum_risk_score"])
        summary["summation_risk_score"] += k["total_risk_score"]
        totals = [a + b for a, b in zip(totals, durations)]
        start = r["key"]["rs"] * 600
        newest = start if newest is None else max(newest, start)
    summary["days_since_last_exposure"] = 0 if newest is None else (now - newest) // 86_400
    summary["attenuation_durations_minutes"] = [min(s // 60, 30) for s in totals]
    return {"keys": keys, "summary": summary}


# --- F1 (spec §risk.4: per case, per UTC day) --------------------------------------------------

def f1(results, windows_of, risk, today):
    rule = {"attenuation_threshold_db": 70, "min_daily_seconds": 900, "lookback_days": 14}
    rule.update(risk.get("f1", {}))
    days = []
    for kd in sorted(results):
        per_day = {}
        for w in windows_of[kd]:
            if w["rt"] == REVOKED:
                continue
            for scan in w["scans"]:
                day = scan["t"] // 86_400
                if day > today or today - day >= rule["lookback_days"]:
                    continue
                d = per_day.setdefault(day, [0, 0, 255])
                d[1] += scan["since"]
                if scan["typical"] <= rule["attenuation_threshold_db"]:
                    d[0] += scan["since"]
                d[2] = min(d[2], scan["typical"])
        for day, (close, total, closest) in per_day.items():
            days.append([day, kd.hex(), close, total, closest])
    days.sort()
    return {"f1": any(d[2] >= rule["min_daily_seconds"] for d in days), "days": days}


# --- a case, end to end ------------------------------------------------------------------------

def run_case(case):
    files = [(f.get("keys", []), f.get("revised", [])) for f in case["files"]]
    log = case["log"]
    results, counts, rejected = trace(files, log, case.get("matching", {}))
    risk = case.get("risk", {})
    now = case["now"]
    today = now // 86_400
    windows_of = {kd: exposure_windows(r, risk) for kd, r in results.items()}
    windows = sorted((w for kd in sorted(windows_of) for w in windows_of[kd]), key=lambda w: w["start"])
    expect = {
        "keys_total": counts["keys_total"],
        "keys_matched": len(results),
        "report_type_transitions": counts["report_type_transitions"],
        "rejected": rejected,
        "matches": [{"tek": kd.hex(), "report_type": results[kd]["rt"],
                     "first_report_type": results[kd]["first_rt"],
                     "report_type_transitions": results[kd]["transitions"],
                     "sightings": [[s["t"], s["j"], s["attenuation"]] for s in results[kd]["sightings"]]}
                    for kd in sorted(results)],
        "windows": [[w["start"], w["rt"], [[s["t"], s["typical"], s["min"], s["since"], len(s["attenuations"])]
                                           for s in w["scans"]]] for w in windows],
        "daily_summaries": daily_summaries(windows, risk, today),
        "f1": f1(results, windows_of, risk, today),
    }
    if "v1" in risk:
        config = v1_defaults()
        config.update(risk["v1"])
        expect["v1"] = v1_report(results, config, now)
    return expect


# --- the cases ---------------------------------------------------------------------------------

def tek(label):
    return hashlib.sha256(b"google-rules " + label.encode()).digest()[:16]


def key(label, rs=R0, rt=TEST, trl=5, rp=144, dso=None, key_data=None):
    return {"key_data": key_data if key_data is not None else tek(label), "rs": rs, "rp": rp,
            "rt": rt, "trl": trl, "dso": dso}


def seen(k, offset, t, rssi=-60, tx=-10, prev=0, aem_override=None):
    """A sighting of key k's identifier rs + offset at time t."""
    j = k["rs"] + offset
    r = rpi(rpik(k["key_data"]), j)
    metadata = bytes([0x40, tx & 0xFF, 0, 0])
    a = aem_override if aem_override is not None else aem(aemk(k["key_data"]), r, metadata)
    return {"t": t, "rpi": r, "aem": a, "rssi": rssi, "prev": prev}


def contact(k, start, minutes, rssi=-60, every=120, tx=-10):
    """A sighting every `every` seconds for `minutes`, each scan knowing the previous one."""
    out = []
    t = start
    while t < start + minutes * 60:
        offset = (t // 600) - k["rs"]
        out.append(seen(k, offset, t, rssi=rssi, tx=tx, prev=t - every))
        t += every
    return out


def stranger(i, t):
    r = hashlib.sha256(b"stranger %d" % i).digest()[:16]
    return {"t": t, "rpi": r, "aem": bytes(4), "rssi": -70, "prev": 0}


T0 = R0 * 600 + 9 * 3600        # 09:00 UTC on DAY0
NOW = T0 + 86_400


def cases():
    out = []

    def add(name, section, files, log, now=NOW, matching=None, risk=None, note=""):
        c = {"name": name, "section": section, "note": note, "files": files, "log": log, "now": now}
        if matching:
            c["matching"] = matching
        if risk:
            c["risk"] = risk
        out.append(c)

    k = key("tolerance")
    j1, j2 = 60, 80
    add("tolerance-edges", "§match.2",
        [{"keys": [k]}],
        [seen(k, j1, (R0 + j1 - 12) * 600 + 10), seen(k, j1, (R0 + j1 - 13) * 600 + 599),
         seen(k, j2, (R0 + j2 + 12) * 600 + 599), seen(k, j2, (R0 + j2 + 13) * 600)],
        note="floor(t/600) within 12 intervals of j, both ends; 13 is outside")

    k = key("replay")
    t = (R0 + 70) * 600 + 30
    add("replay-edge", "§match.2",
        [{"keys": [k]}],
        [seen(k, 70, t), seen(k, 70, t + 1200), seen(k, 70, t + 1201)],
        note="a sighting 1200 s after the first valid one counts, 1201 s is a replay")

    k = key("tx")
    t = (R0 + 90) * 600
    add("tx-power-bounds", "§match.2",
        [{"keys": [k]}],
        [seen(k, 90, t + 1, tx=-50), seen(k, 91, t + 601, tx=-51), seen(k, 92, t + 1201, tx=20),
         seen(k, 93, t + 1801, tx=21), seen(k, 94, t + 2401, rssi=-128, tx=-10)],
        note="TX power in [-50, 20] dBm; an RSSI of -128 is read as -127")

    k = key("served twice", rt=TEST, trl=5)
    log = contact(k, T0, 10)
    add("served-twice-counts-once", "§match.6",
        [{"keys": [k]}, {"keys": [dict(k, trl=2, dso=3)]}],
        log + [stranger(1, T0)],
        risk={"daily_summaries": {"attenuation_weights": [1.0, 1.0, 0.5, 0.0],
                                  "report_type_weights": [1.0, 1.0, 1.0, 1.0],
                                  "infectiousness_weights": [1.0, 1.0]}},
        note="10 minutes of close contact served by two files: once, so no F1 (twice would be 20)")

    k = key("overlap", rt=CLINICAL)
    add("overlapping-windows", "§match.6",
        [{"keys": [k, dict(k, rs=k["rs"] + 6, rp=138)]}],
        contact(k, T0, 12),
        note="the same key with an overlapping window is a copy")

    k = key("clinical then test", rt=CLINICAL)
    add("clinical-becomes-test", "§match.6",
        [{"keys": [k]}, {"revised": [dict(k, rt=TEST)]}],
        contact(k, T0, 20),
        note="a revised key changes the report type once")

    k = key("self then revoked", rt=SELF)
    add("revocation-withdraws-the-warning", "§match.6",
        [{"keys": [k]}, {"revised": [dict(k, rt=REVOKED)]}],
        contact(k, T0, 20),
        risk={"v1": {}, "daily_summaries": {"attenuation_weights": [1.0, 1.0, 1.0, 1.0],
                                            "report_type_weights": [1.0, 1.0, 1.0, 1.0],
                                            "infectiousness_weights": [1.0, 1.0]}},
        note="20 minutes of close contact, then REVOKED: no F1, no daily summary, no v1 score")

    k = key("test then self", rt=TEST)
    add("test-cannot-change", "§match.6",
        [{"keys": [k]}, {"revised": [dict(k, rt=SELF)]}, {"revised": [dict(k, rt=REVOKED)]}],
        contact(k, T0, 8),
        note="CONFIRMED_TEST changes to nothing: both revisions are invalid")

    k = key("two changes", rt=SELF)
    files = [{"keys": [k]}, {"revised": [dict(k, rt=CLINICAL)]}, {"revised": [dict(k, rt=TEST)]}]
    add("one-change-allowed", "§match.6", files, contact(k, T0, 8),
        note="SELF_REPORT to CLINICAL is applied; the second change exceeds the default of 1")
    add("two-changes-allowed", "§match.6", files, contact(k, T0, 8),
        matching={"allowed_report_type_transitions": 2},
        note="with allowed_report_type_transitions 2 both changes apply")

    k = key("recursive first", rt=RECURSIVE)
    add("recursive-copy-then-test", "§match.6",
        [{"keys": [k]}, {"keys": [dict(k, rt=TEST)]}],
        contact(k, T0, 6),
        note="a RECURSIVE copy is not matched, so the later CONFIRMED_TEST copy is")

    k = key("copy outside", rt=SELF)
    far = dict(k, rs=k["rs"] + 144, rt=CLINICAL)
    add("copy-seen-anywhere", "§match.6",
        [{"keys": [k]}, {"revised": [far]}],
        contact(k, T0, 6) + [seen(far, 3, (far["rs"] + 3) * 600 + 5 + 30 * 86_400)],
        now=NOW,
        note="a copy whose window has a logged identifier at any time passes the prefilter")

    good = key("valid among invalid")
    add("invalid-keys-skipped-one-by-one", "§match.5",
        [{"keys": [key("short", key_data=bytes(15)), key("trl", trl=9), key("period", rp=0),
                   key("report", rt=6), good]}],
        contact(good, T0, 6),
        note="each invalid key is counted by class and skipped; the valid key is matched")

    k = key("windows", rt=TEST, dso=-2)
    log = []
    for i, (minute, rssi, prev) in enumerate([(0, -50, 0), (0.2, -58, 0), (3, -55, 150),
                                              (8, -71, 290), (14, -64, 340), (33, -45, 300),
                                              (34, -85, 30)]):
        t = T0 + int(minute * 60)
        log.append(seen(k, t // 600 - k["rs"], t, rssi=rssi, prev=(t - prev) if prev else 0))
    risk = {"daily_summaries": {"attenuation_thresholds": [50, 60, 70],
                                "attenuation_weights": [1.5, 1.0, 0.5, 0.25],
                                "report_type_weights": [1.0, 0.5, 0.5, 0.0],
                                "infectiousness_weights": [1.0, 2.0]}}
    add("windows-and-daily-summary", "§risk.1",
        [{"keys": [k]}], log, risk=risk,
        note="scan instances joined within 25.5 s, windows cut at 30 minutes, Google's seconds")
    add("day-below-minimum-reported-with-zeros", "§risk.2",
        [{"keys": [k]}], log,
        risk={"daily_summaries": dict(risk["daily_summaries"], minimum_window_score=10_000.0)},
        note="a day whose windows all score below the minimum is still reported")

    k = key("v1", rt=TEST, trl=0)
    log = [seen(k, (T0 + s) // 600 - k["rs"], T0 + s, rssi=r, prev=T0 + s - 300)
           for s, r in [(0, -40), (5, -30), (300, -60), (600, -75), (1500, -50), (1800, -52)]]
    add("v1-exposures-and-summary", "§risk.3",
        [{"keys": [k]}], log,
        risk={"v1": {"minimum_risk_score": 1, "attenuation_scores": [1, 2, 3, 4, 5, 6, 7, 8],
                     "days_since_last_exposure_scores": [1, 2, 3, 4, 5, 6, 7, 8],
                     "duration_scores": [1, 2, 3, 4, 5, 6, 7, 8],
                     "transmission_risk_scores": [8, 7, 6, 5, 4, 3, 2, 1],
                     "duration_at_attenuation_thresholds": [40, 60]}},
        note="the loudest sighting per scan, runs split at gaps over 600 s, TRL 0 scores 1")

    k = key("v1 forged loudest", rt=TEST, trl=3)
    r0 = rpi(rpik(k["key_data"]), T0 // 600)
    forged = bytes(a ^ b for a, b in zip(aem(aemk(k["key_data"]), r0, bytes([0x40, 0xF6, 0, 0])),
                                          bytes([0, 0xF6 ^ 0x7F, 0, 0])))
    log = [seen(k, T0 // 600 - k["rs"], T0, rssi=-70, prev=T0 - 300),
           seen(k, T0 // 600 - k["rs"], T0 + 2, rssi=-30, aem_override=forged, prev=T0 - 300),
           seen(k, (T0 + 300) // 600 - k["rs"], T0 + 300, rssi=-65, prev=T0)]
    add("v1-loudest-chosen-before-tx-bounds", "§risk.3.1",
        [{"keys": [k]}], log, risk={"v1": {}},
        note="the loudest sighting of the first scan carries TX power 127: v1 drops that scan, "
             "windows keep the quieter sighting")

    a, b = key("case a"), key("case b")
    add("f1-counts-per-case", "§risk.4",
        [{"keys": [a, b]}],
        contact(a, T0, 10) + contact(b, T0 + 40, 10),
        note="two cases met at the same time for 10 minutes each: no F1")

    c = key("case c")
    add("f1-one-case-long-enough", "§risk.4",
        [{"keys": [c]}],
        contact(c, T0, 16, rssi=-45),
        note="one case for 16 minutes within the threshold: F1")
    return out


def hexify(o):
    if isinstance(o, bytes):
        return o.hex()
    if isinstance(o, dict):
        return {k: hexify(v) for k, v in o.items()}
    if isinstance(o, list):
        return [hexify(v) for v in o]
    return o


def document():
    vectors = []
    for case in cases():
        expect = run_case(case)
        vectors.append({
            "name": case["name"],
            "section": case["section"],
            "note": case["note"],
            "files": [export_bin(f.get("keys", []), f.get("revised", [])).hex() for f in case["files"]],
            "sightings": [{"unix_seconds": s["t"], "rpi": s["rpi"].hex(), "aem": s["aem"].hex(),
                           "rssi": s["rssi"], "previous_scan_unix_seconds": s["prev"]}
                          for s in case["log"]],
            "now_unix_seconds": case["now"],
            "matching": case.get("matching", {}),
            "risk": case.get("risk", {}),
            "expect": hexify(expect),
        })
    return {
        "description": "Matching and risk cases with the values an independent transcription of "
                       "Google's engine gives (spec/reference/matching_reference.py)",
        "source": "google/exposure-notifications-internals, matching/ and nearby/; spec §risk.4 "
                  "for the F1 rule and §match.5 for the classes of invalid keys",
        "vectors": vectors,
    }


def weighted_attenuation(points, scan_interval):
    """computePeriods and weightAttenuationOfPeriods for any scan interval."""
    periods = compute_periods(list(points), scan_interval)
    total = sum(p2[0] - p1[0] for p1, p2 in periods)
    return java_round(sum(p1[1] * (p2[0] - p1[0]) for p1, p2 in periods) / total)


def hand_computed():
    """The two older hand-computed files, their values recomputed by this transcription."""
    out = {}
    path = ROOT / "test-vectors" / "risk-weighted-attenuation.json"
    doc = json.loads(path.read_text())
    for v in doc["vectors"]:
        v["expected"] = weighted_attenuation([tuple(p) for p in v["points"]], v["scan_interval_seconds"])
    out[path] = doc
    path = ROOT / "test-vectors" / "risk-windows.json"
    doc = json.loads(path.read_text())
    for v in doc["vectors"]:
        result = {"key": {"dso": None}, "rt": TEST,
                  "sightings": [{"t": t, "attenuation": a, "prev": p} for t, a, p in v["sightings"]]}
        v["windows"] = [[[s["typical"], s["min"], s["since"], len(s["attenuations"])] for s in w["scans"]]
                        for w in exposure_windows(result, {})]
    out[path] = doc
    return out


def render_compact(doc):
    """The layout of the hand-written files: each vector's fields on a line of their own."""
    def one(v):
        return json.dumps(v, ensure_ascii=False, separators=(", ", ": "))
    lines = ["{"]
    head = [(k, v) for k, v in doc.items() if k != "vectors"]
    for k, v in head:
        if isinstance(v, dict):
            inner = [f"  {one(ik)}: {one(iv)}" for ik, iv in v.items()]
            lines.append(f" {one(k)}: {{\n" + ",\n".join(inner) + "\n },")
        else:
            lines.append(f" {one(k)}: {one(v)},")
    blocks = []
    for v in doc["vectors"]:
        if doc.get("kind") == "risk-weighted-attenuation":
            blocks.append("  " + json.dumps(v, ensure_ascii=False))
            continue
        fields = [f"   {one(k)}: {one(x)}" for k, x in v.items()]
        blocks.append("  {\n" + ",\n".join(fields) + "\n  }")
    lines.append(' "vectors": [\n' + ",\n".join(blocks) + "\n ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv):
    outputs = {OUTPUT: json.dumps(document(), indent=1) + "\n"}
    for path, doc in hand_computed().items():
        outputs[path] = render_compact(doc)
    stale = 0
    for path, text in outputs.items():
        if path.exists() and path.read_text() == text:
            continue
        stale += 1
        if "--check" in argv:
            print("would change: " + str(path.relative_to(ROOT)))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print("wrote: " + str(path.relative_to(ROOT)))
    return 1 if stale and "--check" in argv else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
