# Commands: what the core asks its driver to do. The core has already changed its state when
# it returns a command; the driver reports the outcome back as an event (e.g. ConnectCall ->
# OperatorAnswered, OperatorRingTimeout or OperatorUnreachable). Read-only and keyword-only, built with an
# explicit __init__ for the same reasons as the events (see events.py): one per routed call.
# (Fields are assigned one per statement: mypy does not check Final in tuple assignments.)
from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(slots=True, init=False, unsafe_hash=True)
class Command:
    call_id: Final[str]

    def __init__(self, *, call_id: str) -> None:
        self.call_id = call_id


@dataclass(slots=True, init=False, unsafe_hash=True)
class ConnectCall(Command):
    """Ring `operator_id` and, when they answer, bridge them to the waiting caller."""

    operator_id: Final[str]

    def __init__(self, *, call_id: str, operator_id: str) -> None:
        Command.__init__(self, call_id=call_id)
        self.operator_id = operator_id


@dataclass(slots=True, init=False, unsafe_hash=True)
class BridgeCall(Command):
    """The operator answered: join the waiting caller to them (the call is TALKING)."""

    operator_id: Final[str]

    def __init__(self, *, call_id: str, operator_id: str) -> None:
        Command.__init__(self, call_id=call_id)
        self.operator_id = operator_id


@dataclass(slots=True, init=False, unsafe_hash=True)
class CancelOffer(Command):
    """Stop ringing the operator's phone for this call: the caller left, or no outcome of
    the ring came in time (the operator is then unreachable and the call back in queue)."""

    operator_id: Final[str]

    def __init__(self, *, call_id: str, operator_id: str) -> None:
        Command.__init__(self, call_id=call_id)
        self.operator_id = operator_id


@dataclass(slots=True, init=False, unsafe_hash=True)
class RejectBusy(Command):
    """Every line is in use: play the busy message and hang up."""


@dataclass(slots=True, init=False, unsafe_hash=True)
class RejectClosed(Command):
    """Outside opening hours: play the closed message (with the hours) and hang up."""


@dataclass(slots=True, init=False, unsafe_hash=True)
class AnnounceWait(Command):
    """Tell a waiting caller their place in line and expected wait (in their language)."""

    position: Final[int]
    ewt_s: Final[float]

    def __init__(self, *, call_id: str, position: int, ewt_s: float) -> None:
        Command.__init__(self, call_id=call_id)
        self.position = position
        self.ewt_s = ewt_s
