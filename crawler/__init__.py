"""A fast, polite, crash-safe web crawler: CLI, container job, or library."""

from crawler.api import Crawler, PageError, Router, StoredItem, read_items
from crawler.config import Config, __version__, load_config
from crawler.engine import CrawlSummary, Engine
from crawler.errors import CrawlerError
from crawler.middleware import CallNext, Middleware, OutgoingRequest
from crawler.models import FetchResult
from crawler.page import Page, Request

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
