# The report as one PNG a supervisor reads at a glance (`contactcenter report --plot`).
# Rules: formatting only (every number comes from report.build_report's dict); matplotlib's
# object API on a Figure of its own, never pyplot, so no global backend or figure state
# (the PNG is rendered by Agg whatever the machine has); every panel has a title, axes with
# units, and a legend where it has more than one series; a missing value (None: nothing to
# divide by) is a gap, never a zero.
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Final

from contactcenter.records.report import STATES, WEEKDAYS

# One colour per thing, the same in every panel.
COLOURS: Final = {
    "offered": "#4c72b0",
    "answered": "#55a868",
    "abandoned": "#c44e52",
    "closed": "#8c8c8c",
    "service_level": "#4c72b0",
    "sl2": "#8172b2",
    "p_abandon": "#c44e52",
    "occupancy": "#dd8452",
    "hours": "#1f3a93",
}
STATE_COLOURS: Final = {
    "available": "#9ecae1",
    "reserved": "#fdd0a2",
    "talking": "#31a354",
    "wrap_up": "#a1d99b",
    "paused": "#bdbdbd",
    "unreachable": "#e6550d",
}
MAX_OPERATORS_SHOWN: Final = 30


def _nan(x: float | None) -> float:
    return math.nan if x is None else x


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def _secs(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f} s"


