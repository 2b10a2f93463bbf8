"""A fast, polite, crash-safe web crawler: CLI, container job, or library."""

from crawler.config import Config, __version__, load_config
from crawler.engine import CrawlSummary, Engine
from crawler.errors import CrawlerError

__all__ = ["Config", "CrawlSummary", "CrawlerError", "Engine", "__version__", "load_config"]
