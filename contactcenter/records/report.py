# The report of a records file (store.py), live or simulated: `contactcenter report`.
# Rules:
# - The KPIs are the simulator's own (core/kpis.py): each recorded call is rebuilt as the
#   core's Call, each finished callback as its Callback, and counted by a KpiCollector, so
#   live, simulated and reported figures mean the same thing (offered excludes calls turned
#   away while closed; SL over answered; SL2 counts short abandons; AHT = talk + the
#   configured wrap-up; callbacks' delay is their own, never in ASA).
# - Days are whole local days of the time zone the file keeps (its `meta`); periods (half
#   hours, hours, days) are local ones, labelled by their local start in ISO 8601 with the
#   UTC offset, so the hour a change of summer time repeats is two hours, not one of 7,200 s.
# - A call belongs to the period of its arrival, a callback to that of its request (a
#   booked one: of its time), as in the collector; operators' state times are cut at period
#   boundaries.
# - Occupancy is the centre's, never a skill's (kpis.py: a multi-skilled operator's idle time
#   belongs to no one skill): with --skill the groups have none, and the operators' table
#   is every operator's.
# - Demand is every call that arrived, the closed ones included (they got the closed
#   treatment: offered nothing), by local weekday and hour, beside the opening hours the file
#   keeps; its share outside them is closed / arrived. (A live call turned away while closed
#   never reached the IVR, so it has no skill: with --skill it is not counted.)
# - Computing is pure (build_report: rows in, a JSON-ready dict out); printing (render) and
#   plotting (plot.py) only format that dict. rich and matplotlib are imported when used.
# - What the user got wrong (a missing file, not a records file, a bad day) is a ReportError:
#   one line, exit code 2.
from __future__ import annotations

import datetime as dt
import json
import math
import re
import sqlite3
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from contactcenter.core.calendar import OpeningHours
from contactcenter.core.callbacks import Callback
from contactcenter.core.engine import Call
from contactcenter.core.kpis import BUSY_STATES, STAFFED_STATES, KpiCollector
from contactcenter.core.lifecycle import CallbackState, CallOutcome, OperatorState
from contactcenter.errors import UserError
from contactcenter.records.store import CALL_COLUMNS, CALLBACK_COLUMNS, SCHEMA_VERSION, tz_from_name
from contactcenter.sim.report import _int, _pct, _secs

SLOT_S: Final = 1800  # the smallest period: half an hour
WEEKDAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
PERIODS: Final = ("half-hour", "hour", "day")
_PERIOD_KEYS: Final = {"half-hour": "by_half_hour", "hour": "by_hour", "day": "by_day"}
# Operators' states in the order tables and plots show them (logged out is not recorded).
STATES: Final = tuple(s for s in OperatorState if s is not OperatorState.LOGGED_OUT)


class ReportError(UserError):
    """A records file that cannot be reported on, or a day that is not one."""


def parse_day(text: str, flag: str) -> dt.date:
    """A local calendar day from YYYY-MM-DD text (ReportError naming `flag` otherwise)."""
    if not re.fullmatch(r"\d{4}-\d\d-\d\d", text):
        raise ReportError(f"{flag}: expected a date as YYYY-MM-DD (got {text!r})")
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise ReportError(f"{flag}: not a day of the calendar: {exc} (got {text!r})") from None


@dataclass(slots=True)
class RecordsFile:
    """A records file opened read-only, with what its `meta` says it was written with."""

    path: Path
    db: sqlite3.Connection = field(repr=False)
    source: str  # "live" or "sim"
    tz: dt.tzinfo
    hours: OpeningHours | None  # None: always open
    sl_threshold_s: float
    wrap_up_s: float

    def skills(self) -> list[str]:
        """Every skill the file has calls or callbacks of."""
        rows = self.db.execute(
            "SELECT skill FROM calls WHERE skill IS NOT NULL UNION SELECT skill FROM callbacks"
        ).fetchall()
        return sorted(str(row[0]) for row in rows)

    def close(self) -> None:
        self.db.close()


