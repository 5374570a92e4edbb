# The engine: takes events, changes state, returns commands. Synchronous and deterministic.
# Rules:
# - Decide, then act: every decision is applied to state before the commands describing
#   it are returned, so a driver can never observe a half-made decision.
# - Invariant after every `handle`: no available operator could take a waiting call (each
#   arrival and each newly free operator is matched at once), so routing never scans.
# - Operators are chosen best-qualified first (lowest level), then longest idle; calls are
#   served by priority, then first come first served within a (skill, language) queue.
# - Timers (wrap-up) are a heap of (time, seq); `next_deadline` tells the driver when to
#   send the next Tick.
from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from contactcenter.core import events as ev
from contactcenter.core.commands import CancelOffer, Command, ConnectCall, RejectBusy
from contactcenter.core.lifecycle import (
    CALL_TRANSITIONS,
    OPERATOR_TRANSITIONS,
    CallOutcome,
    CallState,
    InvalidTransition,
    OperatorState,
    check,
)
from contactcenter.core.pool import OperatorPool
from contactcenter.core.queues import QueueKey, SkillQueue


@dataclass(slots=True)
class Call:
    call_id: str
    arrived_at: float
    state: CallState = CallState.IN_IVR
    skill: str | None = None
    language: str | None = None
    priority: int = 0
    queued_at: float | None = None
    queue_key: QueueKey | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    operator_id: str | None = None
    outcome: CallOutcome | None = None

    def advance(self, dst: CallState) -> None:
        check(CALL_TRANSITIONS, "call", self.call_id, self.state, dst)
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

    def advance(self, dst: OperatorState) -> None:
        check(OPERATOR_TRANSITIONS, "operator", self.operator_id, self.state, dst)
        self.state = dst


