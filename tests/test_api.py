"""The library API against a real local shop: routes, items, requests, pipelines, hooks."""

from __future__ import annotations

import asyncio
import datetime
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pydantic
import pytest
from aiohttp import web

from crawler import (
    Config,
    Crawler,
    CrawlSummary,
    OutgoingRequest,
    Page,
    PageError,
    Request,
    Router,
    StoredItem,
    read_items,
)
from crawler.errors import SeedError
from crawler.middleware import CallNext
from crawler.models import FetchResult
from crawler.router import glob_pattern
from crawler.store.sqlite import SqliteStorage
from tests.conftest import Handler, SiteFactory, start_app

PRODUCTS_PER_PAGE = 3
CATALOG_PAGES = 3


@dataclass
class Shop:
    """A shop on loopback: / links to the catalogue; catalogue pages list products and link
    to the next page; /search answers POSTs with what it received."""

    origin: str = ""
    hits: list[str] = field(default_factory=list)
    posts: list[tuple[str, str, str]] = field(default_factory=list)  # body, header, type

    def url(self, path: str) -> str:
        return f"{self.origin}{path}"


def html(body: str) -> web.Response:
    return web.Response(
        text=f"<!doctype html><html><body>{body}</body></html>", content_type="text/html"
    )


def shop_app(shop: Shop) -> web.Application:
    async def home(_: web.Request) -> web.Response:
        return html('<nav><a href="/catalog/1">Catalogue</a> <a href="/about">About</a></nav>')

    async def about(_: web.Request) -> web.Response:
        return html('<p>About us</p><a href="/catalog/1">again</a>')

    async def catalog(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        first = (n - 1) * PRODUCTS_PER_PAGE + 1
        products = "".join(
            f'<li class="product"><a href="/product/{p}">P{p}</a></li>'
            for p in range(first, first + PRODUCTS_PER_PAGE)
        )
        more = f'<a class="next" href="/catalog/{n + 1}">next</a>' if n < CATALOG_PAGES else ""
        return html(f"<ul>{products}</ul>{more}<a rel=nofollow href=/secret>s</a>")

    async def product(request: web.Request) -> web.Response:
        n = request.match_info["n"]
        return html(f'<h1> Product {n} </h1><p class="price">{n}.50</p><a href="/about">a</a>')

    async def search(request: web.Request) -> web.Response:
        shop.posts.append(
            (await request.text(), request.headers.get("X-Token", ""), request.content_type)
        )
        return web.json_response({"results": [1, 2]})

    async def moved(_: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("/new")

    async def latin1(_: web.Request) -> web.Response:
        text = '<html><head><base href="/docs/"></head><body><p>café</p><a href="guide">g</a>'
        return web.Response(
            body=text.encode("latin-1"), headers={"Content-Type": "text/html; charset=iso-8859-1"}
        )

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != "/robots.txt":
            shop.hits.append(f"{request.method} {request.path_qs}")
        return await handler(request)

    app = web.Application(middlewares=[record])
    app.router.add_get("/", home)
    app.router.add_get("/about", about)
    app.router.add_get(r"/catalog/{n:\d+}", catalog)
    app.router.add_get(r"/product/{n:\d+}", product)
    app.router.add_post("/search", search)
    app.router.add_get("/old", moved)
    app.router.add_get("/new", latin1)
    return app


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    shop = Shop()
    runner, port = await start_app(shop_app(shop))
    shop.origin = f"http://127.0.0.1:{port}"
    yield shop
    await runner.cleanup()


def config(tmp_path: Path, **settings: object) -> Config:
    return Config(db=tmp_path / "crawl.db", progress=False, **settings)  # type: ignore[arg-type]


def shop_crawler(tmp_path: Path, **settings: object) -> Crawler:
    """The issue's example: products by glob, everything else follows the listing links."""
    crawler = Crawler(config(tmp_path, **settings))

    @crawler.route("http://*/product/*")
    async def product(page: Page) -> AsyncIterator[dict[str, object]]:
        name, price = page.css_first("h1"), page.css_first(".price")
        assert name is not None
        assert price is not None
        yield {"name": name.text(strip=True), "price": price.text()}

    @crawler.route()
    async def everything_else(page: Page) -> AsyncIterator[Request]:
        for link in page.links("a.next, nav a, li.product a"):
            yield page.follow(link, priority=1)

    return crawler


async def items_of(db: Path) -> list[StoredItem]:
    return [item async for item in read_items(db)]


async def test_routes_yield_items_stored_with_their_page_and_handler(
    tmp_path: Path, shop: Shop
) -> None:
    crawler = shop_crawler(tmp_path)

    summary = await crawler.crawl([shop.url("/")])

    items = await items_of(tmp_path / "crawl.db")
    products = CATALOG_PAGES * PRODUCTS_PER_PAGE
    assert summary.reason == "finished"
    assert sorted((i.url, i.handler, i.data["name"]) for i in items) == sorted(
        (shop.url(f"/product/{n}"), "product", f"Product {n}") for n in range(1, products + 1)
    )
    assert {i.data["price"] for i in items} == {f"{n}.50" for n in range(1, products + 1)}
    # the product handler follows nothing, the default one only what it selects
    assert "GET /about" in shop.hits  # from nav
    assert "GET /secret" not in shop.hits


async def test_globs_match_the_whole_url_and_regexes_search_it() -> None:
    pattern = glob_pattern("http://*/product/*")

    assert pattern.match("http://shop.test/product/1")
    assert not pattern.match("http://shop.test/product/1/reviews")
    assert not pattern.match("http://shop.test/x/product/1")
    assert glob_pattern("**/product/**").match("https://a.test/x/product/1/reviews")
    assert glob_pattern("http://a.test/search?q=*").match("http://a.test/search?q=tea")
    assert not glob_pattern("http://a.test/search?q=*").match("http://a.test/searchXq=tea")


async def test_first_matching_route_wins_and_unmatched_pages_follow_nothing(
    tmp_path: Path, shop: Shop
) -> None:
    crawler = Crawler(config(tmp_path))
    seen: list[tuple[str, str]] = []

    @crawler.route(re.compile(r"/catalog/\d+$"))
    async def listing(page: Page) -> AsyncIterator[Request]:
        seen.append(("listing", page.url))
        for link in page.links("a.next"):
            yield page.follow(link)

    @crawler.route("**/catalog/**")
    async def never(page: Page) -> None:
        seen.append(("never", page.url))

    await crawler.crawl([shop.url("/"), shop.url("/catalog/1")])

    assert seen == [("listing", shop.url(f"/catalog/{n}")) for n in (1, 2, 3)]
    assert "GET /about" not in shop.hits  # "/" matched no route and there is no default


async def test_a_crawler_without_routes_follows_links_like_the_cli(
    tmp_path: Path, shop: Shop
) -> None:
    summary = await Crawler(config(tmp_path)).crawl(shop.url("/"))

    assert summary.pages == 1 + 1 + CATALOG_PAGES + CATALOG_PAGES * PRODUCTS_PER_PAGE
    assert "GET /secret" not in shop.hits  # rel=nofollow obeyed


async def test_a_failing_handler_records_the_page_as_handler_and_keeps_what_it_yielded(
    tmp_path: Path, shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    crawler = Crawler(config(tmp_path))
    errors: list[PageError] = []

    @crawler.route("**/catalog/2")
    async def broken(page: Page) -> AsyncIterator[object]:
        yield {"partial": True}
        yield page.follow("/catalog/3")
        raise RuntimeError("the layout changed")

    @crawler.route()
    async def other(page: Page) -> AsyncIterator[Request]:
        for link in page.links("a.next, nav a"):
            yield page.follow(link)

    crawler.on_error(_append_to(errors))

    summary = await crawler.crawl([shop.url("/")])

    records = await _records(tmp_path)
    assert records[shop.url("/catalog/2")]["error"] == "handler"
    assert records[shop.url("/catalog/2")]["status"] == 200
    assert shop.url("/catalog/3") in records  # followed before the failure
    assert [i.data for i in await items_of(tmp_path / "crawl.db")] == [{"partial": True}]
    assert [(e.url, e.kind, type(e.exception)) for e in errors] == [
        (shop.url("/catalog/2"), "handler", RuntimeError)
    ]
    assert "handler broken failed on" in caplog.text
    assert "the layout changed" in caplog.text
    assert summary.reason == "finished"


async def test_pipelines_run_in_order_transform_and_drop(tmp_path: Path, shop: Shop) -> None:
    crawler = shop_crawler(tmp_path)
    calls: list[str] = []

    @crawler.pipeline
    async def to_number(item: dict[str, object], page: Page) -> dict[str, object]:
        calls.append("to_number")
        return {**item, "price": float(str(item["price"])), "page": page.url}

    @crawler.pipeline
    async def only_cheap(item: dict[str, object], page: Page) -> dict[str, object] | None:
        calls.append("only_cheap")
        assert isinstance(item["price"], float)  # the first pipeline ran before
        return item if item["price"] < 3 else None

    await crawler.crawl([shop.url("/")])

    items = await items_of(tmp_path / "crawl.db")
    assert sorted(i.data["price"] for i in items) == [1.5, 2.5]  # type: ignore[type-var]
    assert all(i.data["page"] == i.url for i in items)
    assert calls[:2] == ["to_number", "only_cheap"]


async def test_a_failing_pipeline_is_a_handler_error_of_that_page(
    tmp_path: Path, shop: Shop
) -> None:
    crawler = shop_crawler(tmp_path)

    @crawler.pipeline
    async def strict(item: dict[str, object], page: Page) -> dict[str, object]:
        if page.url.endswith("/product/4"):
            raise ValueError("bad price")
        return item

    summary = await crawler.crawl([shop.url("/")])

    records = await _records(tmp_path)
    assert records[shop.url("/product/4")]["error"] == "handler"
    assert len(await items_of(tmp_path / "crawl.db")) == CATALOG_PAGES * PRODUCTS_PER_PAGE - 1
    assert summary.errors == 1


async def test_hooks_run_at_start_for_each_page_on_errors_and_at_finish(
    tmp_path: Path, shop: Shop
) -> None:
    events: list[str] = []
    crawler = Crawler(config(tmp_path, max_depth=1))

    @crawler.on_start
    async def started() -> None:
        events.append("start")

    @crawler.on_page
    async def each_page(page: Page) -> None:
        events.append(f"page {page.url.removeprefix(shop.origin)} {page.status} {page.depth}")

    @crawler.on_error
    async def failed(error: PageError) -> None:
        events.append(f"error {error.url.removeprefix(shop.origin)} {error.kind} {error.status}")

    @crawler.on_finish
    async def finished(summary: CrawlSummary) -> None:
        events.append(f"finish {summary.reason} {summary.pages}")

    await crawler.crawl([shop.url("/"), shop.url("/missing")])

    assert events[0] == "start"
    assert events[-1] == "finish finished 4"
    assert sorted(events[1:-1]) == [
        "error /missing http 404",
        "page / 200 0",
        "page /about 200 1",
        "page /catalog/1 200 1",
    ]


async def test_requests_carry_method_headers_json_meta_and_handler(
    tmp_path: Path, shop: Shop
) -> None:
    crawler = Crawler(config(tmp_path))
    answers: list[tuple[object, dict[str, object], str]] = []

    @crawler.route("**/")
    async def home(page: Page) -> AsyncIterator[Request]:
        yield page.follow(
            "/search",
            method="POST",
            json={"q": "tea"},
            headers={"X-Token": "secret"},
            meta={"query": "tea", "n": 1},
            handler="results",
        )

    @crawler.route(name="results")
    async def search_results(page: Page) -> None:
        answers.append((page.json(), page.meta, page.headers["content-type"]))

    await crawler.crawl([shop.url("/")])

    assert shop.posts == [('{"q": "tea"}', "secret", "application/json")]
    assert answers == [
        ({"results": [1, 2]}, {"query": "tea", "n": 1}, "application/json; charset=utf-8")
    ]
    records = await _records(tmp_path)
    assert records[shop.url("/search")]["status"] == 200


async def test_priority_goes_first_within_a_host(tmp_path: Path, shop: Shop) -> None:
    crawler = Crawler(config(tmp_path, concurrency=1, per_host=1))

    @crawler.route("**/")
    async def home(page: Page) -> AsyncIterator[Request]:
        yield page.follow("/product/1")
        yield page.follow("/product/2", priority=5)
        yield page.follow("/product/3", priority=-1)
        yield page.follow("/product/4")

    @crawler.route()
    async def leaf(page: Page) -> None:
        return None

    await crawler.crawl([shop.url("/")])

    assert shop.hits == ["GET /", *(f"GET /product/{n}" for n in (2, 1, 4, 3))]


async def test_duplicates_are_dropped_unless_dont_filter(tmp_path: Path, shop: Shop) -> None:
    crawler = Crawler(config(tmp_path))

    @crawler.route("**/")
    async def home(page: Page) -> AsyncIterator[Request]:
        yield page.follow("/about")
        yield page.follow("/about")
        yield page.follow("/about", dont_filter=True)
        yield page.follow("/", dont_filter=True, handler="leaf")

    @crawler.route(name="leaf")
    async def leaf(page: Page) -> None:
        return None

    await crawler.crawl([shop.url("/")])

    assert sorted(shop.hits) == ["GET /", "GET /", "GET /about", "GET /about"]


async def test_plain_async_handlers_may_return_one_value_or_a_list(
    tmp_path: Path, shop: Shop
) -> None:
    crawler = Crawler(config(tmp_path))

    @crawler.route("**/")
    async def home(page: Page) -> list[object]:
        return [page.follow("/about"), {"home": True}]

    @crawler.route("**/about")
    async def about(page: Page) -> dict[str, object]:
        return {"about": page.css_first("p").text()}  # type: ignore[union-attr]

    await crawler.crawl([shop.url("/")])

    assert [i.data for i in await items_of(tmp_path / "crawl.db")] == [
        {"home": True},
        {"about": "About us"},
    ]


@dataclass
class Price:
    amount: float
    currency: str = "EUR"


@dataclass
class Product:
    name: str
    price: Price
    tags: frozenset[str] = frozenset()


async def test_dataclass_items_are_stored_as_objects_and_other_values_are_handler_errors(
    tmp_path: Path, shop: Shop
) -> None:
    crawler = Crawler(config(tmp_path))

    @crawler.route("**/")
    async def home(page: Page) -> AsyncIterator[object]:
        yield Product("tea", Price(2.5), frozenset({"b", "a"}))
        yield page.follow("/about")

    @crawler.route("**/about")
    async def about(page: Page) -> AsyncIterator[object]:
        yield "http://not-a-follow/"

    await crawler.crawl([shop.url("/")])

    items = await items_of(tmp_path / "crawl.db")
    assert [i.data for i in items] == [
        {"name": "tea", "price": {"amount": 2.5, "currency": "EUR"}, "tags": ["a", "b"]}
    ]
    assert (await _records(tmp_path))[shop.url("/about")]["error"] == "handler"


class Review(pydantic.BaseModel):
    stars: int
    when: datetime.date


async def test_pydantic_models_are_stored_as_their_json(tmp_path: Path, shop: Shop) -> None:
    crawler = Crawler(config(tmp_path, max_depth=0))

    @crawler.route()
    async def home(page: Page) -> AsyncIterator[Review]:
        yield Review(stars=5, when=datetime.date(2026, 11, 25))

    await crawler.crawl([shop.url("/")])

    items = await items_of(tmp_path / "crawl.db")
    assert [i.data for i in items] == [{"stars": 5, "when": "2026-11-25"}]


async def test_page_links_are_canonical_in_scope_and_obey_nofollow(
    tmp_path: Path, shop: Shop
) -> None:
    crawler = Crawler(config(tmp_path))
    found: list[list[str]] = []

    @crawler.route("**/catalog/1")
    async def listing(page: Page) -> None:
        found.append(page.links())
        found.append(page.links("a.next"))

    @crawler.route("**/")
    async def home(page: Page) -> AsyncIterator[Request]:
        yield page.follow("catalog/1?")  # relative, spelled oddly
        yield page.follow("http://elsewhere.test/")  # out of scope: dropped
        yield page.follow("mailto:someone@example.com")  # not http(s): dropped

    await crawler.crawl([shop.url("/")])

    products = [shop.url(f"/product/{n}") for n in range(1, PRODUCTS_PER_PAGE + 1)]
    assert found == [[*products, shop.url("/catalog/2")], [shop.url("/catalog/2")]]
    assert shop.hits == ["GET /", "GET /catalog/1"]


async def test_the_page_is_the_final_response_decoded_with_its_base_for_links(
    tmp_path: Path, shop: Shop
) -> None:
    crawler = Crawler(config(tmp_path, max_depth=0))
    pages: list[tuple[object, ...]] = []

    @crawler.route("**/new")
    async def new(page: Page) -> None:
        paragraph = page.css_first("p")
        pages.append(
            (
                page.url,
                page.final_url,
                page.status,
                "café" in page.text,
                page.body.count(b"caf\xe9"),
                paragraph.text() if paragraph else None,
                page.links(),
                page.follow("guide").url,
                page.depth,
            )
        )

    await crawler.crawl([shop.url("/old")])

    guide = shop.url("/docs/guide")
    assert pages == [(shop.url("/old"), shop.url("/new"), 200, True, 1, "café", [guide], guide, 0)]


async def test_user_middlewares_join_the_request_chain(tmp_path: Path, shop: Shop) -> None:
    crawler = Crawler(config(tmp_path, max_depth=0))
    sent: list[str] = []

    @crawler.use
    async def tag(request: OutgoingRequest, call_next: CallNext) -> FetchResult:
        sent.append(request.url)
        return await call_next(request.with_headers({"X-Token": "from-middleware"}))

    @crawler.route()
    async def any_page(page: Page) -> None:
        return None

    await crawler.crawl([Request(shop.url("/search"), method="POST", body="x")])

    assert sent == [shop.url("/search")]
    assert shop.posts == [("x", "from-middleware", "application/octet-stream")]


async def test_a_rerun_adds_no_item_twice(tmp_path: Path, shop: Shop) -> None:
    await shop_crawler(tmp_path).crawl([shop.url("/")])
    hits = len(shop.hits)

    summary = await shop_crawler(tmp_path).crawl([shop.url("/")])

    assert summary.pages == 0
    assert len(shop.hits) == hits
    assert len(await items_of(tmp_path / "crawl.db")) == CATALOG_PAGES * PRODUCTS_PER_PAGE


async def test_a_storage_passed_in_is_used_and_left_open(tmp_path: Path, shop: Shop) -> None:
    storage = await SqliteStorage.open(tmp_path / "mine.db")
    router = shop_crawler(tmp_path).router

    summary = await Crawler(
        Config(db=tmp_path / "unused.db", progress=False), router=router, storage=storage
    ).crawl([shop.url("/")])

    assert summary.pages == (await storage.totals()).done > 0  # still open
    assert len([item async for item in storage.iter_items()]) == CATALOG_PAGES * PRODUCTS_PER_PAGE
    assert not (tmp_path / "unused.db").exists()
    await storage.close()


def test_run_is_the_synchronous_way(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match="no valid seed"):
        Crawler(config(tmp_path)).run(["not a url", "ftp://x/"])
    assert list(tmp_path.iterdir()) == []  # no database made for a crawl that cannot start


def test_bad_registrations_fail_at_once() -> None:
    router = Router()

    def not_async(page: Page) -> None:
        return None

    with pytest.raises(TypeError, match="async"):
        router.route()(not_async)  # type: ignore[type-var]

    @router.route("**/a")
    async def a(page: Page) -> None:
        return None

    with pytest.raises(ValueError, match="already exists"):
        router.route("**/b", name="a")(a)
    with pytest.raises(TypeError, match="JSON-serialisable"):
        Request("http://a.test/", meta={"when": object()})
    with pytest.raises(ValueError, match="not both"):
        Request("http://a.test/", body=b"x", json={})
    with pytest.raises(ValueError, match="not an HTTP method"):
        Request("http://a.test/", method="GE T")
    with pytest.raises(TypeError, match="must be str"):
        Request("http://a.test/", headers={"X-N": 1})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="unexpected keyword arguments: methd, prioriti"):
        Request("http://a.test/", methd="POST", prioriti=3)  # type: ignore[call-arg]


def _append_to(errors: list[PageError]) -> Callable[[PageError], Awaitable[None]]:
    async def hook(error: PageError) -> None:
        errors.append(error)

    return hook


async def _records(tmp_path: Path) -> dict[str, dict[str, object]]:
    storage = await SqliteStorage.open(tmp_path / "crawl.db", read_only=True)
    try:
        return {r.url: r.as_dict() async for r in storage.iter_records()}
    finally:
        await storage.close()


async def test_invalid_seeds_are_skipped_and_logged_with_their_position(
    tmp_path: Path, shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    summary = await Crawler(config(tmp_path, max_depth=0)).crawl([shop.url("/"), "not a url"])

    assert summary.pages == 1
    assert "seeds:2: not an absolute http(s) URL, skipped: 'not a url'" in caplog.text


LIBRARY_SCRIPT = """
import logging, sys
if sys.argv[2] == "own logging":
    logging.basicConfig(level=logging.WARNING)
from crawler import Config, Crawler
print(Crawler(Config(db="crawl.db", progress_interval=0.05)).run([sys.argv[1]]))
"""


@pytest.mark.parametrize("logging_set_up", ["none", "own logging"])
async def test_run_shows_what_the_cli_shows_unless_the_program_set_up_logging(
    tmp_path: Path, serve_site: SiteFactory, logging_set_up: str
) -> None:
    site = await serve_site(30, delay_s=0.03)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LIBRARY_SCRIPT, site.url("/"), logging_set_up,
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    log = stderr.decode()

    assert process.returncode == 0, log
    assert re.fullmatch(r"crawl finished: 31 pages \(0 errors\) in \d+\.\d s\n", stdout.decode())
    if logging_set_up == "none":
        assert re.search(r"^\S+ \S+ INFO crawl started$", log, re.MULTILINE)
        assert re.search(r"^\S+ \S+ INFO progress: \d+ pages", log, re.MULTILINE)
        assert re.search(r"^\S+ \S+ INFO crawl finished: 31 pages .* in crawl\.db$", log, re.M)
    else:
        assert log == ""  # the program asked for warnings only
