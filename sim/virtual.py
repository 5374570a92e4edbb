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
# - Callbacks (when the scenario has them): a caller offered one decides at once, from
#   their own stream, and keys the choice `offer_s` later if still waiting; the store commits
#   at once; the caller hangs up `confirm_s` after the promise. The operator's phone answers
#   as for any call; each call to the citizen is answered with probability `answer` (after
#   `citizen_ring_s`) or rings out (after `no_answer_s`); the conversation lasts the talk
#   time the caller was given at arrival.
# - Repeat calls (when the scenario has `redial`): a caller who gave up calls again with
#   probability `share`, after an exponential time of mean `after_s`, wanting the same
#   service, with the same talk time and patience (their own stream decides). A citizen who
#   left their number for a callback does not.
# - Unknown commands (AnnounceWait, ...) are counted and ignored.
# - Hot path: one event object per fact the core needs, one heap entry per timed fact, no
#   per-call closures; KPIs are fed in batches from drain_completed(). What the world does
#   in answer to a command is a method of `_World` (a class, not closures in `simulate`), and
#   the module's constants are Final: the compiled build (setup.py) then calls those methods
#   and reads those constants directly, instead of through Python's calling protocol and
#   the module's dict at every event.
from __future__ import annotations

import datetime as dt
import heapq
import itertools
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, cast

from contactcenter.core import events as ev
from contactcenter.core.calendar import OpeningHours
from contactcenter.core.callbacks import Callback
from contactcenter.core.commands import (
    BridgeCall,
    CancelOffer,
    Command,
    ConfirmCallback,
    ConnectCall,
    DialCallback,
    DialCitizen,
    OfferCallback,
    PersistCallback,
    RejectBusy,
    RejectClosed,
    UpdateCallback,
)
from contactcenter.core.engine import Call, Engine
from contactcenter.core.kpis import KpiCollector, operator_times
from contactcenter.core.readmodel import Change
from contactcenter.sim import traffic
from contactcenter.sim.scenario import Redial, Scenario, SimCallbacks

INF: Final = math.inf
NO_LINE_LIMIT: Final = 2**62
# Kinds of the world's timed facts (heap entries).
_END: Final = 0
_ABANDON: Final = 1
_IVR: Final = 2
_ANSWER: Final = 3
_MARK: Final = 4
_LOGIN: Final = 5
_LOGOUT: Final = 6
_CB_KEYED: Final = 7  # the caller keys "call me back"
_CB_HANG_UP: Final = 8  # the caller hangs up after the promise
_CB_OPERATOR: Final = 9  # the operator's phone answers a callback's ring
_CB_CITIZEN: Final = 10  # the citizen answers
_CB_MISSED: Final = 11  # the citizen's phone rang out
_REDIAL: Final = 12  # a caller who gave up calls again
_AWAY: Final = 13  # an operator goes away from calls (a break, other work): paused
_BACK: Final = 14  # ... and comes back
_PROGRESS_EVERY: Final = 16384  # arrivals between progress updates (a power of two)
_KNOWN_SILENT: Final = frozenset({CancelOffer, RejectBusy, RejectClosed, BridgeCall, UpdateCallback})
# (Named once: heapq is not one of the compiled build's primitives, so heapq.heappush would
# be an attribute lookup on the module at every use.)
_heappush: Final = heapq.heappush
_heappop: Final = heapq.heappop

# One timed fact: (time, push order, kind, payload). The payload by kind: _END, _ABANDON: the
# call; _IVR: (call, skill, language, priority, patience); _ANSWER: the ConnectCall; _MARK:
# None; _LOGIN, _LOGOUT: the operator.
_Timed = tuple[float, int, int, object]
_IvrDone = tuple[str, str, str, int, float]
_Again = tuple[str, str, int, float, float]  # a repeat call: skill, language, priority, talk, patience
_Away = tuple[str, float]  # (operator, seconds away)
_NO_MORE_CALLERS: Final[traffic.Caller] = (INF, "", "", 0, 0.0, 0.0, INF)
# A run's records (contactcenter.records.SimRecords), fed at every batch: the engine's change
# feed, the calls ended and the callbacks finished since the last batch, and the skills the
# blocked calls among them wanted.
RecordBatch = Callable[[list[Change], list[Call], list[Callback], Mapping[str, str]], None]


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
        s.name: traffic.patience_sampler(
            per_skill[s.name]["patience"], s.patience_s, sc.patience_dist, sc.patience_cv
        )
        for s in sc.skills
    }
    language = {
        s.name: traffic.language_picker(per_skill[s.name]["language"], s.languages) for s in sc.skills
    }
    if sc.trace is not None:
        from contactcenter.sim import replay

        return replay.replay_callers(sc, per_skill, language, talk, patience)
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


