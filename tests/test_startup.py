"""What starting a crawl costs: the libraries only some crawls need are not imported by the
command line itself (each costs start-up time and resident memory)."""

from __future__ import annotations

import subprocess
import sys

IMPORTED_ONLY_WHEN_USED = (
    "prometheus_client",  # metrics_port
    "warcio",  # export --format warc
    "aiohttp_socks",  # a socks5:// proxy
    "xml.etree.ElementTree",  # a sitemap read
    "crawler.commands",  # export, stats, report
    "crawler.fleet",  # processes > 1
)


def test_the_command_line_imports_no_library_a_plain_crawl_does_not_use() -> None:
    probe = "import sys, crawler.cli; print(' '.join(sorted(sys.modules)))"

    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)

    loaded = set(done.stdout.split())
    assert "crawler.engine" in loaded
    assert [name for name in IMPORTED_ONLY_WHEN_USED if name in loaded] == []
