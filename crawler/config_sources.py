"""Where settings come from: defaults < TOML file < `CRAWLER_*` environment < flags.

`load_config()` merges them into one checked `Config`. The only module that reads `os.environ`.
"""

from __future__ import annotations

import difflib
import logging
import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path

from crawler.config import SETTINGS, Config
from crawler.errors import ConfigError
from crawler.settings import option_of

log = logging.getLogger("crawler")

DEFAULT_CONFIG_PATH = Path("config/crawler.toml")
ENV_PREFIX = "CRAWLER_"


def load_config(
    cli_values: Mapping[str, object] | None = None,
    *,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Config:
    """Merge defaults < TOML file < `CRAWLER_*` env < CLI values into one checked `Config`.

    The file is `config_file`, else `$CRAWLER_CONFIG`, else `config/crawler.toml` if it exists.
    A `CRAWLER_*` variable that names no setting is only warned about, through `warn` (default:
    the log): a scheduler sets some of its own (Kubernetes adds `CRAWLER_SERVICE_HOST` and the
    like for a Service named crawler). Raises `ConfigError` naming the key and where it came
    from, for an unknown key in the file, or a bad value anywhere.
    """
    env = os.environ if environ is None else environ
    values: dict[str, tuple[object, str]] = {}
    file = config_file or _env_config_path(env)
    if file is not None:
        values.update(_read_toml(file, required=True))
    elif DEFAULT_CONFIG_PATH.is_file():
        values.update(_read_toml(DEFAULT_CONFIG_PATH, required=False))
    values.update(_read_env(env, warn or log.warning))
    for name, value in (cli_values or {}).items():
        if value is not None:
            values[name] = (value, option_of(name))
    checked = {
        name: SETTINGS[name].checked(name, value, source)
        for name, (value, source) in values.items()
    }
    return Config(**checked)  # type: ignore[arg-type]  # keys and types were checked above


def _env_config_path(env: Mapping[str, str]) -> Path | None:
    found = env.get(f"{ENV_PREFIX}CONFIG", "").strip()
    return Path(found) if found else None


def _read_toml(file: Path, *, required: bool) -> dict[str, tuple[object, str]]:
    try:
        with file.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file not found: {file}") from None
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {file} is not valid TOML: {exc}") from None
    values: dict[str, tuple[object, str]] = {}
    for key, value in document.items():
        if key not in SETTINGS:
            raise ConfigError(f"unknown setting {key!r} in {file}{_did_you_mean(key, repr)}")
        values[key] = (value, str(file))
    return values


def _read_env(env: Mapping[str, str], warn: Callable[[str], None]) -> dict[str, tuple[object, str]]:
    values: dict[str, tuple[object, str]] = {}
    for variable, found in sorted(env.items()):
        if not variable.startswith(ENV_PREFIX) or variable == f"{ENV_PREFIX}CONFIG":
            continue
        name = variable[len(ENV_PREFIX) :].lower()
        if name not in SETTINGS:
            spelled = _did_you_mean(name, lambda close: f"{ENV_PREFIX}{close.upper()}")
            warn(f"environment variable {variable} names no setting: ignored{spelled}")
            continue
        values[name] = (SETTINGS[name].parsed(name, found, variable), variable)
    return values


def _did_you_mean(name: str, spell: Callable[[str], str]) -> str:
    """`; did you mean X?` for the setting closest to a misspelt `name`, if one is close."""
    close = difflib.get_close_matches(name, SETTINGS, n=1, cutoff=0.8)
    return f"; did you mean {spell(close[0])}?" if close else ""
