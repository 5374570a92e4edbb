# The virtual-time driver: the simulated world around the real core. Rules:
# - No asyncio, no wall clock in the model: a heap of (time, seq, kind, payload) plus the
#   next arrival plus the engine's own next_deadline() make the clock; the earliest goes
#   first (the engine's Tick on ties, then the heap in push order, then the arrival), so a
#   seed gives the same run, event for event.
# - The core decides everything about routing; this module only plays the parts the core
#   does not: callers (IVR time, patience, talk time, all drawn at arrival from traffic.py,
#   so they do not depend on routing), operators' phones (answer after `ring_delay_s`) and
#   operators' shifts.
# - The driver never reads the core's state to decide what the world does: it knows what it
#   did itself (which callers it has answered), and the core's replies (a BridgeCall: the
#   answer was taken). Facts that reach the core too late (an answer after the caller left,
#   a logout at the end of a shift already over) are the core's to ignore as stale.
# - Abandonment: a caller's patience runs from the moment they queue until an operator
#   answers (ringing included); when it expires the driver sends CallerHungUp unless it has
#   answered them (timers are cancelled lazily, never searched for). A caller whose call
#   was connected at once gets no timer at all.
# - Shift end: the operator logs out; one with a call in hand keeps it and leaves after it
#   and its wrap-up (the core's "log out after this call"). A shift that starts again
#   before they left (a login) calls the logout off.
# - Unknown commands (AnnounceWait, ...) are counted and ignored.
# - Hot path: one event object per fact the core needs, one heap entry per timed fact, no
#   per-call closures; KPIs are fed in batches from drain_completed().
from __future__ import annotations

import heapq
import itertools
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from contactcenter.core import events as ev
from contactcenter.core.commands import BridgeCall, CancelOffer, Command, ConnectCall, RejectBusy
from contactcenter.core.engine import Call, Engine
from contactcenter.core.kpis import KpiCollector, operator_times
from contactcenter.sim import traffic
from contactcenter.sim.scenario import Scenario

INF = math.inf
NO_LINE_LIMIT = 2**62
_END, _ABANDON, _IVR, _ANSWER, _MARK, _LOGIN, _LOGOUT = range(7)
_PROGRESS_EVERY = 16384  # arrivals between progress updates (a power of two)


@dataclass
class SimResult:
    """The KPIs of the measured window, and raw figures of the run (for tests and reports)."""

    kpis: dict[str, Any]
    collector: KpiCollector
    arrivals: int  # callers generated over warm-up + measured hours
    steps: int  # events the driver processed (arrivals, timers, ticks, marks)
    unfinished: int  # calls still in the system when nothing more could happen
    unknown_commands: Counter[str]
    stale_facts: dict[tuple[str, str], int]  # facts the core ignored, by (event, reason)
    sim_end_s: float  # virtual time of the last event
    wall_s: float
    queue_area: float | None = None  # integral of waiting calls over the window (measure_queue)

    @property
    def calls_per_s(self) -> float:
        return self.arrivals / self.wall_s if self.wall_s > 0 else INF


