# Properties of the core under random event sequences. Rules: a small driver plays the part
# of Asterisk, the operators, the citizens and the callback store (it answers or lets ring
# each ConnectCall and DialCallback, hangs up random live calls, accepts or declines callback
# offers, commits or fails their storage, answers or misses the citizen's phone, sends Ticks
# at the exact deadlines the engine asks for) and, after every event, checks the invariants
# the design promises: no operator on two calls, no call or callback lost or duplicated, no
# free operator idle while a call or callback they could take waits, FIFO within priority
# (callbacks at their caller's place; or in time less a head start, where priorities are head
# starts), operators chosen by (level, idle since, login order),
# a stale fact changes nothing (and is counted), a system fault never pauses an operator and
# is retried within its bounded backoff, a callback promised only once stored, dialled
# operator first with at most one live attempt, its attempts bounded, never beyond the lines.
# A supervisor's facts are in the streams too: skills changed live (a free operator matched
# at once, one on a call keeping it), waiting calls moved (keeping their key, so their place
# in time), wrap-ups ended early; and the consoles' read model (waiting_calls, call_view)
# agrees with the engine after every event.
# Expectations come from the driver's own records of what it sent and was told, never from
# the engine's inner bookkeeping. A seeded queueing run checks Little's law on the engine's
# own waits and queue lengths. Core bugs the driver found are kept at the end as minimal
# regression tests, each the shortest sequence that showed it.
from __future__ import annotations

import heapq
import math
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st

from contactcenter.core import Engine
from contactcenter.core import events as ev
from contactcenter.core.callbacks import Callback, CallbackPolicy
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
    RefuseCallback,
    RejectBusy,
    UpdateCallback,
)
from contactcenter.core.engine import Call
from contactcenter.core.lifecycle import (
    FINAL_CALLBACK_STATES,
    CallbackState,
    CallOutcome,
    CallState,
    OperatorState,
    OperatorTrigger,
)

SKILLS = ("info", "tramits", "tributs")
LANGUAGES = ("ca", "es")
ON_CALL = (OperatorState.RESERVED, OperatorState.TALKING)
# Where an operator whose ring got no outcome in time ends up (or what they asked for meanwhile).
NOT_REACHED = (OperatorState.UNREACHABLE, OperatorState.PAUSED, OperatorState.LOGGED_OUT)
B = CallbackState
MERGE_IN_PROGRESS = "request for this number in progress"
NUMBERS = ("n0", "n1", "n2")  # a small pool of callers' numbers, so duplicates merge
# Phases of a callback's dial, as the driver saw them: its operator's phone rings, the
# citizen's phone rings (the operator on the line), the two talk. Each holds a line.
DIAL_STATES = {"operator": B.RINGING_OPERATOR, "citizen": B.RINGING_CITIZEN, "talking": B.TALKING}

# --- the driver ---------------------------------------------------------------------------


class Waiting(NamedTuple):
    call_id: str  # a call's, or a callback's id
    skill: str
    language: str
    key: tuple[int, float, int]
    queued_at: float
    priority: int

    @property
    def queue(self) -> tuple[str, str]:
        return (self.skill, self.language)

    @staticmethod
    def of(call: Call) -> Waiting:
        assert call.skill and call.language and call.queue_key and call.queued_at is not None
        return Waiting(call.call_id, call.skill, call.language, call.queue_key, call.queued_at, call.priority)

    @staticmethod
    def of_callback(cb: Callback) -> Waiting:
        return Waiting(cb.callback_id, cb.skill, cb.language, cb.queue_key, cb.queued_at, cb.priority)