def open_records(path: Path) -> RecordsFile:
    """Open a records file read-only (another process may be writing it)."""
    path = Path(path).absolute()
    if not path.is_file():
        raise ReportError(f"records {path}: no such file")
    try:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        db.row_factory = sqlite3.Row
        versions = [row[0] for row in db.execute("SELECT version FROM schema_version")]
        meta = {str(row[0]): row[1] for row in db.execute("SELECT key, value FROM meta")}
    except sqlite3.Error as exc:
        raise ReportError(f"records {path}: not a records file ({exc})") from None
    if versions != [SCHEMA_VERSION]:
        db.close()
        raise ReportError(f"records {path}: schema version {versions}, this build reads {SCHEMA_VERSION}")
    try:
        tz = tz_from_name(str(meta.get("tz") or "UTC"))
        hours = _hours(meta.get("hours"))
        sl, wrap = float(meta.get("sl_threshold_s") or 20.0), float(meta.get("wrap_up_s") or 0.0)
    except (ValueError, KeyError, TypeError, zoneinfo.ZoneInfoNotFoundError) as exc:
        db.close()
        raise ReportError(f"records {path}: its meta cannot be read ({exc})") from None
    return RecordsFile(path, db, str(meta.get("source") or "?"), tz, hours, sl, wrap)


def _hours(text: object) -> OpeningHours | None:
    if text is None:
        return None
    raw = json.loads(str(text))
    return OpeningHours(
        tz=tz_from_name(raw["tz"]),
        open=dt.time.fromisoformat(raw["open"]),
        close=dt.time.fromisoformat(raw["close"]),
        weekdays=frozenset(int(d) for d in raw["weekdays"]),
        holidays=frozenset(dt.date.fromisoformat(d) for d in raw["holidays"]),
    )


# --- the periods --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Slot:
    """One half hour of the range, and the periods it belongs to (their labels)."""

    start: float  # wall-clock seconds
    half_hour: str
    hour: str
    day: str
    hour_of_day: int
    weekday: int  # Monday = 0


def _range(first: dt.date, last: dt.date, tz: dt.tzinfo) -> tuple[float, float]:
    """[start, end) of the local days first..last, in wall-clock seconds."""
    start = dt.datetime.combine(first, dt.time(), tz).timestamp()
    return start, dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tz).timestamp()


def _slot(at: float, tz: dt.tzinfo) -> _Slot:
    """The half hour starting at `at`. (Half hours are counted in seconds from the range's
    local midnight, which keeps them local ones in every zone whose offset is a multiple of
    30 minutes: all of Europe's.)"""
    local = dt.datetime.fromtimestamp(at, tz)
    return _Slot(
        start=at,
        half_hour=local.isoformat(timespec="minutes"),
        hour=local.replace(minute=0, second=0, microsecond=0).isoformat(timespec="minutes"),
        day=local.date().isoformat(),
        hour_of_day=local.hour,
        weekday=local.weekday(),
    )