def plot(report: dict[str, Any], path: Path) -> None:
    """Write the report's figure as a PNG at `path`."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(18, 15), dpi=100, layout="constrained")
    grid = fig.add_gridspec(3, 2, height_ratios=(1.1, 1.0, 1.0))
    skill = f", skill {report['skill']}" if report["skill"] else ""
    days = report["from"] if report["from"] == report["to"] else f"{report['from']} to {report['to']}"
    fig.suptitle(
        f"010 contact centre, {days}{skill} ({report['source']} records, times in {report['time_zone']})",
        fontsize=16,
        fontweight="bold",
    )
    _demand(fig.add_subplot(grid[0, 0]), report)
    hours = [f"{h:02d}" for h in range(24)]
    by_hour = report["by_hour_of_day"]
    span = "" if report["from"] == report["to"] else " (all days of the range)"
    _calls(fig.add_subplot(grid[0, 1]), hours, by_hour, span)
    _service_level(fig.add_subplot(grid[1, 0]), hours, by_hour, span, report["sl_threshold_s"])
    _occupancy(fig.add_subplot(grid[1, 1]), hours, by_hour, span)
    _operators(fig.add_subplot(grid[2, 0]), report["operators"])
    _summary(fig.add_subplot(grid[2, 1]), report)
    fig.savefig(path, format="png")


def _demand(ax: Any, report: dict[str, Any]) -> None:
    from matplotlib.patches import Patch, Rectangle

    demand = report["demand"]
    counts = demand["arrived"]
    mesh = ax.pcolormesh(range(25), [w - 0.5 for w in range(8)], counts, cmap="YlOrRd", shading="flat")
    ax.set_ylim(6.5, -0.5)  # Monday on top
    peak = max(max(row) for row in counts)
    for w, row in enumerate(counts):
        for h, n in enumerate(row):
            if n:
                colour = "white" if n > 0.6 * peak else "black"
                ax.text(h + 0.5, w, str(n), ha="center", va="center", fontsize=7, color=colour)
    hours = demand["opening_hours"]
    for w in range(7):
        if not demand["days"][w]:  # no such weekday in the range: no demand to show, not zero
            ax.add_patch(
                Rectangle((0, w - 0.5), 24, 1, facecolor="#eeeeee", hatch="//", edgecolor="#cccccc", lw=0)
            )
        # The open part of each hour, outlined as one band per open day.
        open_hours = [h for h in range(24) if demand["open_share"][w][h] > 0]
        if not open_hours:
            continue
        first, last = open_hours[0], open_hours[-1]
        start = first + 1 - demand["open_share"][w][first]
        end = last + demand["open_share"][w][last]
        ax.add_patch(
            Rectangle((start, w - 0.5), end - start, 1, fill=False, edgecolor=COLOURS["hours"], lw=2.5)
        )
    ax.set_xticks([h + 0.5 for h in range(24)], [f"{h:02d}" for h in range(24)], fontsize=8)
    ax.set_yticks(range(7), list(WEEKDAYS))
    ax.set_xlabel(f"hour of day ({report['time_zone']})")
    opening = "always open" if hours is None else f"open {hours['open']}-{hours['close']}"
    outline = Patch(fill=False, edgecolor=COLOURS["hours"], lw=2.5, label=f"opening hours ({opening})")
    absent = Patch(facecolor="#eeeeee", hatch="//", edgecolor="#cccccc", label="weekday not in the range")
    ax.legend(handles=[outline, absent], loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=2, fontsize=9)
    share = _pct(demand["share_closed"])
    ax.set_title(
        f"Demand: calls arriving by weekday and hour ({demand['total']:,} calls;"
        f" {demand['closed']:,} = {share} while closed)"
    )
    fig = ax.get_figure()
    fig.colorbar(mesh, ax=ax, label="calls arriving", pad=0.01)


def _calls(ax: Any, hours: list[str], by_hour: dict[str, Any], span: str) -> None:
    series = ("offered", "answered", "abandoned", "closed")
    width = 0.2
    for k, key in enumerate(series):
        values = [by_hour.get(h, {}).get(key) or 0 for h in hours]
        ax.bar([i + (k - 1.5) * width for i in range(24)], values, width, label=key, color=COLOURS[key])
    ax.set_xticks(range(24), hours, fontsize=8)
    ax.set_xlabel("hour of arrival")
    ax.set_ylabel("calls")
    ax.set_title(f"Calls by hour{span}: offered, answered, abandoned, and closed (not offered)")
    ax.legend(fontsize=9)
    ax.grid(axis="y", alpha=0.3)


def _service_level(ax: Any, hours: list[str], by_hour: dict[str, Any], span: str, threshold: float) -> None:
    labels = {
        "service_level": f"SL: answered within {threshold:g} s / answered",
        "sl2": "SL2: short abandons count as met",
        "p_abandon": "abandon rate",
    }
    for key, label in labels.items():
        values = [100 * _nan(by_hour.get(h, {}).get(key)) for h in hours]
        ax.plot(range(24), values, marker="o", label=label, color=COLOURS[key])
    ax.set_ylim(0, 105)
    ax.set_xticks(range(24), hours, fontsize=8)
    ax.set_xlabel("hour of arrival")
    ax.set_ylabel("%")
    ax.set_title(f"Service level and abandonment by hour{span}")
    ax.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=3)
    ax.grid(alpha=0.3)


def _occupancy(ax: Any, hours: list[str], by_hour: dict[str, Any], span: str) -> None:
    values = [100 * _nan(by_hour.get(h, {}).get("occupancy")) for h in hours]
    ax.bar(range(24), values, 0.7, color=COLOURS["occupancy"], label="occupancy")
    asa = [_nan(by_hour.get(h, {}).get("asa_s")) for h in hours]
    twin = ax.twinx()
    twin.plot(range(24), asa, marker="s", color="#333333", label="ASA (s)")
    twin.set_ylabel("ASA, seconds")
    twin.set_ylim(bottom=0)
    ax.set_ylim(0, 105)
    ax.set_xticks(range(24), hours, fontsize=8)
    ax.set_xlabel("hour")
    ax.set_ylabel("occupancy, % (busy / staffed operator time)")
    ax.set_title(f"Occupancy and average speed of answer by hour{span}")
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles=handles, fontsize=9, loc="upper left")
    ax.grid(axis="y", alpha=0.3)


def _operators(ax: Any, operators: dict[str, Any]) -> None:
    ranked = sorted(operators.items(), key=lambda kv: -sum(kv[1]["time_s"].values()))
    shown = ranked[:MAX_OPERATORS_SHOWN]
    names = [name for name, _ in shown]
    left = [0.0] * len(shown)
    for state in STATES:
        hours = [op["time_s"][state.value] / 3600 for _, op in shown]
        ax.barh(
            names, hours, left=left, label=state.value.replace("_", "-"), color=STATE_COLOURS[state.value]
        )
        left = [a + b for a, b in zip(left, hours, strict=True)]
    for y, (_, op) in enumerate(shown):
        ax.text(left[y], y, f"  {_pct(op['occupancy'])}", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, max(left, default=1.0) * 1.12 or 1.0)  # room for the occupancy labels
    ax.set_xlabel("hours (occupancy at the end of each bar)")
    more = f" ({len(shown)} of {len(ranked)} shown)" if len(ranked) > len(shown) else ""
    ax.set_title(f"Operators: time in each state{more}")
    if shown:
        ax.legend(fontsize=9, ncols=6, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    else:
        ax.text(0.5, 0.5, "no operator time recorded", ha="center", va="center", transform=ax.transAxes)
    ax.grid(axis="x", alpha=0.3)


def _summary(ax: Any, report: dict[str, Any]) -> None:
    t = report["total"]
    cb = t["callbacks"]
    lines = [
        ("offered", f"{t['offered']:,}"),
        ("answered", f"{t['answered']:,}"),
        ("abandoned", f"{t['abandoned']:,} ({_pct(t['p_abandon'])})"),
        ("blocked (every line in use)", f"{t['blocked']:,}"),
        ("left a number for a callback", f"{t['called_back']:,}"),
        ("closed (outside opening hours)", f"{t['closed']:,}"),
        (
            f"SL (within {report['sl_threshold_s']:g} s) / SL2",
            f"{_pct(t['service_level'])} / {_pct(t['sl2'])}",
        ),
        ("ASA / AHT", f"{_secs(t['asa_s'])} / {_secs(t['aht_s'])}"),
        ("occupancy", _pct(t["occupancy"])),
        ("callbacks completed / requested", f"{cb['completed']:,} / {cb['requested']:,}"),
        (
            "callback delay, request to talk",
            f"{_secs(cb['mean_delay_s'])} (longest {_secs(cb['max_delay_s'])})",
        ),
    ]
    ax.axis("off")
    ax.set_title("Totals", loc="left")
    for i, (label, value) in enumerate(lines):
        y = 0.95 - i * 0.085
        ax.text(0.02, y, label, fontsize=12, transform=ax.transAxes, va="top")
        ax.text(0.98, y, value, fontsize=12, fontweight="bold", transform=ax.transAxes, va="top", ha="right")
