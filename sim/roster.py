# A staffing plan file: how many operators serve each skill in each half hour of the day,
# and optionally the share of their time they are away from calls (sim/estimators.md).
# Rules:
# - CSV with the header `interval,skill,operators` and an optional `away` column, columns in
#   any order; `interval` is the start of a half hour, HH:MM (00:00, 00:30, ... 23:30).
# - A file is all right or refused: the first bad cell is a ConfigError naming the file, the
#   line and column ("line 4: interval") and the value; nothing is guessed or skipped (a plan
#   that silently lost a row would staff a replay wrongly).
# - A half hour not in the file has no operator of that skill; an away left empty (or a half
#   hour with no row) is None: the caller's default applies.
# - The away share belongs to the half hour, not the skill: rows of one half hour that give
#   it must give the same value.
# - Operator k of skill S (id f"{S}-{k}") works every half hour whose count is >= k; half
#   hours in a row make one period, so a plan's operators log in and out as few times as it
#   allows.
# - write_roster -> read_roster gives the same plan (away written with repr).
from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from contactcenter.config import ConfigError
from contactcenter.sim.fit import WorkPeriod
from contactcenter.sim.tracefile import read_text

HALF_HOUR_S = 1800.0
INTERVALS = 48  # half hours in a day
COLUMNS = ("interval", "skill", "operators")
OPTIONAL = ("away",)
_TIME = re.compile(r"(\d{1,2}):(\d{2})")


def interval_text(k: int) -> str:
    """The HH:MM a half hour of the day starts at."""
    return f"{k // 2:02d}:{30 * (k % 2):02d}"


@dataclass(frozen=True)
class Roster:
    """A staffing plan: operators per (half hour of the day, skill) and away shares."""

    staff: Mapping[tuple[int, str], int]  # (half hour 0..47, skill) -> operators
    away_shares: tuple[float | None, ...] = (None,) * INTERVALS  # per half hour
    source: str = field(default="", compare=False)

    def skills(self) -> list[str]:
        return sorted({skill for _, skill in self.staff})

    def operators(self, interval: int, skill: str) -> int:
        return self.staff.get((interval, skill), 0)

    def away(self) -> list[float | None]:
        """The away share of each half hour (48 values; None where the file gives none)."""
        return list(self.away_shares)

    def periods(self, day: str = "") -> list[WorkPeriod]:
        """Operator k of skill S (f"{S}-{k}") works each half hour whose count is >= k; half
        hours in a row merge into one period; each serves one skill."""
        periods = []
        for skill in self.skills():
            counts = [self.operators(k, skill) for k in range(INTERVALS)]
            for k in range(1, max(counts) + 1):
                start: int | None = None
                for i, count in enumerate([*counts, 0]):  # (a 0 after the day closes the last)
                    if count >= k and start is None:
                        start = i
                    elif count < k and start is not None:
                        periods.append(
                            WorkPeriod(f"{skill}-{k}", day, start * HALF_HOUR_S, i * HALF_HOUR_S, (skill,))
                        )
                        start = None
        return periods


def _bad(file: str, line: int, column: str, value: object, problem: str) -> ConfigError:
    return ConfigError(file, f"line {line}: {column}", value, problem)


def _interval(text: str, file: str, line: int) -> int:
    match = _TIME.fullmatch(text.strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise _bad(file, line, "interval", text, "not a time of day HH:MM")
    hour, minute = int(match[1]), int(match[2])
    if minute % 30:
        raise _bad(file, line, "interval", text, "not the start of a half hour (HH:00 or HH:30)")
    return 2 * hour + minute // 30


def _count(text: str, file: str, line: int) -> int:
    try:
        count = int(text.strip())
    except ValueError:
        raise _bad(file, line, "operators", text, "not a whole number of operators") from None
    if count < 0:
        raise _bad(file, line, "operators", text, "must be >= 0")
    return count


def _share(text: str, file: str, line: int) -> float:
    try:
        share = float(text)
    except ValueError:
        raise _bad(file, line, "away", text, "not a number") from None
    if not 0.0 <= share <= 1.0:  # (NaN fails this too)
        raise _bad(file, line, "away", text, "must be a share between 0 and 1")
    return share


def parse_roster(text: str, source: str = "<roster>") -> Roster:
    """A plan from the text of a roster file (ConfigError naming `source` if it is bad)."""
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ConfigError(source, "header", ",".join(header), f"missing columns: {', '.join(missing)}")
    staff: dict[tuple[int, str], int] = {}
    seen: dict[tuple[int, str], int] = {}  # -> line
    away: list[float | None] = [None] * INTERVALS
    away_line: dict[int, int] = {}
    for line, row in enumerate(reader, start=2):
        if None in row:  # (DictReader puts the cells past the header's under None)
            raise _bad(source, line, "row", ",".join(row.pop(None)), "has more cells than the header")
        if None in row.values():  # (a short row: DictReader fills the missing cells with None)
            cells = ",".join(v for v in row.values() if v is not None)
            raise _bad(source, line, "row", cells, "has fewer cells than the header")
        interval = _interval(row["interval"], source, line)
        skill = row["skill"].strip()
        if not skill:
            raise _bad(source, line, "skill", row["skill"], "empty")
        key = (interval, skill)
        if key in seen:
            again = f"{skill} at this half hour again (line {seen[key]})"
            raise _bad(source, line, "interval", row["interval"], again)
        seen[key] = line
        staff[key] = _count(row["operators"], source, line)
        text_away = (row.get("away") or "").strip()
        if text_away:
            share = _share(text_away, source, line)
            if away[interval] is not None and away[interval] != share:
                raise _bad(
                    source, line, "away", text_away,
                    f"differs from line {away_line[interval]}'s {away[interval]!r} for the same half hour",
                )  # fmt: skip
            away[interval], away_line[interval] = share, away_line.get(interval, line)
    return Roster(staff, tuple(away), source)


def read_roster(path: str | os.PathLike[str]) -> Roster:
    """Read a roster file; ConfigError if it cannot be read or breaks a rule."""
    file = Path(path)
    return parse_roster(read_text(file, "roster"), str(file))


def write_roster(roster: Roster, path: str | os.PathLike[str]) -> int:
    """Write a plan as a roster file (with the away column when it has a share); the rows."""
    with_away = any(share is not None for share in roster.away_shares)
    n = 0
    with Path(path).open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS + OPTIONAL if with_away else COLUMNS)
        for (interval, skill), count in sorted(roster.staff.items()):
            row: list[object] = [interval_text(interval), skill, count]
            if with_away:
                share = roster.away_shares[interval]
                row.append("" if share is None else repr(share))
            w.writerow(row)
            n += 1
    return n
