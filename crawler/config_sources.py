"""Where settings come from: defaults < TOML file < `CRAWLER_*` environment < flags.

`load_config()` merges them into one checked `Config`. The only module that reads `os.environ`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from crawler.config import SETTINGS, Config
from crawler.errors import ConfigError
from crawler.settings import option_of

DEFAULT_CONFIG_PATH = Path("config/crawler.toml")
ENV_PREFIX = "CRAWLER_"


def load_config(
    cli_values: Mapping[str, object] | None = None,
    *,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Merge defaults < TOML file < `CRAWLER_*` env < CLI values into one checked `Config`.

    The file is `config_file`, else `$CRAWLER_CONFIG`, else `config/crawler.toml` if it exists.
    Raises `ConfigError` naming the key and where it came from.
    """
    env = os.environ if environ is None else environ
    values: dict[str, tuple[object, str]] = {}
    file = config_file or _env_config_path(env)
    if file is not None:
        values.update(_read_toml(file, required=True))
    elif DEFAULT_CONFIG_PATH.is_file():
        values.update(_read_toml(DEFAULT_CONFIG_PATH, required=False))
    values.update(_read_env(env))
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
            raise ConfigError(f"unknown setting {key!r} in {file}")
        values[key] = (value, str(file))
    return values


def _read_env(env: Mapping[str, str]) -> dict[str, tuple[object, str]]:
    values: dict[str, tuple[object, str]] = {}
    for variable, found in env.items():
        if not variable.startswith(ENV_PREFIX) or variable == f"{ENV_PREFIX}CONFIG":
            continue
        name = variable[len(ENV_PREFIX) :].lower()
        if name not in SETTINGS:
            raise ConfigError(f"unknown setting in environment variable {variable}")
        values[name] = (SETTINGS[name].parsed(name, found, variable), variable)
    return values
