# The `contactcenter` command. Rules: user errors (bad config, a machine that cannot host
# the sandbox) print one line to stderr and exit 2, with no traceback; everything else is
# a bug and keeps its traceback. Whatever can be checked before a long run (the scenario,
# the flags, where the results go) is checked before it starts.
from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from contactcenter import resources
from contactcenter.config import Config, ConfigError, load_config
from contactcenter.errors import UserError

DEFAULT_CONFIG = str(resources.default_config())


def _config(path: str) -> Config:
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
        sandbox.up(_config(args.config))
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

    cfg = _config(args.config)
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


def cmd_sim(args: argparse.Namespace) -> int:
    """Simulate in virtual time: the real core, simulated callers and operators."""
    from contactcenter.sim.report import progress_bar, render
    from contactcenter.sim.scenario import FLAG_NAMES, FLAGS, Scenario, load_scenario, parse_flags
    from contactcenter.sim.virtual import simulate

    flags = parse_flags({name: getattr(args, name) for name in FLAG_NAMES})
    if args.scenario:
        scenario = load_scenario(resources.scenario(args.scenario)).override(**flags)
    else:
        missing = [f"--{k.replace('_', '-')}" for k in ("arrival_rate", "aht", "operators") if k not in flags]
        if missing:
            raise ConfigError(FLAGS, ", ".join(missing), None, "missing (or give --scenario FILE)")
        scenario = Scenario.quick(**flags)
    if args.callbacks is not None:
        scenario = scenario.with_callbacks(args.callbacks)
    json_out = writable(args.json, "--json") if args.json else None
    # Everything imports and set-up made outlives the run: taken out of the garbage
    # collector's full passes, which then walk only the run's own objects (measured on the
    # 200-Erlang benchmark, 5 runs each: 7-15 % less wall time in both builds). Given back
    # after the run.
    gc.freeze()
    try:
        with progress_bar(scenario.expected_calls(), force=False if args.no_progress else None) as bar:
            result = simulate(scenario, progress=bar)
    finally:
        gc.unfreeze()
    if json_out is not None:
        try:
            json_out.write_text(json.dumps(result.kpis, indent=2, allow_nan=False) + "\n")
        except OSError as exc:  # the folder went away, the disk filled up: still one line
            raise ConfigError(FLAGS, "--json", args.json, f"cannot write: {exc.strerror}") from None
    if not args.quiet:
        render(
            result.kpis,
            result.collector.group()["sl2"],
            title=f"{scenario.name}: {scenario.hours:g} h measured after {scenario.warmup_hours:g} h warm-up,"
            f" seed {scenario.seed}",
            by_hour=args.by_hour,
            footer=f"{result.arrivals:,} calls simulated in {result.wall_s:.2f} s"
            f" ({result.calls_per_s:,.0f} calls/s, {core_build()} core)"
            + (f"; {result.unfinished} calls never ended (no operator left)" if result.unfinished else ""),
        )
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
    sb.add_argument("action", choices=["up", "down", "status"])
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
    sim.add_argument("--patience", metavar="SECONDS|none", help="mean patience, exponential (default none)")
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
    sim.add_argument("--by-hour", action="store_true", help="also print the KPIs by hour of day")
    sim.add_argument("--no-progress", action="store_true", help="never draw a progress bar")
    sim.add_argument("--quiet", action="store_true", help="print nothing (with --json)")
    sim.set_defaults(func=cmd_sim)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # `contactcenter` alone: say what it can do
        parser.print_help()
        return 0
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except UserError as exc:
        print("contactcenter:", " ".join(str(exc).splitlines()), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
