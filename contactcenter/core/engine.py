# The engine: takes events, changes state, returns commands. Synchronous and deterministic.
# Rules:
# - Decide, then act: every decision is applied to state before the commands describing
#   it are returned, so a driver can never observe a half-made decision.
# - Every state change of a call or an operator is a move of the lifecycle tables
#   (lifecycle.py), made in one place each (`_move_call`, `_move_op`), which also keep
#   EWT's staffing count and the change feed.
# - Stale facts are normal: a hangup for a call already ended, an answer after the caller
#   left, a pause of an operator already paused. A handler checks its fact against the
#   state (and the tables) before it changes anything and raises Stale if it does not fit;
#   `handle` counts it in `stale_facts` and returns no commands. Only a malformed event
#   (TypeError/ValueError when built) or an unknown event type is an error.
# - Invariant after every `handle`: no available operator could take a waiting call at the
#   level that call is allowed so far (each arrival, each newly free operator and each
#   relaxation step is matched at once), so routing never scans.
# - Operators are chosen best-qualified first (lowest level), then longest idle; calls are
#   served by priority, then first come first served within a (skill, language) queue.
#   Priorities are strict classes (a higher one always first), or, with
#   `priority_head_start`, head starts: one class, where a caller of priority p queues as if
#   they had come head_start[p] seconds earlier (how the bank of the bundled trace favoured
#   its priority customers). The head start counts as time waited for relaxation too.
# - Relaxation ("bullseye"): a call may go only to operators of level <= the step reached
#   by its wait, e.g. level 1 at once, level 2 after 30 s, backup skills (level 3) after
#   90 s. Without relaxation steps every level may take a call at once.
# - An operator on a call who pauses or logs out keeps the call: the request waits in
#   `after_call` and takes effect, after wrap-up, instead of their becoming available.
# - System faults are not the operator's: an operator the system could not ring
#   (OperatorUnreachable, or no outcome within `offer_timeout`) is UNREACHABLE and offered
#   calls again after `fault_retry` s, doubled for each fault in a row up to
#   `fault_retry_max`; only a real unanswered ring (OperatorRingTimeout) pauses them.
# - Timers (wrap-up ends, relaxation steps, fault retries, offer timeouts) are a heap of
#   (time, seq, kind, ref); `next_deadline` tells the driver when to send the next Tick.
#   A timer is never taken out: it checks, when due, that what it was set for still holds
#   (e.g. a wrap-up ended early clears `wrap_up_until`, so its timer finds nothing to end).
# - A supervisor's facts take effect at once and keep the invariant: an operator whose
#   skills change is re-indexed (and, if free, matched now); a call moved to another queue
#   keeps its key (priority, when it queued, arrival order), so its place in time and its
#   relaxation go with it, and is matched now if someone there is free.
# - Observers read `snapshot`, `call_view`, `waiting_calls` and the change feed, never the
#   dicts.
from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from typing import Final

from contactcenter.core.calendar import OpeningHours
from contactcenter.core.callbacks import Callback, CallbackPolicy
from contactcenter.core.commands import (
    AnnounceWait,
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
    RejectClosed,
    UpdateCallback,
)
from contactcenter.core.estimates import EwtEstimator
from contactcenter.core.events import (
    CallArrived,
    CallbackAccepted,
    CallbackCancelled,
    CallbackDeclined,
    CallbackRestored,
    CallbackStored,
    CallbackStoreFailed,
    CallEnded,
    CallerHungUp,
    CallMoved,
    CitizenAnswered,
    CitizenNotReached,
    Event,
    IvrCompleted,
    OperatorAnswered,
    OperatorLoggedIn,
    OperatorLoggedOut,
    OperatorPaused,
    OperatorReachable,
    OperatorResumed,
    OperatorRingTimeout,
    OperatorSkillsChanged,
    OperatorUnreachable,
    Tick,
    WrapUpEnded,
)
from contactcenter.core.lifecycle import (
    CALL_TRANSITIONS,
    CALLBACK_TRANSITIONS,
    DEFERRED,
    FINAL_CALLBACK_STATES,
    OPERATOR_TRANSITIONS,
    STAFFED,
    CallbackState,
    CallbackTrigger,
    CallOutcome,
    CallState,
    CallTrigger,
    InvalidTransition,
    OperatorState,
    OperatorTrigger,
    step,
)
from contactcenter.core.pool import FreeOperators, OperatorPool
from contactcenter.core.queues import QueueKey, SkillQueue
from contactcenter.core.readmodel import (
    CALLBACK_AS_CALL,
    CallbackChanged,
    CallChanged,
    CallView,
    Change,
    OperatorChanged,
    OperatorView,
    SkillView,
    Snapshot,
)

# Module constants are Final: the compiled build then keeps them in C statics instead of
# looking them up in the module's dict on every use (this code runs for every call).
_WRAP_UP: Final = 0  # timer kinds
_RELAX: Final = 1
_RETRY: Final = 2
_OFFER: Final = 3
_CB_DUE: Final = 4  # a scheduled callback goes back to its queue
_CB_EXPIRE: Final = 5
_CB_OFFER: Final = 6  # a caller not offered a callback at first has waited the threshold

# (heapq is not one of the compiled build's primitives: heapq.heappush would be an attribute
# lookup on the module at every use.)
_heappush: Final = heapq.heappush
_heappop: Final = heapq.heappop

_LOGGED_OUT: Final = OperatorState.LOGGED_OUT
_PAUSED: Final = OperatorState.PAUSED
_UNREACHABLE: Final = OperatorState.UNREACHABLE
_PAUSE: Final = OperatorTrigger.PAUSE
_LOG_OUT: Final = OperatorTrigger.LOG_OUT
_B, _BT = CallbackState, CallbackTrigger


# The lifecycle tables as graphs of nodes, one per state, derived from CALL_TRANSITIONS and
# OPERATOR_TRANSITIONS once: a call or an operator keeps the node of its state beside the
# state, so checking or making a move is one lookup (in the node's moves) instead of two
# (the state's moves in the table, then the trigger's). Only immediate moves are edges:
# DEFERRED ones are read from OPERATOR_TRANSITIONS itself.
@dataclass(slots=True, eq=False)
class _CallNode:
    state: CallState
    moves: dict[CallTrigger, _CallNode]


@dataclass(slots=True, eq=False)
class _OperatorNode:
    state: OperatorState
    moves: dict[OperatorTrigger, _OperatorNode]
    staffed: int  # 1 if EWT counts an operator in this state as able to take calls, else 0
    index: int  # of the state in _OPERATOR_STATES (and in an Operator's `spent`)


def _call_nodes() -> dict[CallState, _CallNode]:
    nodes = {state: _CallNode(state, {}) for state in CallState}
    for src, moves in CALL_TRANSITIONS.items():
        nodes[src].moves.update({trigger: nodes[dst] for trigger, dst in moves.items()})
    return nodes


_OPERATOR_STATES: Final = tuple(OperatorState)


def _operator_nodes() -> dict[OperatorState, _OperatorNode]:
    nodes = {
        state: _OperatorNode(state, {}, int(state in STAFFED), index)
        for index, state in enumerate(_OPERATOR_STATES)
    }
    for src, moves in OPERATOR_TRANSITIONS.items():
        nodes[src].moves.update(
            {trigger: nodes[dst] for trigger, dst in moves.items() if isinstance(dst, OperatorState)}
        )
    return nodes


_CALL_NODES: Final = _call_nodes()
_OPERATOR_NODES: Final = _operator_nodes()
_CALL_START: Final = _CALL_NODES[CallState.IN_IVR]
_OPERATOR_START: Final = _OPERATOR_NODES[OperatorState.LOGGED_OUT]


