# `contactcenter trace import`: a site's own traffic, from Asterisk's queue_log (and, if given,
# its CDR CSV), as trace records (sim/tracefile.py, sim/trace-format.md). Rules:
# - Nothing personal: ENTERQUEUE's caller id (data2) and caller name (data4), and the CDR's
#   src, dst and clid, are never read into anything we keep; the trace has no column for them.
#   The operator is the queue_log's agent field as Asterisk wrote it (PJSIP/1001, a member
#   name): a member of staff, not a citizen.
# - Never guessed, never silently dropped: a call that cannot be computed from its own lines
#   is a BadRow (line, call, field, value, why); a line we do not use is counted by its event
#   kind; a call still open at the end of the file is a BadRow ("no end in the log").
# - One call = one uniqueid. It waits from its first ENTERQUEUE. A call that left a queue
#   (EXITWITHTIMEOUT, EXITWITHKEY, EXITEMPTY, WITHDRAW) and entered another (overflow) is one
#   call: its skill is the last queue's, its wait is the time from the first ENTERQUEUE to the
#   last one plus Asterisk's own wait figure in the last queue (CONNECT's holdtime, or the
#   waittime of the event that ended the wait). For a call in one queue that is exactly
#   holdtime / waittime. The last visit's end decides: CONNECT then COMPLETECALLER,
#   COMPLETEAGENT or a transfer -> served (talk = calltime); ABANDON or an exit -> abandoned.
# - The trace describes a call up to its first conversation: lines of a call after it was
#   served (a transfer back into a queue) are counted as ignored, not replayed.
# - Times: `date`/`arrival_s` are the local calendar day and the local clock's reading in
#   seconds (h*3600 + m*60 + s) in `tz`, so 08:00 is 28,800 on every day, as the scenario's
#   opening hours and shifts are written. On the spring-forward day no arrival lies in the
#   skipped hour; on the fall-back day both passes of the repeated hour share its 3,600 s.
#   Durations (ivr, wait, talk) are always real elapsed seconds.
# - With a CDR: matched by uniqueid (a CDR without that column is refused: ConfigError).
#   Arrival = the earliest CDR start of the uniqueid that lies within MAX_IVR_S before its
#   first ENTERQUEUE (that rule also tells the two readings of a start in the repeated hour
#   apart, 3,600 s away); ivr = first ENTERQUEUE - start. A queued call with no such CDR row is
#   a BadRow. A uniqueid the queue_log never names, answered, with a row whose dcontext is
#   `ivr_context`, is a caller who hung up in the IVR (`ivr_abandoned`); without
#   `ivr_context` no such records are made. Other CDR rows are counted by reason.
# - Priority is not in the queue_log: 0, or the queue's number from priority_map.
# - Imports: argparse and the standard library only at module level; the CLI builds its
#   parser at every start (the trace modules are imported where used).
#
# Formats checked against Asterisk's source (github.com/asterisk/asterisk, master at
# f0c1c1a7, 2026-08): main/logger.c ast_queue_log() writes "epoch|callid|queue|agent|event|"
# then the event's data joined by "|" (the realtime table has one `data` column holding the
# same text, or data1..data5 when queue_adaptive_realtime is on: the same fields, so the same
# split); apps/app_queue.c's ast_queue_log() calls: ENTERQUEUE url|callerid|position[|name],
# CONNECT holdtime|peer uniqueid|ringtime, COMPLETECALLER/COMPLETEAGENT holdtime|calltime|
# origposition, BLINDTRANSFER exten|context|holdtime|calltime|origposition, ATTENDEDTRANSFER
# (BRIDGE|id, APP|app or LINK|chan|chan)|holdtime|calltime|origposition, ABANDON/EXITEMPTY/
# EXITWITHTIMEOUT position|origposition|waittime, EXITWITHKEY key|position|origposition|
# waittime, WITHDRAW position|origposition|waittime|info; TRANSFER exten|context|holdtime|
# calltime|origposition in 11.0.0's app_queue.c (12 split it into the two above); and
# docs.asterisk.org "Queue Logs" (Operation/Logging/Queue-Logs). cdr/cdr_csv.c
# build_csv_record(): accountcode, src, dst, dcontext, clid, channel, dstchannel, lastapp,
# lastdata, start, answer, end ("%Y-%m-%d %T", local time, or GMT with usegmtime), duration,
# billsec, disposition, amaflags, then uniqueid (loguniqueid=yes), userfield (loguserfield=yes),
# peeraccount, linkedid, sequence (newcdrcolumns=yes); no header row (configs/samples/
# cdr.conf.sample [csv]).
from __future__ import annotations

