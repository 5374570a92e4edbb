# A simulation scenario: what traffic arrives, who answers it, and how long to run.
# Rules:
# - Everything is checked here, once, by one schema (the pydantic machinery of
#   contactcenter.config: unknown keys refused with a "did you mean", strict scalars): a bad
#   file or flag raises ConfigError(file, field, value, problem), which the CLI turns into
#   one line on stderr and exit code 2.
# - A scenario comes from a YAML file (`load_scenario`), from the quick-model flags
#   (`Scenario.quick`), or from a file with flags on top (`Scenario.override`); the last
#   two are written as the same YAML data and go through the same schema, so a flag can
#   never make a scenario a file could not be. An error caused by a flag names the flag.
# - Each bound is declared once (the Bound constants below) and used by the YAML field and by
#   its command-line flag (`parse_flags`).
# - A run is refused before it starts when it cannot end well: a trace day the trace does
#   not have, a trace skill the scenario lacks, more than MAX_CALLS expected calls.
# - A trace replay (`trace:`) reads its trace here (by name, or a file relative to the
#   scenario's folder), so its days and skills are checked with the rest; what is fitted on
#   the trace (patience, staffing, time away: sim/fit.py) is named here and fitted by the
#   simulator (sim/replay.py), from the same trace.
# Hours are hours of the day on the simulator's clock, which starts at midnight of day 0;
# the run covers warm-up + measured hours, and KPIs count the calls that arrived in the
# measured hours.
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Self, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, Strict, model_validator

from contactcenter.config import (
    Bound,
    CallbackPolicyFile,
    ConfigError,
    Ident,
    Languages,
    Level,
    Relaxation,
    Schema,
    StrictStr,
    Text,
    as_date,
    each_in_list,
    nonempty,
    pair,
    problem,
    read_yaml,
    relaxation_steps,
    validated,
)
from contactcenter.core.callbacks import CallbackPolicy

FLAGS = "(command line)"  # the "file" named by errors in flags
ServiceDist = Literal["exp", "lognormal", "const"]
IvrDist = Literal["const", "exp"]
PatienceDist = Literal["exp", "lognormal"]
PatienceFitKind = Literal["km", "exp", "lognormal"]  # fitted on a trace (sim/fit.py)
PATIENCE_FITS: tuple[str, ...] = get_args(PatienceFitKind)
PATIENCE_DISTS: tuple[str, ...] = get_args(PatienceDist)
TRACE_STAFFING = "trace"  # `staffing: trace`: the trace's own operators (else a roster file)
TRACE_AWAY = "trace"  # `away: trace`: estimated per half hour from the trace
AWAY_INTERVALS = 48  # an away schedule gives a share per half hour of the day
SERVICE_DISTS: tuple[str, ...] = get_args(ServiceDist)
IVR_DISTS: tuple[str, ...] = get_args(IvrDist)
MAX_HOURS = 24 * 366
# A run's expected arrivals (warm-up + measured): beyond this the heap of callers alone
# outgrows a laptop's memory (about 1 KB a call in flight), and the run would take hours.
MAX_CALLS = 50_000_000

# The bounds of the values a flag can also set: one definition each.
RATE = Bound(0, 1e7)  # calls per hour, of a skill or of one hour of its day profile
AHT = Bound(0, 86_400, open_lo=True)  # seconds; must also exceed the wrap-up
OPERATORS = Bound(1, 1_000_000)
PATIENCE = Bound(0, 1e9, open_lo=True)  # mean seconds; or none (never hang up)
SERVICE_CV = Bound(0, 100, open_lo=True)
HOURS = Bound(0, MAX_HOURS, open_lo=True)
WARMUP_HOURS = Bound(0, MAX_HOURS)
SEED = Bound(0, 2**63 - 1)
LINES = Bound(1, 10_000_000)
SL_THRESHOLD = Bound(0, 86_400)
IVR_MEAN = Bound(0, 3600)  # seconds in the IVR (not a flag, but written two ways: `ivr: 30`)


@dataclass(frozen=True, slots=True)
class SkillSpec:
    name: str
    arrivals_per_h: tuple[float, ...]  # one value: constant rate; 24 values: a day profile
    aht_s: float  # mean handling time: talk + wrap-up
    languages: tuple[tuple[str, float], ...]  # (language, share)
    priority: int = 0
    patience_s: float | None = None  # mean of exponential patience; None: never hang up


@dataclass(frozen=True, slots=True)
class OperatorGroup:
    name: str  # operator IDs are name-1, name-2, ...
    count: int
    skills: tuple[tuple[str, int], ...]  # (skill, level), level 1 = best
    languages: tuple[str, ...]
    shift: tuple[float, float] | None = None  # (start, end) hours of the day; None: always


@dataclass(frozen=True, slots=True)
class SimCallbacks:
    """Callbacks in a run: the centre's policy, and how simulated citizens take them."""

    policy: CallbackPolicy
    accept: float = 0.5  # share of callers offered a callback who leave their number
    answer: float = 0.8  # chance that a citizen answers each call back
    offer_s: float = 15.0  # hearing the offer and keying the choice
    confirm_s: float = 8.0  # hearing the promise, before hanging up
    citizen_ring_s: float = 12.0  # until a citizen who answers picks up
    no_answer_s: float = 30.0  # ringing until the attempt counts as not answered

    def to_raw(self) -> dict[str, Any]:
        p = self.policy
        return {
            "offer_after_ewt_s": p.offer_after_ewt_s,
            "by_skill": dict(p.offer_after_ewt_by_skill),
            "offer_queue_length": p.offer_queue_length,
            "max_pending": p.max_pending,
            "attempts": p.attempts,
            "retry_delay_s": p.retry_delay_s,
            "expire_after_h": p.expire_after_s / 3600.0,
            "line_wait_s": p.line_wait_s,
            "accept": self.accept,
            "answer": self.answer,
            "offer_s": self.offer_s,
            "confirm_s": self.confirm_s,
            "citizen_ring_s": self.citizen_ring_s,
            "no_answer_s": self.no_answer_s,
        }


