# The call-trace format of our own: one CSV row per call, what a site's replay needs and
# nothing personal (docs/trace-format.md). Rules:
# - A row that breaks a rule is left out and reported as a BadRow (line, call, field, value,
#   why), never changed or guessed at; the rest of the file is read.
# - A file's header must have every column (in any order); a missing one is a ConfigError
#   naming the file, so a wrong file fails at once instead of replaying nothing.
# - Written floats read back equal (repr), so a trace survives write_trace -> read_trace.
# - No caller's number exists in the format: there is no column that could carry one.
# - The bundled bank trace (sim/trace.py) maps into the same records (`bank_trace`): its
#   HANG/PHANTOM calls that never queued hung up in the IVR; its negative durations are bad
#   rows.
from __future__ import annotations

import csv
import datetime as dt
import functools
import math
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from contactcenter.config import ConfigError
from contactcenter.sim.trace import TRACE, TYPE_TO_SKILL, TraceCall, load_trace

OUTCOMES = ("served", "abandoned", "ivr_abandoned")
COLUMNS = (
    "call_id",
    "date",
    "arrival_s",
    "skill",
    "language",
    "priority",
    "ivr_s",
    "outcome",
    "wait_s",
    "talk_s",
    "operator",
)
MAX_ARRIVAL_S = 2 * 86_400.0  # (a day's call may be logged past midnight, not days later)


@dataclass(frozen=True, slots=True)
class TraceRecord:
    call_id: str  # unique within the trace
    day: str  # YYYY-MM-DD, the local day it arrived (column `date`)
    arrival_s: float  # seconds since local midnight when it reached the line (the IVR)
    skill: str  # the service chosen; "" only for a caller who hung up in the IVR
    language: str  # "" unknown: the scenario's language mix decides
    priority: int
    ivr_s: float  # in the IVR before queueing (or before hanging up there)
    outcome: str  # one of OUTCOMES
    wait_s: float  # in queue until answered or hung up (0 for ivr_abandoned)
    talk_s: float  # talking (0 unless served)
    operator: str  # who served it ("" unless served)

    @property
    def queued_s(self) -> float:
        return self.arrival_s + self.ivr_s

    @property
    def served(self) -> bool:
        return self.outcome == "served"


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int  # in the file (the header is line 1)
    call_id: str
    field: str
    value: str
    problem: str


@dataclass(frozen=True)
class Trace:
    name: str
    source: str
    records: tuple[TraceRecord, ...]  # by (day, arrival_s, call_id)
    bad_rows: tuple[BadRow, ...]

    def days(self) -> list[str]:
        return sorted({r.day for r in self.records})

    def select(self, days: Sequence[str], flag: str = "--date") -> list[TraceRecord]:
        """The records of `days`; a day the trace does not have is an error, not an empty run."""
        have = set(self.days())
        for day in days:
            if day not in have:
                span = f"it has {min(have)} to {max(have)}" if have else "it has no calls"
                raise ConfigError(self.source, flag, day, f"not a day of the trace ({span})")
        wanted = set(days)
        return [r for r in self.records if r.day in wanted]


class _Bad(Exception):
    def __init__(self, field: str, value: str, problem: str) -> None:
        super().__init__(problem)
        self.field, self.value, self.problem = field, value, problem


def _seconds(row: dict[str, str], name: str, hi: float = math.inf) -> float:
    text = row[name]
    try:
        value = float(text)
    except ValueError:
        raise _Bad(name, text, "not a number") from None
    if not math.isfinite(value) or value < 0:
        raise _Bad(name, text, "must be a finite number of seconds >= 0")
    if value >= hi:
        raise _Bad(name, text, f"must be < {hi:g}")
    return value


