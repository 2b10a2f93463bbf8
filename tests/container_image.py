"""The project's Dockerfile built into an image for the container tests, with no registry.

The base image is made here: `debootstrap` installs Debian bookworm with python3 from the
machine's own Debian mirror, with the machine's CA bundle (pip in the build reaches PyPI
through it), and `docker import` turns it into `crawler-test-base:bookworm`, which is kept
and reused by later runs. The Dockerfile takes it through its BASE build argument."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
BASE_IMAGE = "crawler-test-base:bookworm"
IMAGE = "crawler-test:latest"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
IMPORT_CHANGES = (  # what an official image's configuration would give
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["bash"]',
)
LEFT_OUT = ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man")


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    base_build_s: float  # 0 when the base image was already there
    build_s: float
    size_bytes: int


def run(command: list[str], *, timeout_s: float, stdin: IO[bytes] | None = None) -> str:
    """Run `command`, raising with the end of its output if it fails; its stdout."""
    result = subprocess.run(
        command, stdin=stdin, capture_output=True, timeout=timeout_s, check=False
    )
    if result.returncode != 0:
        output = (result.stdout[-4000:] + result.stderr[-4000:]).decode(errors="replace")
        raise RuntimeError(f"{' '.join(command)}: exit {result.returncode}\n{output}")
    return result.stdout.decode()


def docker(*arguments: str, timeout_s: float = 120.0) -> str:
    return run(["docker", *arguments], timeout_s=timeout_s)


def why_unavailable() -> str | None:
    """Why no image can be built here (no docker client, daemon or debootstrap), or None."""
    if shutil.which("docker") is None:
        return "no docker command"
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    except subprocess.TimeoutExpired:
        return "the docker daemon does not answer"
    if info.returncode != 0:
        return "no docker daemon can be reached"
    if not has_image(BASE_IMAGE) and shutil.which("debootstrap") is None:
        return f"no {BASE_IMAGE} image and no debootstrap to make it"
    return None


def has_image(tag: str) -> bool:
    return image_id(tag) != ""


def image_id(tag: str) -> str:
    """The ID of the image tagged `tag`, or "" when there is none."""
    inspect = subprocess.run(
        ["docker", "image", "inspect", "--format={{.Id}}", tag], capture_output=True, check=False
    )
    return inspect.stdout.decode().strip() if inspect.returncode == 0 else ""


def debian_mirror() -> str:
    """The machine's Debian mirror for bookworm, from its apt sources."""
    sources = Path("/etc/apt/sources.list.d")
    for path in sorted(sources.glob("*.sources")):
        for stanza in path.read_text().split("\n\n"):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.MULTILINE)
            if uris and re.search(r"^Suites:.*(?<!\S)bookworm(?!\S)", stanza, re.MULTILINE):
                return uris.group(1)
    for path in [Path("/etc/apt/sources.list"), *sorted(sources.glob("*.list"))]:
        text = path.read_text() if path.exists() else ""
        line = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+bookworm\s", text, re.MULTILINE)
        if line:
            return line.group(1)
    return DEFAULT_MIRROR


def build_base() -> None:
    """debootstrap a minimal bookworm with python3 and import it as BASE_IMAGE."""
    with tempfile.TemporaryDirectory(prefix="crawler-test-base-", dir="/var/tmp") as scratch:
        root = Path(scratch) / "root"
        command = ["debootstrap", "--variant=minbase", "--include=python3,python3-venv"]
        run([*command, "bookworm", str(root), debian_mirror()], timeout_s=900)
        for left_out in LEFT_OUT:
            shutil.rmtree(root / left_out)
            (root / left_out).mkdir()
        shutil.copyfile(CA_BUNDLE, root / "etc/ssl/certs/ca-certificates.crt")
        (root / "etc/pip.conf").write_text(f"[global]\ncert = {CA_BUNDLE}\n")
        changes = [argument for change in IMPORT_CHANGES for argument in ("--change", change)]
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        try:
            run(["docker", "import", *changes, "-", BASE_IMAGE], stdin=tar.stdout, timeout_s=300)
        finally:
            assert tar.stdout is not None
            tar.stdout.close()
            tar.wait()


def build_image() -> BuiltImage:
    """The project's image on the test base: made once, then the base is reused."""
    started = time.monotonic()
    if not has_image(BASE_IMAGE):
        build_base()
    base_done = time.monotonic()
    previous = image_id(IMAGE)
    docker(
        "build",
        "--network=host",  # the daemon runs with --bridge=none: pip reaches PyPI this way
        f"--build-arg=BASE={BASE_IMAGE}",
        f"--tag={IMAGE}",
        str(ROOT),
        timeout_s=900,
    )
    if previous not in ("", image_id(IMAGE)):  # left dangling by the new build: not kept
        subprocess.run(["docker", "image", "rm", previous], capture_output=True, check=False)
    size = docker("image", "inspect", "--format={{.Size}}", IMAGE)
    return BuiltImage(IMAGE, base_done - started, time.monotonic() - base_done, int(size))
