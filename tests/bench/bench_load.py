# Live load figures through the real Asterisk (the sandbox must be up with the tests'
# centre: `contactcenter sandbox up --config tests/integration/010-test.yaml`). It prints
# figures and never fails on speed; the machine's load average is printed beside them, and
# figures taken on a loaded machine say so.
# - A burst of `--calls` SIPp callers (250), one simulated operator each, connected by our
#   controller (`contactcenter run`, its own process, read over HTTP as `contactcenter load`
#   reads a running one), then the same callers connected by tests/bench/bare_originate.py
#   (panoramisk, Originate + Bridge and nothing else; and its conference variant, the way
#   the controller connects), in the same run. One stopwatch for all, in its own process:
#   the observer's AMI events, from the first caller queued (CcQueued) to the last one in a
#   bridge (BridgeEnter), and each call's steps (queued, its operator's leg created,
#   answered, the citizen in the bridge). A burst's time varies from run to run by how
#   Asterisk's threads get the 2 cores, so `--pairs` (3) runs of controller-then-bare are
#   made; the median ratio controller / bare is the figure (goal <= 1.3x).
# - At `--latency-calls` (220) the controller in this process, for its exact routing
#   latency p50/p99 (event read to action written; goal p99 <= 5 ms), CPU (and the time
#   the event loop's thread was ready but waited for a CPU: the machine's share), peak RSS, AMI
#   events per call and event-loop lag.
# The load average is taken before each run (the label) and after it: during a burst it counts
# Asterisk's own channel threads, hundreds of them, so the figure after says little.
# Run: python tests/bench/bench_load.py [--calls 250] [--pairs 3] [--latency-calls 220] (from the checkout).
# The bare Bridge method leaks Surrogate channels in Asterisk 22.5+ (DESIGN.md): it runs
# last, and the channels it leaves are printed.
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from contactcenter import sandbox
from contactcenter.config import Config
from contactcenter.sim.load import (
    ControllerFigures,
    LoadPlan,
    LoadReport,
    ViewSample,
    centre_for,
    drive,
    percentile,
    run_against,
    run_load,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # (the checkout: `python tests/bench/...`)
from tests.bench.bare_originate import STEPS
from tests.controllerproc import run_controller

TEST_CONFIG = Path(__file__).resolve().parent.parent / "integration" / "010-test.yaml"
HERE = Path(__file__).resolve().parent
RING_S, TALK_S, PATIENCE_S = 1.0, 4.0, 30.0
# Asterisk's channels read every this often (CoreShowChannels of ~700 channels is work for
# both ends; the in-process controller would pay it on its own loop): the same for all runs.
SAMPLE_PERIOD_S = 5.0
# Between runs: the last run's channels hang up and Asterisk's threads end before the next.
SETTLE_S = 20.0


def load_note() -> str:
    one, five, fifteen = os.getloadavg()
    cores = os.cpu_count() or 1
    note = f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {cores} cores"
    return note + (" -- LOADED MACHINE: figures are not clean" if one > cores / 2 else "")


class Connected(NamedTuple):
    queued: int  # citizens that reached the queue
    bridged: int  # of those, in a bridge with an operator
    all_s: float | None  # first queued to last bridged
    each_p50_s: float
    each_p99_s: float
    # each step's p50 and p90 in ms (queued->originated ... redirected->bridged), over the
    # calls whose every step was seen
    steps: dict[str, tuple[float, float]]


def connected(times: dict[str, dict[str, float]]) -> Connected:
    queued, bridged = times["queued"], times["bridged"]
    both = [ch for ch in bridged if ch in queued]
    each = [bridged[ch] - queued[ch] for ch in both]
    all_s = max(bridged[ch] for ch in both) - min(queued.values()) if both else None
    names = list(STEPS)
    complete = [uid for uid in both if all(uid in times[step] for step in names)]
    steps = {}
    for before, after in itertools.pairwise(names):
        took = [(times[after][uid] - times[before][uid]) * 1000 for uid in complete]
        steps[f"{before}->{after}"] = (percentile(took, 50), percentile(took, 90))
    return Connected(len(queued), len(both), all_s, percentile(each, 50), percentile(each, 99), steps)


class Helper:
    """A bare_originate.py process (`bare` or `record`), started and stopped by its pid."""

    def __init__(self, *args: str) -> None:
        self.args = args
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Helper:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(HERE / "bare_originate.py"),
            *self.args,
            stdout=asyncio.subprocess.PIPE,
            start_new_session=self.args[0] == "bare",  # (as the controller: see run_controller)
        )
        assert self.proc.stdout is not None
        async with asyncio.timeout(20):
            while b"ready" not in (line := await self.proc.stdout.readline()):
                assert line, f"bare_originate {self.args[0]} exited before it was ready"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        out = await asyncio.wait_for(self.proc.stdout.read(), 20)
        await asyncio.wait_for(self.proc.wait(), 20)
        return out.decode(errors="replace").strip()


