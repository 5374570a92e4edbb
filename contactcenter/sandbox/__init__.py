# The local Asterisk sandbox: Debian's asterisk package in a debootstrap chroot, cached
# outside the repository, rendered from the centre's YAML and run on loopback; beside it,
# when the centre has an `mqtt` section, the host's mosquitto for the supervisors' feed
# (sandbox/mosquitto.py).
# Rules:
# - Everything it starts it records (pid, mounts) in a state file and stops by that record:
#   never by a process-name pattern.
# - Whatever is wrong with the machine (not root, no debootstrap and no apt, a port taken)
#   is a SandboxError with one line that says what to do; the CLI exits 2 on it.
# - The chroot is built once into a temporary directory and renamed into place, so an
#   interrupted build never leaves a half-built cache that looks finished.
from __future__ import annotations

import asyncio
import contextlib
import glob
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from contactcenter.config import Config
from contactcenter.errors import UserError
from contactcenter.sandbox import mosquitto, procs, prompts
from contactcenter.sandbox.render import render

PACKAGES = (
    "asterisk",
    "asterisk-core-sounds-en",
    "asterisk-core-sounds-es",
    "asterisk-moh-opsound-wav",
    "espeak-ng",
    "sox",
)
SUITE = "forky"  # Asterisk left Debian stable; forky carries Asterisk 22
BOOT_TIMEOUT = 90.0


class SandboxError(UserError):
    """The sandbox cannot do what was asked; the message says why and what to do."""


def cache_dir() -> Path:
    return Path(os.environ.get("CC_CACHE_DIR", "/var/cache/contactcenter"))


def root_dir() -> Path:
    return cache_dir() / f"asterisk-{SUITE}"


def state_path() -> Path:
    return cache_dir() / "sandbox.json"


def mqtt_dir() -> Path:
    """mosquitto's files: configuration, logins (hashed), ACL, log."""
    return cache_dir() / "mosquitto"


@dataclass
class SandboxState:
    root: str
    pid: int
    config: str
    ami_host: str
    ami_port: int
    sip_host: str
    sip_port: int
    observer_username: str
    observer_secret: str
    mounts: list[str]
    boot_seconds: float
    build_seconds: float | None
    # The MQTT broker (None: the centre has no `mqtt` section, or a state file from before).
    mqtt_host: str | None = None
    mqtt_port: int | None = None
    mqtt_pid: int | None = None
    mqtt_dir: str | None = None
    mqtt_observer_username: str | None = None
    mqtt_observer_password: str | None = None


# --- status -------------------------------------------------------------------------------


def load_state() -> SandboxState | None:
    try:
        data = json.loads(state_path().read_text())
        return SandboxState(**data)
    except (OSError, ValueError, TypeError):
        return None


def _alive(pid: int) -> bool:
    return procs.running(pid, "asterisk")


def status() -> dict[str, object]:
    """What `sandbox status --json` prints."""
    st = load_state()
    running = st is not None and _alive(st.pid)
    out: dict[str, object] = {
        "running": running,
        "root": st.root if st else str(root_dir()),
        "built": (root_dir() / ".cc-built").exists(),
        "ami_port": st.ami_port if st else None,
        "sip_port": st.sip_port if st else None,
    }
    if st and running:
        out.update(pid=st.pid, config=st.config, boot_seconds=st.boot_seconds)
    out["mqtt_port"] = st.mqtt_port if st else None
    if st and st.mqtt_port is not None:
        out["mqtt_running"] = st.mqtt_pid is not None and mosquitto.alive(st.mqtt_pid)
        out["mqtt_observer"] = {"username": st.mqtt_observer_username, "password": st.mqtt_observer_password}
    return out


# --- build --------------------------------------------------------------------------------


def _require_root() -> None:
    if os.geteuid() != 0:
        raise SandboxError("the sandbox needs root (debootstrap, chroot, mount): run it with sudo")


def _debian_mirror() -> str:
    """The Debian archive the host's own apt already uses (no other host is reachable)."""
    texts = []
    for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*"))]:
        with contextlib.suppress(OSError):
            texts.append(Path(path).read_text())
    for text in texts:
        for m in re.finditer(r"^URIs:\s*(\S+)", text, re.M):  # deb822
            if "security" not in m.group(1) and "debian" in m.group(1):
                return m.group(1)
        for m in re.finditer(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+", text, re.M):
            if "security" not in m.group(1) and "debian" in m.group(1):
                return m.group(1)
    raise SandboxError("no Debian mirror found in /etc/apt/sources.list*: cannot build the sandbox")


def _ensure_debootstrap() -> None:
    if shutil.which("debootstrap"):
        return
    if not shutil.which("apt-get"):
        raise SandboxError("debootstrap is missing and there is no apt-get to install it")
    for cmd in (
        ["apt-get", "install", "-y", "-q", "debootstrap"],
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "debootstrap"],
    ):
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        )
        if cmd[1] == "install" and proc.returncode == 0:
            return
    raise SandboxError(f"could not install debootstrap: {proc.stderr.strip()[-300:]}")