import argparse
import datetime as dt
import math
import re
import sys
import zoneinfo
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contactcenter.config import ConfigError

if TYPE_CHECKING:
    from contactcenter.sim.tracefile import BadRow, Trace, TraceRecord

FLAGS = "(command line)"  # the "file" named by errors in flags (as sim/scenario.py's FLAGS)
MAX_IVR_S = 3600.0  # a caller's time from the CDR's start to the first ENTERQUEUE is below this
SHOWN_BAD_ROWS = 20  # `trace info` prints this many bad rows, then a count
NOT_CALLS = frozenset({"", "NONE", "REALTIME", "MANAGER", "CLI"})  # queue_log "callids" of no call

# The queue_log's fixed fields, before the event's data.
HEAD_FIELDS = ("time", "callid", "queuename", "agent", "event")
# Events that end a wait in a queue without an operator, and where their waittime is.
WAIT_ENDS = {"ABANDON": 2, "EXITWITHTIMEOUT": 2, "EXITEMPTY": 2, "EXITWITHKEY": 3, "WITHDRAW": 2}
# Events that end a conversation, and where their calltime is (ATTENDEDTRANSFER: from the end,
# its destination takes two or three fields).
TALK_ENDS = {
    "COMPLETECALLER": 1,
    "COMPLETEAGENT": 1,
    "TRANSFER": 3,
    "BLINDTRANSFER": 3,
    "ATTENDEDTRANSFER": -2,
}

# cdr_csv's columns (no header row): the ones read here, by position.
CDR_COLUMNS = (
    "accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp", "lastdata",
    "start", "answer", "end", "duration", "billsec", "disposition", "amaflags", "uniqueid",
)  # fmt: skip
CDR_READ = ("dcontext", "start", "duration", "disposition", "uniqueid")
CDR_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")  # cdr_csv's DATE_FORMAT "%Y-%m-%d %T"
UNIQUEID = re.compile(r"(?:.+-)?\d+\.\d+")  # epoch.sequence, after "systemname-" when one is set

WAITING, TALKING, LEFT, SERVED = "waiting", "talking", "left", "served"


@dataclass
class ImportResult:
    """What an import found: the records, the calls left out (with why), and counts."""

    records: list[TraceRecord]  # by (day, arrival_s, call_id)
    bad: list[BadRow]
    lines: int = 0  # queue_log lines read
    ignored: Counter[str] = field(default_factory=Counter)  # queue_log lines not used, by event kind
    lines_of_bad_calls: int = 0  # lines after the one that put their call among the bad rows
    cdr_rows: int = 0
    cdr_ignored: Counter[str] = field(default_factory=Counter)  # CDR rows not used, by reason

    @property
    def by_outcome(self) -> Counter[str]:
        return Counter(r.outcome for r in self.records)

    @property
    def calls(self) -> int:
        """Calls found: the records and the calls left out as bad rows."""
        return len(self.records) + len({b.call_id for b in self.bad if b.call_id})


class _Bad(Exception):
    def __init__(self, field: str, value: str, problem: str, cdr_line: int | None = None) -> None:
        super().__init__(problem)
        self.field, self.value, self.problem = field, value, problem
        self.cdr_line = cdr_line  # the problem is at this line of the CDR file


