"""Settings: defaults, TOML file, environment, CLI values, and the errors for bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.config import DEFAULT_USER_AGENT, Config
from crawler.config_sources import load_config
from crawler.errors import ConfigError


def test_defaults_match_the_documented_contract() -> None:
    config = Config()

    assert config.db == Path("storage/crawl.db")
    assert (config.concurrency, config.per_host, config.delay) == (64, 4, 0.0)
    assert (config.timeout, config.max_size, config.scope) == (30.0, 10 * 1024 * 1024, "host")
    assert config.max_pages is None
    assert config.max_depth is None
    assert config.user_agent == DEFAULT_USER_AGENT


def test_precedence_is_cli_over_env_over_file_over_defaults(tmp_path: Path) -> None:
    path = tmp_path / "crawl.toml"
    path.write_text("concurrency = 10\nper_host = 2\ndelay = 1.5\n")

    config = load_config(
        {"concurrency": 30},
        config_file=path,
        environ={"CRAWLER_CONCURRENCY": "20", "CRAWLER_PER_HOST": "3"},
    )

    assert (config.concurrency, config.per_host, config.delay, config.timeout) == (30, 3, 1.5, 30.0)


def test_env_values_are_parsed_by_type() -> None:
    config = load_config(
        environ={
            "CRAWLER_PROGRESS": "false",
            "CRAWLER_MAX_DEPTH": "3",
            "CRAWLER_MAX_PAGES": "none",
            "CRAWLER_DENY": '["a,b", "c"]',
            "CRAWLER_ALLOW": "^https://",
            "CRAWLER_DB": "/data/crawl.db",
        }
    )

    assert config.progress is False
    assert (config.max_depth, config.max_pages) == (3, None)
    assert config.deny == ("a,b", "c")
    assert config.allow == ("^https://",)
    assert config.db == Path("/data/crawl.db")


def test_the_config_file_can_come_from_crawler_config(tmp_path: Path) -> None:
    path = tmp_path / "other.toml"
    path.write_text('scope = "domain"\n')

    assert load_config(environ={"CRAWLER_CONFIG": str(path)}).scope == "domain"


def test_the_shipped_config_file_holds_every_setting_at_its_default() -> None:
    shipped = Path(__file__).parent.parent / "config" / "crawler.toml"

    assert load_config(config_file=shipped, environ={}) == Config()
    text = shipped.read_text()
    for name in Config.__dataclass_fields__:
        assert f"{name} =" in text, name


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("concurency = 3\n", "unknown setting 'concurency' in"),
        ("concurency = 3\n", "did you mean 'concurrency'?"),
        ("concurrency = 0\n", "bad value for 'concurrency' from"),
        ('concurrency = "8"\n', "expected a whole number"),
        ("timeout = 0\n", "'timeout'"),
        ("delay = -1\n", "'delay'"),
        ('allow = "x"\n', "expected a list of regular expressions"),
        ("this is = not toml\n", "is not valid TOML"),
    ],
)
def test_bad_file_settings_name_the_key_and_the_file(
    tmp_path: Path, toml: str, message: str
) -> None:
    path = tmp_path / "crawl.toml"
    path.write_text(toml)

    with pytest.raises(ConfigError, match=r"crawl\.toml") as error:
        load_config(config_file=path, environ={})

    assert message in str(error.value)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CRAWLER_PER_HOST": "x"}, "bad value for 'per_host' from CRAWLER_PER_HOST"),
        ({"CRAWLER_PROGRESS": "maybe"}, "bad value for 'progress' from CRAWLER_PROGRESS"),
        ({"CRAWLER_LOG_FORMAT": "xml"}, "must be one of text, json"),
    ],
)
def test_bad_env_settings_name_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(environ=environ)


def test_config_objects_check_their_values_too() -> None:
    with pytest.raises(ConfigError, match="'per_host' from Config"):
        Config(per_host=0)


def test_config_is_frozen() -> None:
    config = Config()

    with pytest.raises(AttributeError):
        config.concurrency = 1  # type: ignore[misc]


def test_a_proxies_file_is_checked_with_the_settings(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("http://ok:1\nftp://nope\n")

    with pytest.raises(ConfigError, match=r"'proxies_file' from Config\(\): .*bad\.txt:2"):
        Config(proxies_file=bad)
    with pytest.raises(ConfigError, match="'proxies_file' from --proxies-file: cannot read"):
        load_config({"proxies_file": str(tmp_path / "missing.txt")}, environ={})


def test_an_unknown_environment_variable_is_a_warning_with_the_closest_setting() -> None:
    warnings: list[str] = []

    config = load_config(
        environ={"CRAWLER_CONCURENCY": "3", "CRAWLER_SERVICE_HOST": "10.0.0.11"},
        warn=warnings.append,
    )

    assert config == Config()
    assert warnings == [
        "environment variable CRAWLER_CONCURENCY names no setting: ignored;"
        " did you mean CRAWLER_CONCURRENCY?",
        "environment variable CRAWLER_SERVICE_HOST names no setting: ignored",
    ]
