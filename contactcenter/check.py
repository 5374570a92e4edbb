# `contactcenter check`: the security check of a centre's configuration and of the Asterisk
# configuration it runs with. One line per finding on stdout, a count on stderr; exit 1 when
# a finding fails, 0 when none does (warnings alone pass), 2 when a file cannot be read.
#
#   contactcenter check [--config FILE] [--asterisk-etc DIR] [--asterisk-version TEXT]
#
# - --config: the centre (default: the shipped config/010.yaml). Checked: the AMI, HTTP (web)
#   and MQTT listeners beyond loopback without TLS; every secret (ami.secret, mqtt.password,
#   web.tokens[].token, the pjsip phones' `secret`) written in the file instead of coming from
#   the environment (`*_env`) or a 0600 file (`*_file`), shorter than 16 characters, or one of
#   the values shipped with contactcenter (public, hence no secret) or a well-known default.
#   A centre is production unless it says `centre: {deployment: sandbox}`: only a sandbox may
#   keep its secrets in the file (never short or shipped ones).
# - --asterisk-etc: an /etc/asterisk to check. Without it, the sandbox's /etc/asterisk is
#   rendered for the centre into a temporary directory (contactcenter.sandbox.render, as
#   `sandbox up` does, without starting anything) and that is checked. Checked: manager.conf
#   (AMI bound beyond loopback, a user that may write system/command/config or read dtmf,
#   an event filter a caller's display name can steer, short or default secrets,
#   displayconnects, webenabled), asterisk.conf (live_dangerously, execincludes), http.conf
#   (bound beyond loopback).
# - --asterisk-version: what `asterisk -V` prints (or a Debian package version). Without
#   it, the sandbox's installed package version is read from its chroot's dpkg status, if
#   the chroot is built. Older than the fixes for CVE-2024-42365 fails.
#
# A finding prints as `WHERE: SEVERITY RULE: MESSAGE`, WHERE being `file:line` (the line the
# setting is on; for the rendered sandbox, the template in dialplans/ or
# `<rendered>/cc-*.conf` for the generated files). RULES below lists every rule.
#
# Rules this module keeps:
# - Findings are data (Finding); printing is one line each. No finding ever carries a
#   secret's value, a phone number, or any value a person typed as a secret: only field
#   names, user names, classes, addresses and lengths' thresholds.
# - Fail closed: what Asterisk would do by default counts (manager.conf without bindaddr
#   listens on every address; without displayconnects it logs every login); an unparseable
#   address counts as beyond loopback; a setting given twice is judged on every line.
# - A file that cannot be read, or a flag value that means nothing, is a ConfigError
#   (file, field, value, problem): exit 2, never a finding.
# - Nothing is started, nothing is written outside a temporary directory, no credential
#   file (the sandbox's observer secrets) is read: the rendering gets a fresh random
#   observer secret of the same form.
from __future__ import annotations

import argparse
import copy
import functools
import glob
import ipaddress
import os
import re
import secrets
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from contactcenter import resources
from contactcenter.config import (
    TOKEN_MIN,
    Config,
    ConfigError,
    parse_config,
    read_secret_file,
    read_yaml,
    secret_file_fields,
)
from contactcenter.errors import UserError

Severity = Literal["fail", "warn"]
FAIL: Severity = "fail"
WARN: Severity = "warn"

SECRET_MIN = TOKEN_MIN  # characters; the web's rule for its tokens, for every secret
PRODUCTION, SANDBOX = "production", "sandbox"
RENDERED = "<rendered>"  # WHERE's prefix for files render.py generates (cc-*.conf)

RULES: Mapping[str, str] = {
    "listen.ami": "the controller reaches AMI beyond loopback (AMI has no TLS here)",
    "listen.http": "the web/API listener is beyond loopback without TLS",
    "listen.mqtt": "the MQTT broker is beyond loopback without TLS (mqtt.tls_ca)",
    "secret.in-file": "a secret written in the centre's file in production (use *_env or *_file)",
    "secret.short": f"a secret shorter than {SECRET_MIN} characters",
    "secret.default": "a secret shipped with contactcenter or a well-known default",
    "secret.file-mode": "a secret file that group or others may read or write (must be 0600)",
    "config.file-mode": "(warn) a sandbox centre file holding secrets that others may read",
    "ami.bindaddr": "manager.conf: AMI (plain TCP) listens beyond loopback",
    "ami.write-class": "manager.conf: a user that may write system, command or config (or all)",
    "ami.read-class": "manager.conf: a user that may read dtmf (or all): the digits citizens key",
    "ami.eventfilter": "manager.conf: an event filter matched anywhere in the event text",
    "ami.no-eventfilter": "(warn) manager.conf: a user without event filters gets every event",
    "ami.displayconnects": "(warn) manager.conf: every login is logged with its address",
    "ami.webenabled": "(warn) manager.conf: AMI over HTTP (http.conf's listener)",
    "asterisk.live-dangerously": "asterisk.conf: live_dangerously = yes (SHELL() etc. from AMI)",
    "asterisk.execincludes": "(warn) asterisk.conf: execincludes = yes (#exec runs commands)",
    "http.bindaddr": "http.conf: Asterisk's HTTP server listens beyond loopback (plain HTTP)",
    "asterisk.version": "Asterisk older than the fixes for CVE-2024-42365 (warn: not known)",
    "conf.missing": "(warn) an Asterisk file that is not there, so not checked",
}

