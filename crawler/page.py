"""What a parser sees and yields: `Page` (a fetched page, its tree and links) and `Request`.

It knows no store, engine or network.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from functools import cached_property
from typing import TypedDict, Unpack, final

from selectolax.lexbor import LexborHTMLParser, LexborNode
from yarl import URL

from crawler.models import FetchResult, FollowRequest, RequestOptions, Target
from crawler.parse import MetaRobots, base_url, decode_html, header_says_nofollow, tree_links
from crawler.urls import ScopePolicy, resolve_link

_METHOD = re.compile(r"[A-Z]{1,20}")


class RequestArgs(TypedDict, total=False):
    """What a request adds to a plain GET of its URL: the keyword arguments of `Request` and
    `Page.follow`. Any left out take the defaults shown in `Request`."""

    method: str
    headers: Mapping[str, str] | None
    body: bytes | str | None
    json: object
    meta: Mapping[str, object] | None
    priority: int
    dont_filter: bool
    handler: str | None


@final
class Request:
    """A request for the crawl to make: yield it from a handler (`page.follow` builds one).

    Options (`RequestArgs`), all keyword-only: `method` ("GET"), `headers`, `body` (bytes or
    text) or `json` (any JSON-serialisable value, sent with its Content-Type), `meta`
    (JSON-serialisable; it reaches the new page as `page.meta`), `priority` (0; higher goes
    first among the queued requests of one host), `dont_filter` (False), `handler` (the route
    for the new page, by name, instead of matching its URL). Requests are deduplicated by
    method, URL and body (never by headers) unless `dont_filter` is set. Raises
    `ValueError`/`TypeError` for bad arguments.
    """

    __slots__ = ("body", "dont_filter", "handler", "headers", "meta", "method", "priority", "url")

    def __init__(self, url: str, **options: Unpack[RequestArgs]) -> None:
        if not isinstance(url, str):
            raise TypeError(f"a request URL must be a str, not {type(url).__name__}")
        unknown = options.keys() - RequestArgs.__optional_keys__
        if unknown:
            raise TypeError(
                f"Request() got unexpected keyword arguments: {', '.join(sorted(unknown))}"
            )
        method = options.get("method", "GET")
        if not _METHOD.fullmatch(method.upper()):
            raise ValueError(f"not an HTTP method: {method!r}")
        headers = dict(options.get("headers") or {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
            raise TypeError("request header names and values must be str")
        body = options.get("body")
        if "json" in options:
            if body is not None:
                raise ValueError("give a request body or json, not both")
            body = _json_text(options["json"], "json").encode()
            if not any(name.lower() == "content-type" for name in headers):
                headers["Content-Type"] = "application/json"
        self.url = url
        self.method = method.upper()
        self.headers: dict[str, str] = headers
        self.body: bytes | None = body.encode() if isinstance(body, str) else body
        self.meta: dict[str, object] = dict(options.get("meta") or {})
        self.priority = options.get("priority", 0)
        self.dont_filter = options.get("dont_filter", False)
        self.handler = options.get("handler")
        _json_text(self.meta, "meta")  # fail here, in the handler that built it

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.url}>"

    def to_follow(self, base: URL, *, unique: bool = True) -> FollowRequest | None:
        """The request in the crawl's terms, its URL resolved against `base` and made
        canonical; None if it is not an http(s) URL. Without `unique`, `dont_filter` gives
        the same variant every time (for seeds, so a rerun does not add them again)."""
        target = resolve_link(base, self.url)
        if target is None:
            return None
        return FollowRequest(target, self._options(unique=unique))

    def _digest(self) -> str:
        return hashlib.sha256(self.method.encode() + b" " + (self.body or b"")).hexdigest()[:16]

    def _options(self, *, unique: bool) -> RequestOptions:
        if self.dont_filter:
            variant = uuid.uuid4().hex if unique else f"once {self._digest()}"
        elif self.method == "GET" and self.body is None:
            variant = ""  # the common case: no digest to compute
        else:
            variant = f"{self.method} {self._digest()}"
        return RequestOptions(
            method=self.method,
            headers=tuple(self.headers.items()),
            body=self.body,
            meta=_json_text(self.meta, "meta") if self.meta else None,
            priority=self.priority,
            handler=self.handler,
            variant=variant,
        )


def _json_text(value: object, what: str) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"request {what} must be JSON-serialisable: {exc}") from None


@final
class Page:
    """One fetched page as a handler sees it. The HTML tree is built on first use."""

    def __init__(
        self,
        result: FetchResult,
        *,
        scope: ScopePolicy,
        meta_robots: MetaRobots = MetaRobots(),
    ) -> None:
        self._result = result
        self._scope = scope
        self._obey_nofollow = meta_robots.obeyed
        self._agent = meta_robots.agent

    @property
    def url(self) -> str:
        """The URL requested (canonical): the page's key in the records."""
        return self._result.request.url

    @property
    def final_url(self) -> str:
        """The URL the content came from, after redirects."""
        return self._result.final_url

    @property
    def status(self) -> int:
        return self._result.status or 0

    @property
    def headers(self) -> Mapping[str, str]:
        """Response headers; names are case-insensitive."""
        return self._result.headers

    @property
    def content_type(self) -> str | None:
        return self._result.content_type

    @property
    def body(self) -> bytes:
        """The response body, decompressed."""
        return self._result.body

    @property
    def depth(self) -> int:
        """Links followed from a seed to reach this page (a seed is 0)."""
        return self._result.request.depth

    @cached_property
    def meta(self) -> dict[str, object]:
        """The `meta` of the request that led here (a copy: changing it changes nothing)."""
        options = self._result.request.options
        if options is None or options.meta is None:
            return {}
        loaded = json.loads(options.meta)
        return loaded if isinstance(loaded, dict) else {}

    @cached_property
    def text(self) -> str:
        """The body decoded: HTTP charset, byte-order mark, `<meta charset>`, else a guess."""
        decoded = self._decoded[0]
        return decoded if isinstance(decoded, str) else decoded.decode("utf-8", "replace")

    @cached_property
    def tree(self) -> LexborHTMLParser:
        """The page parsed by selectolax's lexbor parser."""
        return LexborHTMLParser(self._decoded[0])

    @cached_property
    def _decoded(self) -> tuple[bytes | str, str | None]:
        return decode_html(self._result.body, self._result.charset)

    def json(self) -> object:
        """The body parsed as JSON. Raises `ValueError` if it is not JSON."""
        return json.loads(self.text)

    def css(self, selector: str) -> list[LexborNode]:
        """Every element matching the CSS selector, in document order."""
        return self.tree.css(selector)

    def css_first(self, selector: str, default: LexborNode | None = None) -> LexborNode | None:
        """The first element matching the CSS selector, else `default`."""
        return self.tree.css_first(selector, default=default)

    def links(self, selector: str | None = None) -> list[str]:
        """Canonical, in-scope http(s) URLs of the page's links, each once, in document order:
        the `href` of `<a>` and `<area>` elements, or of the elements matching `selector`.

        Nofollow is obeyed unless the crawl ignores robots meta tags: none from a page marked
        nofollow, none marked `rel="nofollow"`.
        """
        if self._obey_nofollow and header_says_nofollow(self._result.robots_tag, self._agent):
            return []
        nodes = None if selector is None else self.tree.css(selector)
        return [link.url for link in self.targets(nodes) if self._scope.is_in_scope(link)]

    def targets(self, nodes: list[LexborNode] | None = None) -> list[Target]:
        """The links of `nodes` (default: the page's links) as targets, before scope."""
        return tree_links(
            self.tree,
            self.final_url,
            obey_nofollow=self._obey_nofollow,
            nodes=nodes,
            encoding=self._encoding,
        )

    def follow(self, url: str, **options: Unpack[RequestArgs]) -> Request:
        """A `Request` for `url`, resolved against this page (and its `<base href>`), with the
        options a `Request` takes."""
        return Request(self._resolve(url), **options)

    @cached_property
    def base(self) -> URL:
        """What relative URLs on this page resolve against."""
        if not self._result.is_html:
            return URL(self.final_url, encoded=True)
        return URL(base_url(self.tree, self.final_url), encoded=True)

    @property
    def _encoding(self) -> str | None:
        return self._decoded[1] if self._result.is_html else None

    def _resolve(self, url: str) -> str:
        target = resolve_link(self.base, url, self._encoding)
        return target.url if target is not None else url

    def __repr__(self) -> str:
        return f"<Page {self.status} {self.url}>"