class _Tallies:
    """A KpiCollector per period: the range, each day, hour, half hour, and hour of day."""

    def __init__(self, tz: dt.tzinfo, range_start: float, sl_threshold_s: float, wrap_up_s: float) -> None:
        self.tz, self.range_start = tz, range_start
        self._slots: dict[int, _Slot] = {}  # (made when a fact falls in them: a year has 17,520)
        self.sl_threshold_s, self.wrap_up_s = sl_threshold_s, wrap_up_s
        self.total = self._new()
        self.by: dict[str, dict[str, KpiCollector]] = {
            "by_half_hour": {},
            "by_hour": {},
            "by_day": {},
            "by_hour_of_day": {},
        }
        self._of_slot: dict[int, tuple[KpiCollector, ...]] = {}

    def _new(self) -> KpiCollector:
        return KpiCollector(sl_threshold_s=self.sl_threshold_s, wrap_up_s=self.wrap_up_s)

    def _collector(self, key: str, label: str) -> KpiCollector:
        period = self.by[key]
        found = period.get(label)
        if found is None:
            found = period[label] = self._new()
        return found

    def slot_index(self, at: float) -> int:
        return int((at - self.range_start) // SLOT_S)

    def slot(self, i: int) -> _Slot:
        found = self._slots.get(i)
        if found is None:
            found = self._slots[i] = _slot(self.range_start + i * SLOT_S, self.tz)
        return found

    def of_slot(self, i: int) -> tuple[KpiCollector, ...]:
        """The collectors the facts of half hour `i` count in."""
        found = self._of_slot.get(i)
        if found is None:
            slot = self.slot(i)
            labels = (slot.half_hour, slot.hour, slot.day, f"{slot.hour_of_day:02d}")
            found = (
                self.total,
                *(self._collector(key, label) for key, label in zip(self.by, labels, strict=True)),
            )
            self._of_slot[i] = found
        return found

    def operator_time(self, state: OperatorState, since: float, until: float) -> None:
        """Staffed (and busy) seconds, cut at half hours."""
        if state not in STAFFED_STATES:
            return
        busy = state in BUSY_STATES
        t = since
        while t < until:
            i = self.slot_index(t)
            upto = min(until, self.slot(i).start + SLOT_S)
            for collector in self.of_slot(i):
                collector.add_operator_time(t, upto - t if busy else 0.0, upto - t)
            t = upto


def _call(row: sqlite3.Row) -> Call:
    """A recorded call as the core's Call (what KpiCollector counts)."""
    call = Call(row["call_id"], row["arrived_at"])
    call.queued_at, call.offered_at = row["queued_at"], row["offered_at"]
    call.answered_at, call.ended_at = row["answered_at"], row["ended_at"]
    call.skill, call.language, call.priority = row["skill"], row["language"], row["priority"]
    call.operator_id = row["operator_id"]
    call.outcome = CallOutcome(row["outcome"])
    call.position_at_entry, call.ewt_at_entry = row["position_at_entry"], row["ewt_at_entry_s"]
    call.callback_offered, call.callback_id = bool(row["callback_offered"]), row["callback_id"]
    return call


def _callback(row: sqlite3.Row) -> Callback:
    """A recorded callback as the core's Callback (no number, nor its key: none is kept)."""
    expires = row["expires_at"]
    return Callback(
        callback_id=row["callback_id"],
        skill=row["skill"],
        language=row["language"],
        priority=row["priority"],
        queued_at=row["queued_at"],
        queue_key=(-row["priority"], row["queued_at"], 0),
        number_key="",
        requested_at=row["requested_at"],
        expires_at=math.inf if expires is None else expires,
        state=CallbackState(row["state"]),
        call_id=row["call_id"],
        attempts=row["attempts"],
        operator_id=row["operator_id"],
        booked=bool(row["booked"]),
        outcome=row["last_outcome"],
        answered_at=row["answered_at"],
        ended_at=row["ended_at"],
    )


# --- the report -----------------------------------------------------------------------------


def build_report(
    records: RecordsFile, first: dt.date, last: dt.date, *, skill: str | None = None
) -> dict[str, Any]:
    """The report of local days first..last (inclusive), of one skill or all: a dict ready
    for JSON (keys below; groups have core/kpis.py's GROUP_KEYS and `closed`)."""
    if last < first:
        raise ReportError(f"--to {last} is before --from {first}")
    tz = records.tz
    start, end = _range(first, last, tz)
    tallies = _Tallies(tz, start, records.sl_threshold_s, records.wrap_up_s)
    where = "arrived_at >= ? AND arrived_at < ?"
    params: list[float | str] = [start, end]
    if skill is not None:
        where += " AND skill = ?"
        params.append(skill)
    demand = [[0] * 24 for _ in WEEKDAYS]
    arrived = closed = 0
    columns = ", ".join(CALL_COLUMNS)
    for row in records.db.execute(f"SELECT {columns} FROM calls WHERE {where} ORDER BY arrived_at", params):
        call = _call(row)
        i = tallies.slot_index(call.arrived_at)
        for collector in tallies.of_slot(i):
            collector.add(call)
        slot = tallies.slot(i)
        demand[slot.weekday][slot.hour_of_day] += 1
        arrived += 1
        closed += call.outcome is CallOutcome.CLOSED

    where = where.replace("arrived_at", "waiting_since")
    columns = ", ".join(CALLBACK_COLUMNS)
    for row in records.db.execute(f"SELECT {columns} FROM callbacks WHERE {where}", params):
        cb = _callback(row)
        for collector in tallies.of_slot(tallies.slot_index(cb.waiting_since)):
            collector.add_callbacks([cb])

    operators: dict[str, dict[str, float]] = {}
    paused_by: dict[str, dict[str, float]] = {}
    for row in records.db.execute(
        "SELECT operator_id, state, reason, since, until FROM operator_states"
        " WHERE until > ? AND since < ? ORDER BY since",
        (start, end),
    ):
        state = OperatorState(row["state"])
        since, until = max(row["since"], start), min(row["until"], end)
        if until <= since:
            continue
        seconds = operators.setdefault(row["operator_id"], dict.fromkeys((s.value for s in STATES), 0.0))
        seconds[state.value] += until - since
        if state is OperatorState.PAUSED:
            reasons = paused_by.setdefault(row["operator_id"], {})
            reason = row["reason"] or "(none)"
            reasons[reason] = reasons.get(reason, 0.0) + until - since
        tallies.operator_time(state, since, until)

    def group(collector: KpiCollector) -> dict[str, Any]:
        return {**collector.group(skill=skill), "closed": collector.closed}

    def periods(key: str, extra: Callable[[KpiCollector], dict[str, Any]] | None = None) -> dict[str, Any]:
        return {
            label: {**group(c), **(extra(c) if extra else {})} for label, c in sorted(tallies.by[key].items())
        }

    def of_day(c: KpiCollector) -> dict[str, Any]:
        return {"callbacks": c.callback_kpis(), "by_skill": {s: c.group(skill=s) for s in c.skills()}}

    total = tallies.total
    return {
        "records": str(records.path),
        "source": records.source,
        "time_zone": _tz_name(tz),
        "from": first.isoformat(),
        "to": last.isoformat(),
        "skill": skill,
        "sl_threshold_s": records.sl_threshold_s,
        "wrap_up_s": records.wrap_up_s,
        "total": {**group(total), "callbacks": total.callback_kpis()},
        "by_skill": {s: total.group(skill=s) for s in total.skills()},
        "by_day": periods("by_day", of_day),
        "by_hour": periods("by_hour"),
        "by_half_hour": periods("by_half_hour"),
        "by_hour_of_day": periods("by_hour_of_day"),
        "operators": _operators(operators, paused_by),
        "demand": _demand(demand, arrived, closed, records.hours, first, last),
        "contacts": _contacts(records, start, end, skill),
    }


def _table_exists(db: sqlite3.Connection, name: str) -> bool:
    return (
        db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
        is not None
    )


def _contacts(records: RecordsFile, start: float, end: float, skill: str | None) -> dict[str, Any]:
    """Repeat calls and first-contact resolution of the calls that arrived in [start, end):
    a call is a repeat when its caller (by the records' caller key) had called in the 7
    days before it; FCR (by the repeat-call method) = 1 - repeats / calls with a known
    caller. And the dispositions operators gave at wrap-up, by code."""
    db = records.db
    out: dict[str, Any] = {
        "calls_known_caller": 0,
        "repeat_calls_7d": 0,
        "repeat_share": None,
        "first_contact_resolution": None,
        "dispositions": {},
    }
    if _table_exists(db, "contacts"):  # (files of earlier versions have no such table)
        join, params = "", [start, end]
        if skill is not None:
            join = " AND call_id IN (SELECT call_id FROM calls WHERE skill = ?)"
            params.append(skill)  # type: ignore[arg-type]
        known, repeats = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(earlier_calls > 0), 0) FROM contacts"
            f" WHERE arrived_at >= ? AND arrived_at < ? AND earlier_calls IS NOT NULL{join}",
            params,
        ).fetchone()
        out["calls_known_caller"], out["repeat_calls_7d"] = int(known), int(repeats)
        if known:
            out["repeat_share"] = repeats / known
            out["first_contact_resolution"] = 1.0 - repeats / known
    if _table_exists(db, "audit"):
        codes: dict[str, int] = {}
        for (detail,) in db.execute(
            "SELECT detail FROM audit WHERE action = 'wrap_up' AND at >= ? AND at < ?", (start, end)
        ):
            try:
                code = json.loads(detail).get("disposition")
            except (ValueError, AttributeError):
                continue
            if isinstance(code, str):
                codes[code] = codes.get(code, 0) + 1
        out["dispositions"] = dict(sorted(codes.items()))
    return out