# Values that are public, so never secrets: Asterisk's and FreePBX's sample passwords,
# the usual placeholders, and what contactcenter's own files ship (read from the shipped
# centre at run time too, see known_defaults: a value it ships is published with it).
COMMON_DEFAULTS = (
    "amp111",  # FreePBX's AMI password
    "mysecret",  # manager.conf.sample
    "secret",
    "password",
    "changeme",
    "change-me",
    "admin",
    "asterisk",
    "contactcenter",
    "cc-sandbox-secret",  # what config/010.yaml shipped for the sandbox (issue 12)
    "cc-sandbox-mqtt",
)
_SECRET_KEYS = ("secret", "password", "token")  # the centre file's keys that hold secrets


@dataclass(frozen=True, slots=True)
class Finding:
    severity: Severity
    where: str  # file:line, or a file, or a flag
    rule: str  # a key of RULES
    message: str

    def line(self) -> str:
        """The finding on one line, whatever its parts hold."""
        text = f"{self.where}: {self.severity} {self.rule}: {self.message}"
        return " ".join(text.split())

    @property
    def fails(self) -> bool:
        return self.severity == FAIL


def failing(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.fails]


# --- the centre's file ------------------------------------------------------------------------

Path_ = tuple[str | int, ...]  # a field's place in the file: ("web", "tokens", 2, "token")


def field_name(path: Path_) -> str:
    """`web.tokens[2].token`, as ConfigError names fields."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def yaml_lines(text: str, max_depth: int = 6) -> dict[Path_, int]:
    """Each field's line (1-based) in a YAML text, down to max_depth levels: mapping keys at
    their key, list items at their first line. read_yaml has already refused runaway aliases;
    a node is still walked once only, so shared (aliased) ones cost nothing twice."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    root = yaml.compose(text, Loader=loader)
    lines: dict[Path_, int] = {}
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, Path_]] = [(root, ())] if root is not None else []
    while stack:
        node, path = stack.pop()
        if id(node) in seen or len(path) >= max_depth:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    here = (*path, str(key_node.value))
                    lines.setdefault(here, key_node.start_mark.line + 1)
                    stack.append((value_node, here))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                here = (*path, i)
                lines.setdefault(here, item.start_mark.line + 1)
                stack.append((item, here))
    return lines


@dataclass(frozen=True, slots=True)
class Secret:
    """One secret of the centre: where it is set and how, and its value once resolved."""

    path: Path_  # the secret's own field: ("ami", "secret")
    source: Literal["file", "env", "secret-file"]
    value: str = field(repr=False)
    has_env: bool = True  # config.py offers `<name>_env` for it (the pjsip phones' do not)

    @property
    def name(self) -> str:
        return field_name(self.path)


def _mapping_at(raw: object, path: Path_) -> Mapping[str, object]:
    node = raw
    for part in path:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
        else:
            node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def centre_secrets(raw: object, cfg: Config) -> list[Secret]:
    """Every secret the centre holds, in the order of the file's sections."""
    # (the mapping that holds it, its key, its value as resolved, whether an _env form exists)
    wanted: list[tuple[Path_, str, str, bool]] = [(("ami",), "secret", cfg.ami.secret, True)]
    if cfg.mqtt is not None:
        wanted.append((("mqtt",), "password", cfg.mqtt.password, True))
    for i, token in enumerate(cfg.web.tokens):
        wanted.append((("web", "tokens", i), "token", token.token, True))
        if token.secret is not None:  # a supervisor's pjsip phone
            wanted.append((("web", "tokens", i), "secret", token.secret, False))
    for i, op in enumerate(cfg.operators):
        if op.secret is not None:  # an operator's pjsip phone
            wanted.append((("operators", i), "secret", op.secret, False))
    found: list[Secret] = []
    for holder, name, value, has_env in wanted:
        given = _mapping_at(raw, holder)
        source: Literal["file", "env", "secret-file"]
        if name in given:
            source = "file"
        elif f"{name}_file" in given:
            source = "secret-file"
        else:
            source = "env"
        found.append(Secret((*holder, name), source, value, has_env))
    return found


def deployment_of(cfg: Config) -> str:
    """`production` unless the centre says `centre: {deployment: sandbox}` (Config.deployment)."""
    return SANDBOX if cfg.deployment == SANDBOX else PRODUCTION


