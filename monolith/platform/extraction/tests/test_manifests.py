"""Every generated kustomize base is valid, strictly, for the Kubernetes versions supported,
and says what a production Deployment must: probes, limits, a locked-down pod, secrets by
reference, traffic only from the callers."""

import copy
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command

from monolith.platform.extraction.manifests import (
    CALLERS,
    optional_secret_references,
    secret_references,
)
from monolith.platform.extraction.spec import SERVICE_UID, service_spec
from monolith.platform.extraction.tests.kustomize_base import (
    KUBERNETES_VERSIONS,
    ManifestInvalid,
    kustomize_build,
    validate_strictly,
)
from monolith.platform.registry import fleet_modules

ROOT = Path(settings.BASE_DIR)
COMMITTED = ("trips", "billing")
FLEET = ("vehicles", "users", "trips", "billing")


@pytest.fixture(scope="module")
def generated_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every fleet module extracted into a scratch folder: the generator is generic."""
    root = tmp_path_factory.mktemp("extracted")
    for label in FLEET:
        call_command("strangler", "extract", label, "--root", str(root), stdout=StringIO())
    return root


def base_of(root: Path, label: str) -> Path:
    return root / service_spec(label).kustomize_base


def objects(label: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The committed base's objects by kind and name."""
    built = kustomize_build(base_of(ROOT, label))
    return {(r.kind, r.manifest["metadata"]["name"]): r.manifest for r in built}


def resources(label: str) -> dict[str, dict[str, Any]]:
    """The web Deployment's objects (named ``<label>-service``) by kind."""
    return {
        kind: manifest
        for (kind, name), manifest in objects(label).items()
        if name == f"{label}-service"
    }


def pod_spec(label: str) -> dict[str, Any]:
    return resources(label)["Deployment"]["spec"]["template"]["spec"]


def test_the_fleet_is_what_the_generic_tests_cover() -> None:
    assert tuple(config.label for config in fleet_modules()) == FLEET


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("label", COMMITTED)
def test_committed_bases_are_strictly_valid(label: str, version: str) -> None:
    built = kustomize_build(base_of(ROOT, label))
    service, worker, beat = f"{label}-service", f"{label}-service-worker", f"{label}-service-beat"
    assert [(r.kind, r.manifest["metadata"]["name"]) for r in built] == [
        ("ServiceAccount", service),
        ("ConfigMap", service),
        ("Deployment", service),
        ("Service", service),
        ("HorizontalPodAutoscaler", service),
        ("PodDisruptionBudget", service),
        ("NetworkPolicy", service),
        ("Deployment", worker),
        ("PodDisruptionBudget", worker),
        ("NetworkPolicy", worker),
        ("Deployment", beat),
        ("NetworkPolicy", beat),
    ]
    # Every resource has a schema and passes it strictly (a kind without one fails).
    for resource in built:
        validate_strictly(resource.manifest, version)


@pytest.mark.parametrize("label", FLEET)
def test_every_module_gets_a_strictly_valid_base(generated_root: Path, label: str) -> None:
    for resource in kustomize_build(base_of(generated_root, label)):
        for version in KUBERNETES_VERSIONS:
            validate_strictly(resource.manifest, version)


def test_the_command_line_validator_passes_every_file_with_strict_and_no_warning() -> None:
    """``kubernetes-validate --strict`` as CI would call it: exit 0 and no line but INFO."""
    files = [
        str(base_of(ROOT, label) / resource.filename)
        for label in COMMITTED
        for resource in kustomize_build(base_of(ROOT, label))
    ]
    versions = [arg for version in KUBERNETES_VERSIONS for arg in ("-k", version)]
    done = _kubernetes_validate("--strict", *versions, *files)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == len(files) * len(KUBERNETES_VERSIONS)
    assert all(line.startswith("INFO ") and " passed " in line for line in lines), done.stdout