class Stale(Exception):
    """A fact that no longer fits the core's state (the world moved on): ignored, counted."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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
    offer_deadline: float | None  # the current offer's timeout, when the engine has one
    callback_offered: bool  # a callback was offered to them (once per call)
    callback_id: str | None  # the callback they asked for (or were merged into)
    node: _CallNode  # its state's node, for the engine's moves (always node.state is state)

    # Written out rather than generated: one Call per simulated call, and a generated
    # __init__ stays interpreted in the compiled build (ten times the cost).
    def __init__(self, call_id: str, arrived_at: float) -> None:
        self.call_id = call_id
        self.arrived_at = arrived_at
        self.state = CallState.IN_IVR
        self.node = _CALL_START
        self.skill = self.language = None
        self.priority = 0
        self.queued_at = self.queue_key = self.offered_at = self.answered_at = self.ended_at = None
        self.operator_id = None
        self.outcome = None
        self.position_at_entry = None
        self.ewt_at_entry = None
        self.offer_deadline = None
        self.callback_offered = False
        self.callback_id = None

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
    reason: str | None = None  # of the current state: the pause's or the fault's
    faults_in_row: int = 0  # system faults since they last answered: the backoff's exponent
    retry_at: float | None = None  # while UNREACHABLE: when they are offered calls again
    wrap_up_until: float | None = None
    since: float = 0.0  # when the current state began
    # "Pause / log out after this call" (PAUSE or LOG_OUT, with the pause's reason): asked
    # for while the phone rang or the operator talked; applied when they would next become
    # available (after wrap-up), in place of it.
    after_call: tuple[OperatorTrigger, str | None] | None = None
    # Seconds spent in each state so far, in the order of OperatorState (read them as
    # `time_in`): a list, so that counting them at each move looks nothing up.
    spent: list[float] = field(default_factory=lambda: [0.0] * len(_OPERATOR_STATES))
    node: _OperatorNode = _OPERATOR_START  # its state's node, for the engine's moves
    # The queues their skills and languages let them serve, each with their level for its
    # skill (set at login): freeing them looks nothing up by (skill, language).
    reach: list[tuple[int, SkillQueue]] = field(default_factory=list)

    @property
    def time_in(self) -> dict[OperatorState, float]:
        """Seconds spent in each state so far (current state excluded until it ends): the
        basis of occupancy and of operators' own reports. Every state is there from the
        start. (A new dict at each reading.)"""
        # (A loop, not dict(zip(...)): the simulator reads this for every operator every
        # hour, and the compiled build runs the loop natively.)
        spent = self.spent
        return {state: spent[i] for i, state in enumerate(_OPERATOR_STATES)}

    @property
    def pause_reason(self) -> str | None:
        return self.reason if self.state is _PAUSED else None

    @property
    def fault_reason(self) -> str | None:
        """Why the system could not reach them (while UNREACHABLE)."""
        return self.reason if self.state is _UNREACHABLE else None

    def asked_for(self, trigger: OperatorTrigger) -> bool:
        """Whether they asked to pause or log out (`trigger`) after their call."""
        return self.after_call is not None and self.after_call[0] is trigger


@dataclass(slots=True)
class _Route:
    """Where the calls for one (skill, language) meet its operators: those waiting and those
    free, found together by one lookup."""

    queue: SkillQueue
    free: FreeOperators


def _call_view(call: Call) -> CallView:
    return CallView(
        call_id=call.call_id,
        state=call.state,
        skill=call.skill,
        language=call.language,
        priority=call.priority,
        arrived_at=call.arrived_at,
        queued_at=call.queued_at,
        offered_at=call.offered_at,
        answered_at=call.answered_at,
        operator_id=call.operator_id,
        callback_id=call.callback_id,
    )


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
    # Seconds an offer may go without an outcome (answered, not answered, unreachable)
    # before the engine withdraws it and counts the operator unreachable; None: never.
    offer_timeout: float | None = None
    fault_retry: float = 2.0  # first backoff after a system fault; doubled per fault in a row
    fault_retry_max: float = 30.0
    record_changes: bool = False  # keep the change feed (drain_changes) for observers
    callback_policy: CallbackPolicy | None = None  # None: callbacks are never offered
    # (priority, seconds): head starts instead of strict priority classes; () strict.
    priority_head_start: tuple[tuple[int, float], ...] = ()
    calls: dict[str, Call] = field(default_factory=dict)  # calls in the system (not ended)
    operators: dict[str, Operator] = field(default_factory=dict)
    queues: dict[tuple[str, str], SkillQueue] = field(default_factory=dict)
    completed: list[Call] = field(default_factory=list)  # ended calls, for the driver to drain
    stale_facts: dict[tuple[str, str], int] = field(default_factory=dict)  # (event, reason) -> n
    callbacks: dict[str, Callback] = field(default_factory=dict)  # open (not final) callbacks
    completed_callbacks: list[Callback] = field(default_factory=list)  # final, for the driver
    _open_numbers: dict[tuple[str, str], str] = field(default_factory=dict)  # (number_key, skill) -> id
    _open_by_skill: dict[str, int] = field(default_factory=dict)
    _booked_by_skill: dict[str, int] = field(default_factory=dict)  # of those, booked ones
    _callback_lines: int = 0  # lines held by callbacks being dialled or talking
    _callback_offered_at: dict[str, float] = field(default_factory=dict)  # open ones': first ring
    _changes: list[Change] | None = None
    _pool: OperatorPool = field(default_factory=OperatorPool)
    _routes: dict[tuple[str, str], _Route] = field(default_factory=dict)
    _timers: list[tuple[float, int, int, str]] = field(default_factory=list)
    ewt: EwtEstimator = field(init=False)
    _wait_for_level: dict[int, float] = field(init=False)
    _wait_beyond: float = field(init=False)
    _head_start: dict[int, float] = field(init=False)
    _seq: int = 0

    def __post_init__(self) -> None:
        if self.lines < 1:
            raise ValueError(f"lines must be >= 1, got {self.lines}")
        if self.wrap_up < 0:
            raise ValueError(f"wrap_up must be >= 0, got {self.wrap_up}")
        if self.offer_timeout is not None and not self.offer_timeout > 0:
            raise ValueError(f"offer_timeout must be > 0 or None, got {self.offer_timeout}")
        if not 0 < self.fault_retry <= self.fault_retry_max:
            raise ValueError(
                f"need 0 < fault_retry <= fault_retry_max, got {self.fault_retry}, {self.fault_retry_max}"
            )
        steps = self.relaxation
        if steps:
            if steps[0][0] != 0:
                raise ValueError("the first relaxation step must start at 0 s of waiting")
            for (t0, l0), (t1, l1) in itertools.pairwise(steps):
                if not (t1 > t0 and l1 > l0):
                    raise ValueError(f"relaxation steps must widen over time: {steps}")
        self.ewt = EwtEstimator(default_aht=self.default_aht, relaxation=steps)
        self._head_start = {}
        for priority, head_start in self.priority_head_start:
            if not 0 <= head_start < float("inf"):
                raise ValueError(f"a head start must be >= 0 s and finite, got {head_start} for {priority}")
            self._head_start[priority] = head_start
        if self.record_changes:
            self._changes = []
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

    # --- public API ---------------------------------------------------------------------

    def handle(self, event: Event) -> list[Command]:
        """Apply one event; return the commands that carry out what was decided. A fact
        that no longer fits the state is counted in `stale_facts` and changes nothing."""
        # One test of the exact type per kind of event, the most frequent first (each
        # simulated call brings an arrival, an IVR choice, an answer and an end): the
        # compiled build then calls each handler directly, where a table of bound methods
        # would go through Python's calling protocol for every event. (The classes are
        # imported by name: `ev.CallArrived` as a value would be an attribute lookup on the
        # module in the compiled build, the class by name a C static.)
        try:
            if type(event) is CallArrived:
                return self._call_arrived(event)
            if type(event) is IvrCompleted:
                return self._ivr_completed(event)
            if type(event) is OperatorAnswered:
                return self._operator_answered(event)
            if type(event) is CallEnded:
                return self._call_ended(event)
            if type(event) is Tick:
                return self._tick(event)
            if type(event) is CallerHungUp:
                return self._caller_hung_up(event)
            if type(event) is OperatorRingTimeout:
                return self._ring_timeout(event)
            if type(event) is OperatorUnreachable:
                return self._unreachable(event)
            if type(event) is OperatorReachable:
                return self._reachable(event)
            if type(event) is OperatorLoggedIn:
                return self._logged_in(event)
            if type(event) is OperatorLoggedOut:
                return self._logged_out(event)
            if type(event) is OperatorPaused:
                return self._paused(event)
            if type(event) is OperatorResumed:
                return self._resumed(event)
            if type(event) is CallbackAccepted:
                return self._callback_accepted(event)
            if type(event) is CallbackDeclined:
                return self._callback_declined(event)
            if type(event) is CallbackStored:
                return self._callback_stored(event)
            if type(event) is CallbackStoreFailed:
                return self._callback_store_failed(event)
            if type(event) is CitizenAnswered:
                return self._citizen_answered(event)
            if type(event) is CitizenNotReached:
                return self._citizen_not_reached(event)
            if type(event) is CallbackRestored:
                return self._callback_restored(event)
            if type(event) is CallbackCancelled:
                return self._callback_cancelled(event)
            if type(event) is OperatorSkillsChanged:
                return self._skills_changed(event)
            if type(event) is CallMoved:
                return self._call_moved(event)
            if type(event) is WrapUpEnded:
                return self._wrap_up_ended(event)
        except Stale as stale:
            key = (type(event).__name__, stale.reason)
            self.stale_facts[key] = self.stale_facts.get(key, 0) + 1
            return []
        raise ValueError(f"unknown event type {type(event).__name__}")

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

    def drain_completed_callbacks(self) -> list[Callback]:
        """Callbacks that reached a final state since the last drain, in order."""
        done, self.completed_callbacks = self.completed_callbacks, []
        return done

    def drain_changes(self) -> list[Change]:
        """State changes since the last drain, in order (empty unless record_changes)."""
        if not self._changes:
            return []
        done, self._changes = self._changes, []
        return done

    def waiting(self, skill: str, language: str) -> int:
        q = self.queues.get((skill, language))
        return len(q) if q else 0

    def position(self, call_id: str) -> int:
        """1-based place of a waiting call in its queue."""
        call = self.calls.get(call_id)
        if call is None or call.state is not CallState.QUEUED or call.skill is None or call.language is None:
            raise ValueError(f"call {call_id} is not waiting")
        return self.queues[(call.skill, call.language)].position(call_id)

    def wait_estimates(self) -> dict[str, tuple[int, float]]:
        """(position, EWT in seconds) of every waiting call, for announcements
        (O(n log n) over the waiting calls: not for routing)."""
        out: dict[str, tuple[int, float]] = {}
        for (skill, language), queue in self.queues.items():
            for position, call_id in enumerate(queue.in_order(), 1):
                out[call_id] = (position, self.ewt.ewt(skill, language, position))
        return out

    def snapshot(self, now: float) -> Snapshot:
        """A picture of the centre at `now`, for observers (O(calls + operators x skills))."""
        waiting: dict[str, int] = {}
        oldest: dict[str, float] = {}
        in_ivr = 0
        for call in self.calls.values():
            if call.state is CallState.QUEUED and call.skill is not None and call.queued_at is not None:
                waiting[call.skill] = waiting.get(call.skill, 0) + 1
                oldest[call.skill] = min(oldest.get(call.skill, now), call.queued_at)
            elif call.state is CallState.IN_IVR:
                in_ivr += 1
        by_state: dict[str, dict[OperatorState, int]] = {}
        views: dict[str, OperatorView] = {}
        for op in self.operators.values():
            views[op.operator_id] = OperatorView(
                operator_id=op.operator_id,
                state=op.state,
                since=op.since,
                call_id=op.call_id,
                reason=op.reason,
                skills=dict(op.skills),
                languages=op.languages,
                after_call=None if op.after_call is None else op.after_call[0].value,
                after_call_reason=None if op.after_call is None else op.after_call[1],
            )
            if op.state is _LOGGED_OUT:
                continue
            for skill in op.skills:
                counts = by_state.setdefault(skill, {})
                counts[op.state] = counts.get(op.state, 0) + 1
        callbacks_by_state: dict[CallbackState, int] = {}
        for cb in self.callbacks.values():
            callbacks_by_state[cb.state] = callbacks_by_state.get(cb.state, 0) + 1
        open_by_skill = {skill: n for skill, n in self._open_by_skill.items() if n}
        skills = {
            name: SkillView(
                name,
                waiting.get(name, 0),
                now - oldest.get(name, now),
                by_state.get(name, {}),
                open_by_skill.get(name, 0),
            )
            for name in sorted(set(waiting) | set(by_state) | set(open_by_skill))
        }
        return Snapshot(
            at=now,
            lines=self.lines,
            lines_in_use=len(self.calls) + self._callback_lines,
            in_ivr=in_ivr,
            skills=skills,
            operators=views,
            stale_facts=dict(self.stale_facts),
            callbacks=callbacks_by_state,
        )

    def call_view(self, call_id: str) -> CallView | None:
        """A call in the system, or a callback's virtual caller (an operator's
        OperatorView.call_id names either), by its id; None if it is in neither (an ended
        call, a final callback, an id never seen). O(1)."""
        cb = self.callbacks.get(call_id)  # (ids are resolved as events are: callbacks first)
        if cb is not None:
            return self._callback_view(cb)
        call = self.calls.get(call_id)
        return None if call is None else _call_view(call)

    def waiting_calls(self, now: float) -> list[CallView]:
        """Every call waiting in a queue at `now` (the last event's time or later, as for
        `snapshot`), callbacks waiting at their place among them: queue by queue in
        (skill, language) order, each in the order it is served (O(n log n))."""
        out: list[CallView] = []
        for key in sorted(self.queues):
            for call_id in self.queues[key].in_order():
                call = self.calls.get(call_id)  # (a queue holds calls and callbacks)
                if call is not None:
                    out.append(_call_view(call))
                else:
                    out.append(self._callback_view(self.callbacks[call_id]))
        return out

    def _callback_view(self, cb: Callback) -> CallView:
        return CallView(
            call_id=cb.callback_id,
            state=CALLBACK_AS_CALL[cb.state],
            skill=cb.skill,
            language=cb.language,
            priority=cb.priority,
            arrived_at=cb.requested_at,
            queued_at=cb.queued_at,
            offered_at=self._callback_offered_at.get(cb.callback_id),
            answered_at=cb.answered_at,
            operator_id=cb.operator_id,
            callback_id=cb.callback_id,
            is_callback=True,
            callback_state=cb.state,
        )

    # --- moves of the lifecycle tables ---------------------------------------------------

    def _move_call(self, call: Call, trigger: CallTrigger, now: float) -> None:
        node = call.node.moves.get(trigger)
        if node is None:
            raise InvalidTransition("call", call.call_id, call.state, trigger)
        call.node, call.state = node, node.state
        changes = self._changes
        if changes is not None:
            changes.append(
                CallChanged(now, call.call_id, node.state, call.skill, call.language, call.operator_id)
            )

    def _move_op(self, op: Operator, trigger: OperatorTrigger, now: float, reason: str | None = None) -> None:
        """Move an operator; `reason` is the pause's or the fault's when it leads there."""
        src = op.node
        dst = src.moves.get(trigger)
        if dst is None:  # no such move, or one deferred until after the call
            raise InvalidTransition("operator", op.operator_id, src.state, trigger)
        if src is not _OPERATOR_START:  # (logged out: no time is counted)
            op.spent[src.index] += now - op.since
        if dst.staffed != src.staffed:  # (+1: EWT starts counting them, -1: stops)
            self.ewt.staff(op.skills, op.languages, dst.staffed - src.staffed)
        op.node, op.state, op.since, op.reason = dst, dst.state, now, reason
        changes = self._changes
        if changes is not None:
            changes.append(OperatorChanged(now, op.operator_id, dst.state, reason, op.call_id))

    # --- calls --------------------------------------------------------------------------

    def _call(self, call_id: str, trigger: CallTrigger) -> Call:
        """The call a fact is about, if the fact can move it; else the fact is stale."""
        call = self.calls.get(call_id)
        if call is None:
            raise Stale("call not in the system")
        if trigger not in call.node.moves:
            raise Stale(f"call {call.state.value}")
        return call

    def _operator(self, operator_id: str) -> Operator:
        op = self.operators.get(operator_id)
        if op is None:
            raise Stale("unknown operator")
        return op

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _call_arrived(self, e: CallArrived) -> list[Command]:
        if e.call_id in self.calls:
            raise Stale("arrived twice")
        call = Call(call_id=e.call_id, arrived_at=e.now)
        if self.hours is not None and not self.hours.is_open(self.epoch + e.now):
            self._reject(call, CallOutcome.CLOSED, e.now)
            return [RejectClosed(call_id=e.call_id)]
        if len(self.calls) + self._callback_lines >= self.lines:
            self._reject(call, CallOutcome.BLOCKED, e.now)
            return [RejectBusy(call_id=e.call_id)]
        self.calls[e.call_id] = call
        changes = self._changes
        if changes is not None:
            changes.append(CallChanged(e.now, e.call_id, CallState.IN_IVR, None, None, None))
        return []

    def _queue_key(self, priority: int, queued_at: float) -> QueueKey:
        """Where a call queued at `queued_at` stands: its class, then its time, then arrival
        order (a head start moves the time earlier, in the one class)."""
        if self._head_start:
            return (0, queued_at - self._head_start.get(priority, 0.0), self._next_seq())
        return (-priority, queued_at, self._next_seq())

    def _reject(self, call: Call, outcome: CallOutcome, now: float) -> None:
        self._move_call(call, CallTrigger.REJECT, now)
        call.outcome, call.ended_at = outcome, now
        self.completed.append(call)

    def _ivr_completed(self, e: IvrCompleted) -> list[Command]:
        call = self._call(e.call_id, CallTrigger.IVR_DONE)
        call.skill, call.language, call.priority = e.skill, e.language, e.priority
        call.queued_at = e.now
        call.queue_key = self._queue_key(e.priority, e.now)
        self._move_call(call, CallTrigger.IVR_DONE, e.now)
        route = self._route(e.skill, e.language)
        op_id = route.free.best_id()
        if op_id is not None:
            op = self.operators[op_id]
            if self._wait_for_level.get(op.skills[e.skill], self._wait_beyond) <= 0:
                # A free operator who may take a call that has not waited at all: by the
                # invariant no call waits in this queue, so this one is served at once,
                # without a trip through the queue (the common case at any load short of
                # saturation).
                self._pool.discard(op_id)
                return [self._offer(call, op, e.now)]
        queue = route.queue
        queue.push(call.call_id, call.queue_key)
        out = self._serve_queue(route, e.now)
        if call.call_id in queue:
            # It has to wait: estimate (and measure later) its wait, step up its reach.
            # (With head starts its place depends on who has what head start: counted.)
            position = queue.position(call.call_id) if self._head_start else queue.entry_position(e.priority)
            call.position_at_entry = position
            call.ewt_at_entry = self.ewt.ewt(e.skill, e.language, position)
            since = call.queue_key[1]  # (earlier than now by its head start, if any)
            for after, _ in self.relaxation[1:]:
                due = max(since + after, e.now)
                _heappush(self._timers, (due, self._next_seq(), _RELAX, call.call_id))
            offer = None
            if self.callback_policy is not None:
                offer = self._callback_offer(call, position, call.ewt_at_entry, False, e.now)
                if offer is None and not call.callback_offered:
                    # Not worth it by the estimate: offered anyway if the wait reaches the
                    # threshold (estimates err, and the caller's time is what counts).
                    due = e.now + self.callback_policy.threshold(e.skill)
                    _heappush(self._timers, (due, self._next_seq(), _CB_OFFER, call.call_id))
            if offer is not None:
                out.append(offer)  # (it tells them their wait too)
            elif self.announce:
                out.append(AnnounceWait(call_id=call.call_id, position=position, ewt_s=call.ewt_at_entry))
        return out

    def _caller_hung_up(self, e: CallerHungUp) -> list[Command]:
        if self.callbacks and e.call_id in self.callbacks:  # the citizen of a callback
            return self._callback_hung_up(self.callbacks[e.call_id], e.now)
        call = self._call(e.call_id, CallTrigger.CALLER_HANGUP)
        if call.state is CallState.TALKING:
            return self._end_conversation(call, CallTrigger.CALLER_HANGUP, e.now)
        out: list[Command] = []
        freed: Operator | None = None
        if call.state is CallState.QUEUED:
            self._route_of(call).queue.remove(call.call_id)
            if call.callback_id is None:  # (else they leave their place to their callback)
                assert call.skill is not None and call.language is not None and call.queued_at is not None
                self.ewt.observe_abandon(call.skill, call.language, call.queued_at, e.now)
        elif call.state is CallState.OFFERED:
            assert call.operator_id is not None
            freed = self.operators[call.operator_id]
            out.append(CancelOffer(call_id=call.call_id, operator_id=freed.operator_id))
            freed.call_id = None
        call.operator_id = None
        # Whoever left their number (and heard the confirmation, or hung up while it was
        # being stored) did not abandon: their callback holds, or will hold, the place.
        outcome = CallOutcome.ABANDONED if call.callback_id is None else CallOutcome.CALLBACK
        self._finish(call, outcome, CallTrigger.CALLER_HANGUP, e.now)
        if freed is not None:  # (after their line is free: a callback may need it)
            out += self._make_available(freed, OperatorTrigger.CANCEL, e.now)
        return out

    def _operator_answered(self, e: OperatorAnswered) -> list[Command]:
        if self.callbacks and e.call_id in self.callbacks:
            return self._callback_operator_answered(e)
        call, op = self._offered_pair(e.call_id, e.operator_id)
        call.answered_at = e.now
        self._move_call(call, CallTrigger.ANSWER, e.now)
        self._move_op(op, OperatorTrigger.ANSWER, e.now)
        if op.faults_in_row:
            op.faults_in_row = 0  # reached: the next fault starts the backoff afresh
        if call.ewt_at_entry is not None and call.queued_at is not None:
            # It had to wait: its wait measures the estimate it was given, and its queue's pace.
            # (One served at once found its queue empty: nothing to measure.)
            assert call.skill is not None and call.language is not None
            self.ewt.observe_error(call.ewt_at_entry, e.now - call.queued_at)
            self.ewt.observe_answer(call.skill, call.language, call.queued_at, e.now)
        return [BridgeCall(call_id=call.call_id, operator_id=op.operator_id)]

    def _ring_timeout(self, e: OperatorRingTimeout) -> list[Command]:
        if self.callbacks and e.call_id in self.callbacks:
            cb, op = self._ringing_callback(e.call_id, e.operator_id)
            return self._callback_operator_failed(cb, op, OperatorTrigger.NO_ANSWER, e.reason, e.now)
        call, op = self._offered_pair(e.call_id, e.operator_id)
        return self._offer_failed(call, op, OperatorTrigger.NO_ANSWER, e.reason, e.now)

    def _unreachable(self, e: OperatorUnreachable) -> list[Command]:
        if self.callbacks and e.call_id in self.callbacks:
            cb, op = self._ringing_callback(e.call_id, e.operator_id)
            return self._callback_operator_failed(cb, op, OperatorTrigger.FAULT, e.reason, e.now)
        call, op = self._offered_pair(e.call_id, e.operator_id)
        return self._offer_failed(call, op, OperatorTrigger.FAULT, e.reason, e.now)

    def _operator_not_reached(self, op: Operator, trigger: OperatorTrigger, reason: str, now: float) -> None:
        """The operator's phone was not answered (NO_ANSWER: their doing, paused) or could
        not be rung (FAULT: the system's, retried after a backoff)."""
        pending, op.after_call = op.after_call, None
        op.call_id = None
        self._move_op(op, trigger, now, reason)
        if pending is not None and (pending[0] is _LOG_OUT or trigger is OperatorTrigger.FAULT):
            # A logout asked for meanwhile is carried out now; so is a pause, unless the ring
            # went unanswered: its reason tells the supervisor more than the one asked for.
            self._leave(op, pending[0], pending[1], now)
        elif trigger is OperatorTrigger.FAULT:
            op.faults_in_row += 1
            backoff = min(self.fault_retry * 2.0 ** (op.faults_in_row - 1), self.fault_retry_max)
            op.retry_at = now + backoff
            _heappush(self._timers, (op.retry_at, self._next_seq(), _RETRY, op.operator_id))

    def _offer_failed(
        self, call: Call, op: Operator, trigger: OperatorTrigger, reason: str, now: float
    ) -> list[Command]:
        """The operator was not reached; the call goes back to the head of its queue."""
        self._operator_not_reached(op, trigger, reason, now)
        call.operator_id = None
        call.offer_deadline = None
        self._move_call(call, CallTrigger.OFFER_FAILED, now)
        route = self._route_of(call)
        queue = route.queue
        assert call.queue_key is not None
        queue.push(call.call_id, call.queue_key)  # original key: back at the head
        out = self._serve_queue(route, now)
        if self.relaxation and call.position_at_entry is None and call.call_id in queue:
            # It was offered at once, so no relaxation step was ever scheduled for it: without
            # them it could wait forever for the level that was free but out of reach.
            since = call.queue_key[1]  # (when it queued, less its head start)
            for after, _ in self.relaxation[1:]:
                if since + after > now:
                    _heappush(self._timers, (since + after, self._next_seq(), _RELAX, call.call_id))
        return out

    def _call_ended(self, e: CallEnded) -> list[Command]:
        if self.callbacks and e.call_id in self.callbacks:
            return self._callback_hung_up(self.callbacks[e.call_id], e.now)
        # Only a conversation can end this way; an unanswered operator leg is a ring timeout.
        call = self._call(e.call_id, CallTrigger.OPERATOR_HANGUP)
        return self._end_conversation(call, CallTrigger.OPERATOR_HANGUP, e.now)

    def _offered_pair(self, call_id: str, operator_id: str) -> tuple[Call, Operator]:
        call, op = self.calls.get(call_id), self.operators.get(operator_id)
        if call is None:
            raise Stale("call not in the system")
        if op is None:
            raise Stale("unknown operator")
        if call.state is not CallState.OFFERED or call.operator_id != operator_id or op.call_id != call_id:
            raise Stale(f"call {call.state.value}, not offered to this operator")
        return call, op

    def _route_of(self, call: Call) -> _Route:
        assert call.skill is not None and call.language is not None
        return self._route(call.skill, call.language)

    def _route(self, skill: str, language: str) -> _Route:
        """The queue and the free operators of (skill, language), made when first needed."""
        route = self._routes.get((skill, language))
        if route is None:
            queue = self.queues[(skill, language)] = SkillQueue(skill, language)
            route = self._routes[(skill, language)] = _Route(queue, self._pool.free_for(skill, language))
        return route

    def _end_conversation(self, call: Call, trigger: CallTrigger, now: float) -> list[Command]:
        assert call.operator_id is not None
        op = self.operators[call.operator_id]
        self._finish(call, CallOutcome.ANSWERED, trigger, now)
        if call.skill is not None and call.answered_at is not None:
            self.ewt.observe_handle_time(call.skill, now - call.answered_at + self.wrap_up)
        return self._wrap_up(op, now)

    def _wrap_up(self, op: Operator, now: float) -> list[Command]:
        """The operator's conversation ended: wrap-up, then available."""
        op.call_id = None
        self._move_op(op, OperatorTrigger.HANG_UP, now)
        if self.wrap_up <= 0:
            return self._make_available(op, OperatorTrigger.WRAP_UP_DONE, now)
        op.wrap_up_until = now + self.wrap_up
        _heappush(self._timers, (op.wrap_up_until, self._next_seq(), _WRAP_UP, op.operator_id))
        return []

    def _finish(self, call: Call, outcome: CallOutcome, trigger: CallTrigger, now: float) -> None:
        call.outcome, call.ended_at = outcome, now
        self._move_call(call, trigger, now)
        del self.calls[call.call_id]
        self.completed.append(call)

    # --- operators ----------------------------------------------------------------------

    def _takes_effect_now(self, op: Operator, trigger: OperatorTrigger, stale: str | None = None) -> bool:
        """Whether an operator's own request moves them now (False: after the call in
        hand); stale (with reason `stale`) if their lifecycle has no such move from here."""
        dst = OPERATOR_TRANSITIONS[op.state].get(trigger)
        if dst is None:
            raise Stale(stale or f"operator {op.state.value}")
        return dst is not DEFERRED

    def _logged_in(self, e: OperatorLoggedIn) -> list[Command]:
        op = self.operators.get(e.operator_id)
        if op is None:
            op = Operator(e.operator_id, dict(e.skills), tuple(e.languages), self._next_seq())
            self.operators[e.operator_id] = op
        if not self._takes_effect_now(op, OperatorTrigger.LOG_IN, "already logged in"):
            if not op.asked_for(_LOG_OUT):
                raise Stale("already logged in")
            # Back before the logout they asked for took effect (a new shift begins while
            # the last call of the old one goes on): they stay, with the new login's skills,
            # paused after that call if the login says so.
            op.after_call = None if e.paused is None else (_PAUSE, e.paused)
            self.ewt.staff(op.skills, op.languages, -1)
            self._give_skills(op, e.skills, e.languages)
            self.ewt.staff(op.skills, op.languages, +1)
            return []
        self._give_skills(op, e.skills, e.languages)
        op.faults_in_row = 0
        if e.paused is not None:  # (in, then paused, in one step: no call found between)
            self._move_op(op, OperatorTrigger.LOG_IN, e.now)
            self._leave(op, _PAUSE, e.paused, e.now)
            return []
        return self._make_available(op, OperatorTrigger.LOG_IN, e.now)

    def _give_skills(
        self, op: Operator, skills: tuple[tuple[str, int], ...], languages: tuple[str, ...]
    ) -> None:
        """Skills and languages (a login's, a supervisor's), and the queues they let the
        operator serve; out of the pool (which indexes them by the old ones)."""
        op.skills, op.languages = dict(skills), tuple(languages)
        op.reach = [
            (level, self._route(skill, lang).queue)
            for skill, level in op.skills.items()
            for lang in op.languages
        ]
        self._pool.forget(op.operator_id)

    def _logged_out(self, e: OperatorLoggedOut) -> list[Command]:
        op = self._operator(e.operator_id)
        if not self._takes_effect_now(op, _LOG_OUT, "logged out"):
            op.after_call = (_LOG_OUT, None)  # after this call
            return []
        self._leave(op, _LOG_OUT, None, e.now)
        return []

    def _paused(self, e: OperatorPaused) -> list[Command]:
        op = self._operator(e.operator_id)
        if op.asked_for(_LOG_OUT):
            raise Stale("logout pending")  # a logout already asked for stands: it goes further
        if not self._takes_effect_now(op, _PAUSE):
            # After this call: pausing now would strand the call that rings or is talking.
            op.after_call = (_PAUSE, e.reason)
            return []
        self._leave(op, _PAUSE, e.reason, e.now)
        return []

    def _leave(self, op: Operator, trigger: OperatorTrigger, reason: str | None, now: float) -> None:
        """Pause or log out now (available, wrapping up, paused, unreachable)."""
        self._pool.discard(op.operator_id)
        op.wrap_up_until = op.after_call = op.retry_at = None
        self._move_op(op, trigger, now, reason)

    def _resumed(self, e: OperatorResumed) -> list[Command]:
        op = self._operator(e.operator_id)
        if not self._takes_effect_now(op, OperatorTrigger.RESUME, "not paused"):
            if not op.asked_for(_PAUSE):
                raise Stale("not paused")
            op.after_call = None  # the pause asked for after this call is called off
            return []
        return self._make_available(op, OperatorTrigger.RESUME, e.now)

    def _reachable(self, e: OperatorReachable) -> list[Command]:
        op = self._operator(e.operator_id)
        if op.state is not _UNREACHABLE:
            raise Stale(f"operator {op.state.value}")
        op.retry_at = None
        return self._make_available(op, OperatorTrigger.RETRY, e.now)

    # --- a supervisor's and an operator's console ----------------------------------------

    def _skills_changed(self, e: OperatorSkillsChanged) -> list[Command]:
        op = self._operator(e.operator_id)
        if OperatorTrigger.SKILLS not in op.node.moves:
            raise Stale(f"operator {op.state.value}")  # logged out: the login brings skills
        old_skills, old_languages = op.skills, op.languages
        self._give_skills(op, e.skills, op.languages if e.languages is None else e.languages)
        if op.node.staffed:
            # The new ones counted before the old ones go: a queue they keep never drops to
            # nobody staffed, which would wipe its measured pace.
            self.ewt.staff(op.skills, op.languages, +1)
            self.ewt.staff(old_skills, old_languages, -1)
        if op.state is OperatorState.AVAILABLE:
            # Free, and maybe now able to take a call that waits (the invariant): matched now,
            # else back in the pool, idle since as long as before.
            return self._find_work(op, e.now)
        return []  # (the call in hand, wrap-up, a pause or a fault go on; the next call uses them)

    def _call_moved(self, e: CallMoved) -> list[Command]:
        if self.callbacks and e.call_id in self.callbacks:
            # A callback's skill is the store's too (PersistCallback), and no command rewrites
            # it there: moved here alone, it would go back to its old queue at a restart.
            raise Stale("a callback")
        call = self._call(e.call_id, CallTrigger.MOVE)
        language = call.language if e.language is None else e.language
        if e.skill == call.skill and language == call.language:
            raise Stale("already in that queue")
        if call.callback_id is not None:
            raise Stale("callback being stored")  # (for its skill: the store's answer first)
        self._route_of(call).queue.remove(call.call_id)
        call.skill, call.language = e.skill, language
        # What it was told when it joined was for the queue it left: neither that estimate's
        # error nor its wait (begun elsewhere) measures the new queue.
        call.ewt_at_entry = None
        self._move_call(call, CallTrigger.MOVE, e.now)
        route = self._route_of(call)
        assert call.queue_key is not None
        route.queue.push(call.call_id, call.queue_key)  # (its key: its place in time)
        out = self._serve_queue(route, e.now)
        if self.announce and call.call_id in route.queue:
            position, ewt = self.estimate(call.call_id)
            out.append(AnnounceWait(call_id=call.call_id, position=position, ewt_s=ewt))
        return out

    def _wrap_up_ended(self, e: WrapUpEnded) -> list[Command]:
        op = self._operator(e.operator_id)
        if OperatorTrigger.WRAP_UP_DONE not in op.node.moves:
            raise Stale(f"operator {op.state.value}")
        op.wrap_up_until = None  # (its timer, when due, finds nothing to end)
        # As when the time is up: available (and given a call), or the pause or logout asked
        # for after the call.
        return self._make_available(op, OperatorTrigger.WRAP_UP_DONE, e.now)

    def _tick(self, e: Tick) -> list[Command]:
        out: list[Command] = []
        timers = self._timers
        while timers and timers[0][0] <= e.now:
            due, _, kind, ref = _heappop(timers)
            if kind == _WRAP_UP:
                op = self.operators[ref]
                # A pause or logout during wrap-up cancels the timer (wrap_up_until cleared).
                if op.state is OperatorState.WRAP_UP and op.wrap_up_until == due:
                    op.wrap_up_until = None
                    out += self._make_available(op, OperatorTrigger.WRAP_UP_DONE, due)
            elif kind == _RELAX:  # the call may now reach a wider circle of operators
                call = self.calls.get(ref)
                if call is not None and call.state is CallState.QUEUED:
                    out += self._serve_queue(self._route_of(call), due)
                elif call is None and ref in self.callbacks:
                    out += self._callback_timer(kind, self.callbacks[ref], due)
            elif kind == _RETRY:  # the backoff after a system fault is over
                op = self.operators[ref]
                if op.state is _UNREACHABLE and op.retry_at == due:
                    op.retry_at = None
                    out += self._make_available(op, OperatorTrigger.RETRY, due)
            elif kind == _OFFER:  # no outcome of the ring came in time
                call = self.calls.get(ref)
                if call is not None and call.state is CallState.OFFERED and call.offer_deadline == due:
                    assert call.operator_id is not None
                    op = self.operators[call.operator_id]
                    out.append(CancelOffer(call_id=call.call_id, operator_id=op.operator_id))
                    out += self._offer_failed(call, op, OperatorTrigger.FAULT, "no-outcome", due)
                elif call is None and ref in self.callbacks:
                    out += self._callback_timer(kind, self.callbacks[ref], due)
            elif kind == _CB_OFFER:
                call = self.calls.get(ref)
                if call is not None and call.state is CallState.QUEUED and not call.callback_offered:
                    position, ewt = self.estimate(ref)
                    if (offer := self._callback_offer(call, position, ewt, True, due)) is not None:
                        out.append(offer)
            elif ref in self.callbacks:  # _CB_DUE, _CB_EXPIRE
                out += self._callback_timer(kind, self.callbacks[ref], due)
        return out

    # --- callbacks ----------------------------------------------------------------------

    def _move_callback(self, cb: Callback, trigger: CallbackTrigger, now: float) -> None:
        dst = cb.state = step(CALLBACK_TRANSITIONS, "callback", cb.callback_id, cb.state, trigger)
        if dst in FINAL_CALLBACK_STATES:
            cb.ended_at = now
            del self.callbacks[cb.callback_id]
            key = (cb.number_key, cb.skill)
            if self._open_numbers.get(key) == cb.callback_id:
                del self._open_numbers[key]
            self._open_by_skill[cb.skill] -= 1
            if cb.booked:
                self._booked_by_skill[cb.skill] -= 1
            if cb.callback_id in self._callback_offered_at:
                del self._callback_offered_at[cb.callback_id]
            self.completed_callbacks.append(cb)
        changes = self._changes
        if changes is not None:
            changes.append(CallbackChanged(now, cb.callback_id, dst, cb.skill, cb.operator_id))

    def _callback(self, callback_id: str, trigger: CallbackTrigger) -> Callback:
        """The callback a fact is about, if the fact can move it; else the fact is stale."""
        cb = self.callbacks.get(callback_id)
        if cb is None:
            raise Stale("callback not open")
        if trigger not in CALLBACK_TRANSITIONS[cb.state]:
            raise Stale(f"callback {cb.state.value}")
        return cb

    def _policy(self) -> CallbackPolicy:
        if self.callback_policy is None:
            raise Stale("callbacks are off")
        return self.callback_policy

    def _allowed_from(self, t: float) -> float | None:
        """The first time at or after `t` (core clock) when callbacks may be dialled: within
        opening hours. None: the line never opens again."""
        if self.hours is None:
            return t
        opening = self.hours.next_open(self.epoch + t)
        return None if opening is None else opening - self.epoch

    def _callback_offer(
        self, call: Call, position: int, ewt: float, waited: bool, now: float
    ) -> OfferCallback | None:
        """An offer for a caller who has to wait (`waited`: who has waited the threshold
        already), if the policy says so and the callback could be kept."""
        policy = self.callback_policy
        assert policy is not None and call.skill is not None
        # (Bookings are not in the cap: their slots' capacity limits them, and a day's
        # bookings must not stop the offers to today's callers.)
        skill = call.skill
        offered = self._open_by_skill.get(skill, 0) - self._booked_by_skill.get(skill, 0)
        if call.callback_offered or offered >= policy.max_pending:
            return None
        next_opening = None
        worth = waited or policy.worth_offering(skill, position - 1, ewt)
        if self.hours is not None:
            wall = self.epoch + now
            closes = self.hours.closes_at(wall)
            if closes is not None and wall + ewt >= closes:
                # Their turn would come after closing: a callback then is from the next
                # opening, which they are told (and may decline).
                worth = True
                next_opening = self.hours.next_open(closes)
                if next_opening is None or next_opening - self.epoch >= now + policy.expire_after_s:
                    return None  # it would expire before the line opens again: no promise
        if not worth:
            return None
        call.callback_offered = True
        return OfferCallback(call_id=call.call_id, ewt_s=ewt, next_opening=next_opening)

    def _callback_accepted(self, e: CallbackAccepted) -> list[Command]:
        policy = self._policy()
        call = self._call(e.call_id, CallTrigger.CALLBACK)
        if not call.callback_offered:
            raise Stale("no callback offered")
        if call.callback_id is not None:
            raise Stale("callback already asked for")
        assert call.skill is not None and call.language is not None
        assert call.queue_key is not None and call.queued_at is not None
        existing = self._open_numbers.get((e.number_key, call.skill))
        if existing is not None and self.callbacks[existing].state is _B.REQUESTED:
            # The same number's request is being stored right now: nothing can be promised
            # on it yet (the store may fail); this caller keeps their place, and hears why.
            return [RefuseCallback(call_id=call.call_id, reason="request for this number in progress")]
        if existing is not None:
            # The same number already waits for a callback for this service: one callback,
            # at the earlier place; this caller hears so and leaves.
            self._route_of(call).queue.remove(call.call_id)
            call.callback_id = existing
            self._move_call(call, CallTrigger.CALLBACK, e.now)
            return [ConfirmCallback(call_id=call.call_id, callback_id=existing, merged=True)]
        if e.callback_id in self.callbacks:
            raise Stale("callback id in use")
        cb = Callback(
            callback_id=e.callback_id,
            skill=call.skill,
            language=call.language,
            priority=call.priority,
            queued_at=call.queued_at,
            queue_key=call.queue_key,
            number_key=e.number_key,
            requested_at=e.now,
            expires_at=e.now + policy.expire_after_s,
            call_id=call.call_id,
        )
        call.callback_id = cb.callback_id
        self._open_callback(cb, e.now)
        return [
            PersistCallback(
                call_id=call.call_id,
                callback_id=cb.callback_id,
                skill=cb.skill,
                language=cb.language,
                priority=cb.priority,
                queued_at=cb.queued_at,
                expires_at=cb.expires_at,
            )
        ]

    def _open_callback(self, cb: Callback, now: float) -> None:
        self.callbacks[cb.callback_id] = cb
        if not cb.booked:
            # A caller who needs help now is not merged into an appointment days ahead: only
            # waiting callers' callbacks take duplicates.
            self._open_numbers.setdefault((cb.number_key, cb.skill), cb.callback_id)
        self._open_by_skill[cb.skill] = self._open_by_skill.get(cb.skill, 0) + 1
        if cb.booked:
            self._booked_by_skill[cb.skill] = self._booked_by_skill.get(cb.skill, 0) + 1
        _heappush(self._timers, (cb.expires_at, self._next_seq(), _CB_EXPIRE, cb.callback_id))
        changes = self._changes
        if changes is not None:
            changes.append(CallbackChanged(now, cb.callback_id, cb.state, cb.skill, None))

    def _callback_declined(self, e: CallbackDeclined) -> list[Command]:
        call = self._call(e.call_id, CallTrigger.CALLBACK)
        if not call.callback_offered or call.callback_id is not None:
            raise Stale("no callback offer open")
        return []  # they keep waiting, as they were

    def _callback_stored(self, e: CallbackStored) -> list[Command]:
        cb = self._callback(e.callback_id, _BT.STORED)
        if cb.served_live:
            # Served live while the store wrote (their operator rang, they may have talked
            # and gone already): no callback.
            return self._end_callback(cb, _BT.CANCEL, e.now)
        call = None if cb.call_id is None else self.calls.get(cb.call_id)
        self._move_callback(cb, _BT.STORED, e.now)
        if cb.expires_at <= e.now:
            # Stored too late to be kept (its expiry came while the store wrote): no promise;
            # a caller still waiting keeps their place and hears why.
            ended = self._end_callback(cb, _BT.EXPIRE, e.now)
            if call is not None and call.callback_id == cb.callback_id:
                call.callback_id = None
                ended.append(RefuseCallback(call_id=call.call_id, reason="expired"))
            return ended
        out: list[Command] = []
        if call is not None:
            # The callback takes the caller's place (same key: same position) and the
            # caller hears the promise.
            self._route_of(call).queue.remove(call.call_id)
            self._move_call(call, CallTrigger.CALLBACK, e.now)
            out.append(ConfirmCallback(call_id=call.call_id, callback_id=cb.callback_id))
        return out + self._enqueue_callback(cb, e.now)

    def _callback_store_failed(self, e: CallbackStoreFailed) -> list[Command]:
        cb = self._callback(e.callback_id, _BT.STORE_FAILED)
        self._move_callback(cb, _BT.STORE_FAILED, e.now)  # never stored: nothing to update
        call = None if cb.call_id is None else self.calls.get(cb.call_id)
        if call is None or call.callback_id != cb.callback_id:
            return []
        call.callback_id = None
        if call.state is CallState.QUEUED:
            return [RefuseCallback(call_id=call.call_id, reason=e.reason)]
        return []

    def _enqueue_callback(self, cb: Callback, now: float) -> list[Command]:
        """A PENDING callback joins its queue at its place; served now if someone can. One
        whose expiry passed meanwhile (it was ringing its operator, or being stored, when
        its expiry timer came) ends EXPIRED instead."""
        if cb.expires_at <= now:
            return self._end_callback(cb, _BT.EXPIRE, now)
        route = self._route(cb.skill, cb.language)
        route.queue.push(cb.callback_id, cb.queue_key)
        since = cb.queue_key[1]  # (when it queued, less its head start: as a call's steps)
        for after, _ in self.relaxation[1:]:
            if since + after > now:
                _heappush(self._timers, (since + after, self._next_seq(), _RELAX, cb.callback_id))
        return self._serve_queue(route, now)

    def _dial_callback(self, cb: Callback, op: Operator, now: float, out: list[Command]) -> bool:
        """Ring `op` for a callback just taken off its queue's head (appending the commands
        to `out`); False if it cannot be dialled now, when it steps out of the queue (its
        key kept) until the centre opens or, with every line in use, for a little while."""
        policy = self._policy()
        if self.hours is not None and not self.hours.is_open(self.epoch + now):
            opening = self._allowed_from(now)
            if opening is None or opening >= cb.expires_at:
                out += self._end_callback(cb, _BT.EXPIRE, now)
            else:
                out += self._schedule_callback(cb, _BT.DEFER, opening, now)
            return False
        if len(self.calls) + self._callback_lines >= self.lines:
            self._schedule_callback(cb, _BT.DEFER, now + policy.line_wait_s, now)  # (not stored)
            return False
        cb.operator_id, op.call_id = op.operator_id, cb.callback_id
        if cb.callback_id not in self._callback_offered_at:  # (for the read model only)
            self._callback_offered_at[cb.callback_id] = now
        self._callback_lines += 1  # the line the citizen's call will take
        self._move_callback(cb, _BT.OFFER, now)
        self._move_op(op, OperatorTrigger.RESERVE, now)
        self._arm_ring_deadline(cb, now)
        out.append(DialCallback(call_id=cb.callback_id, operator_id=op.operator_id))
        return True

    def _arm_ring_deadline(self, cb: Callback, now: float) -> None:
        if self.offer_timeout is not None:
            deadline = cb.offer_deadline = now + self.offer_timeout
            _heappush(self._timers, (deadline, self._next_seq(), _OFFER, cb.callback_id))

    def _schedule_callback(
        self, cb: Callback, trigger: CallbackTrigger, at: float, now: float
    ) -> list[Command]:
        """Out of the queue until `at` (DEFER from PENDING, RETRY after a missed call)."""
        queue = self._route(cb.skill, cb.language).queue
        if cb.callback_id in queue:  # (routing may have taken it off already)
            queue.remove(cb.callback_id)
        self._move_callback(cb, trigger, now)
        cb.next_attempt_at = at
        _heappush(self._timers, (at, self._next_seq(), _CB_DUE, cb.callback_id))
        return [
            UpdateCallback(
                call_id=cb.callback_id,
                state=_B.SCHEDULED,
                outcome=cb.outcome,
                attempts=cb.attempts,
                next_attempt_at=at,
            )
        ]

    def _end_callback(self, cb: Callback, trigger: CallbackTrigger, now: float) -> list[Command]:
        """Move a callback to a final state (leaving its queue if it waits there)."""
        queue = self._route(cb.skill, cb.language).queue
        if cb.callback_id in queue:
            queue.remove(cb.callback_id)
        self._move_callback(cb, trigger, now)
        return [
            UpdateCallback(call_id=cb.callback_id, state=cb.state, outcome=cb.outcome, attempts=cb.attempts)
        ]

    def _ringing_callback(self, callback_id: str, operator_id: str) -> tuple[Callback, Operator]:
        cb, op = self.callbacks[callback_id], self.operators.get(operator_id)
        if op is None:
            raise Stale("unknown operator")
        if cb.state is not _B.RINGING_OPERATOR or cb.operator_id != operator_id or op.call_id != callback_id:
            raise Stale(f"callback {cb.state.value}, not ringing this operator")
        return cb, op

    def _callback_operator_answered(self, e: OperatorAnswered) -> list[Command]:
        cb, op = self._ringing_callback(e.call_id, e.operator_id)
        self.ewt.observe_callback_answer(cb.skill, cb.language, e.now)
        self._move_callback(cb, _BT.OPERATOR_ANSWER, e.now)
        self._move_op(op, OperatorTrigger.ANSWER, e.now)
        if op.faults_in_row:
            op.faults_in_row = 0
        cb.attempts += 1
        self._arm_ring_deadline(cb, e.now)  # (a new deadline: the citizen's phone)
        return [DialCitizen(call_id=cb.callback_id, operator_id=op.operator_id, attempt=cb.attempts)]

    def _callback_operator_failed(
        self, cb: Callback, op: Operator, trigger: OperatorTrigger, reason: str, now: float
    ) -> list[Command]:
        """The operator was not reached: the citizen was not called; back to the place."""
        self._operator_not_reached(op, trigger, reason, now)
        cb.operator_id = cb.offer_deadline = None
        self._callback_lines -= 1
        self._move_callback(cb, _BT.OPERATOR_FAILED, now)
        return self._enqueue_callback(cb, now)

    def _citizen_answered(self, e: CitizenAnswered) -> list[Command]:
        cb = self._callback(e.callback_id, _BT.CITIZEN_ANSWER)
        cb.answered_at = e.now
        cb.outcome = "answered"
        cb.offer_deadline = None
        self._move_callback(cb, _BT.CITIZEN_ANSWER, e.now)
        return [
            UpdateCallback(call_id=cb.callback_id, state=_B.TALKING, outcome="answered", attempts=cb.attempts)
        ]

    def _citizen_not_reached(self, e: CitizenNotReached) -> list[Command]:
        cb = self._callback(e.callback_id, _BT.RETRY)
        return self._citizen_missed(cb, e.outcome, e.now)

    def _citizen_missed(self, cb: Callback, outcome: str, now: float) -> list[Command]:
        """The call to the citizen ended unanswered: retry later, or give up."""
        policy = self._policy()
        assert cb.operator_id is not None
        op = self.operators[cb.operator_id]
        cb.operator_id = cb.offer_deadline = None
        cb.outcome = outcome
        self._callback_lines -= 1
        retry_at = self._allowed_from(now + policy.retry_delay_s)
        if cb.attempts >= policy.attempts:
            out = self._end_callback(cb, _BT.GIVE_UP, now)
        elif retry_at is None or retry_at >= cb.expires_at:
            out = self._end_callback(cb, _BT.EXPIRE, now)
        else:
            out = self._schedule_callback(cb, _BT.RETRY, retry_at, now)
        # The operator heard only ringing: nothing to wrap up; free at once.
        op.call_id = None
        self._move_op(op, OperatorTrigger.HANG_UP, now)
        return out + self._make_available(op, OperatorTrigger.WRAP_UP_DONE, now)

    def _callback_hung_up(self, cb: Callback, now: float) -> list[Command]:
        """A leg of a callback's call hung up: the conversation ends (or, before the
        citizen answered, the operator gave up on the call)."""
        if cb.state is _B.RINGING_CITIZEN:
            return self._citizen_missed(cb, "operator_left", now)
        if cb.state is not _B.TALKING:
            raise Stale(f"callback {cb.state.value}")
        assert cb.operator_id is not None and cb.answered_at is not None
        op = self.operators[cb.operator_id]
        self._callback_lines -= 1
        out = self._end_callback(cb, _BT.HANG_UP, now)
        self.ewt.observe_handle_time(cb.skill, now - cb.answered_at + self.wrap_up)
        return out + self._wrap_up(op, now)

    def _callback_timer(self, kind: int, cb: Callback, due: float) -> list[Command]:
        """A timer of an open callback is due (each checks it still applies)."""
        if kind == _RELAX:  # it may now reach a wider circle of operators
            if cb.state is _B.PENDING:
                return self._serve_queue(self._route(cb.skill, cb.language), due)
        elif kind == _OFFER:
            return self._callback_ring_expired(cb, due)
        elif kind == _CB_DUE:
            if cb.state is _B.SCHEDULED and cb.next_attempt_at == due:
                cb.next_attempt_at = None
                self._move_callback(cb, _BT.DUE, due)
                return self._enqueue_callback(cb, due)
        elif kind == _CB_EXPIRE and cb.expires_at == due and cb.state in (_B.PENDING, _B.SCHEDULED):
            # (Ringing: the call in progress decides; it ends EXPIRED if the citizen is not
            # reached.)
            return self._end_callback(cb, _BT.EXPIRE, due)
        return []

    def _callback_ring_expired(self, cb: Callback, due: float) -> list[Command]:
        """No outcome of a callback's ring came in time (the operator's or the citizen's)."""
        if cb.offer_deadline != due or cb.operator_id is None:
            return []
        op = self.operators[cb.operator_id]
        cancel = CancelOffer(call_id=cb.callback_id, operator_id=op.operator_id)
        if cb.state is _B.RINGING_OPERATOR:
            return [cancel, *self._callback_operator_failed(cb, op, OperatorTrigger.FAULT, "no-outcome", due)]
        if cb.state is _B.RINGING_CITIZEN:
            return [cancel, *self._citizen_missed(cb, "failed", due)]
        return []

    def _callback_restored(self, e: CallbackRestored) -> list[Command]:
        self._policy()
        if e.callback_id in self.callbacks:
            raise Stale("callback already open")
        cb = Callback(
            callback_id=e.callback_id,
            skill=e.skill,
            language=e.language,
            priority=e.priority,
            queued_at=e.queued_at,
            queue_key=self._queue_key(e.priority, e.queued_at),
            number_key=e.number_key,
            requested_at=e.requested_at,
            expires_at=e.expires_at,
            attempts=e.attempts,
            booked=e.booked,
        )
        self._open_callback(cb, e.now)
        self._move_callback(cb, _BT.STORED, e.now)  # (it is in the store already)
        if cb.expires_at <= e.now:
            return self._end_callback(cb, _BT.EXPIRE, e.now)
        if e.next_attempt_at is not None and e.next_attempt_at > e.now:
            # (A booked one waits so for its time, which is also its place: it joins its queue
            # behind the callers who queued before then, ahead of those who come later.)
            self._schedule_callback(cb, _BT.DEFER, e.next_attempt_at, e.now)  # (stored so already)
            return []
        return self._enqueue_callback(cb, e.now)

    def _callback_cancelled(self, e: CallbackCancelled) -> list[Command]:
        cb = self._callback(e.callback_id, _BT.CANCEL)
        if cb.state is _B.REQUESTED:
            raise Stale("callback being stored")  # (the store's answer settles it first)
        return self._end_callback(cb, _BT.CANCEL, e.now)

    # --- routing ------------------------------------------------------------------------

    def _make_available(self, op: Operator, trigger: OperatorTrigger, now: float) -> list[Command]:
        """Free an operator: give them the best waiting call they can take, else pool them
        (unless they asked to pause or log out after their call: then that, now)."""
        pending = op.after_call
        if pending is not None:
            want, reason = pending
            if OPERATOR_TRANSITIONS[op.state].get(want) is DEFERRED:
                self._move_op(op, trigger, now)  # (ringing: free first, then leave)
            self._leave(op, want, reason, now)
            return []
        self._move_op(op, trigger, now)
        op.idle_since = now
        return self._find_work(op, now)

    def _find_work(self, op: Operator, now: float) -> list[Command]:
        """Give an available operator the best waiting call (or callback) they can take,
        else pool them."""
        # The best call within their reach: by their level for its skill, then its key.
        best_id, best_level = "", 0
        best_queue: SkillQueue | None = None  # (None: no call found yet)
        for level, queue in op.reach:
            call_id = queue.head_within(now - self._wait_for_level.get(level, self._wait_beyond))
            if call_id is None:
                continue
            if best_queue is not None:
                mine, best = (level, queue.key_of(call_id)), (best_level, best_queue.key_of(best_id))
                if not mine < best:
                    continue
            best_id, best_level, best_queue = call_id, level, queue
        if best_queue is None:
            # (Idle since they were freed: a skills change does not put them at the back.)
            self._pool.add(op.operator_id, op.skills, op.languages, op.idle_since, op.seq)
            return []
        best_queue.remove(best_id)
        call = self.calls.get(best_id)
        if call is not None:
            return [self._offer(call, op, now)]
        out: list[Command] = []
        if self._dial_callback(self.callbacks[best_id], op, now, out):
            return out
        # The callback cannot be dialled now (closed, or no free line): it stepped out of
        # the queue; the operator looks again. (They are AVAILABLE already: no move.)
        return out + self._find_work(op, now)

    def _serve_queue(self, route: _Route, now: float) -> list[Command]:
        """Match waiting calls of a queue to the best available operators, while both exist."""
        # A loop, not one match: with relaxation, a relaxation step can bring several
        # calls within reach of several free operators at once.
        out: list[Command] = []
        relaxation = self.relaxation
        queue, free = route.queue, route.free
        while True:
            op_id = free.best_id()
            if op_id is None:
                break
            op = self.operators[op_id]
            cutoff = now - self._wait_for_level.get(op.skills[queue.skill], self._wait_beyond)
            # The best free operator is the lowest level, so the one whose reach is widest:
            # if no call is within its reach, none is within anyone's.
            call_id = queue.head_within(cutoff)
            if call_id is None:
                break
            queue.remove(call_id)
            call = self.calls.get(call_id)
            if call is not None:
                self._pool.discard(op_id)
                out.append(self._offer(call, op, now))
            elif self._dial_callback(self.callbacks[call_id], op, now, out):
                self._pool.discard(op_id)
            else:
                continue  # the callback stepped out (closed, no free line): look again
            if not relaxation:
                # Without relaxation only the call just queued could be matched: the
                # invariant held before it came.
                break
        return out

    def _offer(self, call: Call, op: Operator, now: float) -> ConnectCall:
        if call.offered_at is None:
            call.offered_at = now
        if call.callback_id is not None:
            # Served live while their request was being stored (a queued call with a
            # callback is only ever one whose callback is REQUESTED): no callback for them.
            self.callbacks[call.callback_id].served_live = True
            call.callback_id = None
        call.operator_id, op.call_id = op.operator_id, call.call_id
        self._move_call(call, CallTrigger.OFFER, now)
        self._move_op(op, OperatorTrigger.RESERVE, now)
        if self.offer_timeout is not None:
            deadline = call.offer_deadline = now + self.offer_timeout
            _heappush(self._timers, (deadline, self._next_seq(), _OFFER, call.call_id))
        return ConnectCall(call_id=call.call_id, operator_id=op.operator_id)
