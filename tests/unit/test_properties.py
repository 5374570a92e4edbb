# Properties of the core under random event sequences. Rules: a small driver plays the part
# of Asterisk and the operators (it answers or lets ring each ConnectCall, hangs up random
# live calls, sends Ticks at the exact deadlines the engine asks for) and, after every event,
# checks the invariants the design promises: no operator on two calls, no call lost or
# duplicated, no free operator idle while a call they could take waits, FIFO within priority,
# operators chosen by (level, idle since, login order), a stale fact changes nothing (and is
# counted), a system fault never pauses an operator and is retried within its bounded backoff.
# A seeded queueing run checks Little's law on the engine's own waits and queue lengths.
from __future__ import annotations

import heapq
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contactcenter.core import Engine
from contactcenter.core import events as ev
from contactcenter.core.commands import BridgeCall, CancelOffer, Command, ConnectCall, RejectBusy
from contactcenter.core.engine import Call
from contactcenter.core.lifecycle import CallState, OperatorState, OperatorTrigger

SKILLS = ("info", "tramits", "tributs")
LANGUAGES = ("ca", "es")
ON_CALL = (OperatorState.RESERVED, OperatorState.TALKING)

# --- the driver ---------------------------------------------------------------------------


class Waiting(NamedTuple):
    call_id: str
    skill: str
    language: str
    key: tuple[int, float, int]
    queued_at: float

    @property
    def queue(self) -> tuple[str, str]:
        return (self.skill, self.language)

    @staticmethod
    def of(call: Call) -> Waiting:
        assert call.skill and call.language and call.queue_key and call.queued_at is not None
        return Waiting(call.call_id, call.skill, call.language, call.queue_key, call.queued_at)


