# The read model: what observers (metrics, MQTT, the wallboard, the records) may know of
# the core. Rules:
# - Observers read a Snapshot, CallViews (one call, or the waiting ones) and a feed of
#   changes, never the engine's own dicts, so the engine can change its insides without
#   breaking them, and nothing they do can change it.
# - Everything here is immutable: a snapshot is a picture at `at`, a change is a fact that
#   happened at `at` (the driver's clock).
# - No phone numbers exist in the core, so none can leak through here.
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from contactcenter.core.lifecycle import CallbackState, CallState, OperatorState


@dataclass(frozen=True, slots=True)
class CallChanged:
    """A call moved to `state` (ENDED: it is also in the completed calls, with its outcome)."""

    at: float
    call_id: str
    state: CallState
    skill: str | None
    language: str | None
    operator_id: str | None


@dataclass(frozen=True, slots=True)
class OperatorChanged:
    """An operator moved to `state`; `reason` is the pause's or the fault's reason."""

    at: float
    operator_id: str
    state: OperatorState
    reason: str | None
    call_id: str | None


@dataclass(frozen=True, slots=True)
class CallbackChanged:
    """A callback moved to `state` (a final one: it is also in the completed callbacks)."""

    at: float
    callback_id: str
    state: CallbackState
    skill: str
    operator_id: str | None


Change = CallChanged | OperatorChanged | CallbackChanged


@dataclass(frozen=True, slots=True)
class OperatorView:
    operator_id: str
    state: OperatorState
    since: float  # when the current state began
    call_id: str | None  # the call ringing or talking (None otherwise)
    reason: str | None  # the pause's or the fault's reason
    skills: Mapping[str, int]  # skill -> level (1 = best)
    languages: tuple[str, ...]
    after_call: str | None  # "pause" or "log_out" asked for after the call in hand
    after_call_reason: str | None = None  # the reason of a pause asked for after the call


@dataclass(frozen=True, slots=True)
class CallView:
    """A call in the system, or a callback's virtual caller (`is_callback`): what a
    supervisor's list and an operator's screen show of it. Times are the core's clock."""

    call_id: str  # (a callback's id for a callback: what OperatorView.call_id names then)
    state: CallState  # a callback's as a call's: see CALLBACK_AS_CALL
    skill: str | None  # (None: still in the IVR)
    language: str | None
    priority: int
    arrived_at: float  # a callback's: when it was asked for
    queued_at: float | None  # when it joined its queue: its place (a callback keeps its caller's)
    offered_at: float | None  # first time an operator was rung for it
    answered_at: float | None  # the operator (a callback's: the citizen) picked up
    operator_id: str | None  # ringing, or on the line for it
    callback_id: str | None  # the callback the caller asked for (a callback's: its own id)
    is_callback: bool = False
    callback_state: CallbackState | None = None  # a callback's own state (None for a call)


# How a callback's virtual caller shows as a call: QUEUED while it waits in its queue (only
# then, as for a call), OFFERED while a phone rings for it (its operator's, then the
# citizen's: nobody has answered it yet), TALKING once the citizen picked up. Being stored,
# or out of its queue until a time, it is like a caller who left their number:
# CALLBACK_CONFIRMED. (A final callback is no longer in the system: ENDED.)
CALLBACK_AS_CALL: Final[dict[CallbackState, CallState]] = {
    CallbackState.REQUESTED: CallState.CALLBACK_CONFIRMED,
    CallbackState.PENDING: CallState.QUEUED,
    CallbackState.SCHEDULED: CallState.CALLBACK_CONFIRMED,
    CallbackState.RINGING_OPERATOR: CallState.OFFERED,
    CallbackState.RINGING_CITIZEN: CallState.OFFERED,
    CallbackState.TALKING: CallState.TALKING,
    CallbackState.COMPLETED: CallState.ENDED,
    CallbackState.FAILED: CallState.ENDED,
    CallbackState.EXPIRED: CallState.ENDED,
    CallbackState.CANCELLED: CallState.ENDED,
}


@dataclass(frozen=True, slots=True)
class SkillView:
    skill: str
    waiting: int  # calls queued for this skill (all languages)
    longest_wait_s: float  # of the calls waiting now (0 when none)
    operators: Mapping[OperatorState, int]  # logged-in operators with this skill, by state
    callbacks: int = 0  # open callbacks for this skill (waiting, scheduled or being dialled)


@dataclass(frozen=True, slots=True)
class Snapshot:
    at: float
    lines: int  # capacity: calls the centre admits at once
    lines_in_use: int  # calls in the system (IVR, queued, ringing, talking)
    in_ivr: int
    skills: Mapping[str, SkillView]
    operators: Mapping[str, OperatorView]
    stale_facts: Mapping[tuple[str, str], int]  # (event, reason) -> facts ignored so far
    callbacks: Mapping[CallbackState, int] = field(default_factory=dict)  # open callbacks by state

    def skill(self, name: str) -> SkillView:
        """The view of one skill; a skill nobody has and no call asked for is empty."""
        found = self.skills.get(name)
        return found if found is not None else SkillView(name, 0, 0.0, {})
