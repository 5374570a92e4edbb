# `contactcenter load`: a live load test. Real SIP calls from SIPp (RFC 4733 DTMF through the
# IVR) into the sandbox's Asterisk, routed by a controller, then one report from three views:
# the controller's (KPIs, lines in use, routing latency, CPU, RSS, AMI events, event-loop
# lag), SIPp's own counts, and Asterisk's (CoreShowChannels, sampled, through the observer's
# AMI login), cross-checked: a disagreement is listed in the report (`mismatches`), never hidden.
# Two ways to run:
# - against the RUNNING stack (the default): the sandbox as `sandbox status` reports it and
#   the controller already running for the configuration (`contactcenter run`), read over
#   its HTTP listener (/metrics, the same KPI keys as the simulator's); nothing of theirs
#   is started or stopped here. Nothing running: a one-line error, exit 2.
# - `--up`: what is not running is brought up (the sandbox) or run here (a controller of
#   our own in this process, with simulated operators), and what was brought up is taken down.
# Rules:
# - Loopback only: the sandbox's ports as `sandbox status` reports them, the controller's
#   HTTP address from its configuration; nothing else.
# - Bounded: at most MAX_BURST_CALLS calls; one deadline for the whole run, derived from the
#   plan (last arrival + patience + a margin); every wait loop polls with that deadline.
# - The SIPp processes are ours, stopped by their pids (SippPlan.stop) whatever happens:
#   one per set of IVR keys, as a scenario keys one set (a trace's callers each key their
#   own call's service and language: `PlannedCall.skill`, `language`).
# - Seeded: per-call talk times, patience and Poisson arrivals come from
#   random.Random(f"{seed}/load/<what>"), one stream each, so a run is repeatable and one
#   figure's draws do not move when another's change; or from a trace's calls.
# - No number in any output: SIPp's callers are synthetic (a prefix + the call's index, which
#   is how a caller's talk time is found again at the operator's side), and only counts are
#   reported.
# - Derived, not assumed: `expected()` computes from the plan what a run must show, so a
#   test compares the three views with it.
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import random
import re
import resource
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from contactcenter.config import Config, ConfigError, parse_config
from contactcenter.core.engine import Call
from contactcenter.core.lifecycle import CallOutcome
from contactcenter.sim.sipp import (
    MAX_BURST_CALLS,
    PlannedCall,
    SippPlan,
    SippPlans,
    call_index,
    sipp_available,
)

if TYPE_CHECKING:
    from panoramisk.message import Message

    from contactcenter import sandbox
    from contactcenter.adapters.ami import AmiClient, AmiLink
    from contactcenter.sim.tracefile import TraceRecord

# (The sandbox, the controller and the AMI link are imported where used, not here: the CLI imports this
# module to build its parser at every start, and the controller brings the web app with it.)

SAMPLE_PERIOD_S = 2.0  # how often Asterisk's channels are read (600 of them cost both ends)
MARGIN_S = 90.0  # on top of the plan's own time: set-up, IVR prompts, the last hang-ups
SAMPLE_TIMEOUT_S = 20.0  # an overloaded Asterisk answers late: a late sample is skipped, counted
SETTLE_S = 20.0  # after the last call: for Asterisk's channels to go
IVR_S = 15.0  # a caller's time in the IVR before its patience counts: prompts and key presses
HTTP_TIMEOUT_S = 10.0  # a scrape of the controller's /metrics
DRAWS = ("fixed", "exponential", "lognormal")
MIN_DRAW_S = 1.0  # a drawn talk time or patience is at least this (a Wait() of 0 s is no call)
MAX_DRAW_S = 3600.0
LOGNORMAL_CV = 1.0  # the lognormal draws' coefficient of variation (sd / mean)
# A trace's caller who hung up in the IVR does so before the menu's first timeout (4 s in the
# shipped IVR), whatever the time scale: later, the IVR would route them by its default.
MAX_IVR_HANGUP_S = 3.0
MIN_IVR_HANGUP_S = 0.5
SERVED_SLACK_S = 30.0  # a trace's served caller waits this much longer than the trace says
NUMBER_PREFIX = "+346990"  # the synthetic callers' numbers: this + the call's index
OFFERED = (CallOutcome.ANSWERED, CallOutcome.ABANDONED, CallOutcome.BLOCKED, CallOutcome.CALLBACK)
KPI_KEYS = ("offered", *(o.value for o in CallOutcome))


@dataclass(frozen=True)
class LoadPlan:
    """What to place: `calls` citizens at `rate` calls/s (evenly spaced, or a Poisson process
    with `poisson`; at most `max_concurrent` open in SIPp), each keying `digits` then staying
    `patience_s` at most (hanging up then, waiting or talking); `operators` simulated
    operators of skill `info` who end a conversation after `talk_s`; `lines` the centre's
    capacity and `wrap_up_s` its wrap-up (None: the configuration's). Talk and patience are
    those figures (`draws` fixed) or per-call draws of that mean (exponential, lognormal),
    seeded by `seed`; `callers` (a trace's) gives every call's figures instead."""

    calls: int
    rate: float
    max_concurrent: int | None = None
    digits: str = "11"
    patience_s: float = 60.0
    talk_s: float = 4.0
    operators: int | None = None  # None: one per line
    lines: int | None = None
    wrap_up_s: float | None = None
    draws: str = "fixed"
    seed: int = 0
    poisson: bool = False
    callers: tuple[PlannedCall, ...] | None = None

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
        if self.draws not in DRAWS:
            raise ValueError(f"--draws must be one of {', '.join(DRAWS)}, got {self.draws!r}")
        if self.callers is not None and len(self.callers) != self.calls:
            raise ValueError(f"the plan has {len(self.callers)} callers for {self.calls} calls")
        if lines < 1:
            raise ValueError(f"lines must be >= 1, got {lines}")

    def planned(self) -> tuple[PlannedCall, ...]:
        """Every caller's arrival, patience and talk time."""
        if self.callers is not None:
            return self.callers
        if self.poisson:
            arrivals_rng = random.Random(f"{self.seed}/load/arrivals")
            arrivals, t = [], 0.0
            for _ in range(self.calls):
                arrivals.append(t)
                t += arrivals_rng.expovariate(self.rate)
        else:
            arrivals = [i / self.rate for i in range(self.calls)]
        talk_rng = random.Random(f"{self.seed}/load/talk")
        patience_rng = random.Random(f"{self.seed}/load/patience")
        return tuple(
            PlannedCall(
                arrive_s=round(arrive, 3),
                patience_s=_draw(patience_rng, self.draws, self.patience_s),
                talk_s=_draw(talk_rng, self.draws, self.talk_s),
            )
            for arrive in arrivals
        )

    def deadline_s(self) -> float:
        """The whole run's bound: the last caller's own end (by patience) and a margin."""
        ends = [
            c.arrive_s + (c.ivr_hangup_s if c.ivr_hangup_s > 0 else IVR_S + c.patience_s)
            for c in self.planned()
        ]
        return max(ends) + MARGIN_S


