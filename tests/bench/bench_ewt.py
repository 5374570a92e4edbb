# The expected wait (EWT) callers are told, against the wait they then have: the engine's
# estimator (core/estimates.py: the queue's measured pace) and the classic k x AHT / N (N:
# every operator staffed with the skill, at any level) it replaced. Rules:
# - It prints figures and never fails: how good an estimate is is a finding, not a test
#   (tests/sim/test_ewt.py holds the one comparison that must not regress).
# - Accuracy, on the same calls: each scenario runs without callbacks, where the estimate
#   changes nothing in the run (it is only told), and an Engine subclass notes beside each
#   waiting caller the classic estimate at the instant the engine gave its own. Errors are
#   over answered callers who had to wait (waited - told; > 0: longer than told); callers who
#   hung up give only a lower bound of their wait, so for them the share who had waited
#   longer than told when they hung up (surely told too short).
# - M/M/N (mmn-200erl): for a caller at place k with all N busy the wait is exactly the sum
#   of k exponential steps of rate N / AHT, so "exact" is k x AHT / N with the scenario's true
#   AHT: the floor of what any estimate can reach; Erlang C gives the mean wait of those who
#   wait, AHT / (N - A).
# - Consequences, where the estimate decides something: callbacks are offered when it
#   exceeds the threshold (010-deadline, 010-overloaded), so those runs are made with each
#   estimator (the classic one put back by an Engine subclass) and without callbacks.
# - Pooled over seeds 1..S (default 3); the mean of each seed's figure for the runs.
# - The editable install only: the subclasses need the core's classes in Python.
# Run: python tests/bench/bench_ewt.py [--seeds 3] [--scenario NAME ...] [--json OUT]
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from contactcenter.core import events as ev
from contactcenter.core.commands import Command
from contactcenter.core.engine import Call, Engine
from contactcenter.core.estimates import EwtEstimator
from contactcenter.core.lifecycle import CallOutcome
from contactcenter.resources import scenario as scenario_path
from contactcenter.sim import virtual
from contactcenter.sim.erlang import ErlangC
from contactcenter.sim.scenario import Scenario, load_scenario

ACCURACY = ("010-weekday", "010-overloaded", "010-deadline", "mmn-200erl")
CONSEQUENCES = ("010-deadline", "010-overloaded")


def classic(ewt: EwtEstimator, skill: str, language: str, position: int) -> float:
    """The estimate before this one: k x AHT / N over every operator staffed with the skill."""
    n = ewt.staffed(skill, language)
    return math.inf if n <= 0 else position * ewt.aht(skill) / n


class ClassicEwt(EwtEstimator):
    """The classic estimate, for the runs where the engine acts on it."""

    def ewt(self, skill: str, language: str, position: int) -> float:
        return classic(self, skill, language, position)


class ClassicEngine(Engine):
    def __post_init__(self) -> None:
        super().__post_init__()
        self.ewt = ClassicEwt(default_aht=self.default_aht, relaxation=self.relaxation)