@dataclass(frozen=True, slots=True)
class TraceReplay:
    """Which calls of which trace a run replays."""

    source: str  # "bank" (the bundled month) or a trace file's absolute path
    days: tuple[str, ...]  # the days replayed, in order (never empty)
    superpose: bool = False  # all days on one (from 0 h); else by the calendar from the first

    @property
    def span_days(self) -> int:
        """Days of the simulator's clock the replay covers (by the calendar)."""
        if self.superpose:
            return 1
        first, last = dt.date.fromisoformat(min(self.days)), dt.date.fromisoformat(max(self.days))
        return (last - first).days + 1


@dataclass(frozen=True, slots=True)
class Redial:
    """Callers who give up call again: with probability `share`, after a mean `after_s`."""

    share: float
    after_s: float


@dataclass(frozen=True, slots=True)
class Scenario:
    skills: tuple[SkillSpec, ...]
    operators: tuple[OperatorGroup, ...]
    hours: float  # measured hours, after the warm-up
    warmup_hours: float = 0.0
    seed: int = 1
    lines: int | None = None  # None: no line limit
    sl_threshold_s: float = 20.0
    wrap_up_s: float = 0.0
    ring_delay_s: float = 0.0  # operators answer this long after their phone starts ringing
    ivr_s: float = 0.0  # mean time in the IVR
    ivr_dist: str = "const"
    service_dist: str = "exp"
    service_cv: float = 1.0  # coefficient of variation of talk time (lognormal)
    relaxation: tuple[tuple[float, int], ...] = ()  # engine routing steps (after_s, max_level)
    trace: TraceReplay | None = None  # replay a trace's calls (then the skills have no arrivals)
    patience_dist: str = "exp"  # of patience around each skill's patience_s: exp or lognormal
    patience_cv: float = 1.0  # coefficient of variation of lognormal patience
    # Fitted per skill and priority on the replayed trace (km: Kaplan-Meier, exp, lognormal)
    # instead of the skills' patience_s; None: the skills' own.
    patience_fit: str | None = None
    # Operators: None: the groups of `operators`; "trace": the trace's working periods; else a
    # roster file's absolute path (sim/roster.py: operators per half hour and skill).
    staffing: str | None = None
    # Operators' time away from calls while logged in (breaks, other work): None: never; a
    # share of each half hour (AWAY_INTERVALS values, None where not given: 0); or "trace".
    away: tuple[float | None, ...] | str | None = None
    # [open, close) hours of every day (the simulator's clock starts at midnight): calls
    # outside are turned away, callbacks are dialled only inside. None: always open.
    open_hours: tuple[float, float] | None = None
    callbacks: SimCallbacks | None = None  # None: callbacks are never offered
    redial: Redial | None = None  # None: a caller who gives up never calls again
    # (priority, seconds): priorities as head starts (core/engine.py); (): strict classes.
    priority_head_start: tuple[tuple[int, float], ...] = ()
    name: str = "quick"
    source: str = FLAGS

    # --- derived ----------------------------------------------------------------------------

    @property
    def start_s(self) -> float:
        """Start of the measured window (end of the warm-up)."""
        return self.warmup_hours * 3600.0

    @property
    def end_s(self) -> float:
        """End of arrivals and of the measured window."""
        return (self.warmup_hours + self.hours) * 3600.0

    def talk_mean_s(self, skill: SkillSpec) -> float:
        return skill.aht_s - self.wrap_up_s

    @property
    def operator_count(self) -> int:
        return sum(g.count for g in self.operators)

    @property
    def trace_day(self) -> str | None:
        """The one day a trace replay replays ("all" for every day superposed), or None."""
        if self.trace is None:
            return None
        return self.trace.days[0] if len(self.trace.days) == 1 else "all"

    def expected_calls(self) -> float:
        """Mean number of arrivals over warm-up + measured hours (for progress bars)."""
        if self.trace is not None:
            from contactcenter.sim.replay import load_source

            wanted = set(self.trace.days)
            return float(sum(1 for r in load_source(self.trace.source).records if r.day in wanted))
        total = 0.0
        whole, frac = divmod(self.warmup_hours + self.hours, 1.0)
        for s in self.skills:
            rates = s.arrivals_per_h if len(s.arrivals_per_h) == 24 else s.arrivals_per_h * 24
            total += sum(rates[h % 24] for h in range(int(whole))) + frac * rates[int(whole) % 24]
        return total

    # --- construction ---------------------------------------------------------------------------

    @classmethod
    def quick(
        cls,
        *,
        arrival_rate: float,
        aht: float,
        operators: int,
        patience: float | str | None = None,
        service_dist: str = "exp",
        service_cv: float = 1.0,
        hours: float = 8.0,
        warmup_hours: float = 0.0,
        seed: int = 1,
        lines: int | None = None,
        sl_threshold: float = 20.0,
        patience_dist: str = "exp",
        patience_cv: float = 1.0,
    ) -> Scenario:
        """One skill, one language, N identical operators: the M/M/N(+M) of the textbooks."""
        raw: dict[str, Any] = {
            "name": "quick",
            "patience_dist": patience_dist,
            "patience_cv": patience_cv,
            "seed": seed,
            "hours": hours,
            "warmup_hours": warmup_hours,
            "sl_threshold_s": sl_threshold,
            "service": {"dist": service_dist, "cv": service_cv},
            "skills": {
                "general": {
                    "aht_s": aht,
                    "arrivals_per_h": arrival_rate,
                    "languages": {"ca": 1.0},
                    "patience_s": None if patience == "none" else patience,
                }
            },
            "operators": operators,
        }
        if lines is not None:
            raw["lines"] = lines
        try:
            return parse_scenario(raw, FLAGS)
        except ConfigError as exc:
            raise _blame_flags(exc, _FLAG_FIELDS) from None

    def override(self, **flags: Any) -> Scenario:
        """This scenario with command-line values on top (None values are ignored).
        Keys: arrival_rate, aht, operators, patience ("none" or seconds), service_dist,
        service_cv, hours, warmup_hours, seed, lines, sl_threshold."""
        f = {k: v for k, v in flags.items() if v is not None}
        unknown = sorted(set(f) - set(FLAG_NAMES))
        if unknown:
            raise TypeError(f"override() got unknown flags {unknown}")
        if not f:
            return self
        if "arrival_rate" in f and (
            len(self.skills) != 1 or len(self.skills[0].arrivals_per_h) != 1 or self.trace is not None
        ):
            raise ConfigError(
                FLAGS,
                "--arrival-rate",
                f["arrival_rate"],
                "applies to one-skill constant-rate scenarios only",
            )
        if "operators" in f and len(self.operators) != 1:
            raise ConfigError(
                FLAGS, "--operators", f["operators"], "applies to scenarios with one operator group only"
            )
        raw = self.to_raw()
        for name, value in f.items():
            if name == "arrival_rate":
                raw["skills"][self.skills[0].name]["arrivals_per_h"] = value
            elif name in ("aht", "patience"):
                key = "aht_s" if name == "aht" else "patience_s"
                for s in raw["skills"].values():
                    s[key] = None if value == "none" else value
            elif name == "operators":
                raw["operators"][0]["count"] = value
            elif name in ("service_dist", "service_cv"):
                raw["service"][name.removeprefix("service_")] = value
            elif name in ("patience_dist", "patience_cv"):
                raw[name] = value
            else:
                raw["sl_threshold_s" if name == "sl_threshold" else name] = value
        try:
            return parse_scenario(raw, self.source)
        except ConfigError as exc:
            raise _blame_flags(exc, f) from None

    def replaying(
        self,
        *,
        trace: str | None = None,
        day: str | None = None,
        first_day: str | None = None,
        last_day: str | None = None,
        superpose: bool | None = None,
        staffing: str | None = None,
        patience_fit: str | None = None,
        away: str | float | None = None,
    ) -> Scenario:
        """This scenario with the trace-replay flags on top (None: as it is): `trace`
        (bank or FILE), the days (`day`, or `first_day`..`last_day`, `superpose`), `staffing`
        (trace or a roster FILE: replaces the operator groups), `patience_fit`, `away`
        (trace or a share). The flags are written into the YAML data and checked by the one
        schema, errors named by their flag."""
        given = {
            k: v
            for k, v in {
                "trace": trace, "date": day, "from": first_day, "to": last_day, "superpose": superpose,
                "staffing": staffing, "patience": patience_fit, "away": away,
            }.items()
            if v is not None
        }  # fmt: skip
        if not given:
            return self
        raw = self.to_raw()
        if trace is not None or day is not None or first_day is not None or superpose is not None:
            old = raw.get("trace") or {}
            new: dict[str, Any] = {"source": trace if trace is not None else old.get("source", "bank")}
            if day is not None or first_day is not None:
                if day is not None:
                    new["day"] = day
                if first_day is not None:
                    new["first_day"] = first_day
                    new["last_day"] = last_day if last_day is not None else first_day
            elif trace is not None:
                new["day"] = "busiest"
            else:
                new.update({k: v for k, v in old.items() if k != "source"})
            if superpose is not None:
                new["superpose"] = superpose
            raw["trace"] = new
            for s in raw["skills"].values():
                s.pop("arrivals_per_h", None)
            # The run covers the replayed days (one, superposed or not, or several in a row).
            span = 1 if new.get("superpose") or new.get("day") == "all" else _range_days(new)
            if span is not None:
                raw["hours"] = 24.0 * span - float(raw.get("warmup_hours", 0.0))
        elif last_day is not None:
            raise ConfigError(FLAGS, "--to", last_day, "needs --from")
        if staffing is not None:
            raw["staffing"] = staffing
            raw.pop("operators", None)
        if patience_fit is not None:
            raw["patience_fit"] = patience_fit
        if away is not None:
            raw["away"] = away
        try:
            return parse_scenario(raw, self.source)
        except ConfigError as exc:
            raise _blame_replay_flags(exc, given) from None

    @classmethod
    def for_trace(cls, source: str, *, operators: int | None = None, staffing: str | None = None) -> Scenario:
        """The scenario of a trace file replayed alone (`contactcenter sim --trace FILE`
        without --scenario): its skills, each with its served calls' mean talk time and the
        languages its callers are known to speak (in their shares; none known: ca); the
        operators from `staffing` (trace or a roster), or `operators` who have every skill.
        The bundled `bank` trace replays through the shipped trace scenario instead."""
        from contactcenter.sim.replay import BUNDLED, load_source, resolve_source

        if source == BUNDLED:
            from contactcenter import resources

            return load_scenario(resources.scenario("trace-busiest-day"))
        if operators is None and staffing is None:
            raise ConfigError(
                FLAGS,
                "--trace",
                source,
                "a trace file needs --staffing trace|FILE or --operators N (or --scenario)",
            )
        trace = load_source(resolve_source(source, None))
        talks: dict[str, list[float]] = {}
        langs: dict[str, dict[str, float]] = {}
        for r in trace.records:
            if not r.skill:
                continue
            talks.setdefault(r.skill, [])
            if r.served and r.talk_s > 0:
                talks[r.skill].append(r.talk_s)
            if r.language:
                shares = langs.setdefault(r.skill, {})
                shares[r.language] = shares.get(r.language, 0.0) + 1.0
        if not talks:
            raise ConfigError(trace.source, "skill", "", "the trace has no queued call to replay")
        raw: dict[str, Any] = {
            "name": Path(source).stem,
            "hours": 24.0,
            "trace": {"source": source, "day": "busiest"},
            "skills": {
                skill: {
                    "aht_s": sum(xs) / len(xs) if xs else DEFAULT_TRACE_AHT_S,
                    "languages": _shares(langs.get(skill)) or {"ca": 1.0},
                }
                for skill, xs in sorted(talks.items())
            },
        }
        if staffing is not None:
            raw["staffing"] = staffing
        else:
            raw["operators"] = operators
        try:
            return parse_scenario(raw, FLAGS)
        except ConfigError as exc:
            if exc.field == "skills" or exc.field.startswith("skills."):
                raise ConfigError(trace.source, "skill", exc.value, exc.problem) from None
            raise _blame_replay_flags(exc, {"trace", "staffing"}) from None

    def with_callbacks(self, on: bool) -> Scenario:
        """This scenario with callbacks on (its own settings, else the defaults) or off."""
        if not on:
            return self if self.callbacks is None else dataclasses.replace(self, callbacks=None)
        if self.callbacks is not None:
            return self
        return dataclasses.replace(self, callbacks=_CallbacksFile().sim_callbacks())

    def to_raw(self) -> dict[str, Any]:
        """This scenario as the YAML data that reads back into it (`parse_scenario`)."""
        raw: dict[str, Any] = {
            "name": self.name,
            "seed": self.seed,
            "hours": self.hours,
            "warmup_hours": self.warmup_hours,
            "sl_threshold_s": self.sl_threshold_s,
            "wrap_up_s": self.wrap_up_s,
            "ring_delay_s": self.ring_delay_s,
            "relaxation": [{"after": a, "max_level": lvl} for a, lvl in self.relaxation],
            "ivr": {"mean_s": self.ivr_s, "dist": self.ivr_dist},
            "service": {"dist": self.service_dist, "cv": self.service_cv},
            "patience_dist": self.patience_dist,
            "patience_cv": self.patience_cv,
            "skills": {},
            "operators": [
                {
                    "name": g.name,
                    "count": g.count,
                    "skills": dict(g.skills),
                    "languages": list(g.languages),
                    "shift": None if g.shift is None else list(g.shift),
                }
                for g in self.operators
            ],
        }
        if self.lines is not None:
            raw["lines"] = self.lines
        if self.trace is not None:
            raw["trace"] = {
                "source": self.trace.source,
                "days": list(self.trace.days),
                "superpose": self.trace.superpose,
            }
        if self.patience_fit is not None:
            raw["patience_fit"] = self.patience_fit
        if self.staffing is not None:
            raw["staffing"] = self.staffing
            del raw["operators"]
        if self.away is not None:
            raw["away"] = self.away if isinstance(self.away, str) else list(self.away)
        if self.open_hours is not None:
            raw["open_hours"] = list(self.open_hours)
        if self.callbacks is not None:
            raw["callbacks"] = self.callbacks.to_raw()
        if self.redial is not None:
            raw["redial"] = {"share": self.redial.share, "after_s": self.redial.after_s}
        if self.priority_head_start:
            raw["priority_head_start_s"] = dict(self.priority_head_start)
        for s in self.skills:
            skill: dict[str, Any] = {
                "aht_s": s.aht_s,
                "languages": dict(s.languages),
                "priority": s.priority,
                "patience_s": s.patience_s,
            }
            if self.trace is None:
                rates = s.arrivals_per_h
                skill["arrivals_per_h"] = rates[0] if len(rates) == 1 else list(rates)
            raw["skills"][s.name] = skill
        return raw