def _draw(rng: random.Random, draws: str, mean: float) -> float:
    if draws == "fixed":
        return mean
    if draws == "exponential":
        value = rng.expovariate(1 / mean)
    else:
        sigma2 = math.log(1 + LOGNORMAL_CV**2)
        value = rng.lognormvariate(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))
    return round(min(MAX_DRAW_S, max(MIN_DRAW_S, value)), 3)


def trace_callers(records: Sequence[TraceRecord], time_scale: float) -> tuple[PlannedCall, ...]:
    """A trace's calls as a plan's callers, X = `time_scale` times faster: arrivals at the
    trace's times (from the first) / X; a served caller talks its talk time / X and waits as
    long as the trace says plus SERVED_SLACK_S; an abandoning one waits its wait / X; one who
    hung up in the IVR does so there, after its IVR time / X (kept between MIN_ and
    MAX_IVR_HANGUP_S). Durations are at least MIN_DRAW_S. Each keys its own call's service
    and language (the trace's; a language it does not know: the centre's default)."""
    if not records:
        return ()
    first = records[0].arrival_s
    out = []
    for r in records:
        arrive = round((r.arrival_s - first) / time_scale, 3)
        if r.outcome == "ivr_abandoned":
            ivr = min(MAX_IVR_HANGUP_S, max(MIN_IVR_HANGUP_S, r.ivr_s / time_scale))
            out.append(PlannedCall(arrive, MIN_DRAW_S, MIN_DRAW_S, ivr_hangup_s=round(ivr, 3)))
        elif r.served:
            talk = max(MIN_DRAW_S, r.talk_s / time_scale)
            patience = round((r.wait_s / time_scale) + talk + SERVED_SLACK_S, 3)
            out.append(
                PlannedCall(
                    arrive, patience, round(talk, 3), skill=r.skill, language=r.language, priority=r.priority
                )
            )
        else:
            patience = round(max(MIN_DRAW_S, r.wait_s / time_scale), 3)
            out.append(
                PlannedCall(
                    arrive, patience, MIN_DRAW_S, skill=r.skill, language=r.language, priority=r.priority
                )
            )
    return tuple(out)


@dataclass(frozen=True)
class TraceBounds:
    """What a replay of a trace's callers must show whatever the centre's speed: every call
    ends; those who hang up in the IVR are abandoned, those the trace served (who wait
    longer than the trace says) are answered when the centre has an operator per line and
    lines for all; the trace's abandoning callers go either way."""

    calls: int
    ivr_hangups: int
    served: int


def trace_bounds(callers: Sequence[PlannedCall], records: Sequence[TraceRecord]) -> TraceBounds:
    return TraceBounds(
        calls=len(callers),
        ivr_hangups=sum(1 for c in callers if c.ivr_hangup_s > 0),
        served=sum(1 for r in records if r.served),
    )


@dataclass(frozen=True)
class Expected:
    """What a burst must end with, from the plan alone."""

    held: int  # most calls in the system at once
    blocked: int
    answered: int
    abandoned: int


def expected(plan: LoadPlan, lines: int, wrap_up_s: float) -> Expected | None:
    """The counts a burst must give, or None when the model cannot say exactly.
    - Only a burst of callers alike (fixed talk and patience, evenly spaced, no trace).
    - Every call arrives before the first ends (the burst is shorter than the shortest
      call): the first `lines` are held, the rest blocked.
    - Operators take the first held calls; a held call without one waits. When no operator
      can be free before the waiters' patience runs out (a conversation ends at
      min(talk, patience), then wrap-up; the waiters arrived within the burst), each waiter
      abandons; otherwise the model does not know how many would."""
    if plan.draws != "fixed" or plan.poisson or plan.callers is not None:
        return None
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
    mode: str  # "running" (the stack already up, read over HTTP) or "up" (our own controller)
    calls: int
    lines: int
    kpis: dict[str, int]  # the controller's: offered, answered, abandoned, blocked, closed, callback
    sipp: dict[str, int]  # SIPp's own: successful, failed, exit_code
    max_lines_in_use: int  # "up": at every change; "running": sampled
    asterisk_max_channels: int
    asterisk_max_citizen_channels: int
    channels_left: int  # -1: Asterisk did not answer in time
    channel_samples_skipped: int
    connected_s: float | None  # first arrival to the last answer of those answered at once
    wall_s: float
    routing_latency_ms: dict[str, Any]  # p50, p99, max, count (+ exact: False from histogram buckets)
    controller_cpu_s: float | None  # None: the controller's process is not known
    # How long its event loop's thread was ready to run but waited for a CPU (the kernel's
    # run-queue delay, /proc/PID/schedstat): a latency or lag this machine's other
    # processes (Asterisk's channel threads, SIPp) caused, not the controller's own work.
    controller_cpu_wait_s: float | None
    peak_rss_mb: float | None
    ami_events: int
    ami_events_per_call: float
    event_loop_lag_ms: dict[str, float | None]
    stale_facts: dict[str, int] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), nearest rank; 0 for no samples."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def centre_for(raw: dict[str, Any], plan: LoadPlan, source: str) -> Config:
    """The centre (a configuration's raw form) as the plan wants it: its lines and wrap-up,
    its simulated operators (all languages; of skill info, or of the skills its callers ask
    for, `operators_per_skill`) in place of the configured operators of those skills,
    talking `talk_s` (each call's own when this process runs the controller)."""
    if plan.lines is not None:
        raw["centre"]["lines"] = plan.lines
    lines = int(raw["centre"]["lines"])
    operators = plan.operators if plan.operators is not None else lines
    per_skill = operators_per_skill(plan, operators)
    unknown = sorted(set(per_skill) - set(raw.get("skills") or {}))
    if unknown:
        raise ValueError(f"the plan's callers ask for skills the centre does not have: {', '.join(unknown)}")
    ids = (f"load{i:04d}" for i in range(operators))
    raw["operators"] = [
        *({"id": next(ids), "skills": {skill: 1}} for skill, n in per_skill.items() for _ in range(n)),
        *(op for op in raw["operators"] if not set(op["skills"]) & set(per_skill)),  # the other skills' own
    ]
    raw["simulated_operators"] = {"ring_delay": 1, "talk_seconds": plan.talk_s}
    if plan.wrap_up_s is not None:
        raw["routing"]["wrap_up"] = plan.wrap_up_s
    return parse_config(raw, source)


