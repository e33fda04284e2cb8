"""The Kubernetes manifests of an extracted service: one kustomize base, plain objects.

Each function returns one object as the API server takes it. The base uses nothing kustomize
would have to compute (no generators, no transformers): an overlay per environment sets the
image, the replica bounds, the peers' addresses. Secrets are referred to, never written: the
Secret objects come from the cluster's secret store.
"""

from typing import Any

from monolith.platform.deployable_process import gunicorn_command
from monolith.platform.extraction.spec import (
    MONOLITH_URL,
    SERVICE_PORT,
    SERVICE_UID,
    ServiceSpec,
    module_url_variable,
)

Manifest = dict[str, Any]

# Pods that may call the service: the monolith (routing and in-process calls turned into HTTP)
# and the API gateway in front of it.
CALLERS = ("monolith", "gateway")
PART_OF = "fleet-platform"
# Egress the service needs besides its peers; an overlay narrows "to" once the addresses of
# the managed database and broker are known.
DATABASE_PORTS = (5432,)
BROKER_PORTS = (6379, 5672)  # Redis, RabbitMQ
# The secret shared by every deployable, for signed internal calls.
INTERNAL_TOKEN_SECRET = "fleet-internal-token"  # noqa: S105 - a Secret's name, not its value
# The Host header the probes send, one of ALLOWED_HOSTS.
PROBE_HOST = "localhost"
# The worker: prefork processes per pod (more pods for more), and its Celery node name (%h:
# the pod's name), which its liveness probe pings.
WORKER_CONCURRENCY = 2
WORKER_NODE = "celery@%h"
WORKER_PING_TIMEOUT_SECONDS = 10
# The longest a task may run (the ConfigMap's CELERY_TASK_TIME_LIMIT); a stopping worker pod
# is given that long to finish.
TASK_TIME_LIMIT_SECONDS = 300
# beat's record of when each entry last ran, on the pod's in-memory /tmp.
BEAT_SCHEDULE_FILE = "/tmp/celerybeat-schedule"  # noqa: S108 - the pod's own emptyDir


def secret_references(spec: ServiceSpec) -> tuple[tuple[str, str, str], ...]:
    """The variables the service reads from Secrets: (variable, Secret, key)."""
    return (
        ("DATABASE_URL", spec.name, "DATABASE_URL"),
        ("SECRET_KEY", spec.name, "SECRET_KEY"),
        ("CELERY_BROKER_URL", spec.name, "CELERY_BROKER_URL"),
        ("FLEET_INTERNAL_TOKEN_SECRET", INTERNAL_TOKEN_SECRET, "FLEET_INTERNAL_TOKEN_SECRET"),
    )


def optional_secret_references(spec: ServiceSpec) -> tuple[tuple[str, str, str], ...]:
    """Variables read from Secrets only when the key is there: the previous internal token
    secret, accepted while the deployables roll onto a new one (docs/extraction.md)."""
    return (
        (
            "FLEET_INTERNAL_TOKEN_SECRET_PREVIOUS",
            INTERNAL_TOKEN_SECRET,
            "FLEET_INTERNAL_TOKEN_SECRET_PREVIOUS",
        ),
    )


def labels(name: str, component: str = "service") -> dict[str, str]:
    """The labels of a workload's objects and pods: ``name`` is its Deployment's."""
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
    }


def selector(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name}


def _metadata(name: str, component: str = "service") -> dict[str, Any]:
    return {"name": name, "labels": labels(name, component)}


def container_command(spec: ServiceSpec) -> tuple[list[str], list[str]]:
    """The container's command and args: the deployables' one gunicorn command.

    Kubernetes expands ``$(PORT)`` from the container's environment (the ConfigMap).
    """
    _, *command = gunicorn_command(
        bind="0.0.0.0:$(PORT)",  # the pod's own network namespace
        wsgi=spec.wsgi_module,
    )
    return ["python", *command[:2]], command[2:]


def migrate_command() -> list[str]:
    """The init container's command: the service's own migrations, before gunicorn starts."""
    return ["python", "manage.py", "migrate", "--no-input"]


