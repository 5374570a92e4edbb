# Callbacks: a citizen's place in a skill queue, kept without their line. Rules:
# - A callback is a virtual caller: it waits in the same (skill, language) queue under the
#   key of the call it came from, so it is counted in positions and EWT, and is served in
#   its turn among live callers, never ahead of it and never in a burst (each needs an
#   operator freed for it).
# - Nothing is promised before the store has committed it (PersistCallback, then
#   CallbackStored); until then the caller stays in the queue as a live caller.
# - Operator first: the operator is rung (DialCallback), and only when they are on the line
#   is the citizen called (DialCitizen); a call to the citizen is an attempt. Attempts are
#   bounded; a retry waits `retry_delay_s` and only within opening hours; a callback not
#   served by `expires_at` ends EXPIRED. Every callback ends in a final state.
# - A booked callback ("cita previa", booking.py) is restored for its time: it joins its
#   queue then, at the place of a caller who joined at that time (never ahead of those who
#   were waiting before), and its delay counts from then. Bookings have their own limit (the
#   slot's capacity), not `max_pending`, the cap on callbacks offered to waiting callers.
# - The core holds no phone number: `number_key` (opaque, the driver's) finds duplicates,
#   which merge into the callback already pending for that number and skill.
# - State changes are moves of CALLBACK_TRANSITIONS (lifecycle.py), made by the engine's
#   `_move_callback` only.
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from contactcenter.core.lifecycle import CallbackState
from contactcenter.core.queues import QueueKey


@dataclass(frozen=True, slots=True)
class CallbackPolicy:
    """When callbacks are offered, and how they are dialled."""

    # Offer when the caller's EWT exceeds this (per skill, else the default) ...
    offer_after_ewt_s: float = 120.0
    offer_after_ewt_by_skill: Mapping[str, float] = field(default_factory=dict)
    # ... or when more than this many callers are ahead of them (None: no such rule).
    offer_queue_length: int | None = None
    max_pending: int = 100  # per skill: beyond this many open callbacks (bookings aside), no offer
    attempts: int = 3  # calls to the citizen at most
    retry_delay_s: float = 600.0
    expire_after_s: float = 8 * 3600.0
    # A callback that reaches an operator when every line is in use steps out this long.
    line_wait_s: float = 10.0

    def __post_init__(self) -> None:
        if not self.offer_after_ewt_s >= 0:
            raise ValueError(f"offer_after_ewt_s must be >= 0, got {self.offer_after_ewt_s}")
        for skill, after in self.offer_after_ewt_by_skill.items():
            if not after >= 0:
                raise ValueError(f"offer_after_ewt_s of {skill} must be >= 0, got {after}")
        if self.offer_queue_length is not None and self.offer_queue_length < 0:
            raise ValueError(f"offer_queue_length must be >= 0, got {self.offer_queue_length}")
        if self.max_pending < 1 or self.attempts < 1:
            raise ValueError("max_pending and attempts must be >= 1")
        for name in ("retry_delay_s", "expire_after_s", "line_wait_s"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number of seconds, got {value}")

    def threshold(self, skill: str) -> float:
        return self.offer_after_ewt_by_skill.get(skill, self.offer_after_ewt_s)

    def worth_offering(self, skill: str, ahead: int, ewt_s: float) -> bool:
        """Whether a caller with `ahead` callers before them and EWT `ewt_s` is offered one
        (availability of operators, the cap and closing time are the engine's to check)."""
        if ewt_s > self.threshold(skill):
            return True
        limit = self.offer_queue_length
        return limit is not None and ahead > limit


@dataclass(slots=True, eq=False)
class Callback:
    callback_id: str
    skill: str
    language: str
    priority: int
    queued_at: float  # of the call it came from: its place (a booked one's: its time)
    queue_key: QueueKey
    number_key: str
    requested_at: float
    expires_at: float
    state: CallbackState = CallbackState.REQUESTED
    call_id: str | None = None  # the live call it came from (None: restored or booked)
    attempts: int = 0  # calls to the citizen so far
    operator_id: str | None = None  # ringing, or on the line for it
    next_attempt_at: float | None = None  # while SCHEDULED: when it goes back to its queue
    booked: bool = False  # a slot booked for a time ("cita previa"), not a waiting caller's
    outcome: str | None = None  # of the last call to the citizen
    offer_deadline: float | None = None  # of the ring in progress, when the engine has one
    served_live: bool = False  # its caller reached an operator while it was being stored
    answered_at: float | None = None  # the citizen picked up: served
    ended_at: float | None = None  # it reached a final state

    @property
    def waiting_since(self) -> float:
        """When the citizen began to wait for this callback: the request; for a booked one,
        its time (booked days ahead, nobody waits for it before then), which is its place."""
        return self.queued_at if self.booked else self.requested_at

    @property
    def time_to_serve(self) -> float | None:
        """Seconds from the request (a booked one: from its time) to the conversation (None
        if never served)."""
        return None if self.answered_at is None else self.answered_at - self.waiting_since

    @property
    def time_from_queue(self) -> float | None:
        """Seconds from when the citizen first queued to the conversation: what they really
        waited to be served, the time on hold before the request included."""
        return None if self.answered_at is None else self.answered_at - self.queued_at
