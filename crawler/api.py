"""`Crawler`: the library entry point. Routes, pipelines and hooks around the engine."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import importlib
import importlib.util
import inspect
import json
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TypeVar, final

from yarl import URL

from crawler.config import DEFAULTS, Config
from crawler.engine import CrawlProgress, CrawlSummary, Engine, LinkFollower
from crawler.errors import ConfigError, ErrorKind, SeedError
from crawler.middleware import Middleware
from crawler.models import FetchResult, FollowRequest, ItemRecord, PageOutput, Target
from crawler.page import Page, Request
from crawler.robots import product_token
from crawler.seeds import iter_seeds
from crawler.store import Storage, open_storage
from crawler.urls import ScopePolicy, parse_absolute

log = logging.getLogger("crawler")

T = TypeVar("T")
SEED_BATCH = 10_000
Handler = Callable[[Page], AsyncIterator[object]] | Callable[[Page], Awaitable[object]]
"""An async generator function yielding items and `Request`s, or an async function returning
None, one of them, or a list of them."""
HandlerT = TypeVar("HandlerT", bound=Handler)
PipelineT = TypeVar("PipelineT", bound=Callable[..., Awaitable[object]])
StartHook = Callable[[], Awaitable[None]]
PageHook = Callable[[Page], Awaitable[None]]
ErrorHook = Callable[["PageError"], Awaitable[None]]
FinishHook = Callable[[CrawlSummary], Awaitable[None]]
StartHookT = TypeVar("StartHookT", bound=StartHook)
PageHookT = TypeVar("PageHookT", bound=PageHook)
ErrorHookT = TypeVar("ErrorHookT", bound=ErrorHook)
FinishHookT = TypeVar("FinishHookT", bound=FinishHook)


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
    """The parsing side of a crawl: routes, item pipelines and event hooks."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.default: Route | None = None
        self.pipelines: list[Callable[..., Awaitable[object]]] = []
        self.start_hooks: list[StartHook] = []
        self.page_hooks: list[PageHook] = []
        self.error_hooks: list[ErrorHook] = []
        self.finish_hooks: list[FinishHook] = []

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
        hooks = (self.pipelines, self.start_hooks, self.page_hooks, self.error_hooks)
        return not self.all_routes and not any(hooks) and not self.finish_hooks

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

    def pipeline(self, pipeline: PipelineT) -> PipelineT:
        """Register `async (item, page) -> item | None`; pipelines run in registration order
        on every item, and returning None drops the item."""
        self.pipelines.append(pipeline)
        return pipeline

    def on_start(self, hook: StartHookT) -> StartHookT:
        """Register `async () -> None`, awaited before the first request."""
        self.start_hooks.append(hook)
        return hook

    def on_page(self, hook: PageHookT) -> PageHookT:
        """Register `async (page) -> None`, awaited for every page fetched, before its handler."""
        self.page_hooks.append(hook)
        return hook

    def on_error(self, hook: ErrorHookT) -> ErrorHookT:
        """Register `async (error: PageError) -> None`, awaited for every failed page."""
        self.error_hooks.append(hook)
        return hook

    def on_finish(self, hook: FinishHookT) -> FinishHookT:
        """Register `async (summary) -> None`, awaited once the crawl has ended and is stored."""
        self.finish_hooks.append(hook)
        return hook


@final
class RouteProcessor:
    """The engine's page step for a `Router`: hooks, then the page's handler, its items
    through the pipelines. With no routes at all, the page's links are followed."""

    def __init__(self, router: Router, config: Config) -> None:
        self._router = router
        self._obey_nofollow = not config.ignore_robots_meta
        self._agent = product_token(config.user_agent)
        self._follow_links = LinkFollower.for_config(config)

    async def __call__(self, result: FetchResult, scope: ScopePolicy, /) -> PageOutput:
        status = result.status
        if result.error is not None or status is None or not 200 <= status < 300:
            if result.error is not None:
                await self._report(PageError(result.request.url, result.error, status))
            return PageOutput()
        page = Page(result, scope=scope, obey_nofollow=self._obey_nofollow, agent=self._agent)
        name = result.request.options.handler if result.request.options else None
        run = _HandlerRun(page, self._router.pipelines)
        try:
            for hook in self._router.page_hooks:
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
        for hook in self._router.error_hooks:
            try:
                await hook(error)
            except Exception as exc:  # an error hook must not turn one failure into two
                log.warning("error hook failed on %s: %r", error.url, exc)


