# Events: past-tense facts fed to the core. Frozen, slotted, keyword-only; each checks its
# own fields on construction so a malformed fact never reaches the engine's state.
from __future__ import annotations

import math
from dataclasses import dataclass


# These checks run for every event of every simulated call: the common case (a float time,
# a str id) is tested first with exact type checks, the slow path only explains a failure.
def _check_time(now: float) -> None:
    cls = now.__class__
    if (cls is float or cls is int) and math.isfinite(now):
        return
    raise ValueError(f"now must be a finite number of seconds, got {now!r}")


def _check_id(name: str, value: str) -> None:
    if value.__class__ is str and value:
        return
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    now: float

    def __post_init__(self) -> None:
        _check_time(self.now)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallArrived(Event):
    """A citizen's call was answered by the system and entered the IVR."""

    call_id: str

    def __post_init__(self) -> None:
        _check_time(self.now)
        _check_id("call_id", self.call_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class IvrCompleted(Event):
    """The caller chose a service (skill) and language; the call now waits for an operator."""

    call_id: str
    skill: str
    language: str
    priority: int = 0  # higher is served first

    def __post_init__(self) -> None:
        _check_time(self.now)
        _check_id("call_id", self.call_id)
        _check_id("skill", self.skill)
        _check_id("language", self.language)
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise ValueError(f"priority must be an integer, got {self.priority!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerHungUp(Event):
    """The citizen's leg hung up (in the IVR, waiting, while an operator rang, or talking)."""

    call_id: str

    def __post_init__(self) -> None:
        _check_time(self.now)
        _check_id("call_id", self.call_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorAnswered(Event):
    """The operator picked up the call offered to them."""

    call_id: str
    operator_id: str

    def __post_init__(self) -> None:
        _check_time(self.now)
        _check_id("call_id", self.call_id)
        _check_id("operator_id", self.operator_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorRingTimeout(Event):
    """The operator did not answer the offered call (no answer, busy, unreachable)."""

    call_id: str
    operator_id: str
    reason: str = "no-answer"

    def __post_init__(self) -> None:
        _check_time(self.now)
        _check_id("call_id", self.call_id)
        _check_id("operator_id", self.operator_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEnded(Event):
    """The operator's leg of a conversation hung up."""

    call_id: str

    def __post_init__(self) -> None:
        _check_time(self.now)
        _check_id("call_id", self.call_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorLoggedIn(Event):
    operator_id: str
    skills: tuple[tuple[str, int], ...]  # (skill, level), level 1 = best
    languages: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_time(self.now)
        _check_id("operator_id", self.operator_id)
        if not self.skills:
            raise ValueError("an operator needs at least one skill")
        for skill, level in self.skills:
            _check_id("skill", skill)
            if isinstance(level, bool) or not isinstance(level, int) or level < 1:
                raise ValueError(f"skill level must be an integer >= 1, got {level!r}")
        if not self.languages:
            raise ValueError("an operator needs at least one language")


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorLoggedOut(Event):
    operator_id: str

    def __post_init__(self) -> None:
        _check_time(self.now)
        _check_id("operator_id", self.operator_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorPaused(Event):
    operator_id: str
    reason: str

    def __post_init__(self) -> None:
        _check_time(self.now)
        _check_id("operator_id", self.operator_id)
        _check_id("reason", self.reason)


@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorResumed(Event):
    operator_id: str

    def __post_init__(self) -> None:
        _check_time(self.now)
        _check_id("operator_id", self.operator_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick(Event):
    """Time has passed; the core fires whatever timers are due."""
