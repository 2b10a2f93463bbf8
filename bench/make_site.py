"""Write a deterministic static site for crawl measurements.

    python bench/make_site.py OUT_DIR [--pages 20000] [--origin http://127.0.0.1:8080] [--seed 1]
    python bench/make_site.py OUT_DIR --scale [--pages 10000]

Page n is /p/n.html (5-60 KB, 10-60 links: relative, root-relative, absolute, duplicates, a few
assets); every page is reachable from /index.html. Prints the number of distinct URLs a full
crawl should record.

With --docs: a documentation tree, /docs/sK/pN.html in 48 sections (--pages in all, default
2,400), 40-120 KB each with 150-400 links: every page repeats the same navigation (each
section's index, every page of its own section, the site's top links) in relative and `../`
forms, and links a few pages elsewhere in its text, as documentation sites do.

With --scale: files /s/NNNN.html, each with 100 links /s/IIINNNN.html; served with a rewrite
that maps a 7-digit page to the file named by its last four digits, the links of all files
together name 100 x pages distinct URLs (1,000,000 for 10,000 files).
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

WORDS = [
    "crawler",
    "frontier",
    "polite",
    "async",
    "parser",
    "session",
    "connector",
    "record",
    "export",
    "scope",
]
ASSETS = 50


def page_links(n: int, pages: int, origin: str, rng: random.Random) -> list[str]:
    children = [c for c in (2 * n + 1, 2 * n + 2) if c < pages]
    links = [f"/p/{c}.html" for c in children]
    for _ in range(rng.randint(8, 56)):
        target = rng.randrange(pages)
        style = rng.random()
        if style < 0.4:
            links.append(f"{target}.html")
        elif style < 0.7:
            links.append(f"/p/{target}.html")
        elif style < 0.85:
            links.append(f"{origin}/p/{target}.html")
        else:
            links.append(f"../p/{target}.html#s{rng.randrange(5)}")
    if rng.random() < 0.2:
        links.append(f"/assets/a{rng.randrange(ASSETS)}.png")
    links += links[: rng.randint(0, 4)]  # the same link twice on a page, as menus do
    return links


def page_html(n: int, links: list[str], size: int, rng: random.Random) -> str:
    anchors = "\n".join(f'<li><a href="{href}">link {i}</a></li>' for i, href in enumerate(links))
    text = " ".join(rng.choices(WORDS, k=size // 7 + 1))[:size]
    return (
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>Page {n}</title></head>\n'
        f"<body><h1>Page {n}</h1><p>{text}</p>\n<ul>\n{anchors}\n</ul></body></html>\n"
    )


DOCS_SECTIONS = 48
DOCS_TOP = ["index.html", "about.html", "genindex.html", "search.html", "changelog.html"]


def docs_page_links(section: int, n: int, per_section: int, rng: random.Random) -> list[str]:
    top = [f"../../{name}" for name in DOCS_TOP]
    sections = [f"../s{s}/index.html" for s in range(DOCS_SECTIONS)]
    own = [f"p{p}.html" for p in range(per_section)]
    on_page = [f"#h{h}" for h in range(rng.randint(5, 30))]
    text = []
    for _ in range(rng.randint(10, 120)):
        s, p = rng.randrange(DOCS_SECTIONS), rng.randrange(per_section)
        text.append(rng.choice([f"../s{s}/p{p}.html", f"/docs/s{s}/p{p}.html", f"p{p}.html#x"]))
    footer = [*top, f"../s{section}/index.html", "../../index.html"]
    return top + sections + own + on_page + text + footer


def write_docs_site(out: Path, pages: int, rng: random.Random) -> int:
    per_section = max(pages // DOCS_SECTIONS, 1)
    for section in range(DOCS_SECTIONS):
        folder = out / "docs" / f"s{section}"
        folder.mkdir(parents=True, exist_ok=True)
        index_links = [f"p{p}.html" for p in range(per_section)] + [f"../../{DOCS_TOP[0]}"]
        (folder / "index.html").write_text(page_html(section, index_links, 2_000, rng))
        for n in range(per_section):
            links = docs_page_links(section, n, per_section, rng)
            size = rng.randint(40_000, 120_000) - 60 * len(links)
            (folder / f"p{n}.html").write_text(page_html(n, links, max(size, 500), rng))
    sections = [f"docs/s{s}/index.html" for s in range(DOCS_SECTIONS)]
    for name in DOCS_TOP:
        (out / name).write_text(page_html(-1, sections, 3_000, rng))
    # Every page, section index and top page, and the root URL / beside /index.html.
    return DOCS_SECTIONS * (per_section + 1) + len(DOCS_TOP) + 1


def write_scale_site(out: Path, files: int, rng: random.Random) -> int:
    (out / "s").mkdir(parents=True, exist_ok=True)
    for f in range(files):
        links = [f"/s/{i:03d}{(f + i * 97 + 1) % files:04d}.html" for i in range(100)]
        (out / "s" / f"{f:04d}.html").write_text(page_html(f, links, 4_000, rng))
    return 100 * files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--pages", type=int, default=20_000)
    parser.add_argument("--origin", default="http://127.0.0.1:8080")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scale", action="store_true")
    parser.add_argument("--docs", action="store_true")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    if args.docs:
        print(write_docs_site(args.out, args.pages, rng))
        return
    if args.scale:
        print(write_scale_site(args.out, args.pages, rng))
        return
    (args.out / "p").mkdir(parents=True, exist_ok=True)
    (args.out / "assets").mkdir(exist_ok=True)
    assets: set[int] = set()
    for n in range(args.pages):
        links = page_links(n, args.pages, args.origin, rng)
        assets.update(int(h[9:-4]) for h in links if h.startswith("/assets/a"))
        size = rng.randint(5_000, 60_000) - 60 * len(links)
        (args.out / "p" / f"{n}.html").write_text(page_html(n, links, max(size, 500), rng))
    for a in range(ASSETS):
        (args.out / "assets" / f"a{a}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + rng.randbytes(2000))
    (args.out / "index.html").write_text(page_html(-1, ["/p/0.html"], 1000, rng))
    print(1 + args.pages + len(assets))


if __name__ == "__main__":
    main()
