# Replications and parameter sweeps of the virtual-time simulator, on all cores or a Dask
# cluster. Rules:
# - A task is data (the scenario's YAML data, a seed, a sweep point) and `run_task` a
#   top-level function: both pickle, so the same task gives the same numbers in this
#   process, in a process pool or on a Dask worker (the simulator seeds every stream from
#   the scenario's seed; nothing depends on the process, its hash seed or the host).
# - Seeds are the scenario's seed + i, i < --seeds; the grid is the cartesian product of the
#   axes in the order given, seeds innermost. Results come back in task order whatever the
#   completion order.
# - Every point's scenario is parsed by the one schema (scenario.py) before anything runs:
#   a bad point fails at once, as a ConfigError naming --sweep and the field at fault.
#   A sweep sets only numbers that the scenario already holds (no silent new keys, no list
#   replaced by a number); integer fields get integers.
# - Confidence intervals: Student's t, computed here (regularized incomplete beta by its
#   continued fraction, bisection on the CDF), no scipy.
# - Dask is optional: imported only for a tcp:// executor; a scheduler that does not answer
#   in CONNECT_TIMEOUT_S is a ConfigError, not a hang. Every loop is bounded in count.
# - The command line's entry point (`run_from_cli`) checks everything (each sweep, each
#   point, the seeds, the executor) before the first run; its JSON holds no wall time, pid or
#   host, so the same batch gives the same file wherever it ran. A batch writes no one run's
#   output (SINGLE_RUN_FLAGS: the plot, the calls file, the records).
from __future__ import annotations

import copy
import gc
import itertools
import json
import math
import os
import re
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Protocol

from contactcenter.config import ConfigError
from contactcenter.sim.scenario import FLAGS, Scenario, parse_scenario
from contactcenter.sim.virtual import simulate

MAX_POINTS = 10_000  # grid points of a sweep (each axis, and their product)
MAX_SEEDS = 10_000
MAX_TASKS = 100_000  # points x seeds: each result is a KPI dict held in memory
CONNECT_TIMEOUT_S = 10.0  # to reach a Dask scheduler
BATCH_VERSION = 1  # of batch_json's layout
MAIN_KEYS: tuple[str, ...] = ("service_level", "asa_s", "p_abandon", "offered", "answered")
# Fields that hold whole numbers although absent from a scenario's data (`lines`: no limit).
_ABSENT_OK: Mapping[str, type] = {"lines": int}
_PERCENT_KEYS = frozenset({"service_level", "p_abandon", "p_wait", "sl2", "occupancy"})

Value = int | float
Point = tuple[tuple[str, Value], ...]  # (field as given on the command line, value)


# --- sweeps ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SweepAxis:
    """One `--sweep FIELD=FROM:TO:STEP`: the field as given and its grid (FROM + i STEP)."""

    field: str
    start: float
    stop: float
    step: float
    text: str  # as given, for errors

    @property
    def count(self) -> int:
        return math.floor((self.stop - self.start) / self.step + 1e-9) + 1

    @property
    def values(self) -> tuple[float, ...]:
        return tuple(self.start + i * self.step for i in range(self.count))


def _sweep_error(text: str, problem: str) -> ConfigError:
    return ConfigError(FLAGS, "--sweep", text, problem)


def parse_sweep(text: str) -> SweepAxis:
    """`FIELD=FROM:TO:STEP` into an axis; TO is included when it lands on the grid."""
    m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*=\s*([^:]*):([^:]*):([^:]*)\s*", text)
    if m is None:
        raise _sweep_error(text, "expected FIELD=FROM:TO:STEP, e.g. operators=20:27:1")
    field, *parts = m.groups()
    if any(not p.strip() for p in parts):
        raise _sweep_error(text, "empty range: FROM, TO and STEP are all needed")
    try:
        start, stop, step = (float(p) for p in parts)
    except ValueError:
        raise _sweep_error(text, "FROM, TO and STEP must be numbers") from None
    if not all(math.isfinite(x) for x in (start, stop, step)):
        raise _sweep_error(text, "FROM, TO and STEP must be finite numbers")
    if step <= 0:
        raise _sweep_error(text, "STEP must be > 0")
    if stop < start:
        raise _sweep_error(text, f"reversed range: TO ({stop:g}) is below FROM ({start:g})")
    if (stop - start) / step + 1 > MAX_POINTS:
        raise _sweep_error(text, f"more than {MAX_POINTS:,} grid points")
    return SweepAxis(field=field, start=start, stop=stop, step=step, text=text)


