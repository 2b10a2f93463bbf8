"""What a person sees on a terminal: the crawl run in tmux (80 columns), its screen read as it
goes. Log lines print whole above the live display; the display shows the elapsed time, the
percentage and ETA of --max-pages, and what the crawl waits for when nothing moves; the
summary fits the terminal."""

from __future__ import annotations

import asyncio
import re
import shlex
import shutil
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.conftest import REQUIRE_TMUX, SiteFactory

pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None and not REQUIRE_TMUX,
    reason="no tmux (CRAWLER_REQUIRE_TMUX=1 makes this a failure)",
)
WIDTH = 80
PARSER = """
import logging
from crawler import Router

router = Router()
log = logging.getLogger("shop")


@router.route()
async def page(page):
    log.warning("a note from the parser about %s", page.url)
    for link in page.links():
        yield page.follow(link)
"""
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING) \S")


async def tmux(*arguments: str) -> str:
    process = await asyncio.create_subprocess_exec(
        "tmux", *arguments, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0, stderr.decode()
    return stdout.decode()


@pytest.fixture
async def terminal() -> AsyncIterator[str]:
    """A tmux session of its own server, 80x24; its name."""
    name = f"crawler-test-{uuid.uuid4().hex[:8]}"
    await tmux("-L", name, "new-session", "-d", "-s", name, "-x", str(WIDTH), "-y", "24")
    yield name
    await tmux("-L", name, "kill-server")


async def screen(name: str) -> list[str]:
    """The visible screen and its history, wrapped lines joined (-J): the lines as written."""
    output = await tmux("-L", name, "capture-pane", "-p", "-J", "-S", "-", "-t", name)
    return [line.rstrip() for line in output.splitlines() if line.strip()]


async def test_the_live_display_on_a_terminal(
    tmp_path: Path, serve_site: SiteFactory, terminal: str
) -> None:
    attempts: list[int] = []

    async def flaky(_: web.Request) -> web.Response:  # busy once, back in 3 s
        attempts.append(1)
        if len(attempts) == 1:
            return web.Response(status=503, headers={"Retry-After": "3"})
        return web.Response(text="<p>back</p>", content_type="text/html")

    async def slow_robots(_: web.Request) -> web.Response:
        return web.Response(text="User-agent: *\nCrawl-delay: 1\n")

    busy = await serve_site(150, delay_s=0.02, routes={"/flaky": flaky})
    slow = await serve_site(3, host="127.0.0.2", routes={"/robots.txt": slow_robots})
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(f"{busy.url('/')}\n{busy.url('/flaky')}\n{slow.url('/')}\n")
    (tmp_path / "shop.py").write_text(PARSER)
    command = [
        sys.executable, "-m", "crawler", "seeds.txt", "--db", "crawl.db",
        "--parser", "shop.py:router", "--max-pages", "500", "--concurrency", "4",
    ]  # fmt: skip
    done = tmp_path / "exit-code"
    shell = f"cd {shlex.quote(str(tmp_path))} && {shlex.join(command)}; echo $? > exit-code"
    await tmux("-L", terminal, "send-keys", "-t", terminal, shell, "Enter")

    screens = []
    deadline = time.monotonic() + 60
    while not done.exists() and time.monotonic() < deadline:
        screens.append(await screen(terminal))
        await asyncio.sleep(0.1)
    final = await screen(terminal)

    assert done.read_text().strip() == "0", "\n".join(final[-15:])
    seen = [line for lines in screens for line in lines]
    displays = [line for line in seen if "pages/s" in line and not line.startswith("  pages")]
    assert displays, "no live display was seen"
    assert all(re.search(r"pages/s · \d+:\d\d:\d\d elapsed$", line) for line in displays)
    assert any(re.search(r"\d+ queued · \d+ in flight · \d+% of 500 · ETA", line) for line in seen)
    assert any(re.search(r"waiting: .*next retry due at \d\d:\d\d:\d\d", line) for line in seen)
    assert any(re.search(r"waiting: .*\d hosts? waiting out their delay", line) for line in seen)
    log_lines = [line for line in final if " INFO " in line or " WARNING " in line]
    assert any("crawl started" in line for line in log_lines)
    assert all(LOG_LINE.match(line) for line in log_lines), log_lines
    records = len(busy.expected_urls()) + 1 + len(slow.expected_urls())
    notes = [line for line in final if "a note from the parser" in line]
    assert len(notes) == records, "\n".join(final)  # each whole, on a line of its own
    assert all(line.startswith("a note from the parser about http") for line in notes)
    end = final[next(i for i, line in enumerate(final) if line.startswith("crawl finished")) :]
    assert re.fullmatch(r"crawl finished after 0:00:\d\d", end[0])
    assert f"  records  {records} in crawl.db" in end
    assert max(len(line) for line in end) <= WIDTH
