# Configuration loading. Rules: every bad-file case starts from the shipped config/010.yaml,
# changes one thing in a deep copy, and checks that the ConfigError names the field (as a
# path) and the bad value, so a message always points a person at the line to fix.
from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from contactcenter import cli
from contactcenter.config import CALLBACK_PROMPTS, Config, ConfigError, load_config, parse_config

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "010.yaml"

Raw = dict[str, Any]


@pytest.fixture(scope="module")
def shipped_raw() -> Raw:
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def write(tmp_path: Path, raw: object, name: str = "centre.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def load_mutated(tmp_path: Path, shipped_raw: Raw, mutate: Callable[[Raw], None]) -> ConfigError:
    raw = copy.deepcopy(shipped_raw)
    mutate(raw)
    path = write(tmp_path, raw)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert err.file == str(path)
    return err


# --- the shipped file ---------------------------------------------------------------------


def test_shipped_config_loads() -> None:
    cfg = load_config(SHIPPED)
    assert cfg.path == str(SHIPPED)
    assert cfg.name == "010 Barcelona"
    assert cfg.lines == 220
    assert cfg.languages == ("ca", "es", "en")
    assert set(cfg.skills) == {"info", "tramits", "tributs"}
    assert cfg.ami.host == "127.0.0.1" and cfg.ami.port == 5038
    assert cfg.sip.rtp_ports == (20000, 20999)
    assert cfg.routing.ring_timeout == 15.0 and cfg.routing.wrap_up == 10.0
    assert [op.id for op in cfg.operators] == ["ana", "jordi", "marta", "pau", "laia", "oriol"]
    ana = cfg.operator("ana")
    assert dict(ana.skills) == {"info": 1, "tramits": 2}
    assert ana.languages == ("ca", "es", "en")
    assert ana.endpoint == "sim" and ana.secret is None
    assert dict(cfg.ivr.language_menu.options) == {"1": "ca", "2": "es", "3": "en"}
    # The language menu has no explicit default: it falls back to ivr.default_language.
    assert cfg.ivr.language_menu.default == "ca"
    assert cfg.ivr.service_menu.default == "info"
    assert set(cfg.ivr.prompts) == {
        "language-menu",
        "service-menu",
        "invalid",
        "hold",
        "busy",
        "closed",
        "position",
        "wait-about",
        "minutes",
    } | {f"callback-{name}" for name in CALLBACK_PROMPTS}
    # Callbacks: on, with the policy the file states.
    assert cfg.callbacks is not None
    assert cfg.callbacks.policy.offer_after_ewt_s == 120 and cfg.callbacks.policy.attempts == 3
    assert cfg.callbacks.policy.expire_after_s == 8 * 3600 and cfg.callbacks.dial == "sim"
    assert cfg.hours is not None and cfg.hours.open.hour == 7 and cfg.hours.close.hour == 23
    assert cfg.routing.relaxation == ((0, 1), (30, 2), (90, 9))
    with pytest.raises(KeyError):
        cfg.operator("nobody")


def test_round_trip_through_yaml_is_unchanged(tmp_path: Path, shipped_raw: Raw) -> None:
    # The helper that writes mutated files must not itself change the meaning of the file,
    # or every error test below would be testing the helper.
    assert load_config(write(tmp_path, shipped_raw)).operators == load_config(SHIPPED).operators


def test_operator_skills_as_a_list_mean_level_one(tmp_path: Path, shipped_raw: Raw) -> None:
    raw = copy.deepcopy(shipped_raw)
    raw["operators"][1]["skills"] = ["info", "tributs"]
    cfg = load_config(write(tmp_path, raw))
    assert dict(cfg.operators[1].skills) == {"info": 1, "tributs": 1}


def test_secret_from_environment(tmp_path: Path, shipped_raw: Raw, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = copy.deepcopy(shipped_raw)
    del raw["ami"]["secret_file"]
    raw["ami"]["secret_env"] = "CC_TEST_AMI_SECRET"
    path = write(tmp_path, raw)
    monkeypatch.setenv("CC_TEST_AMI_SECRET", "from-env")
    assert load_config(path).ami.secret == "from-env"
    monkeypatch.delenv("CC_TEST_AMI_SECRET")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert (info.value.field, info.value.value) == ("ami.secret_env", "CC_TEST_AMI_SECRET")


def test_parse_config_without_a_file_names_a_placeholder(shipped_raw: Raw) -> None:
    raw = copy.deepcopy(shipped_raw)
    raw["centre"]["lines"] = 0
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert (info.value.file, info.value.field, info.value.value) == ("<config>", "centre.lines", 0)


# --- one thing wrong at a time ------------------------------------------------------------


def _del(*path: str | int) -> Callable[[Raw], None]:
    def mutate(raw: Raw) -> None:
        node: Any = raw
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


def _set(value: object, *path: str | int) -> Callable[[Raw], None]:
    def mutate(raw: Raw) -> None:
        node: Any = raw
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _duplicate_operator(raw: Raw) -> None:
    raw["operators"].append({**raw["operators"][0], "name": "Ana bis"})


BAD_FIELDS = [
    # missing required fields: the value reported is None
    pytest.param(_del("centre", "lines"), "centre.lines", None, "missing", id="missing-lines"),
    pytest.param(_del("ami"), "ami", None, "missing", id="missing-ami"),
    pytest.param(_del("ami", "username"), "ami.username", None, "missing", id="missing-ami-username"),
    pytest.param(_del("operators", 2, "id"), "operators[2].id", None, "missing", id="missing-op-id"),
    # wrong types
    pytest.param(_set("many", "centre", "lines"), "centre.lines", "many", "integer", id="lines-str"),
    pytest.param(_set(True, "ami", "port"), "ami.port", True, "integer", id="port-bool"),
    pytest.param(_set(5.5, "centre", "lines"), "centre.lines", 5.5, "integer", id="lines-float"),
    pytest.param(_set("soon", "routing", "wrap_up"), "routing.wrap_up", "soon", "number", id="wrap-up-str"),
    pytest.param(_set([1, 2], "ami"), "ami", [1, 2], "mapping", id="ami-list"),
    pytest.param(_set("ca", "languages"), "languages", "ca", "list", id="languages-str"),
    # out of range
    pytest.param(_set(70000, "ami", "port"), "ami.port", 70000, "between", id="port-70000"),
    pytest.param(_set(0, "http", "port"), "http.port", 0, "between", id="port-0"),
    pytest.param(_set(0, "centre", "lines"), "centre.lines", 0, "between", id="lines-0"),
    pytest.param(_set(0.5, "routing", "ring_timeout"), "routing.ring_timeout", 0.5, "between", id="ring-0.5"),
    pytest.param(
        _set({"info": 10}, "operators", 0, "skills"), "operators[0].skills.info", 10, "between", id="level-10"
    ),
    # references to things that do not exist
    pytest.param(
        _set({"info": 1, "parking": 2}, "operators", 3, "skills"),
        "operators[3].skills",
        "parking",
        "unknown skill",
        id="unknown-op-skill",
    ),
    pytest.param(
        _set(["parking"], "operators", 1, "skills"),
        "operators[1].skills",
        "parking",
        "unknown skill",
        id="unknown-op-skill-list",
    ),
    pytest.param(_set(["ca", "fr"], "languages"), "languages[1]", "fr", "unsupported", id="unknown-language"),
    pytest.param(
        _set(["ca", "fr"], "operators", 1, "languages"),
        "operators[1].languages[1]",
        "fr",
        "not one of",
        id="op-language-not-in-centre",
    ),
    pytest.param(_duplicate_operator, "operators[6].id", "ana", "duplicate", id="duplicate-operator"),
    pytest.param(
        _set("parking", "ivr", "service_menu", "options", "2"),
        "ivr.service_menu.options.2",
        "parking",
        "unknown skill",
        id="menu-unknown-skill",
    ),
    pytest.param(
        _set("fr", "ivr", "language_menu", "options", "3"),
        "ivr.language_menu.options.3",
        "fr",
        "unknown language",
        id="menu-unknown-language",
    ),
    pytest.param(
        _set("info", "ivr", "service_menu", "options", "12"),
        "ivr.service_menu.options",
        "12",
        "single DTMF digit",
        id="menu-two-digit-key",
    ),
    pytest.param(
        _del("ivr", "prompts", "hold", "en"),
        "ivr.prompts.hold.en",
        None,
        "missing",
        id="prompt-missing-language",
    ),
    pytest.param(_del("ivr", "prompts", "busy"), "ivr.prompts.busy", None, "missing", id="prompt-missing"),
    pytest.param(
        _set({"ca": "x", "es": "y", "en": "z"}, "ivr", "prompts", "goodbye"),
        "ivr.prompts.goodbye",
        {"ca": "x", "es": "y", "en": "z"},
        "unknown field",
        id="prompt-unknown",
    ),
    # security-relevant values
    pytest.param(_set("10.0.0.5", "ami", "host"), "ami.host", "10.0.0.5", "loopback", id="ami-host-lan"),
    pytest.param(_set("0.0.0.0", "ami", "host"), "ami.host", "0.0.0.0", "loopback", id="ami-host-any"),
    pytest.param(
        _set("pbx.example.org", "ami", "host"), "ami.host", "pbx.example.org", "loopback", id="ami-host-name"
    ),
    pytest.param(
        _set("a\r\nAction: Originate", "ami", "secret"),
        "ami.secret",
        "a\r\nAction: Originate",
        "line breaks",
        id="secret-crlf",
    ),
    pytest.param(
        _set("Ana", "operators", 0, "id"), "operators[0].id", "Ana", "must match", id="op-id-charset"
    ),
    pytest.param(
        _set("iax2", "operators", 0, "endpoint"),
        "operators[0].endpoint",
        "iax2",
        "expected",
        id="op-endpoint",
    ),
    pytest.param(
        _set("pjsip", "operators", 0, "endpoint"),
        "operators[0].secret",
        None,
        "missing",
        id="pjsip-without-secret",
    ),
    pytest.param(
        _set([20000, 20005], "sip", "rtp_ports"),
        "sip.rtp_ports",
        [20000, 20005],
        "at least 10",
        id="rtp-narrow",
    ),
    pytest.param(
        _set(20, "simulated_operators", "ring_delay"),
        "simulated_operators.ring_delay",
        20.0,
        "shorter than routing.ring_timeout",
        id="ring-delay-longer-than-timeout",
    ),
    # values of a type that cannot even be looked up (unhashable): still a ConfigError
    pytest.param(
        _set(["info"], "ivr", "service_menu", "options", "1"),
        "ivr.service_menu.options.1",
        ["info"],
        "expected a string",
        id="menu-target-list",
    ),
    pytest.param(_set([["ca"]], "languages"), "languages[0]", ["ca"], "unsupported", id="language-list"),
    pytest.param(
        _set([["info"]], "operators", 0, "skills"),
        "operators[0].skills[0]",
        ["info"],
        "string",
        id="skill-list",
    ),
    # relaxation steps (bullseye): start at 0 s, then later and wider each time
    pytest.param(
        _set([{"after": 10, "max_level": 1}], "routing", "relaxation"),
        "routing.relaxation[0].after",
        10.0,
        "first step",
        id="relax-first-not-0",
    ),
    pytest.param(
        _set({"after": 0, "max_level": 1}, "routing", "relaxation"),
        "routing.relaxation",
        {"after": 0, "max_level": 1},
        "list",
        id="relax-not-list",
    ),
    pytest.param(
        _set([{"after": 0, "max_level": 2}, {"after": 30, "max_level": 1}], "routing", "relaxation"),
        "routing.relaxation[1]",
        {"after": 30, "max_level": 1},
        "higher level",
        id="relax-narrows",
    ),
    pytest.param(
        _set([{"after": 0, "max_level": 1}, {"after": 0, "max_level": 2}], "routing", "relaxation"),
        "routing.relaxation[1]",
        {"after": 0, "max_level": 2},
        "later",
        id="relax-same-time",
    ),
    pytest.param(
        _del("routing", "relaxation", 1, "max_level"),
        "routing.relaxation[1].max_level",
        None,
        "missing",
        id="relax-missing-level",
    ),
    # opening hours
    pytest.param(
        _set("Europe/Barcelona", "hours", "timezone"),
        "hours.timezone",
        "Europe/Barcelona",
        "unknown time zone",
        id="hours-bad-tz",
    ),
    pytest.param(_set("7h", "hours", "open"), "hours.open", "7h", "HH:MM", id="hours-bad-open"),
    pytest.param(_set("24:30", "hours", "close"), "hours.close", "24:30", "HH:MM", id="hours-24-30"),
    pytest.param(
        _set("06:00", "hours", "close"), "hours.close", "06:00", "after hours.open", id="hours-inverted"
    ),
    # YAML reads an unquoted 23:00 as 1380 (base 60): the message must say why.
    pytest.param(_set(1380, "hours", "close"), "hours.close", 1380, "in quotes", id="hours-unquoted"),
    pytest.param(
        _set(["mon", "dll"], "hours", "weekdays"), "hours.weekdays[1]", "dll", "one of", id="hours-day"
    ),
    pytest.param(
        _set({12: 60}, "routing", "priority_head_start_s"),
        "routing.priority_head_start_s",  # (a key out of range: the mapping, the key its value)
        12,
        "between",
        id="priority-12",
    ),
    pytest.param(
        _set({1: -5}, "routing", "priority_head_start_s"),
        "routing.priority_head_start_s[1]",
        -5,
        "between",
        id="head-start-negative",
    ),
    pytest.param(
        _set({"info": 10.0, "vip": 5}, "desks"), "desks.info", 10.0, "unknown field", id="desks-unknown-key"
    ),
    pytest.param(
        _set({"restore_within": -1}, "desks"),
        "desks.restore_within",
        -1,
        "between",
        id="desks-restore-negative",
    ),
    pytest.param(
        _set(["2026-12-25", "2026-13-01"], "hours", "holidays"),
        "hours.holidays[1]",
        "2026-13-01",
        "YYYY-MM-DD",
        id="hours-bad-holiday",
    ),
]


@pytest.mark.parametrize(("mutate", "field", "value", "problem"), BAD_FIELDS)
def test_bad_field_is_named_with_its_value(
    tmp_path: Path,
    shipped_raw: Raw,
    mutate: Callable[[Raw], None],
    field: str,
    value: object,
    problem: str,
) -> None:
    err = load_mutated(tmp_path, shipped_raw, mutate)
    assert err.field == field
    assert err.value == value and type(err.value) is type(value)
    assert problem in err.problem
    # The one-line message a person reads carries all three.
    message = str(err)
    assert str(err.file) in message and field in message and repr(value) in message
    assert "\n" not in message


def test_unquoted_clock_times_in_yaml_are_explained(tmp_path: Path) -> None:
    # The same trap through the real YAML parser, not a value set in Python.
    text = SHIPPED.read_text(encoding="utf-8").replace('close: "23:00"', "close: 23:00")
    assert "close: 23:00" in text
    path = tmp_path / "unquoted.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert (info.value.field, info.value.value) == ("hours.close", 23 * 60)


def test_priority_head_starts_and_desks_are_read(tmp_path: Path, shipped_raw: Raw) -> None:
    shipped_raw["routing"]["priority_head_start_s"] = {2: 30, 1: 90.5}
    cfg = load_config(write(tmp_path, shipped_raw))
    assert cfg.routing.priority_head_start == ((1, 90.5), (2, 30.0))
    assert cfg.desks is not None and cfg.desks.restore_within == 3600.0
    del shipped_raw["routing"]["priority_head_start_s"], shipped_raw["desks"]
    cfg = load_config(write(tmp_path, shipped_raw))
    assert (cfg.routing.priority_head_start, cfg.desks) == ((), None)  # strict classes; no desks kept


def test_hours_and_relaxation_are_optional(tmp_path: Path, shipped_raw: Raw) -> None:
    raw = copy.deepcopy(shipped_raw)
    del raw["hours"], raw["routing"]["relaxation"]
    cfg = load_config(write(tmp_path, raw))
    assert cfg.hours is None and cfg.routing.relaxation == ()


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    text = SHIPPED.read_text(encoding="utf-8").splitlines()
    lineno = next(i for i, line in enumerate(text, 1) if line.startswith("  lines:"))
    text[lineno - 1] = "  lines: 220: 221"  # a second ':' on one line: not a mapping
    path = tmp_path / "broken.yaml"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.file == str(path)
    assert info.value.field == f"line {lineno}"
    assert "not valid YAML" in info.value.problem


def test_tab_indentation_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "tabs.yaml"
    path.write_text("centre:\n  name: x\n\tlines: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.field == "line 3"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert (info.value.file, info.value.field, info.value.value) == (str(path), "(file)", str(path))
    assert "cannot read" in info.value.problem


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("centre:\n  name: Informació\n".encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert (info.value.field, info.value.value) == ("(file)", str(path))
    assert "UTF-8" in info.value.problem


@pytest.mark.parametrize("text", ["", "- just\n- a list\n", "42\n"], ids=["empty", "list", "scalar"])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.field == "(top level)"
    assert info.value.value == yaml.safe_load(text)


# --- the command line ---------------------------------------------------------------------


def _run_cli(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, str, str]:
    code = cli.main(["run", "--config", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_reports_a_bad_config_in_one_line(
    tmp_path: Path, shipped_raw: Raw, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = copy.deepcopy(shipped_raw)
    raw["ami"]["port"] = 70000
    bad = write(tmp_path, raw, "bad.yaml")
    code, out, err = _run_cli(capsys, bad)
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert str(bad) in lines[0] and "ami.port" in lines[0] and "70000" in lines[0]
    assert "Traceback" not in err


def test_cli_reports_a_missing_config_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.yaml"
    code, out, err = _run_cli(capsys, missing)
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1 and str(missing) in err and "(file)" in err
    assert "Traceback" not in err


def test_cli_one_line_even_when_the_bad_value_has_a_line_break(
    tmp_path: Path, shipped_raw: Raw, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = copy.deepcopy(shipped_raw)
    raw["centre"]["name"] = "010\nAction: Originate"
    code, _, err = _run_cli(capsys, write(tmp_path, raw, "crlf.yaml"))
    assert code == 2
    assert len(err.splitlines()) == 1 and "centre.name" in err


# --- what the schema refuses that hand-written checks let through (issue 7, item 6) ---------

# Every mapping of the file whose keys are fields (not skill ids, languages or digits).
FIELD_MAPPINGS = [
    (),
    ("centre",),
    ("ami",),
    ("sip",),
    ("http",),
    ("routing",),
    ("routing", "relaxation", 0),
    ("ivr",),
    ("ivr", "language_menu"),
    ("ivr", "service_menu"),
    ("ivr", "prompts"),
    ("operators", 0),
    ("simulated_operators",),
    ("hours",),
]


def _path(keys: tuple[str | int, ...]) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in keys).removeprefix(".")


@pytest.mark.parametrize("where", FIELD_MAPPINGS, ids=lambda w: _path(w) or "top")
def test_unknown_keys_are_refused_everywhere(
    tmp_path: Path, shipped_raw: Raw, where: tuple[str | int, ...]
) -> None:
    def mutate(raw: Raw) -> None:
        node: Any = raw
        for key in where:
            node = node[key]
        node["zzz_unheard_of"] = 1

    err = load_mutated(tmp_path, shipped_raw, mutate)
    assert err.field == _path((*where, "zzz_unheard_of"))
    assert err.value == 1 and "unknown field" in err.problem


def _rename(new: str, *path: str | int) -> Callable[[Raw], None]:
    def mutate(raw: Raw) -> None:
        node: Any = raw
        for key in path[:-1]:
            node = node[key]
        node[new] = node.pop(path[-1])

    return mutate


def _add(key: str, value: object, *path: str | int) -> Callable[[Raw], None]:
    def mutate(raw: Raw) -> None:
        node: Any = raw
        for k in path:
            node = node[k]
        node[key] = value

    return mutate


@pytest.mark.parametrize(
    ("mutate", "field", "meant"),
    [
        # the three the issue found: an always-open centre, no relaxation, a simulated "real" phone
        pytest.param(_rename("hour", "hours"), "hour", "hours", id="hour"),
        pytest.param(
            _rename("relaxaton", "routing", "relaxation"), "routing.relaxaton", "relaxation", id="relaxaton"
        ),
        pytest.param(
            _add("endpont", "pjsip", "operators", 0), "operators[0].endpont", "endpoint", id="endpont"
        ),
        pytest.param(
            _rename("wait_about", "ivr", "prompts", "wait-about"),
            "ivr.prompts.wait_about",
            "wait-about",
            id="prompt",
        ),
    ],
)
def test_misspelled_keys_get_a_suggestion(
    tmp_path: Path, shipped_raw: Raw, mutate: Callable[[Raw], None], field: str, meant: str
) -> None:
    err = load_mutated(tmp_path, shipped_raw, mutate)
    assert err.field == field
    assert f"did you mean `{meant}`?" in err.problem and f"did you mean `{meant}`?" in str(err)


def _write_text(tmp_path: Path, text: str, name: str = "centre.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_repeated_key_names_its_line(tmp_path: Path) -> None:
    lines = SHIPPED.read_text(encoding="utf-8").splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("  lines:"))
    lines.insert(first + 1, "  lines: 2")  # PyYAML alone would keep this one, silently
    with pytest.raises(ConfigError) as info:
        load_config(_write_text(tmp_path, "\n".join(lines) + "\n"))
    assert info.value.field == f"line {first + 2}" and info.value.value == "lines"
    assert f"first on line {first + 1}" in info.value.problem


def test_keys_merged_by_an_alias_may_be_overridden(tmp_path: Path) -> None:
    # `<<: *base` then a key of its own is YAML's way of reusing a mapping, not a repeat.
    text = SHIPPED.read_text(encoding="utf-8").replace(
        "http:\n  host: 127.0.0.1\n  port: 8010\n", "http:\n  <<: {host: 127.0.0.1, port: 1}\n  port: 8010\n"
    )
    assert "<<:" in text
    assert load_config(_write_text(tmp_path, text)).http.port == 8010


def _holidays(text: str) -> str:
    shipped = SHIPPED.read_text(encoding="utf-8")
    line = "  holidays: [2026-12-25, 2026-12-26, 2027-01-01, 2027-01-06]"
    assert line in shipped
    return shipped.replace(line, f"  holidays: [{text}]")


@pytest.mark.parametrize("written", ["2026-12-25 10:00", "2026-12-25T10:00:00", '"2026-12-25 10:00"'])
def test_a_holiday_with_a_time_is_refused(tmp_path: Path, written: str) -> None:
    # Unquoted, YAML made it a datetime, which never equals the date being checked: the day
    # stayed open.
    with pytest.raises(ConfigError) as info:
        load_config(_write_text(tmp_path, _holidays(written)))
    assert info.value.field == "hours.holidays[0]" and "without a time" in info.value.problem


def test_a_holiday_given_as_a_datetime_in_python_is_refused(shipped_raw: Raw) -> None:
    import datetime as dt

    raw = copy.deepcopy(shipped_raw)
    raw["hours"]["holidays"] = [dt.datetime(2026, 12, 25, 10, 0)]
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert info.value.field == "hours.holidays[0]"


@pytest.mark.parametrize("written", ["2026-02-30", '"2026-02-30"'])
def test_an_impossible_date_is_a_config_error(tmp_path: Path, written: str) -> None:
    # Unquoted, PyYAML's timestamp constructor raised ValueError: a traceback.
    with pytest.raises(ConfigError) as info:
        load_config(_write_text(tmp_path, _holidays(f"2026-12-25, {written}")))
    assert (info.value.field, info.value.value) == ("hours.holidays[1]", "2026-02-30")
    assert "YYYY-MM-DD" in info.value.problem


def test_dates_mean_the_same_quoted_or_not(tmp_path: Path) -> None:
    quoted = load_config(_write_text(tmp_path, _holidays('"2026-12-25", "2027-01-06"'), "q.yaml"))
    bare = load_config(_write_text(tmp_path, _holidays("2026-12-25, 2027-01-06"), "b.yaml"))
    assert quoted.hours is not None and bare.hours is not None
    assert quoted.hours.holidays == bare.hours.holidays and len(bare.hours.holidays) == 2


@pytest.mark.parametrize("depth", [100, 50_000])
def test_deep_nesting_is_a_config_error(tmp_path: Path, depth: int) -> None:
    # 50,000 levels were a RecursionError in PyYAML's composer.
    text = SHIPPED.read_text(encoding="utf-8") + "extra: " + "[" * depth + "]" * depth + "\n"
    with pytest.raises(ConfigError) as info:
        load_config(_write_text(tmp_path, text))
    assert info.value.field.startswith("line ") and "nest" in info.value.problem


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a: &a [*a]\n", "contains itself"),
        (
            "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdef", "bcdefg", strict=True)
            ),
            "more than",
        ),  # ten million values from a few lines ("billion laughs")
    ],
    ids=["recursive", "expanding"],
)
def test_runaway_aliases_are_refused(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_write_text(tmp_path, text))
    assert info.value.field.startswith("line ") and problem in info.value.problem


def test_a_huge_value_is_shown_cut_short(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    huge = "x" * 10_000_000
    text = SHIPPED.read_text(encoding="utf-8").replace("\ncentre:\n", f"\ncentre:\n  nmae: {huge}\n")
    path = _write_text(tmp_path, text)
    code, _, err = _run_cli(capsys, path)
    assert code == 2 and len(err.splitlines()) == 1
    assert "centre.nmae" in err and "did you mean `name`?" in err and len(err) < 500 + len(str(path))


def test_a_menu_skill_nobody_has_is_refused(tmp_path: Path, shipped_raw: Raw) -> None:
    raw = copy.deepcopy(shipped_raw)
    digit = next(d for d, s in raw["ivr"]["service_menu"]["options"].items() if s == "tributs")
    for op in raw["operators"]:
        op["skills"].pop("tributs", None)
        if not op["skills"]:
            op["skills"] = {"info": 1}
    with pytest.raises(ConfigError) as info:
        parse_config(raw, "c.yaml")
    assert (info.value.field, info.value.value) == (f"ivr.service_menu.options.{digit}", "tributs")
    assert "no operator has this skill" in info.value.problem


def test_a_menu_default_nobody_has_is_refused(shipped_raw: Raw) -> None:
    raw = copy.deepcopy(shipped_raw)
    raw["skills"]["parking"] = {"ca": "Aparcament", "es": "Aparcamiento", "en": "Parking"}
    raw["ivr"]["service_menu"]["default"] = "parking"
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert (info.value.field, info.value.value) == ("ivr.service_menu.default", "parking")


def test_a_language_nobody_speaks_for_a_menu_skill_is_refused(shipped_raw: Raw) -> None:
    raw = copy.deepcopy(shipped_raw)
    for op in raw["operators"]:
        if "tributs" in op["skills"]:
            op["languages"] = [lang for lang in op["languages"] if lang != "en"]
    digit = next(d for d, s in raw["ivr"]["service_menu"]["options"].items() if s == "tributs")
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert (info.value.field, info.value.value) == (f"ivr.service_menu.options.{digit}", "tributs")
    assert "speaks en" in info.value.problem  # which language


def test_every_shipped_menu_choice_has_an_operator(test_config: Config) -> None:
    # The rule above holds for the files the project ships (the demo and the tests' centre).
    for cfg in (load_config(SHIPPED), test_config):
        for skill in cfg.ivr.service_menu.options.values():
            for lang in cfg.languages:
                assert any(skill in op.skills and lang in op.languages for op in cfg.operators)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        pytest.param(_add("secret", "s3cret", "operators", 0), "operators[0].endpoint", id="secret-on-sim"),
        pytest.param(_add("secret_env", "CC_X", "ami"), "ami.secret_file", id="secret-file-and-env"),
        pytest.param(_set(["ca", "ca"], "languages"), "languages[1]", id="language-twice"),
        pytest.param(
            _set(["info", "info"], "operators", 0, "skills"), "operators[0].skills[1]", id="skill-twice"
        ),
        pytest.param(_set(5.0, "ivr", "menu_timeout"), "ivr.menu_timeout", id="integer-as-float"),
        pytest.param(_set("5", "ami", "port"), "ami.port", id="number-as-text"),
    ],
)
def test_ambiguous_or_loose_values_are_refused(
    tmp_path: Path, shipped_raw: Raw, mutate: Callable[[Raw], None], field: str
) -> None:
    assert load_mutated(tmp_path, shipped_raw, mutate).field == field


def test_one_relaxation_rule_for_the_centre_and_the_scenarios(shipped_raw: Raw) -> None:
    from contactcenter.sim.scenario import parse_scenario

    bad = [{"after": 0, "max_level": 2}, {"after": 30, "max_level": 2}]
    raw = copy.deepcopy(shipped_raw)
    raw["routing"]["relaxation"] = bad
    with pytest.raises(ConfigError) as centre:
        parse_config(raw)
    scenario = {"hours": 1, "skills": {"info": {"aht_s": 60, "arrivals_per_h": 10}}, "operators": 1}
    with pytest.raises(ConfigError) as sim:
        parse_scenario({**scenario, "relaxation": bad})
    assert centre.value.field == "routing.relaxation[1]" and sim.value.field == "relaxation[1]"
    assert centre.value.problem == sim.value.problem and centre.value.value == sim.value.value == bad[1]


def test_callbacks_section_errors_name_the_field() -> None:
    import yaml

    raw = yaml.safe_load(SHIPPED.read_text())
    raw["callbacks"]["by_skill"] = {"infos": 60}
    with pytest.raises(ConfigError) as e:
        parse_config(raw, "010.yaml")
    assert (e.value.field, e.value.value) == ("callbacks.by_skill", "infos")
    raw = yaml.safe_load(SHIPPED.read_text())
    del raw["callbacks"]["prompts"]["confirm"]["es"]
    with pytest.raises(ConfigError) as e:
        parse_config(raw, "010.yaml")
    assert e.value.field == "callbacks.prompts.confirm.es"
    raw = yaml.safe_load(SHIPPED.read_text())
    raw["callbacks"]["atempts"] = 3
    with pytest.raises(ConfigError, match="attempts"):
        parse_config(raw, "010.yaml")
    raw = yaml.safe_load(SHIPPED.read_text())
    raw["callbacks"]["dial"] = "pstn"
    with pytest.raises(ConfigError) as e:
        parse_config(raw, "010.yaml")
    assert e.value.field == "callbacks.dial"


def test_a_trunk_for_callbacks_is_checked_and_named() -> None:
    import yaml

    def load(callbacks: dict[str, object]) -> Config:
        raw = yaml.safe_load(SHIPPED.read_text())
        raw["callbacks"].update(callbacks)
        return parse_config(raw, "010.yaml")

    cfg = load({"dial": "trunk", "trunk": {"host": "::1", "port": 5070, "number_format": "national"}})
    assert cfg.callbacks is not None and cfg.callbacks.trunk is not None
    assert (cfg.callbacks.dial, cfg.callbacks.trunk.host, cfg.callbacks.trunk.port) == ("trunk", "::1", 5070)
    assert (cfg.callbacks.trunk.number_format, cfg.callbacks.trunk.prefix) == ("national", "")
    cases: list[tuple[dict[str, object], str, object]] = [
        ({"dial": "trunk"}, "callbacks.trunk", None),  # dial: trunk needs one
        ({"trunk": {"host": "127.0.0.1"}}, "callbacks.dial", "sim"),  # a trunk the sim ignores
        ({"dial": "trunk", "trunk": {"host": "gw/../x&"}}, "callbacks.trunk.host", "gw/../x&"),
        ({"dial": "trunk", "trunk": {"host": "gw", "port": 0}}, "callbacks.trunk.port", 0),
        ({"dial": "trunk", "trunk": {"host": "gw", "prefix": "9,"}}, "callbacks.trunk.prefix", "9,"),
        (
            {"dial": "trunk", "trunk": {"host": "gw", "number_format": "e.164"}},
            "callbacks.trunk.number_format",
            "e.164",
        ),
    ]
    for callbacks, field, value in cases:
        with pytest.raises(ConfigError) as e:
            load(callbacks)
        assert (e.value.field, e.value.value) == (field, value), callbacks
