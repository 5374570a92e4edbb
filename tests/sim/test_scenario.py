# Scenario files and flags: examples load, and each kind of mistake is reported as a
# ConfigError that names the file, the field and the bad value.
from __future__ import annotations

import math
from pathlib import Path

import pytest

from contactcenter.config import ConfigError
from contactcenter.sim.scenario import FLAGS, Scenario, load_scenario, parse_flags, parse_scenario

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
        (with_("skills.info.arrivals_per_h", -5), "skills.info.arrivals_per_h", "must be >="),
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
        ({**GOOD, "relaxation": [{"after": 5, "max_level": 1}]}, "relaxation[0]", "start at after: 0"),
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
