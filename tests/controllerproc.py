# `contactcenter run` as its own process, for tests that start, stop or kill it: started
# with the given configuration, returned once it logs that it is ready.
from __future__ import annotations

import asyncio
import sys
from pathlib import Path


async def run_controller(config: Path, ready_within: float = 20) -> asyncio.subprocess.Process:
    """The controller's process, its output (stdout and stderr) on `proc.stdout`."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "contactcenter.cli",
        "run",
        "--config",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    async with asyncio.timeout(ready_within):
        while b"controller ready" not in (line := await proc.stdout.readline()):
            assert line, "the controller exited before it was ready"
    return proc
