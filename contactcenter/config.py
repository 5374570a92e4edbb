# The centre's configuration: one YAML file, validated by a pydantic schema, loaded into
# frozen dataclasses. Also the schema machinery every YAML the project reads shares (the
# simulator's scenarios in contactcenter.sim.scenario use it too).
# Rules:
# - Every field is checked here, once, before anything starts, by the schema: one pydantic
#   model per mapping of the file, extra keys forbidden, rules that span fields as the
#   model's validators. Nothing else in the engine re-validates configuration.
# - A bad file raises ConfigError naming the file, the field (as a path like
#   `operators[2].skills.info`), the bad value (cut short: errors.shown) and the problem;
#   the CLI turns that into one line on stderr and exit code 2. An unknown key is refused
#   with a "did you mean" when it is close to a known one.
# - YAML is read by one loader (read_yaml) that refuses what PyYAML would silently accept
#   or crash on: a key given twice, nesting deeper than MAX_DEPTH, aliases that expand
#   beyond MAX_VALUES values or into themselves. Dates are never converted by the loader
#   (timestamps stay text), so a date means the same quoted or not and the schema checks it.
# - Scalars are strict (no "5" for 5, no true for 1, no 5.0 for an integer); a number may
#   be written as an integer. Each range is one `Bound`, declared once beside
#   the field it bounds, so a command-line flag for the same value uses the same one.
from __future__ import annotations

import collections.abc
import datetime as dt
import difflib
import ipaddress
import os
import re
import stat
import types
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn, Self, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    ModelWrapValidatorHandler,
    PlainValidator,
    Strict,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic_core import CoreSchema, PydanticCustomError, core_schema
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.error import MarkedYAMLError
from yaml.events import Event
from yaml.nodes import MappingNode, Node, SequenceNode
from yaml.reader import ReaderError
from yaml.resolver import Resolver

from contactcenter.core.calendar import OpeningHours
from contactcenter.core.callbacks import CallbackPolicy
from contactcenter.errors import UserError, shown

try:  # libyaml: reads a 50 MB line in a second, where the pure-Python scanner takes minutes
    from yaml._yaml import CParser

    _LIBYAML = True
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _LIBYAML = False

# Identifiers end up in Asterisk channel names, contexts and sound paths: keep them to a
# charset that needs no quoting anywhere.
IDENT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_LANGUAGES = ("ca", "es", "en")  # languages the prompt generator (espeak-ng) is set up for
_DIGITS = frozenset("0123456789*")
MAX_DEPTH = 64  # YAML nesting; the deepest file here nests 5 levels
MAX_VALUES = 1_000_000  # values after expanding aliases (a "billion laughs" file stops here)


class ConfigError(UserError):
    """A configuration problem, with where it is and what was found."""

    def __init__(self, file: str, field: str, value: object, problem: str) -> None:
        problem = " ".join(problem.split())  # one line, whatever a library's message held
        self.file, self.field, self.value, self.problem = file, field, value, problem
        super().__init__(f"{file}: {field}: {problem} (got {shown(value)})")


# --- reading YAML ---------------------------------------------------------------------------


class _YamlProblem(MarkedYAMLError):
    """A YAML file we refuse, at a line, with the value at fault (if any)."""

    def __init__(self, problem: str, mark: Any, value: object = None) -> None:
        super().__init__(problem=problem, problem_mark=mark)
        self.value = value


class _Composer(Composer):
    """PyYAML's composer with a depth limit: it recurses once per level, so a 50,000-deep
    file would end in RecursionError instead of a message."""

    peek_event: Callable[[], Event]  # the parser's, later in the loader's bases

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _YamlProblem(f"nested deeper than {MAX_DEPTH} levels", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> Node | None:
        node = super().compose_document()
        if node is not None:
            _check_aliases(node)
        return node


def _check_aliases(root: Node) -> None:
    """Refuse an alias that contains itself, or aliases that expand to more than
    MAX_VALUES values (the nodes are shared, but validation walks every use)."""
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:  # depth-first without recursion: aliases can nest far beyond MAX_DEPTH
        node, finished = stack.pop()
        key = id(node)
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        if finished:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            if size[key] > MAX_VALUES:
                raise _YamlProblem(f"aliases expand to more than {MAX_VALUES:,} values", node.start_mark)
            continue
        if key in size:
            continue
        if key in on_path:
            raise _YamlProblem("an alias that contains itself", node.start_mark)
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children)


class _Resolver(Resolver):
    """YAML 1.1's implicit types, less timestamps: a date stays text (`2026-02-30` would
    otherwise crash the constructor, and a date with a time becomes a datetime)."""

    yaml_implicit_resolvers = {  # noqa: RUF012 - PyYAML's own class-level table, replaced
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in Resolver.yaml_implicit_resolvers.items()
    }


