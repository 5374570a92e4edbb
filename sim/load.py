# `contactcenter load`: a live load test. Real SIP calls from SIPp (RFC 4733 DTMF through the
# IVR) into the running sandbox's Asterisk, routed by a controller this process runs, with
# operators the controller simulates; then one report from three views: the controller's
# (KPIs, lines in use, routing latency, CPU, RSS, AMI events, event-loop lag), SIPp's own
# counts, and Asterisk's (CoreShowChannels, sampled, through the observer's AMI login).
# Rules:
# - Loopback only: the sandbox's ports as `sandbox status` reports them; nothing else.
# - Bounded: at most MAX_BURST_CALLS calls; one deadline for the whole run, derived from the
#   plan (arrivals + patience + talk + a margin); every wait loop polls with that deadline.
# - The SIPp process is ours, stopped by its pid (SippBurst.stop) whatever happens.
# - No number in any output: SIPp's callers are synthetic, and only counts are reported.
# - Derived, not assumed: `expected()` computes from the plan what a run must show, so a
#   test compares the three views with it.
from __future__ import annotations

import argparse
import asyncio
import json
import math
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contactcenter.config import Config, ConfigError, parse_config
from contactcenter.core.engine import Call
from contactcenter.core.lifecycle import CallOutcome
from contactcenter.sim.sipp import MAX_BURST_CALLS, SippBurst, sipp_available

if TYPE_CHECKING:
    from contactcenter import sandbox

# (The sandbox, the controller and the AMI link are imported where used, not here: the CLI imports this
# module to build its parser at every start, and the controller brings the web app with it.)

SAMPLE_PERIOD_S = 2.0  # how often Asterisk's channels are read (600 of them cost both ends)
MARGIN_S = 90.0  # on top of the plan's own time: set-up, IVR prompts, the last hang-ups
SAMPLE_TIMEOUT_S = 20.0  # an overloaded Asterisk answers late: a late sample is skipped, counted
SETTLE_S = 20.0  # after the last call: for Asterisk's channels to go
IVR_S = 15.0  # a caller's time in the IVR before its patience counts: prompts and key presses


@dataclass(frozen=True)
class LoadPlan:
    """What to place: `calls` citizens at `rate` calls/s (at most `max_concurrent` open in
    SIPp), each keying `digits` then staying `patience_s` at most (hanging up then, waiting
    or talking); `operators` simulated operators of skill `info` who end a conversation
    after `talk_s`; `lines` the centre's capacity and `wrap_up_s` its wrap-up (None: the
    configuration's)."""

    calls: int
    rate: float
    max_concurrent: int | None = None
    digits: str = "11"
    patience_s: float = 60.0
    talk_s: float = 4.0
    operators: int | None = None  # None: one per line
    lines: int | None = None
    wrap_up_s: float | None = None

    def check(self, lines: int) -> None:
        if not 1 <= self.calls <= MAX_BURST_CALLS:
            raise ValueError(f"--calls must be 1 to {MAX_BURST_CALLS}, got {self.calls}")
        if not 0 < self.rate <= 500:
            raise ValueError(f"the arrival rate must be 0 to 500 calls/s, got {self.rate:g}")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise ValueError(f"--max-concurrent must be >= 1, got {self.max_concurrent}")
        if not 0 < self.patience_s <= 3600:
            raise ValueError(f"--patience must be 0 to 3600 s, got {self.patience_s:g}")
        if not 0 < self.talk_s <= 3600:
            raise ValueError(f"--talk-seconds must be 0 to 3600 s, got {self.talk_s:g}")
        if lines < 1:
            raise ValueError(f"lines must be >= 1, got {lines}")

    def deadline_s(self) -> float:
        return self.calls / self.rate + IVR_S + min(self.patience_s, self.talk_s) + MARGIN_S


