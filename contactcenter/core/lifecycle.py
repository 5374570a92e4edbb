# Lifecycles as tables: the only place where a state change is checked. A call or operator
# changes state through `advance`, which raises InvalidTransition for any move the table
# does not list. State diagrams can be generated from the tables (see `as_dot`).
from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import TypeVar

S = TypeVar("S", bound=Enum)


class InvalidTransition(ValueError):
    """A state change the lifecycle table does not allow: a bug in the driver or the core."""

    def __init__(self, what: str, ident: str, src: Enum, dst: Enum) -> None:
        super().__init__(f"{what} {ident}: {src.value} -> {dst.value} is not allowed")
        self.src, self.dst = src, dst


class CallState(Enum):
    __hash__ = object.__hash__  # members are singletons; Enum's own hash is Python-level
    IN_IVR = "in_ivr"
    QUEUED = "queued"
    OFFERED = "offered"  # an operator's phone is ringing for it
    TALKING = "talking"
    ENDED = "ended"


class CallOutcome(Enum):
    __hash__ = object.__hash__  # members are singletons; Enum's own hash is Python-level
    ANSWERED = "answered"
    ABANDONED = "abandoned"  # hung up before an operator answered (in the IVR or waiting)
    BLOCKED = "blocked"  # refused at admission: every line in use
    CLOSED = "closed"  # arrived outside opening hours


class OperatorState(Enum):
    __hash__ = object.__hash__  # members are singletons; Enum's own hash is Python-level
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RESERVED = "reserved"  # chosen for a call, phone ringing
    TALKING = "talking"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


CALL_TRANSITIONS: Mapping[CallState, frozenset[CallState]] = {
    CallState.IN_IVR: frozenset({CallState.QUEUED, CallState.ENDED}),
    CallState.QUEUED: frozenset({CallState.OFFERED, CallState.ENDED}),
    # A ring timeout sends the call back to its queue, at the head.
    CallState.OFFERED: frozenset({CallState.TALKING, CallState.QUEUED, CallState.ENDED}),
    CallState.TALKING: frozenset({CallState.ENDED}),
    CallState.ENDED: frozenset(),
}

OPERATOR_TRANSITIONS: Mapping[OperatorState, frozenset[OperatorState]] = {
    OperatorState.LOGGED_OUT: frozenset({OperatorState.AVAILABLE, OperatorState.PAUSED}),
    OperatorState.AVAILABLE: frozenset(
        {OperatorState.RESERVED, OperatorState.PAUSED, OperatorState.LOGGED_OUT}
    ),
    # Reserved -> paused is the auto-pause after a ring timeout; -> available when the
    # caller hangs up while the operator's phone rings (-> paused or logged out instead if
    # they had asked for that after this call).
    OperatorState.RESERVED: frozenset(
        {OperatorState.TALKING, OperatorState.PAUSED, OperatorState.AVAILABLE, OperatorState.LOGGED_OUT}
    ),
    OperatorState.TALKING: frozenset({OperatorState.WRAP_UP}),
    OperatorState.WRAP_UP: frozenset(
        {OperatorState.AVAILABLE, OperatorState.PAUSED, OperatorState.LOGGED_OUT}
    ),
    OperatorState.PAUSED: frozenset({OperatorState.AVAILABLE, OperatorState.LOGGED_OUT}),
}


def check(table: Mapping[S, frozenset[S]], what: str, ident: str, src: S, dst: S) -> None:
    """Raise InvalidTransition unless `table` allows src -> dst."""
    if dst not in table[src]:
        raise InvalidTransition(what, ident, src, dst)


def as_dot(table: Mapping[S, frozenset[S]], name: str) -> str:
    """Graphviz source of a lifecycle table, for the docs."""
    lines = [f"digraph {name} {{"]
    for src, dsts in table.items():
        for dst in sorted(dsts, key=lambda s: str(s.value)):
            lines.append(f'  "{src.value}" -> "{dst.value}";')
    lines.append("}")
    return "\n".join(lines)
