"""A fast, polite, crash-safe web crawler: CLI, container job, or library.

Public names and `__all__` only; everything is defined elsewhere.
"""

from crawler.api import Crawler, StoredItem, read_items
from crawler.config import Config, __version__
from crawler.config_sources import load_config
from crawler.engine import Engine
from crawler.errors import CrawlerError
from crawler.middleware import CallNext, Middleware, OutgoingRequest
from crawler.models import CrawlSummary, FetchResult
from crawler.page import Page, Request
from crawler.router import PageError, Router

__all__ = [
    "CallNext",
    "Config",
    "CrawlSummary",
    "Crawler",
    "CrawlerError",
    "Engine",
    "FetchResult",
    "Middleware",
    "OutgoingRequest",
    "Page",
    "PageError",
    "Request",
    "Router",
    "StoredItem",
    "__version__",
    "load_config",
    "read_items",
]