class _Bare:
    """The bare script as `drive` sees a controller: nothing to read (SIPp's end ends the run)."""

    mode = "bare"

    async def start(self) -> None:
        return None

    def began(self, t0: float) -> None:
        return None

    async def sample(self) -> ViewSample:
        return ViewSample(0, -1, -1)

    async def finish(self, calls: int) -> ControllerFigures:
        return ControllerFigures(  # (no controller: the bare script connects)
            kpis={},
            max_lines_in_use=0,
            connected_s=None,
            routing_latency_ms={"p50": 0.0, "p99": 0.0, "count": 0},
            controller_cpu_s=None,
            controller_cpu_wait_s=None,
            peak_rss_mb=None,
            ami_events=0,
            event_loop_lag_ms={"mean": 0.0, "max": 0.0},
            stale_facts={},
        )

    async def stop(self) -> None:
        return None


def _centre(calls: int, tmp: Path) -> tuple[LoadPlan, Config, Path]:
    raw: dict[str, Any] = yaml.safe_load(TEST_CONFIG.read_text())
    raw["records"]["path"] = str(tmp / "records.sqlite")
    raw["callbacks"]["store"] = str(tmp / "callbacks.sqlite")
    plan = LoadPlan(
        calls=calls, rate=125, patience_s=PATIENCE_S, talk_s=TALK_S, lines=max(calls, 220), operators=calls
    )
    cfg = centre_for(raw, plan, "bench")
    path = tmp / "centre.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    return plan, cfg, path


def _quiet(line: str) -> None:
    return None


async def controller_burst(
    calls: int, state: sandbox.SandboxState, tmp: Path
) -> tuple[LoadReport, Connected]:
    plan, cfg, path = _centre(calls, tmp)
    times = tmp / "controller-times.json"
    async with Helper("record", "--out", str(times)) as recorder:
        proc = await run_controller(path, own_session=True)
        assert proc.stdout is not None
        drain = asyncio.get_running_loop().create_task(proc.stdout.read())
        try:
            report = await run_against(
                cfg, plan, state, progress=_quiet, controller_pid=proc.pid, sample_period_s=SAMPLE_PERIOD_S
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 30)
            await drain
        await recorder.stop()
    return report, connected(json.loads(times.read_text()))


async def bare_burst(
    calls: int, method: str, state: sandbox.SandboxState, tmp: Path
) -> tuple[LoadReport, Connected, str]:
    plan, cfg, path = _centre(calls, tmp)
    times = tmp / f"bare-{method}-times.json"
    args = (
        "bare",
        "--config",
        str(path),
        "--method",
        method,
        "--ring",
        f"{RING_S:g}",
        "--talk",
        f"{TALK_S:g}",
    )
    async with Helper("record", "--out", str(times)) as recorder, Helper(*args) as bare:
        report = await drive(_Bare(), cfg, plan, state, _quiet, SAMPLE_PERIOD_S)
        counts = await bare.stop()
        await recorder.stop()
    return report, connected(json.loads(times.read_text())), counts


def _line(what: str, c: Connected, r: LoadReport) -> str:
    all_s = "n/a" if c.all_s is None else f"{c.all_s:.3f} s"
    return (
        f"  {what:<22} all {c.bridged}/{c.queued} connected in {all_s}"
        f" (each: p50 {c.each_p50_s * 1000:.0f} ms, p99 {c.each_p99_s * 1000:.0f} ms);"
        f" sipp ok {r.sipp['successful']} failed {r.sipp['failed']};"
        f" Asterisk max channels {r.asterisk_max_channels}, left {r.channels_left}\n"
        f"  {'':<22} steps, p50 / p90: "
        + ", ".join(f"{step} {p50:.1f} / {p90:.1f} ms" for step, (p50, p90) in c.steps.items())
    )


