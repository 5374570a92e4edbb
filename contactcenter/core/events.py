# Events: past-tense facts fed to the core. Rules:
# - Read-only: every field is Final, so mypy --strict refuses an assignment anywhere in the
#   code base, and the compiled build (setup.py, mypyc) refuses it at run time too.
# - Keyword-only, and each event checks its own fields on construction, so a malformed fact
#   never reaches the engine's state (the adapters log, count and drop what fails here).
# - Cheap: four are built for every simulated call. Hence an explicit __init__ with the
#   checks inline rather than a frozen dataclass's generated one (object.__setattr__ per
#   field, then __post_init__): half the cost in CPython, a seventh once compiled. The four
#   (CallArrived, IvrCompleted, OperatorAnswered, CallEnded) check the common case of their
#   ids inline too, and call _id only for what fails it. Exact types are tested with
#   `type(x) is str`, not `x.__class__ is str`: the compiled build reads the type of an
#   object directly, but looks `__class__` up as an attribute.
#   @dataclass still writes __eq__, __hash__ and __repr__ from the fields.
# - Subclasses call Event.__init__ by name: zero-argument super() fails in slotted
#   dataclasses (the decorator replaces the class it was compiled against).
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final


# Python's convention, which the compiled build's argument checks follow too: a value of the
# wrong type is a TypeError, a value of the right type but out of range a ValueError. (A bool
# is an int, hence a number: both builds take True as 1.)
def _time(now: float) -> float:
    # The common case (a finite float, or int) is decided by exact type checks first.
    cls = type(now)
    if (cls is float or cls is int) and math.isfinite(now):
        return now
    if not isinstance(now, (int, float)):
        raise TypeError(f"now must be a number of seconds, got {now!r}")
    if isinstance(now, bool):
        return float(now)
    raise ValueError(f"now must be a finite number of seconds, got {now!r}")


def _id(name: str, value: str) -> str:
    if type(value) is str and value:
        return value
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {value!r}")
    raise ValueError(f"{name} must not be empty")


def _int(name: str, value: int) -> int:
    if isinstance(value, int):
        return int(value)
    raise TypeError(f"{name} must be an integer, got {value!r}")


@dataclass(slots=True, init=False, unsafe_hash=True)
class Event:
    now: Final[float]

    def __init__(self, *, now: float) -> None:
        # The common case inline (x - x is 0.0 for a finite float, NaN for inf and NaN):
        # one function call fewer for each of the four events of every simulated call.
        self.now = now if type(now) is float and now - now == 0.0 else _time(now)


@dataclass(slots=True, init=False, unsafe_hash=True)
class CallArrived(Event):
    """A citizen's call was answered by the system and entered the IVR."""

    call_id: Final[str]

    def __init__(self, *, now: float, call_id: str) -> None:
        Event.__init__(self, now=now)
        self.call_id = call_id if type(call_id) is str and call_id else _id("call_id", call_id)


@dataclass(slots=True, init=False, unsafe_hash=True)
class IvrCompleted(Event):
    """The caller chose a service (skill) and language; the call now waits for an operator."""

    call_id: Final[str]
    skill: Final[str]
    language: Final[str]
    priority: Final[int]  # higher is served first

    def __init__(self, *, now: float, call_id: str, skill: str, language: str, priority: int = 0) -> None:
        Event.__init__(self, now=now)
        self.call_id = call_id if type(call_id) is str and call_id else _id("call_id", call_id)
        self.skill = skill if type(skill) is str and skill else _id("skill", skill)
        self.language = language if type(language) is str and language else _id("language", language)
        self.priority = priority if type(priority) is int else _int("priority", priority)


@dataclass(slots=True, init=False, unsafe_hash=True)
class CallerHungUp(Event):
    """The citizen's leg hung up (in the IVR, waiting, while an operator rang, or talking)."""

    call_id: Final[str]

    def __init__(self, *, now: float, call_id: str) -> None:
        Event.__init__(self, now=now)
        self.call_id = _id("call_id", call_id)