@functools.lru_cache(maxsize=1)
def known_defaults() -> frozenset[str]:
    """Values no secret may have (compared case-insensitively): COMMON_DEFAULTS and every
    secret-like value the shipped centre file carries."""
    values = {v.lower() for v in COMMON_DEFAULTS}
    try:
        shipped = read_yaml(resources.default_config())
    except ConfigError:  # (a broken shipped file is test_config's to report)
        shipped = None
    stack: list[object] = [shipped]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _SECRET_KEYS and isinstance(value, str):
                    values.add(value.lower())
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return frozenset(values)


def secret_value_findings(value: str, what: str, where: str) -> list[Finding]:
    """A secret that is public (shipped, a default) or short. `what` names it in messages."""
    out: list[Finding] = []
    if value.lower() in known_defaults():
        out.append(
            Finding(FAIL, where, "secret.default", f"{what} is a published default: make a random one")
        )
    if len(value) < SECRET_MIN:
        out.append(Finding(FAIL, where, "secret.short", f"{what} is shorter than {SECRET_MIN} characters"))
    return out


def secret_file_findings(path: Path, what: str, where: str) -> list[Finding]:
    """A secret file must be the owner's alone: mode 0600 (or 0400)."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(where, what, str(path), f"cannot read the secret file: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return [
            Finding(
                FAIL,
                where,
                "secret.file-mode",
                f"{what}: {path} has mode {stat.S_IMODE(mode):04o}: make it 0600 (chmod 600)",
            )
        ]
    return []


def _loopback_host(host: str) -> bool:
    """The controller's side: a host name resolves through the system; only `localhost` is
    known to stay on the machine."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def listener_findings(cfg: Config, file: str, lines: Mapping[Path_, int]) -> list[Finding]:
    """AMI, the web's HTTP and MQTT beyond loopback without TLS. (config.py refuses
    non-loopback hosts today; this holds whatever the schema comes to allow.)"""

    def at(section: str) -> str:
        return _where(file, lines, (section, "host"))

    out: list[Finding] = []
    if not _loopback_host(cfg.ami.host):
        out.append(
            Finding(
                FAIL,
                at("ami"),
                "listen.ami",
                f"ami.host {cfg.ami.host} is beyond loopback and AMI is plain TCP (secret, caller IDs,"
                " originates in clear): run the controller beside Asterisk on 127.0.0.1",
            )
        )
    if not _loopback_host(cfg.http.host):
        out.append(
            Finding(
                FAIL,
                at("http"),
                "listen.http",
                f"http.host {cfg.http.host} is beyond loopback without TLS (tokens in clear): bind"
                " 127.0.0.1 behind a TLS proxy",
            )
        )
    if cfg.mqtt is not None and not _loopback_host(cfg.mqtt.host) and cfg.mqtt.tls_ca is None:
        out.append(
            Finding(
                FAIL,
                at("mqtt"),
                "listen.mqtt",
                f"mqtt.host {cfg.mqtt.host} is beyond loopback without TLS: set mqtt.tls_ca",
            )
        )
    return out


def _where(file: str, lines: Mapping[Path_, int], path: Path_) -> str:
    for end in range(len(path), 0, -1):  # the field's line, else its nearest parent's
        if path[:end] in lines:
            return f"{file}:{lines[path[:end]]}"
    return file


def _readable(raw: object) -> object:
    """`raw` to validate, a copy: a secret file others may read (which load_config refuses)
    is read here anyway, its secret put in its field's place, so that check goes on and
    reports the file's mode as the finding it is (secret.file-mode) along with the rest."""
    out = copy.deepcopy(raw)
    for named in secret_file_fields(raw):
        try:
            mode = os.stat(named.path).st_mode
        except OSError:
            continue  # (load_config says it is missing, naming it)
        if not mode & (stat.S_IRWXG | stat.S_IRWXO):
            continue
        holder = _mapping_at(out, named.holder)
        if isinstance(holder, dict):
            secret = read_secret_file(named.path, named.name, private=False)
            del holder[named.key]
            holder[named.key.removesuffix("_file")] = secret
    return out


@dataclass(frozen=True, slots=True)
class CentreCheck:
    config: Config
    findings: list[Finding]


