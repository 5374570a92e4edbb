# Routing benchmark: what one routing decision of the core costs with many waiting calls and
# many operators, and whether that cost stays flat when the centre grows tenfold.
# Rules:
# - It prints figures and never fails on speed.
# - Only the engine's `handle` call is timed (perf_counter_ns around it); building events,
#   answering and topping up the queues happen outside the timed region.
# - The workload is deterministic (a seeded random.Random); the garbage collector stays on,
#   as in a real driver, so its pauses show up in the p99.
# Run: python tests/bench/bench_routing.py [--decisions 20000] [--json OUT]
from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contactcenter.core import events as ev
from contactcenter.core.commands import ConnectCall
from contactcenter.core.engine import Engine

SKILLS = tuple(f"skill{i}" for i in range(10))
LANGUAGES = ("ca", "es")
SCALES = ((1_000, 10_000), (100, 1_000))  # (operators, waiting calls)


@dataclass
class Bench:
    """An engine plus the driver-side bookkeeping a real driver would keep."""

    engine: Engine
    rng: random.Random
    now: float = 0.0
    next_call: int = 0
    talking: list[str] = field(default_factory=list)  # answered calls, any order
    kind: dict[str, tuple[str, str]] = field(default_factory=dict)  # call -> (skill, language)

    def tick(self) -> float:
        self.now += 0.001
        return self.now

    def new_call(self, skill: str, language: str) -> tuple[ev.CallArrived, ev.IvrCompleted]:
        self.next_call += 1
        cid = f"call{self.next_call}"
        self.kind[cid] = (skill, language)
        return (
            ev.CallArrived(now=self.tick(), call_id=cid),
            ev.IvrCompleted(now=self.tick(), call_id=cid, skill=skill, language=language),
        )

    def answer(self, commands: list[Any]) -> bool:
        """Answer the ConnectCall among `commands`, if any; True if there was one."""
        for cmd in commands:
            if isinstance(cmd, ConnectCall):
                self.engine.handle(
                    ev.OperatorAnswered(now=self.tick(), call_id=cmd.call_id, operator_id=cmd.operator_id)
                )
                self.talking.append(cmd.call_id)
                return True
        return False

    def pop_talking(self) -> str:
        """A random conversation to end (swap-remove: O(1))."""
        i = self.rng.randrange(len(self.talking))
        self.talking[i], self.talking[-1] = self.talking[-1], self.talking[i]
        return self.talking.pop()

    def arrive(self, skill: str, language: str) -> list[Any]:
        arrived, ivr = self.new_call(skill, language)
        return self.engine.handle(arrived) + self.engine.handle(ivr)

    def forget_completed(self) -> None:
        for call in self.engine.drain_completed():
            self.kind.pop(call.call_id, None)

    def random_kind(self) -> tuple[str, str]:
        return self.rng.choice(SKILLS), self.rng.choice(LANGUAGES)


def logged_in_centre(operators: int, seed: int) -> Bench:
    """`operators` logged in: a primary skill at level 1 and two more at levels 2 and 3."""
    b = Bench(Engine(lines=1_000_000, wrap_up=0), random.Random(seed))
    for i in range(operators):
        primary = SKILLS[i % len(SKILLS)]
        second, third = b.rng.sample([s for s in SKILLS if s != primary], 2)
        skills = ((primary, 1), (second, 2), (third, 3))
        b.engine.handle(
            ev.OperatorLoggedIn(now=b.tick(), operator_id=f"op{i}", skills=skills, languages=LANGUAGES)
        )
    return b


def percentiles(ns: list[int]) -> dict[str, float]:
    s = sorted(ns)
    return {
        "median_us": statistics.median(s) / 1000,
        "p99_us": s[min(len(s) - 1, int(0.99 * len(s)))] / 1000,
        "max_us": s[-1] / 1000,
        "n": len(s),
    }


class BusyCentre:
    """Every operator talking, `waiting` calls queued: hang-up -> next call decisions."""

    def __init__(self, operators: int, waiting: int, seed: int) -> None:
        self.b = b = logged_in_centre(operators, seed)
        queued = 0
        # Fill: calls of every kind until every operator talks; the rest wait.
        while len(b.talking) < operators:
            if not b.answer(b.arrive(*b.random_kind())):
                queued += 1
        while queued < waiting:
            if b.answer(b.arrive(*b.random_kind())):
                raise RuntimeError("an operator was still free after the fill")
            queued += 1
        b.engine.drain_completed()
        self.operators = operators
        self.decision_ns: list[int] = []
        self.enqueue_ns: list[int] = []
        self.idle = 0  # hang-ups after which the operator found nothing to take (stays 0)

    def run(self, n: int, record: bool = True) -> None:
        b, engine, clock = self.b, self.b.engine, time.perf_counter_ns
        for i in range(n):
            ended = ev.CallEnded(now=b.tick(), call_id=b.pop_talking())
            t0 = clock()
            out = engine.handle(ended)
            t1 = clock()
            if b.answer(out):
                kind = b.kind[b.talking[-1]]  # top up the queue the operator just took from
            else:
                self.idle += 1
                kind = b.random_kind()
            arrived, ivr = b.new_call(*kind)
            engine.handle(arrived)
            t2 = clock()
            out = engine.handle(ivr)
            t3 = clock()
            if b.answer(out):
                self.idle -= 1  # the arrival went straight to the operator left idle above
            if record:
                self.decision_ns.append(t1 - t0)
                self.enqueue_ns.append(t3 - t2)
            if i % 1_000 == 0:
                b.forget_completed()

    def result(self) -> dict[str, Any]:
        engine = self.b.engine
        return {
            "operators": self.operators,
            "waiting": sum(engine.waiting(s, lang) for s in SKILLS for lang in LANGUAGES),
            "decision": percentiles(self.decision_ns),
            "enqueue": percentiles(self.enqueue_ns),
            "idle_after_hangup": self.idle,
        }


