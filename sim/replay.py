# What a trace replay brings to the simulator: the trace (by name or file), the days chosen,
# the callers as the trace gives them, and what is estimated from it (talk times of the calls
# it did not serve, patience, the operators' working periods, their time away from calls).
# Rules:
# - A trace is `bank` (the bundled month, sim/tracefile.bank_trace) or a file in our trace
#   format (sim/trace-format.md), read once per process while the file is unchanged.
# - Days: one day, or several one after another (by the calendar: the first from 0 h, the
#   next from 24 h, ...), or several superposed on one day (all from 0 h). A day the trace lacks is a
#   ConfigError before anything runs (Trace.select).
# - What the trace recorded is replayed as it was: arrival and IVR times, skill, priority,
#   language (unknown: the scenario's mix draws it), the talk time of a served call, the
#   IVR hang-up of a caller who never queued. What it could not record is drawn: the talk
#   time of a call it did not serve (lognormal, fitted per skill on the replayed days'
#   served calls) and every caller's patience (the scenario's model, or one fitted on the
#   trace: sim/fit.py). A caller's draws come from their skill's streams whatever they do,
#   so one caller's fate never shifts another's draws.
# - Operators from the trace (`staffing: trace`) are the working periods sim/fit.py
#   estimates from the served calls; their ids are DAY/OPERATOR, so two days superposed
#   never merge two people.
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
import os
import random
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from contactcenter.core.lifecycle import CallOutcome
from contactcenter.sim import fit, traffic
from contactcenter.sim.tracefile import Trace, TraceRecord, bank_trace, read_trace

if TYPE_CHECKING:
    from contactcenter.core.engine import Call
    from contactcenter.sim.scenario import Scenario

# (Named here, not imported: scenario.py imports this module where it checks a trace.)
TRACE_STAFFING = TRACE_AWAY = "trace"
AWAY_INTERVALS = 48

BUNDLED = "bank"
DAY_S = 86_400.0


def resolve_source(text: str, base: Path | None) -> str:
    """`bank`, or the trace file's absolute path (relative to `base`, the scenario's folder)."""
    if text == BUNDLED:
        return text
    path = Path(text).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    return str(path.resolve())


def load_source(source: str) -> Trace:
    """The trace `source` names (resolve_source's result); ConfigError if a file cannot be read."""
    if source == BUNDLED:
        return bank_trace()
    try:
        st = os.stat(source)
    except OSError as exc:
        from contactcenter.config import ConfigError

        raise ConfigError(source, "file", source, f"cannot read the trace: {exc.strerror}") from None
    return _read(source, st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=8)
def _read(path: str, mtime_ns: int, size: int) -> Trace:
    return read_trace(path)


def busiest_day(trace: Trace) -> str:
    """The day with the most calls (the latest of equals)."""
    counts = Counter(r.day for r in trace.records)
    return max(counts.items(), key=lambda kv: (kv[1], kv[0]))[0]


@dataclass(frozen=True, slots=True)
class Replayed:
    """A call of the replay: when it reaches the line on the simulator's clock, and its record."""

    at: float
    record: TraceRecord


def day_offsets(days: Sequence[str], superpose: bool) -> dict[str, float]:
    """Where each day starts on the simulator's clock: all at 0 h superposed, else by the
    calendar from the first (a day the trace lacks in between, a closed day, stays empty)."""
    first = dt.date.fromisoformat(min(days))
    return {d: 0.0 if superpose else (dt.date.fromisoformat(d) - first).days * DAY_S for d in days}


def selection(trace: Trace, days: Sequence[str], superpose: bool, end_s: float) -> list[Replayed]:
    """The calls the replay brings before `end_s`, in the order it brings them: the n-th is
    the run's call "n" (for joining a run to its source)."""
    offsets = day_offsets(days, superpose)
    chosen = [Replayed(offsets[r.day] + r.arrival_s, r) for r in trace.select(days)]
    chosen.sort(key=lambda c: (c.at, c.record.day, c.record.call_id))
    return [c for c in chosen if c.at < end_s]