def plan_skills(plan: LoadPlan) -> Counter[str]:
    """How many of the plan's callers ask for each skill (info: those that key the plan's
    digits; a caller who hangs up in the IVR asks for none)."""
    return Counter((c.skill or "info") for c in plan.planned() if c.ivr_hangup_s == 0) or Counter(info=1)


def operators_per_skill(plan: LoadPlan, operators: int) -> dict[str, int]:
    """`operators` shared among the skills the plan's callers ask for, by their share of the
    calls (largest remainders; at least one each while there are enough), in name order."""
    asked = plan_skills(plan)
    total = sum(asked.values())
    skills = sorted(asked)
    share = {k: operators * asked[k] / total for k in skills}
    out = {k: max(1, math.floor(share[k])) if operators >= len(skills) else 0 for k in skills}
    by_remainder = sorted(skills, key=lambda k: (out[k] - share[k], k))
    i = 0
    while sum(out.values()) < operators:
        out[by_remainder[i % len(skills)]] += 1
        i += 1
    while sum(out.values()) > operators:  # (the ones given one though their share was less)
        k = max((k for k in skills if out[k] > 1), key=lambda k: (out[k] - share[k], k))
        out[k] -= 1
    return {k: n for k, n in out.items() if n > 0}


def cross_check(report: LoadReport, want: Expected | None) -> list[str]:
    """Where the three views (and the plan's prediction) disagree, one line each."""
    out = []
    k = report.kpis
    ended = k.get("offered", 0) + k.get("closed", 0)
    if ended != report.calls:
        out.append(f"the controller ended {ended} calls of the {report.calls} placed")
    sipp_total = report.sipp.get("successful", 0) + report.sipp.get("failed", 0)
    if sipp_total != report.calls:
        out.append(f"SIPp counted {sipp_total} calls of the {report.calls} placed")
    if report.sipp.get("failed", 0):
        out.append(f"SIPp failed {report.sipp['failed']} calls")
    if report.channels_left != 0:
        left = "did not answer" if report.channels_left < 0 else f"still has {report.channels_left} channels"
        out.append(f"Asterisk {left} after the run")
    if report.max_lines_in_use > report.lines:
        out.append(f"{report.max_lines_in_use} calls in the system at once, above the {report.lines} lines")
    if report.asterisk_max_citizen_channels > report.calls:
        out.append(
            f"Asterisk had {report.asterisk_max_citizen_channels} citizen channels for {report.calls} calls"
        )
    if want is not None:
        got = (k.get("blocked", 0), k.get("answered", 0), k.get("abandoned", 0))
        if got != (want.blocked, want.answered, want.abandoned):
            out.append(
                "the plan predicts blocked/answered/abandoned"
                f" {want.blocked}/{want.answered}/{want.abandoned},"
                f" the controller says {got[0]}/{got[1]}/{got[2]}"
            )
    return out


class _Watch:
    """An observer of the controller: the most calls in the system at once (lines in use),
    seen at every change, so no peak falls between samples; and when the `target`-th call
    was answered (TALKING), for the time until all that can be are connected."""

    def __init__(self, calls: Callable[[], int], target: int) -> None:
        self._calls = calls
        self.peak = 0
        self.target = target
        self.talking = 0
        self.connected_at: float | None = None

    def observe(self, now: float, changes: Sequence[object], completed: Sequence[Call]) -> None:
        from contactcenter.core.lifecycle import CallState
        from contactcenter.core.readmodel import CallChanged

        self.peak = max(self.peak, self._calls())
        for change in changes:
            if isinstance(change, CallChanged) and change.state is CallState.TALKING:
                self.talking += 1
                if self.talking == self.target and self.connected_at is None:
                    self.connected_at = change.at


