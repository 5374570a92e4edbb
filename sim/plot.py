# One simulation run as one PNG (`contactcenter sim --plot PATH.png`): the calls waiting in
# queue through the day, the service level per half hour, and the distribution of waits.
# Rules:
# - An `on_call` observer (like outputs.CallsCsv): `add` keeps four compact numbers per
#   call that queued (arrays of machine numbers, never the Call: a simulated year is 2.2
#   million calls) and sums per (skill, half hour) for the service level. Nothing else.
# - The calls counted are the KPIs' (core/kpis.py): those that *arrived* in the measured
#   window, each in the half hour of its arrival, so the plot's counts are the run's KPIs'
#   counts. A call that never queued (blocked, closed, hung up in the IVR) has no queue
#   time and is in no panel.
# - Queue time is the KPIs' too: queued_at -> answered_at for an answered call (ringing
#   included), queued_at -> ended_at for a caller who hung up waiting or left their number
#   for a callback (Call.wait).
# - Service level is the project's SL (core/kpis.py): answered within T / answered, T =
#   sl_threshold_s, "within" is <=. SL2 (abandons within T count as met, over handled calls)
#   is given beside it. An interval with no answered call has no SL (a gap, never a zero).
# - A run of a day or more is folded onto one day: each time of day is the mean over the
#   days the run covered at that time (the SL pools the days' calls, as the KPIs' by_hour
#   does). A shorter run is shown over its own span.
# - Drawing follows contactcenter/records/plot.py: matplotlib's object API on a Figure of its
#   own (Agg, whatever the machine has, no pyplot state), its colours, every panel titled,
#   axes with units, a legend where there is more than one series.
# - The simulator has no phone numbers: nothing here could show one.
from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from contactcenter.core.engine import Call
from contactcenter.core.lifecycle import CallOutcome

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from contactcenter.sim.scenario import Scenario

DAY_S: Final = 86_400.0
# The outcomes of calls that queued, as stored (one byte each).
ANSWERED: Final = 0
ABANDONED: Final = 1  # hung up while waiting (or ringing)
CALLED_BACK: Final = 2  # left their number for a callback while waiting
MAX_SKILLS: Final = 255  # skill indexes are one unsigned byte
HISTOGRAM_BINS: Final = 60  # about this many bins of wait, of a round width
MAX_BINS: Final = 400  # (when narrower bins are asked for by the SL threshold)
MAX_SKILL_LINES: Final = 8  # skills drawn one by one; beyond, only the total
SKILL_COLOURS: Final = (
    "#4c72b0",
    "#dd8452",
    "#55a868",
    "#c44e52",
    "#8172b2",
    "#937860",
    "#da8bc3",
    "#8c8c8c",
)


@dataclass(frozen=True, slots=True)
class WaitingCalls:
    """The mean number of calls waiting in queue in each step of the day (or of the run)."""

    start_s: float  # of the first step: seconds since midnight (of day 0 when not folded)
    step_s: float
    folded: bool  # a run of a day or more, folded onto one day
    total: tuple[float, ...]  # NaN where no day covers the step
    by_skill: dict[str, tuple[float, ...]]
    days: tuple[int, ...]  # the days each step is the mean over (1 each when not folded)

    @property
    def starts_s(self) -> tuple[float, ...]:
        return tuple(self.start_s + i * self.step_s for i in range(len(self.total)))


@dataclass(frozen=True, slots=True)
class IntervalSL:
    """The calls that arrived in one interval of the day (pooled over days when folded)."""

    start_s: float  # seconds since midnight (of day 0 when not folded)
    answered: int
    answered_in_t: int  # wait <= T
    abandoned: int  # hung up waiting
    abandoned_in_t: int
    called_back: int

    @property
    def service_level(self) -> float | None:
        """SL: answered within T / answered (core/kpis.py)."""
        return self.answered_in_t / self.answered if self.answered else None

    @property
    def sl2(self) -> float | None:
        """SL2: (answered within T + abandoned within T) / handled (core/kpis.py)."""
        handled = self.answered + self.abandoned + self.called_back
        return (self.answered_in_t + self.abandoned_in_t) / handled if handled else None


