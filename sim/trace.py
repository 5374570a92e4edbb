# The real call trace: "Anonymous Bank" call-centre database, Technion SEE Center, Israel
# Institute of Technology (one month, 42,078 calls; see sim/data/README.md).
# Rules: rows that do not parse are skipped and counted, never guessed at; times become
# seconds since midnight of the call's day.
from __future__ import annotations

import csv
import gzip
import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

TRACE = Path(__file__).resolve().parent / "data" / "anonymous-bank-1999-08.csv.gz"
ACKNOWLEDGEMENT = (
    'Data: "Anonymous Bank" call-centre database, Technion SEE Center, Israel Institute of Technology.'
)

# The bank's IVR services mapped onto the 010 skills, for replays through the 010 IVR.
TYPE_TO_SKILL = {"PS": "info", "PE": "info", "NW": "info", "IN": "tramits", "TT": "tramits", "NE": "tributs"}


@dataclass(frozen=True, slots=True)
class TraceCall:
    day: str
    call_id: str
    arrival_s: float  # entered the IVR, seconds since midnight
    ivr_s: float
    service_type: str  # PS, PE, IN, NE, NW, TT
    priority: int
    outcome: str  # AGENT (served), HANG (hung up), PHANTOM
    queue_s: float
    talk_s: float
    queued: bool = True  # joined the operators' queue (q_start given); False: left from the IVR
    server: str = ""  # the operator who served it ("" when none)

    @property
    def served(self) -> bool:
        return self.outcome == "AGENT"

    @property
    def ivr_abandoned(self) -> bool:
        """Hung up in the IVR: neither served nor ever queued (HANG, or a PHANTOM that
        vanished there)."""
        return not self.served and not self.queued


def _clock(text: str) -> float:
    h, m, s = text.split(":")
    return int(h) * 3600 + int(m) * 60 + int(s)


def load_trace(path: Path = TRACE) -> tuple[list[TraceCall], Counter[str]]:
    """All calls of the trace in arrival order, and the count of rows skipped by reason."""
    raw = path.read_bytes()
    text = gzip.decompress(raw).decode() if path.suffix == ".gz" else raw.decode()
    calls: list[TraceCall] = []
    skipped: Counter[str] = Counter()
    for row in csv.DictReader(io.StringIO(text)):
        try:
            call = TraceCall(
                day=row["date"],
                call_id=row["call_id"],
                arrival_s=_clock(row["vru_entry"]),
                ivr_s=float(row["vru_time"]),
                service_type=row["type"],
                priority=int(row["priority"]),
                outcome=row["outcome"],
                queue_s=float(row["q_time"]),
                talk_s=float(row["ser_time"]),
                queued=row["q_start"] != "0:00:00",
                server="" if row["server"] == "NO_SERVER" else row["server"],
            )
        except (KeyError, ValueError, AttributeError):
            skipped["unparseable"] += 1
            continue
        if min(call.ivr_s, call.queue_s, call.talk_s) < 0:  # (the bank has some: reported)
            skipped["negative_duration"] += 1
            continue
        if call.service_type not in TYPE_TO_SKILL:
            skipped["unknown_type"] += 1
            continue
        calls.append(call)
    calls.sort(key=lambda c: (c.day, c.arrival_s, c.call_id))
    return calls, skipped


def busiest_hour(calls: list[TraceCall]) -> tuple[str, int]:
    """(day, hour) with the most arrivals."""
    counts = Counter((c.day, int(c.arrival_s // 3600)) for c in calls)
    return max(counts.items(), key=lambda kv: (kv[1], kv[0]))[0]