def _kubernetes_validate(*args: str) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).with_name("kubernetes-validate")
    return subprocess.run(
        [str(executable), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_a_kind_without_a_schema_fails_here_though_the_command_line_only_warns(
    tmp_path: Path,
) -> None:
    route = {"apiVersion": "fleet.example/v1", "kind": "TripRoute", "metadata": {"name": "x"}}
    with pytest.raises(ManifestInvalid, match="no schema"):
        validate_strictly(route, KUBERNETES_VERSIONS[0])
    # Why the suite does not rely on the exit code alone: the tool passes it.
    path = tmp_path / "route.yaml"
    path.write_text(json.dumps(route))
    done = _kubernetes_validate("--strict", str(path))
    assert done.returncode == 0
    assert done.stdout.startswith("WARN ")


def test_strict_validation_refuses_a_misspelt_field_at_any_depth() -> None:
    deployment = resources("trips")["Deployment"]
    for path in (["spec"], ["metadata"], ["spec", "template", "spec", "containers", 0]):
        broken = copy.deepcopy(deployment)
        target: Any = broken
        for step in path:
            target = target[step]
        target["replicaz"] = 1
        with pytest.raises(ManifestInvalid, match="'replicaz' was unexpected"):
            validate_strictly(broken, KUBERNETES_VERSIONS[0])
    broken = copy.deepcopy(deployment)
    broken["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8000"
    with pytest.raises(ManifestInvalid, match="is not of type 'integer'"):
        validate_strictly(broken, KUBERNETES_VERSIONS[0])


def test_the_reader_refuses_what_it_would_not_render(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources: [a.yaml]\nnamePrefix: x-\n"
    )
    (base / "a.yaml").write_text("{}")
    with pytest.raises(ManifestInvalid, match="uses namePrefix"):
        kustomize_build(base)
    (base / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [a.yaml]\n"
    )
    (base / "secret.yaml").write_text("{}")
    with pytest.raises(ManifestInvalid, match="lists"):
        kustomize_build(base)


@pytest.mark.parametrize("label", COMMITTED)
def test_the_deployment_probes_limits_and_locks_down_the_pod(label: str) -> None:
    deployment = resources(label)["Deployment"]
    assert deployment["spec"]["replicas"] >= 2
    pod = pod_spec(label)
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["volumes"] == [
        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}
    ]
    for container in [*pod["initContainers"], *pod["containers"]]:
        security = container["securityContext"]
        assert security["runAsNonRoot"] is True
        assert security["runAsUser"] == SERVICE_UID
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}
        assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]  # noqa: S108
        assert set(container["resources"]) == {"requests", "limits"}
        assert set(container["resources"]["limits"]) == {"cpu", "memory"}
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    port = container["ports"][0]
    assert port["name"] == container["readinessProbe"]["httpGet"]["port"] == "http"
    assert port["containerPort"] == int(resources(label)["ConfigMap"]["data"]["PORT"])


@pytest.mark.parametrize("label", COMMITTED)
def test_secrets_are_only_referred_to(label: str) -> None:
    built = resources(label)
    assert "Secret" not in built
    pod = pod_spec(label)
    secret_names = {variable for variable, _, _ in secret_references(service_spec(label))}
    assert secret_names == {
        "DATABASE_URL",
        "SECRET_KEY",
        "CELERY_BROKER_URL",
        "FLEET_INTERNAL_TOKEN_SECRET",
    }
    optional = {variable for variable, _, _ in optional_secret_references(service_spec(label))}
    assert optional == {"FLEET_INTERNAL_TOKEN_SECRET_PREVIOUS"}
    for container in [*pod["initContainers"], *pod["containers"]]:
        assert container["envFrom"] == [{"configMapRef": {"name": f"{label}-service"}}]
        by_name = {entry["name"]: entry for entry in container["env"]}
        assert set(by_name) == secret_names | optional
        for variable in optional:
            assert by_name[variable]["valueFrom"]["secretKeyRef"]["optional"] is True
        assert all(set(entry) == {"name", "valueFrom"} for entry in by_name.values())
        assert all("secretKeyRef" in entry["valueFrom"] for entry in by_name.values())
    assert not secret_names & set(built["ConfigMap"]["data"])