@dataclass(frozen=True)
class Expected:
    """What a burst must end with, from the plan alone."""

    held: int  # most calls in the system at once
    blocked: int
    answered: int
    abandoned: int


def expected(plan: LoadPlan, lines: int, wrap_up_s: float) -> Expected | None:
    """The counts a burst must give, or None when the model cannot say exactly.
    - Every call arrives before the first ends (the burst is shorter than the shortest
      call): the first `lines` are held, the rest blocked.
    - Operators take the first held calls; a held call without one waits. When no operator
      can be free before the waiters' patience runs out (a conversation ends at
      min(talk, patience), then wrap-up; the waiters arrived within the burst), each waiter
      abandons; otherwise the model does not know how many would."""
    operators = plan.operators if plan.operators is not None else lines
    burst_s = plan.calls / plan.rate
    if (plan.max_concurrent or plan.calls) < plan.calls or burst_s >= min(plan.talk_s, plan.patience_s):
        return None
    held = min(plan.calls, lines)
    answered = min(held, operators)
    if answered < held and burst_s + plan.patience_s >= min(plan.talk_s, plan.patience_s) + wrap_up_s:
        return None
    return Expected(held=held, blocked=plan.calls - held, answered=answered, abandoned=held - answered)


@dataclass
class LoadReport:
    calls: int
    lines: int
    kpis: dict[str, int]
    sipp: dict[str, int]
    max_lines_in_use: int
    asterisk_max_channels: int
    asterisk_max_citizen_channels: int
    channels_left: int  # -1: Asterisk did not answer in time
    channel_samples_skipped: int
    connected_s: float | None  # first arrival to the last answer
    wall_s: float
    routing_latency_ms: dict[str, float]
    controller_cpu_s: float
    peak_rss_mb: float
    ami_events: int
    ami_events_per_call: float
    event_loop_lag_ms: dict[str, float]
    stale_facts: dict[str, int] = field(default_factory=dict)


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), nearest rank; 0 for no samples."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def centre_for(raw: dict[str, Any], plan: LoadPlan, source: str) -> Config:
    """The centre (a configuration's raw form) as the plan wants it: its lines and wrap-up,
    its simulated operators (skill info, all languages) in place of the configured info
    operators, talking `talk_s`."""
    if plan.lines is not None:
        raw["centre"]["lines"] = plan.lines
    lines = int(raw["centre"]["lines"])
    operators = plan.operators if plan.operators is not None else lines
    raw["operators"] = [
        *({"id": f"load{i:04d}", "skills": {"info": 1}} for i in range(operators)),
        *(op for op in raw["operators"] if "info" not in op["skills"]),  # the other skills' own
    ]
    raw["simulated_operators"] = {"ring_delay": 1, "talk_seconds": plan.talk_s}
    if plan.wrap_up_s is not None:
        raw["routing"]["wrap_up"] = plan.wrap_up_s
    return parse_config(raw, source)


class _LinesPeak:
    """An observer of the controller: the most calls in the system at once (lines in use),
    seen at every change, so no peak falls between samples."""

    def __init__(self, calls: Callable[[], int]) -> None:
        self._calls = calls
        self.peak = 0

    def observe(self, now: float, changes: Sequence[object], completed: Sequence[Call]) -> None:
        self.peak = max(self.peak, self._calls())


