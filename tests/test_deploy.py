"""The Kubernetes manifests in deploy/: valid against the Kubernetes API schemas (offline, with the
schemas kubernetes-validate ships) and giving the crawler what its pod needs: a grace period
above `shutdown_grace`, memory for its measured peak, metrics where the annotations point, the
image's non-root user, the SQLite database on a volume that outlives the pod, the seeds where
the arguments name them, and only settings the crawler knows.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]  # ships neither py.typed nor stubs
import pytest
import yaml

from crawler.config import Config
from crawler.config_sources import load_config

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
MANIFESTS = sorted(DEPLOY.glob("*.yaml"))
# The oldest Kubernetes the manifests must run on (CronJob timeZone: 1.27), and the newest whose
# schemas the installed kubernetes-validate ships (an API removed since then fails there).
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.latest_version())
PASSIVE_KINDS = {"ConfigMap", "PersistentVolumeClaim", "Secret"}
ANNOTATIONS = ("prometheus.io/scrape", "prometheus.io/port", "prometheus.io/path")
PEAK_RSS = 63 * 10**6  # the benchmark's peak RSS: a 100,000-page crawl of a 1,000,000-URL site
MEMORY_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}

Manifest = dict[str, Any]


def documents(path: Path) -> list[Manifest]:
    """The YAML documents of one file, empty ones left out."""
    with path.open(encoding="utf-8") as handle:
        return [document for document in yaml.safe_load_all(handle) if document is not None]


def everything() -> Iterator[tuple[Path, Manifest]]:
    for path in MANIFESTS:
        for document in documents(path):
            yield path, document


def pod_template(document: Manifest) -> Manifest | None:
    """A workload's pod template; None for a kind that runs nothing."""
    if document["kind"] == "Job":
        template: Manifest = document["spec"]["template"]
        return template
    if document["kind"] == "CronJob":
        template = document["spec"]["jobTemplate"]["spec"]["template"]
        return template
    assert document["kind"] in PASSIVE_KINDS, f"a kind these tests do not know: {document}"
    return None


def pod_of(document: Manifest) -> Manifest:
    template = pod_template(document)
    assert template is not None, f"{document['kind']} runs no pod"
    return template


