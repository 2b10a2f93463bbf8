"""The command line: `crawler [crawl] SEEDS`, `export DB`, `stats DB`; errors become exit codes.

The first argument names the command when it is one; anything else is a seeds file to crawl
(`crawler crawl FILE` crawls a file named like a command).

The only module that reads `sys.argv` and maps errors to exit codes; nothing imports it.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from types import ModuleType

from crawler.allocator import keep_free_heap
from crawler.api import Crawler, run_async
from crawler.arguments import PROG, CommandParser, WithExamples
from crawler.config import (
    DEFAULTS,
    PARTS,
    SETTINGS,
    Config,
    __version__,
    is_database_url,
)
from crawler.config_sources import load_config
from crawler.errors import ConfigError, UsageError
from crawler.exit_codes import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_SIGINT,
    EXIT_USAGE,
    exit_code_for,
)
from crawler.logs import configure_logging
from crawler.router import Router
from crawler.seeds import read_seeds
from crawler.settings import Setting, flag_of, option_of, setting_of, show

COMMANDS = ("crawl", "export", "stats", "report")

log = logging.getLogger("crawler")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    named = arguments[0] if arguments and arguments[0] in COMMANDS else None
    command, rest = (named, arguments[1:]) if named else ("crawl", arguments)
    try:
        if named and not rest and Path(named).is_file():
            raise UsageError(
                f"'{named}' is a command: to crawl the seeds file '{named}', run"
                f" '{PROG} crawl {named}' (or '{PROG} ./{named}')"
            )
        if command == "crawl":
            return _run_crawl(rest)
        from crawler.commands import run_subcommand  # noqa: PLC0415 (not for a crawl's start-up)

        run_subcommand(command, rest)
        return EXIT_OK
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (`crawler export DB | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_SIGINT
    except Exception as exc:  # the last boundary: one line, not a traceback
        log.debug("unexpected failure", exc_info=exc)
        print(f"{PROG}: unexpected failure: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILURE


def _crawl_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog=PROG,
        usage=f"{PROG} [crawl] SEEDS [options]",
        description="Crawl from the seeds in SEEDS and store one record per URL in --db."
        f" Other commands: '{PROG} export DB', '{PROG} stats DB'. A seeds file named like a"
        f" command is crawled with '{PROG} crawl FILE'.",
        epilog=CRAWL_EXAMPLES,
        formatter_class=WithExamples,
    )
    parser.add_argument(
        "seeds", metavar="SEEDS", help="file of seed URLs, one a line; '-' for stdin"
    )
    parser.add_argument("--config", metavar="FILE", type=Path, help="TOML settings file")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    for part in PARTS:
        title = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", part.__name__).lower()
        group = parser.add_argument_group(title, (part.__doc__ or "").strip())
        for declared in fields(part):
            _add_setting(group, declared.name, setting_of(declared))
    return parser


CRAWL_EXAMPLES = f"""examples:
  {PROG} seeds.txt                           crawl into storage/crawl.db; rerun to resume
  {PROG} seeds.txt --scope domain --max-pages 10000 --delay 0.5
  {PROG} seeds.txt --db shop.db --parser shop.py:router     your parsers, your items
  cat urls.txt | {PROG} - --store-bodies html --log-format json
  {PROG} seeds.txt --db postgresql://crawler:secret@db/crawl --processes 4
  CRAWLER_CONCURRENCY=128 {PROG} seeds.txt   any setting as CRAWLER_<NAME>

Every setting can also come from the TOML file (--config, else $CRAWLER_CONFIG, else
config/crawler.toml) or from CRAWLER_<NAME> environment variables; precedence: flags >
environment > file > defaults.
Exit codes: 0 done, 1 unexpected failure, 2 bad usage/config/input, 3 stalled (nothing
stored for stall_timeout), 130 SIGINT, 143 SIGTERM; 141 when the reader of an export's
output goes away."""


def _add_setting(group: argparse._ArgumentGroup, name: str, setting: Setting) -> None:
    """The flag of one setting: `--name VALUE`, or for a boolean `--name` / `--no-name`."""
    flag = flag_of(name, default := getattr(DEFAULTS, name))
    if isinstance(default, bool):
        group.add_argument(
            flag,
            dest=name,
            action="store_const",
            const="false" if default else "true",
            help=f"turn off: {setting.help}" if default else setting.help,
        )
    elif setting.repeatable:
        group.add_argument(
            flag, metavar=setting.metavar, action="append", help=f"{setting.help}; repeatable"
        )
    else:
        shown = show(default, setting.unset).replace("%", "%%")
        group.add_argument(flag, metavar=setting.metavar, help=f"{setting.help} (default: {shown})")


def _cli_values(namespace: argparse.Namespace) -> dict[str, object]:
    values: dict[str, object] = {}
    for name, setting in SETTINGS.items():
        raw = getattr(namespace, name, None)
        if raw is None:
            continue
        if setting.repeatable:
            values[name] = list(raw)
        else:
            values[name] = setting.parsed(name, raw, option_of(name))
    return values


def _run_crawl(arguments: list[str]) -> int:
    namespace = _crawl_parser().parse_args(arguments)
    warnings: list[str] = []  # said once the log is set up
    config = load_config(_cli_values(namespace), config_file=namespace.config, warn=warnings.append)
    configure_logging(config.log_format, config.log_level)
    for warning in warnings:
        log.warning(warning)
    keep_free_heap()
    if config.processes > 1:
        if not is_database_url(config.db):
            raise ConfigError(
                "--processes needs a postgresql:// database to share: an SQLite file serves"
                " one process"
            )
        from crawler.fleet import run_fleet  # noqa: PLC0415 (not for a crawl in one process)

        return run_async(run_fleet(config, arguments, namespace.seeds))
    crawler = load_parser(config.parser, config) if config.parser else Crawler(config)
    seeds = read_seeds(namespace.seeds)
    return exit_code_for(run_async(crawler.crawl_and_report(seeds, handle_signals=True)))


def load_parser(reference: str, config: Config) -> Crawler:
    """The `Crawler` or `Router` named by `module:object` or `path/to/file.py:object`, as a
    `Crawler` with `config` (the object's own `Config` is not used). Raises `ConfigError`."""
    module_name, _, attribute = reference.rpartition(":")
    try:
        found: object = _import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (Exception, SystemExit) as exc:  # whatever the user's module raises on import
        raise ConfigError(
            f"cannot load parser {reference!r}: {type(exc).__name__}: {exc}"
        ) from None
    if isinstance(found, Router):
        return Crawler(config, router=found)
    if not isinstance(found, Crawler):
        kind = type(found).__name__
        raise ConfigError(f"parser {reference!r} is a {kind}, not a Crawler or a Router")
    if found.config != DEFAULTS:
        log.warning(
            "the Config of parser %s is not used: a command-line crawl takes its settings from"
            " flags, environment and config file",
            reference,
        )
    return found.with_config(config)


def _import_module(name: str) -> ModuleType:
    if name.endswith(".py"):
        path = Path(name).resolve()
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {name}")
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.parent))  # so the file imports its neighbours
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
        return module
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does, for the installed script too
    return importlib.import_module(name)