PatienceFor = Callable[[str, int], traffic.Sampler | float]


def callers(
    chosen: Sequence[Replayed],
    language: dict[str, Callable[[], str] | str],
    talk: dict[str, traffic.Sampler],
    patience: PatienceFor,
) -> Iterator[traffic.Caller]:
    """The replayed calls as the simulator's callers (traffic.Caller)."""
    for c in chosen:
        r = c.record
        skill = r.skill
        if not skill:  # hung up in the IVR before choosing: nothing to draw, no skill's KPIs
            yield (c.at, "", r.language, r.priority, r.ivr_s, 0.0, traffic.HANGS_UP_IN_IVR)
            continue
        lang_pick = language[skill]
        drawn_lang = lang_pick() if callable(lang_pick) else lang_pick
        drawn_talk = talk[skill]()
        pat = patience(skill, r.priority)
        drawn_patience = pat() if callable(pat) else pat
        yield (
            c.at,
            skill,
            r.language or drawn_lang,
            r.priority,
            r.ivr_s,
            r.talk_s if r.served and r.talk_s > 0 else drawn_talk,
            traffic.HANGS_UP_IN_IVR if r.outcome == "ivr_abandoned" else drawn_patience,
        )


# --- what the simulator asks of a replay (sim/virtual.py) -----------------------------------


def chosen(sc: Scenario) -> list[Replayed]:
    """The calls scenario `sc` replays, in the order it brings them."""
    assert sc.trace is not None
    return selection(load_source(sc.trace.source), sc.trace.days, sc.trace.superpose, sc.end_s)


def replayed_records(sc: Scenario) -> list[TraceRecord]:
    """Every record of the replayed days (what is fitted on)."""
    assert sc.trace is not None
    return load_source(sc.trace.source).select(sc.trace.days)


def trace_languages(sc: Scenario) -> list[str]:
    return sorted({r.language for r in replayed_records(sc) if r.language})


MIN_TALKS = 2  # served calls a skill needs for its talk times to be fitted (a mean and a spread)


def talk_moments(records: Sequence[TraceRecord]) -> dict[str, tuple[float, float]]:
    """(mean, cv) of the served calls' talk times per skill: the lognormal that unserved
    calls draw from has the sample's mean and spread. (Not the maximum-likelihood lognormal
    of sim/fit.py's fit_talk: that one fits the logs, and its mean lies well above the
    sample's on the bank's heavy tail, 206 s against 166 s for info on 2010-08-05, which
    would slow every operator down in a replay.)"""
    talks: dict[str, list[float]] = {}
    for r in records:
        if r.served and r.talk_s > 0:
            talks.setdefault(r.skill, []).append(r.talk_s)
    out: dict[str, tuple[float, float]] = {}
    for skill, xs in talks.items():
        if len(xs) < MIN_TALKS:
            continue
        mean = sum(xs) / len(xs)
        var = sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)
        if var > 0:
            out[skill] = (mean, math.sqrt(var) / mean)
    return out


def replay_callers(
    sc: Scenario,
    streams: dict[str, dict[str, random.Random]],
    language: dict[str, Callable[[], str] | str],
    talk: dict[str, traffic.Sampler],
    patience: dict[str, traffic.Sampler | float],
) -> Iterator[traffic.Caller]:
    """The callers of a replay. Talk times of the calls the trace did not serve: lognormal,
    fitted per skill on the replayed days' served calls (the scenario's own model for a skill
    with none). Patience: fitted per skill and priority (`patience_fit`), or the skills' own."""
    records = replayed_records(sc)
    fitted_talk = talk_moments(records)
    talk = {
        skill: traffic.service_sampler(streams[skill]["talk"], "lognormal", *fitted_talk[skill])
        if skill in fitted_talk
        else sampler
        for skill, sampler in talk.items()
    }
    if sc.patience_fit is None:
        return callers(chosen(sc), language, talk, lambda skill, priority: patience[skill])
    model = fit.fit_patience(records, sc.patience_fit)
    tails = fit.fit_patience(records, "exp") if sc.patience_fit == "km" else None
    samplers: dict[tuple[str, int], traffic.Sampler] = {}

    def patience_for(skill: str, priority: int) -> traffic.Sampler:
        cell = (skill, priority)
        if cell not in samplers:  # (one sampler per cell, all on the skill's own stream)
            rng = streams[skill]["patience"]
            fitted = model.for_cell(skill, priority)
            draw = fitted.sampler(rng)
            if tails is not None and fitted.times:
                draw = _with_tail(draw, fitted.times[-1], tails.for_cell(skill, priority).mean_s, rng)
            samplers[cell] = draw
        return samplers[cell]

    return callers(chosen(sc), language, talk, patience_for)


