# `contactcenter load` live: its driver puts SIPp citizens (RFC 4733 DTMF through the IVR)
# through the real Asterisk, and three views must agree with what the plan predicts: the
# controller's (KPIs, lines in use), SIPp's (its own successful/failed counts) and
# Asterisk's (citizen channels seen at once, none left). Every expected count comes from
# the plan or the trace selection (sim/load.py's `expected`, `trace_bounds`), never written
# here. Three ways in:
# - the capacity test: a burst beyond the tests' 220 lines, with fewer simulated operators
#   than lines and callers whose patience runs out while the operators' conversations and
#   wrap-ups last longer (our own controller in this process, `--up`'s);
# - the running stack: a controller started as its own process (`contactcenter run`), read
#   only over its HTTP listener, as `contactcenter load` without --up reads it;
# - a few minutes of a bank day replayed, time-scaled.
from __future__ import annotations

import asyncio
import signal
import socket
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from contactcenter.sandbox import SandboxState
from contactcenter.sim.load import (
    LoadPlan,
    centre_for,
    expected,
    main,
    run_against,
    run_load,
    trace_bounds,
    trace_selection,
)
from contactcenter.sim.sipp import PlannedCall
from tests.conftest import TEST_CONFIG
from tests.controllerproc import run_controller

CALLS = 300  # more than the test centre's 220 lines: some must be blocked


def _raw(tmp_path: Path) -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load(TEST_CONFIG.read_text())
    raw["records"]["path"] = str(tmp_path / "records.sqlite")
    raw["callbacks"]["store"] = str(tmp_path / "callbacks.sqlite")
    return raw


async def test_a_burst_beyond_the_lines_is_held_blocked_answered_and_abandoned_as_planned(
    asterisk: SandboxState, tmp_path: Path
) -> None:
    raw = _raw(tmp_path)
    lines = int(raw["centre"]["lines"])
    plan = LoadPlan(
        calls=CALLS,
        rate=150,  # the burst lasts 2 s: shorter than any call, so all overlap
        patience_s=30,  # callers hang up 30 s after their last key, waiting or talking
        talk_s=600,  # operators never end first: a conversation ends with the caller's patience
        operators=lines - 20,  # some held callers wait, and give up
        # No operator is free again before every waiter has given up: a long wrap-up, so that
        # a slow machine (the burst and the IVR stretched by seconds) keeps the counts exact.
        wrap_up_s=60,
    )
    cfg = centre_for(raw, plan, "load test")
    want = expected(plan, cfg.lines, cfg.routing.wrap_up)
    assert want is not None, "the plan must be one the model predicts exactly"
    assert want.blocked > 0 and want.abandoned > 0  # (the plan exercises both)

    report = await run_load(cfg, plan, asterisk)
    print(f"\nload: {report}")

    k = report.kpis
    assert report.max_lines_in_use == want.held, report
    assert (k["blocked"], k["answered"], k["abandoned"]) == (want.blocked, want.answered, want.abandoned), k
    assert k["callback"] == 0 and k["closed"] == 0, k
    assert k["offered"] == CALLS, k  # every caller ended: answered, abandoned, blocked or called back
    assert report.sipp["successful"] + report.sipp["failed"] == CALLS, report.sipp
    assert report.sipp["failed"] == 0 and report.sipp["exit_code"] == 0, report.sipp
    assert want.held <= report.asterisk_max_citizen_channels <= CALLS, report
    assert report.channels_left == 0, report
    assert report.routing_latency_ms["count"] >= want.answered, report.routing_latency_ms
    assert report.ami_events_per_call > 0
    assert report.mismatches == [], report.mismatches


async def _stop(proc: asyncio.subprocess.Process, drain: asyncio.Task[bytes]) -> bytes:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), 20)
    except TimeoutError:
        proc.kill()
        await proc.wait()
    return await asyncio.wait_for(drain, 5)


