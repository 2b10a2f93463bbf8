"""Prometheus metrics of a crawl (prometheus-client), served at `/metrics` when `metrics_port`
is set: requests, pages, bytes, errors by kind, statuses, retries, robots.txt denials, trap
drops, each proxy's outcomes, fetch latency and page size, and the queue's state.

It only counts what it is told (the writer, the request chain and the engine tell it); it
decides nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import final
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from crawler.errors import ErrorKind
from crawler.middleware import CallNext, OutgoingRequest
from crawler.models import FetchResult, Outcome, ProxyFigures

SECONDS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BYTES = (1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 10485760)


@final
class CrawlMetrics:
    """The metrics of one crawl, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "crawler_requests",
            "Page requests sent (each retry counts; robots.txt and sitemaps do not)",
            registry=registry,
        )  # fmt: skip
        self.pages = Counter("crawler_pages", "Records stored", registry=registry)
        self.bytes = Counter(
            "crawler_body_bytes", "Bytes of the bodies of the pages stored", registry=registry
        )
        self.errors = Counter(
            "crawler_errors", "Records stored with an error, by kind", ["kind"], registry=registry
        )
        self.responses = Counter(
            "crawler_responses", "Records stored with an answer, by status", ["status"],
            registry=registry,
        )  # fmt: skip
        self.retries = Counter(
            "crawler_retries", "Requests put back in the queue to be tried again",
            registry=registry,
        )  # fmt: skip
        self.robots_denied = Counter(
            "crawler_robots_denied", "URLs robots.txt disallowed (never requested)",
            registry=registry,
        )  # fmt: skip
        self.links_dropped = Counter(
            "crawler_links_dropped", "Discovered links a crawler-trap limit dropped, by limit",
            ["limit"], registry=registry,
        )  # fmt: skip
        self.fetch_seconds = Histogram(
            "crawler_fetch_seconds", "Time one request took, redirects included",
            buckets=SECONDS, registry=registry,
        )  # fmt: skip
        self.page_bytes = Histogram(
            "crawler_page_bytes", "Size of the pages stored (decompressed)", buckets=BYTES,
            registry=registry,
        )  # fmt: skip

    def stored(self, outcomes: Sequence[Outcome]) -> None:
        """Count a batch of records the store has just committed."""
        self.pages.inc(len(outcomes))
        for outcome in outcomes:
            record = outcome.record
            if record.status is not None:
                self.responses.labels(str(record.status)).inc()
                self.bytes.inc(record.size)
                self.page_bytes.observe(record.size)
            if record.error is not None:
                self.errors.labels(record.error).inc()
                if record.error == ErrorKind.ROBOTS:
                    self.robots_denied.inc()
            for limit, count in outcome.limits_hit.items():
                self.links_dropped.labels(limit).inc(count)

    def watch(
        self,
        *,
        queued: Callable[[], float],
        in_flight: Callable[[], float],
        active_hosts: Callable[[], float],
    ) -> None:
        """The queue's state, read when scraped."""
        for name, help_text, read in (
            ("queued", "Requests waiting, stored and in memory", queued),
            ("in_flight", "Requests being fetched", in_flight),
            ("active_hosts", "Hosts with a request being fetched", active_hosts),
        ):
            Gauge(f"crawler_{name}", help_text, registry=self.registry).set_function(read)

    def request_counter(self) -> CountRequests:
        """The request middleware that counts what goes out into these metrics."""
        return CountRequests(self)

    def watch_proxies(self, figures: Callable[[], Mapping[str, ProxyFigures]]) -> None:
        """Each proxy's requests, failures, bans and eviction, read when scraped."""
        self.registry.register(_ProxyCollector(figures))


@final
class CountRequests:
    """The innermost request middleware when metrics are on: every request that goes out."""

    def __init__(self, metrics: CrawlMetrics) -> None:
        self._metrics = metrics

    async def __call__(self, request: OutgoingRequest, call_next: CallNext, /) -> FetchResult:
        result = await call_next(request)
        self._metrics.requests.inc()
        self._metrics.fetch_seconds.observe(result.elapsed_ms / 1000)
        return result


@final
class _ProxyCollector(Collector):
    def __init__(self, figures: Callable[[], Mapping[str, ProxyFigures]]) -> None:
        self._figures = figures

    def collect(self) -> Iterator[Metric]:
        found = self._figures()
        for figure in ("requests", "failures", "bans"):
            family = CounterMetricFamily(
                f"crawler_proxy_{figure}", f"Proxy {figure}", labels=["proxy"]
            )
            for proxy, figures in found.items():
                family.add_metric([proxy], getattr(figures, figure))
            yield family
        evicted = GaugeMetricFamily("crawler_proxy_evicted", "1 if evicted", labels=["proxy"])
        for proxy, figures in found.items():
            evicted.add_metric([proxy], int(figures.evicted))
        yield evicted


@final
class MetricsServer:
    """`/metrics` over HTTP on `port` (all interfaces) until `close()`."""

    def __init__(self, metrics: CrawlMetrics, port: int) -> None:
        self._server: WSGIServer
        self._thread: threading.Thread
        self._server, self._thread = start_http_server(port, registry=metrics.registry)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
