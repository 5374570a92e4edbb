# Lifecycles as tables, keyed by state and then by what happens (as h11's _state.py keys
# its transitions by role, state and event). Rules:
# - Every state change of a call or an operator is looked up here: `CALL_TRANSITIONS[state]
#   [trigger]` is the state it moves to; a missing entry is a move the lifecycle does not
#   have, and `step` raises InvalidTransition for it. Nothing else raises InvalidTransition.
# - DEFERRED (operators only) means "accepted, but it takes effect after the call in hand":
#   a pause, logout, resume or login while the phone rings or the operator talks.
# - A loop (a move to the state it leaves) is a fact accepted in that state that changes
#   something else: a waiting call moved to another queue (MOVE) stays QUEUED; an operator
#   whose skills a supervisor changed (SKILLS) stays in their state, whatever it is, as long
#   as they are logged in (a logged-out operator gets skills by logging in).
# - The engine checks a fact against these tables before it changes anything: a fact the
#   table has no entry for is stale (the world moved on), counted and ignored there.
# - State diagrams are generated from the tables (`as_dot`).
from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import TypeVar

S = TypeVar("S", bound=Enum)
T = TypeVar("T", bound=Enum)


class InvalidTransition(ValueError):
    """A state change the lifecycle table does not have: a bug in the core if it happens
    after the engine accepted a fact (facts that do not fit are stale, not errors)."""

    def __init__(self, what: str, ident: str, src: Enum, trigger: Enum) -> None:
        super().__init__(f"{what} {ident}: no transition from {src.value} on {trigger.value}")
        self.src, self.trigger = src, trigger


class CallState(Enum):
    __hash__ = object.__hash__  # members are singletons; Enum's own hash is Python-level
    IN_IVR = "in_ivr"
    QUEUED = "queued"
    OFFERED = "offered"  # an operator's phone is ringing for it
    TALKING = "talking"
    # The caller left their number: a callback holds their place; they hear the
    # confirmation and hang up.
    CALLBACK_CONFIRMED = "callback_confirmed"
    ENDED = "ended"


class CallTrigger(Enum):
    __hash__ = object.__hash__
    REJECT = "reject"  # refused at arrival: every line in use, or the centre is closed
    IVR_DONE = "ivr_done"  # the caller chose a service
    OFFER = "offer"  # routing chose an operator and rings them
    ANSWER = "answer"  # the operator picked up
    OFFER_FAILED = "offer_failed"  # not answered, or could not ring: back to the queue's head
    CALLER_HANGUP = "caller_hangup"
    OPERATOR_HANGUP = "operator_hangup"
    CALLBACK = "callback"  # their callback is stored (or one was already pending for them)
    MOVE = "move"  # a supervisor moved it to another queue: its place in time goes with it


class CallOutcome(Enum):
    __hash__ = object.__hash__  # members are singletons; Enum's own hash is Python-level
    ANSWERED = "answered"
    ABANDONED = "abandoned"  # hung up before an operator answered (in the IVR or waiting)
    BLOCKED = "blocked"  # refused at admission: every line in use
    CLOSED = "closed"  # arrived outside opening hours
    CALLBACK = "callback"  # left their number while waiting: served by a callback, later


class OperatorState(Enum):
    __hash__ = object.__hash__  # members are singletons; Enum's own hash is Python-level
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RESERVED = "reserved"  # chosen for a call, phone ringing
    TALKING = "talking"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"
    # The system could not ring their phone (Asterisk or the AMI link failed, not the
    # operator): offered calls again after a bounded backoff, visible to supervisors.
    UNREACHABLE = "unreachable"


class OperatorTrigger(Enum):
    __hash__ = object.__hash__
    LOG_IN = "log_in"
    LOG_OUT = "log_out"
    PAUSE = "pause"
    RESUME = "resume"
    RESERVE = "reserve"  # offered a call: the phone rings
    ANSWER = "answer"
    NO_ANSWER = "no_answer"  # the phone rang out or was refused: the operator's doing
    FAULT = "fault"  # the phone could not be rung: the system's doing
    CANCEL = "cancel"  # the caller left while the phone rang
    HANG_UP = "hang_up"  # the conversation ended
    WRAP_UP_DONE = "wrap_up_done"
    RETRY = "retry"  # the backoff after a fault is over, or the link is back
    # A supervisor changed their skills or languages: routing uses them from now on; the
    # call in hand, if any, goes on (a loop: the state does not change).
    SKILLS = "skills"