class TalkPerCaller:
    """The controller's AMI link, with each simulated operator's talk time set to its
    caller's (from the plan, found by the caller's synthetic number): the Originate of a
    simulated operator's leg carries CC_TALK_SECONDS, which the sandbox's cc-sim-operator
    context waits. Everything else goes through unchanged."""

    def __init__(self, link: AmiClient, talk_of: Callable[[str], float | None]) -> None:
        self._link = link
        self._talk_of = talk_of

    @property
    def ready(self) -> bool:
        return self._link.ready

    @property
    def pending_actions(self) -> int:
        return self._link.pending_actions

    async def connect(self) -> None:
        await self._link.connect()

    def close(self) -> None:
        self._link.close()

    async def list_items(self, action: Mapping[str, object], item_event: str) -> list[Message]:
        return await self._link.list_items(action, item_event)

    def write(
        self, action: Mapping[str, object], *, timeout: float | None = None, as_list: bool | None = None
    ) -> Awaitable[Message | list[Message]]:
        return self._link.write(self.rewrite(action), timeout=timeout, as_list=as_list)

    async def send(
        self, action: Mapping[str, object], *, timeout: float | None = None, as_list: bool | None = None
    ) -> Message | list[Message]:
        return await self._link.send(self.rewrite(action), timeout=timeout, as_list=as_list)

    def rewrite(self, action: Mapping[str, object]) -> Mapping[str, object]:
        """The action with the caller's own talk time, if it rings a simulated operator."""
        if action.get("Action") != "Originate" or "@cc-sim-operator" not in str(action.get("Channel", "")):
            return action
        raw = action.get("Variable")
        variables = [str(v) for v in raw] if isinstance(raw, list | tuple) else []
        call_id = next((v.partition("=")[2] for v in variables if v.startswith("CC_CALL_ID=")), None)
        talk = self._talk_of(call_id) if call_id else None
        if talk is None:
            return action
        kept = [v for v in variables if not v.startswith("CC_TALK_SECONDS=")]
        return {**action, "Variable": [*kept, f"CC_TALK_SECONDS={talk:g}"]}


class ViewSample(NamedTuple):
    in_system: int  # calls the controller holds now (lines in use)
    answered: int  # calls answered so far in this run (-1: not known live)
    ended: int  # calls ended so far in this run


@dataclass
class ControllerFigures:
    kpis: dict[str, int]
    max_lines_in_use: int
    connected_s: float | None
    routing_latency_ms: dict[str, Any]
    controller_cpu_s: float | None
    controller_cpu_wait_s: float | None
    peak_rss_mb: float | None
    ami_events: int
    event_loop_lag_ms: dict[str, float | None]
    stale_facts: dict[str, int]


class _OwnController:
    """`--up`: the controller runs in this process; read directly, exactly."""

    mode = "up"

    def __init__(self, cfg: Config, plan: LoadPlan, callers: Sequence[PlannedCall]) -> None:
        from contactcenter.controller import Controller, ami_link

        links: list[AmiLink] = []

        def link(on_event: Callable[[Message], None], on_ready: Callable[[], Any]) -> AmiClient:
            real = ami_link(cfg, on_event, on_ready)
            links.append(real)
            return TalkPerCaller(real, self._talk_of)

        self.callers = callers
        self.ctl = Controller(cfg, ami=link)
        for real in links:  # (the controller's counters, as its own link would count)
            real.counters = self.ctl.counters
        target = min(plan.calls, cfg.lines, _operators(cfg, plan))
        self.watch = _Watch(lambda: len(self.ctl.engine.calls), target)
        self.ctl.observers.append(self.watch)
        self.events0 = 0
        self.cpu0 = 0.0
        self.wait0: float | None = None
        self.t0 = 0.0

    def _talk_of(self, call_id: str) -> float | None:
        index = call_index(self.ctl.channels.numbers.get(call_id), NUMBER_PREFIX)
        return self.callers[index].talk_s if index is not None and index < len(self.callers) else None

    async def start(self) -> None:
        await self.ctl.start()
        # As `contactcenter run` does (controller.run_forever): what exists now lives through
        # the run, out of the collector's full passes (one took 580 ms of this event loop in
        # a 220-call run on a slow machine). Given back at stop.
        gc.freeze()
        self.events0 = self.ctl.counters["ami_events"]
        self.cpu0 = time.process_time()
        self.wait0 = cpu_wait_s(os.getpid())

    def began(self, t0: float) -> None:
        self.t0 = t0  # (the event loop's time SIPp started)

    async def sample(self) -> ViewSample:
        return ViewSample(len(self.ctl.engine.calls), len(self.ctl.routed), len(self.ctl.finished))

    async def finish(self, calls: int) -> ControllerFigures:
        ctl = self.ctl
        outcomes = [c.outcome for c in ctl.finished]
        kpis = {o.value: outcomes.count(o) for o in CallOutcome}
        kpis["offered"] = sum(kpis[o.value] for o in OFFERED)
        latency = list(ctl.metrics.latency_samples)
        lag_n, lag_total = ctl.metrics.lag_seconds()
        at = self.watch.connected_at
        return ControllerFigures(
            kpis=kpis,
            max_lines_in_use=self.watch.peak,
            connected_s=None if at is None else round(at - self.t0, 3),
            routing_latency_ms={
                "p50": round(percentile(latency, 50) * 1000, 3),
                "p99": round(percentile(latency, 99) * 1000, 3),
                "max": round(max(latency, default=0.0) * 1000, 3),
                "count": len(latency),
                "exact": True,
            },
            controller_cpu_s=round(time.process_time() - self.cpu0, 2),
            controller_cpu_wait_s=_grown_by(self.wait0, cpu_wait_s(os.getpid())),
            peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            ami_events=ctl.counters["ami_events"] - self.events0,
            event_loop_lag_ms={
                "mean": round(lag_total / lag_n * 1000, 3) if lag_n else 0.0,
                "max": round(ctl.metrics.lag_max_s * 1000, 3),
            },
            stale_facts={"/".join(k): n for k, n in ctl.engine.stale_facts.items()},
        )

    async def stop(self) -> None:
        gc.unfreeze()
        await self.ctl.stop()


class ControllerUnreachable(Exception):
    """No controller answers at the configured HTTP address."""


