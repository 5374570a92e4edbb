# A simulation scenario: what traffic arrives, who answers it, and how long to run.
# Rules: everything is checked here, once; a bad file or flag raises
# contactcenter.config.ConfigError(file, field, value, problem), which the CLI turns into
# one line on stderr and exit code 2. A scenario comes from a YAML file (`load_scenario`),
# from the quick-model flags (`Scenario.quick`), or from a file with flags on top
# (`Scenario.override`). Hours are hours of the day on the simulator's clock, which starts
# at midnight of day 0; the run covers warm-up + measured hours, and KPIs count the calls
# that arrived in the measured hours.
from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from contactcenter.config import ConfigError, FieldReader, read_yaml
from contactcenter.sim.trace import TYPE_TO_SKILL

FLAGS = "(command line)"  # the "file" named by errors in flags
_IDENT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_DAY = re.compile(r"^(busiest|all|\d{4}-\d{2}-\d{2})$")
SERVICE_DISTS = ("exp", "lognormal", "const")
IVR_DISTS = ("const", "exp")
MAX_HOURS = 24 * 366


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
    trace_day: str | None = None  # replay sim/trace.py: a date, `busiest` or `all`
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

    def expected_calls(self) -> float:
        """Mean number of arrivals over warm-up + measured hours (for progress bars)."""
        if self.trace_day is not None:
            return 2500.0 if self.trace_day != "all" else 42_000.0
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
    ) -> Scenario:
        """One skill, one language, N identical operators: the M/M/N(+M) of the textbooks."""
        pat = None if patience in (None, "none") else float(patience)
        sc = cls(
            skills=(SkillSpec("general", (float(arrival_rate),), float(aht), (("ca", 1.0),), 0, pat),),
            operators=(OperatorGroup("op", operators, (("general", 1),), ("ca",)),),
            hours=float(hours),
            warmup_hours=float(warmup_hours),
            seed=seed,
            lines=lines,
            sl_threshold_s=float(sl_threshold),
            service_dist=service_dist,
            service_cv=float(service_cv),
        )
        sc.check(FLAGS)
        return sc

    def override(self, **flags: Any) -> Scenario:
        """This scenario with command-line values on top (None values are ignored).
        Keys: arrival_rate, aht, operators, patience ("none" or seconds), service_dist,
        service_cv, hours, warmup_hours, seed, lines, sl_threshold."""
        f = {k: v for k, v in flags.items() if v is not None}
        sc = self
        if "arrival_rate" in f:
            if len(sc.skills) != 1 or len(sc.skills[0].arrivals_per_h) != 1 or sc.trace_day:
                _fail(
                    FLAGS,
                    "--arrival-rate",
                    f["arrival_rate"],
                    "applies to one-skill constant-rate scenarios only",
                )
            sk = dataclasses.replace(sc.skills[0], arrivals_per_h=(float(f["arrival_rate"]),))
            sc = dataclasses.replace(sc, skills=(sk,))
        if "aht" in f:
            sc = dataclasses.replace(
                sc, skills=tuple(dataclasses.replace(s, aht_s=float(f["aht"])) for s in sc.skills)
            )
        if "patience" in f:
            pat = None if f["patience"] == "none" else float(f["patience"])
            sc = dataclasses.replace(
                sc, skills=tuple(dataclasses.replace(s, patience_s=pat) for s in sc.skills)
            )
        if "operators" in f:
            if len(sc.operators) != 1:
                _fail(
                    FLAGS, "--operators", f["operators"], "applies to scenarios with one operator group only"
                )
            sc = dataclasses.replace(
                sc, operators=(dataclasses.replace(sc.operators[0], count=f["operators"]),)
            )
        simple = {
            "service_dist": "service_dist",
            "service_cv": "service_cv",
            "hours": "hours",
            "warmup_hours": "warmup_hours",
            "seed": "seed",
            "lines": "lines",
            "sl_threshold": "sl_threshold_s",
        }
        changes = {simple[k]: v for k, v in f.items() if k in simple}
        if changes:
            sc = dataclasses.replace(sc, **changes)
        sc.check(FLAGS if f else sc.source)
        return sc

    def check(self, file: str) -> None:
        """Raise ConfigError unless the scenario can run (names the flag or field at fault)."""
        flags = file == FLAGS

        def name(flag: str, fieldname: str) -> str:
            return flag if flags else fieldname

        if not self.skills:
            _fail(file, "skills", None, "at least one skill is needed")
        for s in self.skills:
            where = f"skills.{s.name}"
            if not s.aht_s > self.wrap_up_s or not math.isfinite(s.aht_s):
                _fail(
                    file, name("--aht", f"{where}.aht_s"), s.aht_s, f"must be > wrap-up ({self.wrap_up_s} s)"
                )
            for r in s.arrivals_per_h:
                if not (r >= 0 and math.isfinite(r)):
                    _fail(file, name("--arrival-rate", f"{where}.arrivals_per_h"), r, "must be >= 0")
            if s.patience_s is not None and not (s.patience_s > 0 and math.isfinite(s.patience_s)):
                _fail(file, name("--patience", f"{where}.patience_s"), s.patience_s, "must be > 0 or none")
        if not self.operators or self.operator_count < 1:
            _fail(
                file, name("--operators", "operators"), self.operator_count, "at least one operator is needed"
            )
        for g in self.operators:
            if g.count < 0:
                _fail(file, name("--operators", f"operators.{g.name}.count"), g.count, "must be >= 0")
        if not (0 < self.hours <= MAX_HOURS):
            _fail(file, name("--hours", "hours"), self.hours, f"must be > 0 and <= {MAX_HOURS}")
        if not (0 <= self.warmup_hours <= MAX_HOURS):
            _fail(
                file,
                name("--warmup-hours", "warmup_hours"),
                self.warmup_hours,
                f"must be >= 0 and <= {MAX_HOURS}",
            )
        if self.lines is not None and self.lines < 1:
            _fail(file, name("--lines", "lines"), self.lines, "must be >= 1")
        if not (0 <= self.sl_threshold_s < math.inf):
            _fail(file, name("--sl-threshold", "sl_threshold_s"), self.sl_threshold_s, "must be >= 0")
        if self.service_dist not in SERVICE_DISTS:
            _fail(
                file,
                name("--service-dist", "service.dist"),
                self.service_dist,
                f"expected one of {SERVICE_DISTS}",
            )
        if not (0 < self.service_cv < math.inf):
            _fail(file, name("--service-cv", "service.cv"), self.service_cv, "must be > 0")
        # Every skill with traffic needs someone who can answer each of its languages.
        for s in self.skills:
            if self.trace_day is None and not any(r > 0 for r in s.arrivals_per_h):
                continue
            for lang, _ in s.languages:
                if not any(
                    g.count > 0 and lang in g.languages and any(k == s.name for k, _ in g.skills)
                    for g in self.operators
                ):
                    _fail(file, f"skills.{s.name}.languages", lang, "no operator has this skill and language")


