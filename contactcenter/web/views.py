# What the pages and the API show, as JSON: built from the core's read model (a Snapshot,
# CallViews), today's KPIs and the config, never from the engine's dicts. Rules:
# - Times go out as seconds (`since_s`: how long the current state has lasted at `at`) and
#   one ISO wall-clock `at` in the centre's time zone; no clock of the core's leaks out.
# - A figure's colour (`levels`) is decided here, from `web.wallboard`'s thresholds, so the
#   wallboard, a TV and a script all see the same red.
# - No phone number goes out but masked, to the operator the call is routed to or to a
#   supervisor; the repeat count comes from a keyed hash, never from the number.
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from contactcenter.config import Config
from contactcenter.core.lifecycle import OperatorState
from contactcenter.core.readmodel import CallView, OperatorView, Snapshot

_S = OperatorState
# The wallboard's operator counts per skill, by state (ringing counts as talking: the
# operator is taken either way; its own count is there too).
_COUNTED = {
    "available": (_S.AVAILABLE,),
    "reserved": (_S.RESERVED,),
    "talking": (_S.TALKING, _S.RESERVED),
    "wrap_up": (_S.WRAP_UP,),
    "paused": (_S.PAUSED,),
    "unreachable": (_S.UNREACHABLE,),
}
# Figures where more is better; for the others, less is.
_HIGHER_IS_BETTER = frozenset({"service_level"})


def level(cfg: Config, figure: str, value: float | None) -> str:
    """'ok', 'amber' or 'red' for a figure's value (no value: 'ok')."""
    band = cfg.web.thresholds.get(figure)
    if band is None or value is None:
        return "ok"
    amber, red = band
    if figure in _HIGHER_IS_BETTER:
        return "red" if value <= red else "amber" if value <= amber else "ok"
    return "red" if value >= red else "amber" if value >= amber else "ok"


def codes(table: Mapping[str, Mapping[str, str]]) -> list[dict[str, Any]]:
    return [{"code": code, "names": dict(names)} for code, names in table.items()]


class Views:
    def __init__(
        self,
        cfg: Config,
        *,
        wall: Callable[[float], float],
        skill_kpis: Callable[[str], Mapping[str, Any]],
        ami_connected: Callable[[], bool],
        pop_extras: Callable[[str], tuple[str, int | None]],
    ) -> None:
        self.cfg = cfg
        self._wall, self._kpis, self._ami = wall, skill_kpis, ami_connected
        self._pop_extras = pop_extras  # call id -> (masked number, earlier calls in 7 days)
        tz = cfg.hours.tz if cfg.hours is not None else dt.UTC
        self._tz = tz

    def at(self, now: float) -> str:
        return dt.datetime.fromtimestamp(self._wall(now), self._tz).isoformat(timespec="seconds")

    def operator(self, view: OperatorView, now: float) -> dict[str, Any]:
        name = next((op.name for op in self.cfg.operators if op.id == view.operator_id), view.operator_id)
        return {
            "id": view.operator_id,
            "name": name,
            "state": view.state.value,
            "since_s": round(max(0.0, now - view.since), 1) if view.state is not _S.LOGGED_OUT else 0.0,
            "reason": view.reason,
            "skills": dict(view.skills),
            "languages": list(view.languages),
            "after_call": view.after_call,
        }

    def operators(self, snapshot: Snapshot, configured: Mapping[str, OperatorView]) -> list[dict[str, Any]]:
        """Every configured operator (logged in or not), in the config's order."""
        views = {**configured, **snapshot.operators}
        return [self.operator(views[op.id], snapshot.at) for op in self.cfg.operators if op.id in views]

    def centre(self, snapshot: Snapshot, configured: Mapping[str, OperatorView]) -> dict[str, Any]:
        cfg = self.cfg
        skills = []
        for skill, names in cfg.skills.items():
            s = snapshot.skill(skill)
            kpis = self._kpis(skill)
            figures = {
                "service_level": kpis.get("service_level"),
                "longest_wait_s": round(s.longest_wait_s, 1),
                "abandon_rate": kpis.get("p_abandon"),
                "waiting": s.waiting,
            }
            skills.append(
                {
                    "skill": skill,
                    "names": dict(names),
                    "waiting": s.waiting,
                    "longest_wait_s": figures["longest_wait_s"],
                    "service_level": figures["service_level"],
                    "asa_s": None if kpis.get("asa_s") is None else round(kpis["asa_s"], 1),
                    "abandon_rate": figures["abandon_rate"],
                    "offered": kpis.get("offered", 0),
                    "answered": kpis.get("answered", 0),
                    "operators": {
                        name: sum(s.operators.get(state, 0) for state in states)
                        for name, states in _COUNTED.items()
                    },
                    "callbacks_pending": s.callbacks,
                    "levels": {name: level(cfg, name, value) for name, value in figures.items()},
                }
            )
        return {
            "at": self.at(snapshot.at),
            "centre": cfg.name,
            "lines": {
                "in_use": snapshot.lines_in_use,
                "capacity": snapshot.lines,
                "level": level(cfg, "lines_in_use", snapshot.lines_in_use / snapshot.lines),
            },
            "in_ivr": snapshot.in_ivr,
            "ami_connected": self._ami(),
            "skills": skills,
            "operators": self.operators(snapshot, configured),
            "pause_reasons": codes(cfg.web.pause_reasons),
            "dispositions": codes(cfg.web.dispositions),
            "skills_all": [{"skill": k, "names": dict(v)} for k, v in cfg.skills.items()],
            "languages_all": list(cfg.languages),
        }

    def call(self, call: CallView, now: float) -> dict[str, Any]:
        """The screen pop of a call (or a callback) routed to an operator."""
        number, earlier = self._pop_extras(call.call_id)
        start = call.queued_at if call.queued_at is not None else call.arrived_at
        end = call.answered_at if call.answered_at is not None else now
        return {
            "call_id": call.call_id,
            "kind": "callback" if call.is_callback else "inbound",
            "skill": call.skill,
            "names": dict(self.cfg.skills.get(call.skill or "", {})),
            "language": call.language,
            "ivr_path": [p for p in (call.language, call.skill) if p],
            "wait_s": round(max(0.0, end - start), 1),
            "number": number,
            "calls_7d": earlier,
            "state": call.state.value,
        }

    def waiting(self, calls: list[CallView], now: float) -> list[dict[str, Any]]:
        out = []
        position: dict[tuple[str | None, str | None], int] = {}
        for call in calls:
            key = (call.skill, call.language)
            position[key] = position.get(key, 0) + 1
            start = call.queued_at if call.queued_at is not None else call.arrived_at
            out.append(
                {
                    "call_id": call.call_id,
                    "skill": call.skill,
                    "language": call.language,
                    "wait_s": round(max(0.0, now - start), 1),
                    "position": position[key],
                    "kind": "callback" if call.is_callback else "inbound",
                }
            )
        return out