async def http_get(host: str, port: int, path: str, timeout: float = HTTP_TIMEOUT_S) -> str:
    """The body of GET http://host:port/path (HTTP/1.0: the server closes when done)."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n".encode())
                await writer.drain()
                data = await reader.read()
            finally:
                writer.close()
    except (OSError, TimeoutError) as exc:
        raise ControllerUnreachable(f"http://{host}:{port}{path}: {exc or 'no answer'}") from None
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].decode(errors="replace")
    if " 200 " not in f"{status} ":
        raise ControllerUnreachable(f"http://{host}:{port}{path}: {status or 'no reply'}")
    return body.decode(errors="replace")


class Scrape:
    """One /metrics text: each sample's value by name and labels."""

    def __init__(self, text: str) -> None:
        from prometheus_client.parser import text_string_to_metric_families

        self.samples: list[tuple[str, dict[str, str], float]] = [
            (s.name, dict(s.labels), float(s.value))
            for family in text_string_to_metric_families(text)
            for s in family.samples
        ]

    def total(self, name: str, **labels: str) -> float:
        """The sum over the series of `name` whose labels include `labels`."""
        return sum(
            v for n, have, v in self.samples if n == name and all(have.get(k) == x for k, x in labels.items())
        )

    def buckets(self, name: str) -> dict[float, float]:
        """A histogram's cumulative counts by upper bound (summed over its series)."""
        out: dict[float, float] = {}
        for n, labels, v in self.samples:
            if n == f"{name}_bucket":
                le = float(labels["le"])
                out[le] = out.get(le, 0.0) + v
        return out


# The KPI keys and the counters /metrics serves them under (sim/..., live/metrics.py agree).
KPI_METRICS = {
    "offered": "cc_calls_offered_total",
    "answered": "cc_calls_answered_total",
    "abandoned": "cc_calls_abandoned_total",
    "blocked": "cc_calls_blocked_total",
    "closed": "cc_calls_closed_total",
    "callback": "cc_calls_called_back_total",
}


def bucket_quantile(before: Mapping[float, float], after: Mapping[float, float], q: float) -> float | None:
    """The upper bound of the bucket holding the q-th percentile of what was observed between
    two scrapes of a histogram (None: nothing observed; inf: above the last bound)."""
    delta = {le: after.get(le, 0.0) - before.get(le, 0.0) for le in after}
    count = delta.get(math.inf, 0.0)
    if count <= 0:
        return None
    for le in sorted(delta):
        if delta[le] >= q / 100 * count:
            return le
    return math.inf


def _ms(seconds: float | None) -> float | None:
    """Seconds as ms for the report; None for nothing observed or above the last bucket."""
    if seconds is None or math.isinf(seconds):
        return None
    return round(seconds * 1000, 3)


