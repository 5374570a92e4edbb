# The staffing plan file (sim/roster.py): the periods it gives staff every half hour with the
# file's count, each kind of bad file is refused with its line and column, and a generated
# plan survives write_roster -> read_roster.
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contactcenter.config import ConfigError
from contactcenter.sim.fit import staffing_curve
from contactcenter.sim.roster import HALF_HOUR_S, INTERVALS, Roster, interval_text, read_roster, write_roster

PLAN = [  # (interval, skill, operators, away)
    ("08:00", "info", 2, "0.2"),
    ("08:30", "info", 3, "0.2"),
    ("09:00", "info", 1, ""),
    ("10:00", "info", 2, "0.25"),
    ("08:30", "tributs", 1, "0.2"),
    ("09:00", "tributs", 0, "0.3"),
    ("23:30", "tributs", 4, ""),
]


def write(tmp_path: Path, lines: list[str], name: str = "plan.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def plan_file(tmp_path: Path) -> Path:
    return write(tmp_path, ["interval,skill,operators,away"] + [f"{i},{s},{n},{a}" for i, s, n, a in PLAN])


def half_hour(text: str) -> int:
    hours, minutes = text.split(":")
    return 2 * int(hours) + int(minutes) // 30


def working(roster: Roster, skill: str, k: int) -> int:
    """Operators of skill at work during half hour k, from the roster's periods."""
    middle = (k + 0.5) * HALF_HOUR_S
    return sum(1 for p in roster.periods() if skill in p.skills and p.start_s <= middle < p.end_s)


def test_periods_staff_each_half_hour_with_the_files_count(tmp_path: Path) -> None:
    roster = read_roster(plan_file(tmp_path))
    given_counts = {(half_hour(i), s): n for i, s, n, _ in PLAN}
    for skill in ("info", "tributs"):
        for k in range(INTERVALS):
            assert working(roster, skill, k) == given_counts.get((k, skill), 0), (skill, interval_text(k))
    # The staffing curve of the periods (one day) says the same.
    curve = staffing_curve(roster.periods("2026-01-05"))
    assert {key: v for key, v in curve.items() if v} == {(s, k): n for (k, s), n in given_counts.items() if n}


def test_periods_merge_contiguous_half_hours(tmp_path: Path) -> None:
    roster = read_roster(plan_file(tmp_path))
    periods = roster.periods("2026-01-05")
    assert all(p.day == "2026-01-05" and len(p.skills) == 1 for p in periods)
    # One period per operator and run of half hours: info-1 works 08:00-09:30 and 10:00-10:30.
    info_1 = [(p.start_s, p.end_s) for p in periods if p.operator == "info-1"]
    assert info_1 == [(half_hour("08:00") * HALF_HOUR_S, half_hour("09:30") * HALF_HOUR_S),
                      (half_hour("10:00") * HALF_HOUR_S, half_hour("10:30") * HALF_HOUR_S)]  # fmt: skip
    # The last half hour's period ends at midnight.
    assert max(p.end_s for p in periods if p.skills == ("tributs",)) == INTERVALS * HALF_HOUR_S
    ids = Counter(p.operator for p in periods)
    assert set(ids) == {f"info-{k}" for k in (1, 2, 3)} | {f"tributs-{k}" for k in (1, 2, 3, 4)}


def test_away_per_half_hour(tmp_path: Path) -> None:
    away = read_roster(plan_file(tmp_path)).away()
    expected: list[float | None] = [None] * INTERVALS
    for interval, _, _, share in PLAN:
        if share:
            expected[half_hour(interval)] = float(share)
    assert away == expected


def test_without_an_away_column(tmp_path: Path) -> None:
    roster = read_roster(write(tmp_path, ["skill,operators,interval", "info,2,12:30"]))
    assert roster.away() == [None] * INTERVALS
    assert roster.operators(half_hour("12:30"), "info") == 2


@pytest.mark.parametrize(
    ("rows", "field", "value"),
    [
        (["8:15,info,2"], "line 2: interval", "8:15"),  # not on a half hour
        (["24:00,info,2"], "line 2: interval", "24:00"),  # not a time
        (["eight,info,2"], "line 2: interval", "eight"),
        (["08:00,info,2", "08:30,info,-1"], "line 3: operators", "-1"),  # negative
        (["08:00,info,2.5"], "line 2: operators", "2.5"),  # not a whole number
        (["08:00,info,"], "line 2: operators", ""),
        (["08:00,info,2", "09:00,info,1", "08:00,info,3"], "line 4: interval", "08:00"),  # duplicate
        (["08:00,info,2,1.5"], "line 2: away", "1.5"),  # outside [0, 1]
        (["08:00,info,2,-0.1"], "line 2: away", "-0.1"),
        (["08:00,info,2,nan"], "line 2: away", "nan"),
        (["08:00,info,2,0.2", "08:00,tributs,1,0.3"], "line 3: away", "0.3"),  # two shares, one half hour
        (["08:00,,2"], "line 2: skill", ""),
        (["08:00,info"], "line 2: row", "08:00,info"),  # a short row
        (["08:00,info,2", "08:30,info,2,0.1,x"], "line 3: row", "0.1,x"),  # a long one
    ],
)
def test_bad_rows_are_refused_with_line_and_column(
    tmp_path: Path, rows: list[str], field: str, value: str
) -> None:
    header = "interval,skill,operators" + (",away" if rows[0].count(",") == 3 else "")
    path = write(tmp_path, [header, *rows])
    with pytest.raises(ConfigError) as caught:
        read_roster(path)
    assert (caught.value.file, caught.value.field, caught.value.value) == (str(path), field, value)
    assert "\n" not in str(caught.value)


def test_a_missing_column_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, ["interval,skill,staff", "08:00,info,2"])
    with pytest.raises(ConfigError) as caught:
        read_roster(path)
    assert caught.value.field == "header" and "operators" in caught.value.problem


def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.csv"
    with pytest.raises(ConfigError) as caught:
        read_roster(missing)
    assert (caught.value.file, caught.value.field) == (str(missing), "file")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00interval")
    with pytest.raises(ConfigError, match="UTF-8"):
        read_roster(binary)


skills = st.text("abcdefghijklmnopqrstuvwxyz_-", min_size=1, max_size=8)


@st.composite
def rosters(draw: st.DrawFn) -> Roster:
    staff = draw(
        st.dictionaries(st.tuples(st.integers(0, INTERVALS - 1), skills), st.integers(0, 40), max_size=60)
    )
    staffed = sorted({k for k, _ in staff})
    shares = st.none() | st.floats(0.0, 1.0, allow_nan=False)
    away = [draw(shares) if k in staffed else None for k in range(INTERVALS)]
    return Roster(staff, tuple(away))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rosters())
def test_round_trip(tmp_path: Path, roster: Roster) -> None:
    path = tmp_path / "round.csv"
    assert write_roster(roster, path) == len(roster.staff)
    back = read_roster(path)
    assert back == roster
    assert back.away() == roster.away()
    for (k, skill), n in roster.staff.items():
        assert working(back, skill, k) == n
