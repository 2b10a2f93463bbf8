"""A throwaway PostgreSQL server for the tests, started once per run with the machine's own
`initdb` and `pg_ctl` (as the `postgres` user when the tests run as root: initdb refuses root),
or the server `CRAWLER_TEST_POSTGRES_DSN` names."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from yarl import URL

USER = "crawler"
PASSWORD = "s3cret-pg-pw"  # the tests check it never shows in logs, stats or errors
SERVER_SETTINGS = "-c listen_addresses=127.0.0.1 -c max_connections=200"
FAST_SETTINGS = " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
"""For the tests only: nothing they write has to survive the machine."""


@dataclass(frozen=True)
class PostgresServer:
    """A server the tests may create and drop databases on, reached through `base_dsn`."""

    base_dsn: str

    def dsn(self, database: str = "postgres") -> str:
        return str(URL(self.base_dsn).with_path(f"/{database}"))

    def create_database(self) -> str:
        """A new, empty database; returns its DSN."""
        name = f"crawl_{uuid.uuid4().hex[:12]}"
        asyncio.run(self._execute(f'CREATE DATABASE "{name}"'))
        return self.dsn(name)

    def drop_database(self, dsn: str) -> None:
        name = URL(dsn).path.lstrip("/")
        asyncio.run(self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    async def _execute(self, statement: str) -> None:
        connection = await asyncpg.connect(self.base_dsn)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()


def binaries() -> Path | None:
    """The directory of `initdb` and `pg_ctl`, if this machine has them."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(versions[-1]).parent if versions else None


@contextmanager
def started_server(*, durable: bool = False) -> Iterator[PostgresServer]:
    """A fresh cluster on a free loopback port, stopped and deleted afterwards; `durable` keeps
    PostgreSQL's own safe defaults (the benchmark's), else it trades them for speed."""
    bin_dir = binaries()
    if bin_dir is None:
        raise FileNotFoundError("no initdb/pg_ctl on this machine")
    base = Path(tempfile.mkdtemp(prefix="crawler-pg-"))
    data, password_file = base / "data", base / "password"
    password_file.write_text(PASSWORD + "\n")
    as_owner = _as_postgres_user(base)
    port = _free_port()
    _run([*as_owner, str(bin_dir / "initdb"), "-D", str(data), "-U", USER,
          f"--pwfile={password_file}", "--auth-local=trust", "--auth-host=scram-sha-256",
          "-E", "UTF8", "--no-sync"])  # fmt: skip
    options = f"-p {port} -k {base} {SERVER_SETTINGS}{'' if durable else FAST_SETTINGS}"
    pg_ctl = [*as_owner, str(bin_dir / "pg_ctl"), "-D", str(data)]
    _run([*pg_ctl, "-o", options, "-l", str(base / "log"), "-w", "start"])
    try:
        yield PostgresServer(f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{port}/postgres")
    finally:
        _run([*pg_ctl, "-m", "immediate", "-w", "stop"])
        shutil.rmtree(base, ignore_errors=True)


def _as_postgres_user(base: Path) -> list[str]:
    """The command prefix that runs as a user initdb accepts; gives `base` to that user."""
    if os.geteuid() != 0:
        return []
    shutil.chown(base, "postgres", "postgres")
    return ["runuser", "-u", "postgres", "--"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(command: list[str]) -> None:
    finished = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if finished.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {finished.stderr or finished.stdout}")