def _with_tail(
    draw: traffic.Sampler, last_s: float, mean_s: float | None, rng: random.Random
) -> traffic.Sampler:
    """Kaplan-Meier patience completed past its data: a caller who outlasts the longest wait
    anyone abandoned after (the curve stays above 0 there) waits on an exponential tail with
    the censored-exponential mean of the same cell, instead of forever (memoryless beyond
    the data: they would otherwise wait out any queue, and inflate the served calls' wait)."""
    if mean_s is None or not math.isfinite(mean_s):
        return draw
    rand = rng.random

    def with_tail() -> float:
        t = draw()
        return t if t < math.inf else last_s - math.log(1.0 - rand()) * mean_s

    return with_tail


# An operator's logged-in stretch on the simulator's clock: (login, logout, operator, skills).
Stretch = tuple[float, float, str, tuple[str, ...]]


def stretches(sc: Scenario) -> list[Stretch]:
    """The operators of `staffing`: the trace's working periods, each on its day's place on
    the clock (ids DAY/OPERATOR); or the roster's, on every day of the run."""
    if sc.staffing == TRACE_STAFFING:
        assert sc.trace is not None
        offsets = day_offsets(sc.trace.days, sc.trace.superpose)
        return [
            (offsets[p.day] + p.start_s, offsets[p.day] + p.end_s, p.operator, p.skills)
            for p in fit.working_periods(replayed_records(sc))
        ]
    from contactcenter.sim.roster import read_roster

    assert sc.staffing is not None
    periods = read_roster(sc.staffing).periods()
    days = math.ceil(sc.end_s / DAY_S)
    return [
        (d * DAY_S + p.start_s, d * DAY_S + p.end_s, p.operator, p.skills)
        for d in range(days)
        for p in periods
    ]


def away_shares(sc: Scenario, stretches_: Sequence[Stretch]) -> list[float]:
    """The share of each half hour of the day the operators spend away from calls: the
    scenario's schedule (a half hour it does not give: 0), or estimated from the trace (a
    half hour with no evidence, nobody waiting: the day's mean)."""
    if sc.away == TRACE_AWAY:
        return calibrated_away(sc, stretches_)
    assert isinstance(sc.away, tuple)
    return [0.0 if x is None else x for x in sc.away]


CALIBRATION_ROUNDS = 4  # replays run to estimate the time away (each a whole run; more only add noise)
CALIBRATION_TOLERANCE = 0.01  # |replay's share - trace's share|, every half hour
MAX_AWAY = 0.95


