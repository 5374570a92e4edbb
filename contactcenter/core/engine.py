# The engine: takes events, changes state, returns commands. Synchronous and deterministic.
# Rules:
# - Decide, then act: every decision is applied to state before the commands describing
#   it are returned, so a driver can never observe a half-made decision.
# - Invariant after every `handle`: no available operator could take a waiting call at the
#   level that call is allowed so far (each arrival, each newly free operator and each
#   relaxation step is matched at once), so routing never scans.
# - Operators are chosen best-qualified first (lowest level), then longest idle; calls are
#   served by priority, then first come first served within a (skill, language) queue.
# - Relaxation ("bullseye"): a call may go only to operators of level <= the step reached
#   by its wait, e.g. level 1 at once, level 2 after 30 s, backup skills (level 3) after
#   90 s. Without relaxation steps every level may take a call at once.
# - An operator on a call who pauses or logs out keeps the call: the request waits in
#   `after_call` and takes effect, after wrap-up, instead of their becoming available.
# - Timers (wrap-up ends, relaxation steps) are a heap of (time, seq, ...); `next_deadline`
#   tells the driver when to send the next Tick.
from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contactcenter.core import events as ev
from contactcenter.core.calendar import OpeningHours
from contactcenter.core.commands import (
    AnnounceWait,
    CancelOffer,
    Command,
    ConnectCall,
    RejectBusy,
    RejectClosed,
)
from contactcenter.core.estimates import EwtEstimator
from contactcenter.core.lifecycle import (
    CALL_TRANSITIONS,
    OPERATOR_TRANSITIONS,
    CallOutcome,
    CallState,
    InvalidTransition,
    OperatorState,
)
from contactcenter.core.pool import OperatorPool
from contactcenter.core.queues import QueueKey, SkillQueue

_WRAP_UP, _RELAX = 0, 1  # timer kinds


@dataclass(slots=True, init=False)
class Call:
    call_id: str
    arrived_at: float
    state: CallState
    skill: str | None
    language: str | None
    priority: int
    queued_at: float | None
    queue_key: QueueKey | None
    offered_at: float | None  # first time an operator was rung for it
    answered_at: float | None
    ended_at: float | None
    operator_id: str | None
    outcome: CallOutcome | None
    # Place and expected wait when it joined the queue, if it had to wait (else None).
    position_at_entry: int | None
    ewt_at_entry: float | None

    # Written out rather than generated: one Call per simulated call, and a generated
    # __init__ stays interpreted in the compiled build (ten times the cost).
    def __init__(self, call_id: str, arrived_at: float) -> None:
        self.call_id = call_id
        self.arrived_at = arrived_at
        self.state = CallState.IN_IVR
        self.skill = self.language = None
        self.priority = 0
        self.queued_at = self.queue_key = self.offered_at = self.answered_at = self.ended_at = None
        self.operator_id = None
        self.outcome = None
        self.position_at_entry = None
        self.ewt_at_entry = None

    def advance(self, dst: CallState) -> None:
        if dst not in CALL_TRANSITIONS[self.state]:
            raise InvalidTransition("call", self.call_id, self.state, dst)
        self.state = dst

    @property
    def wait(self) -> float | None:
        """Seconds in queue until answered or abandoned (None if never queued or still waiting)."""
        if self.queued_at is None:
            return None
        end = self.answered_at if self.answered_at is not None else self.ended_at
        return None if end is None else end - self.queued_at


@dataclass(slots=True)
class Operator:
    operator_id: str
    skills: dict[str, int]
    languages: tuple[str, ...]
    seq: int  # login order: the last tie-breaker
    state: OperatorState = OperatorState.LOGGED_OUT
    idle_since: float = 0.0
    call_id: str | None = None
    pause_reason: str | None = None
    wrap_up_until: float | None = None
    since: float = 0.0  # when the current state began
    # "Pause / log out after this call": asked for while the phone rang or the operator
    # talked; applied when they would next become available (after wrap-up), in place of it.
    after_call: tuple[OperatorState, str | None] | None = None
    # Seconds spent in each state so far (current state excluded until it ends): the
    # basis of occupancy and of operators' own reports.
    time_in: dict[OperatorState, float] = field(default_factory=dict)

    def asked_for(self, state: OperatorState) -> bool:
        """Whether they asked to go to `state` (paused, logged out) after their call."""
        return self.after_call is not None and self.after_call[0] is state

    def advance(self, dst: OperatorState, now: float) -> None:
        src = self.state
        if dst not in OPERATOR_TRANSITIONS[src]:
            raise InvalidTransition("operator", self.operator_id, src, dst)
        if src is not OperatorState.LOGGED_OUT:
            time_in = self.time_in
            time_in[src] = time_in.get(src, 0.0) + (now - self.since)
        self.state, self.since = dst, now


