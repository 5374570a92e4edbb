# The centre's configuration: one YAML file, loaded into frozen dataclasses.
# Rules: every field is checked here, once, before anything starts; a bad file raises
# ConfigError naming the file, the field (as a path like `operators[2].skills`) and the bad
# value, and the CLI turns that into one line on stderr and exit code 2. Nothing else in
# the engine re-validates configuration.
from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml

from contactcenter.core.calendar import OpeningHours
from contactcenter.errors import UserError

# Identifiers end up in Asterisk channel names, contexts and sound paths: keep them to a
# charset that needs no quoting anywhere.
_IDENT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_LANGUAGES = {"ca", "es", "en"}  # languages the prompt generator (espeak-ng) is set up for
_DIGITS = {*"0123456789*"}


class ConfigError(UserError):
    """A configuration problem, with where it is and what was found."""

    def __init__(self, file: str, field: str, value: object, problem: str) -> None:
        self.file, self.field, self.value, self.problem = file, field, value, problem
        super().__init__(f"{file}: {field}: {problem} (got {value!r})")


@dataclass(frozen=True, slots=True)
class AmiConfig:
    host: str
    port: int
    username: str
    secret: str
    action_timeout: float
    ping_interval: float
    connect_timeout: float  # `run` gives up (exit 2) if Asterisk never answers in this time


@dataclass(frozen=True, slots=True)
class SipConfig:
    host: str
    port: int
    rtp_ports: tuple[int, int]


@dataclass(frozen=True, slots=True)
class HttpConfig:
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class RoutingConfig:
    ring_timeout: float
    wrap_up: float
    default_aht: float  # EWT's handle time per skill until calls have been handled
    # (after seconds waited, highest operator level allowed): the bullseye steps
    relaxation: tuple[tuple[float, int], ...]
    # An operator the system could not reach (a fault of Asterisk or the link, not theirs)
    # is offered calls again after this backoff, doubled on each fault in a row up to the max.
    fault_retry: float
    fault_retry_max: float


@dataclass(frozen=True, slots=True)
class Menu:
    options: Mapping[str, str]  # DTMF digit -> language code or skill id
    default: str


@dataclass(frozen=True, slots=True)
class IvrConfig:
    default_language: str
    menu_timeout: int
    menu_attempts: int
    hold_period: int
    language_menu: Menu
    service_menu: Menu
    prompts: Mapping[str, Mapping[str, str]]  # prompt name -> language -> text


@dataclass(frozen=True, slots=True)
class OperatorConfig:
    id: str
    name: str
    skills: Mapping[str, int]  # skill id -> level (1 = best)
    languages: tuple[str, ...]
    endpoint: str  # "sim" (Local channel in the sandbox) or "pjsip"
    secret: str | None


@dataclass(frozen=True, slots=True)
class SimulatedOperators:
    ring_delay: float
    talk_seconds: float


@dataclass(frozen=True, slots=True)
class Config:
    path: str
    name: str
    lines: int
    ami: AmiConfig
    sip: SipConfig
    http: HttpConfig
    languages: tuple[str, ...]
    skills: Mapping[str, Mapping[str, str]]  # skill id -> language -> display name
    routing: RoutingConfig
    ivr: IvrConfig
    operators: tuple[OperatorConfig, ...]
    simulated_operators: SimulatedOperators
    hours: OpeningHours | None  # None: always open

    def operator(self, operator_id: str) -> OperatorConfig:
        for op in self.operators:
            if op.id == operator_id:
                return op
        raise KeyError(operator_id)