@dataclass(slots=True)
class _Call:
    """A queued call as its lines tell it so far."""

    call_id: str
    first_line: int
    first_entered: float  # epoch of its first ENTERQUEUE
    queue: str  # the current (or last) queue
    entered: float  # epoch of the ENTERQUEUE into it
    state: str  # WAITING, TALKING, LEFT (a queue, without an operator) or SERVED
    line: int  # of its last event used
    event: str
    wait_s: float = 0.0
    talk_s: float = 0.0
    operator: str = ""


@dataclass(frozen=True, slots=True)
class _CdrRow:
    line: int
    start: str  # as written
    starts: tuple[float, ...]  # the instants it can be: 1, 2 in a repeated hour, 0 in a skipped one
    dcontext: str
    answered: bool
    duration_s: float


# --- options ---------------------------------------------------------------------------------


def zone(name: str, field: str, file: str = FLAGS) -> zoneinfo.ZoneInfo:
    """The IANA time zone `name`; ConfigError naming `field` if there is none."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigError(file, field, name, "not a time zone (an IANA name: Europe/Madrid, UTC)") from None


def parse_map(text: str, flag: str) -> dict[str, str]:
    """`q=s,q2=s2` as {q: s, q2: s2}; ConfigError naming `flag` for a malformed or repeated pair."""
    pairs: dict[str, str] = {}
    for item in text.split(","):
        queue, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not queue or not value:
            raise ConfigError(FLAGS, flag, text, f"{item.strip()!r} is not QUEUE=VALUE")
        if queue in pairs:
            raise ConfigError(FLAGS, flag, text, f"queue {queue!r} given twice")
        pairs[queue] = value
    return pairs


def parse_priorities(text: str, flag: str = "--priority-map") -> dict[str, int]:
    """`q=n,...` as {q: n}; ConfigError naming `flag` for a value that is not an integer."""
    out: dict[str, int] = {}
    for queue, value in parse_map(text, flag).items():
        try:
            out[queue] = int(value)
        except ValueError:
            raise ConfigError(FLAGS, flag, text, f"the priority of {queue!r} is not an integer") from None
    return out


# --- the queue_log ---------------------------------------------------------------------------


def _seconds(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _Bad(name, text, "not a number") from None
    if not math.isfinite(value) or value < 0:
        raise _Bad(name, text, "must be a finite number of seconds >= 0")
    return value


def _datum(data: Sequence[str], index: int, name: str, event: str) -> float:
    """The `index`-th data field of an event, as seconds."""
    try:
        text = data[index]
    except IndexError:
        raise _Bad(name, "", f"missing: {event} has {len(data)} data fields") from None
    return _seconds(text, name)


def _step(calls: dict[str, _Call], line: int, head: Sequence[str], data: Sequence[str]) -> bool:
    """Apply one call event to its call; False if the event is not used (then it is counted)."""
    time_text, call_id, queue, agent, event = head
    call = calls.get(call_id)
    if event == "ENTERQUEUE":
        if not queue:
            raise _Bad("queuename", queue, "empty")
        at = _seconds(time_text, "time")
        if call is None:
            calls[call_id] = _Call(call_id, line, at, queue, at, WAITING, line, event)
            return True
        if call.state == SERVED:
            return False
        if call.state != LEFT:
            raise _Bad("event", event, f"while still {call.state} in queue {call.queue} (line {call.line})")
        if at < call.entered:
            raise _Bad("time", time_text, f"before the call's previous ENTERQUEUE (line {call.line})")
        call.queue, call.entered, call.state = queue, at, WAITING
    elif call is None:
        raise _Bad("event", event, "no ENTERQUEUE before it (does the log begin in the middle of this call?)")
    elif call.state == SERVED:
        return False
    elif event == "CONNECT":
        if call.state != WAITING:
            raise _Bad("event", event, f"while {call.state} (line {call.line}), not waiting in a queue")
        call.wait_s = call.entered - call.first_entered + _datum(data, 0, "holdtime", event)
        call.operator = "" if agent == "NONE" else agent
        call.state = TALKING
    elif event in TALK_ENDS:
        if call.state != TALKING:
            raise _Bad("event", event, f"while {call.state} (line {call.line}), not talking to an operator")
        fields = list(data)
        while event == "ATTENDEDTRANSFER" and fields and not fields[-1]:
            fields.pop()  # (data1..data5 exports pad with empty fields; this one is read from its end)
        call.talk_s = _datum(fields, TALK_ENDS[event], "calltime", event)
        call.state = SERVED
    else:  # a wait ends without an operator
        if call.state != WAITING:
            raise _Bad("event", event, f"while {call.state} (line {call.line}), not waiting in a queue")
        call.wait_s = call.entered - call.first_entered + _datum(data, WAIT_ENDS[event], "waittime", event)
        call.state = LEFT
    call.line, call.event = line, event
    return True


@dataclass
class _QueueLog:
    calls: dict[str, _Call]  # the calls read whole, by uniqueid, in order of first ENTERQUEUE
    bad: list[BadRow]
    named: set[str]  # every uniqueid the file names (so no CDR row of theirs is an IVR hang-up)
    lines: int
    ignored: Counter[str]
    lines_of_bad_calls: int


def _read_queue_log(path: Path) -> _QueueLog:
    from contactcenter.sim.tracefile import BadRow

    calls: dict[str, _Call] = {}
    bad: list[BadRow] = []
    bad_calls: set[str] = set()
    named: set[str] = set()
    ignored: Counter[str] = Counter()
    lines = lines_of_bad_calls = 0
    try:
        # (a caller's name in ENTERQUEUE may be in any encoding: it is never read, so undecodable
        # bytes are replaced rather than refusing the file)
        f = path.open(encoding="utf-8", errors="replace", newline="\n")
    except OSError as exc:
        raise ConfigError(
            str(path), "file", str(path), f"cannot read the queue_log: {exc.strerror}"
        ) from None
    with f:
        for line, text in enumerate(f, start=1):
            lines = line
            fields = text.rstrip("\r\n").split("|")
            call_id = fields[1] if len(fields) > 1 else ""
            if call_id not in NOT_CALLS:
                named.add(call_id)
            if len(fields) < len(HEAD_FIELDS):
                if not text.strip():
                    ignored["(blank line)"] += 1
                    continue
                why = f"a queue_log line has at least {len(HEAD_FIELDS)} ({'|'.join(HEAD_FIELDS)})"
                bad.append(BadRow(line, "" if call_id in NOT_CALLS else call_id, "line",
                                  f"{len(fields)} fields", why))  # fmt: skip
                if call_id not in NOT_CALLS:
                    bad_calls.add(call_id)
                    calls.pop(call_id, None)
                continue
            head, data = fields[: len(HEAD_FIELDS)], fields[len(HEAD_FIELDS) :]
            event = head[4]
            if event not in ("ENTERQUEUE", "CONNECT") and event not in TALK_ENDS and event not in WAIT_ENDS:
                ignored[event or "(no event)"] += 1
                continue
            if call_id in bad_calls:
                lines_of_bad_calls += 1
                continue
            if call_id in NOT_CALLS:
                bad.append(BadRow(line, "", "callid", call_id, f"{event} names no call"))
                continue
            try:
                if not _step(calls, line, head, data):
                    ignored[f"{event} after the call was served"] += 1
            except _Bad as exc:
                bad.append(BadRow(line, call_id, exc.field, exc.value, exc.problem))
                bad_calls.add(call_id)
                calls.pop(call_id, None)
    return _QueueLog(calls, bad, named, lines, ignored, lines_of_bad_calls)


# --- the CDR ---------------------------------------------------------------------------------


def _instants(naive: dt.datetime, tz: dt.tzinfo) -> tuple[float, ...]:
    """The instants a local reading can be: one; two in the hour repeated when clocks go back;
    none in the hour skipped when they go forward."""
    first, second = (naive.replace(tzinfo=tz, fold=fold).timestamp() for fold in (0, 1))
    if first == second:  # (the offset does not change here: every other hour of the year)
        return (first,)
    return tuple(
        at
        for at in sorted((first, second))
        if dt.datetime.fromtimestamp(at, tz).replace(tzinfo=None) == naive
    )


def _cdr_columns(file: Path, first: list[str]) -> tuple[dict[str, int], bool]:
    """Where the columns read are, and whether the first row is a header. cdr_csv writes no
    header, so a first row naming `start` and `dcontext` is taken as one (an export)."""
    names = [cell.strip().lower() for cell in first]
    if "start" in names and "dcontext" in names:
        missing = [c for c in CDR_READ if c not in names]
        if missing:
            raise ConfigError(
                str(file),
                "uniqueid" if "uniqueid" in missing else missing[0],
                ",".join(names),
                f"the CDR header lacks {', '.join(missing)}: its calls cannot be matched",
            )
        return {c: names.index(c) for c in CDR_READ}, True
    if len(first) <= CDR_COLUMNS.index("uniqueid"):
        raise ConfigError(
            str(file), "uniqueid", f"{len(first)} columns",
            "the CDR has no uniqueid column (cdr.conf [csv] loguniqueid=yes), so its calls cannot be"
            " matched to the queue_log",
        )  # fmt: skip
    if not UNIQUEID.fullmatch(first[CDR_COLUMNS.index("uniqueid")].strip()):
        raise ConfigError(
            str(file), "uniqueid", f"column {CDR_COLUMNS.index('uniqueid') + 1} of line 1",
            "is not an Asterisk uniqueid (is loguniqueid off and that column the userfield?), so the"
            " calls cannot be matched to the queue_log",
        )  # fmt: skip
    return {c: CDR_COLUMNS.index(c) for c in CDR_READ}, False


def _read_cdr(file: Path, tz: dt.tzinfo, bad: list[BadRow]) -> tuple[dict[str, list[_CdrRow]], int]:
    """The CDR's rows by uniqueid (only the columns read: never src, dst or clid), and the
    rows read. A row that cannot be read is a bad row."""
    import csv
    import itertools

    try:
        f = file.open(encoding="utf-8", errors="replace", newline="")
    except OSError as exc:
        raise ConfigError(str(file), "file", str(file), f"cannot read the CDR: {exc.strerror}") from None
    rows: dict[str, list[_CdrRow]] = {}
    n = 0
    with f:
        reader = csv.reader(f)
        first = next(reader, None)
        if first is None:
            return rows, 0
        where, header = _cdr_columns(file, first)
        width = max(where.values()) + 1
        for cells in reader if header else itertools.chain([first], reader):
            if cells:
                n += 1
                row = _cdr_row(reader.line_num, cells, where, width, tz, bad)
                if row is not None:
                    rows.setdefault(cells[where["uniqueid"]].strip(), []).append(row)
    return rows, n


def _cdr_row(
    line: int, cells: list[str], where: dict[str, int], width: int, tz: dt.tzinfo, bad: list[BadRow]
) -> _CdrRow | None:
    """One CDR row's columns read, or None (and a bad row) if it cannot be read."""
    from contactcenter.sim.tracefile import BadRow

    if len(cells) < width:
        bad.append(BadRow(line, "", "cdr row", f"{len(cells)} columns", f"a CDR row needs {width}"))
        return None
    uniqueid = cells[where["uniqueid"]].strip()
    start = cells[where["start"]].strip()
    try:
        if not uniqueid:
            raise _Bad("cdr uniqueid", "", "empty")
        if not CDR_TIME.fullmatch(start):
            raise _Bad("cdr start", start, "not a time YYYY-MM-DD HH:MM:SS")
        try:
            naive = dt.datetime.fromisoformat(start)
        except ValueError:
            raise _Bad("cdr start", start, "not a real time") from None
        return _CdrRow(
            line=line,
            start=start,
            starts=_instants(naive, tz),
            dcontext=cells[where["dcontext"]].strip(),
            answered=cells[where["disposition"]].strip() == "ANSWERED",
            duration_s=_seconds(cells[where["duration"]].strip(), "cdr duration"),
        )
    except _Bad as exc:
        bad.append(BadRow(line, uniqueid, exc.field, exc.value, exc.problem))
        return None


