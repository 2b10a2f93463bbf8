"""Headless Chromium driven over the DevTools protocol: open a page once, read what it shows
(an expression evaluated in it) and every URL it asked for."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

BINARIES = ("chromium", "chromium-browser", "google-chrome")


def chromium_binary() -> str | None:
    return next((path for name in BINARIES if (path := shutil.which(name))), None)


@dataclass(frozen=True)
class Rendered:
    """What a page showed (the expression's value) and the URLs it asked for, in order."""

    shown: Any
    requested: list[str]


@dataclass
class _DevTools:
    """One DevTools connection: numbered calls, and the events that came."""

    socket: aiohttp.ClientWebSocketResponse
    calls: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)

    async def call(self, method: str, session: str | None = None, **params: object) -> Any:
        self.calls += 1
        message: dict[str, object] = {"id": self.calls, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        await self.socket.send_str(json.dumps(message))
        while True:
            answer = await self.receive()
            if answer.get("id") == self.calls:
                assert "error" not in answer, answer
                return answer["result"]

    async def receive(self) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(await self.socket.receive_str())
        if "method" in message:
            self.events.append(message)
        return message

    async def wait_for(self, method: str) -> None:
        while not any(event["method"] == method for event in self.events):
            await self.receive()


async def render(url: str, expression: str, *, profile: Path, timeout_s: float = 30) -> Rendered:
    """Open `url` in a new headless Chromium (its profile in `profile`), wait for the load
    event, and evaluate `expression` there (its value comes back as JSON)."""
    binary = chromium_binary()
    assert binary is not None
    process = await asyncio.create_subprocess_exec(
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        return await asyncio.wait_for(_render(process, url, expression), timeout_s)
    finally:
        process.terminate()
        await process.wait()


async def _render(process: asyncio.subprocess.Process, url: str, expression: str) -> Rendered:
    assert process.stderr is not None
    found = None
    while found is None:
        line = await process.stderr.readline()
        assert line, "Chromium ended before it listened"
        found = re.search(rb"DevTools listening on (ws://\S+)", line)
    drain = asyncio.create_task(process.stderr.read())  # so Chromium never waits on a full pipe
    try:
        return await _open(found.group(1).decode(), url, expression)
    finally:
        drain.cancel()


async def _open(devtools_url: str, url: str, expression: str) -> Rendered:
    async with (
        aiohttp.ClientSession() as client,
        client.ws_connect(devtools_url, max_msg_size=0) as socket,
    ):
        devtools = _DevTools(socket)
        target = await devtools.call("Target.createTarget", url="about:blank")
        attached = await devtools.call(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )
        page = attached["sessionId"]
        await devtools.call("Network.enable", page)
        await devtools.call("Page.enable", page)
        await devtools.call("Page.navigate", page, url=url)
        await devtools.wait_for("Page.loadEventFired")
        value = await devtools.call(
            "Runtime.evaluate", page, expression=expression, returnByValue=True
        )
    requested = [
        event["params"]["request"]["url"]
        for event in devtools.events
        if event["method"] == "Network.requestWillBeSent"
    ]
    return Rendered(value["result"].get("value"), requested)