@dataclass(frozen=True, slots=True)
class WaitHistogram:
    """Counts of queue times in bins [edges[i], edges[i+1]); the last bin holds its right edge."""

    edges_s: tuple[float, ...]
    served: tuple[int, ...]  # answered calls
    abandoned: tuple[int, ...]  # callers who hung up waiting
    called_back: tuple[int, ...]  # callers who left their number


class _Counts:
    """Sums of one (skill, interval): what IntervalSL is made of."""

    __slots__ = ("abandoned", "abandoned_in_t", "answered", "answered_in_t", "called_back")

    def __init__(self) -> None:
        self.answered = self.answered_in_t = self.abandoned = self.abandoned_in_t = self.called_back = 0


def _divides_day(seconds: float) -> bool:
    return seconds > 0 and abs(DAY_S / seconds - round(DAY_S / seconds)) < 1e-9


def _nice_width(span: float, bins: int, threshold: float) -> float:
    """A round bin width (1, 2 or 5 times a power of ten) giving about `bins` bins over
    `span`; no wider than the SL threshold when that leaves at most MAX_BINS, so the bins
    tell waits within the threshold from those beyond it."""
    raw = max(span / bins, 1e-9)
    power = 10.0 ** math.floor(math.log10(raw))
    width = next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= raw * (1 - 1e-12))
    if threshold > 0 and width > threshold:
        power = 10.0 ** math.floor(math.log10(threshold))
        within = max(m * power for m in (1.0, 2.0, 5.0) if m * power <= threshold * (1 + 1e-12))
        if span / within <= MAX_BINS:
            width = within
    return width