# --- records ---------------------------------------------------------------------------------


def _local(at: float, tz: dt.tzinfo) -> tuple[str, float]:
    """The local day of instant `at` and the local clock's reading then, in seconds."""
    local = dt.datetime.fromtimestamp(at, tz)
    clock = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    return local.date().isoformat(), clock


def _arrival(call: _Call, rows: list[_CdrRow]) -> float:
    """The CDR start of a queued call (see the rules above)."""
    fits = [at for row in rows for at in row.starts if 0 <= call.first_entered - at < MAX_IVR_S]
    if fits:
        return min(fits)
    first = min(rows, key=lambda r: r.line)
    raise _Bad(
        "cdr start", first.start,
        f"no CDR start of this call lies within {MAX_IVR_S:g} s before its first ENTERQUEUE"
        f" (queue_log line {call.first_line})",
        cdr_line=first.line,
    )  # fmt: skip


def import_queue_log(
    queue_log: Path,
    *,
    cdr: Path | None = None,
    skill_map: Mapping[str, str] | None = None,
    priority_map: Mapping[str, int] | None = None,
    ivr_context: str | None = None,
    tz: str = "Europe/Madrid",
    cdr_tz: str | None = None,
) -> ImportResult:
    """The trace records of Asterisk's queue_log (and CDR CSV, matched by uniqueid).
    `skill_map` and `priority_map` are by queue name (unmapped: the queue's name, priority 0);
    `tz` is the site's zone (the trace's days and clock), `cdr_tz` the CDR's times' (default
    `tz`; UTC when cdr.conf says usegmtime=yes). ConfigError for a file that cannot be read,
    a CDR that cannot be matched, or an unknown zone."""
    from contactcenter.sim.tracefile import BadRow, TraceRecord

    site = zone(tz, "tz")
    cdr_zone = zone(cdr_tz, "cdr_tz") if cdr_tz is not None else site
    skills, priorities = skill_map or {}, priority_map or {}
    log = _read_queue_log(Path(queue_log))
    result = ImportResult([], [], log.lines, log.ignored, log.lines_of_bad_calls)
    by_uniqueid: dict[str, list[_CdrRow]] = {}
    cdr_bad: list[BadRow] = []  # (at lines of the CDR file: their fields start with "cdr")
    if cdr is not None:
        by_uniqueid, result.cdr_rows = _read_cdr(Path(cdr), cdr_zone, cdr_bad)
    records: list[TraceRecord] = []
    for call in log.calls.values():
        try:
            if call.state in (WAITING, TALKING):
                raise _Bad(
                    "event", call.event, f"no end in the log: still {call.state} in queue {call.queue}"
                )
            arrival, ivr_s = call.first_entered, 0.0
            if cdr is not None:
                rows = by_uniqueid.get(call.call_id)
                if not rows:
                    raise _Bad("uniqueid", call.call_id, f"not in the CDR {cdr}: its arrival is unknown")
                arrival = _arrival(call, rows)
                ivr_s = call.first_entered - arrival
        except _Bad as exc:
            if exc.cdr_line is None:
                log.bad.append(BadRow(call.line, call.call_id, exc.field, exc.value, exc.problem))
            else:
                cdr_bad.append(BadRow(exc.cdr_line, call.call_id, exc.field, exc.value, exc.problem))
            continue
        day, clock = _local(arrival, site)
        served = call.state == SERVED
        records.append(
            TraceRecord(
                call_id=call.call_id,
                day=day,
                arrival_s=clock,
                skill=skills.get(call.queue, call.queue),
                language="",
                priority=priorities.get(call.queue, 0),
                ivr_s=ivr_s,
                outcome="served" if served else "abandoned",
                wait_s=call.wait_s,
                talk_s=call.talk_s if served else 0.0,
                operator=call.operator if served else "",
            )
        )
    for uniqueid, rows in by_uniqueid.items():
        if uniqueid in log.named:
            continue
        if ivr_context is None:
            result.cdr_ignored["not queued (no --ivr-context)"] += len(rows)
        elif not any(r.dcontext == ivr_context for r in rows):
            result.cdr_ignored["not queued, not in the IVR context"] += len(rows)
        elif not any(r.answered for r in rows):
            result.cdr_ignored["not queued, not answered"] += len(rows)
        else:
            unclear = [r for r in rows if len(r.starts) != 1]
            if unclear:
                why = (
                    "in the hour repeated when clocks went back"
                    if unclear[0].starts
                    else "in the hour skipped"
                )
                cdr_bad.append(BadRow(unclear[0].line, uniqueid, "cdr start", unclear[0].start,
                                         f"{why}: the instant cannot be told"))  # fmt: skip
                continue
            arrival = min(r.starts[0] for r in rows)
            day, clock = _local(arrival, site)
            records.append(
                TraceRecord(
                    call_id=uniqueid, day=day, arrival_s=clock, skill="", language="", priority=0,
                    ivr_s=max(r.starts[0] + r.duration_s for r in rows) - arrival, outcome="ivr_abandoned",
                    wait_s=0.0, talk_s=0.0, operator="",
                )
            )  # fmt: skip
    result.records = sorted(records, key=lambda r: (r.day, r.arrival_s, r.call_id))
    result.bad = sorted(log.bad, key=lambda b: b.line) + sorted(cdr_bad, key=lambda b: b.line)
    return result


