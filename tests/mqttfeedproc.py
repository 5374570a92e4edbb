# A process that runs only the MQTT feed, for tests that kill it (the broker's Last Will):
# reads the MqttConfig's fields as one JSON line on stdin (no password on a command line),
# prints "connected" once the feed is online, then runs until it is killed.
from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter

from contactcenter.config import MqttConfig
from contactcenter.core import Engine
from contactcenter.core import events as ev
from contactcenter.live.mqtt import MqttFeed


async def main() -> None:
    cfg = MqttConfig(**json.loads(sys.stdin.readline()))
    engine = Engine(lines=10, record_changes=True)
    feed = MqttFeed(cfg, snapshot=lambda: engine.snapshot(0.0), counters=Counter(), centre="child")
    await feed.start()
    engine.handle(ev.OperatorLoggedIn(now=0.0, operator_id="ana", skills=(("info", 1),), languages=("ca",)))
    feed.observe(0.0, engine.drain_changes(), engine.drain_completed())
    while not feed.connected:
        await asyncio.sleep(0.02)
    print("connected", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
