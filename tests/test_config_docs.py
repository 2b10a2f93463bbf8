"""The settings' documentation is written from their declarations and must not drift."""

from __future__ import annotations

import tomllib
from pathlib import Path

from crawler.config import PARTS, SETTINGS, Config
from crawler.config_docs import render_table, render_toml, with_table
from crawler.config_sources import load_config

ROOT = Path(__file__).parent.parent
FIX = "run `python -m crawler.config_docs` and commit the result"


def test_the_shipped_toml_file_is_the_one_the_declarations_give() -> None:
    shipped = (ROOT / "config" / "crawler.toml").read_text(encoding="utf-8")

    assert shipped == render_toml(), FIX


def test_the_readme_table_is_the_one_the_declarations_give() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")

    assert with_table(readme) == readme, FIX
    assert readme.count("| `") >= len(SETTINGS)


def test_the_toml_file_lists_every_setting_and_loads_as_the_defaults() -> None:
    text = render_toml()
    uncommented = "\n".join(
        line.removeprefix("# ")
        for line in text.splitlines()
        if not line.startswith("#") or line.removeprefix("# ").split(" =")[0] in SETTINGS
    )

    assert set(tomllib.loads(uncommented)) == set(SETTINGS)
    assert load_config(config_file=ROOT / "config" / "crawler.toml", environ={}) == Config()


def test_each_setting_belongs_to_exactly_one_part_and_has_a_table_row() -> None:
    declared = [name for part in PARTS for name in part.__dataclass_fields__]
    table = render_table()

    assert sorted(declared) == sorted(SETTINGS)
    assert all(f"| `{name}` |" in table for name in SETTINGS)
