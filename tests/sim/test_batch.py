# Replications and sweeps (contactcenter/sim/batch.py): the grid a spec makes, the errors of a
# bad spec, the same numbers wherever a task runs (here, a process pool, a Dask cluster on
# loopback), the Student's t interval, and that it covers a known mean (Erlang C).
from __future__ import annotations

import json
import math
import os
import socket
import statistics
import sys
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from contactcenter.config import ConfigError
from contactcenter.resources import scenario as scenario_path
from contactcenter.sim import batch
from contactcenter.sim.batch import (
    InProcess,
    Task,
    TaskResult,
    batch_json,
    make_executor,
    parse_sweep,
    plan,
    render_batch,
    run_batch,
    run_task,
    summarise,
    t_cdf,
    t_quantile,
)
from contactcenter.sim.erlang import ErlangC
from contactcenter.sim.scenario import Scenario, load_scenario, parse_scenario
from contactcenter.sim.virtual import simulate


def _quick(**kw: Any) -> Scenario:
    args: dict[str, Any] = {"arrival_rate": 60.0, "aht": 180.0, "operators": 4, "hours": 1.0}
    args.update(kw)
    return Scenario.quick(**args)


def _shipped(name: str) -> Scenario:
    return load_scenario(scenario_path(name))


def _same(results: Sequence[TaskResult]) -> list[tuple[object, int, str, int]]:
    """What must not depend on where a task ran: its point, seed, KPIs and arrivals."""
    return [(r.point, r.seed, json.dumps(r.kpis, sort_keys=True), r.arrivals) for r in results]


# --- the grid ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    ["operators=20:27:1", "arrival_rate=0.1:0.3:0.1", "wrap_up_s=0:10:3", "x.y=1.5:1.5:0.25", "a=0:1:0.1"],
)
def test_sweep_grid_is_from_plus_i_step_up_to_to(spec: str) -> None:
    field, rng = spec.split("=")
    lo, hi, step = (Fraction(p) for p in rng.split(":"))
    count = math.floor((hi - lo) / step) + 1  # exact arithmetic: TO is in when it lands on the grid
    axis = parse_sweep(spec)
    assert axis.field == field
    assert axis.count == count
    assert axis.values == tuple(float(lo) + i * float(step) for i in range(count))
    assert float(lo + (count - 1) * step) <= float(hi) < float(lo + count * step)


def test_plan_is_the_product_of_the_axes_in_order_times_the_seeds() -> None:
    sc = _quick(seed=7)
    axes = [parse_sweep("operators=4:6:1"), parse_sweep("arrival_rate=50:60:5")]
    tasks = plan(sc, 3, axes)
    expect = [
        ((("operators", n), ("arrival_rate", r)), 7 + i)
        for n in (4, 5, 6)
        for r in (50.0, 55.0, 60.0)
        for i in range(3)
    ]
    assert [(t.point, t.seed) for t in tasks] == expect
    assert all(type(t.point[0][1]) is int and type(t.point[1][1]) is float for t in tasks)
    # The aliases set what they stand for: the one group's count, the one skill's rate.
    raw = batch.apply_point(tasks[-1].raw, tasks[-1].point)
    got = parse_scenario(raw, "x")
    assert got.operators[0].count == 6
    assert got.skills[0].arrivals_per_h == (60.0,)
    assert tasks[-1].raw == sc.to_raw()  # the task's data is left as it was