def listener_pid(port: int) -> int | None:
    """The pid of the process listening on TCP `port` (of those this user may see), from
    /proc: the socket's inode in /proc/net/tcp, then whose file descriptor it is."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{cols[9]}]")
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return int(proc.name)
        except OSError:
            continue
    return None


class ProcessFigures(NamedTuple):
    cpu_s: float  # user + system, since it started
    peak_rss_mb: float  # VmHWM: the most resident memory since it started
    cpu_wait_s: float | None  # its main thread's (the event loop's) run-queue delay so far


def cpu_wait_s(pid: int) -> float | None:
    """Seconds the process's main thread has been runnable but not running (schedstat's
    second field, in ns; None where the kernel does not keep it)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def _grown_by(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else round(after - before, 2)


def process_figures(pid: int) -> ProcessFigures | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # (after the command's name, which may hold spaces)
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime: fields 14 and 15 of stat
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return ProcessFigures(cpu, int(match.group(1)) / 1024 if match else 0.0, cpu_wait_s(pid))


class _RunningController:
    """The controller already running, read over its HTTP listener's /metrics: KPIs as
    counters' growth over the run, routing latency and lag from its histograms (bucket
    bounds, not exact), lines in use sampled; its process's CPU and peak RSS from /proc
    when its pid is known (given, or the listener's)."""

    mode = "running"

    def __init__(self, cfg: Config, plan: LoadPlan, pid: int | None = None) -> None:
        self.host, self.port = cfg.http.host, cfg.http.port
        self.pid = pid if pid is not None else listener_pid(self.port)
        self.target = min(plan.calls, cfg.lines, _operators(cfg, plan))
        self.before: Scrape | None = None
        self.peak = 0
        self.connected_s: float | None = None
        self.t0 = 0.0
        self.cpu0: float | None = None
        self.wait0: float | None = None

    async def scrape(self) -> Scrape:
        return Scrape(await http_get(self.host, self.port, "/metrics"))

    async def start(self) -> None:
        self.before = await self.scrape()
        figures = process_figures(self.pid) if self.pid is not None else None
        self.cpu0 = figures.cpu_s if figures is not None else None
        self.wait0 = figures.cpu_wait_s if figures is not None else None

    def began(self, t0: float) -> None:
        self.t0 = t0

    def _grown(self, now: Scrape, name: str, **labels: str) -> int:
        assert self.before is not None
        return round(now.total(name, **labels) - self.before.total(name, **labels))

    async def sample(self) -> ViewSample:
        now = await self.scrape()
        in_system = round(now.total("cc_lines_in_use"))
        self.peak = max(self.peak, in_system)
        talking = round(now.total("cc_operators", state="talking"))
        if self.connected_s is None and talking >= self.target:
            self.connected_s = round(asyncio.get_running_loop().time() - self.t0, 3)
        ended = self._grown(now, KPI_METRICS["offered"]) + self._grown(now, KPI_METRICS["closed"])
        return ViewSample(in_system, self._grown(now, KPI_METRICS["answered"]), ended)

    async def finish(self, calls: int) -> ControllerFigures:
        assert self.before is not None
        now = await self.scrape()
        kpis = {key: self._grown(now, name) for key, name in KPI_METRICS.items()}
        latency_name, lag_name = "cc_routing_latency_seconds", "cc_event_loop_lag_seconds"
        lat0, lat1 = self.before.buckets(latency_name), now.buckets(latency_name)
        lag0, lag1 = self.before.buckets(lag_name), now.buckets(lag_name)
        lag_n = self._grown(now, f"{lag_name}_count")
        lag_sum = now.total(f"{lag_name}_sum") - self.before.total(f"{lag_name}_sum")
        figures = process_figures(self.pid) if self.pid is not None else None
        cpu = None if figures is None or self.cpu0 is None else round(figures.cpu_s - self.cpu0, 2)
        return ControllerFigures(
            kpis=kpis,
            max_lines_in_use=self.peak,
            connected_s=self.connected_s,
            routing_latency_ms={
                "p50": _ms(bucket_quantile(lat0, lat1, 50)),
                "p99": _ms(bucket_quantile(lat0, lat1, 99)),
                "max": _ms(bucket_quantile(lat0, lat1, 100)),
                "count": self._grown(now, f"{latency_name}_count"),
                "exact": False,  # (upper bounds of the histogram's buckets; None: above the last)
            },
            controller_cpu_s=cpu,
            controller_cpu_wait_s=_grown_by(self.wait0, None if figures is None else figures.cpu_wait_s),
            peak_rss_mb=None if figures is None else round(figures.peak_rss_mb, 1),
            ami_events=self._grown(now, "cc_ami_events_total"),
            event_loop_lag_ms={
                "mean": round(lag_sum / lag_n * 1000, 3) if lag_n > 0 else 0.0,
                "max": _ms(bucket_quantile(lag0, lag1, 100)),  # (a bucket's bound; None: above the last)
            },
            stale_facts={},
        )

    async def stop(self) -> None:
        return None


class ControllerView(Protocol):
    """The controller as a run reads it: in this process, or running, over HTTP."""

    mode: str

    async def start(self) -> None: ...

    def began(self, t0: float) -> None: ...

    async def sample(self) -> ViewSample: ...

    async def finish(self, calls: int) -> ControllerFigures: ...

    async def stop(self) -> None: ...


async def run_load(
    cfg: Config,
    plan: LoadPlan,
    state: sandbox.SandboxState,
    progress: Callable[[str], None] = print,
    sample_period_s: float = SAMPLE_PERIOD_S,
) -> LoadReport:
    """`--up`: run the plan against the sandbox `state` describes, with a controller of our
    own in this process for `cfg` (already rewritten for the plan), and report. (Asterisk's
    channels are read on the controller's own event loop every `sample_period_s`: a
    benchmark of the controller reads them less often.)"""
    plan.check(cfg.lines)
    callers = plan.planned()
    return await drive(_OwnController(cfg, plan, callers), cfg, plan, state, progress, sample_period_s)


async def run_against(
    cfg: Config,
    plan: LoadPlan,
    state: sandbox.SandboxState,
    progress: Callable[[str], None] = print,
    controller_pid: int | None = None,
    sample_period_s: float = SAMPLE_PERIOD_S,
) -> LoadReport:
    """Run the plan against the running stack: the sandbox `state` describes and the
    controller running for `cfg`, read over its HTTP listener (ControllerUnreachable if none
    answers there); `controller_pid` for its CPU and memory (default: the listener's)."""
    # (The centre is the running controller's: what the plan predicts is for its operators,
    # lines and wrap-up, not for ones the plan would have chosen.)
    plan = replace(plan, operators=_operators(cfg, plan), lines=cfg.lines, wrap_up_s=cfg.routing.wrap_up)
    plan.check(cfg.lines)
    view = _RunningController(cfg, plan, controller_pid)
    await view.scrape()  # (before SIPp: a missing controller fails at once)
    return await drive(view, cfg, plan, state, progress, sample_period_s)


async def drive(
    view: ControllerView,
    cfg: Config,
    plan: LoadPlan,
    state: sandbox.SandboxState,
    progress: Callable[[str], None],
    sample_period_s: float = SAMPLE_PERIOD_S,
) -> LoadReport:
    """Place the plan's calls with SIPp, sample Asterisk's channels and the controller's
    `view` every `sample_period_s` until every call ended (or the plan's deadline), and
    report; `cfg` is the centre the controller runs."""
    callers = plan.planned()
    from contactcenter.adapters.ami import AmiTimeout

    observer = observer_link(state, SAMPLE_TIMEOUT_S)
    sipp = sipp_plans(cfg, plan, callers, state.sip_port)
    wall0 = time.monotonic()
    max_channels = max_citizens = 0
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
    started = False
    try:
        await view.start()
        started = True
        deadline = wall0 + plan.deadline_s()
        await sipp.start()
        loop = asyncio.get_running_loop()
        view.began(loop.time())
        t0 = time.monotonic()
        last_print = 0.0
        while time.monotonic() < deadline:
            names = await channels() or []
            max_channels = max(max_channels, len(names))
            max_citizens = max(max_citizens, sum(1 for n in names if n.startswith("PJSIP/pstn")))
            seen = await view.sample()
            now = time.monotonic()
            if now - last_print >= 2:
                last_print = now
                answered = "   ?" if seen.answered < 0 else f"{seen.answered:4d}"
                progress(
                    f"load: {now - t0:5.1f} s  in system {seen.in_system:4d}  answered {answered}"
                    f"  ended {seen.ended:4d}/{plan.calls}  channels {len(names):4d}"
                )
            if not sipp.running and seen.in_system == 0:
                break
            await asyncio.sleep(sample_period_s)
        else:
            progress(f"load: stopped at the run's deadline ({plan.deadline_s():.0f} s)")
        sipp.stop()
        exit_code = await sipp.wait(10)
        settle = time.monotonic() + SETTLE_S
        left = await channels()
        while left != [] and time.monotonic() < settle:
            await asyncio.sleep(sample_period_s)
            left = await channels()
        figures = await view.finish(plan.calls)
        counts = sipp.counts()
        report = LoadReport(
            mode=view.mode,
            calls=plan.calls,
            lines=cfg.lines,
            kpis=figures.kpis,
            sipp={"successful": counts.successful, "failed": counts.failed, "exit_code": exit_code},
            max_lines_in_use=figures.max_lines_in_use,
            asterisk_max_channels=max_channels,
            asterisk_max_citizen_channels=max_citizens,
            channels_left=-1 if left is None else len(left),
            channel_samples_skipped=skipped,
            connected_s=figures.connected_s,
            wall_s=round(time.monotonic() - wall0, 2),
            routing_latency_ms=figures.routing_latency_ms,
            controller_cpu_s=figures.controller_cpu_s,
            controller_cpu_wait_s=figures.controller_cpu_wait_s,
            peak_rss_mb=figures.peak_rss_mb,
            ami_events=figures.ami_events,
            ami_events_per_call=round(figures.ami_events / plan.calls, 1),
            event_loop_lag_ms=figures.event_loop_lag_ms,
            stale_facts=figures.stale_facts,
        )
        report.mismatches = cross_check(report, expected(plan, cfg.lines, cfg.routing.wrap_up))
        return report
    finally:
        sipp.stop()
        if started:
            await view.stop()
        observer.close()


def observer_link(state: sandbox.SandboxState, action_timeout: float) -> AmiLink:
    """An AMI session of the sandbox's observer login (read-only), for asking, not listening."""
    from contactcenter.adapters.ami import AmiLink

    return AmiLink(
        host=state.ami_host,
        port=state.ami_port,
        username=state.observer_username,
        secret=state.observer_secret,
        on_event=lambda message: None,
        action_timeout=action_timeout,
    )


def sipp_plans(cfg: Config, plan: LoadPlan, callers: Sequence[PlannedCall], port: int) -> SippPlans:
    """The SIPp processes that place the plan's callers: one per set of IVR keys (a caller's
    own service and language, else the plan's digits), each caller keeping its index in the
    plan (its number), `max_concurrent` shared by their numbers of calls."""
    by_keys: dict[str, list[int]] = {}
    for i, c in enumerate(callers):
        keys = plan.digits
        if c.skill and c.ivr_hangup_s == 0:
            language = c.language if c.language in cfg.languages else cfg.ivr.default_language
            keys = cfg.ivr_keys(language, c.skill)
        by_keys.setdefault(keys, []).append(i)
    return SippPlans(
        [
            SippPlan(
                calls=[callers[i] for i in indices],
                digits=keys,
                target_port=port,
                number_prefix=NUMBER_PREFIX,
                max_concurrent=None
                if plan.max_concurrent is None
                else max(1, math.ceil(plan.max_concurrent * len(indices) / len(callers))),
                indices=indices,
            )
            for keys, indices in by_keys.items()
        ]
    )


def _operators(cfg: Config, plan: LoadPlan) -> int:
    """The centre's simulated operators of the skills the plan's callers ask for: those on
    shift from the start, who take its calls. A real phone is logged out until it says so."""
    skills = set(plan_skills(plan))
    return sum(1 for op in cfg.operators if skills & set(op.skills) and op.endpoint == "sim")


def summary(report: LoadReport) -> str:
    """The report as a few lines of text, its mismatches last (each on its own line)."""
    k, lat, lag = report.kpis, report.routing_latency_ms, report.event_loop_lag_ms
    cpu = "?" if report.controller_cpu_s is None else f"{report.controller_cpu_s} s"
    rss = "?" if report.peak_rss_mb is None else f"{report.peak_rss_mb} MB"
    wait = "?" if report.controller_cpu_wait_s is None else f"{report.controller_cpu_wait_s} s"
    approx = "" if lat.get("exact", True) else " (bucket bounds; None: above the last, 1 s)"
    lines = [
        f"load ({report.mode}): {report.calls} calls into {report.lines} lines in {report.wall_s} s;"
        f" connected in {report.connected_s} s",
        "controller: " + ", ".join(f"{key} {k.get(key, 0)}" for key in KPI_KEYS),
        f"SIPp: successful {report.sipp['successful']}, failed {report.sipp['failed']};"
        f" Asterisk: max channels {report.asterisk_max_channels}"
        f" (citizens {report.asterisk_max_citizen_channels}), left {report.channels_left}",
        f"routing latency{approx}: p50 {lat['p50']} ms, p99 {lat['p99']} ms ({lat['count']});"
        f" CPU {cpu} (waited for a CPU {wait}), peak RSS {rss}; AMI events/call {report.ami_events_per_call};"
        f" event-loop lag mean {lag['mean']} ms, max {lag['max']} ms",
    ]
    lines += [f"MISMATCH: {m}" for m in report.mismatches] or ["views agree"]
    return "\n".join(lines)


# --- the command --------------------------------------------------------------------------


def add_load_parser(sub: Any) -> None:
    """Register `contactcenter load` on the CLI's subparsers."""
    p = sub.add_parser("load", help="a live load test: SIPp calls through the running sandbox and controller")
    _arguments(p)
    p.set_defaults(func=_cmd_load)


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="the centre (default: the one the sandbox runs)")
    p.add_argument(
        "--up",
        action="store_true",
        help="bring up what is not running (the sandbox; a controller here, with simulated operators),"
        " and take it down after",
    )
    p.add_argument("--calls", type=int, required=True, help="calls to place (with --trace: at most)")
    p.add_argument("--max-concurrent", type=int, default=None, help="SIPp calls open at once")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--rate", type=float, default=None, help="calls per second (default: a burst, 125/s)")
    source.add_argument("--arrival-rate", type=float, default=None, help="CALLS_PER_HOUR, Poisson (scaled)")
    source.add_argument("--trace", default=None, help="NAME (bank) or FILE: replay its calls")
    p.add_argument("--date", default=None, help="the trace's day (YYYY-MM-DD; default: its first)")
    p.add_argument("--from", dest="start", default=None, help="the trace's calls from HH:MM of the day")
    p.add_argument(
        "--time-scale", type=float, default=1.0, help="X: arrivals, talk and patience X times faster"
    )
    p.add_argument("--lines", type=int, default=None, help="--up: the centre's lines (default: the config's)")
    p.add_argument(
        "--operators", type=int, default=None, help="--up: simulated operators (default: one per line)"
    )
    p.add_argument("--talk-seconds", type=float, default=4.0, help="mean talk time")
    p.add_argument("--patience", type=float, default=60.0, help="mean seconds a caller stays at most")
    p.add_argument("--draws", choices=DRAWS, default="fixed", help="talk and patience per call")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--wrap-up", type=float, default=None, help="--up: wrap-up seconds (default: the config's)"
    )
    p.add_argument("--digits", default="11", help="IVR keys each caller presses (RFC 4733)")
    p.add_argument("--json", type=Path, default=None, help="write the report here")


