"""The picture of a simulated day: one SVG panel per policy, written as text (no plotting library).

Each panel stacks the mean power of the base load and of every appliance over time, draws the PV
generation as a shaded line and the import limit as a dashed red line, and shades in red every
minute in which the grid import went above the limit. Panels share one scale, so the baseline's
excess is seen against wattplan's plan. Times are shown in the home's timezone.
"""

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from reconcile.simulation.metrics import Timeline, minutes_above
from reconcile.simulation.simulate import SimulationResult

WIDTH = 1200
LEFT, RIGHT = 64, 36
PANEL_H, PANEL_GAP = 250, 78
TOP = 112
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif"
BASE_COLOUR = "#c3c8cf"
PALETTE = ("#4e79a7", "#b07aa1", "#76b7b2", "#59a14f", "#9c755f", "#ff9da7", "#86bcb6", "#8cd17d")
PV_COLOUR, LIMIT_COLOUR, INK, MUTED, GRID = "#e8a202", "#d62728", "#1f2430", "#5b6270", "#e6e8ec"
DOTTED = 'stroke-width="2" stroke-dasharray="2 3"'
POLICY_TITLES = {"wattplan": "wattplan", "immediate": "immediate: every run starts when asked (no scheduler)"}


def write_svg(path: Path, results: Sequence[SimulationResult], *, footer: str = "") -> Path:
    path.write_text(render_svg(results, footer=footer), encoding="utf-8")
    return path


def render_svg(results: Sequence[SimulationResult], *, footer: str = "") -> str:
    """One panel per result (same scenario, one policy each), stacked vertically."""
    first = results[0]
    zone = ZoneInfo(first.timezone)
    top_w = _nice_top(max(_highest(r) for r in results), first.limit_w)
    colours = _colours(first.timeline.appliances)
    height = TOP + len(results) * (PANEL_H + PANEL_GAP) + 24 + (16 if footer else 0)  # footer: own line
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="{FONT}" font-size="12" fill="{INK}">',
        f"<title>{escape(first.scenario)}: load against the limit, per policy</title>",
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        *_header(first, zone),
        *_legend(results, colours),
    ]
    for n, result in enumerate(results):
        y0 = TOP + n * (PANEL_H + PANEL_GAP) + 34
        parts.extend(_panel(result, y0, top_w, colours, zone))
    note = ("Stacked: mean power per piece of time (≤ 1 min). Red: a minute in which the instantaneous "
            "import, counting each program's peaks, went above the limit.")
    parts.append(_text(LEFT, height - (28 if footer else 12), note, size=11, fill=MUTED))
    if footer:
        parts.append(_text(WIDTH - RIGHT, height - 10, footer, size=11, fill=MUTED, anchor="end"))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _header(result: SimulationResult, zone: ZoneInfo) -> list[str]:
    start, end = result.start.astimezone(zone), result.end.astimezone(zone)
    span = f"{start:%a %d %b %Y %H:%M} – {end:%a %d %b %H:%M} ({zone.key})"
    limit = f"limit {result.limit_w / 1000:g} kW"
    return [
        _text(LEFT, 34, f"{result.scenario}: what each policy draws from the grid", size=20, weight=600),
        _text(LEFT, 56, f"{span} · {limit}", size=13, fill=MUTED),
    ]