def check_centre(path: str | os.PathLike[str], *, deployment: str | None = None) -> CentreCheck:
    """Check a centre file. `deployment` (production or sandbox) overrides what the file
    says (tests); ConfigError when the file cannot be read or is not a valid centre."""
    file = str(path)
    raw = read_yaml(path)
    cfg = parse_config(_readable(raw), file)
    lines = yaml_lines(Path(path).read_text(encoding="utf-8"))
    kind = deployment if deployment is not None else deployment_of(cfg)
    if kind not in (PRODUCTION, SANDBOX):
        raise ConfigError(file, "deployment", kind, f"expected {PRODUCTION} or {SANDBOX}")
    findings = listener_findings(cfg, file, lines)
    in_file: list[Secret] = []
    for secret in centre_secrets(raw, cfg):
        where = _where(file, lines, secret.path)
        if secret.source == "env":
            where = _where(file, lines, (*secret.path[:-1], f"{secret.path[-1]}_env"))
        elif secret.source == "secret-file":
            file_field = (*secret.path[:-1], f"{secret.path[-1]}_file")
            where = _where(file, lines, file_field)
            named = _mapping_at(raw, secret.path[:-1]).get(f"{secret.path[-1]}_file")
            if isinstance(named, str):
                findings += secret_file_findings(Path(named), field_name(file_field), where)
        else:
            in_file.append(secret)
            if kind == PRODUCTION:
                how = (
                    f"read it from the environment ({secret.path[-1]}_env) or a 0600 file"
                    if secret.has_env
                    else "config.py has no _env form for a phone's secret yet: one is needed"
                )
                findings.append(
                    Finding(FAIL, where, "secret.in-file", f"{secret.name} is written in the file: {how}")
                )
        findings += secret_value_findings(secret.value, secret.name, where)
    if in_file and kind == SANDBOX:
        mode = Path(path).stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            findings.append(
                Finding(
                    WARN,
                    file,
                    "config.file-mode",
                    f"holds {len(in_file)} secrets and has mode {stat.S_IMODE(mode):04o}: make it 0600",
                )
            )
    return CentreCheck(cfg, findings)


# --- Asterisk's configuration files ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfLine:
    """One `key = value` of an Asterisk configuration file, in its section."""

    file: str  # the name shown (a template's path, or <rendered>/cc-x.conf, or the file's path)
    line: int
    section: str
    key: str  # as written (eventfilter(...) keeps its criteria)
    value: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(slots=True)
class Section:
    name: str
    template: bool = False  # [name](!)
    inherits: list[str] = field(default_factory=list)  # [name](tpl1,tpl2)
    lines: list[ConfLine] = field(default_factory=list)


@dataclass(slots=True)
class ConfFile:
    name: str
    label: str  # how findings name it (its path, or its template's)
    sections: dict[str, Section] = field(default_factory=dict)

    def settings(self, section: str) -> list[ConfLine]:
        """A section's lines, its templates' first (as Asterisk applies them)."""
        out: list[ConfLine] = []
        seen: set[str] = set()

        def add(name: str) -> None:
            if name in seen or name not in self.sections:
                return
            seen.add(name)
            sec = self.sections[name]
            for parent in sec.inherits:
                add(parent)
            out.extend(sec.lines)

        add(section)
        return out

    def last(self, section: str, key: str) -> ConfLine | None:
        found = [c for c in self.settings(section) if c.key.lower() == key]
        return found[-1] if found else None


_SECTION = re.compile(r"^\[([^\]]+)\]\s*(?:\(([^)]*)\))?")
_INCLUDE = re.compile(
    r'^#\s*(include|tryinclude|exec|tryexec)\s+(?:"([^"]+)"|<([^>]+)>|(\S+))', re.IGNORECASE
)
MAX_INCLUDE_DEPTH = 8


def _strip_comment(text: str, in_block: int) -> tuple[str, int]:
    """Asterisk's comments: `;` to the end of the line (`\\;` is a literal ;), and `;-- --;`
    blocks, which nest. Returns the text left and the block depth after the line."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith(";--", i):
            in_block += 1
            i += 3
        elif in_block and text.startswith("--;", i):
            in_block -= 1
            i += 3
        elif in_block:
            i += 1
        elif text.startswith("\\;", i):
            out.append(";")
            i += 2
        elif text[i] == ";":
            break
        else:
            out.append(text[i])
            i += 1
    return "".join(out), in_block


def read_conf(etc: Path, name: str, shown: Mapping[str, str] | None = None) -> ConfFile | None:
    """Parse etc/name with its #includes (relative to etc, as Asterisk resolves them);
    None when the file is not there. `shown` maps a file name to the name findings show."""
    path = etc / name
    if not path.is_file():
        return None
    conf = ConfFile(name, (shown or {}).get(name, str(path)))
    _read_into(conf, etc, path, shown or {}, depth=0, section="")
    return conf


def _read_into(
    conf: ConfFile, etc: Path, path: Path, shown: Mapping[str, str], depth: int, section: str
) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError(str(path), "(file)", str(path), f"cannot read: {exc.strerror}") from None
    label = shown.get(path.name, str(path))
    in_block = 0
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line, in_block = _strip_comment(raw_line, in_block)
        line = line.strip()
        if not line:
            continue
        directive = _INCLUDE.match(line)
        if directive:
            kind = directive.group(1).lower()
            target = next(g for g in directive.groups()[1:] if g)
            if kind.endswith("include") and depth < MAX_INCLUDE_DEPTH:
                pattern = target if os.path.isabs(target) else str(etc / target)
                for included in sorted(glob.glob(pattern)):
                    section = _read_into(conf, etc, Path(included), shown, depth + 1, section)
            elif kind.endswith("exec"):
                conf.sections.setdefault(section, Section(section)).lines.append(
                    ConfLine(label, number, section, "#exec", target)
                )
            continue
        header = _SECTION.match(line)
        if header:
            section = header.group(1).strip()
            options = [o.strip() for o in (header.group(2) or "").split(",") if o.strip()]
            sec = conf.sections.setdefault(section, Section(section))
            sec.template = sec.template or "!" in options
            sec.inherits += [o for o in options if o not in ("!", "+")]
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value[1:] if value.startswith(">") else value  # `key => value`
        conf.sections.setdefault(section, Section(section)).lines.append(
            ConfLine(label, number, section, key.strip(), value.strip())
        )
    return section


def _true(value: str) -> bool:
    """Asterisk's ast_true."""
    return value.strip().lower() in ("yes", "true", "y", "t", "1", "on")