def plan_from(args: argparse.Namespace) -> LoadPlan:
    """The plan the command's flags ask for (ValueError or ConfigError for bad ones)."""
    if not args.time_scale > 0:
        raise ValueError(f"--time-scale must be > 0, got {args.time_scale:g}")
    base = LoadPlan(
        calls=args.calls,
        rate=125.0,
        max_concurrent=args.max_concurrent,
        digits=args.digits,
        # (X times faster: the model's talk and patience as well as its arrivals, so the
        # centre carries the same load in Erlangs, as a trace's replay scales both)
        patience_s=args.patience / args.time_scale,
        talk_s=args.talk_seconds / args.time_scale,
        operators=args.operators,
        lines=args.lines,
        wrap_up_s=args.wrap_up,
        draws=args.draws,
        seed=args.seed,
    )
    if args.trace is not None:
        callers = trace_selection(args.trace, args.date, args.start, args.calls, args.time_scale).callers
        span = max(c.arrive_s for c in callers) if callers else 0.0
        return replace(base, calls=len(callers), rate=min(500.0, max(len(callers) / max(span, 1.0), 0.01)),
                       callers=callers)  # fmt: skip
    if args.date is not None or args.start is not None:
        raise ValueError("--date and --from choose a trace's calls: give --trace")
    if args.arrival_rate is not None:
        if not args.arrival_rate > 0:
            raise ValueError(f"--arrival-rate must be > 0 calls per hour, got {args.arrival_rate:g}")
        return replace(base, rate=args.arrival_rate / 3600 * args.time_scale, poisson=True)
    return replace(base, rate=args.rate if args.rate is not None else 125.0)