class _Constructor(SafeConstructor):
    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, OverflowError) as exc:  # e.g. `!!int` of 5,000 digits
            raise _YamlProblem(f"cannot read this value ({exc})", node.start_mark) from exc

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        # PyYAML keeps the last of two equal keys without a word: refuse them. Keys merged in
        # by `<<` may be overridden; that is what merging is for.
        seen: dict[object, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # unhashable: the base class refuses it with its own message
                continue
            if first is not None:
                raise _YamlProblem(
                    f"key given twice (first on line {first.line + 1})", key_node.start_mark, key
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep)


def _no_set(loader: Any, node: Node) -> NoReturn:
    # A set has no order: languages or skills read from one would change order between runs.
    raise ConstructorError(None, None, "a !!set has no order: write a list", node.start_mark)


_Constructor.add_constructor("tag:yaml.org,2002:set", _no_set)

if _LIBYAML:

    class _Loader(_Composer, CParser, _Constructor, _Resolver):  # the composer above, not libyaml's
        def __init__(self, text: str) -> None:
            CParser.__init__(self, text)
            _Composer.__init__(self)
            _Constructor.__init__(self)
            _Resolver.__init__(self)

else:  # pragma: no cover
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Loader(Reader, Scanner, Parser, _Composer, _Constructor, _Resolver):  # type: ignore[no-redef]
        def __init__(self, text: str) -> None:
            Reader.__init__(self, text)
            Scanner.__init__(self)
            Parser.__init__(self)
            _Composer.__init__(self)
            _Constructor.__init__(self)
            _Resolver.__init__(self)


def read_yaml(path: str | os.PathLike[str]) -> object:
    """Parse a YAML file; an unreadable, non-UTF-8 or malformed file is a ConfigError, and so
    are a repeated key, too deep nesting and runaway aliases (naming the line)."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(file, "(file)", file, f"cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(file, "(file)", file, f"not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f"line {mark.line + 1}"
        elif isinstance(exc, ReaderError):  # a character YAML refuses, by offset
            where = f"line {text.count(chr(10), 0, exc.position) + 1}"
        else:
            where = "(file)"
        value = exc.value if isinstance(exc, _YamlProblem) else None
        raise ConfigError(file, where, value, f"not valid YAML: {getattr(exc, 'problem', exc)}") from None
    finally:
        loader.dispose()


# --- the schema machinery, shared with the scenarios ----------------------------------------------


class Schema(BaseModel):
    """A mapping of a YAML file: unknown keys refused, frozen once read. Scalar fields use
    the strict types below; containers accept what YAML gives (lists, mappings)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def problem(text: str, *, at: Sequence[str | int] = (), **value: object) -> PydanticCustomError:
    """An error for a validator to raise. `at` is a path below the field being validated
    (for rules that span fields, checked on the model that holds them); `value=` names the
    value at fault when it is not the validator's input."""
    return PydanticCustomError("cc", "{problem}", {"problem": text, "at": tuple(at), **value})


SchemaT = TypeVar("SchemaT", bound=BaseModel)


SECRET_FILE_MAX = 4096  # bytes: a secret file holds one secret, not a document


def from_environment(model: SchemaT, name: str, min_length: int = 1) -> SchemaT:
    """`model` with its secret field `name` set from exactly one source: given in the file,
    read from the environment variable that `<name>_env` names, or read from the file that
    `<name>_file` names (production's ways). The value itself never appears in an error."""
    value, env = getattr(model, name), getattr(model, f"{name}_env")
    file = getattr(model, f"{name}_file", None)
    given = [s for s, v in ((name, value), (f"{name}_env", env), (f"{name}_file", file)) if v is not None]
    if len(given) > 1:
        choices = f"{name}, {name}_env or {name}_file" if hasattr(model, f"{name}_file") else name
        where = given[-1]
        shown_value = "(not shown)" if where == name else getattr(model, where)
        raise problem(f"give one of {choices}, not {' and '.join(given)}", at=(where,), value=shown_value)
    if value is not None:
        if len(value) < min_length:
            raise problem(f"too short: at least {min_length} characters", at=(name,), value="(not shown)")
        return model
    if file is not None:
        return model.model_copy(update={name: read_secret_file(file, f"{name}_file", min_length)})
    if env is None:
        raise problem(f"missing required field (or {name}_env, {name}_file)", at=(name,), value=None)
    value = os.environ.get(env)
    if not value:
        raise problem("environment variable is not set", at=(f"{name}_env",), value=env)
    if any(c in value for c in "\r\n\0"):
        raise problem("its value contains a line break or NUL", at=(f"{name}_env",), value=env)
    if len(value) < min_length:
        raise problem(
            f"its value is too short: at least {min_length} characters", at=(f"{name}_env",), value=env
        )
    return model.model_copy(update={name: value})


@dataclass(frozen=True, slots=True)
class SecretFileField:
    """A `<name>_file` field of a centre file's raw form: where it is and the file it names."""

    holder: tuple[str | int, ...]  # the mapping that holds it: ("web", "tokens", 1)
    key: str  # "token_file"
    path: str

    @property
    def name(self) -> str:  # as errors name it: "web.tokens[1].token_file"
        out = ""
        for part in (*self.holder, self.key):
            out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else part
        return out


def secret_file_fields(raw: object) -> list[SecretFileField]:
    """The secret files a centre file's raw form names, in the file's order (whatever else
    is wrong with it is load_config's to say)."""
    found: list[SecretFileField] = []
    if not isinstance(raw, dict):
        return found
    for section, key in (("ami", "secret_file"), ("mqtt", "password_file")):
        holder = raw.get(section)
        if isinstance(holder, dict) and isinstance(holder.get(key), str):
            found.append(SecretFileField((section,), key, holder[key]))
    web = raw.get("web")
    tokens = web.get("tokens") if isinstance(web, dict) else None
    for i, token in enumerate(tokens if isinstance(tokens, list) else []):
        if isinstance(token, dict) and isinstance(token.get("token_file"), str):
            found.append(SecretFileField(("web", "tokens", i), "token_file", token["token_file"]))
    return found


def read_secret_file(path: str, field_name: str, min_length: int = 1, *, private: bool = True) -> str:
    """A secret from a file that is its owner's alone (mode 0600 or 0400), its one trailing
    line break stripped. Errors name the file (the value: its path) and never its content.
    (`private=False`: any mode; only for `contactcenter check`, which reports the mode.)"""
    if not os.path.isabs(path):
        raise problem(
            "expected an absolute path (a secret file is named whole)", at=(field_name,), value=path
        )
    try:
        # (The mode is read from the file as opened: no window for a swap between the two.)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        hint = (
            " (a sandbox's are made by `contactcenter sandbox up`)"
            if isinstance(exc, FileNotFoundError)
            else ""
        )
        raise problem(
            f"cannot read the secret file {path}: {exc.strerror}{hint}", at=(field_name,), value=path
        ) from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise problem(f"the secret file {path} is not a regular file", at=(field_name,), value=path)
        if private and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise problem(
                f"the secret file {path} has mode {stat.S_IMODE(st.st_mode):04o}: group or others"
                " may read or write it; make it 0600 (chmod 600)",
                at=(field_name,),
                value=path,
            )
        data = f.read(SECRET_FILE_MAX + 1)
    if len(data) > SECRET_FILE_MAX:
        raise problem(
            f"the secret file {path} is longer than {SECRET_FILE_MAX} bytes", at=(field_name,), value=path
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise problem(f"the secret file {path} is not UTF-8 text", at=(field_name,), value=path) from None
    text = text.removesuffix("\n").removesuffix("\r")
    if not text:
        raise problem(f"the secret file {path} is empty", at=(field_name,), value=path)
    if any(c in text for c in "\r\n\0"):
        raise problem(
            f"the secret file {path} holds a line break or NUL within its secret",
            at=(field_name,),
            value=path,
        )
    if len(text) < min_length:
        raise problem(
            f"the secret in {path} is too short: at least {min_length} characters",
            at=(field_name,),
            value=path,
        )
    return text


N = TypeVar("N", int, float)
C = TypeVar("C", bound=collections.abc.Sized)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


@dataclass(frozen=True, slots=True)
class Bound:
    """A range for a number, declared once: as metadata of a field's type
    (`Annotated[float, Bound(0, 10)]`) and through `check` wherever else the same value is
    read (a command-line flag, a scalar in a before-validator). NaN is never in range."""

    lo: float
    hi: float
    open_lo: bool = False  # lo itself excluded

    @property
    def text(self) -> str:
        if self.open_lo:
            return f"must be > {_num(self.lo)} and <= {_num(self.hi)}"
        return f"must be between {_num(self.lo)} and {_num(self.hi)}"

    def check(self, value: N) -> N:
        if not ((self.lo < value if self.open_lo else self.lo <= value) and value <= self.hi):
            raise problem(self.text)
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))


def nonempty(text: str) -> AfterValidator:
    """A container that must hold something."""

    def check(value: C) -> C:
        if not value:
            raise problem(text)
        return value

    return AfterValidator(check)


def _unique(value: tuple[str, ...]) -> tuple[str, ...]:
    seen: set[str] = set()
    for i, item in enumerate(value):
        if item in seen:
            raise problem("listed twice", at=(i,), value=item)
        seen.add(item)
    return value