@pytest.mark.parametrize("label", COMMITTED)
def test_the_config_map_names_every_other_module(label: str) -> None:
    data = resources(label)["ConfigMap"]["data"]
    others = [other for other in FLEET if other != label]
    assert {key for key in data if key.startswith("FLEET_MODULE_URL_")} == {
        f"FLEET_MODULE_URL_{other.upper()}" for other in others
    }
    assert data["DJANGO_SETTINGS_MODULE"] == f"extracted.{label}.settings"


@pytest.mark.parametrize("label", COMMITTED)
def test_the_network_policy_lets_in_only_the_callers(label: str) -> None:
    policy = resources(label)["NetworkPolicy"]["spec"]
    assert policy["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": f"{label}-service"}}
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    (ingress,) = policy["ingress"]
    (source,) = ingress["from"]
    (expression,) = source["podSelector"]["matchExpressions"]
    assert expression["values"] == list(CALLERS)
    assert ingress["ports"] == [{"protocol": "TCP", "port": "http"}]
    egress_ports = {port["port"] for rule in policy["egress"] for port in rule["ports"]}
    assert egress_ports == {53, 5432, 6379, 5672, 8000}


@pytest.mark.parametrize("label", COMMITTED)
def test_autoscaler_and_disruption_budget_keep_one_pod_serving(label: str) -> None:
    built = resources(label)
    autoscaler, budget = built["HorizontalPodAutoscaler"], built["PodDisruptionBudget"]
    assert autoscaler["apiVersion"] == "autoscaling/v2"
    assert autoscaler["spec"]["scaleTargetRef"]["name"] == built["Deployment"]["metadata"]["name"]
    assert autoscaler["spec"]["minReplicas"] == built["Deployment"]["spec"]["replicas"]
    assert budget["apiVersion"] == "policy/v1"
    assert budget["spec"]["minAvailable"] < autoscaler["spec"]["minReplicas"]
    assert budget["spec"]["selector"] == built["Deployment"]["spec"]["selector"]


# --- the worker and beat: the service's own Celery, on its own queue --------------------------