def calibrated_away(sc: Scenario, stretches_: Sequence[Stretch]) -> list[float]:
    """The share of each half hour the operators are away from calls, estimated from the
    trace by indirect inference. What a trace shows is the share of logged-in operators not
    talking while a caller they could take waits (sim/fit.py away_share). That share is not
    the time away itself: a caller waits precisely when the operators who are not talking
    are away, so on a light day it is seen mostly at moments when many were away (on the
    bank's 2010-08-29 it reads twice the time away that reproduces the day). So the time
    away is the one with which the replay itself shows the trace's share: start from the
    trace's share, replay, compare the replay's own share (the same function on the
    replay's calls and the replay's own operators, `stretches_`: the trace's working
    periods, a roster's or the scenario's groups), scale each half hour by trace / replay,
    and again, at most CALIBRATION_ROUNDS times. A half hour where nobody waited in the
    trace gets the mean of the others."""
    from contactcenter.sim.virtual import simulate

    assert sc.trace is not None
    records = replayed_records(sc)
    periods = fit.working_periods(records)
    target = fit.away_share(records, periods, interval_s=AWAY_INTERVAL_S)
    known = [x for x in target if x is not None]
    fill = sum(known) / len(known) if known else 0.0
    shares = [fill if x is None else x for x in target]
    own = run_periods(stretches_)
    for _ in range(CALIBRATION_ROUNDS):
        seen: list[TraceRecord] = []
        trial = dataclasses.replace(sc, away=tuple(shares))
        simulate(trial, on_call=functools.partial(_as_record, out=seen))
        got = fit.away_share(seen, own, interval_s=AWAY_INTERVAL_S)
        worst = 0.0
        for k, (want, have) in enumerate(zip(target, got, strict=True)):
            if want is None or have is None:
                continue
            worst = max(worst, abs(want - have))
            if have > 0:
                shares[k] = min(MAX_AWAY, shares[k] * want / have)
        if worst <= CALIBRATION_TOLERANCE:
            break
    return shares


RUN_DAY = "run"  # the "day" of a replay's own calls, on the simulator's clock


def run_periods(stretches_: Sequence[Stretch]) -> list[fit.WorkPeriod]:
    """The run's own operators' stretches as working periods of RUN_DAY: the replay on its
    own clock, one "day" whose times run on past midnight (away_share folds them onto the
    half hours of the day)."""
    return [
        fit.WorkPeriod(fit.operator_id(RUN_DAY, op_id), RUN_DAY, t_in, t_out, skills)
        for t_in, t_out, op_id, skills in stretches_
    ]


def _as_record(call: Call, out: list[TraceRecord]) -> None:
    """A replayed call as a trace record on the simulator's clock (for the replay's own
    away share): of the day RUN_DAY, its operator the run's own."""
    if call.queued_at is None or call.ended_at is None or call.skill is None:
        return  # (blocked, or hung up in the IVR: no queue's figure)
    served = call.outcome is CallOutcome.ANSWERED and call.answered_at is not None
    left = call.answered_at if served and call.answered_at is not None else call.ended_at
    op = call.operator_id or ""
    out.append(
        TraceRecord(
            call_id=call.call_id,
            day=RUN_DAY,
            arrival_s=call.arrived_at,
            skill=call.skill,
            language="",
            priority=call.priority,
            ivr_s=call.queued_at - call.arrived_at,
            outcome="served" if served else "abandoned",
            wait_s=left - call.queued_at,
            talk_s=call.ended_at - left if served else 0.0,
            operator=op if served else "",
        )
    )


AWAY_INTERVAL_S = DAY_S / AWAY_INTERVALS
MIN_BREAK_S = 1.0  # (shorter breaks are left out)


def away_breaks(sc: Scenario, stretches_: Sequence[Stretch]) -> list[tuple[float, tuple[str, float]]]:
    """(start, (operator, seconds)) of every break: in each half hour an operator is logged
    in for `o` seconds, one break of share x o seconds at a time drawn uniformly in it, from
    the operator's own stream (so a break never moves because another operator's did)."""
    shares = away_shares(sc, stretches_)
    out: list[tuple[float, tuple[str, float]]] = []
    rngs: dict[str, random.Random] = {}
    for t_in, t_out, op_id, _ in stretches_:
        rng = rngs.get(op_id)
        if rng is None:
            rng = rngs[op_id] = random.Random(f"{sc.seed}/away/{op_id}")
        k = math.floor(t_in / AWAY_INTERVAL_S)
        while k * AWAY_INTERVAL_S < t_out:
            lo, hi = max(t_in, k * AWAY_INTERVAL_S), min(t_out, (k + 1) * AWAY_INTERVAL_S)
            seconds = shares[k % AWAY_INTERVALS] * (hi - lo)
            start = lo + rng.random() * (hi - lo - seconds)
            if seconds >= MIN_BREAK_S:
                out.append((start, (op_id, seconds)))
            k += 1
    out.sort(key=lambda b: (b[0], b[1][0]))
    return out
