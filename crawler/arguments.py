"""The command line's argument parsers: argparse, suggesting the closest option for an unknown
one and keeping the examples at the end of `--help` as they are written."""

from __future__ import annotations

import argparse
import difflib
import re
from typing import NoReturn

PROG = "crawler"  # the command's name in usage lines, errors and examples


class CommandParser(argparse.ArgumentParser):
    """argparse, suggesting the closest option for an unknown one (`--concurency`)."""

    def error(self, message: str) -> NoReturn:
        unknown = re.match(r"unrecognized arguments: (--[^\s=]+)", message)
        if unknown:
            options = [option for action in self._actions for option in action.option_strings]
            close = difflib.get_close_matches(unknown.group(1), options, n=1, cutoff=0.75)
            if close:
                message += f"; did you mean {close[0]}?"
        super().error(message)


class WithExamples(argparse.HelpFormatter):
    """Wraps the description as usual but keeps the epilog's lines (the examples) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("examples:"):
            return text
        return super()._fill_text(text, width, indent)
