# The soak: live load through the real Asterisk for a set time, and whether anything grows.
# The controller runs as its own process (`contactcenter run`, as in production) with its
# records, callback store and desk store in SQLite files; rounds of SIPp callers (each at
# most --round-calls, placed at --rate calls/s, talking --talk s with simulated operators,
# enough of them to keep about --lines calls in progress) follow one another until
# --minutes have passed. Before the first round and after each one it reads:
#   the controller's RSS (/proc/PID/status VmRSS) and open file descriptors (/proc/PID/fd),
#   its asyncio tasks and pending AMI actions (cc_asyncio_tasks, cc_ami_pending_actions on
#   its /metrics), Asterisk's channels left (CoreShowChannels) and RSS, and the SQLite
#   files' sizes (with their -wal), and prints them at start and end with the growth, per
#   round and per hour. Flat is the goal; it never fails on a figure. Bounded: at most
#   --minutes (plus the last round), at most MAX_ROUNDS rounds, loopback only.
# The sandbox must be up with the tests' centre:
#   contactcenter sandbox up --config tests/integration/010-test.yaml
# Run: python tests/bench/bench_soak.py [--minutes 30] [--json soak.json] (from the checkout).
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from contactcenter import sandbox
from contactcenter.sim.load import MAX_BURST_CALLS, LoadPlan, centre_for, observer_link, run_against

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # (the checkout: `python tests/bench/...`)
from tests.bench.bench_load import load_note
from tests.controllerproc import run_controller
from tests.scrape import Samples, http_get

TEST_CONFIG = Path(__file__).resolve().parent.parent / "integration" / "010-test.yaml"
MAX_ROUNDS = 200
SAMPLE_PERIOD_S = 5.0  # Asterisk's channels, during a round (as bench_load.py)


@dataclass(frozen=True)
class Reading:
    at_s: float  # since the soak began
    calls: int  # placed so far
    rss_mb: float
    fds: int
    tasks: float
    pending_actions: float
    asterisk_channels: int  # left after the round (-1: Asterisk did not answer)
    asterisk_rss_mb: float
    sqlite_kb: dict[str, float]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def sqlite_kb(files: dict[str, Path]) -> dict[str, float]:
    """Each file with its -wal (what the disk holds for it), in KB."""
    out = {}
    for name, path in files.items():
        size = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
        out[name] = round(size / 1024, 1)
    return out


async def read(
    t0: float, calls: int, pid: int, url: str, asterisk_pid: int, channels: int, files: dict[str, Path]
) -> Reading:
    metrics = Samples((await http_get(url)).body)
    return Reading(
        at_s=round(time.monotonic() - t0, 1),
        calls=calls,
        rss_mb=round(rss_mb(pid), 1),
        fds=len(os.listdir(f"/proc/{pid}/fd")),
        tasks=metrics.value("cc_asyncio_tasks"),
        pending_actions=metrics.value("cc_ami_pending_actions"),
        asterisk_channels=channels,
        asterisk_rss_mb=round(rss_mb(asterisk_pid), 1),
        sqlite_kb=sqlite_kb(files),
    )


async def asterisk_channels(state: sandbox.SandboxState) -> int:
    """Asterisk's channels now (CoreShowChannels through the observer's login)."""
    link = observer_link(state, 10)
    await link.connect()
    try:
        return len(await link.list_items({"Action": "CoreShowChannels"}, "CoreShowChannel"))
    finally:
        link.close()


def row(r: Reading) -> str:
    files = " ".join(f"{k} {v:,.0f}" for k, v in r.sqlite_kb.items())
    return (
        f"  {r.at_s:>7.0f} s {r.calls:>7,} calls | RSS {r.rss_mb:6.1f} MB | fds {r.fds:3d}"
        f" | tasks {r.tasks:3.0f}"
        f" | pending {r.pending_actions:2.0f} | Asterisk channels {r.asterisk_channels:3d}, RSS"
        f" {r.asterisk_rss_mb:6.1f} MB | SQLite KB: {files}"
    )


def growth(readings: list[Reading]) -> dict[str, Any]:
    """End minus start, and per hour from the second reading on (after the first round's
    warm-up: imports, caches, the first records batch)."""
    first, warm, last = readings[0], readings[min(1, len(readings) - 1)], readings[-1]
    hours = (last.at_s - warm.at_s) / 3600

    def per_hour(a: float, b: float) -> float | None:
        return round((b - a) / hours, 2) if hours > 0 else None

    out: dict[str, Any] = {}
    for name in ("rss_mb", "fds", "tasks", "pending_actions", "asterisk_channels", "asterisk_rss_mb"):
        a, w, b = getattr(first, name), getattr(warm, name), getattr(last, name)
        out[name] = {"start": a, "end": b, "growth": round(b - a, 2), "per_hour_after_warmup": per_hour(w, b)}
    for name in last.sqlite_kb:
        a, w, b = first.sqlite_kb[name], warm.sqlite_kb[name], last.sqlite_kb[name]
        kb_per_1000 = round((b - w) / max(1, (last.calls - warm.calls) / 1000), 1)
        out[f"sqlite_{name}_kb"] = {
            "start": a,
            "end": b,
            "growth": round(b - a, 1),
            "per_1000_calls": kb_per_1000,
        }
    return out