def _alias_path(field: str, raw: Mapping[str, Any], text: str) -> str:
    """The dotted path an alias stands for in this scenario's data (others: themselves)."""
    if field == "operators":
        groups = raw.get("operators")
        if not (isinstance(groups, list) and len(groups) == 1):
            raise _sweep_error(text, "`operators` applies to one operator group only: use operators.N.count")
        return "operators.0.count"
    if field == "arrival_rate":
        skills = raw.get("skills") or {}
        if len(skills) != 1 or "trace" in raw:
            raise _sweep_error(
                text,
                "`arrival_rate` applies to one-skill constant-rate scenarios: use skills.NAME.arrivals_per_h",
            )
        return f"skills.{next(iter(skills))}.arrivals_per_h"
    if field == "callback_threshold":
        return "callbacks.offer_after_ewt_s"
    return field


def _leaf(raw: dict[str, Any], field: str, text: str) -> tuple[Any, str | int, type]:
    """The container and key a field's path ends at, and the type of number it holds."""
    path = _alias_path(field, raw, text)
    if path == "seed":
        raise _sweep_error(text, "the seed is not a sweep axis: use --seeds")
    node: Any = raw
    keys = path.split(".")
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        here = ".".join(keys[: depth + 1])
        if isinstance(node, list):
            if not (key.isdigit() and int(key) < len(node)):
                raise _sweep_error(text, f"{here}: no such entry (the list has {len(node)})")
            index: str | int = int(key)
        elif isinstance(node, dict):
            if key not in node:
                if last and depth == 0 and key in _ABSENT_OK:
                    return node, key, _ABSENT_OK[key]
                known = ", ".join(sorted(map(str, node))) or "nothing"
                raise _sweep_error(text, f"{here}: not in this scenario (it has: {known})")
            index = key
        else:
            raise _sweep_error(text, f"{here}: not in this scenario")
        if last:
            value = node[index]
            if isinstance(value, bool) or not isinstance(value, int | float | None):
                raise _sweep_error(text, f"{path} holds {type(value).__name__}, not a number")
            return node, index, int if isinstance(value, int) else float
        node = node[index]
    raise AssertionError("unreachable: a path has at least one key")


def _typed_values(axis: SweepAxis, kind: type) -> tuple[Value, ...]:
    if kind is not int:
        return axis.values
    if not (axis.start.is_integer() and axis.step.is_integer()):
        raise _sweep_error(axis.text, f"{axis.field} is a whole number: FROM and STEP must be whole")
    return tuple(round(v) for v in axis.values)


def apply_point(raw: Mapping[str, Any], point: Point) -> dict[str, Any]:
    """A copy of the scenario data with the point's values set (fields as given, aliases too)."""
    out = copy.deepcopy(dict(raw))
    for field, value in point:
        node, key, _ = _leaf(out, field, f"{field}={value}")
        node[key] = value
    return out


# --- tasks -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Task:
    """One replication at one sweep point. `raw` is the scenario's YAML data (never changed)."""

    raw: dict[str, Any]
    source: str  # the scenario's file, for errors
    seed: int
    point: Point = ()


@dataclass(frozen=True, slots=True)
class TaskResult:
    point: Point
    seed: int
    kpis: dict[str, Any]
    arrivals: int
    wall_s: float  # of the simulation alone
    pid: int
    host: str


def run_task(task: Task) -> TaskResult:
    """Run one replication (in whatever process receives the task)."""
    raw = apply_point(task.raw, task.point)
    raw["seed"] = task.seed
    sc = parse_scenario(raw, task.source)
    # As the CLI does: what the process holds already (imports; a Dask worker's own state)
    # is taken out of the collector's full passes during the run, which then walk only the
    # run's objects. Given back after.
    gc.freeze()
    try:
        result = simulate(sc)
    finally:
        gc.unfreeze()
    return TaskResult(
        point=task.point,
        seed=task.seed,
        kpis=result.kpis,
        arrivals=result.arrivals,
        wall_s=result.wall_s,
        pid=os.getpid(),
        host=socket.gethostname(),
    )


