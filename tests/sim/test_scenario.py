# Scenario files and flags: examples load, and each kind of mistake is reported as a
# ConfigError that names the file, the field and the bad value.
from __future__ import annotations

import math
from pathlib import Path

import pytest

from contactcenter.config import ConfigError
from contactcenter.sim.scenario import FLAGS, Scenario, load_scenario, parse_flags, parse_scenario, trace_days

EXAMPLES = Path(__file__).resolve().parents[2] / "sim" / "scenarios"

GOOD = {
    "hours": 2,
    "skills": {"info": {"aht_s": 120, "arrivals_per_h": 100, "languages": {"ca": 0.7, "es": 0.3}}},
    "operators": [
        {"name": "a", "count": 3, "skills": {"info": 1}, "languages": ["ca", "es"], "shift": [0, 8]}
    ],
}


def with_(path: str, value: object) -> dict[str, object]:
    """GOOD with one field replaced (path like `skills.info.aht_s` or `operators.0.count`)."""
    import copy

    data: dict[str, object] = copy.deepcopy(GOOD)
    node: object = data
    *parents, last = path.split(".")
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]  # type: ignore[index]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value  # type: ignore[index]
    return data


def test_examples_load() -> None:
    names = sorted(p.name for p in EXAMPLES.glob("*.yaml"))
    assert {"010-weekday.yaml", "mmn-200erl.yaml"} <= set(names)
    for p in EXAMPLES.glob("*.yaml"):
        sc = load_scenario(p)
        assert sc.source == str(p) and sc.operator_count > 0
    weekday = load_scenario(EXAMPLES / "010-weekday.yaml")
    assert [s.name for s in weekday.skills] == ["info", "tramits", "tributs"]
    assert all(len(s.arrivals_per_h) == 24 for s in weekday.skills) and weekday.lines == 220
    assert 5_000 < weekday.expected_calls() < 8_000
    mmn = load_scenario(EXAMPLES / "mmn-200erl.yaml")
    assert mmn.skills[0].patience_s is None and mmn.operator_count == 210 and mmn.lines is None


def test_good_scenario_fields() -> None:
    sc = parse_scenario(GOOD, "x.yaml")
    assert sc.skills[0].languages == (("ca", 0.7), ("es", 0.3))
    assert sc.operators[0].shift == (0.0, 8.0) and sc.operators[0].skills == (("info", 1),)
    assert (sc.start_s, sc.end_s) == (0.0, 7200.0)
    assert parse_scenario({**GOOD, "operators": 4}, "x.yaml").operators[0].languages == ("ca", "es")