def _address_is_loopback(value: str, *, names: bool) -> bool:
    """An Asterisk bind address (`127.0.0.1`, `127.0.0.1:5038`, `[::1]:5038`, `::1`).
    manager.c parses it as an address only (a name is refused and the default, every
    address, used); http.c resolves names, so `names` accepts `localhost` there."""
    text = value.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else text[1:]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return names and text.lower() == "localhost"


# manager.c's classes (perms[]): what a user must not have. Write: system and command run
# commands on the machine, config rewrites /etc/asterisk; read dtmf streams every digit a
# citizen keys (phone numbers for callbacks). `all` is every class.
WRITE_FORBIDDEN = ("system", "command", "config")
READ_FORBIDDEN = ("dtmf",)


def _classes(value: str) -> set[str]:
    return {c.strip().lower() for c in value.split(",") if c.strip()}


@dataclass(frozen=True, slots=True)
class AmiUser:
    name: str
    settings: list[ConfLine]

    def classes(self, key: str) -> set[str]:
        out: set[str] = set()
        for c in self.settings:
            if c.key.lower() == key:
                out |= _classes(c.value)
        return out


def ami_users(conf: ConfFile) -> list[AmiUser]:
    return [
        AmiUser(name, conf.settings(name))
        for name, sec in conf.sections.items()
        if name.lower() != "general" and name and not sec.template
    ]


_CRITERION = re.compile(r"(action|name|header|method)\(([^()]*)\)")


def filter_problem(key: str, value: str) -> str | None:
    """Why an `eventfilter` line can be steered by what a caller controls (their display
    name is in the event text), or None. A regex filter (legacy, or method(regex)) must be
    anchored with ^: without it, it matches anywhere in the text (legacy filters see the
    whole event, manager.c compiles them without REG_NEWLINE, so ^ is the event's start).
    contains / ends_with without header() also search the whole event."""
    pattern = value[1:] if value.startswith("!") else value  # `!`: an exclude filter
    if "(" not in key:  # a legacy filter: a regex over the whole event
        if not pattern.startswith("^"):
            return "a legacy regex filter without ^ matches anywhere in the event (a display name too)"
        return None
    criteria = dict(_CRITERION.findall(key))
    method = criteria.get("method", "none").strip()
    if method == "regex" and pattern and not pattern.startswith("^"):
        return "method(regex) without ^ matches anywhere in " + (
            f"the {criteria['header'].strip()} header" if "header" in criteria else "the event"
        )
    if method in ("contains", "ends_with") and pattern and "header" not in criteria:
        return f"method({method}) without header() searches the whole event (a display name too)"
    return None


