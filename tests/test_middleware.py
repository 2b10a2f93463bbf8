"""The middleware chain: order, changing the request, answering without the network."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from crawler import CallNext, Config, Engine, FetchResult, Middleware, OutgoingRequest
from crawler.config import RetryPolicy
from crawler.middleware import DefaultHeaders, Retry, chain
from crawler.models import CrawlRequest
from crawler.store import open_storage
from crawler.urls import parse_absolute
from tests.conftest import SiteFactory, link_page


class Trace:
    """Notes when the request goes in and the result comes out."""

    def __init__(self, name: str, log: list[str]) -> None:
        self._name = name
        self._log = log

    async def __call__(self, request: OutgoingRequest, call_next: CallNext, /) -> FetchResult:
        self._log.append(f"{self._name}>")
        result = await call_next(request)
        self._log.append(f"<{self._name}")
        return result


class Forbid:
    """Answers for URLs containing `word` itself, with an error kind of the user's choosing."""

    def __init__(self, word: str) -> None:
        self._word = word

    async def __call__(self, request: OutgoingRequest, call_next: CallNext, /) -> FetchResult:
        if self._word in request.url:
            return FetchResult.failed(request.crawl, "forbidden_by_policy")
        return await call_next(request)


async def test_middlewares_run_in_list_order_around_the_send() -> None:
    log: list[str] = []
    request = OutgoingRequest(CrawlRequest("http://h.test/", "h.test", 0))

    async def send(sent: OutgoingRequest) -> FetchResult:
        log.append("send")
        return FetchResult.failed(sent.crawl, "none")

    await chain([Trace("a", log), Trace("b", log)], send)(request)

    assert log == ["a>", "b>", "send", "<b", "<a"]


async def test_middlewares_change_requests_and_answer_for_the_network(
    tmp_path: Path, serve_site: SiteFactory
) -> None:
    seen_headers: list[str | None] = []

    async def page(request: web.Request) -> web.Response:
        seen_headers.append(request.headers.get("X-Team"))
        return web.Response(text="ok", content_type="text/html")

    site = await serve_site(0, routes={"/hub": link_page("/open", "/private"), "/open": page})
    config = Config(db=tmp_path / "crawl.db", progress=False)
    storage = await open_storage(config.db)
    middlewares: list[Middleware] = [DefaultHeaders({"X-Team": "search"}), Forbid("/private")]
    target = parse_absolute(site.url("/hub"))
    assert target is not None

    await Engine(config, storage, middlewares=middlewares).run([target])
    records = {
        r.url.removeprefix(site.origin): r for r in [r async for r in storage.iter_records()]
    }
    await storage.close()

    assert seen_headers == ["search"]
    assert (records["/private"].status, records["/private"].error) == (None, "forbidden_by_policy")
    assert "/private" not in site.hits
    assert records["/open"].status == 200


async def test_the_retry_middleware_marks_retryable_results_with_a_wait() -> None:
    retry = Retry(RetryPolicy(retries=2, retry_statuses=(503,), retry_max_wait=60))
    request = OutgoingRequest(CrawlRequest("http://h.test/", "h.test", 0))

    def answer(status: int, retry_after: str | None = None) -> CallNext:
        async def send(sent: OutgoingRequest) -> FetchResult:
            return FetchResult(
                sent.crawl, sent.url, status, None, b"", "http", "", 0, retry_after=retry_after
            )

        return send

    unavailable = await retry(request, answer(503, retry_after="7"))
    missing = await retry(request, answer(404))

    assert unavailable.retry_in == 7
    assert missing.retry_in is None