@final
class _HandlerRun:
    """Collects what one handler call yields: items (through the pipelines) and requests."""

    def __init__(self, page: Page, pipelines: Sequence[Callable[..., Awaitable[object]]]) -> None:
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


@final
class Crawler:
    """A crawl with your parsers: register routes, then `run(seeds)` (or `await crawl(seeds)`).

    The engine, politeness, retries, proxies and store come from `config` (every CLI setting,
    by the same names); records and items go to the database `config.db` names, or to
    `storage` when one is given (it stays open: the caller closes it).
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        router: Router | None = None,
        middlewares: Sequence[Middleware] = (),
        storage: Storage | None = None,
    ) -> None:
        self.config = config or Config()
        self.router = router or Router()
        self.middlewares = list(middlewares)
        self.storage = storage
        self._engine: Engine | None = None
        self.route = self.router.route
        self.pipeline = self.router.pipeline
        self.on_start = self.router.on_start
        self.on_page = self.router.on_page
        self.on_error = self.router.on_error
        self.on_finish = self.router.on_finish

    def use(self, middleware: Middleware) -> Middleware:
        """Add a request middleware (after those already added); returns it."""
        self.middlewares.append(middleware)
        return middleware

    def with_config(self, config: Config) -> Crawler:
        """The same routes, pipelines, hooks and middlewares with another configuration."""
        return Crawler(
            config, router=self.router, middlewares=self.middlewares, storage=self.storage
        )

    def progress(self) -> CrawlProgress:
        """Live counters of the running crawl (zeros before it starts)."""
        return self._engine.refresh_progress() if self._engine else CrawlProgress()

    async def crawl(
        self, seeds: Iterable[str | Request | Target] | str, *, handle_signals: bool = False
    ) -> CrawlSummary:
        """Crawl from `seeds` (URLs or `Request`s) until done or stopped; resumes the crawl
        stored in `config.db`. With `handle_signals`, SIGINT/SIGTERM stop it gracefully.

        Raises `SeedError` when no seed is a valid http(s) URL, `StorageError` when the
        database cannot be used."""
        targets = crawl_seeds(seeds)
        self._engine = None
        early: list[int] = []  # signals that came before the engine existed
        with _signals_handled(handle_signals, lambda number: self._on_signal(number, early)):
            storage = self.storage or await open_storage(self.config.db)
            try:
                for start_hook in self.router.start_hooks:
                    await start_hook()
                processor = (
                    None if self.router.is_empty else RouteProcessor(self.router, self.config)
                )
                engine = Engine(
                    self.config, storage, processor=processor, middlewares=self.middlewares
                )
                self._engine = engine
                if early:
                    engine.stop(early[0])
                summary = await engine.run(targets)
            finally:
                if storage is not self.storage:
                    await storage.close()
        for finish_hook in self.router.finish_hooks:
            await finish_hook(summary)
        return summary

    def _on_signal(self, number: int, early: list[int]) -> None:
        if self._engine is not None:
            self._engine.handle_signal(number)
            return
        log.warning("received %s before the crawl began: stopping", signal.Signals(number).name)
        early.append(number)

    def run(self, seeds: Iterable[str | Request | Target] | str) -> CrawlSummary:
        """`crawl()` for synchronous code: runs its own event loop (uvloop when installed);
        Ctrl-C stops the crawl gracefully and returns."""
        in_main_thread = threading.current_thread() is threading.main_thread()
        return run_async(self.crawl(seeds, handle_signals=in_main_thread))


def load_parser(reference: str, config: Config) -> Crawler:
    """The `Crawler` or `Router` named by `module:object` or `path/to/file.py:object`, as a
    `Crawler` with `config` (the object's own `Config` is not used). Raises `ConfigError`."""
    module_name, _, attribute = reference.rpartition(":")
    try:
        found: object = _import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (Exception, SystemExit) as exc:  # whatever the user's module raises on import
        raise ConfigError(
            f"cannot load parser {reference!r}: {type(exc).__name__}: {exc}"
        ) from None
    if isinstance(found, Router):
        return Crawler(config, router=found)
    if not isinstance(found, Crawler):
        kind = type(found).__name__
        raise ConfigError(f"parser {reference!r} is a {kind}, not a Crawler or a Router")
    if found.config != DEFAULTS:
        log.warning(
            "the Config of parser %s is not used: a command-line crawl takes its settings from"
            " flags, environment and config file",
            reference,
        )
    return found.with_config(config)


def _import_module(name: str) -> ModuleType:
    if name.endswith(".py"):
        path = Path(name).resolve()
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {name}")
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.parent))  # so the file imports its neighbours
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
        return module
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does, for the installed script too
    return importlib.import_module(name)


