# KPIs of a contact centre, computed from the calls the engine completed and from operators'
# time per state. Rules: pure (no I/O, no clock); a call belongs to the window, the skill and
# the hour of its *arrival*, so a warm-up is excluded by starting the window after it; times
# are seconds of the driver's clock, and `(now + clock_offset_s) // 3600 % 24` is the hour of
# the day (the simulator's clock starts at midnight: offset 0). Definitions follow the field
# (COPC / ICMI usage):
#
#   offered      calls that arrived while the centre was open and reached the queue or were
#                refused a line: answered + abandoned + blocked + called_back. Calls turned
#                away outside opening hours are not offered (they are `closed`), nor are
#                calls whose caller hung up in the IVR before choosing a service.
#   ivr_abandoned  callers who hung up in the IVR, before they joined a queue: counted
#                apart, in no rate below (a queue's KPIs are of the calls it was offered;
#                the IVR's hang-ups are the IVR's figure). Their skill is the one the driver
#                names (a trace may say what they were choosing), else "(none)".
#   blocked      refused at admission because every line was in use (busy tone).
#   called_back  calls whose caller left their number for a callback while waiting: served
#                later, by the callback, whose figures are its own (below), never in ASA or
#                SL; not abandoned either.
#   handled      non-blocked calls = answered + abandoned + called_back: the denominator of
#                the rates below.
#   queue time   of a handled call: queued_at -> answered_at if answered, queued_at ->
#                ended_at if abandoned while waiting or ringing or if called back (the time
#                they held before leaving their number).
#   p_wait       share of handled calls that found no free operator: they queued and were not
#                offered to an operator at the instant they queued.
#   asa_s        average speed of answer: mean queue time of answered calls (ring included).
#   mean_wait_s  mean queue time of handled calls, answered or abandoned.
#   service_level  SL: answered within T / answered (T = sl_threshold_s, "within" is <=).
#   sl2          (answered within T + abandoned within T) / handled: short abandons count
#                as met (the SL2; DESIGN's "SL2 also counts short abandons").
#   aht_s        average handling time: mean talk time (answered_at -> ended_at) + the
#                configured wrap-up, over answered calls.
#   p_abandon    abandon rate: abandoned / handled (blocked excluded; callbacks, when they
#                exist, are answered later, not abandoned).
#   occupancy    busy / (busy + available) operator time, busy = reserved (ringing) + talking
#                + wrap-up; paused time is shrinkage and logged-out time is not staffed, so
#                neither is in the denominator. Per hour only; not per skill (a multi-skilled
#                operator's idle time belongs to no single skill).
#   max_concurrent_calls  most calls in the system (lines in use) seen by an arriving call.
#   repeat_calls  calls that were a citizen's second or later try (counted by the driver).
# Callbacks (KPI key `callbacks`, by the time they were requested, a booked one by its time:
# booked days ahead, it is demand of the day it is due; only what ended is counted: a run's
# callbacks all end, by completion, failure or expiry):
#   offered      calls offered a callback (by arrival, as above); accepted: of those, callers
#                who left their number (merged duplicates included); requested: callbacks
#                made (accepted minus merges), ending completed, failed, expired or cancelled.
#   attempts     calls placed to citizens.
#   mean_delay_s   request -> conversation, over completed callbacks: what the citizen
#                waited after leaving their number, said as it is (never 0 s of waiting);
#                for a booked callback, its time -> conversation (the days between the
#                booking and its time are no wait).
#   mean_wait_total_s  first queued -> conversation: the whole wait, hold time included.
#   mean_on_phone_s    of called-back callers: arrival -> hanging up after the promise.
# EWT (KPI key `ewt`; per skill and hour `ewt_mae_s`, `ewt_bias_s`): the expected wait a
# caller was given when they joined the queue (only callers who had to wait get one; "no
# estimate", math.inf, is left out) against the wait they then had:
#   answered     answered callers with an estimate; mae_s: mean |waited - told| over them,
#                bias_s: mean (waited - told), > 0 when callers waited longer than told.
#   abandoned    callers with an estimate who hung up waiting (ringing included). What they
#                waited is only a lower bound of the wait they would have had, so they are
#                not in the means; abandoned_past_ewt: the share of them who hung up after
#                waiting longer than told (an estimate surely too short, by that much at
#                least).
#                (Answered callers are those whose waits were shorter: their bias leans
#                towards "waited less than told" for an estimate that is right on average.)
#                Callers who left their number for a callback are in neither.
# Ratios with an empty denominator are None (JSON null), never 0.
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from contactcenter.core.callbacks import Callback
from contactcenter.core.engine import Call
from contactcenter.core.lifecycle import CallbackState, CallOutcome, OperatorState