# --- the command line ------------------------------------------------------------------------


def add_trace_parser(sub: Any) -> None:
    """Register `contactcenter trace import|info` on the CLI's subparsers."""
    p = sub.add_parser("trace", help="call traces: import a site's Asterisk logs, describe a trace")
    _arguments(p)


def _arguments(p: argparse.ArgumentParser) -> None:
    actions = p.add_subparsers(dest="trace_action", metavar="ACTION", required=True)
    imp = actions.add_parser(
        "import",
        help="Asterisk's queue_log (and CDR CSV) as a trace file",
        description="Reads Asterisk's queue_log (and its Master.csv CDR, with loguniqueid=yes) and writes"
        " a trace (sim/trace-format.md). No caller's number is read or written.",
    )
    imp.add_argument("queue_log", metavar="QUEUE_LOG", help="e.g. /var/log/asterisk/queue_log")
    imp.add_argument("--cdr", metavar="FILE", help="cdr_csv's Master.csv: arrivals, IVR times, IVR hang-ups")
    imp.add_argument("--ivr-context", metavar="CTX", help="the dialplan context of the IVR (with --cdr)")
    imp.add_argument("--skill-map", metavar="Q=SKILL,...", help="skills by queue (default: the queue's name)")
    imp.add_argument("--priority-map", metavar="Q=N,...", help="priorities by queue (default 0)")
    imp.add_argument("--tz", default="Europe/Madrid", metavar="ZONE", help="the site's zone (Europe/Madrid)")
    imp.add_argument(
        "--cdr-tz", metavar="ZONE", help="the CDR's times' zone (default --tz; UTC if usegmtime)"
    )
    imp.add_argument("--out", required=True, metavar="FILE", help="the trace file to write")
    imp.set_defaults(func=_cmd_import)
    info = actions.add_parser("info", help="a trace's days, calls per day and outcome, bad rows")
    info.add_argument("trace", metavar="FILE|bank", help="a trace file, or `bank` (the bundled month)")
    info.set_defaults(func=_cmd_info)