REQUIRED_PROMPTS = (
    "language-menu",
    "service-menu",
    "invalid",
    "hold",
    "busy",
    "closed",
    "position",  # "your place in the queue is" + a number
    "wait-about",  # "the expected wait is about" + a number
    "minutes",
)
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class FieldReader:
    """Walks parsed YAML, remembering the file so errors can name it, the field and the value.
    Shared by every YAML the project reads (the centre, simulator scenarios)."""

    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, field: str, value: object, problem: str) -> NoReturn:
        raise ConfigError(self.file, field, value, problem)

    def mapping(self, data: object, field: str) -> Mapping[str, Any]:
        if not isinstance(data, Mapping):
            self.fail(field, data, "expected a mapping")
        for key in data:
            if not isinstance(key, str):
                self.fail(f"{field}.{key}", key, "keys must be strings")
        return data

    def get(self, data: Mapping[str, Any], field: str, key: str, default: Any = ...) -> Any:
        if key not in data:
            if default is ...:
                self.fail(f"{field}.{key}" if field else key, None, "missing required field")
            return default
        return data[key]

    def integer(self, value: object, field: str, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(field, value, "expected an integer")
        if not lo <= value <= hi:
            self.fail(field, value, f"must be between {lo} and {hi}")
        return value

    def number(self, value: object, field: str, lo: float, hi: float) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(field, value, "expected a number")
        if not lo <= value <= hi:
            self.fail(field, value, f"must be between {lo} and {hi}")
        return float(value)

    def string(self, value: object, field: str, pattern: re.Pattern[str] | None = None) -> str:
        if not isinstance(value, str) or not value:
            self.fail(field, value, "expected a non-empty string")
        if any(c in value for c in "\r\n\0"):
            self.fail(field, value, "must not contain line breaks or NUL")
        if pattern is not None and not pattern.match(value):
            self.fail(field, value, f"must match {pattern.pattern}")
        return value

    def loopback(self, value: object, field: str) -> str:
        host = self.string(value, field)
        try:
            ok = ipaddress.ip_address(host).is_loopback
        except ValueError:
            ok = host == "localhost"
        if not ok:
            # The controller and sandbox only ever talk over loopback (AMI is unencrypted).
            self.fail(field, value, "must be a loopback address (127.0.0.1, ::1 or localhost)")
        return host

    def port(self, value: object, field: str) -> int:
        return self.integer(value, field, 1, 65535)


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a centre configuration file; raise ConfigError on any problem."""
    return parse_config(read_yaml(path), str(path))


def read_yaml(path: str | os.PathLike[str]) -> object:
    """Parse a YAML file; an unreadable, non-UTF-8 or malformed file is a ConfigError."""
    file = str(path)
    r = FieldReader(file)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        r.fail("(file)", file, f"cannot read: {exc.strerror}")
    except UnicodeDecodeError as exc:
        r.fail("(file)", file, f"not UTF-8 text (byte {exc.start}: {exc.reason})")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        r.fail(where, None, f"not valid YAML: {getattr(exc, 'problem', exc)}")
    return raw


def parse_config(raw: object, file: str = "<config>") -> Config:
    """Validate already-parsed YAML data (a mapping) into a Config."""
    r = FieldReader(file)
    top = r.mapping(raw, "(top level)")

    centre = r.mapping(r.get(top, "", "centre"), "centre")
    name = r.string(r.get(centre, "centre", "name"), "centre.name")
    lines = r.integer(r.get(centre, "centre", "lines"), "centre.lines", 1, 100_000)

    a = r.mapping(r.get(top, "", "ami"), "ami")
    secret = a.get("secret")
    if secret is None and "secret_env" in a:
        env_name = r.string(a["secret_env"], "ami.secret_env")
        secret = os.environ.get(env_name)
        if not secret:
            r.fail("ami.secret_env", env_name, "environment variable is not set")
    ami = AmiConfig(
        host=r.loopback(r.get(a, "ami", "host"), "ami.host"),
        port=r.port(r.get(a, "ami", "port"), "ami.port"),
        username=r.string(r.get(a, "ami", "username"), "ami.username", _IDENT),
        secret=r.string(secret, "ami.secret"),
        action_timeout=r.number(a.get("action_timeout", 5), "ami.action_timeout", 0.1, 120),
        ping_interval=r.number(a.get("ping_interval", 5), "ami.ping_interval", 0.1, 300),
        connect_timeout=r.number(a.get("connect_timeout", 30), "ami.connect_timeout", 0.1, 3600),
    )

    s = r.mapping(r.get(top, "", "sip"), "sip")
    rtp = r.get(s, "sip", "rtp_ports", [20000, 20999])
    if not (isinstance(rtp, list) and len(rtp) == 2):
        r.fail("sip.rtp_ports", rtp, "expected [first, last]")
    rtp_lo, rtp_hi = (r.port(p, f"sip.rtp_ports[{i}]") for i, p in enumerate(rtp))
    if rtp_hi - rtp_lo < 10:
        r.fail("sip.rtp_ports", rtp, "range must hold at least 10 ports")
    sip = SipConfig(
        host=r.loopback(r.get(s, "sip", "host"), "sip.host"),
        port=r.port(r.get(s, "sip", "port"), "sip.port"),
        rtp_ports=(rtp_lo, rtp_hi),
    )

    h = r.mapping(r.get(top, "", "http"), "http")
    http = HttpConfig(
        host=r.loopback(r.get(h, "http", "host"), "http.host"),
        port=r.port(r.get(h, "http", "port"), "http.port"),
    )

    langs_raw = r.get(top, "", "languages")
    if not isinstance(langs_raw, list) or not langs_raw:
        r.fail("languages", langs_raw, "expected a non-empty list")
    for i, lang in enumerate(langs_raw):
        if not isinstance(lang, str) or lang not in _LANGUAGES:  # a list/dict is unhashable
            r.fail(f"languages[{i}]", lang, f"unsupported language (supported: {sorted(_LANGUAGES)})")
    languages = tuple(langs_raw)

    sk = r.mapping(r.get(top, "", "skills"), "skills")
    if not sk:
        r.fail("skills", sk, "at least one skill is needed")
    skills: dict[str, Mapping[str, str]] = {}
    for skill_id, names in sk.items():
        r.string(skill_id, f"skills.{skill_id}", _IDENT)
        names = r.mapping(names, f"skills.{skill_id}")
        for lang in languages:
            r.string(r.get(names, f"skills.{skill_id}", lang), f"skills.{skill_id}.{lang}")
        skills[skill_id] = dict(names)

    ro = r.mapping(r.get(top, "", "routing"), "routing")
    routing = RoutingConfig(
        ring_timeout=r.number(r.get(ro, "routing", "ring_timeout"), "routing.ring_timeout", 1, 300),
        wrap_up=r.number(r.get(ro, "routing", "wrap_up"), "routing.wrap_up", 0, 3600),
        default_aht=r.number(ro.get("default_aht", 180), "routing.default_aht", 1, 36_000),
        relaxation=_parse_relaxation(r, ro.get("relaxation", [])),
        fault_retry=r.number(ro.get("fault_retry", 2), "routing.fault_retry", 0.1, 600),
        fault_retry_max=r.number(ro.get("fault_retry_max", 30), "routing.fault_retry_max", 0.1, 3600),
    )
    if routing.fault_retry_max < routing.fault_retry:
        r.fail(
            "routing.fault_retry_max",
            routing.fault_retry_max,
            f"must be >= routing.fault_retry ({routing.fault_retry:g})",
        )

    ivr = _parse_ivr(r, r.mapping(r.get(top, "", "ivr"), "ivr"), languages, skills)

    ops_raw = r.get(top, "", "operators")
    if not isinstance(ops_raw, list) or not ops_raw:
        r.fail("operators", ops_raw, "expected a non-empty list")
    operators: list[OperatorConfig] = []
    seen: set[str] = set()
    for i, op_raw in enumerate(ops_raw):
        f = f"operators[{i}]"
        op = r.mapping(op_raw, f)
        op_id = r.string(r.get(op, f, "id"), f"{f}.id", _IDENT)
        if op_id in seen:
            r.fail(f"{f}.id", op_id, "duplicate operator id")
        seen.add(op_id)
        op_skills_raw = r.get(op, f, "skills")
        if isinstance(op_skills_raw, list):  # a plain list means level 1 in each
            for j, s in enumerate(op_skills_raw):
                r.string(s, f"{f}.skills[{j}]")
            op_skills_raw = {s: 1 for s in op_skills_raw}
        op_skills = r.mapping(op_skills_raw, f"{f}.skills")
        if not op_skills:
            r.fail(f"{f}.skills", op_skills_raw, "an operator needs at least one skill")
        levels: dict[str, int] = {}
        for skill_id, level in op_skills.items():
            if skill_id not in skills:
                r.fail(f"{f}.skills", skill_id, f"unknown skill (known: {', '.join(skills)})")
            levels[skill_id] = r.integer(level, f"{f}.skills.{skill_id}", 1, 9)
        op_langs = r.get(op, f, "languages", list(languages))
        if not isinstance(op_langs, list) or not op_langs:
            r.fail(f"{f}.languages", op_langs, "expected a non-empty list")
        for j, lang in enumerate(op_langs):
            if lang not in languages:
                r.fail(f"{f}.languages[{j}]", lang, f"not one of the centre's languages {languages}")
        endpoint = op.get("endpoint", "sim")
        if endpoint not in ("sim", "pjsip"):
            r.fail(f"{f}.endpoint", endpoint, "expected 'sim' or 'pjsip'")
        op_secret = None
        if endpoint == "pjsip":
            op_secret = r.string(r.get(op, f, "secret"), f"{f}.secret")
        operators.append(
            OperatorConfig(
                id=op_id,
                name=r.string(op.get("name", op_id), f"{f}.name"),
                skills=levels,
                languages=tuple(op_langs),
                endpoint=endpoint,
                secret=op_secret,
            )
        )

    so = r.mapping(top.get("simulated_operators", {}), "simulated_operators")
    sim_ops = SimulatedOperators(
        ring_delay=r.number(so.get("ring_delay", 2), "simulated_operators.ring_delay", 0, 120),
        talk_seconds=r.number(so.get("talk_seconds", 60), "simulated_operators.talk_seconds", 0.1, 86_400),
    )
    if sim_ops.ring_delay >= routing.ring_timeout:
        r.fail(
            "simulated_operators.ring_delay",
            sim_ops.ring_delay,
            f"must be shorter than routing.ring_timeout ({routing.ring_timeout})",
        )

    hours = _parse_hours(r, top["hours"]) if "hours" in top else None

    return Config(
        path=file,
        hours=hours,
        name=name,
        lines=lines,
        ami=ami,
        sip=sip,
        http=http,
        languages=languages,
        skills=skills,
        routing=routing,
        ivr=ivr,
        operators=tuple(operators),
        simulated_operators=sim_ops,
    )


def _parse_menu(
    r: FieldReader, raw: Mapping[str, Any], field: str, allowed: Mapping[str, object], what: str
) -> Menu:
    opts = r.mapping(r.get(raw, field, "options"), f"{field}.options")
    if not opts:
        r.fail(f"{field}.options", opts, "a menu needs at least one option")
    options: dict[str, str] = {}
    for digit, target in opts.items():
        digit = str(digit)
        if len(digit) != 1 or digit not in _DIGITS:
            r.fail(f"{field}.options", digit, "option keys are single DTMF digits 0-9 or *")
        if not isinstance(target, str) or target not in allowed:  # a list/dict is unhashable
            r.fail(f"{field}.options.{digit}", target, f"unknown {what} (known: {', '.join(allowed)})")
        options[digit] = target
    default = raw.get("default", next(iter(options.values())))
    if not isinstance(default, str) or default not in allowed:
        r.fail(f"{field}.default", default, f"unknown {what}")
    return Menu(options=options, default=default)


def _parse_ivr(
    r: FieldReader, iv: Mapping[str, Any], languages: tuple[str, ...], skills: Mapping[str, object]
) -> IvrConfig:
    default_language = iv.get("default_language", languages[0])
    if default_language not in languages:
        r.fail("ivr.default_language", default_language, f"not one of {languages}")
    lang_menu_raw = r.mapping(r.get(iv, "ivr", "language_menu"), "ivr.language_menu")
    lang_menu = _parse_menu(
        r,
        {"default": default_language, **lang_menu_raw},
        "ivr.language_menu",
        {lang: None for lang in languages},
        "language",
    )
    service_menu = _parse_menu(
        r,
        r.mapping(r.get(iv, "ivr", "service_menu"), "ivr.service_menu"),
        "ivr.service_menu",
        skills,
        "skill",
    )
    pr = r.mapping(r.get(iv, "ivr", "prompts"), "ivr.prompts")
    prompts: dict[str, Mapping[str, str]] = {}
    for name in REQUIRED_PROMPTS:
        texts = r.mapping(r.get(pr, "ivr.prompts", name), f"ivr.prompts.{name}")
        for lang in languages:
            r.string(r.get(texts, f"ivr.prompts.{name}", lang), f"ivr.prompts.{name}.{lang}")
        prompts[name] = dict(texts)
    for name in pr:
        if name not in REQUIRED_PROMPTS:
            r.fail(f"ivr.prompts.{name}", name, f"unknown prompt (known: {', '.join(REQUIRED_PROMPTS)})")
    return IvrConfig(
        default_language=default_language,
        menu_timeout=r.integer(iv.get("menu_timeout", 5), "ivr.menu_timeout", 1, 60),
        menu_attempts=r.integer(iv.get("menu_attempts", 3), "ivr.menu_attempts", 1, 10),
        hold_period=r.integer(iv.get("hold_period", 20), "ivr.hold_period", 1, 600),
        language_menu=lang_menu,
        service_menu=service_menu,
        prompts=prompts,
    )


def _parse_relaxation(r: FieldReader, raw: object) -> tuple[tuple[float, int], ...]:
    if not isinstance(raw, list):
        r.fail("routing.relaxation", raw, "expected a list of {after, max_level}")
    steps: list[tuple[float, int]] = []
    for i, item in enumerate(raw):
        f = f"routing.relaxation[{i}]"
        step = r.mapping(item, f)
        after = r.number(r.get(step, f, "after"), f"{f}.after", 0, 86_400)
        level = r.integer(r.get(step, f, "max_level"), f"{f}.max_level", 1, 9)
        if not steps and after != 0:
            r.fail(f"{f}.after", after, "the first step must start at 0 s")
        if steps and not (after > steps[-1][0] and level > steps[-1][1]):
            r.fail(f, item, "each step must come later and reach a higher level than the one before")
        steps.append((after, level))
    return tuple(steps)


def _clock(r: FieldReader, value: object, field: str) -> dt.time:
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 23:00 as the base-60 number 1380: say so, not "1380".
        r.fail(field, value, 'expected a time of day as "HH:MM" in quotes (unquoted, 23:00 reads as 1380)')
    text = r.string(value, field)
    m = re.fullmatch(r"([01]?\d|2[0-4]):([0-5]\d)", text)
    if not m or (m.group(1) == "24" and m.group(2) != "00"):
        r.fail(field, value, "expected a time of day as HH:MM")
    if m.group(1) == "24":
        return dt.time.max  # "24:00": until the end of the day
    return dt.time(int(m.group(1)), int(m.group(2)))


def _parse_hours(r: FieldReader, raw: object) -> OpeningHours:
    h = r.mapping(raw, "hours")
    tz_name = r.string(r.get(h, "hours", "timezone"), "hours.timezone")
    try:
        tz = zoneinfo.ZoneInfo(tz_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        r.fail("hours.timezone", tz_name, "unknown time zone (e.g. Europe/Madrid)")
    opens = _clock(r, r.get(h, "hours", "open"), "hours.open")
    closes = _clock(r, r.get(h, "hours", "close"), "hours.close")
    if closes <= opens:
        r.fail("hours.close", h["close"], f"must be after hours.open ({h['open']})")
    days_raw = h.get("weekdays", list(_WEEKDAYS))
    if not isinstance(days_raw, list) or not days_raw:
        r.fail("hours.weekdays", days_raw, f"expected a list of {', '.join(_WEEKDAYS)}")
    weekdays = set()
    for i, day in enumerate(days_raw):
        if day not in _WEEKDAYS:
            r.fail(f"hours.weekdays[{i}]", day, f"expected one of {', '.join(_WEEKDAYS)}")
        weekdays.add(_WEEKDAYS.index(day))
    holidays = set()
    hol_raw = h.get("holidays", [])
    if not isinstance(hol_raw, list):
        r.fail("hours.holidays", hol_raw, "expected a list of dates (YYYY-MM-DD)")
    for i, day in enumerate(hol_raw):
        if isinstance(day, dt.date):  # YAML reads unquoted dates as dates
            holidays.add(day)
            continue
        try:
            holidays.add(dt.date.fromisoformat(str(day)))
        except ValueError:
            r.fail(f"hours.holidays[{i}]", day, "expected a date as YYYY-MM-DD")
    return OpeningHours(
        tz=tz, open=opens, close=closes, weekdays=frozenset(weekdays), holidays=frozenset(holidays)
    )