KPI_KEYS = (
    "offered",
    "answered",
    "abandoned",
    "blocked",
    "p_wait",
    "asa_s",
    "mean_wait_s",
    "service_level",
    "ivr_abandoned",
    "sl_threshold_s",
    "aht_s",
    "p_abandon",
    "occupancy",
    "max_concurrent_calls",
    "called_back",
    "repeat_calls",
    "callbacks",
    "ewt",
    "by_skill",
    "by_hour",
)
GROUP_KEYS = (
    "offered",
    "answered",
    "abandoned",
    "blocked",
    "p_wait",
    "asa_s",
    "mean_wait_s",
    "service_level",
    "sl2",
    "aht_s",
    "p_abandon",
    "occupancy",
    "max_concurrent_calls",
    "called_back",
    "ewt_mae_s",
    "ewt_bias_s",
    "ivr_abandoned",
)
CALLBACK_KEYS = (
    "offered",
    "accepted",
    "requested",
    "completed",
    "failed",
    "expired",
    "cancelled",
    "attempts",
    "mean_delay_s",
    "max_delay_s",
    "mean_wait_total_s",
    "mean_on_phone_s",
)
EWT_KEYS = ("answered", "mae_s", "bias_s", "abandoned", "abandoned_past_ewt")
# (Final: the compiled build keeps these in C statics instead of looking them up in the
# module's dict for every call counted.)
UNKNOWN_SKILL: Final = "(none)"  # a blocked call whose driver did not say which skill it wanted
BUSY_STATES: Final = frozenset({OperatorState.RESERVED, OperatorState.TALKING, OperatorState.WRAP_UP})
STAFFED_STATES: Final = BUSY_STATES | {OperatorState.AVAILABLE}

_ANSWERED: Final = CallOutcome.ANSWERED
_ABANDONED: Final = CallOutcome.ABANDONED
_BLOCKED: Final = CallOutcome.BLOCKED
_CALLBACK: Final = CallOutcome.CALLBACK
_INF: Final = math.inf


_TALLY_FIELDS = (
    "abandoned",
    "abandoned_in_t",
    "answered",
    "answered_in_t",
    "blocked",
    "called_back",
    "callback_offers",
    "closed",
    "delayed",
    "ewt_abandoned",
    "ewt_abandoned_past",
    "ewt_abs_error_s",
    "ewt_answered",
    "ewt_error_s",
    "ivr_abandoned",
    "offered",
    "on_phone_called_back_s",
    "talk_s",
    "wait_answered_s",
    "wait_s",
)


class _Tally:
    """Sums for one (skill, hour of day) cell; groups are sums of cells."""

    # Named once, outside the class: mypyc (the opt-in compiled build) cannot read a
    # class's __slots__ at run time.
    __slots__ = _TALLY_FIELDS

    def __init__(self) -> None:
        self.offered = self.answered = self.abandoned = self.blocked = self.closed = 0
        self.delayed = self.answered_in_t = self.abandoned_in_t = 0
        self.called_back = self.callback_offers = self.ivr_abandoned = 0
        self.ewt_answered = self.ewt_abandoned = self.ewt_abandoned_past = 0
        self.ewt_error_s = self.ewt_abs_error_s = 0.0
        self.wait_answered_s = self.wait_s = self.talk_s = self.on_phone_called_back_s = 0.0

    def merge(self, other: _Tally) -> None:
        for name in _TALLY_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def operator_times(
    time_in: Mapping[OperatorState, float], state: OperatorState, since: float, now: float
) -> tuple[float, float]:
    """(busy, staffed) seconds of one operator up to `now`, the current state included."""
    busy = math.fsum(time_in.get(s, 0.0) for s in BUSY_STATES)
    staffed = busy + time_in.get(OperatorState.AVAILABLE, 0.0)
    if state in STAFFED_STATES:
        staffed += now - since
        if state in BUSY_STATES:
            busy += now - since
    return busy, staffed