def job_spec(document: Manifest) -> Manifest:
    """A Job's spec, or the spec of the Jobs a CronJob creates."""
    spec: Manifest = document["spec"]
    if document["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec


def workloads() -> list[Any]:
    """One pytest parameter per workload: (its document, its pod template), named by file."""
    found = []
    for path, document in everything():
        template = pod_template(document)
        if template is not None:
            name = f"{path.name}:{document['kind']}/{document['metadata']['name']}"
            found.append(pytest.param(document, template, id=name))
    return found


WORKLOADS = workloads()


def declared(kind: str) -> dict[str, Manifest]:
    """The documents of one kind in deploy/, by name."""
    return {
        document["metadata"]["name"]: document
        for _, document in everything()
        if document["kind"] == kind
    }


def image_user() -> int:
    """The uid the Dockerfile creates its user with."""
    found = re.search(r"useradd\b[^\n]*--uid (\d+)", (ROOT / "Dockerfile").read_text("utf-8"))
    assert found, "the Dockerfile creates no user with a fixed --uid"
    return int(found[1])


def image_environment() -> dict[str, str]:
    """The CRAWLER_* variables the Dockerfile's ENV sets: the pod's env overrides them."""
    dockerfile = (ROOT / "Dockerfile").read_text("utf-8").replace("\\\n", " ")
    instructions = re.findall(r"^ENV (.*)$", dockerfile, re.MULTILINE)
    return dict(re.findall(r"(CRAWLER_\w+)=(\S+)", " ".join(instructions)))


def environment(container: Manifest) -> dict[str, str]:
    """What the container sees: the image's variables, then its own (secrets looked up)."""
    found = image_environment()
    secrets = declared("Secret")
    for variable in container.get("env", []):
        if "value" in variable:
            found[variable["name"]] = variable["value"]
            continue
        reference = variable["valueFrom"]["secretKeyRef"]
        secret = secrets.get(reference["name"])
        assert secret, f"{variable['name']}: secret {reference['name']} is not in deploy/"
        found[variable["name"]] = secret["stringData"][reference["key"]]
    return found


def crawler_config(container: Manifest) -> Config:
    """The settings the crawler in this container runs with; no variable may be unknown."""
    warnings: list[str] = []
    config = load_config(environ=environment(container), warn=warnings.append)
    assert warnings == []
    return config


def memory(quantity: object) -> int:
    """Bytes in a Kubernetes memory quantity such as 512Mi."""
    found = re.fullmatch(r"(\d+)(k|M|G|Ki|Mi|Gi)?", str(quantity))
    assert found, f"a memory quantity these tests cannot read: {quantity!r}"
    return int(found[1]) * MEMORY_UNITS[found[2] or ""]


@pytest.fixture(autouse=True)
def _no_crawler_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The settings come from the pod alone: the repository's config/crawler.toml is not read."""
    monkeypatch.chdir(tmp_path)


def test_deploy_holds_the_expected_manifests_and_workloads() -> None:
    names = {path.name for path in MANIFESTS}

    assert {"crawl-job.yaml", "crawl-cronjob.yaml", "data-pvc.yaml", "fleet-job.yaml"} <= names
    assert {document["kind"] for _, document in everything()} >= {"Job", "CronJob"}


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_each_manifest_is_valid_for_kubernetes(path: Path) -> None:
    found = documents(path)
    problems = []
    for document in found:
        for version in KUBERNETES_VERSIONS:
            try:  # strict: a field the schema does not have is an error; an unknown kind too
                kubernetes_validate.validate(document, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                where = ".".join(str(part) for part in exc.path)
                problems.append(f"{document['kind']} {where} ({version}): {exc.message}")

    assert found, f"{path.name} holds no document"
    assert problems == []


def test_strict_validation_rejects_an_unknown_field_and_a_wrong_type() -> None:
    (job,) = documents(DEPLOY / "crawl-job.yaml")
    misspelt = copy.deepcopy(job)
    misspelt["spec"]["template"]["spec"]["terminationGracePeriod"] = 30
    wrong_type = copy.deepcopy(job)
    wrong_type["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = 64

    for broken in (misspelt, wrong_type):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


def test_the_cronjob_never_runs_twice_at_once_and_keeps_its_history_bounded() -> None:
    cronjobs = declared("CronJob")

    assert cronjobs
    for cronjob in cronjobs.values():
        spec = cronjob["spec"]
        assert spec["concurrencyPolicy"] == "Forbid"  # two runs would share the SQLite file
        assert spec["startingDeadlineSeconds"] > 0
        assert spec["successfulJobsHistoryLimit"] >= 1
        assert spec["failedJobsHistoryLimit"] >= 1


def test_the_one_off_job_and_the_cronjob_run_the_same_pod() -> None:
    (job,) = documents(DEPLOY / "crawl-job.yaml")
    (cronjob,) = documents(DEPLOY / "crawl-cronjob.yaml")

    assert pod_of(job)["spec"] == pod_of(cronjob)["spec"]
    assert job_spec(job)["backoffLimit"] == job_spec(cronjob)["backoffLimit"]


@pytest.mark.parametrize(("document", "template"), WORKLOADS)
def test_a_failed_or_killed_pod_is_run_again(document: Manifest, template: Manifest) -> None:
    assert template["spec"]["restartPolicy"] == "OnFailure"
    assert job_spec(document)["backoffLimit"] >= 1


@pytest.mark.parametrize(("document", "template"), WORKLOADS)
def test_the_grace_period_outlasts_shutdown_grace(document: Manifest, template: Manifest) -> None:
    grace = template["spec"]["terminationGracePeriodSeconds"]

    assert grace > 20
    for container in template["spec"]["containers"]:
        assert grace > crawler_config(container).shutdown_grace


@pytest.mark.parametrize(("document", "template"), WORKLOADS)
def test_each_container_requests_what_the_crawler_measured_and_has_a_memory_limit(
    document: Manifest, template: Manifest
) -> None:
    for container in template["spec"]["containers"]:
        requests = container["resources"]["requests"]
        limit = memory(container["resources"]["limits"]["memory"])

        assert {"cpu", "memory"} <= requests.keys()
        assert PEAK_RSS <= memory(requests["memory"]) <= limit
        assert limit >= memory("128Mi")


@pytest.mark.parametrize(("document", "template"), WORKLOADS)
def test_prometheus_scrapes_the_port_the_crawler_serves(
    document: Manifest, template: Manifest
) -> None:
    annotations = template["metadata"]["annotations"]

    assert {name: annotations.get(name) for name in ANNOTATIONS} == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": annotations["prometheus.io/port"],
        "prometheus.io/path": "/metrics",
    }
    port = int(annotations["prometheus.io/port"])
    for container in template["spec"]["containers"]:
        assert environment(container)["CRAWLER_METRICS_PORT"] == str(port)
        assert crawler_config(container).metrics_port == port
        assert port in [each["containerPort"] for each in container["ports"]]


@pytest.mark.parametrize(("document", "template"), WORKLOADS)
def test_the_pod_runs_as_the_images_non_root_user(document: Manifest, template: Manifest) -> None:
    context = template["spec"]["securityContext"]

    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] == image_user()
    for container in template["spec"]["containers"]:
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert "runAsUser" not in container.get("securityContext", {})


@pytest.mark.parametrize(("document", "template"), WORKLOADS)
def test_a_sqlite_database_lives_on_a_declared_writable_volume(
    document: Manifest, template: Manifest
) -> None:
    volumes = {volume["name"]: volume for volume in template["spec"]["volumes"]}
    claims = declared("PersistentVolumeClaim")
    for container in template["spec"]["containers"]:
        database = crawler_config(container).db
        if isinstance(database, str):  # a postgresql:// URL: the database outlives any pod
            continue
        mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
        mount = mounts.get(str(database.parent))
        assert mount, f"{database} is on no volume: a new pod would start the crawl over"
        assert not mount.get("readOnly", False)
        claim = volumes[mount["name"]]["persistentVolumeClaim"]["claimName"]
        assert claim in claims
        assert template["spec"]["securityContext"]["fsGroup"] == image_user()


@pytest.mark.parametrize(("document", "template"), WORKLOADS)
def test_the_seeds_file_is_mounted_read_only_from_a_declared_configmap(
    document: Manifest, template: Manifest
) -> None:
    volumes = {volume["name"]: volume for volume in template["spec"]["volumes"]}
    configmaps = declared("ConfigMap")
    for container in template["spec"]["containers"]:
        seeds = Path(container["args"][0])
        (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == str(seeds.parent)]
        assert mount["readOnly"] is True
        configmap = configmaps[volumes[mount["name"]]["configMap"]["name"]]
        assert configmap["data"][seeds.name].split()  # at least one seed
