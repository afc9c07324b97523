"""The study's page: infections over time per level, infections averted against adoption with
the anchors marked, the answer to the circular's claim, and every parameter's source. SVG
charts and no script, as the town demo's page (spec §study.8)."""

import csv
import html
import io
import os
import tempfile
from typing import List, Optional

from .anchors import ANCHORS

WIDTH, HEIGHT, LEFT, BOTTOM, TOP, RIGHT = 720, 320, 70, 50, 20, 20
COLOURS = ["#1b6ca8", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#2c3e50", "#16a085",
           "#7f8c8d"]


def _scale(lo: float, hi: float, a: float, b: float):
    span = (hi - lo) or 1.0
    return lambda v: a + (v - lo) * (b - a) / span


def _axes(x_label: str, y_label: str, x_ticks, y_ticks, fx, fy) -> List[str]:
    out = [f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" '
           f'y2="{HEIGHT - BOTTOM}" stroke="#333"/>',
           f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" stroke="#333"/>']
    for value, label in x_ticks:
        x = fx(value)
        out.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" font-size="11" '
                   f'text-anchor="middle">{label}</text>')
    for value, label in y_ticks:
        y = fy(value)
        out.append(f'<line x1="{LEFT - 4}" y1="{y:.1f}" x2="{LEFT}" y2="{y:.1f}" stroke="#333"/>'
                   f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="11" '
                   f'text-anchor="end">{label}</text>')
    out.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 10}" font-size="12" '
               f'text-anchor="middle">{html.escape(x_label)}</text>')
    out.append(f'<text x="14" y="{(TOP + HEIGHT - BOTTOM) / 2}" font-size="12" '
               f'text-anchor="middle" transform="rotate(-90 14 {(TOP + HEIGHT - BOTTOM) / 2})">'
               f'{html.escape(y_label)}</text>')
    return out


def _ticks(hi: float, count: int = 5):
    step = hi / count if hi > 0 else 1.0
    return [(i * step, f"{i * step:,.0f}") for i in range(count + 1)]