class _Deferred(Enum):
    DEFERRED = "deferred"


DEFERRED = _Deferred.DEFERRED

_C, _CT = CallState, CallTrigger
# (Typed as dicts, not Mappings, so the compiled build looks them up as dicts: a move is
# made four times per call. Never mutated.)
CALL_TRANSITIONS: dict[CallState, dict[CallTrigger, CallState]] = {
    _C.IN_IVR: {_CT.IVR_DONE: _C.QUEUED, _CT.CALLER_HANGUP: _C.ENDED, _CT.REJECT: _C.ENDED},
    _C.QUEUED: {
        _CT.OFFER: _C.OFFERED,
        _CT.CALLER_HANGUP: _C.ENDED,
        _CT.CALLBACK: _C.CALLBACK_CONFIRMED,
        # (Only a call in a queue: one ringing an operator, or talking, is in hand already.)
        _CT.MOVE: _C.QUEUED,
    },
    _C.OFFERED: {_CT.ANSWER: _C.TALKING, _CT.OFFER_FAILED: _C.QUEUED, _CT.CALLER_HANGUP: _C.ENDED},
    _C.TALKING: {_CT.CALLER_HANGUP: _C.ENDED, _CT.OPERATOR_HANGUP: _C.ENDED},
    _C.CALLBACK_CONFIRMED: {_CT.CALLER_HANGUP: _C.ENDED},
    _C.ENDED: {},
}

_O, _OT = OperatorState, OperatorTrigger
# While the phone rings or the operator talks, their own requests wait for the call's end.
_AFTER_CALL: dict[OperatorTrigger, _Deferred] = {
    _OT.PAUSE: DEFERRED,
    _OT.LOG_OUT: DEFERRED,
    _OT.RESUME: DEFERRED,  # calls off a pause asked for after the call
    _OT.LOG_IN: DEFERRED,  # calls off a logout asked for after the call
}
OPERATOR_TRANSITIONS: dict[OperatorState, dict[OperatorTrigger, OperatorState | _Deferred]] = {
    _O.LOGGED_OUT: {_OT.LOG_IN: _O.AVAILABLE},
    _O.AVAILABLE: {
        _OT.RESERVE: _O.RESERVED,
        _OT.PAUSE: _O.PAUSED,
        _OT.LOG_OUT: _O.LOGGED_OUT,
        _OT.SKILLS: _O.AVAILABLE,
    },
    _O.RESERVED: {
        _OT.ANSWER: _O.TALKING,
        # A phone not answered once will likely not be answered next time either: paused.
        _OT.NO_ANSWER: _O.PAUSED,
        _OT.FAULT: _O.UNREACHABLE,
        _OT.CANCEL: _O.AVAILABLE,
        _OT.SKILLS: _O.RESERVED,
        **_AFTER_CALL,
    },
    _O.TALKING: {_OT.HANG_UP: _O.WRAP_UP, _OT.SKILLS: _O.TALKING, **_AFTER_CALL},
    _O.WRAP_UP: {
        # The wrap-up time is up, or the operator says their after-call work is done.
        _OT.WRAP_UP_DONE: _O.AVAILABLE,
        _OT.PAUSE: _O.PAUSED,  # wrap-up is over early: the pause starts now
        _OT.LOG_OUT: _O.LOGGED_OUT,
        _OT.RESUME: DEFERRED,
        _OT.LOG_IN: DEFERRED,
        _OT.SKILLS: _O.WRAP_UP,
    },
    _O.PAUSED: {
        _OT.RESUME: _O.AVAILABLE,
        _OT.PAUSE: _O.PAUSED,
        _OT.LOG_OUT: _O.LOGGED_OUT,
        _OT.SKILLS: _O.PAUSED,
    },
    _O.UNREACHABLE: {
        _OT.RETRY: _O.AVAILABLE,
        _OT.PAUSE: _O.PAUSED,
        _OT.LOG_OUT: _O.LOGGED_OUT,
        _OT.SKILLS: _O.UNREACHABLE,
    },
}


