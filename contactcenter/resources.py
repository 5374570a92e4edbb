# Files the engine ships beside its code: the Asterisk configuration (dialplans/), the default
# centre configuration (config/) and the simulator's scenarios (sim/scenarios/). Rules: every
# other module asks here, never builds a path from __file__ itself, so the same code finds
# them in a checkout (an editable install) and in an installed wheel.
#
# One mechanism for both: they live inside the package. In a checkout the package holds
# committed links to the card's top-level folders (contactcenter/dialplans -> ../dialplans,
# contactcenter/configs -> ../config, contactcenter/sim -> ../sim); a wheel build follows the
# links and installs them as the package data of the same names (pyproject.toml), so the
# paths below are the same in both and no top-level `dialplans`, `config` or `sim` is ever
# installed. Paths are returned resolved: in a checkout they name the card's own files
# (config/010.yaml, not contactcenter/configs/010.yaml), which is what messages should show.
from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent

DEFAULT_CONFIG_NAME = "010.yaml"


def dialplans_dir() -> Path:
    """The directory of Asterisk configuration templates (dialplans/*.conf)."""
    return (_PACKAGE / "dialplans").resolve()


def config_dir() -> Path:
    """The directory of shipped centre configurations (config/*.yaml)."""
    return (_PACKAGE / "configs").resolve()


def default_config() -> Path:
    """The centre configuration used when no --config is given: Barcelona's 010."""
    return config_dir() / DEFAULT_CONFIG_NAME


def scenarios_dir() -> Path:
    """The directory of shipped simulator scenarios (sim/scenarios/*.yaml)."""
    return (_PACKAGE / "sim" / "scenarios").resolve()


def scenario(name_or_path: str) -> Path:
    """A scenario file: an existing path as given, else a shipped scenario by name
    (`010-weekday` or `010-weekday.yaml`). A name that matches nothing is returned as the
    path it was, so the caller's reader reports it as missing."""
    path = Path(name_or_path)
    if path.exists() or path.parent != Path("."):
        return path
    shipped = scenarios_dir() / (name_or_path if name_or_path.endswith(".yaml") else f"{name_or_path}.yaml")
    return shipped if shipped.exists() else path


def shipped_scenarios() -> list[str]:
    """Names of the shipped scenarios, for help texts and errors."""
    return sorted(p.stem for p in scenarios_dir().glob("*.yaml"))