async def soak(args: argparse.Namespace, state: sandbox.SandboxState) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="cc-bench-soak-"))
    raw: dict[str, Any] = yaml.safe_load(TEST_CONFIG.read_text())
    files = {
        "records": tmp / "records.sqlite",
        "callbacks": tmp / "callbacks.sqlite",
        "desks": tmp / "desks.sqlite",
    }
    raw["records"]["path"] = str(files["records"])
    raw["callbacks"]["store"] = str(files["callbacks"])
    raw["desks"] = {"store": str(files["desks"])}
    # Enough operators that calls rarely wait: each is busy ring + talk + wrap-up per call.
    wrap_up = float(raw["routing"]["wrap_up"])
    operators = min(args.lines, math.ceil(args.rate * (1 + args.talk + wrap_up) * 1.1))
    plan = LoadPlan(
        calls=args.round_calls,
        rate=args.rate,
        patience_s=args.talk + 120,
        talk_s=args.talk,
        lines=args.lines,
        operators=operators,
    )
    cfg = centre_for(raw, plan, "soak")
    path = tmp / "centre.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    url = f"http://{cfg.http.host}:{cfg.http.port}/metrics"
    print(
        f"soak: {args.minutes:g} min of rounds of {args.round_calls} calls at {args.rate:g}/s, talk"
        f" {args.talk:g} s, {operators} simulated operators, {args.lines} lines ({load_note()})"
    )
    proc = await run_controller(path)
    assert proc.stdout is not None
    drain = asyncio.get_running_loop().create_task(proc.stdout.read())  # (its log never blocks it)
    readings: list[Reading] = []
    rounds: list[dict[str, Any]] = []
    t0 = time.monotonic()
    placed = 0
    try:
        before = await asterisk_channels(state)  # (what an earlier run may have left)
        readings.append(await read(t0, placed, proc.pid, url, state.pid, before, files))
        print(row(readings[-1]))
        while len(rounds) < MAX_ROUNDS and time.monotonic() - t0 < args.minutes * 60:
            report = await run_against(
                cfg,
                plan,
                state,
                progress=lambda _line: None,
                controller_pid=proc.pid,
                sample_period_s=SAMPLE_PERIOD_S,
            )
            placed += report.calls
            rounds.append(
                {
                    "calls": report.calls,
                    "sipp": report.sipp,
                    "kpis": report.kpis,
                    "max_lines_in_use": report.max_lines_in_use,
                    "asterisk_max_channels": report.asterisk_max_channels,
                    "routing_latency_ms": report.routing_latency_ms,
                    "mismatches": report.mismatches,
                }
            )
            readings.append(await read(t0, placed, proc.pid, url, state.pid, report.channels_left, files))
            print(
                row(readings[-1]) + f" | round {len(rounds)}: sipp ok {report.sipp['successful']}"
                f" failed {report.sipp['failed']},"
                f" max lines in use {report.max_lines_in_use}, answered {report.kpis.get('answered')}"
            )
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)
        await drain
    g = growth(readings)
    wall = readings[-1].at_s
    print(
        f"\n{len(rounds)} rounds, {placed:,} calls in {wall / 60:.1f} min ({load_note()});"
        " start -> end (growth):"
    )
    for name, figures in g.items():
        extra = (
            f", {figures['per_hour_after_warmup']} per hour after the first round"
            if "per_hour_after_warmup" in figures
            else f", {figures['per_1000_calls']} KB per 1,000 calls after the first round"
        )
        print(f"  {name:<22} {figures['start']} -> {figures['end']} ({figures['growth']:+}){extra}")
    failed = sum(r["sipp"].get("failed", 0) for r in rounds)
    mismatches = [m for r in rounds for m in r["mismatches"]]
    print(f"  SIPp calls failed {failed}; cross-check mismatches {mismatches or 'none'}")
    return {
        "minutes": args.minutes,
        "rate": args.rate,
        "talk_s": args.talk,
        "lines": args.lines,
        "operators": operators,
        "calls": placed,
        "readings": [asdict(r) for r in readings],
        "rounds": rounds,
        "growth": g,
        "load": load_note(),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--rate", type=float, default=8.5, help="calls/s placed in each round (~220 in progress)")
    p.add_argument("--talk", type=float, default=20.0, help="seconds each conversation lasts")
    p.add_argument("--lines", type=int, default=220)
    p.add_argument("--round-calls", type=int, default=1000)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    if not 0 < args.minutes <= 24 * 60:
        raise SystemExit("--minutes must be 0 to 1440")
    if not 1 <= args.round_calls <= MAX_BURST_CALLS:
        raise SystemExit(f"--round-calls must be 1 to {MAX_BURST_CALLS}")
    state = sandbox.load_state()
    if state is None or not sandbox.status()["running"]:
        raise SystemExit(
            "the sandbox is not running: contactcenter sandbox up --config tests/integration/010-test.yaml"
        )
    result = asyncio.run(soak(args, state))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
