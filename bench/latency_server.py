"""A server that answers every /u/N after 100 ms with a small HTML page (the seed scenario)."""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import web

BODY = "<!doctype html><html><body><p>" + "latency " * 200 + "</p></body></html>"


async def page(_: web.Request) -> web.Response:
    await asyncio.sleep(0.1)
    return web.Response(text=BODY, content_type="text/html")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_get(r"/u/{n:\d+}", page)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None, backlog=4096)


if __name__ == "__main__":
    main()
