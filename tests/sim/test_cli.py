# `contactcenter sim`: the flags of the issue, the JSON it writes, and one-line errors.
from __future__ import annotations

import json
from pathlib import Path

import pytest

from contactcenter.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "sim" / "scenarios"
# The keys the issue lists for --json, in its order.
ISSUE_KEYS = [
    "offered", "answered", "abandoned", "blocked", "p_wait", "asa_s", "mean_wait_s", "service_level",
    "sl_threshold_s", "aht_s", "p_abandon", "occupancy", "max_concurrent_calls", "by_skill", "by_hour",
]  # fmt: skip
QUICK = [
    "sim", "--arrival-rate", "400", "--aht", "180", "--operators", "22", "--patience", "120",
    "--service-dist", "lognormal", "--hours", "2", "--warmup-hours", "0.5", "--seed", "3",
    "--lines", "40", "--sl-threshold", "15",
]  # fmt: skip


def run_json(tmp_path: Path, args: list[str], name: str = "k.json") -> tuple[int, dict[str, object]]:
    out = tmp_path / name
    rc = main([*args, "--json", str(out)])
    return rc, json.loads(out.read_text())


def test_json_has_exactly_the_issue_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, k = run_json(tmp_path, QUICK)
    assert rc == 0
    assert list(k) == ISSUE_KEYS
    assert k["sl_threshold_s"] == 15
    assert k["offered"] == k["answered"] + k["abandoned"] + k["blocked"]  # type: ignore[operator]
    assert k["abandoned"] and 0 < k["p_wait"] < 1  # type: ignore[operator]
    assert list(k["by_skill"]) == ["general"]  # type: ignore[arg-type]
    # 0.5 h warm-up + 2 h from midnight: arrivals of hours 00 (second half), 01, 02 (first half)
    assert list(k["by_hour"]) == ["00", "01", "02"]  # type: ignore[arg-type]
    printed = capsys.readouterr().out
    assert "P(wait)" in printed and "calls simulated" in printed


def test_same_seed_identical_json_other_seed_different(tmp_path: Path) -> None:
    _, a = run_json(tmp_path, QUICK, "a.json")
    run_json(tmp_path, QUICK, "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    _, c = run_json(tmp_path, [*QUICK, "--seed", "4"], "c.json")
    assert c != a


def test_scenario_with_flags_on_top(tmp_path: Path) -> None:
    args = ["sim", "--scenario", str(EXAMPLES / "mmn-200erl.yaml"), "--hours", "0.5", "--warmup-hours", "0"]
    rc, k = run_json(tmp_path, [*args, "--operators", "230", "--quiet"])
    assert rc == 0 and 1500 < k["offered"] < 2500 and k["abandoned"] == 0  # type: ignore[operator]
    rc, k2 = run_json(tmp_path, [*args, "--operators", "195", "--patience", "30", "--quiet"], "p.json")
    assert rc == 0 and k2["abandoned"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--aht", "abc"], "--aht"),
        (["--operators", "0"], "--operators"),
        (["--operators", "2.5"], "--operators"),
        (["--patience", "-3"], "--patience"),
        (["--service-dist", "gamma"], "--service-dist"),
        (["--hours", "nan"], "--hours"),
        (["--lines", "0"], "--lines"),
        (["--warmup-hours", "-1"], "--warmup-hours"),
    ],
)
def test_bad_values_one_line_exit_2(args: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["sim", "--arrival-rate", "100", "--aht", "180", "--operators", "5"]
    assert main([*base, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err and err.startswith("contactcenter: (command line): ")


def test_missing_quick_flags_and_bad_scenario_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sim", "--aht", "180"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--arrival-rate, --operators" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("hours: 1\nskills: {info: {aht_s: -1, arrivals_per_h: 10}}\noperators: 1\n")
    assert main(["sim", "--scenario", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "skills.info.aht_s" in err and "bad.yaml" in err
    # a flag that breaks the scenario is blamed on the flag
    assert main(["sim", "--scenario", str(EXAMPLES / "010-weekday.yaml"), "--arrival-rate", "5"]) == 2
    assert "--arrival-rate" in capsys.readouterr().err
