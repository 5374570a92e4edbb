# Commands: what the core asks its driver to do. Frozen, slotted, keyword-only. The core has
# already changed its state when it returns a command; the driver reports the outcome back
# as an event (e.g. ConnectCall -> OperatorAnswered or OperatorRingTimeout).
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    call_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectCall(Command):
    """Ring `operator_id` and, when they answer, bridge them to the waiting caller."""

    operator_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelOffer(Command):
    """The caller left while the operator's phone rang: stop ringing it."""

    operator_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RejectBusy(Command):
    """Every line is in use: play the busy message and hang up."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RejectClosed(Command):
    """Outside opening hours: play the closed message (with the hours) and hang up."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AnnounceWait(Command):
    """Tell a waiting caller their place in line and expected wait (in their language)."""

    position: int
    ewt_s: float