@contextlib.contextmanager
def _signals_handled(enabled: bool, handler: Callable[[int], None]) -> Iterator[None]:
    """SIGINT and SIGTERM call `handler` (on the event loop) while the block runs."""
    if not enabled:
        yield
        return
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, handler, number)
    try:
        yield
    finally:
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)


def crawl_seeds(
    seeds: Iterable[str | Request | Target] | str,
) -> Iterator[Target | FollowRequest]:
    """Seeds as the engine takes them, converted as they are consumed; invalid URLs are
    logged and skipped. Raises `SeedError` at the end if none was valid, or for a `Request`
    that is not an absolute http(s) URL."""
    texts: list[str] = []
    found = given = 0
    for seed in [seeds] if isinstance(seeds, str) else seeds:
        given += 1
        if isinstance(seed, Target):
            found += 1
            yield seed
        elif isinstance(seed, Request):
            target = parse_absolute(seed.url)
            follow = seed.to_follow(URL(target.url), unique=False) if target else None
            if follow is None:
                raise SeedError(f"seed request is not an absolute http(s) URL: {seed.url!r:.200}")
            found += 1
            yield follow
        else:
            texts.append(seed)
            if len(texts) >= SEED_BATCH:
                found += yield from _parsed(texts, given - len(texts) + 1)
    found += yield from _parsed(texts, given - len(texts) + 1)
    if not found:
        raise SeedError("no valid seed URL given")


def _parsed(texts: list[str], first: int) -> Generator[Target, None, int]:
    """The seeds among `texts` (emptied), the `first`-th seed given; returns how many."""
    targets = list(iter_seeds(texts, "seeds", first_line=first))
    texts.clear()
    yield from targets
    return len(targets)


def run_async(work: Coroutine[object, object, T]) -> T:
    """Run on uvloop when it is installed (a faster event loop), else on asyncio's own."""
    try:
        import uvloop  # noqa: PLC0415  # optional: the crawler works without it
    except ImportError:
        return asyncio.run(work)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(work)


async def read_items(db: Path | str) -> AsyncIterator[StoredItem]:
    """Every item stored in a crawl database, in the order they were produced."""
    storage = await open_storage(db, read_only=True)
    try:
        async for item in storage.iter_items():
            yield StoredItem(item.url, item.handler, json.loads(item.data))
    finally:
        await storage.close()


@dataclass(frozen=True, slots=True)
class StoredItem:
    """An item as stored: the page it came from, the handler that made it, its data."""

    url: str
    handler: str
    data: dict[str, object]