# --- command-line flags --------------------------------------------------------------------------


class _Flags(BaseModel):
    """The quick model's flags. Not strict: their values are command-line text ("4000")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arrival_rate: Annotated[float, RATE] | None = None
    aht: Annotated[float, AHT] | None = None
    operators: Annotated[int, OPERATORS] | None = None
    patience: Annotated[float, PATIENCE] | None = None  # or "none", read before
    service_cv: Annotated[float, SERVICE_CV] | None = None
    hours: Annotated[float, HOURS] | None = None
    warmup_hours: Annotated[float, WARMUP_HOURS] | None = None
    seed: Annotated[int, SEED] | None = None
    lines: Annotated[int, LINES] | None = None
    sl_threshold: Annotated[float, SL_THRESHOLD] | None = None
    service_dist: ServiceDist | None = None
    patience_dist: PatienceDist | None = None
    patience_cv: Annotated[float, SERVICE_CV] | None = None


FLAG_NAMES = tuple(_Flags.model_fields)

# The scenario field each flag sets (a regex over field paths): an error there is the flag's.
_FLAG_FIELDS = {
    "arrival_rate": r"skills\.[^.]+\.arrivals_per_h.*",
    "aht": r"skills\.[^.]+\.aht_s",
    "operators": r"operators(\[0\]\.count)?",
    "patience": r"(skills\.[^.]+\.)?patience_s",
    "service_cv": r"service\.cv",
    "service_dist": r"service\.dist",
    "hours": r"hours",
    "warmup_hours": r"warmup_hours",
    "seed": r"seed",
    "lines": r"lines",
    "sl_threshold": r"sl_threshold_s",
    "patience_dist": r"patience_dist",
    "patience_cv": r"patience_cv",
}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


DEFAULT_TRACE_AHT_S = 180.0  # a trace skill with no served call (its talk times are drawn)


def _shares(counts: Mapping[str, float] | None) -> dict[str, float]:
    total = sum((counts or {}).values())
    return {k: round(v / total, 6) for k, v in sorted((counts or {}).items())} if total else {}


def _range_days(trace: Mapping[str, Any]) -> int | None:
    """Days a trace section's range spans (None: one day, or not a range)."""
    first, last = trace.get("first_day"), trace.get("last_day")
    if first is None or last is None:
        return 1 if trace.get("day") is not None else None
    try:
        span = (dt.date.fromisoformat(str(last)) - dt.date.fromisoformat(str(first))).days + 1
    except ValueError:
        return None  # (the schema names the bad date)
    return span if span > 0 else None  # (and a range backwards)