def infections_chart(summary: List[dict], region: str) -> str:
    rows = [r for r in summary if r["region"] == region]
    days = len(rows[0]["new_infections"])
    top = max(max(r["new_infections"]) for r in rows) or 1.0
    fx = _scale(0, max(days - 1, 1), LEFT, WIDTH - RIGHT)
    fy = _scale(0, top, HEIGHT - BOTTOM, TOP)
    parts = _axes("day of the simulation", "new infections a day (mean over seeds)",
                  [(d, str(d)) for d in range(0, days, max(1, days // 9))], _ticks(top), fx, fy)
    for n, row in enumerate(rows):
        colour = COLOURS[n % len(COLOURS)]
        points = " ".join(f"{fx(d):.1f},{fy(v):.1f}" for d, v in enumerate(row["new_infections"]))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                     f'points="{points}"/>')
        parts.append(f'<text x="{WIDTH - RIGHT - 150}" y="{TOP + 14 + 14 * n}" font-size="11" '
                     f'fill="{colour}">adoption {row["adoption"]:.0%}</text>')
    return _svg("New infections a day at each adoption level", parts)


def averted_chart(summary: List[dict], region: str) -> str:
    rows = [r for r in summary if r["region"] == region and r["averted"]["mean"] is not None]
    fx = _scale(0, 1, LEFT, WIDTH - RIGHT)
    fy = _scale(-0.2, 1, HEIGHT - BOTTOM, TOP)
    parts = _axes("adoption (share of the population running the app)",
                  "infections averted against adoption 0",
                  [(a / 10, f"{a * 10}%") for a in range(11)],
                  [(v / 5, f"{v * 20}%") for v in range(-1, 6)], fx, fy)
    parts.append(f'<line x1="{LEFT}" y1="{fy(0):.1f}" x2="{WIDTH - RIGHT}" y2="{fy(0):.1f}" '
                 f'stroke="#bbb" stroke-dasharray="3 3"/>')
    for row in rows:
        mean, sd = row["averted"]["mean"], row["averted"]["sd"] or 0.0
        x = fx(row["adoption"])
        parts.append(f'<line x1="{x:.1f}" y1="{fy(mean - sd):.1f}" x2="{x:.1f}" '
                     f'y2="{fy(mean + sd):.1f}" stroke="#1b6ca8"/>'
                     f'<circle cx="{x:.1f}" cy="{fy(mean):.1f}" r="4" fill="#1b6ca8"/>')
    for n, anchor in enumerate(ANCHORS):
        x = fx(anchor["adoption"])
        parts.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{HEIGHT - BOTTOM}" '
                     f'stroke="#c0392b" stroke-dasharray="2 4"/>'
                     f'<text x="{x + 3:.1f}" y="{TOP + 12 + 12 * n}" font-size="10" '
                     f'fill="#c0392b">{html.escape(anchor["name"])} ({anchor["adoption"]:.0%})'
                     '</text>')
        if anchor["figure"] == "averted":
            parts.append(f'<rect x="{x - 4:.1f}" y="{fy(anchor["value"]) - 4:.1f}" width="8" '
                         f'height="8" fill="#c0392b"/>')
    parts.append(f'<text x="{LEFT + 8}" y="{HEIGHT - BOTTOM - 8}" font-size="10">'
                 'dots: mean over seeds, bars: one standard deviation; red: the anchors '
                 '(square: their figure)</text>')
    return _svg("Infections averted against adoption, with the anchors", parts)


def _svg(title: str, parts: List[str]) -> str:
    return (f'<h2>{html.escape(title)}</h2>\n<svg xmlns="http://www.w3.org/2000/svg" '
            f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{html.escape(title)}">'
            + "".join(parts) + "</svg>\n")


def _figure(cell: dict, percent: bool = False, digits: int = 2) -> str:
    if cell is None or cell.get("mean") is None:
        return "n/a"
    if percent:
        return f'{cell["mean"]:.1%} &plusmn; {cell["sd"]:.1%}'
    return f'{cell["mean"]:,.{digits}f} &plusmn; {cell["sd"]:,.{digits}f}'


def write(folder: str, document: dict) -> None:
    """Writes ``index.html`` and ``study.csv`` into ``folder`` (made if missing), each through
    a temporary file renamed into place, so a page is whole or absent."""
    os.makedirs(folder, exist_ok=True)
    region = document["summary"][0]["region"]
    summary = document["summary"]
    rows = "".join(
        f'<tr><td>{r["region"]}</td><td>{r["adoption"]:.0%}</td><td>{_figure(r["infections"], digits=0)}</td>'
        f'<td>{_figure(r["averted"], True)}</td>'
        f'<td>{_figure(r["notifications_per_index_case"])}</td>'
        f'<td>{_figure(r["secondary_attack_rate_notified"], True)}</td>'
        f'<td>{_figure(r["detection"], True)}</td><td>{_figure(r["matched_keys"], digits=0)}</td></tr>'
        for r in summary)
    anchors = "".join(
        f'<tr><td>{html.escape(a["citation"])}</td><td>{a["adoption"]:.0%}</td>'
        f'<td>{html.escape(a["theirs"])}</td><td>{_ours(a["ours"])}</td>'
        f'<td>{html.escape(a["differs"])}</td></tr>' for a in document["anchors"])
    parameters = "".join(
        f'<tr><td>{html.escape(p["name"])}</td><td>{html.escape(str(p["value"]))}</td>'
        f'<td>{html.escape(p["source"])}</td></tr>' for p in document["parameters"])
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>bluezone adoption study</title>
<style>body{{font-family:sans-serif;max-width:760px;margin:1em auto}}
table{{border-collapse:collapse;font-size:12px}}td,th{{border:1px solid #ccc;padding:3px}}</style>
</head><body>
<h1>The protocol inside an epidemic: adoption against infections</h1>
<p>{html.escape(document["answer"])}</p>
<p>Command: <code>{html.escape(document["command"])}</code>; bluezone {html.escape(document["version"])},
Covasim {html.escape(document["covasim"])}; {html.escape(document["date"])}.
The data: <a href="study.csv">study.csv</a>.</p>
{infections_chart(summary, region)}
{averted_chart(summary, region)}
<h2>Per level (mean &plusmn; standard deviation over seeds)</h2>
<table><tr><th>region</th><th>adoption</th><th>infections</th><th>averted</th>
<th>notifications per index case</th><th>attack rate among the notified</th>
<th>detection of close encounters</th><th>keys matched</th></tr>{rows}</table>
<h2>Against the anchors</h2>
<table><tr><th>source</th><th>adoption</th><th>theirs</th><th>ours</th><th>what differs</th></tr>
{anchors}</table>
<h2>Every parameter and its source</h2>
<table><tr><th>parameter</th><th>value</th><th>source</th></tr>{parameters}</table>
</body></html>
"""
    write_atomically(os.path.join(folder, "index.html"), page)
    table = io.StringIO(newline="")
    writer = csv.writer(table)
    writer.writerow(["region", "adoption", "seed", "infections", "averted",
                     "notifications_per_index_case", "secondary_attack_rate_notified",
                     "detection", "matched_keys", "seconds", "draw_seconds", "protocol_seconds"])
    for r in document["runs"]:
        writer.writerow([r["region"], r["adoption"], r["seed"], r["infections"], r["averted"],
                         r["notifications_per_index_case"], r["secondary_attack_rate_notified"],
                         r["detection"], r["matched_keys"], f'{r["seconds"]:.2f}',
                         f'{r["draw_seconds"]:.2f}', f'{r["protocol_seconds"]:.2f}'])
    write_atomically(os.path.join(folder, "study.csv"), table.getvalue())


def _ours(ours: dict) -> str:
    if not ours.get("level_in_sweep"):
        return "level not in this sweep"
    parts = [f'averted {_figure(ours["infections_averted"], True)}']
    growth: Optional[float] = ours.get("growth_last_week")
    if growth is not None:
        parts.append(f"last week's infections {growth:.2f}&times; the week before")
    parts.append(f'notifications per index case {_figure(ours["notifications_per_index_case"])}')
    parts.append(f'attack rate among the notified {_figure(ours["secondary_attack_rate_notified"], True)}')
    if ours.get("marginal_percent_per_point") is not None:
        parts.append(f'{ours["marginal_percent_per_point"]:.2f} % fewer infections per point')
    return "; ".join(parts)


def write_atomically(path: str, text: str) -> None:
    """Writes ``text`` to a temporary file beside ``path`` and renames it into place, so the
    file is whole or absent (spec §study.8)."""
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
