# Records benchmark: what writing records costs. Rules: it prints figures and never fails on
# speed. Three figures, best of --repeat runs each:
# - the simulator without records (the default run: records are opt-in, and the hook must
#   cost nothing when off) and with SimRecords writing a file (`contactcenter sim --records`);
# - the live writer's observer side (RecordsWriter.observe and its RowBuilder, what runs on
#   the controller's event loop per fact), per call, on a real engine's change feed;
# - the report over the simulated file (`contactcenter report`, without the plot).
# Run: python tests/bench/bench_records.py [--calls N] [--repeat R]
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import tempfile
import time
from collections import Counter
from pathlib import Path

from contactcenter.config import RecordsConfig
from contactcenter.core import Engine
from contactcenter.core import events as ev
from contactcenter.records import RecordsWriter, SimRecords
from contactcenter.records.report import build_report, open_records
from contactcenter.sim.scenario import Scenario
from contactcenter.sim.virtual import simulate

ERLANGS, AHT_S = 200.0, 180.0
DAY = dt.date(2026, 3, 2)


def scenario(calls: int) -> Scenario:
    rate = ERLANGS * 3600 / AHT_S
    return Scenario.quick(
        arrival_rate=rate, aht=AHT_S, operators=210, patience=300, hours=calls / rate, seed=1
    )


def sim_run(sc: Scenario, folder: Path | None) -> tuple[float, int, int]:
    """(wall seconds, arrivals, rows written) of one run, with records in `folder` if given."""
    records = None
    if folder is not None:
        midnight = dt.datetime.combine(DAY, dt.time(), dt.UTC).timestamp()
        records = SimRecords(
            folder / "run.sqlite",
            epoch=midnight,
            window=(sc.start_s, sc.end_s),
            hours=None,
            sl_threshold_s=sc.sl_threshold_s,
            wrap_up_s=sc.wrap_up_s,
        )
        records.open()
    t0 = time.perf_counter()
    result = simulate(sc, records=records)
    if records is not None:
        records.close()
    return time.perf_counter() - t0, result.arrivals, records.written if records else 0


def observe_cost(calls: int) -> tuple[float, int]:
    """(seconds in RecordsWriter.observe, rows) for `calls` calls through a real engine."""
    return asyncio.run(_observe_cost(calls))


async def _observe_cost(calls: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        writer = RecordsWriter(
            RecordsConfig(path=Path(tmp) / "r.sqlite", retention_days=400),
            epoch=time.time(),
            counters=Counter(),
            flush_every_s=3600,  # (nothing is committed while the loop is timed)
            batch_rows=10**9,
            max_backlog=10**9,
        )
        await writer.start()
        engine = Engine(lines=10**6, record_changes=True)
        spent = 0.0

        def feed(event: ev.Event) -> None:
            nonlocal spent
            engine.handle(event)
            changes, done = engine.drain_changes(), engine.drain_completed()
            t0 = time.perf_counter()
            writer.observe(event.now, changes, done)
            spent += time.perf_counter() - t0

        feed(ev.OperatorLoggedIn(now=0, operator_id="a", skills=(("info", 1),), languages=("ca",)))
        for i in range(calls):
            t, cid = 10.0 * i, f"c{i}"
            feed(ev.CallArrived(now=t, call_id=cid))
            feed(ev.IvrCompleted(now=t + 1, call_id=cid, skill="info", language="ca"))
            feed(ev.OperatorAnswered(now=t + 2, call_id=cid, operator_id="a"))
            feed(ev.CallEnded(now=t + 8, call_id=cid))
        rows = writer.backlog
        await writer.stop()
        return spent, rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--calls", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    sc = scenario(args.calls)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        plain = min(sim_run(sc, None) for _ in range(args.repeat))
        recorded = min(sim_run(sc, folder) for _ in range(args.repeat))
        t0 = time.perf_counter()
        records = open_records(folder / "run.sqlite")
        report = build_report(records, DAY, DAY + dt.timedelta(days=int(sc.end_s // 86_400)))
        records.close()
        report_s = time.perf_counter() - t0
        size = (folder / "run.sqlite").stat().st_size
    print(f"simulator, {plain[1]:,} calls at {ERLANGS:g} Erlangs (best of {args.repeat}):")
    print(f"  without records  {plain[0]:7.2f} s  {plain[1] / plain[0]:>10,.0f} calls/s")
    print(
        f"  with records     {recorded[0]:7.2f} s  {recorded[1] / recorded[0]:>10,.0f} calls/s"
        f"  ({recorded[2]:,} rows, {recorded[2] / recorded[1]:.1f} per call, {size / 2**20:.1f} MiB)"
    )
    spent, rows = min(observe_cost(args.calls // 10) for _ in range(args.repeat))
    print(
        f"live observer: {1e6 * spent / (args.calls // 10):.1f} µs per call on the event loop"
        f" ({rows / (args.calls // 10):.1f} rows per call)"
    )
    print(f"report of the simulated file: {report_s:.2f} s for {report['total']['offered']:,} offered calls")


if __name__ == "__main__":
    main()