@dataclass(slots=True)
class Engine:
    """The automatic call distributor. Feed it events with `handle`; do what it returns."""

    lines: int
    wrap_up: float = 0.0
    calls: dict[str, Call] = field(default_factory=dict)  # calls in the system (not ended)
    operators: dict[str, Operator] = field(default_factory=dict)
    queues: dict[tuple[str, str], SkillQueue] = field(default_factory=dict)
    completed: list[Call] = field(default_factory=list)  # ended calls, for the driver to drain
    _pool: OperatorPool = field(default_factory=OperatorPool)
    _timers: list[tuple[float, int, str]] = field(default_factory=list)  # wrap-up ends
    _seq: int = 0
    _handlers: dict[type[ev.Event], Callable[[Any], list[Command]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.lines < 1:
            raise ValueError(f"lines must be >= 1, got {self.lines}")
        if self.wrap_up < 0:
            raise ValueError(f"wrap_up must be >= 0, got {self.wrap_up}")
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
        queue = self.queues.get((e.skill, e.language))
        if queue is None:
            queue = self.queues[(e.skill, e.language)] = SkillQueue(e.skill, e.language)
        queue.push(call.call_id, call.queue_key)
        return self._serve_queue(queue)

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
        op.advance(OperatorState.TALKING)
        call.answered_at = e.now
        return []

    def _ring_timeout(self, e: ev.OperatorRingTimeout) -> list[Command]:
        call, op = self._offered_pair(e.call_id, e.operator_id)
        # The operator is auto-paused: a phone that was not answered once will likely not
        # be answered next time either, and ringing it again wastes the caller's time.
        op.advance(OperatorState.PAUSED)
        op.call_id, op.pause_reason = None, e.reason
        call.advance(CallState.QUEUED)
        call.operator_id = None
        queue = self._queue_of(call)
        assert call.queue_key is not None
        queue.push(call.call_id, call.queue_key)  # original key: back at the head
        return self._serve_queue(queue)

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
        return self.queues[(call.skill, call.language)]

    def _end_conversation(self, call: Call, now: float) -> list[Command]:
        assert call.operator_id is not None
        op = self.operators[call.operator_id]
        self._finish(call, CallOutcome.ANSWERED, now)
        op.advance(OperatorState.WRAP_UP)
        op.call_id = None
        if self.wrap_up <= 0:
            return self._make_available(op, now)
        op.wrap_up_until = now + self.wrap_up
        heapq.heappush(self._timers, (op.wrap_up_until, self._next_seq(), op.operator_id))
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
        elif op.state is not OperatorState.LOGGED_OUT:
            raise ValueError(f"operator {e.operator_id} is already logged in")
        else:
            op.skills, op.languages = dict(e.skills), tuple(e.languages)
        return self._make_available(op, e.now)

    def _logged_out(self, e: ev.OperatorLoggedOut) -> list[Command]:
        op = self._operator(e.operator_id)
        op.advance(OperatorState.LOGGED_OUT)
        self._pool.discard(op.operator_id)
        op.wrap_up_until = None
        return []

    def _paused(self, e: ev.OperatorPaused) -> list[Command]:
        op = self._operator(e.operator_id)
        if op.state is OperatorState.RESERVED:
            # The table's reserved -> paused is the ring timeout's auto-pause only: a pause
            # while the phone rings would strand the offered call (its answer or ring
            # timeout would then be refused). The driver reports the ring timeout instead.
            raise InvalidTransition("operator", op.operator_id, op.state, OperatorState.PAUSED)
        op.advance(OperatorState.PAUSED)
        self._pool.discard(op.operator_id)
        op.pause_reason, op.wrap_up_until = e.reason, None
        return []

    def _resumed(self, e: ev.OperatorResumed) -> list[Command]:
        op = self._operator(e.operator_id)
        if op.state is not OperatorState.PAUSED:
            raise InvalidTransition("operator", op.operator_id, op.state, OperatorState.AVAILABLE)
        op.pause_reason = None
        return self._make_available(op, e.now)

    def _tick(self, e: ev.Tick) -> list[Command]:
        out: list[Command] = []
        timers = self._timers
        while timers and timers[0][0] <= e.now:
            due, _, operator_id = heapq.heappop(timers)
            op = self.operators[operator_id]
            # A pause or logout during wrap-up cancels the timer (wrap_up_until cleared).
            if op.state is OperatorState.WRAP_UP and op.wrap_up_until == due:
                op.wrap_up_until = None
                out += self._make_available(op, due)
        return out

    # --- routing ------------------------------------------------------------------------

    def _make_available(self, op: Operator, now: float) -> list[Command]:
        """Free an operator: give them the best waiting call they can take, else pool them."""
        op.advance(OperatorState.AVAILABLE)
        op.idle_since, op.pause_reason = now, None  # a reason from before a logout is stale
        best: tuple[tuple[int, QueueKey], SkillQueue] | None = None
        for skill, level in op.skills.items():
            for lang in op.languages:
                queue = self.queues.get((skill, lang))
                head = queue.head() if queue else None
                if head is not None and queue is not None:
                    rank = (level, head[0])
                    if best is None or rank < best[0]:
                        best = (rank, queue)
        if best is None:
            self._pool.add(op.operator_id, op.skills, op.languages, now, op.seq)
            return []
        queue = best[1]
        head = queue.head()
        assert head is not None
        return [self._offer(head[1], queue, op)]

    def _serve_queue(self, queue: SkillQueue) -> list[Command]:
        """Match the head of a queue to the best available operator, if there is one."""
        head = queue.head()
        if head is None:
            return []
        pick = self._pool.best(queue.skill, queue.language)
        if pick is None:
            return []
        op = self.operators[pick[1]]
        self._pool.discard(op.operator_id)
        return [self._offer(head[1], queue, op)]

    def _offer(self, call_id: str, queue: SkillQueue, op: Operator) -> ConnectCall:
        call = self.calls[call_id]
        queue.remove(call_id)
        call.advance(CallState.OFFERED)
        op.advance(OperatorState.RESERVED)
        call.operator_id, op.call_id = op.operator_id, call_id
        return ConnectCall(call_id=call_id, operator_id=op.operator_id)