async def test_load_against_a_running_controller_reads_its_view_over_http(
    asterisk: SandboxState, tmp_path: Path
) -> None:
    # The controller is another process, started as `contactcenter run` starts it, with the
    # centre the plan wants; the driver knows it only by its configuration's HTTP address.
    raw = _raw(tmp_path)
    plan = LoadPlan(calls=8, rate=10, patience_s=25, talk_s=3, draws="fixed")
    cfg = centre_for(raw, plan, "load test")  # (rewrites `raw` as the plan wants: one operator per line)
    config = tmp_path / "running.yaml"
    config.write_text(yaml.safe_dump(raw, allow_unicode=True))
    want = expected(plan, cfg.lines, cfg.routing.wrap_up)
    assert want is not None and want.answered == plan.calls

    proc = await run_controller(config)
    assert proc.stdout is not None
    drain = asyncio.get_running_loop().create_task(proc.stdout.read())  # (a full pipe would stall it)
    try:
        report = await run_against(cfg, plan, asterisk, controller_pid=proc.pid)
    finally:
        log = await _stop(proc, drain)
    print(f"\nload (running): {report}")
    assert report.mode == "running"
    k = report.kpis
    assert (k["offered"], k["answered"], k["blocked"], k["abandoned"]) == (
        plan.calls,
        want.answered,
        want.blocked,
        want.abandoned,
    ), k
    assert report.sipp == {"successful": plan.calls, "failed": 0, "exit_code": 0}, report.sipp
    assert report.channels_left == 0, report
    assert report.routing_latency_ms["count"] >= want.answered and not report.routing_latency_ms["exact"]
    assert report.controller_cpu_s is not None and report.peak_rss_mb is not None and report.peak_rss_mb > 0
    # (the controller's own process, found by its listener: the kernel keeps its run-queue delay)
    assert report.controller_cpu_wait_s is not None and report.controller_cpu_wait_s >= 0
    assert report.ami_events >= plan.calls  # (the controller's own count, read over HTTP)
    assert report.mismatches == [], report.mismatches
    assert b"Traceback" not in log


async def test_each_caller_talks_as_long_as_the_plan_says_against_a_running_controller(
    asterisk: SandboxState, tmp_path: Path
) -> None:
    # The plan's talk time of each call goes with it (SIP header X-CC-Talk, read by the
    # simulated operator's dialplan), not the controller's one talk time for all: the
    # conversations in the controller's own records last what the plan said.
    talks = [2.0, 3.5, 5.0, 6.5, 8.0]
    callers = tuple(PlannedCall(arrive_s=0.3 * i, patience_s=40.0, talk_s=t) for i, t in enumerate(talks))
    raw = _raw(tmp_path)
    plan = LoadPlan(calls=len(callers), rate=1, callers=callers, talk_s=12.0)  # (12 s: the fallback)
    cfg = centre_for(raw, plan, "load test")
    config = tmp_path / "running.yaml"
    config.write_text(yaml.safe_dump(raw, allow_unicode=True))
    proc = await run_controller(config)
    assert proc.stdout is not None
    drain = asyncio.get_running_loop().create_task(proc.stdout.read())
    try:
        report = await run_against(cfg, plan, asterisk, controller_pid=proc.pid)
    finally:
        await _stop(proc, drain)
    assert report.kpis["answered"] == len(talks), report.kpis
    with sqlite3.connect(raw["records"]["path"]) as db:
        recorded = sorted(t for (t,) in db.execute("SELECT talk_s FROM calls WHERE outcome = 'answered'"))
    assert len(recorded) == len(talks)
    for got, want in zip(recorded, sorted(talks), strict=True):
        assert got == pytest.approx(want, abs=1.0), (recorded, talks)


def test_load_without_up_and_no_controller_is_a_one_line_error(
    asterisk: SandboxState, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = _raw(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        raw["http"]["port"] = s.getsockname()[1]  # free once closed: no controller there
    config = tmp_path / "nobody.yaml"
    config.write_text(yaml.safe_dump(raw, allow_unicode=True))
    assert main(["--config", str(config), "--calls", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no controller answers" in err[0] and "--up" in err[0], err


async def test_a_bank_trace_replayed_time_scaled_ends_every_call_as_the_trace_allows(
    asterisk: SandboxState, tmp_path: Path
) -> None:
    # A few minutes of the bank's busiest hour, 30 times faster, into a centre with an operator
    # per line: nobody is blocked; who hung up in the IVR is abandoned; who was served (and
    # now waits longer than the trace says) is answered; who gave up waiting goes either way.
    scale = 30.0
    chosen = trace_selection("bank", "2010-08-02", "10:00", 14, scale)
    bounds = trace_bounds(chosen.callers, chosen.records)
    assert bounds.ivr_hangups > 0 and bounds.served > 0, bounds  # (the selection exercises both)
    span = chosen.records[-1].arrival_s - chosen.records[0].arrival_s
    assert max(c.arrive_s for c in chosen.callers) == pytest.approx(span / scale, abs=0.01)
    plan = LoadPlan(calls=len(chosen.callers), rate=1, callers=chosen.callers)
    cfg = centre_for(_raw(tmp_path), plan, "load test")

    report = await run_load(cfg, plan, asterisk)
    print(f"\nload (bank trace): {report}")
    k = report.kpis
    assert k["offered"] == bounds.calls and k["blocked"] == 0 and k["callback"] == 0, k
    assert k["answered"] + k["abandoned"] == bounds.calls, k
    assert k["abandoned"] >= bounds.ivr_hangups and k["answered"] >= bounds.served, (k, bounds)
    assert report.sipp["successful"] == bounds.calls and report.sipp["failed"] == 0, report.sipp
    assert report.channels_left == 0, report
    assert report.mismatches == [], report.mismatches