def plan(scenario: Scenario, seeds: int, axes: Sequence[SweepAxis] = ()) -> list[Task]:
    """The grid (cartesian product of the axes, in order) x seeds scenario.seed + i.
    Each point's scenario is checked before any task is returned."""
    if not 1 <= seeds <= MAX_SEEDS:
        raise ConfigError(FLAGS, "--seeds", seeds, f"must be between 1 and {MAX_SEEDS:,}")
    raw = scenario.to_raw()
    fields = [a.field for a in axes]
    paths: list[str] = []
    columns: list[tuple[Value, ...]] = []
    for axis in axes:
        _, _, kind = _leaf(raw, axis.field, axis.text)
        path = _alias_path(axis.field, raw, axis.text)
        if path in paths:
            raise _sweep_error(axis.text, f"{path} is swept twice")
        paths.append(path)
        columns.append(_typed_values(axis, kind))
    points = math.prod(len(c) for c in columns)
    if points > MAX_POINTS:
        raise ConfigError(
            FLAGS, "--sweep", " ".join(a.text for a in axes), f"more than {MAX_POINTS:,} points"
        )
    if points * seeds > MAX_TASKS:
        raise ConfigError(
            FLAGS, "--seeds", seeds, f"{points:,} points x {seeds} seeds: more than {MAX_TASKS:,} runs"
        )
    last_seed = scenario.seed + seeds - 1
    tasks: list[Task] = []
    for values in itertools.product(*columns):
        point: Point = tuple(zip(fields, values, strict=True))
        checked = apply_point(raw, point)
        checked["seed"] = last_seed  # the largest seed of the batch must be a valid seed too
        try:
            parse_scenario(checked, scenario.source)
        except ConfigError as exc:
            shown = ", ".join(f"{f}={v:g}" for f, v in point) or "the scenario"
            if axes and exc.field != "seed":
                where = " ".join(a.text for a in axes)
                raise ConfigError(
                    FLAGS, "--sweep", where, f"at {shown}: {exc.field}: {exc.problem}"
                ) from None
            raise ConfigError(FLAGS, "--seeds", seeds, f"seed {last_seed}: {exc.problem}") from None
        tasks.extend(
            Task(raw=raw, source=scenario.source, seed=scenario.seed + i, point=point) for i in range(seeds)
        )
    return tasks


# --- executors -------------------------------------------------------------------------------


class BatchExecutor(Protocol):
    """Where tasks run: `results` yields (task index, result) as they complete."""

    def results(self, tasks: Sequence[Task]) -> Iterator[tuple[int, TaskResult]]: ...

    def close(self) -> None: ...


class InProcess:
    """Run tasks one after the other here (one task, or a serial reference)."""

    def results(self, tasks: Sequence[Task]) -> Iterator[tuple[int, TaskResult]]:
        for i, task in enumerate(tasks):
            yield i, run_task(task)

    def close(self) -> None:
        pass


class ProcessPool:
    """All cores of this machine. Workers are spawned, not forked: a fork of a process that
    holds threads can deadlock, and spawned workers start as a Dask worker does."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))

    def results(self, tasks: Sequence[Task]) -> Iterator[tuple[int, TaskResult]]:
        pending: dict[Future[TaskResult], int] = {
            self._pool.submit(run_task, t): i for i, t in enumerate(tasks)
        }
        try:
            while pending:  # each pass takes at least one finished future out
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield pending.pop(fut), fut.result()
        finally:
            for fut in pending:
                fut.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskCluster:
    """A Dask scheduler's workers (which need contactcenter installed, the same version)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def results(self, tasks: Sequence[Task]) -> Iterator[tuple[int, TaskResult]]:
        import distributed

        as_completed: Any = distributed.as_completed  # untyped
        futures = [self.client.submit(run_task, t, pure=False) for t in tasks]
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for fut in as_completed(futures):  # each future once
                yield index[fut.key], fut.result()
        finally:
            self.client.cancel(futures)

    def close(self) -> None:
        self.client.close()