async def ratio(calls: int, methods: list[str], state: sandbox.SandboxState, pairs: int) -> None:
    """`pairs` runs of the controller, each followed by one of each bare method: a burst's
    time varies from run to run with how Asterisk's threads get the 2 cores, so each pair's
    ratio is printed and the median is the figure."""
    tmp = Path(tempfile.mkdtemp(prefix="cc-bench-load-"))
    ratios: dict[str, list[float]] = {method: [] for method in methods}
    for run in range(1, pairs + 1):
        print(f"{calls}-call burst, run {run} of {pairs} ({load_note()}):")
        ours, ours_c = await controller_burst(calls, state, tmp)
        print(_line("controller", ours_c, ours))
        lat = ours.routing_latency_ms
        p50, p99 = (f"<= {lat[q]} ms" if lat[q] is not None else "> 1000 ms" for q in ("p50", "p99"))
        print(
            f"  {'':<22} answered {ours.kpis.get('answered')}; routing latency (buckets) p50 {p50}"
            f" p99 {p99}; CPU {ours.controller_cpu_s} s (waited for a CPU {ours.controller_cpu_wait_s} s);"
            f" peak RSS {ours.peak_rss_mb} MB;"
            f" AMI events/call {ours.ami_events_per_call}; event-loop lag mean"
            f" {ours.event_loop_lag_ms['mean']} ms max {ours.event_loop_lag_ms['max']} ms;"
            f" mismatches {ours.mismatches or 'none'}"
        )
        for method in methods:
            await asyncio.sleep(SETTLE_S)
            report, c, counts = await bare_burst(calls, method, state, tmp)
            print(_line(f"bare ({method})", c, report) + f"; {counts}")
            if ours_c.all_s is not None and c.all_s:
                ratios[method].append(ours_c.all_s / c.all_s)
                print(f"  {'':<22} ratio controller / bare ({method}): {ratios[method][-1]:.2f}x")
        await asyncio.sleep(SETTLE_S)
    for method, each in ratios.items():
        if each:
            listed = ", ".join(f"{r:.2f}x" for r in each)
            print(
                f"ratio controller / bare ({method}): median {statistics.median(each):.2f}x"
                f" of {listed} (goal <= 1.3x)"
            )
    print(f"  ({load_note()})")


async def latency(calls: int, state: sandbox.SandboxState) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="cc-bench-load-"))
    plan, cfg, _ = _centre(calls, tmp)
    r = await run_load(cfg, plan, state, progress=_quiet, sample_period_s=SAMPLE_PERIOD_S)
    lat, lag = r.routing_latency_ms, r.event_loop_lag_ms
    print(
        f"{calls} calls, controller in this process ({load_note()}):\n"
        f"  routing latency p50 {lat['p50']} ms p99 {lat['p99']} ms"
        f" (goal p99 <= 5 ms; {lat['count']} samples);"
        f" all connected in {r.connected_s} s; answered {r.kpis['answered']};"
        f" sipp ok {r.sipp['successful']} failed {r.sipp['failed']}; CPU {r.controller_cpu_s} s"
        f" (waited for a CPU {r.controller_cpu_wait_s} s);"
        f" peak RSS {r.peak_rss_mb} MB; AMI events/call {r.ami_events_per_call};"
        f" lag mean {lag['mean']} ms max {lag['max']} ms; Asterisk max channels {r.asterisk_max_channels},"
        f" left {r.channels_left}; mismatches {r.mismatches or 'none'}"
    )


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--calls", type=int, default=250, help="the burst for the ratio")
    p.add_argument("--methods", nargs="*", default=["conference", "bridge"], choices=["conference", "bridge"])
    p.add_argument(
        "--pairs", type=int, default=3, help="controller-then-bare runs; the median ratio is the figure"
    )
    p.add_argument("--latency-calls", type=int, default=220)
    args = p.parse_args()
    state = sandbox.load_state()
    if state is None or not sandbox.status()["running"]:
        raise SystemExit(
            "the sandbox is not running: contactcenter sandbox up --config tests/integration/010-test.yaml"
        )
    # (the latency run before the bare Bridge, which may leave Surrogate channels behind)
    methods = [m for m in args.methods if m != "bridge"]
    asyncio.run(ratio(args.calls, methods, state, args.pairs))
    if args.latency_calls:
        asyncio.run(latency(args.latency_calls, state))
    if "bridge" in args.methods:
        asyncio.run(ratio(args.calls, ["bridge"], state, 1))


if __name__ == "__main__":
    main()
