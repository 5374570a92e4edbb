# Web benchmark: what one wallboard message costs the controller's event loop with the
# centre full (220 calls: 100 talking, 120 waiting) and 100 operators configured.
# Rules:
# - It prints figures and never fails on speed.
# - The message is built as the app builds it (web/app.py's centre_json: one snapshot, every
#   configured operator's view from it, the Views' JSON), and, beside it, the way it was built
#   before (a snapshot per operator), so the saving is measured, not assumed.
# - The centre is the shipped config's, with its operators replaced by 100 alike; the core
#   is fed real events (no fake): logins, arrivals, IVR choices, answers.
# Run: python tests/bench/bench_web.py [--messages 200]
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import yaml

from contactcenter.config import parse_config
from contactcenter.core import events as ev
from contactcenter.core.commands import ConnectCall
from contactcenter.core.engine import Engine
from contactcenter.live.operators import OperatorDesk
from contactcenter.sandbox import credentials
from contactcenter.web.app import _configured
from contactcenter.web.views import Views

CONFIG = Path(__file__).resolve().parents[2] / "config" / "010.yaml"
OPERATORS = 100
CALLS = 220


def centre() -> tuple[Views, OperatorDesk, Engine, Any]:
    raw = yaml.safe_load(CONFIG.read_text())
    credentials.provision(raw)  # (the shipped centre reads the sandbox's secret files)
    raw["operators"] = [
        {"id": f"op{i:03d}", "skills": {"info": 1, "tramits": 2, "tributs": 2}} for i in range(OPERATORS)
    ]
    tokens = raw["web"]["tokens"]  # (the sandbox's operators' own tokens name operators gone here)
    raw["web"]["tokens"] = [t for t in tokens if t.get("role") != "operator"]
    cfg = parse_config(raw, "bench")
    engine = Engine(lines=cfg.lines, record_changes=False)
    now = 0.0
    for op in cfg.operators:
        engine.handle(
            ev.OperatorLoggedIn(
                now=now, operator_id=op.id, skills=tuple(op.skills.items()), languages=op.languages
            )
        )
    for i in range(CALLS):
        now += 0.5
        cid = f"c{i}"
        engine.handle(ev.CallArrived(now=now, call_id=cid))
        for cmd in engine.handle(
            ev.IvrCompleted(now=now, call_id=cid, skill="info", language="ca", priority=0)
        ):
            if isinstance(cmd, ConnectCall):
                engine.handle(ev.OperatorAnswered(now=now, call_id=cid, operator_id=cmd.operator_id))
    clock = now + 1.0
    desk = OperatorDesk(
        cfg,
        feed=engine.handle,
        snapshot=lambda: engine.snapshot(clock),
        call_view=engine.call_view,
        stale_count=lambda: 0,
        now=lambda: clock,
    )
    views = Views(
        cfg,
        wall=lambda t: t,
        skill_kpis=lambda skill: {},
        ami_connected=lambda: True,
        pop_extras=lambda call_id: ("-", None),
    )

    class _Backend:  # the two fields _configured reads
        pass

    backend = _Backend()
    backend.cfg = cfg  # type: ignore[attr-defined]
    backend.desk = desk  # type: ignore[attr-defined]
    return views, desk, engine, (backend, clock)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    views, desk, engine, (backend, clock) = centre()
    assert len(engine.calls) == CALLS

    def now_way() -> dict[str, Any]:
        snapshot = engine.snapshot(clock)
        return views.centre(snapshot, _configured(backend, snapshot))

    def before() -> dict[str, Any]:  # (a snapshot per configured operator)
        return views.centre(engine.snapshot(clock), {op.id: desk.view(op.id) for op in backend.cfg.operators})

    assert now_way() == before()  # the same message either way
    for name, build in (("one snapshot (now)", now_way), ("a snapshot per operator (before)", before)):
        times = []
        for _ in range(args.messages):
            t0 = time.perf_counter()
            build()
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        print(
            f"wallboard message, {CALLS} calls, {OPERATORS} operators, {name}: "
            f"median {statistics.median(times):.2f} ms, p99 {times[int(0.99 * (len(times) - 1))]:.2f} ms"
        )


if __name__ == "__main__":
    main()