def test_dotted_paths_and_callback_threshold_reach_their_fields() -> None:
    sc = _shipped("010-deadline")
    tasks = plan(
        sc,
        1,
        [
            parse_sweep("callback_threshold=60:90:30"),
            parse_sweep("operators.1.count=3:4:1"),
            parse_sweep("skills.info.patience_s=100:100:1"),
        ],
    )
    assert len(tasks) == 4
    raw = batch.apply_point(tasks[-1].raw, tasks[-1].point)
    got = parse_scenario(raw, "x")
    assert got.callbacks is not None and got.callbacks.policy.offer_after_ewt_s == 90.0
    assert got.operators[1].count == 4
    assert {s.name: s.patience_s for s in got.skills}["info"] == 100.0


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("operators=6:4:1", "reversed range"),
        ("operators=4:6:0", "STEP must be > 0"),
        ("operators=4:6:-1", "STEP must be > 0"),
        ("operators=4::1", "empty range"),
        ("operators", "expected FIELD=FROM:TO:STEP"),
        ("operators=a:b:c", "must be numbers"),
        ("operators=1:nan:1", "finite"),
        ("operators=1:20000:1", "more than 10,000"),
        ("nosuch=1:2:1", "nosuch: not in this scenario"),
        ("operators.3.count=1:2:1", "operators.3: no such entry"),
        ("skills.general.nosuch=1:2:1", "skills.general.nosuch: not in this scenario"),
        ("operators=4:6:0.5", "whole number"),
        ("operators=4.5:6:1", "whole number"),
        ("callback_threshold=60:90:30", "callbacks: not in this scenario"),
        ("service.dist=1:2:1", "holds str, not a number"),
        ("seed=1:3:1", "--seeds"),
        # Parsed before anything runs: the point at fault and the field it breaks are named.
        ("wrap_up_s=0:200:100", "at wrap_up_s=200: skills.general.aht_s"),
        ("operators=0:2:1", "at operators=0"),
    ],
)
def test_bad_sweeps_name_the_flag_and_the_field(
    spec: str, words: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[object] = []
    monkeypatch.setattr(batch, "simulate", ran.append)
    with pytest.raises(ConfigError) as err:
        plan(_quick(), 2, [parse_sweep(spec)])
    assert (err.value.file, err.value.field, err.value.value) == ("(command line)", "--sweep", spec)
    assert words in err.value.problem
    assert ran == []


def test_aliases_refuse_scenarios_they_do_not_fit() -> None:
    weekday = _shipped("010-weekday")  # seven operator groups, three skills with day profiles
    for spec, words in (("operators=1:2:1", "one operator group"), ("arrival_rate=1:2:1", "one-skill")):
        with pytest.raises(ConfigError, match=words):
            plan(weekday, 1, [parse_sweep(spec)])
    with pytest.raises(ConfigError, match="holds list"):
        plan(weekday, 1, [parse_sweep("skills.info.arrivals_per_h=1:2:1")])
    with pytest.raises(ConfigError, match="swept twice"):
        plan(_quick(), 1, [parse_sweep("operators=1:2:1"), parse_sweep("operators.0.count=3:4:1")])
    with pytest.raises(ConfigError) as err:
        plan(_quick(), 0)
    assert err.value.field == "--seeds"
    with pytest.raises(ConfigError, match="seed 9223372036854775808") as err:
        plan(_quick(seed=2**63 - 2), 3)  # the last seed is past the largest
    assert (err.value.field, err.value.value) == ("--seeds", 3)


def test_a_sweep_can_set_lines_the_scenario_leaves_unlimited() -> None:
    tasks = plan(_quick(), 1, [parse_sweep("lines=2:3:1")])
    assert [parse_scenario(batch.apply_point(t.raw, t.point), "x").lines for t in tasks] == [2, 3]


# --- where it runs -----------------------------------------------------------------------------


def _small_batch() -> list[Task]:
    return plan(_quick(hours=0.5), 3, [parse_sweep("operators=3:4:1")])


def test_the_process_pool_gives_the_numbers_of_this_process() -> None:
    tasks = _small_batch()
    here = run_batch(tasks)
    pool = make_executor(None, workers=2)
    try:
        there = run_batch(tasks, pool)
    finally:
        pool.close()
    assert _same(there) == _same(here)
    assert [(r.point, r.seed) for r in here] == [(t.point, t.seed) for t in tasks]
    assert os.getpid() not in {r.pid for r in there}  # it really ran elsewhere
    assert {r.pid for r in here} == {os.getpid()}
    # And the runs differ by seed and by point (the comparison above could not pass vacuously).
    assert len({json.dumps(r.kpis, sort_keys=True) for r in here}) == len(tasks)


def test_one_task_runs_in_this_process() -> None:
    assert isinstance(make_executor(None, tasks=1), InProcess)
    assert isinstance(make_executor("serial"), InProcess)


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        yield cluster


def test_a_dask_cluster_gives_the_numbers_of_this_process(dask_cluster: Any) -> None:
    tasks = _small_batch()
    seen: list[tuple[int, int]] = []
    cluster = make_executor(dask_cluster.scheduler_address)
    try:
        there = run_batch(tasks, cluster, progress=lambda done, total: seen.append((done, total)))
    finally:
        cluster.close()
    assert _same(there) == _same([run_task(t) for t in tasks])
    assert os.getpid() not in {r.pid for r in there}
    assert seen == [(i, len(tasks)) for i in range(len(tasks) + 1)]


def test_results_come_back_in_task_order_whatever_the_completion_order() -> None:
    class Backwards:
        def results(self, tasks: Sequence[Task]) -> Iterator[tuple[int, TaskResult]]:
            for i in reversed(range(len(tasks))):
                yield i, run_task(tasks[i])

        def close(self) -> None:
            pass

    tasks = _small_batch()
    assert _same(run_batch(tasks, Backwards())) == _same(run_batch(tasks))


def test_executor_specs_that_cannot_work_are_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    for spec in ("tcp://127.0.0.1", "http://127.0.0.1:8786", "tcp://127.0.0.1:99999", "cluster"):
        with pytest.raises(ConfigError) as err:
            make_executor(spec)
        assert (err.value.field, err.value.value) == ("--executor", spec)
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if Dask were not installed
    with pytest.raises(ConfigError, match=r"pip install contactcenter\[dask\]") as err:
        make_executor("tcp://127.0.0.1:8786")
    assert err.value.field == "--executor"


def test_a_scheduler_that_does_not_answer_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("distributed")
    with socket.socket() as s:  # a loopback port that nobody listens on (bound, never listening)
        s.bind(("127.0.0.1", 0))
        spec = f"tcp://127.0.0.1:{s.getsockname()[1]}"
        monkeypatch.setattr(batch, "CONNECT_TIMEOUT_S", 1.0)
        with pytest.raises(ConfigError, match="no Dask scheduler answered") as err:
            make_executor(spec)
    assert (err.value.field, err.value.value) == ("--executor", spec)


# --- statistics --------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.5, 0.6, 0.9, 0.975, 0.995, 0.9995, 0.025])
def test_t_quantile_matches_the_closed_forms_and_the_normal_limit(p: float) -> None:
    assert t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-9, abs=1e-12)
    assert t_quantile(p, 2) == pytest.approx((2 * p - 1) / math.sqrt(2 * p * (1 - p)), rel=1e-9, abs=1e-12)
    z = statistics.NormalDist().inv_cdf(p)
    assert t_quantile(p, 1e7) == pytest.approx(z, rel=1e-5, abs=1e-9)
    # Below the limit, t's heavier tails put its quantile beyond the normal's.
    if p > 0.5:
        assert z < t_quantile(p, 30) < t_quantile(p, 5) < t_quantile(p, 1)