class Shadowed(Engine):
    """The engine, noting the classic estimate beside the one it gives each waiting call."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.shadow: dict[str, float] = {}

    def _ivr_completed(self, e: ev.IvrCompleted) -> list[Command]:
        out = super()._ivr_completed(e)
        call = self.calls.get(e.call_id)
        # (Nothing the classic estimate reads, AHT or staffing, changes within the handler.)
        if call is not None and call.position_at_entry is not None:
            self.shadow[e.call_id] = classic(self.ewt, e.skill, e.language, call.position_at_entry)
        return out


@contextmanager
def engine_class(cls: type[Engine]) -> Iterator[None]:
    saved = virtual.Engine
    virtual.Engine = cls  # type: ignore[misc]
    try:
        yield
    finally:
        virtual.Engine = saved  # type: ignore[misc]


@dataclasses.dataclass
class Sample:
    skill: str
    answered: bool
    waited: float
    told: float  # the engine's estimate
    told_classic: float
    told_exact: float | None  # M/M/N only


def accuracy_run(sc: Scenario) -> list[Sample]:
    calls: list[Call] = []
    engines: list[Shadowed] = []

    class Noting(Shadowed):
        def __post_init__(self) -> None:
            super().__post_init__()
            engines.append(self)

    with engine_class(Noting):
        virtual.simulate(sc.with_callbacks(False), on_call=calls.append)
    shadow = engines[0].shadow
    mmn = len(sc.skills) == 1 and len(sc.operators) == 1 and sc.skills[0].aht_s is not None
    out = []
    for call in calls:
        told = call.ewt_at_entry
        if told is None or told == math.inf or call.arrived_at < sc.start_s or call.queued_at is None:
            continue
        assert call.skill is not None and call.position_at_entry is not None
        exact = None
        if mmn:
            exact = call.position_at_entry * float(sc.skills[0].aht_s) / sc.operators[0].count  # type: ignore[arg-type]
        if call.outcome is CallOutcome.ANSWERED and call.answered_at is not None:
            waited, answered = call.answered_at - call.queued_at, True
        elif call.outcome is CallOutcome.ABANDONED and call.ended_at is not None:
            waited, answered = call.ended_at - call.queued_at, False
        else:
            continue
        out.append(Sample(call.skill, answered, waited, told, shadow[call.call_id], exact))
    return out


def summary(samples: list[Sample]) -> dict[str, Any]:
    answered = [s for s in samples if s.answered]
    gave_up = [s for s in samples if not s.answered]

    def errors(told: str) -> dict[str, float | None]:
        if not answered:
            return {"mean_told_s": None, "mae_s": None, "bias_s": None, "abandoned_past_ewt": None}
        return {
            "mean_told_s": statistics.fmean(getattr(s, told) for s in answered),
            "mae_s": statistics.fmean(abs(s.waited - getattr(s, told)) for s in answered),
            "bias_s": statistics.fmean(s.waited - getattr(s, told) for s in answered),
            "abandoned_past_ewt": (
                sum(1 for s in gave_up if s.waited > getattr(s, told)) / len(gave_up) if gave_up else None
            ),
        }

    out: dict[str, Any] = {
        "answered": len(answered),
        "abandoned": len(gave_up),
        "mean_wait_s": statistics.fmean(s.waited for s in answered) if answered else None,
        "classic": errors("told_classic"),
        "engine": errors("told"),
    }
    if answered and answered[0].told_exact is not None:
        out["exact"] = errors("told_exact")
    return out


def fmt(x: float | None, spec: str = "{:.1f}") -> str:
    return "-" if x is None else spec.format(x)


def accuracy(names: list[str], seeds: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    print(f"EWT told at queue entry vs waited, answered callers who waited; seeds 1-{seeds} pooled")
    print("(classic: k x AHT / N, N every operator with the skill; engine: estimates.py)\n")
    print(
        "| scenario | skill | answered | waited s | told s classic | told s engine | MAE s classic"
        " | MAE s engine | bias s classic | bias s engine | abandoned past EWT classic | engine |"
    )
    print("| --- | --- |" + " ---: |" * 10)
    for name in names:
        base = load_scenario(scenario_path(name))
        samples: list[Sample] = []
        for seed in range(1, seeds + 1):
            samples += accuracy_run(dataclasses.replace(base, seed=seed))
        groups = {"all": samples} | {
            s.name: [x for x in samples if x.skill == s.name] for s in base.skills if len(base.skills) > 1
        }
        results[name] = {}
        for group, rows in groups.items():
            r = results[name][group] = summary(rows)
            c, e = r["classic"], r["engine"]
            cells = [
                f"{r['answered']:,}",
                fmt(r["mean_wait_s"]),
                fmt(c["mean_told_s"]),
                fmt(e["mean_told_s"]),
                fmt(c["mae_s"]),
                f"**{fmt(e['mae_s'])}**",
                fmt(c["bias_s"], "{:+.1f}"),
                fmt(e["bias_s"], "{:+.1f}"),
                fmt(c["abandoned_past_ewt"], "{:.1%}"),
                fmt(e["abandoned_past_ewt"], "{:.1%}"),
            ]
            print(f"| {name} | {group} | " + " | ".join(cells) + " |")
        if "exact" in results[name]["all"]:
            x = results[name]["all"]["exact"]
            skill, group = base.skills[0], base.operators[0]
            assert skill.aht_s is not None
            rate = sum(skill.arrivals_per_h) / len(skill.arrivals_per_h) / 3600.0
            erlang = ErlangC(rate_per_s=rate, aht_s=skill.aht_s, n=group.count)
            waiting_mean = skill.aht_s / (group.count - erlang.erlangs)
            results[name]["erlang_c_wait_of_waiting_s"] = waiting_mean
            print(
                f"{'':15} exact k x AHT / N (true AHT): told {fmt(x['mean_told_s'])} s, MAE"
                f" {fmt(x['mae_s'])} s, bias {fmt(x['bias_s'], '{:+.1f}')} s (the floor); Erlang C"
                f" mean wait of those who wait AHT / (N - A) = {waiting_mean:.1f} s"
            )
    return results


CONSEQUENCE_FIGURES = (
    ("abandoned", "abandoned calls", "{:,.0f}"),
    ("p_abandon", "abandon rate", "{:.1%}"),
    ("never_served", "citizens never served", "{:,.0f}"),
    ("repeat_calls", "repeat calls", "{:,.0f}"),
    ("asa_s", "live ASA s", "{:.1f}"),
    ("offered", "callbacks offered", "{:,.0f}"),
    ("offered_on_entry", "  of which when they joined the queue", "{:,.0f}"),
    ("accepted", "callbacks accepted", "{:,.0f}"),
    ("completed", "callbacks completed", "{:,.0f}"),
    ("ewt_mae_s", "EWT MAE s", "{:.1f}"),
    ("ewt_bias_s", "EWT bias s", "{:+.1f}"),
)


def consequence_run(sc: Scenario, cls: type[Engine]) -> dict[str, Any]:
    on_entry = 0

    class Counting(cls):  # type: ignore[misc,valid-type]
        def _ivr_completed(self, e: ev.IvrCompleted) -> list[Command]:
            nonlocal on_entry
            out = super()._ivr_completed(e)
            call = self.calls.get(e.call_id)
            if call is not None and call.callback_offered:
                on_entry += 1
            return out

    with engine_class(Counting):
        k = virtual.simulate(sc).kpis
    cb = k["callbacks"]
    return {
        "abandoned": k["abandoned"],
        "p_abandon": k["p_abandon"],
        "never_served": k["offered"] - k["repeat_calls"] - k["answered"] - cb["completed"],
        "repeat_calls": k["repeat_calls"],
        "asa_s": k["asa_s"],
        "offered": cb["offered"],
        "offered_on_entry": on_entry,
        "accepted": cb["accepted"],
        "completed": cb["completed"],
        "ewt_mae_s": k["ewt"]["mae_s"],
        "ewt_bias_s": k["ewt"]["bias_s"],
    }


def consequences(names: list[str], seeds: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    runs = (
        ("classic, callbacks", ClassicEngine, True),
        ("engine, callbacks", Engine, True),
        ("no callbacks", Engine, False),
    )
    for name in names:
        base = load_scenario(scenario_path(name))
        per_run: dict[str, list[dict[str, Any]]] = {label: [] for label, _, _ in runs}
        for seed in range(1, seeds + 1):
            sc = dataclasses.replace(base, seed=seed)
            for label, cls, callbacks in runs:
                per_run[label].append(consequence_run(sc.with_callbacks(callbacks), cls))
        # Without callbacks the estimate is only told: both estimators give the same run.
        for seed in range(seeds):
            classic_off = consequence_run(
                dataclasses.replace(base, seed=seed + 1).with_callbacks(False), ClassicEngine
            )
            engine_off = per_run["no callbacks"][seed]
            if any(classic_off[key] != engine_off[key] for key in ("abandoned", "asa_s")):
                print(f"{name} seed {seed + 1}: the runs without callbacks differ by estimator (unexpected)")
        results[name] = per_run
        print(f"\n{name}, seeds 1-{seeds}: mean of the seeds")
        print(f"  {'':42}" + "".join(f"{label:>20}" for label, _, _ in runs))
        for key, label, spec in CONSEQUENCE_FIGURES:
            cells = []
            for run_label, _, _ in runs:
                values = [r[key] for r in per_run[run_label] if r[key] is not None]
                cells.append(spec.format(statistics.fmean(values)) if values else "-")
            print(f"  {label:42}" + "".join(f"{c:>20}" for c in cells))
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description="EWT told vs waited, classic and engine estimators")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--scenario", action="append", help=f"(repeatable; default {', '.join(ACCURACY)})")
    ap.add_argument("--skip-consequences", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if not virtual.__file__ or not virtual.__file__.endswith(".py"):
        raise SystemExit("run on the editable install: the compiled core cannot be subclassed here")
    names = args.scenario or list(ACCURACY)
    out: dict[str, Any] = {"seeds": args.seeds, "accuracy": accuracy(names, args.seeds)}
    if not args.skip_consequences:
        out["consequences"] = consequences(list(CONSEQUENCES), args.seeds)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, allow_nan=False) + "\n")


if __name__ == "__main__":
    main()