# The scenario field each trace-replay flag sets (Scenario.replaying).
_REPLAY_FIELDS = {
    "trace": r"trace(\.source)?",
    "date": r"trace(\.day)?",
    "from": r"trace\.first_day",
    "to": r"trace\.last_day",
    "superpose": r"trace\.superpose",
    "staffing": r"staffing|operators",
    "patience": r"patience_fit",
    "away": r"away",
}


def _blame_replay_flags(exc: ConfigError, given: Collection[str]) -> ConfigError:
    for name in given:
        if re.fullmatch(_REPLAY_FIELDS[name], exc.field):
            flag = "--patience" if name == "patience" else _flag(name)
            return ConfigError(FLAGS, flag, exc.value, exc.problem)
    return exc


def _blame_flags(exc: ConfigError, given: Collection[str]) -> ConfigError:
    """A scenario's error after flags changed it: the flags' doing (the scenario alone was
    valid), named by the flag when the field is one a given flag sets."""
    for name in given:
        if re.fullmatch(_FLAG_FIELDS[name], exc.field):
            return ConfigError(FLAGS, _flag(name), exc.value, exc.problem)
    return ConfigError(FLAGS, exc.field, exc.value, exc.problem)


def parse_flags(raw: Mapping[str, str | None]) -> dict[str, Any]:
    """Command-line strings into values for `Scenario.quick` / `override` (absent flags are
    left out); raise ConfigError naming the flag. `--patience none` stays the string "none",
    which both read as "callers never hang up"."""
    given = {name: text for name, text in raw.items() if text is not None}
    nothing = given.get("patience") == "none"
    try:
        flags = validated(
            _Flags, {k: v for k, v in given.items() if not (k == "patience" and nothing)}, FLAGS
        )
    except ConfigError as exc:
        name = exc.field
        text = exc.problem + (" or none" if name == "patience" and exc.problem.startswith("expected") else "")
        raise ConfigError(FLAGS, _flag(name), given.get(name), text) from None
    return {name: "none" if name == "patience" and nothing else getattr(flags, name) for name in given}