@pytest.mark.parametrize("dof", [3.0, 7.5, 19.0])
def test_t_cdf_is_the_integral_of_the_t_density(dof: float) -> None:
    def pdf(x: float) -> float:
        c = math.exp(math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2)) / math.sqrt(dof * math.pi)
        return c * float((1 + x * x / dof) ** (-(dof + 1) / 2))

    for t in (0.3, 1.0, 2.1, 4.0):
        n = 2000  # Simpson's rule from 0 to t, plus the half below 0
        h = t / n
        simpson = pdf(0) + pdf(t) + sum((4 if i % 2 else 2) * pdf(i * h) for i in range(1, n))
        assert t_cdf(t, dof) == pytest.approx(0.5 + simpson * h / 3, abs=1e-10)
        assert t_cdf(-t, dof) == pytest.approx(1 - t_cdf(t, dof), abs=1e-14)
        assert t_quantile(t_cdf(t, dof), dof) == pytest.approx(t, rel=1e-9)


def _result(point: batch.Point, seed: int, kpis: dict[str, Any]) -> TaskResult:
    return TaskResult(point=point, seed=seed, kpis=kpis, arrivals=10, wall_s=0.1, pid=1, host="h")


def test_summarise_flattens_skips_and_counts() -> None:
    a, b = (("operators", 3),), (("operators", 4),)
    sl = [0.5, 0.7, 0.65, 0.2]
    runs = [
        _result(a, 1, {"service_level": sl[0], "asa_s": 10.0, "by_skill": {"x": {"n": 1}}, "ok": True}),
        _result(b, 1, {"service_level": 0.9, "asa_s": None}),
        _result(a, 2, {"service_level": sl[1], "asa_s": math.inf, "by_skill": {"x": {"n": 3}}, "ok": True}),
        _result(a, 3, {"service_level": sl[2], "asa_s": math.nan, "by_skill": {"x": {"n": 2}}, "ok": True}),
        _result(a, 4, {"service_level": sl[3], "asa_s": 14.0, "name": "q"}),
    ]
    first, second = summarise(runs)
    assert (first.point, first.seeds, second.point, second.seeds) == (a, (1, 2, 3, 4), b, (1,))
    st = first.kpis["service_level"]
    assert st.mean == pytest.approx(statistics.mean(sl))
    assert (st.n, st.skipped) == (4, 0)
    assert st.sd == pytest.approx(statistics.stdev(sl))
    assert st.ci95 == pytest.approx(t_quantile(0.975, 3) * statistics.stdev(sl) / 2)
    assert (first.kpis["asa_s"].n, first.kpis["asa_s"].skipped, first.kpis["asa_s"].mean) == (2, 2, 12.0)
    assert (first.kpis["by_skill.x.n"].n, first.kpis["by_skill.x.n"].skipped) == (3, 1)
    assert "ok" not in first.kpis and "name" not in first.kpis  # not numbers
    one = second.kpis["service_level"]
    assert (one.mean, one.sd, one.ci95) == (0.9, None, None)
    assert "asa_s" not in second.kpis  # no run has a number for it
    text = render_batch([first, second])
    assert f"{100 * st.mean:.1f} ± {100 * (st.ci95 or 0):.1f} %" in text
    assert "12.0 ± " in text and " s (2 skipped)" in text and "90.0 %" in text
    data = batch_json(
        [first, second], scenario="quick", seeds=[1, 2, 3, 4], axes=[parse_sweep("operators=3:4:1")]
    )
    back = json.loads(json.dumps(data, allow_nan=False))
    assert back["points"][0]["kpis"]["service_level"]["ci95"] == pytest.approx(st.ci95)
    assert back["points"][1]["kpis"]["service_level"]["sd"] is None
    assert back["axes"] == [{"field": "operators", "from": 3.0, "to": 4.0, "step": 1.0, "points": 2}]


