"""A fast, polite, crash-safe web crawler: CLI, container job, or library."""

from crawler.config import Config, __version__, load_config
from crawler.engine import CrawlSummary, Engine
from crawler.errors import CrawlerError
from crawler.middleware import CallNext, Middleware, OutgoingRequest
from crawler.models import FetchResult

__all__ = [
    "CallNext",
    "Config",
    "CrawlSummary",
    "CrawlerError",
    "Engine",
    "FetchResult",
    "Middleware",
    "OutgoingRequest",
    "__version__",
    "load_config",
]