@dataclass
class CallbackRecord:
    """What the driver knows of a callback: what it asked for and what it was told."""

    call_id: str | None  # the call it came from (None: restored or booked)
    skill: str
    language: str
    priority: int
    queued_at: float
    key: tuple[int, float, int] | None  # its call's queue key (None: restored)
    number_key: str
    expires_at: float
    stored: bool = False  # the store committed it (CallbackStored, or restored)
    store_failed: bool = False
    attempts: int = 0  # calls to the citizen (DialCitizen) so far
    outcome: str | None = None  # of the last call to the citizen
    citizen_answered: bool = False
    served_live: bool = False  # its caller reached an operator while it was being stored
    booked: bool = False  # booked for a time ("cita previa"): not in the cap on offers


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
    # -- calls, as the driver saw them --
    queued: dict[str, Waiting] = field(default_factory=dict)  # as it was when it joined its queue
    blocked: set[str] = field(default_factory=set)  # refused at arrival (RejectBusy)
    bridged: set[str] = field(default_factory=set)  # answered by an operator (BridgeCall)
    # -- callbacks --
    cb_offered: set[str] = field(default_factory=set)  # calls offered a callback
    declined: set[str] = field(default_factory=set)
    asked: dict[str, str] = field(default_factory=dict)  # call -> the callback it holds a request in
    records: dict[str, CallbackRecord] = field(default_factory=dict)  # every callback opened
    drained: Counter[str] = field(default_factory=Counter)  # from drain_completed_callbacks
    dials: dict[str, tuple[str, str]] = field(default_factory=dict)  # callback -> (operator, phase)
    final_updates: Counter[str] = field(default_factory=Counter)  # UpdateCallback to a final state
    next_cb: int = 0
    callbacks_served: int = 0  # completed ones (for the test's own coverage figures)

    @property
    def policy(self) -> CallbackPolicy:
        policy = self.engine.callback_policy
        assert policy is not None
        return policy

    def open_records(self) -> dict[str, CallbackRecord]:
        """The callbacks the driver knows to be open: opened and not yet drained."""
        return {cid: r for cid, r in self.records.items() if not self.drained[cid]}

    def waiting_now(self) -> dict[str, Waiting]:
        """Queued calls and pending callbacks, as the engine holds them."""
        engine = self.engine
        out = {cid: Waiting.of(c) for cid, c in engine.calls.items() if c.state is CallState.QUEUED}
        out.update(
            {cid: Waiting.of_callback(cb) for cid, cb in engine.callbacks.items() if cb.state is B.PENDING}
        )
        return out

    # -- applying events and checking what came back --

    def apply(self, event: ev.Event) -> list[Command]:
        engine = self.engine
        before_waiting = self.waiting_now()
        before_pool = {
            oid: (dict(o.skills), o.languages, o.idle_since, o.seq)
            for oid, o in engine.operators.items()
            if o.state is OperatorState.AVAILABLE
        }
        before_callbacks = {cid: (cb.state, cb.next_attempt_at) for cid, cb in engine.callbacks.items()}
        lines_in_use = len(engine.calls) + len(self.dials)  # the driver's own count
        self.before(event)
        cmds = engine.handle(event)
        self.check_commands(event, cmds, before_waiting, before_pool, before_callbacks, lines_in_use)
        for call in engine.drain_completed():
            assert call.state is CallState.ENDED and call.outcome is not None
            self.completed[call.call_id] += 1
            assert call.outcome is self.expected_outcome(call.call_id), (call.call_id, call.outcome)
        for cb in engine.drain_completed_callbacks():
            self.check_drained(cb, event.now)
        self.check_invariants()
        return cmds

    def expected_outcome(self, cid: str) -> CallOutcome:
        if cid in self.blocked:
            return CallOutcome.BLOCKED
        if cid in self.bridged:
            return CallOutcome.ANSWERED
        if cid in self.asked:
            # Their request holds (or will hold) their place: not an abandon.
            return CallOutcome.CALLBACK
        return CallOutcome.ABANDONED

    def before(self, event: ev.Event) -> None:
        """What the driver learns by sending `event` (a fact it reports), before the reply."""
        if isinstance(event, ev.CallbackStored):
            rec = self.records[event.callback_id]
            rec.stored = True
            waiting = rec.call_id is not None and rec.call_id not in self.completed
            if waiting and not rec.served_live and event.now >= rec.expires_at:
                assert rec.call_id is not None
                del self.asked[rec.call_id]  # stored too late to be kept: a live caller again
        elif isinstance(event, ev.CallbackStoreFailed):
            rec = self.records[event.callback_id]
            rec.store_failed = True
            if rec.call_id is not None and self.asked.get(rec.call_id) == event.callback_id:
                del self.asked[rec.call_id]  # no promise: they are a live caller again
        elif isinstance(event, ev.CitizenAnswered):
            rec = self.records[event.callback_id]
            rec.outcome, rec.citizen_answered = "answered", True
        elif isinstance(event, ev.CitizenNotReached):
            self.records[event.callback_id].outcome = event.outcome
        elif isinstance(event, ev.CallEnded | ev.CallerHungUp):
            dial = self.dials.get(event.call_id)
            if dial is not None and dial[1] == "citizen":
                self.records[event.call_id].outcome = "operator_left"
        elif isinstance(event, ev.OperatorRingTimeout | ev.OperatorUnreachable):
            if event.call_id in self.dials:
                assert self.dials.pop(event.call_id) == (event.operator_id, "operator")
        elif isinstance(event, ev.CallbackRestored):
            assert event.callback_id not in self.records
            self.records[event.callback_id] = CallbackRecord(
                call_id=None,
                skill=event.skill,
                language=event.language,
                priority=event.priority,
                queued_at=event.queued_at,
                key=None,
                number_key=event.number_key,
                expires_at=event.expires_at,
                stored=True,
                attempts=event.attempts,
                booked=event.booked,
            )

    def reach(self, w: Waiting, now: float) -> float:
        """The highest operator level a call may go to by `now` (worked out independently):
        its relaxation runs from its place in time (when it queued, less its head start)."""
        steps = self.engine.relaxation
        if not steps:
            return math.inf
        return max(level for after, level in steps if now - w.key[1] >= after)

    def place(self, priority: int, queued_at: float) -> tuple[int, float]:
        """Where a call of `priority` queued at `queued_at` stands, as the centre was
        configured: strict classes (its class, its time), or one class with head starts."""
        head_start = dict(self.engine.priority_head_start)
        if head_start:
            return (0, queued_at - head_start.get(priority, 0.0))
        return (-priority, queued_at)

    def check_commands(
        self,
        event: ev.Event,
        cmds: list[Command],
        waiting: dict[str, Waiting],
        pool: dict[str, tuple[dict[str, int], tuple[str, ...], float, int]],
        callbacks_before: dict[str, tuple[CallbackState, float | None]],
        lines_in_use: int,
    ) -> None:
        engine, now = self.engine, event.now
        if isinstance(event, ev.OperatorSkillsChanged):
            # A free operator re-indexed by their new skills: as one freed by this event (the
            # pool's record of them is by the old ones).
            pool.pop(event.operator_id, None)
        if isinstance(event, ev.CallArrived):
            busy = lines_in_use >= engine.lines
            assert cmds == ([RejectBusy(call_id=event.call_id)] if busy else [])
            if busy:
                self.blocked.add(event.call_id)
            return
        assert not any(isinstance(c, RejectBusy) for c in cmds)

        # What could be routed by this event: calls and callbacks that were waiting, plus
        # those the event put in a queue (`newly`). Replayed command by command.
        newly: set[str] = set()
        updated = {c.call_id for c in cmds if isinstance(c, UpdateCallback)}
        # Callbacks that stepped out of their queue for want of a free line: scheduled by this
        # event without a word to the store (a matter of seconds).
        stepped_out = {
            cid
            for cid, cb in engine.callbacks.items()
            if cb.state is B.SCHEDULED
            and callbacks_before.get(cid) != (B.SCHEDULED, cb.next_attempt_at)
            and cid not in updated
            and not (isinstance(event, ev.CallbackRestored) and event.callback_id == cid)
        }
        for cid in stepped_out:
            assert engine.callbacks[cid].next_attempt_at == now + self.policy.line_wait_s, cid
            if not isinstance(event, ev.Tick):
                # (Within one event, lines are only ever taken after the first are freed; a
                # Tick may free and take them in turns.)
                in_use = len(engine.calls) + self.lines_held()
                assert in_use == engine.lines, ("stepped out with a line free", cid)
            waiting.pop(cid, None)

        def enqueue(cid: str, w: Waiting) -> None:
            newly.add(cid)
            if cid not in stepped_out:
                waiting[cid] = w

        cid_of_event = getattr(event, "call_id", None)
        if isinstance(event, ev.IvrCompleted):  # its place: (priority, when it joined, arrival order)
            call = engine.calls[event.call_id]
            assert call.queue_key is not None and call.queue_key[:2] == self.place(event.priority, now)
            self.queued[event.call_id] = Waiting.of(call)
        if isinstance(event, ev.IvrCompleted | ev.OperatorRingTimeout | ev.OperatorUnreachable):
            assert cid_of_event is not None
            if cid_of_event in engine.calls:
                enqueue(cid_of_event, Waiting.of(engine.calls[cid_of_event]))
            elif (cb := engine.callbacks.get(cid_of_event)) is not None:
                enqueue(cid_of_event, Waiting.of_callback(cb))  # its operator not reached: back
        if isinstance(event, ev.CallerHungUp):
            waiting.pop(event.call_id, None)
        if isinstance(event, ev.CallMoved) and event.call_id in engine.calls:
            enqueue(event.call_id, Waiting.of(engine.calls[event.call_id]))  # in its new queue
        if isinstance(event, ev.CallbackStored | ev.CallbackRestored):
            cb = engine.callbacks.get(event.callback_id)
            if cb is not None and not (
                isinstance(event, ev.CallbackRestored)
                and event.next_attempt_at is not None
                and event.next_attempt_at > now
            ):
                enqueue(cb.callback_id, Waiting.of_callback(cb))
        if isinstance(event, ev.Tick):  # scheduled callbacks due now go back to their queues
            newly |= {
                cid
                for cid, (state, at) in callbacks_before.items()
                if state is B.SCHEDULED and at is not None and at <= now
            }

        for cmd in cmds:
            if isinstance(cmd, CancelOffer):
                if cmd.call_id in self.offers:
                    assert self.offers.pop(cmd.call_id) == cmd.operator_id
                    if isinstance(event, ev.Tick):
                        # The offer went without an outcome for too long: the operator counts
                        # as unreachable and the call is back in its queue (and may be
                        # re-offered).
                        assert engine.offer_timeout is not None
                        assert engine.operators[cmd.operator_id].state in NOT_REACHED
                        enqueue(cmd.call_id, Waiting.of(engine.calls[cmd.call_id]))
                    else:
                        assert isinstance(event, ev.CallerHungUp) and cmd.call_id == event.call_id
                    continue
                # A callback's ring (its operator's, or the citizen's) had no outcome in time.
                assert isinstance(event, ev.Tick) and engine.offer_timeout is not None
                operator_id, phase = self.dials[cmd.call_id]
                assert operator_id == cmd.operator_id and phase in ("operator", "citizen")
                if phase == "operator":  # not the operator's doing; back at its place
                    del self.dials[cmd.call_id]
                    assert engine.operators[cmd.operator_id].state in NOT_REACHED
                    if (cb := engine.callbacks.get(cmd.call_id)) is not None:
                        enqueue(cmd.call_id, Waiting.of_callback(cb))
                else:  # the citizen's call is given up, counted as failed (UpdateCallback next)
                    self.records[cmd.call_id].outcome = "failed"
                continue
            if isinstance(cmd, BridgeCall):
                assert isinstance(event, ev.OperatorAnswered) and cmds == [
                    BridgeCall(call_id=event.call_id, operator_id=event.operator_id)
                ]
                self.bridged.add(cmd.call_id)
                continue
            if isinstance(cmd, OfferCallback):
                self.check_offer(event, cmd)
                continue
            if isinstance(cmd, PersistCallback):
                assert isinstance(event, ev.CallbackAccepted)
                assert (cmd.call_id, cmd.callback_id) == (event.call_id, event.callback_id)
                assert cmd.callback_id not in self.records, "a callback id opened twice"
                w = self.queued[cmd.call_id]
                priority = w.priority
                assert (cmd.skill, cmd.language, cmd.priority, cmd.queued_at) == (
                    w.skill,
                    w.language,
                    priority,
                    w.queued_at,
                )
                assert cmd.expires_at == now + self.policy.expire_after_s
                self.records[cmd.callback_id] = CallbackRecord(
                    call_id=cmd.call_id,
                    skill=w.skill,
                    language=w.language,
                    priority=priority,
                    queued_at=w.queued_at,
                    key=w.key,
                    number_key=event.number_key,
                    expires_at=cmd.expires_at,
                )
                self.asked[cmd.call_id] = cmd.callback_id
                continue
            if isinstance(cmd, ConfirmCallback):
                rec = self.records[cmd.callback_id]
                assert rec.stored, "a callback promised before the store committed it"
                if cmd.merged:
                    assert isinstance(event, ev.CallbackAccepted) and event.call_id == cmd.call_id
                    self.asked[cmd.call_id] = cmd.callback_id
                else:
                    assert isinstance(event, ev.CallbackStored) and event.callback_id == cmd.callback_id
                    assert rec.call_id == cmd.call_id and self.asked[cmd.call_id] == cmd.callback_id
                waiting.pop(cmd.call_id)  # the caller leaves the queue; the callback holds the place
                continue
            if isinstance(cmd, RefuseCallback):
                if isinstance(event, ev.CallbackAccepted):  # a merge into a request not stored
                    assert cmd == RefuseCallback(call_id=event.call_id, reason=MERGE_IN_PROGRESS)
                    continue
                if isinstance(event, ev.CallbackStored):  # stored after its expiry
                    assert cmd.reason == "expired" and self.records[event.callback_id].call_id == cmd.call_id
                    continue
                assert isinstance(event, ev.CallbackStoreFailed) and cmd.reason == event.reason
                assert self.records[event.callback_id].call_id == cmd.call_id
                continue
            if isinstance(cmd, UpdateCallback):
                self.check_update(event, cmd)
                waiting.pop(cmd.call_id, None)
                continue
            if isinstance(cmd, DialCitizen):
                # Operator first: the citizen is called only once their operator answered.
                assert isinstance(event, ev.OperatorAnswered) and cmds == [cmd]
                assert (cmd.call_id, cmd.operator_id) == (event.call_id, event.operator_id)
                assert self.dials[cmd.call_id] == (cmd.operator_id, "operator")
                rec = self.records[cmd.call_id]
                assert cmd.attempt == rec.attempts + 1 <= self.policy.attempts, (cmd, rec.attempts)
                rec.attempts = cmd.attempt
                self.dials[cmd.call_id] = (cmd.operator_id, "citizen")
                continue
            assert isinstance(cmd, ConnectCall | DialCallback), cmd
            if isinstance(cmd, ConnectCall):
                assert cmd.call_id not in self.offers, "a call offered twice at once"
                self.offers[cmd.call_id] = cmd.operator_id
                self.offered_total += 1
                if (requested := self.asked.pop(cmd.call_id, None)) is not None:
                    # Served live while their request is being stored: it will be cancelled.
                    assert not self.records[requested].stored
                    self.records[requested].served_live = True
            else:
                # At most one live attempt per callback; only a stored one, before its expiry.
                assert cmd.call_id not in self.dials, "a callback dialled while its last dial lives"
                rec = self.records[cmd.call_id]
                assert rec.stored and not self.drained[cmd.call_id]
                assert now <= rec.expires_at, "a callback dialled after its expiry"
                self.dials[cmd.call_id] = (cmd.operator_id, "operator")
            assert cmd.call_id in waiting or cmd.call_id in newly, "routed what was not waiting"
            w = waiting.pop(cmd.call_id, None)
            if w is None:
                w = Waiting.of_callback(engine.callbacks[cmd.call_id])  # (due in this Tick)
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
                    assert cmd.call_id in newly
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

    def lines_held(self) -> int:
        """Lines the engine's callbacks hold by their states (dialled, ringing or talking)."""
        return sum(1 for cb in self.engine.callbacks.values() if cb.state in DIAL_STATES.values())

    def check_offer(self, event: ev.Event, cmd: OfferCallback) -> None:
        """A callback is offered once, to a caller who has to wait, while the skill's open
        callbacks (bookings aside) are under the cap: when they join, if the wait (or the queue) is long; else
        once they have waited the threshold."""
        engine, policy = self.engine, self.policy
        assert cmd.call_id not in self.cb_offered, "offered a callback twice"
        w = self.queued[cmd.call_id]
        call = engine.calls[cmd.call_id]
        assert call.state is CallState.QUEUED and cmd.call_id in engine.queues[w.queue]
        assert cmd.call_id not in self.asked
        open_for_skill = sum(1 for r in self.open_records().values() if r.skill == w.skill and not r.booked)
        assert open_for_skill < policy.max_pending
        assert cmd.next_opening is None  # (no opening hours)
        threshold = policy.offer_after_ewt_by_skill.get(w.skill, policy.offer_after_ewt_s)
        if isinstance(event, ev.IvrCompleted):
            assert cmd.call_id == event.call_id
            assert call.ewt_at_entry is not None and call.position_at_entry is not None
            assert cmd.ewt_s == call.ewt_at_entry
            limit = policy.offer_queue_length
            ahead = call.position_at_entry - 1
            assert cmd.ewt_s > threshold or (limit is not None and ahead > limit)
        else:  # not worth it by the estimate when they joined, but they waited that long
            assert isinstance(event, ev.Tick) and event.now == w.queued_at + threshold, (event, w)
        self.cb_offered.add(cmd.call_id)

    def check_update(self, event: ev.Event, cmd: UpdateCallback) -> None:
        """What is written to the store: the attempts and outcome the driver saw, a retry
        after its delay, a final state for a reason the driver can name."""
        policy, now = self.policy, event.now
        cid = cmd.call_id
        rec = self.records[cid]
        assert (cmd.attempts, cmd.outcome) == (rec.attempts, rec.outcome), (cmd, rec)
        if cmd.state is B.TALKING:
            assert isinstance(event, ev.CitizenAnswered) and event.callback_id == cid
            assert self.dials[cid][1] == "citizen"
            self.dials[cid] = (self.dials[cid][0], "talking")
            return
        phase = self.dials.pop(cid, (None, None))[1]
        missed = phase == "citizen"  # (the citizen's call just ended unanswered)
        if cmd.state is B.SCHEDULED:  # the citizen was not reached: a retry after the delay
            assert missed and rec.attempts < policy.attempts
            assert cmd.next_attempt_at == now + policy.retry_delay_s < rec.expires_at
            return
        assert cmd.state in FINAL_CALLBACK_STATES and cmd.next_attempt_at is None, cmd
        assert rec.stored, "a final state written for a callback never stored"
        self.final_updates[cid] += 1
        if cmd.state is B.COMPLETED:
            assert phase == "talking" and rec.citizen_answered
        elif cmd.state is B.FAILED:
            assert missed and rec.attempts == policy.attempts
        elif cmd.state is B.EXPIRED:
            if phase is None and not missed:  # its expiry timer, or restored past it
                assert now >= rec.expires_at
            else:  # not reached, and a retry would come after its expiry
                assert rec.attempts < policy.attempts and now + policy.retry_delay_s >= rec.expires_at
        else:
            assert cmd.state is B.CANCELLED and phase is None
            if isinstance(event, ev.CallbackStored):
                # Stored after its caller reached an operator live: no callback for them.
                assert rec.served_live
            else:
                assert isinstance(event, ev.CallbackCancelled) and event.callback_id == cid

    def check_drained(self, cb: Callback, now: float) -> None:
        """Each callback opened ends once, in a final state, with its final state stored."""
        cid = cb.callback_id
        assert cid in self.records, "a callback the driver never saw opened"
        assert self.drained[cid] == 0, "a callback drained twice"
        self.drained[cid] += 1
        rec = self.records[cid]
        assert cb.state in FINAL_CALLBACK_STATES and cb.ended_at == now
        assert cid not in self.engine.callbacks and cid not in self.dials
        assert cb.attempts == rec.attempts
        if rec.stored:
            assert self.final_updates[cid] == 1
        else:  # never stored: nothing to update
            assert rec.store_failed and cb.state is B.CANCELLED and self.final_updates[cid] == 0
        if cb.state is B.COMPLETED:
            assert rec.citizen_answered and cb.answered_at is not None
            self.callbacks_served += 1

    def check_invariants(self) -> None:
        engine = self.engine
        calls, ops = engine.calls, engine.operators
        callbacks = engine.callbacks
        # Lines: calls in the system and callbacks being dialled or talking.
        assert len(calls) + len(self.dials) <= engine.lines
        # No loss, no duplicate: each call that arrived is live or completed exactly once.
        live = set(calls)
        assert live | set(self.completed) == self.arrived
        assert not live & set(self.completed)
        assert all(n == 1 for n in self.completed.values())
        # ... and each callback opened is open or drained exactly once.
        opened, drained = set(self.records), set(self.drained)
        assert set(callbacks) | drained == opened
        assert not set(callbacks) & drained
        assert all(n == 1 for n in self.drained.values())
        # Operators and calls (or callbacks) point at each other, one to one.
        for oid, op in ops.items():
            if op.state in (OperatorState.RESERVED, OperatorState.TALKING):
                assert op.call_id is not None
                if op.call_id in calls:
                    call = calls[op.call_id]
                    assert call.operator_id == oid
                    want = CallState.OFFERED if op.state is OperatorState.RESERVED else CallState.TALKING
                    assert call.state is want
                else:
                    cb = callbacks[op.call_id]
                    assert cb.operator_id == oid
                    if op.state is OperatorState.RESERVED:
                        assert cb.state is B.RINGING_OPERATOR
                    else:
                        assert cb.state in (B.RINGING_CITIZEN, B.TALKING)
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
            # The callback a caller asked for (or was merged into) is the one the driver saw.
            assert call.callback_id == self.asked.get(cid), cid
            if cid in self.asked and call.state is not CallState.CALLBACK_CONFIRMED:
                # Their request is still being stored: it is open, and not yet promised.
                assert callbacks[self.asked[cid]].state is B.REQUESTED, cid
        # The driver's view of outstanding offers and dials is exactly the engine's.
        assert self.offers == {cid: c.operator_id for cid, c in calls.items() if c.state is CallState.OFFERED}
        assert self.dials == {
            cid: (cb.operator_id, phase)
            for cid, cb in callbacks.items()
            for phase, state in DIAL_STATES.items()
            if cb.state is state
        }
        # Queues hold exactly the queued calls and the pending callbacks, a callback under
        # its caller's key (so at their place).
        members: dict[tuple[str, str], set[str]] = {}
        for cid, call in calls.items():
            if call.state is CallState.QUEUED:
                assert call.skill is not None and call.language is not None
                members.setdefault((call.skill, call.language), set()).add(cid)
        for cid, cb in callbacks.items():
            rec = self.records[cid]
            assert cb.state not in FINAL_CALLBACK_STATES
            assert (cb.state is B.REQUESTED) == (not rec.stored), cid
            assert (cb.operator_id is None) == (cb.state not in DIAL_STATES.values()), cid
            if cb.state is B.PENDING:
                members.setdefault((cb.skill, cb.language), set()).add(cid)
                key = engine.queues[(cb.skill, cb.language)].key_of(cid)
                if rec.key is not None:
                    assert key == rec.key, (cid, key, rec.key)
                else:  # restored: its place is (priority, queued_at) as the store has it
                    assert key[:2] == self.place(rec.priority, rec.queued_at)
            if cb.state is B.SCHEDULED:
                # Out of its queue until a time the driver has not reached (it ticks on time).
                assert cb.next_attempt_at is not None and cb.next_attempt_at > self.now
                deadline = engine.next_deadline()
                assert deadline is not None and deadline <= cb.next_attempt_at
            if cb.state in (B.PENDING, B.SCHEDULED):
                assert cb.expires_at > self.now, ("open after its expiry", cid)
            # A citizen served live is never called back as well.
            if rec.call_id is not None and rec.call_id in self.bridged:
                assert cb.state is B.REQUESTED, ("a callback for a caller served live", cid)
        for key in set(members) | set(engine.queues):
            queue = engine.queues.get(key)
            held = set(queue.in_order()) if queue is not None else set()
            assert held == members.get(key, set()), key
            assert engine.waiting(*key) == len(held)
        # The consoles' read model: every call waiting in a queue (callbacks at their place
        # among them), queue by queue in the order they are served; a view of each call and
        # open callback as the engine holds it, and of the call each operator has in hand.
        waiting_by_id = self.waiting_now()
        views = engine.waiting_calls(self.now)
        assert [v.call_id for v in views] == sorted(
            waiting_by_id, key=lambda c: (waiting_by_id[c].queue, waiting_by_id[c].key)
        )
        for v in views:
            w = waiting_by_id[v.call_id]
            assert (v.state, v.skill, v.language, v.queued_at) == (
                CallState.QUEUED,
                w.skill,
                w.language,
                w.queued_at,
            )
            assert (
                v.priority == w.priority
                and v.is_callback == (v.call_id in callbacks)
                and v.operator_id is None
            )
        for cid, call in calls.items():
            seen = engine.call_view(cid)
            assert seen is not None and not seen.is_callback
            assert (
                seen.state,
                seen.skill,
                seen.language,
                seen.operator_id,
                seen.callback_id,
                seen.queued_at,
            ) == (
                call.state,
                call.skill,
                call.language,
                call.operator_id,
                call.callback_id,
                call.queued_at,
            )
        for cid, cb in callbacks.items():
            seen = engine.call_view(cid)
            assert seen is not None and seen.is_callback and seen.callback_state is cb.state
            assert (seen.skill, seen.language, seen.operator_id, seen.queued_at) == (
                cb.skill,
                cb.language,
                cb.operator_id,
                cb.queued_at,
            )
            assert (seen.state is CallState.QUEUED) == (cb.state is B.PENDING)
            if cb.operator_id is not None:
                assert seen.offered_at is not None and seen.offered_at <= self.now
        for oid, op in ops.items():
            if op.call_id is not None:
                seen = engine.call_view(op.call_id)
                assert seen is not None and seen.operator_id == oid
        assert set(engine._callback_offered_at) <= set(callbacks)  # (nothing kept for a final one)
        # Read model: open callbacks by state and by skill, lines in use.
        snap = engine.snapshot(self.now)
        assert dict(snap.callbacks) == dict(Counter(cb.state for cb in callbacks.values()))
        per_skill = Counter(cb.skill for cb in callbacks.values())
        assert all(snap.skill(s).callbacks == per_skill[s] for s in SKILLS)
        assert snap.lines_in_use == len(calls) + len(self.dials)
        # No available operator could take any waiting call or callback they serve that is
        # within their reach (with relaxation, per call: its own wait decides); without
        # relaxation, nothing waits while someone who serves its queue is free.
        waiting_now = list(self.waiting_now().values())
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

    def dialled(self, phase: str) -> list[str]:
        """Callbacks in a phase of their dial, as the driver saw them."""
        return sorted(cid for cid, (_, p) in self.dials.items() if p == phase)

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
            # The operator's phone rang for a call, or (operator first) for a callback.
            if ids := sorted(self.offers) + self.dialled("operator"):
                cid = ids[pick % len(ids)]
                oid = self.offers.pop(cid) if cid in self.offers else self.dials[cid][0]
                if kind == "answer":
                    got = self.apply(ev.OperatorAnswered(now=now, call_id=cid, operator_id=oid))
                    if cid in self.dials:  # then the citizen is called: the next attempt
                        attempt = self.records[cid].attempts
                        assert got == [DialCitizen(call_id=cid, operator_id=oid, attempt=attempt)]
                    else:
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
                cid = ids[pick % len(ids)]
                self.apply(ev.CallerHungUp(now=now, call_id=cid))
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
                self.login(oid, paused="meal" if pick % 4 == 1 else None)
        elif kind == "stale":
            self.stale_fact(pick)
        elif kind == "skills":
            logged_in = [s for s in OperatorState if s is not OperatorState.LOGGED_OUT]
            if ids := self.operators_in(*logged_in):
                self.change_skills(ids[pick % len(ids)], pick)
        elif kind == "move":
            if ids := self.live(CallState.QUEUED):
                self.move_call(ids[pick % len(ids)], pick)
        elif kind == "wrap_done":
            if ids := self.operators_in(OperatorState.WRAP_UP):
                self.end_wrap_up(ids[pick % len(ids)])
        elif kind == "cb_accept":
            self.accept_callback(pick)
        elif kind == "cb_decline":
            if ids := [c for c in self.offered_waiting() if c not in self.declined]:
                cid = ids[pick % len(ids)]
                self.declined.add(cid)
                assert self.apply(ev.CallbackDeclined(now=now, call_id=cid)) == []
        elif kind == "cb_store":
            if ids := sorted(c for c, r in self.open_records().items() if not r.stored):
                self.store(ids[pick % len(ids)], ok=pick % 4 != 0)
        elif kind == "citizen":
            self.citizen(pick)
        elif kind == "cb_end":
            if ids := self.dialled("talking"):
                cid = ids[pick % len(ids)]
                rec = self.records[cid]
                leg = ev.CallEnded if pick % 2 else ev.CallerHungUp
                got = self.apply(leg(now=now, call_id=cid))
                assert got[0] == UpdateCallback(
                    call_id=cid, state=B.COMPLETED, outcome="answered", attempts=rec.attempts
                )
                if pick % 3 == 0:  # the other leg reports the same end
                    self.stale((ev.CallerHungUp if pick % 2 else ev.CallEnded)(now=now, call_id=cid))
        elif kind == "cb_cancel":
            # A supervisor calls off a waiting callback (one the store holds; calling off one
            # being stored is stale, see test_cancelling_a_callback_being_stored_is_stale).
            if ids := sorted(c for c, r in self.open_records().items() if r.stored and c not in self.dials):
                cid = ids[pick % len(ids)]
                rec = self.records[cid]
                got = self.apply(ev.CallbackCancelled(now=now, callback_id=cid))
                assert got == [
                    UpdateCallback(call_id=cid, state=B.CANCELLED, outcome=rec.outcome, attempts=rec.attempts)
                ]
        elif kind == "cb_restore":
            self.restore_callback(pick)
        elif kind == "cb_hangup":
            # Callers who heard the promise hang up: their callback holds their place.
            if ids := self.live(CallState.CALLBACK_CONFIRMED):
                cid = ids[pick % len(ids)]
                assert self.apply(ev.CallerHungUp(now=now, call_id=cid)) == []
        else:
            raise AssertionError(kind)

    def login(self, oid: str, paused: str | None = None) -> None:
        skills, languages = self.specs[oid]
        was = self.engine.operators[oid].state if oid in self.engine.operators else OperatorState.LOGGED_OUT
        self.apply(
            ev.OperatorLoggedIn(
                now=self.now, operator_id=oid, skills=skills, languages=languages, paused=paused
            )
        )
        op = self.engine.operators[oid]
        assert (op.skills, op.languages) == (dict(skills), languages)
        if paused is not None:  # logged in straight into the pause, or paused after the call in hand
            if was is OperatorState.LOGGED_OUT:
                assert (op.state, op.pause_reason) == (OperatorState.PAUSED, paused)
            else:
                assert op.after_call == (OperatorTrigger.PAUSE, paused)

    # -- a supervisor's and an operator's console --

    def change_skills(self, oid: str, pick: int) -> None:
        """A supervisor gives a logged-in operator other skills and levels (sometimes other
        languages too): routing uses them at once; a call in hand goes on."""
        engine = self.engine
        n = 1 + pick % len(SKILLS)
        first = (pick // 3) % len(SKILLS)
        levels = tuple((SKILLS[(first + i) % len(SKILLS)], 1 + (pick // 9 + i) % 3) for i in range(n))
        languages = (None, ("ca",), ("es",), LANGUAGES)[(pick // 27) % 4]
        op = engine.operators[oid]
        before = (op.state, op.call_id, op.since, op.reason, op.after_call, op.idle_since)
        got = self.apply(
            ev.OperatorSkillsChanged(now=self.now, operator_id=oid, skills=levels, languages=languages)
        )
        kept = languages if languages is not None else self.specs[oid][1]
        assert (op.skills, op.languages) == (dict(levels), kept)
        self.specs[oid] = (levels, kept)  # (the driver's directory: a later login brings them)
        if before[0] is not OperatorState.AVAILABLE:
            # Ringing, talking, wrapping up, paused or unreachable: nothing else changes.
            assert got == []
            assert (op.state, op.call_id, op.since, op.reason, op.after_call, op.idle_since) == before
            return
        assert len(got) <= 1 and all(
            isinstance(c, ConnectCall | DialCallback) and c.operator_id == oid for c in got
        ), got
        assert op.state is (OperatorState.RESERVED if got else OperatorState.AVAILABLE)
        assert op.idle_since == before[5]  # (free, they keep their place among the idle)

    def move_call(self, cid: str, pick: int) -> None:
        """A supervisor moves a waiting call to another queue (mostly one someone serves):
        it keeps its key, so its place in time; a move to its own queue, or of a call whose
        callback is being stored, is stale."""
        engine = self.engine
        served = self.served()
        if pick % 4:
            skill, language = served[(pick // 4) % len(served)]
        else:
            skill, language = SKILLS[(pick // 4) % len(SKILLS)], LANGUAGES[(pick // 12) % len(LANGUAGES)]
        call = engine.calls[cid]
        asked: str | None = None if pick % 3 == 0 and language == call.language else language
        event = ev.CallMoved(now=self.now, call_id=cid, skill=skill, language=asked)
        if (skill, language) == (call.skill, call.language) or cid in self.asked:
            self.stale(event)
            return
        key, queued_at = call.queue_key, call.queued_at
        got = self.apply(event)
        assert (call.queue_key, call.queued_at, call.skill, call.language) == (
            key,
            queued_at,
            skill,
            language,
        )
        assert key is not None and queued_at is not None
        self.queued[cid] = Waiting(cid, skill, language, key, queued_at, call.priority)
        if got:  # someone free in its new queue takes it at once
            assert len(got) == 1 and isinstance(got[0], ConnectCall) and got[0].call_id == cid, got
            assert call.state is CallState.OFFERED
        else:
            assert call.state is CallState.QUEUED and engine.queues[(skill, language)].key_of(cid) == key

    def end_wrap_up(self, oid: str) -> None:
        """The operator says their after-call work is done: free now (given the next call),
        or what they asked for after the call; their wrap-up timer then ends nothing."""
        op = self.engine.operators[oid]
        leaving = op.after_call
        got = self.apply(ev.WrapUpEnded(now=self.now, operator_id=oid))
        assert op.wrap_up_until is None
        if leaving is not None:
            want = {OperatorTrigger.PAUSE: OperatorState.PAUSED}.get(leaving[0], OperatorState.LOGGED_OUT)
            assert got == [] and op.state is want
            assert op.pause_reason == (leaving[1] if want is OperatorState.PAUSED else None)
            return
        assert len(got) <= 1 and all(
            isinstance(c, ConnectCall | DialCallback) and c.operator_id == oid for c in got
        ), got
        assert op.state is (OperatorState.RESERVED if got else OperatorState.AVAILABLE)
        assert op.idle_since == self.now

    def served(self) -> list[tuple[str, str]]:
        return sorted(
            {(sk, lang) for skills, langs in self.specs.values() for sk, _ in skills for lang in langs}
        )

    def complete_ivr(self, cid: str, pick: int) -> None:
        # Mostly a (skill, language) someone can serve, so calls get routed; sometimes any.
        served = self.served()
        if pick % 4:
            skill, language = served[(pick // 4) % len(served)]
        else:
            skill, language = SKILLS[(pick // 4) % len(SKILLS)], LANGUAGES[(pick // 12) % len(LANGUAGES)]
        priority = (pick // 24) % 2
        self.apply(
            ev.IvrCompleted(now=self.now, call_id=cid, skill=skill, language=language, priority=priority)
        )

    # -- callbacks --

    def offered_waiting(self) -> list[str]:
        """Callers offered a callback who still wait and have not asked for one."""
        return [c for c in self.live(CallState.QUEUED) if c in self.cb_offered and c not in self.asked]

    def open_number(self, number_key: str, skill: str) -> str | None:
        """The open callback of a waiting caller (not a booking: those take no duplicates)
        for this number and skill, if the driver knows of one."""
        found = [
            cid
            for cid, r in self.open_records().items()
            if (r.number_key, r.skill) == (number_key, skill) and not r.booked
        ]
        assert len(found) <= 1
        return found[0] if found else None

    def fresh_callback_id(self) -> str:
        self.next_cb += 1
        return f"cb{self.next_cb}"

    def accept_callback(self, pick: int) -> None:
        """A caller offered a callback accepts, with a number from a small pool: a number
        whose callback for the skill is open merges into it."""
        ids = self.offered_waiting()
        if not ids:
            return
        cid = ids[pick % len(ids)]
        skill = self.queued[cid].skill
        number = NUMBERS[(pick // 3) % len(NUMBERS)]
        existing = self.open_number(number, skill)
        cb_id = self.fresh_callback_id()
        got = self.apply(ev.CallbackAccepted(now=self.now, call_id=cid, callback_id=cb_id, number_key=number))
        if existing is not None and not self.records[existing].stored:
            # That number's request is still being stored: no promise can rest on it yet.
            assert got == [RefuseCallback(call_id=cid, reason=MERGE_IN_PROGRESS)]
            assert self.engine.calls[cid].state is CallState.QUEUED
        elif existing is not None:
            assert got == [ConfirmCallback(call_id=cid, callback_id=existing, merged=True)]
        else:
            w = self.queued[cid]
            assert got == [
                PersistCallback(
                    call_id=cid,
                    callback_id=cb_id,
                    skill=w.skill,
                    language=w.language,
                    priority=w.priority,
                    queued_at=w.queued_at,
                    expires_at=self.now + self.policy.expire_after_s,
                )
            ]

    def store(self, cb_id: str, ok: bool) -> None:
        """The store answers a PersistCallback: committed, or not."""
        rec = self.records[cb_id]
        origin = rec.call_id
        assert origin is not None
        gone = origin in self.completed
        served_live = rec.served_live
        if not ok:
            got = self.apply(ev.CallbackStoreFailed(now=self.now, callback_id=cb_id, reason="disk full"))
            waits = not gone and not served_live
            assert got == ([RefuseCallback(call_id=origin, reason="disk full")] if waits else [])
            return
        got = self.apply(ev.CallbackStored(now=self.now, callback_id=cb_id))
        if served_live:  # their operator rang (they may have talked and gone): no callback
            assert got == [UpdateCallback(call_id=cb_id, state=B.CANCELLED)]
        elif self.now >= rec.expires_at:  # stored too late to be kept: no promise
            refused = [] if gone else [RefuseCallback(call_id=origin, reason="expired")]
            assert got == [UpdateCallback(call_id=cb_id, state=B.EXPIRED), *refused]
        elif not gone:  # the promise, now; the callback takes their place
            assert got == [ConfirmCallback(call_id=origin, callback_id=cb_id)]
        else:  # they hung up meanwhile: nobody to tell; the callback takes the place
            assert all(isinstance(c, DialCallback) and c.call_id == cb_id for c in got), got

    def citizen(self, pick: int) -> None:
        """The citizen's phone, rung for a callback: answered, not reached, or the operator
        gives up first."""
        ids = self.dialled("citizen")
        if not ids:
            return
        cid = ids[pick % len(ids)]
        oid = self.dials[cid][0]
        rec, policy, now = self.records[cid], self.policy, self.now
        r = pick % 5
        if r < 2:
            got = self.apply(ev.CitizenAnswered(now=now, callback_id=cid))
            assert got == [
                UpdateCallback(call_id=cid, state=B.TALKING, outcome="answered", attempts=rec.attempts)
            ]
            return
        if r < 4:
            outcome = ("no_answer", "busy", "failed")[(pick // 5) % 3]
            event: ev.Event = ev.CitizenNotReached(now=now, callback_id=cid, outcome=outcome)
        else:
            outcome = "operator_left"
            event = ev.CallEnded(now=now, call_id=cid)
        leaving = self.engine.operators[oid].after_call
        got = self.apply(event)
        if rec.attempts >= policy.attempts:
            want = UpdateCallback(call_id=cid, state=B.FAILED, outcome=outcome, attempts=rec.attempts)
        elif now + policy.retry_delay_s >= rec.expires_at:
            want = UpdateCallback(call_id=cid, state=B.EXPIRED, outcome=outcome, attempts=rec.attempts)
        else:
            want = UpdateCallback(
                call_id=cid,
                state=B.SCHEDULED,
                outcome=outcome,
                attempts=rec.attempts,
                next_attempt_at=now + policy.retry_delay_s,
            )
        assert got[0] == want, (got, want)
        # The operator heard only ringing: free at once (for another call, or what they asked).
        rest = got[1:]
        assert len(rest) <= 1 and all(
            isinstance(c, ConnectCall | DialCallback) and c.operator_id == oid for c in rest
        ), rest
        state = self.engine.operators[oid].state
        if leaving is not None:
            assert not rest
            assert state is {OperatorTrigger.PAUSE: OperatorState.PAUSED}.get(
                leaving[0], OperatorState.LOGGED_OUT
            )
        else:
            assert state is (OperatorState.RESERVED if rest else OperatorState.AVAILABLE)

    def restore_callback(self, pick: int) -> None:
        """A callback the store holds, given back to the core (as after a restart): placed
        in the past, sometimes already expired, sometimes due later, some attempts made; or
        booked for a time to come (its place and when it is due), expiring after it."""
        policy, now = self.policy, self.now
        served = self.served()
        skill, language = served[pick % len(served)] if pick % 4 else ("tributs", "es")
        numbers = [n for n in NUMBERS if self.open_number(n, skill) is None]
        number = numbers[pick % len(numbers)] if numbers else f"u{self.next_cb}"
        booked = pick % 5 == 4
        if booked:  # booked a while ago for a time to come
            queued_at = next_attempt_at = now + 0.5 + pick % 6
            requested_at, attempts = now - 100, 0
            expires_at = queued_at + policy.expire_after_s / (1 + pick % 3)
        else:
            queued_at = now - 1 - pick % 40
            requested_at = queued_at + 0.5
            expires_at = now - 0.5 if pick % 7 == 0 else now + policy.expire_after_s / (1 + pick % 3)
            attempts = (pick // 7) % policy.attempts
            next_attempt_at = now + 1.5 if pick % 3 == 0 else None
        cb_id = self.fresh_callback_id()
        got = self.apply(
            ev.CallbackRestored(
                now=now,
                callback_id=cb_id,
                skill=skill,
                language=language,
                priority=(pick // 5) % 2,
                queued_at=queued_at,
                requested_at=requested_at,
                number_key=number,
                expires_at=expires_at,
                attempts=attempts,
                next_attempt_at=next_attempt_at,
                booked=booked,
            )
        )
        if expires_at <= now:
            assert got == [UpdateCallback(call_id=cb_id, state=B.EXPIRED, attempts=attempts)]
        elif next_attempt_at is not None:
            assert got == [] and self.engine.callbacks[cb_id].state is B.SCHEDULED
        else:  # back at its place: dialled at once if someone free can take it
            assert all(isinstance(c, DialCallback) and c.call_id == cb_id for c in got), got

    # -- stale facts --

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
        choices += self.stale_supervisor_facts(pick)
        if engine.callback_policy is not None:
            choices += self.stale_callback_facts(pick)
        if not choices:
            return
        self.stale(choices[pick % len(choices)])

    def stale_supervisor_facts(self, pick: int) -> list[ev.Event]:
        """A supervisor's or an operator's console facts that do not fit: about an operator
        logged out, unknown or not wrapping up, a call not waiting in a queue (or already in
        the one asked for, or with its callback being stored), a callback."""
        engine, now = self.engine, self.now

        def one(ids: list[str]) -> str:
            return ids[pick % len(ids)]

        out: list[ev.Event] = [
            ev.OperatorSkillsChanged(now=now, operator_id="nobody", skills=(("info", 1),)),
            ev.WrapUpEnded(now=now, operator_id="nobody"),
            ev.CallMoved(now=now, call_id="never", skill="info"),
        ]
        if logged_out := self.operators_in(OperatorState.LOGGED_OUT):
            out.append(ev.OperatorSkillsChanged(now=now, operator_id=one(logged_out), skills=(("info", 1),)))
        if not_wrapping := self.operators_in(*(s for s in OperatorState if s is not OperatorState.WRAP_UP)):
            out.append(ev.WrapUpEnded(now=now, operator_id=one(not_wrapping)))
        in_hand = self.live(
            CallState.IN_IVR, CallState.OFFERED, CallState.TALKING, CallState.CALLBACK_CONFIRMED
        )
        if in_hand:
            out.append(ev.CallMoved(now=now, call_id=one(in_hand), skill="tramits"))
        if self.completed:
            out.append(ev.CallMoved(now=now, call_id=one(sorted(self.completed)), skill="tramits"))
        if waiting := self.live(CallState.QUEUED):
            call = engine.calls[one(waiting)]
            assert call.skill is not None
            same = None if pick % 2 else call.language
            out.append(ev.CallMoved(now=now, call_id=call.call_id, skill=call.skill, language=same))
        if asked := [c for c in self.live(CallState.QUEUED) if c in self.asked]:
            out.append(ev.CallMoved(now=now, call_id=one(asked), skill=one(list(SKILLS)), language="es"))
        if engine.callbacks:
            out.append(ev.CallMoved(now=now, call_id=one(sorted(engine.callbacks)), skill="tramits"))
        return out

    def stale_callback_facts(self, pick: int) -> list[ev.Event]:
        """Callback facts that no longer fit: late, repeated, or about the wrong phase."""
        engine, now = self.engine, self.now
        out: list[ev.Event] = []
        fresh_number = f"z{pick}"  # (no merge: these must be stale for their own reason)

        def one(ids: list[str]) -> str:
            return ids[pick % len(ids)]

        if done := sorted(self.drained):
            cid = one(done)
            out += [
                ev.CitizenAnswered(now=now, callback_id=cid),
                ev.CitizenNotReached(now=now, callback_id=cid, outcome="busy"),
                ev.CallbackStored(now=now, callback_id=cid),
                ev.CallbackCancelled(now=now, callback_id=cid),
                ev.CallEnded(now=now, call_id=cid),
            ]
        if stored := sorted(c for c, r in self.open_records().items() if r.stored):
            cid = one(stored)
            out += [
                ev.CallbackStored(now=now, callback_id=cid),  # stored twice
                ev.CallbackStoreFailed(now=now, callback_id=cid, reason="late"),
                ev.CallbackRestored(
                    now=now,
                    callback_id=cid,
                    skill="info",
                    language="ca",
                    queued_at=now - 1,
                    requested_at=now - 1,
                    number_key=fresh_number,
                    expires_at=now + 60,
                ),
            ]
        if waits := sorted(c for c, r in self.open_records().items() if r.stored and c not in self.dials):
            cid = one(waits)
            out += [ev.CitizenAnswered(now=now, callback_id=cid), ev.CallEnded(now=now, call_id=cid)]
            if engine.operators:
                out.append(
                    ev.OperatorAnswered(now=now, call_id=cid, operator_id=one(sorted(engine.operators)))
                )
        if ringing := self.dialled("operator"):
            cid = one(ringing)
            out += [
                ev.CitizenAnswered(now=now, callback_id=cid),
                ev.CitizenNotReached(now=now, callback_id=cid, outcome="no_answer"),
                ev.CallEnded(now=now, call_id=cid),
                ev.CallerHungUp(now=now, call_id=cid),
                ev.CallbackCancelled(now=now, callback_id=cid),
            ]
        for phase in ("citizen", "talking"):
            if ids := self.dialled(phase):
                cid = one(ids)
                oid = self.dials[cid][0]
                out += [
                    ev.OperatorAnswered(now=now, call_id=cid, operator_id=oid),
                    ev.OperatorRingTimeout(now=now, call_id=cid, operator_id=oid),
                    ev.CallbackCancelled(now=now, callback_id=cid),
                ]
                if phase == "talking":
                    out += [
                        ev.CitizenAnswered(now=now, callback_id=cid),
                        ev.CitizenNotReached(now=now, callback_id=cid, outcome="busy"),
                    ]
        cb_id = f"x{pick}"  # (never opened)
        if confirmed := self.live(CallState.CALLBACK_CONFIRMED):
            cid = one(confirmed)
            out += [
                ev.CallbackAccepted(now=now, call_id=cid, callback_id=cb_id, number_key=fresh_number),
                ev.CallbackDeclined(now=now, call_id=cid),
            ]
        if not_offered := [c for c in self.live(CallState.QUEUED) if c not in self.cb_offered]:
            cid = one(not_offered)
            out += [
                ev.CallbackAccepted(now=now, call_id=cid, callback_id=cb_id, number_key=fresh_number),
                ev.CallbackDeclined(now=now, call_id=cid),
            ]
        if asked := sorted(c for c in self.asked if c in engine.calls):
            cid = one(asked)
            out += [
                ev.CallbackAccepted(now=now, call_id=cid, callback_id=cb_id, number_key=fresh_number),
                ev.CallbackDeclined(now=now, call_id=cid),
            ]
        if (offered := self.offered_waiting()) and (in_use := sorted(engine.callbacks)):
            out.append(  # a callback id already in use
                ev.CallbackAccepted(
                    now=now, call_id=one(offered), callback_id=one(in_use), number_key=fresh_number
                )
            )
        if ringing_calls := [c for c in sorted(self.offers) if c in self.cb_offered]:
            cid = one(ringing_calls)  # accepted while their operator's phone already rings
            out.append(ev.CallbackAccepted(now=now, call_id=cid, callback_id=cb_id, number_key=fresh_number))
        return out

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
                (
                    cid,
                    c.state,
                    c.operator_id,
                    c.queue_key,
                    c.answered_at,
                    c.ended_at,
                    c.callback_id,
                    c.callback_offered,
                )
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
            sorted(
                (
                    cid,
                    cb.state,
                    cb.operator_id,
                    cb.attempts,
                    cb.outcome,
                    cb.next_attempt_at,
                    cb.offer_deadline,
                    cb.answered_at,
                    cb.queue_key,
                )
                for cid, cb in engine.callbacks.items()
            ),
            sorted((key, queue.in_order()) for key, queue in engine.queues.items()),
            len(engine.completed_callbacks),
            engine.snapshot(self.now).lines_in_use,
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
    # A supervisor's and an operator's console (an early end of wrap-up often: it needs an
    # operator wrapping up, which a short wrap-up makes rare).
    + ["skills", "move"]
    + ["wrap_done"] * 3
)

# (kind, pick: which call/operator/skill the move applies to, seconds before it)
move = st.tuples(st.sampled_from(KINDS), st.integers(0, 255), st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.5]))
# Hypothesis's lists average about 5 elements; the second branch gives long busy days, and a
# failure still shrinks to a short list through the first (one_of shrinks towards it).
moves = st.one_of(st.lists(move, max_size=100), st.lists(move, min_size=60, max_size=150))


def play(
    engine: Engine, specs: list[tuple[dict[str, int], list[str]]], steps: list[tuple[str, int, float]]
) -> Harness:
    """Log the operators in, then play the moves, each after its pause."""
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
    return harness


def assert_nobody_could_serve_a_waiting_call(harness: Harness) -> None:
    for cid in harness.live(CallState.QUEUED):
        w = Waiting.of(harness.engine.calls[cid])
        assert not any(
            w.skill in o.skills
            and w.language in o.languages
            and o.skills[w.skill] <= harness.reach(w, harness.now)
            for o in harness.engine.operators.values()
        )


wrap_ups = st.sampled_from([0.0, 0.5, 3.0])
# (after so many seconds of waiting, operators up to this level may take a call)
relaxations = st.sampled_from([(), ((0.0, 1), (2.0, 2)), ((0.0, 1), (1.5, 2), (6.0, 3))])
offer_timeouts = st.sampled_from([None, None, 4.0])
# Priorities as strict classes (most examples), or as head starts in one class (issue 11).
head_starts = st.sampled_from([(), (), ((1, 1.5),), ((0, 0.5), (1, 3.0))])


def centre(
    lines: int,
    wrap_up: float,
    relaxation: tuple[tuple[float, int], ...],
    offer_timeout: float | None,
    policy: CallbackPolicy | None = None,
    head_start: tuple[tuple[int, float], ...] = (),
) -> Engine:
    return Engine(
        lines=lines,
        wrap_up=wrap_up,
        relaxation=relaxation,
        offer_timeout=offer_timeout,
        fault_retry=1.0,
        fault_retry_max=4.0,
        callback_policy=policy,
        priority_head_start=head_start,
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=operator_specs,
    lines=st.integers(1, 12),
    wrap_up=wrap_ups,
    relaxation=relaxations,
    offer_timeout=offer_timeouts,
    head_start=head_starts,
    steps=moves,
)
def test_random_event_sequences_keep_the_invariants(
    specs: list[tuple[dict[str, int], list[str]]],
    lines: int,
    wrap_up: float,
    relaxation: tuple[tuple[float, int], ...],
    offer_timeout: float | None,
    head_start: tuple[tuple[int, float], ...],
    steps: list[tuple[str, int, float]],
) -> None:
    engine = centre(lines, wrap_up, relaxation, offer_timeout, head_start=head_start)
    harness = play(engine, specs, steps)
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
    assert_nobody_could_serve_a_waiting_call(harness)


# --- callbacks under random event sequences -----------------------------------------------

# The moves of the plain test, and the callback's: offers accepted (numbers from a small pool,
# so duplicates merge), declined, stored or not, the citizen's phone, callers who heard the
# promise hanging up, conversations ending, supervisors cancelling, callbacks restored (or
# booked for a time to come).
CALLBACK_KINDS = (
    KINDS
    + ["cb_accept", "cb_store", "citizen", "cb_hangup"] * 3
    + ["cb_end"] * 2
    + ["cb_decline", "cb_cancel", "cb_restore", "stale"]
)
callback_move = st.tuples(
    st.sampled_from(CALLBACK_KINDS), st.integers(0, 255), st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.5])
)
callback_moves = st.one_of(
    st.lists(callback_move, max_size=100), st.lists(callback_move, min_size=60, max_size=200)
)
# Offers nearly always (EWT exceeds 0 s whenever anyone waits), sometimes only for long
# queues; a cap that bites; attempts, retries and expiries short enough to happen in a run.
callback_policies = st.builds(
    CallbackPolicy,
    offer_after_ewt_s=st.sampled_from([0.0, 0.0, 100.0]),
    offer_queue_length=st.sampled_from([None, None, 1]),
    max_pending=st.sampled_from([100, 100, 2]),
    attempts=st.sampled_from([2, 2, 3, 1]),
    retry_delay_s=st.sampled_from([3.0, 5.0]),
    expire_after_s=st.sampled_from([37.5, 90.0]),
    line_wait_s=st.just(2.0),
)


def settle_with_callbacks(harness: Harness, wrap_up: float) -> None:
    """Let every operator and citizen finish: answer what rings (operators and citizens),
    end every conversation, let the store answer, hang up the callers who heard the promise,
    resume and log in everyone, and run out the clock."""
    engine = harness.engine
    bound = 20 * (len(harness.arrived) + len(harness.records) + len(harness.specs)) + 50
    for _ in range(bound):
        if harness.offers or harness.dialled("operator"):
            harness.step("answer", 0)
        elif harness.dialled("citizen"):
            harness.step("citizen", 0)  # (pick 0: the citizen answers)
        elif harness.live(CallState.TALKING):
            harness.step("end", 1)
        elif harness.dialled("talking"):
            harness.step("cb_end", 1)
        elif any(not r.stored for r in harness.open_records().values()):
            harness.step("cb_store", 1)  # (pick 1: committed)
        elif harness.live(CallState.CALLBACK_CONFIRMED):
            harness.step("cb_hangup", 0)
        elif harness.operators_in(OperatorState.PAUSED):
            harness.step("resume", 0)
        elif harness.operators_in(OperatorState.LOGGED_OUT):
            harness.step("login", 0)
        elif (deadline := engine.next_deadline()) is not None:
            harness.advance(max(wrap_up + 1, deadline - harness.now))
        else:
            return
    raise AssertionError("the centre never settled")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=operator_specs,
    lines=st.integers(1, 10),
    wrap_up=wrap_ups,
    relaxation=relaxations,
    offer_timeout=offer_timeouts,
    policy=callback_policies,
    head_start=head_starts,
    steps=callback_moves,
)
def test_random_event_sequences_with_callbacks_keep_the_invariants(
    specs: list[tuple[dict[str, int], list[str]]],
    lines: int,
    wrap_up: float,
    relaxation: tuple[tuple[float, int], ...],
    offer_timeout: float | None,
    policy: CallbackPolicy,
    head_start: tuple[tuple[int, float], ...],
    steps: list[tuple[str, int, float]],
) -> None:
    engine = centre(lines, wrap_up, relaxation, offer_timeout, policy, head_start)
    harness = play(engine, specs, steps)
    settle_with_callbacks(harness, wrap_up)
    assert not harness.offers and not harness.dials
    assert not harness.live(CallState.TALKING, CallState.OFFERED, CallState.CALLBACK_CONFIRMED)
    assert all(o.state is OperatorState.AVAILABLE for o in engine.operators.values())
    # With the clock run out, every callback has reached a final state (its expiry at the
    # latest).
    assert not engine.callbacks, sorted(engine.callbacks)
    assert all(
        harness.final_updates[c] == 1 for c, r in harness.records.items() if r.stored and harness.drained[c]
    )
    assert_nobody_could_serve_a_waiting_call(harness)
    hypothesis_event(
        f"callbacks opened: {min(len(harness.records), 10)}{'+' if len(harness.records) >= 10 else ''}"
    )
    hypothesis_event(f"callbacks completed: {'yes' if harness.callbacks_served else 'no'}")


# --- core bugs the driver found (minimal sequences) -----------------------------------------
# Each is the smallest sequence that shows it, in the style of test_callbacks.py: Ana, the
# only `info` operator, talks to "a"; later callers wait and are offered a callback. Written
# so that any fix honouring the design passes them (strict: they fail until then).

BUG_POLICY = CallbackPolicy(offer_after_ewt_s=0, attempts=2, retry_delay_s=5, expire_after_s=50)


def ana_busy() -> Engine:
    engine = Engine(lines=10, callback_policy=BUG_POLICY)
    engine.handle(ev.OperatorLoggedIn(now=0, operator_id="ana", skills=(("info", 1),), languages=("ca",)))
    engine.handle(ev.CallArrived(now=0, call_id="a"))
    assert engine.handle(ev.IvrCompleted(now=0, call_id="a", skill="info", language="ca")) == [
        ConnectCall(call_id="a", operator_id="ana")
    ]
    engine.handle(ev.OperatorAnswered(now=1, call_id="a", operator_id="ana"))
    return engine


def waits(engine: Engine, call_id: str, now: float) -> None:
    engine.handle(ev.CallArrived(now=now, call_id=call_id))
    got = engine.handle(ev.IvrCompleted(now=now, call_id=call_id, skill="info", language="ca"))
    assert [type(c) for c in got] == [OfferCallback]


def accepts(engine: Engine, call_id: str, now: float, number_key: str) -> list[Command]:
    return engine.handle(
        ev.CallbackAccepted(now=now, call_id=call_id, callback_id=f"cb-{call_id}", number_key=number_key)
    )


def test_no_promise_by_merging_into_a_callback_the_store_has_not_committed() -> None:
    engine = ana_busy()
    waits(engine, "b", 2)
    waits(engine, "c", 3)
    assert [type(c) for c in accepts(engine, "b", 4, "same")] == [PersistCallback]
    # cb-b is being written; c gives the same number. Nothing may be promised to c yet ...
    got = accepts(engine, "c", 5, "same")
    assert not any(isinstance(c, ConfirmCallback) for c in got), got
    # ... and when the store fails, nobody has a callback: c still waits, as b does.
    engine.handle(ev.CallbackStoreFailed(now=6, callback_id="cb-b", reason="disk full"))
    assert engine.calls["b"].state is CallState.QUEUED
    assert engine.calls["c"].state is CallState.QUEUED


def test_a_caller_served_live_before_the_store_answered_is_not_called_back() -> None:
    engine = ana_busy()
    waits(engine, "b", 2)
    assert [type(c) for c in accepts(engine, "b", 4, "n-b")] == [PersistCallback]
    # Ana is free before the store answers: b, still a live caller, is served live.
    assert engine.handle(ev.CallEnded(now=5, call_id="a")) == [ConnectCall(call_id="b", operator_id="ana")]
    engine.handle(ev.OperatorAnswered(now=6, call_id="b", operator_id="ana"))
    engine.handle(ev.CallEnded(now=7, call_id="b"))
    assert {c.call_id: c.outcome for c in engine.drain_completed()}["b"] is CallOutcome.ANSWERED
    # The store answers now: b was served, so no callback (as when it answers mid-call).
    got = engine.handle(ev.CallbackStored(now=8, callback_id="cb-b"))
    assert not any(isinstance(c, DialCallback) for c in got), got
    assert "cb-b" not in engine.callbacks


def test_a_callback_whose_operator_ring_fails_after_its_expiry_expires() -> None:
    engine = ana_busy()
    waits(engine, "b", 2)
    accepts(engine, "b", 4, "n-b")  # expires at 4 + 50 = 54
    engine.handle(ev.CallbackStored(now=5, callback_id="cb-b"))
    engine.handle(ev.CallerHungUp(now=5, call_id="b"))
    assert engine.handle(ev.CallEnded(now=40, call_id="a")) == [
        DialCallback(call_id="cb-b", operator_id="ana")
    ]
    engine.handle(ev.Tick(now=54))  # its expiry, while Ana's phone rings: the ring decides
    engine.handle(ev.OperatorRingTimeout(now=60, call_id="cb-b", operator_id="ana"))
    # Not reached, and its time is up: it ends EXPIRED (it must not wait on past 54).
    assert "cb-b" not in engine.callbacks
    assert [cb.state for cb in engine.drain_completed_callbacks()] == [CallbackState.EXPIRED]


def test_a_callback_stored_after_its_expiry_expires() -> None:
    engine = ana_busy()
    waits(engine, "b", 2)
    accepts(engine, "b", 4, "n-b")  # expires at 54
    engine.handle(ev.CallerHungUp(now=5, call_id="b"))
    engine.handle(ev.Tick(now=54))  # the store has not answered yet
    engine.handle(ev.CallbackStored(now=55, callback_id="cb-b"))
    assert "cb-b" not in engine.callbacks
    assert [cb.state for cb in engine.drain_completed_callbacks()] == [CallbackState.EXPIRED]


def test_cancelling_a_callback_being_stored_releases_its_caller() -> None:
    engine = ana_busy()
    waits(engine, "b", 2)
    accepts(engine, "b", 4, "n-b")
    engine.handle(ev.CallbackCancelled(now=5, callback_id="cb-b"))
    engine.handle(ev.CallerHungUp(now=6, call_id="b"))
    (b,) = (c for c in engine.drain_completed() if c.call_id == "b")
    # Counted as served by a callback only if a callback still holds their place.
    assert (b.outcome is CallOutcome.CALLBACK) == ("cb-b" in engine.callbacks), b.outcome


def test_a_caller_leaving_while_rung_frees_their_line_for_a_callback() -> None:
    engine = Engine(lines=2, callback_policy=BUG_POLICY)
    engine.handle(ev.OperatorLoggedIn(now=0, operator_id="ana", skills=(("info", 1),), languages=("ca",)))
    engine.handle(ev.CallArrived(now=0, call_id="a"))
    engine.handle(ev.IvrCompleted(now=0, call_id="a", skill="info", language="ca"))  # Ana rings
    engine.handle(ev.CallArrived(now=1, call_id="x"))  # in the IVR: both lines in use
    restored = ev.CallbackRestored(
        now=2,
        callback_id="cb-r",
        skill="info",
        language="ca",
        queued_at=-100,
        requested_at=-99,
        number_key="n-r",
        expires_at=3600,
    )
    assert engine.handle(restored) == []  # waits: Ana is ringing for a
    # a hangs up while Ana's phone rings: a's line and Ana are free, so the callback is dialled.
    assert engine.handle(ev.CallerHungUp(now=3, call_id="a")) == [
        CancelOffer(call_id="a", operator_id="ana"),
        DialCallback(call_id="cb-r", operator_id="ana"),
    ]


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
