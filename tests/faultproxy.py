# A fault-injecting TCP proxy for the AMI link: sits between the controller and the real
# Asterisk on loopback and, on command, freezes (a half-open link: sockets stay open,
# nothing flows), swallows what the client sends, or cuts every connection; and it can
# forward what Asterisk sends `split` bytes at a time, each piece its own write, `gap_s`
# apart (a slow link that cuts frames, and UTF-8 characters, anywhere). It records what
# each client connection sent, so a test can prove an action was never re-sent.
from __future__ import annotations

import asyncio
import contextlib


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.frozen = False  # nothing flows either way
        self.swallow = False  # client -> server bytes are recorded but not forwarded
        self.refuse = False  # new connections are accepted and closed at once
        self.split = 0  # > 0: server -> client bytes forwarded this many at a time
        self.gap_s = 0.0  # between those pieces
        self.pieces = 0  # server -> client writes made
        self.sent_by_client: list[bytearray] = []  # one per accepted connection
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def cut(self) -> None:
        """Close every proxied connection (both sides), as a network failure would."""
        for w in list(self._writers):
            with contextlib.suppress(Exception):
                w.transport.abort()
        self._writers.clear()

    @property
    def connections(self) -> int:
        return len(self.sent_by_client)

    async def _accept(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        if self.refuse:
            c_writer.transport.abort()
            return
        try:
            s_reader, s_writer = await asyncio.open_connection(*self.target)
        except OSError:
            c_writer.transport.abort()
            return
        record = bytearray()
        self.sent_by_client.append(record)
        self._writers.update({c_writer, s_writer})
        for coro in (
            self._pump(c_reader, s_writer, record, upstream=True),
            self._pump(s_reader, c_writer, None, upstream=False),
        ):
            task = asyncio.get_running_loop().create_task(coro)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        record: bytearray | None,
        upstream: bool,
    ) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                while self.frozen:
                    await asyncio.sleep(0.02)
                if record is not None:
                    record += data
                if upstream and self.swallow:
                    continue
                step = len(data) if upstream or self.split <= 0 else self.split
                for at in range(0, len(data), step):
                    writer.write(data[at : at + step])
                    await writer.drain()
                    if not upstream:
                        self.pieces += 1
                        if self.split > 0:
                            await asyncio.sleep(self.gap_s)
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.transport.abort()
