# sandbox/credentials.py and `contactcenter sandbox secrets`: the sandbox's own secret files,
# made random and private on first use, never over what exists, never outside its directory.
# (Real files in a temporary cache directory: CC_CACHE_DIR.)
from __future__ import annotations

import copy
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from contactcenter import resources
from contactcenter.cli import main
from contactcenter.config import load_config, read_yaml, secret_file_fields
from contactcenter.sandbox import credentials


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CC_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "secrets"


def shipped_in(home: Path) -> dict[str, Any]:
    """The shipped centre with its secret files moved into `home`."""
    raw = copy.deepcopy(read_yaml(resources.default_config()))
    assert isinstance(raw, dict)
    for named in secret_file_fields(raw):
        holder: Any = raw
        for part in named.holder:
            holder = holder[part]
        holder[named.key] = str(home / Path(named.path).name)
    return raw


def test_the_shipped_centres_secret_files_are_made_private_and_random(home: Path, tmp_path: Path) -> None:
    raw = shipped_in(home)
    wanted = [Path(f.path) for f in secret_file_fields(raw)]
    assert len(wanted) == 2 + len(raw["web"]["tokens"])  # the AMI secret, MQTT's, each token
    assert credentials.provision(raw) == wanted
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    values = set()
    for path in wanted:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        text = path.read_text()
        assert text.endswith("\n") and len(text.strip()) == 32
        values.add(text)
    assert len(values) == len(wanted)  # each its own
    assert sorted(home.iterdir()) == sorted(wanted)  # no temporary file left behind
    # The centre loads with them: every secret is its file's.
    centre = tmp_path / "centre.yaml"
    centre.write_text(yaml.safe_dump(raw, allow_unicode=True))
    cfg = load_config(centre)
    assert cfg.ami.secret == wanted[0].read_text().strip()
    assert [t.token for t in cfg.web.tokens] == [p.read_text().strip() for p in wanted[2:]]
    assert [t.token_file for t in cfg.web.tokens] == [str(p) for p in wanted[2:]]


def test_existing_files_are_kept_and_a_second_run_makes_nothing(home: Path) -> None:
    raw = shipped_in(home)
    first = secret_file_fields(raw)[0]
    home.mkdir(parents=True)
    Path(first.path).write_text("the site's own secret, kept\n")
    made = credentials.provision(raw)
    assert Path(first.path) not in made and len(made) == len(secret_file_fields(raw)) - 1
    assert Path(first.path).read_text() == "the site's own secret, kept\n"
    before = {p: p.read_text() for p in home.iterdir()}
    assert credentials.provision(raw) == []
    assert {p: p.read_text() for p in home.iterdir()} == before


def test_nothing_is_made_outside_the_secrets_directory(home: Path, tmp_path: Path) -> None:
    raw = shipped_in(home)
    raw["ami"]["secret_file"] = str(tmp_path / "elsewhere" / "ami.secret")  # a site's own path
    raw["mqtt"]["password_file"] = f"{home}/../escaped.password"  # out through ..
    raw["web"]["tokens"][0]["token_file"] = "relative/token"
    made = credentials.provision(raw)
    assert len(made) == len(raw["web"]["tokens"]) - 1
    assert not (tmp_path / "elsewhere").exists() and not (home.parent / "escaped.password").exists()
    assert not Path("relative/token").exists()


def test_a_link_in_place_of_a_secret_file_is_never_written_through(home: Path, tmp_path: Path) -> None:
    raw = shipped_in(home)
    target = tmp_path / "target"  # (does not exist: a dangling link)
    home.mkdir(parents=True)
    os.symlink(target, raw["ami"]["secret_file"])
    made = credentials.provision(raw)
    assert Path(raw["ami"]["secret_file"]) not in made and not target.exists()


def test_the_cli_names_the_files_made_never_their_secrets(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    centre = tmp_path / "centre.yaml"
    centre.write_text(yaml.safe_dump(shipped_in(home), allow_unicode=True))
    assert main(["sandbox", "secrets", "--config", str(centre)]) == 0
    out = capsys.readouterr()
    files = sorted(home.iterdir())
    assert files and all(str(p) in out.err for p in files)
    assert not any(p.read_text().strip() in out.out + out.err for p in files)


def test_a_cache_that_cannot_hold_them_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("CC_CACHE_DIR", str(blocker))
    centre = tmp_path / "centre.yaml"
    centre.write_text(yaml.safe_dump(shipped_in(blocker / "secrets"), allow_unicode=True))
    assert main(["sandbox", "secrets", "--config", str(centre)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("contactcenter: ") and err.count("\n") == 1 and "secret files" in err
