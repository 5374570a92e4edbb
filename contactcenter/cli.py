# The `contactcenter` command. Rules: user errors (bad config, a machine that cannot host
# the sandbox) print one line to stderr and exit 2, with no traceback; everything else is
# a bug and keeps its traceback.
from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from contactcenter.config import Config, ConfigError, load_config

DEFAULT_CONFIG = "config/010.yaml"


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
    from sim.demo import run_demo

    cfg = _config(args.config)
    return run_demo(cfg, calls=args.calls, keep=args.keep)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="contactcenter", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

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
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from contactcenter.sandbox import SandboxError

    try:
        return int(args.func(args))
    except (ConfigError, SandboxError) as exc:
        print(f"contactcenter: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
