# The controller's HTTP listener: one ASGI app (the web's, with /metrics), served by uvicorn
# inside the controller's own event loop. Rules:
# - It binds only `http.host`:`http.port`, and binds the socket itself before uvicorn sees
#   it: a port in use is then one clear UserError naming `http.port`, where uvicorn would
#   log and raise SystemExit inside a task (which an asyncio loop re-raises, ending the
#   process).
# - The process's signals are the controller's (run_forever): uvicorn installs none here.
#   It configures no logging either (log_config=None: the process's logging is the CLI's)
#   and logs no access lines; what it does log goes to the `uvicorn.error` logger.
# - Handlers run on the event loop, between two AMI events, like the observers: a route
#   that reads the core must be `async def` (Starlette runs plain functions in a thread,
#   where reading the engine would race the loop), and must be quick.
# - Malformed requests are uvicorn's and Starlette's to answer (400, 404, 405): logged by
#   them at most, never a crash of the controller.
from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator, Sequence

import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from contactcenter.config import HttpConfig
from contactcenter.errors import UserError

log = logging.getLogger("contactcenter.http")

BACKLOG = 128
# Seconds stop() waits for requests in progress before uvicorn cancels them.
GRACEFUL_STOP_S = 2


class _Server(uvicorn.Server):
    """uvicorn's server without its signal handlers: the controller owns the process's."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpListener:
    """An HTTP server for `app` (or a bare app of `routes`) on cfg.host:cfg.port, in the
    running event loop."""

    def __init__(self, cfg: HttpConfig, routes: Sequence[BaseRoute] = (), app: ASGIApp | None = None) -> None:
        self.cfg = cfg
        self.app: ASGIApp = app if app is not None else Starlette(routes=list(routes))
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The port it listens on (the one the system chose when cfg.port is 0)."""
        if self._port is None:
            raise RuntimeError("the HTTP listener is not started")
        return self._port

    async def start(self) -> None:
        """Listen; return once connections are accepted (UserError if the port is taken)."""
        if self._task is not None:
            raise RuntimeError("the HTTP listener is already started")
        sock = _bind(self.cfg.host, self.cfg.port)
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_config=None,
            log_level="warning",  # its start and stop are ours to log; problems still show
            access_log=False,
            lifespan="off",  # nothing to set up; and a failed lifespan would sys.exit()
            timeout_graceful_shutdown=GRACEFUL_STOP_S,
            server_header=False,
        )
        server = self._server = _Server(config)
        task = self._task = asyncio.get_running_loop().create_task(
            server.serve(sockets=[sock]), name="http-listener"
        )
        # uvicorn's startup only wraps the bound socket in an asyncio server; it is done
        # within a few loop turns, or the task ended with why.
        while not server.started and not task.done():
            await asyncio.sleep(0.005)
        if task.done():
            self._task = self._server = None
            sock.close()
            task.result()  # raises what stopped it
            raise RuntimeError("the HTTP listener stopped at start")
        log.debug("HTTP listening on %s:%d", self.cfg.host, self._port)

    async def stop(self) -> None:
        """Stop listening (the port is free when this returns) and end open connections."""
        server, task = self._server, self._task
        if server is None or task is None:
            return
        server.should_exit = True
        try:
            await task
        finally:
            self._server = self._task = None
            log.debug("HTTP listener on %s:%s stopped", self.cfg.host, self._port)


def _bind(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket bound to host:port, or a UserError naming the setting."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except OSError as exc:
        raise UserError(f"http.host {host}: not an address to listen on ({exc.strerror or exc})") from None
    sock = socket.socket(family, kind, proto)
    try:
        # A restarted controller rebinds at once, despite connections in TIME_WAIT (Linux
        # still refuses a port that another socket is listening on).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise UserError(
            f"http.port {port}: cannot listen on {host}:{port} ({exc.strerror or exc});"
            " is another controller running, or is the port taken?"
        ) from None
    sock.setblocking(False)
    return sock