@dataclass(slots=True)
class KpiCollector:
    """Accumulates completed calls (and operator time) of one window into the KPI dict."""

    start: float = 0.0  # the window: calls that arrived in [start, end)
    end: float = math.inf
    sl_threshold_s: float = 20.0
    wrap_up_s: float = 0.0
    # Added to the driver's clock to tell the hour of the day: 0 for the simulator, whose
    # clock starts at midnight; the live controller's says where today's midnight is.
    clock_offset_s: float = 0.0
    # Calls of the window that were a citizen's second or later try (the driver counts them:
    # only it knows who calls again). A KPI of the city's aim: fewer repeated calls.
    repeat_calls: int = 0

    _cells: dict[tuple[str, int], _Tally] = field(default_factory=dict, init=False, repr=False)
    _busy: dict[int, float] = field(default_factory=dict, init=False, repr=False)  # hour of day -> seconds
    _staffed: dict[int, float] = field(default_factory=dict, init=False, repr=False)
    _max_concurrent: dict[int, int] = field(default_factory=dict, init=False, repr=False)
    _callbacks_by_state: dict[CallbackState, int] = field(default_factory=dict, init=False, repr=False)
    _callback_attempts: int = field(default=0, init=False, repr=False)
    _callback_delay_s: list[float] = field(default_factory=list, init=False, repr=False)
    _callback_wait_total_s: float = field(default=0.0, init=False, repr=False)
    _last: tuple[float, float, str, _Tally] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.end > self.start:
            raise ValueError(f"empty window [{self.start}, {self.end})")
        if self.sl_threshold_s < 0 or self.wrap_up_s < 0:
            raise ValueError("sl_threshold_s and wrap_up_s must be >= 0")

    # --- input --------------------------------------------------------------------------

    def add(self, call: Call, skill: str | None = None) -> None:
        """Count one ended call; `skill` names the skill of a call blocked before its IVR."""
        at = call.arrived_at
        if not self.start <= at < self.end:
            return
        name = call.skill or skill or UNKNOWN_SKILL
        last = self._last  # calls come in runs of one skill and hour: skip the dict then
        if last is not None and last[0] <= at < last[1] and last[2] == name:
            cell = last[3]
        else:
            hour_start = (at + self.clock_offset_s) // 3600 * 3600 - self.clock_offset_s
            key = (name, int((hour_start + self.clock_offset_s) // 3600) % 24)
            found = self._cells.get(key)
            if found is None:
                found = self._cells[key] = _Tally()
            cell = found
            self._last = (hour_start, hour_start + 3600, name, cell)
        outcome = call.outcome
        if call.callback_offered:
            cell.callback_offers += 1
        if outcome is _BLOCKED:
            cell.offered += 1
            cell.blocked += 1
            return
        if outcome is _ANSWERED:
            cell.offered += 1
            cell.answered += 1
            queued, offered = call.queued_at, call.offered_at
            answered, ended = call.answered_at, call.ended_at
            if queued is None or answered is None or ended is None:
                raise ValueError(f"answered call {call.call_id} lacks queued/answered/ended times")
            wait = answered - queued
            cell.wait_answered_s += wait
            cell.wait_s += wait
            cell.talk_s += ended - answered
            if wait <= self.sl_threshold_s:
                cell.answered_in_t += 1
            if offered is None or offered > queued:
                cell.delayed += 1
            told = call.ewt_at_entry
            if told is not None and told < _INF:
                cell.ewt_answered += 1
                cell.ewt_error_s += wait - told
                cell.ewt_abs_error_s += abs(wait - told)
            return
        if outcome is _ABANDONED:
            queued, offered, ended = call.queued_at, call.offered_at, call.ended_at
            if queued is None:  # hung up in the IVR: the IVR's figure, not the queue's
                cell.ivr_abandoned += 1
                return
            if ended is None:
                raise ValueError(f"abandoned call {call.call_id} lacks its end time")
            cell.offered += 1
            cell.abandoned += 1
            wait = ended - queued
            cell.wait_s += wait
            if wait <= self.sl_threshold_s:
                cell.abandoned_in_t += 1
            if offered is None or offered > queued:
                cell.delayed += 1
            told = call.ewt_at_entry
            if told is not None and told < _INF:
                cell.ewt_abandoned += 1
                if wait > told:
                    cell.ewt_abandoned_past += 1
            return
        if outcome is _CALLBACK:
            cell.offered += 1
            cell.called_back += 1
            queued, ended = call.queued_at, call.ended_at
            if queued is None or ended is None:
                raise ValueError(f"called-back call {call.call_id} lacks queued/ended times")
            cell.wait_s += ended - queued
            cell.on_phone_called_back_s += ended - call.arrived_at
            cell.delayed += 1  # (a callback is offered only to callers who wait)
            return
        cell.closed += 1  # CLOSED (or an outcome this collector does not know): not offered

    def add_all(self, calls: Iterable[Call], skill_of: Mapping[str, str] | None = None) -> None:
        """Count many ended calls; `skill_of` maps blocked calls' IDs to the skill they wanted."""
        # (self.add in full, not a local alias: the compiled build calls it directly then.)
        if skill_of:
            for call in calls:
                self.add(call, skill_of.get(call.call_id))
        else:
            for call in calls:
                self.add(call)

    def add_callbacks(self, callbacks: Iterable[Callback]) -> None:
        """Count callbacks that reached a final state, by the time they were requested (a
        booked one: by its time)."""
        for cb in callbacks:
            if not self.start <= cb.waiting_since < self.end:
                continue
            self._callbacks_by_state[cb.state] = self._callbacks_by_state.get(cb.state, 0) + 1
            self._callback_attempts += cb.attempts
            if cb.time_to_serve is not None and cb.time_from_queue is not None:
                self._callback_delay_s.append(cb.time_to_serve)
                self._callback_wait_total_s += cb.time_from_queue

    def add_operator_time(self, at: float, busy_s: float, staffed_s: float) -> None:
        """Operator seconds of a slice of time starting at `at` (a slice within one hour)."""
        if not self.start <= at < self.end or (busy_s == 0 and staffed_s == 0):
            return
        hour = int((at + self.clock_offset_s) // 3600) % 24
        self._busy[hour] = self._busy.get(hour, 0.0) + busy_s
        self._staffed[hour] = self._staffed.get(hour, 0.0) + staffed_s

    def observe_concurrent(self, at: float, calls_in_system: int) -> None:
        if not self.start <= at < self.end:
            return
        hour = int((at + self.clock_offset_s) // 3600) % 24
        if calls_in_system > self._max_concurrent.get(hour, -1):
            self._max_concurrent[hour] = calls_in_system

    # --- output -------------------------------------------------------------------------

    def _group(self, tally: _Tally, hours: Iterable[int] | None) -> dict[str, Any]:
        t = tally
        handled = t.answered + t.abandoned + t.called_back
        aht = _ratio(t.talk_s, t.answered)
        occupancy = max_conc = None
        if hours is not None:
            hs = list(hours)
            busy = math.fsum(self._busy.get(h, 0.0) for h in hs)
            staffed = math.fsum(self._staffed.get(h, 0.0) for h in hs)
            occupancy = _ratio(busy, staffed)
            seen = [self._max_concurrent[h] for h in hs if h in self._max_concurrent]
            max_conc = max(seen) if seen else None
        return {
            "offered": t.offered,
            "answered": t.answered,
            "abandoned": t.abandoned,
            "blocked": t.blocked,
            "p_wait": _ratio(t.delayed, handled),
            "asa_s": _ratio(t.wait_answered_s, t.answered),
            "mean_wait_s": _ratio(t.wait_s, handled),
            "service_level": _ratio(t.answered_in_t, t.answered),
            "sl2": _ratio(t.answered_in_t + t.abandoned_in_t, handled),
            "aht_s": None if aht is None else aht + self.wrap_up_s,
            "p_abandon": _ratio(t.abandoned, handled),
            "occupancy": occupancy,
            "max_concurrent_calls": max_conc,
            "called_back": t.called_back,
            "ewt_mae_s": _ratio(t.ewt_abs_error_s, t.ewt_answered),
            "ewt_bias_s": _ratio(t.ewt_error_s, t.ewt_answered),
            "ivr_abandoned": t.ivr_abandoned,
        }

    def _sum(self, keep: Iterable[tuple[str, int]]) -> _Tally:
        total = _Tally()
        for key in keep:
            total.merge(self._cells[key])
        return total

    def group(self, skill: str | None = None, hour: int | None = None) -> dict[str, Any]:
        """KPIs of one skill, one hour of day, or (both None) the whole window, plus SL2."""
        keys = [
            k
            for k in sorted(self._cells)
            if (skill is None or k[0] == skill) and (hour is None or k[1] == hour)
        ]
        hours = None if skill is not None else (range(24) if hour is None else [hour])
        return self._group(self._sum(keys), hours)

    def callback_kpis(self) -> dict[str, Any]:
        """The callback figures (keys CALLBACK_KEYS), over the whole window."""
        cells = self._cells.values()
        by_state = self._callbacks_by_state
        served = self._callback_delay_s
        called_back = sum(c.called_back for c in cells)
        on_phone = math.fsum(c.on_phone_called_back_s for c in cells)
        return {
            "offered": sum(c.callback_offers for c in cells),
            "accepted": called_back,
            "requested": sum(by_state.values()),
            "completed": by_state.get(CallbackState.COMPLETED, 0),
            "failed": by_state.get(CallbackState.FAILED, 0),
            "expired": by_state.get(CallbackState.EXPIRED, 0),
            "cancelled": by_state.get(CallbackState.CANCELLED, 0),
            "attempts": self._callback_attempts,
            "mean_delay_s": _ratio(math.fsum(served), len(served)),
            "max_delay_s": max(served) if served else None,
            "mean_wait_total_s": _ratio(self._callback_wait_total_s, len(served)),
            "mean_on_phone_s": _ratio(on_phone, called_back),
        }

    def ewt_kpis(self) -> dict[str, Any]:
        """The EWT error figures (keys EWT_KEYS), over the whole window."""
        total = self._sum(sorted(self._cells))
        return {
            "answered": total.ewt_answered,
            "mae_s": _ratio(total.ewt_abs_error_s, total.ewt_answered),
            "bias_s": _ratio(total.ewt_error_s, total.ewt_answered),
            "abandoned": total.ewt_abandoned,
            "abandoned_past_ewt": _ratio(total.ewt_abandoned_past, total.ewt_abandoned),
        }

    def skills(self) -> list[str]:
        return sorted({k[0] for k in self._cells})

    def hours(self) -> list[int]:
        return sorted({k[1] for k in self._cells} | set(self._staffed))

    def kpis(self) -> dict[str, Any]:
        """The KPI dict, keys exactly KPI_KEYS; by_skill/by_hour values have GROUP_KEYS."""
        overall = self.group()
        out: dict[str, Any] = {k: overall[k] for k in KPI_KEYS[:9]}
        out["sl_threshold_s"] = self.sl_threshold_s
        for k in ("aht_s", "p_abandon", "occupancy", "max_concurrent_calls", "called_back"):
            out[k] = overall[k]
        out["repeat_calls"] = self.repeat_calls
        out["callbacks"] = self.callback_kpis()
        out["ewt"] = self.ewt_kpis()
        out["by_skill"] = {s: self.group(skill=s) for s in self.skills()}
        out["by_hour"] = {f"{h:02d}": self.group(hour=h) for h in self.hours()}
        return out

    @property
    def closed(self) -> int:
        """Calls of the window turned away outside opening hours (not offered)."""
        return sum(c.closed for c in self._cells.values())