def _cmd_import(args: argparse.Namespace) -> int:
    from contactcenter.cli import writable
    from contactcenter.sim.tracefile import write_trace

    if args.ivr_context is not None and args.cdr is None:
        raise ConfigError(FLAGS, "--ivr-context", args.ivr_context, "needs --cdr (IVR hang-ups are CDR rows)")
    zone(args.tz, "--tz")
    if args.cdr_tz is not None:
        zone(args.cdr_tz, "--cdr-tz")
    skills = parse_map(args.skill_map, "--skill-map") if args.skill_map else None
    priorities = parse_priorities(args.priority_map) if args.priority_map else None
    out = writable(args.out, "--out")
    for flag, name in (("QUEUE_LOG", args.queue_log), ("--cdr", args.cdr)):
        if name is not None and not Path(name).is_file():
            raise ConfigError(FLAGS, flag, name, "no such file")
    result = import_queue_log(
        Path(args.queue_log),
        cdr=Path(args.cdr) if args.cdr else None,
        skill_map=skills,
        priority_map=priorities,
        ivr_context=args.ivr_context,
        tz=args.tz,
        cdr_tz=args.cdr_tz,
    )
    try:
        written = write_trace(result.records, out)
    except OSError as exc:
        raise ConfigError(FLAGS, "--out", args.out, f"cannot write: {exc.strerror}") from None
    outcomes = ", ".join(f"{n:,} {o}" for o, n in sorted(result.by_outcome.items())) or "none"
    print(f"{written:,} records written to {out} ({outcomes}) from {result.lines:,} queue_log lines")
    if result.cdr_rows:
        print(f"CDR: {result.cdr_rows:,} rows read")
    by_field = Counter(b.field for b in result.bad)
    print(f"bad rows: {len(result.bad):,}" + "".join(f"; {f} {n:,}" for f, n in sorted(by_field.items())))
    for line in shown(
        result.bad, lambda b: f"{'CDR' if b.field.startswith('cdr') else 'queue_log'} line {b.line}"
    ):
        print(line)
    if result.ignored:
        print("lines not used: " + "; ".join(f"{e} {n:,}" for e, n in sorted(result.ignored.items())))
    if result.lines_of_bad_calls:
        print(f"further lines of calls among the bad rows: {result.lines_of_bad_calls:,}")
    if result.cdr_ignored:
        print("CDR rows not used: " + "; ".join(f"{r} {n:,}" for r, n in sorted(result.cdr_ignored.items())))
    return 0