def _record(row: dict[str, str]) -> TraceRecord:
    call_id = row["call_id"]
    if not call_id:
        raise _Bad("call_id", call_id, "empty")
    try:
        day = dt.date.fromisoformat(row["date"]).isoformat()
    except ValueError:
        raise _Bad("date", row["date"], "not a date YYYY-MM-DD") from None
    try:
        priority = int(row["priority"])
    except ValueError:
        raise _Bad("priority", row["priority"], "not an integer") from None
    outcome = row["outcome"]
    if outcome not in OUTCOMES:
        raise _Bad("outcome", outcome, f"not one of {', '.join(OUTCOMES)}")
    record = TraceRecord(
        call_id=call_id,
        day=day,
        arrival_s=_seconds(row, "arrival_s", MAX_ARRIVAL_S),
        skill=row["skill"],
        language=row["language"],
        priority=priority,
        ivr_s=_seconds(row, "ivr_s"),
        outcome=outcome,
        wait_s=_seconds(row, "wait_s"),
        talk_s=_seconds(row, "talk_s"),
        operator=row["operator"],
    )
    if not record.skill and outcome != "ivr_abandoned":
        raise _Bad("skill", "", "empty (only a caller who hung up in the IVR may have chosen none)")
    if not record.served and (record.talk_s or record.operator):
        raise _Bad(
            "talk_s" if record.talk_s else "operator",
            row["talk_s" if record.talk_s else "operator"],
            f"given for a call {outcome}, not served",
        )
    if outcome == "ivr_abandoned" and record.wait_s:
        raise _Bad("wait_s", row["wait_s"], "a caller who hung up in the IVR never waited in a queue")
    return record


def _sorted(records: Iterable[TraceRecord]) -> tuple[TraceRecord, ...]:
    return tuple(sorted(records, key=lambda r: (r.day, r.arrival_s, r.call_id)))


def read_text(file: Path, what: str) -> str:
    """A CSV file's text (a trace, a roster); ConfigError naming the file if it cannot be read."""
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(str(file), "file", str(file), f"cannot read the {what}: {why}") from None


def read_trace(path: str | os.PathLike[str]) -> Trace:
    """Read a trace file; ConfigError if it cannot be read or its header lacks a column."""
    file = Path(path)
    text = read_text(file, "trace")
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise ConfigError(
            str(file), "header", ",".join(reader.fieldnames or ()), f"missing columns: {', '.join(missing)}"
        )
    records: list[TraceRecord] = []
    bad: list[BadRow] = []
    seen: set[str] = set()
    for line, row in enumerate(reader, start=2):
        try:
            if None in row.values():  # (a short row: DictReader fills the missing cells with None)
                raise _Bad("row", "", f"has fewer than the {len(COLUMNS)} columns")
            record = _record(row)
            if record.call_id in seen:
                raise _Bad("call_id", record.call_id, "appears twice")
        except _Bad as exc:
            bad.append(BadRow(line, row.get("call_id") or "", exc.field, exc.value, exc.problem))
            continue
        seen.add(record.call_id)
        records.append(record)
    return Trace(file.stem, str(file), _sorted(records), tuple(bad))


def _text(x: float) -> str:
    return repr(float(x)) if x != int(x) else str(int(x))


def write_trace(records: Iterable[TraceRecord], path: str | os.PathLike[str]) -> int:
    """Write records as a trace file; the rows written."""
    n = 0
    with Path(path).open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for r in records:
            w.writerow(
                (r.call_id, r.day, _text(r.arrival_s), r.skill, r.language, r.priority, _text(r.ivr_s),
                 r.outcome, _text(r.wait_s), _text(r.talk_s), r.operator)
            )  # fmt: skip
            n += 1
    return n


@functools.cache
def bank_trace() -> Trace:
    """The bundled bank month as trace records. The bank's call ids repeat (across days, and
    468 times within one), so a record's id is `DAY/ID`, then `DAY/ID#2`, ... in arrival order.
    Its reader counts the rows it leaves out by reason: they are the bad rows (line 0)."""
    calls, skipped = load_trace()
    seen: Counter[str] = Counter()

    def unique(c: TraceCall) -> str:
        key = f"{c.day}/{c.call_id}"
        seen[key] += 1
        return key if seen[key] == 1 else f"{key}#{seen[key]}"

    records = [
        TraceRecord(
            call_id=unique(c),
            day=c.day,
            arrival_s=c.arrival_s,
            skill=TYPE_TO_SKILL[c.service_type],
            language="en" if c.service_type == "PE" else "",
            priority=c.priority,
            ivr_s=c.ivr_s,
            outcome="served" if c.served else "ivr_abandoned" if c.ivr_abandoned else "abandoned",
            wait_s=0.0 if c.ivr_abandoned else c.queue_s,
            talk_s=c.talk_s if c.served else 0.0,
            operator=c.server if c.served else "",
        )
        for c in calls
    ]
    bad = tuple(
        BadRow(0, "", reason, str(n), "rows of the bundled file left out")
        for reason, n in sorted(skipped.items())
    )
    return Trace("bank", str(TRACE), _sorted(records), bad)
