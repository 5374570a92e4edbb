# Observers: what reads the core's read model (its change feed and completed calls) in the
# live controller. Rules:
# - An observer is called after every event the core handled, with the changes and the
#   calls completed by it, in order; it never reads the engine's dicts and never changes
#   anything in the core. Metrics, MQTT and the web will be observers too.
# - An observer must not raise (the controller logs and counts it if one does) and must
#   not block: it runs on the event loop between two AMI events.
# - Today's KPIs are kept by the simulator's own collector (core/kpis.py), so the live
#   figures and the simulated ones mean the same thing. "Today" is the local calendar day
#   of the centre's time zone; at midnight a new day starts from zero.
from __future__ import annotations

import datetime as dt
import logging
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

from contactcenter.core.callbacks import Callback
from contactcenter.core.engine import Call
from contactcenter.core.kpis import BUSY_STATES, STAFFED_STATES, KpiCollector
from contactcenter.core.lifecycle import CallState, OperatorState
from contactcenter.core.readmodel import CallChanged, Change, OperatorChanged

log = logging.getLogger("contactcenter.calls")


class Observer(Protocol):
    def observe(self, now: float, changes: Sequence[Change], completed: Sequence[Call]) -> None: ...


class CallLog:
    """Logs each routed and each ended call, and operators' state changes; keeps the last
    ended calls and the routed ones (for the demo's summary and for tests)."""

    def __init__(self, keep: int = 10_000) -> None:
        self.finished: deque[Call] = deque(maxlen=keep)  # newest last
        self.routed: deque[tuple[str, str, float]] = deque(maxlen=keep)  # (call, operator, wait)
        self._queued_at: dict[str, float] = {}

    def observe(self, now: float, changes: Sequence[Change], completed: Sequence[Call]) -> None:
        for change in changes:
            if isinstance(change, CallChanged):
                if change.state is CallState.QUEUED:
                    self._queued_at.setdefault(change.call_id, change.at)
                elif change.state is CallState.TALKING and change.operator_id is not None:
                    wait = change.at - self._queued_at.get(change.call_id, change.at)
                    self.routed.append((change.call_id, change.operator_id, wait))
                    log.info(
                        "call %s (%s, %s) answered by operator %s after %.1f s in queue",
                        change.call_id,
                        change.skill,
                        change.language,
                        change.operator_id,
                        wait,
                    )
                elif change.state is CallState.ENDED:
                    self._queued_at.pop(change.call_id, None)
            elif change.state in (OperatorState.PAUSED, OperatorState.UNREACHABLE, OperatorState.LOGGED_OUT):
                log.info("operator %s %s (%s)", change.operator_id, change.state.value, change.reason or "-")
        for call in completed:
            self.finished.append(call)
            log.info(
                "call %s ended: %s (skill %s, wait %s)",
                call.call_id,
                call.outcome.value if call.outcome else "?",
                call.skill,
                f"{call.wait:.1f}s" if call.wait is not None else "-",
            )


class TodayKpis:
    """Today's running KPIs: completed calls, and operators' busy/staffed time integrated
    from their state changes (occupancy), per hour of the local day."""

    def __init__(self, *, epoch: float, tz: dt.tzinfo, sl_threshold_s: float, wrap_up_s: float) -> None:
        self._epoch, self._tz = epoch, tz  # wall time = epoch + the driver's clock
        self._sl, self._wrap_up = sl_threshold_s, wrap_up_s
        self._states: dict[str, tuple[OperatorState, float]] = {}  # operator -> (state, since)
        self._day_start = self._day_end = 0.0
        self.collector = KpiCollector()

    def _roll(self, now: float) -> None:
        """Start the day that contains `now` if it is not the current one."""
        if self._day_start <= now < self._day_end:
            return
        local = dt.datetime.fromtimestamp(self._epoch + now, self._tz)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        start = midnight.timestamp() - self._epoch
        end = (midnight + dt.timedelta(days=1)).timestamp() - self._epoch
        if self._day_end and now >= self._day_end:
            self._integrate_all(self._day_end)  # the last day's operator time up to its end
        self._day_start, self._day_end = start, end
        # The collector's hours are hours of the driver's clock from `start`: shift it so
        # that the day's midnight is hour 0 (clock_offset_s).
        self.collector = KpiCollector(
            start=start,
            end=end,
            sl_threshold_s=self._sl,
            wrap_up_s=self._wrap_up,
            clock_offset_s=-start,
        )
        self._states = {op: (state, max(since, start)) for op, (state, since) in self._states.items()}

    def observe(self, now: float, changes: Sequence[Change], completed: Sequence[Call]) -> None:
        self._roll(now)
        for change in changes:
            if isinstance(change, OperatorChanged):
                self._integrate(change.operator_id, change.at)
                self._states[change.operator_id] = (change.state, change.at)
        self.collector.add_all(completed)

    def add_callbacks(self, now: float, callbacks: Sequence[Callback]) -> None:
        """Callbacks that reached a final state: today's callback figures (by request)."""
        self._roll(now)
        self.collector.add_callbacks(callbacks)

    def _integrate(self, operator_id: str, until: float) -> None:
        state, since = self._states.get(operator_id, (OperatorState.LOGGED_OUT, until))
        t = since
        while t < until:  # in slices within one hour each
            hour_end = self._day_start + ((t - self._day_start) // 3600 + 1) * 3600
            upto = min(until, hour_end)
            if state in STAFFED_STATES:
                busy = upto - t if state in BUSY_STATES else 0.0
                self.collector.add_operator_time(t, busy, upto - t)
            t = upto
        self._states[operator_id] = (state, until)

    def _integrate_all(self, until: float) -> None:
        for operator_id in list(self._states):
            self._integrate(operator_id, until)

    def skill_kpis(self, skill: str, now: float) -> dict[str, Any]:
        """Today's KPIs of one skill so far (core/kpis.py's GROUP_KEYS)."""
        self._roll(now)
        return self.collector.group(skill=skill)

    def kpis(self, now: float) -> dict[str, Any]:
        """The KPI dict (core/kpis.py's keys) of today so far."""
        self._roll(now)
        self._integrate_all(now)
        return self.collector.kpis()