@dataclass(slots=True, init=False, unsafe_hash=True)
class OperatorAnswered(Event):
    """The operator picked up the call offered to them."""

    call_id: Final[str]
    operator_id: Final[str]

    def __init__(self, *, now: float, call_id: str, operator_id: str) -> None:
        Event.__init__(self, now=now)
        self.call_id = call_id if type(call_id) is str and call_id else _id("call_id", call_id)
        op = operator_id
        self.operator_id = op if type(op) is str and op else _id("operator_id", op)


@dataclass(slots=True, init=False, unsafe_hash=True)
class OperatorRingTimeout(Event):
    """The operator did not take the offered call: their phone rang out, was busy or
    declined it. The operator's doing: they are paused with `reason`."""

    call_id: Final[str]
    operator_id: Final[str]
    reason: Final[str]

    def __init__(self, *, now: float, call_id: str, operator_id: str, reason: str = "no-answer") -> None:
        Event.__init__(self, now=now)
        self.call_id = _id("call_id", call_id)
        self.operator_id = _id("operator_id", operator_id)
        self.reason = reason


@dataclass(slots=True, init=False, unsafe_hash=True)
class OperatorUnreachable(Event):
    """The system could not ring the operator's phone for the offered call (Asterisk
    refused or failed the call, the AMI link failed): not the operator's doing. The call
    goes back to the head of its queue; the operator is retried after a bounded backoff."""

    call_id: Final[str]
    operator_id: Final[str]
    reason: Final[str]

    def __init__(self, *, now: float, call_id: str, operator_id: str, reason: str) -> None:
        Event.__init__(self, now=now)
        self.call_id = _id("call_id", call_id)
        self.operator_id = _id("operator_id", operator_id)
        self.reason = _id("reason", reason)


@dataclass(slots=True, init=False, unsafe_hash=True)
class OperatorReachable(Event):
    """The system can reach the operator's phone again (e.g. the AMI link is back): an
    operator left unreachable by a fault takes calls now, without waiting out the backoff."""

    operator_id: Final[str]

    def __init__(self, *, now: float, operator_id: str) -> None:
        Event.__init__(self, now=now)
        self.operator_id = _id("operator_id", operator_id)


@dataclass(slots=True, init=False, unsafe_hash=True)
class CallEnded(Event):
    """The operator's leg of a conversation hung up."""

    call_id: Final[str]

    def __init__(self, *, now: float, call_id: str) -> None:
        Event.__init__(self, now=now)
        self.call_id = call_id if type(call_id) is str and call_id else _id("call_id", call_id)


def _check_skills(skills: tuple[tuple[str, int], ...]) -> None:
    if not skills:
        raise ValueError("an operator needs at least one skill")
    for skill, level in skills:
        _id("skill", skill)
        if _int("skill level", level) < 1:
            raise ValueError(f"skill level must be >= 1, got {level!r}")


@dataclass(slots=True, init=False, unsafe_hash=True)
class OperatorLoggedIn(Event):
    operator_id: Final[str]
    skills: Final[tuple[tuple[str, int], ...]]  # (skill, level), level 1 = best
    languages: Final[tuple[str, ...]]
    # Logged in straight into this pause, never offered a call in between (a restart's
    # operator who was paused, or whose call outlived the last controller). None: ready.
    paused: Final[str | None]

    def __init__(
        self,
        *,
        now: float,
        operator_id: str,
        skills: tuple[tuple[str, int], ...],
        languages: tuple[str, ...],
        paused: str | None = None,
    ) -> None:
        Event.__init__(self, now=now)
        self.operator_id = _id("operator_id", operator_id)
        _check_skills(skills)
        if not languages:
            raise ValueError("an operator needs at least one language")
        self.skills = skills
        self.languages = languages
        self.paused = None if paused is None else _id("paused", paused)


@dataclass(slots=True, init=False, unsafe_hash=True)
class OperatorLoggedOut(Event):
    operator_id: Final[str]

    def __init__(self, *, now: float, operator_id: str) -> None:
        Event.__init__(self, now=now)
        self.operator_id = _id("operator_id", operator_id)


@dataclass(slots=True, init=False, unsafe_hash=True)
class OperatorPaused(Event):
    operator_id: Final[str]
    reason: Final[str]

    def __init__(self, *, now: float, operator_id: str, reason: str) -> None:
        Event.__init__(self, now=now)
        self.operator_id = _id("operator_id", operator_id)
        self.reason = _id("reason", reason)


