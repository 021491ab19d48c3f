"""HTTP probes and metrics: ``/healthz`` (alive), ``/readyz`` (ready for work), ``/metrics``.

Liveness means the main loop is still turning (a heartbeat younger than a limit), so a wedged
consumer is restarted by Kubernetes; readiness means every dependency the service declared
(broker assignment, model loaded, database open) reports ready.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger(__name__)


class Health:
    """What the probes report; the service's loops update it.

    Liveness has two parts. The process beat says some loop of the service turned; each loop
    that names itself in :meth:`beat` is also watched on its own, because a service runs
    several (one per stage) and one of them stuck in a call while the others turn is a half
    service that would otherwise look alive for ever.
    """

    def __init__(self, liveness_timeout_s: float = 60.0) -> None:
        self.liveness_timeout_s = liveness_timeout_s
        self._beat = time.monotonic()
        self._loops: dict[str, float] = {}
        self._limits: dict[str, float] = {}  # loops with a limit of their own
        self._reported: set[str] = set()  # stuck loops already logged, once per episode
        self._checks: dict[str, Callable[[], bool]] = {}
        self._lock = threading.Lock()

    def beat(self, loop: str | None = None) -> None:
        """The loop turned: call it once per turn, so a loop that stops turning fails liveness
        ``liveness_timeout_s`` later, on /healthz and on gRPC health. A named ``loop`` is
        watched from its first beat until :meth:`forget`; work that takes long within one turn
        beats between its steps."""
        now = time.monotonic()
        self._beat = now
        if loop is not None:
            with self._lock:
                self._loops[loop] = now

    def allow(self, loop: str, timeout_s: float) -> None:
        """Give ``loop`` a limit of its own: one that runs only on idle cores may rightly go
        long without a turn on a busy node, and restarting it would not make it faster."""
        with self._lock:
            self._limits[loop] = timeout_s

    def forget(self, loop: str) -> None:
        """``loop`` ended on purpose: no longer watched."""
        with self._lock:
            self._loops.pop(loop, None)
            self._reported.discard(loop)

    def add_check(self, name: str, check: Callable[[], bool]) -> None:
        with self._lock:
            self._checks[name] = check

    def stuck(self) -> dict[str, float]:
        """Seconds since the last turn of every loop over the limit (``process`` for the
        process beat); empty while alive. Each loop found stuck is logged once."""
        now = time.monotonic()
        with self._lock:
            ages = {"process": now - self._beat, **{k: now - t for k, t in self._loops.items()}}
            stuck = {
                k: round(age, 1)
                for k, age in ages.items()
                if age >= self._limits.get(k, self.liveness_timeout_s)
            }
            newly = sorted(set(stuck) - self._reported)
            self._reported = set(stuck)
        for loop in newly:
            log.error(
                "loop stopped turning: liveness fails",
                extra={
                    "loop": loop,
                    "age_s": stuck[loop],
                    "limit_s": self._limits.get(loop, self.liveness_timeout_s),
                },
            )
        return stuck

    def alive(self) -> bool:
        return not self.stuck()

    def readiness(self) -> dict[str, bool]:
        with self._lock:
            checks = dict(self._checks)
        result = {}
        for name, check in checks.items():
            try:
                result[name] = bool(check())
            except Exception:
                result[name] = False
        return result

    def ready(self) -> bool:
        return self.alive() and all(self.readiness().values())


class CachedCheck:
    """A readiness check asked at most once per ``ttl_s``; between, its last answer.

    Probes arrive from kubelet, from gRPC health and from people with curl; a check that costs a
    round trip (is the broker there?) must not be paid for each of them. A check that raises
    counts as failing, and is cached as such.
    """

    def __init__(
        self,
        check: Callable[[], bool],
        ttl_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.check = check
        self.ttl_s = ttl_s
        self.clock = clock
        self._lock = threading.Lock()
        self._answer = False
        self._asked: float | None = None

    def __call__(self) -> bool:
        with self._lock:  # one probe at a time; the others wait for its answer
            now = self.clock()
            if self._asked is None or now - self._asked >= self.ttl_s:
                try:
                    self._answer = bool(self.check())
                except Exception as exc:
                    log.warning("readiness check failed", extra={"error": str(exc)})
                    self._answer = False
                self._asked = self.clock()
            return self._answer


def _handler_for(health: Health) -> type[BaseHTTPRequestHandler]:
    class ProbeHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                stuck = health.stuck()
                body: dict[str, object] = {"alive": not stuck}
                if stuck:
                    body["stuck_s"] = stuck  # which loop, and for how long
                self._reply(503 if stuck else 200, body)
            elif self.path == "/readyz":
                checks = health.readiness()
                ok = health.alive() and all(checks.values())
                self._reply(200 if ok else 503, {"ready": ok, "checks": checks})
            elif self.path == "/metrics":
                body = generate_latest()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE_LATEST)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self._reply(404, {"error": f"no such path {self.path}"})

        def _reply(self, status: int, payload: dict[str, object]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # probes every few seconds would drown the logs

    return ProbeHandler


class ProbeServer:
    """Serves the probes on a daemon thread; ``port`` is the bound port (useful with port 0)."""

    def __init__(self, health: Health, host: str, port: int) -> None:
        self._server = ThreadingHTTPServer((host, port), _handler_for(health))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> ProbeServer:
        self._thread.start()
        log.info("probes listening", extra={"http_port": self.port})
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