def _legend(results: Sequence[SimulationResult], colours: dict[str, str]) -> list[str]:
    ran = [name for name in results[0].timeline.appliances
           if any(any(v > 0 for v in r.timeline.mean_w[i]) for r in results
                  for i in [r.timeline.appliances.index(name)])]
    varying = {name for r in results for name in modulating(r)}
    items = [("rect", BASE_COLOUR, "base load")] + [
        ("rect", colours[name], f"{name} (modulating: setpoint dashed)" if name in varying else name) for name in ran]
    if any(any(v > 0 for v in r.timeline.pv_w) for r in results):
        items.append(("pv", PV_COLOUR, "PV generation"))
    items += [("limit", LIMIT_COLOUR, "import limit"),
              ("band", LIMIT_COLOUR, "minute above the limit"), ("wait", MUTED, "request, wait until start")]
    parts, x, y = [], LEFT, 84
    for kind, colour, label in items:
        if kind == "rect":
            parts.append(_rect(x, y - 10, 14, 12, colour, 'rx="2"'))
        elif kind == "pv":
            parts.append(_rect(x, y - 10, 18, 12, colour, 'fill-opacity="0.18"'))
            parts.append(_line(x, y - 10, x + 18, y - 10, colour, 'stroke-width="2"'))
        elif kind == "limit":
            parts.append(_line(x, y - 4, x + 18, y - 4, colour, 'stroke-width="2" stroke-dasharray="5 3"'))
        elif kind == "band":
            parts.append(_rect(x, y - 10, 14, 12, colour, 'fill-opacity="0.16"'))
            parts.append(_rect(x, y - 10, 14, 3, colour))
        else:
            parts.append(f'<path d="M{x},{y - 8} L{x + 8},{y - 8} L{x + 4},{y - 1} Z" fill="{colour}"/>')
            parts.append(_line(x + 10, y - 4, x + 24, y - 4, colour, DOTTED))
            parts.append(_line(x + 25, y - 8, x + 25, y, colour, 'stroke-width="2"'))
        offset = {"rect": 18, "band": 18, "wait": 31}.get(kind, 24)
        parts.append(_text(x + offset, y, label, size=12))
        x += offset + 7 * len(label) + 22
    return parts


def _panel(result: SimulationResult, y0: float, top_w: float, colours: dict[str, str],
           zone: ZoneInfo) -> list[str]:
    t = result.timeline
    total_s = t.bounds_s[-1]
    plot_w = WIDTH - LEFT - RIGHT

    def x(seconds: float) -> float:
        return round(LEFT + seconds / total_s * plot_w, 2)

    def y(watts: float) -> float:
        return round(y0 + PANEL_H - watts / top_w * PANEL_H, 2)

    m = result.metrics
    verdict_ok = m.minutes_above_limit == 0
    verdict = ("never above the limit" if verdict_ok else
               f"{m.minutes_above_limit} min above the limit")
    parts = [
        _text(LEFT, y0 - 12, POLICY_TITLES.get(result.policy, result.policy), size=15, weight=600),
        _text(WIDTH - RIGHT, y0 - 12, f"peak import {m.peak_import_w / 1000:.2f} kW · {verdict}",
              size=13, weight=600, fill="#2e7d32" if verdict_ok else LIMIT_COLOUR, anchor="end"),
        f'<rect x="{LEFT}" y="{y0}" width="{plot_w}" height="{PANEL_H}" fill="#fbfbfc" stroke="{GRID}"/>',
    ]
    parts += _grid(t, zone, x, y, top_w, y0)
    parts += _bands(t, result.limit_w, x, y0)
    pv_line = _steps(t.bounds_s, t.pv_w, x, y) if any(v > 0 for v in t.pv_w) else []
    if pv_line:  # the shade behind the loads, the line above them
        area = pv_line + [(pv_line[-1][0], y(0)), (pv_line[0][0], y(0))]
        parts.append(f'<polygon fill="{PV_COLOUR}" fill-opacity="0.16" points="{_points(area)}"/>')
    layers = [("base load", BASE_COLOUR, t.base_w)] + [
        (name, colours[name], t.mean_w[i]) for i, name in enumerate(t.appliances)]
    bottom = [0.0] * t.pieces
    for name, colour, values in layers:
        top = [b + v for b, v in zip(bottom, values, strict=True)]
        if any(v > 0 for v in values):
            outline = _steps(t.bounds_s, top, x, y) + list(reversed(_steps(t.bounds_s, bottom, x, y)))
            parts.append(f'<polygon fill="{colour}" points="{_points(outline)}"><title>{escape(name)}</title>'
                         "</polygon>")
        bottom = top
    if pv_line:
        parts.append(f'<polyline fill="none" stroke="{PV_COLOUR}" stroke-width="2" stroke-linejoin="round" '
                     f'points="{_points(pv_line)}"><title>PV generation</title></polyline>')
    parts += _setpoints(result, colours, x, y)
    parts += _requests(result, colours, x, y0, zone)
    limit_y = y(result.limit_w)
    dashed = 'stroke-width="2" stroke-dasharray="7 4"'
    parts.append(_line(LEFT, limit_y, WIDTH - RIGHT, limit_y, LIMIT_COLOUR, dashed))
    parts.append(_text(WIDTH - RIGHT - 4, limit_y - 5, f"limit {result.limit_w / 1000:g} kW", size=11,
                       fill=LIMIT_COLOUR, anchor="end", weight=600))
    parts.append(_rect(LEFT, y0, plot_w, PANEL_H, "none", 'stroke="#c9ccd3"'))
    return parts


