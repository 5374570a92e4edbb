# The bench's baseline and its stopwatch, each a process of its own (so neither weighs on
# the other's event loop, nor on the controller's):
# - `bare`: the least a program can do to connect queued callers to operators through the
#   same Asterisk, with panoramisk and nothing else: on each caller's CcQueued UserEvent,
#   Originate a simulated operator (Local/...@cc-sim-operator) with Application Bridge and
#   the caller's channel as Data (method `bridge`, DESIGN.md's first verified way), or into
#   the caller's conference and, once answered (OriginateResponse), Redirect the caller
#   into it (method `conference`, what the controller does). No queue, no state, no checks.
# - `record`: the observer's AMI login, call and user events only (the dialplan class, a
#   VarSet and Newexten per step of every channel, would cost this process more than the
#   controller spends); for every citizen (PJSIP/pstn-..., by Uniqueid) the moments of each
#   step to an operator, on CLOCK_MONOTONIC (the same clock in every process), written as
#   JSON when stopped: queued (CcQueued), originated (the operator leg's Local channel
#   created: Newchannel), answered (its OriginateResponse), bridged (the citizen's
#   BridgeEnter). A leg is matched to its citizen by the conference it joins, named after
#   the citizen's Uniqueid (ConfbridgeJoin).
# Rules: loopback only, the ports the sandbox's state says; each runs until SIGTERM/SIGINT
# or its --seconds bound, whichever is first; it writes no number anywhere (channels only).
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from pathlib import Path

from panoramisk.manager import Manager
from panoramisk.message import Message

from contactcenter import sandbox
from contactcenter.config import load_config

CITIZEN = "PJSIP/pstn"
OPERATOR_LEG = "Local/"  # (both connect simulated operators, through cc-sim-operator)
MAX_SECONDS = 900.0
# (a call's steps to an operator, in order: what `record` times)
STEPS = ("queued", "originated", "answered", "bridged")


async def _until_stopped(seconds: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)  # (the bench starts SIPp once it reads this)
    try:
        async with asyncio.timeout(min(seconds, MAX_SECONDS)):
            await stop.wait()
    except TimeoutError:
        pass


async def bare(config: Path, method: str, ring_s: float, talk_s: float, seconds: float) -> None:
    a = load_config(config).ami
    manager = Manager(host=a.host, port=a.port, username=a.username, secret=a.secret)
    operators = 0
    waiting: dict[str, str] = {}  # ActionID -> the caller's channel (conference: to redirect)
    counts = {"originated": 0, "redirected": 0, "failed": 0}

    def queued(_: Manager, event: Message) -> None:
        nonlocal operators
        if event.get("UserEvent") != "CcQueued":
            return
        caller = str(event.get("Channel", ""))
        operators += 1
        action_id = f"bare-{operators:06d}"
        action = {
            "Action": "Originate",
            "ActionID": action_id,
            "Channel": f"Local/bare{operators:04d}@cc-sim-operator/n",
            "Async": "true",
            "Timeout": "30000",
            "Variable": [f"CC_RING_DELAY={ring_s:g}", f"CC_TALK_SECONDS={talk_s:g}"],
        }
        if method == "bridge":
            action.update(Application="Bridge", Data=caller)
        else:
            room = str(event.get("Uniqueid", ""))
            action.update(Context="cc-connect", Exten="s", Priority="1")
            action["Variable"] = [*action["Variable"], f"CC_CALL_ID={room}", f"CC_ROOM={room}"]
            waiting[action_id] = caller
        counts["originated"] += 1
        # (as_list=False: "successfully queued" completes the action, so its OriginateResponse
        # comes as an event, to `answered`; panoramisk would keep it for the action otherwise)
        manager.send_action(action, as_list=False)

    def answered(_: Manager, event: Message) -> None:
        caller = waiting.pop(str(event.get("ActionID", "")), None)
        if caller is None:
            return
        if event.get("Response") != "Success":
            counts["failed"] += 1
            return
        counts["redirected"] += 1
        manager.send_action(
            {"Action": "Redirect", "Channel": caller, "Context": "cc-join", "Exten": "s", "Priority": "1"}
        )

    manager.register_event("UserEvent", queued)
    manager.register_event("OriginateResponse", answered)
    await manager.connect()
    try:
        await _until_stopped(seconds)
    finally:
        manager.close()
        print(json.dumps(counts), flush=True)


async def record(out: Path, seconds: float) -> None:
    state = sandbox.load_state()
    if state is None:
        raise SystemExit("the sandbox is not running")
    manager = Manager(
        host=state.ami_host,
        port=state.ami_port,
        username=state.observer_username,
        secret=state.observer_secret,
    )
    steps: dict[str, dict[str, float]] = {step: {} for step in STEPS}
    # an operator leg's Local channel (its ;1 half) -> when it was created, answered
    legs: dict[str, dict[str, float]] = {"originated": {}, "answered": {}}

    def seen(_: Manager, event: Message) -> None:
        now = time.monotonic()
        channel = str(event.get("Channel", ""))
        name, uid = event.get("Event"), str(event.get("Uniqueid", ""))
        if channel.startswith(OPERATOR_LEG):
            if name == "Newchannel" and channel.endswith(";1"):
                legs["originated"].setdefault(channel, now)
            elif name == "OriginateResponse":
                legs["answered"].setdefault(channel, now)
            elif name == "ConfbridgeJoin":  # (the room is the citizen's Uniqueid)
                room = str(event.get("Conference", ""))
                for step, at in legs.items():
                    if channel in at:
                        steps[step].setdefault(room, at.pop(channel))
            return
        if not channel.startswith(CITIZEN):
            return
        if name == "UserEvent" and event.get("UserEvent") == "CcQueued":
            steps["queued"].setdefault(uid, now)
        elif name == "BridgeEnter":
            steps["bridged"].setdefault(uid, now)

    for name in ("UserEvent", "Newchannel", "OriginateResponse", "ConfbridgeJoin", "BridgeEnter"):
        manager.register_event(name, seen)
    await manager.connect()
    await manager.send_action({"Action": "Events", "EventMask": "call,user"})
    try:
        await _until_stopped(seconds)
    finally:
        manager.close()
        out.write_text(json.dumps(steps))


def main() -> None:
    p = argparse.ArgumentParser(prog="bare_originate")
    sub = p.add_subparsers(dest="what", required=True)
    b = sub.add_parser("bare", help="connect queued callers with Originate (+ Redirect) only")
    b.add_argument("--config", type=Path, required=True, help="the centre (its AMI login)")
    b.add_argument("--method", choices=("bridge", "conference"), default="bridge")
    b.add_argument("--ring", type=float, default=1.0)
    b.add_argument("--talk", type=float, default=4.0)
    b.add_argument("--seconds", type=float, default=300.0)
    r = sub.add_parser("record", help="when each citizen queued and entered a bridge")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--seconds", type=float, default=300.0)
    args = p.parse_args()
    if args.what == "bare":
        asyncio.run(bare(args.config, args.method, args.ring, args.talk, args.seconds))
    else:
        asyncio.run(record(args.out, args.seconds))


if __name__ == "__main__":
    main()