class TraceSelection(NamedTuple):
    records: list[TraceRecord]
    callers: tuple[PlannedCall, ...]


def trace_selection(
    trace: str, day: str | None, start: str | None, calls: int, time_scale: float
) -> TraceSelection:
    """A trace's calls to replay: `trace` bank (the bundled month) or a file; the day `day`
    (default: its first); from `start` (HH:MM) on; the first `calls` of them."""
    from contactcenter.sim.tracefile import bank_trace, read_trace

    loaded = bank_trace() if trace == "bank" else read_trace(trace)
    days = loaded.days()
    if not days:
        raise ConfigError(loaded.source, "--trace", trace, "the trace has no calls")
    records = loaded.select([day or days[0]])
    if start is not None:
        match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", start)
        if match is None:
            raise ConfigError(loaded.source, "--from", start, "not a time of day HH:MM")
        since = int(match.group(1)) * 3600 + int(match.group(2)) * 60
        records = [r for r in records if r.arrival_s >= since]
    records = records[: max(calls, 0)]
    if not records:
        raise ConfigError(loaded.source, "--from", start or "", "no calls of the day from then on")
    return TraceSelection(records, trace_callers(records, time_scale))


def _cmd_load(args: argparse.Namespace) -> int:
    import copy

    import yaml

    from contactcenter import sandbox
    from contactcenter.errors import UserError

    def fail(message: str) -> int:
        print(f"contactcenter load: {message}", file=sys.stderr)
        return 2

    if not sipp_available():
        return fail("SIPp is not installed (Debian package sip-tester)")
    state = sandbox.load_state()
    running = state is not None and bool(sandbox.status()["running"])
    if not running and not args.up:
        return fail(
            "the sandbox is not running: run `contactcenter sandbox up` and the controller, or use --up"
        )
    shaping = [flag for flag, value in (("--operators", args.operators), ("--lines", args.lines),
               ("--wrap-up", args.wrap_up)) if value is not None]  # fmt: skip
    if shaping and not args.up:
        return fail(f"{', '.join(shaping)}: only with --up (a running controller has its own centre)")
    if args.config is not None:
        path = Path(args.config)
    elif state is not None and running:
        path = Path(state.config)
    else:
        return fail("--up without a running sandbox needs --config (the centre to bring up)")
    try:
        raw = yaml.safe_load(path.read_text())
        if args.up:  # (the stack brought up here uses the sandbox's own secrets: made if missing)
            from contactcenter.sandbox import credentials

            credentials.provision(raw)
        centre = parse_config(
            copy.deepcopy(raw), str(path)
        )  # (as configured: the sandbox's, a running controller's)
        plan = plan_from(args)
        cfg = centre_for(copy.deepcopy(raw), plan, str(path)) if args.up else centre
        plan.check(cfg.lines)
    except ConfigError as e:
        return fail(str(e))
    except (OSError, ValueError, yaml.YAMLError) as e:
        return fail(f"{path}: {e}")
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr)  # noqa: E731
    brought_up = False
    try:
        if not running:
            progress(f"load: bringing up the sandbox for {path}")
            state = sandbox.up(centre)
            brought_up = True
        assert state is not None
        if args.up:
            report = asyncio.run(run_load(cfg, plan, state, progress))
        else:
            report = asyncio.run(run_against(cfg, plan, state, progress))
    except ControllerUnreachable as e:
        return fail(f"no controller answers ({e}): start it (contactcenter run --config {path}) or use --up")
    except UserError as e:
        return fail(str(e))
    finally:
        if brought_up:
            progress("load: taking the sandbox down")
            sandbox.down()
    text = json.dumps(asdict(report), indent=1)
    if args.json is not None:
        args.json.write_text(text + "\n")
    print(summary(report), file=sys.stderr)
    print(text)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="contactcenter load")
    _arguments(p)
    return _cmd_load(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