# --- command-line flags --------------------------------------------------------------------------

# flag (argparse dest) -> (kind, lowest value, lowest allowed?) ; "none" is also allowed for patience
_FLAG_KINDS: dict[str, tuple[type, float, bool]] = {
    "arrival_rate": (float, 0.0, False),
    "aht": (float, 0.0, False),
    "operators": (int, 1, True),
    "patience": (float, 0.0, False),
    "service_cv": (float, 0.0, False),
    "hours": (float, 0.0, False),
    "warmup_hours": (float, 0.0, True),
    "seed": (int, 0, True),
    "lines": (int, 1, True),
    "sl_threshold": (float, 0.0, True),
}
FLAG_NAMES = (*_FLAG_KINDS, "service_dist")


def parse_flags(raw: Mapping[str, str | None]) -> dict[str, Any]:
    """Command-line strings into values for `Scenario.quick` / `override` (absent flags are
    left out); raise ConfigError naming the flag. `--patience none` stays the string "none",
    which both read as "callers never hang up"."""
    out: dict[str, Any] = {}
    for name, text in raw.items():
        if text is None:
            continue
        flag = "--" + name.replace("_", "-")
        if name == "service_dist":
            if text not in SERVICE_DISTS:
                _fail(FLAGS, flag, text, f"expected one of {', '.join(SERVICE_DISTS)}")
            out[name] = text
            continue
        if name == "patience" and text == "none":
            out[name] = "none"
            continue
        kind, lo, lo_ok = _FLAG_KINDS[name]
        try:
            value = kind(text)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            _fail(FLAGS, flag, text, f"expected {what}" + (" or none" if name == "patience" else ""))
        if not math.isfinite(value) or value < lo or (value == lo and not lo_ok):
            _fail(FLAGS, flag, text, f"must be {'>=' if lo_ok else '>'} {lo:g}")
        out[name] = value
    return out