def _packages_digest() -> str:
    return hashlib.sha256(f"{SUITE}:{','.join(PACKAGES)}".encode()).hexdigest()[:16]


def build(log=print) -> float | None:  # type: ignore[no-untyped-def]
    """Build the chroot if it is missing or was built for another package set.
    Returns the build time in seconds, or None if the cache was used."""
    _require_root()
    root = root_dir()
    marker = root / ".cc-built"
    if marker.exists() and marker.read_text().strip() == _packages_digest():
        return None
    _ensure_debootstrap()
    script = "/usr/share/debootstrap/scripts/sid"  # forky's script is sid's on older hosts
    if not Path(script).exists():
        raise SandboxError(f"{script} not found: debootstrap is too old to build {SUITE}")
    mirror = _debian_mirror()
    cache_dir().mkdir(parents=True, exist_ok=True)
    tmp = root.with_name(root.name + ".building")
    if tmp.exists():
        _unmount_all(tmp)
        shutil.rmtree(tmp)
    log(f"building the Asterisk sandbox in {root} (debootstrap {SUITE} from {mirror}, ~1-2 min)")
    t0 = time.monotonic()
    proc = subprocess.run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(PACKAGES)}",
            SUITE,
            str(tmp),
            mirror,
            script,
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        raise SandboxError("debootstrap failed: " + " | ".join(tail))
    if root.exists():
        _unmount_all(root)
        shutil.rmtree(root)
    tmp.rename(root)
    marker.write_text(_packages_digest() + "\n")
    return time.monotonic() - t0


# --- mounts -------------------------------------------------------------------------------


def _mounted(path: Path) -> bool:
    target = str(path)
    with open("/proc/mounts") as f:
        return any(line.split()[1] == target for line in f)


def _mount(root: Path) -> list[str]:
    done = []
    for sub, args in (("proc", ["-t", "proc", "proc"]), ("dev", ["--bind", "/dev"])):
        target = root / sub
        target.mkdir(exist_ok=True)
        if not _mounted(target):
            subprocess.run(["mount", *args, str(target)], check=True, capture_output=True)
        done.append(str(target))
    return done


def _unmount_all(root: Path) -> None:
    for sub in ("dev", "proc"):
        target = root / sub
        if _mounted(target):
            proc = subprocess.run(["umount", str(target)], capture_output=True)
            if proc.returncode != 0:
                subprocess.run(["umount", "-l", str(target)], capture_output=True)


# --- up / down ----------------------------------------------------------------------------


def _check_port_free(host: str, port: int, kind: int, field: str) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, kind) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            proto = "TCP" if kind == socket.SOCK_STREAM else "UDP"
            raise SandboxError(
                f"{proto} port {host}:{port} ({field}) is already in use by another program"
            ) from None


def _module_dir(root: Path) -> str:
    found = sorted(glob.glob(str(root / "usr/lib/*/asterisk/modules")))
    if not found:
        raise SandboxError(f"no Asterisk modules under {root}/usr/lib: rebuild the sandbox")
    return "/" + str(Path(found[0]).relative_to(root))


async def wait_fully_booted(
    host: str, port: int, username: str, secret: str, timeout: float = BOOT_TIMEOUT
) -> None:
    """Log in over AMI and wait for FullyBooted: the moment Asterisk takes calls."""
    deadline = time.monotonic() + timeout
    last_error = "no answer"
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2)
        except (TimeoutError, OSError) as exc:
            last_error = str(exc) or type(exc).__name__
            await asyncio.sleep(0.1)
            continue
        try:
            writer.write(f"Action: Login\r\nUsername: {username}\r\nSecret: {secret}\r\n\r\n".encode())
            buf = b""
            while time.monotonic() < deadline:
                chunk = await asyncio.wait_for(reader.read(4096), deadline - time.monotonic())
                if not chunk:
                    break
                buf += chunk
                if b"Authentication failed" in buf:
                    raise SandboxError("AMI login refused for the sandbox's observer user")
                if b"Event: FullyBooted" in buf:
                    return
        except (TimeoutError, OSError) as exc:
            last_error = str(exc) or type(exc).__name__
        finally:
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()
        await asyncio.sleep(0.2)
    raise SandboxError(f"Asterisk did not report FullyBooted within {timeout:.0f} s ({last_error})")