async def run_load(
    cfg: Config, plan: LoadPlan, state: sandbox.SandboxState, progress: Callable[[str], None] = print
) -> LoadReport:
    """Run the plan against the sandbox `state` describes, with a controller of our own
    for `cfg` (already rewritten for the plan), and report."""
    plan.check(cfg.lines)
    from contactcenter.adapters.ami import AmiLink, AmiTimeout
    from contactcenter.controller import Controller

    ctl = Controller(cfg)
    peak = _LinesPeak(lambda: len(ctl.engine.calls))
    ctl.observers.append(peak)
    observer = AmiLink(
        host=state.ami_host,
        port=state.ami_port,
        username=state.observer_username,
        secret=state.observer_secret,
        on_event=lambda message: None,
        action_timeout=SAMPLE_TIMEOUT_S,
    )
    burst = SippBurst(
        calls=plan.calls,
        rate=plan.rate,
        digits=plan.digits,
        stay_s=plan.patience_s,
        target_port=state.sip_port,
        max_concurrent=plan.max_concurrent,
    )
    cpu0, wall0 = time.process_time(), time.monotonic()
    max_channels = max_citizens = 0
    connected_s: float | None = None
    exit_code: int | None = None

    skipped = 0

    async def channels() -> list[str] | None:
        nonlocal skipped
        try:
            items = await observer.list_items({"Action": "CoreShowChannels"}, "CoreShowChannel")
        except AmiTimeout:
            skipped += 1
            return None
        return [str(item.get("Channel", "")) for item in items]

    await observer.connect()
    # (The observer's link reads only what it asks: no event stream to parse on our loop.)
    await observer.send({"Action": "Events", "EventMask": "off"})
    await ctl.start()
    try:
        events0 = ctl.counters["ami_events"]
        deadline = wall0 + plan.deadline_s()
        await burst.start()
        t0 = time.monotonic()
        last_print = 0.0
        while time.monotonic() < deadline:
            names = await channels() or []
            max_channels = max(max_channels, len(names))
            max_citizens = max(max_citizens, sum(1 for n in names if n.startswith("PJSIP/pstn")))
            routed = len(ctl.routed)
            if connected_s is None and routed >= min(plan.calls, cfg.lines, _operators(cfg)):
                # (the last answer of those that can be answered at once)
                connected_s = time.monotonic() - t0
            now = time.monotonic()
            if now - last_print >= 2:
                last_print = now
                progress(
                    f"load: {now - t0:5.1f} s  in system {len(ctl.engine.calls):4d}  answered {routed:4d}"
                    f"  ended {len(ctl.finished):4d}/{plan.calls}  channels {len(names):4d}"
                )
            if not burst.running and not ctl.engine.calls:
                break
            await asyncio.sleep(SAMPLE_PERIOD_S)
        if burst.running:
            burst.stop()
        assert burst.process is not None
        exit_code = await burst.wait(10)
        settle = time.monotonic() + SETTLE_S
        left = await channels()
        while left != [] and time.monotonic() < settle:
            await asyncio.sleep(SAMPLE_PERIOD_S)
            left = await channels()
        ami_events = ctl.counters["ami_events"] - events0
        outcomes = [c.outcome for c in ctl.finished]
        kpis = {o.value: outcomes.count(o) for o in CallOutcome}
        kpis["offered"] = sum(kpis[o.value] for o in _OFFERED)
        counts = burst.counts()
        latency = list(ctl.metrics.latency_samples)
        lag_n, lag_total = ctl.metrics.lag_seconds()
        return LoadReport(
            calls=plan.calls,
            lines=cfg.lines,
            kpis=kpis,
            sipp={"successful": counts.successful, "failed": counts.failed, "exit_code": exit_code},
            max_lines_in_use=peak.peak,
            asterisk_max_channels=max_channels,
            asterisk_max_citizen_channels=max_citizens,
            channels_left=-1 if left is None else len(left),
            channel_samples_skipped=skipped,
            connected_s=None if connected_s is None else round(connected_s, 2),
            wall_s=round(time.monotonic() - wall0, 2),
            routing_latency_ms={
                "p50": round(percentile(latency, 50) * 1000, 3),
                "p99": round(percentile(latency, 99) * 1000, 3),
                "max": round(max(latency, default=0.0) * 1000, 3),
                "count": len(latency),
            },
            controller_cpu_s=round(time.process_time() - cpu0, 2),
            peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            ami_events=ami_events,
            ami_events_per_call=round(ami_events / plan.calls, 1),
            event_loop_lag_ms={
                "mean": round(lag_total / lag_n * 1000, 3) if lag_n else 0.0,
                "max": round(ctl.metrics.lag_max_s * 1000, 3),
            },
            stale_facts={"/".join(k): n for k, n in ctl.engine.stale_facts.items()},
        )
    finally:
        burst.stop()
        await ctl.stop()
        observer.close()


