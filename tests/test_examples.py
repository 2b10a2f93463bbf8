"""The programs in examples/ run as documented against the demo shop, served on loopback."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.conftest import CliResult, run_cli, start_app

ROOT = Path(__file__).resolve().parent.parent
SHOP = ROOT / "examples" / "shop-site"
PRODUCTS = 12
PRICED = PRODUCTS - 1  # product 7 says "ask us"


@pytest.fixture
async def shop_url() -> AsyncIterator[str]:
    """examples/shop-site served as `python -m http.server` would."""

    async def index(_: web.Request) -> web.FileResponse:
        return web.FileResponse(SHOP / "index.html")

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_static("/", SHOP)
    runner, port = await start_app(app)
    yield f"http://127.0.0.1:{port}/"
    await runner.cleanup()


async def run_example(name: str, *arguments: str) -> CliResult:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "examples" / name),
        *arguments,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return CliResult(process.returncode, stdout.decode(), stderr.decode())


async def test_product_scraper_yields_every_product_once(tmp_path: Path, shop_url: str) -> None:
    db = tmp_path / "shop.db"

    result = await run_example("product_scraper.py", shop_url, str(db))
    exported = await run_cli("export", str(db), "--items", "--format", "csv", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "finished: 16 pages, 0 errors" in result.stdout
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert len(rows) == PRODUCTS
    assert {row["sku"] for row in rows} == {f"SKU-{1000 + n}" for n in range(1, PRODUCTS + 1)}
    teapot = next(row for row in rows if row["name"] == "Teapot")
    assert teapot["price"] == "€4.25"
    assert teapot["in_stock"] == "true"
    assert teapot["listed_on"] == f"{shop_url}catalog/page-1.html"


async def test_link_graph_writes_one_edge_per_link(tmp_path: Path, shop_url: str) -> None:
    edges_file = tmp_path / "edges.tsv"

    result = await run_example("link_graph.py", shop_url, str(tmp_path / "g.db"), str(edges_file))

    assert result.returncode == 0, result.stderr
    edges = [tuple(line.split("\t")) for line in edges_file.read_text().splitlines()]
    assert (f"{shop_url}catalog/page-1.html", f"{shop_url}product/1.html") in edges
    assert (f"{shop_url}product/12.html", f"{shop_url}product/1.html") in edges
    assert len(edges) == len(set(edges))
    assert {target for _, target in edges} >= {f"{shop_url}product/{n}.html" for n in range(1, 13)}
    assert f"{len(edges)} edges in {edges_file}" in result.stdout


async def test_pipeline_example_writes_cleaned_items_to_its_own_file(
    tmp_path: Path, shop_url: str
) -> None:
    output = tmp_path / "priced.jsonl"

    result = await run_example("pipeline_to_file.py", shop_url, str(tmp_path / "p.db"), str(output))
    exported = await run_cli("export", str(tmp_path / "p.db"), "--items", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    written = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(written) == PRICED
    assert {"name": "Teapot", "price": 4.25} in written
    assert all(item["name"] != "Cup" for item in written)  # "ask us": dropped
    stored = [json.loads(line) for line in exported.stdout.splitlines()]
    assert sorted(item["name"] for item in stored) == sorted(item["name"] for item in written)


async def test_the_cli_runs_an_example_parser_by_file_and_by_module(
    tmp_path: Path, shop_url: str
) -> None:
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(shop_url + "\n")
    by_file = await run_cli(
        str(seeds),
        "--parser",
        str(ROOT / "examples" / "product_scraper.py") + ":crawler",
        "--db",
        str(tmp_path / "a.db"),
        "--no-progress",
        cwd=tmp_path,
    )
    by_module = await run_cli(
        str(seeds),
        "--parser",
        "product_scraper:crawler",
        "--db",
        str(tmp_path / "b.db"),
        "--no-progress",
        cwd=ROOT / "examples",
    )

    for result, db in ((by_file, "a.db"), (by_module, "b.db")):
        assert result.returncode == 0, result.stderr
        exported = await run_cli("export", str(tmp_path / db), "--items", cwd=tmp_path)
        assert len(exported.stdout.splitlines()) == PRODUCTS
    assert "Config of parser" in by_file.stderr  # its own Config is not used: said once