def configuration(spec: ServiceSpec) -> dict[str, str]:
    """The ConfigMap's data: every setting that is not a secret."""
    return {
        "DJANGO_SETTINGS_MODULE": spec.settings_module,
        "PORT": str(SERVICE_PORT),
        "WEB_CONCURRENCY": "2",
        # gthread (monolith/gunicorn.conf.py): threads per worker, and kept-alive connections
        # held longer than the callers' gaps between requests, as only deployables call it.
        "GUNICORN_THREADS": "4",
        "GUNICORN_KEEPALIVE": "75",
        "GUNICORN_TIMEOUT": "30",
        "LOG_LEVEL": "INFO",
        # Reached by Service name inside the cluster, and by the probes as localhost.
        "ALLOWED_HOSTS": f"{PROBE_HOST},{spec.name},.svc.cluster.local",
        # TLS ends at the gateway; the service answers only the cluster's plain HTTP.
        "SECURE_SSL_REDIRECT": "false",
        "CELERY_TASK_DEFAULT_QUEUE": spec.task_queue,
        "CELERY_TASK_TIME_LIMIT": str(TASK_TIME_LIMIT_SECONDS),
        # Its routing state and traffic counts apart from the monolith's when they share a
        # Redis: the monolith's edge counts what it forwards as served by the service already.
        "COHORT_ROUTING_KEY_PREFIX": f"fleet:cohorts:{spec.name}:",
        **{module_url_variable(label): MONOLITH_URL for label in spec.reached},
    }


def service_account(spec: ServiceSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _metadata(spec.name),
        # The service never calls the Kubernetes API.
        "automountServiceAccountToken": False,
    }


def config_map(spec: ServiceSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(spec.name),
        "data": configuration(spec),
    }


def _container_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": SERVICE_UID,
        "runAsGroup": SERVICE_UID,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _environment(spec: ServiceSpec) -> dict[str, Any]:
    return {
        "envFrom": [{"configMapRef": {"name": spec.name}}],
        "env": [
            {"name": variable, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
            for variable, secret, key in secret_references(spec)
        ]
        + [
            {
                "name": variable,
                "valueFrom": {"secretKeyRef": {"name": secret, "key": key, "optional": True}},
            }
            for variable, secret, key in optional_secret_references(spec)
        ],
    }


def _resources() -> dict[str, Any]:
    return {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "512Mi"},
    }


def _probe(path: str, **timing: int) -> dict[str, Any]:
    return {
        "httpGet": {
            "path": path,
            "port": "http",
            # Django checks the Host header; a probe would otherwise send the pod's IP.
            "httpHeaders": [{"name": "Host", "value": PROBE_HOST}],
        },
        **timing,
    }


def _container(
    spec: ServiceSpec,
    name: str,
    command: list[str],
    args: list[str] | None = None,
    *,
    ports: list[dict[str, Any]] | None = None,
    resources: dict[str, Any] | None = None,
    **probes: dict[str, Any],
) -> dict[str, Any]:
    """A container of the service's image, with its environment, locked down, /tmp mounted."""
    return {
        "name": name,
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        **({"args": args} if args else {}),
        **({"ports": ports} if ports else {}),
        **_environment(spec),
        **probes,
        "resources": resources or _resources(),
        "securityContext": _container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - the pod's emptyDir
    }