class RunPlot:
    """`add` every ended call (simulate's on_call); then the series, or `draw` the PNG."""

    def __init__(
        self,
        window: tuple[float, float],
        sl_threshold_s: float,
        skills: Sequence[str],
        interval_s: float = 1800.0,
        sl_target: float | None = 0.80,
    ) -> None:
        start, end = window
        if not end > start:
            raise ValueError(f"empty window [{start}, {end})")
        if not _divides_day(interval_s):
            raise ValueError(f"interval_s must divide a day, got {interval_s}")
        if sl_target is not None and not 0.0 <= sl_target <= 1.0:
            raise ValueError(f"sl_target is a share in [0, 1], got {sl_target}")
        self.start_s, self.end_s = float(start), float(end)
        self.sl_threshold_s = sl_threshold_s
        self.interval_s = interval_s
        # The line drawn on the SL panel: the field's usual 80/20 unless told (no scenario
        # field holds a target); None draws none.
        self.sl_target = sl_target
        self.folded = self.end_s - self.start_s >= DAY_S
        self.skills: list[str] = []
        self._skill_index: dict[str, int] = {}
        for name in skills:
            self._index_of(name)
        # One entry per call that queued, in the order the calls ended.
        self._queued = array("d")
        self._left = array("d")  # when it left the queue: answered, hung up, or left a number
        self._outcome = array("b")
        self._skill = array("B")
        # (skill index, interval): of the day when folded (so at most a day's intervals per
        # skill, whatever the run's length), else since midnight of day 0.
        self._per_day = round(DAY_S / interval_s)
        self._counts: dict[tuple[int, int], _Counts] = {}
        self.calls = 0

    @classmethod
    def for_scenario(cls, sc: Scenario, sl_target: float | None = 0.80) -> RunPlot:
        """The plot of a run of `sc`: its measured window, SL threshold and skills."""
        return cls(
            window=(sc.start_s, sc.end_s),
            sl_threshold_s=sc.sl_threshold_s,
            skills=[s.name for s in sc.skills],
            sl_target=sl_target,
        )

    def _index_of(self, name: str) -> int:
        index = self._skill_index.get(name)
        if index is None:
            if len(self.skills) >= MAX_SKILLS:
                raise ValueError(f"more than {MAX_SKILLS} skills")
            index = self._skill_index[name] = len(self.skills)
            self.skills.append(name)
        return index

    # --- input --------------------------------------------------------------------------

    def add(self, call: Call) -> None:
        """Keep one ended call's queue time (if it queued and arrived in the window)."""
        queued = call.queued_at
        if queued is None or not self.start_s <= call.arrived_at < self.end_s:
            return
        outcome = call.outcome
        if outcome is CallOutcome.ANSWERED:
            code, left = ANSWERED, call.answered_at
        elif outcome is CallOutcome.ABANDONED:
            code, left = ABANDONED, call.ended_at
        elif outcome is CallOutcome.CALLBACK:
            code, left = CALLED_BACK, call.ended_at
        else:
            return  # (a queued call ends in one of the three)
        if left is None:
            raise ValueError(f"call {call.call_id} ended {outcome} without its end time")
        skill = self._index_of(call.skill or "(none)")
        self._queued.append(queued)
        self._left.append(left)
        self._outcome.append(code)
        self._skill.append(skill)
        self.calls += 1
        interval = int(call.arrived_at // self.interval_s)
        key = (skill, interval % self._per_day if self.folded else interval)
        counts = self._counts.get(key)
        if counts is None:
            counts = self._counts[key] = _Counts()
        in_t = left - queued <= self.sl_threshold_s
        if code == ANSWERED:
            counts.answered += 1
            counts.answered_in_t += in_t
        elif code == ABANDONED:
            counts.abandoned += 1
            counts.abandoned_in_t += in_t
        else:
            counts.called_back += 1

    def memory_bytes(self) -> int:
        """What the plot holds: its arrays as allocated, and its interval sums."""
        arrays = (self._queued, self._left, self._outcome, self._skill)
        sums = sum(sys.getsizeof(k) + sys.getsizeof(c) for k, c in self._counts.items())
        return sum(sys.getsizeof(a) for a in arrays) + sys.getsizeof(self._counts) + sums

    # --- series -------------------------------------------------------------------------

    def _arrays(self) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int8], NDArray[np.uint8]]:
        # Copies: a view would pin the arrays' buffers, and a later add could not grow them.
        return (
            np.array(self._queued, dtype=np.float64),
            np.array(self._left, dtype=np.float64),
            np.array(self._outcome, dtype=np.int8),
            np.array(self._skill, dtype=np.uint8),
        )

    def waiting_through_day(self, step_s: float = 60.0) -> WaitingCalls:
        """Mean calls waiting in each step, by an event sweep: each wait is +1 from queued_at
        to the time it left, summed exactly into the steps it overlaps (so the series' integral
        is the sum of the waits), then divided by the step and by the days covered."""
        if not _divides_day(step_s):
            raise ValueError(f"step_s must divide a day, got {step_s}")
        queued, left, _, skill = self._arrays()
        # The steps are counted from `origin`: midnight of the first day when folded (step k
        # is then step k % per_day of the day), else the step the window starts in.
        origin = math.floor(self.start_s / (DAY_S if self.folded else step_s)) * (
            DAY_S if self.folded else step_s
        )
        last_s = max(self.end_s, float(left.max()) if left.size else self.end_s)
        first = math.floor((self.start_s - origin) / step_s)
        stop = max(math.ceil((last_s - origin) / step_s), first + 1)  # steps [first, stop) hold time
        rel_q, rel_l = queued - origin, left - origin
        total_area = _area(rel_q, rel_l, step_s, stop)
        areas = {
            name: _area(rel_q[skill == i], rel_l[skill == i], step_s, stop)
            for i, name in enumerate(self.skills)
        }
        if self.folded:
            per_day = round(DAY_S / step_s)
            covered = np.arange(first, stop) % per_day
            days = np.bincount(covered, minlength=per_day)

            def fold(area: NDArray[np.float64]) -> NDArray[np.float64]:
                folded = np.bincount(np.arange(stop) % per_day, weights=area, minlength=per_day)
                return folded.astype(np.float64)  # (it is: weights make it so; the stubs say int)

            with np.errstate(invalid="ignore", divide="ignore"):
                mean = {
                    name: np.where(days > 0, fold(a) / (days * step_s), np.nan) for name, a in areas.items()
                }
                mean_total = np.where(days > 0, fold(total_area) / (days * step_s), np.nan)
            start_s = 0.0
        else:
            days = np.ones(stop - first, dtype=np.int64)
            mean = {name: a[first:stop] / step_s for name, a in areas.items()}
            mean_total = total_area[first:stop] / step_s
            start_s = origin + first * step_s
        return WaitingCalls(
            start_s=start_s,
            step_s=step_s,
            folded=self.folded,
            total=tuple(float(x) for x in mean_total),
            by_skill={name: tuple(float(x) for x in m) for name, m in mean.items()},
            days=tuple(int(d) for d in days),
        )

    def service_level_through_day(self, skill: str | None = None) -> list[IntervalSL]:
        """Per interval of arrival (interval_s, half an hour by default), of one skill or all:
        folded onto one day for a run of a day or more, else the run's intervals."""
        per_day = round(DAY_S / self.interval_s)
        if self.folded:
            keys = list(range(per_day))
        else:
            first = math.floor(self.start_s / self.interval_s)
            keys = list(range(first, max(math.ceil(self.end_s / self.interval_s), first + 1)))
        pooled = {k: _Counts() for k in keys}
        wanted = None if skill is None else self._skill_index.get(skill, -1)
        for (index, interval), c in self._counts.items():
            if wanted is not None and index != wanted:
                continue
            p = pooled[interval]
            p.answered += c.answered
            p.answered_in_t += c.answered_in_t
            p.abandoned += c.abandoned
            p.abandoned_in_t += c.abandoned_in_t
            p.called_back += c.called_back
        return [
            IntervalSL(
                start_s=k * self.interval_s,
                answered=p.answered,
                answered_in_t=p.answered_in_t,
                abandoned=p.abandoned,
                abandoned_in_t=p.abandoned_in_t,
                called_back=p.called_back,
            )
            for k, p in pooled.items()
        ]

    def wait_distribution(self, bins: int = HISTOGRAM_BINS) -> WaitHistogram:
        """Queue times of served, abandoned and called-back calls, in bins of a round width
        from 0 to past the longest wait (every call is in a bin)."""
        queued, left, outcome, _ = self._arrays()
        waits = left - queued
        longest = float(waits.max()) if waits.size else 0.0
        width = _nice_width(longest, bins, self.sl_threshold_s) if longest > 0 else 1.0
        edges = width * np.arange(math.floor(longest / width) + 2)  # the last edge is past the longest

        def counts(code: int) -> tuple[int, ...]:
            hist, _ = np.histogram(waits[outcome == code], bins=edges)
            return tuple(int(n) for n in hist)

        return WaitHistogram(
            edges_s=tuple(float(e) for e in edges),
            served=counts(ANSWERED),
            abandoned=counts(ABANDONED),
            called_back=counts(CALLED_BACK),
        )

    # --- drawing ------------------------------------------------------------------------

    def draw(self, path: Path, title: str) -> None:
        """Write the three panels as one PNG at `path`."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(14, 14), dpi=100, layout="constrained")
        fig.suptitle(title, fontsize=15, fontweight="bold")
        waiting_ax, sl_ax, waits_ax = fig.subplots(3, 1, height_ratios=(1.0, 1.0, 0.9))
        self._draw_waiting(waiting_ax)
        self._draw_service_level(sl_ax)
        self._draw_waits(waits_ax)
        fig.savefig(path, format="png")

    def _days(self) -> str:
        """How many days a folded run's panel pools ("" for one day or less)."""
        days = (self.end_s - self.start_s) / DAY_S
        return f"{days:g} days" if days > 1 else ""

    def _span_h(self) -> tuple[float, float]:
        """The x axis, hours: the day when folded, else the window and the queue's drain after
        it, out to whole ticks."""
        if self.folded:
            return 0.0, 24.0
        last = max(self.end_s, max(self._left, default=self.end_s))
        tick = _tick_h((last - self.start_s) / 3600.0)
        lo = math.floor(self.start_s / 3600.0 / tick) * tick
        return lo, max(math.ceil(last / 3600.0 / tick) * tick, lo + tick)

    def _hours_axis(self, ax: Any, xlabel: str) -> None:
        lo, hi = self._span_h()
        ax.set_xlim(lo, hi)
        tick = _tick_h(hi - lo)
        ticks = [lo + i * tick for i in range(round((hi - lo) / tick) + 1)]
        if tick < 1:
            labels = [f"{int(h) % 24:02d}:{round(h % 1 * 60):02d}" for h in ticks]
        else:
            labels = [f"{int(h) % 24:02d}" for h in ticks]
        ax.set_xticks(ticks, labels)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)

    def _draw_waiting(self, ax: Any) -> None:
        series = self.waiting_through_day(_waiting_step(self.end_s - self.start_s, self.folded))
        hours = [(s + series.step_s) / 3600.0 for s in series.starts_s]  # the step ends
        edges = [series.start_s / 3600.0, *hours]
        shown = [name for name in self.skills if any(v > 0 for v in series.by_skill[name])]
        if len(shown) > 1 and len(shown) <= MAX_SKILL_LINES:
            for i, name in enumerate(shown):
                ax.stairs(
                    series.by_skill[name], edges, label=name, color=SKILL_COLOURS[i], lw=1.2, baseline=None
                )
        ax.stairs(series.total, edges, label="all skills", color="#222222", lw=2.0, baseline=None)
        ax.set_ylim(bottom=0)
        self._hours_axis(ax, _clock_label(self.folded))
        ax.set_ylabel("calls waiting")
        over = f", over {self._days()} folded onto one" if self._days() else ""
        minutes = series.step_s / 60
        every = "minute" if minutes == 1 else f"{minutes:g} minutes"
        ax.set_title(f"Calls waiting in queue (queued, not yet answered): mean per {every}{over}")
        if not self.folded and edges[-1] > self.end_s / 3600.0:  # the queue drains after the window
            ax.axvspan(self.end_s / 3600.0, edges[-1], color="#eeeeee", zorder=0, label="after the window")
        if self.calls == 0:
            ax.text(
                0.5, 0.5, "no call queued in the window", ha="center", va="center", transform=ax.transAxes
            )
        elif len(shown) > 1 or not self.folded:
            ax.legend(fontsize=9, loc="upper left")

    def _draw_service_level(self, ax: Any) -> None:
        from contactcenter.records.plot import COLOURS

        width_h = self.interval_s / 3600.0
        rows = self.service_level_through_day()
        mids = [r.start_s / 3600.0 + width_h / 2 for r in rows]
        sl = [100 * _nan(r.service_level) for r in rows]
        t = self.sl_threshold_s
        ax.bar(
            mids,
            sl,
            width_h * 0.85,
            color=COLOURS["service_level"],
            alpha=0.75,
            label=f"SL: answered within {t:g} s / answered",
        )
        ax.plot(
            mids,
            [100 * _nan(r.sl2) for r in rows],
            marker=".",
            ls="-",
            color=COLOURS["sl2"],
            label="SL2: abandons within it count as met",
        )
        shown = [name for name in self.skills if any(k[0] == self._skill_index[name] for k in self._counts)]
        if 1 < len(shown) <= MAX_SKILL_LINES:
            for i, name in enumerate(shown):
                values = [100 * _nan(r.service_level) for r in self.service_level_through_day(name)]
                ax.plot(mids, values, ls=":", marker="o", ms=3, color=SKILL_COLOURS[i], label=f"SL {name}")
        if self.sl_target is not None:
            ax.axhline(
                100 * self.sl_target,
                color="#c44e52",
                ls="--",
                lw=1.5,
                label=f"target {100 * self.sl_target:g} % within {t:g} s",
            )
        ax.set_ylim(0, 105)
        ax.set_ylabel("%")
        self._hours_axis(ax, f"{_clock_label(self.folded)}, by arrival")
        minutes = self.interval_s / 60
        pooled = f", the calls of {self._days()}" if self._days() else ""
        ax.set_title(f"Service level per {minutes:g} minutes of arrival{pooled} (no bar: nobody answered)")
        ax.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=3)

    def _draw_waits(self, ax: Any) -> None:
        from contactcenter.records.plot import COLOURS

        hist = self.wait_distribution()
        edges = hist.edges_s
        drawn = (
            (hist.served, "answered", COLOURS["answered"], True),
            (hist.abandoned, "hung up waiting", COLOURS["abandoned"], False),
            (hist.called_back, "left a number for a callback", COLOURS["occupancy"], False),
        )
        for counts, label, colour, filled in drawn:
            if not any(counts):
                continue
            legend = f"{label} ({sum(counts):,})"
            if filled:  # the bulk: a light area under its outline
                ax.stairs(counts, edges, color=colour, fill=True, alpha=0.3)
            ax.stairs(counts, edges, color=colour, lw=1.8, label=legend)
        nonzero = [n for counts, _, _, _ in drawn for n in counts if n]
        log = bool(nonzero) and max(nonzero) >= 100 * min(nonzero)  # a long tail: log scale shows it
        if log:
            ax.set_yscale("log")
            ax.set_ylim(0.7, max(nonzero) * 1.5)
        ax.axvline(
            self.sl_threshold_s,
            color="#333333",
            ls="--",
            lw=1.2,
            label=f"SL threshold {self.sl_threshold_s:g} s",
        )
        ax.set_xlim(0, edges[-1])
        ax.set_xlabel(f"queue time, seconds (bins of {edges[1] - edges[0]:g} s)")
        ax.set_ylabel("calls (log scale)" if log else "calls")
        ax.set_title("Queue time: answered callers vs callers who hung up waiting")
        ax.grid(alpha=0.3)
        if self.calls == 0:
            ax.text(
                0.5, 0.5, "no call queued in the window", ha="center", va="center", transform=ax.transAxes
            )
        ax.legend(fontsize=9, loc="upper right")


