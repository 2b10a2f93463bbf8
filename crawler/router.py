"""Routes: which handler parses which page, what it yields (items through the pipelines, and
requests to follow), and the hooks around a crawl. `RouteProcessor` is the engine's page step
for a `Router`.

It knows no store and no network: pages in, items and requests out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import inspect
import json
import logging
import re
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from dataclasses import dataclass
from typing import Generic, TypeVar, final

from crawler.config import Config
from crawler.errors import ErrorKind
from crawler.models import CrawlSummary, FetchResult, FollowRequest, ItemRecord, PageOutput
from crawler.page import Page, Request
from crawler.processor import LinkFollower
from crawler.urls import ScopePolicy

log = logging.getLogger("crawler")

Handler = Callable[[Page], AsyncIterator[object]] | Callable[[Page], Awaitable[object]]
"""An async generator function yielding items and `Request`s, or an async function returning
None, one of them, or a list of them."""
HandlerT = TypeVar("HandlerT", bound=Handler)
Pipeline = Callable[..., Awaitable[object]]
"""`async (item, page) -> item | None`."""
StartHook = Callable[[], Awaitable[None]]
PageHook = Callable[[Page], Awaitable[None]]
ErrorHook = Callable[["PageError"], Awaitable[None]]
FinishHook = Callable[[CrawlSummary], Awaitable[None]]
Registrable = TypeVar("Registrable", bound=Callable[..., Awaitable[object]])


@final
class Registered(Generic[Registrable]):
    """Callables registered by decorating them (`@router.on_page`), in registration order."""

    def __init__(self) -> None:
        self._registered: list[Registrable] = []

    def __call__(self, function: Registrable) -> Registrable:
        """Register `function`; returns it unchanged."""
        self._registered.append(function)
        return function

    def __iter__(self) -> Iterator[Registrable]:
        return iter(self._registered)

    def __len__(self) -> int:
        return len(self._registered)


@dataclass(frozen=True, slots=True)
class PageError:
    """A page that failed: its fetch (`kind` as in the export's `error`) or its handler
    (`kind` "handler", with the exception)."""

    url: str
    kind: str  # an ErrorKind, or a middleware's own kind
    status: int | None = None
    exception: BaseException | None = None
    page: Page | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """A handler and the URLs it parses: a glob or regex on the final URL, or any URL."""

    name: str
    handler: Handler
    pattern: re.Pattern[str] | None = None

    def matches(self, url: str) -> bool:
        return self.pattern is None or self.pattern.search(url) is not None


def glob_pattern(glob: str) -> re.Pattern[str]:
    """A glob over a whole URL as a regex: `*` is any run of characters but `/`, `**` any run
    at all; everything else (`?` included) stands for itself."""
    parts = (re.escape(part).replace(r"\*", "[^/]*") for part in glob.split("**"))
    return re.compile("^" + ".*".join(parts) + "$")


@final
class Router:
    """The parsing side of a crawl: routes, item pipelines and event hooks.

    Pipelines and hooks are registered with decorators and run in registration order:
    `@pipeline`: `async (item, page) -> item | None` on every item (None drops it);
    `@on_start`: `async () -> None` before the first request;
    `@on_page`: `async (page) -> None` for every page fetched, before its handler;
    `@on_error`: `async (error: PageError) -> None` for every failed page;
    `@on_finish`: `async (summary) -> None` once the crawl has ended and is stored.
    """

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.default: Route | None = None
        self.pipeline: Registered[Pipeline] = Registered()
        self.on_start: Registered[StartHook] = Registered()
        self.on_page: Registered[PageHook] = Registered()
        self.on_error: Registered[ErrorHook] = Registered()
        self.on_finish: Registered[FinishHook] = Registered()

    def route(
        self, pattern: str | re.Pattern[str] | None = None, *, name: str | None = None
    ) -> Callable[[HandlerT], HandlerT]:
        """Register a handler for the pages whose final URL matches `pattern`: a glob on the
        whole URL, or a compiled regex searched in it. Without a pattern, the handler is the
        default, used when no other route matches. Routes are tried in registration order;
        `name` (default: the function's name) is stored with the handler's items."""

        def register(handler: HandlerT) -> HandlerT:
            if not (inspect.isasyncgenfunction(handler) or inspect.iscoroutinefunction(handler)):
                raise TypeError(f"handler {handler!r} must be an async function or generator")
            route_name = name or str(getattr(handler, "__name__", "handler"))
            if route_name in {r.name for r in self.all_routes}:
                raise ValueError(f"a route named {route_name!r} already exists")
            compiled = glob_pattern(pattern) if isinstance(pattern, str) else pattern
            route = Route(route_name, handler, compiled)
            if pattern is None:
                if self.default is not None:
                    raise ValueError(f"{self.default.name!r} is already the default route")
                self.default = route
            else:
                self.routes.append(route)
            return handler

        return register

    @property
    def is_empty(self) -> bool:
        """Whether nothing is registered: then a crawl just follows links."""
        registered = (self.pipeline, self.on_start, self.on_page, self.on_error, self.on_finish)
        return not self.all_routes and not any(registered)

    @property
    def all_routes(self) -> list[Route]:
        return [*self.routes, *([self.default] if self.default else [])]

    def route_for(self, url: str, name: str | None = None) -> Route | None:
        """The route named `name`, else the first whose pattern matches `url`, else the
        default. Raises `LookupError` for an unknown name."""
        if name is not None:
            for route in self.all_routes:
                if route.name == name:
                    return route
            raise LookupError(f"no route named {name!r}")
        for route in self.routes:
            if route.matches(url):
                return route
        return self.default


@final
class RouteProcessor:
    """The engine's page step for a `Router`: hooks, then the page's handler, its items
    through the pipelines. With no routes at all, the page's links are followed."""

    def __init__(self, router: Router, config: Config) -> None:
        self._router = router
        self._follow_links = LinkFollower.for_config(config)

    async def __call__(self, result: FetchResult, scope: ScopePolicy, /) -> PageOutput:
        status = result.status
        if result.error is not None or status is None or not 200 <= status < 300:
            if result.error is not None:
                await self._report(PageError(result.request.url, result.error, status))
            return PageOutput()
        page = Page(result, scope=scope, meta_robots=self._follow_links.meta_robots)
        name = result.request.options.handler if result.request.options else None
        run = _HandlerRun(page, self._router.pipeline)
        try:
            for hook in self._router.on_page:
                await hook(page)
            if not self._router.all_routes:
                return await self._follow_links(result, scope)
            route = self._router.route_for(page.final_url, name)
            if route is None:
                return PageOutput()
            run.route = route.name
            await run.handle(route.handler)
        except Exception as exc:  # the handler boundary: the page fails, the crawl goes on
            log.warning(
                "handler %s failed on %s: %s: %s",
                run.route or "(hooks)",
                page.url,
                type(exc).__name__,
                exc,
                extra={"url": page.url, "handler": run.route},
            )
            await self._report(PageError(page.url, ErrorKind.HANDLER, status, exc, page))
            return run.output(error=ErrorKind.HANDLER)
        return run.output()

    async def _report(self, error: PageError) -> None:
        for hook in self._router.on_error:
            try:
                await hook(error)
            except Exception as exc:  # an error hook must not turn one failure into two
                log.warning("error hook failed on %s: %r", error.url, exc)


@final
class _HandlerRun:
    """Collects what one handler call yields: items (through the pipelines) and requests."""

    def __init__(self, page: Page, pipelines: Iterable[Pipeline]) -> None:
        self._page = page
        self._pipelines = pipelines
        self.route = ""
        self._items: list[ItemRecord] = []
        self._follows: list[FollowRequest] = []

    async def handle(self, handler: Handler) -> None:
        produced = handler(self._page)
        if isinstance(produced, AsyncGenerator):
            # Closed at once if a pipeline raises mid-way, not left to the garbage collector.
            async with contextlib.aclosing(produced) as values:
                async for value in values:
                    await self._take(value)
            return
        if isinstance(produced, AsyncIterator):
            async for value in produced:
                await self._take(value)
            return
        returned = await produced
        for value in returned if isinstance(returned, list | tuple) else (returned,):
            if value is not None:
                await self._take(value)

    async def _take(self, value: object) -> None:
        if isinstance(value, Request):
            follow = value.to_follow(self._page.base)
            if follow is None:
                log.debug("not an http(s) URL, not followed: %.200r", value.url)
            else:
                self._follows.append(follow)
            return
        if isinstance(value, str | bytes):
            raise TypeError(f"yielded a {type(value).__name__}: yield page.follow(url) to follow")
        item: object = value
        for pipeline in self._pipelines:
            item = await pipeline(item, self._page)
            if item is None:
                return
        data = json.dumps(item_as_dict(item), ensure_ascii=False, default=_json_default)
        self._items.append(ItemRecord(self._page.url, self.route, data))

    def output(self, *, error: ErrorKind | None = None) -> PageOutput:
        return PageOutput(follows=self._follows, items=tuple(self._items), error=error)


def item_as_dict(item: object) -> dict[str, object]:
    """An item as a JSON object: a mapping, a dataclass, or a model with `model_dump()`
    (pydantic). Raises `TypeError` for anything else."""
    if isinstance(item, dict):
        return item
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return dataclasses.asdict(item)
    dump = getattr(item, "model_dump", None)
    if callable(dump):
        dumped = dump(mode="json")
        if isinstance(dumped, dict):
            return dumped
    if isinstance(item, Mapping):
        return {str(key): value for key, value in item.items()}
    raise TypeError(f"an item must be a dict, a dataclass or a pydantic model, not {item!r:.80}")


def _json_default(value: object) -> object:
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable: {value!r:.80}")
