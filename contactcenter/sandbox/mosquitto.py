# The sandbox's MQTT broker: Debian's mosquitto, started beside Asterisk for the supervisors'
# live feed, with its files in a state directory of its own. Rules:
# - Loopback only, no anonymous access: two logins, the controller's (from `mqtt` in the
#   centre's configuration; it may read and write <prefix>/#) and a generated observer's
#   (read-only on <prefix>/#) for wallboards and tests. Nothing else reaches any topic.
# - Passwords never appear on a command line (another user's `ps` would see them): they
#   reach `mosquitto_passwd` on its stdin, and only their hashes are written.
# - It is a child process, not a daemon (no `-d`): its pid comes from the spawn itself, is
#   recorded by the caller and is what stops it; never a process-name pattern.
# - Started as root, mosquitto drops to the `mosquitto` user before it reads its password
#   file or opens its log; then the state directory is handed to that user, if that user can
#   reach it at all, and otherwise the broker keeps the caller's user.
# - Whatever stops it from starting (no mosquitto, the port taken, a bad password) is a
#   BrokerError with one line that names the configuration field at fault.
from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import stat
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from contactcenter.config import MqttConfig
from contactcenter.errors import UserError
from contactcenter.sandbox import procs

MOSQUITTO = "/usr/sbin/mosquitto"  # Debian's package puts it here, outside a user's PATH
MOSQUITTO_PASSWD = "mosquitto_passwd"
BROKER_USER = "mosquitto"  # the unprivileged user Debian's package creates
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


class BrokerError(UserError):
    """mosquitto cannot be set up or started; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Login:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ServerTls:
    """A TLS listener's certificate and key, and the CA that signed them (for the probe)."""

    certfile: Path
    keyfile: Path
    cafile: Path

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cafile))


@dataclass(frozen=True, slots=True)
class Broker:
    """A started mosquitto: its pid, where it listens, and its state directory."""

    pid: int
    host: str
    port: int
    directory: Path

    @property
    def log(self) -> Path:
        return self.directory / "mosquitto.log"


# --- files --------------------------------------------------------------------------------


def render_conf(directory: Path, mqtt: MqttConfig, user: str, tls: ServerTls | None = None) -> str:
    """mosquitto.conf: one listener on mqtt.host:port (TLS with `tls`), logins and ACL from
    `directory`."""
    listener_tls = [] if tls is None else [f"certfile {tls.certfile}", f"keyfile {tls.keyfile}"]
    return "\n".join(
        [
            "# Rendered by contactcenter (sandbox/mosquitto.py) for the sandbox: do not edit.",
            "per_listener_settings false",
            "allow_anonymous false",
            f"password_file {directory / 'passwd'}",
            f"acl_file {directory / 'acl'}",
            # Retained snapshots are republished by the controller on every connection, so
            # nothing is worth keeping across a broker restart.
            "persistence false",
            f"log_dest file {directory / 'mosquitto.log'}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
            f"user {user}",
            f"listener {mqtt.port} {mqtt.host}",
            *listener_tls,
            "",
        ]
    )


def render_acl(mqtt: MqttConfig, observer: Login) -> str:
    """The ACL: the controller writes <prefix>/#, the observer only reads it."""
    prefix = mqtt.topic_prefix
    return (
        f"user {mqtt.username}\ntopic readwrite {prefix}/#\n\n"
        f"user {observer.username}\ntopic read {prefix}/#\n"
    )


def _check_login(login: Login, field_name: str) -> None:
    # One `user:password` line each in the file mosquitto_passwd hashes: a line break would
    # make a second login, and a ':' in a name would move the split.
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", login.username):
        raise BrokerError(f"{field_name}.username: not a plain login name (got {login.username!r})")
    if not login.password or any(c in login.password for c in "\r\n\0"):
        raise BrokerError(f"{field_name}.password: must be one non-empty line")