def make_executor(spec: str | None, *, tasks: int | None = None, workers: int | None = None) -> BatchExecutor:
    """None or "local": a process pool of os.cpu_count() workers (at most one per task; one
    task runs here); "serial": here, one after the other; "tcp://HOST:PORT": a Dask scheduler."""
    if spec in (None, "local"):
        n = workers or os.cpu_count() or 1
        if tasks is not None:
            n = min(n, tasks)
        return InProcess() if n <= 1 else ProcessPool(n)
    if spec == "serial":
        return InProcess()
    m = re.fullmatch(r"tcp://(\[[0-9A-Fa-f:]+\]|[A-Za-z0-9.\-]+):(\d{1,5})", spec)
    if m is None or not 1 <= int(m.group(2)) <= 65535:
        raise ConfigError(
            FLAGS, "--executor", spec, "expected local, serial or tcp://HOST:PORT (a Dask scheduler)"
        )
    try:
        import distributed
    except ImportError:
        raise ConfigError(
            FLAGS, "--executor", spec, "a Dask cluster needs Dask: pip install contactcenter[dask]"
        ) from None
    try:
        client_class: Any = distributed.Client  # untyped
        client = client_class(spec, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise ConfigError(
            FLAGS, "--executor", spec, f"no Dask scheduler answered within {CONNECT_TIMEOUT_S:g} s ({exc})"
        ) from None
    return DaskCluster(client)


def run_batch(
    tasks: Sequence[Task],
    executor: BatchExecutor | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[TaskResult]:
    """Run every task (here when executor is None); results in task order."""
    runner = executor if executor is not None else InProcess()
    out: list[TaskResult | None] = [None] * len(tasks)
    if progress is not None:
        progress(0, len(tasks))
    for done, (i, result) in enumerate(runner.results(tasks), 1):
        out[i] = result
        if progress is not None:
            progress(done, len(tasks))
    missing = [i for i, r in enumerate(out) if r is None]
    if missing:
        raise RuntimeError(f"the executor returned no result for tasks {missing[:10]}")
    return [r for r in out if r is not None]


# --- statistics ------------------------------------------------------------------------------


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        for num in (
            m * (b - m) * x / ((a + m2 - 1.0) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    if not 0.0 <= x <= 1.0:
        raise ValueError("x must be in [0, 1]")
    if x in (0.0, 1.0):
        return x
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):  # where the fraction converges fast
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, dof: float) -> float:
    """P(T <= t) for Student's t with `dof` degrees of freedom."""
    tail = 0.5 * betainc(dof / 2.0, 0.5, dof / (dof + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, dof: float) -> float:
    """The t with P(T <= t) = p: bisection on the CDF (monotone), to 1e-12 relative."""
    if not 0.0 < p < 1.0 or dof <= 0:
        raise ValueError("need 0 < p < 1 and dof > 0")
    if p < 0.5:
        return -t_quantile(1.0 - p, dof)
    hi = 1.0
    for _ in range(200):  # t(1 - 1e-16, 1) is about 3e15: 2^52 is reached long before
        if t_cdf(hi, dof) >= p:
            break
        hi *= 2.0
    lo = 0.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, dof) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * hi:
            break
    return 0.5 * (lo + hi)


@dataclass(frozen=True, slots=True)
class KpiStat:
    """A KPI over the replications of a point: n finite values (`skipped` others)."""

    mean: float
    sd: float | None  # sample standard deviation; None with one value
    n: int
    ci95: float | None  # half-width of the 95 % confidence interval of the mean
    skipped: int = 0  # values missing (None) or not finite (inf, nan) in some replications

    @property
    def interval(self) -> tuple[float, float] | None:
        return None if self.ci95 is None else (self.mean - self.ci95, self.mean + self.ci95)


def kpi_stat(values: Sequence[float], skipped: int = 0) -> KpiStat:
    n = len(values)
    if n == 0:
        raise ValueError("no values")
    mean = math.fsum(values) / n
    if n < 2:
        return KpiStat(mean=mean, sd=None, n=n, ci95=None, skipped=skipped)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    return KpiStat(mean=mean, sd=sd, n=n, ci95=t_quantile(0.975, n - 1) * sd / math.sqrt(n), skipped=skipped)


@dataclass(frozen=True, slots=True)
class PointSummary:
    point: Point
    seeds: tuple[int, ...]
    kpis: dict[str, KpiStat]  # dotted keys: service_level, by_skill.info.asa_s, ...
    arrivals: int  # over all replications
    wall_s: float  # summed over the replications (simulation alone)


def flatten(kpis: Mapping[str, Any], prefix: str = "") -> dict[str, object]:
    """Nested KPI dicts as one level with dotted keys (scalars only)."""
    out: dict[str, object] = {}
    for key, value in kpis.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def summarise(results: Sequence[TaskResult]) -> list[PointSummary]:
    """Per sweep point (in the order first seen), every numeric KPI's mean, sd, n and CI."""
    groups: dict[Point, list[TaskResult]] = {}
    for r in results:
        groups.setdefault(r.point, []).append(r)
    out: list[PointSummary] = []
    for point, runs in groups.items():
        flat = [flatten(r.kpis) for r in runs]
        keys = list(dict.fromkeys(k for f in flat for k in f))
        # A key is a KPI when some run has a number for it; elsewhere it is missing or not finite.
        stats: dict[str, KpiStat] = {}
        for key in keys:
            raw = [_number(f.get(key)) for f in flat]
            if all(v is None for v in raw):
                continue
            finite = [v for v in raw if v is not None and math.isfinite(v)]
            skipped = len(raw) - len(finite)
            if finite:
                stats[key] = kpi_stat(finite, skipped)
        out.append(
            PointSummary(
                point=point,
                seeds=tuple(r.seed for r in runs),
                kpis=stats,
                arrivals=sum(r.arrivals for r in runs),
                wall_s=math.fsum(r.wall_s for r in runs),
            )
        )
    return out


# --- output ----------------------------------------------------------------------------------


def _cell(key: str, stat: KpiStat | None) -> str:
    if stat is None:
        return "-"
    pct = key.rsplit(".", 1)[-1] in _PERCENT_KEYS
    scale, unit = (100.0, " %") if pct else (1.0, " s" if key.endswith("_s") else "")
    digits = 1 if pct or unit else (0 if abs(stat.mean) >= 100 else 2)
    text = f"{stat.mean * scale:,.{digits}f}"
    if stat.ci95 is not None:
        text += f" ± {stat.ci95 * scale:,.{digits}f}"
    text += unit
    if stat.skipped:
        text += f" ({stat.skipped} skipped)"
    return text


def render_batch(summaries: Sequence[PointSummary], keys: Sequence[str] | None = None) -> str:
    """A plain text table: one row per point, mean ± 95 % half-width of each KPI."""
    keys = tuple(keys) if keys is not None else MAIN_KEYS
    fields = list(dict.fromkeys(f for s in summaries for f, _ in s.point))
    header = [*fields, "seeds", *keys]
    rows = [
        [
            *(f"{dict(s.point).get(f, '-'):g}" for f in fields),
            str(len(s.seeds)),
            *(_cell(k, s.kpis.get(k)) for k in keys),
        ]
        for s in summaries
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    n = {len(s.seeds) for s in summaries}
    seeds = "/".join(map(str, sorted(n)))
    lines.append(f"mean ± half-width of the 95 % confidence interval (Student's t) over {seeds} seeds")
    return "\n".join(lines)


def batch_json(
    summaries: Sequence[PointSummary], *, scenario: str, seeds: Sequence[int], axes: Sequence[SweepAxis] = ()
) -> dict[str, Any]:
    """The batch as JSON data (no NaN: a missing sd or interval is null)."""
    return {
        "version": BATCH_VERSION,
        "scenario": scenario,
        "seeds": list(seeds),
        "axes": [
            {"field": a.field, "from": a.start, "to": a.stop, "step": a.step, "points": a.count} for a in axes
        ],
        "points": [
            {
                "point": dict(s.point),
                "seeds": list(s.seeds),
                "arrivals": s.arrivals,
                "kpis": {
                    k: {"mean": st.mean, "sd": st.sd, "n": st.n, "ci95": st.ci95, "skipped": st.skipped}
                    for k, st in s.kpis.items()
                },
            }
            for s in summaries
        ],
    }


# --- the command line (`contactcenter sim --seeds N --sweep FIELD=FROM:TO:STEP --executor ...`) ---

# What writes one run's own output: a batch has no one run to write it of.
SINGLE_RUN_FLAGS: tuple[str, ...] = ("--plot", "--calls-csv", "--records", "--records-day", "--by-hour")


def parse_seeds(text: str | int | None) -> int:
    """--seeds as given on the command line (None: one seed, the scenario's)."""
    if text is None:
        return 1
    if isinstance(text, int) and not isinstance(text, bool):
        seeds = text
    elif isinstance(text, str) and re.fullmatch(r"\s*\d{1,6}\s*", text):
        seeds = int(text)
    else:
        raise ConfigError(FLAGS, "--seeds", text, f"must be a whole number between 1 and {MAX_SEEDS:,}")
    if not 1 <= seeds <= MAX_SEEDS:
        raise ConfigError(FLAGS, "--seeds", text, f"must be between 1 and {MAX_SEEDS:,}")
    return seeds


def refuse_single_run_flags(given: Mapping[str, object]) -> None:
    """A batch refuses the flags of one run's output (given: flag -> value, None or False
    when not given), naming the first one given."""
    for flag, value in given.items():
        if value is not None and value is not False:
            raise ConfigError(
                FLAGS,
                flag,
                value,
                "is one run's: not with --seeds N > 1, --sweep or --executor (drop those to run one seed)",
            )


def _where(runner: BatchExecutor) -> str:
    if isinstance(runner, ProcessPool):
        return f"a pool of {runner.workers} processes"
    if isinstance(runner, DaskCluster):
        return "a Dask cluster"
    return "this process"


def run_from_cli(
    scenario: Scenario,
    *,
    seeds: int,
    sweeps: Sequence[str],
    executor: str | None,
    json_out: Path | None,
    quiet: bool,
    progress: Callable[[int, int], None] | None = None,
    run_meta: Mapping[str, object] | None = None,
) -> int:
    """Run the replications (seeds scenario.seed + i, i < seeds) at every point of the sweeps'
    grid, where `executor` says (None or "local": a process pool on all cores; "serial": here;
    "tcp://HOST:PORT": a Dask scheduler); print the table of means and 95 % intervals unless
    quiet; write the batch's JSON (run_meta under "run") to json_out. Everything is checked
    (each sweep, each point's scenario, the seeds, the executor) before the first run.
    `progress(done, total)` is told of each finished run. Returns the exit code, 0."""
    axes = [parse_sweep(text) for text in sweeps]
    tasks = plan(scenario, seeds, axes)
    runner = make_executor(executor, tasks=len(tasks))
    where = _where(runner)
    started = time.perf_counter()
    try:
        results = run_batch(tasks, runner, progress)
    finally:
        runner.close()
    elapsed = time.perf_counter() - started
    summaries = summarise(results)
    if json_out is not None:
        data = batch_json(
            summaries, scenario=scenario.name, seeds=[scenario.seed + i for i in range(seeds)], axes=axes
        )
        if run_meta is not None:
            data["run"] = dict(run_meta)
        try:
            json_out.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
        except OSError as exc:  # the folder went away, the disk filled up: still one line
            raise ConfigError(FLAGS, "--json", str(json_out), f"cannot write: {exc.strerror}") from None
    if not quiet:
        last = scenario.seed + seeds - 1
        seed_text = f"seed {scenario.seed}" if seeds == 1 else f"seeds {scenario.seed}..{last}"
        print(
            f"{scenario.name}: {scenario.hours:g} h measured after {scenario.warmup_hours:g} h warm-up,"
            f" {seed_text}"
        )
        print(render_batch(summaries))
        points = len(summaries)
        print(
            f"{len(results):,} runs ({points:,} points x {seeds:,} seeds):"
            f" {sum(r.arrivals for r in results):,} calls simulated in {elapsed:.1f} s on {where}"
            f" ({math.fsum(r.wall_s for r in results):.2f} s of simulation)"
        )
    return 0
