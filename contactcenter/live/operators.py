# The operators' desk: what an operator (from the console or their phone's feature codes)
# and a supervisor (from the web) may ask of operators and waiting calls, checked and turned
# into core events. Rules:
# - One place decides what each request means in each state (the table in `ready`, and the
#   checks before each event), so the console, the phone and the API never disagree.
# - A request is checked against the read model first (unknown operator, a code not in the
#   config, a state where it means nothing) and refused with a reason a person can read;
#   a fact the core still finds stale (the world moved between the check and the feed, as a
#   caller hanging up) is refused the same way. Nothing here reads the engine's dicts.
# - "After this call": the core defers a pause or a logout asked for while the phone rings
#   or the operator talks (lifecycle.py); the view's `after_call` shows it.
# - Every accepted request is audited (who, in which role, what, on whom, when) through the
#   `audit` sink; refused ones are logged only.
# - Operators' skills: the configured ones at start; a supervisor's change holds for this
#   run of the controller (it is audited, so it can be redone), also across a logout.
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from contactcenter.config import Config
from contactcenter.core import events as ev
from contactcenter.core.commands import Command
from contactcenter.core.engine import Call
from contactcenter.core.lifecycle import CallState, OperatorState
from contactcenter.core.readmodel import CallView, Change, OperatorChanged, OperatorView, Snapshot

log = logging.getLogger("contactcenter.operators")

_S = OperatorState
# What "ready" means in each state: the operator wants calls now.
_READY: Mapping[OperatorState, str] = {
    _S.LOGGED_OUT: "log_in",
    _S.PAUSED: "resume",
    _S.WRAP_UP: "end_wrap_up",
    _S.AVAILABLE: "nothing",
    # On a call: calls off a pause or a logout asked for after it.
    _S.RESERVED: "call_off_after_call",
    _S.TALKING: "call_off_after_call",
}
FEATURES = ("pause", "ready", "logout")  # the phone's feature codes (*21, *22, *23)
PHONE_PAUSE_REASON = "break"  # a pause from the phone (*21) has no reason picked: a break
MONITOR_MODES = ("listen", "whisper", "barge")