def build_callers(sc: Scenario) -> Iterator[traffic.Caller]:
    """All callers of the scenario, in arrival order, over [0, end)."""
    end = sc.end_s
    per_skill = {s.name: traffic.streams(sc.seed, s.name) for s in sc.skills}
    ivr_mean = sc.ivr_s

    def ivr_sampler(rng: Any) -> traffic.Sampler | float:
        if ivr_mean <= 0:
            return 0.0
        return traffic.service_sampler(rng, sc.ivr_dist, ivr_mean)

    talk = {
        s.name: traffic.service_sampler(
            per_skill[s.name]["talk"], sc.service_dist, sc.talk_mean_s(s), sc.service_cv
        )
        for s in sc.skills
    }
    patience = {
        s.name: traffic.patience_sampler(per_skill[s.name]["patience"], s.patience_s) for s in sc.skills
    }
    language = {
        s.name: traffic.language_picker(per_skill[s.name]["language"], s.languages) for s in sc.skills
    }
    if sc.trace_day is not None:
        from contactcenter.sim.trace import load_trace

        calls, _ = load_trace()
        day = sc.trace_day
        if day == "busiest":
            day = Counter(c.day for c in calls).most_common(1)[0][0]
        return traffic.trace_callers(calls, day, end, language, talk, patience)
    sources = []
    for s in sc.skills:
        rng = per_skill[s.name]
        lang = language[s.name]
        if (
            len(s.arrivals_per_h) == 1
            and sc.service_dist == "exp"
            and isinstance(lang, str)
            and ivr_mean <= 0
        ):
            sources.append(
                traffic.exp_callers(
                    rng["arrivals"],
                    s.arrivals_per_h[0],
                    0.0,
                    end,
                    s.name,
                    lang,
                    s.priority,
                    0.0,
                    rng["talk"],
                    sc.talk_mean_s(s),
                    rng["patience"],
                    s.patience_s,
                )
            )
            continue
        if len(s.arrivals_per_h) == 24:
            times = traffic.day_profile(rng["arrivals"], s.arrivals_per_h, 0.0, end)
        else:
            times = traffic.poisson(rng["arrivals"], s.arrivals_per_h[0], 0.0, end)
        sources.append(
            traffic.callers(
                times,
                s.name,
                language[s.name],
                s.priority,
                ivr_sampler(rng["ivr"]),
                talk[s.name],
                patience[s.name],
            )
        )
    return traffic.merge(sources)