# --- the YAML schema ------------------------------------------------------------------------------

Rate = Annotated[float, Strict(), RATE]


def _none_word(value: object) -> object:
    return None if value == "none" else value


# Mean patience in seconds; `none` (or null): callers never hang up.
Patience = Annotated[Annotated[float, Strict(), PATIENCE] | None, BeforeValidator(_none_word)]


def _number(value: object, bound: Bound, what: str) -> float:
    """A scalar written where a list or a mapping may also be: checked as the field's type
    would check it, so the error names the field itself."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise problem(f"expected {what}")
    return float(bound.check(value))  # checked first: a 400-digit integer has no float


def _profile(value: object) -> object:
    if isinstance(value, list | tuple):
        if len(value) != 24:
            raise problem("a day profile has 24 hourly rates", value=f"{len(value)} values")
        return value
    if value is None:
        return None
    return (_number(value, RATE, "calls per hour: a number, or a list of 24 hourly rates"),)


class _SkillFile(Schema):
    aht_s: Annotated[float, Strict(), AHT]  # talk + wrap-up
    arrivals_per_h: Annotated[tuple[Rate, ...] | None, BeforeValidator(_profile)] = None
    languages: Annotated[
        dict[Ident, Annotated[float, Strict(), Bound(0, 1e9, open_lo=True)]],
        each_in_list(1.0, "a language code"),
        nonempty("at least one language is needed"),
    ] = Field(default_factory=lambda: {"ca": 1.0})
    priority: Annotated[int, Strict(), Bound(-1000, 1000)] = 0
    patience_s: Patience = None  # absent: the scenario's patience_s


class _GroupFile(Schema):
    name: Ident | None = None  # None: g1, g2, ... by place in the list
    count: Annotated[int, Strict(), Bound(0, OPERATORS.hi)] = 1
    skills: (
        Annotated[
            dict[StrictStr, Level],
            each_in_list(1, "a skill name"),
            nonempty("an operator needs at least one skill"),
        ]
        | None
    ) = None  # None: every skill, at level 1
    languages: Languages | None = None  # None: every language of the skills
    shift: (
        Annotated[
            tuple[
                Annotated[float, Strict(), Bound(0, 23.999)],
                Annotated[float, Strict(), Bound(0, 48, open_lo=True)],
            ],
            pair("[start_hour, end_hour]"),
        ]
        | None
    ) = None  # None: always staffed

    @model_validator(mode="after")
    def _shift(self) -> Self:
        if self.shift is not None:
            start, end = self.shift
            if not start < end <= start + 24:
                raise problem(
                    f"must be > the start ({start:g}) and <= start + 24", at=("shift", 1), value=end
                )
        return self


def _ivr_mean_alone(value: object) -> object:
    """`ivr: 30` is `ivr: {mean_s: 30}`."""
    if isinstance(value, Mapping):
        return value
    return {"mean_s": _number(value, IVR_MEAN, "a mean time in seconds, or {mean_s, dist}")}


class _IvrFile(Schema):
    mean_s: Annotated[float, Strict(), IVR_MEAN] = 0.0
    dist: IvrDist = "const"


class _ServiceFile(Schema):
    dist: ServiceDist = "exp"  # talk times
    cv: Annotated[float, Strict(), SERVICE_CV] = 1.0  # coefficient of variation (lognormal)


@functools.cache
def trace_days() -> frozenset[str]:
    """The days of the bundled trace (read once; a date not among them would replay nothing)."""
    from contactcenter.sim.tracefile import bank_trace

    return frozenset(bank_trace().days())


def _trace_day(value: object) -> str:
    if value in ("busiest", "all"):
        return str(value)
    if not isinstance(value, str | dt.date) or (isinstance(value, str) and not re.match(r"\d", value)):
        raise problem("expected busiest, all, or a date YYYY-MM-DD of the trace")
    return as_date(value).isoformat()


def _a_day(value: object) -> str:
    return as_date(value).isoformat()


Day = Annotated[str, PlainValidator(_a_day)]


class _TraceFile(Schema):
    """Which calls to replay: `day` (a date, busiest, or all: every day superposed), or
    `first_day`..`last_day`, or `days`; `superpose` lays several days on one."""

    source: Text = "bank"  # the bundled month, or a trace file (relative to the scenario)
    day: Annotated[str, PlainValidator(_trace_day)] | None = None
    first_day: Day | None = None
    last_day: Day | None = None
    days: Annotated[tuple[Day, ...], nonempty("at least one day")] | None = None
    superpose: Annotated[bool, Strict()] = False

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        ways = [w for w in ("day", "first_day", "days") if getattr(self, w) is not None]
        if len(ways) > 1:
            raise problem(
                f"give one of day, first_day..last_day, days (got {', '.join(ways)})", at=(ways[1],)
            )
        if (self.first_day is None) != (self.last_day is None):
            missing = "last_day" if self.last_day is None else "first_day"
            raise problem("first_day and last_day go together", at=(missing,), value=None)
        if self.first_day is not None and self.last_day is not None and self.last_day < self.first_day:
            raise problem(f"is before first_day ({self.first_day})", at=("last_day",), value=self.last_day)
        return self

    def replay(self, base: Path | None, file: str) -> TraceReplay:
        """The days resolved against the trace itself; ConfigError naming the field at fault."""
        from contactcenter.sim.replay import busiest_day, load_source, resolve_source

        source = resolve_source(self.source, base)
        try:
            trace = load_source(source)
        except ConfigError as exc:
            raise ConfigError(file, "trace.source", self.source, exc.problem) from None
        have = trace.days()
        if not have:
            raise ConfigError(file, "trace.source", self.source, "the trace has no calls")
        span = f"it has {have[0]} to {have[-1]}"
        superpose = self.superpose
        if self.days is not None:
            days, field = self.days, "trace.days"
        elif self.first_day is not None and self.last_day is not None:
            first, last = dt.date.fromisoformat(self.first_day), dt.date.fromisoformat(self.last_day)
            days = tuple((first + dt.timedelta(d)).isoformat() for d in range((last - first).days + 1))
            field = "trace.first_day"
            # (a range's days the trace lacks are its closed days: left out, unless all are)
            present = tuple(d for d in days if d in set(have))
            if not present:
                raise ConfigError(
                    file, field, self.first_day, f"no day of the range is in the trace ({span})"
                )
            days = present
        elif self.day == "all":
            days, field, superpose = tuple(have), "trace.day", True
        elif self.day is None or self.day == "busiest":
            days, field = (busiest_day(trace),), "trace.day"
        else:
            days, field = (self.day,), "trace.day"
        for d in days:
            if d not in set(have):
                raise ConfigError(file, field, d, f"not a day of the trace ({span}), busiest or all")
        return TraceReplay(source, tuple(days), superpose)


Share = Annotated[float, Strict(), Bound(0, 1)]
Seconds = Annotated[float, Strict(), Bound(0, 3600)]


def _away_shares(value: object) -> object:
    if isinstance(value, list | tuple) and len(value) != AWAY_INTERVALS:
        raise problem(f"an away schedule has {AWAY_INTERVALS} half-hour shares", value=f"{len(value)} values")
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


class _CallbacksFile(CallbackPolicyFile):
    accept: Share = 0.5
    answer: Share = 0.8
    offer_s: Seconds = 15.0
    confirm_s: Seconds = 8.0
    citizen_ring_s: Seconds = 12.0
    no_answer_s: Annotated[float, Strict(), Bound(1, 3600)] = 30.0

    def sim_callbacks(self) -> SimCallbacks:
        return SimCallbacks(
            policy=self.policy(),
            accept=self.accept,
            answer=self.answer,
            offer_s=self.offer_s,
            confirm_s=self.confirm_s,
            citizen_ring_s=self.citizen_ring_s,
            no_answer_s=self.no_answer_s,
        )


class _RedialFile(Schema):
    share: Share  # of the callers who gave up
    after_s: Annotated[float, Strict(), Bound(1, 86_400)] = 600.0  # mean, exponential


def _count_or_groups(value: object) -> object:
    """`operators: 12` is one group of 12 with every skill and language."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return [{"name": "op", "count": OPERATORS.check(value)}]
    if not (isinstance(value, list) and value):
        raise problem("expected a number of operators or a non-empty list of groups")
    return value