def _text(value: str) -> str:
    if not value:
        raise problem("expected a non-empty string")
    if any(c in value for c in "\r\n\0"):
        raise problem("must not contain line breaks or NUL")
    return value


def _ident(value: str) -> str:
    if not IDENT.match(value):
        raise problem(f"must match {IDENT.pattern} (lower-case letters, digits, _ and -)")
    return value


def _loopback(value: str) -> str:
    try:
        ok = ipaddress.ip_address(value).is_loopback
    except ValueError:
        ok = value == "localhost"
    if not ok:
        # The controller and sandbox only ever talk over loopback (AMI is unencrypted).
        raise problem("must be a loopback address (127.0.0.1, ::1 or localhost)")
    return value


def _language(value: object) -> str:
    if not isinstance(value, str) or value not in _LANGUAGES:
        raise problem(f"unsupported language (supported: {', '.join(_LANGUAGES)})")
    return value


def as_date(value: object) -> dt.date:
    """A calendar day, from a date or from YYYY-MM-DD text (how read_yaml leaves an unquoted
    date). A date with a time is refused: a holiday or a trace day is a whole day."""
    if isinstance(value, dt.datetime) or (
        isinstance(value, str) and re.match(r"\d{4}-\d\d?-\d\d?([Tt]|\s+)\d", value)
    ):
        raise problem("expected a date alone (YYYY-MM-DD), without a time of day")
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d\d-\d\d", value):
        raise problem("expected a date as YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise problem(f"not a day of the calendar ({exc}); expected a date as YYYY-MM-DD") from None


def each_in_list(each: float, what: str) -> BeforeValidator:
    """A mapping that may be written as a plain list of its keys, each then mapped to
    `each`: skills `[info, tributs]` are level 1 in each, languages `[ca, es]` equal shares."""

    def from_list(value: object) -> object:
        if not isinstance(value, list):
            return value
        mapping: dict[str, float] = {}
        for j, key in enumerate(value):
            if not isinstance(key, str):
                raise problem(f"expected {what} (a string)", at=(j,), value=key)
            if key in mapping:
                raise problem("listed twice", at=(j,), value=key)
            mapping[key] = each
        return mapping

    return BeforeValidator(from_list)


def pair(what: str) -> BeforeValidator:
    """Exactly two values in a list (`[first, last]`), said in the user's terms."""

    def check(value: object) -> object:
        if not (isinstance(value, list | tuple) and len(value) == 2):
            raise problem(f"expected {what}")
        return value

    return BeforeValidator(check)


StrictStr = Annotated[str, Strict()]
Text = Annotated[str, Strict(), AfterValidator(_text)]  # one line, not empty
Ident = Annotated[str, Strict(), AfterValidator(_ident)]
Level = Annotated[int, Strict(), Bound(1, 9)]  # operator skill level, 1 = best
Language = Annotated[str, PlainValidator(_language)]


class RelaxStep(Schema):
    after: Annotated[float, Strict(), Bound(0, 86_400)]  # seconds waited
    max_level: Level  # operators up to this level may take the call from then on


def _widening(value: Any, handler: ValidatorFunctionWrapHandler) -> tuple[RelaxStep, ...]:
    steps: tuple[RelaxStep, ...] = handler(value)
    for i, step in enumerate(steps):
        if i == 0 and step.after != 0:
            raise problem("the first step must start at after: 0", at=(0, "after"), value=step.after)
        if i and not (step.after > steps[i - 1].after and step.max_level > steps[i - 1].max_level):
            raw = value[i] if isinstance(value, list | tuple) else step.model_dump()
            raise problem(
                "each step must come later and reach a higher level than the one before", at=(i,), value=raw
            )
    return steps


# The bullseye steps of routing, for the centre (routing.relaxation) and the simulator's
# scenarios alike; the core's Engine keeps its own ValueError guard against misuse.
Relaxation = Annotated[tuple[RelaxStep, ...], WrapValidator(_widening)]


def relaxation_steps(steps: Sequence[RelaxStep]) -> tuple[tuple[float, int], ...]:
    """What the Engine takes: (after seconds waited, highest operator level allowed)."""
    return tuple((s.after, s.max_level) for s in steps)


# Problems by pydantic's error type, in this project's words.
_MESSAGES = {
    "missing": "missing required field",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "finite_number": "expected a finite number",
    "string_type": "expected a string",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "too_long": "too many values",
    "invalid_key": "keys must be strings",
    "recursion_loop": "refers to itself (a recursive alias)",
}


def _not_none(args: Sequence[Any]) -> list[Any]:
    return [a for a in args if a is not type(None)]


def _bare(tp: Any) -> Any:
    """The type inside Annotated[...] and X | None."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType) and len(args := _not_none(get_args(tp))) == 1:
            tp = args[0]
        else:
            return tp


def _key(part: object) -> str:
    # Keys come from the user's file: a long one or one with a line break is quoted short.
    plain = isinstance(part, str) and re.fullmatch(r"[\w*#+-]{1,40}", part)
    return f".{part}" if plain else f".{shown(part, 42)}"


def _where(model: type[BaseModel], loc: Sequence[str | int]) -> tuple[str, type[BaseModel] | None]:
    """A pydantic error location as a field path (`operators[2].skills.info`), found by
    walking the schema's types, and the model that holds the last part."""
    parts: list[str] = []
    tp: Any = model
    owner: type[BaseModel] | None = None
    for part in loc:
        tp = _bare(tp)
        origin = get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            owner = tp
            fields = {f.alias or name: f for name, f in tp.model_fields.items()}
            parts.append(_key(part))
            tp = fields[part].annotation if isinstance(part, str) and part in fields else None
        elif origin in (list, tuple, collections.abc.Sequence) and isinstance(part, int):
            owner = None
            parts.append(f"[{part}]")
            args = get_args(tp)
            if len(args) == 2 and args[1] is Ellipsis:  # tuple[X, ...]
                tp = args[0]
            else:
                tp = args[part] if part < len(args) else None
        elif origin in (dict, collections.abc.Mapping):
            # An index here is a place in the list a before-validator turned into this mapping.
            owner = None
            parts.append(f"[{part}]" if isinstance(part, int) else _key(part))
            tp = get_args(tp)[1]
        else:
            owner = None
            parts.append(f"[{part}]" if isinstance(part, int) else _key(part))
            tp = None
    return "".join(parts).removeprefix(".") or "(top level)", owner


def schema_error(model: type[BaseModel], error: Mapping[str, Any], file: str) -> ConfigError:
    """One of pydantic's errors as a ConfigError naming the file, field path, value and problem."""
    loc: tuple[str | int, ...] = tuple(error["loc"])
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    kind = error["type"]
    value = error.get("input")
    if loc and loc[-1] == "[key]":  # a bad key: name the mapping, show the key
        loc = loc[:-2]
    if kind == "cc":
        loc += ctx["at"]
        value = ctx.get("value", value)
    field, owner = _where(model, loc)
    if kind == "cc":
        text = ctx["problem"]
    elif kind == "missing":
        text, value = _MESSAGES[kind], None
    elif kind == "extra_forbidden":
        known = [f.alias or name for name, f in owner.model_fields.items()] if owner else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        text = f"unknown field; did you mean `{close[0]}`?" if close else "unknown field"
        if known:
            text += f" (known: {', '.join(known)})"
    elif kind == "literal_error":
        text = f"expected one of {ctx['expected']}"
    elif kind == "too_short":
        text = "missing values" if ctx.get("actual_length") else "expected a non-empty list"
    else:
        text = _MESSAGES.get(kind, error["msg"])
    return ConfigError(file, field, value, text)


M = TypeVar("M", bound=BaseModel)


def _given(data: object, key: str) -> object:
    """What the file said for `key`, for messages of a wrap validator (it sees the input)."""
    return data.get(key) if isinstance(data, Mapping) else getattr(data, key, None)


def validated(model: type[M], raw: object, file: str) -> M:
    """`raw` (parsed YAML) through `model`; the first problem found is a ConfigError."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        # An unknown key first: a misspelt one also makes the field it meant "missing".
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        raise schema_error(model, first, file) from None


# --- the centre's file ------------------------------------------------------------------------

PORT = Bound(1, 65535)
Port = Annotated[int, Strict(), PORT]
Loopback = Annotated[str, Strict(), AfterValidator(_text), AfterValidator(_loopback)]
Texts = dict[Language, Text]  # language -> text


class _Centre(Schema):
    name: Text
    lines: Annotated[int, Strict(), Bound(1, 100_000)]
    # production: secrets come from *_env or *_file (`contactcenter check` fails one written
    # in the file); sandbox: they may be written in the file (never short or published ones)
    deployment: Literal["production", "sandbox"] = "production"


class _Ami(Schema):
    host: Loopback
    port: Port
    username: Ident
    secret: Text | None = None
    secret_env: Text | None = None  # production: the secret comes from this environment variable
    secret_file: Text | None = None  # or from this file (mode 0600 or 0400)
    action_timeout: Annotated[float, Strict(), Bound(0.1, 120)] = 5.0
    ping_interval: Annotated[float, Strict(), Bound(0.1, 300)] = 5.0
    connect_timeout: Annotated[float, Strict(), Bound(0.1, 3600)] = 30.0

    @model_validator(mode="after")
    def _secret_from_environment(self) -> Self:
        return from_environment(self, "secret")


class _Sip(Schema):
    host: Loopback
    port: Port
    rtp_ports: Annotated[tuple[Port, Port], pair("[first, last]")] = (20000, 20999)

    @model_validator(mode="wrap")
    @classmethod
    def _rtp_range(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        sip = handler(data)
        lo, hi = sip.rtp_ports
        if hi - lo < 10:
            raise problem(
                "range must hold at least 10 ports", at=("rtp_ports",), value=_given(data, "rtp_ports")
            )
        return sip


class _Http(Schema):
    host: Loopback
    port: Port


def _topic_prefix(value: str) -> str:
    # MQTT topic levels of letters, digits, '-' and '_': no wildcard, no empty level, no '$'.
    if not re.fullmatch(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*", value):
        raise problem("expected topic levels of letters, digits, - and _, joined by / (e.g. cc/010)")
    return value


class _Mqtt(Schema):
    """The supervisors' live feed: the broker the controller publishes to (mosquitto)."""

    host: Loopback
    port: Port = 1883
    username: Ident
    password: Text | None = None
    password_env: Text | None = None  # production: the password comes from this environment variable
    password_file: Text | None = None  # or from this file (mode 0600 or 0400)
    topic_prefix: Annotated[str, Strict(), AfterValidator(_topic_prefix)] = "cc"
    tls_ca: Text | None = None  # a CA file: connect with TLS, checking the broker against it
    queue: Annotated[int, Strict(), Bound(10, 1_000_000)] = 10_000  # messages held while the broker lags
    keepalive: Annotated[int, Strict(), Bound(5, 3600)] = 30

    @model_validator(mode="after")
    def _password_from_environment(self) -> Self:
        return from_environment(self, "password")


class _Records(Schema):
    """The centre's history: every call and operator state change, in SQLite."""

    path: Annotated[str, Strict(), AfterValidator(_text)] = "/var/lib/contactcenter/records.sqlite"
    retention_days: Annotated[int, Strict(), Bound(1, 36_500)] = 400


class _Desks(Schema):
    """Operators' desks across restarts of the controller, in SQLite (live/desks.py)."""

    store: Annotated[str, Strict(), AfterValidator(_text)] = "/var/lib/contactcenter/desks.sqlite"
    # Put back only if the controller was down for less than this (a shift has not ended).
    restore_within: Annotated[float, Strict(), Bound(0, 86_400)] = 3600.0


class _Routing(Schema):
    ring_timeout: Annotated[float, Strict(), Bound(1, 300)]
    wrap_up: Annotated[float, Strict(), Bound(0, 3600)]
    default_aht: Annotated[float, Strict(), Bound(1, 36_000)] = 180.0
    relaxation: Relaxation = ()
    fault_retry: Annotated[float, Strict(), Bound(0.1, 600)] = 2.0
    fault_retry_max: Annotated[float, Strict(), Bound(0.1, 3600)] = 30.0
    # Priorities (the gateway's X-CC-Priority) as head starts: {priority: seconds}, a caller
    # of that priority queues as if they had come so much earlier. None: strict classes (a
    # higher priority always first). As a scenario's `priority_head_start_s`.
    priority_head_start_s: (
        dict[Annotated[int, Strict(), Bound(0, 9)], Annotated[float, Strict(), Bound(0, 86_400)]] | None
    ) = None

    @model_validator(mode="after")
    def _backoff(self) -> Self:
        if self.fault_retry_max < self.fault_retry:
            raise problem(
                f"must be >= routing.fault_retry ({self.fault_retry:g})",
                at=("fault_retry_max",),
                value=self.fault_retry_max,
            )
        return self


class CallbackPolicyFile(Schema):
    """When callbacks are offered and how they are dialled: the centre's `callbacks:`
    section, and a scenario's (which adds how simulated citizens behave)."""

    offer_after_ewt_s: Annotated[float, Strict(), Bound(0, 86_400)] = 120.0
    by_skill: dict[Ident, Annotated[float, Strict(), Bound(0, 86_400)]] = Field(default_factory=dict)
    offer_queue_length: Annotated[int, Strict(), Bound(0, 100_000)] | None = None
    max_pending: Annotated[int, Strict(), Bound(1, 1_000_000)] = 100
    attempts: Annotated[int, Strict(), Bound(1, 10)] = 3
    retry_delay_s: Annotated[float, Strict(), Bound(1, 86_400)] = 600.0
    expire_after_h: Annotated[float, Strict(), Bound(0.01, 24 * 31)] = 8.0
    line_wait_s: Annotated[float, Strict(), Bound(1, 600)] = 10.0

    def policy(self) -> CallbackPolicy:
        return CallbackPolicy(
            offer_after_ewt_s=self.offer_after_ewt_s,
            offer_after_ewt_by_skill=dict(self.by_skill),
            offer_queue_length=self.offer_queue_length,
            max_pending=self.max_pending,
            attempts=self.attempts,
            retry_delay_s=self.retry_delay_s,
            expire_after_s=self.expire_after_h * 3600.0,
            line_wait_s=self.line_wait_s,
        )

    def unknown_skill(self, skills: Sequence[str]) -> str | None:
        """The first skill of `by_skill` that is not one of `skills`, if any."""
        return next((s for s in self.by_skill if s not in skills), None)


def _digit(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 9:
        value = str(value)  # an unquoted `1:` key
    if not (isinstance(value, str) and value in _DIGITS):
        raise problem("option keys are single DTMF digits 0-9 or *")
    return value


class _Menu(Schema):
    options: Annotated[
        dict[Annotated[str, PlainValidator(_digit)], Text], nonempty("a menu needs at least one option")
    ]  # digit -> language code or skill id, checked against the centre by _CentreFile
    default: Text | None = None  # language menu: ivr.default_language; service menu: the first option


class _Prompts(Schema):
    language_menu: Texts = Field(alias="language-menu")
    service_menu: Texts = Field(alias="service-menu")
    invalid: Texts
    hold: Texts
    busy: Texts
    closed: Texts
    position: Texts  # "your place in the queue is" + a number
    wait_about: Texts = Field(alias="wait-about")  # "the expected wait is about" + a number
    minutes: Texts


REQUIRED_PROMPTS = tuple(f.alias or name for name, f in _Prompts.model_fields.items())


class _Ivr(Schema):
    default_language: Language | None = None  # None: the centre's first language
    menu_timeout: Annotated[int, Strict(), Bound(1, 60)] = 5
    menu_attempts: Annotated[int, Strict(), Bound(1, 10)] = 3
    hold_period: Annotated[int, Strict(), Bound(1, 600)] = 20
    language_menu: _Menu
    service_menu: _Menu
    prompts: _Prompts


Languages = Annotated[tuple[StrictStr, ...], nonempty("expected a non-empty list"), AfterValidator(_unique)]


class _Operator(Schema):
    id: Ident
    name: Text | None = None  # None: the id
    skills: Annotated[
        dict[StrictStr, Level],
        each_in_list(1, "a skill name"),
        nonempty("an operator needs at least one skill"),
    ]
    languages: Languages | None = None  # None: every language of the centre
    endpoint: Literal["sim", "pjsip"] = "sim"  # a Local channel in the sandbox, or a real SIP phone
    secret: Text | None = None  # the phone's registration secret (pjsip)

    @model_validator(mode="after")
    def _phone(self) -> Self:
        if self.endpoint == "pjsip" and self.secret is None:
            raise problem(
                "missing required field (a pjsip phone registers with it)", at=("secret",), value=None
            )
        if self.endpoint == "sim" and self.secret is not None:
            raise problem(
                "a secret is for a real phone: write endpoint: pjsip", at=("endpoint",), value="sim"
            )
        return self


class _SimulatedOperators(Schema):
    ring_delay: Annotated[float, Strict(), Bound(0, 120)] = 2.0
    talk_seconds: Annotated[float, Strict(), Bound(0.1, 86_400)] = 60.0


class _CallbackPrompts(Schema):
    offer: Texts  # "press 1 to be called back at this number, 2 to give another, or hold"
    enter: Texts  # "key the number, then the hash key"
    invalid_number: Texts = Field(alias="invalid-number")
    confirm: Texts  # "we will call you back; you keep your place"
    merged: Texts  # "a callback for this number is already pending"
    refused: Texts  # "we could not take your number: please hold, you keep your place"
    hello: Texts  # to the citizen who answers the callback
    pending: Texts  # to a caller whose number already has a callback waiting
    # When the caller's turn would come after closing: "we close before your turn; we can
    # call you back when we open again," + when: "tomorrow at" (or today, or "on Monday
    # at") + the hour, then the offer.
    after_hours: Texts = Field(alias="after-hours")
    opens_today: Texts = Field(alias="opens-today")
    opens_tomorrow: Texts = Field(alias="opens-tomorrow")
    opens_mon: Texts = Field(alias="opens-mon")
    opens_tue: Texts = Field(alias="opens-tue")
    opens_wed: Texts = Field(alias="opens-wed")
    opens_thu: Texts = Field(alias="opens-thu")
    opens_fri: Texts = Field(alias="opens-fri")
    opens_sat: Texts = Field(alias="opens-sat")
    opens_sun: Texts = Field(alias="opens-sun")


CALLBACK_PROMPTS = tuple(f.alias or name for name, f in _CallbackPrompts.model_fields.items())


class _SimulatedCitizens(Schema):
    answer_after: Annotated[float, Strict(), Bound(0, 60)] = 3.0
    talk_seconds: Annotated[float, Strict(), Bound(0.1, 86_400)] = 20.0


def _dial_prefix(value: str) -> str:
    if not re.fullmatch(r"[0-9]{0,4}", value):
        raise problem("expected up to 4 digits (e.g. 0 for an outside line), or empty")
    return value


_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*")


def _host(value: str) -> str:
    # It goes into Asterisk's dial string: an address or a host name, nothing else.
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not _HOSTNAME.fullmatch(value):
            raise problem("expected an IP address or a host name") from None
    return value


class _Trunk(Schema):
    """The SIP gateway to the public network that callbacks are dialled through: Asterisk's
    `pstn` endpoint (the one citizens' calls come in on) sends the INVITE to host:port."""

    host: Annotated[str, Strict(), AfterValidator(_host)]
    port: Annotated[int, Strict(), Bound(1, 65_535)] = 5060
    # How the gateway wants the number: "+34600123456" (e164) or as dialled in Spain
    # ("600123456"; "00" and the country code for a number abroad).
    number_format: Literal["e164", "national"] = "e164"
    prefix: Annotated[str, Strict(), AfterValidator(_dial_prefix)] = ""  # dialled before it


class _Booking(Schema):
    """Booked callbacks ("cita previa"): slots of `slot_min` minutes, of whose handling time
    (operators with the skill on shift x slot / AHT) bookings may take `share`."""

    slot_min: Annotated[int, Strict(), Bound(5, 240)] = 30
    share: Annotated[float, Strict(), Bound(0.01, 1)] = 0.25


class _Callbacks(CallbackPolicyFile):
    store: Annotated[str, Strict(), AfterValidator(_text)] = "/var/lib/contactcenter/callbacks.sqlite"
    # How citizens are called back: "sim", a Local channel in the sandbox that answers as the
    # citizen (no public network here), or "trunk": through the SIP gateway of `trunk`.
    dial: Literal["sim", "trunk"] = "sim"
    trunk: _Trunk | None = None
    ring_timeout: Annotated[float, Strict(), Bound(5, 120)] = 30.0  # the citizen's phone
    simulated_citizens: _SimulatedCitizens = _SimulatedCitizens()
    booking: _Booking = _Booking()
    prompts: _CallbackPrompts

    @model_validator(mode="after")
    def _gateway(self) -> Self:
        if self.dial == "trunk" and self.trunk is None:
            raise problem("missing required field (dial: trunk calls through it)", at=("trunk",), value=None)
        if self.dial == "sim" and self.trunk is not None:
            raise problem("a trunk is for dial: trunk", at=("dial",), value="sim")
        return self


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)


def _clock(value: object) -> dt.time:
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 23:00 as the base-60 number 1380: say so, not "1380".
        raise problem('expected a time of day as "HH:MM" in quotes (unquoted, 23:00 reads as 1380)')
    m = re.fullmatch(r"([01]?\d|2[0-4]):([0-5]\d)", value) if isinstance(value, str) else None
    if not m or (m.group(1) == "24" and m.group(2) != "00"):
        raise problem("expected a time of day as HH:MM")
    if m.group(1) == "24":
        return dt.time.max  # "24:00": until the end of the day
    return dt.time(int(m.group(1)), int(m.group(2)))


def _zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise problem("unknown time zone (e.g. Europe/Madrid)") from None
    return value


class _Hours(Schema):
    timezone: Annotated[str, Strict(), AfterValidator(_zone)]
    open: Annotated[dt.time, PlainValidator(_clock)]
    close: Annotated[dt.time, PlainValidator(_clock)]
    weekdays: Annotated[tuple[Weekday, ...], nonempty(f"expected a list of {', '.join(_WEEKDAYS)}")] = (
        _WEEKDAYS
    )
    holidays: tuple[Annotated[dt.date, PlainValidator(as_date)], ...] = ()

    @model_validator(mode="wrap")
    @classmethod
    def _order(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        hours = handler(data)
        if hours.close <= hours.open:
            opens, closes = _given(data, "open"), _given(data, "close")
            raise problem(f"must be after hours.open ({opens})", at=("close",), value=closes)
        return hours

    def opening_hours(self) -> OpeningHours:
        return OpeningHours(
            tz=zoneinfo.ZoneInfo(self.timezone),
            open=self.open,
            close=self.close,
            weekdays=frozenset(_WEEKDAYS.index(d) for d in self.weekdays),
            holidays=frozenset(self.holidays),
        )


# --- the web: who may use it, the wallboard's colours, the consoles' codes ----------------

TOKEN_MIN = 16  # characters: a web token is a password


class _Token(Schema):
    """One person's (or one screen's) key to the web and the API."""

    role: Literal["supervisor", "operator", "viewer"]  # viewer: the wallboard only
    id: Ident  # an operator's id (role operator); a name of the holder's own otherwise
    name: Text | None = None
    token: Text | None = Field(default=None, repr=False)
    token_env: Text | None = None  # production: the token comes from this environment variable
    token_file: Text | None = None  # or from this file (mode 0600 or 0400)
    # A supervisor's phone, for listen / whisper / barge: a Local channel the sandbox answers
    # (sim), or a real SIP phone registering as the supervisor's id with `secret` (pjsip).
    phone: Literal["sim", "pjsip"] | None = None
    secret: Text | None = Field(default=None, repr=False)

    @model_validator(mode="after")
    def _checked(self) -> Self:
        if self.phone is not None and self.role != "supervisor":
            raise problem("only a supervisor has a phone to listen in with", at=("phone",), value=self.phone)
        if (self.phone == "pjsip") != (self.secret is not None):
            raise problem(
                "a pjsip phone needs its registration secret, and only it has one",
                at=("secret",),
                value="(not shown)" if self.secret else None,
            )
        return from_environment(self, "token", TOKEN_MIN)


class _Band(Schema):
    """Where a figure turns amber, and red. For a figure where more is better (service
    level) red <= amber; for one where less is better (waits, abandons) amber <= red."""

    amber: Annotated[float, Strict(), Bound(0, 1e9)]
    red: Annotated[float, Strict(), Bound(0, 1e9)]


class _Wallboard(Schema):
    service_level: _Band = _Band(amber=0.95, red=0.90)  # red at or under 90 %, amber to 95 %
    longest_wait_s: _Band = _Band(amber=60, red=120)
    abandon_rate: _Band = _Band(amber=0.05, red=0.10)
    waiting: _Band = _Band(amber=5, red=15)
    lines_in_use: _Band = _Band(amber=0.8, red=0.95)  # share of the lines

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.service_level.red > self.service_level.amber:
            raise problem(
                "red must be at or under amber (a higher level is better)",
                at=("service_level", "red"),
                value=self.service_level.red,
            )
        for name in ("longest_wait_s", "abandon_rate", "waiting", "lines_in_use"):
            band = getattr(self, name)
            if band.red < band.amber:
                raise problem(
                    "red must be at or over amber (a lower figure is better)",
                    at=(name, "red"),
                    value=band.red,
                )
        return self


_PAUSE_REASONS = {
    "break": {"ca": "Descans", "es": "Descanso", "en": "Break"},
    "meal": {"ca": "Àpat", "es": "Comida", "en": "Meal"},
    "training": {"ca": "Formació", "es": "Formación", "en": "Training"},
    "meeting": {"ca": "Reunió", "es": "Reunión", "en": "Meeting"},
    "backoffice": {"ca": "Tasques de gestió", "es": "Tareas de gestión", "en": "Back-office work"},
}
_DISPOSITIONS = {
    "resolved": {"ca": "Resolt", "es": "Resuelto", "en": "Resolved"},
    "information": {"ca": "Informació donada", "es": "Información dada", "en": "Information given"},
    "appointment": {"ca": "Cita prèvia donada", "es": "Cita previa dada", "en": "Appointment booked"},
    "transferred": {
        "ca": "Derivat a un altre servei",
        "es": "Derivado a otro servicio",
        "en": "Referred elsewhere",
    },
    "unresolved": {"ca": "No resolt", "es": "No resuelto", "en": "Not resolved"},
}


class _Web(Schema):
    tokens: tuple[_Token, ...] = ()
    wallboard: _Wallboard = _Wallboard()
    # Codes an operator picks (a pause's reason; a call's outcome at wrap-up), with names.
    pause_reasons: Annotated[dict[Ident, Texts], nonempty("at least one pause reason is needed")] = Field(
        default_factory=lambda: dict(_PAUSE_REASONS)
    )
    dispositions: Annotated[dict[Ident, Texts], nonempty("at least one disposition is needed")] = Field(
        default_factory=lambda: dict(_DISPOSITIONS)
    )


class _CentreFile(Schema):
    """The whole file. Field types check each value; `_references` checks what refers to
    what (skills, languages, menus, operators), with the path of the value at fault."""

    centre: _Centre
    ami: _Ami
    sip: _Sip
    http: _Http
    languages: Annotated[tuple[Language, ...], nonempty("expected a non-empty list"), AfterValidator(_unique)]
    skills: Annotated[dict[Ident, Texts], nonempty("at least one skill is needed")]  # id -> names
    routing: _Routing
    ivr: _Ivr
    operators: Annotated[tuple[_Operator, ...], nonempty("expected a non-empty list")]
    simulated_operators: _SimulatedOperators = _SimulatedOperators()
    hours: _Hours | None = None  # None: always open
    callbacks: _Callbacks | None = None  # None: never offered
    mqtt: _Mqtt | None = None  # None: no live feed
    records: _Records | None = None  # None: no history kept
    desks: _Desks | None = None  # None: operators start logged out (simulated ones in) at each start
    web: _Web = _Web()  # no tokens: the pages and the API let nobody in

    def operator_languages(self, op: _Operator) -> tuple[str, ...]:
        return op.languages if op.languages is not None else self.languages

    @model_validator(mode="after")
    def _references(self) -> Self:
        langs, skills, ivr = self.languages, self.skills, self.ivr
        for skill_id, names in skills.items():
            for lang in langs:
                if lang not in names:
                    raise problem("missing required field", at=("skills", skill_id, lang), value=None)
        if ivr.default_language is not None and ivr.default_language not in langs:
            raise problem(f"not one of {langs}", at=("ivr", "default_language"), value=ivr.default_language)
        menus: tuple[tuple[str, _Menu, Sequence[str], str], ...] = (
            ("language_menu", ivr.language_menu, langs, "language"),
            ("service_menu", ivr.service_menu, tuple(skills), "skill"),
        )
        for menu_name, menu, allowed, what in menus:
            for digit, target in menu.options.items():
                if target not in allowed:
                    raise problem(
                        f"unknown {what} (known: {', '.join(allowed)})",
                        at=("ivr", menu_name, "options", digit),
                        value=target,
                    )
            if menu.default is not None and menu.default not in allowed:
                raise problem(f"unknown {what}", at=("ivr", menu_name, "default"), value=menu.default)
        for name in REQUIRED_PROMPTS:
            texts = getattr(ivr.prompts, name.replace("-", "_"))
            for lang in langs:
                if lang not in texts:
                    raise problem("missing required field", at=("ivr", "prompts", name, lang), value=None)
        if self.callbacks is not None:
            for name in CALLBACK_PROMPTS:
                texts = getattr(self.callbacks.prompts, name.replace("-", "_"))
                for lang in langs:
                    if lang not in texts:
                        raise problem(
                            "missing required field", at=("callbacks", "prompts", name, lang), value=None
                        )
            if (bad := self.callbacks.unknown_skill(tuple(skills))) is not None:
                raise problem(
                    f"unknown skill (known: {', '.join(skills)})", at=("callbacks", "by_skill"), value=bad
                )
        seen: set[str] = set()
        for i, op in enumerate(self.operators):
            if op.id in seen:
                raise problem("duplicate operator id", at=("operators", i, "id"), value=op.id)
            seen.add(op.id)
            for skill_id in op.skills:
                if skill_id not in skills:
                    raise problem(
                        f"unknown skill (known: {', '.join(skills)})",
                        at=("operators", i, "skills"),
                        value=skill_id,
                    )
            for j, lang in enumerate(op.languages or ()):
                if lang not in langs:
                    raise problem(
                        f"not one of the centre's languages {langs}",
                        at=("operators", i, "languages", j),
                        value=lang,
                    )
        if self.simulated_operators.ring_delay >= self.routing.ring_timeout:
            raise problem(
                f"must be shorter than routing.ring_timeout ({self.routing.ring_timeout})",
                at=("simulated_operators", "ring_delay"),
                value=self.simulated_operators.ring_delay,
            )
        self._every_choice_has_an_operator()
        self._web_references(seen)
        return self

    def _web_references(self, operators: set[str]) -> None:
        web, langs = self.web, self.languages
        for table in ("pause_reasons", "dispositions"):
            for code, names in getattr(web, table).items():
                for lang in langs:
                    if lang not in names:
                        raise problem("missing required field", at=("web", table, code, lang), value=None)
        ids: dict[str, int] = {}
        tokens: set[str] = set()
        for i, entry in enumerate(web.tokens):
            if entry.role == "operator" and entry.id not in operators:
                raise problem("not one of the operators", at=("web", "tokens", i, "id"), value=entry.id)
            if entry.role != "operator" and entry.id in operators:
                # (A supervisor's phone registers as their id: it must not be an operator's.)
                raise problem("an operator's id: pick another", at=("web", "tokens", i, "id"), value=entry.id)
            if entry.id in ids:
                raise problem("a second token for the same id", at=("web", "tokens", i, "id"), value=entry.id)
            ids[entry.id] = i
            assert entry.token is not None  # (set by _Token)
            if entry.token in tokens:
                raise problem(
                    "the same token as another entry", at=("web", "tokens", i, "token"), value="(not shown)"
                )
            tokens.add(entry.token)

    def _every_choice_has_an_operator(self) -> None:
        # A caller who picks a language and then a service waits for an operator with that
        # skill and language: if there is none, they would wait until they hang up.
        service = self.ivr.service_menu
        choices: list[tuple[tuple[str, ...], str]] = [
            (("options", digit), skill) for digit, skill in service.options.items()
        ]
        if service.default is not None:
            choices.append((("default",), service.default))
        for at, skill in choices:
            where = ("ivr", "service_menu", *at)
            takers = [op for op in self.operators if skill in op.skills]
            if not takers:
                raise problem(
                    "no operator has this skill: its callers would wait forever", at=where, value=skill
                )
            for lang in self.languages:
                if not any(lang in self.operator_languages(op) for op in takers):
                    raise problem(
                        f"no operator with this skill speaks {lang}: callers in {lang} would wait forever",
                        at=where,
                        value=skill,
                    )

    def config(self, path: str) -> Config:
        ivr = self.ivr
        default_language = ivr.default_language or self.languages[0]
        r = self.routing
        return Config(
            path=path,
            name=self.centre.name,
            lines=self.centre.lines,
            deployment=self.centre.deployment,
            ami=AmiConfig(
                host=self.ami.host,
                port=self.ami.port,
                username=self.ami.username,
                secret=self.ami.secret or "",  # set: checked by _Ami
                action_timeout=self.ami.action_timeout,
                ping_interval=self.ami.ping_interval,
                connect_timeout=self.ami.connect_timeout,
            ),
            sip=SipConfig(host=self.sip.host, port=self.sip.port, rtp_ports=self.sip.rtp_ports),
            http=HttpConfig(host=self.http.host, port=self.http.port),
            mqtt=None
            if self.mqtt is None
            else MqttConfig(
                host=self.mqtt.host,
                port=self.mqtt.port,
                username=self.mqtt.username,
                password=self.mqtt.password or "",
                topic_prefix=self.mqtt.topic_prefix,
                tls_ca=None if self.mqtt.tls_ca is None else Path(self.mqtt.tls_ca),
                queue=self.mqtt.queue,
                keepalive=self.mqtt.keepalive,
            ),
            records=None
            if self.records is None
            else RecordsConfig(path=Path(self.records.path), retention_days=self.records.retention_days),
            desks=None
            if self.desks is None
            else DesksConfig(store=Path(self.desks.store), restore_within=self.desks.restore_within),
            languages=self.languages,
            skills={skill_id: dict(names) for skill_id, names in self.skills.items()},
            routing=RoutingConfig(
                ring_timeout=r.ring_timeout,
                wrap_up=r.wrap_up,
                default_aht=r.default_aht,
                relaxation=relaxation_steps(r.relaxation),
                fault_retry=r.fault_retry,
                fault_retry_max=r.fault_retry_max,
                priority_head_start=tuple(sorted((r.priority_head_start_s or {}).items())),
            ),
            ivr=IvrConfig(
                default_language=default_language,
                menu_timeout=ivr.menu_timeout,
                menu_attempts=ivr.menu_attempts,
                hold_period=ivr.hold_period,
                language_menu=Menu(
                    options=dict(ivr.language_menu.options),
                    default=ivr.language_menu.default or default_language,
                ),
                service_menu=Menu(
                    options=dict(ivr.service_menu.options),
                    default=ivr.service_menu.default or next(iter(ivr.service_menu.options.values())),
                ),
                prompts={
                    **ivr.prompts.model_dump(by_alias=True),
                    **(
                        {}
                        if self.callbacks is None
                        else {
                            f"callback-{name}": texts
                            for name, texts in self.callbacks.prompts.model_dump(by_alias=True).items()
                        }
                    ),
                },
            ),
            operators=tuple(
                OperatorConfig(
                    id=op.id,
                    name=op.name or op.id,
                    skills=dict(op.skills),
                    languages=self.operator_languages(op),
                    endpoint=op.endpoint,
                    secret=op.secret,
                )
                for op in self.operators
            ),
            simulated_operators=SimulatedOperators(
                ring_delay=self.simulated_operators.ring_delay,
                talk_seconds=self.simulated_operators.talk_seconds,
            ),
            hours=self.hours.opening_hours() if self.hours is not None else None,
            web=WebConfig(
                tokens=tuple(
                    WebToken(
                        role=e.role,
                        id=e.id,
                        name=e.name or e.id,
                        token=e.token or "",  # set: checked by _Token
                        token_file=e.token_file,
                        phone=e.phone,
                        secret=e.secret,
                    )
                    for e in self.web.tokens
                ),
                thresholds={
                    name: (getattr(self.web.wallboard, name).amber, getattr(self.web.wallboard, name).red)
                    for name in _Wallboard.model_fields
                },
                pause_reasons={code: dict(names) for code, names in self.web.pause_reasons.items()},
                dispositions={code: dict(names) for code, names in self.web.dispositions.items()},
            ),
            callbacks=None
            if self.callbacks is None
            else CallbacksConfig(
                policy=self.callbacks.policy(),
                store=Path(self.callbacks.store),
                dial=self.callbacks.dial,
                trunk=None
                if self.callbacks.trunk is None
                else TrunkConfig(
                    host=self.callbacks.trunk.host,
                    port=self.callbacks.trunk.port,
                    number_format=self.callbacks.trunk.number_format,
                    prefix=self.callbacks.trunk.prefix,
                ),
                ring_timeout=self.callbacks.ring_timeout,
                answer_after=self.callbacks.simulated_citizens.answer_after,
                talk_seconds=self.callbacks.simulated_citizens.talk_seconds,
                booking_slot_s=self.callbacks.booking.slot_min * 60.0,
                booking_share=self.callbacks.booking.share,
            ),
        )


# --- what the engine reads ----------------------------------------------------------------------


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
class MqttConfig:
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    topic_prefix: str  # topics are <prefix>/status, <prefix>/centre, <prefix>/skill/<id>, ...
    tls_ca: Path | None  # None: no TLS
    queue: int  # messages held while the broker lags; beyond, dropped and counted
    keepalive: int


@dataclass(frozen=True, slots=True)
class RecordsConfig:
    path: Path  # the SQLite file of calls and operators' state changes
    retention_days: int


@dataclass(frozen=True, slots=True)
class DesksConfig:
    store: Path  # the SQLite file of operators' desks
    restore_within: float  # seconds: older desks are not put back at start


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
    # (priority, seconds): head starts instead of strict priority classes; () strict.
    priority_head_start: tuple[tuple[int, float], ...] = ()


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
class TrunkConfig:
    host: str
    port: int
    number_format: str  # "e164" or "national"
    prefix: str  # digits dialled before the number


@dataclass(frozen=True, slots=True)
class CallbacksConfig:
    policy: CallbackPolicy
    store: Path  # the SQLite file of callbacks (and, beside it, the key for number keys)
    dial: str  # "sim": a Local channel in the sandbox answers as the citizen; "trunk": `trunk`
    ring_timeout: float  # seconds the citizen's phone rings before the attempt is unanswered
    answer_after: float  # simulated citizens: seconds of ringing before they answer
    talk_seconds: float  # simulated citizens: how long they talk
    trunk: TrunkConfig | None = None  # with dial "trunk"
    booking_slot_s: float = 1800.0  # booked callbacks' slots
    booking_share: float = 0.25  # of a slot's handling time that bookings may take


@dataclass(frozen=True, slots=True)
class WebToken:
    role: str  # "supervisor", "operator" or "viewer"
    id: str  # the operator's id for an operator
    name: str
    token: str = field(repr=False)
    phone: str | None = None  # a supervisor's phone: "sim" or "pjsip"
    token_file: str | None = None  # where the token was read from, if from a file
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class WebConfig:
    tokens: tuple[WebToken, ...] = ()
    # figure -> (amber, red): service_level, longest_wait_s, abandon_rate, waiting, lines_in_use
    thresholds: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    pause_reasons: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # code -> language -> name
    dispositions: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


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
    callbacks: CallbacksConfig | None = None  # None: never offered
    mqtt: MqttConfig | None = None  # None: no live feed
    records: RecordsConfig | None = None  # None: no history kept
    desks: DesksConfig | None = None  # None: operators' desks not kept across restarts
    web: WebConfig = field(default_factory=WebConfig)
    deployment: str = "production"  # or "sandbox" (centre.deployment)

    def operator(self, operator_id: str) -> OperatorConfig:
        for op in self.operators:
            if op.id == operator_id:
                return op
        raise KeyError(operator_id)

    def ivr_keys(self, language: str, skill: str) -> str:
        """The keys a caller presses to reach `skill` in `language`: the language menu's
        digit, then the service menu's (ValueError if a menu has no choice for it)."""
        menus = (("language", language, self.ivr.language_menu), ("service", skill, self.ivr.service_menu))
        keys = ""
        for what, value, menu in menus:
            digit = next((d for d, choice in menu.options.items() if choice == value), None)
            if digit is None:
                choices = ", ".join(menu.options.values())
                raise ValueError(f"the IVR's {what} menu has no choice for {value!r} (it has: {choices})")
            keys += digit
        return keys


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a centre configuration file; raise ConfigError on any problem."""
    return parse_config(read_yaml(path), str(path))


def parse_config(raw: object, file: str = "<config>") -> Config:
    """Validate already-parsed YAML data (a mapping) into a Config."""
    return validated(_CentreFile, raw, file).config(file)
