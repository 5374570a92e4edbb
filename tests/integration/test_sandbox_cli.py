# `contactcenter sandbox up|down|status`: what it promises on the command line, against the
# real sandbox (the session's, brought up by the `asterisk` fixture), and the one-line
# exit-2 errors for a machine that cannot host it.
from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import yaml

from contactcenter import sandbox
from contactcenter.cli import main
from contactcenter.config import Config


def test_status_json_reports_the_running_sandbox(asterisk, capsys) -> None:
    assert main(["sandbox", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["running"] is True
    assert status["root"] == asterisk.root
    assert (status["ami_port"], status["sip_port"]) == (25038, 25060)
    assert Path(status["root"], "usr/sbin/asterisk").exists()


def test_up_with_another_config_while_running_is_refused(asterisk, tmp_path, capsys) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(Path(asterisk.config).read_text())
    assert main(["sandbox", "up", "--config", str(other)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "already running" in err and "sandbox down" in err
    assert sandbox.status()["running"] is True  # untouched


def test_port_taken_is_a_clear_error(tmp_path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(sandbox.SandboxError, match=rf"TCP port 127.0.0.1:{port} \(ami.port\)"):
            sandbox._check_port_free("127.0.0.1", port, socket.SOCK_STREAM, "ami.port")


def test_not_root_is_a_one_line_error(monkeypatch, capsys) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert main(["sandbox", "up"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("contactcenter: ") and "root" in err and err.count("\n") == 1


def test_no_debootstrap_and_no_apt_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(sandbox.SandboxError, match="debootstrap is missing"):
        sandbox._ensure_debootstrap()


def test_down_stops_asterisk_and_unmounts_then_up_again(asterisk, test_config: Config) -> None:
    root = Path(asterisk.root)
    assert sandbox._mounted(root / "proc") and sandbox._mounted(root / "dev")
    pid = asterisk.pid
    assert sandbox.down(log=lambda *_: None) is True
    assert not sandbox._alive(pid)
    assert not sandbox._mounted(root / "proc") and not sandbox._mounted(root / "dev")
    assert sandbox.status()["running"] is False
    # Up again for the rest of the session: cached chroot, same observer credentials.
    state = sandbox.up(test_config, log=lambda *_: None)
    assert state.build_seconds is None
    assert (state.observer_username, state.observer_secret) == (
        asterisk.observer_username,
        asterisk.observer_secret,
    )
    asterisk.pid = state.pid


def test_bad_config_file_exits_2_naming_field_and_value(tmp_path, capsys) -> None:
    data = yaml.safe_load(Path("config/010.yaml").read_text())
    data["sip"]["port"] = 70000
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    assert main(["sandbox", "up", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: sip.port" in err and "70000" in err and "Traceback" not in err


def test_down_when_core_stop_hangs_falls_back_to_terminating_asterisk(
    asterisk, test_config: Config, monkeypatch
) -> None:
    # `core stop now` can hang (on channels that never go away); made to time out here on
    # demand. `down` must still stop Asterisk (TERM, then KILL), unmount, and not raise.
    monkeypatch.setenv("CC_STOP_TIMEOUT", "0.001")
    pid, said = asterisk.pid, []
    assert sandbox.down(log=said.append) is True
    assert not sandbox._alive(pid)
    assert any("did not stop on `core stop now`" in line for line in said)
    assert sandbox.status()["running"] is False
    monkeypatch.delenv("CC_STOP_TIMEOUT")
    asterisk.pid = sandbox.up(test_config, log=lambda *_: None).pid  # for the rest of the session
