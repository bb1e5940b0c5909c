"""Prometheus metrics, in a registry per app so that several apps in one process keep separate counts."""

from __future__ import annotations

import time
from collections.abc import Sequence

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import QA

UNMATCHED = "<unmatched>"
# The client hung up before any response was sent; nginx's code for it.
CLIENT_GONE = 499


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "rag_http_requests",
            "HTTP requests, by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "rag_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=self.registry,
        )
        self.ready = Gauge("rag_ready", "1 once the model and the index are loaded.", registry=self.registry)
        self.documents = Gauge("rag_documents_indexed", "Documents in the loaded index.", registry=self.registry)
        self.chunks = Gauge("rag_chunks_indexed", "Chunks in the loaded index.", registry=self.registry)
        self.model = Info("rag_model", "The embedding model the index was built with.", registry=self.registry)

    def loaded(self, pipeline: QA) -> None:
        self.documents.set(pipeline.document_count)
        self.chunks.set(pipeline.chunk_count)
        self.model.info({"name": pipeline.model_name})
        self.ready.set(1)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    content_type = CONTENT_TYPE_LATEST


def route_template(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The path template a request matches ("/documents/{doc_id}"), never the raw path: labels stay few."""
    for route in routes:
        path = getattr(route, "path", None)
        if not isinstance(path, str) or route.matches(scope)[0] is Match.NONE:
            continue
        return f"{path}/{{path}}" if isinstance(route, Mount) else path
    return UNMATCHED


class MetricsMiddleware:
    """Counts and times every HTTP request, the ones the auth and size guards turn away included.

    ``routes`` is a flat list of routes with a ``path``: requests are matched before they reach the
    router, since the guards answer some of them before any routing happens.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Before the app runs: routing rewrites the scope (a Mount moves "root_path").
        route = route_template(self.routes, scope)
        status = CLIENT_GONE
        started = time.perf_counter()

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        except Exception:
            status = 500
            raise
        finally:
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - started)