def _deployment(
    spec: ServiceSpec,
    name: str,
    component: str,
    *,
    replicas: int,
    strategy: dict[str, Any],
    pod: dict[str, Any],
) -> Manifest:
    """A Deployment of the service's image: one pod template shape for web, worker and beat."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(name, component),
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector(name)},
            "strategy": strategy,
            "template": {
                "metadata": {"labels": labels(name, component)},
                "spec": {
                    "serviceAccountName": spec.name,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": SERVICE_UID,
                        "runAsGroup": SERVICE_UID,
                        "fsGroup": SERVICE_UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    **pod,
                    "volumes": [
                        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}
                    ],
                },
            },
        },
    }


def _spread(name: str) -> dict[str, Any]:
    return {
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": selector(name)},
            }
        ]
    }


# Replace pods one at a time, never below the replicas asked for.
ROLLING = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


def deployment(spec: ServiceSpec) -> Manifest:
    command, args = container_command(spec)
    return _deployment(
        spec,
        spec.name,
        "service",
        # The HorizontalPodAutoscaler's minimum; it scales from there.
        replicas=2,
        strategy=ROLLING,
        pod={
            # gunicorn's graceful timeout is 20 s: let it finish the requests it holds.
            "terminationGracePeriodSeconds": 30,
            **_spread(spec.name),
            "initContainers": [_container(spec, "migrate", migrate_command())],
            "containers": [
                _container(
                    spec,
                    "gunicorn",
                    command,
                    args,
                    ports=[{"name": "http", "containerPort": SERVICE_PORT, "protocol": "TCP"}],
                    startupProbe=_probe("/healthz", periodSeconds=2, failureThreshold=30),
                    livenessProbe=_probe(
                        "/healthz", periodSeconds=10, timeoutSeconds=2, failureThreshold=3
                    ),
                    # /readyz waits up to 2 s for the database and 2 s for the broker.
                    readinessProbe=_probe(
                        "/readyz", periodSeconds=5, timeoutSeconds=5, failureThreshold=2
                    ),
                )
            ],
        },
    )


def worker_command() -> tuple[list[str], list[str]]:
    """The worker container's command and args: Celery on the service's queue (the ConfigMap's
    ``CELERY_TASK_DEFAULT_QUEUE``), named after its pod so the liveness probe can ping it."""
    return ["python", "-m", "celery"], [
        "-A",
        "monolith.celery",
        "worker",
        "--loglevel=$(LOG_LEVEL)",
        "--queues=$(CELERY_TASK_DEFAULT_QUEUE)",
        f"--concurrency={WORKER_CONCURRENCY}",
        f"--hostname={WORKER_NODE}",
    ]


def worker_liveness_command() -> list[str]:
    """The worker's liveness probe: its own node answers a remote-control ping through the
    broker. A worker whose consumer stopped (a lost connection never re-established, a
    blocked main process) does not answer; a busy pool does, from the main process."""
    node = WORKER_NODE.replace("%h", "$HOSTNAME")  # the pod's name, as Celery's %h is
    return [
        "sh",
        "-c",
        f"exec python -m celery -A monolith.celery inspect ping --destination={node} "
        f"--timeout={WORKER_PING_TIMEOUT_SECONDS}",
    ]


def migrations_check_command() -> list[str]:
    """The worker's init container: fail until the web pods' init container has applied the
    migrations, so a worker of a new release never runs its tasks on the old schema (the
    kubelet retries a failed init container, backing off)."""
    return ["python", "manage.py", "migrate", "--check", "--no-input"]


def beat_command() -> tuple[list[str], list[str]]:
    """The beat container's command and args: the service's schedule, kept on the pod's /tmp."""
    return ["python", "-m", "celery"], [
        "-A",
        "monolith.celery",
        "beat",
        "--loglevel=$(LOG_LEVEL)",
        f"--schedule={BEAT_SCHEDULE_FILE}",
    ]


def _worker_probe(**timing: int) -> dict[str, Any]:
    return {"exec": {"command": worker_liveness_command()}, **timing}


def worker_deployment(spec: ServiceSpec) -> Manifest:
    command, args = worker_command()
    return _deployment(
        spec,
        spec.worker_name,
        "worker",
        replicas=2,
        strategy=ROLLING,
        pod={
            # A stopped worker finishes the tasks it runs (Celery's warm shutdown on SIGTERM):
            # wait as long as a task may run. Killed earlier, its task comes back only after
            # the broker's visibility timeout.
            "terminationGracePeriodSeconds": TASK_TIME_LIMIT_SECONDS + 30,
            **_spread(spec.worker_name),
            "initContainers": [_container(spec, "migrations-applied", migrations_check_command())],
            "containers": [
                _container(
                    spec,
                    "worker",
                    command,
                    args,
                    # Each probe starts a Python process (about 0.4 s, 60 MB): rarely.
                    startupProbe=_worker_probe(
                        periodSeconds=10, timeoutSeconds=20, failureThreshold=12
                    ),
                    livenessProbe=_worker_probe(
                        periodSeconds=60, timeoutSeconds=20, failureThreshold=3
                    ),
                    # The main process, a pool process per concurrency slot, and a probe.
                    resources={
                        "requests": {"cpu": "250m", "memory": "384Mi"},
                        "limits": {"cpu": "1", "memory": "768Mi"},
                    },
                )
            ],
        },
    )


def beat_deployment(spec: ServiceSpec) -> Manifest:
    command, args = beat_command()
    return _deployment(
        spec,
        spec.beat_name,
        "beat",
        # Exactly one beat, even during a rollout (the old pod stops before the new one
        # starts): two would send every periodic task twice.
        replicas=1,
        strategy={"type": "Recreate"},
        pod={
            "containers": [
                _container(
                    spec,
                    "beat",
                    command,
                    args,
                    resources={
                        "requests": {"cpu": "50m", "memory": "128Mi"},
                        "limits": {"cpu": "250m", "memory": "256Mi"},
                    },
                )
            ],
        },
    )


