"""The console's web server: uvicorn on a thread of its own, started and stopped with the
service like the gRPC servers of the other services."""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType

import uvicorn
from starlette.applications import Starlette

log = logging.getLogger(__name__)


class WebServer:
    def __init__(self, app: Starlette, host: str, port: int, grace_s: float = 5.0) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,  # the service's JSON logging stays in force
            access_log=False,
            proxy_headers=True,
            server_header=False,
            timeout_graceful_shutdown=int(grace_s),
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.host, self.port = host, port
        self._thread = threading.Thread(target=self.server.run, name="console-web", daemon=True)

    def alive(self) -> bool:
        return self._thread.is_alive() and self.server.started

    def __enter__(self) -> WebServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the console could not listen on {self.host}:{self.port}")
            time.sleep(0.05)
        log.info("console listening", extra={"host": self.host, "port": self.port})
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=15)