def modulating(result: SimulationResult) -> list[str]:
    """The appliances whose runs drew a setpoint (EV chargers): their power varies by decision."""
    return sorted({r.appliance for r in result.executions if any(s.power_w is not None for s in r.spans)})


def _setpoints(result: SimulationResult, colours: dict[str, str], x, y) -> list[str]:
    """A modulating appliance's own power, unstacked, as a dashed step line from 0 W, and each
    constant-power stretch wide enough for it labelled with its setpoint: the varying power the
    planner chose under what the others left."""
    t, parts = result.timeline, []
    for name in modulating(result):
        values = t.mean_w[t.appliances.index(name)]
        line = _points(_steps(t.bounds_s, values, x, y))
        parts.append(f'<polyline fill="none" stroke="{INK}" stroke-width="1.5" stroke-dasharray="4 2" '
                     f'points="{line}"><title>{escape(name)} setpoint</title></polyline>')
        for record in result.executions:
            for span in (s for s in record.spans if record.appliance == name and s.power_w):
                a, b = ((moment - result.start).total_seconds() for moment in (span.start, span.end))
                if x(b) - x(a) >= 44:
                    parts.append(_text(x(a) + 2, y(span.power_w) - 3, f"{span.power_w / 1000:.2f} kW", size=10,
                                       fill=INK))
    return parts


def _grid(t: Timeline, zone: ZoneInfo, x, y, top_w: float, y0: float) -> list[str]:
    """Hour lines and labels (local time), kW lines and labels."""
    parts = []
    step_w = _kw_step(top_w)
    watts = 0.0
    while watts <= top_w + 1e-6:
        parts.append(_line(LEFT, y(watts), WIDTH - RIGHT, y(watts), GRID))
        parts.append(_text(LEFT - 8, y(watts) + 4, f"{watts / 1000:g}", size=11, fill=MUTED, anchor="end"))
        watts += step_w
    parts.append(_text(LEFT - 8, y0 - 12, "kW", size=11, fill=MUTED, anchor="end"))
    hours = _local_hours(t.start, t.end, zone)
    every = 1 if len(hours) <= 16 else 2 if len(hours) <= 36 else 3 if len(hours) <= 54 else 6
    for moment in hours:
        local = moment.astimezone(zone)
        seconds = (moment - t.start).total_seconds()
        midnight = local.hour == 0
        stroke = "#c9ccd3" if midnight else GRID
        parts.append(_line(x(seconds), y0, x(seconds), y0 + PANEL_H, stroke))
        if local.hour % every == 0:
            parts.append(_text(x(seconds), y0 + PANEL_H + 16, f"{local:%H:%M}", size=11, fill=MUTED,
                               anchor="middle"))
        if midnight:
            parts.append(_text(x(seconds), y0 + PANEL_H + 30, f"{local:%a %d %b}", size=11, fill=INK,
                               anchor="middle", weight=600))
    return parts