_OFFERED = (CallOutcome.ANSWERED, CallOutcome.ABANDONED, CallOutcome.BLOCKED, CallOutcome.CALLBACK)


def _operators(cfg: Config) -> int:
    return sum(1 for op in cfg.operators if "info" in op.skills)


# --- the command --------------------------------------------------------------------------


def add_load_parser(sub: Any) -> None:
    """Register `contactcenter load` on the CLI's subparsers."""
    p = sub.add_parser("load", help="a live load test: SIPp calls through the running sandbox")
    _arguments(p)
    p.set_defaults(func=_cmd_load)


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="the centre (default: the one the sandbox runs)")
    p.add_argument("--calls", type=int, required=True, help="calls to place")
    p.add_argument("--max-concurrent", type=int, default=None, help="SIPp calls open at once")
    rate = p.add_mutually_exclusive_group()
    rate.add_argument("--rate", type=float, default=None, help="calls per second (default: a burst, 125/s)")
    rate.add_argument("--arrival-rate", type=float, default=None, help="CALLS_PER_HOUR (scaled)")
    p.add_argument("--time-scale", type=float, default=1.0, help="X: arrivals X times faster")
    p.add_argument("--lines", type=int, default=None, help="the centre's lines (default: the config's)")
    p.add_argument("--operators", type=int, default=None, help="simulated operators (default: one per line)")
    p.add_argument("--talk-seconds", type=float, default=4.0)
    p.add_argument("--patience", type=float, default=60.0, help="seconds a caller stays at most")
    p.add_argument("--wrap-up", type=float, default=None, help="seconds (default: the config's)")
    p.add_argument("--digits", default="11", help="IVR keys each caller presses (RFC 4733)")
    p.add_argument("--json", type=Path, default=None, help="write the report here")


def plan_from(args: argparse.Namespace) -> LoadPlan:
    if not args.time_scale > 0:
        raise ValueError(f"--time-scale must be > 0, got {args.time_scale:g}")
    if args.arrival_rate is not None:
        rate = args.arrival_rate / 3600 * args.time_scale
    else:
        rate = args.rate if args.rate is not None else 125.0
    return LoadPlan(
        calls=args.calls,
        rate=rate,
        max_concurrent=args.max_concurrent,
        digits=args.digits,
        patience_s=args.patience,
        talk_s=args.talk_seconds,
        operators=args.operators,
        lines=args.lines,
        wrap_up_s=args.wrap_up,
    )


def _cmd_load(args: argparse.Namespace) -> int:
    from contactcenter import sandbox

    state = sandbox.load_state()
    if state is None or not sandbox.status()["running"]:
        print("contactcenter load: the sandbox is not running (contactcenter sandbox up)", file=sys.stderr)
        return 2
    if not sipp_available():
        print("contactcenter load: SIPp is not installed (Debian package sip-tester)", file=sys.stderr)
        return 2
    path = args.config if args.config is not None else Path(state.config)
    try:
        import yaml

        raw = yaml.safe_load(path.read_text())
        plan = plan_from(args)
        cfg = centre_for(raw, plan, str(path))
    except ConfigError as e:
        print(f"contactcenter load: {e}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"contactcenter load: {path}: {e}", file=sys.stderr)
        return 2
    report = asyncio.run(run_load(cfg, plan, state, progress=lambda line: print(line, file=sys.stderr)))
    text = json.dumps(asdict(report), indent=1)
    if args.json is not None:
        args.json.write_text(text + "\n")
    print(text)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="contactcenter load")
    _arguments(p)
    return _cmd_load(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