class Refused(Exception):
    """A request that cannot be done: `kind` says whose it is (unknown: no such operator or
    call; invalid: a value the config does not have; conflict: not in this state)."""

    def __init__(self, kind: Literal["unknown", "invalid", "conflict"], detail: str) -> None:
        super().__init__(detail)
        self.kind, self.detail = kind, detail


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks: a supervisor, an operator (on themselves only), or the phone of one."""

    id: str
    role: str  # "supervisor", "operator", "phone"


AuditSink = Callable[
    [float, Actor, str, str, Mapping[str, Any]], None
]  # (now, actor, action, target, detail)


class OperatorDesk:
    def __init__(
        self,
        cfg: Config,
        feed: Callable[[ev.Event], list[Command]],
        snapshot: Callable[[], Snapshot],
        call_view: Callable[[str], CallView | None],
        stale_count: Callable[[], int],
        now: Callable[[], float],
        audit: AuditSink | None = None,
    ) -> None:
        self.cfg = cfg
        self._feed, self._snapshot, self._call_view = feed, snapshot, call_view
        self._stale, self._now, self._audit = stale_count, now, audit
        self.skills: dict[str, dict[str, int]] = {op.id: dict(op.skills) for op in cfg.operators}
        self.languages: dict[str, tuple[str, ...]] = {op.id: op.languages for op in cfg.operators}
        self.last_call: dict[str, str] = {}  # operator -> their last conversation, not yet disposed of
        # The screen pop of each operator's current or last conversation (kept through the
        # wrap-up, when the call itself has left the core); `render_pop` makes it.
        self.render_pop: Callable[[CallView], dict[str, Any]] | None = None
        self._pops: dict[str, dict[str, Any]] = {}
        self._talking: dict[str, str] = {}  # operator -> the call they talk on

    # --- an observer of the core ----------------------------------------------------------

    def observe(self, now: float, changes: Sequence[Change], completed: Sequence[Call]) -> None:
        for change in changes:
            if not isinstance(change, OperatorChanged):
                continue
            op = change.operator_id
            if change.state is _S.TALKING and change.call_id is not None:
                self._talking[op] = change.call_id
                call = self._call_view(change.call_id)
                if call is not None and self.render_pop is not None:
                    self._pops[op] = self.render_pop(call)
            elif op in self._talking:
                self.last_call[op] = self._talking.pop(op)

    def last_pop(self, operator_id: str) -> dict[str, Any] | None:
        """The screen pop of the conversation the operator has still to give a disposition for."""
        return self._pops.get(operator_id) if operator_id in self.last_call else None

    # --- operators ----------------------------------------------------------------------

    def view(self, operator_id: str, snapshot: Snapshot | None = None) -> OperatorView:
        """The operator as the core has them (`snapshot`: one already taken, so that a page of
        every operator costs one snapshot, not one each); a configured operator who never
        logged in this run is logged out."""
        found = (snapshot if snapshot is not None else self._snapshot()).operators.get(operator_id)
        if found is None:
            if operator_id in self.skills:  # configured, never logged in this run
                return OperatorView(
                    operator_id,
                    _S.LOGGED_OUT,
                    0.0,
                    None,
                    None,
                    self.skills[operator_id],
                    self.languages[operator_id],
                    None,
                )
            raise Refused("unknown", f"no operator {operator_id!r}")
        return found

    def log_in(self, actor: Actor, operator_id: str, skills: Mapping[str, int] | None = None) -> OperatorView:
        """Log in with `skills` (None: the operator's current ones)."""
        view = self.view(operator_id)
        wanted = self._checked_skills(skills) if skills is not None else self.skills[operator_id]
        if view.state is not _S.LOGGED_OUT and view.after_call != "log_out":
            raise Refused("conflict", f"{operator_id} is already logged in ({view.state.value})")
        self.skills[operator_id] = dict(wanted)
        self._do(
            actor,
            "log_in",
            operator_id,
            {"skills": dict(wanted)},
            ev.OperatorLoggedIn(
                now=self._now(),
                operator_id=operator_id,
                skills=tuple(wanted.items()),
                languages=self.languages[operator_id],
            ),
        )
        return self.view(operator_id)

    def ready(self, actor: Actor, operator_id: str) -> OperatorView:
        """The operator wants calls: logs in, resumes, ends wrap-up, or calls off a pause or
        logout asked for after the call, as their state needs."""
        view = self.view(operator_id)
        meaning = _READY.get(view.state)
        now = self._now()
        if meaning is None:  # UNREACHABLE: the system's fault, retried by itself
            raise Refused(
                "conflict",
                f"{operator_id}'s phone cannot be reached ({view.reason or 'fault'});"
                " calls resume as soon as it is",
            )
        if meaning == "log_in":
            return self.log_in(actor, operator_id)
        if meaning == "resume":
            self._do(actor, "ready", operator_id, {}, ev.OperatorResumed(now=now, operator_id=operator_id))
        elif meaning == "end_wrap_up":
            self._do(actor, "ready", operator_id, {}, ev.WrapUpEnded(now=now, operator_id=operator_id))
        elif meaning == "call_off_after_call" and view.after_call is not None:
            event: ev.Event = (
                ev.OperatorResumed(now=now, operator_id=operator_id)
                if view.after_call == "pause"
                else ev.OperatorLoggedIn(
                    now=now,
                    operator_id=operator_id,
                    skills=tuple(self.skills[operator_id].items()),
                    languages=self.languages[operator_id],
                )
            )
            self._do(actor, "ready", operator_id, {"called_off": view.after_call}, event)
        return self.view(operator_id)

    def pause(self, actor: Actor, operator_id: str, reason: str) -> OperatorView:
        """Pause now, or after the call in hand (the core defers it while on a call)."""
        if reason not in self.cfg.web.pause_reasons:
            raise Refused(
                "invalid", f"unknown pause reason {reason!r} (known: {', '.join(self.cfg.web.pause_reasons)})"
            )
        view = self.view(operator_id)
        if view.state is _S.LOGGED_OUT:
            raise Refused("conflict", f"{operator_id} is logged out")
        self._do(
            actor,
            "pause",
            operator_id,
            {"reason": reason},
            ev.OperatorPaused(now=self._now(), operator_id=operator_id, reason=reason),
        )
        return self.view(operator_id)

    def log_out(self, actor: Actor, operator_id: str) -> OperatorView:
        """Log out now, or after the call in hand."""
        view = self.view(operator_id)
        if view.state is _S.LOGGED_OUT:
            return view
        self._do(
            actor, "log_out", operator_id, {}, ev.OperatorLoggedOut(now=self._now(), operator_id=operator_id)
        )
        return self.view(operator_id)

    def wrap_up_done(
        self, actor: Actor, operator_id: str, disposition: str
    ) -> tuple[OperatorView, str | None]:
        """The after-call work is done, with the call's disposition: ends wrap-up (if it has
        not ended by its timer already) and returns (view, the call it was given for)."""
        if disposition not in self.cfg.web.dispositions:
            raise Refused(
                "invalid",
                f"unknown disposition {disposition!r} (known: {', '.join(self.cfg.web.dispositions)})",
            )
        view = self.view(operator_id)
        call_id = self.last_call.pop(operator_id, None)
        self._pops.pop(operator_id, None)
        if view.state is not _S.WRAP_UP and call_id is None:
            raise Refused("conflict", f"{operator_id} has no call to wrap up")
        event: ev.Event | None = (
            ev.WrapUpEnded(now=self._now(), operator_id=operator_id) if view.state is _S.WRAP_UP else None
        )
        self._do(actor, "wrap_up", operator_id, {"disposition": disposition, "call_id": call_id}, event)
        return self.view(operator_id), call_id

    def set_skills(self, actor: Actor, operator_id: str, skills: Mapping[str, int]) -> OperatorView:
        """Change an operator's skills and levels, for routing at once (their next call, if
        they are on one); a logged-out operator logs in with them."""
        view = self.view(operator_id)
        wanted = self._checked_skills(skills)
        self.skills[operator_id] = dict(wanted)
        event = (
            None
            if view.state is _S.LOGGED_OUT
            else ev.OperatorSkillsChanged(
                now=self._now(), operator_id=operator_id, skills=tuple(wanted.items())
            )
        )
        self._do(actor, "set_skills", operator_id, {"skills": dict(wanted)}, event)
        return self.view(operator_id)

    def feature(self, operator_id: str, feature: str) -> None:
        """A feature code dialled on the operator's own phone (*21 pause, *22 ready, *23 log out)."""
        actor = Actor(operator_id, "phone")
        try:
            if feature == "pause":
                reasons = self.cfg.web.pause_reasons
                self.pause(
                    actor,
                    operator_id,
                    PHONE_PAUSE_REASON if PHONE_PAUSE_REASON in reasons else next(iter(reasons)),
                )
            elif feature == "ready":
                self.ready(actor, operator_id)
            elif feature == "logout":
                self.log_out(actor, operator_id)
            else:
                raise Refused("invalid", f"unknown feature {feature!r}")
        except Refused as refused:
            log.info("feature %s from %s's phone refused: %s", feature, operator_id, refused.detail)

    def observe_call_ended(self, operator_id: str, call_id: str) -> None:
        """An operator's conversation ended: the disposition they give next is for it."""
        self.last_call[operator_id] = call_id

    # --- calls --------------------------------------------------------------------------

    def move_call(self, actor: Actor, call_id: str, skill: str, language: str | None = None) -> CallView:
        """Move a waiting call to another skill's queue (it keeps the time it has waited)."""
        if skill not in self.cfg.skills:
            raise Refused("invalid", f"unknown skill {skill!r} (known: {', '.join(self.cfg.skills)})")
        if language is not None and language not in self.cfg.languages:
            raise Refused("invalid", f"unknown language {language!r}")
        call = self._call_view(call_id)
        if call is None:
            raise Refused("unknown", f"no call {call_id!r} in the centre")
        if call.state is not CallState.QUEUED or call.is_callback:
            raise Refused("conflict", f"call {call_id} is not waiting in a queue ({call.state.value})")
        if call.skill == skill and (language is None or call.language == language):
            raise Refused("conflict", f"call {call_id} is already in {skill}")
        self._do(
            actor,
            "move_call",
            call_id,
            {"from": call.skill, "to": skill, "language": language},
            ev.CallMoved(now=self._now(), call_id=call_id, skill=skill, language=language),
        )
        moved = self._call_view(call_id)  # (None if an operator took it at once and it ended: rare)
        return moved if moved is not None else call

    # --- the parts ----------------------------------------------------------------------

    def _checked_skills(self, skills: Mapping[str, int]) -> dict[str, int]:
        if not skills:
            raise Refused("invalid", "an operator needs at least one skill")
        out: dict[str, int] = {}
        for skill, level in skills.items():
            if skill not in self.cfg.skills:
                raise Refused("invalid", f"unknown skill {skill!r} (known: {', '.join(self.cfg.skills)})")
            if type(level) is not int or not 1 <= level <= 9:
                raise Refused(
                    "invalid", f"skill {skill}: level must be a whole number from 1 to 9, got {level!r}"
                )
            out[skill] = level
        return out

    def _do(
        self, actor: Actor, action: str, target: str, detail: Mapping[str, Any], event: ev.Event | None
    ) -> None:
        if event is not None:
            stale = self._stale()
            self._feed(event)
            if self._stale() != stale:
                raise Refused("conflict", f"{action} of {target}: the state changed meanwhile; try again")
        log.info("%s %s: %s %s %s", actor.role, actor.id, action, target, dict(detail) or "")
        if self._audit is not None:
            self._audit(self._now(), actor, action, target, detail)
