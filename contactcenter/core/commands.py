# Commands: what the core asks its driver to do. The core has already changed its state when
# it returns a command; the driver reports the outcome back as an event (e.g. ConnectCall ->
# OperatorAnswered, OperatorRingTimeout or OperatorUnreachable). Read-only and keyword-only, built with an
# explicit __init__ for the same reasons as the events (see events.py): one per routed call.
# (Fields are assigned one per statement: mypy does not check Final in tuple assignments.)
from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from contactcenter.core.lifecycle import CallbackState


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


# --- callbacks: `call_id` is the live call's for the offer and the confirmation, the
# callback's own id (callback_id) for everything after ------------------------------------


@dataclass(slots=True, init=False, unsafe_hash=True)
class OfferCallback(Command):
    """Every operator who could take this waiting caller is busy and the wait is long: offer
    to call them back, telling them `ewt_s` (math.inf: unknown). `next_opening` (wall-clock
    seconds) when the callback could not happen before closing: it would be from then."""

    ewt_s: Final[float]
    next_opening: Final[float | None]

    def __init__(self, *, call_id: str, ewt_s: float, next_opening: float | None = None) -> None:
        Command.__init__(self, call_id=call_id)
        self.ewt_s = ewt_s
        self.next_opening = next_opening


@dataclass(slots=True, init=False, unsafe_hash=True)
class PersistCallback(Command):
    """Commit the callback (with the number the driver holds for `call_id`) to the store,
    then report CallbackStored or CallbackStoreFailed. Nothing is promised before that."""

    callback_id: Final[str]
    skill: Final[str]
    language: Final[str]
    priority: Final[int]
    queued_at: Final[float]  # the call's place: (priority, queued_at), on the core's clock
    expires_at: Final[float]

    def __init__(
        self,
        *,
        call_id: str,
        callback_id: str,
        skill: str,
        language: str,
        priority: int,
        queued_at: float,
        expires_at: float,
    ) -> None:
        Command.__init__(self, call_id=call_id)
        self.callback_id = callback_id
        self.skill = skill
        self.language = language
        self.priority = priority
        self.queued_at = queued_at
        self.expires_at = expires_at


@dataclass(slots=True, init=False, unsafe_hash=True)
class ConfirmCallback(Command):
    """Tell the caller they will be called back, then end their call. `merged`: a callback
    for their number and service was already pending; it keeps its (earlier) place."""

    callback_id: Final[str]
    merged: Final[bool]

    def __init__(self, *, call_id: str, callback_id: str, merged: bool = False) -> None:
        Command.__init__(self, call_id=call_id)
        self.callback_id = callback_id
        self.merged = merged


@dataclass(slots=True, init=False, unsafe_hash=True)
class RefuseCallback(Command):
    """The callback could not be stored: tell the caller why; they keep their place."""

    reason: Final[str]

    def __init__(self, *, call_id: str, reason: str) -> None:
        Command.__init__(self, call_id=call_id)
        self.reason = reason


@dataclass(slots=True, init=False, unsafe_hash=True)
class DialCallback(Command):
    """Operator first: ring `operator_id` with the callback's context on their screen.
    Outcomes as for ConnectCall (OperatorAnswered, OperatorRingTimeout, OperatorUnreachable),
    with call_id = the callback's id."""

    operator_id: Final[str]

    def __init__(self, *, call_id: str, operator_id: str) -> None:
        Command.__init__(self, call_id=call_id)
        self.operator_id = operator_id


@dataclass(slots=True, init=False, unsafe_hash=True)
class DialCitizen(Command):
    """The operator is on the line: record attempt `attempt` in the store, then call the
    citizen into the operator's conversation. Outcomes: CitizenAnswered, CitizenNotReached."""

    operator_id: Final[str]
    attempt: Final[int]

    def __init__(self, *, call_id: str, operator_id: str, attempt: int) -> None:
        Command.__init__(self, call_id=call_id)
        self.operator_id = operator_id
        self.attempt = attempt


@dataclass(slots=True, init=False, unsafe_hash=True)
class UpdateCallback(Command):
    """Write the callback's new state to the store: SCHEDULED with `next_attempt_at` (a
    retry, or the next opening), or a final state (the store then forgets the number)."""

    state: Final[CallbackState]
    outcome: Final[str | None]  # of the last call to the citizen, if any
    attempts: Final[int]
    next_attempt_at: Final[float | None]

    def __init__(
        self,
        *,
        call_id: str,
        state: CallbackState,
        outcome: str | None = None,
        attempts: int = 0,
        next_attempt_at: float | None = None,
    ) -> None:
        Command.__init__(self, call_id=call_id)
        self.state = state
        self.outcome = outcome
        self.attempts = attempts
        self.next_attempt_at = next_attempt_at