def check_manager(conf: ConfFile) -> list[Finding]:
    out: list[Finding] = []
    general = "general"
    enabled = conf.last(general, "enabled")
    if enabled is not None and _true(enabled.value):
        bind = conf.last(general, "bindaddr")
        if bind is None:
            out.append(
                Finding(
                    FAIL,
                    enabled.where,
                    "ami.bindaddr",
                    "AMI enabled without bindaddr: Asterisk listens on every address ([::])",
                )
            )
        elif not _address_is_loopback(bind.value, names=False):
            out.append(
                Finding(
                    FAIL,
                    bind.where,
                    "ami.bindaddr",
                    f"bindaddr {bind.value} is beyond loopback (or not an address, then Asterisk"
                    " listens on every address): AMI is plain TCP; bind 127.0.0.1",
                )
            )
    displayconnects = conf.last(general, "displayconnects")
    if displayconnects is None or _true(displayconnects.value):
        out.append(
            Finding(
                WARN,
                displayconnects.where if displayconnects else conf.label,
                "ami.displayconnects",
                "every AMI login is logged with its address (Asterisk's default): displayconnects = no",
            )
        )
    web = conf.last(general, "webenabled")
    if web is not None and _true(web.value):
        out.append(
            Finding(WARN, web.where, "ami.webenabled", "AMI over HTTP: http.conf's listener carries logins")
        )
    for user in ami_users(conf):
        for c in user.settings:
            key = c.key.lower()
            if key == "write":
                bad = sorted(_classes(c.value) & {*WRITE_FORBIDDEN, "all"})
                if bad:
                    out.append(
                        Finding(
                            FAIL,
                            c.where,
                            "ami.write-class",
                            f"AMI user {user.name} may write {','.join(bad)}: commands on the machine"
                            " or /etc/asterisk rewritten",
                        )
                    )
            elif key == "read":
                bad = sorted(_classes(c.value) & {*READ_FORBIDDEN, "all"})
                if bad:
                    out.append(
                        Finding(
                            FAIL,
                            c.where,
                            "ami.read-class",
                            f"AMI user {user.name} may read {','.join(bad)}: every digit citizens key",
                        )
                    )
            elif key == "secret":
                out += secret_value_findings(c.value, f"AMI user {user.name}'s secret", c.where)
            elif key.startswith("eventfilter"):
                problem = filter_problem(c.key, c.value)
                if problem:
                    out.append(Finding(FAIL, c.where, "ami.eventfilter", f"AMI user {user.name}: {problem}"))
        if not any(c.key.lower().startswith("eventfilter") for c in user.settings) and user.classes("read"):
            first = user.settings[0].where if user.settings else conf.label
            out.append(
                Finding(
                    WARN,
                    first,
                    "ami.no-eventfilter",
                    f"AMI user {user.name} has no eventfilter: it gets every event its read classes allow",
                )
            )
    return out


def check_asterisk_conf(conf: ConfFile) -> list[Finding]:
    out: list[Finding] = []
    for c in conf.settings("options"):
        if c.key.lower() == "live_dangerously" and _true(c.value):
            out.append(
                Finding(
                    FAIL,
                    c.where,
                    "asterisk.live-dangerously",
                    "live_dangerously = yes: AMI may run SHELL() and read files anywhere",
                )
            )
        elif c.key.lower() == "execincludes" and _true(c.value):
            out.append(
                Finding(WARN, c.where, "asterisk.execincludes", "execincludes = yes: #exec in a file runs it")
            )
    return out


def check_http_conf(conf: ConfFile) -> list[Finding]:
    enabled = conf.last("general", "enabled")
    if enabled is None or not _true(enabled.value):
        return []
    bind = conf.last("general", "bindaddr")
    if bind is None:
        return [
            Finding(
                FAIL,
                enabled.where,
                "http.bindaddr",
                "Asterisk's HTTP server enabled without bindaddr: set bindaddr = 127.0.0.1",
            )
        ]
    if not _address_is_loopback(bind.value, names=True):
        return [
            Finding(
                FAIL,
                bind.where,
                "http.bindaddr",
                f"Asterisk's HTTP server (plain) listens on {bind.value}: bind 127.0.0.1"
                " (TLS is tlsenable/tlsbindaddr)",
            )
        ]
    return []


@dataclass(frozen=True, slots=True)
class EtcCheck:
    findings: list[Finding]
    originators: list[str]  # AMI users that may originate (what CVE-2024-42365 needs)


def check_asterisk_etc(etc: Path, shown: Mapping[str, str] | None = None) -> EtcCheck:
    """Check an /etc/asterisk directory. `shown` maps file names to the names findings show
    (the rendered sandbox points at the templates)."""
    if not etc.is_dir():
        raise ConfigError(str(etc), "--asterisk-etc", str(etc), "not a directory")
    findings: list[Finding] = []
    originators: list[str] = []
    checks = (("manager.conf", check_manager), ("asterisk.conf", check_asterisk_conf))
    for name, check in checks:
        conf = read_conf(etc, name, shown)
        if conf is None:
            findings.append(Finding(WARN, str(etc / name), "conf.missing", f"no {name}: not checked"))
            continue
        findings += check(conf)
        if name == "manager.conf":
            originators = [u.name for u in ami_users(conf) if u.classes("write") & {"originate", "all"}]
    http = read_conf(etc, "http.conf", shown)
    if http is not None:  # (no http.conf: Asterisk's HTTP server stays off)
        findings += check_http_conf(http)
    return EtcCheck(findings, originators)


def rendered_names(etc: Path) -> dict[str, str]:
    """How findings name the rendered files: a template's path in dialplans/ (placeholders
    fill values within a line, so the line numbers are the template's), or <rendered>/name."""
    templates = resources.dialplans_dir()
    out: dict[str, str] = {}
    for path in etc.iterdir():
        template = templates / path.name
        out[path.name] = _display(template) if template.is_file() else f"{RENDERED}/{path.name}"
    return out


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


