# The MQTT feed against a real mosquitto (Debian's, started by sandbox/mosquitto.py in the
# test's own directory, on a free port, stopped by its pid), fed by a real Engine's change
# feed on a hand-advanced clock, read by a real aiomqtt subscriber with the sandbox's
# read-only observer login. No Asterisk: the subject is what reaches the broker, and that
# call handling never waits for it.
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import itertools
import json
import os
import pwd
import random
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from contactcenter import sandbox
from contactcenter.config import MqttConfig, load_config
from contactcenter.core import Engine
from contactcenter.core import events as ev
from contactcenter.core.lifecycle import OperatorState
from contactcenter.core.readmodel import OperatorChanged
from contactcenter.live.mqtt import STATES, MqttFeed, backoff
from contactcenter.sandbox import mosquitto
from tests.conftest import TEST_CONFIG
from tests.mqttsub import Subscriber
from tests.polling import until

ROOT = Path(__file__).resolve().parents[2]
START = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)  # the driver's clock 0
EPOCH = START.timestamp()
PREFIX = "cc/test"

pytestmark = pytest.mark.skipif(not Path(mosquitto.MOSQUITTO).exists(), reason="mosquitto is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def instant(t: float) -> str:
    return (START + dt.timedelta(seconds=t)).strftime("%Y-%m-%dT%H:%M:%S.") + f"{round(t % 1 * 1000):03d}Z"


@dataclasses.dataclass
class Broker:
    directory: Path
    cfg: MqttConfig
    observer: mosquitto.Login
    tls: mosquitto.ServerTls | None = None
    pid: int | None = None

    def start(self) -> None:
        self.pid = mosquitto.start(self.directory, self.cfg, self.observer, tls=self.tls).pid

    def stop(self) -> None:
        if self.pid is not None:
            assert mosquitto.stop(self.pid)
            self.pid = None


def broker_config(port: int, **changes: Any) -> MqttConfig:
    base = MqttConfig(
        host="127.0.0.1",
        port=port,
        username="contactcenter",
        password="cc-" + secrets.token_urlsafe(12),
        topic_prefix=PREFIX,
        tls_ca=None,
        queue=10_000,
        keepalive=5,
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(
        tmp_path / "mosquitto",
        broker_config(free_port()),
        mosquitto.Login("cc-observer", secrets.token_urlsafe(12)),
    )
    b.start()
    yield b
    b.stop()


def subscriber(
    broker: Broker, login: mosquitto.Login | None = None, tls: ssl.SSLContext | None = None
) -> Subscriber:
    """A reader of <prefix>/#, with the observer's login unless told otherwise."""
    return Subscriber(broker.cfg.host, broker.cfg.port, login or broker.observer, PREFIX, tls)


class Centre:
    """A real Engine driven on a hand-advanced clock, its change feed handed to `sinks` as
    the controller does after each event."""

    def __init__(self, lines: int = 20) -> None:
        self.engine = Engine(lines=lines, record_changes=True)
        self.now = 0.0
        self.sinks: list[MqttFeed] = []

    def feed(self, event: ev.Event) -> None:
        self.now = event.now
        self.engine.handle(event)
        changes, completed = self.engine.drain_changes(), self.engine.drain_completed()
        for sink in self.sinks:
            sink.observe(event.now, changes, completed)

    def snapshot(self):  # type: ignore[no-untyped-def]
        return self.engine.snapshot(self.now)

    def login(self, now: float, operator_id: str, skills: dict[str, int]) -> None:
        self.feed(
            ev.OperatorLoggedIn(
                now=now, operator_id=operator_id, skills=tuple(skills.items()), languages=("ca", "es")
            )
        )

    def arrive(self, now: float, call_id: str, skill: str, language: str) -> None:
        self.feed(ev.CallArrived(now=now, call_id=call_id))
        self.feed(ev.IvrCompleted(now=now, call_id=call_id, skill=skill, language=language))


def feed_for(broker: Broker, centre: Centre, counters: Counter[str], **kw: Any) -> MqttFeed:
    kw.setdefault("backoff_s", (0.1, 0.5))
    feed = MqttFeed(
        kw.pop("cfg", broker.cfg),
        snapshot=centre.snapshot,
        counters=counters,
        centre="010 tests",
        epoch=EPOCH,
        rng=random.Random(7),
        **kw,
    )
    centre.sinks.append(feed)
    return feed


@pytest.fixture
async def started() -> AsyncIterator[list[MqttFeed]]:
    """Feeds a test started, stopped at its end whatever happened."""
    feeds: list[MqttFeed] = []
    yield feeds
    for feed in feeds:
        await feed.stop(timeout=2)


# --- what a subscriber sees ---------------------------------------------------------------


async def test_a_subscriber_sees_status_snapshots_and_events_of_the_calls(
    broker: Broker, started: list[MqttFeed]
) -> None:
    centre, counters = Centre(lines=20), Counter[str]()
    feed = feed_for(broker, centre, counters, skills=("info", "tramits"))
    started.append(feed)
    await feed.start()
    operators = {"ana": {"info": 1}, "pau": {"info": 2, "tramits": 1}}
    # Call ids as Asterisk's uniqueids (epoch-based): none of them may reach the broker.
    calls = [("1796186761.101", 10.0, "ca"), ("1796186761.102", 11.0, "es"), ("1796186761.103", 12.0, "ca")]
    async with subscriber(broker) as sub:
        await sub.until(lambda: sub.last("status") == b"online", "status online")
        for op, skills in operators.items():
            centre.login(0.0, op, skills)
        await sub.until(
            lambda: (
                (sub.snapshot("skill/info") or {}).get("operators", {}).get("available") == len(operators)
            ),
            "both info operators available",
        )
        # (Each skill's snapshot is published on its own, at most once a second.)
        await sub.until(
            lambda: (sub.snapshot("skill/tramits") or {}).get("operators", {}).get("available") == 1,
            "the tramits operator available",
        )

        for call_id, t, language in calls:
            centre.arrive(t, call_id, "info", language)
        centre.now = 15.0
        waiting = len(calls) - len(operators)  # each operator is ringing for one call
        oldest_waiting_since = calls[len(operators)][1]
        expect = {
            "skill": "info",
            "waiting": waiting,
            "longest_wait_s": centre.now - oldest_waiting_since,
            "operators": {s.value: (len(operators) if s is OperatorState.RESERVED else 0) for s in STATES},
            "callbacks": 0,
            "at": instant(centre.now),
        }
        await sub.until(lambda: sub.snapshot("skill/info") == expect, "the info snapshot with calls waiting")
        centre_view = sub.snapshot("centre")
        assert centre_view is not None
        assert (centre_view["lines"], centre_view["lines_in_use"], centre_view["waiting"]) == (
            20,
            len(calls),
            waiting,
        )
        assert centre_view["operators"]["reserved"] == len(operators)
        assert centre_view["centre"] == "010 tests"

        first_id, first_at, first_language = calls[0]
        centre.feed(ev.OperatorAnswered(now=16.0, call_id=first_id, operator_id="ana"))
        last_id, last_at, last_language = calls[-1]
        centre.feed(ev.CallerHungUp(now=20.0, call_id=last_id))
        await sub.until(
            lambda: any(e["event"] == "call_abandoned" for e in sub.events()), "the abandoned call's event"
        )
        calls_seen = [e for e in sub.events() if e["event"].startswith("call_")]
        assert calls_seen == [
            *(
                {"event": "call_queued", "at": instant(t), "skill": "info", "language": language}
                for _, t, language in calls
            ),
            {
                "event": "call_answered",
                "at": instant(16.0),
                "skill": "info",
                "language": first_language,
                "operator": "ana",
                "wait_s": 16.0 - first_at,
            },
            {
                "event": "call_abandoned",
                "at": instant(20.0),
                "skill": "info",
                "language": last_language,
                "wait_s": 20.0 - last_at,
            },
        ]
        ana = [(e["state"], e["at"]) for e in sub.events() if e.get("operator") == "ana" and "state" in e]
        assert ana == [("available", instant(0)), ("reserved", instant(10.0)), ("talking", instant(16.0))]
        # Events come on QoS 1 and are not retained: a new subscriber finds none.
        assert {qos for _, t, _, qos, _ in sub.got if t.endswith("/events")} == {1}
        await sub.until(lambda: (sub.snapshot("skill/info") or {}).get("waiting") == 0, "nobody waiting")
        # A pause's reason is free text: a number typed into it is masked on its way out.
        centre.login(21.0, "marta", {"tramits": 1})
        centre.feed(
            ev.OperatorPaused(now=22.0, operator_id="marta", reason="call back 932 123 456 or 600123456")
        )
        await sub.until(lambda: any(e.get("state") == "paused" for e in sub.events()), "marta's pause")
        paused = [e for e in sub.events() if e.get("state") == "paused"]
        assert paused == [
            {
                "event": "operator_state",
                "at": instant(22.0),
                "operator": "marta",
                "state": "paused",
                "reason": "call back ****** or ******",
            }
        ]
    async with subscriber(broker) as late:
        await late.until(
            lambda: late.last("skill/info") is not None and late.last("centre") is not None, "retained"
        )
        await asyncio.sleep(0.2)
        assert late.on("events") == []
        assert {t for _, t, _, _, retained in late.got if retained} == {
            f"{PREFIX}/{t}" for t in ("status", "centre", "skill/info", "skill/tramits")
        }
    sub.assert_no_digit_runs()
    late.assert_no_digit_runs()
    assert counters["mqtt_connects"] == 1 and counters["mqtt_dropped"] == 0
    assert counters["mqtt_published"] >= len(sub.events()) + len(sub.on("skill/info")) + 1  # + "online"


async def test_the_observer_cannot_publish_and_nobody_logs_in_without_a_password(
    broker: Broker, started: list[MqttFeed]
) -> None:
    centre = Centre()
    feed = feed_for(broker, centre, Counter())
    started.append(feed)
    await feed.start()
    async with subscriber(broker) as sub:
        await sub.until(lambda: sub.last("status") == b"online", "status online")
        await sub.client.publish(f"{PREFIX}/status", b"offline", qos=1, retain=True)
        await sub.client.publish(f"{PREFIX}/events", b"{}", qos=1)
        await asyncio.sleep(0.3)
        assert sub.on("status") == [b"online"] and sub.on("events") == []
    async with subscriber(broker) as again:
        await again.until(lambda: again.last("status") is not None, "retained status")
        assert again.on("status") == [b"online"]  # the observer's "offline" never took
    cfg = broker.cfg
    assert mosquitto.connack(cfg.host, cfg.port, None) == 5  # anonymous: not authorised
    assert mosquitto.connack(cfg.host, cfg.port, mosquitto.Login(cfg.username, "wrong")) == 5
    assert mosquitto.connack(cfg.host, cfg.port, broker.observer) == 0
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(cfg.host, cfg.port):
            pass


async def test_at_most_one_snapshot_a_second_per_topic_under_a_burst(
    broker: Broker, started: list[MqttFeed]
) -> None:
    centre = Centre(lines=500)
    feed = feed_for(broker, centre, Counter())
    started.append(feed)
    async with subscriber(broker) as sub:
        await feed.start()
        await sub.until(lambda: sub.last("status") == b"online", "status online")
        t0 = time.monotonic()
        burst = 120  # one call every 25 ms for 3 s, nobody to answer: each one changes "info"
        for i in range(burst):
            centre.arrive(float(i), f"c{i:04d}", "info", "ca")
            await asyncio.sleep(0.025)
        await sub.until(lambda: (sub.snapshot("skill/info") or {}).get("waiting") == burst, "all waiting")
        span = time.monotonic() - t0
        for topic in ("skill/info", "centre"):
            times = [when for when, t, *_ in sub.got if t == f"{PREFIX}/{topic}"]
            gaps = [b - a for a, b in itertools.pairwise(times)]
            print(f"{topic}: {len(times)} snapshots in {span:.1f} s for {burst} changes; gaps {gaps}")
            assert len(times) <= span + 2
            assert all(gap > 0.9 for gap in gaps), gaps
        assert len([e for e in sub.events() if e["event"] == "call_queued"]) == burst


# --- a broker that is down, then back -----------------------------------------------------


def pauses(n: int) -> list[list[OperatorChanged]]:
    """n changes alike but for their reason, which numbers them."""
    return [
        [
            OperatorChanged(
                at=100 + i / 1000, operator_id="ana", state=OperatorState.PAUSED, reason=f"r{i}", call_id=None
            )
        ]
        for i in range(n)
    ]


def observe_all(feed: MqttFeed, changes: list[list[OperatorChanged]]) -> float:
    t0 = time.perf_counter()
    for change in changes:
        feed.observe(change[0].at, change, ())
    return time.perf_counter() - t0


async def test_a_broker_down_costs_call_handling_nothing_drops_are_counted_and_it_resumes(
    broker: Broker, started: list[MqttFeed]
) -> None:
    queue, n = 1000, 10_000
    centre, counters = Centre(), Counter[str]()
    feed = feed_for(broker, centre, counters, cfg=dataclasses.replace(broker.cfg, queue=queue))
    started.append(feed)
    centre.login(0.0, "ana", {"info": 1})
    async with subscriber(broker) as sub:
        await feed.start()
        await sub.until(lambda: len(sub.events()) == 1, "the login's event")
        # Broker up: the observer calls run back to back (the publisher cannot run between
        # them), so the buffer fills and the oldest are dropped: the newest `queue` arrive.
        up = observe_all(feed, pauses(n))
        assert feed.buffered == queue and counters["mqtt_dropped"] == n - queue
        await sub.until(lambda: feed.buffered == 0 and len(sub.events()) >= 1 + queue, "the buffer sent")
        reasons = [e["reason"] for e in sub.events() if e["state"] == "paused"]
        assert reasons == [f"r{i}" for i in range(n - queue, n)]

    broker.stop()
    await until(lambda: not feed.connected, 10, "the feed to see the broker gone")
    down = observe_all(feed, pauses(n))
    print(f"{n} observe() calls: {up * 1e3:.1f} ms with the broker up, {down * 1e3:.1f} ms with it down")
    assert down < max(0.5, 10 * up)  # (loose: the figures above are the measure)
    assert feed.buffered == queue and counters["mqtt_dropped"] == 2 * (n - queue)
    most = 0
    for change in pauses(3 * queue):
        feed.observe(change[0].at, change, ())
        most = max(most, feed.buffered)
    assert most == queue
    # A call handled while the broker is away: latency of the core plus the feed, per event.
    t0 = time.perf_counter()
    centre.arrive(200.0, "c-outage", "info", "es")
    centre.arrive(201.0, "c-outage-2", "info", "ca")  # ana is ringing for the first: waits
    print(f"two calls handled during the outage in {(time.perf_counter() - t0) * 1e6:.0f} us")
    centre.now = 205.0
    await asyncio.sleep(1.0)  # the feed keeps trying, backing off
    assert counters["mqtt_connect_failures"] >= 2

    broker.start()
    await until(lambda: feed.connected, 10, "the feed to reconnect")
    async with subscriber(broker) as after:
        await after.until(
            lambda: (after.snapshot("skill/info") or {}).get("waiting") == 1, "the current snapshot"
        )
        assert after.last("status") == b"online"
        info = after.snapshot("skill/info")
        assert info is not None and info["longest_wait_s"] == 205.0 - 201.0
        assert info["operators"]["reserved"] == 1
        await after.until(lambda: feed.buffered == 0, "the buffer sent again")
        after.assert_no_digit_runs()
    assert counters["mqtt_connects"] == 2 and counters["mqtt_disconnects"] == 1


async def test_a_broker_that_stops_answering_never_holds_up_observe_nor_stop(
    broker: Broker, started: list[MqttFeed]
) -> None:
    queue, n = 200, 5000
    centre, counters = Centre(), Counter[str]()
    feed = feed_for(broker, centre, counters, cfg=dataclasses.replace(broker.cfg, queue=queue))
    started.append(feed)
    await feed.start()
    await until(lambda: feed.connected, 10, "connected")
    assert broker.pid is not None
    os.kill(broker.pid, signal.SIGSTOP)  # alive, connected, and silent: no acknowledgement comes
    try:
        for _ in range(n // 100):  # the feed's task runs between chunks, and gets stuck
            spent = observe_all(feed, pauses(100))
            assert spent < 0.5, spent
            assert feed.buffered <= queue
            await asyncio.sleep(0.01)
        assert feed.connected and counters["mqtt_dropped"] > 0
        print(f"broker silent: {counters['mqtt_dropped']} of {n} events dropped, {feed.buffered} held")
        t0 = time.monotonic()
        await feed.stop(timeout=1.0)
        took = time.monotonic() - t0
        print(f"stop() with a silent broker took {took:.2f} s")
        assert took < 3.0
    finally:
        os.kill(broker.pid, signal.SIGCONT)
    # The "offline" was on its way before stop() gave up: the broker takes it once it runs.
    async with subscriber(broker) as sub:
        await sub.until(lambda: sub.last("status") is not None, "the retained status")
        assert sub.on("status") == [b"offline"]


async def test_a_clean_stop_leaves_offline_retained_and_is_quick_with_the_broker_down(
    broker: Broker, started: list[MqttFeed]
) -> None:
    centre = Centre()
    feed = feed_for(broker, centre, Counter())
    started.append(feed)
    await feed.start()
    async with subscriber(broker) as sub:
        await sub.until(lambda: sub.last("status") == b"online", "status online")
        t0 = time.monotonic()
        await feed.stop()
        print(f"stopped in {time.monotonic() - t0:.3f} s")
        await sub.until(lambda: sub.last("status") == b"offline", "status offline")
    async with subscriber(broker) as late:
        await late.until(lambda: late.last("status") is not None, "retained status")
        assert late.on("status") == [b"offline"]
    # Never connected (nothing listens): stop() does not wait for anything.
    other = feed_for(broker, centre, Counter(), cfg=dataclasses.replace(broker.cfg, port=free_port()))
    started.append(other)
    await other.start()
    await asyncio.sleep(0.3)
    t0 = time.monotonic()
    await other.stop()
    assert time.monotonic() - t0 < 1.0


async def test_a_killed_process_leaves_its_last_will(broker: Broker) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.mqttfeedproc",
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    fields = dataclasses.asdict(broker.cfg)
    proc.stdin.write(json.dumps(fields).encode() + b"\n")
    await proc.stdin.drain()
    try:
        async with subscriber(broker) as sub:
            async with asyncio.timeout(20):
                assert await proc.stdout.readline() == b"connected\n"
            await sub.until(lambda: sub.last("status") == b"online", "status online")
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            await sub.until(lambda: sub.last("status") == b"offline", "the Last Will", timeout=3 * 5)
        async with subscriber(broker) as late:
            await late.until(lambda: late.last("status") is not None, "retained status")
            assert late.on("status") == [b"offline"]
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


# --- TLS and reconnection -----------------------------------------------------------------


EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


def openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def make_ca(directory: Path, name: str) -> tuple[Path, Path]:
    key, crt = directory / f"{name}.key", directory / f"{name}.crt"
    openssl("req", "-x509", *EC_KEY, "-keyout", key, "-out", crt, "-days", "1", "-subj", f"/CN={name}")
    return key, crt


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[Broker]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    ca_key, ca_crt = make_ca(tmp_path, "cc-test-ca")
    key, csr, crt, ext = (tmp_path / f"server.{x}" for x in ("key", "csr", "crt", "ext"))
    ext.write_text("subjectAltName=IP:127.0.0.1\n")  # the broker is reached by its address
    openssl("req", *EC_KEY, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    signed_by_ca = ("-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial", "-extfile", ext)
    openssl("x509", "-req", "-in", csr, *signed_by_ca, "-out", crt, "-days", "1")
    b = Broker(
        tmp_path / "mosquitto",
        broker_config(free_port(), tls_ca=ca_crt),
        mosquitto.Login("cc-observer", secrets.token_urlsafe(12)),
        tls=mosquitto.ServerTls(certfile=crt, keyfile=key, cafile=ca_crt),
    )
    b.start()
    yield b
    b.stop()


async def test_tls_checks_the_broker_against_the_configured_ca(
    tls_broker: Broker, tmp_path: Path, started: list[MqttFeed]
) -> None:
    centre, counters = Centre(), Counter[str]()
    feed = feed_for(tls_broker, centre, counters)
    started.append(feed)
    await feed.start()
    assert tls_broker.tls is not None
    async with subscriber(tls_broker, tls=tls_broker.tls.client_context()) as sub:
        await sub.until(lambda: sub.last("status") == b"online", "status online over TLS")
    # Another CA than the one that signed the broker's certificate: never connected.
    _, stranger = make_ca(tmp_path, "stranger")
    wary_counters = Counter[str]()
    wary = feed_for(
        tls_broker, centre, wary_counters, cfg=dataclasses.replace(tls_broker.cfg, tls_ca=stranger)
    )
    started.append(wary)
    await wary.start()
    await until(lambda: wary_counters["mqtt_connect_failures"] >= 2, 10, "refused connections")
    assert wary_counters["mqtt_connects"] == 0


def test_reconnection_backs_off_doubling_up_to_a_bound_with_seeded_jitter() -> None:
    first, most = 0.5, 30.0
    delays = [backoff(n, random.Random(3), first, most) for n in range(12)]
    for n, delay in enumerate(delays):
        ceiling = min(most, first * 2**n)
        assert ceiling / 2 <= delay <= ceiling
    assert delays == [backoff(n, random.Random(3), first, most) for n in range(12)]  # seeded
    assert max(delays) <= most and delays[-1] >= most / 2


# --- the sandbox's broker -----------------------------------------------------------------


def test_the_sandbox_records_its_broker_reports_the_observer_and_stops_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.geteuid() != 0:
        pytest.skip("the sandbox needs root")
    monkeypatch.setenv("CC_CACHE_DIR", str(tmp_path / "cache"))
    cfg = load_config(TEST_CONFIG)
    assert cfg.mqtt is not None
    cfg = dataclasses.replace(cfg, mqtt=dataclasses.replace(cfg.mqtt, port=free_port()))
    assert cfg.mqtt is not None
    # A state as `up` writes it, for an Asterisk that is not running (this process's pid is
    # not an asterisk): only the broker is started, stopped and reported here.
    state = sandbox.SandboxState(
        root=str(tmp_path / "root"),
        pid=os.getpid(),
        config=str(TEST_CONFIG),
        ami_host="127.0.0.1",
        ami_port=1,
        sip_host="127.0.0.1",
        sip_port=1,
        observer_username="cc-observer",
        observer_secret="x",
        mounts=[],
        boot_seconds=0.0,
        build_seconds=None,
    )
    sandbox._start_mqtt(cfg, state, log=lambda *_: None)
    try:
        st = sandbox.status()
        assert st["mqtt_port"] == cfg.mqtt.port and st["mqtt_running"] is True
        observer = st["mqtt_observer"]
        assert isinstance(observer, dict) and observer["username"] == "cc-observer"
        login = mosquitto.Login(observer["username"], observer["password"])
        assert mosquitto.connack(cfg.mqtt.host, cfg.mqtt.port, login) == 0
        assert (
            mosquitto.connack(
                cfg.mqtt.host, cfg.mqtt.port, mosquitto.Login(cfg.mqtt.username, cfg.mqtt.password)
            )
            == 0
        )
        assert mosquitto.connack(cfg.mqtt.host, cfg.mqtt.port, None) == 5
        # The port is now taken: a second broker there is one clear line naming the field.
        with pytest.raises(sandbox.SandboxError, match=rf"127.0.0.1:{cfg.mqtt.port} \(mqtt.port\)"):
            sandbox._start_mqtt(cfg, dataclasses.replace(state), log=lambda *_: None)
        pid = state.mqtt_pid
        assert pid is not None and mosquitto.alive(pid)
    finally:
        assert sandbox.down(log=lambda *_: None) is False  # (no Asterisk was running)
    assert not mosquitto.alive(pid)
    assert sandbox.status()["mqtt_port"] is None


def test_as_root_the_broker_drops_to_the_mosquitto_user_where_it_can_reach_its_files() -> None:
    if os.geteuid() != 0:
        pytest.skip("only root changes user")
    try:
        user = pwd.getpwnam(mosquitto.BROKER_USER)
    except KeyError:
        pytest.skip("no mosquitto user")
    top = Path(tempfile.mkdtemp(prefix="cc-mqtt-"))
    try:
        top.chmod(0o711)  # others may pass through, not list
        b = Broker(top / "broker", broker_config(free_port()), mosquitto.Login("cc-observer", "x-y"))
        b.start()
        try:
            assert b.pid is not None
            uid = Path(f"/proc/{b.pid}/status").read_text().split("Uid:")[1].split()[0]
            assert int(uid) == user.pw_uid
        finally:
            b.stop()
    finally:
        shutil.rmtree(top)