def trace_source_ids(sc: Scenario) -> list[str]:
    """The trace's call ids of a trace replay, in arrival order: the run's call "n" is the
    (n-1)-th. Empty when the scenario replays no trace."""
    if sc.trace is None:
        return []
    from contactcenter.sim import replay

    return [c.record.call_id for c in replay.chosen(sc)]


# An operator's logged-in stretch on the simulator's clock: (login, logout, operator, skills).
Stretch = tuple[float, float, str, tuple[str, ...]]


def _staffing(sc: Scenario) -> list[Stretch]:
    """The operators of a `staffing` scenario: the trace's working periods (each on its
    day's place on the clock), or a roster's, every day of the run."""
    from contactcenter.sim import replay

    return replay.stretches(sc)


def _all_languages(sc: Scenario) -> tuple[str, ...]:
    """Every language the run's callers may speak (a trace's own among them)."""
    langs = dict.fromkeys(lang for s in sc.skills for lang, _ in s.languages)
    if sc.trace is not None:
        from contactcenter.sim import replay

        langs.update(dict.fromkeys(replay.trace_languages(sc)))
    return tuple(langs)


def _group_stretches(sc: Scenario) -> list[Stretch]:
    """The operator groups' logged-in stretches (for their time away)."""
    out: list[Stretch] = []
    end = sc.end_s
    for g in sc.operators:
        skill_names = tuple(k for k, _ in g.skills)
        for i in range(1, g.count + 1):
            op_id = f"{g.name}-{i}"
            if g.shift is None:
                out.append((0.0, end, op_id, skill_names))
                continue
            for d in range(-1, int(end // 86400) + 1):
                t_in, t_out = (d * 24 + g.shift[0]) * 3600.0, (d * 24 + g.shift[1]) * 3600.0
                if t_out > 0 and t_in < end:
                    out.append((max(t_in, 0.0), min(t_out, end), op_id, skill_names))
    return out


def _shift_events(sc: Scenario, stretches: list[Stretch]) -> list[tuple[float, int, str]]:
    """(time, kind, operator_id) of logins and logouts, in the order they are pushed."""
    out: list[tuple[float, int, str]] = []
    end = sc.end_s
    days = int(end // 86400) + 1
    for t_in, t_out, op_id, _ in stretches:
        if t_out <= 0 or t_in >= end:
            continue
        out.append((max(t_in, 0.0), _LOGIN, op_id))
        if t_out < end:
            out.append((t_out, _LOGOUT, op_id))
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


class _World:
    """The simulated world around the engine: its timed facts, the callers it has not yet
    seen answered, and what it does with the engine's commands."""

    def __init__(
        self,
        engine: Engine,
        ring: float,
        callbacks: SimCallbacks | None = None,
        seed: int = 1,
        redial: Redial | None = None,
        ivr_s: float = 0.0,
        window: tuple[float, float] = (0.0, INF),
    ) -> None:
        self.engine = engine
        self.ring = ring
        self.callbacks = callbacks
        self.accepts = random.Random(f"{seed}/callbacks/accept")
        self.answers = random.Random(f"{seed}/callbacks/answer")
        self.redial = redial
        self.redials = random.Random(f"{seed}/redial")
        self.ivr_s = ivr_s  # (a repeat call spends the mean IVR time)
        self.window = window
        self.again: dict[str, _Again] = {}  # callers who may give up, while redial is on
        self.repeat_calls = 0  # arrived in the measured window
        self.repeats = 0
        self.heap: list[_Timed] = []
        self.pushed = 0  # timed facts pushed so far: their order among equal times
        self.talk_of: dict[str, float] = {}  # call -> talk time, until answered or abandoned
        # A call that ended before choosing (blocked, or hung up in the IVR) -> the skill it
        # wanted, for the KPIs' by_skill.
        self.blocked_skill: dict[str, str] = {}
        self.unknown: Counter[str] = Counter()
        # Time away (only when the scenario has it): who talks on which call, and the breaks
        # asked for during a call, which begin when it and its wrap-up are over.
        self.wrap_up_s = 0.0
        self.track_talk = False
        self.talking: dict[str, str] = {}  # call -> operator
        self.on_call: set[str] = set()  # the operators in `talking`
        self.later: dict[str, float] = {}  # operator -> seconds away, after the call

    def push(self, at: float, kind: int, data: object) -> None:
        _heappush(self.heap, (at, self.pushed, kind, data))
        self.pushed += 1

    def answer(self, cid: str, op_id: str, talk_s: float, now: float) -> None:
        """The operator's phone is answered: the conversation lasts the caller's talk time."""
        more = self.engine.handle(ev.OperatorAnswered(now=now, call_id=cid, operator_id=op_id))
        # The core answers a taken answer with its BridgeCall (and a stale one with nothing):
        # then the call talks.
        if more:
            self.push(now + talk_s, _END, cid)
            if self.track_talk:
                self.talking[cid] = op_id
                self.on_call.add(op_id)

    def go_away(self, away: _Away, now: float) -> None:
        """An operator takes a break: now if free (the core pauses them at once), else after
        the call in hand and its wrap-up (the core's "pause after this call"); they come back
        when the break's length has passed from its real start."""
        op_id, seconds = away
        cmds = self.engine.handle(ev.OperatorPaused(now=now, operator_id=op_id, reason="away"))
        if cmds:
            self.dispatch(cmds, now)
        if op_id in self.on_call:
            self.later[op_id] = seconds
        else:
            self.push(now + seconds, _BACK, op_id)

    def call_over(self, cid: str, now: float) -> None:
        op_id = self.talking.pop(cid, None)
        if op_id is None:
            return
        self.on_call.discard(op_id)
        if op_id in self.later:
            self.push(now + self.wrap_up_s + self.later.pop(op_id), _BACK, op_id)

    def answer_waiting(self, cmd: ConnectCall, now: float) -> None:
        """A caller who was waiting (their talk time is in talk_of) is answered."""
        cid = cmd.call_id
        talk_s = self.talk_of[cid]
        del self.talk_of[cid]
        if self.again:
            self.again.pop(cid, None)
        self.answer(cid, cmd.operator_id, talk_s, now)

    def start_patience(self, cid: str, skill: str, lang: str, prio: int, patience: float, now: float) -> None:
        """The caller waits: they give up after `patience` unless answered first."""
        self.push(now + patience, _ABANDON, cid)
        if self.redial is not None:
            self.again[cid] = (skill, lang, prio, self.talk_of[cid], patience)

    def gave_up(self, cid: str, now: float) -> None:
        """The caller hung up waiting: perhaps they call again later."""
        redial = self.redial
        if redial is None:
            return
        again = self.again.pop(cid, None)
        if again is not None and self.redials.random() < redial.share:
            self.push(now + self.redials.expovariate(1.0 / redial.after_s), _REDIAL, again)

    def call_again(self, again: _Again, now: float) -> None:
        skill, lang, prio, talk_s, patience = again
        self.repeats += 1
        cid = f"r{self.repeats}"
        refused = self.engine.handle(ev.CallArrived(now=now, call_id=cid))
        if self.window[0] <= now < self.window[1] and not (refused and type(refused[0]) is RejectClosed):
            self.repeat_calls += 1  # (a call to a closed line is not offered: not counted)
        if refused:
            self.blocked_skill[cid] = skill
            return
        self.talk_of[cid] = talk_s
        if self.ivr_s > 0:
            ivr_done: _IvrDone = (cid, skill, lang, prio, patience)
            self.push(now + self.ivr_s, _IVR, ivr_done)
        else:
            self.queue_call(cid, skill, lang, prio, patience, now)

    def dispatch(self, cmds: list[Command], now: float) -> None:
        for cmd in cmds:
            if isinstance(cmd, ConnectCall):
                if self.ring:
                    self.push(now + self.ring, _ANSWER, cmd)
                else:
                    self.answer_waiting(cmd, now)
            elif self.callbacks is not None and self.callback_command(cmd, now):
                pass
            elif (kind := type(cmd)) not in _KNOWN_SILENT:
                # CancelOffer: the pending answer is dropped lazily; RejectBusy: seen at arrival.
                self.unknown[kind.__name__] += 1

    def callback_command(self, cmd: Command, now: float) -> bool:
        """Play the world's part in a callback command; False if `cmd` is not one."""
        spec = self.callbacks
        assert spec is not None
        if isinstance(cmd, OfferCallback):
            if self.accepts.random() < spec.accept:
                self.push(now + spec.offer_s, _CB_KEYED, cmd.call_id)
        elif isinstance(cmd, PersistCallback):  # the store commits at once
            self.dispatch(self.engine.handle(ev.CallbackStored(now=now, callback_id=cmd.callback_id)), now)
        elif isinstance(cmd, ConfirmCallback):
            # The talk time goes with the citizen to their callback (a merged caller's is lost).
            talk_s = self.talk_of.pop(cmd.call_id, None)
            if talk_s is not None and not cmd.merged:
                self.talk_of[cmd.callback_id] = talk_s
            if self.again:
                self.again.pop(cmd.call_id, None)  # (they will not call again)
            self.push(now + spec.confirm_s, _CB_HANG_UP, cmd.call_id)
        elif isinstance(cmd, DialCallback):
            self.push(now + self.ring, _CB_OPERATOR, cmd)
        elif isinstance(cmd, DialCitizen):
            if self.answers.random() < spec.answer:
                self.push(now + spec.citizen_ring_s, _CB_CITIZEN, cmd.call_id)
            else:
                self.push(now + spec.no_answer_s, _CB_MISSED, cmd.call_id)
        else:
            return False
        return True

    def callback_fact(self, kind: int, data: object, now: float) -> None:
        """A timed fact of a callback comes due."""
        engine = self.engine
        if kind == _CB_KEYED:
            cid = cast(str, data)
            if cid in self.talk_of:  # still waiting, not answered nor gone
                accepted = ev.CallbackAccepted(now=now, call_id=cid, callback_id=f"cb{cid}", number_key=cid)
                self.dispatch(engine.handle(accepted), now)
        elif kind == _CB_HANG_UP:
            self.dispatch(engine.handle(ev.CallerHungUp(now=now, call_id=cast(str, data))), now)
        elif kind == _CB_OPERATOR:
            dial = cast(DialCallback, data)
            answered = ev.OperatorAnswered(now=now, call_id=dial.call_id, operator_id=dial.operator_id)
            self.dispatch(engine.handle(answered), now)
        elif kind == _CB_CITIZEN:
            cb_id = cast(str, data)
            if engine.handle(ev.CitizenAnswered(now=now, callback_id=cb_id)):
                self.push(now + self.talk_of.pop(cb_id), _END, cb_id)
        else:  # _CB_MISSED
            missed = ev.CitizenNotReached(now=now, callback_id=cast(str, data), outcome="no_answer")
            self.dispatch(engine.handle(missed), now)

    def queue_call(self, cid: str, skill: str, lang: str, prio: int, patience: float, now: float) -> None:
        """The caller leaves the IVR: queue them and start their patience if they must wait;
        or (patience < 0: traffic.HANGS_UP_IN_IVR) they hang up there, the skill they were
        choosing named for the KPIs' `ivr_abandoned`."""
        if patience < 0:
            del self.talk_of[cid]
            if skill:  # (one who hung up before choosing counts in no skill's figures)
                self.blocked_skill[cid] = skill
            cmds = self.engine.handle(ev.CallerHungUp(now=now, call_id=cid))
            if cmds:
                self.dispatch(cmds, now)
            return
        cmds = self.engine.handle(
            ev.IvrCompleted(now=now, call_id=cid, skill=skill, language=lang, priority=prio)
        )
        if cmds:
            self.dispatch(cmds, now)
        if patience < INF and not _connected_at_once(cid, cmds):
            self.start_patience(cid, skill, lang, prio, patience, now)


def daily_hours(open_h: float, close_h: float) -> OpeningHours:
    """Every day from `open_h` to `close_h` on the simulator's clock (UTC, epoch 0)."""

    def at(hours: float) -> dt.time:
        if hours >= 24:
            return dt.time.max
        seconds = round(hours * 3600)
        return dt.time(seconds // 3600, seconds % 3600 // 60, seconds % 60)

    return OpeningHours(tz=dt.UTC, open=at(open_h), close=at(close_h))


def _connected_at_once(cid: str, cmds: list[Command]) -> bool:
    return any(isinstance(c, ConnectCall) and c.call_id == cid for c in cmds)


def simulate(
    sc: Scenario,
    *,
    on_call: Callable[[Call], None] | None = None,
    progress: Callable[[float], None] | None = None,
    measure_queue: bool = False,
    records: RecordBatch | None = None,
) -> SimResult:
    """Run the scenario through a fresh Engine; return the KPIs of the measured window.

    on_call: called with every ended call (warm-up included), e.g. for batch statistics.
    progress: called now and then with the share of virtual time done (0..1).
    measure_queue: also integrate the number of waiting calls over the window (read from
    the engine's queues at every event; slow, for Little's-law checks).
    records: called at every batch with what the run's records are written from (the
    engine keeps its change feed only then: an object per state change).
    """
    wall0 = time.perf_counter()
    start_s, end_s = sc.start_s, sc.end_s
    kwargs: dict[str, Any] = {"lines": sc.lines or NO_LINE_LIMIT, "wrap_up": sc.wrap_up_s}
    if sc.relaxation:
        kwargs["relaxation"] = sc.relaxation
    if sc.open_hours is not None:
        kwargs["hours"] = daily_hours(*sc.open_hours)  # (epoch 0: the clock is UTC's)
    if sc.callbacks is not None:
        kwargs["callback_policy"] = sc.callbacks.policy
    if sc.priority_head_start:
        kwargs["priority_head_start"] = sc.priority_head_start
    if records is not None:
        kwargs["record_changes"] = True
    engine = Engine(**kwargs)
    collector = KpiCollector(
        start=start_s, end=end_s, sl_threshold_s=sc.sl_threshold_s, wrap_up_s=sc.wrap_up_s
    )

    # --- the world's state ---------------------------------------------------------------
    ring = sc.ring_delay_s
    world = _World(engine, ring, sc.callbacks, sc.seed, sc.redial, sc.ivr_s, (start_s, end_s))
    world.wrap_up_s = sc.wrap_up_s
    world.track_talk = sc.away is not None
    heap, talk_of, blocked_skill = world.heap, world.talk_of, world.blocked_skill
    logins = {}
    for g in sc.operators:
        for i in range(1, g.count + 1):
            logins[f"{g.name}-{i}"] = (g.skills, g.languages)
    stretches = _staffing(sc) if sc.staffing is not None else []
    if stretches:
        languages = _all_languages(sc)
        for _, _, op_id, skill_names in stretches:
            logins[op_id] = (tuple((k, 1) for k in skill_names), languages)
    for t, kind, op_id in _shift_events(sc, stretches):
        world.push(t, kind, op_id)
    if sc.away is not None:
        from contactcenter.sim import replay

        for t, away in replay.away_breaks(sc, stretches or _group_stretches(sc)):
            world.push(t, _AWAY, away)
    marks = sorted(
        {start_s, end_s, *(h * 3600.0 for h in range(int(end_s // 3600) + 1) if h * 3600.0 < end_s)}
    )
    for t in marks:
        world.push(t, _MARK, None)
    busy_prev = staffed_prev = 0.0
    mark_prev = 0.0
    slice_max = 0  # most calls in the system seen by an arrival since the last mark

    # Engine methods and event classes are named in full, not aliased to locals: the
    # compiled build (setup.py) calls them natively only when it can see what they are.
    calls = engine.calls

    def feed() -> None:
        done = engine.drain_completed()
        finished: list[Callback] = engine.drain_completed_callbacks() if engine.completed_callbacks else []
        if finished:
            collector.add_callbacks(finished)
        collector.add_all(done, blocked_skill)
        if records is not None:
            records(engine.drain_changes(), done, finished, blocked_skill)
        blocked_skill.clear()
        if on_call is not None:
            for c in done:
                on_call(c)

    # The callers, then one at infinity who never comes: a for loop (the compiled build steps
    # an iterator natively, where next(it, default) is a call through Python), with the
    # world's timed facts and the engine's timers that are due first played in between.
    callers = itertools.chain(build_callers(sc), (_NO_MORE_CALLERS,))
    n = 0
    steps = 0
    queue_area = 0.0
    last_t = start_s
    dl = INF
    now = 0.0
    for caller in callers:
        at = caller[0]
        while True:
            ht = heap[0][0] if heap else INF
            steps += 1
            if dl <= ht and dl <= at:
                if dl == INF:
                    break  # (then at == INF: nothing more can happen)
                now = dl
                if measure_queue:
                    queue_area, last_t = _integrate(engine, queue_area, last_t, now, start_s, end_s)
                cmds = engine.handle(ev.Tick(now=now))
                if cmds:
                    world.dispatch(cmds, now)
            elif ht <= at:
                now, _, kind, data = _heappop(heap)
                if measure_queue:
                    queue_area, last_t = _integrate(engine, queue_area, last_t, now, start_s, end_s)
                if kind == _END:
                    if world.talking:
                        world.call_over(cast(str, data), now)
                    cmds = engine.handle(ev.CallEnded(now=now, call_id=cast(str, data)))
                    if cmds:
                        # The freed operator takes the next waiting call: the common case,
                        # inlined (one ConnectCall, answered at once).
                        cmd = cmds[0]
                        if len(cmds) == 1 and isinstance(cmd, ConnectCall) and not ring:
                            world.answer_waiting(cmd, now)
                        else:
                            world.dispatch(cmds, now)
                elif kind == _ABANDON:
                    cid = cast(str, data)
                    if cid in talk_of:  # not answered yet: the caller gives up
                        del talk_of[cid]
                        cmds = engine.handle(ev.CallerHungUp(now=now, call_id=cid))
                        if cmds:
                            world.dispatch(cmds, now)
                        world.gave_up(cid, now)
                elif kind == _IVR:
                    cid, skill, lang, prio, patience = cast(_IvrDone, data)
                    world.queue_call(cid, skill, lang, prio, patience, now)
                elif kind == _ANSWER:
                    offer = cast(ConnectCall, data)
                    if offer.call_id in talk_of:  # (else the caller left while it rang: nobody to answer)
                        world.answer_waiting(offer, now)
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
                    op_id = cast(str, data)
                    skills, langs = logins[op_id]
                    login = ev.OperatorLoggedIn(now=now, operator_id=op_id, skills=skills, languages=langs)
                    cmds = engine.handle(login)
                    if cmds:
                        world.dispatch(cmds, now)
                elif kind == _LOGOUT:
                    cmds = engine.handle(ev.OperatorLoggedOut(now=now, operator_id=cast(str, data)))
                    if cmds:
                        world.dispatch(cmds, now)
                elif kind == _REDIAL:
                    world.call_again(cast(_Again, data), now)
                elif kind == _AWAY:
                    world.go_away(cast(_Away, data), now)
                elif kind == _BACK:
                    cmds = engine.handle(ev.OperatorResumed(now=now, operator_id=cast(str, data)))
                    if cmds:
                        world.dispatch(cmds, now)
                else:
                    world.callback_fact(kind, data, now)
            else:
                break  # this caller arrives first
            d = engine.next_deadline()
            dl = INF if d is None else d
        if at == INF:
            break
        # --- the caller arrives ---
        now, skill, lang, prio, ivr_s, talk_s, patience = caller
        n += 1
        cid = str(n)
        if measure_queue:
            queue_area, last_t = _integrate(engine, queue_area, last_t, now, start_s, end_s)
        cmds = engine.handle(ev.CallArrived(now=now, call_id=cid))
        if cmds:
            blocked_skill[cid] = skill  # RejectBusy (or RejectClosed): the call is over
        elif ivr_s > 0 or patience < 0:  # (who hangs up in the IVR does it at its end)
            talk_of[cid] = talk_s
            ivr_done: _IvrDone = (cid, skill, lang, prio, patience)
            world.push(now + ivr_s, _IVR, ivr_done)
        else:  # no IVR time: queue_call, inlined for the common cases
            queued = ev.IvrCompleted(now=now, call_id=cid, skill=skill, language=lang, priority=prio)
            cmds = engine.handle(queued)
            if not cmds:  # it waits
                talk_of[cid] = talk_s
                if patience < INF:
                    world.start_patience(cid, skill, lang, prio, patience, now)
            elif (
                len(cmds) == 1 and not ring and isinstance(cmd := cmds[0], ConnectCall) and cmd.call_id == cid
            ):
                # a free operator takes it at once
                world.answer(cid, cmd.operator_id, talk_s, now)
            else:
                talk_of[cid] = talk_s
                world.dispatch(cmds, now)
                if patience < INF and not _connected_at_once(cid, cmds):
                    world.start_patience(cid, skill, lang, prio, patience, now)
        if len(calls) > slice_max:
            slice_max = len(calls)
        if not n & (_PROGRESS_EVERY - 1):
            feed()
            if progress is not None:
                progress(min(1.0, now / end_s))
        d = engine.next_deadline()
        dl = INF if d is None else d
    feed()
    collector.repeat_calls = world.repeat_calls
    unfinished = len(calls)
    return SimResult(
        kpis=collector.kpis(),
        collector=collector,
        arrivals=n,
        steps=steps,
        unfinished=unfinished,
        unknown_commands=world.unknown,
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
