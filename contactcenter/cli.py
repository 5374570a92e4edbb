# The `contactcenter` command. Rules: user errors (bad config, a machine that cannot host
# the sandbox) print one line to stderr and exit 2, with no traceback; everything else is
# a bug and keeps its traceback. Whatever can be checked before a long run (the scenario,
# the flags, where the results go) is checked before it starts.
from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.metadata
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from contactcenter import resources
from contactcenter.config import Config, ConfigError, load_config
from contactcenter.errors import UserError
from contactcenter.logsetup import queued_logging

if TYPE_CHECKING:
    from collections.abc import Callable

    from contactcenter.core.engine import Call
    from contactcenter.records import SimRecords
    from contactcenter.sim.outputs import CallsCsv
    from contactcenter.sim.scenario import Scenario

DEFAULT_CONFIG = str(resources.default_config())


def _config(path: str) -> Config:
    return load_config(path)


def _sandbox_config(path: str) -> Config:
    """The centre as the sandbox runs it: the secret files it names in the sandbox's own
    secrets directory are made first (random, 0600), when missing."""
    from contactcenter.config import read_yaml
    from contactcenter.sandbox import credentials

    try:
        made_files = credentials.provision(read_yaml(path))
    except OSError as exc:  # not root, a read-only cache: one line
        raise UserError(
            f"cannot make the sandbox's secret files in {credentials.secrets_dir()}: {exc}"
        ) from None
    for made in made_files:
        print(f"sandbox: made the secret file {made} (random, mode 0600)", file=sys.stderr)
    return load_config(path)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from contactcenter import sandbox

    if args.action == "status":
        st = sandbox.status()
        if args.json:
            print(json.dumps(st))
        else:
            state = "running" if st["running"] else "stopped"
            print(f"sandbox {state}: root {st['root']}, AMI port {st['ami_port']}, SIP port {st['sip_port']}")
        return 0 if st["running"] or args.json else 3
    if args.action == "up":
        sandbox.up(_sandbox_config(args.config))
        return 0
    if args.action == "secrets":
        _sandbox_config(args.config)
        return 0
    sandbox.down()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio

    from contactcenter.controller import run_forever

    cfg = _config(args.config)
    asyncio.run(run_forever(cfg))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from contactcenter.sim.demo import run_demo

    cfg = _sandbox_config(args.config)
    return run_demo(cfg, calls=args.calls, keep=args.keep)


def core_build() -> str:
    """ "compiled" when the core runs as the mypyc build (setup.py), else "pure-Python"."""
    import importlib.machinery

    from contactcenter.core import engine

    compiled = (engine.__file__ or "").endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    return "compiled" if compiled else "pure-Python"