def _rendered_as(cfg: Config, current: SandboxState) -> bool:
    """Whether the running sandbox's /etc/asterisk is what `cfg` renders now."""
    root = Path(current.root)
    etc = root / "etc/asterisk"
    with tempfile.TemporaryDirectory() as tmp:
        names = render(
            cfg, Path(tmp), _module_dir(root), (current.observer_username, current.observer_secret)
        )
        for name in names:
            running = etc / name
            if not running.is_file() or running.read_bytes() != (Path(tmp) / name).read_bytes():
                return False
    return True


def up(cfg: Config, log=print) -> SandboxState:  # type: ignore[no-untyped-def]
    """Build (if needed), render `cfg` into the sandbox, start Asterisk, wait for FullyBooted."""
    _require_root()
    current = load_state()
    if current is not None and _alive(current.pid):
        if Path(current.config).resolve() == Path(cfg.path).resolve():
            if not _rendered_as(cfg, current):
                # (Asterisk reads its files at start: a config edited since, an operator's
                # phone added, would be silently missing.)
                raise SandboxError(
                    f"the sandbox is running with an older rendering of {current.config}; "
                    "restart it: `contactcenter sandbox down`, then up again"
                )
            log(f"sandbox already running (pid {current.pid}) with {current.config}")
            if cfg.mqtt is not None and (current.mqtt_pid is None or not mosquitto.alive(current.mqtt_pid)):
                _start_mqtt(cfg, current, log)  # (stopped on its own: started again)
            return current
        # Never pull Asterisk from under someone else's demo or test run.
        raise SandboxError(
            f"the sandbox is already running with {current.config}; "
            "stop it first with `contactcenter sandbox down`"
        )
    if current is not None:
        # Recorded, but its Asterisk died (killed, crashed): what it left (its mosquitto,
        # the mounts, the state file) is stopped and cleared, then it starts afresh.
        log(f"the sandbox's Asterisk (pid {current.pid}) is not running: starting it again")
        down(log=log)
    t_up = time.monotonic()
    build_seconds = build(log=log)
    root = root_dir()
    _check_port_free(cfg.ami.host, cfg.ami.port, socket.SOCK_STREAM, "ami.port")
    _check_port_free(cfg.sip.host, cfg.sip.port, socket.SOCK_DGRAM, "sip.port")
    if cfg.mqtt is not None:  # before Asterisk starts: a taken port fails fast, naming it
        _check_port_free(cfg.mqtt.host, cfg.mqtt.port, socket.SOCK_STREAM, "mqtt.port")
    mounts = _mount(root)
    try:
        observer = ("cc-observer", _observer_secret())
        render(cfg, root / "etc/asterisk", _module_dir(root), observer)
        made = prompts.generate(cfg, root)
        if made:
            log(f"generated {made} IVR prompts (espeak-ng, sox)")
        for sub in ("run/asterisk", "var/log/asterisk", "var/spool/asterisk", "var/lib/asterisk"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        pidfile = root / "run/asterisk/asterisk.pid"
        pidfile.unlink(missing_ok=True)
        t_start = time.monotonic()
        proc = subprocess.run(
            ["chroot", str(root), "/usr/sbin/asterisk", "-g"], capture_output=True, text=True, timeout=30
        )
        if proc.returncode != 0:
            raise SandboxError(f"asterisk did not start: {proc.stderr.strip()[-300:]}")
        pid = _read_pid(pidfile)
        state = SandboxState(
            root=str(root),
            pid=pid,
            config=str(Path(cfg.path).resolve()),
            ami_host=cfg.ami.host,
            ami_port=cfg.ami.port,
            sip_host=cfg.sip.host,
            sip_port=cfg.sip.port,
            observer_username=observer[0],
            observer_secret=observer[1],
            mounts=mounts,
            boot_seconds=0.0,
            build_seconds=build_seconds,
        )
        _write_state(state)
        asyncio.run(wait_fully_booted(cfg.ami.host, cfg.ami.port, *observer))
        state.boot_seconds = round(time.monotonic() - t_start, 3)
        _write_state(state)
        log(
            f"Asterisk up (pid {pid}): FullyBooted {state.boot_seconds:.2f} s after start, "
            f"{time.monotonic() - t_up:.1f} s after `up`; AMI {cfg.ami.host}:{cfg.ami.port}, "
            f"SIP {cfg.sip.host}:{cfg.sip.port}"
        )
        if cfg.mqtt is not None:
            _start_mqtt(cfg, state, log)
        return state
    except BaseException:
        down(log=lambda *_: None)
        _unmount_all(root)
        raise


def _start_mqtt(cfg: Config, state: SandboxState, log=print) -> None:  # type: ignore[no-untyped-def]
    """Start mosquitto for cfg.mqtt and record it in `state` (and the state file)."""
    assert cfg.mqtt is not None
    observer = mosquitto.Login("cc-observer", _observer_secret("mqtt-observer.secret"))
    try:
        broker = mosquitto.start(mqtt_dir(), cfg.mqtt, observer)
    except mosquitto.BrokerError as exc:
        raise SandboxError(str(exc)) from None
    state.mqtt_host, state.mqtt_port, state.mqtt_pid = broker.host, broker.port, broker.pid
    state.mqtt_dir = str(broker.directory)
    state.mqtt_observer_username, state.mqtt_observer_password = observer.username, observer.password
    _write_state(state)
    log(
        f"mosquitto up (pid {broker.pid}): MQTT {broker.host}:{broker.port}, "
        f"topics {cfg.mqtt.topic_prefix}/#; a read-only login in `contactcenter sandbox status --json`"
    )


def _observer_secret(name: str = "observer.secret") -> str:
    """A sandbox observer's secret (AMI's, or MQTT's with another `name`): made once per
    machine, kept (root-only) in the cache, so tools that logged in before a restart can log
    in again after it."""
    path = cache_dir() / name
    with contextlib.suppress(OSError):
        secret = path.read_text().strip()
        if re.fullmatch(r"[0-9a-f]{24}", secret):
            return secret
    secret = secrets.token_hex(12)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(secret + "\n")
    return secret


def _read_pid(pidfile: Path) -> int:
    for _ in range(100):
        with contextlib.suppress(OSError, ValueError):
            return int(pidfile.read_text().strip())
        time.sleep(0.05)
    raise SandboxError(f"asterisk wrote no pid file at {pidfile}")


def _write_state(state: SandboxState) -> None:
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=1))
    tmp.chmod(0o600)  # holds the observer's AMI secret
    tmp.replace(path)