# --- the interval covers the truth ---------------------------------------------------------------

# M/M/8 at 6 erlangs, no abandonment: Erlang C gives the service level. Each replication has
# a half-hour warm-up (about 10 handling times: the empty start is forgotten) and 4 measured
# hours (about 480 calls), so its bias (a ratio over a finite run) is a fraction of the CI.
_RATE, _AHT, _N, _T = 120.0, 180.0, 8, 20.0


def _mmn(seed: int) -> Scenario:
    return Scenario.quick(
        arrival_rate=_RATE, aht=_AHT, operators=_N, hours=4, warmup_hours=0.5, seed=seed, sl_threshold=_T
    )


def test_the_interval_over_20_seeds_covers_the_erlang_c_service_level() -> None:
    # Seeds are fixed, so this is deterministic: with a correct interval it fails for 5 % of
    # seed choices; seeds 1..20 are one that passes, and the two checks after it make sure it
    # does not pass by being wide: its width is t sd / sqrt(n) of the KPIs themselves, and
    # a neighbouring staffing's true service level (one operator less) lies outside it.
    pool = make_executor(None, workers=2)
    try:
        results = run_batch(plan(_mmn(1), 20), pool)
    finally:
        pool.close()
    (point,) = summarise(results)
    st = point.kpis["service_level"]
    assert st.interval is not None
    truth = ErlangC(_RATE / 3600, _AHT, _N).service_level(_T)
    assert st.interval[0] <= truth <= st.interval[1]
    values = [r.kpis["service_level"] for r in results]
    assert st.ci95 == pytest.approx(t_quantile(0.975, 19) * statistics.stdev(values) / math.sqrt(20))
    other = ErlangC(_RATE / 3600, _AHT, _N - 1).service_level(_T)
    assert not st.interval[0] <= other <= st.interval[1]