def _area(
    rel_q: NDArray[np.float64], rel_l: NDArray[np.float64], step_s: float, steps: int
) -> NDArray[np.float64]:
    """Seconds of waiting in each step [k step, (k+1) step), k < steps, of the waits
    [rel_q, rel_l): the first and last steps of each wait get their parts, the steps between
    get a whole step each (a +1 / -1 difference array, summed)."""
    area = np.zeros(steps + 1)
    if rel_q.size == 0:
        return area[:steps]
    bq = np.floor(rel_q / step_s).astype(np.int64)
    bl = np.floor(rel_l / step_s).astype(np.int64)
    one = bq == bl
    area += np.bincount(bq[one], weights=rel_l[one] - rel_q[one], minlength=steps + 1)[: steps + 1]
    many = ~one
    bq, bl, q, lv = bq[many], bl[many], rel_q[many], rel_l[many]
    area += np.bincount(bq, weights=(bq + 1) * step_s - q, minlength=steps + 1)[: steps + 1]
    area += np.bincount(bl, weights=lv - bl * step_s, minlength=steps + 1)[: steps + 1]
    whole = (
        np.bincount(bq + 1, minlength=steps + 2)[: steps + 1]
        - np.bincount(bl, minlength=steps + 2)[: steps + 1]
    )
    area += np.cumsum(whole) * step_s
    return area[:steps]


def _waiting_step(span_s: float, folded: bool) -> float:
    """The steps drawn: minutes for a run of days, whose folding smooths them; five minutes
    for a day or less; minutes again for a run of two hours or less, to see its queue."""
    if folded and span_s >= 30 * DAY_S:
        return 60.0
    return 60.0 if span_s <= 2 * 3600 else 300.0


def _tick_h(span_h: float) -> float:
    """Hours between the x axis' ticks."""
    return 0.25 if span_h <= 1.5 else 0.5 if span_h <= 4 else 1.0 if span_h <= 26 else 6.0


def _clock_label(folded: bool) -> str:
    return "hour of day (simulator clock)" if folded else "hour (simulator clock, from midnight of day 0)"


def _nan(x: float | None) -> float:
    return math.nan if x is None else x