def _requests(result: SimulationResult, colours: dict[str, str], x, y0: float, zone: ZoneInfo) -> list[str]:
    """A marker at each request and, when the run waited, a dotted line on to its first start."""
    parts = []
    for n, run in enumerate(result.executions):
        row = y0 + 12 + 9 * (n % 4)
        asked = x((run.requested_at - result.start).total_seconds())
        colour = colours.get(run.appliance, INK)
        started = run.first_start
        tip = f"{run.label} ({run.appliance}): requested {run.requested_at.astimezone(zone):%H:%M}, " + (
            f"started {started.astimezone(zone):%H:%M}" if started else "never started")
        if started is not None and started > run.requested_at:
            went = x((started - result.start).total_seconds())
            parts.append(_line(asked, row, went, row, colour, DOTTED))
            parts.append(_line(went, row - 4, went, row + 4, colour, 'stroke-width="2"'))
        triangle = f"M{asked - 4},{row - 4} L{asked + 4},{row - 4} L{asked},{row + 3} Z"
        parts.append(f'<path d="{triangle}" fill="{colour}" stroke="#ffffff" stroke-width="0.8">'
                     f"<title>{escape(tip)}</title></path>")
        parts.append(_text(asked - 7, row + 3, run.label, size=10, fill=MUTED, anchor="end"))
    return parts


def _bands(t: Timeline, limit_w: float, x, y0: float) -> list[str]:
    """A translucent red column, with a solid cap, over every run of minutes above the limit."""
    parts, minutes = [], minutes_above(t, limit_w)
    runs: list[list[int]] = []
    for minute in minutes:
        if runs and runs[-1][1] == minute:
            runs[-1][1] = minute + 1
        else:
            runs.append([minute, minute + 1])
    end = t.bounds_s[-1]
    for first, last in runs:
        a, b = x(first * 60), x(min(end, last * 60))
        width = max(1.0, round(b - a, 2))
        parts.append(f'<rect x="{a}" y="{y0}" width="{width}" height="{PANEL_H}" fill="{LIMIT_COLOUR}" '
                     f'fill-opacity="0.13"><title>{last - first} min above the limit</title></rect>')
        parts.append(f'<rect x="{a}" y="{y0}" width="{width}" height="4" fill="{LIMIT_COLOUR}"/>')
    return parts


def _steps(bounds: Sequence[float], values: Sequence[float], x, y) -> list[tuple[float, float]]:
    """Corner points of a step function, equal neighbours merged."""
    points: list[tuple[float, float]] = []
    i, n = 0, len(values)
    while i < n:
        j = i
        while j + 1 < n and abs(values[j + 1] - values[i]) < 1e-9:
            j += 1
        level = y(values[i])
        points += [(x(bounds[i]), level), (x(bounds[j + 1]), level)]
        i = j + 1
    return points


def _points(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{px:g},{py:g}" for px, py in points)


def _local_hours(start: datetime, end: datetime, zone: ZoneInfo) -> list[datetime]:
    """Every instant in [start, end] at which the local clock shows a whole hour (DST-safe)."""
    moment = start.replace(minute=0, second=0, microsecond=0)
    found = []
    while moment <= end:
        if moment >= start and moment.astimezone(zone).minute == 0:
            found.append(moment)
        moment += timedelta(minutes=15)  # some zones are offset by 15 or 30 minutes
    return found


def _highest(result: SimulationResult) -> float:
    t = result.timeline
    return max(max(t.load_w(i), t.pv_w[i]) for i in range(t.pieces))


def _nice_top(highest_w: float, limit_w: float) -> float:
    top = max(highest_w, limit_w) * 1.18  # headroom for the request markers
    step = _kw_step(top)
    return math.ceil(top / step) * step


def _kw_step(top_w: float) -> float:
    for step in (250, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000):
        if top_w / step <= 8:
            return step
    return 100_000


def _colours(names: Sequence[str]) -> dict[str, str]:
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, extra: str = "") -> str:
    return f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{stroke}" {extra}/>'


def _rect(x: float, y: float, width: float, height: float, fill: str, extra: str = "") -> str:
    return f'<rect x="{x}" y="{y}" width="{width}" height="{height}" fill="{fill}" {extra}/>'


def _text(x: float, y: float, content: str, *, size: int = 12, fill: str = INK, anchor: str = "start",
          weight: int = 400) -> str:
    bold = f' font-weight="{weight}"' if weight != 400 else ""
    return (f'<text x="{x}" y="{y}" font-size="{size}" fill="{fill}" text-anchor="{anchor}"{bold}>'
            f"{escape(content)}</text>")