@dataclass(slots=True)
class Engine:
    """The automatic call distributor. Feed it events with `handle`; do what it returns."""

    lines: int
    wrap_up: float = 0.0
    # (after this many seconds of waiting, operators up to this level may take the call)
    relaxation: tuple[tuple[float, int], ...] = ()
    hours: OpeningHours | None = None
    epoch: float = 0.0  # wall-clock time (Unix seconds) at now == 0, for opening hours
    default_aht: float = 180.0  # EWT's handle time for a skill before any call is handled
    announce: bool = False  # return AnnounceWait for each call that has to wait
    calls: dict[str, Call] = field(default_factory=dict)  # calls in the system (not ended)
    operators: dict[str, Operator] = field(default_factory=dict)
    queues: dict[tuple[str, str], SkillQueue] = field(default_factory=dict)
    completed: list[Call] = field(default_factory=list)  # ended calls, for the driver to drain
    _pool: OperatorPool = field(default_factory=OperatorPool)
    _timers: list[tuple[float, int, int, str]] = field(default_factory=list)
    ewt: EwtEstimator = field(init=False)
    _wait_for_level: dict[int, float] = field(init=False)
    _wait_beyond: float = field(init=False)
    _seq: int = 0
    _handlers: dict[type[ev.Event], Callable[[Any], list[Command]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.lines < 1:
            raise ValueError(f"lines must be >= 1, got {self.lines}")
        if self.wrap_up < 0:
            raise ValueError(f"wrap_up must be >= 0, got {self.wrap_up}")
        steps = self.relaxation
        if steps:
            if steps[0][0] != 0:
                raise ValueError("the first relaxation step must start at 0 s of waiting")
            for (t0, l0), (t1, l1) in itertools.pairwise(steps):
                if not (t1 > t0 and l1 > l0):
                    raise ValueError(f"relaxation steps must widen over time: {steps}")
        self.ewt = EwtEstimator(default_aht=self.default_aht)
        # Seconds a call must have waited before an operator of each level may take it:
        # without relaxation steps, none for any level; with them, never beyond the last.
        self._wait_for_level = (
            {
                level: next((after for after, top in steps if top >= level), float("inf"))
                for level in range(1, 10)
            }
            if steps
            else {}
        )
        self._wait_beyond = float("inf") if steps else 0.0
        self._handlers = {
            ev.CallArrived: self._call_arrived,
            ev.IvrCompleted: self._ivr_completed,
            ev.CallerHungUp: self._caller_hung_up,
            ev.OperatorAnswered: self._operator_answered,
            ev.OperatorRingTimeout: self._ring_timeout,
            ev.CallEnded: self._call_ended,
            ev.OperatorLoggedIn: self._logged_in,
            ev.OperatorLoggedOut: self._logged_out,
            ev.OperatorPaused: self._paused,
            ev.OperatorResumed: self._resumed,
            ev.Tick: self._tick,
        }

    # --- public API ---------------------------------------------------------------------

    def handle(self, event: ev.Event) -> list[Command]:
        """Apply one event; return the commands that carry out what was decided."""
        handler = self._handlers.get(type(event))
        if handler is None:
            raise ValueError(f"unknown event type {type(event).__name__}")
        return handler(event)

    def next_deadline(self) -> float | None:
        """When the next timer is due (send a Tick then), or None."""
        return self._timers[0][0] if self._timers else None

    def estimate(self, call_id: str) -> tuple[int, float]:
        """(position, EWT in seconds) of a waiting call, for announcements."""
        position = self.position(call_id)
        call = self.calls[call_id]
        assert call.skill is not None and call.language is not None
        return position, self.ewt.ewt(call.skill, call.language, position)

    def drain_completed(self) -> list[Call]:
        done, self.completed = self.completed, []
        return done

    def waiting(self, skill: str, language: str) -> int:
        q = self.queues.get((skill, language))
        return len(q) if q else 0

    def position(self, call_id: str) -> int:
        """1-based place of a waiting call in its queue."""
        call = self._call(call_id)
        if call.state is not CallState.QUEUED or call.skill is None or call.language is None:
            raise ValueError(f"call {call_id} is not waiting")
        return self.queues[(call.skill, call.language)].position(call_id)

    # --- calls --------------------------------------------------------------------------

    def _call(self, call_id: str) -> Call:
        try:
            return self.calls[call_id]
        except KeyError:
            raise ValueError(f"unknown call {call_id}") from None

    def _operator(self, operator_id: str) -> Operator:
        try:
            return self.operators[operator_id]
        except KeyError:
            raise ValueError(f"unknown operator {operator_id}") from None

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _call_arrived(self, e: ev.CallArrived) -> list[Command]:
        if e.call_id in self.calls:
            raise ValueError(f"call {e.call_id} arrived twice")
        call = Call(call_id=e.call_id, arrived_at=e.now)
        if self.hours is not None and not self.hours.is_open(self.epoch + e.now):
            call.state, call.outcome, call.ended_at = CallState.ENDED, CallOutcome.CLOSED, e.now
            self.completed.append(call)
            return [RejectClosed(call_id=e.call_id)]
        if len(self.calls) >= self.lines:
            call.state, call.outcome, call.ended_at = CallState.ENDED, CallOutcome.BLOCKED, e.now
            self.completed.append(call)
            return [RejectBusy(call_id=e.call_id)]
        self.calls[e.call_id] = call
        return []

    def _ivr_completed(self, e: ev.IvrCompleted) -> list[Command]:
        call = self._call(e.call_id)
        if call.state is not CallState.IN_IVR:
            # The table's offered -> queued is for a ring timeout only; accepting a second
            # IVR result for an offered call would queue it while an operator is reserved.
            raise InvalidTransition("call", call.call_id, call.state, CallState.QUEUED)
        call.advance(CallState.QUEUED)
        call.skill, call.language, call.priority = e.skill, e.language, e.priority
        call.queued_at = e.now
        call.queue_key = (-e.priority, e.now, self._next_seq())
        pick = self._pool.best(e.skill, e.language)
        if pick is not None and self._wait_for_level.get(pick[0][0], self._wait_beyond) <= 0:
            # A free operator who may take a call that has not waited at all: by the
            # invariant no call waits in this queue, so this one is served at once, without
            # a trip through the queue (the common case at any load short of saturation).
            op = self.operators[pick[1]]
            self._pool.discard(op.operator_id)
            return [self._offer(call, op, e.now)]
        queue = self._queue_for(e.skill, e.language)
        queue.push(call.call_id, call.queue_key)
        out = self._serve_queue(queue, e.now)
        if call.call_id in queue:
            # It has to wait: estimate (and measure later) its wait, step up its reach.
            position = queue.entry_position(e.priority)
            call.position_at_entry = position
            call.ewt_at_entry = self.ewt.ewt(e.skill, e.language, position)
            for after, _ in self.relaxation[1:]:
                heapq.heappush(self._timers, (e.now + after, self._next_seq(), _RELAX, call.call_id))
            if self.announce:
                out.append(AnnounceWait(call_id=call.call_id, position=position, ewt_s=call.ewt_at_entry))
        return out

    def _caller_hung_up(self, e: ev.CallerHungUp) -> list[Command]:
        call = self.calls.get(e.call_id)
        if call is None:
            return []  # already ended (the other leg's hangup came first): not an error
        if call.state is CallState.TALKING:
            return self._end_conversation(call, e.now)
        out: list[Command] = []
        if call.state is CallState.QUEUED:
            self._queue_of(call).remove(call.call_id)
        elif call.state is CallState.OFFERED:
            assert call.operator_id is not None
            op = self.operators[call.operator_id]
            out.append(CancelOffer(call_id=call.call_id, operator_id=op.operator_id))
            op.call_id = None
            out += self._make_available(op, e.now)
        self._finish(call, CallOutcome.ABANDONED, e.now)
        return out

    def _operator_answered(self, e: ev.OperatorAnswered) -> list[Command]:
        call, op = self._offered_pair(e.call_id, e.operator_id)
        call.advance(CallState.TALKING)
        op.advance(OperatorState.TALKING, e.now)
        call.answered_at = e.now
        if call.ewt_at_entry is not None and call.queued_at is not None:
            self.ewt.observe_error(call.ewt_at_entry, e.now - call.queued_at)
        return []

    def _ring_timeout(self, e: ev.OperatorRingTimeout) -> list[Command]:
        call, op = self._offered_pair(e.call_id, e.operator_id)
        # The operator is auto-paused: a phone that was not answered once will likely not
        # be answered next time either, and ringing it again wastes the caller's time. A
        # logout they asked for meanwhile is carried out instead; a pause they asked for
        # gives way to the ring timeout's reason, which tells the supervisor more.
        leave = op.asked_for(OperatorState.LOGGED_OUT)
        op.advance(OperatorState.LOGGED_OUT if leave else OperatorState.PAUSED, e.now)
        op.call_id, op.after_call = None, None
        op.pause_reason = None if leave else e.reason
        self.ewt.staff(op.skills, op.languages, -1)
        call.advance(CallState.QUEUED)
        call.operator_id = None
        queue = self._queue_of(call)
        assert call.queue_key is not None
        queue.push(call.call_id, call.queue_key)  # original key: back at the head
        out = self._serve_queue(queue, e.now)
        if self.relaxation and call.position_at_entry is None and call.call_id in queue:
            # It was offered at once, so no relaxation step was ever scheduled for it: without
            # them it could wait forever for the level that was free but out of reach.
            assert call.queued_at is not None
            for after, _ in self.relaxation[1:]:
                if call.queued_at + after > e.now:
                    due = call.queued_at + after
                    heapq.heappush(self._timers, (due, self._next_seq(), _RELAX, call.call_id))
        return out

    def _call_ended(self, e: ev.CallEnded) -> list[Command]:
        call = self.calls.get(e.call_id)
        if call is None:
            return []  # the caller's hangup ended it first
        if call.state is not CallState.TALKING:
            # Only a conversation can end; an unanswered operator leg is a ring timeout.
            raise InvalidTransition("call", call.call_id, call.state, CallState.ENDED)
        return self._end_conversation(call, e.now)

    def _offered_pair(self, call_id: str, operator_id: str) -> tuple[Call, Operator]:
        call, op = self._call(call_id), self._operator(operator_id)
        if call.operator_id != operator_id or op.call_id != call_id:
            raise ValueError(f"call {call_id} was not offered to operator {operator_id}")
        return call, op

    def _queue_of(self, call: Call) -> SkillQueue:
        assert call.skill is not None and call.language is not None
        return self._queue_for(call.skill, call.language)

    def _queue_for(self, skill: str, language: str) -> SkillQueue:
        queue = self.queues.get((skill, language))
        if queue is None:
            queue = self.queues[(skill, language)] = SkillQueue(skill, language)
        return queue

    def _end_conversation(self, call: Call, now: float) -> list[Command]:
        assert call.operator_id is not None
        op = self.operators[call.operator_id]
        self._finish(call, CallOutcome.ANSWERED, now)
        if call.skill is not None and call.answered_at is not None:
            self.ewt.observe_handle_time(call.skill, now - call.answered_at + self.wrap_up)
        op.advance(OperatorState.WRAP_UP, now)
        op.call_id = None
        if self.wrap_up <= 0:
            return self._make_available(op, now)
        op.wrap_up_until = now + self.wrap_up
        heapq.heappush(self._timers, (op.wrap_up_until, self._next_seq(), _WRAP_UP, op.operator_id))
        return []

    def _finish(self, call: Call, outcome: CallOutcome, now: float) -> None:
        call.advance(CallState.ENDED)
        call.outcome, call.ended_at = outcome, now
        del self.calls[call.call_id]
        self.completed.append(call)

    # --- operators ----------------------------------------------------------------------

    def _logged_in(self, e: ev.OperatorLoggedIn) -> list[Command]:
        op = self.operators.get(e.operator_id)
        if op is None:
            op = Operator(e.operator_id, dict(e.skills), tuple(e.languages), self._next_seq())
            self.operators[e.operator_id] = op
        elif op.asked_for(OperatorState.LOGGED_OUT):
            # Back before the logout they asked for took effect (a new shift begins while
            # the last call of the old one goes on): they stay, with the new login's skills.
            op.after_call = None
            self.ewt.staff(op.skills, op.languages, -1)
            op.skills, op.languages = dict(e.skills), tuple(e.languages)
            self._pool.forget(op.operator_id)
            self.ewt.staff(op.skills, op.languages, +1)
            return []
        elif op.state is not OperatorState.LOGGED_OUT:
            raise ValueError(f"operator {e.operator_id} is already logged in")
        else:
            op.skills, op.languages = dict(e.skills), tuple(e.languages)
            self._pool.forget(op.operator_id)
        self.ewt.staff(op.skills, op.languages, +1)
        return self._make_available(op, e.now)

    def _logged_out(self, e: ev.OperatorLoggedOut) -> list[Command]:
        op = self._operator(e.operator_id)
        if op.state is OperatorState.RESERVED or op.state is OperatorState.TALKING:
            op.after_call = (OperatorState.LOGGED_OUT, None)  # after this call
            return []
        was_paused = op.state is OperatorState.PAUSED
        op.advance(OperatorState.LOGGED_OUT, e.now)
        if not was_paused:
            self.ewt.staff(op.skills, op.languages, -1)
        self._pool.discard(op.operator_id)
        op.wrap_up_until = op.after_call = None
        return []

    def _paused(self, e: ev.OperatorPaused) -> list[Command]:
        op = self._operator(e.operator_id)
        if op.asked_for(OperatorState.LOGGED_OUT):
            return []  # a logout already asked for stands: it goes further
        if op.state is OperatorState.RESERVED or op.state is OperatorState.TALKING:
            # After this call: pausing now would strand the call that rings or is talking.
            op.after_call = (OperatorState.PAUSED, e.reason)
            return []
        op.advance(OperatorState.PAUSED, e.now)
        self._pool.discard(op.operator_id)
        op.pause_reason, op.wrap_up_until, op.after_call = e.reason, None, None
        self.ewt.staff(op.skills, op.languages, -1)
        return []

    def _resumed(self, e: ev.OperatorResumed) -> list[Command]:
        op = self._operator(e.operator_id)
        if op.state is not OperatorState.PAUSED:
            if op.asked_for(OperatorState.PAUSED):
                op.after_call = None  # the pause asked for after this call is called off
                return []
            raise InvalidTransition("operator", op.operator_id, op.state, OperatorState.AVAILABLE)
        op.pause_reason = None
        self.ewt.staff(op.skills, op.languages, +1)
        return self._make_available(op, e.now)

    def _tick(self, e: ev.Tick) -> list[Command]:
        out: list[Command] = []
        timers = self._timers
        while timers and timers[0][0] <= e.now:
            due, _, kind, ref = heapq.heappop(timers)
            if kind == _WRAP_UP:
                op = self.operators[ref]
                # A pause or logout during wrap-up cancels the timer (wrap_up_until cleared).
                if op.state is OperatorState.WRAP_UP and op.wrap_up_until == due:
                    op.wrap_up_until = None
                    out += self._make_available(op, due)
            else:  # a relaxation step: the call may now reach a wider circle of operators
                call = self.calls.get(ref)
                if call is not None and call.state is CallState.QUEUED:
                    out += self._serve_queue(self._queue_of(call), due)
        return out

    # --- routing ------------------------------------------------------------------------

    def _make_available(self, op: Operator, now: float) -> list[Command]:
        """Free an operator: give them the best waiting call they can take, else pool them
        (unless they asked to pause or log out after their call: then that, now)."""
        if op.after_call is not None:
            state, reason = op.after_call
            op.advance(state, now)
            op.after_call, op.pause_reason, op.wrap_up_until = None, reason, None
            self.ewt.staff(op.skills, op.languages, -1)
            return []
        op.advance(OperatorState.AVAILABLE, now)
        op.idle_since, op.pause_reason = now, None  # a reason from before a logout is stale
        best: tuple[tuple[int, QueueKey], SkillQueue, str] | None = None
        queues = self.queues
        for skill, level in op.skills.items():
            cutoff = now - self._wait_for_level.get(level, self._wait_beyond)
            for lang in op.languages:
                queue = queues.get((skill, lang))
                if queue is None:
                    continue
                entry = queue.head_within(cutoff)
                if entry is not None and (best is None or (level, entry[0]) < best[0]):
                    best = ((level, entry[0]), queue, entry[1])
        if best is None:
            self._pool.add(op.operator_id, op.skills, op.languages, now, op.seq)
            return []
        best[1].remove(best[2])
        return [self._offer(self.calls[best[2]], op, now)]

    def _serve_queue(self, queue: SkillQueue, now: float) -> list[Command]:
        """Match waiting calls of a queue to the best available operators, while both exist."""
        # A loop, not one match: with relaxation, a relaxation step can bring several
        # calls within reach of several free operators at once.
        out: list[Command] = []
        relaxation = self.relaxation
        while True:
            pick = self._pool.best(queue.skill, queue.language)
            if pick is None:
                break
            level = pick[0][0]
            cutoff = now - self._wait_for_level.get(level, self._wait_beyond)
            # The best free operator is the lowest level, so the one whose reach is widest:
            # if no call is within its reach, none is within anyone's.
            entry = queue.head_within(cutoff)
            if entry is None:
                break
            op = self.operators[pick[1]]
            self._pool.discard(op.operator_id)
            queue.remove(entry[1])
            out.append(self._offer(self.calls[entry[1]], op, now))
            if not relaxation:
                # Without relaxation only the call just queued could be matched: the
                # invariant held before it came.
                break
        return out

    def _offer(self, call: Call, op: Operator, now: float) -> ConnectCall:
        call.advance(CallState.OFFERED)
        if call.offered_at is None:
            call.offered_at = now
        op.advance(OperatorState.RESERVED, now)
        call.operator_id, op.call_id = op.operator_id, call.call_id
        return ConnectCall(call_id=call.call_id, operator_id=op.operator_id)