class FreeCentre:
    """Half the operators free, queues empty: an arrival routed straight to an operator."""

    def __init__(self, operators: int, seed: int) -> None:
        self.b = b = logged_in_centre(operators, seed)
        while len(b.talking) < operators // 2:
            if not b.answer(b.arrive(*b.random_kind())):
                raise RuntimeError("a call waited while half the operators were free")
        self.operators = operators
        self.arrival_ns: list[int] = []
        self.queued = 0

    def run(self, n: int, record: bool = True) -> None:
        b, engine, clock = self.b, self.b.engine, time.perf_counter_ns
        for i in range(n):
            # Free one operator (queues are empty, so they go to the pool), then a call arrives.
            if b.answer(engine.handle(ev.CallEnded(now=b.tick(), call_id=b.pop_talking()))):
                raise RuntimeError("a freed operator found a waiting call")
            arrived, ivr = b.new_call(*b.random_kind())
            t0 = clock()
            engine.handle(arrived)
            out = engine.handle(ivr)
            t1 = clock()
            if not b.answer(out):
                # No free operator had this skill: it waits. Serve it at once (untimed) by
                # freeing operators until one takes it, so the queues stay empty.
                self.queued += 1
                while not b.answer(engine.handle(ev.CallEnded(now=b.tick(), call_id=b.pop_talking()))):
                    pass
            if record:
                self.arrival_ns.append(t1 - t0)
            if i % 1_000 == 0:
                b.forget_completed()

    def result(self) -> dict[str, Any]:
        return {
            "operators": self.operators,
            "free": self.operators - len(self.b.talking),
            "arrivals_that_waited": self.queued,
            "arrival": percentiles(self.arrival_ns),
        }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Cost of one routing decision of the core, at two scales.")
    p.add_argument("--decisions", type=int, default=20_000, help="timed decisions per scale")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", metavar="OUT", help="write every figure to this file")
    args = p.parse_args(argv)
    if args.decisions < 10:
        p.error("--decisions must be >= 10")

    print("routing: setting up both scales ...", file=sys.stderr, flush=True)
    centres = [
        (BusyCentre(operators, waiting, args.seed), FreeCentre(operators, args.seed))
        for operators, waiting in SCALES
    ]
    # Rounds alternate between the scales so that a noisy neighbour on the machine slows
    # both alike and the 10x ratio stays meaningful.
    rounds = 40
    per_round = -(-args.decisions // rounds)
    for busy, free in centres:
        busy.run(min(1_000, per_round), record=False)
        free.run(min(1_000, per_round), record=False)
    gc.collect()
    for _ in range(rounds):
        for busy, free in centres:
            busy.run(per_round)
            free.run(per_round)
    results: list[dict[str, Any]] = [
        {
            "scale": f"{operators:,} operators / {waiting:,} waiting",
            "busy": busy.result(),
            "free": free.result(),
        }
        for (operators, waiting), (busy, free) in zip(SCALES, centres, strict=True)
    ]

    head = ["scale", "hang-up -> next call", "arrival -> queue", "arrival -> free operator"]
    rows: list[list[str]] = []
    for r in results:
        d, q, a = r["busy"]["decision"], r["busy"]["enqueue"], r["free"]["arrival"]
        rows.append(
            [
                r["scale"],
                f"{d['median_us']:.1f} / {d['p99_us']:.1f}",
                f"{q['median_us']:.1f} / {q['p99_us']:.1f}",
                f"{a['median_us']:.1f} / {a['p99_us']:.1f}",
            ]
        )
    big, small = results
    growth = {
        "hang-up -> next call": big["busy"]["decision"]["median_us"] / small["busy"]["decision"]["median_us"],
        "arrival -> queue": big["busy"]["enqueue"]["median_us"] / small["busy"]["enqueue"]["median_us"],
        "arrival -> free operator": big["free"]["arrival"]["median_us"]
        / small["free"]["arrival"]["median_us"],
    }
    title = (
        f"Routing cost per decision, median / p99 µs ({args.decisions:,} timed each;"
        " 10 skills x 2 languages, 3 skills per operator, wrap-up 0)"
    )
    try:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for i, h in enumerate(head):
            table.add_column(h, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*row)
        console = Console(width=max(Console().width, 120))
        console.print(table)
    except ImportError:
        print(title)
        for row in [head, *rows]:
            print(" | ".join(row))
    for name, g in growth.items():
        print(f"{name}: 10x scale costs {g:.2f}x the median ({'flat' if g <= 1.5 else 'grows'})")
    idle = big["busy"]["idle_after_hangup"] + small["busy"]["idle_after_hangup"]
    if idle:
        print(f"note: {idle} hang-ups found no waiting call for the freed operator")
    waited = big["free"]["arrivals_that_waited"] + small["free"]["arrivals_that_waited"]
    if waited:
        print(f"note: {waited} arrivals in the free-operator runs found no free operator with their skill")

    if args.json:
        doc = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "decisions": args.decisions,
            "seed": args.seed,
            "results": results,
            "growth_10x": growth,
        }
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