MODULE_DIR = "/usr/lib/asterisk/modules"  # astmoddir in the rendering (no security bearing)


def check_rendered_sandbox(cfg: Config) -> EtcCheck:
    """Render the sandbox's /etc/asterisk for cfg into a temporary directory and check it."""
    from contactcenter.sandbox.render import render  # (the sandbox package: only when used)

    # The observer's secret as `sandbox up` makes it (secrets.token_hex(12)), fresh: the
    # real one is a credential this check does not read.
    observer = ("cc-observer", secrets.token_hex(12))
    with tempfile.TemporaryDirectory(prefix="cc-check-") as tmp:
        etc = Path(tmp)
        render(cfg, etc, MODULE_DIR, observer)
        return check_asterisk_etc(etc, rendered_names(etc))


# --- the Asterisk version -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AsteriskVersion:
    major: int
    minor: int
    patch: int
    cert: int | None  # certified-asterisk's -certN
    prerelease: bool  # -rc1, -pre1: before the release of that number
    text: str

    def __str__(self) -> str:
        if self.cert is not None:
            return f"certified {self.major}.{self.minor}-cert{self.cert}"
        return f"{self.major}.{self.minor}.{self.patch}" + ("-pre-release" if self.prerelease else "")


_VERSION = re.compile(
    r"(?<![\d.])(\d+)\.(\d+)(?:\.(\d+))?(?:-cert(\d+))?(-(?:rc|pre|beta|alpha)\d*)?", re.IGNORECASE
)


def parse_version(text: str, where: str = "--asterisk-version") -> AsteriskVersion:
    """`Asterisk 22.10.1` (asterisk -V), `Asterisk certified-20.7-cert2`, `certified/18.9-cert11`,
    a Debian version `1:22.10.1+dfsg+~cs6.17.60671434-1`, or a bare `20.9.2`."""
    given = " ".join(text.split())
    bare = re.sub(r"^(asterisk\s+)?(certified[-/])?", "", given, flags=re.IGNORECASE)
    bare = re.sub(r"^\d+:", "", bare)  # a Debian epoch
    m = _VERSION.match(bare)
    if m is None:
        raise ConfigError(where, "asterisk version", given, "cannot read an Asterisk version (e.g. 22.10.1)")
    major, minor, patch, cert, pre = m.groups()
    return AsteriskVersion(
        int(major), int(minor), int(patch or 0), None if cert is None else int(cert), bool(pre), given
    )


# CVE-2024-42365 (GHSA-c4cg-9275-6w44): an AMI user with write=originate could rewrite
# /etc/asterisk (FILE() via Set, CURL) and so run commands. Fixed in 18.24.2, 20.9.2, 21.4.2,
# certified 18.9-cert11 and 20.7-cert2 (the CVE record's "affected" list: < 18.24.2,
# >= 19.0.0 < 20.9.2, >= 21.0.0 < 21.4.2, < 18.9-cert11, >= 19.0 < 20.7-cert2). 22.0.0
# (2024-10-17) descends from the fix on master (commit 0f67c2696f, "manager.c: Add entries
# to Originate blacklist", 2024-08-08), so every 22 has it; 19 never got it.
CVE_2024_42365 = "CVE-2024-42365 (GHSA-c4cg-9275-6w44)"
CVE_2024_42365_FIXED: Mapping[int, tuple[int, int, int]] = {18: (18, 24, 2), 20: (20, 9, 2), 21: (21, 4, 2)}
CVE_2024_42365_FIXED_CERT: Mapping[tuple[int, int], int] = {(18, 9): 11, (20, 7): 2}
CVE_2024_42365_FIRST_FIXED_MAJOR = 22  # every release of it and after


def fixes_cve_2024_42365(v: AsteriskVersion) -> bool:
    if v.cert is not None:
        line = (v.major, v.minor)
        if line in CVE_2024_42365_FIXED_CERT:
            return v.cert >= CVE_2024_42365_FIXED_CERT[line]
        return line > (20, 7)  # later certified lines (22.8-cert) branched after the fix
    if v.major >= CVE_2024_42365_FIRST_FIXED_MAJOR:
        return True  # (22.0.0-pre1 already descends from the fix)
    fixed = CVE_2024_42365_FIXED.get(v.major)
    if fixed is None:
        return False
    here = (v.major, v.minor, v.patch)
    return here > fixed or (here == fixed and not v.prerelease)


