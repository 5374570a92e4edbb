# The sandbox's own secrets: the AMI secret, MQTT password and web tokens a centre file
# reads from files (`ami.secret_file`, `mqtt.password_file`, `web.tokens[].token_file`)
# in the sandbox's secrets directory (<cache>/secrets) are made here, random, on first use.
# Rules:
# - Only files inside the secrets directory are ever made, and only missing ones: a file
#   named anywhere else is the site's own, and a missing one stays the config error it is
#   (production never gets a secret it did not set).
# - Each is made whole, mode 0600, in a directory of mode 0700, and linked into place
#   (never over a file that appeared meanwhile), so no other user can read it, nobody reads
#   half of one, and two commands provisioning at once both end with the same secret.
# - The values are never printed; what is said names the files.
from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from contactcenter.config import secret_file_fields

SECRET_BYTES = 24  # token_urlsafe(24): 32 characters, 192 bits


def secrets_dir() -> Path:
    from contactcenter.sandbox import cache_dir

    return cache_dir() / "secrets"


def _inside(path: Path, directory: Path) -> bool:
    return path.is_absolute() and os.path.normpath(path).startswith(os.path.normpath(directory) + os.sep)


def provision(raw: object) -> list[Path]:
    """Make the missing secret files `raw` names inside the sandbox's secrets directory;
    the paths made, in order."""
    home = secrets_dir()
    made: list[Path] = []
    for wanted in secret_file_fields(raw):
        path = Path(os.path.normpath(wanted.path))
        if not _inside(path, home) or path.exists():
            continue
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        home.chmod(0o700)  # (made by an older version, or by hand, with a wider mode)
        # Written whole under a temporary name, then linked into place: link() never
        # replaces a file, and nobody ever reads a half-written secret.
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        flags = (
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        )
        fd = os.open(tmp, flags, 0o600)
        try:
            with contextlib.closing(os.fdopen(fd, "w")) as f:
                f.write(secrets.token_urlsafe(SECRET_BYTES) + "\n")
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                continue  # another command made it first: theirs stands
        finally:
            tmp.unlink(missing_ok=True)
        made.append(path)
    return made