@dataclass
class Harness:
    engine: Engine
    specs: dict[str, tuple[tuple[tuple[str, int], ...], tuple[str, ...]]]
    now: float = 0.0
    next_call: int = 0
    arrived: set[str] = field(default_factory=set)
    completed: Counter[str] = field(default_factory=Counter)
    offers: dict[str, str] = field(default_factory=dict)  # call -> operator ringing for it
    offered_total: int = 0

    # -- applying events and checking what came back --

    def apply(self, event: ev.Event) -> list[Command]:
        before_waiting = {
            cid: Waiting.of(c) for cid, c in self.engine.calls.items() if c.state is CallState.QUEUED
        }
        before_pool = {
            oid: (dict(o.skills), o.languages, o.idle_since, o.seq)
            for oid, o in self.engine.operators.items()
            if o.state is OperatorState.AVAILABLE
        }
        lines_in_use = len(self.engine.calls)
        cmds = self.engine.handle(event)
        self.check_commands(event, cmds, before_waiting, before_pool, lines_in_use)
        for call in self.engine.drain_completed():
            assert call.state is CallState.ENDED and call.outcome is not None
            self.completed[call.call_id] += 1
        self.check_invariants()
        return cmds

    def reach(self, w: Waiting, now: float) -> float:
        """The highest operator level a call may go to by `now` (worked out independently)."""
        steps = self.engine.relaxation
        if not steps:
            return math.inf
        return max(level for after, level in steps if now - w.queued_at >= after)

    def check_commands(
        self,
        event: ev.Event,
        cmds: list[Command],
        waiting: dict[str, Waiting],
        pool: dict[str, tuple[dict[str, int], tuple[str, ...], float, int]],
        lines_in_use: int,
    ) -> None:
        engine, now = self.engine, event.now
        if isinstance(event, ev.CallArrived):
            busy = lines_in_use >= engine.lines
            assert cmds == ([RejectBusy(call_id=event.call_id)] if busy else [])
            return
        assert not any(isinstance(c, RejectBusy) for c in cmds)

        # What could be routed by this event: calls that were waiting, plus the one the event
        # (an IVR result or a ring timeout) put in a queue. Replayed command by command.
        newly_queued = getattr(event, "call_id", None)
        if isinstance(event, ev.IvrCompleted | ev.OperatorRingTimeout | ev.OperatorUnreachable):
            waiting[event.call_id] = Waiting.of(engine.calls[event.call_id])
        if isinstance(event, ev.CallerHungUp):
            waiting.pop(event.call_id, None)

        for cmd in cmds:
            if isinstance(cmd, CancelOffer):
                assert self.offers.pop(cmd.call_id) == cmd.operator_id
                if isinstance(event, ev.Tick):
                    # The offer went without an outcome for too long: the operator counts as
                    # unreachable and the call is back in its queue (and may be re-offered).
                    assert engine.offer_timeout is not None
                    assert engine.operators[cmd.operator_id].state in (
                        OperatorState.UNREACHABLE,
                        OperatorState.PAUSED,
                        OperatorState.LOGGED_OUT,
                    )
                    waiting[cmd.call_id] = Waiting.of(engine.calls[cmd.call_id])
                    newly_queued = cmd.call_id
                else:
                    assert isinstance(event, ev.CallerHungUp) and cmd.call_id == event.call_id
                continue
            if isinstance(cmd, BridgeCall):
                assert isinstance(event, ev.OperatorAnswered) and cmds == [
                    BridgeCall(call_id=event.call_id, operator_id=event.operator_id)
                ]
                continue
            assert isinstance(cmd, ConnectCall)
            assert cmd.call_id not in self.offers, "a call offered twice at once"
            self.offers[cmd.call_id] = cmd.operator_id
            self.offered_total += 1
            assert cmd.call_id in waiting, "offered a call that was not waiting"
            w = waiting.pop(cmd.call_id)
            # FIFO within priority: no older call of the same priority waits in its queue;
            # and no better-placed call (higher priority) that this operator could reach.
            rivals = [r for r in waiting.values() if r.queue == w.queue]
            same_priority = [r.key for r in rivals if r.key[0] == w.key[0]]
            assert all(w.key < r for r in same_priority), (w.key, same_priority)
            level = engine.operators[cmd.operator_id].skills[w.queue[0]]
            in_reach = [r.key for r in rivals if self.reach(r, now) >= level]
            assert all(w.key < r for r in in_reach), (w.key, in_reach)
            if cmd.operator_id in pool:
                # An operator who was already free: the best (level, idle since, login order)
                # among the free ones who can take the call and are within its reach.
                if not engine.relaxation:
                    # Nothing waits while someone free could take it, so only a call this
                    # event queued can go to an operator who was already free.
                    assert cmd.call_id == newly_queued
                candidates = {
                    oid: (skills[w.skill], idle, seq)
                    for oid, (skills, langs, idle, seq) in pool.items()
                    if w.skill in skills and w.language in langs and skills[w.skill] <= self.reach(w, now)
                }
                assert cmd.operator_id in candidates, "operator out of the call's reach"
                assert candidates[cmd.operator_id] == min(candidates.values())
                del pool[cmd.operator_id]
            else:
                # An operator freed by this event takes, in each queue they serve, the best
                # call within their reach (per call: its own wait decides); among those, their
                # best level first, then queue order.
                op = engine.operators[cmd.operator_id]
                best_in_reach: dict[tuple[str, str], Waiting] = {}
                for r in [w, *waiting.values()]:
                    if (
                        r.skill in op.skills
                        and r.language in op.languages
                        and op.skills[r.skill] <= self.reach(r, now)
                        and (r.queue not in best_in_reach or r.key < best_in_reach[r.queue].key)
                    ):
                        best_in_reach[r.queue] = r
                ranks = {h.call_id: (op.skills[h.skill], h.key) for h in best_in_reach.values()}
                assert cmd.call_id in ranks, "operator out of the call's reach"
                if not (engine.relaxation and isinstance(event, ev.Tick)):
                    # (One Tick may free an operator, who waits in the pool, and then fire a
                    # relaxation step that picks them for that queue's head: a pool pick by an
                    # operator this check did not see as free, so only the reach is checked.)
                    assert ranks[cmd.call_id] == min(ranks.values())

    def check_invariants(self) -> None:
        engine = self.engine
        calls, ops = engine.calls, engine.operators
        assert len(calls) <= engine.lines
        # No loss, no duplicate: each call that arrived is live or completed exactly once.
        live = set(calls)
        assert live | set(self.completed) == self.arrived
        assert not live & set(self.completed)
        assert all(n == 1 for n in self.completed.values())
        # Operators and calls point at each other, one to one.
        for oid, op in ops.items():
            if op.state in (OperatorState.RESERVED, OperatorState.TALKING):
                assert op.call_id is not None
                call = calls[op.call_id]
                assert call.operator_id == oid
                want = CallState.OFFERED if op.state is OperatorState.RESERVED else CallState.TALKING
                assert call.state is want
            else:
                assert op.call_id is None
            if op.state is OperatorState.WRAP_UP:
                # Wrap-up ends at a deadline the driver has not reached yet (it ticks on time).
                assert op.wrap_up_until is not None and op.wrap_up_until > self.now
                deadline = engine.next_deadline()
                assert deadline is not None and deadline <= op.wrap_up_until
            if op.state is not OperatorState.PAUSED:
                assert op.pause_reason is None  # a pause reason never outlives the pause
            if op.state is OperatorState.UNREACHABLE:
                # A system fault is bounded: a retry is due, and the backoff never exceeds its max.
                assert op.fault_reason is not None and op.retry_at is not None
                assert self.now < op.retry_at <= self.now + engine.fault_retry_max
                deadline = engine.next_deadline()
                assert deadline is not None and deadline <= op.retry_at
            else:
                assert op.fault_reason is None and op.retry_at is None
            # "After this call" is only ever pending for an operator who has a call (or its
            # wrap-up) in hand: it is applied, and cleared, when they would become free.
            if op.after_call is not None:
                assert op.state in (OperatorState.RESERVED, OperatorState.TALKING, OperatorState.WRAP_UP)
        # EWT's staffing: operators logged in and not paused, per queue they serve.
        for s in SKILLS:
            for lang in LANGUAGES:
                staffed = sum(
                    1
                    for op in ops.values()
                    if op.state not in (OperatorState.PAUSED, OperatorState.LOGGED_OUT)
                    and s in op.skills
                    and lang in op.languages
                )
                assert engine.ewt.staffed(s, lang) == staffed, (s, lang)
        for cid, call in calls.items():
            if call.state in (CallState.OFFERED, CallState.TALKING):
                assert call.operator_id is not None and ops[call.operator_id].call_id == cid
            else:
                assert call.operator_id is None
        # The driver's view of outstanding offers is exactly the engine's.
        assert self.offers == {cid: c.operator_id for cid, c in calls.items() if c.state is CallState.OFFERED}
        # Queues hold exactly the queued calls.
        per_queue = Counter((c.skill, c.language) for c in calls.values() if c.state is CallState.QUEUED)
        for s in SKILLS:
            for lang in LANGUAGES:
                assert engine.waiting(s, lang) == per_queue[(s, lang)]
        # No available operator could take any waiting call they serve that is within their
        # reach (with relaxation, per call: its own wait decides); without relaxation, no
        # waiting call at all while someone who serves its queue is free.
        waiting_now = [Waiting.of(c) for c in calls.values() if c.state is CallState.QUEUED]
        for oid, op in ops.items():
            if op.state is OperatorState.AVAILABLE:
                for w in waiting_now:
                    if w.skill in op.skills and w.language in op.languages:
                        assert op.skills[w.skill] > self.reach(w, self.now), (oid, w)

    # -- the driver's moves --

    def advance(self, dt: float) -> None:
        target = self.now + dt
        while (deadline := self.engine.next_deadline()) is not None and deadline <= target:
            self.now = max(self.now, deadline)
            self.apply(ev.Tick(now=self.now))
            # A Tick at a deadline fires every timer due by then (else this loop never ends).
            later = self.engine.next_deadline()
            assert later is None or later > self.now, (self.now, later)
        self.now = target

    def live(self, *states: CallState) -> list[str]:
        return sorted(cid for cid, c in self.engine.calls.items() if c.state in states)

    def pending(self, request: OperatorTrigger) -> list[str]:
        """Operators who asked to pause or log out (`request`) after their call."""
        return sorted(oid for oid, o in self.engine.operators.items() if o.asked_for(request))

    def operators_in(self, *states: OperatorState) -> list[str]:
        return sorted(oid for oid, o in self.engine.operators.items() if o.state in states)

    def step(self, kind: str, pick: int) -> None:
        engine, now = self.engine, self.now
        if kind == "arrive":
            cid = f"c{self.next_call}"
            self.next_call += 1
            self.arrived.add(cid)
            cmds = self.apply(ev.CallArrived(now=now, call_id=cid))
            if not cmds and pick % 4:  # most callers go straight through the IVR
                self.complete_ivr(cid, pick)
        elif kind == "ivr":
            if ids := self.live(CallState.IN_IVR):
                self.complete_ivr(ids[pick % len(ids)], pick)
        elif kind in ("answer", "ring_timeout", "unreachable"):
            if ids := sorted(self.offers):
                cid = ids[pick % len(ids)]
                oid = self.offers.pop(cid)
                if kind == "answer":
                    got = self.apply(ev.OperatorAnswered(now=now, call_id=cid, operator_id=oid))
                    assert got == [BridgeCall(call_id=cid, operator_id=oid)]
                    return
                leaving = engine.operators[oid].after_call
                if kind == "ring_timeout":
                    self.apply(
                        ev.OperatorRingTimeout(now=now, call_id=cid, operator_id=oid, reason="no-answer")
                    )
                    want = OperatorState.PAUSED  # a pause asked for gives way to the ring's reason
                else:
                    self.apply(ev.OperatorUnreachable(now=now, call_id=cid, operator_id=oid, reason="failed"))
                    want = OperatorState.UNREACHABLE  # never the operator's fault: no pause
                    if leaving is not None:
                        want = OperatorState.PAUSED  # the pause they asked for is carried out
                if leaving is not None and leaving[0] is OperatorTrigger.LOG_OUT:
                    want = OperatorState.LOGGED_OUT  # the logout asked for is carried out
                assert engine.operators[oid].state is want
        elif kind == "reachable":
            if ids := self.operators_in(OperatorState.UNREACHABLE):
                self.apply(ev.OperatorReachable(now=now, operator_id=ids[pick % len(ids)]))
        elif kind == "hangup":
            if pick % 5 == 0 and self.completed:
                gone = sorted(self.completed)[pick % len(self.completed)]
                self.stale(ev.CallerHungUp(now=now, call_id=gone))
            elif ids := sorted(engine.calls):
                self.apply(ev.CallerHungUp(now=now, call_id=ids[pick % len(ids)]))
        elif kind == "end":
            if ids := self.live(CallState.TALKING):
                cid = ids[pick % len(ids)]
                self.apply(ev.CallEnded(now=now, call_id=cid))
                if pick % 3 == 0:  # the caller's leg reports the same end
                    self.stale(ev.CallerHungUp(now=now, call_id=cid))
        elif kind == "pause":
            # On a call (ringing or talking), the pause waits for the end of it.
            states = (OperatorState.AVAILABLE, OperatorState.WRAP_UP, *ON_CALL)
            if ids := self.operators_in(*states):
                self.apply(ev.OperatorPaused(now=now, operator_id=ids[pick % len(ids)], reason="break"))
        elif kind == "resume":
            # Paused, or with a pause pending after the call (a resume calls it off).
            if ids := self.operators_in(OperatorState.PAUSED) + self.pending(OperatorTrigger.PAUSE):
                self.apply(ev.OperatorResumed(now=now, operator_id=ids[pick % len(ids)]))
        elif kind == "logout":
            states = (
                OperatorState.AVAILABLE,
                OperatorState.PAUSED,
                OperatorState.WRAP_UP,
                OperatorState.UNREACHABLE,
                *ON_CALL,
            )
            if ids := self.operators_in(*states):
                self.apply(ev.OperatorLoggedOut(now=now, operator_id=ids[pick % len(ids)]))
        elif kind == "login":
            # Logged out, or on a call with a logout pending (a login calls it off).
            if ids := self.operators_in(OperatorState.LOGGED_OUT) + self.pending(OperatorTrigger.LOG_OUT):
                oid = ids[pick % len(ids)]
                if pick % 3 == 0:  # back with another operator's skills and languages
                    others = sorted(self.specs)
                    self.specs[oid] = self.specs[others[(pick // 3) % len(others)]]
                self.login(oid)
        elif kind == "stale":
            self.stale_fact(pick)
        else:
            raise AssertionError(kind)

    def login(self, oid: str) -> None:
        skills, languages = self.specs[oid]
        self.apply(ev.OperatorLoggedIn(now=self.now, operator_id=oid, skills=skills, languages=languages))
        op = self.engine.operators[oid]
        assert (op.skills, op.languages) == (dict(skills), languages)

    def complete_ivr(self, cid: str, pick: int) -> None:
        # Mostly a (skill, language) someone can serve, so calls get routed; sometimes any.
        served = sorted(
            {(sk, lang) for skills, langs in self.specs.values() for sk, _ in skills for lang in langs}
        )
        if pick % 4:
            skill, language = served[(pick // 4) % len(served)]
        else:
            skill, language = SKILLS[(pick // 4) % len(SKILLS)], LANGUAGES[(pick // 12) % len(LANGUAGES)]
        priority = (pick // 24) % 2
        self.apply(
            ev.IvrCompleted(now=self.now, call_id=cid, skill=skill, language=language, priority=priority)
        )

    def stale_fact(self, pick: int) -> None:
        """A fact that no longer fits the state (the world moved on): the engine must ignore
        it, leaving its state exactly as it was, and count it."""
        engine, now = self.engine, self.now
        queued = self.live(CallState.QUEUED, CallState.IN_IVR)
        talking = self.live(CallState.TALKING)
        pause_pending = set(self.pending(OperatorTrigger.PAUSE))
        not_paused = [
            oid
            for oid in self.operators_in(*(s for s in OperatorState if s is not OperatorState.PAUSED))
            if oid not in pause_pending
        ]
        choices: list[ev.Event] = []
        if queued and engine.operators:
            cid, oid = queued[pick % len(queued)], sorted(engine.operators)[pick % len(engine.operators)]
            choices.append(ev.OperatorAnswered(now=now, call_id=cid, operator_id=oid))
            choices.append(ev.CallEnded(now=now, call_id=cid))
        if talking:
            cid = talking[pick % len(talking)]
            oid = engine.calls[cid].operator_id
            assert oid is not None
            choices.append(ev.OperatorRingTimeout(now=now, call_id=cid, operator_id=oid))
            choices.append(ev.OperatorUnreachable(now=now, call_id=cid, operator_id=oid, reason="failed"))
            choices.append(ev.OperatorAnswered(now=now, call_id=cid, operator_id=oid))
            choices.append(ev.OperatorReachable(now=now, operator_id=oid))
        if not_paused:
            choices.append(ev.OperatorResumed(now=now, operator_id=not_paused[pick % len(not_paused)]))
        if self.offers:
            cid = sorted(self.offers)[pick % len(self.offers)]
            choices.append(ev.IvrCompleted(now=now, call_id=cid, skill="info", language="ca"))
        if not choices:
            return
        self.stale(choices[pick % len(choices)])

    def stale(self, event: ev.Event) -> None:
        """A fact that no longer fits: no commands, nothing changed, counted once."""
        key = (type(event).__name__,)
        before = self.fingerprint(), sum(n for k, n in self.engine.stale_facts.items() if k[:1] == key)
        assert self.engine.handle(event) == [], event
        assert self.fingerprint() == before[0], event
        assert sum(n for k, n in self.engine.stale_facts.items() if k[:1] == key) == before[1] + 1

    def fingerprint(self) -> object:
        engine = self.engine
        return (
            sorted(
                (cid, c.state, c.operator_id, c.queue_key, c.answered_at, c.ended_at)
                for cid, c in engine.calls.items()
            ),
            sorted(
                (
                    oid,
                    o.state,
                    o.call_id,
                    o.pause_reason,
                    o.fault_reason,
                    o.retry_at,
                    o.wrap_up_until,
                    o.idle_since,
                )
                for oid, o in engine.operators.items()
            ),
            [(s, lang, engine.waiting(s, lang)) for s in SKILLS for lang in LANGUAGES],
            engine.next_deadline(),
            len(engine.completed),
        )


# --- strategies ---------------------------------------------------------------------------

operator_specs = st.lists(
    st.tuples(
        st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 3), min_size=1),
        st.lists(st.sampled_from(LANGUAGES), min_size=1, max_size=2, unique=True),
    ),
    min_size=1,
    max_size=5,
)

# Weighted by repetition: arrivals, answers and call ends are the common moves.
KINDS = (
    ["arrive", "answer", "end", "hangup"] * 3
    + ["resume", "ring_timeout", "unreachable"] * 2
    + ["ivr", "pause", "logout", "login", "stale", "wait", "reachable"]
)

# (kind, pick: which call/operator/skill the move applies to, seconds before it)
move = st.tuples(st.sampled_from(KINDS), st.integers(0, 255), st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.5]))
# Hypothesis's lists average about 5 elements; the second branch gives long busy days, and a
# failure still shrinks to a short list through the first (one_of shrinks towards it).
moves = st.one_of(st.lists(move, max_size=100), st.lists(move, min_size=60, max_size=150))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=operator_specs,
    lines=st.integers(1, 12),
    wrap_up=st.sampled_from([0.0, 0.5, 3.0]),
    # (after so many seconds of waiting, operators up to this level may take a call)
    relaxation=st.sampled_from([(), ((0.0, 1), (2.0, 2)), ((0.0, 1), (1.5, 2), (6.0, 3))]),
    offer_timeout=st.sampled_from([None, None, 4.0]),
    steps=moves,
)
def test_random_event_sequences_keep_the_invariants(
    specs: list[tuple[dict[str, int], list[str]]],
    lines: int,
    wrap_up: float,
    relaxation: tuple[tuple[float, int], ...],
    offer_timeout: float | None,
    steps: list[tuple[str, int, float]],
) -> None:
    engine = Engine(
        lines=lines,
        wrap_up=wrap_up,
        relaxation=relaxation,
        offer_timeout=offer_timeout,
        fault_retry=1.0,
        fault_retry_max=4.0,
    )
    harness = Harness(
        engine,
        {f"op{i}": (tuple(skills.items()), tuple(langs)) for i, (skills, langs) in enumerate(specs)},
    )
    for oid in harness.specs:
        harness.login(oid)
    for kind, pick, dt in steps:
        harness.advance(dt * 8 if kind == "wait" else dt)
        if kind != "wait":
            harness.step(kind, pick)
    # Let every operator finish: answer what rings, end every conversation, resume everyone,
    # and run out the clock. Then every call still waiting must be on offer or the only
    # operators who could take it are not logged in.
    for _ in range(10 * (len(harness.arrived) + len(specs)) + 10):
        if harness.offers:
            harness.step("answer", 0)
        elif harness.live(CallState.TALKING):
            harness.step("end", 0)
        elif harness.operators_in(OperatorState.PAUSED):
            harness.step("resume", 0)
        elif harness.operators_in(OperatorState.LOGGED_OUT):
            harness.step("login", 0)
        elif engine.next_deadline() is not None:
            harness.advance(wrap_up + 1)
        else:
            break
    else:
        raise AssertionError("the centre never settled")
    assert not harness.offers and not harness.live(CallState.TALKING, CallState.OFFERED)
    assert all(o.state is OperatorState.AVAILABLE for o in engine.operators.values())
    # With everyone available and idle, and every relaxation step passed, a call left waiting
    # has nobody who could serve it.
    for cid in harness.live(CallState.QUEUED):
        w = Waiting.of(engine.calls[cid])
        assert not any(
            w.skill in o.skills
            and w.language in o.languages
            and o.skills[w.skill] <= harness.reach(w, harness.now)
            for o in engine.operators.values()
        )


# --- Little's law ---------------------------------------------------------------------------


def test_littles_law_on_a_long_seeded_run() -> None:
    """L = λW: the engine's time-averaged queue length matches arrival rate × its own waits.

    L is integrated from what the engine reports while it runs (`waiting()` per queue, plus the
    calls it has offered that still ring); W comes from the `wait` of the calls it completes.
    Over a long run the two agree up to end effects, whatever the traffic: what is checked is
    that the engine's queues and its recorded waits tell the same story (a call left in a
    queue after hanging up, a wait counted from arrival instead of from joining the queue, or
    a drifting queue count would each break it).
    """
    rng = random.Random(10_010)
    n_calls = 20_000
    n_operators = 12
    mean_talk, wrap_up, ring_delay = 180.0, 10.0, 3.0
    # About 90 % occupancy: queues form and drain all day, with a real spread of waits.
    rate = 0.9 * n_operators / (mean_talk + wrap_up + ring_delay)
    engine = Engine(lines=80, wrap_up=wrap_up)
    for i in range(n_operators):
        # Everyone takes every queue, at levels that differ, so routing has choices to make.
        levels = {s: rng.randint(1, 3) for s in SKILLS[:2]}
        engine.handle(
            ev.OperatorLoggedIn(
                now=0.0, operator_id=f"op{i}", skills=tuple(levels.items()), languages=LANGUAGES
            )
        )

    heap: list[tuple[float, int, str, str]] = []
    seq = 0

    def schedule(t: float, what: str, who: str) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(heap, (t, seq, what, who))

    offers: dict[str, str] = {}
    ticks: set[float] = set()  # deadlines a Tick is already scheduled for
    area = 0.0  # ∫ (calls waiting or ringing) dt over [0, last arrival]
    last_t = 0.0
    arrivals = 0
    end_of_arrivals = math.inf
    schedule(rng.expovariate(rate), "arrive", "")

    def queue_length() -> int:
        return sum(engine.waiting(s, lang) for s in SKILLS[:2] for lang in LANGUAGES) + len(offers)

    def run(cmds: list[Command], now: float) -> None:
        for cmd in cmds:
            if isinstance(cmd, ConnectCall):
                offers[cmd.call_id] = cmd.operator_id
                no_answer = rng.random() < 0.03
                schedule(
                    now + (15.0 if no_answer else ring_delay),
                    "noanswer" if no_answer else "answer",
                    cmd.call_id,
                )
            elif isinstance(cmd, CancelOffer):
                del offers[cmd.call_id]

    while heap:
        now, _, what, who = heapq.heappop(heap)
        if last_t < end_of_arrivals:
            area += queue_length() * (min(now, end_of_arrivals) - last_t)
        last_t = now
        if what == "arrive":
            arrivals += 1
            cid = f"c{arrivals}"
            if not any(
                isinstance(c, RejectBusy) for c in engine.handle(ev.CallArrived(now=now, call_id=cid))
            ):
                schedule(now + rng.uniform(5, 25), "ivr", cid)
            if arrivals < n_calls:
                schedule(now + rng.expovariate(rate), "arrive", "")
            else:
                end_of_arrivals = now
        elif what == "ivr":
            if who in engine.calls:  # nobody hangs up in this IVR: always true
                cid = who
                skill, language = rng.choice(SKILLS[:2]), rng.choice(LANGUAGES)
                priority = 1 if rng.random() < 0.1 else 0
                run(
                    engine.handle(
                        ev.IvrCompleted(
                            now=now, call_id=cid, skill=skill, language=language, priority=priority
                        )
                    ),
                    now,
                )
                schedule(now + rng.expovariate(1 / 400), "patience", cid)
        elif what == "patience":
            call = engine.calls.get(who)
            if call is not None and call.state in (CallState.QUEUED, CallState.OFFERED):
                run(engine.handle(ev.CallerHungUp(now=now, call_id=who)), now)
        elif what in ("answer", "noanswer"):
            oid = offers.pop(who, None)
            if oid is None:
                continue  # the caller left while it rang (CancelOffer)
            if what == "answer":
                run(engine.handle(ev.OperatorAnswered(now=now, call_id=who, operator_id=oid)), now)
                schedule(now + rng.expovariate(1 / mean_talk), "end", who)
            else:
                run(engine.handle(ev.OperatorRingTimeout(now=now, call_id=who, operator_id=oid)), now)
                schedule(now + 30.0, "resume", oid)
        elif what == "end":
            run(engine.handle(ev.CallEnded(now=now, call_id=who)), now)
        elif what == "resume":
            run(engine.handle(ev.OperatorResumed(now=now, operator_id=who)), now)
        elif what == "tick":
            ticks.discard(now)
            run(engine.handle(ev.Tick(now=now)), now)
            later = engine.next_deadline()
            assert later is None or later > now, "a Tick left a due timer unfired"
        deadline = engine.next_deadline()
        if deadline is not None and deadline not in ticks:
            ticks.add(deadline)
            schedule(deadline, "tick", "")

    done = engine.drain_completed()
    assert len(done) == n_calls and not engine.calls
    queued = [c for c in done if c.queued_at is not None and c.queued_at <= end_of_arrivals]
    waits = [c.wait for c in queued]
    assert all(w is not None and w >= 0 for w in waits)
    lam = len(queued) / end_of_arrivals
    mean_wait = sum(w for w in waits if w is not None) / len(waits)
    mean_in_queue = area / end_of_arrivals
    # The run must actually queue, or L = λW would hold trivially as 0 = 0.
    assert mean_wait > 10 and sum(1 for w in waits if w and w > ring_delay) > 0.3 * len(waits)
    assert mean_in_queue == pytest.approx(lam * mean_wait, rel=0.05)
