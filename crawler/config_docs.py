"""`config/crawler.toml` and the README's settings table, written from the settings' declarations.

`python -m crawler.config_docs` rewrites both after a setting changes in `crawler/config.py`;
a test fails while either is out of date.

Nothing imports it.
"""

from __future__ import annotations

import json
import sys
from dataclasses import fields
from pathlib import Path

from crawler.config import DEFAULTS, PARTS
from crawler.settings import Setting, flag_of, setting_of, show

TOML_HEADER = """\
# Every setting of the crawler with its default value. The crawler reads this file when it
# exists in the working directory (or the file named by --config / $CRAWLER_CONFIG).
# Precedence: command-line flags > CRAWLER_<NAME> environment variables > this file > defaults.
# Written by `python -m crawler.config_docs` from crawler/config.py.
"""
TABLE_START = "<!-- settings table: written by `python -m crawler.config_docs` -->"
TABLE_END = "<!-- end of settings table -->"
COMMENT_COLUMN = 35


def _declarations() -> list[tuple[str, type, Setting, object]]:
    """(name, part, setting, default) of every setting, part by part."""
    return [
        (declared.name, part, setting_of(declared), getattr(DEFAULTS, declared.name))
        for part in PARTS
        for declared in fields(part)
    ]


def toml_value(value: object) -> str:
    """A default as TOML: `64`, `0.0`, `true`, `"host"`, `[408, 429]`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return json.dumps(str(value))


def render_toml() -> str:
    """The text of `config/crawler.toml`: every setting at its default, part by part."""
    lines = [TOML_HEADER.rstrip("\n")]
    part_before = None
    for name, part, declared, default in _declarations():
        if part is not part_before:
            lines += ["", f"# {part.__name__}. {(part.__doc__ or '').strip()}"]
            part_before = part
        if default is None:
            entry = f"# {name} = {declared.example}"
            comment = f"{declared.help} (default: {declared.unset})"
        else:
            entry = f"{name} = {toml_value(default)}"
            comment = declared.help
        lines.append(f"{entry:<{COMMENT_COLUMN - 1}} # {comment}")
    return "\n".join(lines) + "\n"


def render_table() -> str:
    """The README's table of settings, between its two marker comments."""
    rows = [TABLE_START, "", "| setting | flag | default | meaning |", "|---|---|---|---|"]
    for name, _, declared, default in _declarations():
        shown = show(default, declared.unset)
        if isinstance(default, str | Path):
            shown = f"`{shown}`"
        flag = flag_of(name, default)
        flag = f"`{flag}`" if isinstance(default, bool) else f"`{flag} {declared.metavar}`"
        rows.append(f"| `{name}` | {flag} | {shown} | {declared.help} |")
    return "\n".join([*rows, "", TABLE_END])


def with_table(readme: str) -> str:
    """The README's text with its settings table rewritten."""
    start, end = readme.index(TABLE_START), readme.index(TABLE_END) + len(TABLE_END)
    return readme[:start] + render_table() + readme[end:]


def main(root: Path) -> None:
    """Rewrite `config/crawler.toml` and the README's table under `root`."""
    (root / "config" / "crawler.toml").write_text(render_toml(), encoding="utf-8")
    readme = root / "README.md"
    readme.write_text(with_table(readme.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path())
