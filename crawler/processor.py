"""The page step: what runs on each fetched page (`PageProcessor`), and the default one, which
follows the links of HTML pages (`LinkFollower`). Router-based steps live in `crawler.router`.

No I/O beyond parsing the body it is given.
"""

from __future__ import annotations

from typing import Protocol, final

from crawler.config import Config
from crawler.models import FetchResult, PageOutput
from crawler.parse import MetaRobots, PageLinks, extract_links, header_says_nofollow
from crawler.urls import ScopePolicy


class PageProcessor(Protocol):
    """The pluggable step applied to each fetch result: what to follow and what to keep.

    Called for every result, failed ones included. Links and follow-up requests still go
    through scope, deduplication, depth and trap limits.
    """

    async def __call__(self, result: FetchResult, scope: ScopePolicy, /) -> PageOutput: ...


@final
class LinkFollower:
    """The default page step: the links of HTML pages, nothing for anything else.

    Unless `meta_robots` says to ignore them: nothing from a page whose X-Robots-Tag or robots
    meta tag says nofollow, and no link marked rel="nofollow".
    """

    def __init__(self, meta_robots: MetaRobots = MetaRobots(), limit: int | None = None) -> None:
        self.meta_robots = meta_robots
        self._obey_nofollow = meta_robots.obeyed
        self._agent = meta_robots.agent
        self._limit = limit

    @classmethod
    def for_config(cls, config: Config) -> LinkFollower:
        """The link step as the crawl's settings ask: robots meta, product token, link cap."""
        return cls(MetaRobots.for_settings(config), config.max_links_per_page)

    async def __call__(self, result: FetchResult, scope: ScopePolicy | None = None) -> PageOutput:
        links = self.links(result)
        return PageOutput(links, dropped_links=links.dropped)

    def links(self, result: FetchResult) -> PageLinks:
        """The page's links, in document order (none if it is not HTML or says nofollow); past
        `limit`, only counted."""
        if not result.is_html:
            return PageLinks()
        if self._obey_nofollow and header_says_nofollow(result.robots_tag, self._agent):
            return PageLinks()
        return extract_links(
            result.body,
            result.final_url,
            charset=result.charset,
            obey_nofollow=self._obey_nofollow,
            limit=self._limit,
        )


follow_html_links = LinkFollower()
"""Follows HTML links, obeying nofollow: the step most custom steps build on."""