@pytest.mark.parametrize(
    ("data", "field", "problem"),
    [
        ({**GOOD, "hourz": 3}, "hourz", "unknown field"),
        (with_("hours", 0), "hours", "must be >"),
        (with_("skills.info.aht_s", "long"), "skills.info.aht_s", "expected a number"),
        (with_("skills.info.arrivals_per_h", [1, 2, 3]), "skills.info.arrivals_per_h", "24 hourly rates"),
        (with_("skills.info.arrivals_per_h", -5), "skills.info.arrivals_per_h", "must be between 0 and"),
        (with_("skills.info.patience_s", 0), "skills.info.patience_s", "must be >"),
        (with_("operators.0.skills", {"infos": 1}), "operators[0].skills", "unknown skill"),
        (with_("operators.0.skills", {"info": 0}), "operators[0].skills.info", "between 1 and 9"),
        (with_("operators.0.languages", ["ca"]), "skills.info.languages", "no operator has this skill"),
        (with_("operators.0.shift", [9]), "operators[0].shift", "expected [start_hour, end_hour]"),
        (with_("operators.0.shift", [9, 8]), "operators[0].shift[1]", "must be >"),
        ({**GOOD, "operators": "many"}, "operators", "expected a number of operators"),
        ({**GOOD, "service": {"dist": "gamma"}}, "service.dist", "expected one of"),
        ({**GOOD, "wrap_up_s": 200}, "skills.info.aht_s", "must be >"),  # AHT includes wrap-up
        ({**GOOD, "trace": {"day": "yesterday"}}, "trace.day", "busiest, all, or a date"),
        ({**GOOD, "trace": {"day": "busiest"}}, "skills.info.arrivals_per_h", "not allowed with `trace`"),
        ({**GOOD, "relaxation": [{"after": 5, "max_level": 1}]}, "relaxation[0].after", "start at after: 0"),
        ({**GOOD, "skills": {}}, "skills", "at least one skill"),
        ([1, 2], "(top level)", "expected a mapping"),
    ],
)
def test_errors_name_the_field(data: object, field: str, problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_scenario(data, "bad.yaml")
    assert err.value.file == "bad.yaml"
    assert err.value.field == field
    assert problem in err.value.problem


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_scenario(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("hours: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML") as err:
        load_scenario(bad)
    assert err.value.field.startswith("line ")


def test_quick_and_overrides() -> None:
    sc = Scenario.quick(arrival_rate=100, aht=180, operators=5, patience=60.0)
    assert sc.lines is None and sc.skills[0].patience_s == 60.0 and sc.hours == 8
    over = sc.override(patience="none", operators=7, hours=1.5, seed=9, lines=30)
    assert over.skills[0].patience_s is None and over.operator_count == 7
    assert (over.hours, over.seed, over.lines) == (1.5, 9, 30)
    assert sc.override() == sc
    with pytest.raises(ConfigError) as err:
        Scenario.quick(arrival_rate=100, aht=180, operators=0)
    assert (err.value.file, err.value.field) == (FLAGS, "--operators")
    with pytest.raises(ConfigError, match="one-skill"):
        load_scenario(EXAMPLES / "010-weekday.yaml").override(arrival_rate=100)
    with pytest.raises(ConfigError, match="one operator group"):
        load_scenario(EXAMPLES / "010-weekday.yaml").override(operators=10)
    with pytest.raises(ConfigError) as err:
        sc.override(service_dist="gamma")
    assert err.value.field == "--service-dist"
    assert math.isclose(load_scenario(EXAMPLES / "mmn-200erl.yaml").override(aht=200).skills[0].aht_s, 200)


def test_flags_from_the_command_line() -> None:
    got = parse_flags(
        {"arrival_rate": "4000", "operators": "210", "patience": "none", "seed": "0", "hours": None}
    )
    assert got == {"arrival_rate": 4000.0, "operators": 210, "patience": "none", "seed": 0}
    assert Scenario.quick(aht=180, **got).skills[0].patience_s is None
    for name, text in (("operators", "2.5"), ("aht", "0"), ("patience", "soon"), ("service_dist", "gamma")):
        with pytest.raises(ConfigError) as err:
            parse_flags({name: text})
        assert err.value.field == "--" + name.replace("_", "-") and err.value.value == text


# --- one schema for files and flags (issue 7, item 6) -----------------------------------------


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_misspelled_keys_get_a_suggestion() -> None:
    with pytest.raises(ConfigError) as err:
        parse_scenario({**with_("operators.0.count", 3), "warmup_hour": 1}, "x.yaml")
    assert err.value.field == "warmup_hour" and "did you mean `warmup_hours`?" in err.value.problem
    data = with_("skills.info.aht_s", 120)
    data["skills"]["info"]["patiense_s"] = 60  # type: ignore[index]
    with pytest.raises(ConfigError) as err:
        parse_scenario(data, "x.yaml")
    assert err.value.field == "skills.info.patiense_s" and "did you mean `patience_s`?" in err.value.problem


TRACE = EXAMPLES / "trace-busiest-day.yaml"


def _trace_day(text: str) -> str:
    shipped = TRACE.read_text(encoding="utf-8")
    assert "trace: { day: busiest }" in shipped
    return shipped.replace("trace: { day: busiest }", f"trace: {{ day: {text} }}")


def test_trace_day_as_an_unquoted_date(tmp_path: Path) -> None:
    # The shipped comment suggests `day: 2010-08-05`; unquoted, YAML made it a date and the
    # scenario refused it.
    import datetime as dt

    day = sorted(trace_days())[4]
    assert load_scenario(write(tmp_path, _trace_day(day))).trace_day == day
    assert load_scenario(write(tmp_path, _trace_day(f'"{day}"'))).trace_day == day
    data = parse_scenario_data(TRACE)
    data["trace"] = {"day": dt.date.fromisoformat(day)}  # as yaml.safe_load gives it
    assert parse_scenario(data, "x.yaml").trace_day == day


def parse_scenario_data(path: Path) -> dict[str, object]:
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("day", ["2010-09-05", "1999-08-05"])
def test_a_day_the_trace_does_not_have_is_refused(tmp_path: Path, day: str) -> None:
    # It replayed 0 calls and exited 0.
    days = trace_days()
    assert day not in days
    with pytest.raises(ConfigError) as err:
        load_scenario(write(tmp_path, _trace_day(day)))
    assert (err.value.field, err.value.value) == ("trace.day", day)
    assert min(days) in err.value.problem and max(days) in err.value.problem


def test_a_trace_day_with_a_time_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_scenario(write(tmp_path, _trace_day("2010-08-05 10:00")))
    assert err.value.field == "trace.day" and "without a time" in err.value.problem


@pytest.mark.parametrize(
    ("languages", "field"),
    [([["ca", "es"]], "skills.info.languages[0]"), (["ca", "ca"], "skills.info.languages[1]")],
)
def test_languages_that_are_not_a_list_of_codes(languages: object, field: str) -> None:
    # A list inside the list crashed with TypeError (unhashable) and a traceback.
    with pytest.raises(ConfigError) as err:
        parse_scenario(with_("skills.info.languages", languages), "x.yaml")
    assert err.value.field == field


def test_deep_nesting_is_a_config_error(tmp_path: Path) -> None:
    text = "hours: 1\nskills: " + "[" * 50_000 + "]" * 50_000 + "\n"
    with pytest.raises(ConfigError) as err:
        load_scenario(write(tmp_path, text))
    assert err.value.field == "line 2"


def test_an_absurd_run_is_refused_before_it_starts() -> None:
    from contactcenter.sim.scenario import MAX_CALLS

    data = with_("skills.info.arrivals_per_h", 1e7)
    data["hours"] = 1000
    with pytest.raises(ConfigError) as err:
        parse_scenario(data, "x.yaml")
    assert err.value.field == "hours" and f"{MAX_CALLS:,}" in err.value.problem
    # The cap counts the warm-up too, and lets a big but sane run through.
    data["hours"] = MAX_CALLS / 1e7 / 2
    assert parse_scenario(data, "x.yaml").expected_calls() == pytest.approx(MAX_CALLS / 2)
    data["warmup_hours"] = MAX_CALLS / 1e7
    with pytest.raises(ConfigError):
        parse_scenario(data, "x.yaml")
    with pytest.raises(ConfigError) as err:
        Scenario.quick(arrival_rate=1e7, aht=180, operators=10)  # the default 8 h
    assert (err.value.file, err.value.field) == (FLAGS, "--hours")


# flag -> where the same value sits in a scenario file (GOOD has one skill, `info`)
FLAG_FIELDS = {
    "arrival_rate": "skills.info.arrivals_per_h",
    "aht": "skills.info.aht_s",
    "operators": "operators",
    "patience": "patience_s",
    "service_cv": "service.cv",
    "hours": "hours",
    "warmup_hours": "warmup_hours",
    "seed": "seed",
    "lines": "lines",
    "sl_threshold": "sl_threshold_s",
}


def _in_file(path: str, value: object) -> dict[str, object]:
    if path == "service.cv":
        return {**GOOD, "service": {"cv": value}}
    return with_(path, value) if "." in path else {**GOOD, path: value}


@pytest.mark.parametrize("flag", sorted(FLAG_FIELDS))
def test_flags_and_files_share_their_bounds(flag: str) -> None:
    # The flags lacked the files' upper bounds: --arrival-rate 1e308 grew memory until killed,
    # --service-cv 1e300 raised TypeError.
    integer = flag in ("operators", "seed", "lines")
    for value in (-1, 0, 1, 1e7, 1e7 + 1, 8784.5, 2**63, 1e300, 1e308):
        if integer and value != int(value):
            continue
        v: int | float = int(value) if integer else float(value)
        try:
            parse_scenario(_in_file(FLAG_FIELDS[flag], v), "x.yaml")
            file_problem = None
        except ConfigError as exc:
            file_problem = exc.problem if exc.field == FLAG_FIELDS[flag] else None
        try:
            parse_flags({flag: str(v)})
            flag_problem = None
        except ConfigError as exc:
            flag_problem = exc.problem
        if file_problem is not None and "must be" in file_problem:
            assert flag_problem == file_problem, (flag, v)
        if flag_problem is not None:
            assert file_problem == flag_problem, (flag, v)


def test_a_scenario_reads_back_from_its_yaml_data() -> None:
    # override() writes the scenario as YAML data and reads it again: that must change nothing.
    for p in EXAMPLES.glob("*.yaml"):
        sc = load_scenario(p)
        assert parse_scenario(sc.to_raw(), sc.source) == sc
    quick = Scenario.quick(arrival_rate=100, aht=180, operators=5, patience=60.0, lines=9)
    assert parse_scenario(quick.to_raw(), FLAGS) == quick


def test_a_flag_that_breaks_a_file_is_named() -> None:
    weekday = load_scenario(EXAMPLES / "010-weekday.yaml")
    with pytest.raises(ConfigError) as err:
        weekday.override(aht=5)  # below the file's wrap-up of 10 s
    assert (err.value.file, err.value.field, err.value.value) == (FLAGS, "--aht", 5)
    assert "wrap_up_s" in err.value.problem
    assert weekday.override(seed=7, hours=2).seed == 7