def test_intervals_cover_the_true_mean_about_95_percent_of_the_time() -> None:
    # Ten batches of 20 seeds each (seeds 1..200): a 95 % interval misses in about one in 20, so
    # 8 or more of 10 cover the truth; a correct interval fails this for 1.2 % of seed choices
    # (binomial(10, 0.95) <= 7), one too narrow by even sqrt(2) covers about 83 % and fails it
    # often. Deterministic with fixed seeds.
    pool = make_executor(None, workers=2)
    try:
        results = run_batch(plan(_mmn(1), 200), pool)
    finally:
        pool.close()
    truth = ErlangC(_RATE / 3600, _AHT, _N).service_level(_T)
    covered = 0
    for g in range(10):
        (point,) = summarise(results[20 * g : 20 * (g + 1)])
        lo, hi = point.kpis["service_level"].interval or (math.nan, math.nan)
        covered += lo <= truth <= hi
    assert covered >= 8


# --- the command line's entry point ------------------------------------------------------------


def _no_nan(text: str) -> Any:
    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in the JSON")

    return json.loads(text, parse_constant=refuse)


def test_run_from_cli_gives_the_same_json_serially_and_on_the_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sc = _quick(hours=0.5, seed=11)
    made: list[batch.BatchExecutor] = []
    real = batch.make_executor

    def spy(spec: str | None, **kw: Any) -> batch.BatchExecutor:
        made.append(real(spec, **kw))
        return made[-1]

    monkeypatch.setattr(batch, "make_executor", spy)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)  # a pool of two, whatever this machine has
    meta = {"version": "test", "scenario": sc.name, "seed": sc.seed}
    outs = {}
    for spec in ("serial", None):
        out = tmp_path / f"{spec}.json"
        rc = batch.run_from_cli(
            sc, seeds=3, sweeps=[], executor=spec, json_out=out, quiet=True, run_meta=meta
        )
        assert rc == 0
        outs[spec] = out.read_bytes()
    assert [type(e) for e in made] == [InProcess, batch.ProcessPool]  # it really ran both ways
    assert outs["serial"] == outs[None]
    data = _no_nan(outs[None].decode())
    assert data["run"] == meta and data["seeds"] == [11, 12, 13]
    (point,) = data["points"]
    assert point["seeds"] == [11, 12, 13]
    assert capsys.readouterr().out == ""  # quiet