def version_findings(
    version: AsteriskVersion | None, where: str, originators: Sequence[str]
) -> list[Finding]:
    if version is None:
        return [
            Finding(
                WARN,
                where,
                "asterisk.version",
                f"Asterisk's version not checked ({CVE_2024_42365}): give --asterisk-version"
                " with what `asterisk -V` prints",
            )
        ]
    if fixes_cve_2024_42365(version):
        return []
    who = f" (here: {', '.join(originators)})" if originators else ""
    fixed = ", ".join(".".join(map(str, v)) for v in CVE_2024_42365_FIXED.values())
    certs = ", ".join(f"{a}.{b}-cert{n}" for (a, b), n in CVE_2024_42365_FIXED_CERT.items())
    return [
        Finding(
            FAIL,
            where,
            "asterisk.version",
            f"Asterisk {version} is older than the fix for {CVE_2024_42365}: an AMI user with"
            f" write=originate{who} can rewrite /etc/asterisk and run commands; upgrade to"
            f" {fixed}, {CVE_2024_42365_FIRST_FIXED_MAJOR}.x or later, or certified {certs}"
            " (a distribution's backport: check its advisory)",
        )
    ]


def dpkg_version(status: Path, package: str = "asterisk") -> str | None:
    """A package's version from a dpkg status file (the sandbox chroot's), or None."""
    try:
        text = status.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for stanza in text.split("\n\n"):
        fields = dict(_dpkg_fields(stanza))
        if fields.get("Package") == package and "installed" in fields.get("Status", "installed"):
            return fields.get("Version")
    return None


def _dpkg_fields(stanza: str) -> Iterator[tuple[str, str]]:
    for line in stanza.splitlines():
        key, sep, value = line.partition(":")
        if sep and not line.startswith((" ", "\t")):
            yield key.strip(), value.strip()


def sandbox_status_file() -> Path:
    from contactcenter import sandbox  # (only asked when no version was given)

    return sandbox.root_dir() / "var/lib/dpkg/status"


# --- the whole check ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Report:
    findings: list[Finding]
    checked: list[str]  # what was checked, for the summary line

    @property
    def exit_code(self) -> int:
        return 1 if failing(self.findings) else 0


def run_check(
    config: str | os.PathLike[str],
    asterisk_etc: Path | None = None,
    asterisk_version: str | None = None,
    *,
    status_file: Path | None = None,
) -> Report:
    """The whole check: the centre, an /etc/asterisk (or the sandbox's, rendered), the
    version (given, else the sandbox chroot's package from `status_file`)."""
    centre = check_centre(config)
    findings = list(centre.findings)
    checked = [str(config)]
    if asterisk_etc is not None:
        etc = check_asterisk_etc(asterisk_etc)
        checked.append(str(asterisk_etc))
    else:
        etc = check_rendered_sandbox(centre.config)
        checked.append("the sandbox's /etc/asterisk, rendered")
    findings += etc.findings
    if asterisk_version is not None:
        version: AsteriskVersion | None = parse_version(asterisk_version)
        where = "--asterisk-version"
    else:
        status = status_file if status_file is not None else sandbox_status_file()
        installed = dpkg_version(status)
        version = None if installed is None else parse_version(installed, str(status))
        where = str(status) if installed is not None else "--asterisk-version"
    findings += version_findings(version, where, etc.originators)
    if version is not None:
        checked.append(f"Asterisk {version}")
    return Report(findings, checked)


def add_check_parser(sub: Any) -> None:
    """Register `contactcenter check` on the CLI's subparsers."""
    p = sub.add_parser("check", help="the security check of a centre and its Asterisk configuration")
    _arguments(p)
    p.set_defaults(func=_cmd_check)


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", type=Path, default=None, help="the centre (default: the shipped config/010.yaml)"
    )
    p.add_argument(
        "--asterisk-etc",
        type=Path,
        default=None,
        help="an /etc/asterisk to check (default: the sandbox's, rendered for the centre in a temporary dir)",
    )
    p.add_argument(
        "--asterisk-version",
        default=None,
        metavar="TEXT",
        help="what `asterisk -V` prints (default: the sandbox chroot's installed package, if built)",
    )


def _cmd_check(args: argparse.Namespace) -> int:
    config = args.config if args.config is not None else Path(_display(resources.default_config()))
    try:
        report = run_check(config, args.asterisk_etc, args.asterisk_version)
    except UserError as exc:
        print("contactcenter check:", " ".join(str(exc).split()), file=sys.stderr)
        return 2
    for finding in report.findings:
        print(finding.line())
    fails = len(failing(report.findings))
    warns = len(report.findings) - fails
    print(
        f"contactcenter check: {fails} failing, {warns} warning(s) ({'; '.join(report.checked)})",
        file=sys.stderr,
    )
    return report.exit_code


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="contactcenter check")
    _arguments(p)
    return _cmd_check(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = [
    "RULES",
    "AsteriskVersion",
    "Finding",
    "add_check_parser",
    "check_asterisk_etc",
    "check_centre",
    "main",
    "parse_version",
    "run_check",
]
