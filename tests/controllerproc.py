# `contactcenter run` as its own process, for tests that start, stop or kill it: started
# with the given configuration, returned once it logs that it is ready; and `Controllers`,
# for tests that kill one and start the next.
from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path


async def run_controller(
    config: Path, ready_within: float = 20, own_session: bool = False
) -> asyncio.subprocess.Process:
    """The controller's process, its output (stdout and stderr) on `proc.stdout`.
    `own_session`: as a service runs (systemd gives each its own cgroup), so the kernel
    shares the CPUs between it and the load's processes as groups (autogroup), not thread
    by thread with them."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "contactcenter.cli",
        "run",
        "--config",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=own_session,
    )
    assert proc.stdout is not None
    async with asyncio.timeout(ready_within):
        while b"controller ready" not in (line := await proc.stdout.readline()):
            assert line, "the controller exited before it was ready"
    return proc


class Controllers:
    """The controller processes a test starts, kills and starts again, with one config:
    each one's output is read as it comes (a full pipe would stall it) and, if the test
    fails, printed; whatever still runs at the end is stopped (SIGTERM, by its pid)."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.procs: list[asyncio.subprocess.Process] = []
        self._output: list[asyncio.Task[bytes]] = []

    async def start(self) -> asyncio.subprocess.Process:
        proc = await run_controller(self.config)
        assert proc.stdout is not None
        self._output.append(asyncio.get_running_loop().create_task(proc.stdout.read()))
        self.procs.append(proc)
        return proc

    async def kill(self) -> None:
        """SIGKILL the newest one: no goodbye, nothing flushed."""
        proc = self.procs[-1]
        proc.kill()
        await proc.wait()
        assert proc.returncode == -signal.SIGKILL

    async def __aenter__(self) -> Controllers:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            await asyncio.wait_for(proc.wait(), 15)
        for output in self._output:
            text = (await asyncio.wait_for(output, 15)).decode(errors="replace")
            if kind is not None:  # (what each one said, for the failure's report)
                print(f"--- a controller's output:\n{text[-6000:]}")