# --- the YAML loader ----------------------------------------------------------------------------


def _fail(file: str, field: str, value: object, problem: str) -> NoReturn:
    raise ConfigError(file, field, value, problem)


class _Reader(FieldReader):
    """The centre config's reader, plus what scenarios need: open lower bounds, names,
    choices."""

    def number(self, value: object, field: str, lo: float, hi: float, *, open_lo: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.fail(field, value, "expected a number")
        if value > hi or value < lo or (open_lo and value == lo):
            self.fail(field, value, f"must be {'>' if open_lo else '>='} {lo:g} and <= {hi:g}")
        return float(value)

    def ident(self, value: object, field: str) -> str:
        if not isinstance(value, str) or not _IDENT.match(value):
            self.fail(field, value, f"expected a name matching {_IDENT.pattern}")
        return value

    def choice(self, value: object, field: str, choices: Sequence[str]) -> str:
        if not isinstance(value, str) or value not in choices:
            self.fail(field, value, f"expected one of {', '.join(choices)}")
        return value

    def patience(self, value: object, field: str) -> float | None:
        if value is None or value == "none":
            return None
        return self.number(value, field, 0, 1e9, open_lo=True)

    def known(self, data: Mapping[str, Any], field: str, keys: Sequence[str]) -> None:
        for key in data:
            if key not in keys:
                where = f"{field}.{key}" if field else key
                self.fail(where, data[key], f"unknown field (known: {', '.join(keys)})")


_TOP = (
    "name", "seed", "hours", "warmup_hours", "lines", "sl_threshold_s", "wrap_up_s", "ring_delay_s",
    "relaxation", "ivr", "service", "patience_s", "trace", "skills", "operators",
)  # fmt: skip
_SKILL = ("aht_s", "arrivals_per_h", "languages", "priority", "patience_s")
_GROUP = ("name", "count", "skills", "languages", "shift")


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read and check a scenario file; raise ConfigError naming the file and field at fault."""
    return parse_scenario(read_yaml(path), str(path))


def parse_scenario(raw: object, file: str = "<scenario>") -> Scenario:
    """Check already-parsed YAML data (a mapping) into a Scenario."""
    r = _Reader(file)
    top = r.mapping(raw, "(top level)")
    r.known(top, "", _TOP)
    wrap_up = r.number(top.get("wrap_up_s", 0), "wrap_up_s", 0, 3600)
    default_patience = r.patience(top.get("patience_s"), "patience_s")

    trace = top.get("trace")
    trace_day: str | None = None
    if trace is not None:
        t = r.mapping(trace, "trace")
        r.known(t, "trace", ("day",))
        day = t.get("day", "busiest")
        if not isinstance(day, str) or not _DAY.match(day):
            r.fail("trace.day", day, "expected busiest, all, or a date YYYY-MM-DD of the trace")
        trace_day = day

    sk = r.mapping(top.get("skills"), "skills")
    if not sk:
        r.fail("skills", sk, "at least one skill is needed")
    skills: list[SkillSpec] = []
    for sname, sraw in sk.items():
        f = f"skills.{sname}"
        r.ident(sname, f)
        s = r.mapping(sraw, f)
        r.known(s, f, _SKILL)
        if "aht_s" not in s:
            r.fail(f"{f}.aht_s", None, "missing required field")
        aht = r.number(s["aht_s"], f"{f}.aht_s", wrap_up, 86_400, open_lo=True)
        rates_raw = s.get("arrivals_per_h")
        if rates_raw is None:
            if trace_day is None:
                r.fail(f"{f}.arrivals_per_h", None, "missing required field (or set `trace`)")
            rates: tuple[float, ...] = (0.0,)
        elif trace_day is not None:
            r.fail(f"{f}.arrivals_per_h", rates_raw, "not allowed with `trace` (the trace gives arrivals)")
        elif isinstance(rates_raw, list):
            if len(rates_raw) != 24:
                r.fail(f"{f}.arrivals_per_h", f"{len(rates_raw)} values", "a day profile has 24 hourly rates")
            rates = tuple(r.number(v, f"{f}.arrivals_per_h[{i}]", 0, 1e7) for i, v in enumerate(rates_raw))
        else:
            rates = (r.number(rates_raw, f"{f}.arrivals_per_h", 0, 1e7),)
        langs_raw = s.get("languages", {"ca": 1.0})
        if isinstance(langs_raw, list):
            langs_raw = {lang: 1.0 for lang in langs_raw}
        langs_map = r.mapping(langs_raw, f"{f}.languages")
        if not langs_map:
            r.fail(f"{f}.languages", langs_raw, "at least one language is needed")
        languages = tuple(
            (r.ident(lang, f"{f}.languages"), r.number(w, f"{f}.languages.{lang}", 0, 1e9, open_lo=True))
            for lang, w in langs_map.items()
        )
        patience = r.patience(s["patience_s"], f"{f}.patience_s") if "patience_s" in s else default_patience
        priority = r.integer(s.get("priority", 0), f"{f}.priority", -1000, 1000)
        skills.append(SkillSpec(sname, rates, aht, languages, priority, patience))
    names = {s.name for s in skills}
    if trace_day is not None:
        missing = sorted(set(TYPE_TO_SKILL.values()) - names)
        if missing:
            r.fail("skills", ", ".join(missing), "the trace replay needs these skills")

    all_langs = tuple(dict.fromkeys(lang for s in skills for lang, _ in s.languages))
    ops_raw = top.get("operators")
    groups: list[OperatorGroup] = []
    if isinstance(ops_raw, int) and not isinstance(ops_raw, bool):
        count = r.integer(ops_raw, "operators", 1, 1_000_000)
        groups.append(OperatorGroup("op", count, tuple((s.name, 1) for s in skills), all_langs))
    elif isinstance(ops_raw, list) and ops_raw:
        for i, graw in enumerate(ops_raw):
            f = f"operators[{i}]"
            g = r.mapping(graw, f)
            r.known(g, f, _GROUP)
            gname = r.ident(g.get("name", f"g{i + 1}"), f"{f}.name")
            if any(x.name == gname for x in groups):
                r.fail(f"{f}.name", gname, "duplicate group name")
            count = r.integer(g.get("count", 1), f"{f}.count", 0, 1_000_000)
            gs_raw = g.get("skills", [s.name for s in skills])
            if isinstance(gs_raw, list):  # a plain list means level 1 in each
                for j, sname in enumerate(gs_raw):
                    if not isinstance(sname, str):
                        r.fail(f"{f}.skills[{j}]", sname, "expected a skill name")
                gs_raw = {sname: 1 for sname in gs_raw}
            gs = r.mapping(gs_raw, f"{f}.skills")
            if not gs:
                r.fail(f"{f}.skills", gs_raw, "an operator needs at least one skill")
            levels = []
            for sname, level in gs.items():
                if sname not in names:
                    r.fail(f"{f}.skills", sname, f"unknown skill (known: {', '.join(sorted(names))})")
                levels.append((sname, r.integer(level, f"{f}.skills.{sname}", 1, 9)))
            gl = g.get("languages", list(all_langs))
            if not isinstance(gl, list) or not gl:
                r.fail(f"{f}.languages", gl, "expected a non-empty list")
            glangs = tuple(r.ident(lang, f"{f}.languages[{j}]") for j, lang in enumerate(gl))
            shift = None
            if g.get("shift") is not None:
                sh = g["shift"]
                if not (isinstance(sh, list) and len(sh) == 2):
                    r.fail(f"{f}.shift", sh, "expected [start_hour, end_hour]")
                start = r.number(sh[0], f"{f}.shift[0]", 0, 23.999)
                end = r.number(sh[1], f"{f}.shift[1]", start, start + 24, open_lo=True)
                shift = (start, end)
            groups.append(OperatorGroup(gname, count, tuple(levels), glangs, shift))
    else:
        r.fail("operators", ops_raw, "expected a number of operators or a non-empty list of groups")

    relax: list[tuple[float, int]] = []
    rx = top.get("relaxation", [])
    if not isinstance(rx, list):
        r.fail("relaxation", rx, "expected a list of {after, max_level}")
    for i, step in enumerate(rx):
        st = r.mapping(step, f"relaxation[{i}]")
        r.known(st, f"relaxation[{i}]", ("after", "max_level"))
        after = r.number(st.get("after"), f"relaxation[{i}].after", 0, 86_400)
        level = r.integer(st.get("max_level"), f"relaxation[{i}].max_level", 1, 9)
        if (i == 0 and after != 0) or (relax and not (after > relax[-1][0] and level > relax[-1][1])):
            r.fail(f"relaxation[{i}]", step, "steps start at after: 0 and widen (later, higher level)")
        relax.append((after, level))

    ivr_raw = top.get("ivr", 0)
    if isinstance(ivr_raw, Mapping):
        iv = r.mapping(ivr_raw, "ivr")
        r.known(iv, "ivr", ("mean_s", "dist"))
        ivr_s = r.number(iv.get("mean_s", 0), "ivr.mean_s", 0, 3600)
        ivr_dist = r.choice(iv.get("dist", "const"), "ivr.dist", IVR_DISTS)
    else:
        ivr_s, ivr_dist = r.number(ivr_raw, "ivr", 0, 3600), "const"

    sv = r.mapping(top.get("service", {}), "service")
    r.known(sv, "service", ("dist", "cv"))
    lines_raw = top.get("lines")
    sc = Scenario(
        skills=tuple(skills),
        operators=tuple(groups),
        hours=r.number(top.get("hours"), "hours", 0, MAX_HOURS, open_lo=True),
        warmup_hours=r.number(top.get("warmup_hours", 0), "warmup_hours", 0, MAX_HOURS),
        seed=r.integer(top.get("seed", 1), "seed", 0, 2**63 - 1),
        lines=None if lines_raw is None else r.integer(lines_raw, "lines", 1, 10_000_000),
        sl_threshold_s=r.number(top.get("sl_threshold_s", 20), "sl_threshold_s", 0, 86_400),
        wrap_up_s=wrap_up,
        ring_delay_s=r.number(top.get("ring_delay_s", 0), "ring_delay_s", 0, 300),
        ivr_s=ivr_s,
        ivr_dist=ivr_dist,
        service_dist=r.choice(sv.get("dist", "exp"), "service.dist", SERVICE_DISTS),
        service_cv=r.number(sv.get("cv", 1.0), "service.cv", 0, 100, open_lo=True),
        relaxation=tuple(relax),
        trace_day=trace_day,
        name=str(top.get("name", Path(file).stem)),
        source=file,
    )
    sc.check(file)
    return sc