def service(spec: ServiceSpec) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(spec.name),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(spec.name),
            "ports": [
                {"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}
            ],
        },
    }


def horizontal_pod_autoscaler(spec: ServiceSpec) -> Manifest:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(spec.name),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.name},
            "minReplicas": 2,
            "maxReplicas": 6,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
            # Scale down slowly: a burst that just ended often comes back.
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
        },
    }


def _disruption_budget(name: str, component: str) -> Manifest:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(name, component),
        "spec": {
            "minAvailable": 1,
            "selector": {"matchLabels": selector(name)},
            # A pod that is not ready (or not live) does no work: a node drain may evict it.
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def pod_disruption_budget(spec: ServiceSpec) -> Manifest:
    return _disruption_budget(spec.name, "service")


def worker_pod_disruption_budget(spec: ServiceSpec) -> Manifest:
    # A drain keeps one worker consuming the service's queue.
    return _disruption_budget(spec.worker_name, "worker")


def _ports(protocol: str, *numbers: int) -> list[dict[str, Any]]:
    return [{"protocol": protocol, "port": number} for number in numbers]


# Egress rules, by what a pod reaches.
EGRESS_DNS = {
    "to": [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ],
    "ports": _ports("UDP", 53) + _ports("TCP", 53),
}
EGRESS_DATABASE = {"ports": _ports("TCP", *DATABASE_PORTS)}
EGRESS_BROKER = {"ports": _ports("TCP", *BROKER_PORTS)}
EGRESS_PEERS = {
    # The other modules: the monolith and the services extracted before.
    "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": PART_OF}}}],
    "ports": _ports("TCP", SERVICE_PORT),
}


def _network_policy(
    name: str,
    component: str,
    *,
    egress: list[dict[str, Any]],
    ingress: list[dict[str, Any]] | None = None,
) -> Manifest:
    """Who may reach the workload's pods (nobody, without ``ingress``) and what they reach."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(name, component),
        "spec": {
            "podSelector": {"matchLabels": selector(name)},
            "policyTypes": ["Ingress", "Egress"],
            **({"ingress": ingress} if ingress else {}),
            "egress": egress,
        },
    }


def network_policy(spec: ServiceSpec) -> Manifest:
    callers = {
        "from": [
            {
                "podSelector": {
                    "matchExpressions": [
                        {
                            "key": "app.kubernetes.io/name",
                            "operator": "In",
                            "values": list(CALLERS),
                        }
                    ]
                }
            }
        ],
        "ports": [{"protocol": "TCP", "port": "http"}],
    }
    return _network_policy(
        spec.name,
        "service",
        ingress=[callers],
        egress=[EGRESS_DNS, EGRESS_DATABASE, EGRESS_BROKER, EGRESS_PEERS],
    )


def worker_network_policy(spec: ServiceSpec) -> Manifest:
    # Its tasks use the database and call the other modules (the booking saga's resumes); it
    # serves nothing, so nothing may connect to it.
    return _network_policy(
        spec.worker_name,
        "worker",
        egress=[EGRESS_DNS, EGRESS_DATABASE, EGRESS_BROKER, EGRESS_PEERS],
    )


def beat_network_policy(spec: ServiceSpec) -> Manifest:
    # beat only publishes to the broker; its schedule is a file on the pod.
    return _network_policy(spec.beat_name, "beat", egress=[EGRESS_DNS, EGRESS_BROKER])


# File name in the base -> the object; the kustomization lists them in this order.
RESOURCES = {
    "serviceaccount.yaml": service_account,
    "configmap.yaml": config_map,
    "deployment.yaml": deployment,
    "service.yaml": service,
    "horizontalpodautoscaler.yaml": horizontal_pod_autoscaler,
    "poddisruptionbudget.yaml": pod_disruption_budget,
    "networkpolicy.yaml": network_policy,
    "worker-deployment.yaml": worker_deployment,
    "worker-poddisruptionbudget.yaml": worker_pod_disruption_budget,
    "worker-networkpolicy.yaml": worker_network_policy,
    "beat-deployment.yaml": beat_deployment,
    "beat-networkpolicy.yaml": beat_network_policy,
}


def kustomization() -> Manifest:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": list(RESOURCES),
    }