def describe(trace: Trace) -> list[str]:
    """`trace info`'s lines: days, calls per day and outcome, bad rows (SHOWN_BAD_ROWS, then a count)."""
    from contactcenter.sim.tracefile import OUTCOMES

    per_day: dict[str, Counter[str]] = {}
    for r in trace.records:
        per_day.setdefault(r.day, Counter())[r.outcome] += 1
    days = trace.days()
    span = f", {days[0]} to {days[-1]}" if days else ""
    lines = [f"{trace.source}: {len(trace.records):,} calls, {len(days)} days{span}"]
    lines.append("day          calls " + " ".join(f"{o:>13}" for o in OUTCOMES))
    for day in days:
        counts = per_day[day]
        lines.append(f"{day} {sum(counts.values()):>7,} " + " ".join(f"{counts[o]:>13,}" for o in OUTCOMES))
    lines.append(f"bad rows: {len(trace.bad_rows):,}")
    return lines + shown(trace.bad_rows, lambda b: f"line {b.line}")


def shown(bad: Sequence[BadRow], where: Callable[[BadRow], str]) -> list[str]:
    """Bad rows as lines (where, call, field, value, why): SHOWN_BAD_ROWS of them, then a count."""
    lines = [
        f"  {where(b)}{f' call {b.call_id}' if b.call_id else ''}: {b.field} {b.value!r}: {b.problem}"
        for b in bad[:SHOWN_BAD_ROWS]
    ]
    if len(bad) > SHOWN_BAD_ROWS:
        lines.append(f"  ... and {len(bad) - SHOWN_BAD_ROWS:,} more")
    return lines


def _cmd_info(args: argparse.Namespace) -> int:
    from contactcenter.sim.tracefile import bank_trace, read_trace

    trace = bank_trace() if args.trace == "bank" else read_trace(args.trace)
    print("\n".join(describe(trace)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`contactcenter trace ...` alone (as the CLI runs it: a ConfigError propagates)."""
    p = argparse.ArgumentParser(prog="contactcenter trace")
    _arguments(p)
    args = p.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ConfigError as exc:
        print("contactcenter trace:", exc, file=sys.stderr)
        sys.exit(2)
