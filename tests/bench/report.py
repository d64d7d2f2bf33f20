"""The bench's output: a Markdown table, JSON for machines, and one SVG timeline per scenario
(acknowledged writes over time around the fault, one line per configuration)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from tests.scenario import Outcome as Run

COLORS = {"defaults": "#1f77b4", "bitnami": "#d62728"}
LABELS = {"defaults": "chartgen defaults", "bitnami": "most-used chart's settings"}


def summarize(runs: list[Run]) -> list[dict[str, Any]]:
    rows = []
    for driver, fault, config in sorted({(r.driver, r.fault, r.config) for r in runs}):
        sel = [r for r in runs if (r.driver, r.fault, r.config) == (driver, fault, config)]

        def med(attr):
            vals = [getattr(r, attr) for r in sel]
            return {"median": round(statistics.median(vals), 2), "min": round(min(vals), 2), "max": round(max(vals), 2)}

        rows.append({"preset": driver, "fault": fault, "config": config, "runs": len(sel),
                     "resume_s": med("resume_s"), "longest_gap_s": med("longest_gap_s"), "ready_s": med("ready_s"),
                     "acked": sum(r.acked for r in sel), "lost": sum(r.lost for r in sel)})
    return rows


def load(out: Path) -> list[Run]:
    """The runs recorded in OUT/results.json (--keep)."""
    path = out / "results.json"
    if not path.exists():
        return []
    return [Run(**r) for r in json.loads(path.read_text())["runs"] if "driver" in r]


def merged(kept: list[Run], runs: list[Run]) -> list[Run]:
    """KEPT without the scenarios (driver, configuration, fault) measured again in RUNS, then RUNS."""
    again = {(r.driver, r.config, r.fault) for r in runs}
    return [r for r in kept if (r.driver, r.config, r.fault) not in again] + runs


def _fmt(m: dict[str, float]) -> str:
    return f"{m['median']:.2f} ({m['min']:.2f}-{m['max']:.2f})" if m["min"] != m["max"] else f"{m['median']:.2f}"


def markdown(runs: list[Run], notes: dict[str, str]) -> str:
    rows = summarize(runs)
    out = ["| preset | fault | settings | writes resume after (s) | longest gap (s) | all ready after (s) | "
           "acknowledged / lost | vs. most-used |", "|---|---|---|---|---|---|---|---|"]
    by = {(r["preset"], r["fault"], r["config"]): r for r in rows}
    for r in rows:
        ratio = ""
        other = by.get((r["preset"], r["fault"], "bitnami"))
        if r["config"] == "defaults" and other and r["resume_s"]["median"] > 0:
            ratio = f"{other['resume_s']['median'] / r['resume_s']['median']:.1f}x faster"
        elif r["config"] == "defaults" and other and r["resume_s"]["median"] == 0 and other["resume_s"]["median"] > 0:
            ratio = "no gap"
        out.append(f"| {r['preset']} | {r['fault']} | {LABELS[r['config']]} | {_fmt(r['resume_s'])} | "
                   f"{_fmt(r['longest_gap_s'])} | {_fmt(r['ready_s'])} | {r['acked']} / {r['lost']} | {ratio} |")
    out.append("")
    shown = {r["preset"] for r in rows}
    out += [f"- {p}, most-used chart's settings: {note}" for p, note in sorted(notes.items()) if p in shown and note]
    out.append("- Medians (min-max) over the runs; a gap shorter than 0.5 s counts as no interruption.")
    return "\n".join(out) + "\n"


# The goals for the chartgen defaults: (preset, fault, what, limit in s); "resume" is the
# median time to the first acknowledged write after the fault, "gap" the longest gap in any run.
GOALS = [("etcd", "pod-deleted", "resume", 2.0), ("redis", "pod-deleted", "resume", 3.0),
         ("redis", "pod-frozen", "resume", 8.0), ("mariadb", "pod-deleted", "resume", 5.0),
         ("mariadb", "pod-frozen", "resume", 15.0),
         ("postgresql", "pod-deleted", "resume", 3.0), ("postgresql", "pod-frozen", "resume", 10.0),
         ("postgresql", "leader-cut-off", "resume", 10.0),
         *[(p, "rolling-upgrade", "gap", 2.0) for p in ("etcd", "redis", "valkey", "mariadb", "postgresql")]]
RATIOS = [("redis", "pod-frozen", 7.0)]  # at least this many times faster than the most-used chart's settings


def goals(runs: list[Run]) -> str:
    """Each goal against what this run measured: met or missed, with the figure."""
    out = ["| goal | measured | |", "|---|---|---|"]
    for preset, fault, what, limit in GOALS:
        sel = [r for r in runs if (r.driver, r.fault, r.config) == (preset, fault, "defaults")]
        if not sel:
            continue
        if what == "resume":
            got = statistics.median(r.resume_s for r in sel)
            text = f"{preset} {fault}: first acknowledged write <= {limit:g} s (median)"
        else:
            got = max(r.longest_gap_s for r in sel)
            text = f"{preset} {fault}: no gap between acknowledged writes > {limit:g} s (any run)"
        out.append(f"| {text} | {got:.2f} s | {'met' if got <= limit else 'missed'} |")
    for preset, fault, factor in RATIOS:
        ours = [r.resume_s for r in runs if (r.driver, r.fault, r.config) == (preset, fault, "defaults")]
        theirs = [r.resume_s for r in runs if (r.driver, r.fault, r.config) == (preset, fault, "bitnami")]
        if ours and theirs:
            ratio = statistics.median(theirs) / max(statistics.median(ours), 0.01)
            out.append(f"| {preset} {fault}: >= {factor:g}x faster than the most-used chart's settings | "
                       f"{ratio:.1f}x | {'met' if ratio >= factor else 'missed'} |")
    lost = sum(r.lost for r in runs)
    out.append(f"| 0 acknowledged writes lost, every run | {lost} lost of {sum(r.acked for r in runs)} | "
               f"{'met' if lost == 0 else 'missed'} |")
    return "\n".join(out) + "\n"


def svg(runs: list[Run], preset: str, fault: str, width: int = 640, height: int = 240) -> str:
    """Cumulative acknowledged writes against seconds from the fault, one line per setting
    (the first run of each); a flat stretch is a time without acknowledged writes."""
    sel = {}
    for r in runs:
        if r.driver == preset and r.fault == fault and r.config not in sel:
            sel[r.config] = r.timeline
    t_max = max((max(tl) for tl in sel.values() if tl), default=10.0)
    t_min = -5.0
    n_max = max((len(tl) for tl in sel.values()), default=1) or 1
    left, right, top, bottom = 50, 10, 24, 30
    w, h = width - left - right, height - top - bottom

    def x(t: float) -> float:
        return left + (t - t_min) / (t_max - t_min) * w

    def y(n: int) -> float:
        return top + h - n / n_max * h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
             f'font-size="11"><rect width="100%" height="100%" fill="white"/>',
             f'<text x="{left}" y="14" font-size="12">{preset}: {fault} — acknowledged writes over time</text>',
             f'<line x1="{x(0):.1f}" y1="{top}" x2="{x(0):.1f}" y2="{top + h}" stroke="#888" stroke-dasharray="4 3"/>',
             f'<text x="{x(0) + 3:.1f}" y="{top + 10}" fill="#555">fault</text>',
             f'<line x1="{left}" y1="{top + h}" x2="{left + w}" y2="{top + h}" stroke="black"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + h}" stroke="black"/>']
    step = 5 if t_max < 60 else 15
    t = 0
    while t <= t_max:
        parts.append(f'<text x="{x(t):.1f}" y="{top + h + 14}" text-anchor="middle">{t:g}s</text>')
        t += step
    parts.append(f'<text x="{left - 4}" y="{top + 4}" text-anchor="end">{n_max}</text>')
    for i, (config, tl) in enumerate(sorted(sel.items())):
        pts = " ".join(f"{x(tt):.1f},{y(k + 1):.1f}" for k, tt in enumerate(tl))
        color = COLORS.get(config, "black")
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{pts}"/>')
        parts.append(f'<text x="{left + w - 4}" y="{top + 14 + 14 * i}" text-anchor="end" fill="{color}">'
                     f'{LABELS.get(config, config)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write(runs: list[Run], notes: dict[str, str], out: Path, meta: dict[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"meta": meta, **_json(runs)}, indent=1) + "\n")
    md = [f"# Failover bench\n\n{meta.get('about', '')}\n", markdown(runs, notes), "## Goals\n", goals(runs), ""]
    for preset, fault in sorted({(r.driver, r.fault) for r in runs}):
        name = f"{preset}-{fault}.svg"
        (out / name).write_text(svg(runs, preset, fault))
        md.append(f"![{preset} {fault}]({name})")
    (out / "README.md").write_text("\n".join(md) + "\n")
    return out / "README.md"


def _json(runs: list[Run]) -> dict[str, Any]:
    return {"runs": [r.as_dict() for r in runs], "summary": summarize(runs)}