@dataclass(slots=True, init=False, unsafe_hash=True)
class OperatorResumed(Event):
    operator_id: Final[str]

    def __init__(self, *, now: float, operator_id: str) -> None:
        Event.__init__(self, now=now)
        self.operator_id = _id("operator_id", operator_id)


@dataclass(slots=True, init=False, unsafe_hash=True)
class Tick(Event):
    """Time has passed; the core fires whatever timers are due."""

    def __init__(self, *, now: float) -> None:
        Event.__init__(self, now=now)


# --- callbacks ---------------------------------------------------------------------------
# The core never sees a phone number: the driver keeps it (and the store), and tells the
# core only an opaque `number_key` (the same for the same number), to merge duplicates.

_NOT_REACHED = frozenset({"no_answer", "busy", "failed", "operator_left"})


def _optional_time(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    try:
        return _time(value)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{name}: {e}") from None


@dataclass(slots=True, init=False, unsafe_hash=True)
class CallbackAccepted(Event):
    """A waiting caller offered a callback accepted it and gave a valid number (the
    driver validated it): `callback_id` names the callback from now on."""

    call_id: Final[str]
    callback_id: Final[str]
    number_key: Final[str]

    def __init__(self, *, now: float, call_id: str, callback_id: str, number_key: str) -> None:
        Event.__init__(self, now=now)
        self.call_id = _id("call_id", call_id)
        self.callback_id = _id("callback_id", callback_id)
        self.number_key = _id("number_key", number_key)


@dataclass(slots=True, init=False, unsafe_hash=True)
class CallbackDeclined(Event):
    """A caller offered a callback chose to stay on the line (or gave no valid number)."""

    call_id: Final[str]

    def __init__(self, *, now: float, call_id: str) -> None:
        Event.__init__(self, now=now)
        self.call_id = _id("call_id", call_id)


@dataclass(slots=True, init=False, unsafe_hash=True)
class CallbackStored(Event):
    """The store committed the callback (PersistCallback): the promise can be made."""

    callback_id: Final[str]

    def __init__(self, *, now: float, callback_id: str) -> None:
        Event.__init__(self, now=now)
        self.callback_id = _id("callback_id", callback_id)


@dataclass(slots=True, init=False, unsafe_hash=True)
class CallbackStoreFailed(Event):
    """The store could not commit the callback: no promise; the caller keeps waiting."""

    callback_id: Final[str]
    reason: Final[str]

    def __init__(self, *, now: float, callback_id: str, reason: str) -> None:
        Event.__init__(self, now=now)
        self.callback_id = _id("callback_id", callback_id)
        self.reason = _id("reason", reason)


@dataclass(slots=True, init=False, unsafe_hash=True)
class CitizenAnswered(Event):
    """The citizen picked up a callback (the operator was already on the line)."""

    callback_id: Final[str]

    def __init__(self, *, now: float, callback_id: str) -> None:
        Event.__init__(self, now=now)
        self.callback_id = _id("callback_id", callback_id)


@dataclass(slots=True, init=False, unsafe_hash=True)
class CitizenNotReached(Event):
    """A callback's call to the citizen ended unanswered: `outcome` is no_answer, busy,
    failed (the network refused it) or operator_left (the operator hung up first)."""

    callback_id: Final[str]
    outcome: Final[str]

    def __init__(self, *, now: float, callback_id: str, outcome: str) -> None:
        Event.__init__(self, now=now)
        self.callback_id = _id("callback_id", callback_id)
        if outcome not in _NOT_REACHED:
            raise ValueError(f"outcome must be one of {sorted(_NOT_REACHED)}, got {outcome!r}")
        self.outcome = outcome


@dataclass(slots=True, init=False, unsafe_hash=True)
class CallbackRestored(Event):
    """A callback the store holds, not final, given back to a core that does not know it
    (a restart), or booked for a time (`due_at`: "cita previa"). Its place is
    (priority, queued_at) with queued_at on this core's clock (before 0 if it came
    before this core started); restore them in the store's order, which breaks ties."""

    callback_id: Final[str]
    skill: Final[str]
    language: Final[str]
    priority: Final[int]
    queued_at: Final[float]
    requested_at: Final[float]
    number_key: Final[str]
    expires_at: Final[float]
    attempts: Final[int]  # calls to the citizen made so far
    next_attempt_at: Final[float | None]  # not before (a retry's delay), or None
    booked: Final[bool]  # a booked slot: `next_attempt_at` is its time, not a retry's

    def __init__(
        self,
        *,
        now: float,
        callback_id: str,
        skill: str,
        language: str,
        priority: int = 0,
        queued_at: float,
        requested_at: float,
        number_key: str,
        expires_at: float,
        attempts: int = 0,
        next_attempt_at: float | None = None,
        booked: bool = False,
    ) -> None:
        Event.__init__(self, now=now)
        self.callback_id = _id("callback_id", callback_id)
        self.skill = _id("skill", skill)
        self.language = _id("language", language)
        self.priority = _int("priority", priority)
        self.queued_at = _time(queued_at)
        self.requested_at = _time(requested_at)
        self.number_key = _id("number_key", number_key)
        self.expires_at = _time(expires_at)
        if _int("attempts", attempts) < 0:
            raise ValueError(f"attempts must be >= 0, got {attempts}")
        self.attempts = attempts
        self.next_attempt_at = _optional_time("next_attempt_at", next_attempt_at)
        if booked and next_attempt_at is None:
            raise ValueError("a booked callback needs its time (next_attempt_at)")
        self.booked = bool(booked)


@dataclass(slots=True, init=False, unsafe_hash=True)
class CallbackCancelled(Event):
    """A supervisor (or the citizen, through the web) called a waiting callback off."""

    callback_id: Final[str]

    def __init__(self, *, now: float, callback_id: str) -> None:
        Event.__init__(self, now=now)
        self.callback_id = _id("callback_id", callback_id)


# --- a supervisor's and an operator's console ------------------------------------------
# Rare facts (a few a day): they need no fast path.


@dataclass(slots=True, init=False, unsafe_hash=True)
class OperatorSkillsChanged(Event):
    """A supervisor changed a logged-in operator's skills and levels (and, unless
    `languages` is None, their languages): routing uses them at once, the call in hand (if
    any) goes on as it was."""

    operator_id: Final[str]
    skills: Final[tuple[tuple[str, int], ...]]  # (skill, level), level 1 = best
    languages: Final[tuple[str, ...] | None]  # None: the ones they have

    def __init__(
        self,
        *,
        now: float,
        operator_id: str,
        skills: tuple[tuple[str, int], ...],
        languages: tuple[str, ...] | None = None,
    ) -> None:
        Event.__init__(self, now=now)
        self.operator_id = _id("operator_id", operator_id)
        # Tuples only, so the event is a value (hashable); the compiled build refuses any
        # other sequence by the annotation, and this makes the pure build refuse it alike.
        if type(skills) is not tuple or not all(type(pair) is tuple for pair in skills):
            raise TypeError(f"skills must be a tuple of (skill, level) tuples, got {skills!r}")
        _check_skills(skills)
        self.skills = skills
        if languages is not None:
            if type(languages) is not tuple:
                raise TypeError(f"languages must be a tuple or None, got {languages!r}")
            if not languages:
                raise ValueError("an operator needs at least one language")
            for lang in languages:
                _id("language", lang)
        self.languages = languages


@dataclass(slots=True, init=False, unsafe_hash=True)
class CallMoved(Event):
    """A supervisor moved a waiting call to the queue of another skill (and, unless
    `language` is None, language). It keeps its priority and its place in time."""

    call_id: Final[str]
    skill: Final[str]
    language: Final[str | None]  # None: the call's own

    def __init__(self, *, now: float, call_id: str, skill: str, language: str | None = None) -> None:
        Event.__init__(self, now=now)
        self.call_id = _id("call_id", call_id)
        self.skill = _id("skill", skill)
        self.language = None if language is None else _id("language", language)


@dataclass(slots=True, init=False, unsafe_hash=True)
class WrapUpEnded(Event):
    """The operator says their after-call work is done before the wrap-up time is up."""

    operator_id: Final[str]

    def __init__(self, *, now: float, operator_id: str) -> None:
        Event.__init__(self, now=now)
        self.operator_id = _id("operator_id", operator_id)