def write_passwords(path: Path, logins: list[Login]) -> None:
    """A mosquitto password file of `logins`, each hashed by mosquitto_passwd from its stdin
    (`-b` would show the password to `ps`; `-U` cuts a password at a ':')."""
    tool = shutil.which(MOSQUITTO_PASSWD) or shutil.which(MOSQUITTO_PASSWD, path="/usr/bin:/usr/sbin")
    if tool is None:
        raise BrokerError("mosquitto_passwd not found: install Debian's mosquitto package")
    path.unlink(missing_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for login in logins:
        proc = subprocess.run(
            [tool, str(path), login.username],
            input=f"{login.password}\n{login.password}\n",  # asked twice, as at a terminal
            capture_output=True,
            text=True,
            timeout=30,
        )
        if proc.returncode != 0:
            raise BrokerError(f"mosquitto_passwd failed for {login.username}: {proc.stderr.strip()[-200:]}")


def _reachable_by(path: Path, uid: int, gid: int) -> bool:
    """Whether `uid` may traverse every directory above `path` (pytest's tmp_path is under a
    0700 directory of root's, which the broker user cannot enter)."""
    for parent in path.resolve().parents:
        st = parent.stat()
        if st.st_uid == uid:
            ok = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid == gid:
            ok = bool(st.st_mode & stat.S_IXGRP)
        else:
            ok = bool(st.st_mode & stat.S_IXOTH)
        if not ok:
            return False
    return True


def _run_as(directory: Path) -> tuple[str, int, int] | None:
    """The user mosquitto should run as, with its uid/gid when the directory must be handed
    to it; None: the broker keeps the caller's user."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(BROKER_USER)
    except KeyError:
        return None
    if not _reachable_by(directory, entry.pw_uid, entry.pw_gid):
        return None
    return BROKER_USER, entry.pw_uid, entry.pw_gid


def prepare(directory: Path, mqtt: MqttConfig, observer: Login, tls: ServerTls | None = None) -> Path:
    """Write mosquitto.conf, the password file and the ACL into `directory`; returns the
    configuration's path."""
    _check_login(Login(mqtt.username, mqtt.password), "mqtt")
    _check_login(observer, "mqtt observer")
    if observer.username == mqtt.username:
        raise BrokerError(f"mqtt.username: {mqtt.username!r} is the sandbox's observer login; pick another")
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)  # password hashes and the log
    write_passwords(directory / "passwd", [Login(mqtt.username, mqtt.password), observer])
    (directory / "acl").write_text(render_acl(mqtt, observer))
    (directory / "mosquitto.log").unlink(missing_ok=True)
    run_as = _run_as(directory)
    user = run_as[0] if run_as else pwd.getpwuid(os.geteuid()).pw_name
    conf = directory / "mosquitto.conf"
    conf.write_text(render_conf(directory, mqtt, user, tls))
    if run_as is not None:
        _, uid, gid = run_as
        for path in (directory, *directory.iterdir()):
            os.chown(path, uid, gid)
    return conf


# --- process ------------------------------------------------------------------------------


def alive(pid: int) -> bool:
    """Whether `pid` is a live mosquitto (a recycled pid, or our exited child, is not)."""
    return procs.running(pid, "mosquitto")


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def check_port(mqtt: MqttConfig) -> None:
    if not _port_free(mqtt.host, mqtt.port):
        raise BrokerError(
            f"TCP port {mqtt.host}:{mqtt.port} (mqtt.port) is already in use by another program"
        )