def test_run_from_cli_sweep_gives_each_points_mean_and_interval(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sc = _quick(hours=0.5, patience=60.0, seed=3)
    seen: list[tuple[int, int]] = []
    out = tmp_path / "batch.json"
    rc = batch.run_from_cli(
        sc,
        seeds=2,
        sweeps=["operators=3:4:1"],
        executor="serial",
        json_out=out,
        quiet=False,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert rc == 0
    assert seen == [(i, 4) for i in range(5)]  # one report per run, and the start
    data = _no_nan(out.read_text())
    assert "run" not in data  # no run_meta given
    assert [p["point"] for p in data["points"]] == [{"operators": 3}, {"operators": 4}]
    assert data["axes"] == [{"field": "operators", "from": 3.0, "to": 4.0, "step": 1.0, "points": 2}]
    for p in data["points"]:
        assert p["seeds"] == [3, 4]
        # Each point's KPIs, recomputed from plain runs of the scenario with those flags.
        runs = [simulate(sc.override(operators=p["point"]["operators"], seed=s)).kpis for s in (3, 4)]
        for key in batch.MAIN_KEYS:
            values = [float(r[key]) for r in runs]
            stat = p["kpis"][key]
            assert stat["mean"] == pytest.approx(statistics.mean(values))
            assert stat["ci95"] == pytest.approx(
                t_quantile(0.975, 1) * statistics.stdev(values) / math.sqrt(2)
            )
            assert stat["n"] == 2
    assert data["points"][0]["kpis"]["service_level"] != data["points"][1]["kpis"]["service_level"]
    text = capsys.readouterr().out
    assert "seeds 3..4" in text and "4 runs (2 points x 2 seeds)" in text and "on this process" in text
    assert len([line for line in text.splitlines() if line.strip().startswith(("3  ", "4  "))]) == 2


def test_run_from_cli_checks_everything_before_the_first_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[object] = []
    monkeypatch.setattr(batch, "simulate", ran.append)
    out = tmp_path / "never.json"
    cases: list[tuple[dict[str, Any], str, object]] = [
        ({"sweeps": ["operators=4..6"]}, "--sweep", "operators=4..6"),
        ({"sweeps": ["operators=1:2:1", "nosuch=1:2:1"]}, "--sweep", "nosuch=1:2:1"),
        ({"seeds": 0}, "--seeds", 0),
        ({"executor": "cluster"}, "--executor", "cluster"),
    ]
    for given, flag, value in cases:
        kw: dict[str, Any] = {"seeds": 2, "sweeps": [], "executor": "serial", **given}
        with pytest.raises(ConfigError) as err:
            batch.run_from_cli(_quick(), json_out=out, quiet=True, **kw)
        assert (err.value.file, err.value.field, err.value.value) == ("(command line)", flag, value)
    assert ran == [] and not out.exists()


def test_run_from_cli_json_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "gone" / "batch.json"  # (the folder went away during the run)
    with pytest.raises(ConfigError) as err:
        batch.run_from_cli(
            _quick(hours=0.25), seeds=1, sweeps=[], executor="serial", json_out=out, quiet=True
        )
    assert err.value.field == "--json" and "cannot write" in err.value.problem


@pytest.mark.parametrize("text", ["0", "-1", "2.5", "x", "", "10001", True])
def test_bad_seeds_name_the_flag(text: object) -> None:
    with pytest.raises(ConfigError) as err:
        batch.parse_seeds(text)  # type: ignore[arg-type]
    assert (err.value.field, err.value.value) == ("--seeds", text)


def test_seeds_and_single_run_flags() -> None:
    assert [batch.parse_seeds(t) for t in (None, "1", " 20 ", 7, str(batch.MAX_SEEDS))] == [
        1,
        1,
        20,
        7,
        batch.MAX_SEEDS,
    ]
    batch.refuse_single_run_flags({"--plot": None, "--by-hour": False})  # none given: fine
    with pytest.raises(ConfigError) as err:
        batch.refuse_single_run_flags({"--calls-csv": None, "--plot": "day.png", "--records": "r.db"})
    assert (err.value.field, err.value.value) == ("--plot", "day.png")
    assert "--seeds" in err.value.problem


def test_run_from_cli_on_a_dask_cluster_writes_the_serial_json(tmp_path: Path, dask_cluster: Any) -> None:
    sc = _quick(hours=0.5, seed=5)
    files: list[bytes] = []
    for spec in ("serial", dask_cluster.scheduler_address):
        out = tmp_path / f"{len(files)}.json"
        batch.run_from_cli(sc, seeds=2, sweeps=["operators=3:4:1"], executor=spec, json_out=out, quiet=True)
        files.append(out.read_bytes())
    assert files[0] == files[1]
    assert len(_no_nan(files[0].decode())["points"]) == 2