class CallbackState(Enum):
    """A callback: a citizen's place in a skill queue, kept without their line."""

    __hash__ = object.__hash__
    REQUESTED = "requested"  # the citizen accepted; being written to the store
    PENDING = "pending"  # in its queue, at the place of the call it came from
    SCHEDULED = "scheduled"  # out of the queue until a time: a retry, the next opening, a slot
    RINGING_OPERATOR = "ringing_operator"  # operator first: their phone rings
    RINGING_CITIZEN = "ringing_citizen"  # the operator is on the line; the citizen's rings
    TALKING = "talking"
    COMPLETED = "completed"  # final: the citizen was served
    FAILED = "failed"  # final: not reached in the attempts allowed
    EXPIRED = "expired"  # final: not served before its expiry
    CANCELLED = "cancelled"  # final: served live meanwhile, or never stored


class CallbackTrigger(Enum):
    __hash__ = object.__hash__
    STORED = "stored"  # committed to the store: the promise is made
    STORE_FAILED = "store_failed"  # not committed: no promise
    OFFER = "offer"  # routing chose an operator for it: ring them
    DEFER = "defer"  # it reached an operator when it cannot be dialled (closed, no free line)
    DUE = "due"  # its time came: back into its queue, at its place
    OPERATOR_ANSWER = "operator_answer"
    OPERATOR_FAILED = "operator_failed"  # the operator was not reached: back to its place
    CITIZEN_ANSWER = "citizen_answer"
    RETRY = "retry"  # the citizen was not reached; attempts and time are left
    GIVE_UP = "give_up"  # the citizen was not reached in the last attempt allowed
    HANG_UP = "hang_up"  # the conversation ended
    EXPIRE = "expire"
    CANCEL = "cancel"


FINAL_CALLBACK_STATES = frozenset(
    {CallbackState.COMPLETED, CallbackState.FAILED, CallbackState.EXPIRED, CallbackState.CANCELLED}
)

_B, _BT = CallbackState, CallbackTrigger
CALLBACK_TRANSITIONS: dict[CallbackState, dict[CallbackTrigger, CallbackState]] = {
    _B.REQUESTED: {_BT.STORED: _B.PENDING, _BT.STORE_FAILED: _B.CANCELLED, _BT.CANCEL: _B.CANCELLED},
    _B.PENDING: {
        _BT.OFFER: _B.RINGING_OPERATOR,
        _BT.DEFER: _B.SCHEDULED,
        _BT.EXPIRE: _B.EXPIRED,
        _BT.CANCEL: _B.CANCELLED,
    },
    _B.SCHEDULED: {_BT.DUE: _B.PENDING, _BT.EXPIRE: _B.EXPIRED, _BT.CANCEL: _B.CANCELLED},
    _B.RINGING_OPERATOR: {_BT.OPERATOR_ANSWER: _B.RINGING_CITIZEN, _BT.OPERATOR_FAILED: _B.PENDING},
    _B.RINGING_CITIZEN: {
        _BT.CITIZEN_ANSWER: _B.TALKING,
        _BT.RETRY: _B.SCHEDULED,
        _BT.GIVE_UP: _B.FAILED,
        _BT.EXPIRE: _B.EXPIRED,  # not reached, and its time is up
    },
    _B.TALKING: {_BT.HANG_UP: _B.COMPLETED},
    **{final: {} for final in FINAL_CALLBACK_STATES},
}

# Operators counted by EWT as able to take calls (logged in, not paused).
STAFFED = frozenset(s for s in OperatorState if s not in (_O.LOGGED_OUT, _O.PAUSED))


def step(table: Mapping[S, Mapping[T, S]], what: str, ident: str, src: S, trigger: T) -> S:
    """The state `trigger` moves `src` to; InvalidTransition if the table has no such move."""
    dst = table[src].get(trigger)
    if dst is None:
        raise InvalidTransition(what, ident, src, trigger)
    return dst


def as_dot(table: Mapping[S, Mapping[T, object]], name: str) -> str:
    """Graphviz source of a lifecycle table, for the docs (deferred moves are loops)."""
    lines = [f"digraph {name} {{"]
    for src, moves in table.items():
        for trigger, dst in sorted(moves.items(), key=lambda m: str(m[0].value)):
            target = src if dst is DEFERRED else dst
            style = ", style=dashed" if dst is DEFERRED else ""
            lines.append(f'  "{src.value}" -> "{target.value}" [label="{trigger.value}"{style}];')  # type: ignore[attr-defined]
    lines.append("}")
    return "\n".join(lines)
