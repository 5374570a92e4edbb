# What callers hear of numbers and times: the sound files, as the dialplan plays them.
from __future__ import annotations

import datetime as dt
import math

import pytest

from contactcenter.live.speech import number_files, opening_files, wait_minutes

MADRID = dt.timezone(dt.timedelta(hours=1))  # (winter time, fixed: the test needs no tz data)


def at(day: int, hour: int, minute: int = 0) -> float:
    """Wall-clock seconds of December `day`, 2026, hour:minute in Madrid (the 1st: a Tuesday)."""
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=MADRID).timestamp()


@pytest.mark.parametrize(
    ("n", "files"),
    [
        (0, ["digits/0"]),
        (7, ["digits/7"]),
        (20, ["digits/20"]),
        (21, ["digits/20", "digits/1"]),
        (30, ["digits/30"]),
        (59, ["digits/50", "digits/9"]),
    ],
)
def test_numbers_are_said_as_tens_then_units(n: int, files: list[str]) -> None:
    assert number_files(n) == files


def test_only_what_a_clock_or_a_wait_needs_is_said() -> None:
    for n in (-1, 100):
        with pytest.raises(ValueError):
            number_files(n)


@pytest.mark.parametrize(
    ("now", "opens", "files"),
    [
        (at(1, 22, 50), at(2, 7), ["cc/callback-opens-tomorrow", "digits/7"]),
        (at(1, 5), at(1, 7, 30), ["cc/callback-opens-today", "digits/7", "digits/30"]),
        # Christmas Eve evening, closed the 25th and 26th: Sunday the 27th (a weekday name).
        (at(24, 22), at(27, 9), ["cc/callback-opens-sun", "digits/9"]),
        (at(1, 23, 30), at(2, 21, 15), ["cc/callback-opens-tomorrow", "digits/20", "digits/1", "digits/15"]),
    ],
)
def test_the_next_opening_is_said_from_the_callers_today(now: float, opens: float, files: list[str]) -> None:
    assert opening_files(opens, now, MADRID) == files


def test_the_day_is_the_centres_not_utc() -> None:
    # 00:30 in Madrid is still the day before in UTC: "today" is Madrid's.
    now, opens = at(2, 0, 30), at(2, 7)
    assert opening_files(opens, now, MADRID)[0] == "cc/callback-opens-today"
    assert opening_files(opens, now, dt.UTC)[0] == "cc/callback-opens-tomorrow"
    with pytest.raises(ValueError):
        opening_files(at(1, 7), now, MADRID)  # (a day gone by: a bug, not a time to say)


def test_a_wait_is_whole_minutes_rounded_up_and_unknown_is_silent() -> None:
    assert [wait_minutes(s) for s in (1, 60, 61, 600)] == ["1", "1", "2", "10"]
    assert wait_minutes(math.inf) == ""