def _shift_events(sc: Scenario) -> list[tuple[float, int, str]]:
    """(time, kind, operator_id) of logins and logouts, in the order they are pushed."""
    out: list[tuple[float, int, str]] = []
    end = sc.end_s
    days = int(end // 86400) + 1
    for g in sc.operators:
        for i in range(1, g.count + 1):
            op_id = f"{g.name}-{i}"
            if g.shift is None:
                out.append((0.0, _LOGIN, op_id))
                continue
            start_h, end_h = g.shift
            # A shift that began the day before may still be running at midnight of day 0.
            for d in range(-1, days):
                t_in, t_out = (d * 24 + start_h) * 3600.0, (d * 24 + end_h) * 3600.0
                if t_out <= 0 or t_in >= end:
                    continue
                out.append((max(t_in, 0.0), _LOGIN, op_id))
                if t_out < end:
                    out.append((t_out, _LOGOUT, op_id))
    return out


def simulate(
    sc: Scenario,
    *,
    on_call: Callable[[Call], None] | None = None,
    progress: Callable[[float], None] | None = None,
    measure_queue: bool = False,
) -> SimResult:
    """Run the scenario through a fresh Engine; return the KPIs of the measured window.

    on_call: called with every ended call (warm-up included), e.g. for batch statistics.
    progress: called now and then with the share of virtual time done (0..1).
    measure_queue: also integrate the number of waiting calls over the window (read from
    the engine's queues at every event; slow, for Little's-law checks).
    """
    wall0 = time.perf_counter()
    start_s, end_s = sc.start_s, sc.end_s
    kwargs: dict[str, Any] = {"lines": sc.lines or NO_LINE_LIMIT, "wrap_up": sc.wrap_up_s}
    if sc.relaxation:
        kwargs["relaxation"] = sc.relaxation
    engine = Engine(**kwargs)
    collector = KpiCollector(
        start=start_s, end=end_s, sl_threshold_s=sc.sl_threshold_s, wrap_up_s=sc.wrap_up_s
    )

    # --- the world's state ---------------------------------------------------------------
    heap: list[tuple[float, int, int, Any]] = []
    seq = itertools.count()
    talk_of: dict[str, float] = {}  # call -> talk time, until answered or abandoned
    blocked_skill: dict[str, str] = {}  # blocked call -> the skill it wanted (for by_skill)
    unknown: Counter[str] = Counter()
    ring = sc.ring_delay_s
    logins = {}
    for g in sc.operators:
        for i in range(1, g.count + 1):
            logins[f"{g.name}-{i}"] = (g.skills, g.languages)
    for t, kind, op_id in _shift_events(sc):
        heapq.heappush(heap, (t, next(seq), kind, op_id))
    marks = sorted(
        {start_s, end_s, *(h * 3600.0 for h in range(int(end_s // 3600) + 1) if h * 3600.0 < end_s)}
    )
    for t in marks:
        heapq.heappush(heap, (t, next(seq), _MARK, None))
    busy_prev = staffed_prev = 0.0
    mark_prev = 0.0
    slice_max = 0  # most calls in the system seen by an arrival since the last mark

    # Engine methods and event classes are named in full, not aliased to locals: the
    # compiled build (setup.py) calls them natively only when it can see what they are.
    calls = engine.calls
    push, pop = heapq.heappush, heapq.heappop
    known_silent = {CancelOffer, RejectBusy, BridgeCall}

    def answer(cid: str, op_id: str, talk_s: float, now: float) -> None:
        """The operator's phone is answered: the conversation lasts the caller's talk time."""
        more = engine.handle(ev.OperatorAnswered(now=now, call_id=cid, operator_id=op_id))
        # The core answers a taken answer with its BridgeCall (and a stale one with nothing):
        # then the call talks.
        if more:
            push(heap, (now + talk_s, next(seq), _END, cid))

    def dispatch(cmds: list[Command], now: float) -> None:
        for cmd in cmds:
            if isinstance(cmd, ConnectCall):
                cid = cmd.call_id
                if ring:
                    push(heap, (now + ring, next(seq), _ANSWER, cmd))
                else:
                    answer(cid, cmd.operator_id, talk_of.pop(cid), now)
            elif (kind := type(cmd)) not in known_silent:
                # CancelOffer: the pending answer is dropped lazily; RejectBusy: seen at arrival.
                unknown[kind.__name__] += 1

    def connected_at_once(cid: str, cmds: list[Command]) -> bool:
        return any(isinstance(c, ConnectCall) and c.call_id == cid for c in cmds)

    def queue_call(cid: str, skill: str, lang: str, prio: int, patience: float, now: float) -> None:
        """The caller leaves the IVR: queue them; start their patience if they must wait."""
        cmds = engine.handle(ev.IvrCompleted(now=now, call_id=cid, skill=skill, language=lang, priority=prio))
        if cmds:
            dispatch(cmds, now)
        if patience < INF and not connected_at_once(cid, cmds):
            push(heap, (now + patience, next(seq), _ABANDON, cid))

    def feed() -> None:
        done = engine.drain_completed()
        collector.add_all(done, blocked_skill)
        blocked_skill.clear()
        if on_call is not None:
            for c in done:
                on_call(c)

    callers = build_callers(sc)
    nxt = next(callers, None)
    at = nxt[0] if nxt is not None else INF
    n = 0
    steps = 0
    queue_area = 0.0
    last_t = start_s
    dl = INF
    now = 0.0
    while True:
        ht = heap[0][0] if heap else INF
        steps += 1
        if dl <= ht and dl <= at:
            if dl == INF:
                break
            now = dl
            if measure_queue:
                queue_area, last_t = _integrate(engine, queue_area, last_t, now, start_s, end_s)
            cmds = engine.handle(ev.Tick(now=now))
            if cmds:
                dispatch(cmds, now)
        elif ht <= at:
            now, _, kind, data = pop(heap)
            if measure_queue:
                queue_area, last_t = _integrate(engine, queue_area, last_t, now, start_s, end_s)
            if kind == _END:
                cmds = engine.handle(ev.CallEnded(now=now, call_id=data))
                if cmds:
                    # The freed operator takes the next waiting call: the common case,
                    # inlined (one ConnectCall, answered at once).
                    cmd = cmds[0]
                    if len(cmds) == 1 and isinstance(cmd, ConnectCall) and not ring:
                        answer(cmd.call_id, cmd.operator_id, talk_of.pop(cmd.call_id), now)
                    else:
                        dispatch(cmds, now)
            elif kind == _ABANDON:
                if data in talk_of:  # not answered yet: the caller gives up
                    del talk_of[data]
                    cmds = engine.handle(ev.CallerHungUp(now=now, call_id=data))
                    if cmds:
                        dispatch(cmds, now)
            elif kind == _IVR:
                cid, skill, lang, prio, patience = data
                queue_call(cid, skill, lang, prio, patience, now)
            elif kind == _ANSWER:
                cid = data.call_id
                if cid in talk_of:  # (else the caller left while it rang: nobody to answer)
                    answer(cid, data.operator_id, talk_of.pop(cid), now)
            elif kind == _MARK:
                busy = staffed = 0.0
                for op in engine.operators.values():
                    b, s = operator_times(op.time_in, op.state, op.since, now)
                    busy += b
                    staffed += s
                if now > mark_prev:
                    collector.add_operator_time(mark_prev, busy - busy_prev, staffed - staffed_prev)
                    collector.observe_concurrent(mark_prev, slice_max)
                busy_prev, staffed_prev, mark_prev, slice_max = busy, staffed, now, 0
                feed()
                if progress is not None:
                    progress(min(1.0, now / end_s))
            elif kind == _LOGIN:
                # (Still leaving after the last call of a shift that ended just before this
                # one: the login calls that logout off.)
                skills, langs = logins[data]
                login = ev.OperatorLoggedIn(now=now, operator_id=data, skills=skills, languages=langs)
                cmds = engine.handle(login)
                if cmds:
                    dispatch(cmds, now)
            else:  # _LOGOUT
                cmds = engine.handle(ev.OperatorLoggedOut(now=now, operator_id=data))
                if cmds:
                    dispatch(cmds, now)
        else:
            now, skill, lang, prio, ivr_s, talk_s, patience = nxt  # type: ignore[misc]  # at < INF
            n += 1
            cid = str(n)
            if measure_queue:
                queue_area, last_t = _integrate(engine, queue_area, last_t, now, start_s, end_s)
            cmds = engine.handle(ev.CallArrived(now=now, call_id=cid))
            if cmds:
                blocked_skill[cid] = skill  # RejectBusy (or RejectClosed): the call is over
            elif ivr_s > 0:
                talk_of[cid] = talk_s
                push(heap, (now + ivr_s, next(seq), _IVR, (cid, skill, lang, prio, patience)))
            else:  # no IVR time: queue_call, inlined for the common cases
                ivr_done = ev.IvrCompleted(now=now, call_id=cid, skill=skill, language=lang, priority=prio)
                cmds = engine.handle(ivr_done)
                if not cmds:  # it waits
                    talk_of[cid] = talk_s
                    if patience < INF:
                        push(heap, (now + patience, next(seq), _ABANDON, cid))
                elif (
                    len(cmds) == 1
                    and not ring
                    and isinstance(cmd := cmds[0], ConnectCall)
                    and cmd.call_id == cid
                ):
                    # a free operator takes it at once
                    answer(cid, cmd.operator_id, talk_s, now)
                else:
                    talk_of[cid] = talk_s
                    dispatch(cmds, now)
                    if patience < INF and not connected_at_once(cid, cmds):
                        push(heap, (now + patience, next(seq), _ABANDON, cid))
            if len(calls) > slice_max:
                slice_max = len(calls)
            if not n & (_PROGRESS_EVERY - 1):
                feed()
                if progress is not None:
                    progress(min(1.0, now / end_s))
            nxt = next(callers, None)
            at = nxt[0] if nxt is not None else INF
        d = engine.next_deadline()
        dl = INF if d is None else d
    feed()
    unfinished = len(calls)
    return SimResult(
        kpis=collector.kpis(),
        collector=collector,
        arrivals=n,
        steps=steps,
        unfinished=unfinished,
        unknown_commands=unknown,
        stale_facts=dict(engine.stale_facts),
        sim_end_s=now,
        wall_s=time.perf_counter() - wall0,
        queue_area=queue_area if measure_queue else None,
    )


def _integrate(
    engine: Engine, area: float, last: float, now: float, start: float, end: float
) -> tuple[float, float]:
    """Add (waiting calls) x (time since the last event), clipped to the window."""
    t = min(max(now, start), end)
    if t > last:
        area += sum(len(q) for q in engine.queues.values()) * (t - last)
        last = t
    return area, last