def _operators(
    seconds: dict[str, dict[str, float]], paused_by: dict[str, dict[str, float]]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for operator_id in sorted(seconds):
        time_s = seconds[operator_id]
        busy = math.fsum(time_s[s.value] for s in BUSY_STATES)
        staffed = busy + time_s[OperatorState.AVAILABLE.value]
        out[operator_id] = {
            "staffed_s": staffed,
            "busy_s": busy,
            "occupancy": busy / staffed if staffed else None,
            "time_s": time_s,
            "paused_by_reason_s": dict(sorted(paused_by.get(operator_id, {}).items())),
        }
    return out


def open_share(hours: OpeningHours | None, weekday: int, hour: int) -> float:
    """The share of hour `hour` (local) of a `weekday` the line is open, holidays aside."""
    if hours is None:
        return 1.0
    if weekday not in hours.weekdays:
        return 0.0
    opens = _hour_of(hours.open)
    closes = 24.0 if hours.close == dt.time.max else _hour_of(hours.close)
    return max(0.0, min(closes, hour + 1.0) - max(opens, float(hour)))


def _hour_of(t: dt.time) -> float:
    return t.hour + t.minute / 60 + t.second / 3600


def _demand(
    counts: list[list[int]],
    arrived: int,
    closed: int,
    hours: OpeningHours | None,
    first: dt.date,
    last: dt.date,
) -> dict[str, Any]:
    days = [0] * 7
    for n in range((last - first).days + 1):
        days[(first + dt.timedelta(days=n)).weekday()] += 1
    return {
        "weekdays": list(WEEKDAYS),
        "arrived": counts,  # [weekday][hour of day]: calls that arrived, closed ones included
        "days": days,  # how many of each weekday the range has
        "open_share": [[open_share(hours, w, h) for h in range(24)] for w in range(7)],
        "opening_hours": None if hours is None else _hours_json(hours),
        "total": arrived,
        "closed": closed,
        "share_closed": closed / arrived if arrived else None,
    }


def _hours_json(hours: OpeningHours) -> dict[str, Any]:
    return {
        "open": hours.open.isoformat(timespec="minutes"),
        "close": hours.close.isoformat(timespec="minutes"),
        "weekdays": [WEEKDAYS[d] for d in sorted(hours.weekdays)],
        "holidays": sorted(d.isoformat() for d in hours.holidays),
    }


def _tz_name(tz: dt.tzinfo) -> str:
    key = getattr(tz, "key", None)
    return key if isinstance(key, str) else str(tz)


def write_json(report: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")


# --- printing -------------------------------------------------------------------------------


# (The KPI formats are the simulator's report's, so both read alike.)


def _hours_text(x: float) -> str:
    return f"{x / 3600:.2f} h"


COLUMNS: Final[tuple[tuple[str, str, Callable[[Any], str]], ...]] = (
    ("offered", "offered", _int),
    ("answered", "answered", _int),
    ("abandoned", "abandoned", _int),
    ("blocked", "blocked", _int),
    ("called back", "called_back", _int),
    ("hung up in IVR", "ivr_abandoned", _int),
    ("closed", "closed", _int),
    ("SL", "service_level", _pct),
    ("SL2", "sl2", _pct),
    ("ASA", "asa_s", _secs),
    ("AHT", "aht_s", _secs),
    ("abandon", "p_abandon", _pct),
    ("occupancy", "occupancy", _pct),
)
CALLBACK_COLUMNS_SHOWN: Final[tuple[tuple[str, str, Callable[[Any], str]], ...]] = (
    ("offered", "offered", _int),
    ("accepted", "accepted", _int),
    ("completed", "completed", _int),
    ("failed", "failed", _int),
    ("expired", "expired", _int),
    ("attempts", "attempts", _int),
    ("request to talk", "mean_delay_s", _secs),
    ("longest", "max_delay_s", _secs),
    ("first queued to talk", "mean_wait_total_s", _secs),
)


def default_period(report: dict[str, Any]) -> str:
    """Hours for a one-day report, days for longer ones."""
    return "hour" if report["from"] == report["to"] else "day"


def render(report: dict[str, Any], *, by: str | None = None) -> None:
    """Print the report's tables to stdout."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 160))  # a pipe gets 80 columns and wraps
    by = by or default_period(report)
    skill = report["skill"]
    console.print(
        f"[bold]{report['source']} records[/bold] {report['records']}: {report['from']} to {report['to']}"
        f" ({report['time_zone']}){f', skill {skill}' if skill else ''}"
    )

    def kpi_table(title: str, head: str, rows: Iterable[tuple[str, dict[str, Any]]]) -> Table:
        t = Table(title=title)
        t.add_column(head)
        for name, _, _ in COLUMNS:
            t.add_column(name, justify="right")
        for label, g in rows:
            t.add_row(label, *(fmt(g.get(key)) for _, key, fmt in COLUMNS))
        return t

    period_rows = list(report[_PERIOD_KEYS[by]].items())
    console.print(kpi_table(f"by {by} of arrival", by, [*period_rows, ("total", report["total"])]))
    if report["by_skill"]:
        console.print(
            kpi_table(
                "by skill (occupancy is the centre's, not a skill's)", "skill", report["by_skill"].items()
            )
        )
    callbacks = report["total"]["callbacks"]
    if callbacks.get("offered") or callbacks.get("requested"):
        c = Table(title="callbacks (by request; their waits are not in ASA)")
        for head, _, _ in CALLBACK_COLUMNS_SHOWN:
            c.add_column(head, justify="right")
        c.add_row(*(fmt(callbacks.get(key)) for _, key, fmt in CALLBACK_COLUMNS_SHOWN))
        console.print(c)
    if report["operators"]:
        o = Table(title="operators: time in each state (hours), occupancy = busy / (busy + available)")
        o.add_column("operator")
        for state in STATES:
            o.add_column(state.value.replace("_", "-"), justify="right")
        o.add_column("occupancy", justify="right")
        for operator_id, op in report["operators"].items():
            o.add_row(
                operator_id,
                *(_hours_text(op["time_s"][s.value]) for s in STATES),
                _pct(op["occupancy"]),
            )
        console.print(o)
    contacts = report.get("contacts") or {}
    if contacts.get("calls_known_caller"):
        console.print(
            f"repeat calls (the caller had called in the 7 days before): {contacts['repeat_calls_7d']} of"
            f" {contacts['calls_known_caller']} calls with a known caller; first-contact resolution"
            f" {_pct(contacts['first_contact_resolution'])}"
        )
    if contacts.get("dispositions"):
        console.print(
            "dispositions at wrap-up: "
            + ", ".join(f"{code} {n}" for code, n in contacts["dispositions"].items())
        )
    _render_demand(console, report["demand"])
    console.print(
        f"SL: answered within {report['sl_threshold_s']:g} s / answered; SL2 also counts abandons within"
        " it as met, over answered + abandoned + called back. AHT: talk + the configured wrap-up"
        f" ({report['wrap_up_s']:g} s). Offered excludes calls turned away while closed.",
        style="dim",
    )


def _render_demand(console: Any, demand: dict[str, Any]) -> None:
    from rich.table import Table

    t = Table(title="demand: calls arriving by weekday and hour (dim: closed hours)")
    t.add_column("")
    for h in range(24):
        t.add_column(f"{h:02d}", justify="right")
    for w, name in enumerate(demand["weekdays"]):
        cells = []
        for h, n in enumerate(demand["arrived"][w]):
            text = str(n) if n else "·"
            cells.append(text if demand["open_share"][w][h] > 0 else f"[dim]{text}[/dim]")
        t.add_row(name, *cells)
    console.print(t)
    hours = demand["opening_hours"]
    opening = (
        "always open"
        if hours is None
        else f"open {hours['open']}-{hours['close']} on {', '.join(hours['weekdays'])}"
    )
    console.print(
        f"{opening}: {demand['closed']:,} of {demand['total']:,} calls ({_pct(demand['share_closed'])})"
        " came while closed and got the closed treatment"
    )
