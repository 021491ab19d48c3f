"""Separate thread pools for unary calls, long-lived streams and health checks.

A synchronous gRPC server holds one thread for the whole life of a call, so a server with one
pool is starved by its streams: eight open ``WatchAlerts`` once took every worker, and with
them every other call and the health check Kubernetes restarts the pod on. Here each call runs
in the pool of its kind, chosen per method through the handler's ``experimental_thread_pool``
attribute (grpcio's per-method pools):

- health (``grpc.health.v1``): a small pool of its own, which nothing else can fill;
- any streaming method: a pool of ``max_streams`` threads; a stream beyond it is refused at
  once with ``RESOURCE_EXHAUSTED`` rather than queued behind the others;
- every other call: the server's default pool.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc

HEALTH_PREFIX = "/grpc.health.v1.Health/"
HEALTH_WORKERS = 2  # checks answer from memory: two threads never wait on anything

_refusing = threading.local()


def _refused() -> bool:
    return bool(getattr(_refusing, "active", False))


class StreamPool(futures.ThreadPoolExecutor):
    """At most ``max_streams`` streams at once, never queued: one more runs in ``overflow``
    with a flag that makes its behaviour refuse the call before it starts.

    The slot is taken when gRPC submits the call and given back when the pooled work ends,
    however it ends (finished, cancelled, failed, or never started by gRPC at all).
    """

    def __init__(self, max_streams: int, overflow: futures.Executor) -> None:
        super().__init__(max_workers=max_streams, thread_name_prefix="grpc-stream")
        self.max_streams = max_streams
        self._slots = threading.BoundedSemaphore(max_streams)
        self._overflow = overflow
        self._lock = threading.Lock()
        self.active = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> futures.Future[Any]:
        if not self._slots.acquire(blocking=False):
            return self._overflow.submit(_run_refusing, fn, *args, **kwargs)
        with self._lock:
            self.active += 1
        try:
            return super().submit(self._run_in_slot, fn, *args, **kwargs)
        except BaseException:
            self._release()
            raise

    def _run_in_slot(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        finally:
            self._release()

    def _release(self) -> None:
        with self._lock:
            self.active -= 1
        self._slots.release()


def _run_refusing(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    _refusing.active = True
    try:
        return fn(*args, **kwargs)
    finally:
        _refusing.active = False


def _in_pool(behaviour: Callable[..., Any], pool: futures.ThreadPoolExecutor) -> Callable[..., Any]:
    """``behaviour`` with the pool gRPC should run it in (and its non-blocking mark, if any)."""

    def pooled(*args: Any, **kwargs: Any) -> Any:
        return behaviour(*args, **kwargs)

    pooled.experimental_thread_pool = pool  # type: ignore[attr-defined]
    non_blocking = getattr(behaviour, "experimental_non_blocking", None)
    if non_blocking is not None:
        pooled.experimental_non_blocking = non_blocking  # type: ignore[attr-defined]
    return pooled


def _bounded(behaviour: Callable[..., Any], pool: StreamPool) -> Callable[..., Any]:
    """A streaming behaviour that refuses the call when it runs as the pool's overflow."""

    def guarded(request: Any, context: grpc.ServicerContext) -> Any:
        if _refused():
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"this server already serves {pool.max_streams} streams; try again later",
            )
        return behaviour(request, context)

    return _in_pool(guarded, pool)


_FACTORIES = {
    (False, False): ("unary_unary", grpc.unary_unary_rpc_method_handler),
    (False, True): ("unary_stream", grpc.unary_stream_rpc_method_handler),
    (True, False): ("stream_unary", grpc.stream_unary_rpc_method_handler),
    (True, True): ("stream_stream", grpc.stream_stream_rpc_method_handler),
}


def _rebuilt(
    handler: grpc.RpcMethodHandler, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]
) -> grpc.RpcMethodHandler:
    field, factory = _FACTORIES[(handler.request_streaming, handler.response_streaming)]
    return factory(
        wrap(getattr(handler, field)),
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


class PoolRouter(grpc.ServerInterceptor):
    """Sends each call to the pool of its kind (see the module's docstring)."""

    def __init__(self, health_pool: futures.ThreadPoolExecutor, streams: StreamPool) -> None:
        self.health_pool = health_pool
        self.streams = streams

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        if handler_call_details.method.startswith(HEALTH_PREFIX):
            return _rebuilt(handler, lambda b: _in_pool(b, self.health_pool))
        if handler.request_streaming or handler.response_streaming:
            return _rebuilt(handler, lambda b: _bounded(b, self.streams))
        return handler


class ServerPools:
    """The three pools of one server, shut down together after the server has stopped."""

    def __init__(self, max_workers: int, max_streams: int) -> None:
        self.unary = futures.ThreadPoolExecutor(max_workers, thread_name_prefix="grpc-unary")
        self.health = futures.ThreadPoolExecutor(HEALTH_WORKERS, thread_name_prefix="grpc-health")
        self.streams = StreamPool(max_streams, self.unary)
        self.router = PoolRouter(self.health, self.streams)

    def shutdown(self) -> None:
        for pool in (self.streams, self.health, self.unary):
            with contextlib.suppress(RuntimeError):
                pool.shutdown(wait=False, cancel_futures=True)