class _ScenarioFile(Schema):
    """The whole file. Field types check each value; `_consistent` checks what refers to
    what, and that the run can end well."""

    name: Text | None = None  # None: the file's name
    seed: Annotated[int, Strict(), SEED] = 1
    hours: Annotated[float, Strict(), HOURS]  # measured, after the warm-up
    warmup_hours: Annotated[float, Strict(), WARMUP_HOURS] = 0.0
    lines: Annotated[int, Strict(), LINES] | None = None  # None: no line limit
    sl_threshold_s: Annotated[float, Strict(), SL_THRESHOLD] = 20.0
    wrap_up_s: Annotated[float, Strict(), Bound(0, 3600)] = 0.0
    ring_delay_s: Annotated[float, Strict(), Bound(0, 300)] = 0.0
    relaxation: Relaxation = ()
    ivr: Annotated[_IvrFile, BeforeValidator(_ivr_mean_alone)] = _IvrFile()
    service: _ServiceFile = _ServiceFile()
    patience_s: Patience = None  # every skill's, unless it sets its own
    patience_dist: PatienceDist = "exp"  # around each skill's patience_s
    patience_cv: Annotated[float, Strict(), SERVICE_CV] = 1.0  # (lognormal)
    patience_fit: PatienceFitKind | None = None  # fitted on the trace per skill and priority
    trace: _TraceFile | None = None
    # The operators: `trace` (the trace's working periods) or a roster file (operators per
    # half hour and skill, sim/roster.py; relative to the scenario). None: `operators`.
    staffing: Text | None = None
    # Share of logged-in time away from calls: one share, 48 (a half hour each), or `trace`.
    away: Annotated[
        Share | Literal["trace"] | tuple[Share | None, ...] | None, BeforeValidator(_away_shares)
    ] = None
    open_hours: (
        Annotated[
            tuple[
                Annotated[float, Strict(), Bound(0, 23.999)],
                Annotated[float, Strict(), Bound(0, 24, open_lo=True)],
            ],
            pair("[open_hour, close_hour]"),
        ]
        | None
    ) = None  # None: always open
    callbacks: _CallbacksFile | None = None  # None: never offered (the Erlang checks hold)
    redial: _RedialFile | None = None  # None: who gives up never calls again
    # Priorities as head starts: {priority: seconds}, a caller of that priority queues as if
    # they had come so much earlier. None: strict classes (a higher priority always first).
    priority_head_start_s: (
        dict[Annotated[int, Strict(), Bound(-1000, 1000)], Annotated[float, Strict(), Bound(0, 86_400)]]
        | None
    ) = None
    skills: Annotated[dict[Ident, _SkillFile], nonempty("at least one skill is needed")]
    operators: Annotated[tuple[_GroupFile, ...] | None, BeforeValidator(_count_or_groups)] = None

    def _groups(self) -> list[OperatorGroup]:
        all_langs = tuple(dict.fromkeys(lang for s in self.skills.values() for lang in s.languages))
        return [
            OperatorGroup(
                name=g.name or f"g{i + 1}",
                count=g.count,
                skills=tuple(g.skills.items())
                if g.skills is not None
                else tuple((s, 1) for s in self.skills),
                languages=g.languages if g.languages is not None else all_langs,
                shift=g.shift,
            )
            for i, g in enumerate(self.operators or ())
        ]

    def _skill_specs(self) -> tuple[SkillSpec, ...]:
        return tuple(
            SkillSpec(
                name=name,
                arrivals_per_h=s.arrivals_per_h or (0.0,),
                aht_s=s.aht_s,
                languages=tuple(s.languages.items()),
                priority=s.priority,
                patience_s=s.patience_s if "patience_s" in s.model_fields_set else self.patience_s,
            )
            for name, s in self.skills.items()
        )

    def scenario(self, file: str) -> Scenario:
        base = Path(file).parent if file not in (FLAGS, "<scenario>", "") else None
        trace = self.trace.replay(base, file) if self.trace is not None else None
        staffing = self.staffing
        away = self.away
        if staffing is not None and staffing != TRACE_STAFFING:
            staffing, planned = self._roster(base, file)
            if away is None and any(x is not None for x in planned):
                away = planned  # (the roster's own away column, unless the scenario says)
        if trace is not None:
            self._trace_skills(trace, file)
        if isinstance(away, float):
            away = (away,) * AWAY_INTERVALS
        return Scenario(
            skills=self._skill_specs(),
            operators=tuple(self._groups()),
            hours=self.hours,
            warmup_hours=self.warmup_hours,
            seed=self.seed,
            lines=self.lines,
            sl_threshold_s=self.sl_threshold_s,
            wrap_up_s=self.wrap_up_s,
            ring_delay_s=self.ring_delay_s,
            ivr_s=self.ivr.mean_s,
            ivr_dist=self.ivr.dist,
            service_dist=self.service.dist,
            service_cv=self.service.cv,
            relaxation=relaxation_steps(self.relaxation),
            trace=trace,
            patience_dist=self.patience_dist,
            patience_cv=self.patience_cv,
            patience_fit=self.patience_fit,
            staffing=staffing,
            away=away,
            open_hours=self.open_hours,
            callbacks=None if self.callbacks is None else self.callbacks.sim_callbacks(),
            redial=None if self.redial is None else Redial(self.redial.share, self.redial.after_s),
            priority_head_start=tuple(sorted((self.priority_head_start_s or {}).items())),
            name=self.name or Path(file).stem,
            source=file,
        )

    def _roster(self, base: Path | None, file: str) -> tuple[str, tuple[float | None, ...]]:
        """The roster file's absolute path, read and checked (its skills the scenario's), and
        its away shares."""
        from contactcenter.sim.roster import read_roster

        assert self.staffing is not None
        path = Path(self.staffing).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        path = path.resolve()
        try:
            roster = read_roster(path)
            periods = roster.periods()
        except ConfigError as exc:
            raise ConfigError(file, "staffing", self.staffing, f"{exc.field}: {exc.problem}") from None
        unknown = sorted({k for p in periods for k in p.skills} - set(self.skills))
        if unknown:
            known = ", ".join(sorted(self.skills))
            raise ConfigError(
                file,
                "staffing",
                self.staffing,
                f"the roster staffs unknown skills {unknown} (known: {known})",
            )
        return str(path), tuple(roster.away())

    def _trace_skills(self, trace: TraceReplay, file: str) -> None:
        from contactcenter.sim.replay import load_source

        wanted = set(trace.days)
        used = {r.skill for r in load_source(trace.source).records if r.day in wanted and r.skill}
        missing = sorted(used - set(self.skills))
        if missing:
            raise ConfigError(file, "skills", ", ".join(missing), "the trace replay needs these skills")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        traced = self.trace is not None
        if self.staffing is not None and self.operators is not None:
            raise problem("give operators or staffing, not both", at=("operators",), value="(groups)")
        if self.staffing is None and self.operators is None:
            raise problem("missing required field (or set `staffing`)", at=("operators",), value=None)
        if self.staffing == TRACE_STAFFING and not traced:
            raise problem("staffing from the trace needs `trace`", at=("staffing",), value=self.staffing)
        if self.patience_fit is not None and not traced:
            raise problem(
                "a patience fitted on a trace needs `trace`", at=("patience_fit",), value=self.patience_fit
            )
        if self.away == TRACE_AWAY and not traced:
            raise problem("time away estimated from a trace needs `trace`", at=("away",), value=self.away)
        for name, s in self.skills.items():
            if not s.aht_s > self.wrap_up_s:
                raise problem(
                    f"must be > wrap_up_s ({self.wrap_up_s:g} s): AHT includes the wrap-up",
                    at=("skills", name, "aht_s"),
                    value=s.aht_s,
                )
            if s.arrivals_per_h is None and not traced:
                raise problem(
                    "missing required field (or set `trace`)",
                    at=("skills", name, "arrivals_per_h"),
                    value=None,
                )
            if s.arrivals_per_h is not None and traced:
                raise problem(
                    "not allowed with `trace` (the trace gives arrivals)",
                    at=("skills", name, "arrivals_per_h"),
                    value=list(s.arrivals_per_h),
                )
        if self.open_hours is not None and not self.open_hours[0] < self.open_hours[1]:
            raise problem(
                f"must be after the opening hour ({self.open_hours[0]:g})",
                at=("open_hours", 1),
                value=self.open_hours[1],
            )
        if self.callbacks is not None and (bad := self.callbacks.unknown_skill(tuple(self.skills))):
            known = ", ".join(sorted(self.skills))
            raise problem(f"unknown skill (known: {known})", at=("callbacks", "by_skill"), value=bad)
        groups = self._groups()
        names: set[str] = set()
        for i, (g, raw) in enumerate(zip(groups, self.operators or (), strict=True)):
            if g.name in names:
                raise problem("duplicate group name", at=("operators", i, "name"), value=g.name)
            names.add(g.name)
            for skill, _ in g.skills if raw.skills is not None else ():
                if skill not in self.skills:
                    known = ", ".join(sorted(self.skills))
                    raise problem(
                        f"unknown skill (known: {known})", at=("operators", i, "skills"), value=skill
                    )
        count = sum(g.count for g in groups)
        if count < 1 and self.staffing is None:
            raise problem("at least one operator is needed", at=("operators",), value=count)
        # Every skill with traffic needs someone who can answer each of its languages (the
        # roster's and the trace's operators speak every language).
        for name, s in self.skills.items():
            if self.staffing is not None:
                break
            if not traced and not any(r > 0 for r in s.arrivals_per_h or ()):
                continue
            for lang in s.languages:
                if not any(
                    g.count > 0 and lang in g.languages and any(k == name for k, _ in g.skills)
                    for g in groups
                ):
                    raise problem(
                        "no operator has this skill and language",
                        at=("skills", name, "languages"),
                        value=lang,
                    )
        expected = (
            0.0  # (a trace is finite)
            if traced
            else Scenario(self._skill_specs(), (), self.hours, self.warmup_hours).expected_calls()
        )
        if expected > MAX_CALLS:
            raise problem(
                f"{self.warmup_hours + self.hours:g} h (warm-up and measured) at these arrival rates"
                f" is about {expected:,.0f} calls, more than the {MAX_CALLS:,} a run may simulate:"
                " shorten the run or lower the rates",
                at=("hours",),
                value=self.hours,
            )
        return self


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read and check a scenario file; raise ConfigError naming the file and field at fault."""
    return parse_scenario(read_yaml(path), str(path))


def parse_scenario(raw: object, file: str = "<scenario>") -> Scenario:
    """Check already-parsed YAML data (a mapping) into a Scenario."""
    return validated(_ScenarioFile, raw, file).scenario(file)