def stop_timeout() -> float:
    """Seconds `down` gives `core stop now` before it terminates Asterisk itself
    (CC_STOP_TIMEOUT: tests shorten it to make the fallback happen on demand)."""
    try:
        return max(0.001, float(os.environ.get("CC_STOP_TIMEOUT", "15")))
    except ValueError:
        return 15.0


def _port_bindable(host: str, port: int, kind: int) -> bool:
    try:
        _check_port_free(host, port, kind, "")
    except SandboxError:
        return False
    return True


def _wait_ports_free(state: SandboxState, timeout: float = 5.0) -> None:
    """Wait (bounded) until the ports the stopped sandbox listened on can be bound again,
    so that an `up` right after `down` never finds them taken by what is still closing."""
    ports = [
        (state.ami_host, state.ami_port, socket.SOCK_STREAM),
        (state.sip_host, state.sip_port, socket.SOCK_DGRAM),
    ]
    if state.mqtt_host is not None and state.mqtt_port is not None:
        ports.append((state.mqtt_host, state.mqtt_port, socket.SOCK_STREAM))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(_port_bindable(*p) for p in ports):
        time.sleep(0.05)


def down(log=print) -> bool:  # type: ignore[no-untyped-def]
    """Stop the sandbox's mosquitto and Asterisk (by their recorded pids) and unmount what
    `up` mounted."""
    _require_root()
    state = load_state()
    root = Path(state.root) if state else root_dir()
    stopped = False
    if state is not None and state.mqtt_pid is not None and mosquitto.stop(state.mqtt_pid):
        log(f"mosquitto (pid {state.mqtt_pid}) stopped")
    if state is not None and _alive(state.pid):
        try:
            subprocess.run(
                ["chroot", str(root), "/usr/sbin/asterisk", "-rx", "core stop now"],
                capture_output=True,
                timeout=stop_timeout(),
            )
        except subprocess.TimeoutExpired:
            # `core stop now` can hang (on channels that never go away); TERM, then KILL.
            log(f"Asterisk (pid {state.pid}) did not stop on `core stop now`: terminating it")
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if sig is not None and _alive(state.pid):
                os.kill(state.pid, sig)
            for _ in range(100):
                if not _alive(state.pid):
                    break
                time.sleep(0.05)
            if not _alive(state.pid):
                break
        stopped = True
        log(f"Asterisk (pid {state.pid}) stopped")
    if state is not None:
        _wait_ports_free(state)
    _unmount_all(root)
    state_path().unlink(missing_ok=True)
    return stopped