def _workload(label: str, suffix: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A Deployment of the base by name suffix, and its one container."""
    deployment = objects(label)[("Deployment", f"{label}-service-{suffix}")]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return deployment, container


@pytest.mark.parametrize("label", COMMITTED)
def test_the_worker_consumes_the_service_queue_and_its_probe_pings_its_own_node(
    label: str,
) -> None:
    worker, container = _workload(label, "worker")
    data = resources(label)["ConfigMap"]["data"]
    assert data["CELERY_TASK_DEFAULT_QUEUE"] == f"fleet.{label}-service"
    assert container["command"] + container["args"] == [
        "python", "-m", "celery", "-A", "monolith.celery", "worker",
        "--loglevel=$(LOG_LEVEL)",
        "--queues=$(CELERY_TASK_DEFAULT_QUEUE)",  # expanded from the ConfigMap by the kubelet
        "--concurrency=2",
        "--hostname=celery@%h",
    ]  # fmt: skip
    # The probes start no server: they ask this pod's node (Celery's %h is the pod's name, the
    # shell's $HOSTNAME) to answer a ping through the broker.
    for probe in (container["startupProbe"], container["livenessProbe"]):
        assert probe["exec"]["command"] == [
            "sh",
            "-c",
            "exec python -m celery -A monolith.celery inspect ping "
            "--destination=celery@$HOSTNAME --timeout=10",
        ]
        assert probe["timeoutSeconds"] > 10
    assert "readinessProbe" not in container  # no Service sends it traffic
    assert container["livenessProbe"]["periodSeconds"] >= 60
    # A stopping worker may finish the longest task allowed.
    pod = worker["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] > int(data["CELERY_TASK_TIME_LIMIT"])
    (init,) = pod["initContainers"]
    assert init["command"] == ["python", "manage.py", "migrate", "--check", "--no-input"]


@pytest.mark.parametrize("label", COMMITTED)
def test_worker_and_beat_run_the_web_pods_image_environment_and_lockdown(label: str) -> None:
    web_pod = pod_spec(label)
    (web,) = web_pod["containers"]
    for suffix in ("worker", "beat"):
        deployment, container = _workload(label, suffix)
        pod = deployment["spec"]["template"]["spec"]
        name = f"{label}-service-{suffix}"
        assert deployment["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": name}}
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert pod_labels["app.kubernetes.io/component"] == suffix
        # The web Service and budget select the web pods only.
        web_selector = resources(label)["Service"]["spec"]["selector"]
        assert not web_selector.items() <= pod_labels.items()
        for key in ("serviceAccountName", "automountServiceAccountToken", "securityContext",
                    "enableServiceLinks", "volumes"):  # fmt: skip
            assert pod[key] == web_pod[key], key
        for key in ("image", "envFrom", "env", "securityContext", "volumeMounts"):
            assert container[key] == web[key], key
        assert set(container["resources"]) == {"requests", "limits"}
        assert set(container["resources"]["limits"]) == {"cpu", "memory"}


@pytest.mark.parametrize("label", COMMITTED)
def test_beat_is_one_pod_even_during_a_rollout(label: str) -> None:
    beat, container = _workload(label, "beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert container["command"] + container["args"] == [
        "python", "-m", "celery", "-A", "monolith.celery", "beat",
        "--loglevel=$(LOG_LEVEL)", "--schedule=/tmp/celerybeat-schedule",
    ]  # fmt: skip
    # Its schedule file is on the pod's writable /tmp; nothing scales it.
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]  # noqa: S108
    targets = [
        manifest["spec"]["scaleTargetRef"]["name"]
        for (kind, _), manifest in objects(label).items()
        if kind == "HorizontalPodAutoscaler"
    ]
    assert targets == [f"{label}-service"]


@pytest.mark.parametrize("label", COMMITTED)
def test_worker_and_beat_accept_no_connection_and_reach_only_what_they_use(label: str) -> None:
    built = objects(label)
    for suffix, ports in (("worker", {53, 5432, 6379, 5672, 8000}), ("beat", {53, 6379, 5672})):
        name = f"{label}-service-{suffix}"
        policy = built[("NetworkPolicy", name)]["spec"]
        assert policy["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": name}}
        assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
        assert "ingress" not in policy  # Ingress listed with no rule: nothing may connect
        assert {port["port"] for rule in policy["egress"] for port in rule["ports"]} == ports
    budget = built[("PodDisruptionBudget", f"{label}-service-worker")]["spec"]
    worker = built[("Deployment", f"{label}-service-worker")]["spec"]
    assert budget["selector"] == worker["selector"]
    assert budget["minAvailable"] < worker["replicas"]


# --- the Dockerfile, read as Docker would (no engine here) -------------------------------------


def dockerfile_instructions(label: str) -> Iterator[tuple[str, str]]:
    text = (ROOT / "extracted" / label / "Dockerfile").read_text()
    joined = re.sub(r"\\\n", " ", text)
    for line in joined.splitlines():
        if line.strip() and not line.startswith("#"):
            instruction, _, rest = line.strip().partition(" ")
            yield instruction, rest.strip()


@pytest.mark.parametrize("label", COMMITTED)
def test_the_image_runs_what_the_deployment_runs(label: str) -> None:
    instructions = list(dockerfile_instructions(label))
    container = pod_spec(label)["containers"][0]
    data = resources(label)["ConfigMap"]["data"]
    (cmd,) = [rest for name, rest in instructions if name == "CMD"]
    expected = [
        part.replace("$(PORT)", data["PORT"]) for part in container["command"] + container["args"]
    ]
    assert json.loads(cmd) == expected
    (user,) = [rest for name, rest in instructions if name == "USER"]
    assert user == f"{SERVICE_UID}:{SERVICE_UID}"
    (expose,) = [rest for name, rest in instructions if name == "EXPOSE"]
    assert int(expose) == container["ports"][0]["containerPort"]
    final_env = [rest for name, rest in instructions if name == "ENV"][-1]
    assert f"DJANGO_SETTINGS_MODULE={data['DJANGO_SETTINGS_MODULE']}" in shlex.split(final_env)
    for name, rest in instructions:
        if name == "COPY" and not rest.startswith("--from"):
            *sources, _ = shlex.split(rest)
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