def writable(path: str, flag: str) -> Path:
    """An output file the run can write at its end: its folder exists and is writable, and it
    is not itself a folder. Checked before the run, which may take minutes to produce it.
    The problem names the path whole (values are cut short; a path from the command line
    is bounded by the system's own limit)."""
    from contactcenter.sim.scenario import FLAGS

    out = Path(path)
    folder = out.parent
    if out.is_dir():
        raise ConfigError(FLAGS, flag, path, f"{out} is a folder, not a file")
    if not folder.is_dir():
        raise ConfigError(FLAGS, flag, path, f"the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise ConfigError(FLAGS, flag, path, f"{out} is not writable")
    return out


REPLAY_FLAGS = ("trace", "date", "first_day", "last_day", "superpose", "staffing", "away", "patience_fit")


def cmd_sim(args: argparse.Namespace) -> int:
    """Simulate in virtual time: the real core, simulated callers and operators."""
    from contactcenter.sim.batch import parse_seeds
    from contactcenter.sim.report import progress_bar, render
    from contactcenter.sim.scenario import FLAG_NAMES, FLAGS, Scenario, load_scenario, parse_flags
    from contactcenter.sim.virtual import simulate

    patience_fit = _patience_fit(args)
    flags = parse_flags({name: getattr(args, name) for name in FLAG_NAMES})
    if args.scenario:
        scenario = load_scenario(resources.scenario(args.scenario))
    elif args.trace == "bank":
        scenario = Scenario.for_trace("bank")
    elif args.trace:
        staffing = _path_flag(args.staffing) if args.operators is None else None
        scenario = Scenario.for_trace(
            str(_path_flag(args.trace)), operators=flags.pop("operators", None), staffing=staffing
        )
    if not (args.scenario or args.trace):
        for name in REPLAY_FLAGS:
            if getattr(args, name) not in (None, False):
                flag = "--" + {"first_day": "from", "last_day": "to"}.get(name, name).replace("_", "-")
                raise ConfigError(FLAGS, flag, getattr(args, name), "needs --trace NAME|FILE (or --scenario)")
    if args.scenario or args.trace:
        # (The replay first: it sets the run's hours to its days, which --hours may then change.)
        scenario = scenario.replaying(
            trace=_path_flag(args.trace),
            day=args.date,
            first_day=args.first_day,
            last_day=args.last_day,
            superpose=True if args.superpose else None,
            staffing=_path_flag(args.staffing),
            patience_fit=patience_fit,
            away=_away_flag(args.away),
        ).override(**flags)
    else:
        missing = [f"--{k.replace('_', '-')}" for k in ("arrival_rate", "aht", "operators") if k not in flags]
        if missing:
            raise ConfigError(FLAGS, ", ".join(missing), None, "missing (or give --scenario FILE)")
        scenario = Scenario.quick(**flags)
    if args.callbacks is not None:
        scenario = scenario.with_callbacks(args.callbacks)
    seeds = parse_seeds(args.seeds)
    if seeds > 1 or args.sweep or args.executor is not None:
        return _sim_batch(args, scenario, seeds)
    json_out = writable(args.json, "--json") if args.json else None
    calls_csv = writable(args.calls_csv, "--calls-csv") if args.calls_csv else None
    plot_out = writable(args.plot, "--plot") if args.plot else None
    if plot_out is not None and plot_out.suffix.lower() != ".png":
        raise ConfigError(FLAGS, "--plot", args.plot, "the plot is a PNG: name it ....png")
    records = _sim_records(args, scenario) if args.records else None
    # Everything imports and set-up made outlives the run: taken out of the garbage
    # collector's full passes, which then walk only the run's own objects (measured on the
    # 200-Erlang benchmark, 5 runs each: 7-15 % less wall time in both builds). Given back
    # after the run.
    gc.freeze()
    try:
        with contextlib.ExitStack() as outputs:
            observers: list[Callable[[Call], None]] = []
            if calls_csv is not None:
                observers.append(outputs.enter_context(_calls_csv(calls_csv, scenario)).add)
            plot = None
            if plot_out is not None:
                from contactcenter.sim.plot import RunPlot

                plot = RunPlot.for_scenario(scenario)
                observers.append(plot.add)
            on_call = _each(observers)
            bar = outputs.enter_context(
                progress_bar(scenario.expected_calls(), force=False if args.no_progress else None)
            )
            result = simulate(scenario, progress=bar, records=records, on_call=on_call)
        if records is not None:
            records.close()
    except Exception as exc:  # the records or calls file could not be written (disk full): one line
        from contactcenter.records import RecordsError

        if isinstance(exc, OSError) and calls_csv is not None and exc.filename in (None, str(calls_csv)):
            raise ConfigError(FLAGS, "--calls-csv", args.calls_csv, f"cannot write: {exc.strerror}") from None
        if not isinstance(exc, RecordsError):
            raise
        raise ConfigError(FLAGS, "--records", args.records, str(exc)) from None
    finally:
        gc.unfreeze()
    if plot is not None and plot_out is not None:
        try:
            plot.draw(plot_out, title=_sim_title(scenario))
        except OSError as exc:  # the folder went away, the disk filled up: one line
            raise ConfigError(FLAGS, "--plot", args.plot, f"cannot write: {exc.strerror}") from None
    recorded = _trace_figures(scenario)
    if json_out is not None:
        try:
            out = {**result.kpis, "run": _run_metadata(args, scenario)}
            if recorded is not None:
                out["trace"] = recorded
            json_out.write_text(json.dumps(out, indent=2, allow_nan=False) + "\n")
        except OSError as exc:  # the folder went away, the disk filled up: still one line
            raise ConfigError(FLAGS, "--json", args.json, f"cannot write: {exc.strerror}") from None
    if not args.quiet:
        render(
            result.kpis,
            result.collector.group()["sl2"],
            title=_sim_title(scenario),
            by_hour=args.by_hour,
            footer=f"{result.arrivals:,} calls simulated in {result.wall_s:.2f} s"
            f" ({result.calls_per_s:,.0f} calls/s, {core_build()} core)"
            + (f"; {result.unfinished} calls never ended (no operator left)" if result.unfinished else ""),
        )
        if records is not None:
            print(f"records of the measured hours: {records.written:,} rows in {records.path}")
        if plot_out is not None:
            print(f"plot: {plot_out}")
        if recorded is not None:
            from contactcenter.sim.faithful import compare

            print("against what the trace recorded on the replayed days:")
            for gap in compare(result.kpis, recorded):
                print(f"  {gap.text()}")
    return 0


def _sim_title(scenario: Scenario) -> str:
    return (
        f"{scenario.name}{_replayed(scenario)}: {scenario.hours:g} h measured after"
        f" {scenario.warmup_hours:g} h warm-up, seed {scenario.seed}"
    )


def _each(observers: Sequence[Callable[[Call], None]]) -> Callable[[Call], None] | None:
    """One on_call for the run that calls every observer (None for none, the one for one)."""
    if len(observers) <= 1:
        return observers[0] if observers else None

    def every(call: Call) -> None:
        for observe in observers:
            observe(call)

    return every


def _sim_batch(args: argparse.Namespace, scenario: Scenario, seeds: int) -> int:
    """--seeds N / --sweep / --executor: replications and a grid, each KPI with its interval."""
    from contactcenter.sim.batch import refuse_single_run_flags, run_from_cli
    from contactcenter.sim.report import progress_bar

    refuse_single_run_flags(
        {
            "--plot": args.plot,
            "--calls-csv": args.calls_csv,
            "--records": args.records,
            "--records-day": args.records_day,
            "--by-hour": args.by_hour,
        }
    )
    json_out = writable(args.json, "--json") if args.json else None
    runs = seeds * max(1, len(args.sweep or ()))  # (an estimate, for the bar's threshold only)
    with progress_bar(runs * scenario.expected_calls(), force=False if args.no_progress else None) as bar:
        return run_from_cli(
            scenario,
            seeds=seeds,
            sweeps=args.sweep or (),
            executor=args.executor,
            json_out=json_out,
            quiet=args.quiet,
            progress=None if bar is None else (lambda done, total: bar(done / total)),
            run_meta=_run_metadata(args, scenario),
        )


def _replayed(scenario: Scenario) -> str:
    t = scenario.trace
    if t is None:
        return ""
    from contactcenter.sim.replay import BUNDLED

    name = t.source if t.source == BUNDLED else Path(t.source).name
    days = t.days[0] if len(t.days) == 1 else f"{len(t.days)} days {t.days[0]} to {t.days[-1]}"
    return f" (replaying {name}, {days}{', superposed' if t.superpose and len(t.days) > 1 else ''})"


def _trace_figures(scenario: Scenario) -> dict[str, float] | None:
    """What the trace recorded on the replayed days (for comparing), when the measured
    window is the replayed days whole."""
    if scenario.trace is None or scenario.start_s > 0 or scenario.end_s < scenario.trace.span_days * 86_400:
        return None
    from contactcenter.sim.faithful import recorded
    from contactcenter.sim.replay import replayed_records

    return recorded(replayed_records(scenario))


def _path_flag(text: str | None) -> str | None:
    """A file flag's path from the working folder (`bank` and `trace` are names, not files)."""
    if text is None or text in ("bank", "trace"):
        return text
    return str(Path(text).expanduser().resolve())


def _away_flag(text: str | None) -> str | float | None:
    from contactcenter.sim.scenario import FLAGS

    if text is None or text == "trace":
        return text
    try:
        share = float(text)
    except ValueError:
        raise ConfigError(FLAGS, "--away", text, "expected trace or a share from 0 to 1") from None
    if not 0 <= share <= 1:
        raise ConfigError(FLAGS, "--away", text, "must be from 0 to 1")
    return share


def _patience_fit(args: argparse.Namespace) -> str | None:
    """`--patience trace`: fitted on the trace (--patience-fit, default Kaplan-Meier); then
    the flag is no mean of the quick model's."""
    from contactcenter.sim.scenario import FLAGS, PATIENCE_FITS

    fit = args.patience_fit
    if fit is not None and fit not in PATIENCE_FITS:
        raise ConfigError(FLAGS, "--patience-fit", fit, f"expected one of {', '.join(PATIENCE_FITS)}")
    if args.patience != "trace":
        if fit is not None:
            raise ConfigError(FLAGS, "--patience-fit", fit, "goes with --patience trace")
        return None
    if not (args.trace or args.scenario):
        raise ConfigError(
            FLAGS, "--patience", "trace", "needs --trace NAME|FILE (or a --scenario with a trace)"
        )
    # (Then no mean of the quick model's; the run's metadata names the fit.)
    args.patience, args.patience_fit = None, fit or "km"
    return str(args.patience_fit)


def _run_metadata(args: argparse.Namespace, scenario: Scenario) -> dict[str, object]:
    """What made the numbers: the version, the scenario, its seed, the model's flags given
    (not the output paths: the same run written to two files is the same run)."""
    from contactcenter.sim.scenario import FLAG_NAMES

    given = {
        name: getattr(args, name)
        for name in (*FLAG_NAMES, *REPLAY_FLAGS, "callbacks")
        if getattr(args, name) not in (None, False)
    }
    return {
        "version": version(),
        "scenario": scenario.name,
        "source": scenario.source,
        "seed": scenario.seed,
        "flags": given,
        "core": core_build(),
    }


def _calls_csv(path: Path, scenario: Scenario) -> CallsCsv:
    """The run's calls file: in a trace replay each row names its source call."""
    from contactcenter.sim.outputs import CallsCsv
    from contactcenter.sim.virtual import trace_source_ids

    ids = trace_source_ids(scenario)

    def source_id(call_id: str) -> str | None:
        return ids[int(call_id) - 1] if call_id.isdigit() and 0 < int(call_id) <= len(ids) else None

    return CallsCsv(path, source_id if ids else None)


def _sim_records(args: argparse.Namespace, scenario: Scenario) -> SimRecords:
    """The run's records file, created before the run: the simulator's clock starts at
    midnight (UTC) of --records-day, so `contactcenter report` reads the run as that day."""
    import datetime as dt

    from contactcenter.records import RecordsError, SimRecords
    from contactcenter.records.report import parse_day
    from contactcenter.sim.scenario import FLAGS
    from contactcenter.sim.virtual import daily_hours

    out = writable(args.records, "--records")
    day = parse_day(args.records_day, "--records-day") if args.records_day else dt.datetime.now(dt.UTC).date()
    records = SimRecords(
        out,
        epoch=dt.datetime.combine(day, dt.time(), dt.UTC).timestamp(),
        window=(scenario.start_s, scenario.end_s),
        hours=daily_hours(*scenario.open_hours) if scenario.open_hours is not None else None,
        sl_threshold_s=scenario.sl_threshold_s,
        wrap_up_s=scenario.wrap_up_s,
    )
    try:
        records.open()
    except RecordsError as exc:
        raise ConfigError(FLAGS, "--records", args.records, str(exc)) from None
    return records


def cmd_report(args: argparse.Namespace) -> int:
    """KPIs, operators and demand of whole local days, from a records file."""
    from contactcenter.records.report import build_report, open_records, parse_day, render, write_json
    from contactcenter.sim.scenario import FLAGS

    first = parse_day(args.first, "--from")
    last = parse_day(args.last, "--to") if args.last else first
    if last < first:
        raise ConfigError(FLAGS, "--to", args.last, f"is before --from ({first})")
    json_out = writable(args.json, "--json") if args.json else None
    plot_out = writable(args.plot, "--plot") if args.plot else None
    if plot_out is not None and plot_out.suffix.lower() != ".png":
        raise ConfigError(FLAGS, "--plot", args.plot, "the plot is a PNG: name it ....png")
    known: set[str] = set()
    if args.records:
        path = Path(args.records)
    else:
        cfg = _config(args.config)
        if cfg.records is None:
            raise ConfigError(
                cfg.path, "records", None, "missing: this centre keeps no records (or give --records)"
            )
        path, known = cfg.records.path, set(cfg.skills)
    records = open_records(path)
    try:
        known |= set(records.skills())
        if args.skill is not None and args.skill not in known:
            raise ConfigError(
                FLAGS, "--skill", args.skill, f"unknown skill (known: {', '.join(sorted(known)) or 'none'})"
            )
        report = build_report(records, first, last, skill=args.skill)
    finally:
        records.close()
    if json_out is not None:
        try:
            write_json(report, json_out)
        except OSError as exc:
            raise ConfigError(FLAGS, "--json", args.json, f"cannot write: {exc.strerror}") from None
    if plot_out is not None:
        from contactcenter.records.plot import plot

        try:
            plot(report, plot_out)
        except OSError as exc:
            raise ConfigError(FLAGS, "--plot", args.plot, f"cannot write: {exc.strerror}") from None
    if not args.quiet:
        render(report, by=args.by)
    return 0


def version() -> str:
    """The installed distribution's version (pyproject.toml), as pip knows it."""
    try:
        return importlib.metadata.version("contactcenter")
    except importlib.metadata.PackageNotFoundError:  # sources on PYTHONPATH, never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="contactcenter", description="An open-source contact-centre engine on Asterisk."
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    sb = sub.add_parser("sandbox", help="the local Asterisk 22 sandbox (root)")
    sb.add_argument(
        "action",
        choices=["up", "down", "status", "secrets"],
        help="secrets: make the sandbox's missing secret files the config names (up does it too)",
    )
    sb.add_argument("--config", default=DEFAULT_CONFIG)
    sb.add_argument("--json", action="store_true", help="status as JSON")
    sb.set_defaults(func=cmd_sandbox)

    run = sub.add_parser("run", help="the controller: drive Asterisk over AMI")
    run.add_argument("--config", default=DEFAULT_CONFIG)
    run.set_defaults(func=cmd_run)

    demo = sub.add_parser("demo", help="sandbox + controller + SIPp callers, routed live")
    demo.add_argument("--config", default=DEFAULT_CONFIG)
    demo.add_argument("--calls", type=int, default=8)
    demo.add_argument("--keep", action="store_true", help="leave the sandbox running")
    demo.set_defaults(func=cmd_demo)

    sim = sub.add_parser(
        "sim",
        help="simulate in virtual time (the real core, simulated callers and operators)",
        description="Quick model from flags, or --scenario FILE (flags override it).",
    )
    # Values are checked by sim.scenario.parse_flags: a bad one is a ConfigError (one line, exit 2).
    sim.add_argument(
        "--scenario",
        metavar="FILE|NAME",
        help=f"scenario YAML, or a shipped one by name ({', '.join(resources.shipped_scenarios())})",
    )
    sim.add_argument("--arrival-rate", metavar="CALLS_PER_HOUR", help="one-skill models")
    sim.add_argument("--aht", metavar="SECONDS", help="mean handling time (talk + wrap-up)")
    sim.add_argument("--operators", metavar="N", help="one-group models")
    sim.add_argument(
        "--patience",
        metavar="SECONDS|none|trace",
        help="mean patience (default none: callers never hang up); trace: fitted on the trace per skill"
        " and priority",
    )
    sim.add_argument(
        "--patience-dist", metavar="exp|lognormal", help="patience around its mean (default exp)"
    )
    sim.add_argument("--patience-cv", metavar="CV", help="coefficient of variation of lognormal patience")
    sim.add_argument(
        "--patience-fit",
        metavar="km|exp|lognormal",
        help="with --patience trace: Kaplan-Meier (default), or a censored exponential or lognormal fit",
    )
    replay = sim.add_argument_group("trace replay (sim/trace-format.md, sim/estimators.md)")
    replay.add_argument(
        "--trace", metavar="NAME|FILE", help="replay a trace: bank (bundled), or a trace file"
    )
    days = replay.add_mutually_exclusive_group()
    days.add_argument("--date", metavar="YYYY-MM-DD|busiest|all", help="the day to replay (default busiest)")
    days.add_argument(
        "--from", dest="first_day", metavar="YYYY-MM-DD", help="the first of days replayed in a row"
    )
    replay.add_argument("--to", dest="last_day", metavar="YYYY-MM-DD", help="the last day (with --from)")
    replay.add_argument("--superpose", action="store_true", help="lay the days on one day")
    replay.add_argument(
        "--staffing", metavar="trace|FILE", help="operators: the trace's own working periods, or a roster CSV"
    )
    replay.add_argument(
        "--away",
        metavar="trace|SHARE",
        help="operators' time away from calls while logged in: a share, or estimated from the trace",
    )
    sim.add_argument("--service-dist", metavar="exp|lognormal|const", help="talk times (default exp)")
    sim.add_argument("--service-cv", metavar="CV", help="coefficient of variation of lognormal talk times")
    sim.add_argument("--hours", metavar="H", help="measured hours, after the warm-up (default 8)")
    sim.add_argument("--warmup-hours", metavar="W", help="simulated first, not measured (default 0)")
    sim.add_argument("--seed", metavar="S", help="same seed, same numbers (default 1)")
    sim.add_argument("--lines", metavar="N", help="simultaneous calls (default: no limit)")
    sim.add_argument("--sl-threshold", metavar="SECONDS", help="service level threshold (default 20)")
    sim.add_argument(
        "--callbacks",
        action=argparse.BooleanOptionalAction,
        help="offer callbacks to waiting callers (default: as the scenario says; off in the quick model)",
    )
    sim.add_argument("--json", metavar="PATH", help="write the KPIs as JSON")
    sim.add_argument(
        "--calls-csv",
        metavar="PATH",
        help="write one row per call (warm-up included; a trace replay's rows name the trace's call id)",
    )
    sim.add_argument("--by-hour", action="store_true", help="also print the KPIs by hour of day")
    sim.add_argument(
        "--plot",
        metavar="PATH.png",
        help="draw the calls waiting through the day, the service level per half hour and the waits",
    )
    sim.add_argument(
        "--seeds",
        metavar="N",
        help="N independent replications (seeds S, S+1, ...): each KPI's mean and 95 %% interval",
    )
    sim.add_argument(
        "--sweep",
        metavar="FIELD=FROM:TO:STEP",
        action="append",
        help="a grid over a scenario field (operators, arrival_rate, callback_threshold, or a dotted"
        " path like skills.info.patience_s); repeat for more axes",
    )
    sim.add_argument(
        "--executor",
        metavar="local|serial|tcp://HOST:PORT",
        help="where --seeds/--sweep runs go: all cores (local, the default), here, or a Dask scheduler",
    )
    sim.add_argument("--no-progress", action="store_true", help="never draw a progress bar")
    sim.add_argument("--quiet", action="store_true", help="print nothing (with --json)")
    sim.add_argument(
        "--records", metavar="PATH", help="write the measured hours' records (for `contactcenter report`)"
    )
    sim.add_argument(
        "--records-day",
        metavar="YYYY-MM-DD",
        help="the day the run's records are of: its clock's midnight, UTC (default: today)",
    )
    sim.set_defaults(func=cmd_sim)

    report = sub.add_parser(
        "report",
        help="KPIs, operators and demand of whole days, from the records (live or simulated)",
        description="Days are local days of the records' time zone. Reads --records PATH, or the"
        " records.path of --config (default: the shipped 010.yaml).",
    )
    report.add_argument("--from", dest="first", metavar="YYYY-MM-DD", required=True, help="the first day")
    report.add_argument("--to", dest="last", metavar="YYYY-MM-DD", help="the last day (default: --from)")
    report.add_argument("--skill", metavar="SKILL", help="only this skill's calls and callbacks")
    source = report.add_mutually_exclusive_group()
    source.add_argument("--records", metavar="PATH", help="a records file (the controller's or a sim run's)")
    source.add_argument("--config", default=DEFAULT_CONFIG, help="the centre whose records.path to read")
    report.add_argument(
        "--by",
        choices=("half-hour", "hour", "day"),
        help="periods printed (default: hour for one day, else day)",
    )
    report.add_argument("--json", metavar="PATH", help="write the whole report as JSON")
    report.add_argument("--plot", metavar="PATH.png", help="draw demand, calls, SL, occupancy and operators")
    report.add_argument("--quiet", action="store_true", help="print nothing (with --json or --plot)")
    report.set_defaults(func=cmd_report)

    from contactcenter.check import add_check_parser  # (argparse only at import: cheap)
    from contactcenter.sim.importer import add_trace_parser  # (argparse only at import: cheap)
    from contactcenter.sim.load import add_load_parser  # (argparse only at import: cheap)

    add_load_parser(sub)
    add_check_parser(sub)
    add_trace_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # `contactcenter` alone: say what it can do
        parser.print_help()
        return 0
    try:
        with queued_logging(logging.DEBUG if args.verbose else logging.INFO):
            return int(args.func(args))
    except UserError as exc:
        print("contactcenter:", " ".join(str(exc).splitlines()), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