def start(
    directory: Path,
    mqtt: MqttConfig,
    observer: Login,
    timeout: float = START_TIMEOUT,
    tls: ServerTls | None = None,
) -> Broker:
    """Start mosquitto for `mqtt` with its files in `directory`; return once the observer
    can log in (BrokerError if it cannot within `timeout`)."""
    if not Path(MOSQUITTO).exists():
        # Not installed for the user: Debian's package starts its own broker on 1883 as a
        # service, which the sandbox must not fight for the port.
        raise BrokerError(
            f"{MOSQUITTO} not found: apt-get install mosquitto, then "
            "`systemctl disable --now mosquitto` (the sandbox starts its own)"
        )
    check_port(mqtt)
    conf = prepare(directory, mqtt, observer, tls)
    out = directory / "mosquitto.out"  # what it says before its log file is open
    pid = os.posix_spawn(
        MOSQUITTO,
        [MOSQUITTO, "-c", str(conf)],
        dict(os.environ),
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(out), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,  # its own session: a Ctrl-C to `sandbox up` must not reach the broker
    )
    broker = Broker(pid=pid, host=mqtt.host, port=mqtt.port, directory=directory)
    try:
        wait_ready(broker, observer, timeout, None if tls is None else tls.client_context())
    except BaseException:
        stop(pid)
        raise
    return broker


def _said(broker: Broker) -> str:
    lines: list[str] = []
    for path in (broker.directory / "mosquitto.out", broker.log):
        with contextlib.suppress(OSError):
            lines += path.read_text(errors="replace").strip().splitlines()
    return " | ".join(lines[-3:])


def wait_ready(broker: Broker, login: Login, timeout: float, tls: ssl.SSLContext | None = None) -> None:
    """Until `login` logs in over MQTT: the broker listens and has read its logins."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not alive(broker.pid):
            said = _said(broker)
            if "in use" in said:
                raise BrokerError(f"TCP port {broker.host}:{broker.port} (mqtt.port) is already in use")
            raise BrokerError(f"mosquitto exited at start: {said or 'no output'}")
        try:
            code = connack(broker.host, broker.port, login, timeout=1.0, tls=tls)
        except OSError as exc:
            last = str(exc) or type(exc).__name__
            time.sleep(0.05)
            continue
        if code == 0:
            return
        raise BrokerError(f"mosquitto refused the observer's login (CONNACK {code}): {_said(broker)}")
    raise BrokerError(f"mosquitto did not accept a login within {timeout:g} s ({last})")


def _mqtt_string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def connack(
    host: str, port: int, login: Login | None, timeout: float = 2.0, tls: ssl.SSLContext | None = None
) -> int:
    """Log in with an MQTT 3.1.1 CONNECT and return the CONNACK's code (0: accepted),
    then disconnect. Synchronous, for `sandbox up` and readiness checks."""
    flags = 0x02  # clean session
    payload = _mqtt_string(f"cc-probe-{os.getpid()}")
    if login is not None:
        flags |= 0xC0
        payload += _mqtt_string(login.username) + _mqtt_string(login.password)
    body = _mqtt_string("MQTT") + bytes([4, flags]) + struct.pack("!H", 10) + payload
    with contextlib.ExitStack() as stack:
        s = stack.enter_context(socket.create_connection((host, port), timeout=timeout))
        if tls is not None:
            s = stack.enter_context(tls.wrap_socket(s, server_hostname=host))
        s.sendall(bytes([0x10, *_remaining_length(len(body))]) + body)
        reply = b""
        while len(reply) < 4:
            chunk = s.recv(4 - len(reply))
            if not chunk:
                raise ConnectionError("closed before CONNACK")
            reply += chunk
        if reply[0] != 0x20:
            raise ConnectionError(f"not a CONNACK: {reply!r}")
        if reply[3] == 0:
            s.sendall(b"\xe0\x00")  # DISCONNECT
        return reply[3]


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def stop(pid: int, timeout: float = STOP_TIMEOUT) -> bool:
    """Stop the mosquitto of `pid` (TERM, then KILL); False if it was not running."""
    if not alive(pid):
        _reap(pid)  # (one that exited at start, say)
        return False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not alive(pid):
                _reap(pid)
                return True
            time.sleep(0.02)
    return not alive(pid)


def _reap(pid: int, timeout: float = 1.0) -> None:
    # An exiting process loses its /proc/<pid>/exe before its parent can wait for it: if it
    # is our child, wait (briefly) until it can be reaped, or it stays a zombie.
    deadline = time.monotonic() + timeout
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(pid, os.WNOHANG) == (0, 0) and time.monotonic() < deadline:
            time.sleep(0.005)
